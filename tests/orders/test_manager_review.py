"""Regressions for the findings of a whole-code review: each test failed before its fix."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from trading_engine_python.exchange import ExchangeError

from ..conftest import Implementation
from ._manager_util import OID, Risk, make, otu, render, rest_order, settle, until


def ev(order: Any, status: str, **kw: Any) -> bytes:
    kw.setdefault("i", order.exchange_order_id if order.exchange_order_id is not None else OID)
    return render(otu(order.client_order_id, status, **kw), "bytes")  # type: ignore[no-any-return]


async def place(m: Any, **kw: Any) -> Any:
    return await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", "65000", **kw)


# ── 1. a fill increase learnt from REST (status query / reconcile) is priced at the cumulative average ──



async def test_a_fill_found_by_a_status_query_is_priced_at_its_own_price(impl: Implementation) -> None:
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    order = await place(m)
    # Seen on the feed: 0.004 at 65000.
    await m.on_order_update(ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000", ap="65000"))
    # Missed in a gap, found by reconcile/status query: the rest (0.006) at 66000 -> avg 65600.
    m.apply_rest_order(rest_order(order.client_order_id, "FILLED", executed="0.010", avg="65600",
                                  price="65000"))
    await settle()
    assert order.state == "filled"
    _cid, qty, px, _filled, _state = risk.fills[-1]
    assert qty == pytest.approx(0.006)
    # 0.004*65000 + 0.006*px must equal 0.010*65600 => px = 66000; the core reports 65600.
    assert px == pytest.approx(66000.0)
    await m.close()


# ── 2. coroutine callbacks read the live view after later events were applied ──



async def test_async_on_partial_sees_its_own_increase(impl: Implementation) -> None:
    m, _ = make(impl)
    seen: list[float] = []

    async def on_partial(o: Any) -> None:
        seen.append(o.last_fill_qty)

    order = await place(m, on_partial=on_partial)
    # The stream's path: picows hands frames of one read to feed() back to back.
    m.feed(ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000"))
    m.feed(ev(order, "PARTIALLY_FILLED", l="0.002", z="0.006", L="65000"))
    await settle()
    assert seen == [0.004, 0.002]  # actual: [0.002, 0.002]: 0.004 of fills never reported
    await m.close()


# ── 3. re-entrant replace from a coroutine callback, driven through await on_order_update ──



async def test_reentrant_replace_when_driven_by_on_order_update(impl: Implementation) -> None:
    m, _ = make(impl, replace_timeout=0.3)
    quote = await place(m)
    await m.on_order_update(ev(quote, "NEW"))
    results: list[Any] = []

    async def on_fill(order: Any) -> None:
        results.append(await m.replace_order(quote.client_order_id, 64000))

    hedge = await place(m, on_fill=on_fill)
    # The spec's driver awaits on_order_update for each event in turn. This await returns only
    # when on_fill is done, and on_fill waits for the CANCELED the driver cannot send yet: the
    # replace times out and returns None.
    await m.on_order_update(ev(hedge, "FILLED", z="0.010"))
    await m.on_order_update(ev(quote, "CANCELED"))
    await settle()
    assert len(results) == 1 and results[0] is not None
    await m.close()


# ── 4. cancel_all / cancel_order during a replace: the replace still places a new order ──



async def test_cancel_all_during_a_replace_leaves_nothing_live(impl: Implementation) -> None:
    m, fake = make(impl)
    quote = await place(m)
    await m.on_order_update(ev(quote, "NEW"))
    task = asyncio.ensure_future(m.replace_order(quote.client_order_id, 64000))
    await until(lambda: quote.state == "cancelling")
    # Kill switch: the operator cancels everything on the symbol.
    sent = await m.cancel_all_orders_for_symbol("BTCUSDT")
    assert sent == 1  # the replace's cancel, already in flight, now ends the intent
    await m.on_order_update(ev(quote, "CANCELED"))  # the replace's cancel is confirmed
    new = await task
    # After cancel_all returned, nothing of ours should rest on the book; the replace put one there.
    assert new is None and m.get_active_orders(symbol="BTCUSDT") == []
    assert len(fake.sent("place_order")) == 1
    await m.close()


# ── 5. an unknown outcome stays unresolved for good after 50 failing status queries ──



async def test_an_unknown_place_is_resolved_even_after_a_long_rest_outage(impl: Implementation) -> None:
    m, fake = make(impl, resolve_timeout=0.001)
    fake.script("place_order", TimeoutError())  # not ExchangeTimeout: "any other exception"
    outage = ExchangeError(-1001, "Internal error; unable to process your request. Please try again.")
    fake.script("get_order", *([outage] * 50))
    order = await place(m)
    await until(lambda: m.stats()["status_queries"] >= 50)
    # REST is back and the order had filled meanwhile; the stream stayed up (no reconnect, no reconcile).
    fake.script("get_order", rest_order(order.client_order_id, "FILLED", executed="0.010", avg="65000",
                                        price="65000"))
    await until(lambda: order.state == "filled", timeout=1.0)
    assert order.state == "filled"  # actual: placing, and nothing will ever ask again
    await m.close()


# ── 6. manager.feed() is documented "Never raises", yet a wrong argument type raises ──



@pytest.mark.parametrize("bad", [None, 123, [b"{}"]])
async def test_feed_never_raises(impl: Implementation, bad: Any) -> None:
    m, _ = make(impl)
    m.feed(bad)
    assert m.stats()["malformed"] == 1
    await m.close()
