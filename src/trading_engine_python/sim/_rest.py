"""REST plumbing: parameters, faults, rate limits and authentication around the route table's handlers,
and the HTTP reply with Binance's headers."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

import orjson
from aiohttp import web

from ._auth import strip_signature
from ._engine import ApiError
from ._handlers import ROUTES, Params, Route

if TYPE_CHECKING:
    from ._app import BinanceSimulator

log = logging.getLogger(__name__)

UNKNOWN_ERROR = {"code": -1000, "msg": "An unknown error occurred while processing the request."}


def parse_params(raw_query: str, raw_body: str) -> Params:
    """Query string and x-www-form-urlencoded body together; a parameter sent twice is -1101."""
    out: Params = {}
    for raw in (raw_query, raw_body):
        if not raw:
            continue
        for k, v in parse_qsl(raw, keep_blank_values=True):
            if k in out:
                raise ApiError(-1101, "Duplicate values for a parameter detected.")
            out[k] = v
    return out


class RestApi:
    def __init__(self, sim: BinanceSimulator) -> None:
        self.sim = sim

    def _reply(
        self, status: int, body: Any, route: Route | None, extra: dict[str, str] | None = None
    ) -> web.Response:
        headers = self.sim.rate_limiter.headers(self.sim.now_ms(), route is not None and route.orders > 0)
        if extra:
            headers.update(extra)
        if isinstance(body, str):  # e.g. a bare "Service Unavailable." page
            return web.Response(status=status, text=body, content_type="text/plain", headers=headers)
        return web.Response(
            status=status, body=orjson.dumps(body), content_type="application/json", headers=headers
        )

    async def _finish(self, resp: web.StreamResponse) -> web.StreamResponse:
        if self.sim.faults.latency:
            await asyncio.sleep(self.sim.faults.latency)
        return resp

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sim = self.sim
        limiter = sim.rate_limiter
        method = request.method
        path = request.path
        sim.requests.append((method, path))
        raw_query = request.rel_url.raw_query_string
        raw_body = (await request.read()).decode("utf-8", "replace")
        route = ROUTES.get((method, path))
        try:
            params = parse_params(raw_query, raw_body)
        except ApiError as err:
            return await self._finish(self._reply(err.status, err.body(), route))
        if route is None:
            body = {"code": -5000, "msg": f"Path {path}, Method {method} is invalid"}
            return await self._finish(self._reply(404, body, None))
        now = sim.now_ms()
        try:
            weight = route.weight(params)
        except Exception:
            weight = 1
        limiter.add_weight(weight, now)

        rule = sim.faults.take(method, path, ("rate_limit",))
        if rule is not None:
            retry = rule.retry_after if rule.retry_after is not None else limiter.weight.retry_after(now)
            body = limiter.banned_body(now, retry) if rule.status == 418 else limiter.weight_body()
            return await self._finish(self._reply(rule.status, body, route, {"Retry-After": str(retry)}))
        ban = limiter.ban_retry(now)
        if ban is not None:
            body = limiter.banned_body(limiter.banned_until - ban * 1000, ban)
            return await self._finish(self._reply(418, body, route, {"Retry-After": str(ban)}))
        if limiter.over_weight():
            retry = limiter.weight.retry_after(now)
            limiter.note_429(now)
            return await self._finish(
                self._reply(429, limiter.weight_body(), route, {"Retry-After": str(retry)})
            )

        err_rule = sim.faults.take(method, path, ("http_error",))
        if err_rule is not None and not err_rule.process:
            return await self._finish(self._reply(err_rule.status, err_rule.body, route))

        try:
            self._authenticate(request, route, raw_query, raw_body, params)
            if route.orders:
                limiter.count_orders(route.orders, now)
            reject = sim.faults.take(method, path, ("reject_cancel", "reject_order"))
            if reject is not None:
                body = reject.body if isinstance(reject.body, dict) else {}
                raise ApiError(int(str(body.get("code", -1000))), str(body.get("msg", "")), reject.status)
            result = await route.fn(sim, params)
            status = 200
        except ApiError as err:
            result = err.body()
            status = err.status
        except Exception:  # bad input never crashes the venue
            log.exception("simulator handler failed for %s %s", method, path)
            result = UNKNOWN_ERROR
            status = 500
        if status == 429:
            limiter.note_429(now)

        lost = sim.faults.take(method, path, ("lose_reply",))
        if err_rule is not None:  # processed, then the "unknown outcome" 503
            resp = self._reply(err_rule.status, err_rule.body, route)
        else:
            resp = self._reply(status, result, route)
        if lost is not None:
            if sim.faults.latency:
                await asyncio.sleep(sim.faults.latency)
            transport = request.transport
            if transport is not None:
                transport.abort()
            return resp  # written into an aborted transport: aiohttp drops it silently
        return await self._finish(resp)

    def _authenticate(
        self, request: web.Request, route: Route, raw_query: str, raw_body: str, params: Params
    ) -> None:
        if route.security == "NONE":
            return
        auth = self.sim.auth
        auth.check_key(request.headers.get("X-MBX-APIKEY"))
        if route.security != "SIGNED":
            return
        ts, recv_window = auth.parse_timing(params)
        # HMAC over totalParams = query + body, each without the signature pair, as sent
        auth.check_hmac(strip_signature(raw_query) + strip_signature(raw_body), params.get("signature"))
        auth.check_window(ts, recv_window, self.sim.now_ms())
