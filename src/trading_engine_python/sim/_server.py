"""BinanceSimulator: one aiohttp app on loopback serving the USD-M REST API and its websockets.

Imports nothing of the engine (only stdlib, aiohttp, orjson): it speaks only the wire protocol, so any
Binance USD-M client works against it unchanged. Facts cited as [D:...]/[CL ...] come from
/work/shared/spec/binance-protocol.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import random
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import WSMsgType, web

from ._engine import ApiError, Engine, Order, missing
from ._faults import Faults
from ._fmt import ZERO, fixed, to_decimal

log = logging.getLogger(__name__)

RECV_WINDOW_DEFAULT = 5000
RECV_WINDOW_MAX = 60000
LISTEN_KEY_TTL = 3600.0  # 60 min; PUT extends by 60 min [D:user-data-streams]

Params = dict[str, str]
Handler = Callable[["BinanceSimulator", web.Request, Params], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    fn: Handler
    security: str  # NONE | USER_STREAM (key only) | SIGNED (TRADE/USER_DATA)
    weight: Callable[[Params], int]
    orders: int = 0  # counts on X-MBX-ORDER-COUNT-*


def _w(n: int) -> Callable[[Params], int]:
    return lambda _p: n


def _w_sym(with_symbol: int, without: int) -> Callable[[Params], int]:
    return lambda p: with_symbol if p.get("symbol") else without


def _w_depth(p: Params) -> int:
    limit = int(p.get("limit", "500")) if p.get("limit", "500").isdigit() else 500
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


@dataclass
class _Window:
    length_ms: int
    start: int = 0
    used: int = 0

    def current(self, now: int) -> int:
        start = now - now % self.length_ms
        if start != self.start:
            self.start = start
            self.used = 0
        return self.used

    def retry_after(self, now: int) -> int:
        return max(1, (self.start + self.length_ms - now + 999) // 1000)


@dataclass(eq=False)
class _UserConn:
    ws: web.WebSocketResponse
    key: str
    events: frozenset[str] | None
    combined: bool
    transport: Any
    queue: asyncio.Queue[tuple[float, bytes] | None] = field(default_factory=asyncio.Queue)
    active: bool = True
    last_pong: float = 0.0


@dataclass(eq=False)
class _PublicConn:
    ws: web.WebSocketResponse
    prefix: str  # "public" | "market"
    streams: set[str]
    combined: bool
    transport: Any
    queue: asyncio.Queue[tuple[float, bytes] | None] = field(default_factory=asyncio.Queue)


# Streams served per route prefix since the 2026 split
# [D:websocket-market-streams/Important-WebSocket-Change-Notice]
_PUBLIC_KINDS = ("bookTicker", "depth")
_MARKET_KINDS = ("markPrice", "aggTrade", "kline", "ticker")


class BinanceSimulator:
    """Simulated Binance USD-M futures venue. See sim/README.md for the control API and the protocol."""

    def __init__(
        self,
        *,
        api_key: str = "sim-key",
        api_secret: str = "sim-secret",
        seed: int = 0,
        symbols: tuple[str, ...] | list[str] = ("BTCUSDT", "ETHUSDT"),
        host: str = "127.0.0.1",
        port: int = 0,
        price_interval: float = 0.1,
        max_fill_qty: Any = None,
        auto_walk: bool = True,
    ) -> None:
        self.api_key = api_key
        self._secret = api_secret.encode()
        self.seed = seed
        self.host = host
        self.port = port
        self.price_interval = price_interval
        self.auto_walk = auto_walk
        self.clock_offset_ms = 0
        self.faults = Faults()
        self.events: list[dict[str, Any]] = []
        self.limits = {"weight_1m": 2400, "orders_10s": 300, "orders_1m": 1200, "ban_after_429s": 50}
        self.ban_seconds = 120.0  # "2 minutes to 3 days" [D:general-info]
        self.listen_key_ttl = LISTEN_KEY_TTL
        self.ws_ping_interval = 5.0
        self.ws_pong_timeout = 600.0  # no pong within 10 min = disconnect [D:websocket-market-streams]
        self.requests: list[tuple[str, str]] = []  # (method, path) of every REST request, for assertions
        self._engine = Engine(symbols, seed, self.now_ms, self._on_event, self._on_price)
        self.max_fill_qty = max_fill_qty
        self._key_rng = random.Random(seed + 104729)
        self._qty_rng = random.Random(seed + 15485863)
        self._listen_keys: dict[str, float] = {}  # key -> monotonic expiry
        self._user_conns: set[_UserConn] = set()
        self._public_conns: set[_PublicConn] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._countdowns: dict[str, asyncio.TimerHandle] = {}
        self._weight = _Window(60_000)
        self._orders_10s = _Window(10_000)
        self._orders_1m = _Window(60_000)
        self._rejected = _Window(60_000)  # 429s answered in the current minute
        self._banned_until = 0
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._walker: asyncio.Task[None] | None = None
        self._janitor: asyncio.Task[None] | None = None
        self._started = False

    def __repr__(self) -> str:  # no key/secret/listenKey here on purpose
        return (
            f"BinanceSimulator(port={self.port}, symbols={self._engine.symbols!r}, started={self._started})"
        )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        app = web.Application(client_max_size=1 << 20)
        app.router.add_route("*", "/fapi/{tail:.*}", self._rest)
        app.router.add_get("/private/ws/{key}", self._ws_private)
        app.router.add_get("/private/ws", self._ws_private)
        app.router.add_get("/private/stream", self._ws_private_combined)
        app.router.add_get("/public/ws", self._ws_public)
        app.router.add_get("/market/ws", self._ws_public)
        app.router.add_get("/public/ws/{streams:.*}", self._ws_public)
        app.router.add_get("/market/ws/{streams:.*}", self._ws_public)
        app.router.add_get("/public/stream", self._ws_public)
        app.router.add_get("/market/stream", self._ws_public)
        app.router.add_get("/ws/{streams:.*}", self._ws_public)  # legacy: public data only [CL 2026-04-02]
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, self.host, self.port, reuse_address=True)
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        self._started = True
        self._walker = asyncio.create_task(self._walk_loop())
        self._janitor = asyncio.create_task(self._janitor_loop())

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        for t in (self._walker, self._janitor):
            if t is not None:
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        for handle in self._countdowns.values():
            handle.cancel()
        self._countdowns.clear()
        for conn in list(self._user_conns):
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await conn.ws.close()
        for pconn in list(self._public_conns):
            with contextlib.suppress(Exception):
                await pconn.ws.close()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> BinanceSimulator:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    # ------------------------------------------------------------------ control API
    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def max_fill_qty(self) -> Decimal | None:
        return self._engine.max_fill_qty

    @max_fill_qty.setter
    def max_fill_qty(self, value: Any) -> None:
        self._engine.max_fill_qty = None if value is None else to_decimal(value)

    @property
    def taker_liquidity(self) -> Decimal | None:
        """Total quantity one taker order may take at entry (None = unlimited); the rest of a MARKET
        order then EXPIRES with er "9", an IOC with er "2", a FOK is rejected -5021."""
        return self._engine.taker_liquidity

    @taker_liquidity.setter
    def taker_liquidity(self, value: Any) -> None:
        self._engine.taker_liquidity = None if value is None else to_decimal(value)

    def price(self, symbol: str) -> Decimal:
        self._engine.spec(symbol)
        return self._engine.mark(symbol)

    def bid_ask(self, symbol: str) -> tuple[Decimal, Decimal]:
        return self._engine.bid(symbol), self._engine.ask(symbol)

    def position(self, symbol: str) -> Decimal:
        return self._engine.positions[symbol].amount

    @property
    def wallet_balance(self) -> Decimal:
        return self._engine.wallet

    def set_price(self, symbol: str, price: Any) -> None:
        """Move the price now; crossed resting limits fill (events are emitted synchronously)."""
        if symbol not in self._engine.specs:
            raise KeyError(symbol)
        self._engine.set_price(symbol, price)

    def step(self) -> None:
        self._engine.step()
        self._engine.expire_gtd()

    def orders_by_client_id(self, client_id: str) -> dict[str, Any] | None:
        order = self._engine.by_client_id(client_id)
        return None if order is None else self._engine.order_json(order, "get")

    def order_by_id(self, order_id: int) -> dict[str, Any] | None:
        order = self._engine.orders.get(order_id)
        return None if order is None else self._engine.order_json(order, "get")

    def open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return [self._engine.order_json(o, "get") for o in self._engine.open_orders(symbol)]

    def all_orders(self) -> list[dict[str, Any]]:
        return [self._engine.order_json(o, "get") for o in self._engine.orders.values()]

    def events_of(self, client_id: str) -> list[dict[str, Any]]:
        """ORDER_TRADE_UPDATE `o` objects of one clientOrderId, in emission order."""
        return [
            e["o"] for e in self.events if e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["c"] == client_id
        ]

    @property
    def listen_keys(self) -> list[str]:
        return list(self._listen_keys)

    @property
    def user_stream_count(self) -> int:
        return sum(1 for c in self._user_conns if not c.ws.closed)

    async def drop_user_streams(self) -> None:
        """Close every user-stream websocket abruptly (TCP abort, no close frame)."""
        for conn in list(self._user_conns):
            conn.active = False
            conn.queue.put_nowait(None)
            if conn.transport is not None:
                conn.transport.abort()
            self._user_conns.discard(conn)
        await asyncio.sleep(0)

    async def drop_public_streams(self) -> None:
        for conn in list(self._public_conns):
            if conn.transport is not None:
                conn.transport.abort()
            self._public_conns.discard(conn)
        await asyncio.sleep(0)

    async def expire_listen_key(self, key: str | None = None) -> None:
        """Send listenKeyExpired and invalidate ``key`` (every key when None). The sockets stay open but
        get nothing more [D:…/Event-User-Data-Stream-Expired]."""
        keys = list(self._listen_keys) if key is None else [key]
        for k in keys:
            self._expire_key(k)
        await asyncio.sleep(0)

    # ------------------------------------------------------------------ events out
    def _on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self.faults.drop_events_left > 0:
            self.faults.drop_events_left -= 1
            return
        self._broadcast(event)

    def _broadcast(self, event: dict[str, Any], only_key: str | None = None) -> None:
        data = orjson.dumps(event)
        etype = event.get("e")
        due = asyncio.get_running_loop().time() + self.faults.event_delay if self.faults.event_delay else 0.0
        copies = 2 if self.faults.duplicate_events else 1
        for conn in self._user_conns:
            if not conn.active or (only_key is not None and conn.key != only_key):
                continue
            if conn.events is not None and etype not in conn.events and etype != "listenKeyExpired":
                continue
            payload = data
            if conn.combined:
                payload = orjson.dumps({"stream": conn.key, "data": event})
            for _ in range(copies):
                conn.queue.put_nowait((due, payload))

    def _on_price(self, symbol: str) -> None:
        if not self._public_conns:
            return
        eng = self._engine
        spec = eng.specs[symbol]
        now = self.now_ms()
        book = eng.books[symbol]
        low = symbol.lower()
        frames: dict[str, dict[str, Any]] = {}
        bq = Decimal(self._qty_rng.randint(1, 5000)) * spec.step
        aq = Decimal(self._qty_rng.randint(1, 5000)) * spec.step
        frames["bookTicker"] = {
            "e": "bookTicker",
            "u": book.update_id,
            "E": now + 1,
            "T": now,
            "s": symbol,
            "b": fixed(eng.bid(symbol), spec.price_precision),
            "B": fixed(bq, spec.qty_precision),
            "a": fixed(eng.ask(symbol), spec.price_precision),
            "A": fixed(aq, spec.qty_precision),
        }
        mp = fixed(book.price, 8)
        frames["markPrice"] = {
            "e": "markPriceUpdate",
            "E": now,
            "s": symbol,
            "p": mp,
            "ap": mp,
            "P": mp,
            "i": mp,
            "r": "0.00010000",
            "T": _next_funding(now),
        }
        for conn in list(self._public_conns):
            if conn.ws.closed:
                self._public_conns.discard(conn)
                continue
            allowed = _PUBLIC_KINDS if conn.prefix == "public" else _MARKET_KINDS
            for name in conn.streams:
                if name == "!bookTicker":  # all-market book ticker stream
                    sym, kind = low, "bookTicker"
                else:
                    sym, _, rest = name.partition("@")
                    kind = rest.split("@", 1)[0]
                if sym != low or kind not in frames or kind not in allowed:
                    continue
                data = frames[kind]
                payload = orjson.dumps({"stream": name, "data": data} if conn.combined else data)
                conn.queue.put_nowait((0.0, payload))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ background loops
    async def _walk_loop(self) -> None:
        while True:
            await asyncio.sleep(self.price_interval)
            if self.auto_walk:
                try:
                    self.step()
                except Exception:  # never let the walker die silently mid-test
                    log.exception("price walk step failed")

    async def _janitor_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(0.5)
            now = loop.time()
            for key, expiry in list(self._listen_keys.items()):
                if now >= expiry:
                    self._expire_key(key)
            try:
                self._engine.expire_gtd()  # GTD orders expire with er "6" even while prices are frozen
            except Exception:
                log.exception("GTD expiry failed")

    def _expire_key(self, key: str) -> None:
        if key not in self._listen_keys:
            return
        del self._listen_keys[key]
        event = {"e": "listenKeyExpired", "E": self.now_ms(), "listenKey": key}
        self.events.append(event)
        self._broadcast(event, only_key=key)
        for conn in self._user_conns:
            if conn.key == key:
                conn.active = False

    # ------------------------------------------------------------------ REST plumbing
    def _route(self, method: str, path: str) -> Route | None:
        return _ROUTES.get((method, path))

    def _headers(self, route: Route | None) -> dict[str, str]:
        now = self.now_ms()
        headers = {"X-MBX-USED-WEIGHT-1M": str(self._weight.current(now))}
        if route is not None and route.orders:
            headers["X-MBX-ORDER-COUNT-10S"] = str(self._orders_10s.current(now))
            headers["X-MBX-ORDER-COUNT-1M"] = str(self._orders_1m.current(now))
        return headers

    def _reply(
        self, status: int, body: Any, route: Route | None, extra: dict[str, str] | None = None
    ) -> web.Response:
        headers = self._headers(route)
        if extra:
            headers.update(extra)
        if isinstance(body, str):  # e.g. a bare "Service Unavailable." page
            return web.Response(status=status, text=body, content_type="text/plain", headers=headers)
        return web.Response(
            status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
        )

    def _banned_body(self, now: int, retry: int) -> dict[str, Any]:
        return {
            "code": -1003,
            "msg": f"Way too many requests; IP(127.0.0.1) banned until {now + retry * 1000}. "
            "Please use the websocket for live updates to avoid bans.",
        }

    def _weight_body(self) -> dict[str, Any]:
        return {
            "code": -1003,
            "msg": f"Too many requests; current limit of IP(127.0.0.1) request weight per "
            f"minute is {self.limits['weight_1m']}. Please use WebSocket Streams for live updates to avoid "
            "polling the API.",
        }

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        method = request.method
        path = request.path
        self.requests.append((method, path))
        raw_query = request.rel_url.raw_query_string
        raw_body = (await request.read()).decode("utf-8", "replace")
        route = self._route(method, path)
        resp: web.StreamResponse
        try:
            params = _parse_params(raw_query, raw_body)
        except ApiError as err:
            return await self._finish(request, self._reply(err.status, err.body(), route))
        if route is None:
            return await self._finish(
                request,
                self._reply(404, {"code": -5000, "msg": f"Path {path}, Method {method} is invalid"}, None),
            )
        now = self.now_ms()
        try:
            weight = route.weight(params)
        except Exception:
            weight = 1
        self._weight.current(now)
        self._weight.used += weight

        rule = self.faults.take(method, path, ("rate_limit",))
        if rule is not None:
            retry = rule.retry_after if rule.retry_after is not None else self._weight.retry_after(now)
            body = self._banned_body(now, retry) if rule.status == 418 else self._weight_body()
            return await self._finish(
                request, self._reply(rule.status, body, route, {"Retry-After": str(retry)})
            )
        if now < self._banned_until:
            retry = max(1, (self._banned_until - now + 999) // 1000)
            body = self._banned_body(self._banned_until - retry * 1000, retry)
            return await self._finish(request, self._reply(418, body, route, {"Retry-After": str(retry)}))
        if self._weight.used > self.limits["weight_1m"]:
            retry = self._weight.retry_after(now)
            self._note_429(now)
            return await self._finish(
                request, self._reply(429, self._weight_body(), route, {"Retry-After": str(retry)})
            )

        err_rule = self.faults.take(method, path, ("http_error",))
        if err_rule is not None and not err_rule.process:
            return await self._finish(request, self._reply(err_rule.status, err_rule.body, route))

        try:
            self._authenticate(request, route, raw_query, raw_body, params)
            if route.orders:
                self._count_orders(route.orders, now)
            reject = self.faults.take(method, path, ("reject_cancel", "reject_order"))
            if reject is not None:
                body = reject.body if isinstance(reject.body, dict) else {}
                raise ApiError(int(str(body.get("code", -1000))), str(body.get("msg", "")), reject.status)
            result = await route.fn(self, request, params)
            status = 200
        except ApiError as err:
            result = err.body()
            status = err.status
        except Exception:  # bad input never crashes the venue
            log.exception("simulator handler failed for %s %s", method, path)
            result = {"code": -1000, "msg": "An unknown error occurred while processing the request."}
            status = 500
        if status == 429:
            self._note_429(now)

        lost = self.faults.take(method, path, ("lose_reply",))
        if err_rule is not None:  # processed, then the "unknown outcome" 503
            resp = self._reply(err_rule.status, err_rule.body, route)
        else:
            resp = self._reply(status, result, route)
        if lost is not None:
            if self.faults.latency:
                await asyncio.sleep(self.faults.latency)
            transport = request.transport
            if transport is not None:
                transport.abort()
            return resp  # written into an aborted transport: aiohttp drops it silently
        return await self._finish(request, resp)

    async def _finish(self, request: web.Request, resp: web.StreamResponse) -> web.StreamResponse:
        if self.faults.latency:
            await asyncio.sleep(self.faults.latency)
        return resp

    def _note_429(self, now: int) -> None:
        """Failing to back off after 429s earns an automated IP ban, HTTP 418 [D:general-info]."""
        if self._rejected.current(now) >= self.limits["ban_after_429s"]:
            self._banned_until = now + int(self.ban_seconds * 1000)
            self._rejected.used = 0
        else:
            self._rejected.used += 1

    def _count_orders(self, n: int, now: int) -> None:
        c10 = self._orders_10s.current(now)
        c1m = self._orders_1m.current(now)
        if c10 + n > self.limits["orders_10s"]:
            raise ApiError(
                -1015,
                f"Too many new orders; current limit is {self.limits['orders_10s']} orders per TEN_SECONDS.",
                429,
            )
        if c1m + n > self.limits["orders_1m"]:
            raise ApiError(
                -1015,
                f"Too many new orders; current limit is {self.limits['orders_1m']} orders per MINUTE.",
                429,
            )
        self._orders_10s.used += n
        self._orders_1m.used += n

    def _authenticate(
        self, request: web.Request, route: Route, raw_query: str, raw_body: str, params: Params
    ) -> None:
        if route.security == "NONE":
            return
        key = request.headers.get("X-MBX-APIKEY")
        if not key or not all(c.isalnum() or c in "-_" for c in key) or len(key) > 128:
            raise ApiError(-2014, "API-key format invalid.", 401)
        if not hmac.compare_digest(key, self.api_key):
            raise ApiError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if route.security != "SIGNED":
            return
        ts_raw = params.get("timestamp")
        if not ts_raw:
            raise missing("timestamp")
        if not ts_raw.isdigit():
            raise ApiError(
                -1100, "Illegal characters found in parameter 'timestamp'; legal range is '^[0-9]{1,20}$'."
            )
        rw_raw = params.get("recvWindow")
        recv_window = RECV_WINDOW_DEFAULT
        if rw_raw:
            if not rw_raw.isdigit():
                raise ApiError(
                    -1100,
                    "Illegal characters found in parameter 'recvWindow'; legal range is '^[0-9]{1,20}$'.",
                )
            recv_window = int(rw_raw)
            if recv_window > RECV_WINDOW_MAX:
                raise ApiError(-1131, "recvWindow must be less than 60000")
        sig = params.get("signature")
        if not sig:
            raise missing("signature")
        payload = _strip_signature(raw_query) + _strip_signature(raw_body)
        expected = hmac.new(self._secret, payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, sig.lower()):
            raise ApiError(-1022, "Signature for this request is not valid.")
        ts = int(ts_raw)
        server_time = self.now_ms()
        # [D:general-info] timestamp < serverTime + 1000 && serverTime - timestamp <= recvWindow
        if ts >= server_time + 1000:
            raise ApiError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
        if server_time - ts > recv_window:
            raise ApiError(-1021, "Timestamp for this request is outside of the recvWindow.")

    # ------------------------------------------------------------------ listen keys
    def _new_listen_key(self) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self._key_rng.choice(alphabet) for _ in range(64))

    def listen_key_valid(self, key: str) -> bool:
        return key in self._listen_keys

    # ------------------------------------------------------------------ websockets
    async def _ws_private(self, request: web.Request) -> web.StreamResponse:
        return await self._user_stream(request, combined=False)

    async def _ws_private_combined(self, request: web.Request) -> web.StreamResponse:
        return await self._user_stream(request, combined=True)

    async def _user_stream(self, request: web.Request, combined: bool) -> web.StreamResponse:
        key = request.match_info.get("key") or request.query.get("listenKey") or ""
        if not self.listen_key_valid(key):
            # refused at the handshake; a client must POST /fapi/v1/listenKey again
            return web.json_response({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
        raw_events = request.query.get("events")
        events = frozenset(e for e in raw_events.split("/") if e) if raw_events else None
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 16, timeout=1.0)
        await ws.prepare(request)
        conn = _UserConn(ws, key, events, combined, request.transport)
        conn.last_pong = asyncio.get_running_loop().time()
        self._user_conns.add(conn)
        writer = asyncio.create_task(self._writer(conn))
        pinger = asyncio.create_task(self._pinger(ws, conn))
        try:
            await self._read_loop(ws, conn)
        finally:
            self._user_conns.discard(conn)
            conn.queue.put_nowait(None)
            pinger.cancel()
            writer.cancel()
            for t in (pinger, writer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        return ws

    async def _read_loop(
        self,
        ws: web.WebSocketResponse,
        conn: Any = None,
        on_text: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        loop = asyncio.get_running_loop()
        async for msg in ws:
            if msg.type == WSMsgType.PING:
                await ws.pong(msg.data)
            elif msg.type == WSMsgType.PONG:
                if conn is not None:
                    conn.last_pong = loop.time()
            elif msg.type == WSMsgType.TEXT and on_text is not None:
                await on_text(msg.data)
            elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                break

    async def _writer(self, conn: _UserConn | _PublicConn) -> None:
        """The only sender of data frames on a socket: keeps frames in order, applies event_delay."""
        loop = asyncio.get_running_loop()
        while True:
            item = await conn.queue.get()
            if item is None:
                return
            due, payload = item
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if conn.ws.closed:
                return
            try:
                await conn.ws.send_str(payload.decode())
            except Exception:
                return

    async def _pinger(self, ws: web.WebSocketResponse, conn: Any) -> None:
        loop = asyncio.get_running_loop()
        while not ws.closed:
            await asyncio.sleep(self.ws_ping_interval)
            if ws.closed:
                return
            if conn is not None and loop.time() - conn.last_pong > self.ws_pong_timeout:
                await ws.close()
                return
            try:
                await ws.ping(b"")
            except Exception:
                return

    async def _ws_public(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        prefix = "market" if path.startswith("/market/") else "public"
        if path.endswith("/stream"):
            combined = True
            streams = {s for s in request.query.get("streams", "").split("/") if s}
        else:
            combined = False
            streams = {s for s in request.match_info.get("streams", "").split("/") if s}
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 16, timeout=1.0)
        await ws.prepare(request)
        conn = _PublicConn(ws, prefix, {_norm_stream(s) for s in streams}, combined, request.transport)
        self._public_conns.add(conn)

        def reply(obj: dict[str, Any]) -> None:
            conn.queue.put_nowait((0.0, orjson.dumps(obj)))  # via the writer: keeps frame order

        async def on_text(text: str) -> None:
            # live SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS [D:websocket-market-streams]
            try:
                msg = orjson.loads(text)
                method = msg.get("method")
                names = [_norm_stream(str(s)) for s in msg.get("params", []) or []]
                req_id = msg.get("id")
            except Exception:
                reply({"code": 2, "msg": "Invalid request"})
                return
            if method == "SUBSCRIBE":
                conn.streams.update(names)
                reply({"result": None, "id": req_id})
            elif method == "UNSUBSCRIBE":
                conn.streams.difference_update(names)
                reply({"result": None, "id": req_id})
            elif method == "LIST_SUBSCRIPTIONS":
                reply({"result": sorted(conn.streams), "id": req_id})
            else:
                reply({"code": 2, "msg": "Invalid request", "id": req_id})

        pinger = asyncio.create_task(self._pinger(ws, None))
        writer = asyncio.create_task(self._writer(conn))
        try:
            await self._read_loop(ws, None, on_text)
        finally:
            self._public_conns.discard(conn)
            conn.queue.put_nowait(None)
            pinger.cancel()
            for t in (pinger, writer):
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t
        return ws

    # ------------------------------------------------------------------ helpers for handlers
    def _cancel_countdown(self, symbol: str) -> None:
        handle = self._countdowns.pop(symbol, None)
        if handle is not None:
            handle.cancel()

    def _countdown_fire(self, symbol: str) -> None:
        self._countdowns.pop(symbol, None)
        self._engine.cancel_all(symbol)


def _next_funding(now: int) -> int:
    period = 8 * 3600 * 1000
    return now - now % period + period


def _norm_stream(name: str) -> str:
    if name.startswith("!"):
        return name
    sym, sep, kind = name.partition("@")
    return f"{sym.lower()}{sep}{kind}"


def _strip_signature(raw: str) -> str:
    """totalParams without the signature pair, exactly as sent otherwise [D:general-info SIGNED]."""
    if "signature=" not in raw:
        return raw
    parts = [p for p in raw.split("&") if not p.startswith("signature=")]
    return "&".join(parts)


def _parse_params(raw_query: str, raw_body: str) -> Params:
    out: Params = {}
    for raw in (raw_query, raw_body):
        if not raw:
            continue
        for k, v in parse_qsl(raw, keep_blank_values=True):
            if k in out:
                raise ApiError(-1101, "Duplicate values for a parameter detected.")
            out[k] = v
    return out


# ====================================================================== endpoint handlers
def _engine(sim: BinanceSimulator) -> Engine:
    return sim._engine


def _symbol(p: Params, required: bool = True) -> str | None:
    sym = p.get("symbol")
    if not sym:
        if required:
            raise missing("symbol")
        return None
    return sym


async def h_ping(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    return {}


async def h_time(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    return {"serverTime": sim.now_ms()}


async def h_exchange_info(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    eng = _engine(sim)
    return {
        "timezone": "UTC",
        "serverTime": sim.now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": sim.limits["weight_1m"],
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": sim.limits["orders_1m"],
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": sim.limits["orders_10s"],
            },
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [eng.specs[s].exchange_info() for s in eng.symbols],
    }


def _symbols_for(sim: BinanceSimulator, p: Params) -> tuple[list[str], bool]:
    eng = _engine(sim)
    sym = p.get("symbol")
    if sym:
        eng.spec(sym)
        return [sym], True
    return list(eng.symbols), False


async def h_ticker_price(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    eng = _engine(sim)
    syms, single = _symbols_for(sim, p)
    now = sim.now_ms()
    out = [
        {"symbol": s, "price": fixed(eng.mark(s), eng.specs[s].price_precision), "time": now} for s in syms
    ]
    return out[0] if single else out


async def h_book_ticker(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    eng = _engine(sim)
    syms, single = _symbols_for(sim, p)
    now = sim.now_ms()
    out = []
    for s in syms:
        spec = eng.specs[s]
        out.append(
            {
                "symbol": s,
                "bidPrice": fixed(eng.bid(s), spec.price_precision),
                "bidQty": fixed(Decimal(7) * spec.step * 100, spec.qty_precision),
                "askPrice": fixed(eng.ask(s), spec.price_precision),
                "askQty": fixed(Decimal(9) * spec.step * 100, spec.qty_precision),
                "time": now,
                "lastUpdateId": eng.books[s].update_id,
            }
        )
    return out[0] if single else out


async def h_ticker_24hr(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    eng = _engine(sim)
    syms, single = _symbols_for(sim, p)
    now = sim.now_ms()
    out = []
    for s in syms:
        spec = eng.specs[s]
        pp = spec.price_precision
        b = eng.books[s]
        change = b.price - b.open_price
        pct = (change / b.open_price * 100) if b.open_price else ZERO
        wavg = b.quote_volume / b.volume if b.volume else b.price
        out.append(
            {
                "symbol": s,
                "priceChange": fixed(change, pp),
                "priceChangePercent": fixed(pct, 3),
                "weightedAvgPrice": fixed(wavg, pp),
                "lastPrice": fixed(b.price, pp),
                "lastQty": fixed(b.last_qty, spec.qty_precision),
                "openPrice": fixed(b.open_price, pp),
                "highPrice": fixed(b.high, pp),
                "lowPrice": fixed(b.low, pp),
                "volume": fixed(b.volume, spec.qty_precision),
                "quoteVolume": fixed(b.quote_volume, 2),
                "openTime": now - 86_400_000,
                "closeTime": now,
                "firstId": 1,
                "lastId": b.trades,
                "count": b.trades,
            }
        )
    return out[0] if single else out


async def h_depth(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    eng = _engine(sim)
    sym = _symbol(p)
    assert sym is not None
    spec = eng.spec(sym)
    limit_raw = p.get("limit", "500")
    if limit_raw not in ("5", "10", "20", "50", "100", "500", "1000"):
        raise ApiError(-4021, f"'{limit_raw}' is not valid depth limit.")
    limit = int(limit_raw)
    rng = random.Random(eng.books[sym].update_id * 31 + sim.seed)
    bids = []
    asks = []
    for i in range(limit):
        bids.append(
            [
                fixed(eng.bid(sym) - spec.tick * i, spec.price_precision),
                fixed(Decimal(rng.randint(1, 3000)) * spec.step, spec.qty_precision),
            ]
        )
        asks.append(
            [
                fixed(eng.ask(sym) + spec.tick * i, spec.price_precision),
                fixed(Decimal(rng.randint(1, 3000)) * spec.step, spec.qty_precision),
            ]
        )
    now = sim.now_ms()
    return {"lastUpdateId": eng.books[sym].update_id, "E": now, "T": now, "bids": bids, "asks": asks}


async def h_premium_index(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    eng = _engine(sim)
    syms, single = _symbols_for(sim, p)
    now = sim.now_ms()
    out = [
        {
            "symbol": s,
            "markPrice": fixed(eng.mark(s), 8),
            "indexPrice": fixed(eng.mark(s), 8),
            "estimatedSettlePrice": fixed(eng.mark(s), 8),
            "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000",
            "nextFundingTime": _next_funding(now),
            "time": now,
        }
        for s in syms
    ]
    return out[0] if single else out


# --- trading
async def h_order_post(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    resp_type = p.get("newOrderRespType", "ACK") or "ACK"
    if resp_type not in ("ACK", "RESULT"):
        raise missing("newOrderRespType")
    eng = _engine(sim)
    ack, order = eng.place(p)
    return ack if resp_type == "ACK" else eng.order_json(order, "post")


async def h_order_put(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    return _engine(sim).modify(p)


async def h_order_delete(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    return _engine(sim).cancel(sym, p.get("orderId"), p.get("origClientOrderId"))


def _find_or_2013(sim: BinanceSimulator, p: Params, open_only: bool) -> Order:
    eng = _engine(sim)
    sym = _symbol(p)
    assert sym is not None
    eng.spec(sym)
    order = eng.find(sym, p.get("orderId"), p.get("origClientOrderId"))
    if order is None or (open_only and not order.is_open):
        raise ApiError(-2013, "Order does not exist.")
    return order


async def h_order_get(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    return _engine(sim).order_json(_find_or_2013(sim, p, False), "get")


async def h_open_order_get(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    return _engine(sim).order_json(_find_or_2013(sim, p, True), "get")


async def h_open_orders(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    eng = _engine(sim)
    sym = _symbol(p, required=False)
    if sym:
        eng.spec(sym)
    return [eng.order_json(o, "get") for o in eng.open_orders(sym)]


async def h_all_orders(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    eng = _engine(sim)
    sym = _symbol(p)
    assert sym is not None
    eng.spec(sym)
    orders = [o for o in eng.orders.values() if o.symbol == sym]
    if p.get("orderId", "").isdigit():
        orders = [o for o in orders if o.order_id >= int(p["orderId"])]
    if p.get("startTime", "").isdigit():
        orders = [o for o in orders if o.time >= int(p["startTime"])]
    if p.get("endTime", "").isdigit():
        orders = [o for o in orders if o.time <= int(p["endTime"])]
    limit = int(p["limit"]) if p.get("limit", "").isdigit() else 500
    orders.sort(key=lambda o: o.order_id)
    return [eng.order_json(o, "get") for o in orders[: min(limit, 1000)]]


async def h_cancel_all(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).cancel_all(sym)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def _item_params(item: Any) -> Params:
    if not isinstance(item, dict):
        raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
    out: Params = {}
    for k, v in item.items():
        if isinstance(v, bool):
            out[str(k)] = "true" if v else "false"
        elif isinstance(v, float):
            out[str(k)] = repr(v)
        else:
            out[str(k)] = str(v)
    return out


async def h_batch_post(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    raw = p.get("batchOrders")
    if not raw:
        raise missing("batchOrders")
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
    if not isinstance(items, list) or not items:
        raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
    if len(items) > 5:  # ≤5 orders per batch [D:trade/rest-api/Place-Multiple-Orders]
        raise ApiError(-4082, "Invalid number of batch place orders.")
    eng = _engine(sim)
    out: list[Any] = []
    for item in items:
        try:
            ip = _item_params(item)
            resp_type = ip.get("newOrderRespType", "ACK")
            ack, order = eng.place(ip)
            out.append(ack if resp_type != "RESULT" else eng.order_json(order, "post"))
        except ApiError as err:
            out.append(err.body())
    return out


async def h_batch_put(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    raw = p.get("batchOrders")
    if not raw:
        raise missing("batchOrders")
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.") from None
    if not isinstance(items, list) or not items or len(items) > 5:
        raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
    eng = _engine(sim)
    out: list[Any] = []
    for item in items:
        try:
            out.append(eng.modify(_item_params(item)))
        except ApiError as err:
            out.append(err.body())
    return out


async def h_batch_delete(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    eng = _engine(sim)
    eng.spec(sym)
    ids_raw = p.get("orderIdList")
    cids_raw = p.get("origClientOrderIdList")
    if not ids_raw and not cids_raw:
        raise ApiError(
            -1102, "Param 'origClientOrderIdList' or 'orderIdList' must be sent, but both were empty/null!"
        )
    try:
        values = orjson.loads(ids_raw or cids_raw or "[]")
    except orjson.JSONDecodeError:
        raise ApiError(-1130, "Data sent for parameter 'orderIdList' is not valid.") from None
    if not isinstance(values, list) or len(values) > 10:  # ≤10 ids [spec §4]
        raise ApiError(-1130, "Data sent for parameter 'orderIdList' is not valid.")
    out: list[Any] = []
    for v in values:
        try:
            if ids_raw:
                out.append(eng.cancel(sym, str(v), None))
            else:
                out.append(eng.cancel(sym, None, str(v)))
        except ApiError as err:
            out.append(err.body())
    return out


async def h_countdown(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    """Dead-man switch: cancel all open orders of the symbol after countdownTime ms (0 = off)."""
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).spec(sym)
    raw = p.get("countdownTime", "")
    if not raw.isdigit():
        raise missing("countdownTime")
    ms = int(raw)
    sim._cancel_countdown(sym)
    if ms > 0:
        sim._countdowns[sym] = asyncio.get_running_loop().call_later(ms / 1000, sim._countdown_fire, sym)
    return {"symbol": sym, "countdownTime": raw}


async def h_user_trades(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    eng = _engine(sim)
    sym = _symbol(p)
    assert sym is not None
    spec = eng.spec(sym)
    trades = [t for t in eng.trades if t.symbol == sym]
    if p.get("orderId", "").isdigit():
        trades = [t for t in trades if t.order_id == int(p["orderId"])]
    limit = int(p["limit"]) if p.get("limit", "").isdigit() else 500
    return [
        {
            "symbol": t.symbol,
            "id": t.trade_id,
            "orderId": t.order_id,
            "side": t.side,
            "price": fixed(t.price, spec.price_precision),
            "qty": fixed(t.qty, spec.qty_precision),
            "realizedPnl": fixed(t.realized, 8),
            "quoteQty": fixed(t.quote_qty, 5),
            "commission": fixed(t.commission, 8),
            "commissionAsset": "USDT",
            "time": t.time,
            "positionSide": "BOTH",
            "buyer": t.side == "BUY",
            "maker": t.maker,
        }
        for t in trades[-limit:]
    ]


# --- listen key (USER_STREAM: API key, no signature)
async def h_listen_key_post(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    loop = asyncio.get_running_loop()
    # POST with an active key returns it and extends it [D:user-data-streams]
    for key in sim._listen_keys:
        sim._listen_keys[key] = loop.time() + sim.listen_key_ttl
        return {"listenKey": key}
    key = sim._new_listen_key()
    sim._listen_keys[key] = loop.time() + sim.listen_key_ttl
    return {"listenKey": key}


async def h_listen_key_put(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    loop = asyncio.get_running_loop()
    key = p.get("listenKey")
    if key is None:
        key = next(iter(sim._listen_keys), None)
    if key is None or key not in sim._listen_keys:
        raise ApiError(-1125, "This listenKey does not exist.")
    sim._listen_keys[key] = loop.time() + sim.listen_key_ttl
    return {"listenKey": key}  # PUT returns the key since 2024-04-25 [CL 2024-04-19]


async def h_listen_key_delete(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    key = p.get("listenKey") or next(iter(sim._listen_keys), None)
    if key is None or key not in sim._listen_keys:
        raise ApiError(-1125, "This listenKey does not exist.")
    del sim._listen_keys[key]
    for conn in list(sim._user_conns):
        if conn.key == key:
            conn.active = False
            conn.queue.put_nowait(None)
            sim._spawn(conn.ws.close())
    return {}


# --- account
def _balance_fields(sim: BinanceSimulator) -> dict[str, str]:
    eng = _engine(sim)
    wallet = eng.wallet
    up = eng._unrealized()
    avail = eng._available()
    return {
        "wallet": fixed(wallet, 8),
        "up": fixed(up, 8),
        "avail": fixed(avail, 8),
        "margin": fixed(wallet + up, 8),
    }


async def h_balance(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    b = _balance_fields(sim)
    return [
        {
            "accountAlias": "SimAcct",
            "asset": "USDT",
            "balance": b["wallet"],
            "crossWalletBalance": b["wallet"],
            "crossUnPnl": b["up"],
            "availableBalance": b["avail"],
            "maxWithdrawAmount": b["avail"],
            "marginAvailable": True,
            "updateTime": sim.now_ms(),
        }
    ]


def _position_risk(sim: BinanceSimulator, sym: str) -> dict[str, Any]:
    eng = _engine(sim)
    spec = eng.specs[sym]
    pos = eng.positions[sym]
    mark = eng.mark(sym)
    up = (mark - pos.entry) * pos.amount if pos.amount else ZERO
    return {
        "symbol": sym,
        "positionAmt": fixed(pos.amount, spec.qty_precision),
        "entryPrice": fixed(pos.entry, 8) if pos.amount else "0.0",
        "breakEvenPrice": fixed(pos.entry, 8) if pos.amount else "0.0",
        "markPrice": fixed(mark, 8),
        "unRealizedProfit": fixed(up, 8),
        "liquidationPrice": "0",
        "leverage": str(pos.leverage),
        "maxNotionalValue": "1000000",
        "marginType": pos.margin_type,
        "isolatedMargin": "0.00000000",
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "notional": fixed(pos.amount * mark, 8),
        "isolatedWallet": "0",
        "updateTime": pos.update_time,
        "marginAsset": "USDT",
        "initialMargin": fixed(abs(pos.amount) * mark / pos.leverage, 8),
        "maintMargin": fixed(abs(pos.amount) * mark * Decimal("0.004"), 8),
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
    }


async def h_position_risk(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    syms, _single = _symbols_for(sim, p)
    return [_position_risk(sim, s) for s in syms]


async def h_account(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    b = _balance_fields(sim)
    eng = _engine(sim)
    positions = []
    for s in eng.symbols:
        pr = _position_risk(sim, s)
        positions.append(
            {
                "symbol": s,
                "positionSide": "BOTH",
                "positionAmt": pr["positionAmt"],
                "unrealizedProfit": pr["unRealizedProfit"],
                "isolatedMargin": "0",
                "notional": pr["notional"],
                "isolatedWallet": "0",
                "initialMargin": pr["initialMargin"],
                "maintMargin": pr["maintMargin"],
                "updateTime": pr["updateTime"],
                "leverage": pr["leverage"],
                "entryPrice": pr["entryPrice"],
                "isolated": False,
            }
        )
    asset = {
        "asset": "USDT",
        "walletBalance": b["wallet"],
        "unrealizedProfit": b["up"],
        "marginBalance": b["margin"],
        "maintMargin": "0",
        "initialMargin": "0",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "crossWalletBalance": b["wallet"],
        "crossUnPnl": b["up"],
        "availableBalance": b["avail"],
        "maxWithdrawAmount": b["avail"],
        "marginAvailable": True,
        "updateTime": sim.now_ms(),
    }
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "feeBurn": False,
        "tradeGroupId": -1,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "totalInitialMargin": "0",
        "totalMaintMargin": "0",
        "totalWalletBalance": b["wallet"],
        "totalUnrealizedProfit": b["up"],
        "totalMarginBalance": b["margin"],
        "totalPositionInitialMargin": "0",
        "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": b["wallet"],
        "totalCrossUnPnl": b["up"],
        "availableBalance": b["avail"],
        "maxWithdrawAmount": b["avail"],
        "assets": [asset],
        "positions": positions,
    }


async def h_leverage(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).spec(sym)
    raw = p.get("leverage", "")
    if not raw.isdigit():
        raise missing("leverage")
    lev = int(raw)
    if not 1 <= lev <= 125:
        raise ApiError(-4028, f"Leverage {lev} is not valid")
    _engine(sim).positions[sym].leverage = lev
    return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": sym}


async def h_margin_type(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).spec(sym)
    mt = (p.get("marginType") or "").upper()
    if mt not in ("ISOLATED", "CROSSED"):
        raise missing("marginType")
    pos = _engine(sim).positions[sym]
    new = "isolated" if mt == "ISOLATED" else "cross"
    if new == pos.margin_type:
        raise ApiError(-4046, "No need to change margin type.")
    pos.margin_type = new
    return {"code": 200, "msg": "success"}


async def h_dual_get(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    return {"dualSidePosition": False}


async def h_dual_post(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    if (p.get("dualSidePosition") or "").lower() == "false":
        raise ApiError(-4059, "No need to change position side.")
    raise ApiError(-4068, "The simulator only supports one-way mode (positionSide BOTH).")


async def h_multi_assets(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    return {"multiAssetsMargin": False}


async def h_commission(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).spec(sym)
    return {"symbol": sym, "makerCommissionRate": "0.000200", "takerCommissionRate": "0.000500"}


_BRACKETS = [
    (125, 50_000, 0, "0.004", "0"),
    (100, 600_000, 50_000, "0.005", "50"),
    (50, 3_000_000, 600_000, "0.01", "3050"),
    (20, 12_000_000, 3_000_000, "0.025", "48050"),
]


async def h_leverage_bracket(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    syms, single = _symbols_for(sim, p)
    out = [
        {
            "symbol": s,
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": i + 1,
                    "initialLeverage": lev,
                    "notionalCap": cap,
                    "notionalFloor": floor,
                    "maintMarginRatio": float(mmr),
                    "cum": float(cum),
                }
                for i, (lev, cap, floor, mmr, cum) in enumerate(_BRACKETS)
            ],
        }
        for s in syms
    ]
    return out[0] if single else out


async def h_rate_limit_order(sim: BinanceSimulator, r: web.Request, p: Params) -> Any:
    return [
        {
            "rateLimitType": "ORDERS",
            "interval": "SECOND",
            "intervalNum": 10,
            "limit": sim.limits["orders_10s"],
        },
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": sim.limits["orders_1m"]},
    ]


_ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/fapi/v1/ping"): Route(h_ping, "NONE", _w(1)),
    ("GET", "/fapi/v1/time"): Route(h_time, "NONE", _w(1)),
    ("GET", "/fapi/v1/exchangeInfo"): Route(h_exchange_info, "NONE", _w(1)),
    ("GET", "/fapi/v1/ticker/price"): Route(h_ticker_price, "NONE", _w_sym(1, 2)),
    ("GET", "/fapi/v2/ticker/price"): Route(h_ticker_price, "NONE", _w_sym(1, 2)),
    ("GET", "/fapi/v1/ticker/bookTicker"): Route(h_book_ticker, "NONE", _w_sym(2, 5)),
    ("GET", "/fapi/v1/ticker/24hr"): Route(h_ticker_24hr, "NONE", _w_sym(1, 40)),
    ("GET", "/fapi/v1/depth"): Route(h_depth, "NONE", _w_depth),
    ("GET", "/fapi/v1/premiumIndex"): Route(h_premium_index, "NONE", _w_sym(1, 10)),
    ("POST", "/fapi/v1/order"): Route(h_order_post, "SIGNED", _w(0), orders=1),
    ("PUT", "/fapi/v1/order"): Route(h_order_put, "SIGNED", _w(0), orders=1),
    ("DELETE", "/fapi/v1/order"): Route(h_order_delete, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/order"): Route(h_order_get, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/openOrder"): Route(h_open_order_get, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/openOrders"): Route(h_open_orders, "SIGNED", _w_sym(1, 40)),
    ("GET", "/fapi/v1/allOrders"): Route(h_all_orders, "SIGNED", _w(5)),
    ("DELETE", "/fapi/v1/allOpenOrders"): Route(h_cancel_all, "SIGNED", _w(1)),
    ("POST", "/fapi/v1/batchOrders"): Route(h_batch_post, "SIGNED", _w(5), orders=5),
    ("PUT", "/fapi/v1/batchOrders"): Route(h_batch_put, "SIGNED", _w(5), orders=5),
    ("DELETE", "/fapi/v1/batchOrders"): Route(h_batch_delete, "SIGNED", _w(1)),
    ("POST", "/fapi/v1/countdownCancelAll"): Route(h_countdown, "SIGNED", _w(10)),
    ("GET", "/fapi/v1/userTrades"): Route(h_user_trades, "SIGNED", _w(5)),
    ("POST", "/fapi/v1/listenKey"): Route(h_listen_key_post, "USER_STREAM", _w(1)),
    ("PUT", "/fapi/v1/listenKey"): Route(h_listen_key_put, "USER_STREAM", _w(1)),
    ("DELETE", "/fapi/v1/listenKey"): Route(h_listen_key_delete, "USER_STREAM", _w(1)),
    ("GET", "/fapi/v2/balance"): Route(h_balance, "SIGNED", _w(5)),
    ("GET", "/fapi/v3/balance"): Route(h_balance, "SIGNED", _w(5)),
    ("GET", "/fapi/v2/account"): Route(h_account, "SIGNED", _w(5)),
    ("GET", "/fapi/v3/account"): Route(h_account, "SIGNED", _w(5)),
    ("GET", "/fapi/v2/positionRisk"): Route(h_position_risk, "SIGNED", _w(5)),
    ("GET", "/fapi/v3/positionRisk"): Route(h_position_risk, "SIGNED", _w(5)),
    ("POST", "/fapi/v1/leverage"): Route(h_leverage, "SIGNED", _w(1)),
    ("POST", "/fapi/v1/marginType"): Route(h_margin_type, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/positionSide/dual"): Route(h_dual_get, "SIGNED", _w(30)),
    ("POST", "/fapi/v1/positionSide/dual"): Route(h_dual_post, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/multiAssetsMargin"): Route(h_multi_assets, "SIGNED", _w(30)),
    ("GET", "/fapi/v1/commissionRate"): Route(h_commission, "SIGNED", _w(20)),
    ("GET", "/fapi/v1/leverageBracket"): Route(h_leverage_bracket, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/rateLimit/order"): Route(h_rate_limit_order, "SIGNED", _w(1)),
}

ROUTES = _ROUTES  # public read-only view for docs/tests
