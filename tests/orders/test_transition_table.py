"""Every row of the one transition table (``_states.TRANSITIONS``) walked through both cores.

For each state an order can be in, an order is driven there through the public API, the event is
applied (a feed frame or a local transition), and the outcome must be what the table's cell says,
with the flags its notes derive, identically on both cores. Algo (conditional) orders walk the same
rows, with ALGO_UPDATE frames for their own statuses and ORDER_TRADE_UPDATE frames of their created
order once triggered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest

from trading_engine_python.orders import _states as S

from ..conftest import Implementation
from .conftest import FakeClock
from .test_core import CID, Q, add, frame, make


def algo_frame(cid: str, status: str, *, aq: str | None = None, ai: str = "") -> bytes:
    """An ALGO_UPDATE as the captured one (tests/data/ws/algo_update_*.jsonl), fields swapped in."""
    o: dict[str, Any] = {
        "caid": cid, "aid": 1000000033225453, "at": "CONDITIONAL", "o": "STOP_MARKET", "s": "BTCUSDT",
        "S": "BUY", "ps": "BOTH", "f": "GTC", "q": "0.010", "X": status, "ai": ai, "tp": "66000",
        "p": "0", "V": "EXPIRE_MAKER", "wt": "CONTRACT_PRICE", "pm": "NONE", "cp": False, "pP": False,
        "R": False, "tt": 0, "gtd": 0,
    }
    if aq is not None:
        o["aq"] = aq
        o["ap"] = "65000.3"
        o["act"] = "MARKET"
    return orjson.dumps({"e": "ALGO_UPDATE", "T": 1765431097019, "E": 1765431097020, "o": o})


# How to bring a fresh order into each state, and whether the exchange has acknowledged it then.
PATHS: dict[str, tuple[int, bool, Callable[[Any], None]]] = {
    "placing": (S.PLACING, False, lambda c: None),
    "active": (S.ACTIVE, True, lambda c: c.feed(frame(CID, "NEW"))),
    "cancelling": (S.CANCELLING, False, lambda c: c.begin_cancel(CID)),
    "cancelling-acked": (S.CANCELLING, True, lambda c: (c.feed(frame(CID, "NEW")), c.begin_cancel(CID))),
    "filled": (S.FILLED, True, lambda c: c.feed(frame(CID, "FILLED", z="0.010", L="65000.3"))),
    "cancelled": (S.CANCELLED, True, lambda c: c.feed(frame(CID, "CANCELED"))),
    "expired": (S.EXPIRED, True, lambda c: c.feed(frame(CID, "EXPIRED"))),
    "rejected": (S.REJECTED, False, lambda c: c.close_local(CID, S.REJECTED, -2019, "margin")),
    "failed": (S.FAILED, False, lambda c: c.close_local(CID, S.FAILED, -1, "never placed")),
    # algo orders (a STOP_MARKET): the same states, and their own
    "algo-placing": (S.PLACING, False, lambda c: None),
    "algo-active": (S.ACTIVE, True, lambda c: c.feed(algo_frame(CID, "NEW"))),
    "algo-cancelling": (S.CANCELLING, False, lambda c: c.begin_cancel(CID)),
    "algo-cancelling-acked": (S.CANCELLING, True,
                              lambda c: (c.feed(algo_frame(CID, "NEW")), c.begin_cancel(CID))),
    "triggering": (S.TRIGGERING, True, lambda c: c.feed(algo_frame(CID, "TRIGGERING"))),
    "triggered": (S.TRIGGERED, True, lambda c: c.feed(algo_frame(CID, "TRIGGERED", aq="0", ai="7"))),
    "algo-filled": (S.FILLED, True, lambda c: c.feed(frame(CID, "FILLED", z="0.010", L="65000.3"))),
    "algo-cancelled": (S.CANCELLED, True, lambda c: c.feed(algo_frame(CID, "CANCELED"))),
    "algo-expired": (S.EXPIRED, True, lambda c: c.feed(algo_frame(CID, "EXPIRED"))),
    "algo-rejected": (S.REJECTED, False, lambda c: c.close_local(CID, S.REJECTED, -2021, "would trigger")),
    "algo-failed": (S.FAILED, False, lambda c: c.close_local(CID, S.FAILED, -1, "never placed")),
    "finished": (S.FINISHED, True, lambda c: c.feed(algo_frame(CID, "FINISHED", aq="0", ai="7"))),
}
ALGO_STATUS_NAMES = {S.EV_TRIGGERING: "TRIGGERING", S.EV_TRIGGERED: "TRIGGERED", S.EV_FINISHED: "FINISHED",
                     S.EV_NEW: "NEW", S.EV_CANCELED: "CANCELED", S.EV_EXPIRED: "EXPIRED",
                     S.EV_REJECTED: "REJECTED", S.EV_UNKNOWN: "SOMETHING_NEW"}
PRE_TRIGGER = (S.PLACING, S.ACTIVE, S.CANCELLING, S.TRIGGERING)
ALGO_COLUMNS = (S.EV_TRIGGERING, S.EV_TRIGGERED, S.EV_FINISHED)

# Feed events as frames without a fill increase (z = 0), except EV_COMPLETED, a fill to the size.
FEED_FRAMES: dict[int, Callable[[], bytes]] = {
    S.EV_UNKNOWN: lambda: frame(CID, "NEW_INSURANCE"),
    S.EV_NEW: lambda: frame(CID, "NEW"),
    S.EV_PARTIALLY_FILLED: lambda: frame(CID, "PARTIALLY_FILLED"),
    S.EV_FILLED: lambda: frame(CID, "FILLED", z="0"),
    S.EV_CANCELED: lambda: frame(CID, "CANCELED"),
    S.EV_EXPIRED: lambda: frame(CID, "EXPIRED"),
    S.EV_EXPIRED_IN_MATCH: lambda: frame(CID, "EXPIRED_IN_MATCH"),
    S.EV_REJECTED: lambda: frame(CID, "REJECTED"),
    S.EV_AMENDED: lambda: frame(CID, "NEW", x="AMENDMENT", p="65001.5", q="0.008"),
}


def completed_frame(path: str) -> bytes:
    """A fill increase that brings z to the size (past it for an order already filled)."""
    z = "0.011" if path.endswith("filled") else "0.010"
    if _is_algo(path) and PATHS[path][0] in PRE_TRIGGER:
        return algo_frame(CID, "NEW", aq=z)  # (a created order's frame would show the trigger first)
    return frame(CID, "PARTIALLY_FILLED", z=z, L="65000.3", ap="65000.3")


def feed_frame(path: str, ev: int) -> bytes:
    if ev == S.EV_COMPLETED:
        return completed_frame(path)
    state = PATHS[path][0]
    if _is_algo(path) and (ev in ALGO_COLUMNS or state in PRE_TRIGGER):
        return algo_frame(CID, ALGO_STATUS_NAMES[ev])
    return FEED_FRAMES[ev]()


def _is_algo(path: str) -> bool:
    return path.startswith("algo-") or path in ("triggering", "triggered", "finished")


def expected_feed_flags(state: int, ev: int, acked: bool) -> int:
    """The flags a feed event must return: the cell's own, then the notes under the table."""
    _, acts = S.TRANSITIONS[state][ev]
    flags = S.F_UNKNOWN_STATUS if ev == S.EV_UNKNOWN else 0
    if ev == S.EV_COMPLETED:
        flags |= S.F_FILL
    if acts & S.A_ACK and not acked:
        flags |= S.F_ACTIVATED
    flags |= (S.F_CLOSED if acts & S.A_CLOSED else 0) | (S.F_FILLED if acts & S.A_FILLED else 0)
    flags |= S.F_ORPHAN if acts & S.A_ORPHAN else 0
    flags |= S.F_TRIGGERED if acts & S.A_TRIGGER else 0
    flags |= S.F_AMENDED if acts & S.A_AMEND else 0  # the frame changes both price and quantity
    terminal = state >= S.FIRST_TERMINAL
    if flags & S.F_FILL:
        flags |= S.F_LATE_FILL if terminal else (0 if flags & S.F_FILLED else S.F_PARTIAL)
    elif terminal or not flags:
        flags |= S.F_STALE
    return flags


