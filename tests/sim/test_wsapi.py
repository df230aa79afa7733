"""ws-fapi (/ws-fapi/v1) over a real socket: session.logon with Ed25519, per-request HMAC signing,
order.place/modify/cancel/status, userDataStream.*, rateLimits, and the ws faults."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest

from trading_engine_python.sim import BinanceSimulator

from ._client import Client
from ._wsapi import WsApi, ed25519_sign, hmac_sign
from .conftest import recv_until


def _limit(cid: str, price: str = "64000", **extra: object) -> dict[str, object]:
    return {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.010",
        "price": price,
        "newClientOrderId": cid,
        **extra,
    }


async def test_url_and_logon_then_session_requests(
    sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    assert sim.ws_api_url == f"ws://127.0.0.1:{sim.port}/ws-fapi/v1"
    sim.set_price("BTCUSDT", "65000")
    async with WsApi.connect(session, sim) as api:
        r = await api.session_call("order.place", **_limit("s1"))
        assert r["status"] == 400 and r["error"]["code"] == -1102 and "apiKey" in r["error"]["msg"]
        r = await api.logon(sim)
        assert r["status"] == 200, r
        assert r["result"]["apiKey"] == sim.ed25519_api_key and r["result"]["authorizedSince"] > 0
        st = await api.send("session.status")
        assert st["result"]["apiKey"] == sim.ed25519_api_key
        r = await api.session_call("order.place", **_limit("s1"))
        assert (
            r["status"] == 200 and r["result"]["status"] == "NEW" and r["result"]["clientOrderId"] == "s1"
        ), r
        oid = r["result"]["orderId"]
        r = await api.session_call("order.status", symbol="BTCUSDT", orderId=oid)
        assert r["result"]["orderId"] == oid and r["result"]["status"] == "NEW" and "time" in r["result"]
        r = await api.session_call(
            "order.modify", symbol="BTCUSDT", orderId=oid, side="BUY", quantity="0.020", price="64000"
        )
        assert r["result"]["origQty"] == "0.020", r
        r = await api.session_call("order.cancel", symbol="BTCUSDT", origClientOrderId="s1")
        assert r["result"]["status"] == "CANCELED", r
        r = await api.send("session.logout")
        assert r["result"]["apiKey"] is None
        r = await api.session_call("order.status", symbol="BTCUSDT", orderId=oid)
        assert r["error"]["code"] == -1102
    assert [e["x"] for e in sim.events_of("s1")] == ["NEW", "AMENDMENT", "CANCELED"]


async def test_logon_refuses_hmac_keys_and_bad_signatures(
    sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    async with WsApi.connect(session, sim) as api:
        params: dict[str, object] = {"apiKey": "sim-key", "timestamp": int(time.time() * 1000)}
        params["signature"] = hmac_sign(params)
        r = await api.send("session.logon", params)
        assert r["status"] == 400 and r["error"]["code"] == -4056
        params = {"apiKey": sim.ed25519_api_key, "timestamp": int(time.time() * 1000)}
        params["signature"] = ed25519_sign({**params, "timestamp": 1}, sim.ed25519_private_key_pem)
        r = await api.send("session.logon", params)
        assert r["error"]["code"] == -1022
        st = await api.send("session.status")
        assert st["result"]["apiKey"] is None


async def test_per_request_hmac_and_ed25519(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    sim.set_price("BTCUSDT", "65000")
    async with WsApi.connect(session, sim) as api:
        r = await api.signed("order.place", **_limit("h1"))
        assert r["status"] == 200 and r["result"]["clientOrderId"] == "h1", r
        # same frame shape as Binance's example: INT params as JSON ints, DECIMAL params as strings
        assert isinstance(r["result"]["orderId"], int) and r["result"]["price"] == "64000.00"
        params: dict[str, object] = {
            "apiKey": sim.ed25519_api_key,
            "symbol": "BTCUSDT",
            "origClientOrderId": "h1",
            "timestamp": int(time.time() * 1000),
        }
        params["signature"] = ed25519_sign(params, sim.ed25519_private_key_pem)
        r = await api.send("order.status", params)
        assert r["status"] == 200 and r["result"]["clientOrderId"] == "h1", r


async def test_bad_signature_wrong_key_and_stale_timestamp(
    sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    async with WsApi.connect(session, sim) as api:
        params: dict[str, object] = {
            "apiKey": "sim-key",
            **_limit("b1"),
            "timestamp": int(time.time() * 1000),
        }
        params["signature"] = hmac_sign(params, "wrong-secret")
        r = await api.send("order.place", params)
        assert r["status"] == 400 and r["error"] == {
            "code": -1022,
            "msg": "Signature for this request is not valid.",
        }
        r = await api.signed("order.place", apiKey="nope-key", **_limit("b2"))
        assert r["status"] == 401 and r["error"]["code"] == -2015
        r = await api.signed("order.place", timestamp=int(time.time() * 1000) - 10_000, **_limit("b3"))
        assert r["error"]["code"] == -1021
    assert sim.all_orders() == []


async def test_place_reaches_the_user_stream_like_rest(
    sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    sim.set_price("BTCUSDT", "65000")
    async with WsApi.connect(session, sim) as api:
        r = await api.signed("userDataStream.start")
        key = r["result"]["listenKey"]
        assert len(key) == 64 and key in sim.listen_keys
        async with session.ws_connect(f"{sim.ws_url}/private/ws/{key}") as user:
            r = await api.signed("order.place", **_limit("u1", price="65100"))  # crosses: NEW then a trade
            assert r["status"] == 200
            frames = await recv_until(
                user, lambda e: e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["X"] == "FILLED"
            )
        kinds = [(f["e"], f["o"]["x"]) if f["e"] == "ORDER_TRADE_UPDATE" else (f["e"], "") for f in frames]
        assert kinds == [
            ("ORDER_TRADE_UPDATE", "NEW"),
            ("TRADE_LITE", ""),
            ("ACCOUNT_UPDATE", ""),
            ("ORDER_TRADE_UPDATE", "TRADE"),
        ]
        assert frames[0]["o"]["c"] == "u1"


async def test_user_data_stream_methods(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    async with WsApi.connect(session, sim) as api:
        key = (await api.signed("userDataStream.start"))["result"]["listenKey"]
        again = await api.signed("userDataStream.start")
        assert again["result"]["listenKey"] == key  # an active key is returned and extended
        r = await api.signed("userDataStream.ping")
        assert r["status"] == 200 and r["result"] == {"listenKey": key}
        r = await api.signed("userDataStream.stop")
        assert r["status"] == 200 and r["result"] == {}
        assert key not in sim.listen_keys
        r = await api.signed("userDataStream.ping")
        assert r["error"]["code"] == -1125
        r = await api.send("userDataStream.start", {})
        assert r["error"]["code"] == -1102  # no apiKey and no session


async def test_rate_limits_in_every_answer(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    sim.set_price("BTCUSDT", "65000")
    async with WsApi.connect(session, sim) as api:
        r = await api.signed("order.place", **_limit("rl1"))
        kinds = {(x["rateLimitType"], x["interval"], x["intervalNum"]): x for x in r["rateLimits"]}
        assert set(kinds) == {
            ("REQUEST_WEIGHT", "MINUTE", 1),
            ("ORDERS", "SECOND", 10),
            ("ORDERS", "MINUTE", 1),
        }
        assert (
            kinds[("ORDERS", "SECOND", 10)]["count"] >= 1 and kinds[("ORDERS", "SECOND", 10)]["limit"] == 300
        )
        r = await api.signed("order.status", symbol="BTCUSDT", origClientOrderId="rl1")
        assert [x["rateLimitType"] for x in r["rateLimits"]] == ["REQUEST_WEIGHT"]
        bad = await api.signed("order.place", **_limit("rl2", price="1"))
        assert "error" in bad and bad["rateLimits"]
    async with WsApi.connect(session, sim, sim.ws_api_url + "?returnRateLimits=false") as api:
        r = await api.signed("order.status", symbol="BTCUSDT", origClientOrderId="rl1")
        assert r["status"] == 200 and "rateLimits" not in r


async def test_order_count_limit_shared_with_rest(
    client: Client, sim: BinanceSimulator, session: aiohttp.ClientSession
) -> None:
    sim.set_price("BTCUSDT", "65000")
    sim.limits["orders_10s"] = 2
    assert (await client.limit("BUY", "0.010", "60000")).status == 200
    async with WsApi.connect(session, sim) as api:
        assert (await api.signed("order.place", **_limit("c1")))["status"] == 200
        r = await api.signed("order.place", **_limit("c2"))
        assert r["status"] == 429 and r["error"]["code"] == -1015
    assert sim.orders_by_client_id("c2") is None


async def test_malformed_and_unknown_requests(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    async with WsApi.connect(session, sim) as api:
        await api.ws.send_str("{not json")
        r = await api.recv()
        assert r["id"] is None and r["status"] == 400 and "error" in r
        r = await api.send("order.teleport", {})
        assert r["status"] == 400 and "error" in r


async def test_server_pings(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    sim.ws_ping_interval = 0.05
    async with session.ws_connect(sim.ws_api_url, autoping=False) as ws:
        msg = await asyncio.wait_for(ws.receive(), 3)
        assert msg.type == aiohttp.WSMsgType.PING


# ---------------------------------------------------------------------- faults
async def test_fault_drop_after_processing(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    sim.set_price("BTCUSDT", "65000")
    sim.faults.ws_drop("order.place", process=True)
    async with WsApi.connect(session, sim) as api:
        await api.ws.send_str(orjson.dumps({"id": "x", "method": "session.status"}).decode())
        assert (await api.recv())["id"] == "x"  # other methods are not affected
        params: dict[str, object] = {
            "apiKey": "sim-key",
            **_limit("d1"),
            "timestamp": int(time.time() * 1000),
        }
        params["signature"] = hmac_sign(params)
        await api.ws.send_str(orjson.dumps({"id": "y", "method": "order.place", "params": params}).decode())
        msg = await asyncio.wait_for(api.ws.receive(), 3)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
    assert sim.orders_by_client_id("d1")["status"] == "NEW"  # type: ignore[index]


async def test_fault_drop_before_processing(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    sim.set_price("BTCUSDT", "65000")
    sim.faults.ws_drop("order.place", process=False)
    async with WsApi.connect(session, sim) as api:
        params: dict[str, object] = {
            "apiKey": "sim-key",
            **_limit("d2"),
            "timestamp": int(time.time() * 1000),
        }
        params["signature"] = hmac_sign(params)
        await api.ws.send_str(orjson.dumps({"id": "y", "method": "order.place", "params": params}).decode())
        msg = await asyncio.wait_for(api.ws.receive(), 3)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
    assert sim.orders_by_client_id("d2") is None
    async with WsApi.connect(session, sim) as api:  # disarmed after one use
        assert (await api.signed("order.place", **_limit("d3")))["status"] == 200


async def test_fault_error_answer(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    sim.set_price("BTCUSDT", "65000")
    sim.faults.ws_error(-1001, "Internal error; unable to process your request. Please try again.")
    sim.faults.ws_error(-1007, "Timeout waiting for response from backend server.", status=408, process=True)
    async with WsApi.connect(session, sim) as api:
        r = await api.signed("order.place", **_limit("e1"))
        assert r["status"] == 400 and r["error"]["code"] == -1001
        r = await api.signed("order.place", **_limit("e2"))
        assert r["status"] == 408 and r["error"]["code"] == -1007
        r = await api.signed("order.place", **_limit("e3"))
        assert r["status"] == 200
    assert sim.orders_by_client_id("e1") is None  # not processed
    assert sim.orders_by_client_id("e2") is not None  # processed: unknown outcome for the client


async def test_fault_latency(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    sim.set_price("BTCUSDT", "65000")
    sim.faults.latency = 0.5
    async with WsApi.connect(session, sim) as api:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(api.signed("order.place", **_limit("l1")), 0.1)
        assert sim.orders_by_client_id("l1") is not None  # processed before the late answer
        r = await api.recv()
        assert r["status"] == 200 and r["result"]["clientOrderId"] == "l1"


async def test_drop_ws_api_control(sim: BinanceSimulator, session: aiohttp.ClientSession) -> None:
    async with WsApi.connect(session, sim) as api:
        assert (await api.send("session.status"))["status"] == 200
        await sim.drop_ws_api()
        msg = await asyncio.wait_for(api.ws.receive(), 3)
        assert msg.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.ERROR)
