"""Selects the RESP packer: the compiled one unless TRADING_ENGINE_NO_EXTENSIONS is set.

Type checkers always see the pure twin, which is the typed reference.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

NO_EXTENSIONS = bool(os.environ.get("TRADING_ENGINE_NO_EXTENSIONS"))

if TYPE_CHECKING or NO_EXTENSIONS:
    from ._resp_py import IMPLEMENTATION, pack_publish, scan_replies, xadd_head
else:
    try:
        from ._resp_c import IMPLEMENTATION, pack_publish, scan_replies, xadd_head
    except ImportError:  # not built (e.g. an sdist installed without a compiler step)
        from ._resp_py import IMPLEMENTATION, pack_publish, scan_replies, xadd_head

__all__ = ["IMPLEMENTATION", "NO_EXTENSIONS", "pack_publish", "scan_replies", "xadd_head"]
