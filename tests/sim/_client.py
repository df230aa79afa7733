"""A minimal signed Binance REST client for the simulator tests (independent of the engine's client)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson
import yarl


def sign(query: str, secret: str = "sim-secret") -> str:
    return hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()


class Reply:
    def __init__(self, status: int, headers: dict[str, str], text: str) -> None:
        self.status = status
        self.headers = headers
        self.text = text
        try:
            self.json: Any = orjson.loads(text) if text else None
        except orjson.JSONDecodeError:
            self.json = None

    def __repr__(self) -> str:
        return f"Reply({self.status}, {self.text[:200]})"


class Client:
    def __init__(
        self, base_url: str, session: aiohttp.ClientSession, key: str = "sim-key", secret: str = "sim-secret"
    ) -> None:
        self.base = base_url
        self.session = session
        self.key = key
        self.secret = secret
        self.time_offset = 0

    async def raw(
        self, method: str, path: str, query: str = "", body: str = "", headers: dict[str, str] | None = None
    ) -> Reply:
        url = self.base + path + ("?" + query if query else "")
        hdrs = {"X-MBX-APIKEY": self.key} if self.key is not None else {}
        if body:
            hdrs["Content-Type"] = "application/x-www-form-urlencoded"
        if headers:
            hdrs.update(headers)
        # encoded=True: send the query exactly as signed (yarl would otherwise requote %2C to ",")
        async with self.session.request(
            method, yarl.URL(url, encoded=True), data=body or None, headers=hdrs
        ) as r:
            return Reply(r.status, dict(r.headers), await r.text())

    async def public(self, path: str, **params: Any) -> Reply:
        return await self.raw("GET", path, urlencode(params))

    async def signed(self, method: str, path: str, in_body: bool | None = None, **params: Any) -> Reply:
        params.setdefault("timestamp", int(time.time() * 1000) + self.time_offset)
        q = urlencode({k: v for k, v in params.items() if v is not None})
        q = q + "&signature=" + sign(q, self.secret)
        if in_body is None:
            in_body = method in ("POST", "PUT")
        if in_body:
            return await self.raw(method, path, body=q)
        return await self.raw(method, path, query=q)

    async def order(self, **params: Any) -> Reply:
        return await self.signed("POST", "/fapi/v1/order", **params)

    async def limit(
        self, side: str, qty: str, price: str, symbol: str = "BTCUSDT", tif: str = "GTC", **extra: Any
    ) -> Reply:
        return await self.order(
            symbol=symbol, side=side, type="LIMIT", timeInForce=tif, quantity=qty, price=price, **extra
        )

    async def market(self, side: str, qty: str, symbol: str = "BTCUSDT", **extra: Any) -> Reply:
        return await self.order(symbol=symbol, side=side, type="MARKET", quantity=qty, **extra)

    async def listen_key(self) -> str:
        r = await self.raw("POST", "/fapi/v1/listenKey")
        assert r.status == 200, r
        return str(r.json["listenKey"])


async def raw_http(host: str, port: int, method: str, target: str, key: str = "sim-key") -> bytes:
    """One HTTP/1.1 request on a fresh socket, returning every byte received until the server closes.
    (aiohttp's client silently retries idempotent methods after a disconnect, hiding a lost reply.)"""
    import asyncio

    reader, writer = await asyncio.open_connection(host, port)
    writer.write(
        f"{method} {target} HTTP/1.1\r\nHost: {host}\r\nX-MBX-APIKEY: {key}\r\n"
        f"Connection: close\r\n\r\n".encode()
    )
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data


def signed_query(secret: str = "sim-secret", **params: Any) -> str:
    params.setdefault("timestamp", int(time.time() * 1000))
    q = urlencode(params)
    return q + "&signature=" + sign(q, secret)

