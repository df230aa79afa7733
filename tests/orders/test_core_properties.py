"""Both order cores driven by the same random operation sequences must never disagree.

Hypothesis draws sequences of: add, feed (real frame templates with random statuses, z, l, L, ap,
ids, event times, duplicate keys, nulls, truncation, other events and plain garbage, in every input
form), begin_cancel, undo_cancel, close_local, set_exchange_id, set_hooked, set_hook, get_hook, the
in-flight watch (watch with a few timeouts, expired), clock advances (a fake clock shared by both),
lookups (get, get_by_exchange_id, live, by_parent) and holding / dropping the views they return. After
every step the two cores must give the same return value (or raise the same exception type), the same
counters(), len(), last_order(), last_hook(), watched() and last_event_time(), and every held view must
show the same public fields in both, including views of orders evicted since.
"""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from trading_engine_python.orders import _core_py, _decode_py
from trading_engine_python.orders._fixed import fixed_to_str, to_fixed
from trading_engine_python.orders._states import ACTIVE, CANCELLING, FAILED, PLACING, REJECTED

from .conftest import FakeClock

pytestmark = pytest.mark.c_extension  # compares the compiled twin with the pure one

MAX_EXAMPLES = int(os.environ.get("CORE_PROPERTY_EXAMPLES", "150"))
# No "explain" phase: on Python < 3.12 it traces every line and takes minutes on a failure.
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]

# Real frames (see tests/data/README.md): f0cii/moxt hedge-mode NEW,
# Slavian2015/Defi XRPUSDT PARTIALLY_FILLED (closePosition stop), oliver-zehentleitner/unicorn-fy NEW
# without the fee keys.
TEMPLATES: list[dict[str, Any]] = [json.loads(t) for t in (
    '{"e":"ORDER_TRADE_UPDATE","T":1704459987707,"E":1704459987709,"o":{"s":"BTCUSDT",'
    '"c":"web_w4Sot5R1ym9ChzWfGdAm","S":"BUY","o":"LIMIT","f":"GTC","q":"0.010","p":"20000","ap":"0",'
    '"sp":"0","x":"NEW","X":"NEW","i":238950797096,"l":"0","z":"0","L":"0","n":"0","N":"USDT",'
    '"T":1704459987707,"t":0,"b":"200","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT",'
    '"ps":"LONG","cp":false,"rp":"0","pP":false,"si":0,"ss":0,"V":"NONE","pm":"NONE","gtd":0}}',
    '{"e":"ORDER_TRADE_UPDATE","T":1625047065159,"E":1625047065165,"o":{"s":"XRPUSDT",'
    '"c":"web_KQFVXIJXTeG6I9RUDmTo","S":"SELL","o":"MARKET","f":"GTC","q":"22.2","p":"0","ap":"0.67160",'
    '"sp":"0.6720","x":"TRADE","X":"PARTIALLY_FILLED","i":15384883176,"l":"8.7","z":"8.7","L":"0.6716",'
    '"n":"0.00233716","N":"USDT","T":1625047065159,"t":515356385,"b":"0","a":"0","m":false,"R":true,'
    '"wt":"MARK_PRICE","ot":"STOP_MARKET","ps":"BOTH","cp":true,"rp":"-0.01914000","pP":false,"si":0,'
    '"ss":0}}',
    '{"e":"ORDER_TRADE_UPDATE","T":1617859867769,"E":1617859867772,"o":{"s":"SANDUSDT",'
    '"c":"electron_6LyJZ9KPgmRbhKfFamx3","S":"BUY","o":"LIMIT","f":"GTC","q":"1000","p":"0.63428",'
    '"ap":"0","sp":"0","x":"NEW","X":"NEW","i":315803079,"l":"0","z":"0","L":"0","T":1617859867769,'
    '"t":0,"b":"1262.16000","a":"0","m":false,"R":false,"wt":"CONTRACT_PRICE","ot":"LIMIT","ps":"LONG",'
    '"cp":false,"rp":"0","pP":false,"si":0,"ss":0}}',
    # nautilus DOGEUSDT ALGO_UPDATE (an algo order's trigger; caid/ai/aq in place of c/i/z)
    '{"e":"ALGO_UPDATE","T":1765431097030,"E":1765431097037,"o":{"caid":"O-20251211-053131-TEST-000-1",'
    '"aid":1000000033225453,"at":"CONDITIONAL","o":"STOP_MARKET","s":"DOGEUSDT","S":"BUY","ps":"BOTH",'
    '"f":"GTC","q":"38","X":"TRIGGERED","ai":"88937381063","ap":"0","aq":"0","act":"MARKET",'
    '"tp":"0.13855","p":"0","V":"EXPIRE_MAKER","wt":"CONTRACT_PRICE","pm":"NONE","cp":false,"pP":false,'
    '"R":false,"tt":1765431097019,"gtd":0}}',
)]

