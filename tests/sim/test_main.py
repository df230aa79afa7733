"""`python -m trading_engine_python.sim` starts, prints its URLs and stops on Ctrl-C (SIGINT)."""

from __future__ import annotations

import asyncio
import re
import signal
import sys

import aiohttp


async def test_module_runs_and_stops_on_sigint() -> None:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "trading_engine_python.sim",
        "--port",
        "0",
        "--seed",
        "1",
        "--no-walk",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        lines = []
        for _ in range(10):
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
            lines.append(line)
            if "Ctrl-C" in line:
                break
        text = "".join(lines)
        m = re.search(r"REST\s+(http://127\.0\.0\.1:\d+)", text)
        assert m, text
        assert "ws://127.0.0.1:" in text and "sim-key" in text
        assert re.search(r"ws-fapi\s+ws://127\.0\.0\.1:\d+/ws-fapi/v1", text), text
        async with aiohttp.ClientSession() as s, s.get(m.group(1) + "/fapi/v1/ping") as r:
            assert r.status == 200 and await r.json() == {}
        proc.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
