"""The websockets that push data: the user data stream (listenKeys, ORDER_TRADE_UPDATE & co.) and the
public/market streams (bookTicker, markPrice). Socket plumbing shared with ws-fapi (reader, single
writer, server pings) lives here too."""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSMsgType, web

from ._engine import ApiError, next_funding
from ._fmt import fixed

if TYPE_CHECKING:
    from ._app import BinanceSimulator

LISTEN_KEY_TTL = 3600.0  # 60 min, and PUT extends by 60 min (docs/binance-protocol.md, "User data stream")

Frame = tuple[float, bytes] | None  # (monotonic time due, payload); None stops the writer


@dataclass(eq=False)
class UserConn:
    ws: web.WebSocketResponse
    key: str
    events: frozenset[str] | None
    combined: bool
    transport: Any
    queue: asyncio.Queue[Frame] = field(default_factory=asyncio.Queue)
    active: bool = True
    last_pong: float = 0.0


@dataclass(eq=False)
class PublicConn:
    ws: web.WebSocketResponse
    prefix: str  # "public" | "market"
    streams: set[str]
    combined: bool
    transport: Any
    queue: asyncio.Queue[Frame] = field(default_factory=asyncio.Queue)
    last_pong: float = 0.0


# Streams served per route prefix since the 2026 split of fstream into /public, /market and /private
# (Binance page "Important WebSocket Change Notice").
PUBLIC_KINDS = ("bookTicker", "depth")
MARKET_KINDS = ("markPrice", "aggTrade", "kline", "ticker")


def norm_stream(name: str) -> str:
    if name.startswith("!"):
        return name
    sym, sep, kind = name.partition("@")
    return f"{sym.lower()}{sep}{kind}"


# ---------------------------------------------------------------------- socket plumbing
async def read_loop(
    ws: web.WebSocketResponse, conn: Any = None, on_text: Callable[[str], Awaitable[None]] | None = None
) -> None:
    """Reads until close: answers client pings, records pongs, hands text frames to ``on_text``."""
    loop = asyncio.get_running_loop()
    async for msg in ws:
        if msg.type == WSMsgType.PING:
            await ws.pong(msg.data)
        elif msg.type == WSMsgType.PONG:
            if conn is not None:
                conn.last_pong = loop.time()
        elif msg.type == WSMsgType.TEXT and on_text is not None:
            await on_text(msg.data)
        elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
            break


async def writer(conn: Any) -> None:
    """The only sender of data frames on a socket: keeps frames in order and honours their due time."""
    loop = asyncio.get_running_loop()
    while True:
        item = await conn.queue.get()
        if item is None:
            return
        due, payload = item
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if conn.ws.closed:
            return
        try:
            await conn.ws.send_str(payload.decode())
        except Exception:
            return


async def pinger(sim: BinanceSimulator, ws: web.WebSocketResponse, conn: Any) -> None:
    """Server pings every ``sim.ws_ping_interval`` s; no pong for ``sim.ws_pong_timeout`` s closes
    the socket (Binance: 3 min / 10 min)."""
    loop = asyncio.get_running_loop()
    while not ws.closed:
        await asyncio.sleep(sim.ws_ping_interval)
        if ws.closed:
            return
        if conn is not None and loop.time() - conn.last_pong > sim.ws_pong_timeout:
            await ws.close()
            return
        try:
            await ws.ping(b"")
        except Exception:
            return


async def stop_tasks(*tasks: asyncio.Task[Any]) -> None:
    for t in tasks:
        t.cancel()
    for t in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await t