CIDS = ["PMSsub1_LMT_a1", "PMSsub1_CHASE_b2", "PMSsub2_SCALP_c3", "PMSsub2_TWAP_d4", "PMSsub3_MKT_e5",
        "PMSé_LMT_f6"]
UNKNOWN_CIDS = ["web_w4Sot5R1ym9ChzWfGdAm", "P" * 37, "", "PMSsub1_LMT_a1 "]
SUBS = ["sub1", "sub2", "sub3"]
SYMBOLS = ["BTCUSDT", "ETHUSDT"]
PARENTS = [None, "chase-1", "twap-2"]
ORIGINS = ["MANUAL", "CHASE", "SCALPER"]
TIFS = [None, "GTC", "IOC", "GTX"]
OIDS = [1, 2, 238950797096, 2**53 + 1, 8389765739703625592, 2**63 - 1]
QTYS = [to_fixed(x) for x in ("0.001", "0.01", "1", "22.2", "3")]
AMOUNTS = ["0", "0.001", "0.002", "0.005", "0.01", "0.011", "1", "2", "3", "8.7", "22.2", "23"]
PRICES = ["0", "0.6716", "65000.1", "65000.12345678", "92233720368.54775807"]
BAD_DECIMALS = ["", "1e3", "-1", "0.000000001", "92233720368.54775808", "1.", ".5", " 1", "0x10", "１"]
STATUSES = ["NEW", "PARTIALLY_FILLED", "FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH", "REJECTED",
            "NEW_INSURANCE", "CALCULATED", "", "new"]
ALGO_STATUSES = ["NEW", "CANCELED", "EXPIRED", "REJECTED", "TRIGGERING", "TRIGGERED", "FINISHED",
                 "FILLED", "PARTIALLY_FILLED", "", "new"]


def _decimal(values: list[str]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(values),
        st.integers(0, 3 * 10**8).map(fixed_to_str),
        st.sampled_from(BAD_DECIMALS),
        st.just(None),  # key left out
        st.sampled_from([0, 1.5, True, {"x": 1}]),  # wrong JSON types
    )


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """Mostly well-formed frames for our ids (so that fills, closes and evictions happen), and
    now and then every kind of damage."""
    msg = json.loads(json.dumps(draw(st.sampled_from(TEMPLATES))))
    o = msg["o"]
    algo = msg["e"] == "ALGO_UPDATE"
    c, z = ("caid", "aq") if algo else ("c", "z")
    dirty = not draw(st.integers(0, 4))
    if draw(st.integers(0, 7)):
        o[c] = draw(st.sampled_from(CIDS))
    else:
        o[c] = draw(st.one_of(st.sampled_from(UNKNOWN_CIDS), st.text(max_size=40)))
    statuses = ALGO_STATUSES if algo else STATUSES
    o["X"] = draw(st.sampled_from(statuses if dirty else statuses[:7]))
    if algo and draw(st.booleans()):
        bad_ai = ["x", "-1", "99999999999999999999"] if dirty else []
        o["ai"] = draw(st.sampled_from(["", *map(str, OIDS), *bad_ai]))
    for key, values in ((z, AMOUNTS), ("l", AMOUNTS), ("L", PRICES), ("ap", [*PRICES, "65000.123456785"])):
        value = draw(_decimal(values) if dirty else st.one_of(st.sampled_from(values), st.just(None)))
        if value is None:
            o.pop(key, None)
        else:
            o[key] = value
    if not algo:  # an amendment (or another execution type) with a new size and price
        o["x"] = draw(st.sampled_from(["TRADE", "NEW", "AMENDMENT", "AMENDMENT", "CANCELED"]))
    for key, values in (("q", AMOUNTS), ("p", PRICES)):
        if draw(st.booleans()):
            value = draw(_decimal(values) if dirty else st.sampled_from(values))
            if value is None:
                o.pop(key, None)
            else:
                o[key] = value
    for key, pool in (("i", OIDS), ("E", [0, 5, 1704459987709])):
        target = msg if key == "E" else o
        choice = draw(st.integers(0, 5))
        if choice == 0:
            target.pop(key, None)
        elif choice == 1 and dirty:
            target[key] = draw(st.sampled_from([-1, 2**64, "123", None, 1.0]))
        elif choice < 4:
            target[key] = draw(st.sampled_from(pool))
    if dirty and not draw(st.integers(0, 5)):
        msg["e"] = draw(st.sampled_from(["ACCOUNT_UPDATE", "TRADE_LITE", None, 7]))
    if dirty and not draw(st.integers(0, 7)):
        msg = {"stream": "x", "data": msg}
    text = json.dumps(msg, separators=(",", ":"), ensure_ascii=draw(st.booleans()))
    mutation = draw(st.integers(0, 12)) if dirty else 99
    if mutation == 0:  # truncated
        text = text[: draw(st.integers(0, len(text)))]
    elif mutation == 1 and text.endswith("}}"):  # a repeated key: the last one wins
        text = text[:-2] + ',"X":' + json.dumps(draw(st.sampled_from(STATUSES))) + "}}"
    elif mutation == 2 and text.endswith("}}"):
        text = text[:-2] + ',"z":' + json.dumps(draw(st.sampled_from(AMOUNTS))) + "}}"
    elif mutation == 3:
        return draw(st.binary(max_size=40))
    return text.encode()


