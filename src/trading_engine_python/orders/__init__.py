"""Order core: tracker, feed decoder and transitions (compiled, with a pure twin) and the manager.

``OrderManager`` is the one door every order goes through; ``OrderState`` is the live core's view
of one order (what every ``place_*`` returns and every callback receives). ``IMPLEMENTATION`` says
which core is live: "cython" or "python" (TRADING_ENGINE_NO_EXTENSIONS=1).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core import IMPLEMENTATION, OrderState
from .ids import parse_client_order_id

if TYPE_CHECKING:
    from .manager import OrderManager

__all__ = ["IMPLEMENTATION", "OrderManager", "OrderState", "parse_client_order_id"]


def __getattr__(name: str) -> Any:
    # The manager module is imported on first use: the core's own tests and tools need only _core.
    if name == "OrderManager":
        from .manager import OrderManager

        return OrderManager
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
