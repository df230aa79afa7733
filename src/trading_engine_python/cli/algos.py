"""The demo's sub-accounts: a layered post-only scalper per symbol, a chaser and a taker.

They only ever call the OrderManager (never the exchange), read prices from MarketStream's
bookTicker, and count what their callbacks see. Prices are exact: Decimal from the feed's
strings, compared as the manager's 1e-8 fixed-point integers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_CEILING, Decimal
from typing import Any

from ..orders._fixed import fixed_to_str, to_fixed

log = logging.getLogger("trading_engine_python.cli.algos")


class MarketData:
    """Best bid/ask per symbol from bookTicker frames; wakes the algos that watch a symbol."""

    def __init__(self) -> None:
        self.best: dict[str, tuple[Decimal, Decimal]] = {}
        self.updates = 0
        self._watchers: dict[str, list[asyncio.Event]] = {}

    def watch(self, symbol: str) -> asyncio.Event:
        ev = asyncio.Event()
        self._watchers.setdefault(symbol, []).append(ev)
        return ev

    def on_book_ticker(self, msg: dict[str, Any]) -> None:
        # bookTicker: "s" symbol, "b"/"a" best bid/ask price strings (Binance page "Individual
        # Symbol Book Ticker Streams").
        try:
            symbol = msg["s"]
            bid = Decimal(msg["b"])
            ask = Decimal(msg["a"])
        except (KeyError, TypeError, ArithmeticError):
            return
        if not (bid.is_finite() and ask.is_finite()) or bid <= 0 or ask <= bid:
            return
        self.updates += 1
        if self.best.get(symbol) == (bid, ask):
            return
        self.best[symbol] = (bid, ask)
        for ev in self._watchers.get(symbol, ()):
            ev.set()

    async def wait_first(self, symbols: list[str], timeout: float) -> bool:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while any(s not in self.best for s in symbols):
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.02)
        return True


@dataclass
class Position:
    """Net position of one symbol from the fills a sub-account's callbacks saw, signed by side
    (BUY adds, SELL subtracts), and its notional at the fill prices."""

    qty_fp: int = 0  # 1e-8 units
    notional_fp2: int = 0  # sum of qty * price, 1e-16 units (two fixed-point factors)

    def add_fill(self, side: str, qty_fp: int, price_fp: int) -> None:
        sign = 1 if side == "BUY" else -1
        self.qty_fp += sign * qty_fp
        self.notional_fp2 += sign * qty_fp * price_fp


@dataclass
class AlgoStats:
    placed: int = 0
    fills: int = 0  # fill increases seen by callbacks (partial and final)
    partials: int = 0
    filled: int = 0  # orders completely filled
    # Orders that ended cancelled or expired: on_cancel, plus the old order of every successful
    # replace (the manager holds its on_cancel back because the intent lives on), so that this
    # matches the CANCELED/EXPIRED lines of the event panel.
    cancels: int = 0
    rejected: int = 0  # on_cancel of a rejected/failed order (e.g. GTX -5022)
    replaces: int = 0
    errors: int = 0
    positions: dict[str, Position] = field(default_factory=dict)  # by symbol
    extra: dict[str, int] = field(default_factory=dict)
    _counted: dict[str, int] = field(default_factory=dict, repr=False)  # filled_fp already in positions

    def add_fill(self, order: Any, final: bool = False) -> None:
        """A fill callback: the increase of the order's cumulative fill since the last one counted,
        at its ``last_fill_price`` (cumulative, so a repeated callback cannot count twice).
        ``final``: on_fill, after which the order cannot fill any more."""
        cid = order.client_order_id
        inc = order.filled_fp - self._counted.get(cid, 0)
        if final:
            self._counted.pop(cid, None)
        if inc <= 0:
            return
        if not final:
            self._counted[cid] = order.filled_fp
        pos = self.positions.get(order.symbol)
        if pos is None:
            pos = self.positions[order.symbol] = Position()
        pos.add_fill(order.side, inc, to_fixed(order.last_fill_price))


@dataclass(frozen=True)
class SymbolInfo:
    symbol: str
    tick: Decimal
    step: Decimal

    def qty_for_notional(self, notional: Decimal, price: Decimal) -> Decimal:
        steps = (notional / price / self.step).to_integral_value(rounding=ROUND_CEILING)
        return max(steps, Decimal(1)) * self.step


class Algo:
    """Base: sub-account, counters, the manager's callbacks, stop handling."""

    kind = "algo"

    def __init__(
        self, manager: Any, sub_account: str, symbols: list[str], registry: list[Any], tap: Any = None
    ) -> None:
        self.manager = manager
        self.sub = sub_account
        self.symbols = symbols
        self.registry = registry
        self.tap = tap
        self.stats = AlgoStats()
        self._stopping = False
        self._wake = asyncio.Event()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    def _error(self, what: str) -> None:
        # A broken engine must not bury the terminal in tracebacks: the first few in full, then counted.
        self.stats.errors += 1
        if self.stats.errors <= 3:
            log.exception("%s: %s failed", self.sub, what)
        elif self.stats.errors in (10, 100, 1000) or self.stats.errors % 10_000 == 0:
            log.error("%s: %d failed calls so far (last: %s)", self.sub, self.stats.errors, what)

    # The manager calls these synchronously from its feed path: count, nothing more.
    def _on_partial(self, order: Any) -> None:
        if self.tap is not None:
            self.tap.callback_reached()
        self.stats.fills += 1
        self.stats.partials += 1
        self.stats.add_fill(order)

    def _on_fill(self, order: Any) -> None:
        if self.tap is not None:
            self.tap.callback_reached()
        self.stats.fills += 1
        self.stats.filled += 1
        self.stats.add_fill(order, final=True)

    def _on_cancel(self, order: Any) -> None:
        if self.tap is not None:
            self.tap.callback_reached()
        if order.state in ("rejected", "failed"):
            self.stats.rejected += 1
        else:
            self.stats.cancels += 1

    def _hooks(self) -> dict[str, Callable[[Any], None]]:
        return {"on_fill": self._on_fill, "on_partial": self._on_partial, "on_cancel": self._on_cancel}

    def _record(self, order: Any) -> Any:
        if order is not None:
            self.registry.append(order)
            self.stats.placed += 1
        return order

    async def _limit(
        self, symbol: str, side: str, qty: Decimal, price: Decimal, origin: str, parent: str | None = None
    ) -> Any:
        try:
            order = await self.manager.place_limit_order(
                self.sub,
                symbol,
                side,
                str(qty),
                str(price),
                origin=origin,
                parent_id=parent,
                time_in_force="GTX",
                **self._hooks(),
            )  # post-only: -5022 rather than taking
        except Exception:
            self._error("place")
            return None
        return self._record(order)

    async def _replace(self, order: Any, price: Decimal, qty: Decimal | None = None) -> Any:
        try:
            new = await self.manager.replace_order(
                order.client_order_id, str(price), None if qty is None else str(qty)
            )
        except Exception:
            self._error("replace")
            return None
        if new is order:
            # Amended in place: the same order at the new price, nothing cancelled or placed.
            self.stats.replaces += 1
            self.stats.extra["amends"] = self.stats.extra.get("amends", 0) + 1
        elif new is not None:
            self.stats.replaces += 1
            self.stats.cancels += 1  # the old order's cancel, which the feed reported as CANCELED
            self._record(new)
            self.stats.placed -= 1  # counted as a replace, not a fresh order
        return new

    async def run(self) -> None:
        raise NotImplementedError


