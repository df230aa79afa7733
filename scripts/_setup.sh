# Sourced by test.sh, demo.sh and bench.sh: one set-up for a fresh Debian machine with Python 3.11.
# Installs redis-server where missing (apt-get, as root), makes .venv, installs the package with
# its compiled core (a C compiler is required; see README) and the test tools.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
PY=${PYTHON:-python3}
if ! command -v redis-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "== installing redis-server (apt-get)"
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
  else
    echo "!! redis-server not found and cannot apt-get it: the Redis tests will fail" >&2
  fi
fi
if [ ! -x .venv/bin/python ]; then
  echo "== creating .venv"
  "$PY" -m venv .venv
fi
if [ "${TE_SKIP_INSTALL:-}" != 1 ]; then
  echo "== installing trading_engine_python (compiles the Cython core) and test tools"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
  .venv/bin/python -m pip install -q -e '.[test]'
fi
VPY=.venv/bin/python
