"""Selects the order core: the compiled one unless TRADING_ENGINE_NO_EXTENSIONS is set (_compat).

The names are each twin's ``__all__``; type checkers always see the pure twin, the typed reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._compat import NO_EXTENSIONS

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._core_py import *  # noqa: F403
    from ._core_py import __all__ as _twin_all
else:
    try:
        from ._core_c import *  # noqa: F403
        from ._core_c import __all__ as _twin_all
    except ImportError:  # not built (e.g. an sdist installed without a compiler step)
        from ._core_py import *  # noqa: F403
        from ._core_py import __all__ as _twin_all

__all__ = [*_twin_all, "load"]


def load(implementation: str | None = None) -> type[OrderCore]:  # noqa: F405 (from the twin's __all__)
    """The core class by name ("cython" or "python"); None for the selected one."""
    if implementation is None:
        return OrderCore  # noqa: F405
    if implementation == "python":
        from ._core_py import OrderCore as PyCore

        return PyCore
    if implementation == "cython":
        from ._core_c import OrderCore as CCore  # ImportError says it was not built

        return CCore  # type: ignore[return-value]  # same public surface (see _core_c.pyi)
    raise ValueError(f"implementation must be 'cython' or 'python', not {implementation!r}")