class BookAlgo(Algo):
    """An algo on one symbol that wakes on that symbol's book updates (bookTicker)."""

    def __init__(
        self,
        manager: Any,
        sub_account: str,
        info: SymbolInfo,
        market: MarketData,
        registry: list[Any],
        tap: Any = None,
    ) -> None:
        super().__init__(manager, sub_account, [info.symbol], registry, tap)
        self.info = info
        self.market = market
        self._book = market.watch(info.symbol)

    def stop(self) -> None:
        super().stop()
        self._book.set()


class Scalper(BookAlgo):
    """Layered post-only quotes on both sides; reprices with replace_order when the book moves.

    Level k sits ``k * spacing`` ticks behind the best price on its side. An order whose target
    moved ``reprice_ticks`` or more away is repriced: amended in place (one modify request, over
    ws-fapi with ``--order-entry ws``); a post-only amend that would cross is cancelled by the
    exchange, and a filled, cancelled or rejected slot is refilled at the next book update.
    """

    kind = "scalper"

    def __init__(
        self,
        manager: Any,
        sub_account: str,
        info: SymbolInfo,
        market: MarketData,
        registry: list[Any],
        *,
        qty: Decimal,
        levels: int = 2,
        spacing: int = 2,
        reprice_ticks: int = 4,
        tap: Any = None,
    ) -> None:
        super().__init__(manager, sub_account, info, market, registry, tap)
        self.qty = qty
        self.levels = levels
        self.spacing = spacing
        self.reprice_fp = to_fixed(info.tick) * reprice_ticks
        self.slots: dict[tuple[str, int], Any] = {
            (s, k): None for s in ("BUY", "SELL") for k in range(levels)
        }
        self.parent = f"scalp-{sub_account}"

    def _target(self, side: str, level: int, bid: Decimal, ask: Decimal) -> Decimal:
        off = self.info.tick * self.spacing * level
        return bid - off if side == "BUY" else ask + off

    async def _slot(self, key: tuple[str, int], bid: Decimal, ask: Decimal) -> None:
        side, level = key
        target = self._target(side, level, bid, ask)
        order = self.slots[key]
        if order is None or order.is_terminal:
            self.slots[key] = await self._limit(
                self.info.symbol, side, self.qty, target, "SCALPER", self.parent
            )
        elif order.state == "active" and abs(order.price_fp - to_fixed(target)) >= self.reprice_fp:
            new = await self._replace(order, target, self.qty)
            if new is not None:
                self.slots[key] = new

    async def run(self) -> None:
        sym = self.info.symbol
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._book.wait(), 1.0)
            self._book.clear()
            if self._stopping:
                break
            best = self.market.best.get(sym)
            if best is None:
                continue
            bid, ask = best
            await asyncio.gather(*(self._slot(k, bid, ask) for k in self.slots))


