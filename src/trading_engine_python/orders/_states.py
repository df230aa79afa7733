"""Order states and transition flags shared by both cores (small ints, one table of names)."""

from __future__ import annotations

from typing import Final

IDLE: Final = 0
PLACING: Final = 1
ACTIVE: Final = 2
CANCELLING: Final = 3
# Algo (conditional) orders only: the trigger fired (docs/binance-protocol.md, "Algo orders").
TRIGGERING: Final = 4  # ALGO_UPDATE TRIGGERING: being sent to the matching engine
TRIGGERED: Final = 5  # ALGO_UPDATE TRIGGERED: the created order (c = clientAlgoId) is in the book
FILLED: Final = 6
CANCELLED: Final = 7
EXPIRED: Final = 8
REJECTED: Final = 9
FAILED: Final = 10
FINISHED: Final = 11  # ALGO_UPDATE FINISHED, the created order ended short of the quantity
STATE_NAMES: Final = (
    "idle",
    "placing",
    "active",
    "cancelling",
    "triggering",
    "triggered",
    "filled",
    "cancelled",
    "expired",
    "rejected",
    "failed",
    "finished",
)
FIRST_TERMINAL: Final = FILLED  # states >= this never change again

# What one transition asks of the manager (bits of the int every core call returns).
F_ACTIVATED: Final = 1  # first acknowledgement by the exchange: publish order_active
F_FILL: Final = 2  # the cumulative fill went up: risk hook, last_fill_* hold the increase
F_PARTIAL: Final = 4  # ... and the order is still live: on_partial
F_FILLED: Final = 8  # now filled: on_fill
F_CLOSED: Final = 16  # now cancelled / expired / rejected / failed: on_cancel
F_LATE_FILL: Final = 32  # the fill increase reached an order already cancelled/expired/rejected/failed
F_UNKNOWN_STATUS: Final = 64
F_STALE: Final = 128  # a duplicate or out-of-date event: nothing changed
F_UNKNOWN_ID: Final = 256
F_MALFORMED: Final = 512
F_OTHER_EVENT: Final = 1024
F_ORPHAN: Final = 4096  # the exchange says open (NEW/PARTIALLY_FILLED) an order we closed rejected/failed
F_HOOKED: Final = 2048  # the order is marked (set_hooked): the shell has callbacks or a waiter on it
F_TRIGGERED: Final = 8192  # an algo order's trigger placed its order: on_trigger, order_triggered
F_AMENDED: Final = 16384  # the exchange amended it in place: its price and/or quantity changed (note 9)
F_CALLED: Final = 32768  # feed_call ran the order's callback, which raised or returned something
F_DIRTY: Final = 65536  # set_dirty_mask: this result's order made the dirty list non-empty (take_dirty)

SIDES: Final = ("BUY", "SELL")
# LIMIT and MARKET go to /fapi/v1/order; the rest are algo (conditional) orders, placed with
# /fapi/v1/algoOrder (docs/binance-protocol.md, "Algo orders").
ORDER_TYPES: Final = (
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
)
FIRST_ALGO_TYPE: Final = 2  # ORDER_TYPES index of the first algo type
EXPIRE_REASONS: Final = (None, "EXPIRED_IN_MATCH")  # OrderState.expire_reason by code

