"""Each fault switch: latency, lost reply, 5xx (processed or not), 429/418, user-stream event faults."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from trading_engine_python.sim import BinanceSimulator

from ._client import Client, raw_http, signed_query
from .conftest import no_frame, recv_json


async def test_latency(client: Client, sim: BinanceSimulator) -> None:
    sim.faults.latency = 0.3
    with pytest.raises(asyncio.TimeoutError):
        await asyncio.wait_for(client.limit("BUY", "0.010", "60000", newClientOrderId="lat1"), 0.1)
    # processed before the (late) reply: an unknown-outcome timeout the client must reconcile
    assert sim.orders_by_client_id("lat1") is not None


async def test_lose_reply_processes_then_disconnects(client: Client, sim: BinanceSimulator) -> None:
    sim.faults.lose_reply(path="/fapi/v1/order", method="POST", count=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client.limit("BUY", "0.010", "60000", newClientOrderId="lost1")
    assert sim.orders_by_client_id("lost1")["status"] == "NEW"  # type: ignore[index]
    ok = await client.limit("BUY", "0.010", "60000", newClientOrderId="lost2")  # disarmed after one use
    assert ok.status == 200


async def test_lose_reply_on_cancel(client: Client, sim: BinanceSimulator) -> None:
    await client.limit("BUY", "0.010", "60000", newClientOrderId="lostc")
    sim.faults.lose_reply(path="/fapi/v1/order", method="DELETE")
    # raw socket: aiohttp's client would silently retry the idempotent DELETE after the disconnect
    q = signed_query(symbol="BTCUSDT", origClientOrderId="lostc")
    data = await raw_http(sim.host, sim.port, "DELETE", "/fapi/v1/order?" + q)
    assert data == b""
    assert sim.orders_by_client_id("lostc")["status"] == "CANCELED"  # type: ignore[index]


async def test_503_unknown_is_processed(client: Client, sim: BinanceSimulator) -> None:
    sim.faults.http_error(503, path="/fapi/v1/order", method="POST")
    r = await client.limit("BUY", "0.010", "60000", newClientOrderId="u503")
    assert r.status == 503
    assert r.json == {"code": -1000, "msg": "Unknown error, please check your request or try again later."}
    assert sim.orders_by_client_id("u503") is not None


async def test_other_5xx_not_processed(client: Client, sim: BinanceSimulator) -> None:
    sim.faults.http_error(
        503, body={"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
    )
    r = await client.limit("BUY", "0.010", "60000", newClientOrderId="f503")
    assert r.status == 503 and r.json["code"] == -1001
    assert sim.orders_by_client_id("f503") is None
    sim.faults.http_error(502)
    r = await client.limit("BUY", "0.010", "60000", newClientOrderId="f502")
    assert r.status == 502 and sim.orders_by_client_id("f502") is None
    sim.faults.http_error(503, body="Service Unavailable.", count=2)
    for _ in range(2):
        r = await client.public("/fapi/v1/time")
        assert r.status == 503 and r.text == "Service Unavailable."
    assert (await client.public("/fapi/v1/time")).status == 200


async def test_http_error_path_filter(client: Client, sim: BinanceSimulator) -> None:
    sim.faults.http_error(500, path="/fapi/v1/order", method="DELETE")
    assert (await client.public("/fapi/v1/time")).status == 200
    r = await client.limit("BUY", "0.010", "60000", newClientOrderId="pf1")
    assert r.status == 200
    r = await client.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="pf1")
    assert r.status == 500
    assert sim.orders_by_client_id("pf1")["status"] == "NEW"  # type: ignore[index]


async def test_rate_limit_fault(client: Client, sim: BinanceSimulator) -> None:
    sim.faults.rate_limit(count=1, status=429, retry_after=7)
    r = await client.limit("BUY", "0.010", "60000", newClientOrderId="rl1")
    assert r.status == 429 and r.json["code"] == -1003 and r.headers["Retry-After"] == "7"
    assert sim.orders_by_client_id("rl1") is None
    sim.faults.rate_limit(status=418)
    r = await client.public("/fapi/v1/time")
    assert r.status == 418 and "banned until" in r.json["msg"] and int(r.headers["Retry-After"]) >= 1
    assert (await client.public("/fapi/v1/time")).status == 200


async def test_reject_next_cancel_and_order(client: Client, sim: BinanceSimulator) -> None:
    await client.limit("BUY", "0.010", "60000", newClientOrderId="rj1")
    sim.faults.reject_next_cancel()
    r = await client.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="rj1")
    assert r.json == {"code": -2011, "msg": "Unknown order sent."}
    assert sim.orders_by_client_id("rj1")["status"] == "NEW"  # type: ignore[index]
    sim.faults.reject_next_order(code=-2019, msg="Margin is insufficient.")
    r = await client.limit("BUY", "0.010", "60000", newClientOrderId="rj2")
    assert r.json["code"] == -2019 and sim.orders_by_client_id("rj2") is None


async def _stream(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> aiohttp.ClientWebSocketResponse:
    key = await client.listen_key()
    return await session.ws_connect(f"{sim.ws_url}/private/ws/{key}")


async def test_duplicate_events(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    ws = await _stream(client, sim, session)
    sim.faults.duplicate_events = True
    await client.limit("BUY", "0.010", "60000", newClientOrderId="dupev")
    a, b = await recv_json(ws), await recv_json(ws)
    assert a == b and a["o"]["c"] == "dupev"
    await ws.close()


async def test_drop_events(client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    ws = await _stream(client, sim, session)
    sim.faults.drop_events(count=1)
    await client.limit("BUY", "0.010", "60000", newClientOrderId="drop1")
    await client.limit("BUY", "0.010", "60000", newClientOrderId="drop2")
    ev = await recv_json(ws)
    assert ev["o"]["c"] == "drop2"  # drop1's NEW happened but was not sent
    assert sim.events_of("drop1") and sim.orders_by_client_id("drop1") is not None
    await ws.close()


async def test_event_delay_keeps_order(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    ws = await _stream(client, sim, session)
    sim.faults.event_delay = 0.3
    await client.limit("BUY", "0.010", "60000", newClientOrderId="dl1")
    await client.signed("DELETE", "/fapi/v1/order", symbol="BTCUSDT", origClientOrderId="dl1")
    assert await no_frame(ws, 0.1)  # the REST replies came back first
    first, second = await recv_json(ws), await recv_json(ws)
    assert (first["o"]["x"], second["o"]["x"]) == ("NEW", "CANCELED")
    await ws.close()
