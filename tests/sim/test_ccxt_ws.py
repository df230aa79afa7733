"""ccxt.pro's binanceusdm trading over the simulator's ws-fapi endpoint: ``create_order_ws`` and
``edit_order_ws`` (order.place / order.modify, HMAC-signed per request by ccxt), with the amend
showing up on the user stream as x=AMENDMENT. ccxt is pointed at the simulator by rewriting its
URLs (recipe in sim/README.md)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from trading_engine_python.sim import BinanceSimulator

from .conftest import recv_until
from .test_ccxt import SYMBOL, point_at

ccxtpro = pytest.importorskip("ccxt.pro")


@pytest.fixture
async def ex(sim: BinanceSimulator) -> AsyncIterator[Any]:
    exchange = ccxtpro.binanceusdm(
        {"apiKey": "sim-key", "secret": "sim-secret", "options": {"fetchCurrencies": False}}
    )
    point_at(exchange, sim.base_url)
    exchange.urls["api"]["ws"]["ws-api"]["linear"] = sim.ws_api_url  # order entry over ws-fapi
    try:
        yield exchange
    finally:
        await exchange.close()


async def test_ccxt_pro_places_and_amends_over_ws_fapi(
    ex: Any, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    await ex.load_markets()
    listen_key = (await ex.fapiPrivatePostListenKey())["listenKey"]
    ws = await session.ws_connect(f"{sim.ws_url}/private/ws/{listen_key}")
    try:
        sim.set_price("BTCUSDT", "65000")
        order = await ex.create_order_ws(SYMBOL, "limit", "buy", 0.01, 60000)
        assert order["status"] == "open" and order["price"] == 60000 and order["amount"] == 0.01
        edited = await ex.edit_order_ws(order["id"], SYMBOL, "limit", "buy", 0.02, 60100)
        assert edited["id"] == order["id"] and edited["price"] == 60100 and edited["amount"] == 0.02
        held = sim.orders_by_client_id(order["clientOrderId"])
        assert held is not None and Decimal(held["price"]) == Decimal("60100")
        assert sim.ws_requests.count("order.place") == 1 and sim.ws_requests.count("order.modify") == 1
        assert ("POST", "/fapi/v1/order") not in sim.requests
        assert ("PUT", "/fapi/v1/order") not in sim.requests
        frames = await recv_until(
            ws, lambda m: m.get("e") == "ORDER_TRADE_UPDATE" and m["o"]["x"] == "AMENDMENT"
        )
        amended = frames[-1]
        assert amended["o"]["c"] == order["clientOrderId"] and amended["o"]["X"] == "NEW"
        assert (Decimal(amended["o"]["p"]), Decimal(amended["o"]["q"])) == (Decimal("60100"), Decimal("0.02"))
    finally:
        await ws.close()