# ── The order state machine: one table, read by both cores ──
#
# Columns ("events"). The feed's o.X values keep their decoder codes (ST_* in _decode_py), except
# that any status we do not know counts as EV_UNKNOWN; EV_COMPLETED replaces the status when a fill
# brought the cumulative quantity to the order's size, whatever o.X said. The rest are the local
# transitions the manager drives (never from the content of a REST reply).
EV_UNKNOWN: Final = 0  # o.X missing or not one we know (NEW_INSURANCE, NEW_ADL, a future one)
EV_NEW: Final = 1
EV_PARTIALLY_FILLED: Final = 2
EV_FILLED: Final = 3
EV_CANCELED: Final = 4
EV_EXPIRED: Final = 5
EV_EXPIRED_IN_MATCH: Final = 6  # self-trade prevention expired it
EV_REJECTED: Final = 7
EV_COMPLETED: Final = 8  # a fill increase reached the order's quantity
EV_PLACE_SENT: Final = 9  # the manager hands the order to the exchange client
EV_CANCEL_SENT: Final = 10
EV_CANCEL_REFUSED: Final = 11  # the exchange certainly did not cancel; the order was never acknowledged
EV_CANCEL_REFUSED_ACKED: Final = 12  # ... and the exchange has acknowledged it
EV_REJECTED_LOCAL: Final = 13  # REST refused the place (or the client did, before sending)
EV_FAILED_LOCAL: Final = 14  # an unknown outcome resolved as "never placed"
# ALGO_UPDATE statuses of algo orders (its NEW, CANCELED, EXPIRED and REJECTED use the columns above)
EV_TRIGGERING: Final = 15
EV_TRIGGERED: Final = 16
EV_FINISHED: Final = 17
# o.x == "AMENDMENT" with o.X NEW / PARTIALLY_FILLED: the order was modified in place and stays
# live with the frame's p/q (docs/binance-protocol.md, "Amend in place"; note 9).
EV_AMENDED: Final = 18
N_EVENTS: Final = 19
EVENT_NAMES: Final = (
    "UNKNOWN",
    "NEW",
    "PARTIALLY_FILLED",
    "FILLED",
    "CANCELED",
    "EXPIRED",
    "EXPIRED_IN_MATCH",
    "REJECTED",
    "COMPLETED",
    "place sent",
    "cancel sent",
    "cancel refused",
    "cancel refused (acked)",
    "rejected locally",
    "failed locally",
    "TRIGGERING",
    "TRIGGERED",
    "FINISHED",
    "AMENDMENT",
)

# What a cell asks for besides the new state (bits of a cell, above its 4 state bits).
KEEP: Final = 15  # the state does not change
A_ACK: Final = 1  # the exchange knows the order: acknowledged; the first time, F_ACTIVATED
A_SEEN: Final = 2  # acknowledged too, without F_ACTIVATED (the order is closing as we learn of it)
A_CLOSED: Final = 4  # -> F_CLOSED (on_cancel)
A_FILLED: Final = 8  # -> F_FILLED (on_fill)
A_ORPHAN: Final = 16  # -> F_ORPHAN: counted; the shell cancels an order nobody manages
A_REFUSE: Final = 32  # not allowed from this state: nothing changes, the caller is told no
A_TRIGGER: Final = 64  # -> F_TRIGGERED (on_trigger): an algo order's created order exists
A_AMEND: Final = 128  # take the frame's p/q as the order's price/quantity; F_AMENDED if one changed