FORMS = ["bytes", "str", "bytearray", "memoryview", "dict"]

def _add() -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(st.just("add"), st.sampled_from([*CIDS, "x" * 37]), st.sampled_from(SUBS),
              st.sampled_from(SYMBOLS), st.integers(0, 1), st.sampled_from([0, 1, 1, 3, 4, 6]),
              st.sampled_from(QTYS),
              st.sampled_from([0, to_fixed("65000.1"), to_fixed("0.6716")]), st.sampled_from(ORIGINS),
              st.sampled_from(PARENTS), st.integers(1, 125), st.booleans(), st.sampled_from(TIFS))


def _feed() -> st.SearchStrategy[tuple[Any, ...]]:
    return st.tuples(st.just("feed"), frames(), st.sampled_from(FORMS))


# Weighted: distinct strategy objects, as one_of collapses repeats of the same one.
OPS = st.one_of(
    _add(), _add(), _add(), _add(), _feed(), _feed(), _feed(), _feed(), _feed(), _feed(), _feed(), _feed(),
    st.tuples(st.just("begin_cancel"), st.sampled_from(CIDS + UNKNOWN_CIDS)),
    st.tuples(st.just("undo_cancel"), st.sampled_from(CIDS),
              st.sampled_from([-1, PLACING, ACTIVE, CANCELLING])),
    st.tuples(st.just("close_local"), st.sampled_from(CIDS + UNKNOWN_CIDS),
              st.sampled_from([REJECTED, FAILED, ACTIVE, 99]), st.integers(-5000, 0), st.text(max_size=5)),
    st.tuples(st.just("set_hooked"), st.sampled_from(CIDS + UNKNOWN_CIDS),
              st.sampled_from([True, False, 0, 1])),
    st.tuples(st.just("set_hook"), st.sampled_from(CIDS + UNKNOWN_CIDS),
              st.sampled_from([-1, 0, 1, 7, 2**31 - 1, 2**31, -2, 1.5])),
    st.tuples(st.just("get_hook"), st.sampled_from(CIDS + UNKNOWN_CIDS)),
    st.tuples(st.just("watch"), st.sampled_from(CIDS + UNKNOWN_CIDS), st.sampled_from([0.0, 1.0, 5.0, 30.0])),
    st.tuples(st.just("expired")),
    st.tuples(st.just("set_exchange_id"), st.sampled_from(CIDS + UNKNOWN_CIDS),
              st.sampled_from([*OIDS, -1, 0])),
    st.tuples(st.just("advance"), st.sampled_from([0.0, 0.125, 0.5, 1.0, 5.0, 600.0])),
    st.tuples(st.just("get"), st.sampled_from(CIDS + UNKNOWN_CIDS), st.booleans()),
    st.tuples(st.just("get_by_exchange_id"), st.sampled_from([*OIDS, 3, -1]), st.booleans()),
    st.tuples(st.just("live"), st.sampled_from([None, *SUBS, "BTCUSDT"]),
              st.sampled_from([None, *SYMBOLS, "sub1"])),
    st.tuples(st.just("by_parent"), st.sampled_from([p for p in PARENTS if p] + ["sub1", "none"])),
    st.tuples(st.just("drop"), st.integers(0, 50)),
)


def _view_dict(o: Any) -> dict[str, Any] | None:
    return None if o is None else {**o.to_dict(), "state_code": o.state_code, "is_live": o.is_live,
                                   "quantity_fp": o.quantity_fp, "price_fp": o.price_fp,
                                   "filled_fp": o.filled_fp, "remaining_qty": o.remaining_qty,
                                   "repr": repr(o)}


def _outcome(fn: Any) -> tuple[str, Any]:
    try:
        return "ok", fn()
    except Exception as exc:  # the twins must fail alike too
        return "raised", type(exc)


