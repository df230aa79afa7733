"""ccxt's binanceusdm, pointed at the simulator, places/fetches/cancels/lists orders and its order shows up on
the user stream (proof that an unmodified third-party Binance client works against the sim)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from trading_engine_python.sim import BinanceSimulator

from .conftest import recv_until

ccxt = pytest.importorskip("ccxt.async_support")

SYMBOL = "BTC/USDT:USDT"


def point_at(ex: Any, base_url: str) -> None:
    """Rewrite every fapi root (v1/v2/v3, public and private) to the simulator (see sim/README.md)."""
    for name in (
        "fapiPublic",
        "fapiPublicV2",
        "fapiPublicV3",
        "fapiPrivate",
        "fapiPrivateV2",
        "fapiPrivateV3",
    ):
        version = ex.urls["api"][name].rsplit("/", 1)[-1]
        ex.urls["api"][name] = f"{base_url}/fapi/{version}"


@pytest.fixture
async def ex(sim: BinanceSimulator) -> AsyncIterator[Any]:
    exchange = ccxt.binanceusdm(
        {"apiKey": "sim-key", "secret": "sim-secret", "options": {"fetchCurrencies": False}}
    )
    point_at(exchange, sim.base_url)
    try:
        yield exchange
    finally:
        await exchange.close()


async def test_ccxt_order_life_cycle_and_user_stream(
    ex: Any, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    markets = await ex.load_markets()
    market = markets[SYMBOL]
    assert market["id"] == "BTCUSDT" and market["swap"] and market["linear"]
    assert market["precision"]["price"] == 0.1 and market["precision"]["amount"] == 0.001

    listen_key = (await ex.fapiPrivatePostListenKey())["listenKey"]
    ws = await session.ws_connect(f"{sim.ws_url}/private/ws/{listen_key}")
    try:
        sim.set_price("BTCUSDT", "65000")
        order = await ex.create_order(SYMBOL, "limit", "buy", 0.01, 60000)
        assert order["status"] == "open" and order["price"] == 60000
        oid = order["id"]
        assert int(oid) == sim.orders_by_client_id(order["clientOrderId"])["orderId"]  # type: ignore[index]
        assert int(oid) > 2**53  # ccxt keeps ids as strings: exact

        frames = await recv_until(ws, lambda e: e.get("e") == "ORDER_TRADE_UPDATE")
        new = frames[-1]["o"]
        assert (new["x"], new["X"], new["c"], str(new["i"])) == ("NEW", "NEW", order["clientOrderId"], oid)

        fetched = await ex.fetch_order(oid, SYMBOL)
        assert fetched["id"] == oid and fetched["status"] == "open" and fetched["amount"] == 0.01
        open_orders = await ex.fetch_open_orders(SYMBOL)
        assert [o["id"] for o in open_orders] == [oid]

        canceled = await ex.cancel_order(oid, SYMBOL)
        assert canceled["status"] == "canceled"
        frames = await recv_until(ws, lambda e: e.get("e") == "ORDER_TRADE_UPDATE")
        assert frames[-1]["o"]["x"] == "CANCELED" and str(frames[-1]["o"]["i"]) == oid
        assert await ex.fetch_open_orders(SYMBOL) == []

        with pytest.raises(ccxt.OrderNotFound):  # -2011 "Unknown order sent."
            await ex.cancel_order(oid, SYMBOL)

        filled = await ex.create_order(SYMBOL, "market", "sell", 0.002)
        frames = await recv_until(
            ws, lambda e: e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["X"] == "FILLED"
        )
        assert str(frames[-1]["o"]["i"]) == filled["id"]
        assert any(f["e"] == "ACCOUNT_UPDATE" for f in frames)
        assert (await ex.fetch_order(filled["id"], SYMBOL))["status"] == "closed"
        positions = await ex.fetch_positions([SYMBOL])
        assert positions[0]["contracts"] == 0.002 and positions[0]["side"] == "short"
    finally:
        await ws.close()
    # ccxt used only fapi endpoints the simulator serves (no 404s)
    assert all(path.startswith("/fapi/") for _m, path in sim.requests)


async def test_ccxt_error_mapping(ex: Any, sim: BinanceSimulator) -> None:
    await ex.load_markets()
    sim.set_price("BTCUSDT", "65000")
    with pytest.raises(ccxt.InvalidOrder):  # -5022 post-only would take
        await ex.create_order(SYMBOL, "limit", "buy", 0.01, 65100, {"timeInForce": "GTX"})
    with pytest.raises(ccxt.OrderNotFound):  # -2013
        await ex.fetch_order("12345", SYMBOL)
    bal = await ex.fetch_balance()
    assert bal["USDT"]["total"] == 10000
