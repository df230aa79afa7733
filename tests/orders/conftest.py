"""Fixtures for the order-core tests: the core class of each twin, and a clock the test drives."""

from __future__ import annotations

import os
from typing import Any

import pytest

from trading_engine_python.orders import _core

NO_EXTENSIONS = bool(os.environ.get("TRADING_ENGINE_NO_EXTENSIONS"))
CORE_MODULES = (
    ["trading_engine_python.orders._core_py"]
    if NO_EXTENSIONS
    else ["trading_engine_python.orders._core_c", "trading_engine_python.orders._core_py"]
)


class FakeClock:
    """Seconds that move only when the test says so (multiples of 1/8, exact in binary)."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


@pytest.fixture(params=CORE_MODULES, ids=lambda m: m.rsplit(".", 1)[1])
def core_cls(request: pytest.FixtureRequest) -> Any:
    """``OrderCore`` of each twin. The compiled one is loaded through ``_core.load`` so that a
    missing build is an error here, not a skip."""
    return _core.load("python" if request.param.endswith("_py") else "cython")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
