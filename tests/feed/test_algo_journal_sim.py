"""Algo orders in the journal: the place intent carries the algo fields, and after a crash a new
manager restores them from it, over real sockets against the simulator, both order cores."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from trading_engine_python.exchange import BinanceFuturesClient
from trading_engine_python.feed import UserStreamService
from trading_engine_python.orders.journal import Journal, load
from trading_engine_python.orders.manager import OrderManager
from trading_engine_python.sim import BinanceSimulator

from ..conftest import Implementation
from ._fakes import until
from .conftest import API_KEY, API_SECRET

SUB = "desk-alpha-sub-0001"  # longer than the 8 characters the client id carries
FP = 100_000_000


class Session:
    """One engine process: client, manager on the journal, user stream."""

    def __init__(self, sim: BinanceSimulator, impl: Implementation, path: Path) -> None:
        self.sim = sim
        self.client = BinanceFuturesClient(API_KEY, API_SECRET, base_url=sim.base_url, timeout=1.0)
        self.manager = OrderManager(self.client, implementation=impl.name, resolve_timeout=0.2,
                                    journal=Journal.open(path, flush="every"))
        self.stream = UserStreamService(self.client, self.manager, ws_url=sim.ws_url,
                                        reconnect_backoff=(0.02, 0.2))

    async def crash(self) -> None:
        """Gone without closing the manager (the journal's fsync'd records stay)."""
        await self.stream.stop()
        await self.client.close()


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    s = BinanceSimulator(api_key=API_KEY, api_secret=API_SECRET, seed=0, auto_walk=False)
    await s.start()
    yield s
    await s.stop()


async def test_algo_orders_survive_a_crash(sim: BinanceSimulator, impl: Implementation,
                                           tmp_path: Path) -> None:
    path = tmp_path / "journal"
    a = Session(sim, impl, path)
    await a.stream.start()
    m = a.manager
    px = sim.price("BTCUSDT")
    sim.taker_liquidity = "0.002"
    stop = await m.place_stop_order(SUB, "BTCUSDT", "SELL", "0.003", str(px - 30), working_type="MARK_PRICE",
                                    price_protect=True, origin="GUARD", parent_id="pos-1")
    trail = await m.place_trailing_stop_order(SUB, "BTCUSDT", "SELL", "0.002", "1.5",
                                              activation_price=str(px + 100), reduce_only=False)
    tp = await m.place_stop_order(SUB, "BTCUSDT", "BUY", "0.005", str(px + 10), price=str(px + 12))
    await until(lambda: all(o.state == "active" for o in (stop, trail, tp)))
    sim.set_price("BTCUSDT", px + 10)  # tp triggers; its created LIMIT takes 0.002 and rests
    await until(lambda: tp.state == "triggered" and tp.filled_fp == 200_000)
    await until(lambda: load(path).entries[tp.client_order_id].change.filled == 200_000)  # type: ignore[union-attr]

    e = load(path).entries
    sp, tr = e[stop.client_order_id].place, e[trail.client_order_id].place
    assert sp is not None and sp.order_type == "STOP_MARKET" and sp.trigger_price == int((px - 30) * FP)
    assert sp.working_type == "MARK_PRICE" and sp.price_protect is True and sp.close_position is False
    assert sp.origin == "GUARD" and sp.parent_id == "pos-1" and sp.sub_account_id == SUB
    assert tr is not None and tr.order_type == "TRAILING_STOP_MARKET" and tr.callback_rate == 150_000_000
    assert tr.activation_price == int((px + 100) * FP) and tr.trigger_price is None
    await a.crash()

    sim.taker_liquidity = None
    b = Session(sim, impl, path)
    report = await b.manager.restore()
    assert report["restored"] == 3 and report["live"] == 3, report
    await b.stream.start()
    try:
        s2, t2, p2 = (b.manager.get_order(o.client_order_id) for o in (stop, trail, tp))
        assert s2 is not None and s2.is_algo and s2.state == "active" and s2.order_type == "STOP_MARKET"
        assert s2.sub_account_id == SUB and s2.origin == "GUARD" and s2.parent_id == "pos-1"
        assert t2 is not None and t2.state == "active" and t2.order_type == "TRAILING_STOP_MARKET"
        assert p2 is not None and p2.state == "triggered" and p2.order_type == "STOP"
        assert p2.filled_fp == 200_000
        # The restored orders go on: tp's remainder fills, the stop triggers and fills.
        sim.set_price("BTCUSDT", px)
        await until(lambda: p2.state == "filled")
        assert p2.filled_fp == 500_000
        sim.set_price("BTCUSDT", px - 30)
        await until(lambda: s2.state == "filled")
        assert b.manager.stats()["late_fills"] == 0
        assert await b.manager.cancel_order(t2.client_order_id)
        await until(lambda: t2.state == "cancelled")
    finally:
        await b.stream.stop()
        await b.manager.close()
        await b.client.close()
        await a.manager.close()  # the crashed one's tasks (their client is closed: they did nothing)


async def test_an_algo_place_never_sent_ends_failed(sim: BinanceSimulator, impl: Implementation,
                                                     tmp_path: Path) -> None:
    """A crash between the intent and the send: the Algo API does not know the id; it ends failed."""
    path = tmp_path / "journal"
    a = Session(sim, impl, path)
    await a.stream.start()

    async def never(*args: Any, **kw: Any) -> Any:
        raise ConnectionError("crashed before the send")

    a.client.place_algo_order = never  # type: ignore[method-assign]
    o = await a.manager.place_stop_order(SUB, "BTCUSDT", "SELL", "0.003", str(sim.price("BTCUSDT") - 30))
    assert o.state == "placing"
    await a.crash()
    b = Session(sim, impl, path)
    try:
        report = await b.manager.restore()
        assert report["restored"] == 1 and report["resolving"] == 1
        o2 = b.manager.get_order(o.client_order_id)
        assert o2 is not None and o2.is_algo
        await until(lambda: o2.state == "failed")
        assert sim.algo_orders() == []
    finally:
        await b.manager.close()
        await b.client.close()
        await a.manager.close()
