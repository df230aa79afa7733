"""The compiled core must be the one that loaded, unless the pure twin was asked for."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys

import pytest

import trading_engine_python.orders as orders
from trading_engine_python.orders.manager import OrderManager

NO_EXTENSIONS = bool(os.environ.get("TRADING_ENGINE_NO_EXTENSIONS"))


@pytest.mark.skipif(NO_EXTENSIONS, reason="pure twin requested")
def test_compiled_core_is_live() -> None:
    assert orders.IMPLEMENTATION == "cython", "the Cython core did not load: was it built?"
    for name in ("trading_engine_python.orders._core_c", "trading_engine_python.orders._decode_c"):
        mod = importlib.import_module(name)
        assert mod.__file__ is not None and mod.__file__.endswith(".so"), mod.__file__


def test_env_var_selects_pure_twin() -> None:
    code = ("import trading_engine_python.orders as o, trading_engine_python.orders._core as c;"
            "print(o.IMPLEMENTATION, c.OrderCore.__module__)")
    env = dict(os.environ, TRADING_ENGINE_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["python", "trading_engine_python.orders._core_py"]


def test_manager_reports_its_core(impl: str) -> None:
    class _Nothing:
        pass

    assert OrderManager(_Nothing(), implementation=impl).implementation == impl


def test_unknown_implementation_is_refused() -> None:
    with pytest.raises(ValueError, match="cython' or 'python"):
        OrderManager(object(), implementation="rust")
