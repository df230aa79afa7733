"""The hot-feed ratios of ``bench_hot.py``, measured interleaved: ``python -m benchmarks.hot_ratios``.

pytest-benchmark runs the ``orjson.loads`` yardstick once, before the cases, so on a shared machine
its ratios move with whatever else runs at that moment. Here every repetition times each case right
between two runs of ``orjson.loads`` (the lower one counts), each run on frames just made, and the
figure is the median ratio over the repetitions. Same desks, frames and loops as ``bench_hot.py``
(BENCH_QUICK sizes: batches of 1000 frames).

Environment: ``REPS`` (default 15), ``IMPL`` (default cython), ``CASES`` (comma-separated among
fh100, fh10k: feed with the three callbacks; fn100, fn10k: feed without; ou100, ou10k: ``await
on_order_update`` with the callbacks).
"""

from __future__ import annotations

import gc
import os
import statistics
import time

os.environ.setdefault("BENCH_QUICK", "1")

import orjson

from benchmarks import bench_hot

KINDS = {"fh": True, "fn": False, "ou": True}
SIZES = {"100": 100, "10k": 10_000}


def _loads(frames: list[bytes]) -> int:
    loads = orjson.loads
    t = time.perf_counter_ns()
    for f in frames:
        loads(f)
    return time.perf_counter_ns() - t


def _feed(desk: bench_hot.Desk, frames: list[bytes]) -> int:
    feed = desk.m.feed
    t = time.perf_counter_ns()
    for f in frames:
        feed(f)
    return time.perf_counter_ns() - t


def _on_order_update(desk: bench_hot.Desk, frames: list[bytes]) -> int:
    upd = desk.m.on_order_update

    async def run() -> int:
        t = time.perf_counter_ns()
        for f in frames:
            await upd(f)
        return time.perf_counter_ns() - t

    return desk.loop.run_until_complete(run())


def main() -> None:
    reps = int(os.environ.get("REPS", "15"))
    impl = os.environ.get("IMPL", "cython")
    cases = os.environ.get("CASES", "fh100,fh10k,fn100,fn10k,ou100,ou10k").split(",")
    desks = {c: bench_hot.Desk(impl, SIZES[c[2:]], KINDS[c[:2]]) for c in cases}
    ratios: dict[str, list[float]] = {c: [] for c in cases}
    per_frame: dict[str, list[float]] = {c: [] for c in cases}
    gc.collect()
    gc.disable()
    try:
        for _ in range(reps):
            for c in cases:
                d = desks[c]
                yard = _loads(d.frames())
                frames = d.frames()
                took = _on_order_update(d, frames) if c.startswith("ou") else _feed(d, frames)
                yard = min(yard, _loads(d.frames()))
                ratios[c].append(took / yard)
                per_frame[c].append(took / len(frames))
    finally:
        gc.enable()
    for c in cases:
        st = desks[c].m.stats()
        assert st["fills"] and st["stale"] == 0 and st["callback_errors"] == 0, st
        print(f"{c:6s} median {statistics.median(ratios[c]):.3f}x  min {min(ratios[c]):.3f}x  "
              f"{statistics.median(per_frame[c]):.0f} ns/frame")
        desks[c].close()


if __name__ == "__main__":
    main()
