"""The core's dirty list (set_dirty_mask / take_dirty), both twins: the orders whose feed or
local-close result had a mask bit, once each, in marking order, with F_DIRTY on the result that
made the list non-empty; orders evicted before they are taken come back with their final values."""

from __future__ import annotations

import gc
from typing import Any

import pytest

from trading_engine_python.orders import _decode_py
from trading_engine_python.orders._states import (
    F_ACTIVATED,
    F_CLOSED,
    F_DIRTY,
    F_FILL,
    F_FILLED,
    F_HOOKED,
    F_PARTIAL,
    F_STALE,
    REJECTED,
)

from ..conftest import Implementation
from .conftest import FakeClock
from .test_core import CID, Q, add, frame, make

MASK = F_ACTIVATED | F_FILL | F_FILLED | F_CLOSED  # the manager's, with a journal
OTHER = "PMSsub1_LMT_other0000000001"


def test_nothing_is_marked_without_a_mask(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    assert core.feed(frame(CID, "NEW")) == F_ACTIVATED
    assert core.take_dirty() == []


def test_marks_once_in_order_and_flags_only_the_first(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    core.set_dirty_mask(MASK)
    a, b = add(core), add(core, OTHER)
    assert core.feed(frame(CID, "NEW", i=1)) == F_ACTIVATED | F_DIRTY
    assert core.feed(frame(OTHER, "NEW", i=2)) == F_ACTIVATED
    assert core.feed(frame(CID, "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.3", ap="65000.3",
                           i=1)) == F_FILL | F_PARTIAL
    assert core.feed(frame(OTHER, "NEW", i=2)) == F_STALE  # no mask bit: not marked again
    taken = core.take_dirty()
    assert taken == [a, b] and taken[0] is a and taken[1] is b
    assert a.filled_fp == 400_000  # the view reads the record: the latest values
    assert core.take_dirty() == []
    # emptied: the next marking result carries F_DIRTY again
    assert core.feed(frame(OTHER, "CANCELED", i=2)) == F_CLOSED | F_DIRTY
    assert core.take_dirty() == [b]


def test_a_result_without_a_mask_bit_is_not_marked(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    core.set_dirty_mask(F_CLOSED)
    add(core)
    assert core.feed(frame(CID, "NEW")) == F_ACTIVATED
    assert core.take_dirty() == []
    core.set_hooked(CID, True)
    assert core.feed(frame(CID, "CANCELED")) == F_CLOSED | F_HOOKED | F_DIRTY
    assert [o.state for o in core.take_dirty()] == ["cancelled"]


def test_feed_decoded_feed_call_and_close_local_mark(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    core.set_dirty_mask(MASK)
    a, b, c = add(core), add(core, OTHER), add(core, "PMSsub1_LMT_third0000000001")
    assert core.feed_decoded(*_decode_py.decode(frame(CID, "NEW", i=1))) == F_ACTIVATED | F_DIRTY
    assert core.feed_call(frame(OTHER, "NEW", i=2), None, 0) == F_ACTIVATED
    assert core.close_local(c.client_order_id, REJECTED, -2019, "Margin is insufficient.") == F_CLOSED
    assert core.take_dirty() == [a, b, c]


def test_an_order_evicted_before_it_is_taken_comes_back_frozen(impl: Implementation,
                                                              clock: FakeClock) -> None:
    core = make(impl, clock, ttl=0.0)
    core.set_dirty_mask(MASK)
    add(core)
    assert core.feed(frame(CID, "FILLED", z="0.010", i=1)) == F_FILL | F_FILLED | F_DIRTY
    gc.collect()  # no view held: the compiled twin freezes one from the record as it lets go
    again = add(core)  # evicts the filled order (ttl 0), same client id, possibly the same slot
    assert core.get(CID) is again and core.counters()["evicted"] == 1
    assert core.feed(frame(CID, "NEW", i=2)) == F_ACTIVATED
    old, new = core.take_dirty()
    assert (old.state, old.filled_fp, old.exchange_order_id, old.client_order_id) == ("filled", Q, 1, CID)
    assert new is again and (new.state, new.exchange_order_id) == ("active", 2)
    assert core.take_dirty() == []


def test_many_evicted_orders_keep_their_marking_order(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock, max=0)
    core.set_dirty_mask(MASK)
    cids = [f"PMSsub1_LMT_many{k:012d}" for k in range(200)]
    for k, cid in enumerate(cids):
        add(core, cid)
        core.feed(frame(cid, "CANCELED" if k % 2 else "NEW", i=k + 1))
    gc.collect()
    taken = core.take_dirty()
    assert [o.client_order_id for o in taken] == cids
    assert [o.state for o in taken] == ["active" if k % 2 == 0 else "cancelled" for k in range(200)]
    assert core.counters()["evicted"] == 99  # every cancelled order but the last


def test_take_dirty_under_the_reentry_guard(impl: Implementation, clock: FakeClock) -> None:
    seen: list[Any] = []
    armed = [False]
    core: Any = None

    def meddling_clock() -> float:
        if armed[0]:
            try:
                core.take_dirty()
            except RuntimeError as exc:
                seen.append(exc)
        return clock()

    core = make(impl, meddling_clock)
    core.set_dirty_mask(MASK)
    a = add(core)
    armed[0] = True
    assert core.feed(frame(CID, "CANCELED")) == F_CLOSED | F_DIRTY  # closing: the clock is read
    armed[0] = False
    assert len(seen) == 1 and "busy" in str(seen[0])  # refused inside, the list untouched
    # A callback run by feed_call runs once the core is free: it may take the list.
    b = add(core, OTHER)
    core.set_hook(OTHER, 0)
    core.set_hooked(OTHER, True)
    taken: list[Any] = []
    table = [(None, None, lambda o: taken.extend(core.take_dirty()), None)]
    assert core.feed_call(frame(OTHER, "CANCELED"), table, 0) == F_CLOSED
    assert taken == [a, b] and core.take_dirty() == []


def test_set_dirty_mask_takes_an_int(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    for bad in (True, 1.0, "8", None):
        with pytest.raises(TypeError):
            core.set_dirty_mask(bad)
    core.set_dirty_mask(2**70 | F_CLOSED | F_DIRTY)  # bits beyond the flags are ignored
    add(core)
    assert core.feed(frame(CID, "CANCELED")) == F_CLOSED | F_DIRTY
    core.set_dirty_mask(0)  # off: what is marked stays until taken
    add(core, OTHER)
    assert core.feed(frame(OTHER, "CANCELED")) == F_CLOSED
    assert [o.client_order_id for o in core.take_dirty()] == [CID]
