#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs every check: lint, types, tests (both order cores),
# then the benchmarks in their short mode (recorded, never failing on speed).
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"
echo "== ruff"
$VPY -m ruff check src tests benchmarks scripts
echo "== cython-lint"
PATH="$PWD/.venv/bin:$PATH" cython-lint --max-line-length 110 $(find src -name '*.pyx' -o -name '*.pxd')
echo "== mypy --strict (the pure twins are the typed reference)"
$VPY -m mypy --strict $(find src -name '_*_py.py') src/trading_engine_python/orders/_states.py \
  src/trading_engine_python/orders/_fixed.py src/trading_engine_python/orders/ids.py
echo "== pytest"
$VPY -m pytest -q "$@"
if [ "${TE_SKIP_BENCH:-}" != 1 ]; then
  echo "== benchmarks (short mode; numbers recorded, never asserted)"
  out=$(mktemp -d)
  BENCH_QUICK=1 $VPY -m pytest -q benchmarks --benchmark-only --benchmark-json "$out/quick.json" \
    --benchmark-disable-gc --benchmark-min-rounds 3 -p no:cacheprovider
  echo "short benchmark results: $out/quick.json"
fi
