"""Restart from the journal: nothing lost, nothing counted twice.

``OrderManager.restore()`` runs this once, after the manager is made and before the user stream
starts (so that the stream's frames find the orders). Steps:

1. Re-create every journaled order the core does not hold, with what its place intent says (the
   full sub-account id, origin, parent id, leverage, reduce-only, time in force; an algo order's
   type and trigger fields are in the intent too, for the record): live ones, the
   terminal ones the risk hook is still owed a fill of, and terminal ones inside the core's
   retention (``terminal_ttl``, by the journal's wall clock), so that a late fill or a query by id
   still finds them. An entry without a place intent (a cancel of an order the journal never saw
   placed) cannot be rebuilt; if it is open at the exchange, reconciliation adopts it.
2. Bring each to its journaled state through the core's public entry points only: ``add``, then
   synthetic status answers (the shape of a GET /fapi/v1/order reply) through ``feed_decoded``, the
   very transition rules every frame meets (an algo order first gets its ALGO_UPDATE statuses: NEW,
   and TRIGGERED when it filled; its fills are its created order's). The first answer, silent, sets
   the cumulative fill to ``risk_filled`` (what the risk hook had been told before the stop); the
   second sets the journaled fill and state, and the increase it reports, ``filled - risk_filled``,
   goes to the risk hook alone: the events, callbacks and publisher saw it before the stop. Every
   later increase (the exchange's answers below) goes through the normal dispatch, so a fill made
   while the process was down reaches the risk hook once, and one already told never again.
3. Reconcile (``reconcile=True``): open orders, a status query for each restored live order
   missing from them (this covers a place intent with no change: the order is looked up by client
   id, never placed again), and adoption of open orders with our prefix that the journal never
   saw (their whole fill counts as new, since no record says the risk hook heard of it).
4. After reconciliation: a restored order still ``placing`` (the exchange did not know it) goes to
   the resolver, which declares it failed only after repeated "does not exist" answers; a
   restored order whose last intent was a cancel and that the exchange still has open gets its
   cancel sent again (the stop may have come before the cancel left).

Durability of the risk acknowledgement: ``risk_filled`` is written to the OS right after the risk
hook returns (``Journal``; ``RedisJournal``: sent then), so only a crash between the hook's
return and that write (microseconds) can make a fill be told twice.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from . import _decode_py
from ._fixed import fixed_to_str
from ._forms import algo_message_from_rest, message_from_rest
from ._states import (
    ACTIVE,
    CANCELLED,
    CANCELLING,
    EXPIRED,
    F_FILL,
    FAILED,
    FILLED,
    FINISHED,
    FIRST_TERMINAL,
    ORDER_TYPES,
    PLACING,
    REJECTED,
    TRIGGERED,
    TRIGGERING,
)
from .journal import JournalEntry

if TYPE_CHECKING:
    from .manager import OrderManager

log = logging.getLogger("trading_engine_python.orders.restart")

_SIDES = {"BUY": 0, "SELL": 1}
_TYPES = {name: i for i, name in enumerate(ORDER_TYPES)}
_TERMINAL_STATUS = {FILLED: "FILLED", CANCELLED: "CANCELED", EXPIRED: "EXPIRED"}
# An algo order that never filled: its state from ALGO_UPDATE statuses alone (an
# ORDER_TRADE_UPDATE-shaped answer would mean its trigger created an order: _states.py, note 7).
_ALGO_PATH = {PLACING: (), ACTIVE: ("NEW",), CANCELLING: ("NEW",), TRIGGERING: ("NEW", "TRIGGERING"),
              CANCELLED: ("CANCELED",), EXPIRED: ("EXPIRED",)}


async def restore(manager: OrderManager, *, reconcile: bool = True,
                  wall_clock: Any = time.time) -> dict[str, int]:
    """Restore ``manager``'s journaled orders (see the module docstring); returns counts."""
    report = {"restored": 0, "live": 0, "terminal": 0, "risk_owed": 0, "skipped": 0,
              "cancels_resent": 0, "resolving": 0}
    journal = manager.journal
    if journal is None:
        raise RuntimeError("restore() needs a manager with a journal")
    state = journal.state()
    core = manager._core
    now = wall_clock()
    pending_cancel: list[str] = []
    # Bringing an order back to its journaled state is nothing new to journal: the core marks
    # nothing meanwhile (set_dirty_mask), and the manager's mask comes back after.
    core.set_dirty_mask(0)
    try:
        _restore_entries(manager, state, now, report, pending_cancel)
    finally:
        manager._update_mask()
    if report["restored"]:
        log.info("journal: restored %d orders (%d live, %d terminal; %d owe the risk hook a fill)",
                 report["restored"], report["live"], report["terminal"], report["risk_owed"])
    if not reconcile:
        return report
    rec = await manager.reconcile()
    report.update(rec)
    for order in manager.restored:
        if order.state_code == PLACING:
            report["resolving"] += 1
            # An algo order is asked for at the Algo API, under its clientAlgoId.
            resolve = manager._resolve_algo(order) if order.is_algo else manager._resolver.resolve(order)
            manager._spawn(resolve)
    for cid in pending_cancel:
        order = core.get(cid)
        live = order is not None and order.is_live and order.state_code != CANCELLING
        if live and await manager.cancel_order(cid):
            report["cancels_resent"] += 1
    return report


