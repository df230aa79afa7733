#!/usr/bin/env bash
# Builds the compiled modules with AddressSanitizer + UndefinedBehaviorSanitizer in a scratch copy of
# the tree (the checkout's own build is left alone), then runs the decoder and order-core fuzz,
# property and re-entry tests on that build. Not part of CI: it is slow, and needs gcc's libasan.
#
#   VPY=path/to/venv/python scripts/sanitize.sh [extra pytest arguments]
#
# VPY defaults to .venv/bin/python (what scripts/_setup.sh makes). The scratch copy is removed at
# the end unless KEEP=1. Exit status: pytest's (an ASan/UBSan report aborts the run: non-zero).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
VPY=${VPY:-.venv/bin/python}
VPY=$(cd "$(dirname "$VPY")" && pwd)/$(basename "$VPY")
LIBASAN=$(gcc -print-file-name=libasan.so)
if [ ! -e "$LIBASAN" ]; then
  echo "!! gcc has no libasan.so (Debian: apt-get install libasan8)" >&2
  exit 2
fi

scratch=$(mktemp -d)
cleanup() { if [ "${KEEP:-}" != 1 ]; then rm -rf "$scratch"; else echo "scratch tree kept: $scratch"; fi; }
trap cleanup EXIT
# Tracked and new (not ignored) files: no generated .c/.so or build/ comes along.
git ls-files -z --cached --others --exclude-standard | tar --null -T - -cf - | tar -xf - -C "$scratch"

echo "== building with -fsanitize=address,undefined -O1 -g (scratch tree $scratch)"
(cd "$scratch" && TRADING_ENGINE_SANITIZE=1 "$VPY" setup.py build_ext --inplace -q >build.log 2>&1) || {
  cat "$scratch/build.log" >&2
  exit 1
}
for so in "$scratch"/src/trading_engine_python/orders/_core_c*.so "$scratch"/src/trading_engine_python/orders/_decode_c*.so; do
  if ! nm -D "$so" | grep __asan_ >/dev/null; then  # (grep -q would SIGPIPE nm under pipefail)
    echo "!! $so is not instrumented" >&2
    exit 1
  fi
done

echo "== tests under ASan/UBSan"
cd "$scratch"
start=$(date +%s)
# LD_PRELOAD: the python executable is not instrumented, so ASan's runtime must come first.
# detect_leaks=0: the interpreter keeps objects alive until exit by design; leaks would drown the rest.
# halt_on_error=1: the first report fails the run, with its stack.
# PYTHONMALLOC=malloc, not debug: every Python object then comes from malloc itself, so ASan puts its
# redzones right at the end of each block (pymalloc's arenas, or the debug hooks' pad bytes, would
# swallow small overflows and stray reads). -X dev still adds its other checks (faulthandler,
# warnings, asyncio debug).
# --capture=sys: pytest must not redirect fd 2, where the sanitizers write their report just before
# they abort the process (a captured report would be lost with it).
set +e
LD_PRELOAD="$LIBASAN" \
  ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=1 \
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  PYTHONMALLOC=malloc \
  PYTHONPATH="$scratch/src" \
  "$VPY" -X dev -m pytest -q -p no:cacheprovider --capture=sys \
  tests/orders/test_decode_fuzz.py tests/orders/test_core_properties.py tests/orders/test_core.py \
  tests/orders/test_core_reentry.py tests/orders/test_core_contract.py "$@"
status=$?
set -e
echo "== sanitizer run: exit $status in $(( $(date +%s) - start ))s"
exit $status
