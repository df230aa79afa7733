"""Exchange edge: the protocol the manager calls, its errors, and the Binance USD-M client."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .errors import NO_SUCH_ORDER, UNKNOWN_ORDER, ExchangeAuthError, ExchangeError, ExchangeTimeout
from .protocol import ExchangeClient

if TYPE_CHECKING:
    from .binance import BinanceFuturesClient

__all__ = [
    "NO_SUCH_ORDER",
    "UNKNOWN_ORDER",
    "BinanceFuturesClient",
    "ExchangeAuthError",
    "ExchangeClient",
    "ExchangeError",
    "ExchangeTimeout",
]


def __getattr__(name: str) -> Any:
    # The REST client pulls in aiohttp; the order core needs only the protocol and errors.
    if name == "BinanceFuturesClient":
        from .binance import BinanceFuturesClient

        return BinanceFuturesClient
    raise AttributeError(name)
