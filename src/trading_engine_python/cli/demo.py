"""``demo``: the whole engine against the embedded Binance simulator, with a few algos.

Set-up: the simulator on a free loopback port (seeded price walk, ``max_fill_qty`` so that fills
come in parts), a private ``redis-server`` where one is on PATH (else order events are logged),
the real REST client and the real user stream against the simulator, MarketStream for prices.
Sub-accounts: a layered post-only scalper per symbol, a chaser, a taker.

Shutdown (Ctrl-C, SIGTERM or ``--duration``): the algos stop, what is left is cancelled, the feed
settles, and every order this process placed (and every order restored from ``--journal``) is
checked against the simulator's own record of it (state and filled quantity). Any difference makes
the exit status 1.

``--sim-url`` uses a simulator running in another process (``trading-engine sim``; faults are then
that process's ``--faults``), so that this one can be killed and restarted on the same venue with
the same ``--journal``. ``--risk-log`` appends every fill the risk hook is told to a file, one
``sub-account client-id quantity`` line each (fixed-point, 1e-8), written before the hook returns:
the per-sub-account totals over every run must equal the venue's fills of our orders.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import random
import signal
import sys
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..orders._fixed import fixed_to_str, to_fixed
from .algos import Algo, Chaser, MarketData, Scalper, SymbolInfo, Taker
from .engine import (
    FeedTap,
    PublishLag,
    RedisServer,
    TimedClient,
    add_engine_arguments,
    dead_man_seconds,
    entry_latency_text,
    loop_name,
    open_journal,
    order_entry,
)
from .metrics import EngineCollector, Latency, MetricsServer, fmt_seconds
from .view import (
    algo_orders,
    algo_states,
    event_line,
    merge_positions,
    notional_fp2,
    position_text,
    signed_notional,
)

log = logging.getLogger("trading_engine_python.cli.demo")

# Binance order status -> the manager's state (docs/binance-protocol.md, "Order update event").
_ALGO_STATE_OF = {"CANCELED": "cancelled", "EXPIRED": "expired", "REJECTED": "rejected"}
_STATE_OF = {
    "NEW": "active",
    "PARTIALLY_FILLED": "active",
    "FILLED": "filled",
    "CANCELED": "cancelled",
    "EXPIRED": "expired",
    "EXPIRED_IN_MATCH": "expired",
}

# Sizes: a level is a few max_fill_qty so that resting orders fill in parts.
_LEVEL_QTY = {"BTCUSDT": Decimal("0.005"), "ETHUSDT": Decimal("0.02")}
_TAKER_QTY = {"BTCUSDT": Decimal("0.003"), "ETHUSDT": Decimal("0.006")}
_CHASE_QTY = {"BTCUSDT": Decimal("0.004"), "ETHUSDT": Decimal("0.01")}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--duration",
        type=float,
        default=None,
        metavar="SECONDS",
        help="stop after this many seconds (default: run until Ctrl-C / SIGTERM)",
    )
    p.add_argument("--seed", type=int, default=1, help="seed of the price walk and the algos (default 1)")
    p.add_argument(
        "--symbols", default="BTCUSDT,ETHUSDT", help="comma-separated symbols (default BTCUSDT,ETHUSDT)"
    )
    add_engine_arguments(
        p,
        metrics_port_help="serve Prometheus metrics on 127.0.0.1:PORT/metrics (0 = any free port)",
        metrics_host_help=argparse.SUPPRESS,
    )
    p.add_argument("--levels", type=int, default=2, help="scalper quotes per side (default 2)")
    p.add_argument(
        "--reprice-ticks",
        type=int,
        default=4,
        help="scalper replaces a quote when its target moved this many ticks (default 4)",
    )
    p.add_argument(
        "--max-fill-qty",
        default="0.002",
        help="simulator: largest single trade, so orders fill in parts (default 0.002)",
    )
    p.add_argument(
        "--price-interval",
        type=float,
        default=0.2,
        help="simulator: seconds between price-walk steps (default 0.2)",
    )
    p.add_argument(
        "--taker-interval",
        type=float,
        default=1.0,
        help="mean seconds between the taker's market orders (default 1.0)",
    )
    p.add_argument(
        "--faults",
        action="store_true",
        help="inject a fault every few seconds (dropped stream, lost replies, 503, duplicates, 429) and "
        "still require every order to match the simulator",
    )
    p.add_argument(
        "--fault-interval", type=float, default=3.0, help="mean seconds between faults (default 3)"
    )
    p.add_argument(
        "--sim-url",
        default=None,
        metavar="URL",
        help="use the simulator already running at URL (`trading-engine sim`) instead of an embedded one",
    )
    p.add_argument(
        "--desk",
        default=None,
        help="append -DESK to every sub-account id (longer than the 8 characters a client order id carries)",
    )
    p.add_argument(
        "--risk-log",
        default=None,
        metavar="FILE",
        help="append every fill the risk hook is told to FILE (sub-account, client id, fixed-point quantity)",
    )
    p.add_argument("--no-redis", action="store_true", help="do not start redis-server even if it is on PATH")
    p.add_argument("--plain", action="store_true", help="plain log lines even on a terminal")
    p.add_argument(
        "--interval", type=float, default=2.0, help="seconds between plain status lines (default 2)"
    )


@dataclass
class CheckResult:
    checked: int = 0
    states: Counter[str] = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.mismatches and self.checked > 0


class RemoteSim:
    """A simulator in another process (``--sim-url``): its URLs and its fixed test key."""

    api_key = "sim-key"  # the simulator's own test credentials (printed by `sim`); nothing secret

    def __init__(self, url: str) -> None:
        self.base_url = url.rstrip("/")
        self.ws_url = "ws" + self.base_url.removeprefix("http")
        self.ws_api_url = self.ws_url + "/ws-fapi/v1"

    async def stop(self) -> None:
        return None


async def all_orders(client: Any, symbol: str) -> list[dict[str, Any]]:
    """Every order of ``symbol`` the venue keeps (GET /fapi/v1/allOrders, paged by orderId;
    docs/binance-protocol.md, "REST endpoints")."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        params: dict[str, Any] = {"symbol": symbol, "limit": 1000}
        if after:
            params["orderId"] = after
        page = await client._request("GET", "/fapi/v1/allOrders", params, signed=True, weight=5)
        out.extend(page)
        if len(page) < 1000:
            return out
        after = int(page[-1]["orderId"]) + 1