_LIVE_FEED = {  # the feed rows of the live states, the differences noted per row
    EV_UNKNOWN: (KEEP, 0),  # unknown status: no state change; money it carries still counts (note 1)
    EV_FILLED: (FILLED, A_SEEN | A_FILLED),  # believed even with z < q: the exchange's word (note 2)
    EV_CANCELED: (CANCELLED, A_SEEN | A_CLOSED),
    EV_EXPIRED: (EXPIRED, A_SEEN | A_CLOSED),  # GTX that would cross, IOC/market remainder
    EV_EXPIRED_IN_MATCH: (EXPIRED, A_SEEN | A_CLOSED),  # STP; the reason is kept on the order (note 8)
    EV_REJECTED: (REJECTED, A_SEEN | A_CLOSED),
    EV_COMPLETED: (FILLED, A_SEEN | A_FILLED),  # even under an unknown or closing status (note 3)
    EV_REJECTED_LOCAL: (KEEP, A_REFUSE),
    EV_FAILED_LOCAL: (KEEP, A_REFUSE),
    EV_PLACE_SENT: (KEEP, A_REFUSE),
    # Algo statuses. Before the trigger they come to an algo order only (note 7); FINISHED
    # short of the quantity: its created order ended (cancelled, expired) without our seeing it.
    EV_TRIGGERING: (TRIGGERING, A_ACK),
    EV_TRIGGERED: (TRIGGERED, A_ACK | A_TRIGGER),
    EV_FINISHED: (FINISHED, A_SEEN | A_CLOSED),
}
_CLOSED_FEED = {  # the feed rows of cancelled / expired (terminal, never live again: note 4)
    EV_UNKNOWN: (KEEP, 0),
    EV_NEW: (KEEP, 0),  # a NEW arriving after the CANCELED (reordered, or replayed): stale
    EV_PARTIALLY_FILLED: (KEEP, 0),  # its fill, if z went up, still counts: a late fill (note 4)
    EV_FILLED: (KEEP, 0),  # FILLED without a fill increase after a close: stale
    EV_CANCELED: (KEEP, 0),
    EV_EXPIRED: (KEEP, 0),  # an EXPIRED after the end is not a second end
    EV_EXPIRED_IN_MATCH: (KEEP, 0),
    EV_REJECTED: (KEEP, 0),
    EV_COMPLETED: (FILLED, A_FILLED),  # a late fill that completes it: it did fill after all
    EV_TRIGGERING: (KEEP, 0),  # a trigger after our cancel closed it (reordered): its fills are late
    EV_TRIGGERED: (KEEP, 0),
    EV_FINISHED: (KEEP, 0),  # the created order's own end came first
    EV_AMENDED: (KEEP, 0),  # an amendment after the close (reordered): stale
}
_TERMINAL_LOCAL = {  # a terminal order takes no local transition
    EV_PLACE_SENT: (KEEP, A_REFUSE),
    EV_CANCEL_SENT: (KEEP, A_REFUSE),
    EV_CANCEL_REFUSED: (KEEP, A_REFUSE),
    EV_CANCEL_REFUSED_ACKED: (KEEP, A_REFUSE),
    EV_REJECTED_LOCAL: (KEEP, A_REFUSE),
    EV_FAILED_LOCAL: (KEEP, A_REFUSE),
}
_NEVER_PLACED = {  # rejected / failed: declared never placed, yet the exchange says it exists
    # An orphan nobody manages. It stays terminal; the shell cancels it; its fills are late fills.
    EV_NEW: (KEEP, A_ORPHAN),
    EV_PARTIALLY_FILLED: (KEEP, A_ORPHAN),
    EV_TRIGGERING: (KEEP, A_ORPHAN),
    EV_TRIGGERED: (KEEP, A_ORPHAN),
    EV_AMENDED: (KEEP, A_ORPHAN),
}

