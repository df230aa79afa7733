"""OrderManager: client order ids, the query API, retention of terminal orders (with an injected
clock) and held views, reconcile() after a feed gap, and close(), on both cores."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from trading_engine_python.exchange import ExchangeError
from trading_engine_python.orders import parse_client_order_id
from trading_engine_python.orders.ids import IdGenerator

from ..conftest import Implementation
from ._manager_util import OID, FakeClock, Log, make, otu, render, rest_order, until, views

BINANCE_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")  # docs/binance-protocol.md, "Client order ids"


def ev(order: Any, status: str, **kw: Any) -> bytes:
    kw.setdefault("i", order.exchange_order_id if order.exchange_order_id is not None else OID)
    return render(otu(order.client_order_id, status, **kw), "bytes")  # type: ignore[no-any-return]


async def place(m: Any, sub: str = "sub1", symbol: str = "BTCUSDT", **kw: Any) -> Any:
    return await m.place_limit_order(sub, symbol, "BUY", "0.010", "65000.3", **kw)


# ── client order ids ──


@pytest.mark.parametrize(("kind", "origin", "code"), [
    ("market", "MANUAL", "MKT"), ("limit", "MANUAL", "LMT"), ("limit", "CHASE", "CHASE"),
    ("limit", "SCALPER", "SCALP"), ("market", "TWAP", "TWAP"), ("market", "twap-lot", "TWAPL"),
    ("limit", "", "LMT"), ("market", "π", "MKT"), ("limit", "manual", "LMT"),
])
@pytest.mark.parametrize("sub", ["s", "sub1", "0123456789abcdef", "5f2c8e0a-9b1d-4c3e-8f7a-6d5e4c3b2a19",
                                 "ABCDEFGH", "a-b-c-d-e-f"])
async def test_client_order_ids(impl: Implementation, kind: str, origin: str, code: str, sub: str) -> None:
    m, fake = make(impl)
    if kind == "market":
        order = await m.place_market_order(sub, "BTCUSDT", "BUY", 1, origin=origin)
    else:
        order = await m.place_limit_order(sub, "BTCUSDT", "BUY", 1, 2, origin=origin)
    cid = order.client_order_id
    assert cid.startswith(f"PMS{sub[:8]}_{code}_")
    assert len(cid) <= 36 and BINANCE_ID.fullmatch(cid)
    assert fake.sent("place_order")[0]["client_order_id"] == cid
    parsed = parse_client_order_id(cid)
    assert parsed is not None and (parsed.sub_account_prefix, parsed.type_code) == (sub[:8], code)
    assert order.origin == origin and order.sub_account_id == sub
    await m.close()


def test_client_order_ids_are_unique_over_100k() -> None:
    gen = IdGenerator()
    ids = [gen.new("5f2c8e0a-9b1d", "LIMIT" if i % 2 else "MARKET", "SCALPER" if i % 3 else "MANUAL")
           for i in range(100_000)]
    assert len(set(ids)) == len(ids)
    assert all(len(c) <= 36 for c in ids)
    assert all(BINANCE_ID.fullmatch(c) for c in ids[::997])
    assert all(parse_client_order_id(c) is not None for c in ids[::997])


async def test_every_placement_gets_a_fresh_id(impl: Implementation) -> None:
    m, _ = make(impl)
    ids = [(await place(m)).client_order_id for _ in range(200)]
    assert len(set(ids)) == 200
    await m.close()


@pytest.mark.parametrize("foreign", ["web_w4Sot5R1ym9ChzWfGdAm", "electron_6LyJZ9KPgmRbhKfFamx3",
                                     "adl_autoclose", "x-nbQe1H39abc", "PMS", "PMSsub1__1abc", "PMSsub1_LMT_",
                                     "pmssub1_LMT_1abc", "PMSsub1_lmt_1abc", "PMSsub_1_LMT_1abc",
                                     "PMSabcdefghi_LMT_1abc", "PMSsub1_TOOLONG_1abc", "PMSsub1_LMT_1ABC",
                                     "10001", ""])
def test_foreign_ids_do_not_parse(foreign: str) -> None:
    assert parse_client_order_id(foreign) is None


# ── queries ──


async def test_queries_return_live_orders_by_sub_symbol_both_and_parent(impl: Implementation) -> None:
    m, _ = make(impl)
    a = await place(m, "sub1", "BTCUSDT", parent_id="p1")
    b = await place(m, "sub1", "ETHUSDT", parent_id="p1")
    c = await place(m, "sub2", "BTCUSDT", parent_id="p2")
    d = await place(m, "sub2", "ETHUSDT")
    e = await place(m, "sub1", "BTCUSDT")
    assert m.get_active_orders() == [a, b, c, d, e]
    assert m.get_active_orders("sub1") == [a, b, e]
    assert m.get_active_orders(symbol="BTCUSDT") == [a, c, e]
    assert m.get_active_orders("sub2", "ETHUSDT") == [d]
    assert m.get_active_orders("sub3") == [] and m.get_active_orders(symbol="XRPUSDT") == []
    assert m.get_orders_by_parent("p1") == [a, b] and m.get_orders_by_parent("nobody") == []
    assert m.get_order(c.client_order_id) is c and m.get_order("PMSsub1_LMT_none") is None
    await m.on_order_update(ev(a, "NEW"))
    assert await m.cancel_order(b.client_order_id)
    assert m.get_orders_by_parent("p1") == [a, b]  # active and cancelling are live
    await m.on_order_update(ev(a, "FILLED", z="0.010"))
    await m.on_order_update(ev(b, "CANCELED"))
    # terminal orders leave the live indexes at once, and stay findable by id
    assert m.get_orders_by_parent("p1") == []
    assert m.get_active_orders("sub1") == [e]
    assert m.get_active_orders(symbol="BTCUSDT") == [c, e]
    assert m.get_order(a.client_order_id) is a and m.get_order(b.client_order_id) is b
    assert m.stats()["live"] == 3 and m.stats()["tracked"] == 5
    await m.close()


async def test_get_order_by_exchange_id(impl: Implementation) -> None:
    m, fake = make(impl)
    fake.script("place_order", {"orderId": 2**62 + 3})
    order = await place(m)
    assert m.get_order_by_exchange_id(2**62 + 3) is order
    assert m.get_order_by_exchange_id(2**62 + 4) is None
    await m.close()


# ── retention and held views ──


async def test_terminal_orders_leave_after_the_ttl(impl: Implementation) -> None:
    clock = FakeClock()
    m, _ = make(impl, clock=clock, terminal_ttl=10.0)
    order = await place(m)
    live = await place(m)
    await m.on_order_update(ev(order, "FILLED", z="0.010", L="65000.3", ap="65000.3"))
    final = order.to_dict()
    clock.advance(9.875)
    assert m.get_order(order.client_order_id) is order
    clock.advance(0.125)
    assert m.get_order(order.client_order_id) is None
    assert m.get_order(live.client_order_id) is live  # live orders never expire
    assert order.to_dict() == final  # the held view keeps its final values
    assert m.stats()["evicted"] == 1 and m.stats()["tracked"] == 1
    await m.on_order_update(ev(order, "FILLED", z="0.010"))
    assert m.stats()["unknown_ids"] == 1
    await m.close()


async def test_terminal_max_evicts_the_oldest_first(impl: Implementation) -> None:
    m, _ = make(impl, clock=FakeClock(), terminal_max=2)
    orders = [await place(m) for _ in range(4)]
    for o in orders[:3]:
        await m.on_order_update(ev(o, "CANCELED"))
    assert m.get_order(orders[0].client_order_id) is None
    assert [m.get_order(o.client_order_id) is o for o in orders[1:]] == [True, True, True]
    assert m.stats()["tracked"] == 3
    await m.close()


async def test_terminal_max_zero_still_fires_the_final_events_callbacks(impl: Implementation) -> None:
    m, _ = make(impl, clock=FakeClock(), terminal_max=0)
    log = Log()
    order = await place(m, **log.hooks(is_async=True))
    other = await place(m, **log.hooks("o_"))
    await m.on_order_update(ev(order, "FILLED", l="0.010", z="0.010", L="65000.3", ap="65000.3"))
    await m.on_order_update(ev(other, "CANCELED", z="0.002", L="65000.1"))
    assert log.entries == [("fill", order.client_order_id, "filled", 0.010, 0.010),
                           ("o_partial", other.client_order_id, "cancelled", 0.002, 0.002),
                           ("o_cancel", other.client_order_id, "cancelled", 0.002, 0.002)]
    assert m.get_order(order.client_order_id) is None and m.get_order(other.client_order_id) is None
    assert (order.state, order.filled_qty, order.avg_price) == ("filled", 0.010, 65000.3)
    await m.close()


async def test_an_evicted_orders_held_view_keeps_its_values_after_its_slot_is_reused(
    impl: Implementation
) -> None:
    m, _ = make(impl, clock=FakeClock(), terminal_max=0)
    held = [await m.place_limit_order(f"old{i}", "BTCUSDT", "SELL", f"0.{i + 1:03d}", 60000 + i)
            for i in range(40)]
    for i, o in enumerate(held):
        await m.on_order_update(ev(o, "FILLED", z=f"0.{i + 1:03d}", L=f"{60000 + i}", ap=f"{60000 + i}"))
    final = views(held)
    assert all(m.get_order(o.client_order_id) is None for o in held)
    # New orders take the freed storage (in the compiled core: the same slots).
    fresh = [await m.place_market_order(f"new{i}", "ETHUSDT", "BUY", f"{i + 7}") for i in range(120)]
    for o in fresh[::2]:
        await m.on_order_update(ev(o, "PARTIALLY_FILLED", l="1", z="1", L="3000", s="ETHUSDT"))
    assert views(held) == final
    assert [o.sub_account_id for o in held] == [f"old{i}" for i in range(40)]
    assert all(o.state == "placing" for o in fresh[1::2])
    await m.close()


# ── reconcile ──


async def test_reconcile_after_a_gap(impl: Implementation) -> None:
    m, fake = make(impl)
    log = Log()
    missing_filled = await place(m, **log.hooks("mf_"))
    missing_gone = await place(m, **log.hooks("mg_"))
    open_partial = await place(m, **log.hooks("op_"))
    done = await place(m, **log.hooks("d_"))
    await m.on_order_update(ev(done, "FILLED", z="0.010"))
    ours_unknown = "PMSsubX_SCALP_1abcdefgh"
    fake.open_orders = [
        rest_order(open_partial.client_order_id, "PARTIALLY_FILLED", executed="0.004", avg="65000.1",
                   order_id=open_partial.exchange_order_id),
        {**rest_order(ours_unknown, "NEW", orig="0.5", price="3000.25", symbol="ETHUSDT", side="SELL",
                      order_id=OID + 77, tif="GTX"), "reduceOnly": True},
        rest_order("web_w4Sot5R1ym9ChzWfGdAm", "NEW"),  # placed in the web UI: not ours
        rest_order("x-nbQe1H39abc", "NEW"),
        rest_order("PMSsubY_LMT_2abcdefgh", "NEW", order_type="STOP_MARKET"),  # ours, but not a kind we track
    ]
    fake.script("get_order",
                lambda **kw: rest_order(kw["client_order_id"], "FILLED", executed="0.010", avg="65000.2"),
                ExchangeError(-2013, "Order does not exist."))
    report = await m.reconcile()
    assert report == {"open": 5, "open_algo": 0, "queried": 2, "adopted": 1, "applied": 1}
    assert [s["client_order_id"] for s in fake.sent("get_order")] == [missing_filled.client_order_id,
                                                                       missing_gone.client_order_id]
    assert fake.sent("get_open_orders") == [{"symbol": None}]
    assert (missing_filled.state, missing_filled.filled_qty) == ("filled", 0.010)
    assert missing_gone.state == "placing"
    assert (open_partial.state, open_partial.filled_qty) == ("active", 0.004)
    assert log.names() == ["d_fill", "op_partial", "mf_fill"]  # open orders first, then the queries
    adopted = m.get_order(ours_unknown)
    assert adopted is not None
    assert (adopted.sub_account_id, adopted.origin, adopted.symbol, adopted.side, adopted.order_type) == (
        "subX", "SCALP", "ETHUSDT", "SELL", "LIMIT")
    assert (adopted.quantity, adopted.price, adopted.state, adopted.exchange_order_id) == (
        0.5, 3000.25, "active", OID + 77)
    assert adopted.reduce_only is True and adopted.time_in_force == "GTX" and adopted.parent_id is None
    assert m.get_order("web_w4Sot5R1ym9ChzWfGdAm") is None and m.get_order("PMSsubY_LMT_2abcdefgh") is None
    assert m.stats()["adopted"] == 1
    # answers are applied once: a second reconcile queries only what is still live and missing
    fake.script("get_order", ExchangeError(-2013, "Order does not exist."))
    report = await m.reconcile()
    assert report == {"open": 5, "open_algo": 0, "queried": 1, "adopted": 0, "applied": 2}
    assert log.count("mf_fill") == 1 and log.count("op_partial") == 1
    # the adopted order is a tracked order like any other, without callbacks
    await m.on_order_update(ev(adopted, "FILLED", z="0.5", L="3000.25"))
    assert adopted.state == "filled" and m.stats()["callback_errors"] == 0
    await m.close()


async def test_reconcile_with_nothing_open_and_a_failing_query(impl: Implementation) -> None:
    m, fake = make(impl)
    order = await place(m)
    fake.script("get_order", ExchangeError(-1003, "Too many requests."))
    assert await m.reconcile() == {"open": 0, "open_algo": 0, "queried": 1, "adopted": 0, "applied": 0}
    assert order.state == "placing"
    await m.close()


# ── close ──


async def test_close_stops_background_work_and_runs_queued_callbacks(impl: Implementation) -> None:
    from trading_engine_python.exchange import ExchangeTimeout

    m, fake = make(impl, resolve_timeout=1000.0, stuck_timeout=1000.0)
    seen: list[str] = []

    async def on_fill(order: Any) -> None:
        await asyncio.sleep(0)
        seen.append(order.state)

    fake.script("place_order", ExchangeTimeout(-1007, "timeout"))
    pending = await place(m)  # a resolver now sleeps for resolve_timeout
    watched = await place(m, on_fill=on_fill)  # accepted: the stuck-order sweeper runs
    m.feed(ev(watched, "FILLED", z="0.010"))  # its coroutine callback is queued, not yet run
    before = asyncio.all_tasks()
    assert len(before) > 1
    await asyncio.wait_for(m.close(), 5.0)
    assert seen == ["filled"]
    await until(lambda: len(asyncio.all_tasks()) == 1)
    assert asyncio.all_tasks() == {asyncio.current_task()}
    assert pending.state == "placing" and fake.sent("get_order") == []
    with pytest.raises(RuntimeError):
        await place(m)
    await m.close()  # twice is fine


async def test_the_manager_is_an_async_context_manager(impl: Implementation) -> None:
    m, _ = make(impl)
    async with m as manager:
        order = await place(manager)
    with pytest.raises(RuntimeError):
        await place(m)
    assert order.state == "placing"
