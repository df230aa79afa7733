"""Rate-limit headers and enforcement (-1003 weight, -1015 order count)."""

from __future__ import annotations

from trading_engine_python.sim import BinanceSimulator

from ._client import Client


async def test_weight_and_order_count_headers(client: Client) -> None:
    r = await client.public("/fapi/v1/time")
    w1 = int(r.headers["X-MBX-USED-WEIGHT-1M"])
    assert "X-MBX-ORDER-COUNT-10S" not in r.headers
    r = await client.public("/fapi/v1/time")
    assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) == w1 + 1 or int(r.headers["X-MBX-USED-WEIGHT-1M"]) == 1
    r = await client.limit("BUY", "0.010", "60000")
    c10 = int(r.headers["X-MBX-ORDER-COUNT-10S"])
    c1m = int(r.headers["X-MBX-ORDER-COUNT-1M"])
    assert c10 >= 1 and c1m >= 1
    r = await client.limit("BUY", "0.010", "60000")
    assert int(r.headers["X-MBX-ORDER-COUNT-1M"]) in (c1m + 1, 1)


async def test_open_orders_without_symbol_weighs_40(client: Client) -> None:
    a = await client.signed("GET", "/fapi/v1/openOrders", symbol="BTCUSDT")
    b = await client.signed("GET", "/fapi/v1/openOrders")
    wa, wb = int(a.headers["X-MBX-USED-WEIGHT-1M"]), int(b.headers["X-MBX-USED-WEIGHT-1M"])
    assert wb - wa == 40 or wb == 40  # (or the minute rolled over in between)


async def test_weight_limit_429(client: Client, sim: BinanceSimulator) -> None:
    sim.limits["weight_1m"] = 5
    statuses = []
    for _ in range(8):
        r = await client.public("/fapi/v1/ping")
        statuses.append(r.status)
        if r.status == 429:
            assert r.json["code"] == -1003 and "request weight per minute is 5" in r.json["msg"]
            assert int(r.headers["Retry-After"]) >= 1
    assert 429 in statuses


async def test_order_count_limit_429(client: Client, sim: BinanceSimulator) -> None:
    sim.limits["orders_10s"] = 3
    codes = []
    for i in range(6):
        r = await client.limit("BUY", "0.010", str(60000 + i))
        codes.append(r.json.get("code") if r.status != 200 else 200)
        if r.status == 429:
            assert r.json["code"] == -1015 and "TEN_SECONDS" in r.json["msg"]
    assert -1015 in codes
    assert len(sim.open_orders()) == codes.count(200)


async def test_ignoring_429s_earns_418_ban(client: Client, sim: BinanceSimulator) -> None:
    sim.limits["weight_1m"] = 1
    sim.limits["ban_after_429s"] = 3
    sim.ban_seconds = 30
    statuses = [(await client.public("/fapi/v1/ping")).status for _ in range(8)]
    assert statuses[0] == 200 and 429 in statuses and statuses[-1] == 418
    r = await client.public("/fapi/v1/time")
    assert r.status == 418 and r.json["code"] == -1003 and "banned until" in r.json["msg"]
    assert 1 <= int(r.headers["Retry-After"]) <= 30
