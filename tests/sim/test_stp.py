"""Self-trade prevention between orders of the simulated account: the taker's selfTradePreventionMode
decides; expired orders end as X EXPIRED_IN_MATCH with er "1" ("3" for an IOC taker or IOC remainder)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading_engine_python.sim import BinanceSimulator

from ._client import Client


async def _maker(client: Client, sim: BinanceSimulator) -> None:
    """An own SELL resting at 65000.0, one tick better than the synthetic ask (65000.1)."""
    sim.set_price("BTCUSDT", "65000")
    r = await client.limit("SELL", "0.010", "65000", newClientOrderId="mk")
    assert r.status == 200 and sim.orders_by_client_id("mk")["status"] == "NEW", r  # type: ignore[index]


def _last(sim: BinanceSimulator, cid: str) -> tuple[str, str, str]:
    o = sim.events_of(cid)[-1]
    return o["x"], o["X"], o["er"]


async def test_expire_taker(client: Client, sim: BinanceSimulator) -> None:
    await _maker(client, sim)
    r = await client.limit(
        "BUY",
        "0.010",
        "65000",
        newClientOrderId="tk",
        selfTradePreventionMode="EXPIRE_TAKER",
        newOrderRespType="RESULT",
    )
    assert r.status == 200 and r.json["status"] == "EXPIRED_IN_MATCH", r
    assert [e["X"] for e in sim.events_of("tk")] == ["NEW", "EXPIRED_IN_MATCH"]
    assert _last(sim, "tk") == ("EXPIRED", "EXPIRED_IN_MATCH", "1")
    assert sim.orders_by_client_id("mk")["status"] == "NEW"  # type: ignore[index]
    assert sim.position("BTCUSDT") == 0


async def test_expire_maker_then_rest_or_take(client: Client, sim: BinanceSimulator) -> None:
    await _maker(client, sim)
    r = await client.limit(
        "BUY", "0.010", "65000", newClientOrderId="tk", selfTradePreventionMode="EXPIRE_MAKER"
    )
    assert r.status == 200
    assert _last(sim, "mk") == ("EXPIRED", "EXPIRED_IN_MATCH", "1")
    assert sim.orders_by_client_id("tk")["status"] == "NEW"  # type: ignore[index]  # ask 65000.1 is beyond it
    r = await client.limit("SELL", "0.010", "65000.1", newClientOrderId="mk2")
    r = await client.limit(
        "BUY",
        "0.010",
        "65000.1",
        newClientOrderId="tk2",
        selfTradePreventionMode="EXPIRE_MAKER",
        newOrderRespType="RESULT",
    )
    # the own SELL at 65000.1 is met first (same price as the touch, by time), expired, then the book fills
    assert _last(sim, "mk2")[1] == "EXPIRED_IN_MATCH"
    assert r.json["status"] == "FILLED" and sim.position("BTCUSDT") == Decimal("0.010"), r


async def test_expire_both(client: Client, sim: BinanceSimulator) -> None:
    await _maker(client, sim)
    await client.limit("BUY", "0.010", "65000", newClientOrderId="tk", selfTradePreventionMode="EXPIRE_BOTH")
    assert _last(sim, "mk") == ("EXPIRED", "EXPIRED_IN_MATCH", "1")
    assert _last(sim, "tk") == ("EXPIRED", "EXPIRED_IN_MATCH", "1")
    assert sim.open_orders() == []


async def test_none_self_trades(client: Client, sim: BinanceSimulator) -> None:
    await _maker(client, sim)
    r = await client.limit(
        "BUY",
        "0.010",
        "65000",
        newClientOrderId="tk",
        selfTradePreventionMode="NONE",
        newOrderRespType="RESULT",
    )
    assert r.json["status"] == "FILLED" and r.json["avgPrice"] == "65000.00000", r
    assert sim.orders_by_client_id("mk")["status"] == "FILLED"  # type: ignore[index]
    assert sim.events_of("mk")[-1]["m"] is True and sim.events_of("tk")[-1]["m"] is False
    assert sim.position("BTCUSDT") == 0


@pytest.mark.parametrize(
    ("mode", "taker_x"), [("EXPIRE_TAKER", "EXPIRED_IN_MATCH"), ("EXPIRE_MAKER", "EXPIRED")]
)
async def test_ioc_taker_er_3(client: Client, sim: BinanceSimulator, mode: str, taker_x: str) -> None:
    await _maker(client, sim)
    await client.limit(
        "BUY", "0.010", "65000", tif="IOC", newClientOrderId="tk", selfTradePreventionMode=mode
    )
    assert _last(sim, "tk") == ("EXPIRED", taker_x, "3")


async def test_market_taker_meets_own_order_first(client: Client, sim: BinanceSimulator) -> None:
    await _maker(client, sim)
    r = await client.market(
        "BUY",
        "0.010",
        newClientOrderId="mt",
        selfTradePreventionMode="EXPIRE_MAKER",
        newOrderRespType="RESULT",
    )
    assert r.json["status"] == "FILLED" and r.json["avgPrice"] == "65000.10000", r
    assert _last(sim, "mk")[1] == "EXPIRED_IN_MATCH"


async def test_post_only_against_own_order_is_rejected(client: Client, sim: BinanceSimulator) -> None:
    await _maker(client, sim)
    r = await client.limit("BUY", "0.010", "65000", tif="GTX", newClientOrderId="px")
    assert r.json["code"] == -5022 and sim.orders_by_client_id("px") is None


async def test_amend_into_own_order(client: Client, sim: BinanceSimulator) -> None:
    await _maker(client, sim)
    r = await client.limit(
        "BUY", "0.010", "64000", newClientOrderId="am", selfTradePreventionMode="EXPIRE_TAKER"
    )
    r = await client.signed(
        "PUT",
        "/fapi/v1/order",
        symbol="BTCUSDT",
        origClientOrderId="am",
        side="BUY",
        quantity="0.010",
        price="65000",
    )
    # an amend resets the mode to NONE (Binance page "Modify Order"), so the two orders trade
    assert r.json["status"] == "FILLED", r
    assert sim.orders_by_client_id("mk")["status"] == "FILLED"  # type: ignore[index]
