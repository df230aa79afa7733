"""A server in a child Python process, for the benchmarks that need the other end of a loopback socket
in another process (bench_rest and bench_entry_latency: the simulator; bench_stream: a picows frame
sender), so that its CPU time is not in the measured loop."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager

# The end of every child script: run ``main()`` on uvloop where it is installed.
RUN_MAIN = """\
try:
    import uvloop
    uvloop.run(main())
except ImportError:
    asyncio.run(main())
"""

# The embedded simulator with limits out of the way (args: API key, secret), printing its port.
SIMULATOR = r"""
import asyncio, sys
from decimal import Decimal
from trading_engine_python.sim import BinanceSimulator

async def main():
    sim = BinanceSimulator(api_key=sys.argv[1], api_secret=sys.argv[2], seed=0, auto_walk=False)
    sim.limits = {"weight_1m": 10**9, "orders_10s": 10**9, "orders_1m": 10**9}
    await sim.start()
    sim.engine.wallet = Decimal(10**12)

    async def prune():
        # The simulator scans every order it ever held on each placement (margin check): forget
        # finished ones as the benchmark goes, so the last cycle costs what the first did.
        eng = sim.engine
        while True:
            await asyncio.sleep(0.05)
            for oid, o in list(eng.orders.items()):
                if not o.is_open:
                    del eng.orders[oid]
            sim.events.clear()
            sim.requests.clear()
            sim.ws_requests.clear()
            eng.trades.clear()
            eng.amendments.clear()

    asyncio.get_running_loop().create_task(prune())
    print(sim.port, flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await sim.stop()

""" + RUN_MAIN


@contextmanager
def child_server(script: str, *args: str, stop_timeout: float) -> Iterator[int]:
    """Run ``script`` (which prints its port on its first line and stops when its stdin closes) with
    ``args``; yield the port; then close its stdin, wait ``stop_timeout`` s for it, else kill it."""
    proc = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        yield int(proc.stdout.readline())
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(stop_timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
