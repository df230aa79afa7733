"""The order journal: cost of ``append_intent`` and ``append_change`` per flush policy, and of a
compaction and a load.

Policies: ``every`` (write and fsync per record), ``every-nofsync`` (write per record, fsync=False),
``5ms`` and ``0ms`` (changes buffered; intents written through, fsync'd by the timer). Each round
appends a batch of records inside a uvloop event loop and ends with ``flush()`` so that the
buffered policies pay for their write and fsync too; ns per record go in
``extra_info["ns_per_op"]``. The file is in pytest's tmp_path: what fsync costs depends on the
filesystem there (near nothing on tmpfs), so compare policies within one run only.

    .venv/bin/pytest benchmarks/bench_journal.py          # BENCH_QUICK=1 -k journal: seconds
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from trading_engine_python.orders._states import ACTIVE, CANCELLED
from trading_engine_python.orders.journal import Change, FlushPolicy, Intent, Journal, load

from .conftest import QUICK

BATCH = 200 if QUICK else 2_000
ROUNDS = 3 if QUICK else 15
LIVE = 2_000 if QUICK else 50_000  # orders in the compaction and load benchmarks
POLICIES: dict[str, tuple[FlushPolicy, bool]] = {
    "every": ("every", True),
    "every-nofsync": ("every", False),
    "5ms": (5, True),
    "0ms": (0, True),
}
OID_BASE = 8_389_765_739_703_625_592


def _place(cid: str) -> Intent:
    return Intent("place", cid, "sub-account-0001", "BTCUSDT", "BUY", "LIMIT", 100_000, 6_500_010_000_000,
                  "GTC", False, 5, "GRID", "grid-7")


def _cid(k: int) -> str:
    return f"PMSs0001_LMT_{k:016d}"


@pytest.fixture(params=list(POLICIES))
def journal(request: pytest.FixtureRequest, tmp_path: Path,
            loop: asyncio.AbstractEventLoop) -> Iterator[Journal]:
    flush, fsync = POLICIES[str(request.param)]
    # Opened inside the loop, as the engine would, so that buffered policies use its timers.
    j = loop.run_until_complete(_open(tmp_path / "bench.journal", flush, fsync))
    yield j
    j.close()


async def _open(path: Path, flush: FlushPolicy, fsync: bool) -> Journal:
    # No compaction in the append benchmarks.
    return Journal.open(path, flush=flush, fsync=fsync, compact_bytes=1 << 40)


def _per_op(benchmark: Any, ops: int) -> None:
    benchmark.extra_info["ops_per_round"] = ops
    if benchmark.stats is None:  # --benchmark-disable: the code ran once, nothing timed
        return
    benchmark.extra_info["ns_per_op"] = round(benchmark.stats.stats.median / ops * 1e9, 1)


@pytest.mark.benchmark(group="journal-append-intent")
def test_journal_append_intent(benchmark: Any, journal: Journal, loop: asyncio.AbstractEventLoop) -> None:
    counter = itertools.count()
    intents: list[Intent] = []

    def setup() -> None:
        intents[:] = [_place(_cid(next(counter))) for _ in range(BATCH)]

    async def batch() -> None:
        for i in intents:
            journal.append_intent(i)
        journal.flush()

    benchmark.pedantic(lambda: loop.run_until_complete(batch()), setup=setup, rounds=ROUNDS, iterations=1,
                       warmup_rounds=1)
    _per_op(benchmark, BATCH)
    assert journal.pending == 0 and journal.stats.intents % BATCH == 0 and journal.stats.intents


@pytest.mark.benchmark(group="journal-append-change")
def test_journal_append_change(benchmark: Any, journal: Journal, loop: asyncio.AbstractEventLoop) -> None:
    changes = [Change(_cid(k), ACTIVE, OID_BASE + k, k * 1000, 6_500_010_000_000, k * 1000)
               for k in range(BATCH)]

    async def batch() -> None:
        for c in changes:
            journal.append_change(c)
        journal.flush()

    benchmark.pedantic(lambda: loop.run_until_complete(batch()), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _per_op(benchmark, BATCH)
    assert journal.pending == 0 and journal.stats.changes % BATCH == 0 and journal.stats.changes


def _filled_journal(path: Path) -> Journal:
    j = Journal.open(path, flush="every", fsync=False, compact_bytes=1 << 40)
    for k in range(LIVE):
        cid = _cid(k)
        j.append_intent(_place(cid))
        j.append_change(Change(cid, ACTIVE if k % 2 else CANCELLED, OID_BASE + k))
    return j


@pytest.mark.benchmark(group="journal-compact")
def test_journal_compact(benchmark: Any, tmp_path: Path) -> None:
    j = _filled_journal(tmp_path / "bench.journal")
    benchmark.pedantic(j.compact, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    benchmark.extra_info["live_orders"] = LIVE // 2
    benchmark.extra_info["bytes_after"] = j.size
    j.close()
    assert len(load(tmp_path / "bench.journal").entries) == LIVE // 2


@pytest.mark.benchmark(group="journal-load")
def test_journal_load(benchmark: Any, tmp_path: Path) -> None:
    path = tmp_path / "bench.journal"
    _filled_journal(path).close()
    state = benchmark.pedantic(load, args=(path,), rounds=ROUNDS, iterations=1, warmup_rounds=1)
    benchmark.extra_info["records"] = state.records
    _per_op(benchmark, state.records)
    assert len(state.entries) == LIVE
