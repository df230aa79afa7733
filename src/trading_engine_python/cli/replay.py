"""``replay FILE``: run a recording (``--record``) through a manager and a fake exchange again.

The recording holds the raw user-stream frames and, in the order they happened, every command
that drove the core and every answer it got: ``place`` / ``cancel`` (with the client order id
the live run used), their REST answers (``place_reply`` / ``cancel_reply``: accepted with the
exchange's order id, refused, rejected with a code, timed out), status-query answers
(``rest_order``; ``rest_algo`` for algo orders), adoptions and "never placed" resolutions. Algo
(conditional) orders are placed and cancelled the same way, with their algo fields. The replay
issues each command through the manager's public API and holds its request until the recorded
answer's place in the file, so that frames and answers interleave as they did live. Nothing is asked
of an exchange: the resolver's own questions are switched off, their recorded answers stand in.

Output: the final state of every order, the callback counts, the risk hook's fills and the
core's counters; the same for both cores (``--implementation``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections import Counter, deque
from decimal import Decimal
from typing import Any

from ..exchange.errors import ExchangeError, ExchangeTimeout
from ..orders._fixed import fixed_to_str
from ..orders.recording import CommandRecord, RecordingReader


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a recording written by demo/run --record")
    p.add_argument(
        "--implementation",
        choices=("cython", "python"),
        default=None,
        help="order core: compiled or pure-Python twin (default: the compiled one if built)",
    )


class _Ids:
    """The live run's client order ids, handed out in the order the commands need them."""

    def __init__(self) -> None:
        self.queue: deque[str] = deque()

    def new(self, sub_account_id: str, order_type: str, origin: str) -> str:
        return self.queue.popleft()


class _ReplayExchange:
    """Answers each request when the replay reaches its recorded answer."""

    def __init__(self) -> None:
        self.waiting: dict[tuple[str, str], asyncio.Future[dict[str, Any]]] = {}

    async def _wait(self, what: str, cid: str) -> dict[str, Any]:
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.waiting[(what, cid)] = fut
        answer = await fut
        kind = answer.get("kind")
        if kind == "timeout":
            raise ExchangeTimeout(int(answer.get("code", -1007)), str(answer.get("msg", "")))
        if kind == "error":
            raise ExchangeError(int(answer.get("code", -1)), str(answer.get("msg", "")))
        if kind == "refused":
            raise ValueError(str(answer.get("msg", "")))
        if kind == "unknown":
            raise ConnectionError(str(answer.get("msg", "")))
        oid = answer.get("order_id")
        return {"clientOrderId": cid, "orderId": oid} if oid is not None else {"clientOrderId": cid}

    async def place_order(self, symbol: str, side: str, order_type: str, quantity: str, *,
                          client_order_id: str, **kw: Any) -> dict[str, Any]:
        return await self._wait("place_reply", client_order_id)

    async def cancel_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        return await self._wait("cancel_reply", client_order_id)

    async def place_algo_order(self, symbol: str, side: str, order_type: str, quantity: str | None, *,
                               client_algo_id: str, **kw: Any) -> dict[str, Any]:
        return await self._wait("place_reply", client_algo_id)

    async def cancel_algo_order(self, symbol: str, *, client_algo_id: str) -> dict[str, Any]:
        return await self._wait("cancel_reply", client_algo_id)

    async def get_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        raise ExchangeError(-1, "replay: status queries come from the recording")

    async def get_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return []


class _Counts:
    """Callbacks and risk-hook fills, counted."""

    def __init__(self) -> None:
        self.callbacks: Counter[str] = Counter()
        self.risk_fills = 0
        self.risk_qty: Counter[str] = Counter()

    def hooks(self) -> dict[str, Any]:
        def make(name: str) -> Any:
            def cb(order: Any) -> None:
                self.callbacks[name] += 1
            return cb
        return {n: make(n) for n in ("on_fill", "on_cancel", "on_partial")}

    async def on_order_fill(self, order: Any) -> None:
        self.risk_fills += 1
        self.risk_qty[order.sub_account_id] += round(order.last_fill_qty * 100_000_000)


async def _settle(n: int = 5) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