class RiskTally:
    """The demo's risk hook: fills told, per sub-account (fixed-point), optionally appended to a
    file line by line before the hook returns (a restart test adds them up over every run)."""

    def __init__(self, path: str | None) -> None:
        self.totals: Counter[str] = Counter()
        self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644) if path else -1

    async def on_order_fill(self, order: Any) -> None:
        qty = to_fixed(repr(order.last_fill_qty))
        self.totals[order.sub_account_id] += qty
        if self.fd >= 0:
            os.write(self.fd, f"{order.sub_account_id} {order.client_order_id} {qty}\n".encode())

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class Demo:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.symbols = [s.strip().upper() for s in args.symbols.split(",") if s.strip()]
        self.registry: list[Any] = []
        self.algos: list[Algo] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.market = MarketData()
        self.sim: Any = None
        self.redis_server: RedisServer | None = None
        self.redis: Any = None
        self.raw_client: Any = None
        self.client: TimedClient | None = None
        self.manager: Any = None
        self.tap: FeedTap | None = None
        self.user_stream: Any = None
        self.market_stream: Any = None
        self.lag: PublishLag | None = None
        self.metrics: MetricsServer | None = None
        self.started = time.monotonic()
        self.stopped_at: float | None = None
        self.redis_note = ""
        self.recent_events: deque[str] = deque(maxlen=8)  # user-stream order events, for the view
        self.loop_name = "asyncio"
        self._closed = False
        self.faults: Any = None
        self.journal: Any = None
        self.restore_report: dict[str, int] | None = None
        self.risk: RiskTally | None = None
        self.remote_orders: dict[str, dict[str, Any]] = {}
        self.venue_algos: dict[str, dict[str, Any]] = {}  # clientAlgoId -> Query Algo Order answer

    # ── set-up ──

    async def start(self) -> None:
        from ..exchange import BinanceFuturesClient
        from ..feed import MarketStream, UserStreamService
        from ..orders.manager import OrderManager
        from ..sim import BinanceSimulator

        a = self.args
        self.loop_name = loop_name()
        if a.sim_url:
            self.sim = RemoteSim(a.sim_url)
            log.info("simulator at %s (another process)", self.sim.base_url)
        else:
            self.sim = BinanceSimulator(
                seed=a.seed,
                symbols=tuple(self.symbols),
                price_interval=a.price_interval,
                max_fill_qty=a.max_fill_qty,
            )
            await self.sim.start()
            log.info("simulator on %s (seed %d, max_fill_qty %s)", self.sim.base_url, a.seed, a.max_fill_qty)

        if not a.no_redis:
            server = RedisServer()
            if server.available:
                await server.start()
                self.redis_server = server
                import redis.asyncio as aioredis

                self.redis = aioredis.Redis(host="127.0.0.1", port=server.port)
                self.redis_note = f"redis-server on 127.0.0.1:{server.port} (private, events on pms:events:*)"
            else:
                self.redis_note = "no redis-server on PATH: order events go to the log"
        else:
            self.redis_note = "--no-redis: order events go to the log"
        log.info("%s", self.redis_note)

        # The simulator's own test credentials (printed by `sim` too); nothing secret.
        self.raw_client = BinanceFuturesClient(self.sim.api_key, "sim-secret", base_url=self.sim.base_url,
                                               ws_api_url=self.sim.ws_api_url)
        infos: dict[str, SymbolInfo] = {}
        for sym in self.symbols:
            rules = await self.raw_client.symbol_rules(sym)
            infos[sym] = SymbolInfo(sym, rules.tick_size, rules.step_size)
        self.client = TimedClient(self.raw_client)
        self.journal = open_journal(a)
        # The demo's algos of different sub-accounts quote the same book on one account: STP
        # expires the resting order rather than let it trade with its own account
        # (docs/binance-protocol.md, "Self-trade prevention").
        self.manager = OrderManager(
            self.client, self.redis, implementation=a.implementation, journal=self.journal,
            recording=a.record, order_entry=order_entry(a),
            self_trade_prevention="EXPIRE_MAKER", dead_man_seconds=dead_man_seconds(a),
        )
        if self.journal is not None or a.risk_log:
            self.risk = RiskTally(a.risk_log)
            self.manager.risk_engine = self.risk
        if self.redis is not None:
            self.lag = PublishLag(self.manager.publisher, self.redis)
            await self.lag.start()
            if not await self.manager.publisher.start(timeout=5.0):
                log.warning("the event publisher could not reach redis yet; events are buffered")
        if self.journal is not None:
            # Before the user stream: its frames must find the restored orders.
            self.restore_report = await self.manager.restore()
            log.info("journal %s: %s", self.args.journal, self.restore_report)
        if self.manager.order_entry == "ws":
            up = await self.manager.connect_order_entry()
            log.info("order entry over ws-fapi at %s (%s)", self.sim.ws_api_url,
                     "connected" if up else "REST until it connects")
        self.tap = FeedTap(self.manager)
        self.user_stream = UserStreamService(self.raw_client, self.tap, ws_url=self.sim.ws_url)
        # The event panel shows the user stream's order events in both modes: only they carry the
        # order's quantity, cumulative fill and this trade's size and price on every line.
        self.user_stream.add_listener("ORDER_TRADE_UPDATE", self._log_event)
        await self.user_stream.start()
        self.market_stream = MarketStream(
            self.sim.ws_url, self.symbols, on_book_ticker=self.market.on_book_ticker
        )
        await self.market_stream.start()
        if not await self.market.wait_first(self.symbols, 10.0):
            raise RuntimeError("no bookTicker from the simulator within 10 s")

        for sym in self.symbols:
            ask = self.market.best[sym][1]
            info = infos[sym]
            qty = _LEVEL_QTY.get(sym) or info.qty_for_notional(Decimal(100), ask)
            base = sym.removesuffix("USDT").removesuffix("USDC") or sym
            sub = ("mm-" + base.lower())[:8] + self._desk
            self.algos.append(
                Scalper(
                    self.manager,
                    sub,
                    info,
                    self.market,
                    self.registry,
                    qty=qty,
                    levels=a.levels,
                    reprice_ticks=a.reprice_ticks,
                    tap=self.tap,
                )
            )
        first = self.symbols[0]
        f_info = infos[first]
        self.algos.append(
            Chaser(
                self.manager,
                "chaser" + self._desk,
                f_info,
                self.market,
                self.registry,
                qty=_CHASE_QTY.get(first) or f_info.qty_for_notional(Decimal(80), self.market.best[first][1]),
                rng=random.Random(a.seed + 1),
                tap=self.tap,
            )
        )
        taker_qty = {
            s: _TAKER_QTY.get(s) or infos[s].qty_for_notional(Decimal(60), self.market.best[s][1])
            for s in self.symbols
        }
        self.algos.append(
            Taker(
                self.manager,
                "taker" + self._desk,
                self.symbols,
                taker_qty,
                self.registry,
                interval=a.taker_interval,
                rng=random.Random(a.seed + 2),
                tap=self.tap,
                market=self.market,
                ticks={s: infos[s].tick for s in self.symbols},
            )
        )

        if a.metrics_port is not None:
            collector = EngineCollector(
                self.manager,
                user_stream=self.user_stream,
                market_stream=self.market_stream,
                client=self.raw_client,
                latencies=self.latencies(),
                orders_by_state=self.orders_by_state,
            )
            self.metrics = MetricsServer(collector, a.metrics_port, a.metrics_host)
            await self.metrics.start()
            log.info("Prometheus metrics on %s", self.metrics.url)
        if a.faults:
            from .faults import FaultInjector

            self.faults = FaultInjector(self.sim, a.fault_interval, random.Random(a.seed + 3))
            self.faults.start()
            log.info("fault injection on: one every ~%.1f s", a.fault_interval)
        self.started = time.monotonic()
        for algo in self.algos:
            self.tasks.append(asyncio.create_task(algo.run(), name=f"algo-{algo.sub}"))

    @property
    def _desk(self) -> str:
        return f"-{self.args.desk}" if self.args.desk else ""

    def _log_event(self, msg: dict[str, Any]) -> None:
        o = msg.get("o")
        if not isinstance(o, dict):
            return
        line = event_line(o)
        self.recent_events.append(line)
        if self.redis is None:
            log.info("event %s", line)

    def latencies(self) -> dict[str, Latency]:
        assert self.tap is not None and self.client is not None
        out = {"feed_to_callback": self.tap.to_callback, "feed_frame": self.tap.frame}
        if self.lag is not None:
            out["publish_lag"] = self.lag.latency
        out.update(self.client.latencies())
        return out

    def orders_by_state(self) -> dict[str, int]:
        c: Counter[str] = Counter(o.state for o in self.registry)
        return dict(c)

    def elapsed(self) -> float:
        end = self.stopped_at if self.stopped_at is not None else time.monotonic()
        return end - self.started

    # ── shutdown ──

    async def stop_algos(self, timeout: float = 10.0) -> None:
        self.stopped_at = time.monotonic()
        if self.faults is not None:
            await self.faults.stop()
        for algo in self.algos:
            algo.stop()
        if self.tasks:
            _done, pending = await asyncio.wait(self.tasks, timeout=timeout)
            for t in pending:
                log.warning("%s did not stop within %.0fs; cancelling it", t.get_name(), timeout)
                t.cancel()
            for t in self.tasks:
                with contextlib.suppress(BaseException):
                    await t

    async def settle(self, timeout: float = 20.0) -> int:
        """Cancel what is left and wait for the feed to confirm; returns the orders still live."""
        m = self.manager
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        last_cancel = 0.0
        quiet_since = loop.time()
        frames = self.user_stream.stats()["frames"]
        while loop.time() < deadline:
            live = m.get_active_orders()
            now = loop.time()
            if live and now - last_cancel >= 1.0:
                last_cancel = now
                for sym in {o.symbol for o in live}:
                    await m.cancel_all_orders_for_symbol(sym)
            f = self.user_stream.stats()["frames"]
            if f != frames:
                frames, quiet_since = f, now
            if not live and now - quiet_since >= 0.5:
                return 0
            await asyncio.sleep(0.05)
        return len(m.get_active_orders())

    async def fetch_remote(self) -> None:
        """The venue's record of every algo order placed or restored here and, with ``--sim-url``,
        of every order (``check`` reads them)."""
        if isinstance(self.sim, RemoteSim):
            for sym in self.symbols:
                for rec in await all_orders(self.raw_client, sym):
                    self.remote_orders[rec["clientOrderId"]] = rec
        restored = self.manager.restored if self.manager is not None else []
        for o in [*restored, *self.registry]:
            cid = o.client_order_id
            if not o.is_algo or cid in self.venue_algos:
                continue
            try:
                self.venue_algos[cid] = await self.raw_client.get_algo_order(o.symbol, client_algo_id=cid)
            except Exception as exc:  # -2013 and the like (a transport error too: reported below)
                log.info("algo order %s: %s", cid, exc)  # unknown to the venue: check() says so

    def _venue_order(self, cid: str) -> Any:
        if isinstance(self.sim, RemoteSim):
            return self.remote_orders.get(cid)
        return self.sim.orders_by_client_id(cid)

    def check(self) -> CheckResult:
        """Every order placed here, or restored from the journal, against the simulator's record:
        state and filled quantity."""
        res = CheckResult()
        seen: set[str] = set()
        restored = self.manager.restored if self.manager is not None else []
        for o in [*restored, *self.registry]:
            cid = o.client_order_id
            if cid in seen:
                continue
            seen.add(cid)
            res.checked += 1
            ours = o.state
            res.states[ours] += 1
            if o.is_algo:
                problem = self._check_algo(o)
                if problem:
                    res.mismatches.append(problem)
                continue
            rec = self._venue_order(cid)
            if ours in ("rejected", "failed"):
                # A definite REST reject (e.g. GTX -5022, "not recorded in the order history"),
                # or resolved as never placed: the venue must not hold it.
                if rec is not None:
                    res.mismatches.append(f"{cid}: {ours} here, {rec['status']} at the exchange")
                continue
            if rec is None:
                res.mismatches.append(f"{cid}: {ours} here, unknown to the exchange")
                continue
            theirs = _STATE_OF.get(rec["status"], rec["status"])
            if o.is_live or theirs == "active":
                res.mismatches.append(f"{cid}: still open ({ours} here, {rec['status']} at the exchange)")
                continue
            if theirs != ours:
                res.mismatches.append(f"{cid}: {ours} here, {rec['status']} at the exchange")
            filled = to_fixed(rec["executedQty"])
            if filled != o.filled_fp:
                res.mismatches.append(
                    f"{cid}: filled {fixed_to_str(o.filled_fp)} here, {rec['executedQty']} at the exchange"
                )
        return res

    def _check_algo(self, o: Any) -> str | None:
        """An algo order against the Algo API's record and, once triggered, the order it created
        (same client id; its fills are the algo order's)."""
        cid, ours = o.client_order_id, o.state
        rec = self.venue_algos.get(cid)
        if rec is None:
            return None if ours in ("rejected", "failed") else f"{cid}: {ours} here, unknown to the Algo API"
        status = rec.get("algoStatus")
        created = self._venue_order(cid) if rec.get("actualOrderId") else None
        if o.is_live or status in ("NEW", "TRIGGERING") or (
                created is not None and created["status"] in ("NEW", "PARTIALLY_FILLED")):
            return f"{cid}: still open ({ours} here, {status} at the Algo API)"
        if created is None:
            expected: tuple[str, ...] = (_ALGO_STATE_OF.get(str(status), str(status)),)
            filled = 0
        else:
            expected = ("filled",) if created["status"] == "FILLED" else ("cancelled", "expired", "finished")
            filled = to_fixed(created["executedQty"])
        if ours not in expected:
            return f"{cid}: {ours} here, {status} at the Algo API"
        if filled != o.filled_fp:
            return f"{cid}: filled {fixed_to_str(o.filled_fp)} here, {fixed_to_str(filled)} at the exchange"
        return None

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        steps: list[tuple[str, Any]] = []
        if self.market_stream is not None:
            steps.append(("market stream", self.market_stream.stop()))
        if self.user_stream is not None:
            steps.append(("user stream", self.user_stream.stop()))
        for what, coro in steps:
            try:
                await asyncio.wait_for(coro, 10.0)
            except Exception as exc:
                log.warning("stopping the %s: %s", what, exc)
        if self.manager is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.manager.close(), 10.0)
        if self.lag is not None:
            pub = self.manager.publisher
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 2.0
            while self.lag.last_seq < pub.last_seq and loop.time() < deadline:
                await asyncio.sleep(0.02)
            await self.lag.stop()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
        if self.redis_server is not None:
            await self.redis_server.stop()
        if self.journal is not None:
            with contextlib.suppress(Exception):
                self.journal.close()
        if self.risk is not None:
            self.risk.close()
        if self.raw_client is not None:
            with contextlib.suppress(Exception):
                await self.raw_client.close()
        if self.metrics is not None:
            await self.metrics.stop()
        if self.sim is not None:
            with contextlib.suppress(Exception):
                await self.sim.stop()

    # ── reporting ──

    def totals(self) -> dict[str, int]:
        t: Counter[str] = Counter()
        for algo in self.algos:
            st = algo.stats
            for k in ("placed", "fills", "partials", "filled", "cancels", "rejected", "replaces", "errors"):
                t[k] += getattr(st, k)
        return dict(t)

    def summary_lines(self, res: CheckResult, left: int) -> list[str]:
        t = self.totals()
        m = self.manager.stats()
        amends = sum(algo.stats.extra.get("amends", 0) for algo in self.algos)
        moved = t["replaces"] - amends  # cancel-then-place
        lines = [
            f"== demo summary: {self.elapsed():.1f} s, order core {self.manager.implementation}, "
            f"{self.loop_name}, {self.redis_note}",
            f"orders placed {t['placed']} + {moved} by replace, {amends} repriced in place | fill events "
            f"{t['fills']} (partial {t['partials']}, orders filled {t['filled']}) | cancels {t['cancels']} "
            f"(of which {moved} by replace) | "
            f"rejected {t['rejected']} (post-only -5022: the book moved first) | algo errors {t['errors']}",
        ]
        for algo in self.algos:
            st = algo.stats
            extra = "".join(f" {k}={v}" for k, v in st.extra.items())
            lines.append(
                f"  {algo.sub:<8} {algo.kind:<7} {','.join(algo.symbols):<16} placed={st.placed} "
                f"replaces={st.replaces} fills={st.fills} partials={st.partials} filled={st.filled} "
                f"cancels={st.cancels} rejected={st.rejected}{extra} | net {position_text(st.positions)} "
                f"notional {signed_notional(notional_fp2(st.positions))}"
            )
        every = merge_positions(algo.stats.positions for algo in self.algos)
        lines.append(
            f"net position (from fills, BUY +, SELL -): {position_text(every)}, notional at fill prices "
            f"{signed_notional(notional_fp2(every))} USDT"
        )
        conditional = algo_orders(self)
        triggered = sum(getattr(algo, "triggered", 0) for algo in self.algos)
        lines.append(
            f"algo (conditional) orders {len(conditional)}: {algo_states(conditional)} "
            f"(protective stops of the taker's positions; triggered {triggered})"
        )
        dm = m.get("dead_man")
        if isinstance(dm, dict):
            lines.append(
                f"dead-man switch: countdownCancelAll {dm['seconds']:g} s, renewals {dm['renewals']}, "
                f"failures {dm['failures']}"
            )
        assert self.tap is not None and self.client is not None
        lat = [
            ("feed->callback", self.tap.to_callback),
            ("feed frame", self.tap.frame),
            ("REST place", self.client.place),
            ("REST cancel", self.client.cancel),
        ]
        if self.lag is not None:
            lat.append(("event publish lag", self.lag.latency))
        parts = []
        for name, la in lat:
            p50, p99 = la.percentiles(0.5, 0.99, recent=False)
            parts.append(f"{name} p50 {fmt_seconds(p50)} p99 {fmt_seconds(p99)} (n={la.count})")
        lines.append("latency: " + " | ".join(parts))
        lines.append(f"order entry ({self.manager.order_entry}; request round trips): "
                     f"{entry_latency_text(self.manager)}; requests ws {m.get('entry_ws', 0)}, "
                     f"REST {m.get('entry_rest', 0)} (fallbacks {m.get('entry_fallbacks', 0)}), "
                     f"amends {m.get('amends', 0)}")
        ev = m.get("events")
        if isinstance(ev, dict):
            lines.append(
                f"events: published {ev['published']}, dropped {ev['dropped']}, buffered {ev['buffered']}, "
                f"seen by the subscriber {self.lag.received if self.lag else 0} "
                f"(seq gaps {self.lag.gaps if self.lag else 0})"
            )
        us = self.user_stream.stats()
        lines.append(
            f"feed: {us['frames']} user-stream frames, {m.get('malformed', 0)} malformed, "
            f"{m.get('unknown_ids', 0)} unknown ids, {us['reconnects']} reconnects; callbacks failed "
            f"{m.get('callback_errors', 0)}; REST unknown outcomes {m.get('unknown_outcomes', 0)}, "
            f"rate-limit waits {self.raw_client.stats.get('paced_waits', 0)}"
        )
        if self.restore_report is not None and self.risk is not None:
            r = self.restore_report
            told = " ".join(f"{s}={fixed_to_str(q)}" for s, q in sorted(self.risk.totals.items()))
            lines.append(
                f"journal: restored {r.get('restored', 0)} orders ({r.get('live', 0)} live, "
                f"{r.get('risk_owed', 0)} owed the risk hook a fill), adopted {r.get('adopted', 0)}; "
                f"risk hook told this run: {told or 'nothing'}"
            )
        if self.faults is not None:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.injected.items())) or "none yet"
            lines.append(
                f"faults injected: {self.faults.total} ({kinds}); status queries "
                f"{m.get('status_queries', 0)}, late fills {m.get('late_fills', 0)}, "
                f"stale events {m.get('stale', 0)}, reconciles {us['reconciles']}"
            )
        states = ", ".join(f"{k} {v}" for k, v in sorted(res.states.items()))
        if res.checked == 0:
            lines.append(
                "reconciliation FAILED: no order was placed, so nothing could be checked "
                "(see the errors above)"
            )
        elif res.ok:
            lines.append(
                f"reconciliation: all {res.checked} orders match the simulator (state and filled "
                f"quantity): {states}"
            )
        else:
            lines.append(
                f"reconciliation FAILED: {len(res.mismatches)} of {res.checked} orders differ from the "
                f"simulator ({left} still live after settling): {states}"
            )
            lines.extend("  " + x for x in res.mismatches[:30])
            if len(res.mismatches) > 30:
                lines.append(f"  ... and {len(res.mismatches) - 30} more")
        return lines


