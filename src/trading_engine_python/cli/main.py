"""``trading-engine`` / ``python -m trading_engine_python``: demo, run, sim, bench."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

from .. import __version__

EPILOG = """commands:
  demo    the engine against the embedded Binance simulator, with a few algos (no configuration)
  run     the engine against Binance USD-M (keys from BINANCE_API_KEY / BINANCE_API_SECRET)
  sim     the simulator alone, for pointing other clients at it
  bench   every benchmark in benchmarks/, then bench_results/ (table, chart) and the README table
  replay  run a recording (demo/run --record FILE) through a manager again; prints every order's final state
"""


def _parser() -> argparse.ArgumentParser:
    from . import demo, replay, run

    ap = argparse.ArgumentParser(
        prog="trading-engine",
        description="Order-management core of a Binance USD-M futures trading engine.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--version", action="version", version=f"trading_engine_python {__version__}")
    ap.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = ap.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "demo",
        help="run the engine against the embedded simulator with demo algos",
        description="Starts the embedded Binance simulator (and a private redis-server when one "
        "is on PATH), a layered post-only scalper per symbol, a chaser and a taker, all through one "
        "OrderManager; shows a live view, then cancels what is left and checks every order's state "
        "and filled quantity against the simulator. Exit status 1 on any difference.",
    )
    demo.add_arguments(p)

    p = sub.add_parser(
        "run",
        help="run the engine against Binance USD-M (production or --testnet)",
        description="Manager + user stream against Binance USD-M futures; no algos. Keys only "
        "from the environment: BINANCE_API_KEY and BINANCE_API_SECRET (refuses to start without "
        "them, exit status 2). Ctrl-C / SIGTERM stops.",
    )
    run.add_arguments(p)

    p = sub.add_parser(
        "sim",
        help="run the Binance USD-M simulator alone",
        description="The simulated Binance USD-M venue on loopback (REST, ws-fapi, streams); prints its "
        "URLs and its fixed test key and secret. Ctrl-C stops.",
    )
    p.add_argument(
        "--port", type=int, default=8080, help="REST + websocket port (0 = any free port; default 8080)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the price walk and ids (default 0)")
    p.add_argument("--symbols", default="BTCUSDT,ETHUSDT", help="comma-separated symbols")
    p.add_argument("--max-fill-qty", default=None, help="largest single trade (partial fills)")
    p.add_argument("--price-interval", type=float, default=0.1, help="seconds between price-walk steps")
    p.add_argument("--no-walk", action="store_true", help="keep prices still")
    p.add_argument(
        "--ed25519-public-key",
        default=None,
        metavar="PEM_FILE",
        help="Ed25519 public key (PEM) for ws-fapi session.logon and Ed25519-signed requests",
    )
    p.add_argument(
        "--faults",
        action="store_true",
        help="inject a fault every few seconds, as demo --faults does (SIGUSR1 turns them off)",
    )
    p.add_argument(
        "--fault-interval", type=float, default=3.0, help="mean seconds between faults (default 3)"
    )

    p = sub.add_parser(
        "replay",
        help="replay a recording (--record) through a manager with a fake exchange",
        description="Feeds the recorded user-stream frames and re-issues the recorded commands, each "
        "answered as it was live, through an OrderManager; prints the final state of every order, the "
        "callback counts, the risk hook's fills and the core's counters. Both cores give the same output.",
    )
    replay.add_arguments(p)

    p = sub.add_parser(
        "bench",
        help="run the benchmark suite (scripts/bench.sh)",
        description="Runs every benchmark in benchmarks/ in one pytest-benchmark run, writes "
        "bench_results/results.json, README.md (table) and chart.png, and updates the README's "
        "benchmark table. Needs a source checkout.",
    )
    p.add_argument("--quick", action="store_true", help="short mode (BENCH_QUICK=1): small sizes, few rounds")
    p.add_argument(
        "--setup",
        action="store_true",
        help="(re)install the package first, as scripts/bench.sh does on a fresh machine",
    )
    return ap


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    if not verbose:
        # The demo's own lines say what matters; keep library chatter (aiohttp, picows) quiet.
        for name in ("aiohttp", "picows", "asyncio"):
            logging.getLogger(name).setLevel(logging.WARNING)


def _repo_root() -> Path | None:
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "scripts" / "bench.sh").is_file() and (parent / "benchmarks").is_dir():
            return parent
    return None


def main(argv: list[str] | None = None) -> int:
    ap = _parser()
    args = ap.parse_args(argv)
    if args.command is None:
        ap.print_help()
        return 2
    if args.command == "bench":
        root = _repo_root()
        if root is None:
            print(
                "trading-engine bench: needs a source checkout (scripts/bench.sh and benchmarks/ not found)",
                file=sys.stderr,
            )
            return 2
        env = dict(os.environ)
        if args.quick:
            env["BENCH_QUICK"] = "1"
        if not args.setup:
            env.setdefault("TE_SKIP_INSTALL", "1")
        return subprocess.call(["bash", str(root / "scripts" / "bench.sh")], cwd=root, env=env)
    if args.command == "replay":
        from .engine import run_loop
        from .replay import run_replay

        return int(run_loop(run_replay(args)))
    if args.command == "sim" and args.faults:
        from .engine import run_loop
        from .faults import run_sim_with_faults

        kwargs = {
            "seed": args.seed,
            "symbols": tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()),
            "port": args.port,
            "price_interval": args.price_interval,
            "max_fill_qty": args.max_fill_qty,
            "auto_walk": not args.no_walk,
        }
        if args.ed25519_public_key:
            kwargs["ed25519_public_key"] = Path(args.ed25519_public_key).read_bytes()
        try:
            return int(run_loop(run_sim_with_faults(kwargs, args.fault_interval, args.seed)))
        except KeyboardInterrupt:
            return 0
    if args.command == "sim":
        from ..sim.__main__ import main as sim_main

        sim_argv = [
            "--port",
            str(args.port),
            "--seed",
            str(args.seed),
            "--symbols",
            args.symbols,
            "--price-interval",
            str(args.price_interval),
        ]
        if args.max_fill_qty:
            sim_argv += ["--max-fill-qty", args.max_fill_qty]
        if args.no_walk:
            sim_argv.append("--no-walk")
        if args.ed25519_public_key:
            sim_argv += ["--ed25519-public-key", args.ed25519_public_key]
        return sim_main(sim_argv)

    _logging(args.verbose)
    from .engine import run_loop

    if args.command == "run":
        from .run import refuse_without_keys, run_live

        keys = refuse_without_keys()
        if keys is None:
            return 2
        try:
            return int(run_loop(run_live(args, keys)))
        except KeyboardInterrupt:
            return 130
    from .demo import run_demo

    for name in ("duration", "price_interval", "taker_interval", "interval", "fault_interval"):
        value = getattr(args, name)
        if value is not None and not value > 0:
            ap.error(f"--{name.replace('_', '-')} must be > 0")
    for name in ("levels", "reprice_ticks"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be >= 1")
    if not [s for s in args.symbols.split(",") if s.strip()]:
        ap.error("--symbols needs at least one symbol")
    if args.faults and args.sim_url:
        ap.error("--faults needs the embedded simulator; run the other one with `sim --faults`")
    try:
        return int(run_loop(run_demo(args)))
    except (KeyboardInterrupt, asyncio.CancelledError):
        return 130


if __name__ == "__main__":
    sys.exit(main())
