"""What ``demo`` and ``run`` share: the engine wired together, plus its measuring taps.

- :class:`TimedClient` wraps the REST client the manager calls and times each round trip
  (``place_order``, ``cancel_order``, ``get_order``, ``get_open_orders``).
- :class:`FeedTap` stands between the user stream and the manager: it notes when a frame reaches
  ``feed`` so that an algo callback, which the manager runs synchronously inside ``feed``, can
  measure frame-to-callback latency; it also times the whole ``feed`` call.
- :class:`PublishLag` subscribes to ``pms:events:*`` like the JS proxy does and measures each
  event's enqueue-to-subscriber delay by its ``seq``.
- :class:`RedisServer` runs a private ``redis-server`` on a free loopback port.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections import deque
from typing import Any

import orjson

from .metrics import Latency, fmt_seconds

log = logging.getLogger("trading_engine_python.cli")

_perf_ns = time.perf_counter_ns


def add_engine_arguments(
    p: argparse.ArgumentParser, *, metrics_port_help: str, metrics_host_help: str
) -> None:
    """The options ``demo`` and ``run`` share: the order core, and where Prometheus metrics are served."""
    p.add_argument(
        "--implementation",
        choices=("cython", "python"),
        default=None,
        help="order core: compiled or pure-Python twin (default: the compiled one if built)",
    )
    p.add_argument(
        "--order-entry",
        choices=("ws", "rest"),
        default="ws",
        help="send place / amend / cancel over the ws-fapi WebSocket (default; REST while it is down, "
        "and REST only where the endpoint has no ws-fapi) or always over REST",
    )
    p.add_argument("--metrics-port", type=int, default=None, metavar="PORT", help=metrics_port_help)
    p.add_argument("--metrics-host", default="127.0.0.1", help=metrics_host_help)
    p.add_argument(
        "--journal",
        default=None,
        metavar="PATH",
        help="write-ahead order journal (created if missing): every place/cancel is recorded before "
        "it is sent, every fill after it is applied; at start the journaled orders are restored and "
        "reconciled with the exchange, so a restart (even after SIGKILL) loses and double-counts nothing",
    )
    p.add_argument(
        "--journal-flush",
        default="5",
        metavar="MS|every",
        help="journal flush policy: buffered order changes written within MS milliseconds (default 5), "
        "or 'every' (each record fsync'd before the call returns)",
    )
    p.add_argument(
        "--dead-man",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help="dead-man switch: while a symbol has live orders, renew Binance's countdownCancelAll of "
        "SECONDS every SECONDS/4, so that the exchange cancels them if this process dies or loses "
        "its connection (algo orders are not covered by it); 0 = off (default 120)",
    )
    p.add_argument(
        "--record",
        default=None,
        metavar="FILE",
        help="record the raw user-stream frames and the manager's commands and answers, with times, "
        "for `replay FILE`",
    )


def dead_man_seconds(args: argparse.Namespace) -> float | None:
    """``--dead-man``: seconds of Binance's countdownCancelAll, None when 0 (off)."""
    value = float(getattr(args, "dead_man", 0) or 0)
    if value < 0:
        raise ValueError("--dead-man must be seconds >= 0 (0 = off)")
    return value or None


def order_entry(args: argparse.Namespace) -> str | None:
    """``--order-entry`` as OrderManager's ``order_entry``: "ws" means ws-fapi where there is one."""
    return "rest" if getattr(args, "order_entry", "ws") == "rest" else None


def entry_latency_text(manager: Any) -> str:
    """Request round trips by step and path (``OrderManager.entry_latency``), for status lines."""
    names = {"place": "place", "modify": "reprice", "cancel": "cancel"}
    parts = []
    for key, lat in sorted(manager.entry_latency().items()):
        op, _, path = key.partition("_")
        parts.append(f"{names.get(op, op)}/{path} p50 {fmt_seconds(lat['p50_ms'] / 1000)} "
                     f"p99 {fmt_seconds(lat['p99_ms'] / 1000)}")
    return ", ".join(parts) or "no orders yet"


