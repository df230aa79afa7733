"""User-stream throughput and latency: frames through a websocket client into the OrderManager.

A picows server in a child process sends realistic ORDER_TRADE_UPDATE frames (NEW, then a partial
TRADE, then the filling TRADE) for orders the manager placed beforehand through a stand-in exchange.
Clients compared in one run, into the same manager:

- ``picows``: the real UserStreamService (frame callback -> ``manager.feed``), compiled and pure cores;
- ``websockets``: the ``websockets`` library's asyncio client, ``recv(decode=False)`` -> ``manager.feed``.

Throughput: one burst of N frames per round (time from "go" to the last frame applied).
Latency: frames paced by the server, each stamped with ``time.perf_counter_ns()`` in its ``E`` field
(CLOCK_MONOTONIC is shared by processes on Linux); the on_partial/on_fill callback reads the core's
``last_event_time()`` and records wire-to-callback latency; p50/p99 go in ``extra_info``.

    .venv/bin/pytest benchmarks/bench_stream.py            # BENCH_QUICK=1 for a few seconds' run
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from trading_engine_python.feed import UserStreamService

from ._child import RUN_MAIN, child_server
from .conftest import IMPLEMENTATIONS, QUICK, p50_p99

ORDERS = 300 if QUICK else 10_000  # 3 frames each
ROUNDS = 2 if QUICK else 5
PACED = 150 if QUICK else 2_000
PACE_GAP = 0.001  # uvloop timers have 1 ms resolution


def cids(n: int) -> list[str]:
    return [f"PMSbench_LMT_{i:07d}" for i in range(n)]


# ---------------------------------------------------------------- the child-process server

SERVER = r"""
import asyncio, sys, time
import orjson
from picows import WSListener, WSMsgType, ws_create_server

K = int(sys.argv[1])

