"""README.md's "Using the manager" runs as written (against the embedded simulator, in a fresh
interpreter, with a timeout), and its OrderState table lists exactly the fields both cores have."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import trading_engine_python

from .conftest import Implementation

ROOT = Path(__file__).resolve().parents[1]
SRC = str(Path(trading_engine_python.__file__).resolve().parents[1])


def section(title: str) -> str:
    text = (ROOT / "README.md").read_text()
    start = text.index(f"\n## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def python_block() -> str:
    blocks = re.findall(r"```python\n(.*?)```", section("Using the manager"), re.DOTALL)
    assert len(blocks) == 1, "the section has one runnable python block"
    return str(blocks[0])


def test_using_the_manager_runs_as_written(impl: Implementation) -> None:
    code = python_block()
    assert "base_url=sim.base_url" in code and "ws_url=sim.ws_url" in code
    env = {k: v for k, v in os.environ.items() if k not in ("BINANCE_API_KEY", "BINANCE_API_SECRET")}
    env.update(PYTHONPATH=SRC, TRADING_ENGINE_NO_EXTENSIONS="" if impl.compiled else "1")
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    # What the block prints, in order: active, replaced, the new order's cancel, the market fill.
    assert re.search(r"^PMSsub-0001_SCALP_\S+ active 0\.002 @ \d", out, re.M), out
    assert re.search(r"^replaced by PMSsub-0001_SCALP_\S+ @ \d", out, re.M), out
    assert re.search(r"^cancelled PMSsub-0001_SCALP_\S+ filled 0\.0 of 0\.002$", out, re.M), out
    assert re.search(r"^filled PMSsub-0001_MKT_\S+ 0\.001 @ \d", out, re.M), out
    assert "Traceback" not in proc.stderr and "ERROR" not in proc.stderr


def _table_fields() -> set[str]:
    rows = re.findall(r"^\| (`[^|]*`(?:, `[^|]*`)*) \|", section("Using the manager"), re.M)
    fields: set[str] = set()
    for cell in rows:
        fields.update(re.findall(r"`([a-z_]+)`", cell))
    return fields


def test_order_state_table_matches_both_cores(impl: Implementation) -> None:
    core = impl.core.OrderCore()
    order = core.add("PMSsub_LMT_1abc", "sub", "BTCUSDT", 0, 0, 1, 1, "MANUAL", None, 1, False, None)
    documented = _table_fields()
    actual = {n for n in dir(order) if not n.startswith("_") and not callable(getattr(order, n))}
    assert documented == actual
    assert {"snapshot", "to_dict"} <= {n for n in dir(order) if callable(getattr(order, n))}
