"""Batched, ordered, loss-accounted publishing of events to Redis PUB/SUB (contract: docs/events.md).

The feed path calls :meth:`EventPublisher.publish_nowait`: it stamps ``seq``, serialises with
orjson, appends to a bounded in-memory buffer and returns; it never blocks, never raises and does
no network I/O of its own except writing a full batch into the socket's send buffer. A flush runs
on the next turn of the event loop (``loop.call_soon``, never a timer: a 1 ms timer measured 7x
the p50 latency of a loop-turn flush here), or at once when a batch is full, whichever is first.

One connection, one writer, one reader task:

- A batch (at most ``batch_size`` events) is packed into ONE RESP buffer by ``_resp``
  (``PUBLISH pms:events:<type> <json>`` per event, preceded by ``XADD pms:events MAXLEN ~ N * data
  <json>`` when ``stream_maxlen`` is set) and written with a single ``transport.write``. Up to
  ``max_in_flight`` batches are pipelined; replies are counted, not parsed into objects.
- Redis executes one connection's commands in order, so subscribers see events in ``seq`` order.
- A batch stays "in flight" until every reply for it was read. When the connection breaks, the
  unconfirmed events go back to the front of the buffer and are re-sent, in order, once a new
  connection is up (reconnect with exponential backoff). Redis may already have executed some
  of them, so a consumer can see a seq twice: it keeps the first and drops any seq not greater
  than the last one it saw.
- While Redis is unreachable, events wait in the buffer. Past ``buffer_size`` the oldest waiting
  events are dropped, counted (``stats()["dropped"]``), and logged with their seq ranges.
- After a (re)connect only one batch is sent until its replies arrive, so that a server still
  answering ``-LOADING`` fails one batch, not ``max_in_flight`` of them out of order.

What no publisher can fix: an event Redis confirmed but had not yet written to a subscriber's
socket when Redis died is lost for that subscriber; and a subscriber that reconnects has missed
what was published meanwhile. ``seq`` makes both visible; with ``stream_maxlen`` every event is
also in the capped stream ``pms:events``, from which :func:`fetch_missed` gets them back (as long
as that Redis survives).

Not thread-safe: call it from the event loop's thread.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from typing import Any

import orjson
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from . import _resp

__all__ = ["EventPublisher", "fetch_missed"]

log = logging.getLogger(__name__)

_dumps = orjson.dumps

# Errors after which the same commands succeed later: the server is starting (LOADING), running
# a long script (BUSY), failing over (MASTERDOWN, TRYAGAIN). Anything else (WRONGTYPE on the
# stream key, NOPERM, OOM for XADD) would fail again: counted and logged, not retried.
_RETRYABLE = (b"LOADING", b"BUSY", b"TRYAGAIN", b"MASTERDOWN")
_LOG_EVERY = 5.0  # seconds between repeats of the same warning
_MAX_RANGES_LOGGED = 8
_MAX_RANGES_KEPT = 1000


class _Retry(Exception):
    """The server asked us to come back later (see _RETRYABLE)."""


class _Batch:
    __slots__ = ("done", "first", "items")

    def __init__(self, first: int, items: list[tuple[bytes, bytes]]) -> None:
        self.first = first  # seq of items[0]; the items carry consecutive seqs
        self.items = items
        self.done = 0  # replies read so far


def _fmt_ranges(ranges: list[list[int]]) -> str:
    shown = [f"{a}-{b}" if a != b else str(a) for a, b in ranges[:_MAX_RANGES_LOGGED]]
    more = len(ranges) - len(shown)
    return ", ".join(shown) + (f" (+{more} more ranges)" if more > 0 else "")


class EventPublisher:
    """Publishes events on ``{channel_prefix}{event_type}`` through a private Redis connection.

    ``redis_client`` is a ``redis.asyncio.Redis``; only its connection settings are used (a
    private connection is opened from its pool's ``connection_class`` and ``connection_kwargs``,
    so authentication, db, TLS and unix sockets follow the client's configuration). Building a
    publisher does no I/O and needs no running loop; the connection is opened on first use.

    Further parameters: ``stream`` (the capped stream's key), ``close_timeout`` (default
    bound of :meth:`close`), ``reconnect_delay`` (first and largest backoff, seconds) and ``resp``
    (the RESP packing module, for tests and benchmarks: ``_resp_c`` or ``_resp_py``).
    """

    def __init__(
        self,
        redis_client: Any,
        *,
        buffer_size: int = 100_000,
        batch_size: int = 256,
        stream_maxlen: int | None = None,
        max_in_flight: int = 4,
        channel_prefix: str = "pms:events:",
        stream: str = "pms:events",
        close_timeout: float = 5.0,
        reconnect_delay: tuple[float, float] = (0.05, 2.0),
        resp: Any = None,
    ) -> None:
        pool = getattr(redis_client, "connection_pool", None)
        if pool is None or not hasattr(pool, "connection_kwargs"):
            raise TypeError("redis_client must be a redis.asyncio.Redis (with a connection_pool)")
        for name, value in (("buffer_size", buffer_size), ("batch_size", batch_size),
                            ("max_in_flight", max_in_flight)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive int, not {value!r}")
        if stream_maxlen is not None and (
                isinstance(stream_maxlen, bool) or not isinstance(stream_maxlen, int) or stream_maxlen < 1):
            raise ValueError(f"stream_maxlen must be None or a positive int, not {stream_maxlen!r}")
        lo, hi = float(reconnect_delay[0]), float(reconnect_delay[1])
        if not 0 < lo <= hi:
            raise ValueError(f"reconnect_delay must be (first, max), 0 < first <= max: {reconnect_delay!r}")
        mod = _resp if resp is None else resp
        self._pool = pool
        self._pack = mod.pack_publish
        self._scan = mod.scan_replies
        self.resp_implementation: str = str(mod.IMPLEMENTATION)
        self._buffer_size = buffer_size
        self._batch_size = batch_size
        self._max_in_flight = max_in_flight
        self._prefix = str(channel_prefix)
        self._stream = str(stream)
        self._stream_maxlen = stream_maxlen
        self._xadd: bytes | None = (
            None if stream_maxlen is None else mod.xadd_head(self._stream.encode(), stream_maxlen))
        self._per = 1 if stream_maxlen is None else 2  # replies per event
        self._close_timeout = float(close_timeout)
        self._delay_min, self._delay_max = lo, hi

        self._channels: dict[str, bytes] = {}
        self._seq = 0
        self._queue: deque[tuple[bytes, bytes]] = deque()
        self._qhead = 1  # seq of _queue[0] (in-flight batches + queue = consecutive seqs)
        self._inflight: deque[_Batch] = deque()
        self._inflight_events = 0
        self._window = 1

        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._conn: Any = None
        self._writer: Any = None
        self._kick_pending = False
        self._closed = False
        self._connected = asyncio.Event()
        self._drain_waiters: list[asyncio.Future[None]] = []

        self._published = 0
        self._dropped = 0
        self._reconnects = 0
        self._batches = 0
        self._resent = 0
        self._errors = 0
        self._invalid = 0
        self._coerced = 0
        self._lost_pending: list[list[int]] = []  # seq ranges lost since the last log line
        self._lost_ranges: deque[tuple[int, int]] = deque(maxlen=_MAX_RANGES_KEPT)
        self._last_log: dict[str, float] = {}

    # ── Publishing (hot path) ──

    def publish_nowait(self, event_type: str, payload: dict[str, Any]) -> int:
        """Stamp ``payload["seq"]``, queue the event and return its seq (0 if it was unusable).

        Never blocks, never raises. An event type that is not a non-empty str, or a payload that
        is not a JSON-serialisable dict, is counted (``invalid``), logged and not published; it
        takes no seq, so subscribers see no gap for it.
        """
        channel: bytes | None
        try:
            channel = self._channels[event_type]
        except (KeyError, TypeError):  # new (or unhashable) event type
            channel = self._new_channel(event_type)
            if channel is None:
                return 0
        seq = self._seq + 1
        data: bytes | None
        try:
            payload["seq"] = seq
            data = _dumps(payload)
        except Exception:
            data = self._dumps_slow(event_type, payload, seq)
            if data is None:
                return 0
        self._seq = seq
        if self._closed:
            self._lose(seq, seq, "published after close()")
            if self._may_log("late"):
                self._report_lost()
            return seq
        q = self._queue
        if not q:
            self._qhead = seq
        q.append((channel, data))
        if len(q) + self._inflight_events > self._buffer_size:
            self._overflow()
        if not self._kick_pending:
            self._kick()
        elif (len(q) >= self._batch_size and self._writer is not None
              and len(self._inflight) < self._window):
            self._flush()  # a full batch goes out now, the rest on the loop turn
        return seq

    async def publish(self, event_type: str, payload: dict[str, Any]) -> int:
        """:meth:`publish_nowait` for coroutine callers (the risk engine's position_updated and
        margin_update): same channel scheme, same buffer, same seq counter."""
        return self.publish_nowait(event_type, payload)

    def _new_channel(self, event_type: Any) -> bytes | None:
        if not isinstance(event_type, str) or not event_type or any(c.isspace() for c in event_type):
            self._invalid += 1
            self._warn("bad-type", "event type must be a non-empty str without spaces, not %r: not published",
                       event_type)
            return None
        channel = (self._prefix + event_type).encode()
        if len(self._channels) < 1024:  # bounded: event types are a handful of literals
            self._channels[event_type] = channel
        return channel

    def _dumps_slow(self, event_type: str, payload: Any, seq: int) -> bytes | None:
        if not isinstance(payload, dict):
            self._invalid += 1
            self._warn("bad-payload", "%s payload must be a dict, not %s: not published",
                       event_type, type(payload).__name__)
            return None
        try:
            # Decimal and friends become strings rather than losing the event.
            data = _dumps(payload, default=str)
        except Exception as exc:
            payload.pop("seq", None)
            self._invalid += 1
            self._warn("bad-payload", "%s payload is not JSON-serialisable (%s): not published",
                       event_type, exc)
            return None
        self._coerced += 1
        self._warn("coerced", "%s payload seq %d had values JSON cannot hold; sent them as strings",
                   event_type, seq)
        return data

    def _kick(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                return  # no loop yet: the events wait until start(), flush() or close()
            self._loop = loop
        if self._task is None:
            self._start_task(loop)
        if self._writer is None:
            return  # the connect path flushes everything once it is up
        try:
            loop.call_soon(self._on_kick)
        except RuntimeError:  # loop closing
            return
        self._kick_pending = True

    def _on_kick(self) -> None:
        self._kick_pending = False
        self._flush()

    def _flush(self) -> None:
        writer = self._writer
        if writer is None:
            return
        q = self._queue
        inflight = self._inflight
        pop = q.popleft
        while q and len(inflight) < self._window:
            n = min(self._batch_size, len(q))
            items = [pop() for _ in range(n)]
            inflight.append(_Batch(self._qhead, items))
            self._qhead += n
            self._inflight_events += n
            try:
                writer.write(self._pack(items, self._xadd))
            except Exception as exc:  # transport already closed: the reader sees it and re-sends
                self._writer = None
                self._warn("write", "write to redis failed (%r); the batch will be re-sent", exc)
                try:
                    writer.close()
                except Exception:
                    pass
                return

    # ── Loss accounting ──

    def _overflow(self) -> None:
        q = self._queue
        k = min(len(q) + self._inflight_events - self._buffer_size, len(q))
        if k <= 0:
            return
        first = self._qhead
        pop = q.popleft
        for _ in range(k):
            pop()
        self._qhead = first + k
        self._lose(first, first + k - 1, f"buffer full ({self._buffer_size} events)")

    def _lose(self, first: int, last: int, why: str) -> None:
        self._dropped += last - first + 1
        pending = self._lost_pending
        if not pending:
            # The first loss of an episode is logged at once; the ranges follow in _report_lost.
            log.warning("events lost (%s): dropping from seq %d on; ranges will be logged", why, first)
        if pending and pending[-1][1] + 1 == first:
            pending[-1][1] = last
        else:
            pending.append([first, last])
        ranges = self._lost_ranges
        if ranges and ranges[-1][1] + 1 == first:
            ranges[-1] = (ranges[-1][0], last)
        else:
            ranges.append((first, last))

    def _report_lost(self) -> None:
        pending = self._lost_pending
        if not pending:
            return
        n = sum(b - a + 1 for a, b in pending)
        log.error("lost %d events, seq %s (total dropped: %d)", n, _fmt_ranges(pending), self._dropped)
        self._lost_pending = []

    def lost_ranges(self) -> list[tuple[int, int]]:
        """The seq ranges dropped so far (inclusive; the most recent 1000 ranges)."""
        return list(self._lost_ranges)

    def _warn(self, key: str, msg: str, *args: Any) -> None:
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) >= _LOG_EVERY:
            self._last_log[key] = now
            log.warning(msg, *args)

    # ── Connection, replies, reconnects ──

    def _start_task(self, loop: asyncio.AbstractEventLoop) -> None:
        self._task = loop.create_task(self._run(), name="events-publisher")
        self._task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        if task is not self._task:
            return
        self._task = None
        if not task.cancelled() and task.exception() is not None and not self._closed:
            log.error("event publisher task died; restarting on the next event",
                      exc_info=task.exception())

    async def _open(self) -> tuple[Any, Any, Any]:
        pool = self._pool
        kwargs = dict(pool.connection_kwargs)
        # One attempt per call: the backoff between attempts is ours (reconnect_delay), not
        # redis-py's default 10 jittered retries inside connect().
        kwargs["retry"] = Retry(NoBackoff(), 0)
        conn = pool.connection_class(**kwargs)
        try:
            await conn.connect()
            # redis-py did the handshake (AUTH, SELECT, HELLO, TLS); from here on we speak RESP on
            # its streams ourselves: its per-command Python packing is what we are avoiding.
            reader = getattr(conn, "_reader", None)
            writer = getattr(conn, "_writer", None)
            if reader is None or writer is None:
                raise RuntimeError("this redis-py connection exposes no asyncio streams (_reader/_writer)")
        except BaseException:
            await self._close_conn(conn, None)
            raise
        return conn, reader, writer

    async def _close_conn(self, conn: Any, writer: Any) -> None:
        if writer is not None:
            try:
                writer.close()
            except Exception:
                pass
        if conn is not None:
            try:
                await asyncio.wait_for(conn.disconnect(nowait=True), 1.0)
            except (Exception, asyncio.CancelledError):
                pass

    async def _run(self) -> None:
        delay = self._delay_min
        failures = 0
        ever = False
        while not self._closed:
            try:
                conn, reader, writer = await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                self._warn("connect", "redis unreachable (%s: %s); %d events buffered, retrying",
                           type(exc).__name__, exc, len(self._queue) + self._inflight_events)
                if self._lost_pending and self._may_log("lost-outage"):
                    self._report_lost()
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._delay_max)
                continue
            if ever:
                self._reconnects += 1
                log.info("reconnected to redis after %d failed attempts; %d events to send",
                         failures, len(self._queue))
            ever = True
            failures = 0
            self._conn, self._writer, self._window = conn, writer, 1
            acked_before = self._batches
            self._connected.set()
            retry = False
            try:
                self._flush()
                await self._read_replies(reader)
            except _Retry as exc:
                retry = True
                self._warn("retry", "redis answered %s; re-sending from there after a pause", exc)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self._warn("lost", "connection to redis lost (%s: %s); %d unconfirmed events will be re-sent",
                           type(exc).__name__, exc, self._inflight_events)
            finally:
                self._connected.clear()
                self._requeue()
                w, self._writer, self._conn = self._writer, None, None
                await self._close_conn(conn, w or writer)
            if retry or self._batches == acked_before:
                # Nothing got through on that connection: back off before the next attempt.
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._delay_max)
            else:
                delay = self._delay_min

    def _may_log(self, key: str) -> bool:
        now = time.monotonic()
        if now - self._last_log.get(key, -1e9) >= _LOG_EVERY:
            self._last_log[key] = now
            return True
        return False

    async def _read_replies(self, reader: Any) -> None:
        scan = self._scan
        inflight = self._inflight
        queue = self._queue
        per = self._per
        buf = b""
        pos = 0
        while True:
            data = await reader.read(65536)
            if not data:
                raise ConnectionError("closed by the server")
            buf = buf[pos:] + data if pos < len(buf) else data
            pos = 0
            progressed = False
            while inflight:
                batch = inflight[0]
                total = len(batch.items) * per
                n, pos, err = scan(buf, pos, total - batch.done)
                batch.done += n
                if err is not None:
                    self._error_reply(batch, err)
                    continue
                if batch.done < total:
                    break
                inflight.popleft()
                k = len(batch.items)
                self._inflight_events -= k
                self._published += k
                self._batches += 1
                progressed = True
            if pos < len(buf) and not inflight:
                # Only RESP3 push messages may come unasked; scan skips those uncounted.
                n, pos, _ = scan(buf, pos, 1)
                if n:
                    raise ConnectionError("redis sent a reply to no command")
            if progressed:
                self._window = self._max_in_flight
                if queue:
                    self._flush()
                elif not inflight:
                    self._drained()
                if self._lost_pending:
                    self._report_lost()

    def _error_reply(self, batch: _Batch, err: bytes) -> None:
        index = (batch.done - 1) // self._per  # the event whose command failed
        seq = batch.first + index
        if err.startswith(_RETRYABLE):
            batch.done = index * self._per  # that event and the rest of the batch are re-sent
            raise _Retry(err.decode("utf-8", "replace"))
        self._errors += 1
        command = "XADD" if self._per == 2 and (batch.done - 1) % 2 == 0 else "PUBLISH"
        self._warn("reply-error", "redis refused %s of event seq %d: %s (errors so far: %d)",
                   command, seq, err.decode("utf-8", "replace"), self._errors)

    def _requeue(self) -> None:
        inflight = self._inflight
        if not inflight:
            return
        q = self._queue
        per = self._per
        for batch in reversed(inflight):
            acked = batch.done // per
            self._published += acked
            rest = batch.items[acked:]
            q.extendleft(reversed(rest))
            self._resent += len(rest)
            self._qhead = batch.first + acked
        inflight.clear()
        self._inflight_events = 0

    def _drained(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for fut in waiters:
            if not fut.done():
                fut.set_result(None)

    # ── Lifecycle ──

    def _ensure_task(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None or self._loop.is_closed():
            self._loop = loop
        if self._task is None and not self._closed:
            self._start_task(loop)
        return loop

    async def start(self, timeout: float | None = None) -> bool:
        """Open the connection now instead of on the first event; with ``timeout``, wait up to that
        long for it and return whether it is up."""
        self._ensure_task()
        if timeout is None:
            return self._writer is not None
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            return False
        return True

    async def flush(self, timeout: float | None = None) -> bool:
        """Wait until Redis confirmed every queued event; False if ``timeout`` passed first."""
        if not self._queue and not self._inflight:
            return True
        loop = self._ensure_task()
        self._flush()
        fut: asyncio.Future[None] = loop.create_future()
        self._drain_waiters.append(fut)
        try:
            await asyncio.wait_for(fut, timeout)
        except TimeoutError:
            return False
        finally:
            if fut in self._drain_waiters:
                self._drain_waiters.remove(fut)
        return True

    async def close(self, timeout: float | None = None) -> None:
        """Send what is queued (bounded by ``timeout``, default ``close_timeout``), then close.

        Whatever Redis has not confirmed by then is counted as dropped and logged with its seqs.
        Events published after close are counted and logged the same way.
        """
        if self._closed:
            return
        wait = self._close_timeout if timeout is None else float(timeout)
        done = True
        if self._queue or self._inflight:
            done = await self.flush(wait)
        self._closed = True
        if not done:
            first = self._inflight[0].first if self._inflight else self._qhead
            n = self._inflight_events + len(self._queue)
            if n:
                self._lose(first, first + n - 1, "not confirmed by redis before close()")
            self._inflight.clear()
            self._inflight_events = 0
            self._queue.clear()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            try:
                await task
            except (asyncio.CancelledError, Exception):
                pass
        if self._conn is not None or self._writer is not None:
            await self._close_conn(self._conn, self._writer)
            self._conn = self._writer = None
        self._drained()
        self._report_lost()

    @property
    def connected(self) -> bool:
        return self._writer is not None

    @property
    def last_seq(self) -> int:
        return self._seq

    def stats(self) -> dict[str, int]:
        """Counters: ``published`` (confirmed by Redis), ``buffered`` (waiting or unconfirmed),
        ``dropped`` (lost: overflow or close), ``reconnects``, ``batches`` (confirmed), and
        ``in_flight``, ``resent`` (written, then re-queued after a cut), ``errors`` (error
        replies), ``invalid`` (unusable events, not published), ``coerced``, ``seq`` (last
        seq), ``connected`` (0/1)."""
        return {
            "published": self._published,
            "buffered": len(self._queue) + self._inflight_events,
            "dropped": self._dropped,
            "reconnects": self._reconnects,
            "batches": self._batches,
            "in_flight": self._inflight_events,
            "resent": self._resent,
            "errors": self._errors,
            "invalid": self._invalid,
            "coerced": self._coerced,
            "seq": self._seq,
            "connected": int(self._writer is not None),
        }


async def fetch_missed(redis: Any, after_seq: int, stream: str = "pms:events", *,
                       page: int = 1000) -> list[dict[str, Any]]:
    """The events after ``after_seq`` still in the capped stream, oldest first, one per seq.

    For a consumer that reconnects: subscribe first (buffer what arrives), call this with the last
    seq it handled, then merge, keeping each seq once. The stream is read newest first and only
    as far back as ``after_seq``. Re-sent events appear twice in the stream; the first copy is
    kept. Events already trimmed away (``MAXLEN ~ N``) are not returned: the first seq returned
    then exceeds ``after_seq + 1``. ``redis`` is a ``redis.asyncio.Redis`` (decoded or not).
    """
    found: list[dict[str, Any]] = []
    top: Any = "+"
    while True:
        entries = await redis.xrevrange(stream, max=top, min="-", count=page)
        if not entries:
            break
        stop = False
        for _entry_id, fields in entries:
            raw = fields.get(b"data")
            if raw is None:
                raw = fields.get("data")
            if raw is None:
                continue
            try:
                event = orjson.loads(raw)
                seq = event["seq"]
            except (orjson.JSONDecodeError, TypeError, KeyError):
                continue
            if not isinstance(seq, int):
                continue
            if seq <= after_seq:
                stop = True
                break
            found.append(event)
        if stop or len(entries) < page:
            break
        last_id = entries[-1][0]
        top = "(" + (last_id.decode() if isinstance(last_id, bytes) else str(last_id))
    found.reverse()
    out: list[dict[str, Any]] = []
    last = after_seq
    for event in found:
        if event["seq"] > last:
            out.append(event)
            last = event["seq"]
    return out
