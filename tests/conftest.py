"""Shared fixtures: every behavioural test runs against both order cores."""

from __future__ import annotations

import os

import pytest

NO_EXTENSIONS = bool(os.environ.get("TRADING_ENGINE_NO_EXTENSIONS"))
IMPLEMENTATIONS = ["python"] if NO_EXTENSIONS else ["cython", "python"]


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> str:
    """The order-core implementation under test ("cython" fails loudly if it was not built)."""
    return str(request.param)
