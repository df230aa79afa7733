"""The ExchangeClient protocol: all the order manager ever calls on an exchange.

Every dict is Binance's REST JSON as it arrives (``orderId`` an exact int, decimals as strings);
see ``tests/data/docs-examples/rest_*_response.json``. Quantities and prices are
plain decimal strings (``"0.001"``, ``"65000.1"``), never floats.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


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
    ) -> dict[str, Any]: ...

    async def cancel_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]: ...

    async def get_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]: ...

    async def get_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]: ...
