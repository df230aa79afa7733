#!/usr/bin/env bash
# Sets everything up (as test.sh does), runs every benchmark in benchmarks/ in ONE pytest-benchmark
# run (compiled and pure-Python side by side, with the yardsticks), then writes bench_results/:
# results.json (pytest-benchmark's JSON minus the per-round timings, which weigh tens of MB; the
# full file stays in the git-ignored bench_results/raw/), README.md (tables with ratios, machine),
# chart.png, and the benchmark table of the top-level README.md (between its bench-table markers).
# BENCH_QUICK=1: short mode (small sizes, few rounds) as CI runs it; its report goes to the
# git-ignored bench_results/raw/quick/ and leaves the recorded results and README.md alone.
# Numbers are recorded, never asserted. Extra arguments go to pytest (e.g. -k tracker).
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"
extra=()
if [ -n "${BENCH_QUICK:-}" ]; then
  out=bench_results/raw/quick
  extra+=(--benchmark-min-rounds 3)
  report=(--out "$out")
  echo "== benchmarks (short mode: BENCH_QUICK=1; report in $out)"
else
  out=bench_results
  report=(--out "$out" --readme README.md)
  echo "== benchmarks (full run; a few minutes)"
fi
mkdir -p "$out" bench_results/raw
raw=bench_results/raw/results${BENCH_QUICK:+-quick}.json
$VPY -m pytest -q benchmarks -o python_files='bench_*.py' -p no:cacheprovider --benchmark-only \
  --benchmark-disable-gc --benchmark-json "$raw" "${extra[@]}" "$@"
echo "== report"
$VPY scripts/bench_report.py "$raw" --write-json "$out/results.json" "${report[@]}"