# TRANSITIONS[state][event] = (new state or KEEP, actions). Every (state, event) pair is listed.
TRANSITIONS: Final[dict[int, dict[int, tuple[int, int]]]] = {
    # idle: only add() sees it, and it sends the order out of idle before it returns
    IDLE: {
        **{ev: (KEEP, 0) for ev in range(N_EVENTS)},  # never reached: no feed before the place
        **_TERMINAL_LOCAL,
        EV_PLACE_SENT: (PLACING, 0),
    },
    PLACING: {
        **_LIVE_FEED,
        EV_NEW: (ACTIVE, A_ACK),  # an algo order's NEW too: waiting for its trigger
        EV_PARTIALLY_FILLED: (ACTIVE, A_ACK),  # a fill can be the first thing we hear of it
        EV_AMENDED: (ACTIVE, A_ACK | A_AMEND),  # amended before its NEW reached us: it rests
        EV_CANCEL_SENT: (CANCELLING, 0),  # cancel before the NEW arrived: allowed, the id is ours
        EV_CANCEL_REFUSED: (KEEP, A_REFUSE),
        EV_CANCEL_REFUSED_ACKED: (KEEP, A_REFUSE),
        EV_REJECTED_LOCAL: (REJECTED, A_CLOSED),  # only while unacknowledged (note 5)
        EV_FAILED_LOCAL: (FAILED, A_CLOSED),  # only while unacknowledged (note 5)
    },
    ACTIVE: {
        **_LIVE_FEED,
        EV_NEW: (KEEP, A_ACK),  # duplicate NEW: stale
        EV_PARTIALLY_FILLED: (KEEP, A_ACK),
        EV_AMENDED: (KEEP, A_ACK | A_AMEND),
        EV_CANCEL_SENT: (CANCELLING, 0),
        EV_CANCEL_REFUSED: (KEEP, A_REFUSE),
        EV_CANCEL_REFUSED_ACKED: (KEEP, A_REFUSE),
    },
    CANCELLING: {
        **_LIVE_FEED,
        EV_NEW: (KEEP, A_ACK),  # the place's NEW overtook by our cancel: still cancelling, not active
        EV_PARTIALLY_FILLED: (KEEP, A_ACK),  # a fill while the cancel is in flight: on_partial
        EV_AMENDED: (KEEP, A_ACK | A_AMEND),  # an amend answered before the cancel: still cancelling
        EV_CANCEL_SENT: (KEEP, A_REFUSE),  # one cancel in flight at a time
        EV_CANCEL_REFUSED: (PLACING, 0),  # back to where it was
        EV_CANCEL_REFUSED_ACKED: (ACTIVE, 0),  # acknowledged while the cancel was in flight: active
        EV_REJECTED_LOCAL: (REJECTED, A_CLOSED),  # the place itself was refused (note 5)
        EV_FAILED_LOCAL: (FAILED, A_CLOSED),  # never placed after all (note 5)
        # (TRIGGERING / TRIGGERED: the trigger won the race with our algo cancel, which fails)
    },
    TRIGGERING: {
        **_LIVE_FEED,
        EV_NEW: (KEEP, A_ACK),  # a late algo NEW: stale
        EV_PARTIALLY_FILLED: (KEEP, A_ACK),
        EV_TRIGGERING: (KEEP, A_ACK),
        EV_AMENDED: (KEEP, A_ACK),  # an algo order's size and price are not the created order's
        EV_CANCEL_SENT: (KEEP, A_REFUSE),  # neither the algo order nor its created order to cancel
        EV_CANCEL_REFUSED: (KEEP, 0),  # the algo cancel lost the race with the trigger
        EV_CANCEL_REFUSED_ACKED: (KEEP, 0),
    },
    TRIGGERED: {
        **_LIVE_FEED,
        EV_NEW: (KEEP, A_ACK),  # the created order's NEW
        EV_PARTIALLY_FILLED: (KEEP, A_ACK),  # the created order's fills: on_partial
        EV_TRIGGERING: (KEEP, 0),  # stale
        EV_TRIGGERED: (KEEP, 0),  # stale
        EV_AMENDED: (KEEP, A_ACK),  # the created order amended (not by us): the algo order keeps its own
        EV_CANCEL_SENT: (KEEP, 0),  # cancels the created order; its CANCELED ends this one
        EV_CANCEL_REFUSED: (KEEP, 0),
        EV_CANCEL_REFUSED_ACKED: (KEEP, 0),
    },
    FILLED: {
        **_CLOSED_FEED,
        EV_COMPLETED: (KEEP, 0),  # z above q on a filled order: counted as a late fill, stays filled
        **_TERMINAL_LOCAL,
    },
    CANCELLED: {**_CLOSED_FEED, **_TERMINAL_LOCAL},
    EXPIRED: {**_CLOSED_FEED, **_TERMINAL_LOCAL},
    REJECTED: {**_CLOSED_FEED, **_NEVER_PLACED, **_TERMINAL_LOCAL},
    FAILED: {**_CLOSED_FEED, **_NEVER_PLACED, **_TERMINAL_LOCAL},
    FINISHED: {**_CLOSED_FEED, **_TERMINAL_LOCAL},
}
# Notes: the arithmetic that stays in code, the same in both cores.
# 1. z (o.z, the cumulative filled quantity; ALGO_UPDATE's o.aq) is the truth: a z above what we
#    know is a fill increase (F_FILL; last_fill_* hold the increase, avg from o.ap), any other z
#    changes nothing. An unknown status still carries its fill, and is counted (F_UNKNOWN_STATUS).
# 2. FILLED without z means all of it; with z, z is the truth.
# 3. The column is EV_COMPLETED whenever a fill increase brings z to the quantity.
# 4. A terminal state never changes but to filled (EV_COMPLETED); a fill increase that reaches a
#    terminal order is counted as a late fill (F_LATE_FILL) and still goes to the callbacks.
# 5. Local closes are refused once the order is acknowledged: from then on only the feed or a
#    status query may end it.
# 6. F_PARTIAL: a fill increase on a live order that did not complete it (on_partial runs for the
#    fill before on_cancel when the same event closes the order). F_STALE: nothing changed (a
#    terminal order without a fill increase; a live one with no flag at all).
# 7. Algo orders (type >= FIRST_ALGO_TYPE) share the rows. An ORDER_TRADE_UPDATE for one (its
#    created order, c = clientAlgoId) or its ALGO_UPDATE FINISHED, reaching it in a state before
#    TRIGGERED (placing, active, cancelling, triggering: the TRIGGERED frame was lost or late),
#    first takes the EV_TRIGGERED cell, then its own. An ALGO_UPDATE for a LIMIT/MARKET order is
#    an unknown status (EV_UNKNOWN), as is an algo status in an ORDER_TRADE_UPDATE (decoder).
# 8. An order closed by EV_EXPIRED_IN_MATCH (self-trade prevention) keeps that as its
#    expire_reason (EXPIRE_REASONS[1]).
# 9. EV_AMENDED is the column when o.x is AMENDMENT and o.X is NEW or PARTIALLY_FILLED. Such a
#    frame, and a PARTIALLY_FILLED one with a fill increase (it states the size the fill is part
#    of, and heals a lost amendment), set a LIMIT/MARKET order's size first when its row has
#    A_AMEND in that column: o.p (if above 0) and o.q (if above both the filled quantity and o.z)
#    become its price and quantity BEFORE the fill arithmetic, so the fill is measured against the
#    size the exchange states (a fill completing it still makes the column EV_COMPLETED).
#    F_AMENDED only when one of them changed, so a replayed amendment is stale; a duplicate fill
#    frame has no increase and changes nothing. Binance cancels instead of amending a quantity at
#    or below the executed one. Algo orders never take a size from a frame (their created order's
#    is not theirs).


