"""The order core (records, indexes, retention, views, the transition rules), both twins.

Every behavioural test takes ``impl`` and runs on ``_core_c.OrderCore`` and ``_core_py.OrderCore``.
Frames are the real captured shapes (f0cii/moxt BTCUSDT NEW/CANCELED, Slavian2015/Defi XRPUSDT
two-trade fill; see tests/data/README.md) with our ids and numbers swapped in.
"""

from __future__ import annotations

import copy
import gc
import importlib
import json
import pickle
import sys
import tracemalloc
from typing import Any

import pytest

from trading_engine_python.orders import _core_py, _decode_py
from trading_engine_python.orders._fixed import to_fixed
from trading_engine_python.orders._states import (
    ACTIVE,
    CANCELLING,
    F_ACTIVATED,
    F_CALLED,
    F_CLOSED,
    F_FILL,
    F_FILLED,
    F_HOOKED,
    F_LATE_FILL,
    F_MALFORMED,
    F_OTHER_EVENT,
    F_PARTIAL,
    F_STALE,
    F_TRIGGERED,
    F_UNKNOWN_ID,
    F_UNKNOWN_STATUS,
    FAILED,
    PLACING,
    REJECTED,
)

from ..conftest import Implementation
from .conftest import FakeClock

CID = "PMSsub1_LMT_1a2b3c4d5e6f7g8h"
OID = 8389765739703625592  # > 2**53: must never pass through a float
Q = to_fixed("0.010")
P = to_fixed("65000.3")


def frame(cid: str, status: str, *, z: str | None = "0", l: str | None = "0", L: str | None = "0",  # noqa: E741
          ap: str | None = "0", i: int | None = OID, E: int | None = 1704459987709,
          e: str = "ORDER_TRADE_UPDATE", x: str = "TRADE", p: str = "65000.3", q: str = "0.010") -> bytes:
    """The real f0cii/moxt frame (every key Binance sends in hedge mode), fields swapped in."""
    o: dict[str, Any] = {
        "s": "BTCUSDT", "c": cid, "S": "BUY", "o": "LIMIT", "f": "GTC", "q": q, "p": p,
        "ap": ap, "sp": "0", "x": x, "X": status, "i": i, "l": l, "z": z, "L": L, "n": "0",
        "N": "USDT", "T": 1704459987707, "t": 0, "b": "200", "a": "0", "m": False, "R": False,
        "wt": "CONTRACT_PRICE", "ot": "LIMIT", "ps": "LONG", "cp": False, "rp": "0", "pP": False,
        "si": 0, "ss": 0, "V": "NONE", "pm": "NONE", "gtd": 0,
    }
    o = {k: v for k, v in o.items() if v is not None}
    msg: dict[str, Any] = {"e": e, "T": 1704459987707, "o": o}
    if E is not None:
        msg["E"] = E
    return json.dumps(msg, separators=(",", ":")).encode()


def add(core: Any, cid: str = CID, *, sub: str = "sub1", sym: str = "BTCUSDT", qty: int = Q, price: int = P,
        parent: str | None = None, origin: str = "MANUAL", tif: str | None = "GTC", side: int = 0,
        lev: int = 5, ro: bool = False) -> Any:
    return core.add(cid, sub, sym, side, 0 if price else 1, qty, price, origin, parent, lev, ro, tif)


def make(impl: Implementation, clock: FakeClock, **kw: Any) -> Any:
    return impl.core.OrderCore(kw.pop("ttl", 600.0), kw.pop("max", 100_000), clock)


# ── the module surface ──


@pytest.mark.c_extension
def test_compiled_core_is_importable() -> None:
    mod = importlib.import_module("trading_engine_python.orders._core_c")
    assert mod.__file__ is not None and mod.__file__.endswith(".so"), "the Cython core was not built"
    assert mod.IMPLEMENTATION == "cython" and mod.OrderCore.implementation == "cython"


@pytest.mark.c_extension
def test_compiled_surface_matches_pure() -> None:
    c = importlib.import_module("trading_engine_python.orders._core_c")
    assert c.PUBLIC_FIELDS == _core_py.PUBLIC_FIELDS
    assert c.COUNTERS == _core_py.COUNTERS
    for cls in ("OrderCore", "OrderState"):
        pure = {n for n in dir(getattr(_core_py, cls)) if not n.startswith("_")}
        comp = {n for n in dir(getattr(c, cls)) if not n.startswith("_")}
        assert pure <= comp, pure - comp


def test_add_registers_a_placing_order(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core, parent="chase-1", ro=True)
    assert core.implementation in ("cython", "python")
    assert o.state == "placing" and o.state_code == PLACING and o.is_live and not o.is_terminal
    assert (o.client_order_id, o.sub_account_id, o.symbol, o.side, o.order_type) == (
        CID, "sub1", "BTCUSDT", "BUY", "LIMIT")
    # the double nearest the exact decimal
    assert o.price == 65000.3 and o.quantity == 0.01 and o.quantity_fp == Q and o.price_fp == P
    assert (o.filled_qty, o.filled_fp, o.remaining_qty, o.avg_price) == (0.0, 0, 0.01, 0.0)
    assert (o.origin, o.parent_id, o.leverage, o.reduce_only, o.time_in_force) == (
        "MANUAL", "chase-1", 5, True, "GTC")
    assert o.exchange_order_id is None and o.error is None
    assert o.to_dict() == {name: getattr(o, name) for name in _core_py.PUBLIC_FIELDS}
    assert CID in repr(o) and "placing" in repr(o)
    assert len(core) == 1 and core.get(CID) is o
    c = core.counters()
    assert (c["added"], c["tracked"], c["live"]) == (1, 1, 1)
    assert list(c) == [*_core_py.COUNTERS, "tracked", "live"]
    market = add(core, "PMSsub1_MKT_x", price=0, side=1, tif=None)
    assert market.price is None and market.order_type == "MARKET" and market.side == "SELL"


