"""The order manager trading through the ws-fapi client, with the real user stream, against the
simulator, on both order cores: the ws client is a whole ExchangeClient."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest

from trading_engine_python.exchange import BinanceFuturesClient, ExchangeError
from trading_engine_python.exchange.ws_api import WsApiClient
from trading_engine_python.feed import UserStreamService
from trading_engine_python.sim import BinanceSimulator

from ..conftest import Implementation

API_KEY = "AKwsMGR1234567890apikey"
API_SECRET = "SEwsMGR0987654321apisecret"
TICK = Decimal("0.1")


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@dataclass
class Rig:
    sim: BinanceSimulator
    client: BinanceFuturesClient
    ws: WsApiClient
    manager: Any


@pytest.fixture
async def rig(impl: Implementation) -> AsyncIterator[Rig]:
    from trading_engine_python.orders.manager import OrderManager

    sim = BinanceSimulator(api_key=API_KEY, api_secret=API_SECRET, seed=0, auto_walk=False)
    await sim.start()
    # Orders over ws-fapi, each request signed (HMAC); reconciliation's open-orders query and the
    # user stream's listenKey over REST, with the same client's keys.
    client = BinanceFuturesClient(
        API_KEY, API_SECRET, base_url=sim.base_url, ws_api_url=sim.ws_api_url, timeout=1.0
    )
    ws = client._ws_api = WsApiClient(client, sim.ws_api_url, backoff_base=0.01, backoff_max=0.05)
    await client.start_ws_api()
    manager = OrderManager(
        ws, implementation=impl.name, resolve_timeout=0.2, stuck_timeout=1.0, replace_timeout=3.0
    )
    stream = UserStreamService(client, manager, ws_url=sim.ws_url, reconnect_backoff=(0.02, 0.2))
    await stream.start()
    try:
        yield Rig(sim, client, ws, manager)
    finally:
        await stream.stop()
        await manager.close()
        await client.close()
        await sim.stop()


async def test_orders_go_over_the_websocket(rig: Rig) -> None:
    px = rig.sim.price("BTCUSDT") - 100
    o = await rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", str(px))
    await until(lambda: o.state == "active")
    held = rig.sim.orders_by_client_id(o.client_order_id)
    assert held is not None and o.exchange_order_id == held["orderId"]
    c = await rig.manager.place_limit_order("sub1", "BTCUSDT", "SELL", "0.005", str(px + 300))
    await until(lambda: c.state == "active")
    assert await rig.manager.cancel_order(c.client_order_id) is True
    await until(lambda: c.state == "cancelled")
    rig.sim.set_price("BTCUSDT", px - TICK)
    await until(lambda: o.state == "filled")
    assert ("POST", "/fapi/v1/order") not in rig.sim.requests
    assert ("DELETE", "/fapi/v1/order") not in rig.sim.requests
    assert rig.sim.ws_requests.count("order.place") == 2 and "order.cancel" in rig.sim.ws_requests


async def test_drop_with_a_place_in_flight_is_resolved_not_guessed(rig: Rig) -> None:
    rig.sim.faults.ws_drop("order.place", process=True)
    px = rig.sim.price("BTCUSDT") - 100
    o = await rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", str(px))
    # The place's answer was lost; the user stream (or a status query over the new connection)
    # tells the manager the order is live.
    await until(lambda: o.state == "active")
    assert rig.ws.stats["unknown_outcomes"] >= 1
    await until(lambda: rig.ws.stats["connects"] == 2 and rig.ws.connected)  # reconnected by itself
    assert rig.sim.ws_requests.count("order.place") == 1  # never sent twice
    assert [h["clientOrderId"] for h in rig.sim.open_orders()] == [o.client_order_id]


async def test_algo_orders_go_over_the_websocket(rig: Rig) -> None:
    """algoOrder.place / algoOrder.cancel over ws-fapi; the trigger's fills come by the user stream."""
    seen: list[str] = []
    px = rig.sim.price("BTCUSDT")
    stop = await rig.manager.place_stop_order("sub1", "BTCUSDT", "SELL", "0.002", str(px - 30),
                                              on_cancel=lambda o: seen.append("cancel"))
    await until(lambda: stop.state == "active")
    assert rig.manager.algo_id(stop.client_order_id) is not None
    assert await rig.manager.cancel_order(stop.client_order_id) is True
    await until(lambda: stop.state == "cancelled")
    tp = await rig.manager.place_stop_order("sub1", "BTCUSDT", "BUY", "0.003", str(px + 20),
                                            on_fill=lambda o: seen.append("fill"))
    await until(lambda: tp.state == "active")
    rig.sim.set_price("BTCUSDT", px + 20)
    await until(lambda: tp.state == "filled")
    assert seen == ["cancel", "fill"] and tp.filled_fp == 300_000
    assert rig.sim.ws_requests.count("algoOrder.place") == 2
    assert rig.sim.ws_requests.count("algoOrder.cancel") == 1
    assert not [r for r in rig.sim.requests if r[1] == "/fapi/v1/algoOrder"]


async def test_ws_algo_client_checks_before_sending(rig: Rig) -> None:
    with pytest.raises(ValueError, match="callback_rate"):
        await rig.ws.place_algo_order("BTCUSDT", "SELL", "TRAILING_STOP_MARKET", "0.001",
                                      client_algo_id="ws-trl", callback_rate="0.15")
    assert "algoOrder.place" not in rig.sim.ws_requests
    r = await rig.ws.place_algo_order("BTCUSDT", "SELL", "TRAILING_STOP_MARKET", "0.001",
                                      client_algo_id="ws-trl", callback_rate="1.5")
    assert r["clientAlgoId"] == "ws-trl" and r["algoStatus"] == "NEW" and r["callbackRate"] == "1.5"
    c = await rig.ws.cancel_algo_order("BTCUSDT", client_algo_id="ws-trl")
    assert c["clientAlgoId"] == "ws-trl"
    with pytest.raises(ExchangeError):
        await rig.ws.cancel_algo_order("BTCUSDT", client_algo_id="ws-trl")
