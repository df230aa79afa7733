"""WsApiClient over real sockets against a small ws-fapi stub (aiohttp) written for these tests.

The stub checks signatures the way Binance documents for the WebSocket API (params but
``signature`` sorted by name, ``k=v`` joined by ``&``; HMAC-SHA256 hex, or Ed25519 base64), keeps
orders by client id and can drop the connection, stay silent or answer with an error on demand.
The same behaviours against the project's simulator are in test_ws_api_sim.py.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from trading_engine_python.exchange import (
    BinanceFuturesClient,
    ExchangeClient,
    ExchangeError,
    ExchangeTimeout,
    SupportsModify,
)
from trading_engine_python.exchange.binance import (
    PRODUCTION_WS_API,
    TESTNET_REST,
    TESTNET_WS_API,
    SymbolRules,
)
from trading_engine_python.exchange.ws_api import WsApiClient

API_KEY = "AKwsSTUB1234567890apikey"
API_SECRET = "SEwsSTUB0987654321apisecret"
SYMBOL_INFO = {
    "symbol": "BTCUSDT",
    "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.10", "minPrice": "0.10", "maxPrice": "1000000"},
        {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001", "maxQty": "1000"},
    ],
}
RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 2400, "count": 3},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 300, "count": 1},
    {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200, "count": 1},
]


@dataclass
class Stub:
    ed_public: ed25519.Ed25519PublicKey | None = None
    rsa_public: rsa.RSAPublicKey | None = None
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)
    connections: int = 0
    logons: int = 0
    # method -> what to do with the next request of it: "drop", "drop_after", "silent",
    # or an error (status, code, msg[, data]).
    plan: dict[str, Any] = field(default_factory=dict)
    rate_limits: list[dict[str, Any]] = field(default_factory=lambda: RATE_LIMITS)
    pongs: list[bytes] = field(default_factory=list)
    holding: asyncio.Event = field(default_factory=asyncio.Event)  # a "hold" request arrived
    release: asyncio.Event = field(default_factory=asyncio.Event)  # answer the held request
    ping_on_connect: bytes | None = None
    url: str = ""
    base_url: str = ""
    runner: web.AppRunner | None = None
    sockets: list[web.WebSocketResponse] = field(default_factory=list)

    def verify(self, params: dict[str, Any], session: bool) -> tuple[int, str] | None:
        if "signature" not in params:
            if session:
                return None
            return (-1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.")
        if params.get("apiKey") != API_KEY:
            return (-2015, "Invalid API-key, IP, or permissions for action.")
        payload = "&".join(f"{k}={params[k]}" for k in sorted(params) if k != "signature").encode()
        sig = str(params["signature"])
        if self.rsa_public is not None:
            try:
                self.rsa_public.verify(base64.b64decode(sig), payload, padding.PKCS1v15(), hashes.SHA256())
                return None
            except Exception:
                return (-1022, "Signature for this request is not valid.")
        if self.ed_public is not None:
            try:
                self.ed_public.verify(base64.b64decode(sig), payload)
                return None
            except Exception:
                return (-1022, "Signature for this request is not valid.")
        want = hmac.new(API_SECRET.encode(), payload, hashlib.sha256).hexdigest()
        return None if hmac.compare_digest(want, sig) else (-1022, "Signature for this request is not valid.")

    def order(self, p: dict[str, Any], status: str) -> dict[str, Any]:
        return {
            "orderId": 2**60 + len(self.orders),  # beyond 2**53: must stay an exact int
            "symbol": p["symbol"],
            "status": status,
            "clientOrderId": p.get("newClientOrderId") or p.get("origClientOrderId"),
            "price": p.get("price", "0"),
            "origQty": p.get("quantity", "0"),
            "side": p.get("side"),
            "type": p.get("type", "LIMIT"),
        }

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        self.connections += 1
        self.sockets.append(ws)
        session = False
        if self.ping_on_connect is not None:
            await ws.ping(self.ping_on_connect)
        async for m in ws:
            if m.type == aiohttp.WSMsgType.PONG:
                self.pongs.append(bytes(m.data))
                continue
            if m.type != aiohttp.WSMsgType.TEXT:
                continue
            req = orjson.loads(m.data)
            rid, method, params = req["id"], req["method"], req.get("params", {})
            assert isinstance(rid, int)
            self.received.append((method, params))
            action = self.plan.pop(method, None)
            if action == "drop":
                await ws.close()
                break
            if action == "silent":
                continue
            if action == "hold":
                self.holding.set()
                await self.release.wait()
            answer: dict[str, Any] = {"id": rid}
            err: tuple[Any, ...] | None = None
            if isinstance(action, tuple):
                err = action
            elif method == "session.logon":
                if self.ed_public is None:
                    err = (400, -4056, "HMAC_SHA256 API key is not supported.")
                else:
                    bad = self.verify(params, False)
                    if bad:
                        err = (401, *bad)
                    else:
                        session = True
                        self.logons += 1
                        answer["result"] = {"apiKey": API_KEY, "authorizedSince": 1, "serverTime": 2}
            else:
                bad = self.verify(params, session)
                if bad:
                    err = (400, *bad)
                else:
                    answer["result"] = self.execute(method, params)
                    if isinstance(answer["result"], tuple):
                        err, answer["result"] = answer["result"], None
            if err is not None:
                answer.pop("result", None)
                answer["status"] = err[0]
                answer["error"] = {"code": err[1], "msg": err[2]}
                if len(err) > 3:
                    answer["error"]["data"] = err[3]
            else:
                answer["status"] = 200
            answer["rateLimits"] = self.rate_limits
            if action == "drop_after":
                await ws.close()  # carried out, answer lost
                break
            await ws.send_str(orjson.dumps(answer).decode())
        return ws

    def execute(self, method: str, p: dict[str, Any]) -> Any:
        for k in ("timestamp", "recvWindow"):
            assert type(p[k]) is int, (k, p[k])  # INT params are JSON ints
        for k in ("quantity", "price"):
            if k in p:
                assert isinstance(p[k], str), (k, p[k])  # DECIMAL params are JSON strings
        if method == "order.place":
            cid = p["newClientOrderId"]
            if cid in self.orders:
                return (400, -4116, "clientOrderId is duplicated")
            self.orders[cid] = self.order(p, "NEW")
            return self.orders[cid]
        cid = p["origClientOrderId"]
        o = self.orders.get(cid)
        if method == "order.status":
            return o if o is not None else (400, -2013, "Order does not exist.")
        if o is None or o["status"] != "NEW":
            return (400, -2011, "Unknown order sent.")
        if method == "order.cancel":
            o["status"] = "CANCELED"
        elif method == "order.modify":
            o["price"], o["origQty"] = p["price"], p["quantity"]
        return o

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws-fapi/v1", self.handle)
        app.router.add_get("/fapi/v1/time", self.rest_time)
        app.router.add_get("/fapi/v1/exchangeInfo", self.rest_info)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        self.url = f"ws://127.0.0.1:{port}/ws-fapi/v1"
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        for ws in self.sockets:
            await ws.close()
        if self.runner is not None:
            await self.runner.cleanup()

    async def rest_time(self, request: web.Request) -> web.Response:
        return web.json_response({"serverTime": int(time.time() * 1000)})

    async def rest_info(self, request: web.Request) -> web.Response:
        return web.json_response({"symbols": [SYMBOL_INFO], "rateLimits": []})

    def methods(self) -> list[str]:
        return [m for m, _ in self.received]


@pytest.fixture
async def stub() -> AsyncIterator[Stub]:
    s = Stub()
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
def ed_key() -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def pem(key: ed25519.Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@pytest.fixture
async def hmac_client(stub: Stub) -> AsyncIterator[BinanceFuturesClient]:
    c = BinanceFuturesClient(API_KEY, API_SECRET, base_url=stub.base_url, ws_api_url=stub.url, timeout=1.0)
    c._ws_api = WsApiClient(c, stub.url, backoff_base=0.01, backoff_max=0.05)
    yield c
    await c.close()


@pytest.fixture
async def ed_client(stub: Stub, ed_key: ed25519.Ed25519PrivateKey) -> AsyncIterator[BinanceFuturesClient]:
    stub.ed_public = ed_key.public_key()
    c = BinanceFuturesClient(
        API_KEY, None, private_key=pem(ed_key), base_url=stub.base_url, ws_api_url=stub.url, timeout=1.0
    )
    c._ws_api = WsApiClient(c, stub.url, backoff_base=0.01, backoff_max=0.05)
    yield c
    await c.close()


async def lifecycle(ws: WsApiClient) -> None:
    r = await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.010", price="60000.0", client_order_id="w-1")
    assert r["status"] == "NEW" and r["clientOrderId"] == "w-1"
    assert type(r["orderId"]) is int and r["orderId"] >= 2**60
    m = await ws.modify_order("BTCUSDT", "BUY", "0.020", "60000.5", client_order_id="w-1")
    assert m["price"] == "60000.5" and m["origQty"] == "0.020"
    q = await ws.get_order("BTCUSDT", client_order_id="w-1")
    assert q["orderId"] == r["orderId"]
    c = await ws.cancel_order("BTCUSDT", client_order_id="w-1")
    assert c["status"] == "CANCELED"
    with pytest.raises(ExchangeError) as ei:
        await ws.cancel_order("BTCUSDT", client_order_id="w-1")
    assert ei.value.code == -2011 and not isinstance(ei.value, ExchangeTimeout)


# ------------------------------------------------------------------ signing


async def test_hmac_signs_every_request(stub: Stub, hmac_client: BinanceFuturesClient) -> None:
    ws = hmac_client.ws_api
    assert not ws.logon and not ws.connected
    await lifecycle(ws)
    assert ws.connected
    assert stub.methods() == ["order.place", "order.modify", "order.status", "order.cancel", "order.cancel"]
    for _, p in stub.received:
        assert p["apiKey"] == API_KEY and len(p["signature"]) == 64
    place = stub.received[0][1]
    assert place["type"] == "LIMIT" and place["timeInForce"] == "GTC" and place["newClientOrderId"] == "w-1"
    modify = stub.received[1][1]
    assert {k: modify[k] for k in ("symbol", "side", "quantity", "price", "origClientOrderId")} == {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "quantity": "0.020",
        "price": "60000.5",
        "origClientOrderId": "w-1",
    }
    assert stub.connections == 1 and stub.logons == 0


async def test_bad_secret_is_a_definite_1022(stub: Stub) -> None:
    c = BinanceFuturesClient(API_KEY, "wrong", base_url=stub.base_url, ws_api_url=stub.url, timeout=1.0)
    try:
        with pytest.raises(ExchangeError) as ei:
            await c.ws_api.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="1.0", client_order_id="x")
        assert ei.value.code == -1022 and not isinstance(ei.value, ExchangeTimeout)
    finally:
        await c.close()


async def test_rsa_signs_every_request(stub: Stub) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stub.rsa_public = key.public_key()
    c = BinanceFuturesClient(API_KEY, None, private_key=key, base_url=stub.base_url, ws_api_url=stub.url)
    try:
        assert not c.ws_api.logon  # session.logon is for Ed25519 keys only
        await lifecycle(c.ws_api)
        sig = str(stub.received[0][1]["signature"])
        assert "%" not in sig and len(base64.b64decode(sig)) == 256  # plain base64 in JSON
    finally:
        await c.close()


async def test_ed25519_logs_on_once(stub: Stub, ed_client: BinanceFuturesClient) -> None:
    ws = await ed_client.start_ws_api()
    assert ws.logon and ws.connected and stub.logons == 1
    await lifecycle(ws)
    assert stub.methods()[0] == "session.logon"
    logon = stub.received[0][1]
    assert set(logon) == {"apiKey", "timestamp", "recvWindow", "signature"}
    for _, p in stub.received[1:]:
        assert "signature" not in p and "apiKey" not in p and type(p["timestamp"]) is int
    assert stub.logons == 1 and stub.connections == 1


def test_ws_client_is_an_exchange_client_with_modify() -> None:
    c = BinanceFuturesClient(API_KEY, API_SECRET)
    assert c.ws_api_url == PRODUCTION_WS_API
    assert isinstance(c.ws_api, ExchangeClient) and isinstance(c.ws_api, SupportsModify)
    assert BinanceFuturesClient(API_KEY, API_SECRET, base_url=TESTNET_REST).ws_api_url == TESTNET_WS_API
    # Any other base_url (the simulator, a proxy) gets no production default.
    other = BinanceFuturesClient(API_KEY, API_SECRET, base_url="http://127.0.0.1:1")
    assert other.ws_api_url is None
    with pytest.raises(ValueError, match="ws_api_url"):
        _ = other.ws_api


async def test_logon_needs_ed25519(stub: Stub) -> None:
    c = BinanceFuturesClient(API_KEY, API_SECRET, base_url=stub.base_url, ws_api_url=stub.url)
    with pytest.raises(ValueError, match="Ed25519"):
        WsApiClient(c, stub.url, logon=True)


async def test_revoked_session_falls_back_to_signed_requests(
    stub: Stub, ed_client: BinanceFuturesClient
) -> None:
    ws = await ed_client.start_ws_api()
    revoked = {
        "id": None,
        "status": 401,
        "error": {"code": -2015, "msg": "Invalid API-key, IP, or permissions."},
    }
    for s in stub.sockets:
        await s.send_str(orjson.dumps(revoked).decode())
    for _ in range(500):
        if ws._session_conn is None:
            break
        await asyncio.sleep(0.01)
    await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="100.0", client_order_id="r-1")
    assert "signature" in stub.received[-1][1]


# ------------------------------------------------------------------ unknown outcomes, reconnects


@pytest.mark.parametrize("how", ["drop", "drop_after"])
async def test_drop_with_a_place_in_flight_is_an_unknown_outcome(
    stub: Stub, ed_client: BinanceFuturesClient, how: str
) -> None:
    ws = await ed_client.start_ws_api()
    stub.plan["order.place"] = how
    with pytest.raises(ExchangeTimeout) as ei:
        await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="100.0", client_order_id="d-1")
    assert "outcome unknown" in str(ei.value)
    # The client reconnects, logs on again and the next request goes through; nothing was re-sent.
    r = await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="100.0", client_order_id="d-2")
    assert r["clientOrderId"] == "d-2"
    assert stub.connections == 2 and stub.logons == 2
    assert [m for m in stub.methods() if m == "order.place"] == ["order.place", "order.place"]
    assert ws.stats["disconnects"] == 1 and ws.stats["logons"] == 2


async def test_reconnect_drains_in_flight_requests_then_logs_on_again(
    stub: Stub, ed_client: BinanceFuturesClient
) -> None:
    # The path the 24 h connection limit takes too (max_connection_age).
    ws = await ed_client.start_ws_api()
    stub.plan["order.place"] = "hold"
    held = asyncio.ensure_future(
        ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="100.0", client_order_id="h-1")
    )
    await stub.holding.wait()
    replacing = asyncio.ensure_future(ws.reconnect())
    while ws.connected:
        await asyncio.sleep(0.005)
    # Sent while draining: waits for the new connection instead of going out on the old one.
    later = asyncio.ensure_future(ws.get_order("BTCUSDT", client_order_id="h-1"))
    stub.release.set()
    r = await held
    assert r["clientOrderId"] == "h-1"  # answered on the old connection, not an unknown outcome
    await replacing
    assert (await later)["clientOrderId"] == "h-1"
    assert stub.connections == 2 and stub.logons == 2 and ws.stats["unknown_outcomes"] == 0
    # order.status after the second logon: it went out on the new connection.
    assert stub.methods() == ["session.logon", "order.place", "session.logon", "order.status"]


async def test_no_answer_is_an_unknown_outcome_and_a_new_connection(
    stub: Stub, hmac_client: BinanceFuturesClient
) -> None:
    ws = hmac_client.ws_api
    await ws.start()
    stub.plan["order.place"] = "silent"
    with pytest.raises(ExchangeTimeout):
        await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="100.0", client_order_id="s-1")
    # Nothing came back at all, so the connection is treated as dead and replaced.
    with pytest.raises(ExchangeError) as ei:
        await ws.get_order("BTCUSDT", client_order_id="s-1")  # the stub never placed it
    assert ei.value.code == -2013
    assert stub.connections == 2 and ws.stats["unknown_outcomes"] == 1


async def test_each_request_times_out_at_its_own_deadline(
    stub: Stub, hmac_client: BinanceFuturesClient
) -> None:
    # One timer serves every request in flight: a request with an earlier deadline than the one the
    # timer waits for (the timeout was lowered meanwhile) still fails at its own.
    ws = hmac_client.ws_api
    await ws.start()
    ws.timeout = 30.0
    stub.plan["order.place"] = "silent"
    first = asyncio.ensure_future(
        ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="100.0", client_order_id="t-1")
    )
    while "order.place" not in stub.methods():
        await asyncio.sleep(0.005)
    ws.timeout = 0.2
    stub.plan["order.status"] = "silent"
    with pytest.raises(ExchangeTimeout) as ei:
        await asyncio.wait_for(ws.get_order("BTCUSDT", client_order_id="t-1"), 10)
    assert "no answer within 0.2s" in str(ei.value)
    # Nothing came back since either was sent: the connection is dropped, failing the first too.
    with pytest.raises(ExchangeTimeout) as ei:
        await asyncio.wait_for(first, 10)
    assert "before the answer" in str(ei.value)
    assert ws.stats["unknown_outcomes"] == 2 and not ws._pending


async def test_requests_in_flight_all_time_out(stub: Stub, hmac_client: BinanceFuturesClient) -> None:
    ws = hmac_client.ws_api
    await ws.start()
    ws.timeout = 0.3
    stub.plan["order.place"] = "hold"  # the stub stops reading: nothing is answered
    try:
        places = [
            ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="100.0", client_order_id=f"f-{i}")
            for i in range(3)
        ]
        results = await asyncio.wait_for(asyncio.gather(*places, return_exceptions=True), 10)
    finally:
        stub.release.set()
    assert all(isinstance(r, ExchangeTimeout) for r in results), results
    assert ws.stats["unknown_outcomes"] == 3 and not ws._pending


async def test_the_timer_moves_on_to_a_later_deadline(stub: Stub, hmac_client: BinanceFuturesClient) -> None:
    # The timer armed for an answered request finds nothing overdue and waits for the next one.
    ws = hmac_client.ws_api
    await ws.start()
    ws.timeout = 0.3
    await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="100.0", client_order_id="m-1")
    await asyncio.sleep(0.1)
    stub.plan["order.status"] = "silent"
    with pytest.raises(ExchangeTimeout) as ei:
        await asyncio.wait_for(ws.get_order("BTCUSDT", client_order_id="m-1"), 10)
    assert "no answer within 0.3s" in str(ei.value)


async def test_answered_requests_never_time_out_later(stub: Stub, hmac_client: BinanceFuturesClient) -> None:
    ws = hmac_client.ws_api
    await ws.start()
    ws.timeout = 0.2
    for i in range(3):
        await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="100.0", client_order_id=f"a-{i}")
    await asyncio.sleep(0.4)  # past every deadline: the timer fires, finds nothing overdue, stops
    assert ws._timer is None
    r = await ws.get_order("BTCUSDT", client_order_id="a-0")
    assert r["clientOrderId"] == "a-0"
    assert ws.stats["unknown_outcomes"] == 0 and stub.connections == 1


async def test_server_down_is_a_definite_error_then_recovers(stub: Stub) -> None:
    port = int(stub.url.split(":")[2].split("/")[0])
    await stub.stop()
    c = BinanceFuturesClient(API_KEY, API_SECRET, base_url=stub.base_url, ws_api_url=stub.url, timeout=0.5)
    c._time_offset_ms = 0  # no REST either: skip the clock sync and use fixed symbol rules
    c._rules["BTCUSDT"] = SymbolRules.from_exchange_info(SYMBOL_INFO)
    c._info = {}
    ws = WsApiClient(c, stub.url, backoff_base=0.01, backoff_max=0.05)
    try:
        with pytest.raises(ExchangeError) as ei:
            await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="1.0", client_order_id="n")
        assert not isinstance(ei.value, ExchangeTimeout) and ei.value.code == -1
        assert ws.stats["connect_failures"] >= 1 and not ws.connected
        # The stub comes back on the same port: the background loop reconnects by itself.
        app_stub = Stub()
        app = web.Application()
        app.router.add_get("/ws-fapi/v1", app_stub.handle)
        runner = web.AppRunner(app)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", port).start()
        try:
            r = await ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="1.0", client_order_id="n2")
            assert r["clientOrderId"] == "n2" and ws.connected
        finally:
            for s in app_stub.sockets:
                await s.close()
            await runner.cleanup()
    finally:
        await ws.close()
        await c.close()


async def test_pings_are_answered(stub: Stub, hmac_client: BinanceFuturesClient) -> None:
    stub.ping_on_connect = b"ping-123"
    await hmac_client.ws_api.start()
    for _ in range(100):
        if stub.pongs:
            break
        await asyncio.sleep(0.01)
    assert stub.pongs == [b"ping-123"]


# ------------------------------------------------------------------ error mapping and limits


@pytest.mark.parametrize(
    ("status", "code", "unknown"),
    [(400, -2010, False), (400, -4116, False), (400, -1006, True), (408, -1007, True), (503, -1001, False)],
)
async def test_error_answers_map_like_rest(
    stub: Stub, hmac_client: BinanceFuturesClient, status: int, code: int, unknown: bool
) -> None:
    stub.plan["order.place"] = (status, code, "some reason")
    with pytest.raises(ExchangeError) as ei:
        await hmac_client.ws_api.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price="1.0", client_order_id="e-1"
        )
    assert ei.value.code == code and isinstance(ei.value, ExchangeTimeout) is unknown


async def test_invalid_timestamp_resyncs_and_retries_once(
    stub: Stub, hmac_client: BinanceFuturesClient
) -> None:
    stub.plan["order.place"] = (400, -1021, "Timestamp for this request is outside of the recvWindow.")
    r = await hmac_client.ws_api.place_order(
        "BTCUSDT", "BUY", "LIMIT", "0.001", price="1.0", client_order_id="t-1"
    )
    assert r["clientOrderId"] == "t-1"
    assert stub.methods() == ["order.place", "order.place"]
    assert hmac_client.stats["time_syncs"] == 2


async def test_429_backs_off_the_shared_pacing(stub: Stub, hmac_client: BinanceFuturesClient) -> None:
    retry_at = int(time.time() * 1000) + 60_000
    stub.plan["order.place"] = (429, -1003, "Too many requests.", {"retryAfter": retry_at})
    hmac_client.max_backoff_wait = 0.0
    with pytest.raises(ExchangeError) as ei:
        await hmac_client.ws_api.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.001", price="1.0", client_order_id="l-1"
        )
    assert ei.value.code == -1003 and not isinstance(ei.value, ExchangeTimeout)
    assert hmac_client._backoff_until - time.monotonic() > 30
    # REST and ws-fapi share the back-off: the REST client refuses locally too.
    with pytest.raises(ExchangeError, match="backing off"):
        await hmac_client.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="1.0", client_order_id="l-2")
    assert stub.methods() == ["order.place"]


async def test_rate_limits_feed_the_rest_windows(stub: Stub, hmac_client: BinanceFuturesClient) -> None:
    stub.rate_limits = [
        {
            "rateLimitType": "REQUEST_WEIGHT",
            "interval": "MINUTE",
            "intervalNum": 1,
            "limit": 2000,
            "count": 77,
        },
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50, "count": 49},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200, "count": 400},
    ]
    await hmac_client.ws_api.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="1.0", client_order_id="k")
    assert hmac_client._weight_1m.limit == 2000 and hmac_client._weight_1m.count >= 77
    assert hmac_client._orders_10s.limit == 50 and hmac_client._orders_10s.count == 49
    assert hmac_client._orders_1m.count == 400
    now = hmac_client._server_now_ms()
    assert hmac_client._orders_10s.wait_ms(now, 1, hmac_client.rate_headroom) > 0  # the next order waits


# ------------------------------------------------------------------ secrets


async def test_secrets_stay_out_of_logs_and_errors(
    stub: Stub, ed_client: BinanceFuturesClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    ws = await ed_client.start_ws_api()
    texts: list[str] = []
    # An error that echoes the key, a drop, a timeout, a revoked session.
    stub.plan["order.place"] = (400, -2015, f"Invalid API-key {API_KEY}, IP, or permissions for action.")
    stub.plan["order.cancel"] = "drop"
    for coro in (
        ws.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price="1.0", client_order_id="x-1"),
        ws.cancel_order("BTCUSDT", client_order_id="x-1"),
    ):
        with pytest.raises(ExchangeError) as ei:
            await coro
        texts += [str(ei.value), repr(ei.value)]
    signatures = [str(p["signature"]) for _, p in stub.received if "signature" in p]
    assert signatures  # the logon was signed
    blob = "\n".join([caplog.text, *texts, repr(ws), repr(ed_client)])
    assert API_KEY not in blob and API_SECRET not in blob
    for s in signatures:
        assert s not in blob
