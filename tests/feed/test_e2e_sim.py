"""End to end over real loopback sockets: OrderManager <- real REST client and real user stream ->
the simulator, on both order cores (the ``rig`` fixture, tests/feed/conftest.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from trading_engine_python.feed import MarketStream
from trading_engine_python.sim import BinanceSimulator

from ._fakes import until
from .conftest import TICK, Rig


async def test_limit_rests_then_fills(rig: Rig) -> None:
    px = rig.price() - 100
    o = await rig.limit("BUY", "0.010", px)
    await until(lambda: o.state == "active")
    assert o.exchange_order_id == rig.sim.orders_by_client_id(o.client_order_id)["orderId"]
    assert o.exchange_order_id > 2**53
    rig.sim.set_price("BTCUSDT", px - TICK)
    await until(lambda: o.state == "filled")
    await rig.settle()
    rig.check_callbacks()
    assert rig.fills[o.client_order_id] == 1
    assert rig.stream.stats()["order_updates"] >= 2


async def test_market_order_fills(rig: Rig) -> None:
    o = await rig.market("BUY", "0.003")
    await until(lambda: o.state == "filled")
    await rig.settle()
    rig.check_callbacks()


async def test_partial_fills(rig: Rig) -> None:
    rig.sim.max_fill_qty = "0.004"
    px = rig.price() - 50
    o = await rig.limit("BUY", "0.010", px)
    await until(lambda: o.state == "active")
    for n in range(3):
        rig.sim.set_price("BTCUSDT", px - TICK * (n + 1))
        want = min(Decimal("0.004") * (n + 1), Decimal("0.010"))
        await until(lambda w=want: o.filled_fp == int(w * 10**8))
    await until(lambda: o.state == "filled")
    await rig.settle()
    rig.check_callbacks()
    assert rig.partials[o.client_order_id] == 2 and rig.fills[o.client_order_id] == 1


async def test_cancel(rig: Rig) -> None:
    o = await rig.limit("SELL", "0.005", rig.price() + 100)
    await until(lambda: o.state == "active")
    assert await rig.manager.cancel_order(o.client_order_id) is True
    await until(lambda: o.state == "cancelled")
    await rig.settle()
    rig.check_callbacks()
    assert rig.sim.open_orders() == []


async def test_replace(rig: Rig) -> None:
    px = rig.price() - 100
    o = await rig.limit("BUY", "0.010", px)
    await until(lambda: o.state == "active")
    new = await rig.replace(o, px - 10)
    assert new is not None
    await until(lambda: new.state == "active")
    held = rig.sim.open_orders()
    assert [h["clientOrderId"] for h in held] == [new.client_order_id]
    assert Decimal(held[0]["price"]) == px - 10
    rig.sim.set_price("BTCUSDT", px - 10 - TICK)
    await until(lambda: new.state == "filled")
    await rig.settle()
    rig.check_callbacks()
    rig.check_one_live_per_intent()
    assert rig.fills[new.client_order_id] == 1  # the callbacks moved to the replacement


async def test_amend_in_place(rig: Rig) -> None:
    px = rig.price() - 100
    o = await rig.limit("BUY", "0.010", px)
    await until(lambda: o.state == "active")
    assert await rig.manager.replace_order(o.client_order_id, str(px - 10)) is o  # REST PUT
    held = rig.sim.open_orders()
    assert [h["clientOrderId"] for h in held] == [o.client_order_id] and Decimal(held[0]["price"]) == px - 10
    rig.sim.set_price("BTCUSDT", px - 10 - TICK)
    await until(lambda: o.state == "filled")
    await rig.settle()
    rig.check_callbacks()
    assert rig.fills[o.client_order_id] == 1  # the callbacks stayed on the same order


async def test_cancel_all_for_symbol(rig: Rig) -> None:
    btc = [await rig.limit("BUY", "0.002", rig.price() - 100 - n) for n in range(3)]
    eth = await rig.limit("BUY", "0.05", rig.price("ETHUSDT") - 20, symbol="ETHUSDT")
    await until(lambda: all(o.state == "active" for o in [*btc, eth]))
    assert await rig.manager.cancel_all_orders_for_symbol("BTCUSDT") == 3
    await until(lambda: all(o.state == "cancelled" for o in btc))
    await rig.settle()
    rig.check_callbacks()
    assert eth.state == "active"
    assert [h["clientOrderId"] for h in rig.sim.open_orders()] == [eth.client_order_id]


async def test_active_orders_query(rig: Rig) -> None:
    a = await rig.limit("BUY", "0.002", rig.price() - 100)
    b = await rig.limit("BUY", "0.05", rig.price("ETHUSDT") - 20, symbol="ETHUSDT")
    await until(lambda: a.state == "active" and b.state == "active")
    got = {o.client_order_id for o in rig.manager.get_active_orders(symbol="BTCUSDT")}
    assert got == {a.client_order_id}
    assert rig.manager.get_order(b.client_order_id).state == "active"


async def test_market_stream_receives_book_ticker() -> None:
    sim = BinanceSimulator(seed=0, auto_walk=False)
    await sim.start()
    got: list[dict[str, Any]] = []
    ms = MarketStream(
        sim.ws_url, ["BTCUSDT", "ETHUSDT"], on_book_ticker=got.append, reconnect_backoff=(0.02, 0.2)
    )
    await ms.start()
    try:
        sim.set_price("BTCUSDT", "65010.0")
        sim.set_price("ETHUSDT", "3001.00")
        await until(lambda: {g["s"] for g in got} == {"BTCUSDT", "ETHUSDT"})
        btc = next(g for g in got if g["s"] == "BTCUSDT")
        assert Decimal(btc["b"]) < Decimal("65010.0") < Decimal(btc["a"])
        await sim.drop_public_streams()
        await until(lambda: ms.stats()["connects"] == 4)
        n = len(got)
        sim.set_price("BTCUSDT", "65020.0")
        await until(lambda: len(got) > n)
        assert got[-1]["s"] == "BTCUSDT" and ms.stats()["reconnects"] == 2
    finally:
        await ms.stop()
        await sim.stop()


async def test_listen_keys_never_logged(rig: Rig, caplog: Any) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    seen: list[dict[str, Any]] = []
    rig.stream.add_listener("*", seen.append)
    keys = set(rig.sim.listen_keys)
    await rig.sim.drop_user_streams()
    await until(lambda: rig.stream.stats()["reconnects"] == 1 and rig.stream.connected)
    await rig.sim.expire_listen_key()
    await until(lambda: rig.stream.stats()["reconnects"] == 2 and rig.stream.connected)
    keys |= set(rig.sim.listen_keys)
    assert keys and seen
    text = caplog.text + repr(rig.stream) + repr(rig.stream.stats()) + repr(seen) + repr(rig.client)
    for k in keys:
        assert k not in text
    assert "/private/ws/***" in caplog.text
