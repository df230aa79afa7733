"""Order entry over Binance's WebSocket API (ws-fapi), on the REST client's keys, clock and limits.

Everything here follows docs/binance-protocol.md, "WebSocket API":

- One persistent picows connection on the running loop. A request is ``{"id", "method", "params"}``
  with an int id; the answer ``{"id", "status", "result" | "error", "rateLimits"}`` resolves the
  future registered under that id.
- Signing: the params except ``signature``, sorted by name, joined as ``k=v&...``, signed by the
  REST client's ``_sign`` (HMAC-SHA256 hex, or an RSA/Ed25519 signature in plain base64: the
  websocket sends JSON, so the URL-encoding REST needs is undone). ``apiKey``, ``timestamp``
  and ``recvWindow`` go into the params. With an Ed25519 key the connection logs on once
  (``session.logon``, which Binance accepts for Ed25519 keys only); later requests then carry
  only ``timestamp``/``recvWindow``. After a reconnect it logs on again before any request.
- Outcomes, as REST: errors map through the REST client's ``_raise_for`` (same codes, same
  ExchangeError / ExchangeTimeout split, same 418/429 handling); -1021 resyncs the clock and
  retries once. A request with no answer within ``timeout``, or in flight when the connection
  drops, fails with ``ExchangeTimeout`` (outcome unknown) and is never re-sent; the deadlines wait
  in the pending entries under one loop timer (armed at the earliest), not a timer per request.
  A request that could not be sent because no connection was ready fails with ``ExchangeError(-1)``.
- Limits: ``rateLimits`` in answers feed the REST client's windows; requests pass through the
  same ``_pace`` as REST ones (ws-fapi and REST share the account's and IP's limits).
- Connection: Binance pings every 3 minutes and the listener answers; a connection silent for
  ``silence_timeout`` is dropped; before the 24 h limit (or on ``reconnect()``) new requests wait
  while in-flight ones drain, then the connection is replaced. Reconnects back off exponentially
  with jitter.
- Lifecycle: the first request starts the connection (``start()`` does it eagerly); the client
  keeps one connection until ``close()``. ``get_open_orders`` goes over REST, so the client is a
  whole ``ExchangeClient`` (plus ``modify_order``) the order manager can use.

Keys, secrets and signatures never reach logs or exception texts: frames sent are never logged,
and error messages pass the REST client's scrubber.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from typing import TYPE_CHECKING, Any

import orjson
from picows import WSMsgType

from ..feed._ws import Backoff, Connection, open_connection
from .errors import ExchangeError, ExchangeTimeout

if TYPE_CHECKING:
    from .binance import BinanceFuturesClient

__all__ = ["WsApiClient"]

log = logging.getLogger(__name__)

_TEXT = WSMsgType.TEXT
_INVALID_TIMESTAMP = -1021
# Binance closes a ws-fapi connection after 24 h; rotate a little before that.
MAX_CONNECTION_AGE = 23.5 * 3600
# Binance pings every 3 minutes; three missed pings means the connection is dead.
SILENCE_TIMEOUT = 600.0
# Weights (docs/binance-protocol.md, "WebSocket API"): a new connection costs 5, session.logon 2.
_HANDSHAKE_WEIGHT = 5
_LOGON_WEIGHT = 2


def _is_ed25519(key: Any) -> bool:
    if key is None:
        return False
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return isinstance(key, ed25519.Ed25519PrivateKey)


class WsApiClient:
    """A ws-fapi order-entry client; same method shapes as the REST client's order methods.

    ``logon``: None logs on with ``session.logon`` when the REST client holds an Ed25519
    ``private_key``, and signs every request otherwise; True requires an Ed25519 key.
    """

    def __init__(
        self,
        rest: BinanceFuturesClient,
        url: str,
        *,
        timeout: float | None = None,
        logon: bool | None = None,
        backoff_base: float = 0.25,
        backoff_max: float = 30.0,
        silence_timeout: float = SILENCE_TIMEOUT,
        max_connection_age: float = MAX_CONNECTION_AGE,
    ) -> None:
        ed = _is_ed25519(rest._private_key)
        if logon is None:
            logon = ed
        elif logon and not ed:
            raise ValueError("session.logon needs an Ed25519 private_key (Binance accepts no other key type)")
        self._rest = rest
        self.url = url
        self.timeout = rest.timeout if timeout is None else float(timeout)
        self.logon = bool(logon)
        self.silence_timeout = float(silence_timeout)
        self.max_connection_age = float(max_connection_age)
        self._backoff = Backoff(backoff_base, backoff_max)
        self._conn: Connection | None = None
        self._session_conn: Connection | None = None  # the connection session.logon succeeded on
        self._wake: asyncio.Event | None = None  # set by reconnect() while a connection is watched
        self._ready: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._next_id = 0
        # id -> (future, method, connection, deadline on loop.time(), connection's frame count at send)
        self._pending: dict[int, tuple[asyncio.Future[Any], str, Connection, float, int]] = {}
        # One timer for all requests in flight, armed at the earliest deadline (see _expire).
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._timer_loop: asyncio.AbstractEventLoop | None = None
        self._problem = "not connected yet"  # why the client is not ready (scrubbed; for errors)
        self.stats: dict[str, int] = {
            "requests": 0,
            "connects": 0,
            "connect_failures": 0,
            "disconnects": 0,
            "logons": 0,
            "logon_failures": 0,
            "unknown_outcomes": 0,
            "late_answers": 0,
        }

    def __repr__(self) -> str:
        return f"WsApiClient(url={self.url!r}, logon={self.logon}, connected={self.connected})"

    # ----------------------------------------------------------------- lifecycle

    @property
    def connected(self) -> bool:
        """A connection is open and (with logon) logged on: requests go out at once."""
        return self._ready is not None and self._ready.is_set() and self._conn is not None

    def _ensure_started(self) -> asyncio.Event:
        if self._closed:
            raise ExchangeError(-1, "ws-api client is closed; request not sent")
        if self._ready is None:
            self._ready = asyncio.Event()
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="ws-api")
        return self._ready

    async def start(self) -> None:
        """Connect (and log on) now. Raises ``ExchangeError(-1)`` when not ready within ``timeout``;
        the client keeps trying in the background either way."""
        await self._wait_ready()

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        conn = self._conn
        if conn is not None:
            conn.finish("closed by client")
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if conn is not None:
            self._fail_pending(conn, "closed by the client")
            await conn.closed()
        self._conn = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    async def _wait_ready(self) -> Connection:
        ready = self._ensure_started()
        conn = self._conn
        if ready.is_set() and conn is not None and not conn.done.done():
            return conn
        try:
            await asyncio.wait_for(ready.wait(), self.timeout)
        except TimeoutError:
            raise ExchangeError(-1, f"ws-api not connected ({self._problem}); request not sent") from None
        conn = self._conn
        if conn is None or conn.done.done():
            raise ExchangeError(-1, f"ws-api connection lost ({self._problem}); request not sent")
        return conn

    async def _run(self) -> None:
        """Keep one connection open (and logged on); fail what was in flight when it ends."""
        assert self._ready is not None
        loop = asyncio.get_running_loop()
        rest = self._rest
        while not self._closed:
            try:
                await rest._pace(_HANDSHAKE_WEIGHT, 0)
                conn = await open_connection(self.url, self._on_data, handshake_timeout=self.timeout)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.stats["connect_failures"] += 1
                self._problem = rest._scrub(f"cannot connect: {type(e).__name__}: {e}")
                delay = self._backoff.next_delay()
                log.warning("ws-api %s: %s; retrying in %.2fs", self.url, self._problem, delay)
                await asyncio.sleep(delay)
                continue
            self.stats["connects"] += 1
            self._conn = conn
            # Requests stop queueing on a connection the moment it ends, before this loop wakes.
            conn.done.add_done_callback(lambda _f: self._ready.clear() if self._ready is not None else None)
            opened = loop.time()
            if self.logon:
                try:
                    await self._logon(conn)
                except asyncio.CancelledError:
                    conn.finish("closed by client")
                    raise
                except Exception as e:  # a definite refusal, no answer, or no clock: try again later
                    self.stats["logon_failures"] += 1
                    self._problem = rest._scrub(f"session.logon failed: {e}")
                    conn.finish("logon failed")
                    self._conn = None
                    delay = self._backoff.next_delay()
                    log.error("ws-api %s: %s; reconnecting in %.2fs", self.url, self._problem, delay)
                    await asyncio.sleep(delay)
                    continue
            if not conn.done.done():
                self._problem = "connected"
                self._ready.set()
            log.info("ws-api connected to %s%s", self.url, " (logged on)" if self.logon else "")
            reason = await self._watch(conn, opened, loop)
            self._ready.clear()
            self._conn = None
            self._session_conn = None
            self.stats["disconnects"] += 1
            self._problem = f"connection ended: {reason}"
            self._fail_pending(conn, reason)
            await conn.closed()
            if self._closed:
                break
            if loop.time() - opened > 60.0:
                self._backoff.reset()  # it was up for a while: the next failure starts the ramp again
            planned = reason in ("max connection age", "replaced on request")
            delay = 0.0 if planned else self._backoff.next_delay()
            log.log(
                logging.INFO if planned else logging.WARNING,
                "ws-api connection ended (%s); reconnecting in %.2fs",
                reason,
                delay,
            )
            await asyncio.sleep(delay)

    async def _watch(self, conn: Connection, opened: float, loop: asyncio.AbstractEventLoop) -> str:
        assert self._ready is not None
        wake = self._wake = asyncio.Event()
        waker = loop.create_task(wake.wait())
        last_frames = conn.frames
        last_change = loop.time()
        draining: str | None = None
        draining_since = 0.0
        try:
            while True:
                rotate_at = opened + self.max_connection_age
                if draining is not None:
                    step = 0.02
                else:
                    step = max(0.02, min(self.silence_timeout / 4, 5.0, rotate_at - loop.time()))
                await asyncio.wait((conn.done, waker), timeout=step, return_when=asyncio.FIRST_COMPLETED)
                if conn.done.done():
                    return conn.done.result()
                now = loop.time()
                if conn.frames != last_frames:
                    last_frames = conn.frames
                    last_change = now
                elif now - last_change >= self.silence_timeout:
                    conn.finish("silent")
                if draining is None and (waker.done() or now >= rotate_at):
                    # Stop sending here, let what is in flight be answered, then close and
                    # reconnect: a drop would leave those requests' outcome unknown. Binance ends
                    # a connection at 24 h; reconnect() asks for the same.
                    draining = "replaced on request" if waker.done() else "max connection age"
                    self._ready.clear()
                    draining_since = now
                if draining is not None and (
                    not any(e[2] is conn for e in self._pending.values())
                    or now - draining_since > self.timeout
                ):
                    conn.finish(draining)
        finally:
            waker.cancel()
            self._wake = None

    async def reconnect(self) -> None:
        """Replace the connection without failing what is in flight: new requests wait, the ones
        sent are answered (or time out) on the old connection, then a new one opens (and logs on).
        Returns when the new connection is ready."""
        ready = self._ensure_started()
        if self._wake is not None:
            ready.clear()
            self._wake.set()
        await self._wait_ready()

    def _fail_pending(self, conn: Connection, reason: str) -> None:
        for rid, (fut, method, c, _, _) in list(self._pending.items()):
            if c is not conn:
                continue
            del self._pending[rid]
            if not fut.done():
                self.stats["unknown_outcomes"] += 1
                fut.set_exception(
                    ExchangeTimeout(
                        -1007, f"ws-api {method}: connection {reason} before the answer; outcome unknown"
                    )
                )

    async def _logon(self, conn: Connection) -> None:
        rest = self._rest
        for attempt in (0, 1):
            if rest._time_offset_ms is None or attempt:
                await rest._sync_time()
            await rest._pace(_LOGON_WEIGHT, 0)
            try:
                await self._roundtrip(conn, "session.logon", self._signed({}, with_key=True))
            except ExchangeError as e:
                if attempt == 0 and e.code == _INVALID_TIMESTAMP and not isinstance(e, ExchangeTimeout):
                    continue
                raise
            self._session_conn = conn
            self.stats["logons"] += 1
            return

    # ----------------------------------------------------------------- frames

    def _on_data(self, data: bytes) -> None:
        # Runs inside picows' frame callback, which drops the connection if it raises.
        try:
            self._dispatch(data)
        except Exception:
            log.exception("ws-api: frame handling failed")

    def _dispatch(self, data: bytes) -> None:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            log.warning("ws-api: unreadable frame of %d bytes ignored", len(data))
            return
        if not isinstance(msg, dict):
            return
        rest = self._rest
        rate_limits = msg.get("rateLimits")
        if rate_limits is not None:
            rest._observe_rate_limits(rate_limits)
        rid = msg.get("id")
        entry = self._pending.pop(rid, None) if isinstance(rid, int) else None
        if entry is None:
            self._unmatched(rid, msg)
            return
        fut = entry[0]
        if fut.done():
            return
        status = msg.get("status")
        if status == 200:
            if "result" in msg:
                fut.set_result(msg["result"])
            else:
                self.stats["unknown_outcomes"] += 1
                fut.set_exception(ExchangeTimeout(-1006, f"ws-api {entry[1]}: status 200 without a result"))
            return
        fut.set_exception(self._error(entry[1], status, msg.get("error")))

    def _error(self, method: str, status: Any, error: Any) -> ExchangeError:
        headers: dict[str, str] = {}
        if isinstance(error, dict):
            data = error.get("data")
            # Binance's ws-api 429/418 answers carry ``data.retryAfter`` (epoch ms), the websocket
            # counterpart of the Retry-After header REST's mapping reads.
            if isinstance(data, dict) and isinstance(data.get("retryAfter"), int):
                wait_ms = data["retryAfter"] - self._rest._server_now_ms()
                headers["Retry-After"] = str(max(0.0, wait_ms / 1000))
        try:
            code = int(status)
        except (TypeError, ValueError):
            code = 0
        err = self._rest._error_of("ws-api", method, code, headers, error)
        if isinstance(err, ExchangeTimeout):
            self.stats["unknown_outcomes"] += 1
        return err

    def _unmatched(self, rid: Any, msg: dict[str, Any]) -> None:
        error = msg.get("error")
        if rid is None and isinstance(error, dict):
            # An error without an id is about the session, e.g. -2015 when the logged-on key is
            # revoked (docs/binance-protocol.md, "Error codes"): later requests sign one by one and
            # get the exchange's definite answer.
            self._session_conn = None
            log.error("ws-api session error: %s", self._error("session", msg.get("status"), error))
            return
        self.stats["late_answers"] += 1
        log.info("ws-api: answer for request id %r that is no longer waited for (timed out)", rid)

    # ----------------------------------------------------------------- requests

    def _signed(self, params: dict[str, Any], *, with_key: bool) -> dict[str, Any]:
        rest = self._rest
        p = dict(params)
        if None in p.values():
            p = {k: v for k, v in p.items() if v is not None}
        p["recvWindow"] = rest.recv_window
        p["timestamp"] = rest._server_now_ms()
        if with_key:
            if not rest._api_key:
                raise ExchangeError(-2015, "no API key configured (argument or BINANCE_API_KEY)")
            p["apiKey"] = rest._api_key
            sig = rest._sign("&".join([f"{k}={p[k]}" for k in sorted(p)]))
            # REST URL-encodes base64 signatures (RSA/Ed25519); JSON carries them as they are. An
            # HMAC signature is hex: nothing to undo.
            p["signature"] = sig if rest._private_key is None else urllib.parse.unquote(sig)
        return p

    async def _roundtrip(self, conn: Connection, method: str, params: dict[str, Any]) -> Any:
        tr = conn.transport
        if tr is None or conn.done.done():
            raise ExchangeError(-1, f"ws-api {method}: connection lost; request not sent")
        loop = asyncio.get_running_loop()
        self._next_id += 1
        rid = self._next_id
        fut: asyncio.Future[Any] = loop.create_future()
        # No timer per request: the deadline waits in the entry and one timer (_expire) serves all.
        deadline = loop.time() + self.timeout
        self._pending[rid] = (fut, method, conn, deadline, conn.frames)
        timer = self._timer
        # (A timer of another loop, one this client was used on before, would never fire here.)
        if timer is None or deadline < self._timer_at or self._timer_loop is not loop:
            if timer is not None:
                timer.cancel()
            self._timer = loop.call_at(deadline, self._expire)
            self._timer_at = deadline
            self._timer_loop = loop
        self.stats["requests"] += 1
        try:
            tr.send(_TEXT, orjson.dumps({"id": rid, "method": method, "params": params}))
        except Exception as e:
            # A transport that fails mid-write may have sent part or all of the frame.
            self._pending.pop(rid, None)
            self.stats["unknown_outcomes"] += 1
            conn.finish("send failed")
            raise ExchangeTimeout(
                -1007, f"ws-api {method}: send failed ({type(e).__name__}); outcome unknown"
            ) from None
        try:
            return await fut
        finally:
            self._pending.pop(rid, None)

    def _expire(self) -> None:
        """Fail every request whose deadline passed with ``ExchangeTimeout`` (outcome unknown); re-arm
        for the earliest deadline left."""
        self._timer = None
        loop = asyncio.get_running_loop()
        # Loop timers may fire up to a clock tick early (libuv counts milliseconds).
        now = loop.time() + 0.001
        nearest = 0.0
        for rid, (fut, method, conn, deadline, frames_at_send) in list(self._pending.items()):
            if deadline > now:
                if not nearest or deadline < nearest:
                    nearest = deadline
                continue
            del self._pending[rid]
            if fut.done():
                continue
            self.stats["unknown_outcomes"] += 1
            if conn.frames == frames_at_send:
                conn.finish("no answer")  # nothing at all came back: treat the connection as dead
            fut.set_exception(
                ExchangeTimeout(-1007, f"ws-api {method}: no answer within {self.timeout}s; outcome unknown")
            )
        if nearest:
            self._timer = loop.call_at(nearest, self._expire)
            self._timer_at = nearest

    async def _call(self, method: str, params: dict[str, Any], *, weight: int, orders: int) -> Any:
        rest = self._rest
        if rest._time_offset_ms is None:
            await rest._sync_time()
        for attempt in (0, 1):
            # _wait_ready's answer when the connection is up and watched, without a coroutine.
            conn, ready, task = self._conn, self._ready, self._task
            if (
                conn is None
                or ready is None
                or task is None
                or self._closed
                or not ready.is_set()
                or conn.done.done()
                or task.done()
            ):
                conn = await self._wait_ready()
            if not rest._pace_now(weight, orders):
                await rest._pace(weight, orders)
                if conn.done.done():
                    conn = await self._wait_ready()  # it dropped while pacing; nothing was sent
            signed = self._signed(params, with_key=self._session_conn is not conn)
            try:
                return await self._roundtrip(conn, method, signed)
            except ExchangeError as e:
                # -1021 is a definite reject: resync the clock and retry once, as REST does.
                if attempt == 0 and e.code == _INVALID_TIMESTAMP and not isinstance(e, ExchangeTimeout):
                    log.warning("ws-api %s: -1021 (clock), resyncing server time and retrying once", method)
                    await rest._sync_time()
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ----------------------------------------------------------------- orders

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
        params = await self._rest._order_params(
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
        return await self._call("order.place", params, weight=0, orders=1)  # type: ignore[no-any-return]

    async def modify_order(
        self, symbol: str, side: str, quantity: str, price: str, *, client_order_id: str
    ) -> dict[str, Any]:
        params = await self._rest._modify_params(
            symbol, side, quantity, price, client_order_id=client_order_id
        )
        return await self._call("order.modify", params, weight=0, orders=1)  # type: ignore[no-any-return]

    async def cancel_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        return await self._call("order.cancel", params, weight=1, orders=0)  # type: ignore[no-any-return]

    async def get_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        return await self._call("order.status", params, weight=1, orders=0)  # type: ignore[no-any-return]

    # ----------------------------------------------------------------- algo (conditional) orders

    async def place_algo_order(self, symbol: str, side: str, order_type: str, quantity: str | None,
                               **kw: Any) -> dict[str, Any]:
        """ws-fapi ``algoOrder.place`` (docs/binance-protocol.md, "WebSocket API", "Algo orders"):
        the parameters of REST's New Algo Order, checked the same way; keywords as REST's."""
        params = await self._rest._algo_params(symbol, side, order_type, quantity, **kw)
        return await self._call("algoOrder.place", params, weight=0, orders=1)  # type: ignore[no-any-return]

    async def cancel_algo_order(self, symbol: str, *, client_algo_id: str) -> dict[str, Any]:
        """ws-fapi ``algoOrder.cancel`` by our clientAlgoId."""
        params = {"symbol": symbol, "clientAlgoId": client_algo_id}
        return await self._call("algoOrder.cancel", params, weight=1, orders=0)  # type: ignore[no-any-return]

    async def get_algo_order(self, symbol: str, *, client_algo_id: str) -> dict[str, Any]:
        # ws-fapi has no algo status query: REST's, as get_open_orders below.
        return await self._rest.get_algo_order(symbol, client_algo_id=client_algo_id)

    async def get_open_algo_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return await self._rest.get_open_algo_orders(symbol)

    async def countdown_cancel_all(self, symbol: str, countdown_ms: int) -> dict[str, Any]:
        return await self._rest.countdown_cancel_all(symbol, countdown_ms)

    async def get_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        # Over REST: this client sends only the order methods on ws-fapi. With it, the ws client
        # is a whole ExchangeClient the order manager can take.
        return await self._rest.get_open_orders(symbol)