def _local(core: Any, ev: int, prev: int, acked: bool) -> tuple[bool, int]:
    """Apply a local transition through the core's API: (accepted, flags)."""
    if ev == S.EV_CANCEL_SENT:
        got = core.begin_cancel(CID)
        return got >= 0, 0
    if ev in (S.EV_CANCEL_REFUSED, S.EV_CANCEL_REFUSED_ACKED):
        # The core picks the column from what the cancel interrupted and whether the order is known.
        before = S.ACTIVE if ev == S.EV_CANCEL_REFUSED_ACKED else S.PLACING
        return bool(core.undo_cancel(CID, before)), 0
    state = S.REJECTED if ev == S.EV_REJECTED_LOCAL else S.FAILED
    got = core.close_local(CID, state, -2019, "refused")
    return got != 0, got


# Cells no order can reach: idle only exists inside add(), "place sent" only happens in add(), and
# the "cancel refused" columns are chosen by acknowledgement (an acknowledged order never takes the
# unacknowledged column and the reverse, except from "active", which is acknowledged).
#
# Algo columns reach algo orders only (an ALGO_UPDATE for a LIMIT/MARKET order is an unknown
# status), and an algo order's created-order frame or FINISHED in a state before triggered first
# takes the TRIGGERED cell (note 7): those cells are never reached.
def _reachable(path: str, ev: int) -> bool:
    state, acked, _ = PATHS[path]
    if ev == S.EV_PLACE_SENT:
        return False
    if ev in ALGO_COLUMNS and not _is_algo(path):
        return False
    if _is_algo(path) and state in PRE_TRIGGER and ev in _REVEALING:
        return False
    if ev == S.EV_CANCEL_REFUSED:
        return not acked
    if ev == S.EV_CANCEL_REFUSED_ACKED:
        return acked
    return True