def journal_flush(value: str) -> Any:
    """``--journal-flush``: "every" or a number of milliseconds."""
    if value == "every":
        return "every"
    ms = int(value)
    if ms < 0:
        raise ValueError("--journal-flush must be 'every' or milliseconds >= 0")
    return ms


def open_journal(args: argparse.Namespace) -> Any:
    """The Journal of ``--journal`` (None without it)."""
    if not getattr(args, "journal", None):
        return None
    from ..orders.journal import Journal

    return Journal.open(args.journal, flush=journal_flush(args.journal_flush))


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` (if any) and wait until it has ended, whatever it ends with: a stop path
    must not raise out of a task it is tearing down."""
    if task is not None:
        task.cancel()
        with contextlib.suppress(BaseException):
            await task


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class TimedClient:
    """The ExchangeClient protocol, timed; everything else is passed through unchanged."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.place = Latency("rest_place")
        self.cancel = Latency("rest_cancel")
        self.query = Latency("rest_query")
        self.open_orders = Latency("rest_open_orders")
        self.all = Latency("rest_all")

    def latencies(self) -> dict[str, Latency]:
        return {
            "rest_place": self.place,
            "rest_cancel": self.cancel,
            "rest_query": self.query,
            "rest_open_orders": self.open_orders,
        }

    def _done(self, lat: Latency, t0: int) -> None:
        dt = (_perf_ns() - t0) * 1e-9
        lat.observe(dt)
        self.all.observe(dt)

    async def place_order(self, *args: Any, **kwargs: Any) -> Any:
        t0 = _perf_ns()
        try:
            return await self._client.place_order(*args, **kwargs)
        finally:
            self._done(self.place, t0)

    async def cancel_order(self, *args: Any, **kwargs: Any) -> Any:
        t0 = _perf_ns()
        try:
            return await self._client.cancel_order(*args, **kwargs)
        finally:
            self._done(self.cancel, t0)

    async def get_order(self, *args: Any, **kwargs: Any) -> Any:
        t0 = _perf_ns()
        try:
            return await self._client.get_order(*args, **kwargs)
        finally:
            self._done(self.query, t0)

    async def get_open_orders(self, *args: Any, **kwargs: Any) -> Any:
        t0 = _perf_ns()
        try:
            return await self._client.get_open_orders(*args, **kwargs)
        finally:
            self._done(self.open_orders, t0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


class FeedTap:
    """``feed`` in front of ``manager.feed``; any other attribute is the manager's."""

    def __init__(self, manager: Any) -> None:
        self._manager = manager
        self._feed = manager.feed
        self.frame = Latency("feed_frame")
        self.to_callback = Latency("feed_to_callback")
        self._t0 = 0
        self._inside = False

    def feed(self, data: Any) -> None:
        t0 = _perf_ns()
        self._t0 = t0
        self._inside = True
        try:
            self._feed(data)
        finally:
            self._inside = False
            self.frame.observe((_perf_ns() - t0) * 1e-9)

    def callback_reached(self) -> None:
        """Called first thing by an algo callback: frame arrival -> here."""
        if self._inside:  # a callback run later from the manager's work queue is not timed
            self.to_callback.observe((_perf_ns() - self._t0) * 1e-9)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._manager, name)


class PublishLag:
    """Enqueue-to-subscriber delay of every event, by ``seq``.

    The manager's publisher stamps ``seq`` in ``publish_nowait``; this wraps that method on the
    one publisher instance to note the moment, and a pattern subscription (the frontend proxy's
    view) notes the arrival. Also keeps the last few events for the terminal view.
    """

    def __init__(self, publisher: Any, redis_client: Any, pattern: str = "pms:events:*") -> None:
        self.latency = Latency("publish_lag")
        self.recent: deque[str] = deque(maxlen=8)
        self.received = 0
        self.gaps = 0
        self.last_seq = 0
        self._sent: dict[int, int] = {}
        self._publisher = publisher
        self._redis = redis_client
        self._pattern = pattern
        self._task: asyncio.Task[None] | None = None
        self._pubsub: Any = None
        self.ready = asyncio.Event()
        inner = publisher.publish_nowait
        sent = self._sent

        def publish_nowait(event_type: str, payload: dict[str, Any]) -> int:
            seq = int(inner(event_type, payload))
            if seq and len(sent) < 200_000:
                sent[seq] = _perf_ns()
            return seq

        publisher.publish_nowait = publish_nowait

    async def start(self) -> None:
        self._pubsub = self._redis.pubsub()
        await self._pubsub.psubscribe(self._pattern)
        self._task = asyncio.create_task(self._run(), name="publish-lag-subscriber")
        self.ready.set()

    async def _run(self) -> None:
        ps = self._pubsub
        while True:
            msg = await ps.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if msg is None:
                continue
            now = _perf_ns()
            try:
                event = orjson.loads(msg["data"])
                seq = int(event["seq"])
            except Exception:
                continue
            self.received += 1
            if seq <= self.last_seq:
                continue  # a re-sent batch after a cut: keep the first copy
            if self.last_seq and seq != self.last_seq + 1:
                self.gaps += seq - self.last_seq - 1
            self.last_seq = seq
            t0 = self._sent.pop(seq, None)
            if t0 is not None:
                self.latency.observe((now - t0) * 1e-9)
            channel = msg.get("channel", b"")
            if isinstance(channel, bytes):
                channel = channel.decode()
            self.recent.append(
                f"#{seq} {channel.rsplit(':', 1)[-1]} {event.get('subAccountId')} "
                f"{event.get('symbol')} {event.get('side')} {event.get('quantity')}"
                f"@{event.get('price') or 'MKT'}"
            )

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()


class RedisServer:
    """A private, throw-away ``redis-server`` on a free loopback port (no persistence)."""

    def __init__(self, binary: str | None = None) -> None:
        self.binary = binary or shutil.which("redis-server")
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._dir: tempfile.TemporaryDirectory[str] | None = None

    @property
    def available(self) -> bool:
        return self.binary is not None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self, timeout: float = 10.0) -> None:
        if self.binary is None:
            raise FileNotFoundError("redis-server is not on PATH")
        self._dir = tempfile.TemporaryDirectory(prefix="te-demo-redis-")
        last: Exception | None = None
        for _attempt in range(3):  # the free port may be taken between probe and bind
            self.port = free_port()
            self.proc = subprocess.Popen(
                [
                    self.binary,
                    "--port",
                    str(self.port),
                    "--bind",
                    "127.0.0.1",
                    "--save",
                    "",
                    "--appendonly",
                    "no",
                    "--dir",
                    self._dir.name,
                    "--loglevel",
                    "warning",
                    "--daemonize",
                    "no",
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                # Its own session: Ctrl-C on the terminal reaches only the demo, which flushes its
                # events before it stops this server; and it goes when the demo goes (Linux).
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    last = RuntimeError(f"redis-server exited with {self.proc.returncode}")
                    break
                try:
                    _r, w = await asyncio.open_connection("127.0.0.1", self.port)
                except OSError as exc:
                    last = exc
                    await asyncio.sleep(0.05)
                    continue
                w.close()
                with contextlib.suppress(Exception):
                    await w.wait_closed()
                return
            self._kill()
        raise RuntimeError(f"could not start redis-server: {last}")

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5.0)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5.0)

    async def stop(self) -> None:
        self._kill()
        if self._dir is not None:
            with contextlib.suppress(OSError):
                self._dir.cleanup()
            self._dir = None


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM when the demo's process dies, however it dies (Linux)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGTERM), 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def run_loop(main: Any) -> Any:
    """Run a coroutine on uvloop where it is installed (picows is fastest on it), else asyncio.

    TRADING_ENGINE_NO_UVLOOP=1 forces the stock loop.
    """
    factory = None
    if not os.environ.get("TRADING_ENGINE_NO_UVLOOP"):
        try:
            import uvloop

            factory = uvloop.new_event_loop
        except ImportError:
            factory = None
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)


def loop_name() -> str:
    loop = asyncio.get_running_loop()
    return "uvloop" if type(loop).__module__.startswith("uvloop") else "asyncio"
