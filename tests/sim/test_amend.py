"""Amend in place (PUT /fapi/v1/order and ws-fapi order.modify) as Binance's "Modify Order" page describes
it: same ids, requeued, x=AMENDMENT with the new p/q; cancels when qty <= executed or a GTX would cross;
-5027 when nothing changes; -5026 past the per-order amend cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from trading_engine_python.sim import BinanceSimulator

from ._client import Client
from ._wsapi import WsApi


class Amender:
    """One way of sending a modify: REST PUT or ws-fapi order.modify. ``amend`` returns (ok, body)."""

    def __init__(self, client: Client, ws: WsApi | None) -> None:
        self.client = client
        self.ws = ws

    async def amend(
        self, order_id: int, side: str, quantity: str, price: str, **extra: Any
    ) -> tuple[bool, Any]:
        params: dict[str, Any] = {
            "symbol": "BTCUSDT",
            "orderId": order_id,
            "side": side,
            "quantity": quantity,
            "price": price,
            **extra,
        }
        if self.ws is None:
            r = await self.client.signed("PUT", "/fapi/v1/order", **params)
            return r.status == 200, r.json
        resp = await self.ws.signed("order.modify", **params)
        return resp["status"] == 200, resp.get("result", resp.get("error"))


@pytest.fixture(params=["rest", "ws-fapi"])
async def amender(
    request: pytest.FixtureRequest, client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> AsyncIterator[Amender]:
    if request.param == "rest":
        yield Amender(client, None)
        return
    async with WsApi.connect(session, sim) as ws:
        yield Amender(client, ws)


async def _rest_buy(
    client: Client, sim: BinanceSimulator, cid: str, price: str = "64000", **extra: Any
) -> int:
    sim.set_price("BTCUSDT", "65000")
    r = await client.limit("BUY", "0.010", price, newClientOrderId=cid, **extra)
    assert r.status == 200, r
    return int(r.json["orderId"])


async def test_price_only_keeps_ids_and_reports_amendment(
    amender: Amender, client: Client, sim: BinanceSimulator
) -> None:
    oid = await _rest_buy(client, sim, "am1")
    ok, body = await amender.amend(oid, "BUY", "0.010", "64100")
    assert ok, body
    assert body["orderId"] == oid and body["clientOrderId"] == "am1"
    assert body["status"] == "NEW" and body["price"] == "64100.00" and body["origQty"] == "0.010"
    ev = sim.events_of("am1")[-1]
    assert (ev["x"], ev["X"], ev["p"], ev["q"], ev["i"]) == ("AMENDMENT", "NEW", "64100", "0.010", oid)
    assert sim.order_by_id(oid)["price"] == "64100.00"  # type: ignore[index]


async def test_qty_only_and_both(amender: Amender, client: Client, sim: BinanceSimulator) -> None:
    oid = await _rest_buy(client, sim, "am2")
    ok, body = await amender.amend(oid, "BUY", "0.020", "64000")
    assert ok and body["origQty"] == "0.020" and body["price"] == "64000.00", body
    assert sim.events_of("am2")[-1]["q"] == "0.020"
    ok, body = await amender.amend(oid, "BUY", "0.005", "63900")
    assert ok and body["origQty"] == "0.005" and body["price"] == "63900.00", body
    ev = sim.events_of("am2")[-1]
    assert (ev["x"], ev["q"], ev["p"]) == ("AMENDMENT", "0.005", "63900")
    assert [e["x"] for e in sim.events_of("am2")] == ["NEW", "AMENDMENT", "AMENDMENT"]


async def test_amend_loses_time_priority(amender: Amender, client: Client, sim: BinanceSimulator) -> None:
    first = await _rest_buy(client, sim, "prio1")
    await _rest_buy(client, sim, "prio2")
    ok, body = await amender.amend(first, "BUY", "0.011", "64000")
    assert ok, body
    sim.set_price("BTCUSDT", "63990")  # both now cross; the requeued one is matched second
    fills = [e["o"]["c"] for e in sim.events if e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["x"] == "TRADE"]
    assert fills == ["prio2", "prio1"]


async def test_partially_filled_amend_then_qty_at_executed_cancels(
    amender: Amender, client: Client, sim: BinanceSimulator
) -> None:
    oid = await _rest_buy(client, sim, "am3")
    sim.max_fill_qty = Decimal("0.004")
    sim.set_price("BTCUSDT", "63990")  # one maker trade of 0.004
    sim.set_price("BTCUSDT", "65000")
    assert sim.order_by_id(oid)["status"] == "PARTIALLY_FILLED"  # type: ignore[index]
    ok, body = await amender.amend(oid, "BUY", "0.020", "64000")
    assert ok and body["status"] == "PARTIALLY_FILLED" and body["executedQty"] == "0.004", body
    ev = sim.events_of("am3")[-1]
    assert (ev["x"], ev["X"], ev["q"], ev["z"]) == ("AMENDMENT", "PARTIALLY_FILLED", "0.020", "0.004")
    ok, body = await amender.amend(oid, "BUY", "0.004", "64000")
    assert ok and body["status"] == "CANCELED" and body["executedQty"] == "0.004", body
    ev = sim.events_of("am3")[-1]
    assert (ev["x"], ev["X"], ev["z"]) == ("CANCELED", "CANCELED", "0.004")


async def test_gtx_amend_that_would_cross_cancels(
    amender: Amender, client: Client, sim: BinanceSimulator
) -> None:
    oid = await _rest_buy(client, sim, "am4", tif="GTX")
    ok, body = await amender.amend(oid, "BUY", "0.010", "65100")
    assert ok and body["status"] == "CANCELED", body
    assert [e["x"] for e in sim.events_of("am4")] == ["NEW", "CANCELED"]
    assert not sim.open_orders()


async def test_crossing_amend_of_gtc_trades(amender: Amender, client: Client, sim: BinanceSimulator) -> None:
    oid = await _rest_buy(client, sim, "am5")
    ok, body = await amender.amend(oid, "BUY", "0.010", "65100")
    assert ok and body["status"] == "FILLED", body
    assert [e["x"] for e in sim.events_of("am5")] == ["NEW", "AMENDMENT", "TRADE"]


async def test_nothing_to_modify_5027(amender: Amender, client: Client, sim: BinanceSimulator) -> None:
    oid = await _rest_buy(client, sim, "am6")
    ok, body = await amender.amend(oid, "BUY", "0.010", "64000")
    assert not ok and body == {"code": -5027, "msg": "No need to modify the order."}
    assert [e["x"] for e in sim.events_of("am6")] == ["NEW"]


async def test_amend_cap_5026(amender: Amender, client: Client, sim: BinanceSimulator) -> None:
    sim.max_amends = 2
    oid = await _rest_buy(client, sim, "am7")
    for price in ("64001", "64002"):
        ok, body = await amender.amend(oid, "BUY", "0.010", price)
        assert ok, body
    ok, body = await amender.amend(oid, "BUY", "0.010", "64003")
    assert not ok and body["code"] == -5026, body
    assert sim.order_by_id(oid)["price"] == "64002.00"  # type: ignore[index]
    r = await client.signed("GET", "/fapi/v1/orderAmendment", symbol="BTCUSDT", orderId=oid)
    assert r.status == 200, r
    assert [a["amendment"]["count"] for a in r.json] == [2, 1]  # newest first
    assert r.json[0]["amendment"]["price"] == {"before": "64001.00", "after": "64002.00"}


async def test_filter_failure_leaves_order(amender: Amender, client: Client, sim: BinanceSimulator) -> None:
    oid = await _rest_buy(client, sim, "am8")
    ok, body = await amender.amend(oid, "BUY", "0.010", "64000.05")  # off tick
    assert not ok and body["code"] == -4014, body
    ok, body = await amender.amend(oid, "BUY", "0.010", "")
    assert not ok and body["code"] == -1102, body
    assert sim.order_by_id(oid)["status"] == "NEW" and [e["x"] for e in sim.events_of("am8")] == ["NEW"]  # type: ignore[index]


async def test_unknown_and_closed_orders(amender: Amender, client: Client, sim: BinanceSimulator) -> None:
    ok, body = await amender.amend(8389765739703625000, "BUY", "0.010", "64000")
    assert not ok and body["code"] == -2013, body
    oid = await _rest_buy(client, sim, "am9")
    await client.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", orderId=oid)
    ok, body = await amender.amend(oid, "BUY", "0.020", "64000")
    assert not ok and body["code"] == -2011, body


async def test_amend_sets_stp_none(amender: Amender, client: Client, sim: BinanceSimulator) -> None:
    oid = await _rest_buy(client, sim, "am10", selfTradePreventionMode="EXPIRE_MAKER")
    ok, body = await amender.amend(oid, "BUY", "0.010", "64010")
    assert ok and body["selfTradePreventionMode"] == "NONE", body
