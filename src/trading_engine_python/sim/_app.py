"""BinanceSimulator: one aiohttp app on loopback serving the USD-M REST API and its websockets.

Imports nothing of the engine (only stdlib, aiohttp, orjson, and cryptography for Ed25519 keys): it
speaks only the wire protocol, so any Binance USD-M client works against it unchanged. This module
holds the app's lifecycle and the control API; the jobs live in _rest/_handlers (REST), _auth,
_limits, _streams (push websockets) and _engine (matching and account).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable
from decimal import Decimal
from typing import Any

from aiohttp import web

from ._algo import AlgoService
from ._auth import Auth, generate_ed25519_pair
from ._engine import Engine
from ._faults import Faults
from ._fmt import to_decimal
from ._limits import RateLimiter
from ._rest import RestApi
from ._streams import StreamHub
from ._wsapi import WS_API_PATH, WsApi

log = logging.getLogger(__name__)


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
        ed25519_api_key: str = "sim-ed25519-key",
        ed25519_public_key: Any = None,
    ) -> None:
        self.api_key = api_key
        self.ed25519_api_key = ed25519_api_key
        # PEM (str/bytes) or a cryptography Ed25519PublicKey; None = a pair is generated on first use of
        # ``ed25519_private_key_pem``
        self.auth = Auth(api_key, api_secret, ed25519_api_key, ed25519_public_key)
        self._ed25519_private_pem: str | None = None
        self.seed = seed
        self.host = host
        self.port = port
        self.price_interval = price_interval
        self.auto_walk = auto_walk
        self.clock_offset_ms = 0
        self.faults = Faults()
        self.events: list[dict[str, Any]] = []
        self.rate_limiter = RateLimiter()
        self.ws_ping_interval = 5.0
        self.ws_pong_timeout = 600.0  # no pong within 10 min = disconnect (Binance: ping every 3 min)
        self.requests: list[tuple[str, str]] = []  # (method, path) of every REST request, for assertions
        self.ws_requests: list[str] = []  # method of every ws-fapi request
        self.streams = StreamHub(self, seed)
        self._engine = Engine(symbols, seed, self.now_ms, self._on_event, self.streams.on_price)
        self.max_fill_qty = max_fill_qty
        self.algo = AlgoService(self._engine, self._on_event)
        self._rest = RestApi(self)
        self.ws_api = WsApi(self)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._countdowns: dict[str, asyncio.TimerHandle] = {}
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
        hub = self.streams
        app.router.add_route("*", "/fapi/{tail:.*}", self._rest.handle)
        app.router.add_get(WS_API_PATH, self.ws_api.handle)
        app.router.add_get("/private/ws/{key}", hub.ws_private)
        app.router.add_get("/private/ws", hub.ws_private)
        app.router.add_get("/private/stream", hub.ws_private_combined)
        app.router.add_get("/public/ws", hub.ws_public)
        app.router.add_get("/market/ws", hub.ws_public)
        app.router.add_get("/public/ws/{streams:.*}", hub.ws_public)
        app.router.add_get("/market/ws/{streams:.*}", hub.ws_public)
        app.router.add_get("/public/stream", hub.ws_public)
        app.router.add_get("/market/stream", hub.ws_public)
        # legacy URLs without a route prefix get public data only (Binance page "Important WebSocket
        # Change Notice")
        app.router.add_get("/ws/{streams:.*}", hub.ws_public)
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
        await self.streams.close_all()
        await self.ws_api.close_all()
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

    @property
    def ws_api_url(self) -> str:
        """ws-fapi endpoint (Binance: wss://ws-fapi.binance.com/ws-fapi/v1)."""
        return f"ws://{self.host}:{self.port}{WS_API_PATH}"

    @property
    def ed25519_private_key_pem(self) -> str:
        """The private half of a generated Ed25519 test key (PKCS#8 PEM) whose apiKey is
        ``ed25519_api_key``; generated on first access unless a public key was given."""
        if self._ed25519_private_pem is None:
            if self.auth.ed25519_public_key is not None:
                raise RuntimeError("an Ed25519 public key was given; its private key is not known here")
            self._ed25519_private_pem, public_pem = generate_ed25519_pair()
            self.auth.ed25519_public_key = public_pem
        return self._ed25519_private_pem

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.clock_offset_ms

    def spawn(self, coro: Awaitable[Any]) -> None:
        """Run a coroutine in the background; stop() cancels whatever is left."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ control API
    @property
    def engine(self) -> Engine:
        return self._engine

    @property
    def limits(self) -> dict[str, int]:
        return self.rate_limiter.limits

    @limits.setter
    def limits(self, value: dict[str, int]) -> None:
        self.rate_limiter.limits = value

    @property
    def ban_seconds(self) -> float:
        return self.rate_limiter.ban_seconds

    @ban_seconds.setter
    def ban_seconds(self, value: float) -> None:
        self.rate_limiter.ban_seconds = value

    @property
    def listen_key_ttl(self) -> float:
        return self.streams.listen_key_ttl

    @listen_key_ttl.setter
    def listen_key_ttl(self, value: float) -> None:
        self.streams.listen_key_ttl = value

    @property
    def max_amends(self) -> int:
        """Amendments allowed per order (10000 on Binance); lower it to reach -5026 in a test."""
        return self._engine.max_amends

    @max_amends.setter
    def max_amends(self, value: int) -> None:
        self._engine.max_amends = value

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

    def set_mark_price(self, symbol: str, price: Any) -> None:
        """Move the mark price away from the contract price (None = equal again); the gap follows later
        price moves. MARK_PRICE algo orders trigger on it."""
        if symbol not in self._engine.specs:
            raise KeyError(symbol)
        self._engine.set_mark(symbol, price)

    def algo_orders(self) -> list[dict[str, Any]]:
        """Every algo order as GET /fapi/v1/algoOrder returns it."""
        return [self.algo.algo_json(a) for a in self.algo.algos.values()]

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
        return list(self.streams.listen_keys)

    def listen_key_valid(self, key: str) -> bool:
        return key in self.streams.listen_keys

    @property
    def user_stream_count(self) -> int:
        return sum(1 for c in self.streams.user_conns if not c.ws.closed)

    async def drop_user_streams(self) -> None:
        """Close every user-stream websocket abruptly (TCP abort, no close frame)."""
        await self.streams.drop_user()

    async def drop_public_streams(self) -> None:
        await self.streams.drop_public()

    async def drop_ws_api(self) -> None:
        """Abort every ws-fapi connection (TCP, no close frame)."""
        self.ws_api.drop_all()
        await asyncio.sleep(0)

    async def expire_listen_key(self, key: str | None = None) -> None:
        """Send listenKeyExpired and invalidate ``key`` (every key when None). The sockets stay open but
        get nothing more."""
        keys = list(self.streams.listen_keys) if key is None else [key]
        for k in keys:
            self.streams.expire_key(k)
        await asyncio.sleep(0)

    # ------------------------------------------------------------------ dead-man switch
    def set_countdown(self, symbol: str, ms: int) -> None:
        """countdownCancelAll: cancel every open order of ``symbol`` in ``ms`` ms unless called again
        (0 disarms)."""
        handle = self._countdowns.pop(symbol, None)
        if handle is not None:
            handle.cancel()
        if ms > 0:
            self._countdowns[symbol] = asyncio.get_running_loop().call_later(
                ms / 1000, self._countdown_fire, symbol
            )

    def _countdown_fire(self, symbol: str) -> None:
        self._countdowns.pop(symbol, None)
        self._engine.cancel_all(symbol)

    # ------------------------------------------------------------------ events out
    def _on_event(self, event: dict[str, Any]) -> None:
        self.events.append(event)
        if self.faults.drop_events_left > 0:
            self.faults.drop_events_left -= 1
            return
        self.streams.broadcast(event)

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
        while True:
            await asyncio.sleep(0.5)
            self.streams.expire_due_keys()
            try:
                self._engine.expire_gtd()  # GTD orders expire with er "6" even while prices are frozen
            except Exception:
                log.exception("GTD expiry failed")
