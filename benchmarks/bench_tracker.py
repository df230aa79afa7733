"""The order tracker alone (``OrderCore``), both twins side by side, at 1k / 100k / 1M tracked orders.

Per operation: insert (``add``), lookup by client order id and by exchange order id, a live query
(``live(sub, symbol)`` and ``by_parent`` answering 10 orders), retire (a CANCELED frame through
``feed``: live -> terminal), evict (the retention letting go of terminal orders), a fill frame
through ``feed``, and, for scale, the compiled decoder alone on the same frame. Each benchmark runs
a batch of operations per round (ns per operation in ``extra_info["ns_per_op"]``) and leaves the
tracker as it found it. Memory: bytes per live tracked order at 100k orders, by tracemalloc and by
RSS, each in a fresh process (RSS without tracemalloc running, whose own traces cost memory). The
compiled core takes its C memory from PyMem_Raw*, which tracemalloc does trace.

BENCH_QUICK=1: 1k and 10k orders only, smaller batches, fewer rounds, memory at 20k orders.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from trading_engine_python.orders._core import load
from trading_engine_python.orders._states import FAILED

from ._frames import order_trade_update
from .conftest import IMPLEMENTATIONS, QUICK

SIZES = [1_000, 10_000] if QUICK else [1_000, 100_000, 1_000_000]
BATCH = 200 if QUICK else 1_000
ROUNDS = 3 if QUICK else 15
SUBS = 20
SYMBOLS = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT")
QTY = 100_000_000_000  # 1000.0: room for many fill increases
PRICE = 6_500_010_000_000
OID_BASE = 8_389_765_739_703_625_592  # > 2**53, like real Binance ids


def _cid(k: int) -> str:
    return f"PMSs{k % SUBS:04d}_LMT_{k:016d}"  # 29 characters, the shape ids.py makes


def _frame(cid: str, status: str, z: str, oid: int) -> bytes:
    return order_trade_update(cid, status, z, q="1000", last="0.00000001", oid=oid)


class _Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


class Tracker:
    """A core holding ``n`` live orders (20 sub-accounts x 5 symbols, 10 orders per parent, every
    one with an exchange id), plus a query target: sub-account "q" on "QRYUSDT", parent "qp",
    10 orders."""

    def __init__(self, impl: str, n: int) -> None:
        self.impl = impl
        self.n = n
        self.clock = _Clock()
        self.core = load(impl)(60.0, 10_000_000, self.clock)
        add = self.core.add
        set_oid = self.core.set_exchange_id
        for k in range(n):
            cid = _cid(k)
            add(cid, f"s{k % SUBS:04d}", SYMBOLS[k % len(SYMBOLS)], k & 1, 0, QTY, PRICE, "SCALPER",
                f"p{k // 10}", 5, False, "GTC")
            set_oid(cid, OID_BASE + k)
        for j in range(10):
            add(f"PMSq_LMT_{j}", "q", "QRYUSDT", 0, 0, QTY, PRICE, "CHASE", "qp", 5, False, "GTC")
        self.next_id = n + 10
        self.fill_round = 0
        step = max(1, n // BATCH)
        self.sample = [(k * step) % n for k in range(BATCH)]

    def fresh_ids(self, count: int) -> list[str]:
        ids = [_cid(self.next_id + k) for k in range(count)]
        self.next_id += count
        return ids

    def drop(self, cids: list[str]) -> None:
        """Retire and evict orders that a round added (not timed)."""
        for cid in cids:
            self.core.close_local(cid, FAILED, -2013, "Order does not exist.")
        self.clock.t += 120.0
        self.core.get("")  # the retention lets go of them


_CACHE: dict[tuple[str, int], Tracker] = {}


@pytest.fixture(scope="module", params=[(impl, n) for n in SIZES for impl in IMPLEMENTATIONS],
                ids=lambda p: f"{p[0]}-{p[1]}")
def tracker(request: pytest.FixtureRequest) -> Any:
    _CACHE.clear()
    gc.collect()
    t = Tracker(*request.param)
    _CACHE[request.param] = t
    yield t
    _CACHE.clear()
    gc.collect()


def _per_op(benchmark: Any, ops: int) -> None:
    benchmark.extra_info["ops_per_round"] = ops
    benchmark.extra_info["ns_per_op"] = round(benchmark.stats.stats.median / ops * 1e9, 1)


def _run(benchmark: Any, target: Callable[[], None], setup: Callable[[], None] | None, ops: int) -> None:
    gc.collect()
    benchmark.pedantic(target, setup=setup, rounds=ROUNDS, iterations=1, warmup_rounds=1)
    _per_op(benchmark, ops)


@pytest.mark.benchmark(group="tracker-insert")
def test_insert(benchmark: Any, tracker: Tracker) -> None:
    core = tracker.core
    state: dict[str, list[str]] = {"ids": []}

    def setup() -> None:
        tracker.drop(state["ids"])
        state["ids"] = tracker.fresh_ids(BATCH)

    def target() -> None:
        add = core.add
        for cid in state["ids"]:
            add(cid, "s0001", "BTCUSDT", 0, 0, QTY, PRICE, "SCALPER", None, 5, False, "GTC")

    _run(benchmark, target, setup, BATCH)
    tracker.drop(state["ids"])
    assert len(core) == tracker.n + 10


@pytest.mark.benchmark(group="tracker-get-by-client-id")
def test_lookup_client_id(benchmark: Any, tracker: Tracker) -> None:
    cids = [_cid(k) for k in tracker.sample]
    get = tracker.core.get

    def target() -> None:
        for cid in cids:
            get(cid)

    _run(benchmark, target, None, len(cids))
    assert get(cids[0]) is not None


@pytest.mark.benchmark(group="tracker-get-by-exchange-id")
def test_lookup_exchange_id(benchmark: Any, tracker: Tracker) -> None:
    oids = [OID_BASE + k for k in tracker.sample]
    get = tracker.core.get_by_exchange_id

    def target() -> None:
        for oid in oids:
            get(oid)

    _run(benchmark, target, None, len(oids))
    assert get(oids[0]) is not None


@pytest.mark.benchmark(group="tracker-live-query")
def test_live_query(benchmark: Any, tracker: Tracker) -> None:
    """live("q", "QRYUSDT") and by_parent("qp"): 10 orders each, whatever the tracker holds."""
    core = tracker.core
    queries = 100

    def target() -> None:
        for _ in range(queries):
            core.live("q", "QRYUSDT")
            core.by_parent("qp")

    _run(benchmark, target, None, 2 * queries)
    assert len(core.live("q", "QRYUSDT")) == 10 and len(core.by_parent("qp")) == 10


@pytest.mark.benchmark(group="tracker-retire")
def test_retire_by_feed(benchmark: Any, tracker: Tracker) -> None:
    """A CANCELED frame through feed(): live -> cancelled (leaves the live lists, joins the FIFO)."""
    core = tracker.core
    state: dict[str, Any] = {"ids": [], "frames": []}

    def setup() -> None:
        tracker.drop(state["ids"])
        ids = tracker.fresh_ids(BATCH)
        for cid in ids:
            core.add(cid, "s0001", "BTCUSDT", 0, 0, QTY, PRICE, "SCALPER", "pr", 5, False, "GTC")
        state["ids"] = ids
        state["frames"] = [_frame(cid, "CANCELED", "0", k + 1) for k, cid in enumerate(ids)]

    def target() -> None:
        feed = core.feed
        for f in state["frames"]:
            feed(f)

    _run(benchmark, target, setup, BATCH)
    assert core.get(state["ids"][0]).state == "cancelled"
    tracker.drop(state["ids"])


@pytest.mark.benchmark(group="tracker-evict")
def test_evict(benchmark: Any, tracker: Tracker) -> None:
    """The retention letting go of a batch of terminal orders (one operation evicts them all)."""
    core = tracker.core

    def setup() -> None:
        ids = tracker.fresh_ids(BATCH)
        for cid in ids:
            core.add(cid, "s0001", "BTCUSDT", 0, 0, QTY, PRICE, "SCALPER", "pr", 5, False, "GTC")
            core.close_local(cid, FAILED, -2013, "Order does not exist.")
        tracker.clock.t += 120.0

    def target() -> None:
        core.get("")

    _run(benchmark, target, setup, BATCH)
    assert len(core) == tracker.n + 10


@pytest.mark.benchmark(group="tracker-feed-fill")
def test_feed_fill_frame(benchmark: Any, tracker: Tracker) -> None:
    """A ~700-byte PARTIALLY_FILLED frame with a fill increase through feed(bytes): decode, lookup
    by client id, transition; no Python object is built."""
    core = tracker.core
    state: dict[str, list[bytes]] = {"frames": []}

    def setup() -> None:
        tracker.fill_round += 1
        z = f"{tracker.fill_round / 100_000_000:.8f}"
        state["frames"] = [_frame(_cid(k), "PARTIALLY_FILLED", z, OID_BASE + k) for k in tracker.sample]

    def target() -> None:
        feed = core.feed
        for f in state["frames"]:
            feed(f)

    _run(benchmark, target, setup, BATCH)
    benchmark.extra_info["frame_bytes"] = len(state["frames"][0])
    assert core.last_order().filled_fp == tracker.fill_round


@pytest.mark.benchmark(group="tracker-feed-fill")
def test_decoder_alone_for_scale(benchmark: Any) -> None:
    """The compiled decoder on the same frame, looped in C: what feed() costs besides the core."""
    if "cython" not in IMPLEMENTATIONS:
        pytest.skip("pure twin requested")
    from trading_engine_python.orders import _decode_c

    frame = _frame(_cid(1), "PARTIALLY_FILLED", "0.00000001", OID_BASE)
    loops = 100_000
    benchmark.pedantic(_decode_c._scan_loop, args=(frame, loops), rounds=ROUNDS, iterations=1)
    _per_op(benchmark, loops)
    benchmark.extra_info["frame_bytes"] = len(frame)


_MEMORY_PROBE = r"""
import gc, json, sys
impl, n, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
from trading_engine_python.orders._core import load
if mode == "tracemalloc":
    import tracemalloc
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
core = load(impl)(600.0, 100_000)
symbols = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT")
gc.collect()
if mode == "tracemalloc":
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
else:
    before = rss()