class Chaser(BookAlgo):
    """One post-only order that follows the best price on its side until it is completely filled,
    then the next chase on the other side. Each chase is one parent; its children are the
    successive orders that replace_order produced."""

    kind = "chaser"

    def __init__(
        self,
        manager: Any,
        sub_account: str,
        info: SymbolInfo,
        market: MarketData,
        registry: list[Any],
        *,
        qty: Decimal,
        rng: random.Random,
        tap: Any = None,
    ) -> None:
        super().__init__(manager, sub_account, info, market, registry, tap)
        self.qty_fp = to_fixed(qty)
        self.side = rng.choice(("BUY", "SELL"))
        self.stats.extra["chases_done"] = 0

    def _best(self) -> Decimal | None:
        best = self.market.best.get(self.info.symbol)
        if best is None:
            return None
        return best[0] if self.side == "BUY" else best[1]

    async def run(self) -> None:
        n = 0
        while not self._stopping:
            n += 1
            done = await self._chase(f"chase-{self.sub}-{n}")
            if done:
                self.stats.extra["chases_done"] += 1
                self.side = "SELL" if self.side == "BUY" else "BUY"
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), 0.5)

    async def _chase(self, parent: str) -> bool:
        children: list[Any] = []
        current: Any = None
        while not self._stopping:
            filled = sum(c.filled_fp for c in children)
            if filled >= self.qty_fp:
                return True
            price = self._best()
            if price is None:
                await asyncio.sleep(0.1)
                continue
            if current is None or current.is_terminal:
                if current is not None and current.state == "filled":
                    return True  # its quantity was the whole remainder
                remaining = Decimal(self.qty_fp - filled) / Decimal(100_000_000)
                current = await self._limit(self.info.symbol, self.side, remaining, price, "CHASE", parent)
                if current is None:
                    return False
                children.append(current)
            elif current.state == "active" and current.price_fp != to_fixed(price):
                new = await self._replace(current, price)  # same intent: the remaining quantity
                if new is not None:
                    if new is not current:  # cancel-then-place: a new child (an amend keeps the order)
                        children.append(new)
                    current = new
                    continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._book.wait(), 0.5)
            self._book.clear()
        return False


