"""ws-fapi, the WebSocket API at /ws-fapi/v1 (docs/binance-protocol.md, "WebSocket API"; Binance page
"WebSocket API General Info").

Requests are ``{"id", "method", "params"}`` text frames; answers are ``{"id", "status", "result"}`` or
``{"id", "status", "error": {"code", "msg"}}`` with ``rateLimits`` (the same counters as REST). A request
is authorized either by its own ``apiKey`` + ``timestamp`` + ``signature`` (HMAC-SHA256 hex, or base64
Ed25519 for the Ed25519 key, over the parameters sorted by name) or, after ``session.logon`` (Ed25519
only), by the connection. Trading goes through the same engine as REST, so a ws-fapi order produces the
same user-stream events. Order events still come only on the user data stream.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import web

from ._auth import ws_payload, ws_value
from ._engine import ApiError, missing
from ._handlers import Params, h_order_delete, h_order_get, place_order
from ._streams import Frame, pinger, read_loop, stop_tasks, writer

if TYPE_CHECKING:
    from ._app import BinanceSimulator

log = logging.getLogger(__name__)

WS_API_PATH = "/ws-fapi/v1"
HANDSHAKE_WEIGHT = 5  # docs/binance-protocol.md, "WebSocket API"


@dataclass(eq=False)
class WsApiConn:
    ws: web.WebSocketResponse
    transport: Any
    connected_since: int
    return_rate_limits: bool
    queue: asyncio.Queue[Frame] = field(default_factory=asyncio.Queue)
    last_pong: float = 0.0
    api_key: str | None = None  # bound by session.logon
    authorized_since: int | None = None


MethodFn = Callable[["BinanceSimulator", Params, WsApiConn], Any]


@dataclass(frozen=True)
class WsMethod:
    fn: MethodFn
    security: str  # NONE | USER_STREAM | SIGNED | LOGON
    weight: int
    orders: int = 0


def _session(sim: BinanceSimulator, conn: WsApiConn) -> dict[str, Any]:
    return {
        "apiKey": conn.api_key,
        "authorizedSince": conn.authorized_since,
        "connectedSince": conn.connected_since,
        "returnRateLimits": conn.return_rate_limits,
        "serverTime": sim.now_ms(),
    }


def m_logon(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    conn.api_key = p["apiKey"]
    conn.authorized_since = sim.now_ms()
    return _session(sim, conn)


def m_status(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    return _session(sim, conn)


def m_logout(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    conn.api_key = None
    conn.authorized_since = None
    return _session(sim, conn)


def m_place(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    return place_order(sim, p)


def m_modify(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    return sim.engine.modify(p)


def m_algo_place(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    return sim.algo.place(p)


def m_algo_cancel(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    return sim.algo.cancel(p)


async def m_cancel(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    return await h_order_delete(sim, p)


async def m_order_status(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    return await h_order_get(sim, p)


def m_uds_start(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    return {"listenKey": sim.streams.start_key()}


def m_uds_ping(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    return {"listenKey": sim.streams.keepalive(None)}


def m_uds_stop(sim: BinanceSimulator, p: Params, conn: WsApiConn) -> Any:
    sim.streams.close_key(None)
    return {}


METHODS: dict[str, WsMethod] = {
    "session.logon": WsMethod(m_logon, "LOGON", 2),
    "session.status": WsMethod(m_status, "NONE", 2),
    "session.logout": WsMethod(m_logout, "NONE", 2),
    "order.place": WsMethod(m_place, "SIGNED", 0, orders=1),
    "order.modify": WsMethod(m_modify, "SIGNED", 1, orders=1),
    "order.cancel": WsMethod(m_cancel, "SIGNED", 1),
    "order.status": WsMethod(m_order_status, "SIGNED", 1),
    "algoOrder.place": WsMethod(m_algo_place, "SIGNED", 0, orders=1),
    "algoOrder.cancel": WsMethod(m_algo_cancel, "SIGNED", 1),
    "userDataStream.start": WsMethod(m_uds_start, "USER_STREAM", 1),
    "userDataStream.ping": WsMethod(m_uds_ping, "USER_STREAM", 1),
    "userDataStream.stop": WsMethod(m_uds_stop, "USER_STREAM", 1),
}


class WsApi:
    def __init__(self, sim: BinanceSimulator) -> None:
        self.sim = sim
        self.conns: set[WsApiConn] = set()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sim = self.sim
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 20, timeout=1.0)
        await ws.prepare(request)
        return_rl = request.query.get("returnRateLimits", "true").lower() != "false"
        conn = WsApiConn(ws, request.transport, sim.now_ms(), return_rl)
        conn.last_pong = asyncio.get_running_loop().time()
        sim.rate_limiter.add_weight(HANDSHAKE_WEIGHT, sim.now_ms())
        self.conns.add(conn)

        async def on_text(text: str) -> None:
            await self._request(conn, text)

        tasks = (asyncio.create_task(writer(conn)), asyncio.create_task(pinger(sim, ws, conn)))
        try:
            await read_loop(ws, conn, on_text)
        finally:
            self.conns.discard(conn)
            conn.queue.put_nowait(None)
            await stop_tasks(*tasks)
        return ws

    async def close_all(self) -> None:
        for conn in list(self.conns):
            conn.queue.put_nowait(None)
            try:
                await conn.ws.close()
            except Exception:
                log.debug("closing a ws-fapi socket failed", exc_info=True)

    def drop_all(self) -> None:
        for conn in list(self.conns):
            conn.queue.put_nowait(None)
            if conn.transport is not None:
                conn.transport.abort()
            self.conns.discard(conn)

    def _send(self, conn: WsApiConn, body: dict[str, Any]) -> None:
        """Queued through the connection's writer: answers keep request order; faults.latency delays
        them (the request is already processed, as over REST)."""
        latency = self.sim.faults.latency
        due = asyncio.get_running_loop().time() + latency if latency else 0.0
        conn.queue.put_nowait((due, orjson.dumps(body)))

    def _answer(
        self, conn: WsApiConn, req_id: Any, status: int, body: Any, error: bool, orders: bool
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"id": req_id, "status": status, ("error" if error else "result"): body}
        if conn.return_rate_limits:
            out["rateLimits"] = self.sim.rate_limiter.ws_rate_limits(self.sim.now_ms(), orders)
        return out

    async def _request(self, conn: WsApiConn, text: str) -> None:
        sim = self.sim
        try:
            msg = orjson.loads(text)
            if not isinstance(msg, dict):
                raise ValueError("not an object")
        except (orjson.JSONDecodeError, ValueError):
            # the simulator's choice of code: Binance's text for a malformed frame is not documented
            self._send(
                conn, self._answer(conn, None, 400, {"code": -1000, "msg": "Invalid JSON."}, True, False)
            )
            return
        req_id = msg.get("id")
        name = msg.get("method")
        raw_params = msg.get("params") or {}
        entry = METHODS.get(name) if isinstance(name, str) else None
        if entry is None or not isinstance(raw_params, dict):
            body = {"code": -1000, "msg": f"Unknown method {name!r} or malformed params."}
            self._send(conn, self._answer(conn, req_id, 400, body, True, False))
            return
        assert isinstance(name, str)
        sim.ws_requests.append(name)
        limiter = sim.rate_limiter
        now = sim.now_ms()
        limiter.add_weight(entry.weight, now)
        orders = entry.orders > 0

        def fail(err: ApiError) -> None:
            if err.status == 429:
                limiter.note_429(now)
            self._send(conn, self._answer(conn, req_id, err.status, err.body(), True, orders))

        ban = limiter.ban_retry(now)
        if ban is not None:
            fail(
                ApiError(-1003, str(limiter.banned_body(limiter.banned_until - ban * 1000, ban)["msg"]), 418)
            )
            return
        if limiter.over_weight():
            fail(ApiError(-1003, str(limiter.weight_body()["msg"]), 429))
            return
        err_rule = sim.faults.take("WS", name, ("ws_error",))
        drop_rule = sim.faults.take("WS", name, ("ws_drop",))
        if err_rule is not None and not err_rule.process:
            self._send(conn, self._answer(conn, req_id, err_rule.status, err_rule.body, True, orders))
            return
        if drop_rule is not None and not drop_rule.process:
            self._abort(conn)
            return
        params: Params = {str(k): ws_value(v) for k, v in raw_params.items()}
        try:
            self._authorize(conn, entry, params)
            if entry.orders:
                limiter.count_orders(entry.orders, now)
            result = entry.fn(sim, params, conn)
            if inspect.isawaitable(result):
                result = await result
        except ApiError as err:
            if drop_rule is not None:
                self._abort(conn)
                return
            fail(err)
            return
        except Exception:  # bad input never crashes the venue
            log.exception("simulator ws-fapi handler failed for %s", name)
            body = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
            self._send(conn, self._answer(conn, req_id, 500, body, True, orders))
            return
        if drop_rule is not None:
            self._abort(conn)
            return
        if err_rule is not None:
            self._send(conn, self._answer(conn, req_id, err_rule.status, err_rule.body, True, orders))
            return
        self._send(conn, self._answer(conn, req_id, 200, result, False, orders))

    def _abort(self, conn: WsApiConn) -> None:
        conn.queue.put_nowait(None)
        if conn.transport is not None:
            conn.transport.abort()
        self.conns.discard(conn)

    def _authorize(self, conn: WsApiConn, entry: WsMethod, params: Params) -> None:
        sim = self.sim
        auth = sim.auth
        if entry.security == "NONE":
            return
        key = params.get("apiKey")
        if entry.security == "LOGON":
            if not key:
                raise missing("apiKey")
            if key == auth.api_key:
                # session.logon takes Ed25519 keys only (docs/binance-protocol.md, "WebSocket API")
                raise ApiError(-4056, "HMAC_SHA256 API key is not supported.")
            auth.check_ws_key(key)
            ts, recv_window = auth.parse_timing(params)
            auth.check_ed25519(ws_payload(params), params.get("signature"))
            auth.check_window(ts, recv_window, sim.now_ms())
            return
        if entry.security == "USER_STREAM":
            if key:
                auth.check_ws_key(key)
            elif conn.api_key is None:
                raise missing("apiKey")
            return
        if key or "signature" in params:  # an ad hoc signed request, logged on or not
            if not key:
                raise missing("apiKey")
            auth.check_ws_key(key)
            ts, recv_window = auth.parse_timing(params)
            if key == auth.ed25519_api_key:
                auth.check_ed25519(ws_payload(params), params.get("signature"))
            else:
                auth.check_hmac(ws_payload(params), params.get("signature"))
            auth.check_window(ts, recv_window, sim.now_ms())
            return
        if conn.api_key is None:
            raise missing("apiKey")
        ts, recv_window = auth.parse_timing(params)
        auth.check_window(ts, recv_window, sim.now_ms())
