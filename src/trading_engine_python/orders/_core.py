"""Selects the order core: the compiled one unless TRADING_ENGINE_NO_EXTENSIONS is set.

Type checkers always see the pure twin, which is the typed reference.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

NO_EXTENSIONS = bool(os.environ.get("TRADING_ENGINE_NO_EXTENSIONS"))

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._core_py import IMPLEMENTATION, OrderCore, OrderState
else:
    try:
        from ._core_c import IMPLEMENTATION, OrderCore, OrderState
    except ImportError:  # not built (e.g. an sdist installed without a compiler step)
        from ._core_py import IMPLEMENTATION, OrderCore, OrderState

__all__ = ["IMPLEMENTATION", "NO_EXTENSIONS", "OrderCore", "OrderState", "load"]


def load(implementation: str | None = None) -> type[OrderCore]:
    """The core class by name ("cython" or "python"); None for the selected one."""
    if implementation is None:
        return OrderCore
    if implementation == "python":
        from ._core_py import OrderCore as PyCore

        return PyCore
    if implementation == "cython":
        from ._core_c import OrderCore as CCore  # ImportError says it was not built

        return CCore  # type: ignore[return-value]  # same public surface (see _core_c.pyi)
    raise ValueError(f"implementation must be 'cython' or 'python', not {implementation!r}")
