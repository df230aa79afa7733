"""Latency recording and the Prometheus endpoint of ``demo`` and ``run``.

The engine keeps plain integer counters (``OrderManager.stats()``, the streams' and the REST
client's ``stats``); a custom prometheus-client Collector reads them only when Prometheus scrapes,
so metrics add nothing to the feed path. The endpoint is served by aiohttp on the engine's own
event loop: ``collect()`` then runs on the loop's thread and reads the counters between two
callbacks, never in the middle of a transition (the manager is not thread-safe).

Latencies the engine does not measure itself are measured here: :class:`Latency` keeps fixed
histogram buckets (exported as a Prometheus histogram) plus a bounded sample of recent values
for p50/p99 in the terminal view and the final summary.
"""

from __future__ import annotations

import bisect
import random
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["BUCKETS", "EngineCollector", "Latency", "MetricsServer"]

# Seconds: 2 µs (a frame through the compiled core) up to 10 s (a REST call stuck in pacing).
BUCKETS: tuple[float, ...] = (
    2e-6,
    5e-6,
    1e-5,
    2.5e-5,
    5e-5,
    1e-4,
    2.5e-4,
    5e-4,
    1e-3,
    2.5e-3,
    5e-3,
    1e-2,
    2.5e-2,
    5e-2,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)


