"""Re-entry into the order core, and views made without it: both twins, one outcome.

Caller code can run inside a core method: the ``clock``, a finalizer the garbage collector runs
while the core allocates, ``__hash__``/``__eq__``/``__str__``/``__int__`` of an argument. Such code
may call the core again. The core either never runs it (a ``str`` subclass is read as its plain
``str`` value) or refuses the nested call with ``RuntimeError("OrderCore is busy: ...")``; the outer
call then finishes as if nothing had happened. Reading a held view stays allowed.

Each scenario below corrupted the compiled core's memory before the guard existed; the pure twin
survived them but let the nested call through, so the twins disagreed.
"""

from __future__ import annotations

import copy
import gc
import pickle
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from trading_engine_python.orders._states import F_CLOSED, REJECTED

from ..conftest import Implementation
from .conftest import FakeClock
from .test_core import CID, add, frame, make

BUSY = "OrderCore is busy"
OTHER = "PMSsub1_LMT_other"


def _call(fn: Callable[[], Any], log: list[tuple[str, Any]]) -> None:
    """Run one nested core call and record how it ended."""
    try:
        log.append(("ok", fn()))
    except RuntimeError as exc:
        log.append(("busy" if str(exc).startswith(BUSY) else "error", str(exc)))
    except Exception as exc:  # recorded, so that a failure says what went wrong
        log.append(("error", repr(exc)))


class _Finalized:
    """Garbage in a reference cycle: only the cycle collector frees it, and it then runs ``fn``."""

    def __init__(self, fn: Callable[[], Any], log: list[tuple[str, Any]]) -> None:
        self.fn = fn
        self.log = log
        self.me = self

    def __del__(self) -> None:
        _call(self.fn, self.log)


@pytest.fixture
def gc_state() -> Iterator[None]:
    """Restores the collector's thresholds and switch after a test that plays with them."""
    old = gc.get_threshold()
    enabled = gc.isenabled()
    gc.collect()
    try:
        yield
    finally:
        gc.set_threshold(*old)
        if enabled:
            gc.enable()
        gc.collect()


def _fill_ring(core: Any, n: int = 63) -> None:
    """``n`` terminal orders kept by the retention (63: one short of the compiled ring's first size,
    so that one more terminal order fills it and a second one would overflow it)."""
    for k in range(n):
        cid = f"PMSsub1_LMT_ring{k:04d}"
        add(core, cid)
        core.feed(frame(cid, "CANCELED", i=10_000 + k))


def _check_consistent(core: Any, expect: dict[str, str | None]) -> None:
    """Every order named in ``expect`` is found in that state (None: not tracked), each once; the
    live list holds only live orders, and the counters add up."""
    for cid, state in expect.items():
        o = core.get(cid)
        if state is None:
            assert o is None, cid
        else:
            assert o is not None and o.client_order_id == cid and o.state == state, (cid, o)
            assert o.exchange_order_id is None or core.get_by_exchange_id(o.exchange_order_id) is o
    live = [o.client_order_id for o in core.live()]
    assert len(live) == len(set(live)) == core.counters()["live"]
    assert all(core.get(cid).is_live for cid in live)
    c = core.counters()
    assert len(core) == c["tracked"] == c["added"] - c["evicted"]


def _evict_all(core: Any, clock: FakeClock, ttl: float) -> None:
    clock.advance(ttl)
    core.get("nothing")


# ── a finalizer run by the cycle collector while the core evicts ──


