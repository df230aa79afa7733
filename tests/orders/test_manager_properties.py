"""Property test: random sequences of manager operations and feed events
(every input form, garbage included) through two managers, one per core, with identical scripted
fake exchanges; they must end identical: every order's to_dict(), the stats() counters and the
callback and risk-hook logs. Each run also checks the rules that must hold whatever happens: a
terminal state never goes back to a live one, the filled quantity never goes down, on_fill and
on_cancel fire at most once per order, and one intent never has two live orders.

The cross-core test needs the compiled core, so it is skipped when run without extensions;
the same machinery then still runs python against python (determinism plus the invariants).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading_engine_python.exchange import ExchangeError, ExchangeTimeout
from trading_engine_python.orders.manager import OrderManager

from ._manager_util import FORMS, FakeClock, FakeExchange, otu, render, rest_order, settle
from .test_manager import bad_inputs

UNIT = 100_000  # 0.001 in fixed point (1e-8 units)
SUBS = ("sub1", "sub2", "5f2c8e0a-9b1d")
SYMBOLS = ("BTCUSDT", "ETHUSDT")
STATUSES = ("NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED",
            "NEW_INSURANCE", "TRIGGERED")
Z_MOVES = ("same", "stale", "part", "part", "part", "rest", "over", "none")
REPLIES = ("ok", "ok", "ok", "timeout", "reject", "boom", "no_id")
CANCEL_REPLIES = ("ok", "ok", "unknown", "timeout", "refused")
HOOKS = ("none", "sync", "async", "raises", "lambda")


def fp_str(fp: int) -> str:
    whole, frac = divmod(fp, 100_000_000)
    return f"{whole}.{frac:08d}".rstrip("0").rstrip(".") if frac else str(whole)


place_op = st.tuples(st.just("place"), st.sampled_from(("market", "limit")), st.integers(0, 2),
                    st.integers(0, 1), st.integers(1, 20), st.integers(1, 5), st.sampled_from(HOOKS),
                    st.sampled_from(REPLIES))
event_op = st.tuples(st.just("event"), st.integers(0, 40), st.sampled_from(STATUSES),
                     st.sampled_from(Z_MOVES), st.sampled_from(FORMS), st.booleans())
other_ops = st.one_of(
    st.tuples(st.just("cancel"), st.integers(0, 41), st.sampled_from(CANCEL_REPLIES)),
    st.tuples(st.just("replace"), st.integers(0, 40), st.integers(1, 5), st.sampled_from((None, 1, 3, 30)),
              st.sampled_from(CANCEL_REPLIES)),
    st.tuples(st.just("cancel_all"), st.integers(0, 1)),
    st.tuples(st.just("garbage"), st.integers(0, 60), st.sampled_from(FORMS), st.integers(0, 40)),
    st.tuples(st.just("other"), st.sampled_from(FORMS)),
    st.tuples(st.just("advance"), st.sampled_from((0.5, 2.0, 7.0))),
    st.tuples(st.just("reconcile"), st.sampled_from(STATUSES[:5]), st.sampled_from(Z_MOVES)),
)
# A few placements first, then a mix in which feed events are the most common step.
ops = st.builds(lambda first, rest: first + rest, st.lists(place_op, min_size=1, max_size=4),
                st.lists(st.one_of(event_op, event_op, event_op, place_op, other_ops),
                         min_size=8, max_size=50))

config = st.tuples(st.sampled_from((5.0, 600.0)), st.sampled_from((0, 2, 100)), st.booleans())


class Run:
    """One manager on one core, with everything it did written down in a core-neutral form."""

    def __init__(self, impl: str, ttl: float, cap: int, risk: bool) -> None:
        self.clock = FakeClock()
        self.fake = FakeExchange()
        self.risk_log: list[tuple[Any, ...]] = []
        self.m = OrderManager(self.fake, risk_engine=self if risk else None, implementation=impl,
                              resolve_timeout=1000.0, replace_timeout=1000.0, stuck_timeout=0,
                              terminal_ttl=ttl, terminal_max=cap, clock=self.clock)
        self.orders: list[Any] = []
        self.names: dict[str, str] = {}
        self.intent: dict[str, int] = {}
        self.log: list[tuple[Any, ...]] = []
        self.tasks: list[asyncio.Task[Any]] = []
        self.seen_terminal: set[str] = set()
        self.filled: dict[str, int] = {}

    async def on_order_fill(self, order: Any) -> None:  # the risk hook
        self.risk_log.append((self.name(order), order.last_fill_qty, order.last_fill_price, order.filled_qty,
                              order.state))

    def name(self, order: Any) -> str:
        # A callback can come before place_* returns (a rejection): name the order at first sight.
        self.track(order)
        return self.names[order.client_order_id]

    def track(self, order: Any, intent: int | None = None) -> None:
        if order.client_order_id in self.names:
            return
        self.names[order.client_order_id] = f"#{len(self.orders)}"
        self.intent[order.client_order_id] = len(self.orders) if intent is None else intent
        self.orders.append(order)

    def hooks(self, kind: str) -> dict[str, Any]:
        if kind == "none":
            return {}
        out: dict[str, Any] = {}
        for what in ("fill", "cancel", "partial"):
            def record(order: Any, what: str = what) -> None:
                self.log.append((what, self.name(order), order.state, order.filled_qty, order.last_fill_qty))
                if kind == "raises":
                    raise RuntimeError("callback failed on purpose")

            if kind == "async":
                async def acb(order: Any, record: Any = record) -> None:
                    await asyncio.sleep(0)
                    record(order)
                out[f"on_{what}"] = acb
            elif kind == "lambda":
                async def later(order: Any, record: Any = record) -> None:
                    record(order)
                out[f"on_{what}"] = lambda order, later=later: later(order)
            else:
                out[f"on_{what}"] = record
        return out

    def target(self, k: int) -> Any:
        return self.orders[k % len(self.orders)] if self.orders else None

    def frame(self, order: Any, status: str, move: str) -> dict[str, Any]:
        filled, qty = order.filled_fp, order.quantity_fp
        z = {"same": filled, "stale": max(filled - UNIT, 0), "part": min(filled + UNIT, qty), "rest": qty,
             "over": qty + UNIT, "none": None}[move]
        kw: dict[str, Any] = {"i": order.exchange_order_id or 4242, "s": order.symbol, "o": order.order_type}
        if z is None:
            kw.update(z=None, l=None, L=None, ap=None)
        else:
            kw.update(z=fp_str(z), l=fp_str(max(z - filled, 0)), L="65000.1", ap="65000.05")
        return otu(order.client_order_id, status, **kw)

    async def step(self, op: tuple[Any, ...]) -> None:
        m, fake = self.m, self.fake
        kind = op[0]
        if kind == "place":
            _, otype, sub, sym, units, px, hooks, reply = op
            if reply != "ok":
                fake.script("place_order", {
                    "timeout": ExchangeTimeout(-1007, "timeout"),
                    "reject": ExchangeError(-2019, "Margin is insufficient."),
                    "boom": ConnectionResetError("reset"), "no_id": {"status": "NEW"}}[reply])
            qty = fp_str(units * UNIT)
            if otype == "market":
                order = await m.place_market_order(SUBS[sub], SYMBOLS[sym], "BUY", qty, origin="TWAP",
                                                   parent_id=f"p{sub}", **self.hooks(hooks))
            else:
                order = await m.place_limit_order(SUBS[sub], SYMBOLS[sym], "SELL", qty, f"6500{px}.5",
                                                  parent_id=f"p{sub}", **self.hooks(hooks))
            self.track(order)
        elif kind == "event":
            _, k, status, move, form, sync = op
            order = self.target(k)
            if order is not None:
                data = render(self.frame(order, status, move), form)
                if sync and form == "bytes":
                    m.feed(data)
                else:
                    await m.on_order_update(data)
        elif kind == "cancel":
            _, k, reply = op
            self._script_cancel(reply)
            order = self.target(k)
            cid = order.client_order_id if order is not None and k % 7 else "PMSsub1_LMT_unknown0000"
            self.log.append(("cancel_order", self.names.get(cid, "?"), await m.cancel_order(cid)))
        elif kind == "replace":
            _, k, px, qty, reply = op
            order = self.target(k)
            if order is not None:
                self._script_cancel(reply)
                new_qty = None if qty is None else fp_str(qty * UNIT)
                task = asyncio.ensure_future(m.replace_order(order.client_order_id, f"6600{px}", new_qty))
                intent = self.intent[order.client_order_id]

                def done(t: asyncio.Task[Any], intent: int = intent, old: str = self.name(order)) -> None:
                    if not t.cancelled() and t.exception() is None:
                        self.log.append(("replaced", old, t.result() is not None))
                        if t.result() is not None:
                            self.track(t.result(), intent)

                task.add_done_callback(done)
                self.tasks.append(task)
        elif kind == "cancel_all":
            self.log.append(("cancel_all", await m.cancel_all_orders_for_symbol(SYMBOLS[op[1]])))
        elif kind == "garbage":
            _, j, form, k = op
            order = self.target(k)
            bad = bad_inputs(order.client_order_id if order is not None else "PMSsub1_LMT_none0000", form)
            await m.on_order_update(bad[j % len(bad)])
        elif kind == "other":
            await m.on_order_update(render({"e": "ACCOUNT_UPDATE", "E": 1, "T": 1, "a": {"m": "ORDER"}},
                                           "raw_dict" if op[1] == "mapped" else op[1]))
        elif kind == "advance":
            self.clock.advance(op[1])
        elif kind == "reconcile":
            _, status, move = op

            def answer(**kw: Any) -> Any:
                order = m.get_order(kw["client_order_id"])
                if order is None or move == "none":
                    raise ExchangeError(-2013, "Order does not exist.")
                z = self.frame(order, status, move)["o"].get("z", "0")
                return rest_order(kw["client_order_id"], status, executed=z, avg="65000.05",
                                  order_id=order.exchange_order_id or 4242)

            fake.script("get_order", *[answer] * len(m.get_active_orders()))
            self.log.append(("reconcile", tuple(sorted((await m.reconcile()).items()))))
        await settle(6)
        for queue in fake.scripts.values():
            queue.clear()
        self.check()

    def _script_cancel(self, reply: str) -> None:
        answer = {"ok": None, "unknown": ExchangeError(-2011, "Unknown order sent."),
                  "timeout": ExchangeTimeout(-1007, "timeout"),
                  "refused": ExchangeError(-1003, "Too many requests.")}
        if reply != "ok":
            self.fake.script("cancel_order", answer[reply])

    def check(self) -> None:
        """The rules that hold after every step, whatever the sequence."""
        live_per_intent: dict[int, int] = {}
        for order in self.orders:
            cid = order.client_order_id
            if order.is_terminal:
                self.seen_terminal.add(cid)
            else:
                assert cid not in self.seen_terminal, "a terminal state went back to a live one"
                live_per_intent[self.intent[cid]] = live_per_intent.get(self.intent[cid], 0) + 1
            assert order.filled_fp >= self.filled.get(cid, 0), "the filled quantity went down"
            self.filled[cid] = order.filled_fp
        assert all(n <= 1 for n in live_per_intent.values()), "two live orders for one intent"
        for what in ("fill", "cancel"):
            names = [e[1] for e in self.log if e[0] == what]
            assert len(names) == len(set(names)), f"on_{what} fired twice for one order"

    def outcome(self) -> dict[str, Any]:
        return {
            "orders": [{**o.to_dict(), "client_order_id": self.name(o)} for o in self.orders],
            "stats": self.m.stats(),
            "log": self.log,
            "risk": self.risk_log,
            "sent": [(method, {k: v for k, v in kw.items() if k != "client_order_id"})
                     for method, kw in self.fake.calls],
        }

    async def finish(self) -> dict[str, Any]:
        out = self.outcome()
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.m.close()
        return out


async def _drive(impl: str, cfg: tuple[float, int, bool], sequence: list[tuple[Any, ...]]) -> dict[str, Any]:
    run = Run(impl, *cfg)
    for op in sequence:
        await run.step(op)
    return await run.finish()


def _compare(impl_a: str, impl_b: str, cfg: tuple[float, int, bool], sequence: list[tuple[Any, ...]]) -> None:
    a = asyncio.run(_drive(impl_a, cfg, sequence))
    b = asyncio.run(_drive(impl_b, cfg, sequence))
    for key in a:
        assert a[key] == b[key], key


@pytest.mark.c_extension  # compares the compiled core with the pure one
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=config, sequence=ops)
def test_both_cores_end_identical(cfg: tuple[float, int, bool], sequence: list[tuple[Any, ...]]) -> None:
    _compare("cython", "python", cfg, sequence)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cfg=config, sequence=ops)
def test_a_run_is_deterministic_and_keeps_the_rules(cfg: tuple[float, int, bool],
                                                    sequence: list[tuple[Any, ...]]) -> None:
    _compare("python", "python", cfg, sequence)


def test_the_property_machinery_sees_a_difference() -> None:
    """The comparison is not vacuous: a run that differs in one event is told apart."""
    seq = [("place", "limit", 0, 0, 10, 1, "sync", "ok"),
           ("event", 0, "PARTIALLY_FILLED", "part", "bytes", True)]
    a = asyncio.run(_drive("python", (600.0, 100, True), seq))
    b = asyncio.run(_drive("python", (600.0, 100, True), seq[:1]))
    assert a["orders"] != b["orders"] and a["log"] != b["log"] and a["risk"] != b["risk"]
    assert a["orders"][0]["filled_qty"] == 0.001 and a["log"][0][0] == "partial"
