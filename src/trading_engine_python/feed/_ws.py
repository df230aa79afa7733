"""Shared websocket plumbing for the user and market streams: one picows listener per connection,
backoff with jitter, and URL scrubbing for logs.

Frames reach a synchronous ``on_data(bytes)`` straight from picows' frame callback: no task, no
``call_soon`` per frame (creating and running a task costs several times the whole compiled
transition). Pings are answered here rather than by picows' auto-pong, so that a ping counts as
traffic for the silence watchdog (Binance pings every 3 minutes:
docs/binance-protocol.md, "User data stream").
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import Callable
from typing import Any

from picows import WSCloseCode, WSFrame, WSListener, WSMsgType, WSTransport, ws_connect

log = logging.getLogger(__name__)

_TEXT = WSMsgType.TEXT
_BINARY = WSMsgType.BINARY
_CONT = WSMsgType.CONTINUATION
_PING = WSMsgType.PING
_CLOSE = WSMsgType.CLOSE

MAX_MESSAGE = 4 * 1024 * 1024
_KEY_IN_URL = re.compile(r"(/ws/|listenKey=)[^/?&\s]+")


def scrub_url(url: str) -> str:
    """The URL without its listenKey (a listenKey is a credential for the account's events)."""
    return _KEY_IN_URL.sub(r"\1***", url)


class Connection(WSListener):
    """One websocket connection. ``done`` resolves with the reason it ended (or should end)."""

    def __init__(self, on_data: Callable[[bytes], None], loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self.on_data = on_data
        self.frames = 0
        self.done: asyncio.Future[str] = loop.create_future()
        self.transport: WSTransport | None = None
        self._frag: bytearray | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport

    def on_ws_frame(self, transport: WSTransport, frame: WSFrame) -> None:
        self.frames += 1
        t = frame.msg_type
        if t is _TEXT or t is _BINARY:
            if frame.fin:
                self.on_data(frame.get_payload_as_bytes())
                return
            self._frag = bytearray(frame.get_payload_as_memoryview())
        elif t is _PING:
            transport.send_pong(frame.get_payload_as_bytes())
        elif t is _CONT:
            frag = self._frag
            if frag is None:
                return  # a continuation without a start: nothing to attach it to
            frag += frame.get_payload_as_memoryview()
            if len(frag) > MAX_MESSAGE:
                self._frag = None
                self.finish("message too big")
            elif frame.fin:
                self._frag = None
                self.on_data(bytes(frag))
        elif t is _CLOSE:
            self.finish("closed by server")
        # PONG: counted as traffic above, nothing else to do.

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if not self.done.done():
            self.done.set_result("dropped")

    def finish(self, reason: str) -> None:
        """End this connection (idempotent); the first reason wins."""
        if not self.done.done():
            self.done.set_result(reason)
        tr = self.transport
        if tr is not None and not tr.is_disconnected:
            try:
                if not tr.is_close_frame_sent:
                    tr.send_close(WSCloseCode.OK)
                tr.disconnect()
            except Exception:  # a transport already half gone
                log.debug("disconnect failed", exc_info=True)

    async def closed(self, timeout: float = 2.0) -> None:
        tr = self.transport
        if tr is None:
            return
        try:
            await asyncio.wait_for(tr.wait_disconnected(), timeout)
        except Exception:
            log.debug("wait_disconnected", exc_info=True)


async def open_connection(
    url: str, on_data: Callable[[bytes], None], *, handshake_timeout: float = 10.0
) -> Connection:
    loop = asyncio.get_running_loop()
    holder: list[Connection] = []

    def factory() -> Connection:
        c = Connection(on_data, loop)
        holder.append(c)
        return c

    # enable_auto_pong=False: Connection answers pings itself (see module docstring).
    _, listener = await ws_connect(
        factory,
        url,
        websocket_handshake_timeout=handshake_timeout,
        enable_auto_pong=False,
        max_frame_size=MAX_MESSAGE,
        logger_name="trading_engine_python.feed",
    )
    assert isinstance(listener, Connection)
    return listener


class Backoff:
    """Exponential backoff with jitter: each delay is drawn from [d/2, d], d doubling up to max."""

    def __init__(self, base: float, maximum: float, rng: random.Random | None = None) -> None:
        self.base = max(0.0, float(base))
        self.maximum = max(self.base, float(maximum))
        self.attempt = 0
        self._rng = rng or random.Random()

    def next_delay(self) -> float:
        d = float(min(self.maximum, self.base * (2**self.attempt)))
        self.attempt += 1
        return d / 2 + self._rng.random() * d / 2

    def reset(self) -> None:
        self.attempt = 0


async def watch(
    conn: Connection, *, silence_timeout: float, deadline: float | None, loop: asyncio.AbstractEventLoop
) -> str:
    """Wait until ``conn`` ends; end it on silence or at ``deadline`` (loop time). Returns the reason."""
    check = max(0.02, min(silence_timeout / 4, 5.0))
    last_frames = conn.frames
    last_change = loop.time()
    while True:
        step = max(0.0, min(check, deadline - loop.time())) if deadline is not None else check
        try:
            return await asyncio.wait_for(asyncio.shield(conn.done), step)
        except TimeoutError:
            pass
        now = loop.time()
        if conn.frames != last_frames:
            last_frames = conn.frames
            last_change = now
        elif now - last_change >= silence_timeout:
            conn.finish("silent")
        if deadline is not None and now >= deadline:
            conn.finish("max connection age")


def call_listener(cb: Callable[[Any], Any], arg: Any, tasks: set[asyncio.Task[Any]], what: str) -> bool:
    """Call a sync or async callback; coroutines become tracked tasks. False if it raised."""
    try:
        res = cb(arg)
    except Exception:
        log.exception("%s listener %r raised", what, cb)
        return False
    if asyncio.iscoroutine(res):
        t = asyncio.ensure_future(res)
        tasks.add(t)
        t.add_done_callback(_task_done(tasks, what))
    return True


def _task_done(tasks: set[asyncio.Task[Any]], what: str) -> Callable[[asyncio.Task[Any]], None]:
    def done(t: asyncio.Task[Any]) -> None:
        tasks.discard(t)
        if not t.cancelled() and t.exception() is not None:
            log.error("%s async listener raised", what, exc_info=t.exception())

    return done