def test_a_finalizer_during_eviction_cannot_evict_twice(impl: Implementation, clock: FakeClock,
                                                          gc_state: None) -> None:
    core = make(impl, clock, ttl=1.0)
    cids = [f"PMSsub1_LMT_gc{k:04d}" for k in range(40)]
    views = [add(core, cid, parent="p-1") for cid in cids]  # held: eviction freezes each (allocates)
    for k, cid in enumerate(cids):
        core.feed(frame(cid, "CANCELED", i=1000 + k))
    clock.advance(1.0)
    gets: list[tuple[str, Any]] = []
    adds: list[tuple[str, Any]] = []
    fresh = [f"PMSsub1_LMT_new{k:04d}" for k in range(10)]
    gc.disable()
    for k in range(10):  # young garbage: freed by the first collection, inside the eviction below
        _Finalized(lambda: core.get(cids[0]), gets)
        _Finalized(lambda k=k: add(core, fresh[k]).client_order_id, adds)
    gc.set_threshold(1, 1000, 1000)  # young collections only, at every container allocation
    gc.enable()
    # Not inside an assert: pytest's rewriting would allocate (and collect) before the call.
    found = core.get("nothing")  # evicts all 40, collecting all the way
    gc.set_threshold(700, 10, 10)
    assert found is None
    gc.collect()
    assert len(gets) == len(adds) == 10
    assert {kind for kind, _ in gets + adds} <= {"ok", "busy"}, gets + adds
    assert all(v is None for kind, v in gets if kind == "ok")
    for k, cid in enumerate(cids):
        assert (views[k].client_order_id, views[k].state, views[k].exchange_order_id) == (
            cid, "cancelled", 1000 + k)
        assert views[k].parent_id == "p-1"
    assert core.counters()["evicted"] == 40
    added = {v for kind, v in adds if kind == "ok"}
    expect: dict[str, str | None] = dict.fromkeys(cids)
    expect.update({cid: "placing" if cid in added else None for cid in fresh})
    _check_consistent(core, expect)
    # the freed slots and strings are reusable: a second life of every order
    for cid in cids:
        add(core, cid, parent="p-1")
    assert [o.client_order_id for o in core.by_parent("p-1")] == cids
    _check_consistent(core, dict.fromkeys(cids, "placing"))


def test_a_finalizer_run_inside_any_call_is_refused(impl: Implementation, clock: FakeClock,
                                                    gc_state: None) -> None:
    # Deterministic on both twins: the clock collects, so the finalizer runs inside the call.
    log: list[tuple[str, Any]] = []
    collect = [False]

    def collecting_clock() -> float:
        if collect[0]:
            gc.collect()
        return clock()

    core = make(impl, collecting_clock)
    add(core, OTHER)
    core.feed(frame(OTHER, "CANCELED", i=2))  # a retained order: every call reads the clock
    o = add(core)
    gc.disable()
    _Finalized(lambda: core.feed(frame(CID, "CANCELED")), log)
    collect[0] = True
    assert core.feed(frame(CID, "NEW")) != 0
    collect[0] = False
    assert [kind for kind, _ in log] == ["busy"], log
    assert o.state == "active" and core.live() == [o]
    assert core.feed(frame(CID, "CANCELED")) == F_CLOSED and o.state == "cancelled"


# ── a clock that changes the core ──


def test_a_clock_that_closes_another_order_is_refused(impl: Implementation, clock: FakeClock) -> None:
    log: list[tuple[str, Any]] = []
    armed = [False]
    core: Any = None

    def meddling_clock() -> float:
        if armed[0]:
            _call(lambda: core.feed(frame(OTHER, "CANCELED", i=2)), log)
        return clock()

    core = make(impl, meddling_clock, ttl=5.0)
    _fill_ring(core)
    a = add(core)
    other = add(core, OTHER)
    armed[0] = True
    assert core.feed(frame(CID, "CANCELED", i=1)) == F_CLOSED
    armed[0] = False
    assert [kind for kind, _ in log] == ["busy"], log
    assert a.state == "cancelled" and other.state == "placing" and core.live() == [other]
    assert core.feed(frame(OTHER, "CANCELED", i=2)) == F_CLOSED
    ring = [f"PMSsub1_LMT_ring{k:04d}" for k in range(63)]
    _check_consistent(core, {**dict.fromkeys(ring, "cancelled"), CID: "cancelled", OTHER: "cancelled"})
    _evict_all(core, clock, 5.0)
    _check_consistent(core, dict.fromkeys([*ring, CID, OTHER]))
    assert core.counters()["evicted"] == 65 and len(core) == 0
    assert (a.client_order_id, a.exchange_order_id, other.client_order_id, other.exchange_order_id) == (
        CID, 1, OTHER, 2)


@pytest.mark.parametrize(("op", "retained"), [("feed", False), ("close_local", False), ("feed", True),
                                             ("get", True), ("add", True)])
