"""An in-place amendment (o.x AMENDMENT) through both cores: note 7 under ``_states.TRANSITIONS``."""

from __future__ import annotations

from trading_engine_python.orders import _decode_py
from trading_engine_python.orders import _states as S

from ..conftest import Implementation
from .conftest import FakeClock
from .test_core import CID, add, frame, make


def test_amendment_takes_price_and_quantity(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    order = add(core)
    core.feed(frame(CID, "NEW"))
    flags = core.feed(frame(CID, "NEW", x="AMENDMENT", p="64999.9", q="0.020"))
    assert flags & S.F_AMENDED and not flags & (S.F_STALE | S.F_CLOSED | S.F_FILL)
    assert (order.price, order.quantity, order.state) == (64999.9, 0.02, "active")
    assert order.remaining_qty == 0.02


def test_a_replayed_amendment_is_stale(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    core.feed(frame(CID, "NEW"))
    assert core.feed(frame(CID, "NEW", x="AMENDMENT", p="64999.9")) & S.F_AMENDED
    again = core.feed(frame(CID, "NEW", x="AMENDMENT", p="64999.9"))
    assert again & S.F_STALE and not again & S.F_AMENDED


def test_amendment_of_a_partly_filled_order_keeps_the_fill(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    order = add(core)
    core.feed(frame(CID, "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.3", ap="65000.3"))
    flags = core.feed(frame(CID, "PARTIALLY_FILLED", x="AMENDMENT", z="0.004", ap="65000.3", q="0.006"))
    assert flags & S.F_AMENDED and not flags & S.F_FILL
    assert (order.quantity, order.filled_qty, order.remaining_qty) == (0.006, 0.004, 0.002)
    # a quantity at or below the executed one is never taken (Binance cancels the order instead)
    assert not core.feed(frame(CID, "PARTIALLY_FILLED", x="AMENDMENT", z="0.004", q="0.004")) & S.F_AMENDED
    assert order.quantity == 0.006


def test_amendment_carrying_a_missed_fill_counts_it(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    order = add(core)
    core.feed(frame(CID, "NEW"))
    flags = core.feed(frame(CID, "PARTIALLY_FILLED", x="AMENDMENT", z="0.002", ap="65000.3", p="64000"))
    assert flags & S.F_FILL and flags & S.F_PARTIAL and flags & S.F_AMENDED
    assert (order.filled_qty, order.price) == (0.002, 64000.0)


def test_amendment_after_the_close_changes_nothing(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    order = add(core)
    core.feed(frame(CID, "CANCELED"))
    flags = core.feed(frame(CID, "NEW", x="AMENDMENT", p="1"))
    assert flags & S.F_STALE and order.price == 65000.3 and order.state == "cancelled"


def test_dict_input_with_amended(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    order = add(core)
    core.feed(frame(CID, "NEW"))
    r, fields = _decode_py.decode(frame(CID, "NEW", x="AMENDMENT", q="0.030"))
    assert fields["amended"] is True
    assert core.feed_decoded(r, fields) & S.F_AMENDED
    assert order.quantity == 0.03
    # only True counts; a q of the wrong type makes the frame malformed, as any other field
    assert core.feed_decoded(r, {**fields, "amended": 1, "q": 5_000_000}) & S.F_STALE
    assert core.feed_decoded(r, {**fields, "q": "0.1"}) == S.F_MALFORMED


def test_the_new_size_counts_before_the_fill_it_carries(impl: Implementation, clock: FakeClock) -> None:
    # A status answer after a restart: the order was amended from 0.010 to 0.030 and 0.024 filled
    # meanwhile. Measured against the old size it would look complete; it is not.
    core = make(impl, clock)
    order = add(core)
    core.feed(frame(CID, "NEW"))
    flags = core.feed(frame(CID, "PARTIALLY_FILLED", x="AMENDMENT", q="0.030", z="0.024", ap="65000.3"))
    assert flags & S.F_AMENDED and flags & S.F_PARTIAL and not flags & S.F_FILLED
    assert (order.state, order.quantity, order.filled_qty) == ("active", 0.03, 0.024)


def test_a_partial_fill_states_the_size_a_lost_amendment_set(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    order = add(core)
    core.feed(frame(CID, "NEW"))
    # the AMENDMENT to 0.030 @ 64999 was lost; the next trade says 0.012 of 0.030 filled
    flags = core.feed(frame(CID, "PARTIALLY_FILLED", q="0.030", p="64999", z="0.012", l="0.012", L="64999"))
    assert flags & S.F_AMENDED and flags & S.F_PARTIAL and not flags & S.F_FILLED
    assert (order.state, order.quantity, order.price, order.filled_qty) == ("active", 0.03, 64999.0, 0.012)
    # a duplicate of that frame (no fill increase) and an old NEW with the old size change nothing
    assert core.feed(frame(CID, "PARTIALLY_FILLED", q="0.030", p="64999", z="0.012")) & S.F_STALE
    assert core.feed(frame(CID, "NEW", q="0.010")) & S.F_STALE
    assert order.quantity == 0.03
    # FILLED is the exchange's word whatever the size
    assert core.feed(frame(CID, "FILLED", z="0.030", l="0.018", L="64999")) & S.F_FILLED
