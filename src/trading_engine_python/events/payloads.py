"""The order-event payload contract: what the frontend receives on ``pms:events:{event_type}``.

One builder per event type. Each returns a dict with exactly the keys of the contract table in
docs/events.md (tests/events/test_contract_doc.py parses that table and checks it against these
builders, so the two cannot drift); ``seq`` is not here, the publisher stamps it.

``order`` is any object with the attributes of the order manager's OrderState view:
``client_order_id, exchange_order_id, sub_account_id, symbol, side, order_type, origin,
parent_id, quantity, price, state, filled_qty, avg_price, last_fill_qty, last_fill_price,
error``. This module imports nothing of the engine (the events layer knows no other layer).

JSON types, because the consumer is JavaScript: prices and quantities are JSON numbers (the
nearest double; the frontend only displays them), ``timestamp`` an integer of ms.
``exchangeOrderId`` is a *string* of the decimal id: Binance order ids exceed 2**53 and a
JavaScript number would silently round them.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = [
    "CHANNEL_PREFIX",
    "ORDER_EVENT_TYPES",
    "OrderView",
    "order_active",
    "order_amended",
    "order_cancelled",
    "order_failed",
    "order_filled",
    "order_partially_filled",
    "order_triggered",
]

CHANNEL_PREFIX = "pms:events:"
ORDER_EVENT_TYPES = (
    "order_active",
    "order_amended",
    "order_partially_filled",
    "order_filled",
    "order_cancelled",
    "order_failed",
    "order_triggered",
)


class OrderView(Protocol):
    """The attributes the builders read (the order manager's OrderState satisfies it).

    Read-only properties, so that plain attributes and compiled-class properties both match.
    """

    @property
    def client_order_id(self) -> str: ...

    @property
    def exchange_order_id(self) -> int | None: ...

    @property
    def sub_account_id(self) -> str: ...

    @property
    def symbol(self) -> str: ...

    @property
    def side(self) -> str: ...

    @property
    def order_type(self) -> str: ...

    @property
    def origin(self) -> str: ...

    @property
    def parent_id(self) -> str | None: ...

    @property
    def quantity(self) -> float: ...

    @property
    def price(self) -> float | None: ...

    @property
    def state(self) -> str: ...

    @property
    def filled_qty(self) -> float: ...

    @property
    def avg_price(self) -> float: ...

    @property
    def last_fill_qty(self) -> float: ...

    @property
    def last_fill_price(self) -> float: ...

    @property
    def error(self) -> tuple[int, str] | None: ...


def _order_id(value: Any) -> str | None:
    # An int id (or its decimal string) only: a float has already lost digits above 2**53.
    if value is None:
        return None
    if type(value) is int:
        return str(value)
    if isinstance(value, str) and value.isdigit():
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    raise TypeError(f"exchange_order_id must be an int or None, not {type(value).__name__}")


def _limit_price(order: Any) -> float | None:
    price = order.price
    if price is None or order.order_type == "MARKET":
        return None
    return float(price)


def _base(order: Any, ts_ms: int) -> dict[str, Any]:
    # Key order is the order of the contract table; orjson keeps insertion order.
    parent = order.parent_id
    return {
        "subAccountId": order.sub_account_id,
        "clientOrderId": order.client_order_id,
        "exchangeOrderId": _order_id(order.exchange_order_id),
        "symbol": order.symbol,
        "side": order.side,
        "orderType": order.order_type,
        "origin": order.origin,
        "parentId": parent,
        # Algo children (chase reprices, scalper layers, TWAP lots) would flood the UI with toasts.
        "suppressToast": parent is not None,
        "timestamp": int(ts_ms),
    }


def order_active(order: OrderView, ts_ms: int, account: Any = None) -> dict[str, Any]:
    """First exchange acknowledgement (feed NEW). ``account`` is accepted for call-site symmetry
    with :func:`order_filled` and ignored: docs/events.md gives order_active no account key."""
    out = _base(order, ts_ms)
    out["price"] = _limit_price(order)
    out["quantity"] = float(order.quantity)
    return out


def order_triggered(order: OrderView, ts_ms: int) -> dict[str, Any]:
    """An algo order's trigger placed its order in the book (ALGO_UPDATE TRIGGERED)."""
    out = _base(order, ts_ms)
    out["price"] = _limit_price(order)
    out["quantity"] = float(order.quantity)
    return out


def order_amended(order: OrderView, ts_ms: int) -> dict[str, Any]:
    """Amended in place (feed x=AMENDMENT): the order's new limit price and quantity, same ids."""
    out = _base(order, ts_ms)
    out["price"] = float(order.price) if order.price is not None else None
    out["quantity"] = float(order.quantity)
    return out


def order_partially_filled(order: OrderView, ts_ms: int) -> dict[str, Any]:
    """A fill increase that does not complete the order: price/quantity are the last fill's."""
    out = _base(order, ts_ms)
    out["price"] = float(order.last_fill_price)
    out["quantity"] = float(order.last_fill_qty)
    out["filledQuantity"] = float(order.filled_qty)
    out["avgPrice"] = float(order.avg_price)
    return out


def order_filled(order: OrderView, ts_ms: int, account: dict[str, Any] | None) -> dict[str, Any]:
    """Completely filled: price = average fill price, quantity = filled quantity
    (docs/events.md); ``account`` = the risk engine's snapshot of the sub-account, or None."""
    out = _base(order, ts_ms)
    out["price"] = float(order.avg_price)
    out["quantity"] = float(order.filled_qty)
    out["account"] = account
    return out


def order_cancelled(order: OrderView, ts_ms: int) -> dict[str, Any]:
    """Cancelled or expired (``reason``), with what filled before (``filledQuantity``)."""
    out = _base(order, ts_ms)
    out["price"] = _limit_price(order)
    out["quantity"] = float(order.quantity)
    out["filledQuantity"] = float(order.filled_qty)
    out["reason"] = "expired" if order.state == "expired" else "cancelled"
    return out


def order_failed(order: OrderView, ts_ms: int) -> dict[str, Any]:
    """Rejected by the exchange or failed locally, with the error's code and message."""
    out = _base(order, ts_ms)
    out["price"] = _limit_price(order)
    out["quantity"] = float(order.quantity)
    out["reason"] = "rejected" if order.state == "rejected" else "failed"
    error = order.error
    if error is None:
        out["errorCode"] = None
        out["errorMessage"] = None
    else:
        out["errorCode"] = int(error[0])
        out["errorMessage"] = str(error[1])
    return out
