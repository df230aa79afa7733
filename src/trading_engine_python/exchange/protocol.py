"""The ExchangeClient protocol: all the order manager ever calls on an exchange.

Every dict is Binance's REST JSON as it arrives (``orderId`` an exact int, decimals as strings);
see ``tests/data/docs-examples/rest_*_response.json``. Quantities and prices are
plain decimal strings (``"0.001"``, ``"65000.1"``), never floats. ``self_trade_prevention`` is
Binance's ``selfTradePreventionMode`` (docs/binance-protocol.md, "Self-trade prevention"); the
order manager passes it only when it has one, so a client without the keyword still works.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from .errors import ExchangeError


@runtime_checkable
class ExchangeClient(Protocol):
    async def place_order(
        self,
        symbol: str,
        side: str,
        order_type: str,
        quantity: str,
        *,
        price: str | None = None,
        client_order_id: str,
        reduce_only: bool = False,
        time_in_force: str | None = None,
        self_trade_prevention: str | None = None,
    ) -> dict[str, Any]: ...

    async def cancel_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]: ...

    async def get_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]: ...

    async def get_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]: ...


@runtime_checkable
class SupportsModify(Protocol):
    """Optional: amend a LIMIT order in place (docs/binance-protocol.md, "Amend in place")."""

    async def modify_order(
        self, symbol: str, side: str, quantity: str, price: str, *, client_order_id: str
    ) -> dict[str, Any]: ...


@runtime_checkable
class SupportsBatch(Protocol):
    """Optional: up to 5 new orders in one request (docs/binance-protocol.md, "Batch orders").

    Items are ``place_order``'s arguments by name; the answer keeps their order, an item the
    exchange refused is an ``ExchangeError`` in its place.
    """

    async def place_orders(
        self, orders: Sequence[Mapping[str, Any]]
    ) -> list[dict[str, Any] | ExchangeError]: ...
