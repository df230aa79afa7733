"""Order core: tracker, feed decoder and transitions (compiled, with a pure twin) and the manager.

``IMPLEMENTATION`` says which core is live: "cython" or "python" (TRADING_ENGINE_NO_EXTENSIONS=1).
"""

from __future__ import annotations

from ._core import IMPLEMENTATION, OrderState
from .ids import parse_client_order_id

__all__ = ["IMPLEMENTATION", "OrderState", "parse_client_order_id"]
