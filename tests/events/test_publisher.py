"""EventPublisher against a real redis-server, heard by a redis-py PSUBSCRIBE subscriber.

Every test runs on both RESP twins (``impl.resp``). No timing is asserted; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import signal
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import orjson
import pytest
import uvloop

from trading_engine_python.events import payloads
from trading_engine_python.events.publisher import EventPublisher, fetch_missed

from ..conftest import Implementation
from ._orders import ACCOUNT, CANCELLED, CHILD, FILLED, LIMIT, PARTIAL, REJECTED
from ._redis import RedisServer, Subscriber, dedup, free_port

SubFactory = Callable[..., Subscriber]
FAST: dict[str, Any] = {"reconnect_delay": (0.01, 0.1)}


def order_payload(i: int) -> tuple[str, dict[str, Any]]:
    """A mix of order events, like a busy feed would produce."""
    k = i % 4
    if k == 0:
        return "order_active", payloads.order_active(LIMIT, 1740547200000 + i)
    if k == 1:
        return "order_partially_filled", payloads.order_partially_filled(PARTIAL, 1740547200000 + i)
    if k == 2:
        return "order_filled", payloads.order_filled(FILLED, 1740547200000 + i, ACCOUNT)
    return "order_cancelled", payloads.order_cancelled(CANCELLED, 1740547200000 + i)


def logged_lost(text: str) -> list[int]:
    """The seqs named by the publisher's "lost N events, seq a-b, c, ..." log lines, in order."""
    seqs: list[int] = []
    for m in re.finditer(r"lost (\d+) events, seq ([\d, -]+?) \(total", text):
        named = []
        for part in m.group(2).split(", "):
            a, _, b = part.partition("-")
            named.extend(range(int(a), int(b or a) + 1))
        assert len(named) == int(m.group(1))
        seqs.extend(named)
    return seqs


async def burst(pub: EventPublisher, first: int, last: int, chunk: int = 500,
                pause: float = 0.0, at: dict[int, Callable[[], Any]] | None = None) -> None:
    """publish_nowait events first..last (1-based), yielding to the loop every ``chunk``."""
    for i in range(first, last + 1):
        if at and i in at:
            result = at[i]()
            if asyncio.iscoroutine(result):
                await result
        event, payload = order_payload(i)
        assert pub.publish_nowait(event, payload) == i
        if i % chunk == 0:
            await asyncio.sleep(pause)


async def test_every_event_type_arrives_with_its_payload(redis_server: RedisServer, impl: Implementation,
                                                         sub: Subscriber) -> None:
    client = redis_server.client()
    pub = EventPublisher(client, resp=impl.resp)
    sent = [
        ("order_active", payloads.order_active(LIMIT, 1)),
        ("order_partially_filled", payloads.order_partially_filled(PARTIAL, 2)),
        ("order_filled", payloads.order_filled(FILLED, 3, ACCOUNT)),
        ("order_cancelled", payloads.order_cancelled(CANCELLED, 4)),
        ("order_failed", payloads.order_failed(REJECTED, 5)),
        ("order_active", payloads.order_active(CHILD, 6)),
    ]
    for event, payload in sent:
        pub.publish_nowait(event, payload)
    risk_seq = await pub.publish("position_updated", {"subAccountId": "s", "symbol": "BTCUSDT", "size": 0.1})
    assert risk_seq == len(sent) + 1
    assert await sub.wait_count(len(sent) + 1)
    for (event, payload), (channel, got) in zip(sent, sub.events, strict=False):
        assert channel == f"pms:events:{event}"
        assert got == orjson.loads(orjson.dumps(payload))  # exact keys, values and JSON types
        assert set(got) == set(payload) and "seq" in got
    assert sub.events[-1] == ("pms:events:position_updated",
                              {"subAccountId": "s", "symbol": "BTCUSDT", "size": 0.1, "seq": risk_seq})
    assert sub.events[0][1]["exchangeOrderId"] == str(LIMIT.exchange_order_id)
    await pub.close()
    await client.aclose()


