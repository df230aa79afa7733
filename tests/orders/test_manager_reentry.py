"""The manager's shell under re-entry and bad replies, on both cores: callbacks that feed, place,
cancel or replace synchronously while an event is being dispatched; a place reply whose orderId
does not fit an int64.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from ..conftest import Implementation
from ._manager_util import OID, make, otu, render, settle


def ev(order: Any, status: str, **kw: Any) -> bytes:
    kw.setdefault("i", order.exchange_order_id if order.exchange_order_id is not None else OID)
    return render(otu(order.client_order_id, status, **kw), "bytes")  # type: ignore[no-any-return]


async def place(m: Any, **kw: Any) -> Any:
    return await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", "65000.3", **kw)


@pytest.mark.parametrize("entry", ["feed", "on_order_update_bytes", "on_order_update_dict"])
async def test_a_callback_that_feeds_the_next_frame_synchronously(impl: Implementation, entry: str,
                                                                   caplog: pytest.LogCaptureFixture) -> None:
    """on_partial feeds the FILLED frame while a CANCELED-with-fill frame is being dispatched: the
    inner event runs to its end (on_fill), the outer one finds its order gone from the shell's
    bookkeeping and does nothing twice; no error, nothing logged as failed."""
    m, _ = make(impl)
    seen: list[str] = []

    def on_partial(o: Any) -> None:
        seen.append(f"partial {o.filled_qty}")
        if len(seen) == 1:
            m.feed(ev(o, "FILLED", z="0.010", l="0.006", L="65000.3"))

    order = await place(m, on_partial=on_partial, on_fill=lambda o: seen.append(f"fill {o.state}"),
                        on_cancel=lambda o: seen.append(f"cancel {o.state}"))
    m.feed(ev(order, "NEW"))
    frame = ev(order, "CANCELED", z="0.004", l="0.004", L="65000.1")
    with caplog.at_level(logging.ERROR, logger="trading_engine_python"):
        if entry == "feed":
            m.feed(frame)
        elif entry == "on_order_update_bytes":
            await m.on_order_update(frame)
        else:
            await m.on_order_update(otu(order.client_order_id, "CANCELED", z="0.004", l="0.004",
                                        L="65000.1", i=order.exchange_order_id))
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    # The inner FILLED arrived while the order was already cancelled: a late fill that completes
    # it. Each callback ran exactly once and nothing raised out of the outer dispatch.
    assert seen.count("partial 0.004") == 1
    assert seen.count("fill filled") == 1
    assert order.state == "filled" and order.filled_qty == 0.01
    assert m.stats()["callback_errors"] == 0
    await m.close()


async def test_callbacks_that_place_cancel_and_replace_synchronously(impl: Implementation) -> None:
    """Every kind of re-entry from a plain callback of an event under dispatch: place, cancel,
    replace (their coroutines start on the next turn), and a synchronous feed for another order."""
    m, fake = make(impl)
    other = await place(m)
    m.feed(ev(other, "NEW"))
    started: list[asyncio.Future[Any]] = []

    def on_partial(o: Any) -> None:
        started.append(asyncio.ensure_future(m.place_market_order("sub1", "BTCUSDT", "SELL", "0.001")))
        started.append(asyncio.ensure_future(m.cancel_order(other.client_order_id)))
        started.append(asyncio.ensure_future(m.replace_order(o.client_order_id, "65000.1")))
        m.feed(ev(other, "PARTIALLY_FILLED", z="0.001", l="0.001", L="65000.3"))

    order = await place(m, on_partial=on_partial)
    m.feed(ev(order, "NEW"))
    m.feed(ev(order, "PARTIALLY_FILLED", z="0.002", l="0.002", L="65000.3"))
    await settle()
    m.feed(ev(order, "CANCELED", z="0.002"))  # the replace's cancel confirmed: it places the rest
    await asyncio.gather(*started)
    assert other.filled_qty == 0.001 and other.state == "cancelling"
    placed = fake.sent("place_order")
    assert len(placed) == 4 and placed[-1]["quantity"] == "0.008"  # the replace placed the rest once
    assert {c["client_order_id"] for c in fake.sent("cancel_order")} == {
        other.client_order_id, order.client_order_id}
    await m.close()


@pytest.mark.parametrize("order_id", [2**63, 2**64 + 5, -1])
async def test_a_place_reply_with_an_order_id_out_of_range(impl: Implementation, order_id: int) -> None:
    """Never raises out of place_*: the order stays tracked without the id, counted, and the feed's
    ``i`` supplies it."""
    m, fake = make(impl)
    fake.script("place_order", lambda **kw: {"orderId": order_id, "clientOrderId": kw["client_order_id"],
                                             "status": "NEW"})
    order = await place(m)
    assert order.state == "placing" and order.exchange_order_id is None
    assert m.stats()["bad_order_ids"] == 1
    m.feed(ev(order, "NEW", i=OID))
    assert order.state == "active" and order.exchange_order_id == OID
    await m.close()


@pytest.mark.parametrize("leverage", [0, 126, True, 5.0])
async def test_leverage_out_of_binance_range_is_refused_before_sending(impl: Implementation,
                                                                       leverage: Any) -> None:
    m, fake = make(impl)
    with pytest.raises(ValueError, match="leverage"):
        await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", "65000.3", leverage=leverage)
    assert fake.calls == [] and m.get_active_orders() == []
    await m.close()


async def test_adopting_an_order_the_core_cannot_track_is_logged_not_raised(impl: Implementation) -> None:
    from ._manager_util import rest_order

    m, _ = make(impl)
    assert m.adopt_order(rest_order("PMSsub1_LMT_abcdef123456", "NEW", orig="0")) is None
    assert m.get_active_orders() == []
    adopted = m.adopt_order(rest_order("PMSsub1_LMT_abcdef123457", "NEW"))  # the same, trackable
    assert adopted is not None and m.get_active_orders() == [adopted]
    await m.close()
