"""Selects the RESP packer: the compiled one unless TRADING_ENGINE_NO_EXTENSIONS is set (_compat).

The names are each twin's ``__all__``; type checkers always see the pure twin, the typed reference.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._compat import NO_EXTENSIONS

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._resp_py import *  # noqa: F403
    from ._resp_py import __all__ as _twin_all
else:
    try:
        from ._resp_c import *  # noqa: F403
        from ._resp_c import __all__ as _twin_all
    except ImportError:  # not built (e.g. an sdist installed without a compiler step)
        from ._resp_py import *  # noqa: F403
        from ._resp_py import __all__ as _twin_all

__all__ = [*_twin_all]
