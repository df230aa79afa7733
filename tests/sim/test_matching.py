"""Matching: resting, maker/taker fills, partial fills, market splits/expiry, TIFs, reduce-only, modify."""

from __future__ import annotations

from decimal import Decimal

import pytest

from trading_engine_python.sim import BinanceSimulator

from ._client import Client


def otu(sim: BinanceSimulator, cid: str) -> list[tuple[str, str, str, str]]:
    """(x, X, l, z) of every ORDER_TRADE_UPDATE of one order."""
    return [(o["x"], o["X"], o["l"], o["z"]) for o in sim.events_of(cid)]


def types_of(sim: BinanceSimulator) -> list[str]:
    return [e["e"] for e in sim.events]


async def test_limit_rests_then_fills_as_maker(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await client.limit("BUY", "0.010", "64000", newClientOrderId="rest1")
    assert r.json["status"] == "NEW"
    assert otu(sim, "rest1") == [("NEW", "NEW", "0", "0")]
    sim.set_price("BTCUSDT", "64000.1")  # ask 64000.2 > limit: still resting
    assert sim.orders_by_client_id("rest1")["status"] == "NEW"  # type: ignore[index]
    sim.set_price("BTCUSDT", "63999.9")  # ask 64000.0 <= limit: fills at the limit
    assert otu(sim, "rest1")[-1] == ("TRADE", "FILLED", "0.010", "0.010")
    last = sim.events_of("rest1")[-1]
    assert last["m"] is True and last["L"] == "64000" and last["ap"] == "64000.00000"
    assert last["n"] == "0.12800000"  # maker 0.02 % of 640
    # ACCOUNT_UPDATE before the trade update, TRADE_LITE first
    assert types_of(sim)[-3:] == ["TRADE_LITE", "ACCOUNT_UPDATE", "ORDER_TRADE_UPDATE"]
    assert sim.position("BTCUSDT") == Decimal("0.010")
    got = await client.signed("GET", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="rest1")
    assert got.json["status"] == "FILLED" and got.json["executedQty"] == "0.010"
    assert got.json["cumQuote"] == "640.00000" and got.json["avgPrice"] == "64000.00000"


async def test_crossing_limit_fills_as_taker_at_touch(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await client.limit("BUY", "0.010", "65500", newClientOrderId="take1", newOrderRespType="RESULT")
    assert r.json["status"] == "FILLED" and r.json["avgPrice"] == "65000.10000"
    ev = sim.events_of("take1")
    assert [e["x"] for e in ev] == ["NEW", "TRADE"] and ev[1]["m"] is False and ev[1]["L"] == "65000.1"


async def test_partial_fills_with_max_fill_qty(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    sim.max_fill_qty = Decimal("0.004")
    await client.limit("SELL", "0.010", "65100", newClientOrderId="part1")
    sim.set_price("BTCUSDT", "65100")  # bid 65099.9 < 65100: nothing
    assert len(otu(sim, "part1")) == 1
    sim.set_price("BTCUSDT", "65100.1")  # bid 65100.0: one maker trade of 0.004 per move
    assert otu(sim, "part1")[-1] == ("TRADE", "PARTIALLY_FILLED", "0.004", "0.004")
    got = await client.signed("GET", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="part1")
    assert got.json["status"] == "PARTIALLY_FILLED" and got.json["executedQty"] == "0.004"
    open_ = await client.signed("GET", "/fapi/v1/openOrders", symbol="BTCUSDT")
    assert [o["clientOrderId"] for o in open_.json] == ["part1"]
    sim.step()  # a step that may not cross still keeps it consistent; force the rest with set_price
    sim.set_price("BTCUSDT", "65200")
    sim.set_price("BTCUSDT", "65200.1")
    rows = otu(sim, "part1")
    assert rows[-1][1] == "FILLED" and rows[-1][3] == "0.010"
    assert [r[2] for r in rows if r[0] == "TRADE"][-1] == "0.002"


async def test_cancel_partially_filled_keeps_z(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    sim.max_fill_qty = "0.003"
    await client.limit("BUY", "0.010", "64900", newClientOrderId="pc1")
    sim.set_price("BTCUSDT", "64899")
    r = await client.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="pc1")
    assert r.json["status"] == "CANCELED" and r.json["executedQty"] == "0.003"
    assert otu(sim, "pc1")[-1] == ("CANCELED", "CANCELED", "0", "0.003")
    again = await client.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="pc1")
    assert again.json == {"code": -2011, "msg": "Unknown order sent."}


async def test_market_split_into_trades(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    sim.max_fill_qty = Decimal("0.004")
    r = await client.market("BUY", "0.010", newClientOrderId="mkt1", newOrderRespType="RESULT")
    assert r.json["status"] == "FILLED" and r.json["executedQty"] == "0.010"
    rows = otu(sim, "mkt1")
    assert rows == [
        ("NEW", "NEW", "0", "0"),
        ("TRADE", "PARTIALLY_FILLED", "0.004", "0.004"),
        ("TRADE", "PARTIALLY_FILLED", "0.004", "0.008"),
        ("TRADE", "FILLED", "0.002", "0.010"),
    ]
    prices = [o["L"] for o in sim.events_of("mkt1") if o["x"] == "TRADE"]
    assert prices == ["65000.1", "65000.2", "65000.3"]  # one tick worse per trade
    assert len({o["T"] for o in sim.events_of("mkt1")}) == 1  # same transaction time


async def test_market_ack_is_new(client: Client, sim: BinanceSimulator) -> None:
    r = await client.market("BUY", "0.010", newClientOrderId="ack1")
    assert r.json["status"] == "NEW" and r.json["executedQty"] == "0.000"
    assert sim.orders_by_client_id("ack1")["status"] == "FILLED"  # type: ignore[index]


async def test_market_remainder_expires_er9(client: Client, sim: BinanceSimulator) -> None:
    sim.taker_liquidity = Decimal("0.006")
    r = await client.market("SELL", "0.010", newClientOrderId="mexp", newOrderRespType="RESULT")
    assert r.json["status"] == "EXPIRED" and r.json["executedQty"] == "0.006"
    last = sim.events_of("mexp")[-1]
    assert (last["x"], last["X"], last["er"], last["z"]) == ("EXPIRED", "EXPIRED", "9", "0.006")


async def test_ioc_and_fok(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await client.limit(
        "BUY", "0.010", "64000", tif="IOC", newClientOrderId="ioc1", newOrderRespType="RESULT"
    )
    assert r.json["status"] == "EXPIRED"
    assert [(o["x"], o["er"]) for o in sim.events_of("ioc1")] == [("NEW", "0"), ("EXPIRED", "2")]
    sim.taker_liquidity = Decimal("0.004")
    r = await client.limit(
        "BUY", "0.010", "65100", tif="IOC", newClientOrderId="ioc2", newOrderRespType="RESULT"
    )
    assert r.json["status"] == "EXPIRED" and r.json["executedQty"] == "0.004"
    n_events = len(sim.events)
    r = await client.limit("BUY", "0.010", "65100", tif="FOK", newClientOrderId="fok1")
    assert r.json["code"] == -5021 and "FOK" in r.json["msg"]
    assert len(sim.events) == n_events and sim.orders_by_client_id("fok1") is None
    sim.taker_liquidity = None
    r = await client.limit(
        "BUY", "0.010", "65100", tif="FOK", newClientOrderId="fok2", newOrderRespType="RESULT"
    )
    assert r.json["status"] == "FILLED"


async def test_gtx_would_take_rejected_without_event(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    n_events = len(sim.events)
    r = await client.limit("BUY", "0.010", "65000.1", tif="GTX", newClientOrderId="gtx1")
    assert r.status == 400 and r.json["code"] == -5022
    assert r.json["msg"].startswith("Due to the order could not be executed as maker")
    assert len(sim.events) == n_events
    q = await client.signed("GET", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="gtx1")
    assert q.json == {"code": -2013, "msg": "Order does not exist."}
    ok = await client.limit("BUY", "0.010", "65000", tif="GTX", newClientOrderId="gtx2")
    assert ok.json["status"] == "NEW" and ok.json["timeInForce"] == "GTX"


async def test_reduce_only(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await client.market("SELL", "0.010", reduceOnly="true")
    assert r.json == {"code": -2022, "msg": "ReduceOnly Order is rejected."}
    await client.market("BUY", "0.005")
    assert sim.position("BTCUSDT") == Decimal("0.005")
    r = await client.market("BUY", "0.005", reduceOnly="true")  # same side as the position
    assert r.json["code"] == -2022
    # larger than the position: capped to it, rest knocked out (er 4)
    r = await client.market(
        "SELL", "0.010", reduceOnly="true", newClientOrderId="ro1", newOrderRespType="RESULT"
    )
    assert r.json["executedQty"] == "0.005" and r.json["reduceOnly"] is True
    assert sim.position("BTCUSDT") == 0
    last = sim.events_of("ro1")[-1]
    assert last["x"] == "EXPIRED" and last["er"] in ("4", "9") and last["R"] is True


async def test_resting_reduce_only_expires_when_flat(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    await client.market("BUY", "0.005")
    await client.limit("SELL", "0.005", "66000", reduceOnly="true", newClientOrderId="ro2")
    await client.market("SELL", "0.005")  # position closed elsewhere
    sim.set_price("BTCUSDT", "66000.1")
    last = sim.events_of("ro2")[-1]
    assert (last["x"], last["er"]) == ("EXPIRED", "4")
    assert sim.position("BTCUSDT") == 0


async def test_position_and_realized_pnl(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    await client.market("BUY", "0.010")  # at 65000.1
    sim.set_price("BTCUSDT", "66000")
    await client.market("SELL", "0.010", newClientOrderId="close1")  # at 65999.9
    trade = next(o for o in sim.events_of("close1") if o["x"] == "TRADE")
    assert Decimal(trade["rp"]) == (Decimal("65999.9") - Decimal("65000.1")) * Decimal("0.010")
    acct = [e for e in sim.events if e["e"] == "ACCOUNT_UPDATE"][-1]
    assert acct["a"]["m"] == "ORDER" and acct["a"]["P"][0]["pa"] == "0"


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"price": "60000.001"}, -1111),  # more decimals than pricePrecision 2
        ({"price": "60000.05"}, -4014),  # within precision but off the 0.10 tick (real BTCUSDT behaviour)
        ({"quantity": "0.0015"}, -1111),
        ({"price": "100"}, -4013),
        ({"quantity": "0.001", "price": "1000"}, -4164),
        ({"price": "99999"}, -4016),
        ({"type": "STOP_MARKET"}, -4120),
        ({"type": "TAKE_PROFIT"}, -4120),
        ({"type": "TRAILING_STOP_MARKET"}, -4120),
        ({"type": "BOGUS"}, -1116),
        ({"timeInForce": "XYZ"}, -1115),
        ({"side": "UP"}, -1117),
        ({"newClientOrderId": "has space"}, -4015),
        ({"newClientOrderId": "x" * 37}, -4015),
        ({"quantity": "2000"}, -4005),
        ({"quantity": "50"}, -2019),
        ({"positionSide": "LONG"}, -4061),
    ],
)
async def test_order_rejections(
    client: Client, sim: BinanceSimulator, overrides: dict[str, str], code: int
) -> None:
    params = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": "60000",
    }
    params.update(overrides)
    n_events = len(sim.events)
    r = await client.order(**params)
    assert r.status == 400 and r.json["code"] == code, r
    assert len(sim.events) == n_events


async def test_sell_percent_price_floor(client: Client) -> None:
    r = await client.limit("SELL", "0.010", "50000")
    assert r.json["code"] == -4024


async def test_duplicate_client_id_among_open_orders(client: Client, sim: BinanceSimulator) -> None:
    a = await client.limit("BUY", "0.010", "60000", newClientOrderId="dup1")
    b = await client.limit("BUY", "0.010", "60001", newClientOrderId="dup1")
    assert b.json["code"] == -4116
    assert sim.orders_by_client_id("dup1")["orderId"] == a.json["orderId"]  # type: ignore[index]
    await client.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="dup1")
    c = await client.limit("BUY", "0.010", "60002", newClientOrderId="dup1")  # reuse after done is allowed
    assert c.json["status"] == "NEW" and c.json["orderId"] != a.json["orderId"]
    q = await client.signed("GET", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="dup1")
    assert q.json["orderId"] == c.json["orderId"]


async def test_client_id_charset_ok(client: Client) -> None:
    r = await client.limit("BUY", "0.010", "60000", newClientOrderId="x-A.b:c/d_e-1")
    assert r.json["clientOrderId"] == "x-A.b:c/d_e-1"
    r = await client.limit("BUY", "0.010", "60000")  # auto-generated
    assert 1 <= len(r.json["clientOrderId"]) <= 36


async def test_query_errors(client: Client) -> None:
    r = await client.signed("GET", "/fapi/v1/order", symbol="BTCUSDT", orderId=123)
    assert r.json == {"code": -2013, "msg": "Order does not exist."}
    r = await client.signed("GET", "/fapi/v1/order", symbol="BTCUSDT")
    assert r.json["code"] == -1102
    r = await client.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", orderId=123)
    assert r.json == {"code": -2011, "msg": "Unknown order sent."}
    placed = await client.limit("BUY", "0.010", "60000")
    r = await client.signed("GET", "/fapi/v1/order", symbol="ETHUSDT", orderId=placed.json["orderId"])
    assert r.json["code"] == -2013  # wrong symbol


async def test_modify(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    placed = await client.limit("BUY", "0.010", "64000", newClientOrderId="mod1")
    oid = placed.json["orderId"]
    r = await client.signed(
        "PUT", "/fapi/v1/order", symbol="BTCUSDT", orderId=oid, side="BUY", quantity="0.010", price="64000"
    )
    assert r.json["code"] == -5027
    r = await client.signed(
        "PUT", "/fapi/v1/order", symbol="BTCUSDT", orderId=oid, side="BUY", quantity="0.020", price="64100"
    )
    assert r.json["status"] == "NEW" and r.json["origQty"] == "0.020"
    assert sim.events_of("mod1")[-1]["x"] == "AMENDMENT" and sim.events_of("mod1")[-1]["p"] == "64100"
    # a modify that crosses trades as taker
    r = await client.signed(
        "PUT", "/fapi/v1/order", symbol="BTCUSDT", orderId=oid, side="BUY", quantity="0.020", price="65100"
    )
    assert r.json["status"] == "FILLED"
    r = await client.signed(
        "PUT", "/fapi/v1/order", symbol="BTCUSDT", orderId=oid, side="BUY", quantity="0.030", price="64000"
    )
    assert r.json["code"] == -2011


async def test_modify_gtx_crossing_cancels(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    placed = await client.limit("BUY", "0.010", "64000", tif="GTX", newClientOrderId="modgtx")
    r = await client.signed(
        "PUT",
        "/fapi/v1/order",
        symbol="BTCUSDT",
        orderId=placed.json["orderId"],
        side="BUY",
        quantity="0.010",
        price="65100",
    )
    assert r.json["status"] == "CANCELED"
    assert sim.events_of("modgtx")[-1]["x"] == "CANCELED"


async def test_cancel_all_and_countdown(client: Client, sim: BinanceSimulator) -> None:
    import asyncio

    for p in ("60000", "60001"):
        await client.limit("BUY", "0.010", p)
    await client.limit("BUY", "0.010", "3000", symbol="ETHUSDT")
    await client.signed("DELETE", "/fapi/v1/allOpenOrders", symbol="BTCUSDT")
    assert [o["symbol"] for o in sim.open_orders()] == ["ETHUSDT"]
    r = await client.signed("POST", "/fapi/v1/countdownCancelAll", symbol="ETHUSDT", countdownTime=50)
    assert r.json == {"symbol": "ETHUSDT", "countdownTime": "50"}
    for _ in range(100):
        if not sim.open_orders():
            break
        await asyncio.sleep(0.02)
    assert sim.open_orders() == []


async def test_seeded_walk_is_reproducible() -> None:
    paths = []
    for _ in range(2):
        s = BinanceSimulator(seed=42, auto_walk=False)
        seq = []
        for _ in range(50):
            s.step()
            seq.append((s.price("BTCUSDT"), s.price("ETHUSDT")))
        paths.append(seq)
    assert paths[0] == paths[1]
    assert len({p[0] for p in paths[0]}) > 5
    other = BinanceSimulator(seed=43, auto_walk=False)
    for _ in range(50):
        other.step()
    assert other.price("BTCUSDT") != paths[0][-1][0] or other.price("ETHUSDT") != paths[0][-1][1]


async def test_auto_walk_fills_resting_order(client: Client, sim: BinanceSimulator) -> None:
    import asyncio

    bid, ask = sim.bid_ask("BTCUSDT")
    await client.limit("BUY", "0.010", str(bid), newClientOrderId="walk1")
    await client.limit("SELL", "0.010", str(ask), newClientOrderId="walk2")
    sim.auto_walk = True
    for _ in range(400):
        if not sim.open_orders():
            break
        await asyncio.sleep(0.02)
    sim.auto_walk = False
    # a random walk around the touch fills at least one of the two at the touch
    filled = [c for c in ("walk1", "walk2") if sim.orders_by_client_id(c)["status"] == "FILLED"]  # type: ignore[index]
    assert filled


async def test_gtd_expires_er6(client: Client, sim: BinanceSimulator) -> None:
    import asyncio
    import time

    gtd = (int(time.time()) + 601) * 1000
    await client.limit("BUY", "0.010", "60000", tif="GTD", goodTillDate=gtd, newClientOrderId="gtd1")
    assert sim.orders_by_client_id("gtd1")["goodTillDate"] == gtd  # type: ignore[index]
    r = await client.limit("BUY", "0.010", "60000", tif="GTD", goodTillDate=int(time.time() * 1000))
    assert r.json["code"] == -4129
    sim.clock_offset_ms = 700_000  # the venue clock passes goodTillDate
    for _ in range(100):
        if sim.orders_by_client_id("gtd1")["status"] == "EXPIRED":  # type: ignore[index]
            break
        await asyncio.sleep(0.02)
    last = sim.events_of("gtd1")[-1]
    assert (last["x"], last["X"], last["er"], last["gtd"]) == ("EXPIRED", "EXPIRED", "6", gtd)


async def test_countdown_zero_disarms(client: Client, sim: BinanceSimulator) -> None:
    import asyncio

    await client.limit("BUY", "0.010", "60000", newClientOrderId="cd1")
    r = await client.signed("POST", "/fapi/v1/countdownCancelAll", symbol="BTCUSDT", countdownTime=100)
    assert r.status == 200
    r = await client.signed("POST", "/fapi/v1/countdownCancelAll", symbol="BTCUSDT", countdownTime=0)
    assert r.json == {"symbol": "BTCUSDT", "countdownTime": "0"}
    await asyncio.sleep(0.3)  # well past the disarmed 100 ms
    assert sim.orders_by_client_id("cd1")["status"] == "NEW"  # type: ignore[index]
