"""Order events to Redis: throughput of the publishers side by side, and latency.

A real ``redis-server`` on a free loopback port; a subscriber in a child process
``PSUBSCRIBE``s ``pms:events:*`` like the JS proxy (a raw socket reader, so that the subscriber is
never the bottleneck). Every implementation publishes the same N order events (payload dicts
built by ``events.payloads``, serialised with orjson at publish time, ``seq`` stamped), from a
uvloop event loop, yielding to the loop every 256 events:

- ``ours-cython``: EventPublisher with the compiled RESP packer;
- ``ours-python``: the same with the pure-Python packer;
- ``ours-cython-stream``: compiled, plus ``XADD pms:events MAXLEN ~ N`` per event (capped stream);
- ``redis-py-pipeline-256``: ``pipeline(transaction=False)``, 256 ``publish`` per ``execute()``;
- ``redis-py-per-event``: one ``await redis.publish()`` per event.

Events/s go in ``extra_info``: ``events_per_s`` from the first publish until Redis confirmed the
last one, ``subscriber_events_per_s`` until the subscriber process received it (it must receive
every event, or the run fails).
Latency: ours (compiled) at a steady 20k events/s for 2 s; each event's enqueue time is taken
with ``time.monotonic_ns()`` just before ``publish_nowait``, the subscriber process stamps each
received chunk with the same clock (CLOCK_MONOTONIC is shared by processes on Linux); p50/p99
go in ``extra_info``. uvloop timers have 1 ms resolution, so the steady rate is 20 events per
1 ms tick.

    .venv/bin/pytest benchmarks/bench_events.py -s        # BENCH_QUICK=1: 10k events, seconds
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis.asyncio as aioredis
import uvloop

from trading_engine_python._compat import NO_EXTENSIONS
from trading_engine_python.events import _resp_py, payloads
from trading_engine_python.events.publisher import EventPublisher

from .conftest import QUICK, p50_p99

N = 10_000 if QUICK else 100_000
YIELD_EVERY = 256
RATE = 20_000  # events/s for the latency run
LATENCY_SECONDS = 0.5 if QUICK else 2.0
REDIS_SERVER = shutil.which("redis-server") or "redis-server"  # not on PATH: Popen names it in its error

RESULTS: dict[str, float] = {}
START = [0]  # monotonic ns of the first publish of the current run


# ---------------------------------------------------------------- Redis and the subscriber process

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def redis_port() -> Iterator[int]:
    port = _free_port()
    with tempfile.TemporaryDirectory() as tmp:
        proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", tmp], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                        s.sendall(b"PING\r\n")
                        if s.recv(16).startswith(b"+PONG"):
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.01)
            yield port
        finally:
            proc.terminate()
            proc.wait(10)


SUBSCRIBER = r'''
import re, socket, sys, time
port, last, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
s = socket.create_connection(("127.0.0.1", port))
s.sendall(b"*2\r\n$10\r\nPSUBSCRIBE\r\n$12\r\npms:events:*\r\n")
buf = b""
while b"psubscribe" not in buf:
    buf += s.recv(65536)
print("ready", flush=True)
seq_re = re.compile(rb'"seq":(\d+)')
stamps = []
tail = b""
now = time.monotonic_ns
while True:
    data = s.recv(1 << 20)
    t = now()
    if not data:
        break
    if last <= 0:  # load only: read and discard
        continue
    data = tail + data
    cut = data.rfind(b"}")  # payloads end with "}"; the rest may be a message cut in two
    for m in seq_re.finditer(data, 0, cut + 1):
        stamps.append((int(m.group(1)), t))
    tail = data[cut + 1:]
    if stamps and stamps[-1][0] >= last:
        break
with open(out, "w") as f:
    f.write("\n".join(f"{q} {t}" for q, t in stamps))
'''


class SubscriberProcess:
    def __init__(self, port: int, last_seq: int = 0) -> None:
        self.out = Path(tempfile.mkstemp(prefix="events-sub-", suffix=".txt")[1])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SUBSCRIBER, str(port), str(last_seq), str(self.out)],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        assert self.proc.stdout.readline().strip() == "ready"

    def stamps(self, timeout: float = 30.0) -> dict[int, int]:
        self.proc.wait(timeout)
        got: dict[int, int] = {}
        for line in self.out.read_text().splitlines():
            q, t = line.split()
            got.setdefault(int(q), int(t))
        self.out.unlink()
        return got

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        self.out.unlink(missing_ok=True)


# ---------------------------------------------------------------- the events

def make_events(n: int = 1000) -> list[tuple[str, dict[str, Any]]]:
    """n distinct order events (a mix of the five types), cycled through by the runs."""
    from types import SimpleNamespace

    out = []
    for i in range(n):
        order = SimpleNamespace(
            client_order_id=f"PMSab12cd34_LMT_{i:08x}", exchange_order_id=8_389_765_000_000_000_000 + i,
            sub_account_id="ab12cd34-0000-4000-8000-000000000001", symbol="BTCUSDT",
            side="BUY" if i % 2 else "SELL", order_type="LIMIT", origin="MANUAL",
            parent_id=None if i % 3 else f"chase-{i}", quantity=0.001 * (1 + i % 7), price=65000.0 + i / 10,
            state="cancelled", filled_qty=0.001, avg_price=65000.05, last_fill_qty=0.001,
            last_fill_price=65000.1, error=(-2019, "Margin is insufficient."))
        ts = 1740547200000 + i
        k = i % 5
        if k == 0:
            out.append(("order_active", payloads.order_active(order, ts)))
        elif k == 1:
            out.append(("order_partially_filled", payloads.order_partially_filled(order, ts)))
        elif k == 2:
            account = {"balance": 1000.0, "equity": 1001.5, "marginUsed": 6.5, "availableMargin": 995.0}
            out.append(("order_filled", payloads.order_filled(order, ts, account)))
        elif k == 3:
            out.append(("order_cancelled", payloads.order_cancelled(order, ts)))
        else:
            out.append(("order_failed", payloads.order_failed(order, ts)))
    return out


EVENTS = make_events()
CHANNELS = {e: f"pms:events:{e}" for e, _ in EVENTS}


# ---------------------------------------------------------------- the runs

def run_uvloop(main: Run) -> float:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


Run = Callable[[], Coroutine[Any, Any, float]]


def ours(port: int, n: int, resp: Any = None, stream_maxlen: int | None = None) -> Run:
    async def main() -> float:
        client = aioredis.Redis(host="127.0.0.1", port=port)
        await client.delete("pms:events")
        pub = EventPublisher(client, resp=resp, stream_maxlen=stream_maxlen, buffer_size=max(n, 100_000))
        assert await pub.start(5)
        events = EVENTS
        m = len(events)
        publish = pub.publish_nowait
        START[0] = time.monotonic_ns()
        t0 = time.perf_counter()
        for i in range(n):
            event, payload = events[i % m]
            publish(event, payload)
            if i % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
        assert await pub.flush(120)
        elapsed = time.perf_counter() - t0
        stats = pub.stats()
        assert stats["published"] == n and stats["dropped"] == 0, stats
        await pub.close()
        await client.aclose()
        return n / elapsed

    return main


def _redis_py(port: int, n: int, send: Callable[[aioredis.Redis], Awaitable[None]]) -> Run:
    """The timed run of a plain redis-py baseline: connect, then ``send`` the ``n`` events."""

    async def main() -> float:
        client = aioredis.Redis(host="127.0.0.1", port=port)
        await client.ping()
        START[0] = time.monotonic_ns()
        t0 = time.perf_counter()
        await send(client)
        elapsed = time.perf_counter() - t0
        await client.aclose()
        return n / elapsed

    return main


def redis_py_pipeline(port: int, n: int, size: int = 256) -> Run:
    async def send(client: aioredis.Redis) -> None:
        events = EVENTS
        m = len(events)
        dumps = orjson.dumps
        seq = 0
        for start in range(0, n, size):
            pipe = client.pipeline(transaction=False)
            for i in range(start, min(start + size, n)):
                event, payload = events[i % m]
                seq += 1
                payload["seq"] = seq
                pipe.publish(CHANNELS[event], dumps(payload))
            await pipe.execute()

    return _redis_py(port, n, send)


def redis_py_per_event(port: int, n: int) -> Run:
    async def send(client: aioredis.Redis) -> None:
        events = EVENTS
        m = len(events)
        dumps = orjson.dumps
        for i in range(n):
            event, payload = events[i % m]
            payload["seq"] = i + 1
            await client.publish(CHANNELS[event], dumps(payload))

    return _redis_py(port, n, send)


IMPLS: dict[str, Callable[[int, int], Run]] = {
    "ours-python": lambda port, n: ours(port, n, resp=_resp_py),
    "redis-py-pipeline-256": redis_py_pipeline,
    "redis-py-per-event": redis_py_per_event,
}
if not NO_EXTENSIONS:
    from trading_engine_python.events import _resp_c

    IMPLS = {
        "ours-cython": lambda port, n: ours(port, n, resp=_resp_c),
        **IMPLS,
        "ours-cython-stream": lambda port, n: ours(port, n, resp=_resp_c, stream_maxlen=100_000),
    }


@pytest.mark.benchmark(group="events-publish-throughput")
@pytest.mark.parametrize("impl", list(IMPLS))
def test_publish_throughput(benchmark: Any, redis_port: int, impl: str) -> None:
    n = N if impl != "redis-py-per-event" or not QUICK else N // 2
    # A live PSUBSCRIBE pms:events:* the whole time, which must hear every event: Redis drops a
    # subscriber that falls 32 MB behind, and PUBLISH to nobody would flatter every number.
    sub = SubscriberProcess(redis_port, last_seq=n)
    try:
        rate = benchmark.pedantic(run_uvloop, args=(IMPLS[impl](redis_port, n),), rounds=1, iterations=1)
        got = sub.stamps(timeout=60)
    finally:
        sub.stop()
    assert len(got) == n, f"the subscriber heard {len(got)} of {n} events"
    e2e = n / ((max(got.values()) - START[0]) / 1e9)
    RESULTS[impl] = rate
    benchmark.extra_info.update({"events": n, "events_per_s": round(rate),
                                 "subscriber_events_per_s": round(e2e)})
    best = RESULTS.get("ours-cython") or RESULTS.get("ours-python")
    for ref in ("redis-py-pipeline-256", "redis-py-per-event"):
        if best and ref in RESULTS:
            benchmark.extra_info[f"ours_vs_{ref}"] = round(best / RESULTS[ref], 2)
    ratios = "".join(f"; {k} = {v}x" for k, v in benchmark.extra_info.items() if k.startswith("ours_vs"))
    print(f"\n{impl}: {rate:,.0f} events/s confirmed, {e2e:,.0f}/s heard by the subscriber, "
          f"over {n} events{ratios}")


@pytest.mark.benchmark(group="events-latency")
def test_latency_at_steady_rate(benchmark: Any, redis_port: int) -> None:
    n = int(RATE * LATENCY_SECONDS)
    per_tick = RATE // 1000
    enq = [0] * (n + 1)

    async def main() -> float:
        client = aioredis.Redis(host="127.0.0.1", port=redis_port)
        pub = EventPublisher(client)
        assert await pub.start(5)
        events = EVENTS
        m = len(events)
        now = time.monotonic_ns
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        i = 0
        while i < n:
            # Publish what is due by now (20 per ms), then sleep to the next tick.
            due = min(n, int((loop.time() - t0) * RATE) + per_tick)
            while i < due:
                event, payload = events[i % m]
                i += 1
                enq[i] = now()
                pub.publish_nowait(event, payload)
            await asyncio.sleep(0.001)
        assert await pub.flush(30)
        await pub.close()
        await client.aclose()
        return float(n)

    sub = SubscriberProcess(redis_port, last_seq=n)
    try:
        benchmark.pedantic(run_uvloop, args=(main,), rounds=1, iterations=1)
        got = sub.stamps()
    finally:
        sub.stop()
    lat = sorted((got[s] - enq[s]) / 1000 for s in range(1, n + 1) if s in got)
    assert len(lat) == n, f"subscriber got {len(lat)} of {n}"
    p50, p99 = p50_p99(lat)
    benchmark.extra_info.update({"events": n, "rate_per_s": RATE, "p50_us": round(p50, 1),
                                 "p99_us": round(p99, 1), "max_us": round(lat[-1], 1)})
    print(f"\nlatency enqueue->subscriber at {RATE}/s, {n} events: p50 {p50:.0f} us, p99 {p99:.0f} us, "
          f"max {lat[-1]:.0f} us")
