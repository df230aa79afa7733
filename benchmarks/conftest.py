"""Benchmarks: implementations side by side in one run; BENCH_QUICK=1 shrinks them for CI."""

from __future__ import annotations

import os

import pytest

QUICK = bool(os.environ.get("BENCH_QUICK"))
NO_EXTENSIONS = bool(os.environ.get("TRADING_ENGINE_NO_EXTENSIONS"))
IMPLEMENTATIONS = ["python"] if NO_EXTENSIONS else ["cython", "python"]


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> str:
    return str(request.param)
