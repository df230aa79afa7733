"""Helpers for the OrderManager tests: one event in every input form, recorders, a manager factory.

Frames follow the real captured shapes in tests/data/ws/ (f0cii/moxt BTCUSDT NEW/CANCELED for the
key set and order; see tests/data/README.md), with our ids swapped in.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from trading_engine_python.orders.manager import OrderManager

from .. import _data
from ..conftest import Implementation
from .conftest import FakeClock
from .fakes import FakeExchange

OID = 8389765739703625592  # > 2**53, like real Binance ids: must never pass through a float

# The four forms on_order_update takes: all must give identical outcomes.
FORMS = ("bytes", "str", "raw_dict", "mapped")

# ORDER_TRADE_UPDATE "o" key -> the key of the spec's mapped dict (its on_order_update section).
TO_MAPPED = {
    "s": "symbol",
    "c": "client_order_id",
    "i": "order_id",
    "S": "side",
    "o": "order_type",
    "X": "order_status",
    "x": "execution_type",
    "p": "price",
    "q": "orig_qty",
    "l": "last_filled_qty",
    "L": "last_filled_price",
    "n": "commission",
    "N": "commission_asset",
    "T": "order_trade_time",
    "t": "trade_id",
    "z": "accumulated_filled_qty",
    "ap": "avg_price",
}


def to_mapped(msg: dict[str, Any]) -> dict[str, Any]:
    """The spec's mapped dict of a parsed ORDER_TRADE_UPDATE (order_id as a digit string, as the
    spec's example shows it)."""
    out: dict[str, Any] = {}
    for key, value in msg["o"].items():
        name = TO_MAPPED.get(key)
        if name is None:
            continue
        out[name] = str(value) if key == "i" and isinstance(value, int) else value
    if "E" in msg:
        out["event_time"] = msg["E"]
    return out


def render(msg: dict[str, Any] | str | bytes, form: str) -> Any:
    """One message in ``form``. ``msg`` is a parsed message or its exact text (kept byte for byte
    in the bytes/str forms). Messages of other event types have no mapped form: the raw dict."""
    if isinstance(msg, bytes):
        msg = msg.decode()
    text = msg if isinstance(msg, str) else json.dumps(msg, separators=(",", ":"))
    if form == "bytes":
        return text.encode()
    if form == "str":
        return text
    parsed = json.loads(text)
    if form == "raw_dict":
        return parsed
    if form == "mapped":
        is_order = isinstance(parsed, dict) and parsed.get("e") == "ORDER_TRADE_UPDATE"
        if is_order and isinstance(parsed.get("o"), dict):
            return to_mapped(parsed)
        return parsed
    raise ValueError(form)


def otu(cid: str, status: str, *, z: str | None = "0", l: str | None = "0",  # noqa: E741 (Binance's key)
        L: str | None = "0",
        ap: str | None = "0", i: int | None = OID, E: int | None = 1704459987709, s: str = "BTCUSDT",
        S: str = "BUY", o: str = "LIMIT", q: str = "0.010", p: str = "65000.3", x: str | None = None,
        t: int = 0, e: str = "ORDER_TRADE_UPDATE", **extra: Any) -> dict[str, Any]:
    """The real f0cii/moxt frame (every key Binance sends in hedge mode) with fields swapped in.
    A field given as None is left out."""
    if x is None:
        x = {"PARTIALLY_FILLED": "TRADE", "FILLED": "TRADE"}.get(status, status)
    order: dict[str, Any] = {
        "s": s, "c": cid, "S": S, "o": o, "f": "GTC", "q": q, "p": p, "ap": ap, "sp": "0", "x": x,
        "X": status, "i": i, "l": l, "z": z, "L": L, "n": "0", "N": "USDT", "T": 1704459987707,
        "t": t, "b": "200", "a": "0", "m": False, "R": False, "wt": "CONTRACT_PRICE", "ot": o,
        "ps": "LONG", "cp": False, "rp": "0", "pP": False, "si": 0, "ss": 0, "V": "NONE", "pm": "NONE",
        "gtd": 0,
    }
    order.update(extra)
    order = {k: v for k, v in order.items() if v is not None}
    out: dict[str, Any] = {"e": e, "T": 1704459987707}
    if E is not None:
        out["E"] = E
    out["o"] = order
    return out