async def test_seq_is_one_counter_across_types(redis_server: RedisServer, impl: Implementation,
                                               sub: Subscriber) -> None:
    client = redis_server.client()
    pub = EventPublisher(client, resp=impl.resp)
    seqs = []
    for i in range(1, 301):
        if i % 7 == 0:
            seqs.append(await pub.publish("margin_update", {"equity": float(i)}))
        else:
            event, payload = order_payload(i)
            seqs.append(pub.publish_nowait(event, payload))
            assert payload["seq"] == seqs[-1]  # stamped into the caller's dict
    assert seqs == list(range(1, 301))
    assert await sub.wait_count(300)
    assert sub.seqs == seqs
    assert {c for c, _ in sub.events} == {f"pms:events:{e}" for e in
                                          ("order_active", "order_partially_filled", "order_filled",
                                           "order_cancelled", "margin_update")}
    await pub.close()
    assert pub.stats()["published"] == 300
    await client.aclose()


async def test_order_kept_under_a_20k_burst(redis_server: RedisServer, impl: Implementation,
                                            sub: Subscriber) -> None:
    client = redis_server.client()
    pub = EventPublisher(client, resp=impl.resp)
    await burst(pub, 1, 20_000, chunk=2000)
    assert await pub.flush(20)
    assert await sub.wait_count(20_000)
    assert sub.seqs == list(range(1, 20_001))  # in order, no gap, no repeat
    stats = pub.stats()
    assert stats["published"] == 20_000 and stats["buffered"] == 0 and stats["dropped"] == 0
    assert stats["batches"] >= 20_000 // 256
    await pub.close()
    await client.aclose()


def test_order_kept_on_uvloop(tmp_path: Any, impl: Implementation) -> None:
    server = RedisServer(tmp_path)
    server.start()

    async def main() -> None:
        sub = Subscriber()
        await sub.start(server.port)
        client = server.client()
        pub = EventPublisher(client, resp=impl.resp)
        await burst(pub, 1, 5000, chunk=250)
        assert await pub.flush(20)
        assert await sub.wait_count(5000)
        assert sub.seqs == list(range(1, 5001))
        await pub.close()
        await sub.stop()
        await client.aclose()

    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(main())
    finally:
        server.close()


async def test_publish_while_redis_is_down_neither_blocks_nor_raises(
        redis_down: RedisServer, impl: Implementation, subscriber_factory: SubFactory) -> None:
    client = redis_down.client()  # nothing listens on that port yet
    pub = EventPublisher(client, resp=impl.resp, **FAST)
    ticks = 0

    async def ticker() -> None:  # the loop keeps turning while the publisher retries
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    t = asyncio.create_task(ticker())
    await burst(pub, 1, 5000, chunk=100)
    await asyncio.sleep(0.2)  # several failed connection attempts
    stats = pub.stats()
    assert stats["buffered"] == 5000 and stats["published"] == 0 and stats["connected"] == 0
    assert not await pub.flush(0.05)
    assert ticks > 3
    sub = subscriber_factory()
    await redis_down.start_gated([sub])
    assert await pub.flush(20)
    assert await sub.wait_count(5000)
    assert sub.seqs == list(range(1, 5001))
    t.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await t
    await pub.close()
    await client.aclose()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
