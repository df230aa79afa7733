"""MarketStream: Binance's public ``<symbol>@bookTicker`` stream for algos that need prices.

Route ``{ws_url}/public/ws/<symbol lower>@bookTicker`` (one connection per symbol), or with
``combined=True`` one ``{ws_url}/public/stream?streams=a@bookTicker/b@bookTicker`` connection whose
frames come wrapped as ``{"stream":..., "data":...}`` (docs/binance-protocol.md, "User data stream": the
``/public`` prefix is the production route since 2026-04-23). Reconnects like the user stream:
on any drop, on silence, before the 24 h cut, with exponential backoff and jitter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson

from ._ws import Backoff, Connection, call_listener, open_connection, watch

__all__ = ["MarketStream"]

log = logging.getLogger(__name__)


class MarketStream:
    def __init__(
        self,
        ws_url: str,
        symbols: Iterable[str],
        *,
        on_book_ticker: Callable[[dict[str, Any]], Any],
        combined: bool = False,
        silence_timeout: float = 300.0,
        max_connection_age: float = 23.5 * 3600,
        reconnect_backoff: tuple[float, float] = (0.1, 30.0),
        handshake_timeout: float = 10.0,
    ) -> None:
        self.ws_url = ws_url.rstrip("/")
        self.symbols = tuple(dict.fromkeys(s.upper() for s in symbols))
        if not self.symbols:
            raise ValueError("MarketStream needs at least one symbol")
        self.on_book_ticker = on_book_ticker
        self.combined = combined
        self.silence_timeout = float(silence_timeout)
        self.max_connection_age = float(max_connection_age)
        self.reconnect_backoff = (float(reconnect_backoff[0]), float(reconnect_backoff[1]))
        self.handshake_timeout = float(handshake_timeout)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._supervisors: list[asyncio.Task[None]] = []
        self._conns: dict[str, Connection] = {}
        self._stopping = False
        self._frames = 0
        self._tickers = 0
        self._malformed = 0
        self._callback_errors = 0
        self._reconnects = 0
        self._connects = 0

    def urls(self) -> dict[str, str]:
        if self.combined:
            streams = "/".join(f"{s.lower()}@bookTicker" for s in self.symbols)
            return {"*": f"{self.ws_url}/public/stream?streams={streams}"}
        return {s: f"{self.ws_url}/public/ws/{s.lower()}@bookTicker" for s in self.symbols}

    def stats(self) -> dict[str, int]:
        return {
            "frames": self._frames,
            "book_tickers": self._tickers,
            "malformed": self._malformed,
            "callback_errors": self._callback_errors,
            "connects": self._connects,
            "reconnects": self._reconnects,
        }

    async def start(self) -> None:
        """Open every connection (raising if one cannot be opened), then keep them alive."""
        if self._supervisors:
            raise RuntimeError("MarketStream already started")
        self._stopping = False
        urls = self.urls()
        opened: dict[str, tuple[Connection, float]] = {}
        loop = asyncio.get_running_loop()
        try:
            for name, url in urls.items():
                opened[name] = (await self._connect(url), loop.time())
        except BaseException:
            for c, _ in opened.values():
                c.finish("start failed")
            raise
        for name, url in urls.items():
            conn, at = opened[name]
            self._supervisors.append(
                asyncio.create_task(self._supervise(name, url, conn, at), name=f"market-stream-{name}")
            )

    async def stop(self) -> None:
        self._stopping = True
        for t in self._supervisors:
            t.cancel()
        for t in self._supervisors:
            try:
                await t
            except BaseException:
                pass
        self._supervisors = []
        conns, self._conns = list(self._conns.values()), {}
        for c in conns:
            c.finish("stopped")
        for c in conns:
            await c.closed()
        for t in list(self._tasks):
            t.cancel()

    def _on_data(self, data: bytes) -> None:
        self._frames += 1
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            self._malformed += 1
            return
        if not isinstance(msg, dict):
            self._malformed += 1
            return
        inner = msg.get("data")
        if isinstance(inner, dict) and "stream" in msg:
            msg = inner
        if msg.get("e") != "bookTicker":
            # bookTicker frames carry "e":"bookTicker" on futures; anything else is not ours.
            self._malformed += 1
            return
        self._tickers += 1
        if not call_listener(self.on_book_ticker, msg, self._tasks, "bookTicker"):
            self._callback_errors += 1

    async def _connect(self, url: str) -> Connection:
        conn = await open_connection(url, self._on_data, handshake_timeout=self.handshake_timeout)
        self._connects += 1
        return conn

    async def _supervise(self, name: str, url: str, conn: Connection | None, connected_at: float) -> None:
        loop = asyncio.get_running_loop()
        lo, hi = self.reconnect_backoff
        backoff = Backoff(lo, hi)
        while not self._stopping:
            if conn is not None:
                self._conns[name] = conn
                reason = await watch(
                    conn,
                    silence_timeout=self.silence_timeout,
                    deadline=connected_at + self.max_connection_age,
                    loop=loop,
                )
                if self._stopping:
                    return
                await conn.closed()
                if loop.time() - connected_at > max(5.0, 10 * lo):
                    backoff.reset()
                self._reconnects += 1
                log.warning("market stream %s ended (%s); reconnecting", name, reason)
                delay = 0.0 if reason == "max connection age" else backoff.next_delay()
            else:
                delay = backoff.next_delay()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                conn = await self._connect(url)
                connected_at = loop.time()
            except asyncio.CancelledError:
                raise
            except Exception as e:
                log.warning("market stream %s reconnect failed: %s", name, e)
                conn = None
