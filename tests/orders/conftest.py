"""Fixtures for the order-core tests: a clock the test drives (the twin comes from ``impl`` in
tests/conftest.py)."""

from __future__ import annotations

import pytest


class FakeClock:
    """Seconds that move only when the test says so (multiples of 1/8, exact in binary)."""

    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def advance(self, dt: float) -> None:
        self.t += dt


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()