for k in range(n):
    cid = f"PMSs{k % 20:04d}_LMT_{k:016d}"
    core.add(cid, f"s{k % 20:04d}", symbols[k % 5], k & 1, 0, 100000, 6500010000000, "SCALPER",
             f"p{k // 10}", 5, False, "GTC")
    core.set_exchange_id(cid, 8389765739703625592 + k)
del cid
gc.collect()
after = tracemalloc.get_traced_memory()[0] if mode == "tracemalloc" else rss()
assert len(core) == n and not core.counters()["evicted"]
print(json.dumps((after - before) / n))
"""


@pytest.mark.benchmark(group="tracker-memory")
def test_bytes_per_live_order(benchmark: Any, impl: str) -> None:
    """Bytes per live tracked order at 100k orders (20k with BENCH_QUICK), no view held:
    ``extra_info`` has the figures (the timing is only the cost of the measuring processes)."""
    n = 20_000 if QUICK else 100_000

    def probe(mode: str) -> float:
        out = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, impl, str(n), mode],
                             capture_output=True, text=True, check=True)
        return float(json.loads(out.stdout))

    result = benchmark.pedantic(lambda: (probe("tracemalloc"), probe("rss")), rounds=1, iterations=1)
    benchmark.extra_info["orders"] = n
    benchmark.extra_info["bytes_per_order_tracemalloc"] = round(result[0], 1)
    benchmark.extra_info["bytes_per_order_rss"] = round(result[1], 1)
    print(f"\n{impl}: {result[0]:.1f} B/order by tracemalloc, {result[1]:.1f} B/order by RSS at {n} orders")