class Pair:
    """The two cores, fed the same operations."""

    def __init__(self, ttl: float, cap: int) -> None:
        from trading_engine_python.orders import _core_c, _decode_c

        self.clock = FakeClock()
        self.cores = (_core_py.OrderCore(ttl, cap, self.clock), _core_c.OrderCore(ttl, cap, self.clock))
        self.decoders = (_decode_py, _decode_c)
        self.held: list[tuple[Any, Any]] = []

    def run(self, op: tuple[Any, ...]) -> None:
        kind = op[0]
        if kind == "advance":
            self.clock.advance(op[1])
            return
        if kind == "drop":
            if self.held:
                del self.held[op[1] % len(self.held)]
            return
        results = [_outcome(lambda core=core, k=k: self._call(core, k, op))
                   for k, core in enumerate(self.cores)]
        (st_p, res_p), (st_c, res_c) = results
        assert st_p == st_c, (op, results)
        if st_p == "raised":
            assert res_p is res_c, (op, results)
            return
        if kind in ("add", "get", "get_by_exchange_id"):
            assert _view_dict(res_p) == _view_dict(res_c), op
            if res_p is not None:
                # identity: the same object as a held view of that order, in both or in neither
                same = [(vp is res_p, vc is res_c) for vp, vc in self.held]
                assert all(a == b for a, b in same), (op, same)
                if kind == "add" or op[2]:
                    self.held.append((res_p, res_c))
        elif kind in ("live", "by_parent", "expired"):
            assert [_view_dict(o) for o in res_p] == [_view_dict(o) for o in res_c], op
            assert all(o.is_live for o in res_c)
        else:
            assert res_p == res_c and type(res_p) is type(res_c), (op, res_p, res_c)

    def _call(self, core: Any, k: int, op: tuple[Any, ...]) -> Any:
        kind, args = op[0], op[1:]
        if kind == "feed":
            data, form = args
            if form == "dict":
                return core.feed_decoded(*self.decoders[k].decode(data))
            converted = {"bytes": data, "bytearray": bytearray(data), "memoryview": memoryview(data),
                         "str": data.decode("utf-8", "surrogateescape")}[form]
            return core.feed(converted)
        if kind == "get":
            return core.get(args[0])
        return getattr(core, kind)(*args)

    def check(self) -> None:
        p, c = self.cores
        assert p.counters() == c.counters()
        assert len(p) == len(c) == p.counters()["tracked"]
        assert _view_dict(p.last_order()) == _view_dict(c.last_order())
        assert p.last_event_time() == c.last_event_time()
        assert p.last_hook() == c.last_hook()
        assert p.watched() == c.watched()
        for vp, vc in self.held:
            assert _view_dict(vp) == _view_dict(vc)


@settings(max_examples=MAX_EXAMPLES, deadline=None, phases=PHASES, report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(ttl=st.sampled_from([0.0, 1.0, 5.0, 600.0]), cap=st.sampled_from([0, 1, 3, 100_000]),
       ops=st.lists(OPS, min_size=20, max_size=150))
def test_twins_agree_on_random_sequences(ttl: float, cap: int, ops: list[tuple[Any, ...]]) -> None:
    pair = Pair(ttl, cap)
    for op in ops:
        pair.run(op)
        pair.check()
    # and at the end, every lookup agrees
    p, c = pair.cores
    for cid in CIDS:
        assert _view_dict(p.get(cid)) == _view_dict(c.get(cid))
    for oid in OIDS:
        assert _view_dict(p.get_by_exchange_id(oid)) == _view_dict(c.get_by_exchange_id(oid))
    for sub in (None, *SUBS):
        for sym in (None, *SYMBOLS):
            assert [_view_dict(o) for o in p.live(sub, sym)] == [_view_dict(o) for o in c.live(sub, sym)]
    pair.check()


@settings(max_examples=MAX_EXAMPLES, deadline=None, phases=PHASES, report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=frames())
def test_every_input_form_agrees(data: bytes) -> None:
    # One order per id, then the same frame through each form of each core.
    outcomes = []
    for form in FORMS:
        pair = Pair(600.0, 100)
        for cid in CIDS:
            pair.run(("add", cid, "sub1", "BTCUSDT", 0, 0, QTYS[1], 0, "MANUAL", None, 1, False, None))
        pair.run(("feed", data, form))
        pair.check()
        outcomes.append((pair.cores[0].counters(), _view_dict(pair.cores[0].last_order())))
    assert all(o == outcomes[0] for o in outcomes[:4])  # the raw forms; "dict" skips nothing either
    assert outcomes[4] == outcomes[0]