async def replay(path: str, implementation: str | None = None) -> list[str]:
    """The replay's report lines (see the module docstring)."""
    from ..orders.manager import OrderManager

    counts = _Counts()
    exchange = _ReplayExchange()
    manager = OrderManager(exchange, risk_engine=counts, implementation=implementation,
                           resolve_timeout=1e9, stuck_timeout=0, terminal_ttl=1e12, terminal_max=10**9)
    ids = _Ids()
    manager._ids = ids  # the live run's ids, so that its frames find their orders
    seen: list[str] = []
    tasks: list[asyncio.Task[Any]] = []
    frames = commands = 0
    reader = RecordingReader(path)
    for rec in reader:
        if not isinstance(rec, CommandRecord):
            frames += 1
            manager.feed(rec.data)
            await _settle()
            continue
        commands += 1
        a = rec.args if isinstance(rec.args, dict) else {}
        name = rec.name
        if name == "place":
            cid = str(a["cid"])
            seen.append(cid)
            ids.queue.append(cid)
            tasks.append(asyncio.ensure_future(_place(manager, a, counts)))
            await _until_waiting(exchange, ("place_reply", cid))
        elif name == "cancel":
            tasks.append(asyncio.ensure_future(manager.cancel_order(str(a["cid"]))))
            await _until_waiting(exchange, ("cancel_reply", str(a["cid"])))
        elif name in ("place_reply", "cancel_reply"):
            fut = exchange.waiting.pop((name, str(a.get("cid"))), None)
            if fut is not None and not fut.done():
                fut.set_result(a)
            await _settle()
        elif name == "rest_order":
            manager.apply_rest_order(a)
        elif name == "rest_algo":
            manager.feed_algo_rest(a)
        elif name == "adopt_algo":
            if manager.adopt_algo_order(a) is not None:
                seen.append(str(a.get("clientAlgoId")))
        elif name == "adopt":
            if manager.adopt_order(a) is not None:
                seen.append(str(a.get("clientOrderId")))
        elif name == "update":
            await manager.on_order_update(a)
        elif name == "never_placed":
            order = manager.get_order(str(a.get("cid")))
            if order is not None:
                manager._resolver._never_placed(order)
        await _settle()
    for t in tasks:  # requests whose answer the recording does not have (the run stopped first)
        if not t.done():
            t.cancel()
        with contextlib.suppress(BaseException):
            await t
    await _settle(20)
    lines = [f"replay of {path}: {frames} frames, {commands} commands"
             + (f", {reader.skipped} damaged records skipped" if reader.skipped else "")]
    for cid in dict.fromkeys(seen):
        o = manager.get_order(cid)
        if o is None:
            lines.append(f"order {cid}: not tracked")
            continue
        lines.append(
            f"order {cid} {o.sub_account_id} {o.symbol} {o.side} {o.order_type} "
            f"{fixed_to_str(o.quantity_fp)}@{fixed_to_str(o.price_fp) if o.price_fp else 'MKT'} {o.state} "
            f"filled={fixed_to_str(o.filled_fp)} avg={_dec(o.avg_price)} oid={o.exchange_order_id}"
        )
    cb = counts.callbacks
    lines.append(
        f"callbacks: on_fill={cb['on_fill']} on_partial={cb['on_partial']} on_cancel={cb['on_cancel']}")
    per_sub = " ".join(f"{s}={fixed_to_str(q)}" for s, q in sorted(counts.risk_qty.items()))
    lines.append(f"risk hook: {counts.risk_fills} fills {per_sub}".rstrip())
    c = manager.stats()
    keys = ("frames", "fills", "late_fills", "stale", "unknown_ids", "malformed", "orphans", "terminal")
    lines.append("core: " + " ".join(f"{k}={c.get(k, 0)}" for k in keys))
    await manager.close()
    return lines


async def _place(manager: Any, a: dict[str, Any], counts: _Counts) -> Any:
    qty = fixed_to_str(int(a["qty"]))
    common: dict[str, Any] = {
        "leverage": int(a.get("leverage") or 1), "origin": str(a.get("origin") or "MANUAL"),
        "parent_id": a.get("parent"), "reduce_only": bool(a.get("reduce_only")), **counts.hooks(),
    }
    algo = a.get("algo")
    if isinstance(algo, dict):  # a conditional order (Algo API)
        kw: dict[str, Any] = {
            **common, "working_type": str(a.get("working_type") or "CONTRACT_PRICE"),
            "close_position": bool(a.get("close_position")), "price_protect": bool(a.get("price_protect")),
        }
        if a.get("type") == "TRAILING_STOP_MARKET":
            return await manager.place_trailing_stop_order(
                str(a["sub"]), str(a["symbol"]), str(a["side"]), qty, str(algo["callback_rate"]),
                activation_price=algo.get("activation_price"), **kw)
        kind = str(a["type"]).removesuffix("_MARKET")
        price = fixed_to_str(int(a["price"])) if a.get("price") else None
        return await manager.place_stop_order(str(a["sub"]), str(a["symbol"]), str(a["side"]), qty,
                                              str(algo["trigger_price"]), kind=kind, price=price, **kw)
    if a.get("type") == "MARKET":
        return await manager.place_market_order(str(a["sub"]), str(a["symbol"]), str(a["side"]), qty,
                                                **common)
    return await manager.place_limit_order(str(a["sub"]), str(a["symbol"]), str(a["side"]), qty,
                                           fixed_to_str(int(a["price"])), time_in_force=a.get("tif"),
                                           self_trade_prevention=a.get("stp"), **common)


async def _until_waiting(exchange: _ReplayExchange, key: tuple[str, str], turns: int = 50) -> None:
    # The request reaches the fake exchange within a few loop turns (its intent is journaled, if
    # at all, before); a command the manager refused before sending never gets there.
    for _ in range(turns):
        if key in exchange.waiting:
            return
        await asyncio.sleep(0)


def _dec(x: float) -> str:
    return format(Decimal(repr(x)).normalize(), "f")


async def run_replay(args: argparse.Namespace) -> int:
    for line in await replay(args.file, args.implementation):
        print(line, flush=True)
    return 0
