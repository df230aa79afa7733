"""Simulated Binance USD-M futures exchange on loopback (REST + user/public websockets).

Speaks only the wire protocol; imports nothing else of ``trading_engine_python``. See README.md here.
"""

from ._app import BinanceSimulator
from ._engine import ApiError, SymbolSpec
from ._faults import Faults

__all__ = ["ApiError", "BinanceSimulator", "Faults", "SymbolSpec"]
