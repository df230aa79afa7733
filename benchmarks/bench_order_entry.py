"""The client's own cost per order: REST ``place_order`` vs ws-fapi ``order.place``, in one run.

A stub in a child process answers every order with a fixed body (HTTP POST /fapi/v1/order and a
ws-fapi text frame), so what is measured in this process is the client's work; the stub's CPU is
in the child. Two figures per transport, both process CPU time per order:

(a) ``send_cpu_us_per_order``, the send path: N orders (100 over ws-fapi, 50 over REST: its pool
    holds 64 connections) start at once and run from the call through checking, building,
    signing and writing to the point where each waits for its answer; the stub holds its answers
    (under ``/slow``) until the window has closed, so no reading, decoding or wake-up is in it.
    The N task creations are in it. This is the figure the target "client cost per ws-fapi order
    at most 25 us" is about.
(b) ``roundtrip_cpu_us_per_order``, the full sequential round trip against a stub that answers at
    once: (a) plus reading and decoding the answer, rate-limit bookkeeping and the event loop's
    wake-ups. Context for (a); wall-clock p50/p99 of the same round trips are reported too.

CPU time on a shared machine varies from run to run; each figure is the best of its repetitions.

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

# Under /slow the stub answers after HOLD seconds: the send-path measurement (a) ends before any
# answer arrives, so it holds no reading, decoding or wake-up work.
HOLD = 0.25

async def order(r):
    await r.read()
    if r.path.startswith("/slow/"):
        await asyncio.sleep(HOLD)
    return web.Response(body=BODY, content_type="application/json")

async def server_time(r):
    return web.json_response({"serverTime": int(time.time() * 1000)})

async def info(r):
    return web.json_response(INFO)

async def ws_api(r):
    ws = web.WebSocketResponse()
    await ws.prepare(r)
    slow = r.path.startswith("/slow/")
    async def answer(rid):
        if slow:
            await asyncio.sleep(HOLD)
        await ws.send_str(orjson.dumps(
            {"id": rid, "status": 200, "result": ORDER, "rateLimits": LIMITS}).decode())
    async for m in ws:
        if m.type == WSMsgType.TEXT:
            rid = orjson.loads(m.data)["id"]
            if slow:
                asyncio.ensure_future(answer(rid))
            else:
                await answer(rid)
    return ws

async def main():
    app = web.Application()
    for base in ("", "/slow"):
        app.router.add_post(base + "/fapi/v1/order", order)
        app.router.add_get(base + "/fapi/v1/time", server_time)
        app.router.add_get(base + "/fapi/v1/exchangeInfo", info)
        app.router.add_get(base + "/ws-fapi/v1", ws_api)
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
# In-flight orders per send-path burst: 100 over ws-fapi; 50 over REST, whose aiohttp pool holds 64
# connections (one order in flight each), so that no REST order waits for a connection.
SEND_N = {"ws-fapi": 100, "rest": 50}
SEND_BURSTS = 5 if QUICK else 20
# The burst's window: long enough for every order to be written, shorter than the stub's hold.
SETTLE = 0.1
HOLD = 0.25  # the stub's HOLD


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with child_server(STUB, stop_timeout=10) as p:
        yield p


def _client(loop: asyncio.AbstractEventLoop, port: int, prefix: str) -> BinanceFuturesClient:
    c = BinanceFuturesClient(
        KEY,
        SECRET,
        base_url=f"http://127.0.0.1:{port}{prefix}",
        ws_api_url=f"ws://127.0.0.1:{port}{prefix}/ws-fapi/v1",
        timeout=5.0,
    )

    async def warm() -> None:
        await c.get_exchange_info()
        await c.get_server_time()
        await c._sync_time()
        await c.start_ws_api()
        # Rate limits far away: the benchmark measures the client, not the pacing waits.
        for w in (c._orders_10s, c._orders_1m, c._weight_1m):
            w.limit = 10**12

    loop.run_until_complete(warm())
    return c


@pytest.fixture(scope="module")
def client(loop: asyncio.AbstractEventLoop, port: int) -> Iterator[BinanceFuturesClient]:
    """Answered at once: the round trips (b)."""
    c = _client(loop, port, "")
    yield c
    loop.run_until_complete(c.close())


@pytest.fixture(scope="module")
def held_client(loop: asyncio.AbstractEventLoop, port: int) -> Iterator[BinanceFuturesClient]:
    """Answered after the stub's HOLD: the send path (a)."""
    c = _client(loop, port, "/slow")
    yield c
    loop.run_until_complete(c.close())


