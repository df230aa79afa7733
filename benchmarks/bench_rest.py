"""REST place-order round trips against the simulator (in a child process) on loopback.

Cases, in one run:

- ``client-sequential``: ``BinanceFuturesClient.place_order`` one after another (signing, exchangeInfo
  step/tick checks, rate-limit bookkeeping, orjson decode): round trips/s and p50/p99 per call;
- ``client-concurrent-8``: eight in flight on the same keep-alive session;
- ``aiohttp-raw-sequential``: a baseline, the same signed POST written the plain way on a bare aiohttp
  session (URL re-parsed per call, default headers).

The simulator's rate limits and wallet are raised in the child so that nothing is refused, and it
forgets finished orders every 50 ms (its margin check scans every order it ever held).

    .venv/bin/pytest benchmarks/bench_rest.py             # BENCH_QUICK=1 for a few seconds' run
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import itertools
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from trading_engine_python.exchange import BinanceFuturesClient

from ._child import SIMULATOR, child_server
from .conftest import QUICK, p50_p99

CALLS = 200 if QUICK else 2_000
ROUNDS = 2 if QUICK else 5
KEY, SECRET = "benchKey123", "benchSecret456"


_ids = itertools.count()


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with child_server(SIMULATOR, KEY, SECRET, stop_timeout=10) as port:
        yield f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def client(loop: asyncio.AbstractEventLoop, base_url: str) -> Iterator[BinanceFuturesClient]:
    c = BinanceFuturesClient(KEY, SECRET, base_url=base_url, timeout=5.0)

    async def warm() -> None:
        await c.get_exchange_info()
        await c.get_open_orders("BTCUSDT")  # measures the clock offset

    loop.run_until_complete(warm())
    yield c
    loop.run_until_complete(c.close())


async def _place(c: BinanceFuturesClient, lat: list[int]) -> None:
    t0 = time.perf_counter_ns()
    # IOC far from the price: accepted, then expired at once, so the simulator's book stays empty
    # and the last round trip costs what the first one did.
    await c.place_order(
        "BTCUSDT",
        "BUY",
        "LIMIT",
        "0.002",
        price="50000.0",
        client_order_id=f"b{next(_ids)}",
        time_in_force="IOC",
    )
    lat.append(time.perf_counter_ns() - t0)


def _report(benchmark: Any, name: str, lat: list[int], calls: int) -> None:
    lat.sort()
    p50_ns, p99_ns = p50_p99(lat)
    p50, p99 = p50_ns / 1000, p99_ns / 1000
    benchmark.extra_info.update(calls=len(lat), p50_us=round(p50, 1), p99_us=round(p99, 1))
    stats = getattr(benchmark, "stats", None)
    if stats is not None:
        rate = calls / stats.stats.median
        benchmark.extra_info["round_trips_per_s"] = round(rate)
        print(f"\n{name}: {rate:,.0f} round trips/s, p50 {p50:.0f} us, p99 {p99:.0f} us ({len(lat)} calls)")


def _run(
    benchmark: Any, fn: Any, rounds: int, loop: asyncio.AbstractEventLoop, c: BinanceFuturesClient
) -> None:
    def setup() -> None:
        # Start every round from an empty book: the simulator's cost grows with its open orders.
        loop.run_until_complete(c.cancel_all_orders("BTCUSDT"))

    if getattr(benchmark, "disabled", False):
        setup()
        benchmark.pedantic(fn)
    else:
        benchmark.pedantic(fn, setup=setup, rounds=rounds, warmup_rounds=1)


@pytest.mark.benchmark(group="REST place_order round trips")
def test_client_sequential(
    benchmark: Any, loop: asyncio.AbstractEventLoop, client: BinanceFuturesClient
) -> None:
    lat: list[int] = []

    async def many() -> None:
        for _ in range(CALLS):
            await _place(client, lat)

    _run(benchmark, lambda: loop.run_until_complete(many()), ROUNDS, loop, client)
    _report(benchmark, "client-sequential", lat, CALLS)
    assert client.stats["errors"] == 0


@pytest.mark.benchmark(group="REST place_order round trips")
def test_client_concurrent_8(
    benchmark: Any, loop: asyncio.AbstractEventLoop, client: BinanceFuturesClient
) -> None:
    lat: list[int] = []

    async def worker(n: int) -> None:
        for _ in range(n):
            await _place(client, lat)

    async def many() -> None:
        await asyncio.gather(*(worker(CALLS // 8) for _ in range(8)))

    _run(benchmark, lambda: loop.run_until_complete(many()), ROUNDS, loop, client)
    _report(benchmark, "client-concurrent-8", lat, CALLS // 8 * 8)
    assert client.stats["errors"] == 0


@pytest.mark.benchmark(group="REST place_order round trips")
def test_aiohttp_raw_sequential(
    benchmark: Any, loop: asyncio.AbstractEventLoop, base_url: str, client: BinanceFuturesClient
) -> None:
    import aiohttp

    lat: list[int] = []
    offset = client._time_offset_ms or 0
    session: aiohttp.ClientSession | None = None

    async def many() -> None:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(headers={"X-MBX-APIKEY": KEY})
        for _ in range(CALLS):
            t0 = time.perf_counter_ns()
            q = urllib.parse.urlencode(
                [
                    ("symbol", "BTCUSDT"),
                    ("side", "BUY"),
                    ("type", "LIMIT"),
                    ("timeInForce", "GTC"),
                    ("quantity", "0.002"),
                    ("price", "50000.0"),
                    ("newClientOrderId", f"r{next(_ids)}"),
                    ("recvWindow", 5000),
                    ("timestamp", int(time.time() * 1000) + offset),
                ]
            )
            sig = hmac.new(SECRET.encode(), q.encode(), hashlib.sha256).hexdigest()
            async with session.post(
                f"{base_url}/fapi/v1/order",
                data=f"{q}&signature={sig}".encode(),
                headers={"Content-Type": "application/x-www-form-urlencoded"},
            ) as r:
                body = orjson.loads(await r.read())
                assert r.status == 200, body
            lat.append(time.perf_counter_ns() - t0)

    try:
        _run(benchmark, lambda: loop.run_until_complete(many()), ROUNDS, loop, client)
    finally:
        if session is not None:
            loop.run_until_complete(session.close())
    _report(benchmark, "aiohttp-raw-sequential", lat, CALLS)
