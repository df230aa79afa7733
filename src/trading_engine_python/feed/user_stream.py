"""UserStreamService: Binance's user-data websocket driving the order manager.

- Route: ``{ws_url}/private/ws/{listenKey}``; the unprefixed routes no longer carry user data
  since 2026-04-23 (docs/binance-protocol.md, "User data stream").
- ORDER_TRADE_UPDATE frames go as raw bytes to ``manager.feed(data)`` from picows' synchronous
  frame callback (the compiled path; ``feed`` never raises). The event type is found by a bytes
  search near the start of the frame; anything else is parsed with orjson and handed to the
  listeners registered with ``add_listener`` (sync or async callbacks).
- listenKey ("User data stream"): POST at every (re)connect (an active key comes back extended,
  an expired one is replaced), PUT every ``keepalive_interval`` (clients use 30 min; the key lives
  60), -1125 on PUT = the key is gone: reconnect with a fresh POST.
- Reconnect on any drop, on ``listenKeyExpired``, on silence (no frame or ping for
  ``silence_timeout``; Binance pings every 3 min), and before the 24 h cut
  (``max_connection_age``); failures back off exponentially with jitter.
- After every (re)connect, frames are buffered while ``await manager.reconcile()`` runs (the
  stream has no replay, "User data stream"), then fed in arrival order, then live frames go
  straight through.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import orjson

from ..exchange.binance import PRODUCTION_WS
from ..exchange.errors import ExchangeError
from ._ws import Backoff, Connection, call_listener, open_connection, scrub_url, watch

__all__ = ["UserStreamService"]

log = logging.getLogger(__name__)

# Binance writes "e" first (docs/binance-protocol.md, "Order update event", and every real
# sample); 96 bytes leaves room for a differently ordered envelope. A miss falls back to orjson,
# so this is only a fast path.
_OTU_TAG = b'"e":"ORDER_TRADE_UPDATE"'
# ALGO_UPDATE (docs/binance-protocol.md, "Algo orders") goes to manager.feed as raw bytes too.
_ALGO_TAG = b'"e":"ALGO_UPDATE"'
_OTU_SCAN = 96
_INVALID_LISTEN_KEY = -1125
_PLANNED = frozenset(("listenKeyExpired", "listenKey invalid", "max connection age"))
_MAX_RECONCILE_ROUNDS = 3


class UserStreamService:
    def __init__(
        self,
        client: Any,
        manager: Any,
        *,
        ws_url: str = PRODUCTION_WS,
        keepalive_interval: float = 1800.0,
        silence_timeout: float = 300.0,
        max_connection_age: float = 23.5 * 3600,
        reconnect_backoff: tuple[float, float] = (0.1, 30.0),
        handshake_timeout: float = 10.0,
        close_listen_key_on_stop: bool = True,
        max_buffer: int = 200_000,
        reconcile_interval: float | None = None,
    ) -> None:
        feed = getattr(manager, "feed", None)
        if not callable(feed):
            raise TypeError("manager must have a synchronous feed(data: bytes) method")
        self._client = client
        self._manager = manager
        self._feed: Callable[[bytes], Any] = feed
        self.ws_url = ws_url.rstrip("/")
        self.keepalive_interval = float(keepalive_interval)
        self.silence_timeout = float(silence_timeout)
        self.max_connection_age = float(max_connection_age)
        self.reconnect_backoff = (float(reconnect_backoff[0]), float(reconnect_backoff[1]))
        self.handshake_timeout = float(handshake_timeout)
        self.close_listen_key_on_stop = close_listen_key_on_stop
        self.max_buffer = int(max_buffer)
        # A frame lost on a live connection (nothing drops, so nothing reconnects) is only noticed
        # by the next reconcile; this forces one every so often (off by default: it holds live
        # frames back for the REST round trips and costs weight 40 per openOrders call).
        self.reconcile_interval = reconcile_interval

        self._listeners: dict[str, list[Callable[[dict[str, Any]], Any]]] = {}
        self._otu_listeners: list[Callable[[dict[str, Any]], Any]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: Connection | None = None
        self._connected_at = 0.0
        self._listen_key: str | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._keepalive: asyncio.Task[None] | None = None
        self._periodic: asyncio.Task[None] | None = None
        self._stopping = False
        self._ready = asyncio.Event()
        # One reconcile at a time: a reconnect and a periodic reconcile share the buffer.
        self._reconcile_lock = asyncio.Lock()

        self._buffering = False
        self._buffer: list[bytes] = []
        self._overflow = False

        # counters (plain ints: the frame path touches them)
        self._dropped = 0
        self._order_updates = 0
        self._algo_updates = 0  # ALGO_UPDATE frames fed to the manager (counted in other_events too)
        self._other_events = 0
        self._malformed = 0
        self._feed_errors = 0
        self._listener_errors = 0
        self._reconnects = 0
        self._connects = 0
        self._listen_key_creates = 0
        self._listen_key_renewals = 0
        self._listen_key_expired = 0
        self._reconciles = 0
        self._buffered = 0
        self._buffer_peak = 0
        self._buffer_overflows = 0
        self._last_reason = ""

    # ----------------------------------------------------------------- public API

    def __repr__(self) -> str:
        return f"UserStreamService(ws_url={self.ws_url!r}, connected={self.connected})"

    @property
    def connected(self) -> bool:
        c = self._conn
        return c is not None and not c.done.done() and not self._buffering

    def add_listener(self, event_type: str, callback: Callable[[dict[str, Any]], Any]) -> None:
        """Call ``callback(event_dict)`` for each event of ``event_type`` ("*" = every non-order event).

        ORDER_TRADE_UPDATE listeners get a parsed copy (after the manager has seen the raw frame);
        registering one costs an orjson parse per order event.
        """
        if event_type == "ORDER_TRADE_UPDATE":
            self._otu_listeners.append(callback)
        else:
            self._listeners.setdefault(event_type, []).append(callback)

    def stats(self) -> dict[str, Any]:
        return {
            "frames": self._order_updates
            + self._other_events
            + self._malformed
            + len(self._buffer)
            + self._dropped,
            "order_updates": self._order_updates,
            "algo_updates": self._algo_updates,
            "other_events": self._other_events,
            "malformed": self._malformed,
            "feed_errors": self._feed_errors,
            "listener_errors": self._listener_errors,
            "connects": self._connects,
            "reconnects": self._reconnects,
            "listen_key_creates": self._listen_key_creates,
            "listen_key_renewals": self._listen_key_renewals,
            "listen_key_expired": self._listen_key_expired,
            "reconciles": self._reconciles,
            "buffered_frames": self._buffered,
            "buffer_peak": self._buffer_peak,
            "buffer_overflows": self._buffer_overflows,
            "dropped_on_overflow": self._dropped,
            "connected": self.connected,
            "last_reconnect_reason": self._last_reason,
        }

    async def start(self) -> None:
        """Connect, reconcile, and keep the stream alive in the background.

        The first connection is made here, so a bad key or an unreachable exchange raises.
        """
        if self._supervisor is not None:
            raise RuntimeError("UserStreamService already started")
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        await self._open()
        self._supervisor = asyncio.create_task(self._supervise(), name="user-stream-supervisor")
        self._keepalive = asyncio.create_task(self._keepalive_loop(), name="user-stream-keepalive")
        if self.reconcile_interval:
            self._periodic = asyncio.create_task(self._periodic_reconcile(), name="user-stream-reconcile")

    async def stop(self) -> None:
        self._stopping = True
        tasks = [t for t in (self._periodic, self._keepalive, self._supervisor) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._periodic = self._keepalive = self._supervisor = None
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.finish("stopped")
            await conn.closed()
        if self._tasks:
            _, pending = await asyncio.wait(list(self._tasks), timeout=1.0)
            for t in pending:
                t.cancel()
        if self.close_listen_key_on_stop and self._listen_key is not None:
            try:
                await self._client.close_listen_key()
            except Exception as e:
                log.warning("closing the listenKey failed: %s", e)
        self._listen_key = None
        self._buffering = False
        self._buffer = []

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until a connection is up and reconciled (tests, operators)."""
        await asyncio.wait_for(self._ready.wait(), timeout)

    # ----------------------------------------------------------------- frame path

    def _on_data(self, data: bytes) -> None:
        # The hot path: one flag test, one prefix test, one call. Counting frames here would add
        # to every frame; stats() adds the per-kind counters up instead. The frames buffered during
        # a reconcile are replayed through here too, once buffering is off.
        if self._buffering:
            buf = self._buffer
            if len(buf) < self.max_buffer:
                buf.append(data)
            else:
                self._overflow = True
                self._dropped += 1
            return
        if data.startswith(_OTU_TAG, 1) or data.find(_OTU_TAG, 0, _OTU_SCAN) != -1:
            self._order_updates += 1
            try:
                self._feed(data)
            except Exception:  # feed() promises not to raise; never let it kill the stream
                self._feed_errors += 1
                log.exception("manager.feed raised")
            if self._otu_listeners:
                self._notify_otu(data)
            return
        if data.startswith(_ALGO_TAG, 1) or data.find(_ALGO_TAG, 0, _OTU_SCAN) != -1:
            self._algo_updates += 1
            try:
                self._feed(data)
            except Exception:
                self._feed_errors += 1
                log.exception("manager.feed raised")
            self._other(data, fed=True)  # listeners of ALGO_UPDATE still hear it
            return
        self._other(data)

    def _notify_otu(self, data: bytes) -> None:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        for cb in self._otu_listeners:
            if not call_listener(cb, msg, self._tasks, "ORDER_TRADE_UPDATE"):
                self._listener_errors += 1

    def _other(self, data: bytes, fed: bool = False) -> None:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._malformed += 1
            log.warning("user stream: a frame that is not JSON (%d bytes) was skipped", len(data))
            return
        if not isinstance(msg, dict):
            self._malformed += 1
            log.warning("user stream: a JSON frame that is not an object was skipped")
            return
        inner = msg.get("data")
        if isinstance(inner, dict) and "stream" in msg:  # the combined-stream envelope
            msg = inner
            data = orjson.dumps(inner)
        et = msg.get("e")
        if not isinstance(et, str):
            self._malformed += 1
            log.warning("user stream: an object without an event type was skipped")
            return
        if et == "ALGO_UPDATE" and not fed:
            self._algo_updates += 1
            try:
                self._feed(data)
            except Exception:
                self._feed_errors += 1
                log.exception("manager.feed raised")
        if et == "ORDER_TRADE_UPDATE":
            # Not caught by the fast path (unusual spacing or key order): same treatment.
            self._order_updates += 1
            try:
                self._feed(data)
            except Exception:
                self._feed_errors += 1
                log.exception("manager.feed raised")
            if self._otu_listeners:
                for cb in self._otu_listeners:
                    if not call_listener(cb, msg, self._tasks, et):
                        self._listener_errors += 1
            return
        self._other_events += 1
        if et == "listenKeyExpired":
            self._on_listen_key_expired(msg)
        for key in (et, "*"):
            for cb in self._listeners.get(key, ()):
                if not call_listener(cb, msg, self._tasks, et):
                    self._listener_errors += 1

    def _on_listen_key_expired(self, msg: dict[str, Any]) -> None:
        key = msg.get("listenKey")
        if "listenKey" in msg:
            msg["listenKey"] = "***"  # listeners never see the credential
        # An expiry of an older key (a late frame) says nothing about the current one.
        if key is not None and self._listen_key is not None and key != self._listen_key:
            log.info("user stream: listenKeyExpired for a previous key, ignored")
            return
        self._listen_key_expired += 1
        log.warning("user stream: listenKeyExpired; reconnecting with a new key")
        conn = self._conn
        if conn is not None:
            conn.finish("listenKeyExpired")

    # ----------------------------------------------------------------- connection cycle

    async def _open(self) -> Connection:
        """One connect: listenKey, websocket, reconcile with buffered frames, replay."""
        async with self._reconcile_lock:
            return await self._open_locked()

    async def _open_locked(self) -> Connection:
        loop = self._loop or asyncio.get_running_loop()
        self._ready.clear()
        key = await self._client.create_listen_key()
        self._listen_key = key
        self._listen_key_creates += 1
        url = f"{self.ws_url}/private/ws/{key}"
        self._buffer = []
        self._overflow = False
        self._buffering = True
        try:
            conn = await open_connection(url, self._on_data, handshake_timeout=self.handshake_timeout)
        except BaseException:
            self._buffering = False
            self._buffer = []
            raise
        self._conn = conn
        self._connected_at = loop.time()
        self._connects += 1
        log.info("user stream connected to %s", scrub_url(url))
        try:
            for _ in range(_MAX_RECONCILE_ROUNDS):
                await self._manager.reconcile()
                self._reconciles += 1
                if not self._overflow:
                    break
                # Frames were dropped while reconciling: the answers after another reconcile
                # cover them; what was buffered is older than that and is dropped with them.
                self._buffer_overflows += 1
                log.warning("user stream: buffer overflow during reconcile; reconciling again")
                self._overflow = False
                self._buffer = []
            else:
                raise RuntimeError("user stream: frames keep overflowing the reconcile buffer")
        except BaseException:
            self._buffering = False
            self._buffer = []
            conn.finish("reconcile failed")
            raise
        buf, self._buffer = self._buffer, []
        self._buffered += len(buf)
        if len(buf) > self._buffer_peak:
            self._buffer_peak = len(buf)
        # Synchronous replay through the live path: no frame can slip in between (the frame
        # callback runs on this loop), so buffering can end first.
        self._buffering = False
        for data in buf:
            self._on_data(data)
        self._ready.set()
        return conn

    async def _supervise(self) -> None:
        loop = self._loop or asyncio.get_running_loop()
        lo, hi = self.reconnect_backoff
        backoff = Backoff(lo, hi)
        conn = self._conn
        while not self._stopping:
            if conn is None:
                reason = "not connected"
            else:
                reason = await watch(
                    conn,
                    silence_timeout=self.silence_timeout,
                    deadline=self._connected_at + self.max_connection_age,
                    loop=loop,
                )
                if self._stopping:
                    return
                await conn.closed()
                # A connection that lived a while resets the backoff; one dropped at once does not.
                if loop.time() - self._connected_at > max(5.0, 10 * lo):
                    backoff.reset()
            self._ready.clear()
            self._last_reason = reason
            self._reconnects += 1
            log.warning("user stream ended (%s); reconnecting", reason)
            delay = 0.0 if reason in _PLANNED else backoff.next_delay()
            conn = None
            while not self._stopping:
                if delay > 0:
                    await asyncio.sleep(delay)
                try:
                    conn = await self._open()
                    break
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.warning("user stream reconnect failed: %s", scrub_url(str(e)))
                    delay = backoff.next_delay()

    async def _periodic_reconcile(self) -> None:
        assert self.reconcile_interval
        while not self._stopping:
            await asyncio.sleep(self.reconcile_interval)
            if not self.connected:
                continue  # a reconnect reconciles anyway
            async with self._reconcile_lock:
                if self.connected:
                    await self._reconcile_buffered()

    async def _reconcile_buffered(self) -> None:
        """A reconcile on the live connection: frames are held back meanwhile, then replayed."""
        self._buffer = []
        self._overflow = False
        self._buffering = True
        try:
            await self._manager.reconcile()
            self._reconciles += 1
        except asyncio.CancelledError:
            raise
        except Exception as e:
            log.warning("periodic reconcile failed: %s", e)
        finally:
            buf, self._buffer = self._buffer, []
            self._buffering = False
            self._buffered += len(buf)
            for data in buf:
                self._on_data(data)  # buffering is over: the live path
            if self._overflow:
                conn = self._conn
                if conn is not None:
                    conn.finish("buffer overflow")  # the reconnect reconciles again

    async def _keepalive_loop(self) -> None:
        delay = self.keepalive_interval
        while not self._stopping:
            await asyncio.sleep(delay)
            try:
                await self._client.keepalive_listen_key()
                self._listen_key_renewals += 1
                delay = self.keepalive_interval
            except ExchangeError as e:
                if e.code == _INVALID_LISTEN_KEY:
                    # PUT on an unknown key answers -1125; POST again at reconnect
                    # (docs/binance-protocol.md, "User data stream").
                    log.warning("listenKey keepalive: -1125, the key is gone; reconnecting with a new one")
                    conn = self._conn
                    if conn is not None:
                        conn.finish("listenKey invalid")
                    delay = self.keepalive_interval
                else:
                    log.warning("listenKey keepalive failed (%s); retrying", e)
                    delay = min(self.keepalive_interval, 60.0)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("listenKey keepalive failed")
                delay = min(self.keepalive_interval, 60.0)
