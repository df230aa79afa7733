"""Stand-ins for the feed unit tests: a local picows server, a fake REST client and manager."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson
from picows import WSListener, WSMsgType, WSTransport, WSUpgradeRequest, ws_create_server

from trading_engine_python.exchange import ExchangeError


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


class _ServerSide(WSListener):
    def __init__(self, server: FakeServer, path: str) -> None:
        super().__init__()
        self.server = server
        self.path = path
        self.transport: WSTransport | None = None

    def on_ws_connected(self, transport: WSTransport) -> None:
        self.transport = transport
        self.server.clients.append(self)
        self.server.paths.append(self.path)

    def on_ws_disconnected(self, transport: WSTransport) -> None:
        if self in self.server.clients:
            self.server.clients.remove(self)


class FakeServer:
    """Accepts websocket upgrades whose path ``accept(path)`` approves; sends to all clients."""

    def __init__(self, accept: Callable[[str], bool]) -> None:
        self.accept = accept
        self.clients: list[_ServerSide] = []
        self.paths: list[str] = []
        self._server: asyncio.Server | None = None
        self.url = ""

    async def start(self) -> None:
        def factory(req: WSUpgradeRequest) -> WSListener | None:
            path = req.path.decode()
            return _ServerSide(self, path) if self.accept(path) else None

        self._server = await ws_create_server(factory, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"

    async def stop(self) -> None:
        self.drop()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def send(self, data: bytes | dict[str, Any]) -> None:
        payload = data if isinstance(data, bytes) else orjson.dumps(data)
        for c in list(self.clients):
            if c.transport is not None:
                c.transport.send(WSMsgType.TEXT, payload)

    def ping(self) -> None:
        for c in list(self.clients):
            if c.transport is not None:
                c.transport.send_ping(b"p")

    def drop(self) -> None:
        for c in list(self.clients):
            if c.transport is not None:
                c.transport.disconnect(graceful=False)


class FakeClient:
    def __init__(self) -> None:
        self.n = 0
        self.keys: list[str] = []
        self.active: str | None = None
        self.keepalives = 0
        self.keepalive_error: int | None = None
        self.closed = 0
        self.create_fail = 0

    async def create_listen_key(self) -> str:
        if self.create_fail > 0:
            self.create_fail -= 1
            raise ExchangeError(-1001, "Internal error; unable to process your request. Please try again.")
        if self.active is None:
            self.n += 1
            self.active = f"ListenKey{self.n:04d}" + "x" * 50
            self.keys.append(self.active)
        return self.active

    async def keepalive_listen_key(self) -> None:
        self.keepalives += 1
        if self.keepalive_error is not None:
            code, self.keepalive_error = self.keepalive_error, None
            self.active = None
            raise ExchangeError(code, "This listenKey does not exist.")

    async def close_listen_key(self) -> None:
        self.closed += 1
        self.active = None


class FakeManager:
    def __init__(self) -> None:
        self.fed: list[bytes] = []
        self.reconciles = 0
        self.gate: asyncio.Event | None = None
        self.fed_at_reconcile: list[int] = []

    def feed(self, data: bytes) -> None:
        self.fed.append(data)

    async def reconcile(self) -> None:
        self.fed_at_reconcile.append(len(self.fed))
        if self.gate is not None:
            await self.gate.wait()
        self.reconciles += 1


def otu(cid: str, status: str = "NEW", i: int = 8389765739703625592) -> bytes:
    return orjson.dumps(
        {
            "e": "ORDER_TRADE_UPDATE",
            "E": 1,
            "T": 1,
            "o": {"s": "BTCUSDT", "c": cid, "S": "BUY", "o": "LIMIT", "x": status, "X": status, "i": i},
        }
    )
