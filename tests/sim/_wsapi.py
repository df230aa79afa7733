"""A minimal ws-fapi client for the simulator tests (aiohttp's websocket client, not the engine's)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import itertools
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import orjson

from trading_engine_python.sim import BinanceSimulator

_ids = itertools.count(1)


def payload(params: dict[str, Any]) -> str:
    """Sorted by name, signature excluded, values as sent (Binance page "WebSocket API General Info")."""

    def text(v: Any) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    return "&".join(f"{k}={text(params[k])}" for k in sorted(params) if k != "signature")


def hmac_sign(params: dict[str, Any], secret: str = "sim-secret") -> str:
    return hmac.new(secret.encode(), payload(params).encode(), hashlib.sha256).hexdigest()


def ed25519_sign(params: dict[str, Any], private_pem: str) -> str:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    key = load_pem_private_key(private_pem.encode(), None)
    return base64.b64encode(key.sign(payload(params).encode())).decode()  # type: ignore[call-arg,union-attr]


class WsApi:
    def __init__(
        self, ws: aiohttp.ClientWebSocketResponse, key: str = "sim-key", secret: str = "sim-secret"
    ) -> None:
        self.ws = ws
        self.key = key
        self.secret = secret

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, session: aiohttp.ClientSession, sim: BinanceSimulator, url: str | None = None
    ) -> AsyncIterator[WsApi]:
        async with session.ws_connect(url or sim.ws_api_url, autoping=True) as ws:
            yield cls(ws)

    async def send(self, method: str, params: dict[str, Any] | None = None, req_id: Any = None) -> Any:
        """One request and its answer (frames of other requests are not expected in between)."""
        rid = req_id if req_id is not None else f"req-{next(_ids)}"
        body: dict[str, Any] = {"id": rid, "method": method}
        if params is not None:
            body["params"] = params
        await self.ws.send_str(orjson.dumps(body).decode())
        return await self.recv()

    async def recv(self, timeout: float = 3.0) -> Any:
        msg = await asyncio.wait_for(self.ws.receive(), timeout)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        return orjson.loads(msg.data)

    async def signed(self, method: str, **params: Any) -> Any:
        """Per-request HMAC signing: apiKey, timestamp and signature in the params."""
        params = {k: v for k, v in params.items() if v is not None}
        params.setdefault("apiKey", self.key)
        params.setdefault("timestamp", int(time.time() * 1000))
        params["signature"] = hmac_sign(params, self.secret)
        return await self.send(method, params)

    async def session_call(self, method: str, **params: Any) -> Any:
        """After session.logon: only the timestamp, no apiKey/signature."""
        params.setdefault("timestamp", int(time.time() * 1000))
        return await self.send(method, params)

    async def logon(self, sim: BinanceSimulator) -> Any:
        params: dict[str, Any] = {"apiKey": sim.ed25519_api_key, "timestamp": int(time.time() * 1000)}
        params["signature"] = ed25519_sign(params, sim.ed25519_private_key_pem)
        return await self.send("session.logon", params)
