"""The dict forms of a feed event, turned into the raw message shape the decoder validates.

``on_order_update`` accepts the raw frame (bytes/str), that frame parsed to a dict, or the
"mapped" dict with snake_case keys (``client_order_id``, ``order_status``, ...). Both dict forms become a
raw-shaped message here and then go through the one validating ``decode_dict``, so every form
meets the same rules and gives the same outcome. REST order JSON (a status-query answer) is
mapped the same way, so that it too goes through the feed's transition rules.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

# mapped key (as binance_wss.py's map_order_data_ws names it) -> ORDER_TRADE_UPDATE key
MAPPED_KEYS = {
    "symbol": "s",
    "client_order_id": "c",
    "order_id": "i",
    "side": "S",
    "order_type": "o",
    "order_status": "X",
    "execution_type": "x",
    "price": "p",
    "orig_qty": "q",
    "last_filled_qty": "l",
    "last_filled_price": "L",
    "commission": "n",
    "commission_asset": "N",
    "order_trade_time": "T",
    "trade_id": "t",
    "accumulated_filled_qty": "z",
    "avg_price": "ap",
}
_DECIMAL_KEYS = frozenset({"p", "q", "l", "L", "n", "z", "ap"})
_INT_KEYS = frozenset({"i", "T", "t"})
_BIG = 10**20


def _decimal(value: Any) -> Any:
    # Python callers may hand numbers; the wire carries strings. A float means its shortest repr.
    if isinstance(value, bool):
        return value  # left for the decoder to refuse as a wrong type
    if isinstance(value, float):
        return format(Decimal(repr(value)), "f")
    if isinstance(value, int):
        # Beyond int64 after scaling either way; str() of a huge int would raise (and cost).
        return str(value) if -_BIG < value < _BIG else value
    if isinstance(value, Decimal):
        if not value.is_finite() or abs(value.adjusted()) > 20:
            return str(value)  # "1E+999999999": refused by the decoder, never expanded to digits
        return format(value, "f")
    return value


def _integer(value: Any) -> Any:
    # A mapped dict may carry order_id as a string of digits ('123456').
    # At most 20 digits (int64 has 19): int() of a longer string costs, and raises past 4300.
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 20:
        return int(value)
    return value


def message_from_dict(data: dict[str, Any]) -> dict[str, Any]:
    """A raw-shaped message from either dict form (the raw parsed one passes through)."""
    if "e" in data or "o" in data:
        return data
    o: dict[str, Any] = {}
    for key, value in data.items():
        raw = MAPPED_KEYS.get(key)
        if raw is None:
            continue
        if raw in _DECIMAL_KEYS:
            value = _decimal(value)
        elif raw in _INT_KEYS:
            value = _integer(value)
        o[raw] = value
    msg: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "o": o}
    if "event_time" in data:
        msg["E"] = _integer(data["event_time"])
    return msg


def message_from_rest(order: dict[str, Any]) -> dict[str, Any]:
    """A GET/DELETE /fapi/v1/order answer as an ORDER_TRADE_UPDATE-shaped message."""
    o: dict[str, Any] = {
        "c": order.get("clientOrderId"),
        "X": order.get("status"),
        "z": order.get("executedQty"),
        "q": order.get("origQty"),
    }
    if order.get("orderId") is not None:
        o["i"] = order["orderId"]
    avg = order.get("avgPrice")
    if avg is not None:
        o["ap"] = avg
    if o["X"] in ("NEW", "PARTIALLY_FILLED"):
        # An open order's answer holds the exchange's current price and quantity, which an amend
        # may have changed: read as an amendment, which takes them (else it is the same as a NEW;
        # docs/binance-protocol.md, "Amend in place").
        o["x"] = "AMENDMENT"
        price = order.get("price")
        if price is not None:
            o["p"] = price
    msg: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "o": o}
    if isinstance(order.get("updateTime"), int):
        msg["E"] = order["updateTime"]
    return msg


def algo_message_from_rest(algo: dict[str, Any]) -> dict[str, Any]:
    """A Query Algo Order / openAlgoOrders item as an ALGO_UPDATE-shaped message (its keys:
    docs/binance-protocol.md, "Algo orders")."""
    o: dict[str, Any] = {"caid": algo.get("clientAlgoId"), "X": algo.get("algoStatus"),
                         "q": algo.get("quantity"), "p": algo.get("price")}
    if algo.get("algoId") is not None:
        o["aid"] = algo["algoId"]
    if algo.get("actualOrderId") is not None:
        o["ai"] = algo["actualOrderId"]
    msg: dict[str, Any] = {"e": "ALGO_UPDATE", "o": o}
    if isinstance(algo.get("updateTime"), int):
        msg["E"] = algo["updateTime"]
    return msg
