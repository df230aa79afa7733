"""Order entry latency through the manager's public API, against the simulator in a child process
on loopback, with the real user stream:

- place -> NEW: ``place_limit_order`` called until the feed made the order ``active``;
- reprice -> repriced and live: ``replace_order`` called until the order at the new price is
  ``active`` (the same order after an amend; the new one after cancel-then-place);
- cancel -> CANCELED: ``cancel_order`` called until the feed made it ``cancelled``.

Cases: REST cancel-then-place (the path before amends), REST amend, ws-fapi with cancel-then-place,
ws-fapi amend. p50/p99 per step go to pytest-benchmark's extra_info (microseconds).

    .venv/bin/pytest benchmarks/bench_entry_latency.py    # BENCH_QUICK=1 for a few seconds' run
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from trading_engine_python.exchange import BinanceFuturesClient
from trading_engine_python.feed import UserStreamService
from trading_engine_python.orders.manager import OrderManager

from ._child import SIMULATOR, child_server
from .conftest import QUICK, p50_p99

CYCLES = 30 if QUICK else 500
KEY, SECRET = "benchKey123", "benchSecret456"


CASES = [("rest", "cancel_place"), ("rest", "auto"), ("ws", "cancel_place"), ("ws", "auto")]


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with child_server(SIMULATOR, KEY, SECRET, stop_timeout=10) as p:
        yield p


class _Notified:
    """The manager as the user stream sees it, waking the benchmark after every frame."""

    def __init__(self, manager: OrderManager) -> None:
        self._m = manager
        self.changed = asyncio.Event()

    def feed(self, data: Any) -> None:
        self._m.feed(data)
        self.changed.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._m, name)

    async def until(self, cond: Callable[[], bool]) -> None:
        while not cond():
            self.changed.clear()
            await asyncio.wait_for(self.changed.wait(), 5.0)


async def _cycles(port: int, impl: str, entry: str, mode: str) -> dict[str, list[int]]:
    client = BinanceFuturesClient(KEY, SECRET, base_url=f"http://127.0.0.1:{port}",
                                  ws_api_url=f"ws://127.0.0.1:{port}/ws-fapi/v1", timeout=5.0)
    manager = OrderManager(client, implementation=impl, order_entry=entry, replace_timeout=5.0)
    notified = _Notified(manager)
    stream = UserStreamService(client, notified, ws_url=f"ws://127.0.0.1:{port}")
    lat: dict[str, list[int]] = {"place": [], "reprice": [], "cancel": []}
    try:
        await client.get_exchange_info()
        await client._sync_time()
        for w in (client._orders_10s, client._orders_1m, client._weight_1m):
            w.limit = 10**12  # the benchmark measures entry, not pacing waits
        await manager.connect_order_entry()
        await stream.start()
        px = Decimal("50000.0")  # far below the simulator's price: the orders rest
        for n in range(CYCLES):
            t0 = time.perf_counter_ns()
            o = await manager.place_limit_order("bench", "BTCUSDT", "BUY", "0.002", str(px))
            await notified.until(lambda o=o: o.state == "active")  # type: ignore[misc]
            t1 = time.perf_counter_ns()
            new_px = px + Decimal("0.1") * (1 + n % 5)
            r = await manager.replace_order(o.client_order_id, str(new_px), mode=mode)
            assert r is not None, "reprice failed"
            await notified.until(lambda r=r: r.state == "active")  # type: ignore[misc]
            assert Decimal(str(r.price)) == new_px
            t2 = time.perf_counter_ns()
            assert await manager.cancel_order(r.client_order_id)
            await notified.until(lambda r=r: r.state == "cancelled")  # type: ignore[misc]
            t3 = time.perf_counter_ns()
            lat["place"].append(t1 - t0)
            lat["reprice"].append(t2 - t1)
            lat["cancel"].append(t3 - t2)
        stats = manager.stats()
        assert stats["entry_fallbacks"] == 0 and (stats["entry_ws"] > 0) == (entry == "ws")
        assert (stats["amends"] > 0) == (mode == "auto")
    finally:
        await stream.stop()
        await manager.close()
        await client.close()
    return lat


@pytest.mark.parametrize(("entry", "mode"), CASES,
                         ids=[f"{e}-{'amend' if m == 'auto' else m}" for e, m in CASES])
def test_entry_latency(benchmark: Any, loop: asyncio.AbstractEventLoop, port: int, impl: str, entry: str,
                       mode: str) -> None:
    result: dict[str, list[int]] = {}

    def run() -> None:
        result.update(loop.run_until_complete(_cycles(port, impl, entry, mode)))

    benchmark.pedantic(run, rounds=1, iterations=1)
    line = []
    for step, samples in result.items():
        samples.sort()
        p50, p99 = (x / 1000 for x in p50_p99(samples))
        benchmark.extra_info[f"{step}_p50_us"] = round(p50, 1)
        benchmark.extra_info[f"{step}_p99_us"] = round(p99, 1)
        line.append(f"{step} p50 {p50:.0f} us p99 {p99:.0f} us")
    benchmark.extra_info["cycles"] = CYCLES
    print(f"\n{impl} {entry} {mode}: " + ", ".join(line))