def _cells() -> tuple[tuple[int, ...], ...]:
    """TRANSITIONS as ints, ``new_state | actions << 4``: the form both cores index."""
    rows = []
    for state in range(len(STATE_NAMES)):
        row = TRANSITIONS[state]
        if sorted(row) != list(range(N_EVENTS)):
            raise AssertionError(f"transition row {STATE_NAMES[state]} does not list every event")
        rows.append(tuple(new | actions << 4 for new, actions in (row[ev] for ev in range(N_EVENTS))))
    return tuple(rows)


CELLS: Final = _cells()


# What OrderState.to_dict() gives, in this order (both cores).
PUBLIC_FIELDS: Final = (
    "client_order_id",
    "exchange_order_id",
    "sub_account_id",
    "symbol",
    "side",
    "order_type",
    "quantity",
    "price",
    "state",
    "filled_qty",
    "avg_price",
    "last_fill_qty",
    "last_fill_price",
    "origin",
    "parent_id",
    "leverage",
    "reduce_only",
    "time_in_force",
    "error",
    "expire_reason",
)

# OrderCore.counters() keys; the compiled core's C_* counter indexes follow this order.
COUNTERS: Final = (
    "added",
    "frames",
    "malformed",
    "other_events",
    "unknown_ids",
    "unknown_status",
    "stale",
    "fills",
    "late_fills",
    "orphans",
    "terminal",
    "evicted",
)
