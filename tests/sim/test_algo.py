"""The Algo service: conditional orders over REST and ws-fapi, their triggers (contract or mark price,
trailing stops) and the ALGO_UPDATE / ORDER_TRADE_UPDATE sequence they produce."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from trading_engine_python.sim import BinanceSimulator

from ._client import Client
from ._wsapi import WsApi
from .conftest import recv_until

DATA = Path(__file__).resolve().parents[1] / "data"


def _sample_algo_updates() -> list[dict[str, Any]]:
    lines = (DATA / "ws" / "algo_update_nautilus_dogeusdt_stop_market_2025.jsonl").read_bytes().splitlines()
    return [orjson.loads(line)["data"] for line in lines if line.strip()]


async def _algo(client: Client, **params: Any) -> Any:
    params.setdefault("algoType", "CONDITIONAL")
    params.setdefault("symbol", "BTCUSDT")
    return await client.signed("POST", "/fapi/v1/algoOrder", **params)


def _kinds(sim: BinanceSimulator, start: int = 0) -> list[tuple[str, str]]:
    out = []
    for e in sim.events[start:]:
        if e["e"] == "ALGO_UPDATE":
            out.append(("ALGO_UPDATE", e["o"]["X"]))
        elif e["e"] == "ORDER_TRADE_UPDATE":
            out.append(("ORDER_TRADE_UPDATE", e["o"]["x"]))
        else:
            out.append((e["e"], ""))
    return out


@pytest.mark.parametrize(
    "otype", ["STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]
)
async def test_order_endpoint_refuses_conditional_types(client: Client, otype: str) -> None:
    r = await client.order(symbol="BTCUSDT", side="SELL", type=otype, quantity="0.010", stopPrice="60000")
    assert r.status == 400 and r.json["code"] == -4120


async def test_stop_market_triggers_then_order_then_finished(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await _algo(
        client, side="SELL", type="STOP_MARKET", quantity="0.010", triggerPrice="64900", clientAlgoId="sl1"
    )
    assert r.status == 200, r
    body = r.json
    assert (
        body["algoStatus"] == "NEW" and body["orderType"] == "STOP_MARKET" and body["clientAlgoId"] == "sl1"
    )
    assert body["triggerPrice"] == "64900.00" and body["actualOrderId"] == ""
    assert _kinds(sim) == [("ALGO_UPDATE", "NEW")]
    sim.set_price("BTCUSDT", "64950")  # above the trigger: nothing
    assert len(sim.events) == 1
    sim.set_price("BTCUSDT", "64900")
    assert _kinds(sim, 1) == [
        ("ALGO_UPDATE", "TRIGGERING"),
        ("ALGO_UPDATE", "TRIGGERED"),
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("TRADE_LITE", ""),
        ("ACCOUNT_UPDATE", ""),
        ("ORDER_TRADE_UPDATE", "TRADE"),
        ("ALGO_UPDATE", "FINISHED"),
    ]
    triggered = sim.events[2]["o"]
    new = sim.events[3]["o"]
    finished = sim.events[-1]["o"]
    assert triggered["ai"] == str(new["i"]) and triggered["act"] == "MARKET"
    assert (new["c"], new["o"], new["ot"], new["sp"]) == ("sl1", "MARKET", "STOP_MARKET", "64900")
    assert finished["aq"] == "0.01" and finished["ap"] != "0"
    assert sim.position("BTCUSDT") == Decimal("-0.010")
    q = await client.signed("GET", "/fapi/v1/algoOrder", symbol="BTCUSDT", algoId=body["algoId"])
    assert q.json["algoStatus"] == "FINISHED" and q.json["actualOrderId"] == str(new["i"])
    assert q.json["triggerTime"] > 0
    o = await client.signed("GET", "/fapi/v1/order", symbol="BTCUSDT", orderId=new["i"])
    assert o.json["origType"] == "STOP_MARKET" and o.json["stopPrice"] == "64900.00"


async def test_algo_update_shape_matches_the_sample(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    await _algo(client, side="BUY", type="STOP_MARKET", quantity="0.010", triggerPrice="65100")
    sim.set_price("BTCUSDT", "65100")
    ours = {e["o"]["X"]: e for e in sim.events if e["e"] == "ALGO_UPDATE"}
    for sample in _sample_algo_updates()[:3]:
        mine = ours[sample["o"]["X"]]
        assert set(mine) == set(sample)
        assert set(mine["o"]) == set(sample["o"]), sample["o"]["X"]
        for key, value in sample["o"].items():
            assert type(mine["o"][key]) is type(value), key


async def test_would_immediately_trigger(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await _algo(client, side="SELL", type="STOP_MARKET", quantity="0.010", triggerPrice="65100")
    assert r.json == {"code": -2021, "msg": "Order would immediately trigger."}
    r = await _algo(client, side="BUY", type="TAKE_PROFIT_MARKET", quantity="0.010", triggerPrice="65100")
    assert r.json["code"] == -2021
    assert sim.algo_orders() == [] and sim.events == []


async def test_mark_price_working_type(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    mark = await _algo(
        client,
        side="SELL",
        type="STOP_MARKET",
        quantity="0.010",
        triggerPrice="64500",
        workingType="MARK_PRICE",
        clientAlgoId="mk",
    )
    contract = await _algo(
        client, side="SELL", type="STOP_MARKET", quantity="0.010", triggerPrice="64500", clientAlgoId="ct"
    )
    assert mark.status == 200 and contract.status == 200
    sim.set_mark_price("BTCUSDT", "64400")  # only the mark moves
    statuses = {a["clientAlgoId"]: a["algoStatus"] for a in sim.algo_orders()}
    assert statuses == {"mk": "FINISHED", "ct": "NEW"}
    assert sim.price("BTCUSDT") == 64400 and sim.bid_ask("BTCUSDT")[1] > 65000


async def test_take_profit_limit_rests_and_finishes_on_fill(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await _algo(
        client,
        side="BUY",
        type="TAKE_PROFIT",
        quantity="0.010",
        price="64700",
        triggerPrice="64800",
        clientAlgoId="tp1",
    )
    assert r.status == 200 and r.json["price"] == "64700.00", r
    sim.set_price("BTCUSDT", "64800")  # triggers; the LIMIT 64700 rests
    assert _kinds(sim, 1) == [
        ("ALGO_UPDATE", "TRIGGERING"),
        ("ALGO_UPDATE", "TRIGGERED"),
        ("ORDER_TRADE_UPDATE", "NEW"),
    ]
    child = sim.orders_by_client_id("tp1")
    assert child is not None and child["type"] == "LIMIT" and child["origType"] == "TAKE_PROFIT"
    sim.set_price("BTCUSDT", "64690")
    assert _kinds(sim)[-1] == ("ALGO_UPDATE", "FINISHED")
    assert sim.orders_by_client_id("tp1")["status"] == "FILLED"  # type: ignore[index]


async def test_trailing_stop_with_activation(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await _algo(
        client,
        side="SELL",
        type="TRAILING_STOP_MARKET",
        quantity="0.010",
        activatePrice="65500",
        callbackRate="1",
        clientAlgoId="tr1",
    )
    assert r.status == 200 and r.json["activatePrice"] == "65500.00" and r.json["callbackRate"] == "1", r
    sim.set_price("BTCUSDT", "64000")  # not activated: a fall does nothing
    assert sim.algo_orders()[0]["algoStatus"] == "NEW"
    sim.set_price("BTCUSDT", "65500")  # activated, trails 1 % below the high
    sim.set_price("BTCUSDT", "66000")
    assert sim.algo_orders()[0]["triggerPrice"] == "65340.00"
    sim.set_price("BTCUSDT", "65400")  # still above 65340
    assert sim.algo_orders()[0]["algoStatus"] == "NEW"
    sim.set_price("BTCUSDT", "65340")
    assert sim.algo_orders()[0]["algoStatus"] == "FINISHED"
    assert sim.events_of("tr1")[0]["ot"] == "TRAILING_STOP_MARKET"


async def test_trailing_stop_buy_without_activation(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await _algo(client, side="BUY", type="TRAILING_STOP_MARKET", quantity="0.010", callbackRate="0.5")
    assert r.status == 200, r
    sim.set_price("BTCUSDT", "64000")  # new low: stop = 64000 * 1.005
    assert sim.algo_orders()[0]["triggerPrice"] == "64320.00"
    sim.set_price("BTCUSDT", "64300")
    assert sim.algo_orders()[0]["algoStatus"] == "NEW"
    sim.set_price("BTCUSDT", "64330")
    assert sim.algo_orders()[0]["algoStatus"] == "FINISHED"
    r = await _algo(client, side="BUY", type="TRAILING_STOP_MARKET", quantity="0.010", callbackRate="12")
    assert r.json["code"] == -1102


async def test_cancel_query_open_and_cancel_all(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    ids = []
    for i in range(3):
        r = await _algo(
            client,
            side="SELL",
            type="STOP_MARKET",
            quantity="0.010",
            triggerPrice=str(64000 - i),
            clientAlgoId=f"c{i}",
        )
        ids.append(r.json["algoId"])
    r = await client.signed("DELETE", "/fapi/v1/algoOrder", symbol="BTCUSDT", algoId=ids[0])
    assert r.json == {"algoId": ids[0], "clientAlgoId": "c0", "code": "200", "msg": "success"}
    assert _kinds(sim)[-1] == ("ALGO_UPDATE", "CANCELED")
    r = await client.signed("DELETE", "/fapi/v1/algoOrder", symbol="BTCUSDT", clientAlgoId="c0")
    assert r.json["code"] == -2011
    r = await client.signed("GET", "/fapi/v1/algoOrder", symbol="BTCUSDT", clientAlgoId="c0")
    assert r.json["algoStatus"] == "CANCELED"
    r = await client.signed("GET", "/fapi/v1/openAlgoOrders", symbol="BTCUSDT")
    assert [a["clientAlgoId"] for a in r.json] == ["c1", "c2"]
    r = await client.signed("DELETE", "/fapi/v1/algoOpenOrders", symbol="BTCUSDT")
    assert r.json == {"code": 200, "msg": "The operation of cancel all open order is done."}
    assert (await client.signed("GET", "/fapi/v1/openAlgoOrders")).json == []
    r = await client.signed("GET", "/fapi/v1/algoOrder", symbol="BTCUSDT", algoId=12345)
    assert r.json["code"] == -2013


async def test_max_open_algo_orders(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    for i in range(10):
        r = await _algo(
            client, side="SELL", type="STOP_MARKET", quantity="0.010", triggerPrice=str(60000 + i)
        )
        assert r.status == 200
    r = await _algo(client, side="SELL", type="STOP_MARKET", quantity="0.010", triggerPrice="60100")
    assert r.json["code"] == -4045


async def test_close_position_stop(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    await client.market("BUY", "0.020")
    assert sim.position("BTCUSDT") == Decimal("0.020")
    r = await _algo(client, side="SELL", type="STOP_MARKET", closePosition="true", triggerPrice="64000")
    assert r.status == 200 and r.json["closePosition"] is True, r
    sim.set_price("BTCUSDT", "63990")
    assert sim.position("BTCUSDT") == 0
    assert _kinds(sim)[-1] == ("ALGO_UPDATE", "FINISHED")


async def test_rejected_on_trigger(client: Client, sim: BinanceSimulator) -> None:
    sim.set_price("BTCUSDT", "65000")
    r = await _algo(
        client, side="SELL", type="STOP_MARKET", quantity="0.010", triggerPrice="64000", reduceOnly="true"
    )
    assert r.status == 200  # no position check until it triggers
    sim.set_price("BTCUSDT", "63990")
    last = sim.events[-1]
    assert last["e"] == "ALGO_UPDATE" and last["o"]["X"] == "REJECTED" and last["o"]["rm"]


async def test_ws_fapi_algo_place_cancel_and_user_stream(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    sim.set_price("BTCUSDT", "65000")
    key = await client.listen_key()
    async with (
        WsApi.connect(session, sim) as api,
        session.ws_connect(f"{sim.ws_url}/private/ws/{key}") as user,
    ):
        r = await api.signed(
            "algoOrder.place",
            algoType="CONDITIONAL",
            symbol="BTCUSDT",
            side="SELL",
            type="STOP_MARKET",
            quantity="0.010",
            triggerPrice="64000",
            clientAlgoId="w1",
        )
        assert r["status"] == 200 and r["result"]["algoStatus"] == "NEW", r
        assert {x["rateLimitType"] for x in r["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}
        frames = await recv_until(user, lambda e: e.get("e") == "ALGO_UPDATE")
        assert frames[-1]["o"]["caid"] == "w1" and frames[-1]["o"]["X"] == "NEW"
        r = await api.signed("algoOrder.cancel", symbol="BTCUSDT", clientAlgoId="w1")
        assert r["result"]["code"] == "200", r
        frames = await recv_until(user, lambda e: e.get("e") == "ALGO_UPDATE")
        assert frames[-1]["o"]["X"] == "CANCELED"
        r = await api.signed("algoOrder.cancel", symbol="BTCUSDT", clientAlgoId="w1")
        assert r["error"]["code"] == -2011
