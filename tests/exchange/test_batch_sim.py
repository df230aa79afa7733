"""REST batch orders and amend in place, over real sockets against the project's simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from trading_engine_python.exchange import (
    BinanceFuturesClient,
    ExchangeError,
    ExchangeTimeout,
    SupportsBatch,
    SupportsModify,
)
from trading_engine_python.sim import BinanceSimulator

API_KEY = "AKsimBATCH1234567890key"
API_SECRET = "SEsimBATCH0987654321secret"
BATCH = "/fapi/v1/batchOrders"


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    s = BinanceSimulator(api_key=API_KEY, api_secret=API_SECRET, seed=0, auto_walk=False)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def client(sim: BinanceSimulator) -> AsyncIterator[BinanceFuturesClient]:
    async with BinanceFuturesClient(API_KEY, API_SECRET, base_url=sim.base_url, timeout=2.0) as c:
        yield c


def below(sim: BinanceSimulator, ticks: int = 1000) -> str:
    return str(sim.price("BTCUSDT") - Decimal("0.1") * ticks)


def limit(sim: BinanceSimulator, cid: str, ticks: int = 1000) -> dict[str, str]:
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "order_type": "LIMIT",
        "quantity": "0.001",
        "price": below(sim, ticks),
        "client_order_id": cid,
    }


def test_client_has_the_optional_methods() -> None:
    c = BinanceFuturesClient("k", "s")
    assert isinstance(c, SupportsBatch) and isinstance(c, SupportsModify)


async def test_batch_keeps_input_order_and_returns_item_errors(
    sim: BinanceSimulator, client: BinanceFuturesClient
) -> None:
    await client.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=below(sim), client_order_id="b-dup")
    out = await client.place_orders(
        [limit(sim, "b-1", 1001), limit(sim, "b-dup", 1002), limit(sim, "b-3", 1003)]
    )
    assert len(out) == 3
    first, dup, third = out
    assert isinstance(first, dict) and first["clientOrderId"] == "b-1"
    assert isinstance(third, dict) and third["clientOrderId"] == "b-3"
    assert isinstance(dup, ExchangeError) and not isinstance(dup, ExchangeTimeout)
    assert dup.code == -4116
    assert {o["clientOrderId"] for o in sim.open_orders("BTCUSDT")} == {"b-dup", "b-1", "b-3"}
    assert sum(1 for m, p in sim.requests if (m, p) == ("POST", BATCH)) == 1


async def test_batch_item_refused_by_the_exchange_reduce_only(
    sim: BinanceSimulator, client: BinanceFuturesClient
) -> None:
    ro = {**limit(sim, "b-ro"), "side": "SELL", "price": str(sim.price("BTCUSDT") + 100), "reduce_only": True}
    out = await client.place_orders([ro, limit(sim, "b-ok")])
    assert isinstance(out[0], ExchangeError) and out[0].code == -2022
    assert isinstance(out[1], dict) and out[1]["status"] == "NEW"


async def test_batch_checks_every_item_before_sending(
    sim: BinanceSimulator, client: BinanceFuturesClient
) -> None:
    with pytest.raises(ValueError, match="1 to 5"):
        await client.place_orders([limit(sim, f"b-{i}") for i in range(6)])
    with pytest.raises(ValueError, match="1 to 5"):
        await client.place_orders([])
    bad = {**limit(sim, "b-bad"), "quantity": "0.0001"}  # under LOT_SIZE minQty
    with pytest.raises(ValueError):
        await client.place_orders([limit(sim, "b-good"), bad])
    with pytest.raises(ValueError, match="misses 'side'"):
        await client.place_orders([{k: v for k, v in limit(sim, "b-x").items() if k != "side"}])
    assert not any(p == BATCH for _, p in sim.requests)
    assert sim.open_orders() == []


async def test_modify_order_amends_in_place(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    placed = await client.place_order(
        "BTCUSDT", "BUY", "LIMIT", "0.002", price=below(sim), client_order_id="m-1"
    )
    new_px = below(sim, 500)
    r = await client.modify_order("BTCUSDT", "BUY", "0.003", new_px, client_order_id="m-1")
    assert r["orderId"] == placed["orderId"] and r["clientOrderId"] == "m-1"
    assert Decimal(r["price"]) == Decimal(new_px) and Decimal(r["origQty"]) == Decimal("0.003")
    held = sim.orders_by_client_id("m-1")
    assert held is not None and Decimal(held["price"]) == Decimal(new_px)
    assert ("PUT", "/fapi/v1/order") in sim.requests


async def test_modify_unknown_order_is_a_definite_error(
    sim: BinanceSimulator, client: BinanceFuturesClient
) -> None:
    with pytest.raises(ExchangeError) as ei:
        await client.modify_order("BTCUSDT", "BUY", "0.001", below(sim), client_order_id="m-none")
    assert ei.value.code in (-2013, -2011) and not isinstance(ei.value, ExchangeTimeout)


async def test_modify_checks_before_sending(sim: BinanceSimulator, client: BinanceFuturesClient) -> None:
    with pytest.raises(ValueError):
        await client.modify_order("BTCUSDT", "BUY", "0.001", "65000.05", client_order_id="m-x")  # off tick
    with pytest.raises(ValueError):
        await client.modify_order("BTCUSDT", "HOLD", "0.001", below(sim), client_order_id="m-x")
    with pytest.raises(TypeError):
        await client.modify_order("BTCUSDT", "BUY", 0.001, below(sim), client_order_id="m-x")  # type: ignore[arg-type]
    assert ("PUT", "/fapi/v1/order") not in sim.requests


async def test_batch_items_carry_self_trade_prevention(
    sim: BinanceSimulator, client: BinanceFuturesClient
) -> None:
    items = [dict(limit(sim, "stp-b1"), self_trade_prevention="EXPIRE_BOTH"), limit(sim, "stp-b2", 1001)]
    out = await client.place_orders(items)
    assert all(isinstance(o, dict) for o in out)
    assert sim.orders_by_client_id("stp-b1")["selfTradePreventionMode"] == "EXPIRE_BOTH"  # type: ignore[index]
    # none named: the simulator's own default, what an older Binance answer shows
    assert sim.orders_by_client_id("stp-b2")["selfTradePreventionMode"] == "NONE"  # type: ignore[index]
