"""One input contract for both order cores (and both decoders): what each accepts, what it refuses,
and how. Before it, the twins disagreed on exactly these inputs.

- Subclasses of bytes/bytearray/str are frames like any other (read as their contents).
- ``add()``: strings must be ``str`` (a subclass is stored as its plain value), integers must be
  ints in range: TypeError / ValueError, the same on both cores. Leverage is Binance's 1..125.
- Exchange order ids are ints in [0, 2**63): anything else is no id. It is ignored by
  ``set_exchange_id``, finds nothing in ``get_by_exchange_id``, and makes a dict frame malformed in
  ``feed_decoded`` (never an exception out of the feed).
"""

from __future__ import annotations

from typing import Any

import pytest

from trading_engine_python.orders import _core_py, _decode_py
from trading_engine_python.orders._states import F_ACTIVATED, F_CLOSED, F_MALFORMED, F_UNKNOWN_ID, REJECTED

from ..conftest import Implementation
from .conftest import FakeClock
from .test_core import CID, OID, P, Q, add, frame, make

INT64_MAX = 2**63 - 1


class Bytes(bytes):
    pass


class ByteArray(bytearray):
    pass


class Str(str):
    pass


# ── frames in subclasses of bytes / bytearray / str ──


@pytest.mark.parametrize("form", [Bytes, ByteArray, lambda raw: Str(raw.decode()),
                                  lambda raw: memoryview(Bytes(raw))])
def test_subclassed_frames_are_read_as_their_contents(impl: Implementation, clock: FakeClock,
                                                      form: Any) -> None:
    raw = frame(CID, "PARTIALLY_FILLED", z="0.004", L="65000.1")
    plain = make(impl, clock)
    sub = make(impl, clock)
    a, b = add(plain), add(sub)
    assert sub.feed(form(raw)) == plain.feed(raw)
    assert b.to_dict() == a.to_dict() and b.filled_fp == 400_000
    assert sub.counters() == plain.counters()
    assert sub.feed(form(b"{not json")) == F_MALFORMED


def test_decoders_read_subclasses_as_their_contents(impl: Implementation) -> None:
    decoder = impl.decode
    for raw in (frame(CID, "NEW"), frame(CID, "FILLED", z="0.010", i=None), b"[]", b"{", b'{"e":"X"}'):
        want = _decode_py.decode(raw)
        assert decoder.decode(Bytes(raw)) == want
        assert decoder.decode(ByteArray(raw)) == want
        assert decoder.decode(Str(raw.decode())) == want
        assert decoder.decode(memoryview(Bytes(raw))) == want
    with pytest.raises(TypeError):
        decoder.decode(12345)


# ── add(): strings ──


STRING_ARGS = {"client_order_id": 0, "sub_account_id": 1, "symbol": 2, "origin": 7}
OPTIONAL_STRING_ARGS = {"parent_id": 8, "time_in_force": 11}


def _args(**changes: Any) -> list[Any]:
    args = [CID, "sub1", "BTCUSDT", 0, 0, Q, P, "MANUAL", "chase-1", 5, False, "GTC"]
    names = ["client_order_id", "sub_account_id", "symbol", "side", "order_type", "quantity", "price",
             "origin", "parent_id", "leverage", "reduce_only", "time_in_force"]
    for name, value in changes.items():
        args[names.index(name)] = value
    return args


@pytest.mark.parametrize("name", [*STRING_ARGS, *OPTIONAL_STRING_ARGS])
@pytest.mark.parametrize("bad", [b"sub1", 5, 1.5, ["x"]])
def test_add_refuses_non_str_strings_alike(impl: Implementation, clock: FakeClock, name: str,
                                           bad: Any) -> None:
    core = make(impl, clock)
    with pytest.raises(TypeError, match=f"{name} must be a str"):
        core.add(*_args(**{name: bad}))
    assert len(core) == 0 and core.counters()["added"] == 0


@pytest.mark.parametrize("name", list(STRING_ARGS))
def test_add_refuses_none_for_required_strings(impl: Implementation, clock: FakeClock, name: str) -> None:
    core = make(impl, clock)
    with pytest.raises(TypeError, match=f"{name} must be a str, not NoneType"):
        core.add(*_args(**{name: None}))


