#!/usr/bin/env bash
# Sets everything up on a fresh machine (as test.sh does), then runs the demo against the embedded
# Binance simulator: a private redis-server, a scalper per symbol, a chaser and a taker, a live view,
# and at the end a check of every order against the simulator (exit status 1 on any difference).
# Arguments go to the demo, e.g. `bash scripts/demo.sh --duration 60 --metrics-port 9100`; with none
# it runs for 30 s (a first look that ends in the summary), `--duration` unset only by passing options.
source "$(dirname "${BASH_SOURCE[0]}")/_setup.sh"
echo "== demo (Ctrl-C stops; --help for options)"
if [ $# -eq 0 ]; then set -- --duration 30; fi
exec $VPY -m trading_engine_python demo "$@"
