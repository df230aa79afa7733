"""The feed path: one raw ORDER_TRADE_UPDATE frame through ``await manager.on_order_update``.

Yardstick in the same run: ``orjson.loads`` of the same frame alone (the targets: compiled
<= 0.5x that, and >= 5x faster than the pure twin). Also a whole NEW/PARTIAL/FILLED life with a
callback. Bytes per live tracked order are measured in bench_tracker.py.
"""

from __future__ import annotations

import asyncio

import orjson
import pytest

from trading_engine_python.orders.manager import OrderManager

from ._frames import order_trade_update as _frame
from .conftest import QUICK


class _NoExchange:
    async def place_order(self, *a: object, **k: object) -> dict[str, object]:
        return {}


def _manager_with_order(impl: str) -> tuple[OrderManager, str]:
    async def setup() -> tuple[OrderManager, str]:
        m = OrderManager(_NoExchange(), implementation=impl, stuck_timeout=0)
        o = await m.place_limit_order("sub1", "BTCUSDT", "SELL", "1000", "65000.1")
        return m, o.client_order_id

    return asyncio.run(setup())


@pytest.mark.benchmark(group="feed-frame")
def test_orjson_loads_yardstick(benchmark: pytest.FixtureRequest) -> None:
    frame = _frame("PMSsub1_LMT_hoqop1c0k2aj")
    benchmark.extra_info["frame_bytes"] = len(frame)
    benchmark(orjson.loads, frame)


@pytest.mark.benchmark(group="feed-frame")
def test_on_order_update_raw_frame(benchmark: pytest.FixtureRequest, impl: str) -> None:
    """``await manager.on_order_update(frame)`` from a running coroutine, per frame.

    Each frame is a fill increase (z grows) so every call does the full transition, not the
    stale shortcut; the loop runs inside one coroutine so the await is what is measured.
    """
    n = 2_000 if QUICK else 20_000
    loop = asyncio.new_event_loop()
    state: dict[str, object] = {}

    def setup() -> None:
        # A fresh order each round, so that z keeps increasing (not timed).
        m, cid = _manager_with_order(impl)
        state["upd"] = m.on_order_update
        # q is the order's own size: a fill frame states it, and the core takes it as the truth.
        state["frames"] = [_frame(cid, z=f"{(i + 1) / 10000:.4f}", q="1000") for i in range(n)]

    async def run(upd: object, frames: list[bytes]) -> None:
        for f in frames:
            await upd(f)  # type: ignore[operator]

    def target() -> None:
        loop.run_until_complete(run(state["upd"], state["frames"]))  # type: ignore[arg-type]

    benchmark.pedantic(target, setup=setup, rounds=3 if QUICK else 10, iterations=1)
    benchmark.extra_info["frame_bytes"] = len(state["frames"][0])  # type: ignore[index]
    benchmark.extra_info["frames_per_round"] = n
    benchmark.extra_info["ns_per_frame"] = benchmark.stats.stats.median / n * 1e9
    loop.close()


@pytest.mark.benchmark(group="order-life")
def test_lifecycle_new_partial_filled(benchmark: pytest.FixtureRequest, impl: str) -> None:
    """Register + NEW + PARTIALLY_FILLED + FILLED with plain callbacks, per order."""
    n = 500 if QUICK else 5_000
    loop = asyncio.new_event_loop()
    hits = [0]

    def cb(order: object) -> None:
        hits[0] += 1

    async def run() -> None:
        m = OrderManager(_NoExchange(), implementation=impl, stuck_timeout=0)
        for _ in range(n):
            o = await m.place_limit_order(
                "sub1", "BTCUSDT", "SELL", "0.002", "65000.1", on_fill=cb, on_partial=cb
            )
            cid = o.client_order_id
            m.feed(_frame(cid, "NEW", "0", q="0.002"))
            m.feed(_frame(cid, "PARTIALLY_FILLED", "0.001", q="0.002"))
            m.feed(_frame(cid, "FILLED", "0.002", q="0.002"))

    benchmark.pedantic(lambda: loop.run_until_complete(run()), rounds=3, iterations=1)
    benchmark.extra_info["us_per_order"] = benchmark.stats.stats.median / n * 1e6
    loop.close()
