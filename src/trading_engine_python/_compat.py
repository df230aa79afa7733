"""The one reading of ``TRADING_ENGINE_NO_EXTENSIONS``: any non-empty value selects the pure-Python
twins everywhere (the selectors ``orders._core``, ``orders._decode``, ``events._resp``, setup.py's
build, the tests and benchmarks).

Read once at import; setting the variable later in the same process changes nothing.
setup.py loads this file by path (the package is not importable while it is being built), so it
must import nothing but the standard library.
"""

from __future__ import annotations

import os

NO_EXTENSIONS: bool = bool(os.environ.get("TRADING_ENGINE_NO_EXTENSIONS"))

__all__ = ["NO_EXTENSIONS"]
