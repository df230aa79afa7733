"""User-stream frame decoder: the compiled scanner unless TRADING_ENGINE_NO_EXTENSIONS is set (_compat).

``decode(frame)`` -> ``(R_ORDER, fields)`` / ``(R_OTHER_EVENT, {"event_type": ...})`` /
``(R_MALFORMED, {"reason": M_*})``; ``decode_dict(msg)`` does the same on an already-parsed message
(always the pure function: there is nothing to scan). ``Update`` is the type of the returned dict.
``IMPLEMENTATION`` is "cython" or "python".

Every name but ``decode`` is the pure twin's (its ``__all__``): the compiled twin's constants come
from ``_decode_c.pxd``, which holds the same values (tests/orders/test_decode.py compares them).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._compat import NO_EXTENSIONS
from ._decode_py import *  # noqa: F403
from ._decode_py import __all__ as _twin_all

if TYPE_CHECKING or NO_EXTENSIONS:
    IMPLEMENTATION = "python"
else:
    try:
        from ._decode_c import decode  # noqa: F401 (replaces the pure one; in __all__)

        IMPLEMENTATION = "cython"
    except ImportError:  # not built (e.g. an sdist installed without a compiler step)
        IMPLEMENTATION = "python"

__all__ = [*_twin_all, "IMPLEMENTATION"]
