"""``run``: the engine against real Binance USD-M (production, or testnet), no algos.

Starts the REST client, the OrderManager (publishing to Redis when ``--redis-url`` is given)
and the user stream, which reconciles at start-up and after every reconnect, then waits for
Ctrl-C / SIGTERM. Keys come only from BINANCE_API_KEY / BINANCE_API_SECRET and are never
printed; without both it refuses to start (exit status 2).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
from typing import Any

from .engine import (
    FeedTap,
    TimedClient,
    add_engine_arguments,
    cancel_and_wait,
    dead_man_seconds,
    entry_latency_text,
    open_journal,
    order_entry,
)
from .metrics import EngineCollector, MetricsServer, fmt_seconds

log = logging.getLogger("trading_engine_python.cli.run")

KEY_ENV = "BINANCE_API_KEY"
SECRET_ENV = "BINANCE_API_SECRET"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--testnet", action="store_true", help="Binance USD-M futures testnet instead of production"
    )
    p.add_argument(
        "--redis-url",
        default=None,
        metavar="URL",
        help="publish order events to this Redis (e.g. redis://127.0.0.1:6379/0); default: none",
    )
    p.add_argument(
        "--event-stream-maxlen",
        type=int,
        default=None,
        metavar="N",
        help="also append every event to the capped stream pms:events (XADD MAXLEN ~ N)",
    )
    add_engine_arguments(
        p,
        metrics_port_help="serve Prometheus metrics on 127.0.0.1:PORT/metrics",
        metrics_host_help="address for the metrics endpoint (default 127.0.0.1)",
    )
    p.add_argument(
        "--status-interval",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="seconds between status log lines (default 30)",
    )
    p.add_argument("--rest-url", default=None, help=argparse.SUPPRESS)  # tests and private gateways
    p.add_argument("--ws-url", default=None, help=argparse.SUPPRESS)


def keys_from_env() -> tuple[str, str] | None:
    key = os.environ.get(KEY_ENV, "").strip()
    secret = os.environ.get(SECRET_ENV, "").strip()
    if not key or not secret:
        return None
    return key, secret


def refuse_without_keys() -> tuple[str, str] | None:
    keys = keys_from_env()
    if keys is None:
        missing = [n for n in (KEY_ENV, SECRET_ENV) if not os.environ.get(n, "").strip()]
        print(
            f"trading-engine run: refusing to start: {' and '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not set.\n"
            f"Export {KEY_ENV} and {SECRET_ENV} (a USD-M futures API key with trading enabled; "
            "use --testnet with a testnet key). Try `trading-engine demo` to see the engine work "
            "against the built-in simulator without any key.",
            file=sys.stderr,
        )
    return keys


async def run_live(args: argparse.Namespace, keys: tuple[str, str]) -> int:
    from ..exchange import BinanceFuturesClient
    from ..exchange.binance import PRODUCTION_REST, PRODUCTION_WS, TESTNET_REST, TESTNET_WS
    from ..feed import UserStreamService
    from ..orders.manager import OrderManager

    rest = args.rest_url or (TESTNET_REST if args.testnet else PRODUCTION_REST)
    ws = args.ws_url or (TESTNET_WS if args.testnet else PRODUCTION_WS)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    raw = BinanceFuturesClient(keys[0], keys[1], base_url=rest)
    client = TimedClient(raw)
    redis: Any = None
    if args.redis_url:
        import redis.asyncio as aioredis

        redis = aioredis.Redis.from_url(args.redis_url)
    journal = open_journal(args)
    manager = OrderManager(
        client,
        redis,
        implementation=args.implementation,
        event_stream_maxlen=args.event_stream_maxlen,
        journal=journal,
        recording=args.record,
        order_entry=order_entry(args),
        dead_man_seconds=dead_man_seconds(args),
    )
    # The tap times every frame through the manager (about a microsecond each): only when metrics
    # are asked for. The engine's own counters are read at scrape time and cost nothing.
    tap = FeedTap(manager) if args.metrics_port is not None else None
    stream = UserStreamService(raw, tap if tap is not None else manager, ws_url=ws)
    metrics: MetricsServer | None = None
    status: asyncio.Task[None] | None = None
    try:
        log.info(
            "%s: REST %s, user stream %s, order core %s, events %s",
            "testnet" if args.testnet else "production",
            rest,
            ws,
            manager.implementation,
            "to Redis" if redis is not None else "off (no --redis-url)",
        )
        if tap is not None:
            lat = {"feed_frame": tap.frame, **client.latencies()}
            metrics = MetricsServer(
                EngineCollector(manager, user_stream=stream, client=raw, latencies=lat),
                args.metrics_port,
                args.metrics_host,
            )
            await metrics.start()
            log.info("Prometheus metrics on %s", metrics.url)
        if redis is not None and not await manager.publisher.start(timeout=5.0):
            log.warning("redis is not reachable yet; events are buffered until it is")
        if journal is not None:
            # Before the stream: its frames must find the restored orders.
            report = await manager.restore()
            log.info("journal %s: %s", args.journal, report)
        if manager.order_entry == "ws":
            up = await manager.connect_order_entry()
            log.info("order entry over ws-fapi (%s)", "connected" if up else "REST until it connects")
        try:
            await stream.start()
        except Exception as exc:
            log.error("could not start the user stream: %s", exc)
            return 1
        log.info(
            "user stream up and reconciled; %d orders tracked. Ctrl-C stops.",
            manager.stats().get("tracked", 0),
        )
        status = asyncio.create_task(_status(manager, stream, client, args.status_interval))
        await stop.wait()
        log.info("stopping")
        return 0
    finally:
        await cancel_and_wait(status)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(stream.stop(), 10.0)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(manager.close(), 10.0)
        if journal is not None:
            journal.close()
        if redis is not None:
            with contextlib.suppress(Exception):
                await redis.aclose()
        with contextlib.suppress(Exception):
            await raw.close()
        if metrics is not None:
            await metrics.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


async def _status(manager: Any, stream: Any, client: TimedClient, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        s = manager.stats()
        us = stream.stats()
        p50, p99 = client.all.percentiles(0.5, 0.99)
        ev = s.get("events")
        events = (
            f" events published={ev['published']} buffered={ev['buffered']} dropped={ev['dropped']}"
            if isinstance(ev, dict)
            else ""
        )
        log.info(
            "live=%d tracked=%d fills=%d frames=%d malformed=%d reconnects=%d REST p50=%s p99=%s%s | %s",
            s.get("live", 0),
            s.get("tracked", 0),
            s.get("fills", 0),
            us["frames"],
            s.get("malformed", 0),
            us["reconnects"],
            fmt_seconds(p50),
            fmt_seconds(p99),
            events,
            entry_latency_text(manager),
        )