def test_a_failing_clock_changes_nothing(impl: Implementation, clock: FakeClock, op: str,
                                         retained: bool) -> None:
    # The clock is read first (by every call that may close an order or evict one), so its
    # exception leaves every record and counter as it was.
    failing = [False]

    def clock_fn() -> float:
        if failing[0]:
            raise OSError("clock broke")
        return clock()

    core = make(impl, clock_fn, ttl=1.0)
    if retained:
        add(core, "PMSsub1_LMT_old")
        core.feed(frame("PMSsub1_LMT_old", "CANCELED", i=9))
    o = add(core)
    clock.advance(1.0)  # the old order (if any) is due for eviction
    before = (core.counters(), o.to_dict(), core.last_event_time())
    failing[0] = True
    calls = {
        "feed": lambda: core.feed(frame(CID, "CANCELED")),
        "close_local": lambda: core.close_local(CID, REJECTED, -2010, "no"),
        "get": lambda: core.get(CID),
        "add": lambda: add(core, "PMSsub1_LMT_new"),
    }
    with pytest.raises(OSError, match="clock broke"):
        calls[op]()
    failing[0] = False
    assert (core.counters(), o.to_dict(), core.last_event_time()) == before
    assert core.live() == [o] and o.state == "placing"
    _check_consistent(core, {CID: "placing", "PMSsub1_LMT_old": None, "PMSsub1_LMT_new": None})


# ── caller code in the arguments ──


class _Meddling(str):
    """A str whose hash/equality/str() call back into the core."""

    hook: Callable[[], None] = staticmethod(lambda: None)

    def __hash__(self) -> int:
        type(self).hook()
        return str.__hash__(self)

    def __eq__(self, other: object) -> bool:
        type(self).hook()
        return str.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        type(self).hook()
        return str.__ne__(self, other)

    def __str__(self) -> str:
        type(self).hook()
        return _Meddling(str.__str__(self))


def test_str_subclass_arguments_are_read_as_plain_str(impl: Implementation, clock: FakeClock) -> None:
    # Their __hash__/__eq__ never run inside the core (which could not survive a nested add while
    # it interns them): each argument is stored as its plain str value.
    log: list[tuple[str, Any]] = []
    core = make(impl, clock)
    n = [0]

    def hook() -> None:
        n[0] += 1
        _call(lambda: add(core, f"PMSsub1_LMT_in{n[0]}").client_order_id, log)

    for k in range(1023):  # the compiled core's first page of records, all but one slot
        add(core, f"PMSsub1_LMT_fill{k:04d}", sub="sub1")
    meddling = type("M", (_Meddling,), {"hook": staticmethod(hook)})
    o = core.add(meddling(CID), meddling("sub1"), meddling("BTCUSDT"), 0, 0, 10**6, 10**8,
                 meddling("MANUAL"), meddling("chase-1"), 5, False, meddling("GTC"))
    assert log == []
    strs = (o.client_order_id, o.sub_account_id, o.symbol, o.origin, o.parent_id, o.time_in_force)
    assert strs == (CID, "sub1", "BTCUSDT", "MANUAL", "chase-1", "GTC")
    assert all(type(s) is str for s in strs)
    assert core.get(meddling(CID)) is o and core.by_parent(meddling("chase-1")) == [o]
    assert core.live(meddling("sub1"), meddling("BTCUSDT"))[-1] is o
    assert log == [] and len(core) == 1024
    add(core, "PMSsub1_LMT_last")  # the next page
    _check_consistent(core, {CID: "placing", "PMSsub1_LMT_last": "placing", "PMSsub1_LMT_in1": None})


def test_close_local_converts_code_and_msg_before_changing_anything(impl: Implementation,
                                                                    clock: FakeClock) -> None:
    log: list[tuple[str, Any]] = []
    core: Any = None

    def hook() -> None:
        _call(lambda: core.close_local(OTHER, REJECTED, -1, "inner"), log)

    class Code:
        def __int__(self) -> int:
            hook()
            return -2010

    msg = type("M", (_Meddling,), {"hook": staticmethod(hook)})("Order would immediately trigger.")
    core = make(impl, clock, ttl=5.0)
    _fill_ring(core)
    o = add(core)
    other = add(core, OTHER)
    assert core.close_local(CID, REJECTED, Code(), msg) == F_CLOSED
    assert [kind for kind, _ in log] == ["busy", "busy"], log
    assert o.state == "rejected" and o.error == (-2010, "Order would immediately trigger.")
    assert type(o.error[0]) is int and type(o.error[1]) is str
    assert other.state == "placing" and core.live() == [other]
    assert core.close_local(OTHER, REJECTED, -1, "x") == F_CLOSED
    _evict_all(core, clock, 5.0)
    assert core.counters()["evicted"] == 65 and len(core) == 0
    assert o.error == (-2010, "Order would immediately trigger.") and other.error == (-1, "x")