def test_add_stores_str_subclasses_as_plain_str(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = core.add(*_args(client_order_id=Str(CID), sub_account_id=Str("sub1"), symbol=Str("BTCUSDT"),
                        origin=Str("MANUAL"), parent_id=Str("chase-1"), time_in_force=Str("GTC")))
    strs = (o.client_order_id, o.sub_account_id, o.symbol, o.origin, o.parent_id, o.time_in_force)
    assert strs == (CID, "sub1", "BTCUSDT", "MANUAL", "chase-1", "GTC")
    assert [type(s) for s in strs] == [str] * 6
    assert core.get(Str(CID)) is o and core.live(Str("sub1"), Str("BTCUSDT")) == [o]
    assert core.by_parent(Str("chase-1")) == [o] and core.live(None, Str("BTCUSDT")) == [o]
    o2 = core.add(*_args(client_order_id="PMSsub1_LMT_2", parent_id=None, time_in_force=None))
    assert (o2.parent_id, o2.time_in_force) == (None, None)


# ── add(): integers ──


@pytest.mark.parametrize(("name", "good", "out_of_range", "not_int"), [
    ("side", [0, 1], [-1, 2], [True, 0.0, "0", None]),
    ("order_type", [0, 1, 6], [-1, 7], [False, 1.0, "LIMIT", None]),
    ("quantity", [1, INT64_MAX], [0, -1, 2**63], [1.5, "1", None, True]),
    ("price", [0, 1, INT64_MAX], [-1, 2**63], [65000.3, "1", True]),
    ("leverage", [1, 20, 125], [0, -1, 126, 2**31, 2**63], [5.0, "5", None, True]),
])
def test_add_integer_ranges_are_the_same_on_both(impl: Implementation, clock: FakeClock, name: str,
                                                 good: list[Any], out_of_range: list[Any],
                                                 not_int: list[Any]) -> None:
    core = make(impl, clock)
    for k, value in enumerate(good):
        o = core.add(*_args(client_order_id=f"ok{k}", **{name: value}))
        assert o.state == "placing"
    for value in out_of_range:
        with pytest.raises(ValueError, match=f"{name} must be in"):
            core.add(*_args(client_order_id="bad", **{name: value}))
    for value in not_int:
        with pytest.raises(TypeError, match=f"{name} must be an int"):
            core.add(*_args(client_order_id="bad", **{name: value}))
    assert len(core) == len(good) and core.get("bad") is None


def test_add_takes_any_integer_with_index(impl: Implementation, clock: FakeClock) -> None:
    class Five:
        def __index__(self) -> int:
            return 5

    o = make(impl, clock).add(*_args(leverage=Five()))
    assert o.leverage == 5 and type(o.leverage) is int


def test_leverage_range_is_binances(impl: Implementation) -> None:
    mod = impl.core
    assert (mod.LEVERAGE_MIN, mod.LEVERAGE_MAX) == (_core_py.LEVERAGE_MIN, _core_py.LEVERAGE_MAX) == (1, 125)


def test_add_checks_arguments_before_the_duplicate(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    with pytest.raises(TypeError):
        core.add(*_args(symbol=None))
    with pytest.raises(ValueError, match="leverage"):
        core.add(*_args(leverage=0))
    with pytest.raises(ValueError, match="already tracked"):
        core.add(*_args())
    with pytest.raises(ValueError, match="36"):
        core.add(*_args(client_order_id="x" * 37))


# ── exchange order ids ──


@pytest.mark.parametrize("oid", [2**63, 2**64, -1, -(2**63)])
def test_set_exchange_id_ignores_ids_out_of_range(impl: Implementation, clock: FakeClock, oid: int) -> None:
    core = make(impl, clock)
    o = add(core)
    assert core.set_exchange_id(CID, oid) is None
    assert o.exchange_order_id is None and core.get_by_exchange_id(oid) is None
    core.set_exchange_id(CID, INT64_MAX)
    assert o.exchange_order_id == INT64_MAX and core.get_by_exchange_id(INT64_MAX) is o


@pytest.mark.parametrize("oid", ["5", 5.0, None, True, b"5"])
def test_set_exchange_id_refuses_non_integers(impl: Implementation, clock: FakeClock, oid: Any) -> None:
    core = make(impl, clock)
    o = add(core)
    with pytest.raises(TypeError, match="exchange_order_id must be an int"):
        core.set_exchange_id(CID, oid)
    assert o.exchange_order_id is None


def test_get_by_exchange_id_finds_only_ints_in_range(impl: Implementation, clock: FakeClock) -> None:
    class Index:
        def __index__(self) -> int:
            return OID

    core = make(impl, clock)
    o = add(core)
    core.set_exchange_id(CID, OID)
    assert core.get_by_exchange_id(OID) is o and core.get_by_exchange_id(Index()) is o
    for key in (float(OID), str(OID), None, [OID], 2**63, -1, OID + 2**64):
        assert core.get_by_exchange_id(key) is None


@pytest.mark.parametrize(("key", "value"), [
    ("order_id", 2**63), ("order_id", -1), ("order_id", "5"), ("order_id", 5.0), ("order_id", True),
    ("z", 2**63), ("z", -5), ("z", "0.1"), ("ap", 2**64), ("L", 1.5), ("event_time", 2**63),
    ("event_time", "1"), ("status", 99), ("status", "NEW"), ("status", None), ("status", True),
    ("cid", b"x"), ("cid", 5),
])
def test_feed_decoded_outside_the_decoders_contract_is_malformed(impl: Implementation, clock: FakeClock,
                                                                  key: str, value: Any) -> None:
    core = make(impl, clock)
    o = add(core)
    fields: dict[str, Any] = {"status": _decode_py.ST_CANCELED, "cid": CID, "order_id": OID, "z": 0}
    fields[key] = value
    assert core.feed_decoded(_decode_py.R_ORDER, fields) == F_MALFORMED
    assert o.state == "placing" and o.exchange_order_id is None
    c = core.counters()
    assert (c["frames"], c["malformed"], c["terminal"]) == (1, 1, 0)


def test_feed_decoded_missing_required_keys_is_malformed(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    assert core.feed_decoded(_decode_py.R_ORDER, {"cid": CID}) == F_MALFORMED
    assert core.feed_decoded(_decode_py.R_ORDER, {"status": 1}) == F_MALFORMED
    assert core.feed_decoded(_decode_py.R_ORDER, {"status": 1, "cid": None}) == F_UNKNOWN_ID
    assert core.feed_decoded(_decode_py.R_ORDER, {"status": 1, "cid": Str(CID)}) == F_ACTIVATED
    assert core.counters()["malformed"] == 2


def test_feed_decoded_takes_every_value_the_decoder_gives(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core, qty=INT64_MAX)
    fields = {"status": _decode_py.ST_CANCELED, "cid": CID, "order_id": INT64_MAX, "z": INT64_MAX - 1,
              "ap": INT64_MAX, "L": INT64_MAX, "event_time": INT64_MAX}
    assert core.feed_decoded(_decode_py.R_ORDER, fields) & F_CLOSED
    assert o.exchange_order_id == INT64_MAX and o.filled_fp == INT64_MAX - 1
    assert core.last_event_time() == INT64_MAX


def test_an_id_beyond_int64_in_a_frame_is_malformed(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    raw = frame(CID, "NEW").replace(f'"i":{OID}'.encode(), f'"i":{2**63}'.encode())
    assert f'"i":{2**63}'.encode() in raw
    assert core.feed(raw) == F_MALFORMED and o.exchange_order_id is None


# ── the other arguments ──


def test_close_local_state_must_be_an_int(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    with pytest.raises(TypeError, match="state must be an int"):
        core.close_local(CID, "rejected", -1, "x")
    with pytest.raises(ValueError):
        core.close_local(CID, REJECTED, "not a number", "x")
    assert o.state == "placing"
    assert core.close_local(CID, REJECTED, "-2010", 404) == F_CLOSED
    assert o.error == (-2010, "404")


def test_lookups_with_non_str_keys_find_nothing(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    add(core)
    for key in (5, b"x", None, (CID,)):
        assert core.get(key) is None and core.by_parent(key) == []
        assert len(core.live(key, None)) == (1 if key is None else 0)  # None: no filter
        assert core.begin_cancel(key) == -1 and core.undo_cancel(key, 1) is False
        core.set_hooked(key, True)
    for unhashable in ([CID], {CID: 1}):
        with pytest.raises(TypeError):
            core.get(unhashable)
        with pytest.raises(TypeError):
            core.live(unhashable, None)


def test_init_runs_once(impl: Implementation, clock: FakeClock) -> None:
    core = make(impl, clock)
    o = add(core)
    with pytest.raises(RuntimeError, match="already initialised"):
        core.__init__(1.0, 1, clock)
    assert core.get(CID) is o


def test_an_uninitialised_core_refuses_every_call(impl: Implementation) -> None:
    core = impl.core.OrderCore.__new__(impl.core.OrderCore)
    for call in (lambda: core.get(CID), lambda: core.feed(frame(CID, "NEW")), lambda: add(core),
                 lambda: core.live(), lambda: core.last_order()):
        with pytest.raises(RuntimeError, match="__init__ was not called"):
            call()
