"""Unknown outcomes, stuck orders and out-of-band cancels: the manager's background questions.

An unknown outcome (a timeout, a dropped connection, -1006/-1007, the 503 "Unknown error") is
resolved by the feed or by a status query, never guessed. This module asks those questions and
feeds every answer through the same transition rules as the user stream; it never decides a state
itself, except "never placed" after the exchange said several times that the order does not exist.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..exchange.errors import NO_SUCH_ORDER, ExchangeError, ExchangeTimeout
from ._states import CANCELLING, F_HOOKED, FAILED, PLACING

if TYPE_CHECKING:
    from .manager import OrderManager

log = logging.getLogger("trading_engine_python.orders")

# -2013 can answer for an order accepted a moment ago (the matching engine has not published it
# yet: docs/binance-protocol.md, "Pitfalls"), so "does not exist" counts only when said this often.
NOT_FOUND_TRIES = 3
PATIENT_TRIES = 20  # status queries at resolve_timeout intervals, then at SLOW_FACTOR times that
SLOW_FACTOR = 6  # 30 s with the default resolve_timeout of 5 s


class Resolver:
    """Status queries for orders whose outcome is unknown, the stuck watch, and cancels sent
    outside the state machine (orphans, resends). Owned by one :class:`OrderManager`."""

    def __init__(self, manager: OrderManager, resolve_timeout: float, stuck_timeout: float) -> None:
        self._m = manager
        self.resolve_timeout = float(resolve_timeout)
        self.stuck_timeout = float(stuck_timeout)
        self._resolving: set[str] = set()
        self._orphans: set[str] = set()  # orphan cancels in flight
        self._sweeper: asyncio.Task[None] | None = None

    # ── entry points for the manager ──

    def unknown_outcome(self, order: Any, what: str, exc: BaseException | None) -> None:
        self._m._stats["unknown_outcomes"] += 1
        log.warning("%s of %s: outcome unknown (%s); resolving by feed or status query",
                    what, order.client_order_id, exc if exc is not None else "caller cancelled")
        self._m._spawn(self.resolve(order))

    def watch(self, order: Any) -> None:
        """The exchange accepted a request; the feed should follow within milliseconds. If its
        frame is lost on a live connection (no reconnect, so no reconciliation), ask. The watch
        is the core's (a deadline in the order's record, on the core's clock): the order leaves it
        by itself when it leaves placing/cancelling."""
        if self.stuck_timeout <= 0:
            return
        if self._m._core.watch(order.client_order_id, self.stuck_timeout) and (
                self._sweeper is None or self._sweeper.done()):
            self._sweeper = asyncio.get_running_loop().create_task(self._sweep())

    def orphan(self, order: Any) -> None:
        """We closed it as rejected/failed, yet the exchange has it open: cancel it, once."""
        cid = order.client_order_id
        if cid in self._orphans:
            return
        self._orphans.add(cid)
        log.warning("%s is open at the exchange although it was %s: cancelling it", cid, order.state)
        self._m._spawn(self._cancel_orphan(order))

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return [self._sweeper] if self._sweeper is not None else []

    # ── the questions ──

    async def _sweep(self) -> None:
        core = self._m._core
        while core.watched() and not self._m._closed:
            await asyncio.sleep(min(self.stuck_timeout / 2, 5.0))
            for order in core.expired():  # only the orders past their deadline are looked at
                log.warning("%s still %s %.0fs after the exchange accepted it: querying",
                            order.client_order_id, order.state, self.stuck_timeout)
                self._m._spawn(self.resolve(order, wait=False))

    async def resolve(self, order: Any, wait: bool = True) -> None:
        cid = order.client_order_id
        if cid in self._resolving:
            return
        self._resolving.add(cid)
        try:
            if wait:
                await asyncio.sleep(self.resolve_timeout)
            not_found = 0
            attempt = 0
            while True:  # never give up: an unresolved order would sit placing/cancelling for good
                attempt += 1
                if order.state_code not in (PLACING, CANCELLING) or self._m._closed:
                    return
                result = await self.query(order)
                if order.state_code not in (PLACING, CANCELLING):
                    return
                if result == "not_found":
                    not_found += 1
                    if not_found >= NOT_FOUND_TRIES:
                        self._never_placed(order)
                        return
                else:
                    not_found = 0
                    if result == "open" and order.state_code == CANCELLING:
                        await self._resend_cancel(order)
                if attempt == PATIENT_TRIES:
                    log.error("%s: outcome still unknown after %d status queries; asking every %.1fs",
                              cid, attempt, self.resolve_timeout * SLOW_FACTOR)
                await asyncio.sleep(self.resolve_timeout if attempt < PATIENT_TRIES
                                    else self.resolve_timeout * SLOW_FACTOR)
        finally:
            self._resolving.discard(cid)

    def _never_placed(self, order: Any) -> None:
        # Every query said "does not exist": it never reached the exchange.
        m = self._m
        cid = order.client_order_id
        if m._recording is not None:
            m._recording.command("never_placed", {"cid": cid})
        flags = m._core.close_local(cid, FAILED, NO_SUCH_ORDER, "Order does not exist.")
        if flags:
            m._stats["resolved_failed"] += 1
            m._dispatch(flags | F_HOOKED, order, _now_ms())  # a local close: look up its intent
        else:
            log.error("%s was acknowledged but the exchange no longer finds it", cid)

    async def query(self, order: Any) -> str:
        """One status query, its answer applied through the feed rules: "open", "applied",
        "not_found" (-2013) or "error"."""
        m = self._m
        m._stats["status_queries"] += 1
        try:
            rest = await m._exchange.get_order(order.symbol, client_order_id=order.client_order_id)
        except ExchangeError as exc:
            if exc.code == NO_SUCH_ORDER and not isinstance(exc, ExchangeTimeout):
                return "not_found"
            log.info("status query of %s failed: %s", order.client_order_id, exc)
            return "error"
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("status query of %s failed: %s", order.client_order_id, exc)
            return "error"
        if isinstance(rest, dict):
            m.apply_rest_order(rest)
            if rest.get("status") in ("NEW", "PARTIALLY_FILLED"):
                return "open"
        return "applied"

    async def _cancel_orphan(self, order: Any) -> None:
        try:
            await self._send_cancel(order, "orphans_cancelled")
        finally:
            self._orphans.discard(order.client_order_id)

    async def _resend_cancel(self, order: Any) -> None:
        # We asked to cancel, yet the exchange still has the order open: that cancel was lost (it
        # timed out, or got -2011 because it overtook the order's own placement). Without asking
        # again the order would stay "cancelling" for good, and cancel_order refuses a cancelling
        # order.
        await self._send_cancel(order, "cancel_resends")

    async def _send_cancel(self, order: Any, counter: str) -> None:
        """A cancel request outside the state machine (no state change here): whatever it does,
        the feed or the next status query reports it, so its answer is only logged."""
        m = self._m
        m._stats[counter] += 1
        try:
            await m._exchange.cancel_order(order.symbol, client_order_id=order.client_order_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info("cancel of %s (%s): %s", order.client_order_id, counter, exc)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
