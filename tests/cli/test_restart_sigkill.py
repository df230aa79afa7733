"""SIGKILL the engine at random moments; after every restart on the same journal nothing is lost
and nothing is counted twice.

The simulator runs in its own process (``sim --faults``: dropped streams, lost replies, 503s,
duplicated events, an expired listenKey, 429s), so its book outlives the engine. The demo engine
runs in another process with ``--journal`` and ``--risk-log`` and is killed with SIGKILL
``RESTART_KILLS`` times (default 20, under a minute here), each time
at a random moment after it started trading, and restarted on the same journal. A last run, with
the venue's faults switched off, trades a little, cancels what is left and checks every order it
placed or restored against the venue (exit status 0). Then:

- every order the venue has from us is restored from the journal with its full sub-account id,
  its origin and its parent id (never the 8-character prefix its client order id carries);
- the fills the risk hook was told, summed per sub-account over every run, equal the venue's
  fills of our orders (nothing lost, nothing told twice);
- no order is live in the engine that the venue has closed.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from trading_engine_python.cli.demo import all_orders
from trading_engine_python.exchange import BinanceFuturesClient
from trading_engine_python.orders._fixed import to_fixed
from trading_engine_python.orders.ids import parse_client_order_id
from trading_engine_python.orders.manager import OrderManager

from . import _proc

KILLS = int(os.environ.get("RESTART_KILLS", "20"))
DESK = "d1"
SUBS = ("mm-btc-d1", "mm-eth-d1", "chaser-d1", "taker-d1")
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def _wait_for(path: Path, marker: str, proc: subprocess.Popen[Any], timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if path.exists() and marker in path.read_text(errors="replace"):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def _demo(url: str, tmp: Path, n: int, *extra: str) -> tuple[subprocess.Popen[Any], Path]:
    out = tmp / f"demo-{n}.log"
    args = _proc.cli(
        "demo", "--sim-url", url, "--journal", str(tmp / "journal"), "--risk-log", str(tmp / "risk.log"),
        "--desk", DESK, "--plain", "--no-redis", "--seed", str(n + 1), "--taker-interval", "0.3",
        "--interval", "30", *extra,
    )
    with open(out, "w") as f:
        proc = subprocess.Popen(args, stdout=f, stderr=subprocess.STDOUT, env=_proc.env(), cwd=_proc.ROOT,
                                stdin=subprocess.DEVNULL)
    return proc, out


def _kill(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


def _expected(cid: str) -> tuple[str, str, str | None] | None:
    """(full sub-account, origin, parent prefix) the demo's algos give an order with this id."""
    parsed = parse_client_order_id(cid)
    if parsed is None:
        return None
    sub = next(s for s in SUBS if s[:8] == parsed.sub_account_prefix)
    if sub.startswith("mm-"):
        return sub, "SCALPER", f"scalp-{sub}"
    if sub.startswith("chaser"):
        return sub, "CHASE", f"chase-{sub}-"
    return sub, "MANUAL", None


async def _venue_and_restore(url: str,
                             journal: Path) -> tuple[list[dict[str, Any]], OrderManager, dict[str, int]]:
    client = BinanceFuturesClient("sim-key", "sim-secret", base_url=url)  # the simulator's test key
    try:
        venue = [o for sym in SYMBOLS for o in await all_orders(client, sym)]
        m = OrderManager(client, journal=str(journal), stuck_timeout=0)
        report = await m.restore()
        await m.close()
    finally:
        await client.close()
    return venue, m, report


@pytest.mark.timeout(600)
def test_sigkill_at_random_moments_loses_and_doubles_nothing(tmp_path: Path) -> None:
    port = _proc.free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "sim.log", "w") as f:
        sim = subprocess.Popen(
            _proc.cli("sim", "--port", str(port), "--seed", "7", "--max-fill-qty", "0.002",
                      "--price-interval", "0.2", "--faults", "--fault-interval", "1.0"),
            stdout=f, stderr=subprocess.STDOUT, env=_proc.env(), cwd=_proc.ROOT, stdin=subprocess.DEVNULL,
        )
    rng = random.Random(int(os.environ.get("RESTART_SEED", "0")) or None)
    try:
        assert _wait_for(tmp_path / "sim.log", "faults", sim, 30), (tmp_path / "sim.log").read_text()
        for n in range(KILLS):
            proc, out = _demo(url, tmp_path, n)
            try:
                # Killed once it trades (the algos start right after the restore and the streams).
                if not _wait_for(out, "journal ", proc, 60):
                    # A fault (a 429) can meet the start-up's own requests: the demo gives up, as a
                    # process would that dies at start. The next run starts on the same journal.
                    assert "the demo could not start" in out.read_text(), out.read_text()[-3000:]
                    continue
                time.sleep(rng.uniform(0.0, 2.5))
            finally:
                _kill(proc)
        sim.send_signal(signal.SIGUSR1)  # a well-behaved venue for the last run and the check
        assert _wait_for(tmp_path / "sim.log", "faults off", sim, 10)
        proc, out = _demo(url, tmp_path, KILLS, "--duration", "3")
        try:
            code = proc.wait(120)
        finally:
            _kill(proc)
        text = out.read_text()
        assert code == 0, text[-4000:]
        assert "reconciliation: all" in text

        venue, m, report = asyncio.run(_venue_and_restore(url, tmp_path / "journal"))
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(15)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait(5)

    ours = [o for o in venue if parse_client_order_id(o["clientOrderId"]) is not None]
    assert ours, "the venue holds no order of ours"
    filled_at_venue: Counter[str] = Counter()
    for rec in ours:
        cid = rec["clientOrderId"]
        expected = _expected(cid)
        assert expected is not None
        sub, origin, parent = expected
        o = m.get_order(cid)
        assert o is not None, f"{cid} is at the venue but was not restored"
        assert o.sub_account_id == sub and o.origin == origin, (cid, o.sub_account_id, o.origin)
        if parent is None:
            assert o.parent_id is None
        else:
            assert o.parent_id is not None and o.parent_id.startswith(parent), (cid, o.parent_id)
        closed_at_venue = rec["status"] not in ("NEW", "PARTIALLY_FILLED")
        assert not (o.is_live and closed_at_venue), (cid, o.state, rec["status"])
        assert o.filled_fp == to_fixed(rec["executedQty"]), (cid, o.filled_fp, rec["executedQty"])
        filled_at_venue[sub] += to_fixed(rec["executedQty"])
    assert report["adopted"] == 0  # every order the venue has was journaled before it was sent

    told: Counter[str] = Counter()
    for line in (tmp_path / "risk.log").read_text().splitlines():
        sub, _cid, qty = line.split()
        told[sub] += int(qty)
    assert +told == +filled_at_venue
    assert sum(told.values()) > 0