async def test_redis_restart_mid_burst_loses_nothing(redis_server: RedisServer, impl: Implementation,
                                                     subscriber_factory: SubFactory, sig: int) -> None:
    n = 20_000
    before = subscriber_factory()
    await before.start(redis_server.port)
    client = redis_server.client()
    pub = EventPublisher(client, resp=impl.resp, **FAST)
    assert await pub.start(5)
    # Paced so that the subscriber keeps up: what Redis confirmed but had not yet written to a
    # subscriber when it died cannot be recovered by any publisher.
    half = n // 2
    await burst(pub, 1, half, chunk=200, pause=0.002)
    # 1000 events without yielding: the full batches are written at once (in flight, no reply
    # read yet), the rest queued behind them; then the server dies.
    await burst(pub, half + 1, half + 1000, chunk=n)
    stats = pub.stats()
    assert stats["in_flight"] > 0 and stats["buffered"] > stats["in_flight"]
    redis_server.stop(sig)
    await burst(pub, half + 1001, n, chunk=200, pause=0.002)
    assert pub.stats()["buffered"] > 0
    after = subscriber_factory()
    await redis_server.start_gated([after])
    assert await pub.flush(20)
    assert await after.wait_seq(n)
    raw = before.seqs + after.seqs
    kept = dedup(raw)
    missing = next((i for i, s in enumerate(kept, 1) if s != i), None)
    assert kept == list(range(1, n + 1)), f"gap: first missing seq {missing}"
    stats = pub.stats()
    assert stats["reconnects"] >= 1 and stats["dropped"] == 0 and stats["published"] >= n - stats["resent"]
    assert len(raw) - len(kept) <= stats["resent"]  # repeats only for re-sent (cut-off) events
    await pub.close()
    await client.aclose()


class CutProxy:
    """Loopback TCP proxy publisher -> Redis that cuts the first connection after ``cut`` bytes
    upstream: exactly those bytes reach Redis (and are executed), no reply comes back."""

    def __init__(self, upstream_port: int, cut: int) -> None:
        self.upstream_port = upstream_port
        self.cut = cut
        self.connections = 0
        self.server: asyncio.Server | None = None
        self.port = 0
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def _serve(self, down_r: asyncio.StreamReader, down_w: asyncio.StreamWriter) -> None:
        self.connections += 1
        budget = self.cut if self.connections == 1 else None
        up_r, up_w = await asyncio.open_connection("127.0.0.1", self.upstream_port)

        async def upward() -> None:
            nonlocal budget
            while data := await down_r.read(65536):
                if budget is not None:
                    data = data[:budget]
                    budget -= len(data)
                up_w.write(data)
                await up_w.drain()
                if budget == 0:
                    break
            for w in (up_w, down_w):
                w.close()

        async def downward() -> None:
            with contextlib.suppress(Exception):
                while data := await up_r.read(65536):
                    if budget == 0:
                        break
                    down_w.write(data)
            down_w.close()

        tasks = [asyncio.create_task(upward()), asyncio.create_task(downward())]
        self._tasks.update(tasks)
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks)

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        if self.server is not None:
            self.server.close()