def _restore_entries(manager: OrderManager, state: Any, now: float, report: dict[str, int],
                     pending_cancel: list[str]) -> None:
    """Step 1 and 2 for every journal entry (see the module docstring)."""
    core = manager._core
    retention = manager._terminal_ttl
    for e in sorted(state.entries.values(), key=lambda e: e.updated):
        if e.place is None:
            report["skipped"] += 1
            continue
        if core.get(e.client_id) is not None:
            continue
        change = e.change
        terminal = change is not None and change.state >= FIRST_TERMINAL
        if terminal and e.settled and now - e.updated > retention:
            continue
        try:
            order = _recreate(manager, e)
        except (ValueError, TypeError, KeyError) as exc:
            report["skipped"] += 1
            log.warning("journal entry %s cannot be restored: %s", e.client_id, exc)
            continue
        if order is None:
            report["skipped"] += 1
            continue
        manager.restored.append(order)
        report["restored"] += 1
        if order.is_live:
            report["live"] += 1
            if (e.action is not None and e.action.action == "cancel") or (
                    change is not None and change.state == CANCELLING):
                pending_cancel.append(e.client_id)
        else:
            report["terminal"] += 1
        if change is not None and change.filled > change.risk_filled and manager.risk_engine is not None:
            report["risk_owed"] += 1


def _recreate(manager: OrderManager, e: JournalEntry) -> Any:
    p = e.place
    assert p is not None
    core = manager._core
    cid = e.client_id
    change = e.change
    qty, px = int(p.quantity), int(p.price or 0)
    a = e.action
    if a is not None and a.action == "amend" and a.price:
        # Written before the amend left: the size it asked for, or (refused) the place's, whichever
        # is larger, so that no fill looks like completion; reconciliation's answers state the
        # exchange's size and price (an open order's answer is read as an amendment).
        qty, px = max(qty, int(a.quantity)), int(a.price)
    if change is not None and change.state != FILLED and change.filled >= qty:
        # Amended above what it has filled, to a size the journal lost (a later cancel intent
        # replaced the amend's): one unit more than the fill until the exchange states it.
        qty = change.filled + 1
    order = core.add(cid, p.sub_account_id, p.symbol, _SIDES[p.side], _TYPES[p.order_type], qty, px,
                     p.origin, p.parent_id, int(p.leverage), bool(p.reduce_only), p.time_in_force)
    told = manager._risk_told
    if change is None:
        return order  # the intent only: placing, to be looked up by client id
    if change.exchange_order_id is not None:
        core.set_exchange_id(cid, change.exchange_order_id)
    st = change.state
    if st in (REJECTED, FAILED):
        # Closed locally before the exchange acknowledged it (a definite reject, or "never placed").
        core.close_local(cid, st, 0, "restored from the journal")
        return order
    filled = change.filled
    risk = manager.risk_engine is not None
    heard = min(change.risk_filled, filled) if risk else filled
    finished = False
    if order.is_algo:
        if filled == 0 and st in _ALGO_PATH:
            for status in _ALGO_PATH[st]:
                _algo_answer(manager, order, status)
            if risk:
                told[cid] = 0
            return order
        # Triggered: the created order (same client id) holds the fills; FINISHED comes after them.
        _algo_answer(manager, order, "NEW")
        _algo_answer(manager, order, "TRIGGERED")
        finished = st == FINISHED
        if st in (FINISHED, TRIGGERING, CANCELLING):
            st = TRIGGERED
    if st != PLACING or heard:
        # Silent: the fill the risk hook already heard of (and the acknowledgement).
        _answer(manager, order, "PARTIALLY_FILLED" if heard else "NEW", heard, change.avg_price)
    if st in _TERMINAL_STATUS or filled > heard or st == ACTIVE:
        status = _TERMINAL_STATUS.get(st, "PARTIALLY_FILLED" if filled else "NEW")
        flags = _answer(manager, order, status, filled, change.avg_price)
        if flags & F_FILL and risk:
            # Owed from before the stop: the risk hook alone hears of it (the rest did already).
            manager._queue(manager._risk_fill, order.snapshot())
    if finished:
        _algo_answer(manager, order, "FINISHED")
    if risk:
        told[cid] = heard
    return order


def _algo_answer(manager: OrderManager, order: Any, status: str) -> int:
    """A synthetic Query Algo Order answer through the core's transition rules, not dispatched."""
    item: dict[str, Any] = {"clientAlgoId": order.client_order_id, "algoStatus": status,
                            "quantity": fixed_to_str(order.quantity_fp)}
    if order.exchange_order_id is not None:
        item["actualOrderId"] = order.exchange_order_id
    result, fields = _decode_py.decode_dict(algo_message_from_rest(item))
    return int(manager._core.feed_decoded(result, fields))


def _answer(manager: OrderManager, order: Any, status: str, filled: int, avg: int) -> int:
    """A synthetic status answer through the core's transition rules; the flags, not dispatched."""
    rest: dict[str, Any] = {
        "clientOrderId": order.client_order_id, "status": status, "executedQty": fixed_to_str(filled),
        "origQty": fixed_to_str(order.quantity_fp), "avgPrice": fixed_to_str(avg) if avg else "0",
    }
    if order.exchange_order_id is not None:
        rest["orderId"] = order.exchange_order_id
    result, fields = _decode_py.decode_dict(message_from_rest(rest))
    return int(manager._core.feed_decoded(result, fields))
