"""Binance USD-M futures REST client (the ExchangeClient the order manager calls).

One aiohttp keep-alive session, created lazily inside the running loop. The Binance facts the
rules below rely on are in docs/binance-protocol.md (cited by section name).

- Signing: HMAC-SHA256 hex over ``totalParams`` (query string + body), ``signature`` last,
  ``X-MBX-APIKEY`` header ("REST signing and limits"). An Ed25519 or RSA ``private_key`` (PEM) signs the same
  bytes instead, base64 then URL-encoded, when ``cryptography`` is installed.
- Timing: ``timestamp`` is local time plus the measured server offset, ``recvWindow`` is sent on
  every signed call; -1021 resyncs the offset once and retries once (a -1021 is a definite
  reject, so the retry cannot double an order).
- Outcome rules ("REST signing and limits", "Error codes"): ``ExchangeTimeout`` when the request may have been
  carried out (timeout or dropped connection after sending, -1006, -1007, 503 "Unknown error...",
  a 5xx without a definite answer); ``ExchangeError`` for every definite answer; a connection that
  never opened is ``ExchangeError(-1, ...)``.
- Limits ("REST signing and limits"): the ``X-MBX-USED-WEIGHT-1M`` and ``X-MBX-ORDER-COUNT-10S/1M`` headers
  feed local counters; a request that would cross ``headroom`` of a limit waits for the next
  window. 429 backs off (``Retry-After`` or exponential); 418 (IP ban) refuses locally with
  -1003 until the ban ends, sending nothing.

- Order entry beyond place/cancel: ``modify_order`` (amend in place, PUT /fapi/v1/order) and
  ``place_orders`` (up to 5 in one POST /fapi/v1/batchOrders; a refused item comes back as an
  ``ExchangeError`` in its place). ``client.ws_api`` is the same order entry over ws-fapi (see
  ws_api.py), sharing this client's keys, clock offset, rate-limit windows and error mapping;
  its URL follows ``base_url`` (production or testnet) unless ``ws_api_url`` is given.

Secrets (API key, secret, signature, listenKey) never reach logs, reprs or exception texts.
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import logging
import os
import random
import re
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Context, Decimal, InvalidOperation, localcontext
from typing import TYPE_CHECKING, Any

import aiohttp
import orjson
from yarl import URL

from .errors import AUTH_CODES, ExchangeAuthError, ExchangeError, ExchangeTimeout

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

if TYPE_CHECKING:
    from .ws_api import WsApiClient

__all__ = [
    "PRODUCTION_REST",
    "PRODUCTION_WS",
    "PRODUCTION_WS_API",
    "TESTNET_REST",
    "TESTNET_WS",
    "TESTNET_WS_API",
    "BinanceFuturesClient",
    "SymbolRules",
]

log = logging.getLogger(__name__)

# REST and websocket roots; user data under /private, market data under /public
# (docs/binance-protocol.md, "User data stream").
PRODUCTION_REST = "https://fapi.binance.com"
TESTNET_REST = "https://demo-fapi.binance.com"
PRODUCTION_WS = "wss://fstream.binance.com"
TESTNET_WS = "wss://fstream.binancefuture.com"
# docs/binance-protocol.md, "WebSocket API": order entry over one websocket (ws-fapi).
PRODUCTION_WS_API = "wss://ws-fapi.binance.com/ws-fapi/v1"
TESTNET_WS_API = "wss://testnet.binancefuture.com/ws-fapi/v1"
_WS_API_FOR_REST = {
    PRODUCTION_REST: PRODUCTION_WS_API,
    TESTNET_REST: TESTNET_WS_API,
    "https://testnet.binancefuture.com": TESTNET_WS_API,
}

# newClientOrderId format (docs/binance-protocol.md, "Client order ids").
_CLIENT_ID_RE = re.compile(r"[\.A-Z\:/a-z0-9_-]{1,36}")
# Plain decimal strings only: "1e-3" or "0x10" would be read differently by the exchange.
_DECIMAL_RE = re.compile(r"[0-9]+(\.[0-9]+)?")
_SIDES = frozenset(("BUY", "SELL"))
_TIFS = frozenset(("GTC", "IOC", "FOK", "GTX", "GTD", "RPI"))
# POST /fapi/v1/order rejects these with -4120 since 2025-12-09 (docs/binance-protocol.md, "Algo orders").
# selfTradePreventionMode values Binance futures accepts: NONE is refused since STP became
# mandatory (docs/binance-protocol.md, "Self-trade prevention").
_STP_MODES = frozenset(("EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"))
_ALGO_TYPES = frozenset(("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"))

# The only 503 text that means "status unknown" (docs/binance-protocol.md, "REST signing and limits").
_UNKNOWN_503 = "Unknown error, please check your request or try again later."
# "execution status unknown" (docs/binance-protocol.md, "Error codes").
_UNKNOWN_CODES = frozenset((-1006, -1007))
_INVALID_TIMESTAMP = -1021
_TOO_MANY_REQUESTS = -1003

_SCRUB_RES = (
    re.compile(r"(signature=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(r"(listenKey=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(r"(/ws/)[A-Za-z0-9]{20,}"),
    re.compile(r"(\"listenKey\"\s*:\s*\")[^\"]+"),
)
_DECIMAL_CTX = Context(prec=60)
# Binance's rateLimits intervals (docs/binance-protocol.md, "REST signing and limits").
_UNIT_MS = {"SECOND": 1000, "MINUTE": 60_000, "HOUR": 3_600_000, "DAY": 86_400_000}


def _plain(d: Decimal) -> str:
    return format(d, "f")


# Past this many fraction digits (or characters of a value) the filters are checked with Decimal only.
_MAX_SCALE = 18
_MAX_FAST_TEXT = 36


def _scaled(d: Decimal, scale: int) -> int:
    """``d * 10**scale`` exactly (``d`` has at most ``scale`` fraction digits)."""
    sign, digits, exp = d.as_tuple()
    assert isinstance(exp, int)
    n = int("".join(map(str, digits)) or "0") * int(10 ** (exp + scale))
    return -n if sign else n


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """The filters of one symbol that the client checks before sending (exchangeInfo ``filters``)."""

    symbol: str
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_step_size: Decimal
    market_min_qty: Decimal
    market_max_qty: Decimal
    # The filters above as integers in units of 10**-_scale (-1: too fine, Decimal checks only), so
    # that a plain decimal string is checked with integer arithmetic; the filters are tick/step
    # multiples given as decimal strings, hence exact fixed-point values.
    _scale: int = field(init=False, repr=False, compare=False)
    _units: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        values = (
            self.tick_size,
            self.min_price,
            self.max_price,
            self.step_size,
            self.min_qty,
            self.max_qty,
            self.market_step_size,
            self.market_min_qty,
            self.market_max_qty,
        )
        scale = -1
        if all(v.is_finite() for v in values):
            exps = [v.as_tuple().exponent for v in values]
            scale = max([0, *(-e for e in exps if isinstance(e, int))])
            if scale > _MAX_SCALE or any(len(v.as_tuple().digits) + scale > 40 for v in values):
                scale = -1
        object.__setattr__(self, "_scale", scale)
        object.__setattr__(self, "_units", tuple(_scaled(v, scale) for v in values) if scale >= 0 else ())

    def _text_units(self, text: str) -> int:
        """A plain decimal string in units of 10**-_scale; -1 when the Decimal checks must decide
        (another form, too long, or finer than every filter, hence off every grid)."""
        scale = self._scale
        if scale < 0 or len(text) > _MAX_FAST_TEXT or not text.isascii():
            return -1
        whole, dot, frac = text.partition(".")
        if not whole.isdigit() or (dot and not frac.isdigit()):
            return -1
        n = len(frac)
        if n > scale:
            if frac[scale:].strip("0"):
                return -1
            frac = frac[:scale]
            n = scale
        unit: int = 10 ** (scale - n)
        return int(whole + frac) * unit

    @classmethod
    def from_exchange_info(cls, sym: Mapping[str, Any]) -> SymbolRules:
        f = {x.get("filterType"): x for x in sym.get("filters", ())}
        zero = Decimal(0)

        def d(name: str, key: str, default: Decimal = zero) -> Decimal:
            v = f.get(name, {}).get(key)
            return Decimal(str(v)) if v is not None else default

        step = d("LOT_SIZE", "stepSize")
        min_qty = d("LOT_SIZE", "minQty")
        max_qty = d("LOT_SIZE", "maxQty")
        return cls(
            symbol=str(sym["symbol"]),
            tick_size=d("PRICE_FILTER", "tickSize"),
            min_price=d("PRICE_FILTER", "minPrice"),
            max_price=d("PRICE_FILTER", "maxPrice"),
            step_size=step,
            min_qty=min_qty,
            max_qty=max_qty,
            # MARKET orders are checked against MARKET_LOT_SIZE; without it, LOT_SIZE applies.
            market_step_size=d("MARKET_LOT_SIZE", "stepSize", step),
            market_min_qty=d("MARKET_LOT_SIZE", "minQty", min_qty),
            market_max_qty=d("MARKET_LOT_SIZE", "maxQty", max_qty),
        )

    def check_quantity(self, text: str, order_type: str) -> None:
        u = self._text_units(text)
        if u > 0:
            _, _, _, i_step, i_lo, i_hi, m_step, m_lo, m_hi = self._units
            if order_type == "MARKET":
                i_step, i_lo, i_hi = m_step, m_lo, m_hi
            if (i_step <= 0 or (u - i_lo) % i_step == 0) and u >= i_lo and (i_hi <= 0 or u <= i_hi):
                return
        # The Decimal form of the same rules decides every other case and words the error.
        q = Decimal(text)
        if order_type == "MARKET":
            step, lo, hi, fname = (
                self.market_step_size,
                self.market_min_qty,
                self.market_max_qty,
                "MARKET_LOT_SIZE",
            )
        else:
            step, lo, hi, fname = self.step_size, self.min_qty, self.max_qty, "LOT_SIZE"
        if q <= 0:
            raise ValueError(f"{self.symbol}: quantity {text} must be positive")
        with localcontext(_DECIMAL_CTX):
            # LOT_SIZE rule: (quantity - minQty) % stepSize == 0.
            if step > 0 and (q - lo) % step != 0:
                raise ValueError(
                    f"{self.symbol}: quantity {text} is not on the {fname} stepSize {_plain(step)} "
                    f"(minQty {_plain(lo)}); nothing was sent"
                )
        if q < lo or (hi > 0 and q > hi):
            raise ValueError(
                f"{self.symbol}: quantity {text} is outside {fname} [{_plain(lo)}, {_plain(hi)}]; "
                "nothing was sent"
            )

    def check_price(self, text: str) -> None:
        u = self._text_units(text)
        if u > 0:
            tick, lo, hi = self._units[:3]
            if (tick <= 0 or (u - lo) % tick == 0) and (lo <= 0 or u >= lo) and (hi <= 0 or u <= hi):
                return
        p = Decimal(text)
        if p <= 0:
            raise ValueError(f"{self.symbol}: price {text} must be positive")
        with localcontext(_DECIMAL_CTX):
            # PRICE_FILTER rule: (price - minPrice) % tickSize == 0; tickSize 0 disables it.
            if self.tick_size > 0 and (p - self.min_price) % self.tick_size != 0:
                raise ValueError(
                    f"{self.symbol}: price {text} is not on the PRICE_FILTER tickSize "
                    f"{_plain(self.tick_size)} (minPrice {_plain(self.min_price)}); nothing was sent"
                )
        if (self.min_price > 0 and p < self.min_price) or (self.max_price > 0 and p > self.max_price):
            raise ValueError(
                f"{self.symbol}: price {text} is outside PRICE_FILTER "
                f"[{_plain(self.min_price)}, {_plain(self.max_price)}]; nothing was sent"
            )


class _Window:
    """One Binance rate-limit counter (fixed windows of ``interval_ms`` on the server clock)."""

    __slots__ = ("count", "index", "interval_ms", "limit", "name")

    def __init__(self, name: str, interval_ms: int, limit: int) -> None:
        self.name = name
        self.interval_ms = interval_ms
        self.limit = limit
        self.index = -1
        self.count = 0

    def roll(self, now_ms: int) -> None:
        idx = now_ms // self.interval_ms
        if idx != self.index:
            self.index = idx
            self.count = 0

    def wait_ms(self, now_ms: int, cost: int, headroom: float) -> int:
        """How long to wait before ``cost`` more fits under ``headroom`` of the limit (0 = now)."""
        self.roll(now_ms)
        if cost <= 0 or self.count + cost <= self.limit * headroom or self.count == 0:
            return 0
        return (self.index + 1) * self.interval_ms - now_ms + 5

    def observe(self, now_ms: int, value: int) -> None:
        # Testnet sends x-mbx-used-weight-1m: -1, meaning unknown, not zero
        # (docs/binance-protocol.md, "REST signing and limits").
        if value < 0:
            return
        self.roll(now_ms)
        if value > self.count:
            self.count = value


def _load_private_key(private_key: Any) -> Any:
    try:
        from cryptography.hazmat.primitives import serialization
    except ImportError as e:  # pragma: no cover - cryptography is installed here
        raise ImportError("private_key signing needs the 'cryptography' package") from e
    if isinstance(private_key, str):
        private_key = private_key.encode()
    if isinstance(private_key, bytes | bytearray):
        return serialization.load_pem_private_key(bytes(private_key), password=None)
    return private_key


def _require_credentials(api_key: str | None, api_secret: str | None, has_private_key: bool) -> None:
    # Every order call is signed and needs the X-MBX-APIKEY header (docs/binance-protocol.md,
    # "REST signing and limits"): fail here, before a manager would close orders as rejected.
    missing = []
    if not api_key:
        missing.append("BINANCE_API_KEY")
    if not api_secret and not has_private_key:
        missing.append("BINANCE_API_SECRET")
    if missing:
        raise ExchangeAuthError(
            -2014,
            f"no Binance credentials: {' and '.join(missing)} not set. Pass api_key=/api_secret= "
            "(or private_key=) to BinanceFuturesClient, or set BINANCE_API_KEY and BINANCE_API_SECRET",
        )


class BinanceFuturesClient:
    """Binance USD-M futures REST client; see the module docstring for the rules it follows.

    ``api_key``/``api_secret`` default to the BINANCE_API_KEY / BINANCE_API_SECRET environment
    variables; without a key, or without a secret (and no ``private_key``), construction raises
    ``ExchangeAuthError``. ``base_url`` defaults to production (``PRODUCTION_REST``); pass
    ``TESTNET_REST`` or a simulator's ``base_url`` to go elsewhere.
    """

    def __init__(
        self,
        api_key: str | None = None,
        api_secret: str | None = None,
        *,
        base_url: str = PRODUCTION_REST,
        recv_window: int = 5000,
        timeout: float = 10.0,
        private_key: str | bytes | Ed25519PrivateKey | RSAPrivateKey | None = None,
        rate_headroom: float = 0.9,
        max_backoff_wait: float | None = None,
        ws_api_url: str | None = None,
    ) -> None:
        self._api_key = api_key if api_key is not None else os.environ.get("BINANCE_API_KEY")
        self._api_secret = api_secret if api_secret is not None else os.environ.get("BINANCE_API_SECRET")
        _require_credentials(self._api_key, self._api_secret, private_key is not None)
        self._private_key = _load_private_key(private_key) if private_key is not None else None
        self.base_url = base_url.rstrip("/")
        self.recv_window = int(recv_window)
        self.timeout = float(timeout)
        self.rate_headroom = float(rate_headroom)
        # A 429 back-off longer than this is refused locally instead of waited out.
        self.max_backoff_wait = self.timeout if max_backoff_wait is None else float(max_backoff_wait)
        self._session: aiohttp.ClientSession | None = None
        self._time_offset_ms: int | None = None
        self._time_lock: asyncio.Lock | None = None
        self._info: dict[str, Any] | None = None
        self._rules: dict[str, SymbolRules] = {}
        self._info_lock: asyncio.Lock | None = None
        # Documented defaults (docs/binance-protocol.md, "REST signing and limits"); replaced by
        # exchangeInfo's rateLimits when they are loaded.
        self._weight_1m = _Window("REQUEST_WEIGHT 1m", 60_000, 2400)
        self._orders_10s = _Window("ORDERS 10s", 10_000, 300)
        self._orders_1m = _Window("ORDERS 1m", 60_000, 1200)
        self._backoff_until = 0.0  # monotonic; after a 429
        self._banned_until = 0.0  # monotonic; after a 418
        self._consecutive_429 = 0
        self._hmac: tuple[str, hmac.HMAC] | None = None  # (secret, HMAC keyed with it), made at first use
        self._secrets: tuple[str, ...] = tuple(s for s in (self._api_key, self._api_secret) if s)
        self.stats: dict[str, int] = {
            "requests": 0,
            "errors": 0,
            "unknown_outcomes": 0,
            "time_syncs": 0,
            "rate_limited_429": 0,
            "banned_418": 0,
            "paced_waits": 0,
            "refused_locally": 0,
        }
        # Order entry over ws-fapi: production or testnet follow base_url; any other base_url (the
        # simulator, a proxy) has no ws-fapi unless ws_api_url names it, so that a test setup can
        # never reach production by default.
        self.ws_api_url = ws_api_url if ws_api_url is not None else _WS_API_FOR_REST.get(self.base_url)
        self._ws_api: WsApiClient | None = None

    # ----------------------------------------------------------------- plumbing

    def __repr__(self) -> str:
        return f"BinanceFuturesClient(base_url={self.base_url!r}, api_key={'***' if self._api_key else None})"

    async def __aenter__(self) -> BinanceFuturesClient:
        self._ensure_session()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        ws, self._ws_api = self._ws_api, None
        if ws is not None:
            await ws.close()
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    def _ensure_session(self) -> aiohttp.ClientSession:
        s = self._session
        if s is None or s.closed:
            headers = {"X-MBX-APIKEY": self._api_key} if self._api_key else {}
            # connect/sock_connect bound the part where nothing was sent yet (a definite failure);
            # sock_read bounds the wait for the answer (an unknown outcome).
            timeout = aiohttp.ClientTimeout(
                total=None, connect=self.timeout, sock_connect=self.timeout, sock_read=self.timeout
            )
            s = aiohttp.ClientSession(
                headers=headers,
                timeout=timeout,
                connector=aiohttp.TCPConnector(limit=64, keepalive_timeout=30.0),
                skip_auto_headers=("User-Agent",),
            )
            self._session = s
        return s

    def _scrub(self, text: str) -> str:
        for rx in _SCRUB_RES:
            text = rx.sub(r"\1***", text)
        for s in self._secrets:
            if s:
                text = text.replace(s, "***")
        return text

    def _remember_secret(self, value: str) -> None:
        if value and value not in self._secrets:
            self._secrets = (*self._secrets, value)

    def _sign(self, payload: str) -> str:
        data = payload.encode()
        pk = self._private_key
        if pk is not None:
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

            if isinstance(pk, ed25519.Ed25519PrivateKey):
                raw = pk.sign(data)
            elif isinstance(pk, rsa.RSAPrivateKey):
                raw = pk.sign(data, padding.PKCS1v15(), hashes.SHA256())
            else:
                raise TypeError("private_key must be an Ed25519 or RSA private key")
            # Base64, then URL-encoded (docs/binance-protocol.md, "REST signing and limits").
            return urllib.parse.quote(base64.b64encode(raw).decode(), safe="")
        if not self._api_secret:  # refused at construction already; kept for a cleared attribute
            raise ExchangeAuthError(-2014, "no API secret (argument api_secret or BINANCE_API_SECRET)")
        keyed = self._hmac
        if keyed is None or keyed[0] is not self._api_secret:
            keyed = self._hmac = (self._api_secret, hmac.new(self._api_secret.encode(), digestmod="sha256"))
        h = keyed[1].copy()  # the keyed state is computed once; a copy per request
        h.update(data)
        return h.hexdigest()

    def _server_now_ms(self) -> int:
        return int(time.time() * 1000) + (self._time_offset_ms or 0)

    async def _sync_time(self) -> None:
        if self._time_lock is None:
            self._time_lock = asyncio.Lock()
        async with self._time_lock:
            t0 = time.time()
            body = await self._request("GET", "/fapi/v1/time", weight=1)
            t1 = time.time()
            server = int(body["serverTime"])
            self._time_offset_ms = server - int((t0 + t1) * 500)
            self.stats["time_syncs"] += 1
            log.debug("server time offset %d ms", self._time_offset_ms)

    # ----------------------------------------------------------------- limits

    def _pace_now(self, weight: int, orders: int) -> bool:
        """``_pace`` when it has nothing to wait for: counts the request and returns True. Returns
        False, counting nothing, when ``_pace`` must run (a ban, a back-off or a window near full)."""
        if self._banned_until or self._backoff_until:  # 0.0 until a 418 or a 429
            now = time.monotonic()
            if now < self._banned_until or now < self._backoff_until:
                return False
        now_ms = self._server_now_ms()
        headroom = self.rate_headroom
        w = self._weight_1m
        if now_ms // w.interval_ms != w.index:
            w.roll(now_ms)
        # The same test as _Window.wait_ms: a cost fits when it is 0, when it stays under the
        # headroom, or when the window is empty.
        if weight > 0 and w.count and w.count + weight > w.limit * headroom:
            return False
        if orders:
            o10, o1 = self._orders_10s, self._orders_1m
            if now_ms // o10.interval_ms != o10.index:
                o10.roll(now_ms)
            if now_ms // o1.interval_ms != o1.index:
                o1.roll(now_ms)
            if (o10.count and o10.count + orders > o10.limit * headroom) or (
                o1.count and o1.count + orders > o1.limit * headroom
            ):
                return False
            o10.count += orders
            o1.count += orders
        w.count += weight
        return True

    async def _pace(self, weight: int, orders: int) -> None:
        if self._pace_now(weight, orders):
            return
        now = time.monotonic()
        if now < self._banned_until:
            self.stats["refused_locally"] += 1
            raise ExchangeError(
                _TOO_MANY_REQUESTS,
                f"IP banned by Binance (HTTP 418) for another {self._banned_until - now:.0f}s; "
                "request not sent",
            )
        if now < self._backoff_until:
            wait = self._backoff_until - now
            if wait > self.max_backoff_wait:
                self.stats["refused_locally"] += 1
                raise ExchangeError(
                    _TOO_MANY_REQUESTS,
                    f"backing off after HTTP 429 for another {wait:.1f}s; request not sent",
                )
            self.stats["paced_waits"] += 1
            await asyncio.sleep(wait)
        for _ in range(4):  # bounded: a window ends within 60 s
            now_ms = self._server_now_ms()
            wait_ms = self._weight_1m.wait_ms(now_ms, weight, self.rate_headroom)
            if orders:
                wait_ms = max(
                    wait_ms,
                    self._orders_10s.wait_ms(now_ms, orders, self.rate_headroom),
                    self._orders_1m.wait_ms(now_ms, orders, self.rate_headroom),
                )
            if wait_ms <= 0:
                break
            self.stats["paced_waits"] += 1
            log.info("pacing: waiting %d ms for the next rate-limit window", wait_ms)
            await asyncio.sleep(wait_ms / 1000)
        now_ms = self._server_now_ms()
        self._weight_1m.roll(now_ms)
        self._weight_1m.count += weight
        if orders:
            for w in (self._orders_10s, self._orders_1m):
                w.roll(now_ms)
                w.count += orders

    def _observe_headers(self, headers: Mapping[str, str]) -> None:
        now_ms = self._server_now_ms()
        for name, window in (
            ("X-MBX-USED-WEIGHT-1M", self._weight_1m),
            ("X-MBX-ORDER-COUNT-10S", self._orders_10s),
            ("X-MBX-ORDER-COUNT-1M", self._orders_1m),
        ):
            v = headers.get(name)
            if v is not None:
                try:
                    window.observe(now_ms, int(v))
                except ValueError:
                    pass

    def _window_for(self, kind: Any, interval_ms: int) -> _Window | None:
        """The local window counting Binance's ``rateLimitType`` over ``interval_ms``, if any."""
        if interval_ms == 60_000:
            if kind == "REQUEST_WEIGHT":
                return self._weight_1m
            if kind == "ORDERS":
                return self._orders_1m
        elif interval_ms == 10_000 and kind == "ORDERS":
            return self._orders_10s
        return None

    def _observe_rate_limits(self, rate_limits: Any) -> None:
        """ws-fapi ``rateLimits`` (docs/binance-protocol.md, "WebSocket API"): limits and counts.

        The same counters as the REST headers: both APIs draw on one account/IP budget.
        """
        if not isinstance(rate_limits, list):
            return
        now_ms = self._server_now_ms()
        for rl in rate_limits:
            try:
                interval_ms = _UNIT_MS[rl["interval"]] * int(rl["intervalNum"])
                window = self._window_for(rl.get("rateLimitType"), interval_ms)
            except (AttributeError, KeyError, TypeError, ValueError):
                continue
            if window is None:
                continue
            try:
                window.limit = int(rl["limit"])
            except (KeyError, TypeError, ValueError):
                pass
            try:
                count = int(rl["count"])
            except (KeyError, TypeError, ValueError):
                continue
            window.observe(now_ms, count)

    def _apply_rate_limits(self, info: Mapping[str, Any]) -> None:
        for rl in info.get("rateLimits", ()):
            try:
                interval_ms = _UNIT_MS[rl["interval"]] * int(rl["intervalNum"])
                window = self._window_for(rl.get("rateLimitType"), interval_ms)
                limit = int(rl["limit"])
            except (AttributeError, KeyError, TypeError, ValueError):
                continue
            if window is not None:
                window.limit = limit

    def _retry_after(self, headers: Mapping[str, str]) -> float | None:
        v = headers.get("Retry-After")
        if v is None:
            return None
        try:
            return max(0.0, float(v))
        except ValueError:
            return None

    # ----------------------------------------------------------------- requests

    async def _request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        *,
        signed: bool = False,
        weight: int = 1,
        orders: int = 0,
    ) -> Any:
        """One request; returns the decoded JSON body or raises ExchangeError/ExchangeTimeout."""
        if signed and self._time_offset_ms is None:
            await self._sync_time()
        for attempt in (0, 1):
            try:
                return await self._request_once(
                    method, path, params, signed=signed, weight=weight, orders=orders
                )
            except ExchangeError as e:
                # -1021 is a definite reject: resync the offset and retry once
                # (docs/binance-protocol.md, "REST signing and limits").
                if (
                    signed
                    and attempt == 0
                    and e.code == _INVALID_TIMESTAMP
                    and not isinstance(e, ExchangeTimeout)
                ):
                    log.warning("%s %s: -1021 (clock), resyncing server time and retrying once", method, path)
                    await self._sync_time()
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request_once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        *,
        signed: bool,
        weight: int,
        orders: int,
    ) -> Any:
        await self._pace(weight, orders)
        items = [(k, v) for k, v in (params or {}).items() if v is not None]
        if signed:
            items.append(("recvWindow", self.recv_window))
            items.append(("timestamp", self._server_now_ms()))
        query = urllib.parse.urlencode(items)
        if signed:
            query = f"{query}&signature={self._sign(query)}" if query else f"signature={self._sign(query)}"
        # POST/PUT carry the parameters as a form body, GET/DELETE in the query string; the
        # signature covers exactly the bytes sent (totalParams).
        in_body = method in ("POST", "PUT")
        url_text = self.base_url + path
        if query and not in_body:
            url_text = f"{url_text}?{query}"
        url = URL(url_text, encoded=True)
        headers = {"Content-Type": "application/x-www-form-urlencoded"} if in_body else None
        data = query.encode() if in_body and query else None
        session = self._ensure_session()
        self.stats["requests"] += 1
        idempotent = method == "GET"
        for attempt in (0, 1):
            try:
                async with session.request(method, url, data=data, headers=headers) as resp:
                    status = resp.status
                    resp_headers = resp.headers
                    raw = await resp.read()
                break
            except aiohttp.ClientConnectorError as e:
                # Includes ConnectionTimeoutError's sibling cases: the connection never opened.
                self.stats["errors"] += 1
                raise ExchangeError(-1, self._scrub(f"{method} {path}: cannot connect: {e}")) from None
            except aiohttp.ConnectionTimeoutError:
                self.stats["errors"] += 1
                raise ExchangeError(-1, f"{method} {path}: connect timed out; request not sent") from None
            except (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError) as e:
                # A pooled keep-alive connection may have been closed by the server just before we
                # wrote: only a GET is safe to send again.
                if idempotent and attempt == 0:
                    continue
                self.stats["unknown_outcomes"] += 1
                raise ExchangeTimeout(
                    -1007,
                    self._scrub(f"{method} {path}: connection dropped after sending ({type(e).__name__})"),
                ) from None
            except (TimeoutError, aiohttp.ServerTimeoutError):
                self.stats["unknown_outcomes"] += 1
                raise ExchangeTimeout(
                    -1007, f"{method} {path}: no answer within {self.timeout}s; outcome unknown"
                ) from None
            except aiohttp.ClientError as e:
                self.stats["unknown_outcomes"] += 1
                raise ExchangeTimeout(
                    -1006, self._scrub(f"{method} {path}: {type(e).__name__}: {e}; outcome unknown")
                ) from None
        else:  # pragma: no cover - the loop always breaks or raises
            raise AssertionError("unreachable")

        self._observe_headers(resp_headers)
        body: Any
        try:
            body = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            body = None
        if 200 <= status < 300:
            if body is None:
                self.stats["unknown_outcomes"] += 1
                raise ExchangeTimeout(-1006, f"{method} {path}: HTTP {status} with an unreadable body")
            self._consecutive_429 = 0
            return body
        self._raise_for(method, path, status, resp_headers, body, raw)

    def _raise_for(
        self, method: str, path: str, status: int, headers: Mapping[str, str], body: Any, raw: bytes
    ) -> None:
        self.stats["errors"] += 1
        code: int | None = None
        msg = ""
        if isinstance(body, dict):
            try:
                raw_code = body.get("code")
                code = int(raw_code) if raw_code is not None else None
            except (TypeError, ValueError):
                code = None
            msg = str(body.get("msg", ""))
        if not msg:
            msg = raw[:200].decode("utf-8", "replace").strip() or f"HTTP {status}"
        msg = self._scrub(msg)
        where = f"{method} {path}: HTTP {status}"
        if status == 418:
            # An IP ban of 2 minutes to 3 days (docs/binance-protocol.md, "REST signing and limits").
            # The message may carry the end ("IP banned until 1659146400000").
            until_s = self._retry_after(headers)
            m = re.search(r"until (\d{12,})", msg)
            if m:
                until_s = max(0.0, (int(m.group(1)) - self._server_now_ms()) / 1000)
            if until_s is None:
                until_s = 120.0
            self._banned_until = time.monotonic() + until_s
            self.stats["banned_418"] += 1
            log.error(
                "%s: IP banned by Binance for %.0fs; refusing requests locally until then", where, until_s
            )
            raise ExchangeError(code if code is not None else _TOO_MANY_REQUESTS, msg)
        if status == 429:
            self._consecutive_429 += 1
            delay = self._retry_after(headers)
            if delay is None:
                delay = min(60.0, 0.5 * 2 ** (self._consecutive_429 - 1)) * (0.75 + random.random() / 4)
            self._backoff_until = max(self._backoff_until, time.monotonic() + delay)
            self.stats["rate_limited_429"] += 1
            log.warning("%s: rate limited; backing off %.2fs", where, delay)
            raise ExchangeError(code if code is not None else _TOO_MANY_REQUESTS, msg)
        if code in _UNKNOWN_CODES:
            self.stats["unknown_outcomes"] += 1
            raise ExchangeTimeout(code, msg)
        if status == 503:
            if msg.startswith(_UNKNOWN_503):
                self.stats["unknown_outcomes"] += 1
                raise ExchangeTimeout(code if code is not None else -1006, msg)
            # "Service Unavailable." / "Internal error; ... try again." / -1008: failures.
            raise ExchangeError(code if code is not None else -1, msg)
        if code is not None:
            raise (ExchangeAuthError if code in AUTH_CODES else ExchangeError)(code, msg)
        if status >= 500 or status == 408:
            # 5xx without a code: the docs say the execution status is UNKNOWN; 408 is a backend
            # timeout (docs/binance-protocol.md, "REST signing and limits").
            self.stats["unknown_outcomes"] += 1
            raise ExchangeTimeout(-1006, f"{where}: {msg}")
        raise ExchangeError(-1, f"{where}: {msg}")

    # ----------------------------------------------------------------- public data

    async def get_server_time(self) -> int:
        body = await self._request("GET", "/fapi/v1/time", weight=1)
        return int(body["serverTime"])

    async def get_exchange_info(self, *, refresh: bool = False) -> dict[str, Any]:
        if self._info is not None and not refresh:
            return self._info
        if self._info_lock is None:
            self._info_lock = asyncio.Lock()
        async with self._info_lock:
            if self._info is not None and not refresh:
                return self._info
            info: dict[str, Any] = await self._request("GET", "/fapi/v1/exchangeInfo", weight=1)
            rules: dict[str, SymbolRules] = {}
            for sym in info.get("symbols", ()):
                try:
                    r = SymbolRules.from_exchange_info(sym)
                except (KeyError, TypeError, InvalidOperation) as e:
                    log.warning("exchangeInfo: skipping a symbol with unreadable filters: %s", e)
                    continue
                rules[r.symbol] = r
            self._rules = rules
            self._apply_rate_limits(info)
            self._info = info
            return info

    async def symbol_rules(self, symbol: str) -> SymbolRules:
        if self._info is None:
            await self.get_exchange_info()
        r = self._rules.get(symbol)
        if r is None:
            await self.get_exchange_info(refresh=True)  # maybe listed since the cache was filled
            r = self._rules.get(symbol)
            if r is None:
                raise ValueError(f"unknown symbol {symbol!r} (not in exchangeInfo); nothing was sent")
        return r

    # ----------------------------------------------------------------- orders

    @staticmethod
    def _decimal_text(name: str, value: Any) -> str:
        if isinstance(value, str):
            text = value.strip()
        elif isinstance(value, float):
            raise TypeError(f"{name} must be a decimal string, not a float ({value!r})")
        elif isinstance(value, Decimal):
            if not value.is_finite():
                raise ValueError(f"{name} {value} is not finite")
            text = _plain(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        else:
            raise TypeError(f"{name} must be a decimal string, got {type(value).__name__}")
        if not _DECIMAL_RE.fullmatch(text):
            raise ValueError(f"{name} {value!r} is not a plain positive decimal string")
        return text

    async def place_order(
        self,
        symbol: str,
        side: str,
        order_type: str,
        quantity: str,
        *,
        price: str | None = None,
        client_order_id: str,
        reduce_only: bool = False,
        time_in_force: str | None = None,
        self_trade_prevention: str | None = None,
    ) -> dict[str, Any]:
        params = await self._order_params(
            symbol,
            side,
            order_type,
            quantity,
            price=price,
            client_order_id=client_order_id,
            reduce_only=reduce_only,
            time_in_force=time_in_force,
            self_trade_prevention=self_trade_prevention,
        )
        return await self._request("POST", "/fapi/v1/order", params, signed=True, weight=0, orders=1)  # type: ignore[no-any-return]

    async def _order_params(
        self,
        symbol: str,
        side: str,
        order_type: str,
        quantity: str,
        *,
        price: str | None = None,
        client_order_id: str,
        reduce_only: bool = False,
        time_in_force: str | None = None,
        self_trade_prevention: str | None = None,
    ) -> dict[str, Any]:
        """The checked parameters of one new order: REST, batch and ws-fapi ``order.place`` share them."""
        if order_type in _ALGO_TYPES:
            raise ValueError(
                f"order type {order_type} lives in Binance's separate Algo API since 2025-12-09 (the order "
                "endpoint answers -4120); not supported by this client"
            )
        if order_type not in ("LIMIT", "MARKET"):
            raise ValueError(f"order type {order_type!r} not supported (LIMIT or MARKET)")
        if side not in _SIDES:
            raise ValueError(f"side {side!r} must be BUY or SELL")
        if not isinstance(client_order_id, str) or not _CLIENT_ID_RE.fullmatch(client_order_id):
            raise ValueError(f"client_order_id {client_order_id!r} must match ^[.A-Z:/a-z0-9_-]{{1,36}}$")
        qty = self._decimal_text("quantity", quantity)
        rules = self._rules.get(symbol) if self._info is not None else None
        if rules is None:
            rules = await self.symbol_rules(symbol)
        rules.check_quantity(qty, order_type)
        params: dict[str, Any]
        if order_type == "LIMIT":
            if price is None:
                raise ValueError("a LIMIT order needs a price")
            px = self._decimal_text("price", price)
            rules.check_price(px)
            tif = time_in_force or "GTC"
            if tif not in _TIFS:
                raise ValueError(f"time_in_force {tif!r} not one of {sorted(_TIFS)}")
            params = {
                "symbol": symbol,
                "side": side,
                "type": order_type,
                "timeInForce": tif,
                "quantity": qty,
                "price": px,
            }
        else:
            if price is not None:
                raise ValueError("a MARKET order takes no price")
            if time_in_force is not None:
                raise ValueError("a MARKET order takes no time_in_force")
            params = {"symbol": symbol, "side": side, "type": order_type, "quantity": qty}
        if reduce_only:
            # A string "true"/"false" (docs/binance-protocol.md, "REST endpoints").
            params["reduceOnly"] = "true"
        if self_trade_prevention is not None:
            # None leaves Binance's default (EXPIRE_MAKER); it acts only on GTC/IOC/GTD takers
            # (docs/binance-protocol.md, "Self-trade prevention").
            if self_trade_prevention not in _STP_MODES:
                raise ValueError(
                    f"self_trade_prevention {self_trade_prevention!r} not one of {sorted(_STP_MODES)}")
            params["selfTradePreventionMode"] = self_trade_prevention
        params["newClientOrderId"] = client_order_id
        return params

    async def _modify_params(
        self, symbol: str, side: str, quantity: str, price: str, *, client_order_id: str
    ) -> dict[str, Any]:
        """Checked parameters of an amend (docs/binance-protocol.md, "Amend in place").

        Binance's Modify Order takes LIMIT orders only and needs ``quantity`` and ``price`` both,
        plus the order's ``side``; the order is requeued at the new price.
        """
        if side not in _SIDES:
            raise ValueError(f"side {side!r} must be BUY or SELL")
        if not isinstance(client_order_id, str) or not _CLIENT_ID_RE.fullmatch(client_order_id):
            raise ValueError(f"client_order_id {client_order_id!r} must match ^[.A-Z:/a-z0-9_-]{{1,36}}$")
        qty = self._decimal_text("quantity", quantity)
        px = self._decimal_text("price", price)
        rules = self._rules.get(symbol) if self._info is not None else None
        if rules is None:
            rules = await self.symbol_rules(symbol)
        rules.check_quantity(qty, "LIMIT")
        rules.check_price(px)
        return {
            "symbol": symbol,
            "side": side,
            "quantity": qty,
            "price": px,
            "origClientOrderId": client_order_id,
        }

    async def modify_order(
        self, symbol: str, side: str, quantity: str, price: str, *, client_order_id: str
    ) -> dict[str, Any]:
        """Amend a LIMIT order in place (PUT /fapi/v1/order); returns the order JSON after the amend."""
        params = await self._modify_params(symbol, side, quantity, price, client_order_id=client_order_id)
        # Same limits as a new order: 1 on each ORDERS window, 0 IP weight (docs/binance-protocol.md,
        # "REST endpoints").
        return await self._request("PUT", "/fapi/v1/order", params, signed=True, weight=0, orders=1)  # type: ignore[no-any-return]

    async def place_orders(self, orders: Sequence[Mapping[str, Any]]) -> list[dict[str, Any] | ExchangeError]:
        """Up to 5 new orders in one POST /fapi/v1/batchOrders (docs/binance-protocol.md, "Batch orders").

        Each item of ``orders`` holds ``place_order``'s arguments by name (``symbol``, ``side``,
        ``order_type``, ``quantity``, ``client_order_id``, and optionally ``price``,
        ``reduce_only``, ``time_in_force``, ``self_trade_prevention``). Every item is checked before
        anything is sent (a bad item raises ValueError/TypeError and nothing is sent). The answer
        keeps the input order; an item the exchange refused is an ``ExchangeError``
        (``ExchangeTimeout`` for -1006/-1007) in its place, never raised. A failure of the request
        as a whole raises as ``place_order`` does.
        """
        if not 1 <= len(orders) <= 5:
            raise ValueError(f"a batch holds 1 to 5 orders, got {len(orders)}; nothing was sent")
        items: list[dict[str, Any]] = []
        for o in orders:
            kw = dict(o)
            try:
                args = (kw.pop("symbol"), kw.pop("side"), kw.pop("order_type"), kw.pop("quantity"))
            except KeyError as e:
                raise ValueError(f"batch item misses {e.args[0]!r}; nothing was sent") from None
            items.append(await self._order_params(*args, **kw))
        # Binance reads the batch as a JSON array of objects whose values are all strings.
        batch = orjson.dumps([{k: str(v) for k, v in it.items()} for it in items]).decode()
        body = await self._request(
            "POST",
            "/fapi/v1/batchOrders",
            {"batchOrders": batch},
            signed=True,
            weight=5,
            orders=len(items),
        )
        if not isinstance(body, list) or len(body) != len(items):
            self.stats["unknown_outcomes"] += 1
            raise ExchangeTimeout(-1006, "batchOrders: answer is not one item per order; outcome unknown")
        out: list[dict[str, Any] | ExchangeError] = []
        for item in body:
            if isinstance(item, dict) and "code" in item and "orderId" not in item:
                out.append(self._error_of("POST", "/fapi/v1/batchOrders", 400, {}, item))
            elif isinstance(item, dict):
                out.append(item)
            else:
                self.stats["unknown_outcomes"] += 1
                out.append(ExchangeTimeout(-1006, "batchOrders: unreadable item; outcome unknown"))
        return out

    def _error_of(
        self, method: str, path: str, status: int, headers: Mapping[str, str], body: Any
    ) -> ExchangeError:
        """The exception ``_raise_for`` maps an answer to, returned instead of raised."""
        try:
            self._raise_for(method, path, status, headers, body, b"")
        except ExchangeError as e:
            return e
        raise AssertionError("_raise_for always raises")  # pragma: no cover

    # ----------------------------------------------------------------- ws-fapi

    @property
    def ws_api(self) -> WsApiClient:
        """The ws-fapi order-entry client sharing this client's keys, clock and rate limits.

        Created on first access; it connects (and logs on) at its first request, or at once with
        ``await client.start_ws_api()``. ``close()`` closes it too.
        """
        ws = self._ws_api
        if ws is None:
            if not self.ws_api_url:
                raise ValueError(
                    f"no ws-fapi URL for base_url {self.base_url!r}: pass ws_api_url= (the simulator's "
                    "is sim.ws_api_url)"
                )
            from .ws_api import WsApiClient

            ws = self._ws_api = WsApiClient(self, self.ws_api_url)
        return ws

    async def start_ws_api(self) -> WsApiClient:
        """Connect the ws-fapi client now (and log on with an Ed25519 key); returns it."""
        ws = self.ws_api
        await ws.start()
        return ws

    async def cancel_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        return await self._request(  # type: ignore[no-any-return]
            "DELETE", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": client_order_id}, signed=True
        )

    async def get_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        return await self._request(  # type: ignore[no-any-return]
            "GET", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": client_order_id}, signed=True
        )

    async def get_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        # Weight 1 with a symbol, 40 without (docs/binance-protocol.md, "REST endpoints").
        params = {"symbol": symbol} if symbol else None
        body = await self._request(
            "GET", "/fapi/v1/openOrders", params, signed=True, weight=1 if symbol else 40
        )
        if not isinstance(body, list):
            raise ExchangeError(-1, "openOrders: expected a JSON array")
        return body

    # ----------------------------------------------------------------- algo (conditional) orders

    async def _algo_params(
        self,
        symbol: str,
        side: str,
        order_type: str,
        quantity: str | None,
        *,
        client_algo_id: str,
        trigger_price: str | None = None,
        price: str | None = None,
        callback_rate: str | None = None,
        activation_price: str | None = None,
        working_type: str = "CONTRACT_PRICE",
        reduce_only: bool = False,
        close_position: bool = False,
        price_protect: bool = False,
        time_in_force: str | None = None,
        self_trade_prevention: str | None = None,
    ) -> dict[str, Any]:
        """Checked parameters of New Algo Order (docs/binance-protocol.md, "Algo orders"): trigger,
        limit and activation prices on the tick size, the quantity on the step size, callbackRate
        0.1-10 in steps of 0.1. Refused here (ValueError) means nothing was sent."""
        if order_type not in _ALGO_TYPES:
            raise ValueError(f"order type {order_type!r} is no algo type ({sorted(_ALGO_TYPES)})")
        if side not in _SIDES:
            raise ValueError(f"side {side!r} must be BUY or SELL")
        if not isinstance(client_algo_id, str) or not _CLIENT_ID_RE.fullmatch(client_algo_id):
            raise ValueError(f"client_algo_id {client_algo_id!r} must match ^[.A-Z:/a-z0-9_-]{{1,36}}$")
        if working_type not in ("CONTRACT_PRICE", "MARK_PRICE"):
            raise ValueError(f"working_type {working_type!r} must be CONTRACT_PRICE or MARK_PRICE")
        rules = await self.symbol_rules(symbol)
        params: dict[str, Any] = {"algoType": "CONDITIONAL", "symbol": symbol, "side": side,
                                  "type": order_type, "workingType": working_type}
        market = order_type.endswith("_MARKET")
        if close_position:
            if order_type not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
                raise ValueError("close_position is for STOP_MARKET and TAKE_PROFIT_MARKET only")
            if reduce_only:
                raise ValueError("close_position takes no reduce_only")
            params["closePosition"] = "true"
        else:
            if quantity is None:
                raise ValueError("an algo order needs a quantity (or close_position)")
            qty = self._decimal_text("quantity", quantity)
            rules.check_quantity(qty, "MARKET" if market else "LIMIT")
            params["quantity"] = qty
        if order_type == "TRAILING_STOP_MARKET":
            if callback_rate is None:
                raise ValueError("a trailing stop needs a callback_rate")
            rate = Decimal(self._decimal_text("callback_rate", callback_rate))
            if not Decimal("0.1") <= rate <= Decimal("10") or rate % Decimal("0.1") != 0:
                raise ValueError(f"callback_rate {callback_rate} must be 0.1 to 10 in steps of 0.1")
            params["callbackRate"] = _plain(rate)
            if activation_price is not None:
                act = self._decimal_text("activation_price", activation_price)
                rules.check_price(act)
                params["activatePrice"] = act
        else:
            if trigger_price is None:
                raise ValueError(f"a {order_type} order needs a trigger_price")
            tp = self._decimal_text("trigger_price", trigger_price)
            rules.check_price(tp)
            params["triggerPrice"] = tp
        if market:
            if price is not None:
                raise ValueError(f"a {order_type} order takes no price")
        else:
            if price is None:
                raise ValueError(f"a {order_type} order needs a price")
            px = self._decimal_text("price", price)
            rules.check_price(px)
            tif = time_in_force or "GTC"
            if tif not in _TIFS:
                raise ValueError(f"time_in_force {tif!r} not one of {sorted(_TIFS)}")
            params.update(price=px, timeInForce=tif)
        if reduce_only:
            params["reduceOnly"] = "true"
        if price_protect:
            params["priceProtect"] = "true"
        if self_trade_prevention is not None:
            if self_trade_prevention not in _STP_MODES:
                raise ValueError(
                    f"self_trade_prevention {self_trade_prevention!r} not one of {sorted(_STP_MODES)}")
            params["selfTradePreventionMode"] = self_trade_prevention
        params["clientAlgoId"] = client_algo_id
        return params

    async def place_algo_order(self, symbol: str, side: str, order_type: str, quantity: str | None,
                               **kw: Any) -> dict[str, Any]:
        """POST /fapi/v1/algoOrder; keywords as ``_algo_params``."""
        params = await self._algo_params(symbol, side, order_type, quantity, **kw)
        return await self._request(  # type: ignore[no-any-return]
            "POST", "/fapi/v1/algoOrder", params, signed=True, weight=0, orders=1)

    async def cancel_algo_order(self, symbol: str, *, client_algo_id: str) -> dict[str, Any]:
        return await self._request(  # type: ignore[no-any-return]
            "DELETE", "/fapi/v1/algoOrder", {"symbol": symbol, "clientAlgoId": client_algo_id}, signed=True
        )

    async def get_algo_order(self, symbol: str, *, client_algo_id: str) -> dict[str, Any]:
        return await self._request(  # type: ignore[no-any-return]
            "GET", "/fapi/v1/algoOrder", {"symbol": symbol, "clientAlgoId": client_algo_id}, signed=True
        )

    async def get_open_algo_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        params = {"symbol": symbol} if symbol else None
        body = await self._request("GET", "/fapi/v1/openAlgoOrders", params, signed=True,
                                   weight=1 if symbol else 40)
        if isinstance(body, dict) and isinstance(body.get("orders"), list):
            body = body["orders"]
        if not isinstance(body, list):
            raise ExchangeError(-1, "openAlgoOrders: expected a JSON array")
        return body

    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> dict[str, Any]:
        """POST /fapi/v1/countdownCancelAll (docs/binance-protocol.md, "Dead-man switch"); 0 stops it."""
        if isinstance(countdown_ms, bool) or not isinstance(countdown_ms, int) or countdown_ms < 0:
            raise ValueError(f"countdown_ms must be an int >= 0, not {countdown_ms!r}")
        return await self._request(  # type: ignore[no-any-return]
            "POST", "/fapi/v1/countdownCancelAll", {"symbol": symbol, "countdownTime": countdown_ms},
            signed=True, weight=10)

    async def cancel_all_orders(self, symbol: str) -> dict[str, Any]:
        return await self._request(  # type: ignore[no-any-return]
            "DELETE", "/fapi/v1/allOpenOrders", {"symbol": symbol}, signed=True
        )

    # ----------------------------------------------------------------- user data stream

    async def create_listen_key(self) -> str:
        # USER_STREAM security: API key header only, no signature
        # (docs/binance-protocol.md, "User data stream").
        body = await self._request("POST", "/fapi/v1/listenKey", weight=1)
        key = str(body["listenKey"])
        self._remember_secret(key)
        return key

    async def keepalive_listen_key(self) -> None:
        # -1125 (unknown key) propagates as ExchangeError: the caller creates a new key.
        await self._request("PUT", "/fapi/v1/listenKey", weight=1)

    async def close_listen_key(self) -> None:
        await self._request("DELETE", "/fapi/v1/listenKey", weight=1)
