"""The compiled twins must be the ones that loaded, unless the pure twins were asked for; and the
switch is read in one place only."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import trading_engine_python.orders as orders
from trading_engine_python.events import _resp
from trading_engine_python.orders import _decode
from trading_engine_python.orders.manager import OrderManager

from ..conftest import CYTHON, Implementation

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.c_extension
def test_compiled_twins_are_live() -> None:
    assert orders.IMPLEMENTATION == "cython", "the Cython core did not load: was it built?"
    assert _decode.IMPLEMENTATION == "cython" and _resp.IMPLEMENTATION == "cython"
    for mod in (CYTHON.core, CYTHON.decode, CYTHON.resp):
        assert mod.__file__ is not None and mod.__file__.endswith(".so"), mod.__file__


def test_env_var_selects_pure_twin() -> None:
    code = (
        "import trading_engine_python.orders as o, trading_engine_python.orders._core as c;"
        "from trading_engine_python.orders import _decode as d;"
        "from trading_engine_python.events import _resp as r;"
        "print(o.IMPLEMENTATION, c.OrderCore.__module__, d.IMPLEMENTATION, d.decode.__module__,"
        " r.IMPLEMENTATION, r.pack_publish.__module__)"
    )
    env = dict(os.environ, TRADING_ENGINE_NO_EXTENSIONS="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == [
        "python", "trading_engine_python.orders._core_py",
        "python", "trading_engine_python.orders._decode_py",
        "python", "trading_engine_python.events._resp_py",
    ]


def test_twin_modules_say_who_they_are(impl: Implementation) -> None:
    names = (impl.core.IMPLEMENTATION, impl.core.OrderCore.implementation, impl.resp.IMPLEMENTATION)
    assert names == (impl.name,) * 3


def test_manager_reports_its_core(impl: Implementation) -> None:
    class _Nothing:
        pass

    assert OrderManager(_Nothing(), implementation=impl.name).implementation == impl.name


def test_unknown_implementation_is_refused() -> None:
    with pytest.raises(ValueError, match="cython' or 'python"):
        OrderManager(object(), implementation="rust")


def test_the_switch_is_read_in_one_place() -> None:
    # Everything else asks trading_engine_python._compat, so one reading decides for all.
    reads = re.compile(r"""(environ\.get\(|environ\[|getenv\()\s*["']TRADING_ENGINE_NO_EXTENSIONS""")
    dirs = ("src", "tests", "benchmarks", "scripts")
    files = [ROOT / "setup.py", *(p for d in dirs for p in (ROOT / d).rglob("*"))]
    found = [
        str(p.relative_to(ROOT)) for p in files
        if p.suffix in (".py", ".pyx", ".pxd") and reads.search(p.read_text())
    ]
    assert found == ["src/trading_engine_python/_compat.py"]
