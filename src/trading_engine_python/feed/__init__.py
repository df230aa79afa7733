"""Feed layer: the Binance user-data stream that drives the order manager, and market data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .market_stream import MarketStream
    from .user_stream import UserStreamService

__all__ = ["MarketStream", "UserStreamService"]


def __getattr__(name: str) -> Any:
    # picows is imported only when a stream is actually used.
    if name == "UserStreamService":
        from .user_stream import UserStreamService

        return UserStreamService
    if name == "MarketStream":
        from .market_stream import MarketStream

        return MarketStream
    raise AttributeError(name)
