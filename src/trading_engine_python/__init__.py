"""Order-management core of a Binance USD-M futures trading engine.

Layers (each a subpackage; nothing imports upward): ``exchange`` (protocol, errors, REST client),
``events`` (payload contract, batched Redis publisher), ``orders`` (tracker, decoder, transitions,
manager), ``feed`` (user-data and market streams, which drive ``orders``), ``sim`` (a Binance
simulator that speaks only the wire protocol) and ``cli`` on top.

The names a newcomer needs are importable from here::

    from trading_engine_python import (
        BinanceFuturesClient, BinanceSimulator, MarketStream, OrderManager, OrderState, UserStreamService,
    )

They load on first use, so ``import trading_engine_python`` pulls in neither aiohttp nor picows.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .exchange.binance import BinanceFuturesClient
    from .exchange.errors import ExchangeAuthError, ExchangeError, ExchangeTimeout
    from .exchange.protocol import ExchangeClient
    from .feed.market_stream import MarketStream
    from .feed.user_stream import UserStreamService
    from .orders._core import OrderState
    from .orders.manager import LimitOrderSpec, OrderManager
    from .sim import BinanceSimulator

__version__ = "0.1.0"

# Public name -> the module that defines it (imported on first access).
_LAZY = {
    "OrderManager": ".orders.manager",
    "LimitOrderSpec": ".orders.manager",
    "OrderState": ".orders._core",
    "BinanceFuturesClient": ".exchange.binance",
    "ExchangeClient": ".exchange.protocol",
    "ExchangeError": ".exchange.errors",
    "ExchangeTimeout": ".exchange.errors",
    "ExchangeAuthError": ".exchange.errors",
    "UserStreamService": ".feed.user_stream",
    "MarketStream": ".feed.market_stream",
    "BinanceSimulator": ".sim",
}

__all__ = [
    "BinanceFuturesClient",
    "BinanceSimulator",
    "ExchangeAuthError",
    "ExchangeClient",
    "ExchangeError",
    "ExchangeTimeout",
    "LimitOrderSpec",
    "MarketStream",
    "OrderManager",
    "OrderState",
    "UserStreamService",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
