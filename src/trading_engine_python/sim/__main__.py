"""``python -m trading_engine_python.sim --port 8080 --seed 1``: run the simulator until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

from ._app import BinanceSimulator


def _parse(argv: list[str] | None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m trading_engine_python.sim",
        description="Simulated Binance USD-M futures venue on loopback.",
    )
    ap.add_argument("--host", default="127.0.0.1", help="bind address (loopback only by default)")
    ap.add_argument("--port", type=int, default=8080, help="REST+WS port (0 = any free port)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the price walk and ids")
    ap.add_argument("--symbols", default="BTCUSDT,ETHUSDT", help="comma-separated symbols")
    ap.add_argument("--api-key", default="sim-key")
    ap.add_argument("--api-secret", default="sim-secret")
    ap.add_argument("--price-interval", type=float, default=0.1, help="seconds between price-walk steps")
    ap.add_argument("--no-walk", action="store_true", help="keep prices still")
    ap.add_argument("--max-fill-qty", default=None, help="cap on each trade's quantity (partial fills)")
    ap.add_argument(
        "--ed25519-public-key",
        default=None,
        metavar="PEM_FILE",
        help="Ed25519 public key (PEM) accepted by ws-fapi session.logon and Ed25519-signed requests",
    )
    ap.add_argument("--ed25519-api-key", default="sim-ed25519-key", help="the apiKey of that Ed25519 key")
    return ap.parse_args(argv)


async def _run(args: argparse.Namespace) -> None:
    public_pem = None
    if args.ed25519_public_key:
        with open(args.ed25519_public_key, "rb") as fh:
            public_pem = fh.read()
    sim = BinanceSimulator(
        api_key=args.api_key,
        api_secret=args.api_secret,
        seed=args.seed,
        symbols=tuple(s.strip().upper() for s in args.symbols.split(",") if s.strip()),
        host=args.host,
        port=args.port,
        price_interval=args.price_interval,
        max_fill_qty=args.max_fill_qty,
        auto_walk=not args.no_walk,
        ed25519_api_key=args.ed25519_api_key,
        ed25519_public_key=public_pem,
    )
    await sim.start()
    # Printing the key and secret is deliberate here: they are the simulator's own fixed test credentials.
    print(f"REST       {sim.base_url}   (e.g. {sim.base_url}/fapi/v1/exchangeInfo)")
    print(f"WS root    {sim.ws_url}")
    print(f"ws-fapi    {sim.ws_api_url}  (WebSocket API: order.*, session.*, userDataStream.*)")
    print(f"user data  {sim.ws_url}/private/ws/<listenKey>  (POST {sim.base_url}/fapi/v1/listenKey)")
    print(
        f"public     {sim.ws_url}/public/ws/btcusdt@bookTicker\n"
        f"market     {sim.ws_url}/market/ws/btcusdt@markPrice"
    )
    print(f"api key    {sim.api_key}\napi secret {args.api_secret}")
    if public_pem is not None:
        print(f"ed25519    apiKey {sim.ed25519_api_key} (public key from {args.ed25519_public_key})")
    print("Ctrl-C stops.", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parse(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