async def test_batch_cut_off_mid_send_is_resent(redis_server: RedisServer, impl: Implementation,
                                                subscriber_factory: SubFactory) -> None:
    n = 3000
    sub = subscriber_factory()
    await sub.start(redis_server.port)  # stays connected: only the publisher's link is cut
    one = len(impl.resp.pack_publish([(b"pms:events:order_active",
                                      orjson.dumps({**order_payload(0)[1], "seq": 1000}))]))
    proxy = CutProxy(redis_server.port, cut=one * 600 + one // 2)  # in the middle of a command
    await proxy.start()
    client = redis_server.client(port=proxy.port)
    pub = EventPublisher(client, resp=impl.resp, **FAST)
    assert await pub.start(5)  # (the handshake's bytes also count against the cut)
    await burst(pub, 1, n, chunk=n)
    assert await pub.flush(20)
    assert await sub.wait_seq(n)
    kept = dedup(sub.seqs)
    assert kept == list(range(1, n + 1))
    stats = pub.stats()
    assert proxy.connections >= 2 and stats["reconnects"] >= 1
    repeats = len(sub.seqs) - len(kept)
    assert stats["resent"] >= 1 and 1 <= repeats <= stats["resent"]
    await pub.close()
    await proxy.close()
    await client.aclose()


async def test_overflow_drops_the_oldest_counted_and_logged(
        redis_down: RedisServer, impl: Implementation, subscriber_factory: SubFactory,
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="trading_engine_python.events.publisher")
    client = redis_down.client()
    pub = EventPublisher(client, resp=impl.resp, buffer_size=1000, **FAST)
    await burst(pub, 1, 2500, chunk=100)
    stats = pub.stats()
    assert stats["dropped"] == 1500 and stats["buffered"] == 1000
    assert pub.lost_ranges() == [(1, 1500)]
    assert "dropping from seq 1 on" in caplog.text
    sub = subscriber_factory()
    await redis_down.start_gated([sub])
    assert await pub.flush(20)
    assert await sub.wait_count(1000)
    assert sub.seqs == list(range(1501, 2501))  # the newest 1000, in order
    assert logged_lost(caplog.text) == list(range(1, 1501))  # every lost seq is in a log line, once
    await pub.close()
    await client.aclose()


async def test_close_flushes_then_counts_late_events(redis_server: RedisServer, impl: Implementation,
                                                     sub: Subscriber,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    client = redis_server.client()
    pub = EventPublisher(client, resp=impl.resp)
    await burst(pub, 1, 3000, chunk=3000)  # never yielded: all still queued
    assert pub.stats()["buffered"] == 3000
    await pub.close()
    assert pub.stats()["published"] == 3000 and pub.stats()["buffered"] == 0
    assert await sub.wait_count(3000)
    assert sub.seqs == list(range(1, 3001))
    assert pub.publish_nowait("order_active", payloads.order_active(LIMIT, 1)) == 3001
    assert pub.stats()["dropped"] == 1 and pub.lost_ranges() == [(3001, 3001)]
    assert "published after close()" in caplog.text
    await pub.close()  # idempotent
    await client.aclose()


async def test_close_while_down_is_bounded_and_reports_the_loss(
        redis_down: RedisServer, impl: Implementation, caplog: pytest.LogCaptureFixture) -> None:
    client = redis_down.client()
    pub = EventPublisher(client, resp=impl.resp, **FAST)
    await burst(pub, 1, 10, chunk=10)
    await pub.close(timeout=0.2)
    stats = pub.stats()
    assert stats["dropped"] == 10 and stats["buffered"] == 0 and stats["published"] == 0
    assert logged_lost(caplog.text) == list(range(1, 11))
    await client.aclose()


async def test_stream_fills_a_subscribers_gap(redis_server: RedisServer, impl: Implementation,
                                              subscriber_factory: SubFactory) -> None:
    n = 12_000
    first = subscriber_factory()
    await first.start(redis_server.port)
    client = redis_server.client()
    pub = EventPublisher(client, resp=impl.resp, stream_maxlen=100_000)
    second = subscriber_factory()

    async def drop_out() -> None:  # the consumer loses its connection mid-burst
        await first.stop()

    async def come_back() -> None:  # ... and reconnects: subscribe first, then fetch the gap
        await second.start(redis_server.port)

    await burst(pub, 1, n, chunk=500, pause=0.001, at={4000: drop_out, 9000: come_back})
    assert await pub.flush(20)
    assert await second.wait_seq(n)
    last_seen = first.seqs[-1]
    assert last_seen < 9000 and second.seqs[0] > last_seen + 1  # there is a gap to fill
    missed = await fetch_missed(client, last_seen)
    assert [e["seq"] for e in missed] == list(range(last_seen + 1, missed[-1]["seq"] + 1))
    merged = dedup(first.seqs + [e["seq"] for e in missed] + second.seqs)
    assert merged == list(range(1, n + 1))
    # The stream holds the same payloads as the channel.
    assert missed[0] == {**order_payload(missed[0]["seq"])[1], "seq": missed[0]["seq"]}
    assert await client.xlen("pms:events") == n
    await pub.close()
    await client.aclose()


async def test_stream_is_capped(redis_server: RedisServer, impl: Implementation) -> None:
    client = redis_server.client(decode_responses=True)
    pub = EventPublisher(client, resp=impl.resp, stream_maxlen=1000, batch_size=100)
    await burst(pub, 1, 5000, chunk=1000)
    await pub.close()
    assert pub.stats()["published"] == 5000
    length = await client.xlen("pms:events")
    assert 1000 <= length < 2000  # "~": trimmed by whole macro nodes
    tail = await fetch_missed(client, 4990)  # decode_responses=True works too
    assert [e["seq"] for e in tail] == list(range(4991, 5001))
    everything = await fetch_missed(client, 0, page=300)  # paged, oldest trimmed away
    assert [e["seq"] for e in everything] == list(range(5001 - length, 5001))
    await client.aclose()


async def test_server_busy_is_retried_in_order(redis_server: RedisServer, impl: Implementation,
                                               sub: Subscriber) -> None:
    admin = redis_server.client()
    await admin.config_set("busy-reply-threshold", "10")  # ms before others get -BUSY
    client = redis_server.client()
    pub = EventPublisher(client, resp=impl.resp, **FAST)
    await burst(pub, 1, 500, chunk=500)
    assert await pub.flush(10)
    blocker = redis_server.client()
    script = asyncio.ensure_future(blocker.eval("while true do end", 0))
    probe = redis_server.client()
    for _ in range(200):  # bounded: wait until the server answers BUSY
        try:
            await probe.ping()
        except Exception as exc:
            if "BUSY" in str(exc):
                break
        await asyncio.sleep(0.01)
    else:
        pytest.fail("the server never became busy")
    await burst(pub, 501, 1500, chunk=250, pause=0.005)
    await asyncio.sleep(0.1)
    assert pub.stats()["published"] < 1500
    await admin.script_kill()
    with contextlib.suppress(Exception):
        await script
    assert await pub.flush(20)
    assert await sub.wait_seq(1500)
    assert dedup(sub.seqs) == list(range(1, 1501))
    assert pub.stats()["errors"] == 0  # BUSY is retried, not counted as a refusal
    await pub.close()
    for c in (admin, client, blocker, probe):
        await c.aclose()


async def test_unusable_events_are_counted_not_raised(redis_server: RedisServer, impl: Implementation,
                                                      sub: Subscriber) -> None:
    client = redis_server.client()
    pub = EventPublisher(client, resp=impl.resp)
    assert pub.publish_nowait(123, {"a": 1}) == 0  # type: ignore[arg-type]
    assert pub.publish_nowait(["x"], {"a": 1}) == 0  # type: ignore[arg-type]
    assert pub.publish_nowait("has space", {"a": 1}) == 0
    assert pub.publish_nowait("order_active", ["not", "a", "dict"]) == 0  # type: ignore[arg-type]
    assert pub.publish_nowait("order_active", {1: "non-str key"}) == 0  # type: ignore[dict-item]
    assert pub.stats()["invalid"] == 5
    assert pub.publish_nowait("order_active", {"price": Decimal("65000.10")}) == 1  # coerced, not lost
    assert pub.publish_nowait("order_active", {"ok": True}) == 2  # no gap for the refused ones
    assert await sub.wait_count(2)
    assert [p for _, p in sub.events] == [{"price": "65000.10", "seq": 1}, {"ok": True, "seq": 2}]
    assert pub.stats()["coerced"] == 1
    await pub.close()
    await client.aclose()


async def test_stream_key_of_the_wrong_type_is_counted(redis_server: RedisServer, impl: Implementation,
                                                       sub: Subscriber,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    client = redis_server.client()
    await client.set("pms:events", "not a stream")
    pub = EventPublisher(client, resp=impl.resp, stream_maxlen=100)
    await burst(pub, 1, 10, chunk=10)
    assert await pub.flush(10)
    assert await sub.wait_count(10)
    assert sub.seqs == list(range(1, 11))  # PUB/SUB still gets every event
    assert pub.stats()["errors"] == 10
    assert "WRONGTYPE" in caplog.text and "XADD of event seq 1" in caplog.text
    await pub.close()
    await client.aclose()


def test_construction_needs_no_loop_and_no_io() -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis(host="127.0.0.1", port=free_port())
    pub = EventPublisher(client)
    assert pub.publish_nowait("order_active", {"a": 1}) == 1  # no loop: queued, not sent
    assert pub.stats()["buffered"] == 1 and pub.stats()["connected"] == 0
    with pytest.raises(TypeError):
        EventPublisher(object())
    with pytest.raises(ValueError):
        EventPublisher(client, batch_size=0)
    with pytest.raises(ValueError):
        EventPublisher(client, stream_maxlen=0)
