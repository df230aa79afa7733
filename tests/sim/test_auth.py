"""Signing, API key, timestamp/recvWindow and parameter errors, over real loopback sockets."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlencode

from trading_engine_python.sim import BinanceSimulator

from ._client import Client, sign

ORDER: dict[str, Any] = {
    "symbol": "BTCUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "0.010",
    "price": "60000",
}


def _q(extra: dict[str, object] | None = None, ts: int | None = None) -> str:
    params = dict(ORDER)
    if extra:
        params.update(extra)  # type: ignore[arg-type]
    params["timestamp"] = str(ts if ts is not None else int(time.time() * 1000))
    return urlencode(params)


async def test_signed_in_body_and_in_query(client: Client) -> None:
    q = _q({"newClientOrderId": "body1"})
    r = await client.raw("POST", "/fapi/v1/order", body=q + "&signature=" + sign(q))
    assert r.status == 200, r
    q = _q({"newClientOrderId": "query1"})
    r = await client.raw("POST", "/fapi/v1/order", query=q + "&signature=" + sign(q))
    assert r.status == 200, r


async def test_total_params_is_query_then_body(client: Client) -> None:
    # totalParams = query string concatenated with the body, no separator
    # (docs/binance-protocol.md, "REST signing and limits")
    query = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
    body = f"quantity=0.010&price=60000&recvWindow=5000&timestamp={int(time.time() * 1000)}"
    sig = sign(query + body)
    r = await client.raw("POST", "/fapi/v1/order", query=query, body=body + "&signature=" + sig)
    assert r.status == 200, r
    bad = sign(query + "&" + body)
    r = await client.raw("POST", "/fapi/v1/order", query=query, body=body + "&signature=" + bad)
    assert r.status == 400 and r.json["code"] == -1022


async def test_signature_case_insensitive(client: Client) -> None:
    q = _q()
    r = await client.raw("POST", "/fapi/v1/order", body=q + "&signature=" + sign(q).upper())
    assert r.status == 200, r


async def test_bad_signature(client: Client) -> None:
    q = _q()
    r = await client.raw("POST", "/fapi/v1/order", body=q + "&signature=" + sign(q, "other-secret"))
    assert (r.status, r.json) == (400, {"code": -1022, "msg": "Signature for this request is not valid."})


async def test_tampered_params_fail_signature(client: Client) -> None:
    q = _q()
    sig = sign(q)
    r = await client.raw("POST", "/fapi/v1/order", body=q.replace("0.010", "0.020") + "&signature=" + sig)
    assert r.json["code"] == -1022


async def test_missing_signature_and_timestamp(client: Client) -> None:
    r = await client.raw("POST", "/fapi/v1/order", body=_q())
    assert r.status == 400 and r.json["code"] == -1102 and "'signature'" in r.json["msg"]
    q = urlencode(ORDER)
    r = await client.raw("POST", "/fapi/v1/order", body=q + "&signature=" + sign(q))
    assert r.status == 400 and r.json["code"] == -1102 and "'timestamp'" in r.json["msg"]


async def test_api_key_errors(sim: BinanceSimulator, session: object) -> None:
    import aiohttp

    assert isinstance(session, aiohttp.ClientSession)
    anon = Client(sim.base_url, session, key=None)  # type: ignore[arg-type]
    r = await anon.signed("POST", "/fapi/v1/order", **ORDER)
    assert (r.status, r.json["code"]) == (401, -2014)
    wrong = Client(sim.base_url, session, key="not-the-key")
    r = await wrong.signed("POST", "/fapi/v1/order", **ORDER)
    assert (r.status, r.json["code"]) == (401, -2015)
    r = await wrong.raw("POST", "/fapi/v1/listenKey")
    assert (r.status, r.json["code"]) == (401, -2015)
    r = await anon.raw("POST", "/fapi/v1/listenKey")
    assert (r.status, r.json["code"]) == (401, -2014)
    # market data needs no key
    r = await anon.public("/fapi/v1/time")
    assert r.status == 200


async def test_timestamp_ahead_and_outside_recv_window(client: Client, sim: BinanceSimulator) -> None:
    now = int(time.time() * 1000)
    r = await client.order(**ORDER, timestamp=now + 5000)
    assert r.status == 400
    assert r.json == {
        "code": -1021,
        "msg": "Timestamp for this request was 1000ms ahead of the server's time.",
    }
    r = await client.order(**ORDER, timestamp=now - 6000)
    assert r.json == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
    r = await client.order(**ORDER, timestamp=now - 6000, recvWindow=10000)
    assert r.status == 200, r
    r = await client.order(**ORDER, recvWindow=60001)
    assert r.json["code"] == -1131


async def test_clock_offset_drives_minus_1021(client: Client, sim: BinanceSimulator) -> None:
    sim.clock_offset_ms = -20_000  # venue clock 20 s behind: our timestamps look ahead
    r = await client.order(**ORDER)
    assert r.json["code"] == -1021 and "ahead" in r.json["msg"]
    t = await client.public("/fapi/v1/time")
    client.time_offset = t.json["serverTime"] - int(time.time() * 1000)
    r = await client.order(**ORDER)
    assert r.status == 200, r


async def test_duplicate_and_malformed_params(client: Client) -> None:
    q = _q() + "&symbol=BTCUSDT"
    r = await client.raw("POST", "/fapi/v1/order", body=q + "&signature=" + sign(q))
    assert r.json["code"] == -1101
    r = await client.order(**{**ORDER, "quantity": "1e-3"})
    assert r.json["code"] == -1100 and "'quantity'" in r.json["msg"]
    r = await client.order(**{**ORDER, "price": None})
    assert r.json["code"] == -1102 and "'price'" in r.json["msg"]
    r = await client.order(**{**ORDER, "symbol": "NOPEUSDT"})
    assert r.json == {"code": -1121, "msg": "Invalid symbol."}


async def test_unknown_path(client: Client) -> None:
    r = await client.public("/fapi/v1/doesNotExist")
    assert r.status == 404 and r.json["code"] == -5000
