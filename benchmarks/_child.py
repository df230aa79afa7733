"""A server in a child Python process, for the benchmarks that need the other end of a loopback socket
in another process (bench_rest: the simulator; bench_stream: a picows frame sender), so that its CPU
time is not in the measured loop."""

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
