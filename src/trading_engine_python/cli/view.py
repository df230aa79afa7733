"""The demo's live view: a rich table on a terminal, plain log lines every few seconds otherwise."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from ..orders._fixed import FP_SCALE, fixed_to_str
from .algos import Position
from .engine import cancel_and_wait, entry_latency_text
from .metrics import fmt_seconds

# ── pure formatting helpers (tested without a terminal) ──


def plain_number(text: object) -> str:
    """A feed decimal string without trailing zeros ("0.00400" -> "0.004"); other text unchanged."""
    try:
        d = Decimal(str(text))
    except InvalidOperation:
        return str(text)
    if not d.is_finite():
        return str(text)
    out = format(d, "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def _is_zero(text: object) -> bool:
    try:
        return Decimal(str(text)) == 0
    except InvalidOperation:
        return True


def event_line(o: Mapping[str, Any]) -> str:
    """One ORDER_TRADE_UPDATE ``o`` object as a line: status, id, symbol, side, type, then
    ``filled/quantity @ price`` (``z``/``q`` @ ``p``; a market order shows its average ``ap``) and,
    for a trade, ``+last_qty @ last_price`` (``l`` @ ``L``). Keys: docs/binance-protocol.md,
    "Order update event"."""
    price = o.get("p")
    if _is_zero(price):
        avg = o.get("ap")
        shown = f"MKT avg {plain_number(avg)}" if not _is_zero(avg) else "MKT"
    else:
        shown = plain_number(price)
    line = (
        f"{o.get('X')} {o.get('c')} {o.get('s')} {o.get('S')} {o.get('o')} "
        f"{plain_number(o.get('z', '0'))}/{plain_number(o.get('q', '?'))} @ {shown}"
    )
    if o.get("x") == "TRADE":
        line += f" +{plain_number(o.get('l', '0'))} @ {plain_number(o.get('L', '0'))}"
    return line


def signed_qty(fp: int) -> str:
    """A fixed-point quantity with its sign: +0.004, -0.1, 0."""
    return ("+" if fp > 0 else "") + fixed_to_str(fp)


def signed_notional(fp2: int) -> str:
    """A notional in 1e-16 units (qty_fp * price_fp) as quote currency, 2 decimals, signed."""
    value = Decimal(fp2) / (FP_SCALE * FP_SCALE)
    return f"{value:+,.2f}" if fp2 else "0.00"


def position_text(positions: Mapping[str, Position]) -> str:
    """Net position per symbol ("BTCUSDT +0.004 ETHUSDT -0.1"); symbols that are flat are left
    out, "flat" when all are."""
    parts = [f"{sym} {signed_qty(p.qty_fp)}" for sym, p in sorted(positions.items()) if p.qty_fp]
    return " ".join(parts) or "flat"


def notional_fp2(positions: Mapping[str, Position]) -> int:
    """Signed notional at fill prices, summed over symbols (quote currency; every demo symbol is
    quoted in USDT)."""
    return sum(p.notional_fp2 for p in positions.values())


def merge_positions(books: Iterable[Mapping[str, Position]]) -> dict[str, Position]:
    """The positions of several sub-accounts added up per symbol."""
    out: dict[str, Position] = {}
    for book in books:
        for sym, p in book.items():
            acc = out.setdefault(sym, Position())
            acc.qty_fp += p.qty_fp
            acc.notional_fp2 += p.notional_fp2
    return out


def algo_orders(demo: Any) -> list[Any]:
    """The demo's conditional (Algo API) orders, restored ones first, oldest first."""
    seen: set[str] = set()
    out = []
    manager = getattr(demo, "manager", None)
    for o in [*getattr(manager, "restored", ()), *getattr(demo, "registry", ())]:
        if o.is_algo and o.client_order_id not in seen:
            seen.add(o.client_order_id)
            out.append(o)
    return out


def algo_states(orders: Iterable[Any]) -> str:
    """``active 1, cancelled 3``: the algo orders by state, live states first."""
    counts: dict[str, int] = {}
    for o in orders:
        counts[o.state] = counts.get(o.state, 0) + 1
    order = ("placing", "active", "cancelling", "triggering", "triggered")
    keys = sorted(counts, key=lambda k: (order.index(k) if k in order else len(order), k))
    return ", ".join(f"{k} {counts[k]}" for k in keys) or "none"