def _measure_send(loop: asyncio.AbstractEventLoop, place: Any, name: str) -> tuple[float, float, int]:
    """(a): process CPU from N calls to N orders written and waiting, no answer yet; per order.

    The N calls start as N tasks (their creation is in the figure) and run to the point where each
    waits for its answer; the loop then idles (no CPU) until ``SETTLE``. A burst whose window
    reached the stub's hold (a slow machine) could hold answer work and is not counted.

    Also returns the same burst's cost with tasks that only wait (the tasks' and the loop's share
    of the figure), reported next to it, not subtracted."""
    n = SEND_N[name]
    cpu: list[int] = []
    idle_cpu: list[int] = []
    gate: list[asyncio.Future[None]] = []

    async def burst(run: Any, out: list[int]) -> None:
        gate[:] = [loop.create_future()]
        t0 = time.perf_counter()
        c0 = time.process_time_ns()
        tasks = [loop.create_task(run(f"s{next(_ids)}")) for _ in range(n)]
        await asyncio.sleep(SETTLE)
        c1 = time.process_time_ns()
        clean = time.perf_counter() - t0 < HOLD and not any(t.done() for t in tasks)
        gate[0].set_result(None)
        await asyncio.gather(*tasks)
        if clean:
            out.append(c1 - c0)

    async def idle(cid: str) -> None:
        await gate[0]

    loop.run_until_complete(burst(place, []))  # warm-up: opens the REST pool's connections
    for _ in range(SEND_BURSTS):
        loop.run_until_complete(burst(place, cpu))
        loop.run_until_complete(burst(idle, idle_cpu))
    assert cpu, "every send-path burst overlapped an answer; the machine is too busy to measure"
    return min(cpu) / n / 1000, min(idle_cpu) / n / 1000, n


def _measure(
    benchmark: Any, loop: asyncio.AbstractEventLoop, place: Any, held_place: Any, name: str
) -> None:
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
    send_us, idle_us, n = _measure_send(loop, held_place, name)
    lat.sort()
    p50, p99 = (x / 1000 for x in p50_p99(lat))
    cpu_us = min(cpu) / CALLS / 1000
    benchmark.extra_info.update(
        calls=len(lat),
        p50_us=round(p50, 1),
        p99_us=round(p99, 1),
        send_cpu_us_per_order=round(send_us, 1),
        idle_task_cpu_us=round(idle_us, 1),
        roundtrip_cpu_us_per_order=round(cpu_us, 1),
    )
    print(
        f"\n{name}: send path {send_us:.1f} us CPU/order ({n} in flight; a task that only waits: "
        f"{idle_us:.1f} us); round trip: {cpu_us:.1f} us CPU/order, p50 {p50:.0f} us, p99 {p99:.0f} us "
        f"({len(lat)} sequential calls)"
    )


def _placer(c: Any) -> Any:
    async def place(cid: str) -> None:
        await c.place_order(
            "BTCUSDT", "BUY", "LIMIT", "0.002", price="50000.0", client_order_id=cid, time_in_force="IOC"
        )

    return place


@pytest.mark.benchmark(group="order entry: REST POST /fapi/v1/order")
def test_rest_place_order(
    benchmark: Any,
    loop: asyncio.AbstractEventLoop,
    client: BinanceFuturesClient,
    held_client: BinanceFuturesClient,
) -> None:
    _measure(benchmark, loop, _placer(client), _placer(held_client), "rest")
    assert client.stats["errors"] == 0 and held_client.stats["errors"] == 0


@pytest.mark.benchmark(group="order entry: ws-fapi order.place")
def test_ws_api_place_order(
    benchmark: Any,
    loop: asyncio.AbstractEventLoop,
    client: BinanceFuturesClient,
    held_client: BinanceFuturesClient,
) -> None:
    _measure(benchmark, loop, _placer(client.ws_api), _placer(held_client.ws_api), "ws-fapi")
    for ws in (client.ws_api, held_client.ws_api):
        assert ws.stats["connects"] == 1 and ws.stats["unknown_outcomes"] == 0