class StreamHub:
    """Open user/public sockets and the listenKeys of the simulated account."""

    def __init__(self, sim: BinanceSimulator, seed: int) -> None:
        self.sim = sim
        self.listen_key_ttl = LISTEN_KEY_TTL
        self.listen_keys: dict[str, float] = {}  # key -> monotonic expiry
        self.user_conns: set[UserConn] = set()
        self.public_conns: set[PublicConn] = set()
        self._key_rng = random.Random(seed + 104729)
        self._qty_rng = random.Random(seed + 15485863)

    # ------------------------------------------------------------------ listenKeys
    def _new_listen_key(self) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self._key_rng.choice(alphabet) for _ in range(64))

    def start_key(self) -> str:
        """POST listenKey / userDataStream.start: with an active key, the same key, extended."""
        expiry = asyncio.get_running_loop().time() + self.listen_key_ttl
        for key in self.listen_keys:
            self.listen_keys[key] = expiry
            return key
        key = self._new_listen_key()
        self.listen_keys[key] = expiry
        return key

    def keepalive(self, key: str | None) -> str:
        """PUT listenKey / userDataStream.ping; -1125 for an unknown or expired key."""
        if key is None:
            key = next(iter(self.listen_keys), None)
        if key is None or key not in self.listen_keys:
            raise ApiError(-1125, "This listenKey does not exist.")
        self.listen_keys[key] = asyncio.get_running_loop().time() + self.listen_key_ttl
        return key

    def close_key(self, key: str | None) -> None:
        """DELETE listenKey / userDataStream.stop: the key dies and its sockets are closed."""
        key = key or next(iter(self.listen_keys), None)
        if key is None or key not in self.listen_keys:
            raise ApiError(-1125, "This listenKey does not exist.")
        del self.listen_keys[key]
        for conn in list(self.user_conns):
            if conn.key == key:
                conn.active = False
                conn.queue.put_nowait(None)
                self.sim.spawn(conn.ws.close())

    def expire_key(self, key: str) -> None:
        """listenKeyExpired to the key's sockets; they stay open but get nothing more, as on Binance."""
        if key not in self.listen_keys:
            return
        del self.listen_keys[key]
        event = {"e": "listenKeyExpired", "E": self.sim.now_ms(), "listenKey": key}
        self.sim.events.append(event)
        self.broadcast(event, only_key=key)
        for conn in self.user_conns:
            if conn.key == key:
                conn.active = False

    def expire_due_keys(self) -> None:
        now = asyncio.get_running_loop().time()
        for key, expiry in list(self.listen_keys.items()):
            if now >= expiry:
                self.expire_key(key)

    # ------------------------------------------------------------------ fan-out
    def broadcast(self, event: dict[str, Any], only_key: str | None = None) -> None:
        faults = self.sim.faults
        data = orjson.dumps(event)
        etype = event.get("e")
        due = asyncio.get_running_loop().time() + faults.event_delay if faults.event_delay else 0.0
        copies = 2 if faults.duplicate_events else 1
        for conn in self.user_conns:
            if not conn.active or (only_key is not None and conn.key != only_key):
                continue
            if conn.events is not None and etype not in conn.events and etype != "listenKeyExpired":
                continue
            payload = data
            if conn.combined:
                payload = orjson.dumps({"stream": conn.key, "data": event})
            for _ in range(copies):
                conn.queue.put_nowait((due, payload))

    def on_price(self, symbol: str) -> None:
        """bookTicker and markPriceUpdate frames for every subscriber of ``symbol``."""
        if not self.public_conns:
            return
        eng = self.sim.engine
        spec = eng.specs[symbol]
        now = self.sim.now_ms()
        book = eng.books[symbol]
        low = symbol.lower()
        frames: dict[str, dict[str, Any]] = {}
        bq = Decimal(self._qty_rng.randint(1, 5000)) * spec.step
        aq = Decimal(self._qty_rng.randint(1, 5000)) * spec.step
        frames["bookTicker"] = {
            "e": "bookTicker",
            "u": book.update_id,
            "E": now + 1,
            "T": now,
            "s": symbol,
            "b": fixed(eng.bid(symbol), spec.price_precision),
            "B": fixed(bq, spec.qty_precision),
            "a": fixed(eng.ask(symbol), spec.price_precision),
            "A": fixed(aq, spec.qty_precision),
        }
        mp = fixed(eng.mark(symbol), 8)
        frames["markPrice"] = {
            "e": "markPriceUpdate",
            "E": now,
            "s": symbol,
            "p": mp,
            "ap": mp,
            "P": mp,
            "i": mp,
            "r": "0.00010000",
            "T": next_funding(now),
        }
        for conn in list(self.public_conns):
            if conn.ws.closed:
                self.public_conns.discard(conn)
                continue
            allowed = PUBLIC_KINDS if conn.prefix == "public" else MARKET_KINDS
            for name in conn.streams:
                if name == "!bookTicker":  # all-market book ticker stream
                    sym, kind = low, "bookTicker"
                else:
                    sym, _, rest = name.partition("@")
                    kind = rest.split("@", 1)[0]
                if sym != low or kind not in frames or kind not in allowed:
                    continue
                data = frames[kind]
                payload = orjson.dumps({"stream": name, "data": data} if conn.combined else data)
                conn.queue.put_nowait((0.0, payload))

    # ------------------------------------------------------------------ faults
    async def drop_user(self) -> None:
        for conn in list(self.user_conns):
            conn.active = False
            conn.queue.put_nowait(None)
            if conn.transport is not None:
                conn.transport.abort()
            self.user_conns.discard(conn)
        await asyncio.sleep(0)

    async def drop_public(self) -> None:
        for pconn in list(self.public_conns):
            if pconn.transport is not None:
                pconn.transport.abort()
            self.public_conns.discard(pconn)
        await asyncio.sleep(0)

    async def close_all(self) -> None:
        for conn in list(self.user_conns):
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await conn.ws.close()
        for pconn in list(self.public_conns):
            with contextlib.suppress(Exception):
                await pconn.ws.close()

    # ------------------------------------------------------------------ handlers
    async def ws_private(self, request: web.Request) -> web.StreamResponse:
        return await self._user_stream(request, combined=False)

    async def ws_private_combined(self, request: web.Request) -> web.StreamResponse:
        return await self._user_stream(request, combined=True)

    async def _user_stream(self, request: web.Request, combined: bool) -> web.StreamResponse:
        key = request.match_info.get("key") or request.query.get("listenKey") or ""
        if key not in self.listen_keys:
            # refused at the handshake; a client must POST /fapi/v1/listenKey again
            return web.json_response({"code": -1125, "msg": "This listenKey does not exist."}, status=400)
        raw_events = request.query.get("events")
        events = frozenset(e for e in raw_events.split("/") if e) if raw_events else None
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 16, timeout=1.0)
        await ws.prepare(request)
        conn = UserConn(ws, key, events, combined, request.transport)
        conn.last_pong = asyncio.get_running_loop().time()
        self.user_conns.add(conn)
        tasks = (asyncio.create_task(writer(conn)), asyncio.create_task(pinger(self.sim, ws, conn)))
        try:
            await read_loop(ws, conn)
        finally:
            self.user_conns.discard(conn)
            conn.queue.put_nowait(None)
            await stop_tasks(*tasks)
        return ws

    async def ws_public(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        prefix = "market" if path.startswith("/market/") else "public"
        if path.endswith("/stream"):
            combined = True
            streams = {s for s in request.query.get("streams", "").split("/") if s}
        else:
            combined = False
            streams = {s for s in request.match_info.get("streams", "").split("/") if s}
        ws = web.WebSocketResponse(autoping=False, max_msg_size=1 << 16, timeout=1.0)
        await ws.prepare(request)
        conn = PublicConn(ws, prefix, {norm_stream(s) for s in streams}, combined, request.transport)
        self.public_conns.add(conn)

        def reply(obj: dict[str, Any]) -> None:
            conn.queue.put_nowait((0.0, orjson.dumps(obj)))  # via the writer: keeps frame order

        async def on_text(text: str) -> None:
            # live SUBSCRIBE/UNSUBSCRIBE/LIST_SUBSCRIPTIONS (Binance page "Live Subscribing/Unsubscribing")
            try:
                msg = orjson.loads(text)
                method = msg.get("method")
                names = [norm_stream(str(s)) for s in msg.get("params", []) or []]
                req_id = msg.get("id")
            except Exception:
                reply({"code": 2, "msg": "Invalid request"})
                return
            if method == "SUBSCRIBE":
                conn.streams.update(names)
                reply({"result": None, "id": req_id})
            elif method == "UNSUBSCRIBE":
                conn.streams.difference_update(names)
                reply({"result": None, "id": req_id})
            elif method == "LIST_SUBSCRIPTIONS":
                reply({"result": sorted(conn.streams), "id": req_id})
            else:
                reply({"code": 2, "msg": "Invalid request", "id": req_id})

        tasks = (asyncio.create_task(pinger(self.sim, ws, None)), asyncio.create_task(writer(conn)))
        try:
            await read_loop(ws, None, on_text)
        finally:
            self.public_conns.discard(conn)
            conn.queue.put_nowait(None)
            await stop_tasks(*tasks)
        return ws
