"""Fixtures: a fresh simulator per test (prices frozen unless a test enables the walk) and a client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson
import pytest

from trading_engine_python.sim import BinanceSimulator

from ._client import Client


@pytest.fixture
async def sim() -> AsyncIterator[BinanceSimulator]:
    s = BinanceSimulator(seed=1, auto_walk=False, price_interval=0.05)
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def client(sim: BinanceSimulator, session: aiohttp.ClientSession) -> Client:
    return Client(sim.base_url, session)


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 3.0) -> Any:
    """Next text frame as JSON (server pings are answered by aiohttp's autoping)."""
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return orjson.loads(msg.data)


async def recv_until(
    ws: aiohttp.ClientWebSocketResponse, pred: Any, limit: int = 50, timeout: float = 3.0
) -> list[Any]:
    """Frames up to and including the first that satisfies ``pred`` (bounded)."""
    out = []
    for _ in range(limit):
        ev = await recv_json(ws, timeout)
        out.append(ev)
        if pred(ev):
            return out
    raise AssertionError(f"no matching frame in {limit}: {out[-3:]}")


async def no_frame(ws: aiohttp.ClientWebSocketResponse, wait: float = 0.3) -> bool:
    try:
        msg = await asyncio.wait_for(ws.receive(), wait)
    except TimeoutError:
        return True
    raise AssertionError(f"unexpected frame {msg}")