class Taker(Algo):
    """Small market orders now and then, alternating symbols, random side (seeded). Each position
    they leave gets a protective stop: a reduce-only STOP_MARKET (an Algo API order) for the whole
    position, ``stop_distance`` away from the price, moved whenever the position changes."""

    kind = "taker"

    def __init__(
        self,
        manager: Any,
        sub_account: str,
        symbols: list[str],
        qty: dict[str, Decimal],
        registry: list[Any],
        *,
        interval: float,
        rng: random.Random,
        tap: Any = None,
        market: MarketData | None = None,
        ticks: dict[str, Decimal] | None = None,
        stop_distance: Decimal = Decimal("0.02"),
    ) -> None:
        super().__init__(manager, sub_account, symbols, registry, tap)
        self.qty = qty
        self.interval = interval
        self.rng = rng
        self.market = market
        self.ticks = ticks or {}
        self.stop_distance = stop_distance
        self.stops: dict[str, Any] = {}  # symbol -> its protective stop (live or last)
        self.triggers: dict[str, Decimal] = {}  # client order id -> trigger price (the view shows it)
        self.triggered = 0  # protective stops whose trigger fired

    def _on_trigger(self, order: Any) -> None:
        self.triggered += 1

    async def _protect(self, symbol: str) -> None:
        """One reduce-only STOP_MARKET for the position this sub-account holds in ``symbol``: kept
        while it fits, else cancelled and placed anew (none when flat)."""
        pos = self.stats.positions.get(symbol)
        net = pos.qty_fp if pos is not None else 0
        stop = self.stops.get(symbol)
        side = "SELL" if net > 0 else "BUY"
        if stop is not None and stop.is_live:
            if net and stop.side == side and stop.quantity_fp == abs(net):
                return
            try:
                await self.manager.cancel_order(stop.client_order_id)
            except Exception:
                self._error("stop cancel")
        self.stops.pop(symbol, None)
        best = self.market.best.get(symbol) if self.market is not None else None
        tick = self.ticks.get(symbol)
        if not net or best is None or tick is None:
            return
        # Below the bid for a long, above the ask for a short: far enough not to fire on noise.
        ref = best[0] * (1 - self.stop_distance) if net > 0 else best[1] * (1 + self.stop_distance)
        trigger = (ref / tick).to_integral_value() * tick
        try:
            order = await self.manager.place_stop_order(
                self.sub, symbol, side, fixed_to_str(abs(net)), str(trigger), reduce_only=True,
                on_trigger=self._on_trigger, **self._hooks(),
            )
        except Exception:
            self._error("protective stop")
            return
        self.triggers[order.client_order_id] = trigger
        self.stops[symbol] = self._record(order)

    async def run(self) -> None:
        i = 0
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval * self.rng.uniform(0.5, 1.5))
            if self._stopping:
                break
            sym = self.symbols[i % len(self.symbols)]
            i += 1
            side = self.rng.choice(("BUY", "SELL"))
            try:
                order = await self.manager.place_market_order(
                    self.sub, sym, side, str(self.qty[sym]), **self._hooks()
                )
            except Exception:
                self._error("market order")
                continue
            self._record(order)
            if self.market is None:
                continue
            # The position is known once the market order ended (its fills went to the callbacks).
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 2.0
            while order.is_live and not self._stopping and loop.time() < deadline:
                await asyncio.sleep(0.01)
            if not self._stopping:
                await self._protect(sym)