def rest_order(cid: str, status: str, *, executed: str = "0", orig: str = "0.010", price: str = "65000.3",
               avg: str = "0.00000", order_id: int = OID, symbol: str = "BTCUSDT", side: str = "BUY",
               order_type: str = "LIMIT", tif: str = "GTC", reduce_only: bool = False) -> dict[str, Any]:
    """A GET /fapi/v1/order answer (keys and order as docs-examples/rest_get_order_response.json)."""
    return {
        "avgPrice": avg, "clientOrderId": cid, "cumQuote": "0", "executedQty": executed, "orderId": order_id,
        "origQty": orig, "origType": order_type, "price": price, "reduceOnly": reduce_only, "side": side,
        "positionSide": "BOTH", "status": status, "stopPrice": "0", "closePosition": False, "symbol": symbol,
        "time": 1579276756075, "timeInForce": tif, "type": order_type, "updateTime": 1579276756075,
        "workingType": "CONTRACT_PRICE", "priceProtect": False, "priceMatch": "NONE",
        "selfTradePreventionMode": "NONE", "goodTillDate": 0,
    }


def load_jsonl(name: str) -> list[str]:
    """The messages of a captured file in tests/data/ws as text (a .json file is one pretty-printed
    message)."""
    return [frame.decode() for frame in _data.frames(f"ws/{name}")]


def swap(line: str, ids: dict[str, str]) -> str:
    """The captured text with our client order ids in place of the foreign ``c`` values."""
    for foreign, ours in ids.items():
        line = line.replace(f'"{foreign}"', f'"{ours}"')
    return line


class Log:
    """Records callbacks as (name, client id, state, filled, last fill qty) in call order."""

    def __init__(self) -> None:
        self.entries: list[tuple[str, str, str, float, float]] = []
        self.orders: list[Any] = []

    def cb(self, name: str, *, raises: bool = False, is_async: bool = False,
           then: Callable[[Any], Any] | None = None) -> Callable[[Any], Any]:
        def record(order: Any) -> None:
            self.entries.append((name, order.client_order_id, order.state, order.filled_qty,
                                 order.last_fill_qty))
            self.orders.append(order)

        if is_async:
            async def acb(order: Any) -> None:
                await asyncio.sleep(0)
                record(order)
                if then is not None:
                    result = then(order)
                    if asyncio.iscoroutine(result):
                        await result
                if raises:
                    raise RuntimeError(f"{name} failed on purpose")
            return acb

        def scb(order: Any) -> None:
            record(order)
            if then is not None:
                then(order)
            if raises:
                raise RuntimeError(f"{name} failed on purpose")
        return scb

    def hooks(self, prefix: str = "", **kw: Any) -> dict[str, Any]:
        """on_fill/on_cancel/on_partial that log "fill"/"cancel"/"partial" (with ``prefix``)."""
        return {f"on_{n}": self.cb(prefix + n, **kw) for n in ("fill", "cancel", "partial")}

    def names(self) -> list[str]:
        return [e[0] for e in self.entries]

    def count(self, name: str) -> int:
        return sum(1 for e in self.entries if e[0] == name)


class Risk:
    """A risk engine that records what each on_order_fill saw (at the time it was called)."""

    def __init__(self, raises: bool = False) -> None:
        self.fills: list[tuple[str, float, float, float, str]] = []
        self.raises = raises

    async def on_order_fill(self, order: Any) -> None:
        self.fills.append((order.client_order_id, order.last_fill_qty, order.last_fill_price,
                           order.filled_qty, order.state))
        if self.raises:
            raise RuntimeError("risk failed on purpose")


def make(
    impl: Implementation, fake: FakeExchange | None = None, **kw: Any
) -> tuple[OrderManager, FakeExchange]:
    fake = fake or FakeExchange()
    kw.setdefault("stuck_timeout", 0)  # no background sweeper unless a test asks for it
    return OrderManager(fake, implementation=impl.name, **kw), fake


async def until(pred: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait (bounded) until ``pred()`` holds; the assertion after it says what was expected."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not pred() and loop.time() < end:
        await asyncio.sleep(0.005)
    await settle()  # let the work queue (async callbacks, the risk hook) catch up


async def settle(n: int = 20) -> None:
    for _ in range(n):
        await asyncio.sleep(0)


def views(orders: list[Any]) -> list[dict[str, Any]]:
    return [o.to_dict() for o in orders]


__all__ = ["FORMS", "OID", "FakeClock", "FakeExchange", "Log", "Risk", "load_jsonl", "make", "otu", "render",
           "rest_order", "settle", "swap", "to_mapped", "until", "views"]