def algo_line(o: Any, trigger: Any = None) -> str:
    """One algo order: state, id, symbol, side, type, filled/quantity, and its trigger price."""
    at = f" trigger {trigger}" if trigger is not None else ""
    return (f"{o.state.upper()} {o.client_order_id} {o.symbol} {o.side} {o.order_type} "
            f"{fixed_to_str(o.filled_fp)}/{fixed_to_str(o.quantity_fp)}{at}")


class _Rate:
    """Events per second over a sliding window of a few seconds."""

    def __init__(self, window: float = 3.0) -> None:
        self.window = window
        self._points: deque[tuple[float, int]] = deque([(time.monotonic(), 0)])

    def update(self, total: int) -> float:
        now = time.monotonic()
        pts = self._points
        pts.append((now, total))
        while len(pts) > 2 and now - pts[0][0] > self.window:
            pts.popleft()
        t0, v0 = pts[0]
        return (total - v0) / (now - t0) if now > t0 else 0.0


class View:
    def __init__(self, demo: Any, *, tty: bool, interval: float = 2.0) -> None:
        self.demo = demo
        self.tty = tty
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._orders = _Rate()
        self._fills = _Rate()
        self._live: Any = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run_tty() if self.tty else self._run_plain(), name="demo-view")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        if self._live is not None:
            with contextlib.suppress(Exception):
                self._live.stop()
            self._live = None

    # ── figures shared by both modes ──

    def figures(self) -> dict[str, Any]:
        d = self.demo
        t = d.totals()
        m = d.manager.stats()
        f: dict[str, Any] = dict(t)
        f["orders_s"] = self._orders.update(t["placed"] + t["replaces"])
        f["fills_s"] = self._fills.update(t["fills"])
        f["open"] = m.get("live", 0)
        f["cb"] = d.tap.to_callback.percentiles(0.5, 0.99)
        f["frame"] = d.tap.frame.percentiles(0.5, 0.99)
        f["rest"] = d.client.all.percentiles(0.5, 0.99)
        f["lag"] = d.lag.latency.percentiles(0.5, 0.99) if d.lag is not None else (None, None)
        f["events"] = m.get("events")
        f["entry"] = entry_latency_text(d.manager)
        f["frames"] = d.user_stream.stats()["frames"]
        f["reconnects"] = d.user_stream.stats()["reconnects"] + d.market_stream.stats()["reconnects"]
        f["malformed"] = m.get("malformed", 0)
        f["paced"] = d.raw_client.stats.get("paced_waits", 0)
        f["faults"] = d.faults.total if d.faults is not None else None
        f["notional"] = signed_notional(notional_fp2(merge_positions(a.stats.positions for a in d.algos)))
        f["algo_orders"] = algo_orders(d)
        return f

    # ── plain ──

    def line(self) -> str:
        f = self.figures()
        ev = f["events"]
        events = (
            f"events pub={ev['published']} buf={ev['buffered']} drop={ev['dropped']} "
            f"lag p50={fmt_seconds(f['lag'][0])} p99={fmt_seconds(f['lag'][1])}"
            if isinstance(ev, dict)
            else "events -> log"
        )
        return (
            f"[{self.demo.elapsed():6.1f}s] orders/s={f['orders_s']:.1f} placed={f['placed']} "
            f"replaces={f['replaces']} fills={f['fills']} partials={f['partials']} cancels={f['cancels']} "
            f"rejected={f['rejected']} open={f['open']} net notional={f['notional']} | "
            f"feed->cb p50={fmt_seconds(f['cb'][0])} p99={fmt_seconds(f['cb'][1])} | "
            f"REST p50={fmt_seconds(f['rest'][0])} p99={fmt_seconds(f['rest'][1])} | {events} | "
            f"entry: {f['entry']}"
            + (f" | faults={f['faults']} reconnects={f['reconnects']}" if f["faults"] is not None else "")
            + (f" | algo orders: {algo_states(f['algo_orders'])}" if f["algo_orders"] else "")
        )

    async def _run_plain(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            print(self.line(), flush=True)

    # ── rich ──

    def render(self) -> Any:
        from rich.console import Group
        from rich.panel import Panel
        from rich.table import Table

        d = self.demo
        f = self.figures()
        head = Table.grid(padding=(0, 3))
        for _ in range(4):
            head.add_column()
        ev = f["events"]
        head.add_row(
            f"[b]orders/s[/b] {f['orders_s']:.1f}",
            f"[b]fills/s[/b] {f['fills_s']:.1f}",
            f"[b]open orders[/b] {f['open']}",
            f"[b]user frames[/b] {f['frames']}",
        )
        head.add_row(
            f"[b]feed→callback[/b] p50 {fmt_seconds(f['cb'][0])} p99 {fmt_seconds(f['cb'][1])}",
            f"[b]REST[/b] p50 {fmt_seconds(f['rest'][0])} p99 {fmt_seconds(f['rest'][1])}",
            f"[b]event lag[/b] p50 {fmt_seconds(f['lag'][0])} p99 {fmt_seconds(f['lag'][1])}",
            f"[b]frame in core[/b] p50 {fmt_seconds(f['frame'][0])}",
        )
        head.add_row(
            (
                f"[b]events[/b] published {ev['published']} buffered {ev['buffered']} dropped {ev['dropped']}"
                if isinstance(ev, dict)
                else "[b]events[/b] → log (no Redis)"
            ),
            f"[b]reconnects[/b] {f['reconnects']}"
            + (f"   [b]faults[/b] {f['faults']}" if f["faults"] is not None else ""),
            f"[b]malformed[/b] {f['malformed']}",
            f"[b]rate-limit waits[/b] {f['paced']}",
        )
        head.add_row(f"[b]order entry[/b] {f['entry']}", "", "", "")

        table = Table(expand=True, show_edge=False)
        for col in (
            "sub-account",
            "algo",
            "symbols",
            "placed",
            "replaces",
            "fills",
            "partials",
            "filled",
            "cancels",
            "rejected",
            "open",
            "net position",
            "notional",
        ):
            left = col in ("sub-account", "algo", "symbols", "net position")
            table.add_column(col, justify="left" if left else "right")
        for algo in d.algos:
            st = algo.stats
            table.add_row(
                algo.sub,
                algo.kind,
                ",".join(algo.symbols),
                str(st.placed),
                str(st.replaces),
                str(st.fills),
                str(st.partials),
                str(st.filled),
                str(st.cancels),
                str(st.rejected),
                str(len(d.manager.get_active_orders(algo.sub))),
                position_text(st.positions),
                signed_notional(notional_fp2(st.positions)),
            )
        every = merge_positions(algo.stats.positions for algo in d.algos)
        table.add_row(
            "[b]total",
            "",
            "",
            str(f["placed"]),
            str(f["replaces"]),
            str(f["fills"]),
            str(f["partials"]),
            str(f["filled"]),
            str(f["cancels"]),
            str(f["rejected"]),
            str(f["open"]),
            position_text(every),
            signed_notional(notional_fp2(every)),
        )
        recent = list(d.recent_events or ())
        events = Panel(
            "\n".join(recent[-6:]) or "-",
            title="latest order events (user stream): status id symbol side type filled/qty @ price "
            "[+fill qty @ fill price]",
            title_align="left",
        )
        triggers: dict[str, Any] = {}
        for algo in d.algos:
            triggers.update(getattr(algo, "triggers", {}))
        algos = f["algo_orders"]
        conditional = Panel(
            "\n".join(algo_line(o, triggers.get(o.client_order_id)) for o in algos[-6:]) or "-",
            title=f"algo (conditional) orders: {algo_states(algos)}",
            title_align="left",
        )
        prices = "  ".join(f"{s} {b}/{a}" for s, (b, a) in sorted(d.market.best.items()))
        title = (
            f"trading_engine_python demo: {d.elapsed():.0f}s, core {d.manager.implementation}, "
            f"{d.loop_name}   {prices}"
        )
        dur = d.args.duration
        sub = f"{d.redis_note}   " + (
            "Ctrl-C stops" if dur is None else f"stops after {dur:.0f}s (Ctrl-C sooner)"
        )
        return Panel(Group(head, table, conditional, events), title=title, subtitle=sub, title_align="left")

    async def _run_tty(self) -> None:
        import logging
        import sys

        from rich.live import Live

        with Live(self.render(), refresh_per_second=4, transient=False) as live:
            self._live = live
            # Live redirects sys.stderr so that writes land above the table; the log handlers
            # still hold the real stream, so point them at the redirect while the view is up.
            moved = []
            for h in logging.getLogger().handlers:
                if isinstance(h, logging.StreamHandler) and h.stream in (sys.__stderr__, sys.__stdout__):
                    moved.append((h, h.setStream(sys.stderr)))
            try:
                while True:
                    await asyncio.sleep(0.5)
                    live.update(self.render())
            finally:
                for h, old_stream in moved:
                    if old_stream is not None:
                        h.setStream(old_stream)
