"""Lint and type checks run with the tests (as uvloop's test_sourcecode.py does), so that nobody
can forget them: ruff on everything, cython-lint on the Cython sources, and mypy --strict on
every layer below the command line (the pure twins being the typed reference)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PKG = ROOT / "src" / "trading_engine_python"
BIN = Path(sys.executable).parent


def _run(*cmd: str) -> None:
    env = dict(os.environ, PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}")
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, env=env)
    assert proc.returncode == 0, f"{' '.join(cmd[:3])} found problems:\n{proc.stdout}\n{proc.stderr}"


def test_ruff() -> None:
    _run(sys.executable, "-m", "ruff", "check", "setup.py", "src", "tests", "benchmarks", "scripts")


def test_cython_lint() -> None:
    tool = shutil.which("cython-lint", path=str(BIN)) or shutil.which("cython-lint")
    if tool is None:
        pytest.fail("cython-lint is not installed (pip install -e '.[test]')")
    sources = sorted(str(p) for ext in ("*.pyx", "*.pxd") for p in PKG.rglob(ext))
    assert sources
    _run(tool, "--max-line-length", "110", *sources)


def test_mypy_strict() -> None:
    layers = [str(PKG / name) for name in ("orders", "events", "exchange", "feed", "sim")]
    _run(sys.executable, "-m", "mypy", "--strict", *layers)
