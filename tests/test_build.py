"""The build: release by default, the pure twin on request, and a loud stop without a compiler."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _setup(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # `setup.py --name` runs the extension set-up (compiler probe included) and builds nothing.
    return subprocess.run([sys.executable, "setup.py", "--name"], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=120)


def test_no_compiler_fails_loudly_and_names_the_way_out() -> None:
    out = _setup({"CC": "no-such-cc", "TRADING_ENGINE_NO_EXTENSIONS": ""})
    assert out.returncode != 0
    assert "no working C compiler" in out.stderr
    assert "TRADING_ENGINE_NO_EXTENSIONS=1 pip install ." in out.stderr


def test_pure_twin_build_needs_no_compiler() -> None:
    out = _setup({"CC": "no-such-cc", "TRADING_ENGINE_NO_EXTENSIONS": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "trading_engine_python"
    assert "building no extension" in out.stdout


def test_every_hot_module_is_a_triplet() -> None:
    pkg = ROOT / "src" / "trading_engine_python"
    for pyx in pkg.rglob("_*_c.pyx"):
        stem = pyx.name.removesuffix("_c.pyx")
        assert (pyx.parent / f"{stem}_py.py").exists(), f"{pyx.name} has no pure twin"
        assert (pyx.parent / f"{stem}.py").exists(), f"{pyx.name} has no selector module"
        assert (pyx.with_suffix(".pxd")).exists(), f"{pyx.name} has no .pxd table of contents"
