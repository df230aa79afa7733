"""The Redis stream journal, against a real redis-server on a free loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from trading_engine_python.orders._states import ACTIVE, CANCELLED, FILLED
from trading_engine_python.orders.journal import (
    Change,
    Intent,
    JournalError,
    RedisJournal,
    encode_line,
    load_stream,
)

from ..events._redis import RedisServer
from .test_journal import ALGO, BIG_OID, place

KEY = "pms:journal:acct-1"


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    c = redis_server.client()
    try:
        yield c
    finally:
        await c.aclose()


async def test_round_trip(client: aioredis.Redis) -> None:
    j = await RedisJournal.open(client, "acct-1")
    assert j.loaded.entries == {} and j.loaded.skipped == 0
    await j.append_intent(place("c1"))
    await j.append_intents([ALGO, place("b1")])
    j.append_change(Change("c1", ACTIVE, BIG_OID, 1, 2, 1))
    await j.append_intent(Intent("amend", "c1", price=5, quantity=6))
    j.append_change(Change("b1", FILLED, 3, 100_000, 7, 100_000))
    await j.append_intent(Intent("cancel", "c1"))
    await j.close()
    assert await client.xlen(KEY) == 8

    state = await load_stream(client, KEY, page=3)  # several pages
    assert (state.records, state.skipped) == (7, 0)  # the header not counted
    c1 = state.entries["c1"]
    assert (c1.place, c1.action, c1.change) == (place("c1"), Intent("cancel", "c1"),
                                                 Change("c1", ACTIVE, BIG_OID, 1, 2, 1))
    assert state.entries["c-algo"].place == ALGO
    assert state.entries["b1"].change == Change("b1", FILLED, 3, 100_000, 7, 100_000)
    assert state.entries == j.state().entries
    again = await RedisJournal.open(client, "acct-1")
    assert again.loaded.entries == state.entries
    await again.close()


async def test_changes_wait_for_the_flush(client: aioredis.Redis) -> None:
    j = await RedisJournal.open(client, "acct-1", flush=60_000)
    j.append_change(Change("c1", ACTIVE, 1))
    await asyncio.sleep(0)
    assert j.pending == 1 and await client.xlen(KEY) == 1  # the header only
    # An intent takes the buffered changes with it, before itself.
    await j.append_intent(place("c2"))
    assert j.pending == 0 and await client.xlen(KEY) == 3
    rows = await client.xrange(KEY)
    assert b'"k":"c"' in rows[1][1][b"r"] and b'"k":"i"' in rows[2][1][b"r"]
    j.append_change(Change("c2", ACTIVE, 2))
    await j.flush()
    assert await client.xlen(KEY) == 4
    await j.close()


async def test_flush_every_sends_changes_on_the_next_turns(client: aioredis.Redis) -> None:
    j = await RedisJournal.open(client, "acct-1", flush="every")
    j.append_change(Change("c1", ACTIVE, 1))
    j.append_change(Change("c1", ACTIVE, 2))
    for _ in range(1000):  # bounded wait, no timing asserted
        if await client.xlen(KEY) == 3:
            break
        await asyncio.sleep(0.005)
    assert await client.xlen(KEY) == 3 and j.pending == 0
    assert j.stats.writes == 1  # one pipeline for both
    await j.close()


async def test_damaged_entries_are_skipped(client: aioredis.Redis) -> None:
    j = await RedisJournal.open(client, "acct-1")
    await j.append_intent(place("c1"))
    await client.xadd(KEY, {"r": encode_line(b'{"k":"i","ts":1,"r":{}}')[:-1].replace(b"{}", b"[]")})
    await client.xadd(KEY, {"other": b"x"})
    await j.append_intent(place("c2"))
    await j.close()
    state = await load_stream(client, KEY)
    assert set(state.entries) == {"c1", "c2"} and state.skipped == 2


async def test_compaction_keeps_the_unsettled_and_renames(client: aioredis.Redis) -> None:
    j = await RedisJournal.open(client, "acct-1")
    await j.append_intent(place("live"))
    await j.append_intent(place("done"))
    j.append_change(Change("done", CANCELLED, 1))
    await j.append_intent(place("untold"))
    j.append_change(Change("untold", FILLED, 2, 100_000, 5, 0))
    j.append_change(Change("live", ACTIVE, 3))  # buffered at the time of the compaction
    await j.compact()
    state = await load_stream(client, KEY)
    assert set(state.entries) == {"live", "untold"}
    assert state.entries["live"].change == Change("live", ACTIVE, 3)
    assert await client.xlen(KEY) == 1 + 2 + 2  # header, and a place and a change each
    assert not await client.exists(KEY + ".compact")
    await j.append_intent(place("after"))
    await j.close()
    assert set((await load_stream(client, KEY)).entries) == {"live", "untold", "after"}


async def test_compaction_by_itself(client: aioredis.Redis) -> None:
    j = await RedisJournal.open(client, "acct-1", compact_entries=10, maxlen=1000)
    for k in range(12):
        await j.append_intent(place(f"c{k}"))
        j.append_change(Change(f"c{k}", CANCELLED, k))
    await j.append_intent(place("last"))
    for _ in range(1000):
        if j.stats.compactions:
            break
        await asyncio.sleep(0.005)
    assert j.stats.compactions >= 1
    await j.close()
    state = await load_stream(client, KEY)
    assert [e.client_id for e in state.unsettled()] == ["last"]
    assert await client.xlen(KEY) < 20


async def test_a_stale_compaction_copy_is_deleted_at_open(client: aioredis.Redis) -> None:
    j = await RedisJournal.open(client, "acct-1")
    await j.append_intent(place("c1"))
    await j.close()
    await client.xadd(KEY + ".compact", {"r": b"half"})
    j = await RedisJournal.open(client, "acct-1")
    assert not await client.exists(KEY + ".compact")
    assert set(j.loaded.entries) == {"c1"}
    await j.close()


async def test_a_failed_send_breaks_the_journal(redis_server: RedisServer) -> None:
    c = redis_server.client(retry_on_error=[], retry=None)
    j = await RedisJournal.open(c, "acct-1")
    await j.append_intent(place("c1"))
    redis_server.stop()
    with pytest.raises(Exception) as info:
        await j.append_intent(place("c2"))
    assert not isinstance(info.value, JournalError)
    with pytest.raises(JournalError, match="earlier write failed"):
        await j.append_intent(place("c3"))
    with pytest.raises(JournalError):
        j.append_change(Change("c3", ACTIVE, 1))
    await j.close()
    await c.aclose()


def test_bad_options() -> None:
    async def run(**kw: Any) -> None:
        await RedisJournal.open(None, "a", **kw)

    with pytest.raises(ValueError):
        asyncio.run(run(flush="never"))
    with pytest.raises(ValueError):
        asyncio.run(run(compact_entries=10, maxlen=10))
