"""Benchmarks: implementations side by side in one run; BENCH_QUICK=1 shrinks them for CI."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator, Sequence

import pytest

try:
    import uvloop
except ImportError:  # pragma: no cover
    uvloop = None  # type: ignore[assignment]

from trading_engine_python._compat import NO_EXTENSIONS

QUICK = bool(os.environ.get("BENCH_QUICK"))
IMPLEMENTATIONS = ["python"] if NO_EXTENSIONS else ["cython", "python"]


def p50_p99(ordered: Sequence[float]) -> tuple[float, float]:
    """The 50th and 99th percentile samples of a sorted, non-empty list (nearest rank, no interpolation)."""
    return ordered[len(ordered) // 2], ordered[int(len(ordered) * 0.99)]


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """One event loop per benchmark module (uvloop where installed), for the socket benchmarks."""
    lp = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
    yield lp
    lp.close()