@pytest.mark.parametrize("method", ["get", "live", "by_parent", "get_by_exchange_id", "set_hooked",
                                    "set_hook", "get_hook", "watch", "undo_cancel", "begin_cancel",
                                    "set_exchange_id", "feed_decoded"])
def test_every_entry_refuses_a_nested_call(impl: Implementation, clock: FakeClock, method: str) -> None:
    # The nested call comes from argument code (__hash__, __index__, __bool__, __eq__, a mapping).
    log: list[tuple[str, Any]] = []
    core = make(impl, clock)
    o = add(core)

    def nested() -> None:
        _call(lambda: core.feed(frame(CID, "CANCELED")), log)

    class Key:
        def __hash__(self) -> int:
            nested()
            return 1

        def __eq__(self, other: object) -> bool:
            nested()
            return False

        def __index__(self) -> int:
            nested()
            return 7

        def __bool__(self) -> bool:
            nested()
            return True

    class Fields(dict[str, Any]):
        def __getitem__(self, key: str) -> Any:
            nested()
            return dict.__getitem__(self, key)

        def get(self, key: str, default: Any = None) -> Any:
            nested()
            return dict.get(self, key, default)

    meddling = type("M", (_Meddling,), {"hook": staticmethod(nested)})
    calls = {
        "get": lambda: core.get(Key()),
        "live": lambda: core.live(Key(), None),
        "by_parent": lambda: core.by_parent(Key()),
        "get_by_exchange_id": lambda: core.get_by_exchange_id(Key()),
        "set_hooked": lambda: core.set_hooked(CID, Key()),
        "set_hook": lambda: core.set_hook(CID, Key()),
        "get_hook": lambda: core.get_hook(Key()),
        "watch": lambda: core.watch(Key(), 1.0),
        "undo_cancel": lambda: core.undo_cancel(CID, Key()),
        "begin_cancel": lambda: core.begin_cancel(meddling(CID)),  # read as a plain str
        "set_exchange_id": lambda: core.set_exchange_id(CID, Key()),
        "feed_decoded": lambda: core.feed_decoded(0, Fields(status=1, cid=CID)),
    }
    if method == "undo_cancel":
        core.begin_cancel(CID)
    calls[method]()
    if method == "begin_cancel":
        assert log == [] and o.state == "cancelling"
    else:
        assert log and {kind for kind, _ in log} == {"busy"}, log
    assert o.state != "cancelled" and core.counters()["terminal"] == 0
    _check_consistent(core, {CID: o.state})


# ── views made without a core ──


PROPERTIES = ["client_order_id", "exchange_order_id", "sub_account_id", "symbol", "origin", "parent_id",
              "time_in_force", "error", "leverage", "reduce_only", "terminal_at", "side", "order_type",
              "state", "state_code", "quantity", "price", "filled_qty", "remaining_qty", "avg_price",
              "last_fill_qty", "last_fill_price", "is_live", "is_terminal", "quantity_fp", "price_fp",
              "filled_fp"]


def test_a_view_made_by_new_raises_a_clear_error(impl: Implementation) -> None:
    cls = impl.core.OrderState
    with pytest.raises(TypeError):
        cls()
    v = cls.__new__(cls)
    for name in PROPERTIES:
        with pytest.raises(AttributeError, match=r"OrderState\.__new__"):
            getattr(v, name)
    for fn in (repr, copy.copy, copy.deepcopy, pickle.dumps, lambda x: x.to_dict(),
               lambda x: x.snapshot()):
        with pytest.raises(AttributeError, match=r"OrderState\.__new__"):
            fn(v)
    assert v == v and hash(v) == hash(v) and v != cls.__new__(cls)  # identity, as any object


def test_a_real_view_still_copies_and_pickles(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core, parent="p")
    core.feed(frame(CID, "NEW"))
    for s in (copy.copy(o), copy.deepcopy(o), pickle.loads(pickle.dumps(o)), o.snapshot()):
        assert s is not o and s.to_dict() == o.to_dict() and repr(s) == repr(o)