async def run_demo(args: argparse.Namespace) -> int:
    from .view import View

    demo = Demo(args)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()

    def on_signal() -> None:
        if not stop.is_set():
            stop.set()
        elif main_task is not None:
            # A second Ctrl-C while stopping: give up on the orderly stop and the check.
            print("second signal: aborting without the reconciliation check", file=sys.stderr, flush=True)
            main_task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal)
    tty = sys.stdout.isatty() and not args.plain
    view: View | None = None
    code = 1
    try:
        try:
            await demo.start()
        except Exception as exc:
            log.error(
                "the demo could not start: %s: %s",
                type(exc).__name__,
                exc,
                exc_info=log.isEnabledFor(logging.DEBUG),
            )
            return 1
        view = View(demo, tty=tty, interval=args.interval)
        view.start()
        try:
            await asyncio.wait_for(stop.wait(), args.duration)
        except TimeoutError:
            pass
        await view.stop()
        view = None
        print("stopping: algos, then cancelling what is left and waiting for the feed...", flush=True)
        await demo.stop_algos()
        left = await demo.settle()
        await demo.fetch_remote()
        res = demo.check()
        await demo.close()  # streams down, events flushed to Redis: the summary shows final counts
        for line in demo.summary_lines(res, left):
            print(line, flush=True)
        code = 0 if res.ok else 1
    finally:
        if view is not None:
            await view.stop()
        await demo.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return code
