"""The client's own cost per order: REST ``place_order`` vs ws-fapi ``order.place``.

A stub in a child process answers every order at once with a fixed body (HTTP POST /fapi/v1/order
and a ws-fapi text frame), so what is left in this process is the client's work per order:
checking, building, signing (HMAC-SHA256), writing, reading and decoding the answer, plus the
event loop. Reported per case: wall-clock round trips/s, p50/p99 round trip, and the CPU time
this process spent per order (``cpu_us_per_order``, the client's cost proper; the stub's CPU is in
the child). Both groups run in one invocation:

    .venv/bin/pytest benchmarks/bench_order_entry.py       # BENCH_QUICK=1 for a few seconds' run
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from trading_engine_python.exchange import BinanceFuturesClient

from ._child import RUN_MAIN, child_server
from .conftest import QUICK, p50_p99

CALLS = 200 if QUICK else 2_000
ROUNDS = 2 if QUICK else 5
KEY, SECRET = "benchKey123", "benchSecret456"

STUB = (
    r"""
import asyncio, sys, time
import orjson
from aiohttp import web, WSMsgType

ORDER = {"orderId": 4611686018427387904, "symbol": "BTCUSDT", "status": "NEW", "clientOrderId": "x",
         "price": "50000.0", "avgPrice": "0.00", "origQty": "0.002", "executedQty": "0", "cumQty": "0",
         "cumQuote": "0", "timeInForce": "IOC", "type": "LIMIT", "reduceOnly": False, "closePosition": False,
         "side": "BUY", "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE",
         "priceProtect": False, "origType": "LIMIT", "priceMatch": "NONE",
         "selfTradePreventionMode": "NONE", "goodTillDate": 0, "updateTime": 1}
BODY = orjson.dumps(ORDER)
INFO = {"rateLimits": [], "symbols": [{"symbol": "BTCUSDT", "filters": [
    {"filterType": "PRICE_FILTER", "tickSize": "0.10", "minPrice": "0.10", "maxPrice": "1000000"},
    {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001", "maxQty": "1000"}]}]}
# Limits far away (the client applies the limits it is told): the benchmark measures the client,
# not pacing waits. The answer still carries them, so their bookkeeping is in the cost.
LIMITS = [{"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 10**12, "count": 1},
          {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 10**12, "count": 1}]

async def order(r):
    await r.read()
    return web.Response(body=BODY, content_type="application/json")

async def server_time(r):
    return web.json_response({"serverTime": int(time.time() * 1000)})

async def info(r):
    return web.json_response(INFO)

async def ws_api(r):
    ws = web.WebSocketResponse()
    await ws.prepare(r)
    async for m in ws:
        if m.type == WSMsgType.TEXT:
            rid = orjson.loads(m.data)["id"]
            await ws.send_str(orjson.dumps(
                {"id": rid, "status": 200, "result": ORDER, "rateLimits": LIMITS}).decode())
    return ws

async def main():
    app = web.Application()
    app.router.add_post("/fapi/v1/order", order)
    app.router.add_get("/fapi/v1/time", server_time)
    app.router.add_get("/fapi/v1/exchangeInfo", info)
    app.router.add_get("/ws-fapi/v1", ws_api)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    print(runner.addresses[0][1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await runner.cleanup()

"""
    + RUN_MAIN
)

_ids = itertools.count()


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with child_server(STUB, stop_timeout=10) as p:
        yield p


@pytest.fixture(scope="module")
def client(loop: asyncio.AbstractEventLoop, port: int) -> Iterator[BinanceFuturesClient]:
    # Rate limits far away: the benchmark measures the client, not the pacing waits.
    c = BinanceFuturesClient(
        KEY,
        SECRET,
        base_url=f"http://127.0.0.1:{port}",
        ws_api_url=f"ws://127.0.0.1:{port}/ws-fapi/v1",
        timeout=5.0,
    )

    async def warm() -> None:
        await c.get_exchange_info()
        await c.get_server_time()
        await c._sync_time()
        await c.start_ws_api()
        for w in (c._orders_10s, c._orders_1m, c._weight_1m):
            w.limit = 10**12

    loop.run_until_complete(warm())
    yield c
    loop.run_until_complete(c.close())


def _measure(benchmark: Any, loop: asyncio.AbstractEventLoop, place: Any, name: str) -> None:
    lat: list[int] = []
    cpu: list[int] = []

    async def many() -> None:
        c0 = time.process_time_ns()
        for _ in range(CALLS):
            t0 = time.perf_counter_ns()
            await place(f"b{next(_ids)}")
            lat.append(time.perf_counter_ns() - t0)
        cpu.append(time.process_time_ns() - c0)

    def run() -> None:
        loop.run_until_complete(many())

    if getattr(benchmark, "disabled", False):
        benchmark.pedantic(run)
    else:
        benchmark.pedantic(run, rounds=ROUNDS, warmup_rounds=1)
    lat.sort()
    p50, p99 = (x / 1000 for x in p50_p99(lat))
    cpu_us = min(cpu) / CALLS / 1000
    benchmark.extra_info.update(
        calls=len(lat), p50_us=round(p50, 1), p99_us=round(p99, 1), cpu_us_per_order=round(cpu_us, 1)
    )
    print(
        f"\n{name}: p50 {p50:.0f} us, p99 {p99:.0f} us, client CPU {cpu_us:.1f} us/order ({len(lat)} calls)"
    )


@pytest.mark.benchmark(group="order entry: REST POST /fapi/v1/order")
def test_rest_place_order(
    benchmark: Any, loop: asyncio.AbstractEventLoop, client: BinanceFuturesClient
) -> None:
    async def place(cid: str) -> None:
        await client.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.002", price="50000.0", client_order_id=cid, time_in_force="IOC"
        )

    _measure(benchmark, loop, place, "rest")
    assert client.stats["errors"] == 0


@pytest.mark.benchmark(group="order entry: ws-fapi order.place")
def test_ws_api_place_order(
    benchmark: Any, loop: asyncio.AbstractEventLoop, client: BinanceFuturesClient
) -> None:
    ws = client.ws_api

    async def place(cid: str) -> None:
        await ws.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.002", price="50000.0", client_order_id=cid, time_in_force="IOC"
        )

    _measure(benchmark, loop, place, "ws-fapi")
    assert ws.stats["connects"] == 1 and ws.stats["unknown_outcomes"] == 0
