"""`demo --faults`: with the venue dropping streams, losing replies, answering 503 and 429 and
duplicating events, every order must still match the simulator at the end (exit status 0)."""

from __future__ import annotations

import re
import subprocess

from ._proc import ROOT, cli, env


def test_demo_with_faults_still_reconciles() -> None:
    done = subprocess.run(
        cli("demo", "--duration", "9", "--seed", "11", "--faults", "--fault-interval", "1"),
        capture_output=True, text=True, timeout=90, env=env(), cwd=ROOT, stdin=subprocess.DEVNULL)
    out = done.stdout
    assert done.returncode == 0, out[-3000:] + done.stderr[-3000:]
    m = re.search(r"faults injected: (\d+) \(", out)
    assert m is not None and int(m.group(1)) >= 4, out[-2000:]
    assert "fault injected: " in done.stderr
    assert re.search(r"reconciliation: all \d+ orders match the simulator", out)
    assert "Traceback" not in done.stderr
