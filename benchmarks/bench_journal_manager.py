"""The journal inside the manager: what it adds to the feed path and to the place path.

- Feed path: a PARTIALLY_FILLED frame with a fill increase through ``manager.feed(bytes)``, journal
  off vs on (5 ms policy), same run. With the journal on, the core notes the order (its dirty list); the
  change is appended on the next loop turn. ``extra_info["feed_ns_per_frame"]``: the ``feed``
  calls alone (the critical path); the benchmark's own time and ``ns_per_op`` also hold that
  loop turn (the appends, amortised per frame).
- Place path: ``await place_limit_order`` against an exchange that answers at once, per flush
  policy (off, every, every-nofsync, 5ms, 0ms): p50/p99 of one call in ``extra_info`` (ns). The
  intent is written before the send under every policy; "every" also fsyncs it there.

The files are in pytest's tmp_path: fsync costs what that filesystem makes it cost.

    BENCH_QUICK=1 .venv/bin/pytest benchmarks/bench_journal_manager.py -k journal
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from trading_engine_python.orders.journal import Journal
from trading_engine_python.orders.manager import OrderManager

from .conftest import QUICK, p50_p99

ORDERS = 200 if QUICK else 2_000
ROUNDS = 5 if QUICK else 20
PLACES = 300 if QUICK else 5_000
OID_BASE = 8_389_765_739_703_625_592
POLICIES: dict[str, tuple[Any, bool] | None] = {
    "off": None,
    "every": ("every", True),
    "every-nofsync": ("every", False),
    "5ms": (5, True),
    "0ms": (0, True),
}


class _Instant:
    """An exchange that accepts every order at once (the REST round trip left out)."""

    def __init__(self) -> None:
        self.oid = itertools.count(OID_BASE)

    async def place_order(self, *args: Any, **kw: Any) -> dict[str, Any]:
        return {"orderId": next(self.oid)}

    async def cancel_order(self, *args: Any, **kw: Any) -> dict[str, Any]:
        return {}

    async def get_order(self, *args: Any, **kw: Any) -> dict[str, Any]:
        return {}

    async def get_open_orders(self, *args: Any, **kw: Any) -> list[dict[str, Any]]:
        return []


def _frame(cid: str, oid: int, z: int) -> bytes:
    return orjson.dumps({"e": "ORDER_TRADE_UPDATE", "E": 1704459987709, "T": 1704459987707, "o": {
        "s": "BTCUSDT", "c": cid, "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "1000", "p": "65000.3",
        "ap": "65000.3", "sp": "0", "x": "TRADE", "X": "PARTIALLY_FILLED", "i": oid, "l": "0.001",
        "z": f"{z / 1000:.3f}", "L": "65000.3", "n": "0", "N": "USDT", "T": 1704459987707, "t": z, "b": "0",
        "a": "0", "m": True, "R": False, "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "BOTH", "cp": False,
        "rp": "0", "pP": False, "si": 0, "ss": 0, "V": "NONE", "pm": "NONE", "gtd": 0}})


def _manager(impl: str, path: Path, policy: str) -> OrderManager:
    spec = POLICIES[policy]
    journal = None
    if spec is not None:
        journal = Journal.open(path, flush=spec[0], fsync=spec[1], compact_bytes=1 << 40)
    return OrderManager(_Instant(), implementation=impl, journal=journal, stuck_timeout=0)


def _close(m: OrderManager, loop: asyncio.AbstractEventLoop) -> None:
    loop.run_until_complete(m.close())
    if m.journal is not None:
        m.journal.close()


@pytest.fixture(params=["off", "5ms"])
def feed_manager(request: pytest.FixtureRequest, impl: str, tmp_path: Path,
                 loop: asyncio.AbstractEventLoop) -> Iterator[tuple[OrderManager, list[tuple[str, int]]]]:
    m = loop.run_until_complete(_open_feed(impl, tmp_path / "feed.journal", str(request.param)))
    orders = [(o.client_order_id, o.exchange_order_id) for o in m.get_active_orders()]
    yield m, orders
    _close(m, loop)


async def _open_feed(impl: str, path: Path, policy: str) -> OrderManager:
    m = _manager(impl, path, policy)
    for _ in range(ORDERS):
        await m.place_limit_order("sub-account-0001", "BTCUSDT", "BUY", "1000", "65000.3")
    return m


@pytest.mark.benchmark(group="journal-manager-feed")
def test_journal_manager_feed(benchmark: Any, feed_manager: tuple[OrderManager, list[tuple[str, int]]],
                              loop: asyncio.AbstractEventLoop) -> None:
    m, orders = feed_manager
    z = itertools.count(1)
    frames: list[bytes] = []
    feed_ns: list[float] = []

    def setup() -> None:
        k = next(z)
        frames[:] = [_frame(cid, oid, k) for cid, oid in orders]

    async def batch() -> None:
        feed = m.feed
        t0 = time.perf_counter_ns()
        for f in frames:
            feed(f)
        feed_ns.append((time.perf_counter_ns() - t0) / len(frames))
        await asyncio.sleep(0)  # the journal's loop turn

    def run() -> None:
        loop.run_until_complete(batch())

    benchmark.pedantic(run, setup=setup, rounds=ROUNDS, iterations=1)
    feed_ns.sort()
    benchmark.extra_info["feed_ns_per_frame"] = round(feed_ns[len(feed_ns) // 2], 1)
    benchmark.extra_info["ops_per_round"] = len(orders)
    if benchmark.stats is not None:
        benchmark.extra_info["ns_per_op"] = round(benchmark.stats.stats.median / len(orders) * 1e9, 1)
    assert m.stats()["fills"] >= len(orders)


@pytest.mark.benchmark(group="journal-manager-place")
@pytest.mark.parametrize("policy", list(POLICIES))
def test_journal_manager_place(benchmark: Any, impl: str, policy: str, tmp_path: Path,
                               loop: asyncio.AbstractEventLoop) -> None:
    m = loop.run_until_complete(_make(impl, tmp_path / "place.journal", policy))
    samples: list[float] = []

    async def places() -> None:
        clock = time.perf_counter_ns
        place = m.place_limit_order
        for _ in range(PLACES):
            t0 = clock()
            await place("sub-account-0001", "BTCUSDT", "BUY", "0.010", "65000.3", origin="GRID",
                        parent_id="g7")
            samples.append(clock() - t0)

    def run() -> None:
        loop.run_until_complete(places())

    try:
        benchmark.pedantic(run, rounds=1, iterations=1)
    finally:
        _close(m, loop)
    samples.sort()
    p50, p99 = p50_p99(samples)
    benchmark.extra_info.update({"p50_ns": p50, "p99_ns": p99, "places": len(samples)})
    assert len(samples) == PLACES


async def _make(impl: str, path: Path, policy: str) -> OrderManager:
    return _manager(impl, path, policy)  # opened inside the loop: buffered policies use its timers
