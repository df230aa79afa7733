#!/usr/bin/env bash
# Sets everything up on a fresh machine and runs every check: lint, types, tests (both order cores),
# then the benchmarks in their short mode (recorded, never failing on speed).
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"
# ruff, cython-lint and mypy --strict run inside pytest: tests/test_sourcecode.py
echo "== pytest (lint and types included)"
$VPY -m pytest -q "$@"
if [ "${TE_SKIP_BENCH:-}" != 1 ]; then
  echo "== benchmarks (short mode; numbers recorded, never asserted)"
  out=$(mktemp -d)
  BENCH_QUICK=1 $VPY -m pytest -q benchmarks --benchmark-only --benchmark-json "$out/quick.json" \
    --benchmark-disable-gc --benchmark-min-rounds 3 -p no:cacheprovider
  echo "short benchmark results: $out/quick.json"
fi
