"""End-to-end rig: simulator + real REST client + real user stream + OrderManager (both cores)."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from trading_engine_python.exchange import BinanceFuturesClient
from trading_engine_python.feed import UserStreamService
from trading_engine_python.sim import BinanceSimulator

from ..conftest import Implementation
from ._fakes import until

API_KEY = "AKe2eTEST1234567890"
API_SECRET = "SEe2eTEST0987654321"
FP = Decimal(10) ** 8
TICK = Decimal("0.1")  # the simulator's BTCUSDT tick size: one step of its price

_STATE_OF = {
    "NEW": "active",
    "PARTIALLY_FILLED": "active",
    "FILLED": "filled",
    "CANCELED": "cancelled",
    "EXPIRED": "expired",
    "EXPIRED_IN_MATCH": "expired",
}


@dataclass
class Rig:
    sim: BinanceSimulator
    client: BinanceFuturesClient
    manager: Any
    stream: UserStreamService
    orders: list[Any] = field(default_factory=list)
    fills: Counter[str] = field(default_factory=Counter)
    cancels: Counter[str] = field(default_factory=Counter)
    partials: Counter[str] = field(default_factory=Counter)
    replaced: dict[str, Any] = field(default_factory=dict)  # old client id -> its replacement

    def _on_fill(self, o: Any) -> None:
        self.fills[o.client_order_id] += 1

    def _on_cancel(self, o: Any) -> None:
        self.cancels[o.client_order_id] += 1

    def _on_partial(self, o: Any) -> None:
        self.partials[o.client_order_id] += 1

    def price(self, symbol: str = "BTCUSDT") -> Decimal:
        return self.sim.price(symbol)

    async def limit(
        self, side: str, qty: str, price: Decimal | str, symbol: str = "BTCUSDT", **kw: Any
    ) -> Any:
        o = await self.manager.place_limit_order(
            "sub1",
            symbol,
            side,
            qty,
            str(price),
            on_fill=self._on_fill,
            on_cancel=self._on_cancel,
            on_partial=self._on_partial,
            **kw,
        )
        self.orders.append(o)
        return o

    async def market(self, side: str, qty: str, symbol: str = "BTCUSDT") -> Any:
        o = await self.manager.place_market_order(
            "sub1",
            symbol,
            side,
            qty,
            on_fill=self._on_fill,
            on_cancel=self._on_cancel,
            on_partial=self._on_partial,
        )
        self.orders.append(o)
        return o

    async def replace(self, order: Any, price: Decimal | str) -> Any:
        """Cancel-then-place (what these tests follow through faults); amends: test_e2e_sim.py."""
        new = await self.manager.replace_order(order.client_order_id, str(price), mode="cancel_place")
        if new is not None:
            self.replaced[order.client_order_id] = new
            self.orders.append(new)
        return new

    def expected_state(self, o: Any) -> str:
        held = self.sim.orders_by_client_id(o.client_order_id)
        if held is None:
            return "rejected|failed"
        return _STATE_OF[held["status"]]

    def in_line(self, o: Any) -> bool:
        held = self.sim.orders_by_client_id(o.client_order_id)
        if held is None:
            return o.state in ("rejected", "failed")
        return o.state == _STATE_OF[held["status"]] and o.filled_fp == int(Decimal(held["executedQty"]) * FP)

    async def settle(self, timeout: float = 8.0) -> None:
        """Every order ends in the state (and filled quantity) the simulator holds."""
        try:
            await until(lambda: all(self.in_line(o) for o in self.orders), timeout)
        except AssertionError:
            bad = [
                (o.client_order_id, o.state, o.filled_fp, self.sim.orders_by_client_id(o.client_order_id))
                for o in self.orders
                if not self.in_line(o)
            ]
            raise AssertionError(f"orders out of line with the simulator: {bad}") from None

    def check_callbacks(self) -> None:
        """on_fill / on_cancel exactly once per order that ended so (callbacks of a replaced order
        move to its replacement); on_partial at most once per partial trade."""
        for o in self.orders:
            cid = o.client_order_id
            if cid in self.replaced:
                assert self.fills[cid] == 0 and self.cancels[cid] == 0, cid
                continue
            st = o.state
            assert self.fills[cid] == (1 if st == "filled" else 0), (cid, st, self.fills[cid])
            closed = st in ("cancelled", "expired", "rejected", "failed")
            assert self.cancels[cid] == (1 if closed else 0), (cid, st, self.cancels[cid])
            partial_trades = sum(
                1 for e in self.sim.events_of(cid) if e["x"] == "TRADE" and e["X"] == "PARTIALLY_FILLED"
            )
            assert self.partials[cid] <= partial_trades, (cid, self.partials[cid], partial_trades)

    def check_one_live_per_intent(self) -> None:
        """Replace never leaves two live orders: the old order's end precedes the new one's NEW
        in the simulator's own event log."""
        events = [e for e in self.sim.events if e.get("e") == "ORDER_TRADE_UPDATE"]

        def first(cid: str, statuses: tuple[str, ...]) -> int:
            for n, e in enumerate(events):
                if e["o"]["c"] == cid and e["o"]["X"] in statuses:
                    return n
            return -1

        for old_cid, new in self.replaced.items():
            end = first(old_cid, ("CANCELED", "EXPIRED", "FILLED"))
            born = first(new.client_order_id, ("NEW", "PARTIALLY_FILLED", "FILLED"))
            assert end != -1 and (born == -1 or end < born), (old_cid, end, born)
        live = [o for o in self.sim.open_orders()]
        cids = {o["clientOrderId"] for o in live}
        for old_cid, new in self.replaced.items():
            assert not (old_cid in cids and new.client_order_id in cids), old_cid


@pytest.fixture
async def rig(impl: Implementation) -> AsyncIterator[Rig]:
    """A running simulator, client, user stream and manager on ``impl``'s core."""
    from trading_engine_python.orders.manager import OrderManager

    sim = BinanceSimulator(api_key=API_KEY, api_secret=API_SECRET, seed=0, auto_walk=False)
    await sim.start()
    client = BinanceFuturesClient(API_KEY, API_SECRET, base_url=sim.base_url, timeout=1.0)
    # ImportError here (cython) is a failure on purpose: the compiled core must be built.
    manager = OrderManager(
        client, implementation=impl.name, resolve_timeout=0.2, stuck_timeout=1.0, replace_timeout=3.0
    )
    assert manager.implementation == impl.name
    stream = UserStreamService(
        client, manager, ws_url=sim.ws_url, reconnect_backoff=(0.02, 0.2), keepalive_interval=60.0
    )
    await stream.start()
    r = Rig(sim, client, manager, stream)
    try:
        yield r
    finally:
        await stream.stop()
        await manager.close()
        await client.close()
        await sim.stop()
