"""``python -m trading_engine_python``: the command line (demo, run, sim, bench)."""

import sys

from .cli.main import main

sys.exit(main())
