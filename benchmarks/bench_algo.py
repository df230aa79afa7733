"""ALGO_UPDATE on the feed path: one raw frame through ``manager.feed(bytes)`` (the user stream's
frame callback), compiled core vs pure twin, against ``orjson.loads`` of the same frame alone (the
target: compiled <= 0.5x that).

The frame is the real captured TRIGGERED ALGO_UPDATE (tests/data/ws/
algo_update_nautilus_dogeusdt_stop_market_2025.jsonl) with our clientAlgoId in ``caid``. Every
timed frame is a real transition: it triggers a different algo order, placed (through a stub
Algo API) and acknowledged (NEW) before the round. Two cases: an algo order without callbacks
(the frame never leaves the compiled core: the comparison with bench_core's ORDER_TRADE_UPDATE),
and one with an ``on_trigger`` callback (the shell's dispatch and the call run too).
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from tests._data import frames

from trading_engine_python.orders.manager import OrderManager

from .conftest import QUICK

_CAPTURE = [orjson.loads(ln)["data"]
            for ln in frames("ws/algo_update_nautilus_dogeusdt_stop_market_2025.jsonl")]
_TRIGGERED = next(m for m in _CAPTURE if m["o"]["X"] == "TRIGGERED")


def _algo_frame(cid: str, status: str, aid: int) -> bytes:
    msg: dict[str, Any] = {**_TRIGGERED, "o": {**_TRIGGERED["o"], "caid": cid, "aid": aid, "X": status}}
    if status == "NEW":
        for key in ("ai", "ap", "aq", "act"):
            msg["o"].pop(key, None)
    return orjson.dumps(msg)


class _StubAlgoApi:
    def __init__(self) -> None:
        self.n = 0

    async def place_order(self, *a: object, **k: object) -> dict[str, object]:
        return {}

    async def place_algo_order(self, *a: object, **k: object) -> dict[str, object]:
        self.n += 1
        return {"algoId": 10**15 + self.n}


def _noop(order: object) -> None:
    return None


@pytest.mark.benchmark(group="algo-update")
def test_orjson_loads_algo_update_yardstick(benchmark: Any) -> None:
    frame = _algo_frame("PMSsub1_STM_hoqop1c0k2aj", "TRIGGERED", 10**15)
    benchmark.extra_info["frame_bytes"] = len(frame)
    if QUICK:
        benchmark.pedantic(orjson.loads, args=(frame,), rounds=5, iterations=2000, warmup_rounds=1)
    else:
        benchmark(orjson.loads, frame)
    benchmark.extra_info["ns_per_frame"] = round(benchmark.stats.stats.median * 1e9, 1)


@pytest.mark.benchmark(group="algo-update")
@pytest.mark.parametrize("callbacks", [False, True], ids=["no-callbacks", "on_trigger"])
def test_feed_algo_update_raw_frame(benchmark: Any, impl: str, callbacks: bool) -> None:
    """``manager.feed(frame)`` per frame; each frame triggers a fresh algo order."""
    n = 2_000 if QUICK else 20_000
    state: dict[str, Any] = {}
    hooks = {"on_trigger": _noop} if callbacks else {}

    def setup() -> None:
        async def place() -> tuple[OrderManager, list[bytes]]:
            m = OrderManager(_StubAlgoApi(), implementation=impl, stuck_timeout=0)
            out = []
            for _ in range(n):
                o = await m.place_stop_order("sub1", "DOGEUSDT", "BUY", "38", "0.13855", **hooks)
                aid = m.algo_id(o.client_order_id)
                assert aid is not None
                m.feed(_algo_frame(o.client_order_id, "NEW", aid))
                assert o.state == "active"
                out.append(_algo_frame(o.client_order_id, "TRIGGERED", aid))
            return m, out

        m, fs = asyncio.run(place())
        state["feed"], state["frames"], state["m"] = m.feed, fs, m

    def target() -> None:
        feed = state["feed"]
        for f in state["frames"]:
            feed(f)

    benchmark.pedantic(target, setup=setup, rounds=3 if QUICK else 10, iterations=1)
    m = state["m"]
    assert m.get_active_orders()[0].state == "triggered" and m.stats()["malformed"] == 0
    benchmark.extra_info["frame_bytes"] = len(state["frames"][0])
    benchmark.extra_info["frames_per_round"] = n
    benchmark.extra_info["ns_per_frame"] = round(benchmark.stats.stats.median / n * 1e9, 1)
