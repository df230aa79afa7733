"""MarketStream against a local picows server."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from picows import WSMsgType

from trading_engine_python.feed import MarketStream

from ._fakes import FakeServer, until


def ticker(sym: str, u: int) -> dict[str, Any]:
    return {"e": "bookTicker", "u": u, "E": 1, "T": 1, "s": sym, "b": "1.0", "B": "2", "a": "1.1", "A": "3"}


async def test_per_symbol_connections_and_reconnect() -> None:
    server = FakeServer(lambda p: p in ("/public/ws/btcusdt@bookTicker", "/public/ws/ethusdt@bookTicker"))
    await server.start()
    got: list[dict[str, Any]] = []
    ms = MarketStream(
        server.url, ["BTCUSDT", "ethusdt"], on_book_ticker=got.append, reconnect_backoff=(0.01, 0.05)
    )
    await ms.start()
    try:
        assert sorted(server.paths) == ["/public/ws/btcusdt@bookTicker", "/public/ws/ethusdt@bookTicker"]
        for c in server.clients:
            sym = "BTCUSDT" if "btc" in c.path else "ETHUSDT"
            c.transport.send_ping()  # type: ignore[union-attr]
            c.transport.send(WSMsgType.TEXT, orjson.dumps(ticker(sym, 1)))  # type: ignore[union-attr]
        await until(lambda: len(got) == 2)
        assert {g["s"] for g in got} == {"BTCUSDT", "ETHUSDT"}
        server.drop()
        await until(lambda: ms.stats()["connects"] == 4 and len(server.clients) == 2)
        server.send(ticker("BTCUSDT", 2))
        await until(lambda: len(got) == 4)
        assert ms.stats()["reconnects"] == 2
    finally:
        await ms.stop()
        await server.stop()


async def test_combined_stream_unwraps_and_async_callback() -> None:
    server = FakeServer(lambda p: p.startswith("/public/stream?streams="))
    await server.start()
    got: list[dict[str, Any]] = []

    async def cb(t: dict[str, Any]) -> None:
        got.append(t)

    ms = MarketStream(server.url, ["BTCUSDT", "ETHUSDT"], on_book_ticker=cb, combined=True)
    await ms.start()
    try:
        assert server.paths == ["/public/stream?streams=btcusdt@bookTicker/ethusdt@bookTicker"]
        server.send({"stream": "btcusdt@bookTicker", "data": ticker("BTCUSDT", 5)})
        server.send(b"garbage")
        await until(lambda: len(got) == 1)
        assert got[0]["u"] == 5 and ms.stats()["malformed"] == 1
    finally:
        await ms.stop()
        await server.stop()


def test_needs_symbols() -> None:
    with pytest.raises(ValueError):
        MarketStream("ws://x", [], on_book_ticker=print)
