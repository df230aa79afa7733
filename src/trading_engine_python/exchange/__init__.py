"""Exchange edge: the protocol the manager calls, its errors, the Binance USD-M clients (REST, ws-fapi)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import NO_SUCH_ORDER, UNKNOWN_ORDER, ExchangeAuthError, ExchangeError, ExchangeTimeout
from .protocol import ExchangeClient, SupportsBatch, SupportsModify

if TYPE_CHECKING:
    from .binance import BinanceFuturesClient
    from .ws_api import WsApiClient

__all__ = [
    "NO_SUCH_ORDER",
    "UNKNOWN_ORDER",
    "BinanceFuturesClient",
    "ExchangeAuthError",
    "ExchangeClient",
    "ExchangeError",
    "ExchangeTimeout",
    "SupportsBatch",
    "SupportsModify",
    "WsApiClient",
]


def __getattr__(name: str) -> Any:
    # The REST client pulls in aiohttp; the order core needs only the protocol and errors.
    if name == "BinanceFuturesClient":
        from .binance import BinanceFuturesClient

        return BinanceFuturesClient
    if name == "WsApiClient":
        from .ws_api import WsApiClient

        return WsApiClient
    raise AttributeError(name)