def otu(cid, i, x, X, l, z, t, E):
    o = {"s": "BTCUSDT", "c": cid, "S": "BUY", "o": "LIMIT", "f": "GTC", "q": "0.010", "p": "60000.0",
         "ap": "60000.0" if z != "0" else "0", "sp": "0", "x": x, "X": X, "i": i, "l": l, "z": z,
         "L": "60000.0" if l != "0" else "0", "N": "USDT", "n": "0.00120000" if l != "0" else "0",
         "T": 1700000000000, "t": t, "b": "0", "a": "0", "m": True, "R": False, "wt": "CONTRACT_PRICE",
         "ot": "LIMIT", "ps": "BOTH", "cp": False, "rp": "0", "pP": False, "si": 0, "ss": 0,
         "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0, "er": "0"}
    return orjson.dumps({"e": "ORDER_TRADE_UPDATE", "T": 1700000000000, "E": E, "o": o})

def frames(E=None):
    out = []
    for n in range(K):
        cid = f"PMSbench_LMT_{n:07d}"
        i = 8389765739703625592 + n
        out.append((cid, i, "NEW", "NEW", "0", "0", 0))
        out.append((cid, i, "TRADE", "PARTIALLY_FILLED", "0.005", "0.005", 5_000_000_000 + 2 * n))
        out.append((cid, i, "TRADE", "FILLED", "0.005", "0.010", 5_000_000_001 + 2 * n))
    return out

SPECS = frames()
BURST = [otu(*s, 1700000000001) for s in SPECS]
END = orjson.dumps({"e": "BENCH_END", "E": 1})

class L(WSListener):
    def on_ws_frame(self, tr, frame):
        if frame.msg_type is WSMsgType.PING:
            tr.send_pong(frame.get_payload_as_bytes())
            return
        if frame.msg_type is WSMsgType.CLOSE:
            tr.send_close(frame.get_close_code())
            tr.disconnect()
            return
        if frame.msg_type is not WSMsgType.TEXT:
            return
        msg = frame.get_payload_as_bytes()
        if msg == b"burst":
            for f in BURST:
                tr.send(WSMsgType.TEXT, f)
            tr.send(WSMsgType.TEXT, END)
        elif msg.startswith(b"paced "):
            asyncio.get_running_loop().create_task(self.paced(tr, int(msg.split()[1]), float(msg.split()[2])))

    async def paced(self, tr, m, gap):
        for s in SPECS[:m]:
            tr.send(WSMsgType.TEXT, otu(*s, time.perf_counter_ns()))
            await asyncio.sleep(gap)
        tr.send(WSMsgType.TEXT, END)

async def main():
    server = await ws_create_server(lambda req: L(), "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

""" + RUN_MAIN


@pytest.fixture(scope="module")
def server_url() -> Iterator[str]:
    with child_server(SERVER, str(ORDERS), stop_timeout=5) as port:
        yield f"ws://127.0.0.1:{port}"


# ---------------------------------------------------------------- client side


class _Exchange:
    """Accepts every order (the manager under test never waits on it)."""

    def __init__(self) -> None:
        self.n = 0

    async def place_order(
        self, symbol: str, side: str, order_type: str, quantity: str, **kw: Any
    ) -> dict[str, Any]:
        self.n += 1
        return {"orderId": 8389765739703625592 + self.n - 1, "status": "NEW"}

    async def cancel_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        return {}

    async def get_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        raise AssertionError("not used")

    async def get_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return []

    async def create_listen_key(self) -> str:
        return "benchListenKey0123456789"

    async def keepalive_listen_key(self) -> None:
        return None

    async def close_listen_key(self) -> None:
        return None


class _Ids:
    def __init__(self, ids: list[str]) -> None:
        self._it = iter(ids)

    def new(self, sub: str, order_type: str, origin: str) -> str:
        return next(self._it)


@dataclass
class Round:
    manager: Any
    done: asyncio.Future[None]
    fills: int = 0
    partials: int = 0
    latencies: list[int] | None = None
    stream: UserStreamService | None = None
    ws: Any = None


async def _manager(impl: str, n_orders: int, r: Round) -> Any:
    from trading_engine_python.orders.manager import OrderManager

    m = OrderManager(_Exchange(), implementation=impl, stuck_timeout=0)
    m._ids = _Ids(cids(n_orders))  # the server's frames carry these ids

    def on_partial(o: Any) -> None:
        r.partials += 1
        if r.latencies is not None:
            r.latencies.append(time.perf_counter_ns() - m._core.last_event_time())

    def on_fill(o: Any) -> None:
        r.fills += 1
        if r.latencies is not None:
            r.latencies.append(time.perf_counter_ns() - m._core.last_event_time())
        if r.fills == n_orders and not r.done.done():
            r.done.set_result(None)

    for _ in range(n_orders):
        await m.place_limit_order(
            "bench", "BTCUSDT", "BUY", "0.010", "60000.0", on_fill=on_fill, on_partial=on_partial
        )
    return m


async def _setup(client: str, impl: str, url: str, n_orders: int, paced: bool) -> Round:
    loop = asyncio.get_running_loop()
    r = Round(manager=None, done=loop.create_future(), latencies=[] if paced else None)
    r.manager = await _manager(impl, n_orders, r)
    if client == "picows":
        r.stream = UserStreamService(_Exchange(), r.manager, ws_url=url, close_listen_key_on_stop=False)
        await r.stream.start()
    else:
        import websockets

        r.ws = await websockets.connect(url, max_size=None, compression=None)
    return r


async def _run(r: Round, command: bytes) -> None:
    if r.stream is not None:
        from picows import WSMsgType

        conn = r.stream._conn
        assert conn is not None and conn.transport is not None
        conn.transport.send(WSMsgType.TEXT, command)
        await r.done
    else:
        ws = r.ws
        feed = r.manager.feed
        await ws.send(command.decode())
        while not r.done.done():
            feed(await ws.recv(decode=False))


async def _teardown(r: Round) -> None:
    if r.stream is not None:
        await r.stream.stop()
    if r.ws is not None:
        await r.ws.close()
    await r.manager.close()


def _pedantic(benchmark: Any, target: Any, setup: Any, teardown: Any, rounds: int) -> None:
    if getattr(benchmark, "disabled", False):  # --benchmark-disable: still run (and check) one round
        args, _ = setup()
        benchmark.pedantic(target, args=args)
        teardown(*args)
        return
    benchmark.pedantic(target, setup=setup, teardown=teardown, rounds=rounds)


def _median(benchmark: Any) -> float | None:
    stats = getattr(benchmark, "stats", None)
    return stats.stats.median if stats is not None else None


# Without extensions only the pure core; otherwise a missing build fails (in OrderManager), never skips.
CASES = [(client, impl) for client in ("picows", "websockets") for impl in IMPLEMENTATIONS]


@pytest.mark.benchmark(group="user-stream burst (3 frames per order)")
@pytest.mark.parametrize(("client", "impl"), CASES, ids=[f"{c}-{i}" for c, i in CASES])
def test_stream_throughput(
    benchmark: Any, loop: asyncio.AbstractEventLoop, server_url: str, client: str, impl: str
) -> None:
    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        r = loop.run_until_complete(_setup(client, impl, server_url, ORDERS, paced=False))
        return (r,), {}

    def target(r: Round) -> None:
        loop.run_until_complete(_run(r, b"burst"))

    def teardown(r: Round) -> None:
        assert r.fills == ORDERS and r.partials == ORDERS  # every frame applied exactly once
        loop.run_until_complete(_teardown(r))

    _pedantic(benchmark, target, setup, teardown, ROUNDS)
    frames = 3 * ORDERS
    median = _median(benchmark)
    benchmark.extra_info["frames"] = frames
    if median:
        benchmark.extra_info["frames_per_s"] = round(frames / median)
        print(f"\n{client}-{impl}: {frames / median:,.0f} frames/s ({frames} frames, median of {ROUNDS})")


@pytest.mark.benchmark(group="user-stream wire-to-callback latency (paced)")
@pytest.mark.parametrize(("client", "impl"), CASES, ids=[f"{c}-{i}" for c, i in CASES])
def test_stream_latency(
    benchmark: Any, loop: asyncio.AbstractEventLoop, server_url: str, client: str, impl: str
) -> None:
    n_orders = PACED // 3
    lat: list[int] = []

    def setup() -> tuple[tuple[Any, ...], dict[str, Any]]:
        r = loop.run_until_complete(_setup(client, impl, server_url, n_orders, paced=True))
        return (r,), {}

    def target(r: Round) -> None:
        loop.run_until_complete(_run(r, f"paced {3 * n_orders} {PACE_GAP}".encode()))

    def teardown(r: Round) -> None:
        assert r.latencies is not None
        lat.extend(r.latencies)
        loop.run_until_complete(_teardown(r))

    _pedantic(benchmark, target, setup, teardown, 1)
    lat.sort()
    assert len(lat) == 2 * n_orders
    benchmark.extra_info["callbacks"] = len(lat)
    p50, p99 = p50_p99(lat)
    benchmark.extra_info["p50_us"] = round(p50 / 1000, 1)
    benchmark.extra_info["p99_us"] = round(p99 / 1000, 1)
    print(
        f"\n{client}-{impl}: wire-to-callback p50 {p50 / 1000:.1f} us, "
        f"p99 {p99 / 1000:.1f} us over {len(lat)} callbacks"
    )
