"""OrderManager callbacks: plain and coroutine functions, one argument
(the OrderState); one that raises is logged and counted and everything else goes on; one that
re-enters (places, cancels, replaces) sees its event finished, and callbacks keep their order.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest

from trading_engine_python.exchange import ExchangeError

from ..conftest import Implementation
from ._manager_util import OID, Log, Risk, make, otu, render, settle


def ev(order: Any, status: str, **kw: Any) -> bytes:
    kw.setdefault("i", order.exchange_order_id if order.exchange_order_id is not None else OID)
    return render(otu(order.client_order_id, status, **kw), "bytes")  # type: ignore[no-any-return]


async def place(m: Any, **kw: Any) -> Any:
    return await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", "65000.3", **kw)


@pytest.mark.parametrize("is_async", [False, True])
async def test_callbacks_get_the_order_state(impl: Implementation, is_async: bool) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, **log.hooks(is_async=is_async))
    await m.on_order_update(ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"))
    await m.on_order_update(ev(order, "FILLED", l="0.006", z="0.010", L="65000.3"))
    # on_order_update returns once the callbacks of its event have run, async ones included
    cid = order.client_order_id
    assert log.entries == [("partial", cid, "active", 0.004, 0.004), ("fill", cid, "filled", 0.010, 0.006)]
    assert all(o.client_order_id == cid for o in log.orders)
    assert log.orders[-1].to_dict() == order.to_dict()
    other = await place(m, **log.hooks("c_", is_async=is_async))
    await m.on_order_update(ev(other, "CANCELED"))
    assert log.names()[-1] == "c_cancel"
    await m.close()


@pytest.mark.parametrize("is_async", [False, True])
async def test_a_callback_that_raises_is_logged_counted_and_the_rest_goes_on(
    impl: Implementation, is_async: bool, caplog: Any
) -> None:
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    log = Log()
    bad = await place(m, on_partial=log.cb("bad_partial", raises=True, is_async=is_async),
                      on_cancel=log.cb("bad_cancel", raises=True, is_async=is_async),
                      on_fill=log.cb("bad_fill", is_async=is_async))
    good = await place(m, **log.hooks("good_", is_async=is_async))
    with caplog.at_level(logging.ERROR, logger="trading_engine_python.orders"):
        await m.on_order_update(ev(bad, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"))
        await m.on_order_update(ev(good, "PARTIALLY_FILLED", l="0.001", z="0.001", L="65000.1"))
        # one event, two callbacks: the first raises, the second still runs
        await m.on_order_update(ev(bad, "CANCELED", z="0.006", L="65000.2"))
        await m.on_order_update(ev(good, "FILLED", l="0.009", z="0.010", L="65000.1"))
    assert (bad.state, bad.filled_qty, good.state) == ("cancelled", 0.006, "filled")
    assert log.names() == ["bad_partial", "good_partial", "bad_partial", "bad_cancel", "good_fill"]
    assert m.stats()["callback_errors"] == 3
    assert len(risk.fills) == 4
    failures = [r for r in caplog.records if r.exc_info]
    assert len(failures) == 3 and all("failed on purpose" in str(r.exc_info[1]) for r in failures)
    await m.close()


async def test_a_callback_raising_cancelled_error_does_not_stall_the_rest(impl: Implementation) -> None:
    m, _ = make(impl)
    log = Log()

    async def cancelled(order: Any) -> None:
        raise asyncio.CancelledError

    a = await place(m, on_fill=cancelled)
    b = await place(m, **log.hooks())
    m.feed(ev(a, "FILLED", z="0.010"))
    m.feed(ev(b, "FILLED", z="0.010"))
    await m.on_order_update(b"{}")  # drains the work queue
    assert log.names() == ["fill"] and m.stats()["callback_errors"] == 1
    await m.close()


async def test_a_plain_callback_may_return_an_awaitable(impl: Implementation) -> None:
    m, fake = make(impl)
    other = await place(m)
    order = await place(m, on_partial=lambda o: m.cancel_order(other.client_order_id))
    await m.on_order_update(ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"))
    assert other.state == "cancelling"
    assert fake.sent("cancel_order") == [{"symbol": "BTCUSDT", "client_order_id": other.client_order_id}]
    await m.close()


async def test_callbacks_keep_their_order_behind_async_work(impl: Implementation) -> None:
    """The stream's synchronous feed(): a plain callback that comes after a pending coroutine
    callback runs after it, not before."""
    m, _ = make(impl)
    seen: list[str] = []

    async def slow(order: Any) -> None:
        seen.append("a-partial start")
        for _ in range(5):
            await asyncio.sleep(0)
        seen.append("a-partial end")

    a = await place(m, on_partial=slow, on_fill=lambda o: seen.append("a-fill"))
    b = await place(m, on_fill=lambda o: seen.append("b-fill"))
    m.feed(ev(a, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"))
    m.feed(ev(b, "FILLED", z="0.010"))
    m.feed(ev(a, "FILLED", z="0.010"))
    assert (a.state, b.state) == ("filled", "filled")  # the transitions themselves are immediate
    await settle(50)
    assert seen == ["a-partial start", "a-partial end", "b-fill", "a-fill"]
    await m.close()


async def test_a_callback_that_places_and_cancels_reentrantly(impl: Implementation) -> None:
    m, fake = make(impl)
    seen: list[Any] = []
    victim = await place(m)
    placed: list[Any] = []

    async def on_fill(order: Any) -> None:
        seen.append(("fill", order.state, order.filled_qty))  # its event has finished
        new = await m.place_limit_order("sub1", "BTCUSDT", "SELL", order.filled_qty, 66000,
                                        on_cancel=lambda o: seen.append(("new-cancel", o.state)))
        placed.append(new)
        seen.append(("placed", new.state))
        seen.append(("cancel sent", await m.cancel_order(victim.client_order_id)))

    order = await place(m, on_fill=on_fill, on_partial=lambda o: seen.append(("partial", o.filled_qty)))
    await m.on_order_update(ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"))
    await m.on_order_update(ev(order, "FILLED", l="0.006", z="0.010", L="65000.3"))
    assert seen == [("partial", 0.004), ("fill", "filled", 0.010), ("placed", "placing"),
                    ("cancel sent", True)]
    assert [s["quantity"] for s in fake.sent("place_order")] == ["0.01", "0.01", "0.01"]
    assert victim.state == "cancelling"
    (new,) = placed
    await m.on_order_update(ev(new, "EXPIRED"))
    assert seen[-1] == ("new-cancel", "expired")
    await m.close()


async def test_reentrant_work_keeps_the_callback_order(impl: Implementation) -> None:
    """One event (CANCELED carrying a fill) with two callbacks: on_partial (async) places an order
    that is rejected at once; that order's on_cancel runs after this event's own on_cancel."""
    m, fake = make(impl)
    seen: list[str] = []

    async def on_partial(order: Any) -> None:
        seen.append("a-partial start")
        fake.script("place_order", ExchangeError(-2019, "Margin is insufficient."))
        new = await m.place_market_order("sub1", "BTCUSDT", "SELL", "0.004",
                                         on_cancel=lambda o: seen.append(f"new-cancel {o.state}"))
        seen.append(f"a-partial end ({new.state})")

    a = await place(m, on_partial=on_partial, on_cancel=lambda o: seen.append(f"a-cancel {o.state}"))
    await m.on_order_update(ev(a, "CANCELED", z="0.004", L="65000.1"))
    assert seen == ["a-partial start", "a-partial end (rejected)", "a-cancel cancelled",
                    "new-cancel rejected"]
    await m.close()


async def test_a_callback_that_replaces_reentrantly(impl: Implementation) -> None:
    m, _ = make(impl)
    log = Log()
    quote = await place(m, **log.hooks("q_"))
    await m.on_order_update(ev(quote, "NEW"))
    results: list[Any] = []

    async def on_fill(order: Any) -> None:
        results.append(await m.replace_order(quote.client_order_id, 64000))

    hedge = await place(m, on_fill=on_fill)
    m.feed(ev(hedge, "FILLED", z="0.010"))  # the stream's path: no waiting on callbacks
    await settle()
    assert quote.state == "cancelling" and results == []
    await m.on_order_update(ev(quote, "CANCELED"))  # confirms the replace's cancel
    await settle()
    (new,) = results
    assert new is not None and new.price == 64000.0 and new.state == "placing"
    assert log.entries == []  # the replace's cancel moved the callbacks instead of firing them
    await m.on_order_update(ev(new, "FILLED", z="0.010"))
    assert log.names() == ["q_fill"]
    await m.close()


async def test_callbacks_of_a_late_fill_after_close(impl: Implementation) -> None:
    """on_cancel first; a late fill completing the order then fires on_fill; nothing fires twice."""
    m, _ = make(impl)
    log = Log()
    order = await place(m, **log.hooks(is_async=True))
    await m.on_order_update(ev(order, "CANCELED"))
    await m.on_order_update(ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"))
    await m.on_order_update(ev(order, "FILLED", l="0.006", z="0.010", L="65000.1"))
    await m.on_order_update(ev(order, "FILLED", l="0.006", z="0.010", L="65000.1"))
    assert log.names() == ["cancel", "fill"]
    await m.close()


# ── callbacks are reached through the order's record ──


class _Algo:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def on_fill(self, order: Any) -> None:
        self.seen.append(("fill", order.client_order_id))

    def on_cancel(self, order: Any) -> None:
        self.seen.append(("cancel", order.client_order_id))

    def on_partial(self, order: Any) -> None:
        self.seen.append(("partial", order.client_order_id))


async def test_orders_with_the_same_callbacks_share_one_handle(impl: Implementation) -> None:
    # An algo passes its bound methods (a new method object each time) for every order it places.
    m, _ = make(impl)
    a, b = _Algo(), _Algo()
    orders = [await place(m, on_fill=a.on_fill, on_cancel=a.on_cancel, on_partial=a.on_partial)
              for _ in range(5)]
    other = await place(m, on_fill=b.on_fill, on_cancel=b.on_cancel, on_partial=b.on_partial)
    bare = await place(m)
    handles = {m._core.get_hook(o.client_order_id) for o in orders}
    assert len(handles) == 1 and m._core.get_hook(other.client_order_id) not in handles | {-1}
    assert m._core.get_hook(bare.client_order_id) == -1 and len(m._hook_list) == 2
    await m.on_order_update(ev(orders[1], "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"))
    await m.on_order_update(ev(other, "CANCELED"))
    await m.on_order_update(ev(orders[3], "FILLED", l="0.010", z="0.010", L="65000.1"))
    await m.on_order_update(ev(bare, "FILLED", l="0.010", z="0.010", L="65000.1"))
    assert a.seen == [("partial", orders[1].client_order_id), ("fill", orders[3].client_order_id)]
    assert b.seen == [("cancel", other.client_order_id)]
    await m.close()


async def test_handles_of_callbacks_no_order_holds_are_reused(impl: Implementation) -> None:
    # Algos come and go: the handle table stays the size of what tracked orders still use.
    m, _ = make(impl, terminal_ttl=0.0)
    seen: list[str] = []
    for k in range(3000):
        order = await place(m, on_cancel=lambda o, k=k: seen.append(f"{k}"))
        await m.on_order_update(ev(order, "CANCELED"))  # closed, then let go of at the next call
    assert len(seen) == 3000 and seen[-1] == "2999"
    assert len(m._hook_list) <= 2048 and m.stats()["tracked"] <= 1
    await m.close()


async def test_an_unhashable_callable_works_and_gets_its_own_handle(impl: Implementation) -> None:
    class Cb:
        __hash__ = None  # type: ignore[assignment]

        def __init__(self) -> None:
            self.n = 0

        def __call__(self, order: Any) -> None:
            self.n += 1

    m, _ = make(impl)
    cb = Cb()
    one, two = await place(m, on_fill=cb), await place(m, on_fill=cb)
    assert m._core.get_hook(one.client_order_id) != m._core.get_hook(two.client_order_id)
    await m.on_order_update(ev(one, "FILLED", l="0.010", z="0.010", L="65000.1"))
    await m.on_order_update(ev(two, "FILLED", l="0.010", z="0.010", L="65000.1"))
    assert cb.n == 2
    await m.close()


async def test_feed_is_the_cores_feed_shell_unless_frames_are_recorded(impl: Implementation,
                                                                       tmp_path: Any) -> None:
    # Without a recording the stream's frame callback is OrderCore.feed_shell itself (no Python
    # frame per frame); with one, the method that records each frame first. Both behave the same.
    seen: list[str] = []
    for kw in ({}, {"recording": str(tmp_path / "rec.jsonl")}):
        m, _ = make(impl, **kw)
        assert (m.feed == m._core.feed_shell) is not kw
        o = await m.place_limit_order("s1", "BTCUSDT", "BUY", "0.010", "65000.3",
                                      on_partial=lambda o: seen.append(o.state))
        m.feed(render(otu(o.client_order_id, "PARTIALLY_FILLED", z="0.004", i=OID), "bytes"))
        m.feed(12345)  # type: ignore[arg-type]  # counted as malformed, never raised
        assert m._core.counters()["malformed"] == 1
        await m.close()
    assert seen == ["active", "active"]


def _algo_update(cid: str, status: str, aid: int) -> bytes:
    o: dict[str, Any] = {"caid": cid, "aid": aid, "at": "CONDITIONAL", "o": "STOP_MARKET", "s": "BTCUSDT",
                         "S": "BUY", "f": "GTC", "q": "0.010", "X": status, "tp": "66000", "p": "0"}
    if status == "TRIGGERED":
        o["ai"] = str(aid + 7)
    return json.dumps({"e": "ALGO_UPDATE", "T": 1765431097019, "E": 1765431097020, "o": o}).encode()


@pytest.mark.parametrize("kind", ["plain", "raises", "async"])
async def test_on_trigger_runs_once_whatever_it_is(impl: Implementation, kind: str, caplog: Any) -> None:
    # A plain on_trigger runs inside the core (feed_call's fourth entry); a coroutine function goes
    # through the shell. Either way once, with the triggered order; one that raises is counted.
    seen: list[tuple[str, str]] = []

    def plain(o: Any) -> None:
        seen.append((o.client_order_id, o.state))
        if kind == "raises":
            raise ValueError("boom")

    async def coro(o: Any) -> None:
        seen.append((o.client_order_id, o.state))

    m, _ = make(impl)
    o = await m.place_stop_order("sub1", "BTCUSDT", "BUY", "0.010", "66000",
                                 on_trigger=coro if kind == "async" else plain)
    aid = m.algo_id(o.client_order_id)
    assert aid is not None
    with caplog.at_level(logging.ERROR, logger="trading_engine_python.orders"):
        await m.on_order_update(_algo_update(o.client_order_id, "NEW", aid))
        assert seen == [] and o.state == "active"
        await m.on_order_update(_algo_update(o.client_order_id, "TRIGGERED", aid))
        await m.on_order_update(_algo_update(o.client_order_id, "TRIGGERED", aid))  # a duplicate
    assert seen == [(o.client_order_id, "triggered")]
    assert m.stats()["callback_errors"] == (1 if kind == "raises" else 0)
    assert ("boom" in caplog.text) == (kind == "raises")
    await m.close()
