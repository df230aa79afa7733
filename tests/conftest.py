"""Shared fixtures: the implementation under test (every behavioural test of the order core runs on
both twins) and the sample messages.

``impl`` is an ``Implementation``: the twin's name ("cython" / "python", also the test id) and its
modules (``core``, ``decode``, ``resp``), imported on first use. The compiled one is imported
directly, never through a selector, so a missing build is an ImportError in the test, not a
quiet fallback to the pure twin. Tests that need the compiled twin carry
``@pytest.mark.c_extension`` (the ``cython`` parameter of ``impl`` carries it too); they are
skipped when the run is without extensions: TRADING_ENGINE_NO_EXTENSIONS set (read by
trading_engine_python._compat) or ``pytest --no-extensions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from importlib import import_module
from types import ModuleType

import pytest

from trading_engine_python._compat import NO_EXTENSIONS

from ._data import Samples

C_EXTENSION = pytest.mark.c_extension


@dataclass(frozen=True)
class Implementation:
    """One twin: ``name`` is what ``OrderManager(implementation=...)`` and ``_core.load`` take."""

    name: str

    @property
    def compiled(self) -> bool:
        return self.name == "cython"

    def _module(self, package: str, stem: str) -> ModuleType:
        suffix = "_c" if self.compiled else "_py"
        return import_module(f"trading_engine_python.{package}.{stem}{suffix}")

    @cached_property
    def core(self) -> ModuleType:
        """``orders._core_c`` / ``orders._core_py`` (``OrderCore``, ``OrderState``, ...)."""
        return self._module("orders", "_core")

    @cached_property
    def decode(self) -> ModuleType:
        """``orders._decode_c`` / ``orders._decode_py`` (``decode`` and the result constants)."""
        return self._module("orders", "_decode")

    @cached_property
    def resp(self) -> ModuleType:
        """``events._resp_c`` / ``events._resp_py`` (the RESP packer)."""
        return self._module("events", "_resp")

    def __str__(self) -> str:
        return self.name


CYTHON = Implementation("cython")
PYTHON = Implementation("python")
IMPLEMENTATIONS = (pytest.param(CYTHON, marks=C_EXTENSION, id="cython"), pytest.param(PYTHON, id="python"))


@pytest.fixture(scope="session", params=IMPLEMENTATIONS)
def impl(request: pytest.FixtureRequest) -> Implementation:
    """The twin under test; ``[cython]`` is skipped when the run is without extensions."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def samples() -> type[Samples]:
    """The sample messages in tests/data (``samples.load_json("rest/...")`` etc., see tests/_data.py)."""
    return Samples


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--no-extensions",
        action="store_true",
        default=False,
        help="run the pure-Python twins only: skip every test marked c_extension (as "
        "TRADING_ENGINE_NO_EXTENSIONS=1 does)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "c_extension: needs the compiled twin; skipped when run without extensions"
    )


def without_extensions(config: pytest.Config) -> bool:
    return NO_EXTENSIONS or bool(config.getoption("--no-extensions"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not without_extensions(config):
        return
    why = "TRADING_ENGINE_NO_EXTENSIONS is set" if NO_EXTENSIONS else "--no-extensions"
    skip = pytest.mark.skip(reason=f"needs the compiled twin ({why})")
    for item in items:
        if item.get_closest_marker(C_EXTENSION.name) is not None:
            item.add_marker(skip)