# (an AMENDMENT is an ORDER_TRADE_UPDATE: for an algo order, its created order's)
_REVEALING = (S.EV_PARTIALLY_FILLED, S.EV_FILLED, S.EV_EXPIRED_IN_MATCH, S.EV_FINISHED, S.EV_AMENDED)
CASES = [(p, ev) for p in PATHS for ev in range(S.N_EVENTS) if _reachable(p, ev)]


@pytest.mark.parametrize(("path", "ev"), CASES, ids=[f"{p}-{S.EVENT_NAMES[e]}" for p, e in CASES])
def test_every_row_through_the_core(impl: Implementation, clock: FakeClock, path: str, ev: int) -> None:
    core = make(impl, clock)
    order = add(core) if not _is_algo(path) else core.add(CID, "sub1", "BTCUSDT", 0, 3, Q, 0, "MANUAL",
                                                           None, 5, False, "GTC")
    state, acked, drive = PATHS[path]
    drive(core)
    assert order.state_code == state, f"could not reach {path}"
    new, acts = S.TRANSITIONS[state][ev]
    want_state = state if new == S.KEEP else new
    if ev in FEED_FRAMES or ev == S.EV_COMPLETED or ev in ALGO_COLUMNS:
        flags = core.feed(feed_frame(path, ev))
        assert flags == expected_feed_flags(state, ev, acked)
    else:
        accepted, flags = _local(core, ev, state, acked)
        if ev in (S.EV_REJECTED_LOCAL, S.EV_FAILED_LOCAL) and acked:
            acts |= S.A_REFUSE  # note 5: once acknowledged, only the feed or a query may end it
            want_state = state
        assert accepted == (not acts & S.A_REFUSE)
        if accepted and acts & S.A_CLOSED:
            assert flags == S.F_CLOSED
    assert order.state_code == want_state
    if ev == S.EV_COMPLETED:
        assert order.filled_fp >= Q
    if ev == S.EV_AMENDED and not _is_algo(path):
        amended = bool(acts & S.A_AMEND)
        assert (order.price, order.quantity) == ((65001.5, 0.008) if amended else (65000.3, 0.010))
    elif ev == S.EV_AMENDED:
        assert (order.price, order.quantity) == (None, 0.010)  # never the created order's (note 9)


def test_add_takes_the_place_sent_cell(impl: Implementation, clock: FakeClock) -> None:
    new, _ = S.TRANSITIONS[S.IDLE][S.EV_PLACE_SENT]
    assert add(make(impl, clock)).state_code == new == S.PLACING


def test_every_cell_is_walked_or_unreachable() -> None:
    walked = {(PATHS[p][0], ev) for p, ev in CASES}
    for state in range(len(S.STATE_NAMES)):
        for ev in range(S.N_EVENTS):
            if state == S.IDLE or ev == S.EV_PLACE_SENT:
                continue  # only add() sees them: test_add_takes_the_place_sent_cell
            ackedness = {acked for st, acked, _ in PATHS.values() if st == state}
            if (ev == S.EV_CANCEL_REFUSED and False not in ackedness) or (
                ev == S.EV_CANCEL_REFUSED_ACKED and True not in ackedness
            ):
                continue  # the core picks the column by acknowledgement: see _reachable
            if (state in PRE_TRIGGER and ev == S.EV_FINISHED) or (
                state == S.TRIGGERING and ev in _REVEALING
            ):
                continue  # note 7: see _reachable
            assert (state, ev) in walked, (S.STATE_NAMES[state], S.EVENT_NAMES[ev])


def test_the_table_is_the_one_both_cores_run() -> None:
    """The compiled core copies ``_states.CELLS`` at import: a cell changed in the table changes
    the compiled behaviour too (checked by the walk above); the cells are complete ints."""
    assert len(S.CELLS) == len(S.STATE_NAMES)
    assert all(len(row) == S.N_EVENTS for row in S.CELLS)
    for state, row in S.TRANSITIONS.items():
        for ev, (new, acts) in row.items():
            assert S.CELLS[state][ev] == new | acts << 4
            assert new == S.KEEP or 0 <= new < len(S.STATE_NAMES)


def test_new_and_partially_filled_events_close_no_live_order() -> None:
    # The cores read a clock for a feed event only when it may close its order (_core_py
    # _may_close): a NEW or PARTIALLY_FILLED frame, and what it becomes (an amendment, a trigger
    # shown by the created order's events, an unknown status on an ALGO_UPDATE), must never take a
    # live order to a terminal state; a fill reaching the size (EV_COMPLETED) is the one way.
    for state in range(S.FIRST_TERMINAL):
        for ev in (S.EV_NEW, S.EV_PARTIALLY_FILLED, S.EV_AMENDED, S.EV_TRIGGERED, S.EV_UNKNOWN):
            cell = S.CELLS[state][ev]
            assert (cell >> 4) & S.A_REFUSE or (cell & 15) in (S.KEEP, *range(S.FIRST_TERMINAL)), (state, ev)