class Latency:
    """Histogram of durations plus samples for percentiles (recent window and whole run)."""

    __slots__ = ("_all", "_all_cap", "_counts", "_recent", "_rng", "count", "name", "total")

    def __init__(self, name: str, recent: int = 2048, keep: int = 50_000, seed: int = 0) -> None:
        self.name = name
        self._counts = [0] * (len(BUCKETS) + 1)
        self.count = 0
        self.total = 0.0
        self._recent: deque[float] = deque(maxlen=recent)
        self._all: list[float] = []
        self._all_cap = keep
        self._rng = random.Random(seed)

    def observe(self, seconds: float) -> None:
        self._counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.count += 1
        self.total += seconds
        self._recent.append(seconds)
        if len(self._all) < self._all_cap:
            self._all.append(seconds)
        else:  # reservoir sampling: every observation equally likely to be kept
            j = self._rng.randrange(self.count)
            if j < self._all_cap:
                self._all[j] = seconds

    def observe_ns(self, ns: int) -> None:
        self.observe(ns * 1e-9)

    def percentiles(self, *qs: float, recent: bool = True) -> list[float | None]:
        data = sorted(self._recent if recent else self._all)
        if not data:
            return [None for _ in qs]
        n = len(data)
        return [data[min(n - 1, int(q * n))] for q in qs]

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative (le, count) pairs, Prometheus style, ending with +Inf."""
        out: list[tuple[str, float]] = []
        acc = 0
        for le, c in zip(BUCKETS, self._counts, strict=False):
            acc += c
            out.append((repr(le), float(acc)))
        out.append(("+Inf", float(self.count)))
        return out


def fmt_seconds(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 1e-3:
        return f"{v * 1e6:.0f}µs"
    if v < 1.0:
        return f"{v * 1e3:.2f}ms"
    return f"{v:.2f}s"


class EngineCollector:
    """A prometheus-client Collector over the engine's counters, read at scrape time.

    Every source is optional (``run`` has no algos, ``demo`` may have no Redis).
    """

    def __init__(
        self,
        manager: Any,
        *,
        user_stream: Any = None,
        market_stream: Any = None,
        client: Any = None,
        latencies: dict[str, Latency] | None = None,
        orders_by_state: Callable[[], dict[str, int]] | None = None,
        publish_lag: Latency | None = None,
    ) -> None:
        self.manager = manager
        self.user_stream = user_stream
        self.market_stream = market_stream
        self.client = client
        self.latencies = latencies or {}
        self.orders_by_state = orders_by_state
        self.publish_lag = publish_lag

    def describe(self) -> list[Any]:
        return []  # no collect() at registration time: the sources may not be running yet

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

        p = "trading_engine_"
        s = self.manager.stats()

        by_state = GaugeMetricFamily(
            p + "orders", "Orders by state (tracked by this process)", labels=["state"]
        )
        states = self.orders_by_state() if self.orders_by_state else self._live_by_state()
        for state, n in sorted(states.items()):
            by_state.add_metric([state], n)
        yield by_state
        yield GaugeMetricFamily(
            p + "orders_live", "Live orders (placing, active, cancelling)", value=s.get("live", 0)
        )
        yield GaugeMetricFamily(
            p + "orders_tracked", "Orders the core tracks, terminal ones included", value=s.get("tracked", 0)
        )

        def counter(name: str, doc: str, value: Any) -> Any:
            return CounterMetricFamily(p + name, doc, value=float(value or 0))

        yield counter("orders_placed", "Orders registered by the manager", s.get("added"))
        yield counter("orders_terminal", "Transitions into a terminal state", s.get("terminal"))
        yield counter("fills", "Fill increases applied (feed or status query)", s.get("fills"))
        yield counter("feed_frames", "User-stream messages the order core saw", s.get("frames"))
        kinds = CounterMetricFamily(
            p + "feed_messages", "Feed messages the core did not apply, by kind", labels=["kind"]
        )
        malformed = int(s.get("malformed", 0))
        if self.user_stream is not None:
            malformed += int(self.user_stream.stats().get("malformed", 0))
        kinds.add_metric(["malformed"], malformed)
        kinds.add_metric(["unknown_order"], s.get("unknown_ids", 0))
        kinds.add_metric(["unknown_status"], s.get("unknown_status", 0))
        kinds.add_metric(["stale"], s.get("stale", 0))
        kinds.add_metric(["late_fill"], s.get("late_fills", 0))
        kinds.add_metric(["other_event"], s.get("other_events", 0))
        yield kinds
        cb = CounterMetricFamily(p + "callback_errors", "Callbacks that raised", labels=["kind"])
        cb.add_metric(["order"], s.get("callback_errors", 0))
        cb.add_metric(["risk"], s.get("risk_errors", 0))
        if self.user_stream is not None:
            cb.add_metric(["stream_listener"], self.user_stream.stats().get("listener_errors", 0))
        if self.market_stream is not None:
            cb.add_metric(["book_ticker"], self.market_stream.stats().get("callback_errors", 0))
        yield cb
        for key in (
            "rest_rejections",
            "unknown_outcomes",
            "status_queries",
            "resolved_failed",
            "replaces",
            "replace_aborted",
            "adopted",
        ):
            yield counter("manager_" + key, f"OrderManager {key.replace('_', ' ')}", s.get(key, 0))
        yield GaugeMetricFamily(
            p + "manager_queued_work",
            "Async callbacks waiting in the work queue",
            value=s.get("queued_work", 0),
        )

        dm = s.get("dead_man")
        if isinstance(dm, dict):
            # The dead-man switch (docs/binance-protocol.md, "Dead-man switch"): a renewal that keeps
            # failing leaves the exchange free to cancel everything once the countdown runs out.
            yield GaugeMetricFamily(p + "dead_man_seconds", "countdownCancelAll countdown (seconds)",
                                    value=dm.get("seconds", 0))
            yield GaugeMetricFamily(p + "dead_man_armed_symbols", "Symbols with a running countdown",
                                    value=dm.get("armed", 0))
            yield counter("dead_man_renewals", "countdownCancelAll calls the exchange accepted",
                          dm.get("renewals", 0))
            yield counter("dead_man_failures", "countdownCancelAll calls that failed (retried)",
                          dm.get("failures", 0))
            yield GaugeMetricFamily(p + "dead_man_last_ok_timestamp_seconds",
                                    "Unix time of the last accepted countdownCancelAll",
                                    value=dm.get("last_ok_ms", 0) / 1000)

        ev = s.get("events")
        if isinstance(ev, dict):
            yield counter("events_published", "Events Redis confirmed", ev.get("published", 0))
            yield GaugeMetricFamily(
                p + "events_buffered", "Events waiting for or in flight to Redis", value=ev.get("buffered", 0)
            )
            yield counter("events_dropped", "Events lost (buffer overflow, close)", ev.get("dropped", 0))
            yield counter("events_redis_reconnects", "Publisher reconnects to Redis", ev.get("reconnects", 0))
            yield GaugeMetricFamily(
                p + "events_redis_connected",
                "Publisher connected to Redis (0/1)",
                value=ev.get("connected", 0),
            )

        rc = CounterMetricFamily(p + "stream_reconnects", "Websocket reconnects", labels=["stream"])
        conn = GaugeMetricFamily(p + "stream_connected", "User stream connected and reconciled (0/1)")
        if self.user_stream is not None:
            us = self.user_stream.stats()
            rc.add_metric(["user"], us.get("reconnects", 0))
            conn.add_metric([], 1.0 if us.get("connected") else 0.0)
            yield counter("user_stream_frames", "User-stream frames received", us.get("frames", 0))
            yield counter(
                "user_stream_reconciles", "Reconciliations after (re)connects", us.get("reconciles", 0)
            )
        if self.market_stream is not None:
            rc.add_metric(["market"], self.market_stream.stats().get("reconnects", 0))
            yield counter(
                "book_tickers",
                "bookTicker messages received",
                self.market_stream.stats().get("book_tickers", 0),
            )
        yield rc
        if self.user_stream is not None:
            yield conn

        cs = getattr(self.client, "stats", None)
        if isinstance(cs, dict):
            rest = CounterMetricFamily(
                p + "rest_client",
                "REST client counters (requests, errors, 429s, pacing waits...)",
                labels=["counter"],
            )
            for key, value in sorted(cs.items()):
                if isinstance(value, int):
                    rest.add_metric([key], value)
            yield rest

        entry_lat = getattr(self.manager, "entry_latency", None)
        if entry_lat is not None:
            g = GaugeMetricFamily(
                p + "order_entry_seconds",
                "Order entry request round trip by step (place/modify/cancel) and path (ws/rest), "
                "over the last 2048 requests of each (seconds)",
                labels=["step", "path", "quantile"],
            )
            for key, lat in sorted(entry_lat().items()):
                step, _, path = key.partition("_")
                g.add_metric([step, path, "0.5"], lat["p50_ms"] / 1000)
                g.add_metric([step, path, "0.99"], lat["p99_ms"] / 1000)
            yield g

        docs = {
            "feed_to_callback": "Frame arrival at the manager to the algo callback (seconds)",
            "feed_frame": "Frame arrival at the manager to feed() returning (seconds)",
            "publish_lag": "Event enqueued to seen by a Redis subscriber (seconds)",
        }
        rest_lat = [(k, v) for k, v in self.latencies.items() if k.startswith("rest_")]
        for key, lat in self.latencies.items():
            if key.startswith("rest_"):
                continue
            h = HistogramMetricFamily(p + key + "_seconds", docs.get(key, key))
            h.add_metric([], lat.buckets(), sum_value=lat.total)
            yield h
        if rest_lat:
            h = HistogramMetricFamily(
                p + "rest_roundtrip_seconds", "REST round trip by call (seconds)", labels=["call"]
            )
            for key, lat in rest_lat:
                h.add_metric([key[5:]], lat.buckets(), sum_value=lat.total)
            yield h

    def _live_by_state(self) -> dict[str, int]:
        out = {"placing": 0, "active": 0, "cancelling": 0}
        for o in self.manager.get_active_orders():
            out[o.state] = out.get(o.state, 0) + 1
        return out


class MetricsServer:
    """``GET /metrics`` on ``host:port`` (aiohttp, on the running loop)."""

    def __init__(self, collector: EngineCollector, port: int, host: str = "127.0.0.1") -> None:
        from prometheus_client import CollectorRegistry

        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(collector)  # type: ignore[arg-type]
        self.host = host
        self.port = port
        self._runner: Any = None
        self.scrapes = 0

    async def start(self) -> None:
        from aiohttp import web

        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/", self._index)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]
        self._runner = runner

    async def _metrics(self, request: Any) -> Any:
        from aiohttp import web
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        self.scrapes += 1
        t0 = time.perf_counter()
        body = generate_latest(self.registry)
        return web.Response(
            body=body,
            headers={
                "Content-Type": CONTENT_TYPE_LATEST,
                "X-Scrape-Seconds": f"{time.perf_counter() - t0:.6f}",
            },
        )

    async def _index(self, request: Any) -> Any:
        from aiohttp import web

        return web.Response(text="trading_engine_python: metrics at /metrics\n")

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
