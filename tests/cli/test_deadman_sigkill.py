"""The dead-man switch outlives the engine: the demo (``--dead-man 2``) is killed with SIGKILL while
it has orders open, and the simulator, in its own process, cancels them once the countdown it was
renewing runs out (docs/binance-protocol.md, "Dead-man switch"). Conditional (algo) orders are not
covered by countdownCancelAll on Binance, nor in the simulator."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from trading_engine_python.exchange import BinanceFuturesClient
from trading_engine_python.orders.ids import parse_client_order_id

from . import _proc

SYMBOLS = ("BTCUSDT", "ETHUSDT")


async def _open(url: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(our open orders, our open algo orders) at the venue."""
    async with BinanceFuturesClient("sim-key", "sim-secret", base_url=url) as client:  # the sim's test key
        orders = await client.get_open_orders()
        algos = await client.get_open_algo_orders()
    ours = [o for o in orders if parse_client_order_id(o["clientOrderId"]) is not None]
    return ours, [a for a in algos if parse_client_order_id(a["clientAlgoId"]) is not None]


def _poll(url: str, cond: Any, timeout: float) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    end = time.monotonic() + timeout
    while True:
        state = asyncio.run(_open(url))
        if cond(state) or time.monotonic() > end:
            return state
        time.sleep(0.2)


@pytest.mark.timeout(180)
def test_demo_killed_leaves_no_open_orders_once_the_countdown_ends(tmp_path: Path) -> None:
    port = _proc.free_port()
    url = f"http://127.0.0.1:{port}"
    with open(tmp_path / "sim.log", "w") as f:
        sim = subprocess.Popen(
            _proc.cli("sim", "--port", str(port), "--seed", "3", "--price-interval", "0.2"),
            stdout=f, stderr=subprocess.STDOUT, env=_proc.env(), cwd=_proc.ROOT, stdin=subprocess.DEVNULL,
        )
    demo = None
    try:
        end = time.monotonic() + 30
        while "Ctrl-C stops" not in (tmp_path / "sim.log").read_text() and time.monotonic() < end:
            assert sim.poll() is None, (tmp_path / "sim.log").read_text()
            time.sleep(0.05)
        with open(tmp_path / "demo.log", "w") as f:
            demo = subprocess.Popen(
                _proc.cli("demo", "--sim-url", url, "--dead-man", "2", "--plain", "--no-redis",
                          "--symbols", ",".join(SYMBOLS), "--taker-interval", "0.3", "--interval", "30"),
                stdout=f, stderr=subprocess.STDOUT, env=_proc.env(), cwd=_proc.ROOT, stdin=subprocess.DEVNULL,
            )
        # Trading: the scalpers' quotes rest at the venue.
        orders, _ = _poll(url, lambda s: len(s[0]) >= 4 or demo.poll() is not None, 60)
        assert demo.poll() is None and len(orders) >= 4, (tmp_path / "demo.log").read_text()[-3000:]
        time.sleep(3)  # more than one countdown: the demo's renewals keep its orders alive
        orders, _ = asyncio.run(_open(url))
        assert orders, "the renewed countdown must not cancel a live engine's orders"
        demo.send_signal(signal.SIGKILL)
        demo.wait(10)
        # No process renews it now: within the 2 s countdown (plus the poll) everything is cancelled.
        orders, algos = _poll(url, lambda s: not s[0], 20)
        assert orders == [], orders
        assert all(a["algoStatus"] == "NEW" for a in algos)  # untouched by the countdown, as on Binance
    finally:
        if demo is not None and demo.poll() is None:
            demo.kill()
            demo.wait(10)
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(15)
        except subprocess.TimeoutExpired:
            sim.kill()
            sim.wait(5)
