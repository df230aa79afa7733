"""UserStreamService against a local picows server with a stand-in client and manager."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import orjson
import pytest

from trading_engine_python.feed import UserStreamService

from ._fakes import FakeClient, FakeManager, FakeServer, otu, until


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    client_keys: dict[str, Any] = {}
    s = FakeServer(lambda path: path.startswith("/private/ws/"))
    s.client_keys = client_keys  # type: ignore[attr-defined]
    await s.start()
    yield s
    await s.stop()


def make(server: FakeServer, **kw: Any) -> tuple[UserStreamService, FakeClient, FakeManager]:
    client, manager = FakeClient(), FakeManager()
    kw.setdefault("reconnect_backoff", (0.01, 0.05))
    svc = UserStreamService(client, manager, ws_url=server.url, **kw)
    return svc, client, manager


async def test_order_frames_reach_feed_raw_and_others_reach_listeners(server: FakeServer) -> None:
    svc, client, manager = make(server)
    got: list[dict[str, Any]] = []
    got_async: list[dict[str, Any]] = []

    async def alistener(ev: dict[str, Any]) -> None:
        got_async.append(ev)

    svc.add_listener("ACCOUNT_UPDATE", got.append)
    svc.add_listener("ACCOUNT_UPDATE", alistener)
    await svc.start()
    try:
        assert server.paths == [f"/private/ws/{client.keys[0]}"]
        assert manager.reconciles == 1
        frame = otu("c1")
        server.send(frame)
        server.send({"e": "ACCOUNT_UPDATE", "E": 2, "T": 2, "a": {"m": "ORDER", "B": [], "P": []}})
        await until(lambda: len(manager.fed) == 1 and len(got) == 1 and len(got_async) == 1)
        assert manager.fed[0] == frame  # the exact bytes, untouched
        assert orjson.loads(manager.fed[0])["o"]["i"] == 8389765739703625592
        assert got[0]["a"]["m"] == "ORDER"
        st = svc.stats()
        assert st["order_updates"] == 1 and st["other_events"] == 1 and st["connects"] == 1
    finally:
        await svc.stop()
    assert client.closed == 1


async def test_unusual_spacing_still_reaches_feed(server: FakeServer) -> None:
    svc, _, manager = make(server)
    await svc.start()
    try:
        spaced = b'{ "E": 1, "T": 1, "e" : "ORDER_TRADE_UPDATE", "o": {"c": "x"}}'
        server.send(spaced)
        await until(lambda: len(manager.fed) == 1)
        assert manager.fed[0] == spaced
    finally:
        await svc.stop()


async def test_frames_buffered_during_reconcile_then_replayed_in_order(server: FakeServer) -> None:
    svc, _, manager = make(server)
    manager.gate = asyncio.Event()
    start = asyncio.create_task(svc.start())
    await until(lambda: len(server.clients) == 1)
    frames = [otu(f"c{i}") for i in range(5)]
    for f in frames:
        server.send(f)
    await until(lambda: svc.stats()["frames"] == 5)
    assert manager.fed == []  # held back while reconcile runs
    manager.gate.set()
    await start
    assert manager.fed == frames
    live = otu("live")
    server.send(live)
    await until(lambda: len(manager.fed) == 6)
    assert manager.fed[-1] == live
    assert svc.stats()["buffered_frames"] == 5
    await svc.stop()


async def test_reconnects_and_reconciles_after_drop(server: FakeServer) -> None:
    svc, _, manager = make(server)
    await svc.start()
    try:
        server.drop()
        await until(lambda: manager.reconciles == 2 and svc.connected)
        server.send(otu("after"))
        await until(lambda: len(manager.fed) == 1)
        st = svc.stats()
        assert st["reconnects"] == 1 and st["connects"] == 2
        assert st["last_reconnect_reason"] in ("dropped", "closed by server")
    finally:
        await svc.stop()


async def test_reconnect_retries_with_backoff_when_listen_key_fails(server: FakeServer) -> None:
    svc, client, manager = make(server)
    await svc.start()
    try:
        client.create_fail = 3
        server.drop()
        await until(lambda: manager.reconciles == 2 and svc.connected)
        assert client.create_fail == 0
    finally:
        await svc.stop()


async def test_listen_key_expired_gets_new_key(server: FakeServer) -> None:
    svc, client, manager = make(server)
    seen: list[dict[str, Any]] = []
    svc.add_listener("listenKeyExpired", seen.append)
    await svc.start()
    try:
        old = client.keys[0]
        client.active = None  # the exchange forgot it
        server.send({"e": "listenKeyExpired", "E": 3, "listenKey": old})
        await until(lambda: manager.reconciles == 2 and svc.connected)
        assert len(client.keys) == 2 and server.paths[-1] == f"/private/ws/{client.keys[1]}"
        assert seen and seen[0]["listenKey"] == "***"  # listeners never see the key
        assert svc.stats()["listen_key_expired"] == 1
    finally:
        await svc.stop()


async def test_keepalive_1125_creates_new_key(server: FakeServer) -> None:
    svc, client, manager = make(server, keepalive_interval=0.05)
    client.keepalive_error = -1125
    await svc.start()
    try:
        await until(lambda: len(client.keys) == 2 and manager.reconciles == 2 and svc.connected)
        await until(lambda: svc.stats()["listen_key_renewals"] >= 1)
        assert svc.stats()["last_reconnect_reason"] == "listenKey invalid"
    finally:
        await svc.stop()


async def test_silence_triggers_reconnect(server: FakeServer) -> None:
    svc, _, manager = make(server, silence_timeout=0.2)
    await svc.start()
    try:
        await until(lambda: manager.reconciles >= 2)
        assert svc.stats()["last_reconnect_reason"] == "silent"
    finally:
        await svc.stop()


async def test_pings_count_as_traffic_and_are_answered(server: FakeServer) -> None:
    svc, _, _ = make(server)
    await svc.start()
    try:
        server.ping()
        await until(lambda: svc.stats()["frames"] == 0 and svc._conn is not None and svc._conn.frames == 1)
    finally:
        await svc.stop()


async def test_max_connection_age_rotates(server: FakeServer) -> None:
    svc, _, manager = make(server, max_connection_age=0.2)
    await svc.start()
    try:
        await until(lambda: manager.reconciles >= 2)
        assert svc.stats()["last_reconnect_reason"] == "max connection age"
    finally:
        await svc.stop()


async def test_bad_frames_are_counted_not_fatal(server: FakeServer) -> None:
    svc, _, manager = make(server)
    await svc.start()
    try:
        for bad in (b"not json", b"[1,2]", b'{"x":1}', b"\xff\xfe"):
            server.send(bad)
        server.send(otu("ok"))
        await until(lambda: len(manager.fed) == 1)
        assert svc.stats()["malformed"] == 4 and svc.connected
    finally:
        await svc.stop()


async def test_raising_listener_does_not_break_stream(server: FakeServer) -> None:
    svc, _, manager = make(server)

    def boom(ev: dict[str, Any]) -> None:
        raise RuntimeError("listener bug")

    svc.add_listener("*", boom)
    await svc.start()
    try:
        server.send({"e": "MARGIN_CALL", "E": 1})
        server.send(otu("ok"))
        await until(lambda: len(manager.fed) == 1)
        assert svc.stats()["listener_errors"] == 1
    finally:
        await svc.stop()


async def test_start_raises_when_unreachable() -> None:
    client, manager = FakeClient(), FakeManager()
    svc = UserStreamService(client, manager, ws_url="ws://127.0.0.1:9", handshake_timeout=1.0)
    with pytest.raises(OSError):
        await svc.start()
    await svc.stop()


def test_manager_without_feed_is_refused() -> None:
    with pytest.raises(TypeError):
        UserStreamService(FakeClient(), object())
