"""Regressions from a review of the money paths: each test reproduced a bug now fixed."""

from __future__ import annotations

import asyncio
from typing import Any

from ..conftest import Implementation
from ._manager_util import OID, Log, Risk, make, otu, render, settle


def ev(order: Any, status: str, **kw: Any) -> bytes:
    kw.setdefault("i", order.exchange_order_id if order.exchange_order_id is not None else OID)
    return render(otu(order.client_order_id, status, **kw), "bytes")  # type: ignore[no-any-return]


async def test_late_partial_fill_in_the_replace_window_reaches_on_partial(impl: Implementation) -> None:
    m, _ = make(impl)
    log = Log()
    old = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", "65000.3", **log.hooks())
    await m.on_order_update(ev(old, "NEW"))
    task = asyncio.ensure_future(m.replace_order(old.client_order_id, 65001.5, mode="cancel_place"))
    await settle()
    # Both frames in one stream read (feed is synchronous): the replace has not resumed yet.
    m.feed(ev(old, "CANCELED"))
    m.feed(ev(old, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.3"))
    new = await asyncio.wait_for(task, 2.0)
    assert new is not None and new.quantity == 0.006  # the fill was counted in the new size...
    # ...but the intent's owner never heard of the 0.004 it bought: the same late fill one loop
    # turn later (test_late_fills_on_a_replaced_order_reach_the_moved_callbacks) fires on_partial.
    assert log.entries == [("partial", old.client_order_id, "cancelled", 0.004, 0.004)]
    await m.close()


async def test_a_risk_engine_attached_later_is_not_told_old_fills_after_a_restart(
        impl: Implementation, tmp_path: Any) -> None:
    path = tmp_path / "j"
    m, _ = make(impl, journal=str(path))  # no risk engine yet: every fill is journaled as settled
    order = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", "65000.3")
    await m.on_order_update(ev(order, "NEW"))
    await m.on_order_update(ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.3"))
    await settle()
    m.risk_engine = Risk()  # attached later (the setter's documented use)
    await m.on_order_update(ev(order, "CANCELED", z="0.004"))  # no fill after the attach
    await settle()
    await m.close()
    risk = Risk()
    m2, _ = make(impl, journal=str(path), risk_engine=risk)
    await m2.restore(reconcile=False)
    await settle()
    # The 0.004 happened before any risk engine existed; the first one never heard of it either,
    # and the journal said so (risk_filled == filled) until the cancel's change rewrote it as 0.
    assert risk.fills == []
    await m2.close()
