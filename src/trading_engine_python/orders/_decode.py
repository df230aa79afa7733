"""User-stream frame decoder: the compiled scanner when built, else the pure twin.

``decode(frame)`` -> ``(R_ORDER, fields)`` / ``(R_OTHER_EVENT, {"event_type": ...})`` /
``(R_MALFORMED, {"reason": M_*})``; ``decode_dict(msg)`` does the same on an already-parsed message
(always the pure function: there is nothing to scan). ``Update`` is the type of the returned dict.
``IMPLEMENTATION`` is "cython" or "python" (TRADING_ENGINE_NO_EXTENSIONS=1 forces the latter).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ._decode_py import Update, decode_dict

NO_EXTENSIONS = bool(os.environ.get("TRADING_ENGINE_NO_EXTENSIONS"))

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._decode_py import (
        FP_SCALE,
        M_DECIMAL_SYNTAX,
        M_DECIMALS,
        M_JSON,
        M_MISSING,
        M_NO_EVENT,
        M_NOT_OBJECT,
        M_RANGE,
        M_TYPE,
        R_MALFORMED,
        R_ORDER,
        R_OTHER_EVENT,
        ST_CANCELED,
        ST_EXPIRED,
        ST_EXPIRED_IN_MATCH,
        ST_FILLED,
        ST_NEW,
        ST_NONE,
        ST_OTHER,
        ST_PARTIALLY_FILLED,
        ST_REJECTED,
        decode,
    )

    IMPLEMENTATION = "python"
else:
    try:
        from ._decode_c import (
            FP_SCALE,
            M_DECIMAL_SYNTAX,
            M_DECIMALS,
            M_JSON,
            M_MISSING,
            M_NO_EVENT,
            M_NOT_OBJECT,
            M_RANGE,
            M_TYPE,
            R_MALFORMED,
            R_ORDER,
            R_OTHER_EVENT,
            ST_CANCELED,
            ST_EXPIRED,
            ST_EXPIRED_IN_MATCH,
            ST_FILLED,
            ST_NEW,
            ST_NONE,
            ST_OTHER,
            ST_PARTIALLY_FILLED,
            ST_REJECTED,
            decode,
        )

        IMPLEMENTATION = "cython"
    except ImportError:
        from ._decode_py import (
            FP_SCALE,
            M_DECIMAL_SYNTAX,
            M_DECIMALS,
            M_JSON,
            M_MISSING,
            M_NO_EVENT,
            M_NOT_OBJECT,
            M_RANGE,
            M_TYPE,
            R_MALFORMED,
            R_ORDER,
            R_OTHER_EVENT,
            ST_CANCELED,
            ST_EXPIRED,
            ST_EXPIRED_IN_MATCH,
            ST_FILLED,
            ST_NEW,
            ST_NONE,
            ST_OTHER,
            ST_PARTIALLY_FILLED,
            ST_REJECTED,
            decode,
        )

        IMPLEMENTATION = "python"

__all__ = [
    "FP_SCALE",
    "IMPLEMENTATION",
    "M_DECIMALS",
    "M_DECIMAL_SYNTAX",
    "M_JSON",
    "M_MISSING",
    "M_NOT_OBJECT",
    "M_NO_EVENT",
    "M_RANGE",
    "M_TYPE",
    "R_MALFORMED",
    "R_ORDER",
    "R_OTHER_EVENT",
    "ST_CANCELED",
    "ST_EXPIRED",
    "ST_EXPIRED_IN_MATCH",
    "ST_FILLED",
    "ST_NEW",
    "ST_NONE",
    "ST_OTHER",
    "ST_PARTIALLY_FILLED",
    "ST_REJECTED",
    "Update",
    "decode",
    "decode_dict",
]