def test_add_refuses_duplicates_and_long_ids(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    with pytest.raises(ValueError, match="already tracked"):
        add(core)
    with pytest.raises(ValueError, match="36"):
        add(core, "x" * 37)
    with pytest.raises(ValueError, match="36"):
        add(core, "é" * 19)  # 19 characters, 38 UTF-8 bytes
    add(core, "é" * 18)
    add(core, "")
    assert len(core) == 3 and core.counters()["added"] == 3


# ── the transition rules ──


def test_new_activates_once(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    assert core.feed(frame(CID, "NEW")) == F_ACTIVATED
    assert o.state == "active" and o.exchange_order_id == OID and type(o.exchange_order_id) is int
    assert core.feed(frame(CID, "NEW")) == F_STALE  # duplicate NEW changes nothing
    assert core.counters()["stale"] == 1 and core.last_order() is o


def test_partial_fills_count_each_increase(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    # feed before anything else: a partial on a placing order activates it too
    assert core.feed(frame(CID, "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.1", ap="65000.1")) == (
        F_ACTIVATED | F_FILL | F_PARTIAL)
    assert (o.state, o.filled_qty, o.last_fill_qty, o.last_fill_price) == ("active", 0.004, 0.004, 65000.1)
    assert core.feed(frame(CID, "PARTIALLY_FILLED", z="0.004", l="0.004")) == F_STALE  # same z: stale
    assert core.feed(frame(CID, "PARTIALLY_FILLED", z="0.003")) == F_STALE  # smaller z: stale
    flags = core.feed(frame(CID, "PARTIALLY_FILLED", z="0.006", L="65000.2", ap="65000.14"))
    assert flags == F_FILL | F_PARTIAL
    assert (o.filled_qty, o.last_fill_qty, o.avg_price, o.remaining_qty) == (0.006, 0.002, 65000.14, 0.004)
    assert core.counters()["fills"] == 2


def test_partial_keeps_cancelling(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    core.feed(frame(CID, "NEW"))
    assert core.begin_cancel(CID) == ACTIVE and o.state == "cancelling"
    assert core.feed(frame(CID, "PARTIALLY_FILLED", z="0.001")) == F_FILL | F_PARTIAL
    assert o.state == "cancelling"  # the cancel is still in flight


def test_filled_fires_once_and_without_z_means_all(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    assert core.feed(frame(CID, "FILLED", z=None, l=None, L=None, ap=None)) == F_FILL | F_FILLED
    assert (o.state, o.filled_fp, o.is_terminal, o.is_live) == ("filled", Q, True, False)
    assert core.feed(frame(CID, "FILLED", z="0.010")) == F_STALE
    assert core.live() == [] and core.get(CID) is o  # still findable within the retention
    c = core.counters()
    assert (c["terminal"], c["live"], c["tracked"]) == (1, 0, 1)


@pytest.mark.parametrize(("status", "state"), [
    ("CANCELED", "cancelled"), ("EXPIRED", "expired"), ("EXPIRED_IN_MATCH", "expired"),
    ("REJECTED", "rejected"),
])
def test_closing_statuses_apply_their_fill_first(impl: Implementation, clock: FakeClock, status: str,
                                                  state: str) -> None:
    core = make(impl, clock)
    o = add(core)
    core.feed(frame(CID, "NEW"))
    # the fill is applied first (F_PARTIAL: on_partial for it), then the order closes
    assert core.feed(frame(CID, status, z="0.002", L="65000.3")) == F_FILL | F_PARTIAL | F_CLOSED
    assert (o.state, o.filled_qty, o.last_fill_price) == (state, 0.002, 65000.3)
    assert core.feed(frame(CID, status, z="0.002")) == F_STALE  # on_cancel exactly once


def test_late_fill_after_cancel_is_applied_and_completes(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    core.feed(frame(CID, "NEW"))
    assert core.feed(frame(CID, "CANCELED", z="0.004", L="65000.1")) == F_FILL | F_PARTIAL | F_CLOSED
    # a late fill on a cancelled order: money is never dropped, the state stays terminal
    assert core.feed(frame(CID, "PARTIALLY_FILLED", z="0.006", L="65000.2")) == F_FILL | F_LATE_FILL
    assert (o.state, o.filled_qty, o.last_fill_qty) == ("cancelled", 0.006, 0.002)
    # ... and when it turns out complete, it did fill after all
    assert core.feed(frame(CID, "FILLED", z="0.010", L="65000.3")) == F_FILL | F_LATE_FILL | F_FILLED
    assert o.state == "filled" and not o.is_live
    assert core.feed(frame(CID, "NEW")) == F_STALE  # terminal never goes back to live
    c = core.counters()
    assert (c["late_fills"], c["terminal"], c["live"]) == (2, 2, 0)


def test_unknown_status_changes_no_state_but_keeps_money(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    assert core.feed(frame(CID, "NEW_INSURANCE")) == F_UNKNOWN_STATUS
    assert o.state == "placing"
    assert core.feed(frame(CID, "CALCULATED", z="0.004")) == F_UNKNOWN_STATUS | F_FILL | F_PARTIAL
    assert o.state == "placing" and o.filled_qty == 0.004
    assert core.feed(frame(CID, "NEW_ADL", z="0.010")) == F_UNKNOWN_STATUS | F_FILL | F_FILLED
    assert o.state == "filled"
    assert core.counters()["unknown_status"] == 3


def test_unknown_ids_malformed_and_other_events(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    assert core.feed(frame("web_w4Sot5R1ym9ChzWfGdAm", "NEW")) == F_UNKNOWN_ID
    assert core.feed(frame("P" * 40, "NEW")) == F_UNKNOWN_ID  # longer than any id of ours
    assert core.last_order() is None
    assert core.feed(b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"x"') == F_MALFORMED  # truncated
    assert core.feed(frame(CID, "NEW", z="0.000000001")) == F_MALFORMED  # 9 decimals
    assert core.feed(b'{"e":"ACCOUNT_UPDATE","E":1,"a":{}}') == F_OTHER_EVENT
    assert core.feed("[]") == F_MALFORMED
    assert core.feed("\ud800") == F_MALFORMED  # not UTF-8: orjson refuses it too
    c = core.counters()
    assert (c["frames"], c["unknown_ids"], c["malformed"], c["other_events"]) == (7, 2, 4, 1)
    assert core.get(CID).state == "placing"  # no order changed


def test_feed_input_forms_are_equivalent(impl: Implementation, clock: FakeClock) -> None:
    raw = frame(CID, "PARTIALLY_FILLED", z="0.004", L="65000.1")
    results = []
    for form in (raw, raw.decode(), bytearray(raw), memoryview(raw), "dict"):
        core = make(impl, clock)
        o = add(core)
        flags = core.feed_decoded(*_decode_py.decode(raw)) if form == "dict" else core.feed(form)
        results.append((flags, o.to_dict(), core.counters(), core.last_event_time()))
    assert all(r == results[0] for r in results), results
    core = make(impl, clock)
    with pytest.raises(TypeError):
        core.feed(12345)
    with pytest.raises(TypeError):
        core.feed(memoryview(raw * 2)[::2])  # not contiguous
    assert core.counters()["frames"] == 0


def test_feed_decoded_takes_the_pure_decoders_dicts(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    assert core.feed_decoded(*_decode_py.decode(frame(CID, "NEW", E=77))) == F_ACTIVATED
    assert core.last_event_time() == 77
    assert core.feed_decoded(_decode_py.R_MALFORMED, {"reason": 1}) == F_MALFORMED
    assert core.feed_decoded(_decode_py.R_OTHER_EVENT, {"event_type": "X"}) == F_OTHER_EVENT
    assert core.last_event_time() == 0 and core.last_order() is None
    fields = {"status": _decode_py.ST_FILLED, "cid": CID, "z": Q, "L": P}
    assert core.feed_decoded(_decode_py.R_ORDER, fields) == F_FILL | F_FILLED
    assert o.avg_price == 65000.3 and core.last_event_time() == 0
    assert core.feed_decoded(_decode_py.R_ORDER, {"status": 1, "cid": None}) == F_UNKNOWN_ID


def test_last_event_time(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    core.feed(frame(CID, "NEW", E=1704459987709))
    assert core.last_event_time() == 1704459987709
    core.feed(frame(CID, "NEW", E=None))
    assert core.last_event_time() == 0
    core.feed(frame("someone-else", "NEW", E=5))
    assert core.last_event_time() == 0


def test_weighted_average_without_ap_is_exact(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core, qty=to_fixed("3"))
    core.feed(frame(CID, "PARTIALLY_FILLED", z="1", L="100.00000001", ap=None))
    core.feed(frame(CID, "PARTIALLY_FILLED", z="3", L="100", ap="0"))  # ap 0: no average given
    # (10000000001 * 1e8 + 10000000000 * 2e8 + 1.5e8) // 3e8, by hand
    assert o.filled_fp == 300_000_000
    assert core.get(CID).to_dict()["avg_price"] == 100.0
    assert o.last_fill_price == 100.0 and o.last_fill_qty == 2.0


def test_weighted_average_rounds_like_the_reference(impl: Implementation, clock: FakeClock) -> None:
    # (avg*filled + lp*inc + z//2) // z on integers, large enough to need 128-bit arithmetic
    core = make(impl, clock)
    qty = to_fixed("90000000000")
    o = add(core, qty=qty)
    steps = [("7", "92233720368.54775807"), ("11.00000003", "3.33333333"),
             ("123456789.12345678", "0.00000001"), ("89999999999.99999999", "92233720368.54775807")]
    avg = filled = 0
    for z_s, lp_s in steps:
        core.feed(frame(CID, "PARTIALLY_FILLED", z=z_s, L=lp_s, ap=None))
        z, lp = to_fixed(z_s), to_fixed(lp_s)
        avg = (avg * filled + lp * (z - filled) + z // 2) // z
        filled = z
        assert (o.filled_fp, o.avg_price) == (filled, avg / 100_000_000)


def test_amounts_above_2_53_are_shown_correctly_rounded(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    big = 2**63 - 1
    o = add(core, qty=big, price=2**53 + 1)
    assert o.quantity == big / 100_000_000 and o.price == (2**53 + 1) / 100_000_000
    assert o.quantity_fp == big and o.remaining_qty == big / 100_000_000


def test_hooked_orders_carry_f_hooked_on_feed_results(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    core.set_hooked(CID, True)
    core.set_hooked("unknown", True)
    assert core.feed(frame(CID, "NEW")) == F_ACTIVATED | F_HOOKED
    assert core.feed_decoded(*_decode_py.decode(frame(CID, "NEW"))) == F_STALE | F_HOOKED
    assert core.begin_cancel(CID) == ACTIVE  # local transitions return what they always return
    core.set_hooked(CID, False)
    assert core.feed(frame(CID, "CANCELED")) == F_CLOSED


def test_a_hook_handle_marks_the_order_and_comes_back_with_its_results(impl: Implementation,
                                                                        clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    add(core, "PMSsub1_LMT_other")
    assert core.last_hook() == -1 and core.get_hook(CID) == -1
    core.set_hook(CID, 7)
    core.set_hook("unknown", 3)  # nothing to mark
    assert core.get_hook(CID) == 7 and core.get_hook("unknown") == -1 and core.hooks_in_use() == {7}
    assert core.feed(frame(CID, "NEW")) == F_ACTIVATED | F_HOOKED and core.last_hook() == 7
    assert core.feed(frame("PMSsub1_LMT_other", "NEW")) == F_ACTIVATED and core.last_hook() == -1
    assert core.feed(frame("nobody", "NEW")) == F_UNKNOWN_ID and core.last_hook() == -1
    core.set_hook(CID, -1)
    assert core.feed(frame(CID, "CANCELED")) == F_CLOSED and core.last_hook() == -1
    assert core.hooks_in_use() == set()
    for bad, exc in ((-2, ValueError), (2**31, ValueError), (1.0, TypeError), (True, TypeError)):
        with pytest.raises(exc):
            core.set_hook(CID, bad)


def test_the_last_hook_survives_the_eviction_of_the_last_order(impl: Implementation,
                                                               clock: FakeClock) -> None:
    core = make(impl, clock, ttl=1.0)
    add(core)
    core.set_hook(CID, 2)
    core.feed(frame(CID, "CANCELED"))
    clock.advance(2.0)
    assert core.get(CID) is None  # evicted, while still the last order
    assert core.last_hook() == 2 and core.last_order().state == "cancelled"


def test_the_clock_is_read_only_when_an_event_may_close_its_order(impl: Implementation,
                                                                   clock: FakeClock) -> None:
    # A fill frame on a live order costs no clock call; a frame that may close the order (a
    # closing status, a fill up to the size) reads it once, before anything changes; and so does
    # every call while closed orders wait for the retention.
    calls: list[float] = []

    def counting() -> float:
        calls.append(clock.t)
        return clock.t

    core = impl.core.OrderCore(60.0, 100_000, counting)
    add(core, CID)
    core.feed(frame(CID, "NEW"))
    core.feed(frame(CID, "PARTIALLY_FILLED", z="0.004", L="65000.3"))
    core.feed(frame(CID, "PARTIALLY_FILLED", z="0.006", q="0.020", L="65000.3"))  # an amended size
    assert calls == []
    clock.advance(1.0)
    core.feed(frame(CID, "PARTIALLY_FILLED", z="0.020", L="65000.3"))  # reaches the size: filled
    assert calls == [1001.0] and core.get(CID).state == "filled" and core.get(CID).terminal_at == 1001.0
    add(core, "other")
    core.feed(frame("other", "CANCELED"))
    assert len(calls) >= 3  # the retention is waiting: every call reads it from now on


def test_the_watch_returns_accepted_orders_past_their_deadline_oldest_first(impl: Implementation,
                                                                            clock: FakeClock) -> None:
    core = make(impl, clock)
    a, b, c = add(core, "PMSa"), add(core, "PMSb"), add(core, "PMSc")
    assert core.watch("PMSa", 30.0) and core.watch("PMSb", 30.0)
    clock.advance(1.0)
    assert core.watch("PMSc", 30.0) and not core.watch("unknown", 30.0)
    assert core.watched() == 3 and core.expired() == []
    clock.advance(29.0)
    assert core.expired() == [a, b] and core.watched() == 1  # taken off the watch
    assert core.expired() == []
    clock.advance(1.0)
    assert core.expired() == [c] and core.watched() == 0
    assert a.state == b.state == c.state == "placing"  # the watch asks nothing, changes nothing


def test_an_order_leaving_placing_or_cancelling_leaves_the_watch(impl: Implementation,
                                                                 clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core, "PMSa")
    b = add(core, "PMSb")
    add(core, "PMSc")
    for cid in ("PMSa", "PMSb", "PMSc"):
        core.watch(cid, 5.0)
    core.feed(frame("PMSa", "NEW"))  # acknowledged: active
    core.feed(frame("PMSc", "CANCELED"))  # closed
    assert core.watched() == 1
    assert not core.watch("PMSa", 5.0)  # active: nothing to watch
    assert core.begin_cancel("PMSa") == ACTIVE and core.watch("PMSa", 5.0)  # cancelling again
    core.begin_cancel("PMSb")
    assert core.undo_cancel("PMSb", PLACING)  # cancelling -> placing: still unanswered, still watched
    clock.advance(5.0)
    assert core.expired() == [b, core.get("PMSa")]
    assert core.close_local("PMSc", REJECTED, -1, "x") == 0 and core.watched() == 0


def test_watching_again_moves_the_deadline_and_a_shorter_timeout_keeps_the_order(impl: Implementation,
                                                                                 clock: FakeClock) -> None:
    core = make(impl, clock)
    a, b, c = add(core, "PMSa"), add(core, "PMSb"), add(core, "PMSc")
    core.watch("PMSa", 10.0)
    core.watch("PMSb", 10.0)
    core.watch("PMSa", 10.0)  # again: now after b
    core.watch("PMSc", 1.0)  # shorter: first
    clock.advance(1.0)
    assert core.expired() == [c]
    clock.advance(9.0)
    assert core.expired() == [b, a]


def test_indexes_stay_exact_through_growth_and_deletions(impl: Implementation, clock: FakeClock) -> None:
    # Thousands of ids through both indexes: growth rehashes every key, eviction leaves tombstones,
    # a reused exchange id moves to the latest order; every lookup must still find exactly its own.
    import random

    rnd = random.Random(7)
    core = make(impl, clock, ttl=10.0)
    alive: dict[str, int] = {}
    oid_owner: dict[int, str] = {}
    for k in range(6000):
        cid = f"PMSs{rnd.randrange(50):02d}_LMT_{k:08d}"
        add(core, cid)
        oid = rnd.randrange(4000)  # collisions on purpose: the latest report owns the id
        core.set_exchange_id(cid, oid)
        alive[cid] = oid
        oid_owner[oid] = cid
        if rnd.random() < 0.4:
            victim = rnd.choice(list(alive))
            core.close_local(victim, FAILED, -2013, "gone")
            del alive[victim]
        if k % 1000 == 999:
            clock.advance(20.0)  # the closed ones are let go of at the next call
            core.get("")
            for oid, owner in list(oid_owner.items()):
                if owner not in alive:
                    del oid_owner[oid]
    for cid in alive:
        o = core.get(cid)
        assert o is not None and o.client_order_id == cid and o.exchange_order_id == alive[cid]
    for oid, owner in oid_owner.items():
        got = core.get_by_exchange_id(oid)
        assert got is not None and got.client_order_id == owner
    assert core.get("PMSs00_LMT_99999999") is None and len(core.live()) == len(alive)


def test_indexes_stay_exact_under_steady_churn(impl: Implementation, clock: FakeClock) -> None:
    # A steady population with orders coming and going: the deleted entries pile up in the index
    # until it is rebuilt (in place, or doubled when the live entries fill it); lookups, misses
    # and the exchange-id index must stay exact through every rebuild.
    core = make(impl, clock, ttl=0.0)
    live: list[str] = []
    for k in range(20_000):
        cid = f"PMSs{k % 9:02d}_LMT_{k:08d}"
        add(core, cid)
        core.set_exchange_id(cid, 10**18 + k)
        live.append(cid)
        if len(live) > 700:
            core.close_local(live.pop(k % 600), FAILED, -2013, "gone")
        if k % 2500 == 0:
            core.get("")  # ttl 0: the closed ones leave now
            assert len(core) == len(live)
    core.get("")
    for cid in live:
        o = core.get(cid)
        assert o is not None and o.client_order_id == cid
        assert core.get_by_exchange_id(10**18 + int(cid[-8:])) == o
    assert core.get("PMSs00_LMT_00000001") is None
    assert core.get_by_exchange_id(10**18 + 1) is None
    assert len(core) == len(live) == 700


def test_a_large_core_reads_every_frame_as_a_small_one(impl: Implementation, clock: FakeClock) -> None:
    # The compiled core loads the order's index entry and record while the decoder is still
    # reading the frame (a hint from the decoder, at o.c and at o.L): frames where that guess is
    # wrong or odd must still mean what the decoder says, with an index far larger than the caches.
    core = make(impl, clock)
    for k in range(220_000):
        core.add(f"PMSbig_{k:08d}", "sub1", "BTCUSDT", 0, 0, Q, P, "MANUAL", None, 1, False, None)
    add(core)
    good = frame(CID, "NEW")
    assert core.feed(good) == F_ACTIVATED
    for data in (good[: good.index(b'"c":"') + 5],  # cut right after the key
                 good[: good.index(b'"c":"') + 9],  # cut inside the id
                 good.replace(CID.encode(), b"PMSsub1\\u005fLMT"),  # an escaped id
                 good.replace(CID.encode(), b"X" * 40),  # longer than any id
                 good.replace(b'"c":', b'"C":'),  # no id
                 b'{"c":"', b'"c":"' + CID.encode() + b'"'):
        assert core.feed(data) in (F_MALFORMED, F_UNKNOWN_ID, F_STALE)
    # the hint saw another id first (last key wins), or none before o.i
    assert core.feed(good.replace(b'"c":', b'"c":"PMSbig_00000007","L":"1","c":', 1)) == F_STALE
    assert core.feed(good.replace(b'"c":', b'"L":"1","c":', 1)) == F_STALE
    assert core.feed(frame(CID, "CANCELED")) == F_CLOSED and core.counters()["live"] == 220_000


def test_feed_call_runs_the_one_callback_a_result_asks_for(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    seen: list[tuple[str, str, Any]] = []

    def cb(name: str) -> Any:
        def run(order: Any) -> None:
            # the core is free again: the callback may use it
            seen.append((name, order.state, core.get(order.client_order_id) is order))
        return run

    table: list[Any] = [(cb("partial"), cb("fill"), cb("cancel"), cb("trigger")), None]
    add(core)
    add(core, "PMSb")
    add(core, "PMSc")
    core.set_hook(CID, 0)
    core.set_hook("PMSb", 1)  # an entry the shell keeps for itself
    assert core.feed_call(frame(CID, "NEW"), table, 0) == F_ACTIVATED  # no callback for it: handled
    assert core.feed_call(frame(CID, "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.3"), table, 0) == (
        F_FILL | F_PARTIAL)
    filled = frame(CID, "FILLED", z="0.010", l="0.006", L="65000.3")
    assert core.feed_call(filled, table, 0) == F_FILL | F_FILLED
    assert seen == [("partial", "active", True), ("fill", "filled", True)]
    assert core.feed_call(frame("PMSb", "CANCELED"), table, 0) == F_CLOSED | F_HOOKED  # the shell's
    assert core.feed_call(frame("PMSc", "CANCELED"), table, 0) == F_CLOSED  # not hooked: nothing
    assert core.feed_call(b"junk", table, 0) == F_MALFORMED and core.call_outcome() is None
    assert len(seen) == 2


def test_feed_shell_is_feed_call_with_the_shells_table_then_after(impl: Implementation,
                                                                  clock: FakeClock) -> None:
    from collections import deque

    core = make(impl, clock)
    seen: list[Any] = []
    table: list[Any] = [(lambda o: seen.append(("partial", o.state)), None, None, None)]
    work: deque[int] = deque()
    after: list[int] = []
    assert core.feed_shell(b"junk") is None and core.counters()["malformed"] == 1  # no shell: feed
    add(core)
    core.set_hook(CID, 0)
    core.set_hooked(CID, True)
    core.set_shell(table, work, 0, F_ACTIVATED | F_HOOKED | F_MALFORMED, after.append)
    core.feed_shell(frame(CID, "NEW"))
    core.feed_shell(frame(CID, "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.3"))
    assert seen == [("partial", "active")] and after == [F_ACTIVATED]  # the core ran the callback
    work.append(1)  # work queued in the shell: no callback may overtake it
    core.feed_shell(frame(CID, "PARTIALLY_FILLED", z="0.006", l="0.002", L="65000.3"))
    assert len(seen) == 1 and after == [F_ACTIVATED, F_FILL | F_PARTIAL | F_HOOKED]
    core.feed_shell(12345)  # not bytes-like or str: counted, not raised
    assert after[-1] == F_MALFORMED and core.counters()["malformed"] == 2
    for bad in ((("x",), work, 0, 0, after.append), (table, work, 0, 0, None), (table, work, 1.5, 0, print)):
        with pytest.raises(TypeError):
            core.set_shell(*bad)


def test_feed_call_leaves_to_the_shell_what_is_not_one_plain_callback(impl: Implementation,
                                                                      clock: FakeClock) -> None:
    core = make(impl, clock)
    seen: list[str] = []
    table: list[Any] = [(lambda o: seen.append("p"), None, lambda o: seen.append("c"), None)]
    for cid in ("PMSa", "PMSb", "PMSc", "PMSd"):
        add(core, cid)
        core.set_hook(cid, 0)
    part = {"z": "0.004", "l": "0.004", "L": "65000.3"}
    assert core.feed_call(frame("PMSa", "PARTIALLY_FILLED", **part), None, 0) == (
        F_FILL | F_PARTIAL | F_ACTIVATED | F_HOOKED)  # no table: the shell runs it
    assert core.feed_call(frame("PMSb", "PARTIALLY_FILLED", **part), table, F_ACTIVATED) == (
        F_FILL | F_PARTIAL | F_ACTIVATED | F_HOOKED)  # a bit the shell acts on
    assert core.feed_call(frame("PMSc", "EXPIRED", **part), table, 0) == (
        F_FILL | F_PARTIAL | F_CLOSED | F_HOOKED)  # two callbacks for one event
    assert core.feed_call(frame("PMSd", "FILLED", z="0.010", l="0.01", L="1"), table, 0) == (
        F_FILL | F_FILLED)  # its entry has no on_fill: nothing to run, nothing left
    assert seen == []
    with pytest.raises(TypeError):
        core.feed_call(frame("PMSa", "NEW"), (), 0)


def _algo_update(cid: str, status: str, *, aq: str | None = None, ai: str = "") -> bytes:
    o: dict[str, Any] = {"caid": cid, "aid": 1000000033225453, "at": "CONDITIONAL", "o": "STOP_MARKET",
                         "s": "BTCUSDT", "S": "BUY", "f": "GTC", "q": "0.010", "X": status, "ai": ai,
                         "tp": "66000", "p": "0"}
    if aq is not None:
        o.update(aq=aq, ap="65000.3", act="MARKET")
    return json.dumps({"e": "ALGO_UPDATE", "T": 1765431097019, "E": 1765431097020, "o": o}).encode()


def test_feed_call_runs_on_trigger_for_a_trigger_alone(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    seen: list[tuple[str, str]] = []
    table: list[Any] = [(lambda o: seen.append(("partial", o.state)), None,
                         lambda o: seen.append(("cancel", o.state)),
                         lambda o: seen.append(("trigger", o.state)))]
    for cid in ("PMSa", "PMSb", "PMSc"):
        core.add(cid, "sub1", "BTCUSDT", 0, 3, Q, 0, "MANUAL", None, 5, False, "GTC")  # STOP_MARKET
        core.set_hook(cid, 0)
        assert core.feed_call(_algo_update(cid, "NEW"), table, 0) == F_ACTIVATED
    assert core.feed_call(_algo_update("PMSa", "TRIGGERED", ai="77"), table, 0) == F_TRIGGERED
    assert seen == [("trigger", "triggered")]
    # A trigger that arrives with a fill asks for two callbacks: the shell's.
    flags = core.feed_call(frame("PMSb", "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.3"), table, 0)
    assert flags & F_TRIGGERED and flags & F_PARTIAL and flags & F_HOOKED
    # A trigger alone with a slow bit (say a publisher's): the shell's too.
    assert core.feed_call(_algo_update("PMSc", "TRIGGERED", ai="78"), table, F_TRIGGERED) == (
        F_TRIGGERED | F_HOOKED)
    assert seen == [("trigger", "triggered")]


def test_feed_call_leaves_a_malformed_table_entry_to_the_shell(impl: Implementation,
                                                               clock: FakeClock) -> None:
    # The table is the shell's, but the compiled core reads its entries in C: anything but a tuple
    # of four is the shell's to decide, never a read past the end of a tuple or of a list.
    core = make(impl, clock)
    calls: list[Any] = []
    bad: list[Any] = [[calls.append] * 4, (calls.append,), (calls.append,) * 3, (calls.append,) * 5,
                      "abcd", 12, type("T", (tuple,), {})((calls.append,) * 4)]
    for k, entry in enumerate(bad):
        cid = f"PMS{k}"
        add(core, cid)
        core.set_hook(cid, 0)
        assert core.feed_call(frame(cid, "CANCELED"), [entry], 0) == F_CLOSED | F_HOOKED, entry
    assert calls == [] and core.counters()["live"] == 0


def test_feed_call_hands_back_what_the_callback_raised_or_returned(impl: Implementation,
                                                                   clock: FakeClock) -> None:
    core = make(impl, clock)
    boom = ValueError("boom")

    def bad(order: Any) -> None:
        raise boom

    def returns(order: Any) -> str:
        return "later"

    table: list[Any] = [(None, None, bad, None), (None, None, returns, None)]
    a, b = add(core, "PMSa"), add(core, "PMSb")
    core.set_hook("PMSa", 0)
    core.set_hook("PMSb", 1)
    assert core.feed_call(frame("PMSa", "CANCELED"), table, 0) == F_CLOSED | F_CALLED
    assert core.call_outcome() == (bad, a, None, boom) and core.call_outcome() is None
    assert core.feed_call(frame("PMSb", "CANCELED"), table, 0) == F_CLOSED | F_CALLED
    assert core.call_outcome() == (returns, b, "later", None)
    assert a.state == b.state == "cancelled"


# ── exchange ids ──


def test_exchange_id_first_report_wins(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    core.set_exchange_id(CID, OID)
    core.set_exchange_id(CID, 5)  # a later report never replaces it
    core.feed(frame(CID, "NEW", i=6))
    assert o.exchange_order_id == OID
    assert core.get_by_exchange_id(OID) is o and core.get_by_exchange_id(6) is None
    assert core.get_by_exchange_id(5) is None and core.get_by_exchange_id("x") is None
    core.set_exchange_id("unknown", 7)
    o2 = add(core, "PMSsub1_LMT_2")
    core.set_exchange_id("PMSsub1_LMT_2", -1)  # not an id
    assert o2.exchange_order_id is None
    core.feed(frame("PMSsub1_LMT_2", "NEW", i=2**63 - 1))
    assert o2.exchange_order_id == 2**63 - 1 and core.get_by_exchange_id(2**63 - 1) is o2


def test_exchange_id_index_follows_the_latest_owner(impl: Implementation, clock: FakeClock) -> None:
    # Two orders reported with one id (garbage, or an id reused): the later one owns the index,
    # and evicting the earlier one must not remove the later one's entry.
    core = make(impl, clock, ttl=10.0)
    a = add(core, "A")
    b = add(core, "B")
    core.set_exchange_id("A", 42)
    core.feed(frame("A", "CANCELED", i=42))
    core.set_exchange_id("B", 42)
    assert core.get_by_exchange_id(42) is b
    clock.advance(10)
    assert core.get("A") is None and a.state == "cancelled"
    assert core.get_by_exchange_id(42) is b


# ── local transitions ──


def test_close_local_only_before_any_acknowledgement(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    assert core.close_local(CID, ACTIVE, 1, "x") == 0  # only REJECTED/FAILED
    assert core.close_local(CID, REJECTED, -2019, "Margin is insufficient.") == F_CLOSED
    assert (o.state, o.error, core.last_order()) == ("rejected", (-2019, "Margin is insufficient."), o)
    assert core.close_local(CID, FAILED, -2013, "Order does not exist.") == 0
    assert core.close_local("unknown", FAILED, 1, "x") == 0 and core.last_order() is None
    acked = add(core, "B")
    core.feed(frame("B", "NEW"))
    assert core.close_local("B", FAILED, -2013, "Order does not exist.") == 0 and acked.state == "active"
    cancelling = add(core, "C")
    core.begin_cancel("C")
    assert core.close_local("C", FAILED, -2013, "gone") == F_CLOSED and cancelling.state == "failed"


def test_begin_and_undo_cancel(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    assert core.begin_cancel(CID) == PLACING and o.state == "cancelling"
    assert core.begin_cancel(CID) == -1 and core.begin_cancel("unknown") == -1
    assert core.undo_cancel(CID, 7) is False
    assert core.undo_cancel(CID, PLACING) is True and o.state == "placing"
    assert core.undo_cancel(CID, PLACING) is False  # not cancelling any more
    core.begin_cancel(CID)
    core.feed(frame(CID, "NEW"))  # acknowledged while the cancel was in flight
    assert o.state == "cancelling"
    assert core.undo_cancel(CID, PLACING) is True and o.state == "active"
    assert core.begin_cancel(CID) == ACTIVE
    core.feed(frame(CID, "CANCELED"))
    assert core.begin_cancel(CID) == -1 and core.undo_cancel(CID, ACTIVE) is False
    assert core.undo_cancel("unknown", ACTIVE) is False
    assert o.state_code != CANCELLING


# ── live indexes ──


def test_live_indexes_keep_insertion_order_and_drop_terminal(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    specs = [("a1", "s1", "BTCUSDT", "p1"), ("a2", "s2", "BTCUSDT", None), ("a3", "s1", "ETHUSDT", "p1"),
             ("a4", "s1", "BTCUSDT", "p2"), ("a5", "s2", "ETHUSDT", "p1")]
    for cid, sub, sym, parent in specs:
        add(core, cid, sub=sub, sym=sym, parent=parent)

    def ids(orders: list[Any]) -> list[str]:
        return [o.client_order_id for o in orders]

    assert ids(core.live()) == ["a1", "a2", "a3", "a4", "a5"]
    assert ids(core.live("s1")) == ["a1", "a3", "a4"]
    assert ids(core.live(None, "BTCUSDT")) == ["a1", "a2", "a4"]
    assert ids(core.live("s1", "BTCUSDT")) == ["a1", "a4"]
    assert ids(core.by_parent("p1")) == ["a1", "a3", "a5"]
    assert core.live("nobody") == [] and core.live("s1", "XRPUSDT") == [] and core.by_parent("none") == []
    assert core.live("BTCUSDT") == []  # a symbol is not a sub-account
    core.feed(frame("a3", "FILLED", z="0.010"))
    core.close_local("a1", REJECTED, 1, "no")
    core.begin_cancel("a4")  # cancelling is still live
    assert ids(core.live()) == ["a2", "a4", "a5"]
    assert ids(core.live("s1")) == ["a4"] and ids(core.by_parent("p1")) == ["a5"]
    assert ids(core.live("s1", "ETHUSDT")) == [] and core.counters()["live"] == 3
    core.feed(frame("a4", "CANCELED"))
    core.feed(frame("a5", "EXPIRED"))
    assert ids(core.live()) == ["a2"] and core.by_parent("p1") == [] and core.live("s1") == []
    add(core, "a6", sub="s1", sym="BTCUSDT", parent="p1")
    assert ids(core.live("s1", "BTCUSDT")) == ["a6"] and ids(core.by_parent("p1")) == ["a6"]


# ── retention and views ──


def test_terminal_orders_leave_after_the_ttl(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock, ttl=60.0)
    o = add(core)
    core.feed(frame(CID, "CANCELED"))
    clock.advance(59.875)
    assert core.get(CID) is o and core.get_by_exchange_id(OID) is o
    clock.advance(0.125)
    assert core.get(CID) is None and core.get_by_exchange_id(OID) is None
    assert len(core) == 0 and core.counters()["evicted"] == 1
    assert (o.state, o.client_order_id, o.exchange_order_id) == ("cancelled", CID, OID)  # final values


def test_terminal_cap_evicts_oldest_first_at_the_next_operation(
    impl: Implementation, clock: FakeClock
) -> None:
    core = make(impl, clock, max=2)
    for k in range(4):
        add(core, f"c{k}")
    for k in range(4):
        core.feed(frame(f"c{k}", "CANCELED", i=k))
        # the order of the event is still there for the callbacks of that event
        assert core.last_order().client_order_id == f"c{k}"
        assert core.counters()["tracked"] == 4 - max(0, k - 2)
    assert core.get("c0") is None and core.get("c1") is None
    assert core.get("c2") is not None and core.get("c3") is not None
    assert core.counters()["evicted"] == 2


def test_ttl_zero_keeps_an_order_for_its_own_event_only(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock, ttl=0.0)
    o = add(core)
    assert core.feed(frame(CID, "FILLED", z="0.010")) == F_FILL | F_FILLED
    assert core.last_order() is o and o.state == "filled"
    assert core.get(CID) is None
    last = core.last_order()  # evicted since: a frozen view with the final values
    assert last is not None and last.state == "filled" and last.filled_fp == Q


def test_held_view_survives_eviction_and_slot_reuse(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock, ttl=1.0)
    old = add(core, "old", sub="s-old", sym="OLDUSDT", parent="p-old")
    core.feed(frame("old", "CANCELED", z="0.003", L="65000.1"))
    core.close_local("old", FAILED, 1, "ignored")  # no effect: already terminal
    final = old.to_dict()
    clock.advance(1.0)
    # the slot is free again: fill it with other orders
    new = [add(core, f"new{k}", sub="s-new", sym="NEWUSDT", parent="p-new", price=to_fixed(k + 1))
           for k in range(3)]
    for n in new:
        core.feed(frame(n.client_order_id, "NEW", i=123))
    assert core.get("old") is None
    assert old.to_dict() == final and old.state == "cancelled" and old.filled_qty == 0.003
    assert old.sub_account_id == "s-old" and old.parent_id == "p-old" and old.exchange_order_id == OID
    assert [n.state for n in new] == ["active"] * 3
    assert core.live("s-old") == [] and core.by_parent("p-old") == []


def test_copies_and_pickles_are_snapshots(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock, ttl=0.0)
    o = add(core, parent="p")
    core.feed(frame(CID, "NEW"))
    snaps = [copy.copy(o), copy.deepcopy(o), pickle.loads(pickle.dumps(o))]
    for s in snaps:
        assert s.to_dict() == o.to_dict() and s.state == "active"
    core.feed(frame(CID, "FILLED", z="0.010"))
    core.get(CID)  # evicts it
    for s in snaps:
        assert s.state == "active" and s.filled_fp == 0 and s.parent_id == "p"  # it did not follow
    assert o.state == "filled"
    again = pickle.loads(pickle.dumps(o))
    assert again.to_dict() == o.to_dict() and repr(again) == repr(o)


def test_memory_is_released_with_the_last_order(impl: Implementation, clock: FakeClock) -> None:
    # Sub-accounts, symbols, parents and origins no longer used by any record are let go.
    core = make(impl, clock, ttl=1.0)
    names = ["".join(["uniq", str(k), "-name"]) for k in range(4)]  # fresh objects: refcounts are ours
    before = [sys.getrefcount(n) for n in names]
    o = core.add("x", names[0], names[1], 0, 0, Q, P, names[2], names[3], 1, False, None)
    assert [sys.getrefcount(n) for n in names] > before
    core.feed(frame("x", "CANCELED"))
    clock.advance(1.0)
    assert core.get("x") is None
    assert core.last_order() is not None  # last_order() still holds the evicted order ...
    core.feed(frame("other", "NEW"))  # ... until the next event
    del o
    gc.collect()
    assert [sys.getrefcount(n) for n in names] == before


def test_tracker_stays_flat_over_many_lives(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock, ttl=5.0, max=500)
    cancel = {k: frame(f"PMSsub{k % 7}_LMT_{k:08d}", "CANCELED", i=k) for k in range(2000)}

    def life(batch: int) -> None:
        for k in range(2000):
            cid = f"PMSsub{k % 7}_LMT_{k:08d}"
            core.add(cid, f"sub{k % 7}", "BTCUSDT", 0, 0, Q, P, "CHASE", f"parent{batch}-{k % 50}", 1,
                     False, None)
            core.feed(cancel[k])
        clock.advance(10.0)
        core.get("nothing")  # expire everything

    life(0)
    tracemalloc.start()
    try:
        life(1)
        first = tracemalloc.get_traced_memory()[0]
        for batch in range(2, 6):
            life(batch)
        grown = tracemalloc.get_traced_memory()[0] - first
    finally:
        tracemalloc.stop()
    assert len(core) == 0 and core.counters()["evicted"] == 12_000
    assert grown < 64 * 1024, grown


# ── compiled-only details ──


@pytest.mark.c_extension
def test_compiled_index_past_a_million_buckets(impl: Implementation, clock: FakeClock) -> None:
    # 420k orders grow both indexes to 2**20 buckets and more (rebuilt each time): every order is
    # still found by both keys.
    core = make(impl, clock)
    n = 420_000
    for k in range(n):
        cid = f"PMSs{k % 97:02d}_LMT_{k:08d}"
        core.add(cid, "s", "BTCUSDT", 0, 0, Q, P, "MANUAL", None, 1, False, None)
        core.set_exchange_id(cid, 10**18 + k)
    for k in range(0, n, 997):
        o = core.get(f"PMSs{k % 97:02d}_LMT_{k:08d}")
        assert o is not None and core.get_by_exchange_id(10**18 + k) == o
    assert len(core) == n


@pytest.mark.c_extension
def test_compiled_views_are_one_object_while_held(clock: FakeClock) -> None:
    from trading_engine_python.orders import _core_c

    core = _core_c.OrderCore(600.0, 10, clock)
    o = add(core)
    assert core.get(CID) is o and core.live()[0] is o
    del o
    gc.collect()
    again = core.get(CID)  # a new view of the same record
    assert again.client_order_id == CID and again is core.get(CID)
    with pytest.raises(TypeError):
        _core_c.OrderState()
    with pytest.raises(TypeError):
        pickle.dumps(core)


@pytest.mark.c_extension
def test_compiled_reads_time_monotonic_in_c() -> None:
    import time

    from trading_engine_python.orders import _core_c

    core = _core_c.OrderCore(600.0, 100, time.monotonic)
    o = add(core)
    lo = time.monotonic()
    core.feed(frame(CID, "CANCELED"))
    hi = time.monotonic()
    assert lo <= o.terminal_at <= hi

