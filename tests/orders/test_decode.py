"""The ORDER_TRADE_UPDATE frame decoder, both twins (``dec`` runs each test on each module).

Expected values come from an independent oracle where it matters (``Decimal`` arithmetic on the
JSON that the stdlib parses), not from the pure twin; the compiled-vs-pure comparison on fuzzed
bytes lives in test_decode_fuzz.py.
"""

from __future__ import annotations

import importlib
import itertools
import json
import random
from decimal import ROUND_HALF_EVEN, Decimal
from types import ModuleType
from typing import Any

import orjson
import pytest

from trading_engine_python.orders import _decode
from trading_engine_python.orders import _decode_py as pure

from .. import _data
from ..conftest import Implementation

INT64_MAX = 2**63 - 1

R_ORDER, R_OTHER, R_MAL = 0, 1, 2
STATUS = {
    "NEW": 1,
    "PARTIALLY_FILLED": 2,
    "FILLED": 3,
    "CANCELED": 4,
    "EXPIRED": 5,
    "EXPIRED_IN_MATCH": 6,
    "REJECTED": 7,
}
CONTRACT = {
    "FP_SCALE": 100_000_000,
    "ST_NONE": 0,
    "ST_NEW": 1,
    "ST_PARTIALLY_FILLED": 2,
    "ST_FILLED": 3,
    "ST_CANCELED": 4,
    "ST_EXPIRED": 5,
    "ST_EXPIRED_IN_MATCH": 6,
    "ST_REJECTED": 7,
    "ST_OTHER": 8,
    "R_ORDER": 0,
    "R_OTHER_EVENT": 1,
    "R_MALFORMED": 2,
    "M_JSON": 1,
    "M_NOT_OBJECT": 2,
    "M_NO_EVENT": 3,
    "M_TYPE": 4,
    "M_MISSING": 5,
    "M_RANGE": 6,
    "M_DECIMALS": 7,
    "M_DECIMAL_SYNTAX": 8,
}


@pytest.fixture
def dec(impl: Implementation) -> ModuleType:
    """The decoder module under test (``impl`` comes from tests/conftest.py)."""
    return impl.decode


def frame(order: dict[str, Any] | None = None, **envelope: Any) -> bytes:
    """A minimal valid ORDER_TRADE_UPDATE, with ``order`` keys merged over ``c``/``X``."""
    o: dict[str, Any] = {"c": "abc", "X": "NEW"}
    o.update(order or {})
    env: dict[str, Any] = {"e": "ORDER_TRADE_UPDATE", "E": 1, "o": o}
    env.update(envelope)
    return json.dumps(env).encode()


def raw_frame(order_members: str, envelope_members: str = '"e":"ORDER_TRADE_UPDATE","E":1') -> bytes:
    return ("{" + envelope_members + ',"o":{' + order_members + "}}").encode()


def mal(reason: int) -> tuple[int, dict[str, int]]:
    return R_MAL, {"reason": reason}


# --------------------------------------------------------------------------------------------
# selector, contract
# --------------------------------------------------------------------------------------------


@pytest.mark.c_extension
def test_selector_uses_the_compiled_decoder() -> None:
    compiled = importlib.import_module("trading_engine_python.orders._decode_c")
    assert compiled.__file__ is not None and compiled.__file__.endswith(".so"), compiled.__file__
    assert _decode.IMPLEMENTATION == "cython"
    assert _decode.decode is compiled.decode


def test_selector_exports() -> None:
    for name, value in CONTRACT.items():
        assert getattr(_decode, name) == value, name
    assert _decode.decode_dict is pure.decode_dict
    assert _decode.Update is pure.Update
    assert _decode.IMPLEMENTATION in ("cython", "python")


def test_constants_match_the_contract(dec: ModuleType) -> None:
    for name, value in CONTRACT.items():
        got = getattr(dec, name)
        assert type(got) is int and got == value, name


@pytest.mark.c_extension
def test_presence_bits_are_distinct() -> None:
    # C-only: the dict of the Python API lists the present keys instead
    compiled = importlib.import_module("trading_engine_python.orders._decode_c")
    names = [
        "P_ORDER_ID",
        "P_TRADE_ID",
        "P_EVENT_TIME",
        "P_TRADE_TIME",
        "P_Z",
        "P_L",
        "P_LP",
        "P_AP",
        "P_Q",
        "P_P",
        "P_AMENDED",
    ]
    bits = [getattr(compiled, n) for n in names]
    assert all(b > 0 and b & (b - 1) == 0 for b in bits) and len(set(bits)) == len(bits)
    assert (compiled.CID_MAX, compiled.EVENT_TYPE_MAX) == (36, 32)


# --------------------------------------------------------------------------------------------
# every real sample
# --------------------------------------------------------------------------------------------


def _sample_lines() -> list[tuple[str, bytes]]:
    out = []
    for path in [*_data.paths("ws"), _data.path("docs-examples/ws_order_trade_update.json")]:
        out += [(f"{path.name}:{i}", ln) for i, ln in enumerate(_data.frames(path))]
    return out


SAMPLE_LINES = _sample_lines()


def _fp(s: str, rounding: bool = False) -> int:
    d = Decimal(s) * 100_000_000
    if rounding:
        d = d.quantize(Decimal(1), rounding=ROUND_HALF_EVEN)
    assert d == d.to_integral_value()
    return int(d)


def _oracle(msg: dict[str, Any]) -> dict[str, Any]:
    o = msg["o"]
    want: dict[str, Any] = {"status": STATUS.get(o["X"], 8), "cid": o["c"]}
    for key, name in (("i", "order_id"), ("t", "trade_id")):
        if key in o:
            want[name] = o[key]
    if "E" in msg:
        want["event_time"] = msg["E"]
    if "T" in o:
        want["trade_time"] = o["T"]
    for key in ("z", "l", "L", "ap", "q", "p"):
        if key in o:
            want[key] = _fp(o[key], key == "ap")
    return want


def test_samples_are_all_there() -> None:
    kinds = {json.loads(line).get("e") for _, line in SAMPLE_LINES}
    assert {"ORDER_TRADE_UPDATE", "ACCOUNT_UPDATE", "TRADE_LITE", None} <= kinds
    assert sum(json.loads(line).get("e") == "ORDER_TRADE_UPDATE" for _, line in SAMPLE_LINES) >= 25


@pytest.mark.parametrize(("name", "line"), SAMPLE_LINES, ids=[n for n, _ in SAMPLE_LINES])
def test_real_sample(dec: ModuleType, name: str, line: bytes) -> None:
    msg = json.loads(line)
    got = dec.decode(line)
    if msg.get("e") == "ORDER_TRADE_UPDATE":
        assert got == (R_ORDER, _oracle(msg))
    elif "e" in msg:
        assert got == (R_OTHER, {"event_type": msg["e"]})
    else:  # the "o only" captures and the {"stream","data"} wrappers are not envelopes
        assert got == mal(3)


def test_real_partial_fill_values(dec: ModuleType) -> None:
    lines = _data.frames("ws/seq_real_defi_xrpusdt_market_then_stop_partial_fills_2021.jsonl")
    partial, filled = (ln for ln in lines if b'"x":"TRADE"' in ln and b"KQFVXIJX" in ln)
    r, d = dec.decode(partial)
    assert r == R_ORDER
    assert d["status"] == 2 and d["l"] == d["z"] == 870_000_000 and d["L"] == 67_160_000
    assert d["q"] == 2_220_000_000 and d["order_id"] == 15384883176 and d["trade_id"] == 515356385
    r, d = dec.decode(filled)
    assert (r, d["status"], d["l"], d["z"]) == (R_ORDER, 3, 1_350_000_000, 2_220_000_000)


def test_docs_example(dec: ModuleType) -> None:
    data = _data.read_bytes("docs-examples/ws_order_trade_update.json")
    assert dec.decode(data) == (
        R_ORDER,
        {
            "status": 1,
            "cid": "TEST",
            "order_id": 8886774,
            "trade_id": 0,
            "event_time": 1568879465651,
            "trade_time": 1568879465650,
            "z": 0,
            "l": 0,
            "L": 0,
            "ap": 0,
            "q": 100_000,
            "p": 0,
        },
    )


def test_synthetic_fixtures_with_nulls(dec: ModuleType) -> None:
    # nautilus's liquidation fixtures: {"stream","data"} wrappers with null values inside.
    for path in _data.paths("fixtures-synthetic", "*.json"):
        msg = json.loads(path.read_bytes())
        inner = msg.get("data", msg)
        got = dec.decode(json.dumps(inner))
        assert got[0] == R_ORDER, path.name
        assert got[1]["status"] == STATUS.get(inner["o"]["X"], 8)
        cid = inner["o"]["c"]
        assert got[1]["cid"] == (cid if len(cid.encode()) <= 36 else None)  # settlement_autoclose-… has 37


# --------------------------------------------------------------------------------------------
# every reason code
# --------------------------------------------------------------------------------------------

REASONS: list[tuple[str, bytes, int]] = [
    ("empty", b"", 1),
    ("blank", b" \n", 1),
    ("truncated", frame()[:-1], 1),
    ("trailing garbage", frame() + b"x", 1),
    ("two documents", frame() + frame(), 1),
    ("trailing comma", raw_frame('"c":"a","X":"NEW",'), 1),
    ("bad utf8", raw_frame('"c":"a","X":"NEW","s":"@"').replace(b"@", b"\xff"), 1),
    ("surrogate in utf8", raw_frame('"c":"@","X":"NEW"').replace(b"@", b"\xed\xa0\x80"), 1),
    ("bad utf8 in skipped value", frame({"s": "@"}).replace(b"@", b"\xc0\x80"), 1),
    ("raw control char", raw_frame('"c":"a\tb","X":"NEW"'), 1),
    ("bad escape", raw_frame(r'"c":"a\x","X":"NEW"'), 1),
    ("lone high surrogate", raw_frame(r'"c":"\ud800","X":"NEW"'), 1),
    ("lone low surrogate in skipped", raw_frame(r'"s":"\udc00","c":"a","X":"NEW"'), 1),
    ("NaN", raw_frame('"c":"a","X":"NEW","x":NaN'), 1),
    ("1e400", raw_frame('"c":"a","X":"NEW","x":1e400'), 1),
    ("leading zero", raw_frame('"c":"a","X":"NEW","i":01'), 1),
    ("comment", raw_frame('"c":"a","X":"NEW"/**/'), 1),
    ("depth 1025", b'{"e":"X","a":' + b"[" * 1024 + b"]" * 1024 + b"}", 1),
    ("BOM", b"\xef\xbb\xbf" + frame(), 1),
    ("single quotes", b"{'e':'ORDER_TRADE_UPDATE'}", 1),
    ("array", b"[1,2]", 2),
    ("string", b'"ORDER_TRADE_UPDATE"', 2),
    ("null", b"null", 2),
    ("number", b"12", 2),
    ("no e", b'{"E":1,"o":{}}', 3),
    ("e null", b'{"e":null}', 3),
    ("empty object", b"{}", 3),
    ("e number", b'{"e":1}', 4),
    ("e object", b'{"e":{"e":"ORDER_TRADE_UPDATE"}}', 4),
    ("E string", frame(E="1"), 4),
    ("E float", frame(E=1.0), 4),
    ("E bool", frame(E=True), 4),
    ("o array", frame(o=[]), 4),
    ("o string", frame(o="x"), 4),
    ("c number", frame({"c": 12}), 4),
    ("X list", frame({"X": ["NEW"]}), 4),
    ("i string", frame({"i": "1"}), 4),
    ("i float", frame({"i": 1.0}), 4),
    ("i exponent", raw_frame('"c":"a","X":"NEW","i":1e3'), 4),
    ("i bool", frame({"i": False}), 4),
    ("i above u64 (a float for orjson)", frame({"i": 2**64}), 4),
    ("i below i64 (a float for orjson)", frame({"i": -(2**63) - 1}), 4),
    ("t object", frame({"t": {}}), 4),
    ("T true", frame({"T": True}), 4),
    ("z number", frame({"z": 1}), 4),
    ("ap number", frame({"ap": 0.5}), 4),
    ("o missing", b'{"e":"ORDER_TRADE_UPDATE","E":1}', 5),
    ("o null", frame(o=None), 5),
    ("c missing", b'{"e":"ORDER_TRADE_UPDATE","o":{"X":"NEW"}}', 5),
    ("X missing", b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a"}}', 5),
    ("c null", frame({"c": None}), 5),
    ("X null", frame({"X": None}), 5),
    ("E negative", frame(E=-1), 6),
    ("E above int64", frame(E=2**63), 6),
    ("i negative", frame({"i": -5}), 6),
    ("i int64 min", frame({"i": -(2**63)}), 6),
    ("t u64 max", frame({"t": 2**64 - 1}), 6),
    ("T 2**63", frame({"T": 2**63}), 6),
    ("z above int64 after scaling", frame({"z": "92233720368.54775808"}), 6),
    ("q huge", frame({"q": "1" + "0" * 40}), 6),
    ("ap rounds over int64", frame({"ap": "92233720368.547758075"}), 6),
    ("z 9 decimals", frame({"z": "0.000000001"}), 7),
    ("p many decimals", frame({"p": "1.00000000000000000001"}), 7),
    ("l empty", frame({"l": ""}), 8),
    ("L exponent", frame({"L": "1e5"}), 8),
    ("q negative", frame({"q": "-1"}), 8),
    ("p leading dot", frame({"p": ".5"}), 8),
    ("z trailing dot", frame({"z": "1."}), 8),
    ("z space", frame({"z": " 1"}), 8),
    ("z plus", frame({"z": "+1"}), 8),
    ("z unicode digit", frame({"z": "\u0661"}), 8),
    ("z two dots", frame({"z": "1.2.3"}), 8),
    ("ap comma", frame({"ap": "1,5"}), 8),
]


@pytest.mark.parametrize(("case", "data", "reason"), REASONS, ids=[c for c, _, _ in REASONS])
def test_malformed_reason(dec: ModuleType, case: str, data: bytes, reason: int) -> None:
    assert dec.decode(data) == mal(reason)


def test_every_reason_is_covered() -> None:
    assert {r for _, _, r in REASONS} == set(range(1, 9))


def test_depth_limit_is_orjsons(dec: ModuleType) -> None:
    for depth in (1023, 1024, 1025):
        inner = b"[" * (depth - 1) + b"]" * (depth - 1)  # the top-level object is one more level
        doc = b'{"e":"ACCOUNT_UPDATE","a":' + inner + b"}"
        accepted = _orjson_ok(doc)
        assert accepted == (depth <= 1024)
        assert dec.decode(doc) == ((R_OTHER, {"event_type": "ACCOUNT_UPDATE"}) if accepted else mal(1))
        # the same depth reached inside "o" (the envelope and "o" are two levels)
        deep_o = (
            b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","x":'
            + b'{"k":' * (depth - 2)
            + b"1"
            + b"}" * (depth - 2)
            + b"}}"
        )
        assert dec.decode(deep_o)[0] == (R_ORDER if depth <= 1024 else R_MAL)


def _orjson_ok(data: bytes | str) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# values
# --------------------------------------------------------------------------------------------


def test_fixed_point_values(dec: ModuleType) -> None:
    cases = {
        "0": 0,
        "00": 0,
        "1": 100_000_000,
        "0.1": 10_000_000,
        "65000.1": 6_500_010_000_000,
        "0.00000001": 1,
        "1.10000000000000000000": 110_000_000,
        "007.5": 750_000_000,
        "92233720368.54775807": INT64_MAX,
        "0" * 500 + "1.5" + "0" * 500: 150_000_000,
    }
    for text, want in cases.items():
        assert dec.decode(frame({"z": text})) == (
            R_ORDER,
            {"status": 1, "cid": "abc", "event_time": 1, "z": want},
        )


AP_CASES = [
    "0.123456785",
    "0.123456775",
    "0.123456795",
    "0.1234567850",
    "0.12345678500001",
    "0.123456784999",
    "1.000000005",
    "1.000000015",
    "2.5000000050",
    "0.000000005",
    "0.000000015",
    "0.0000000049999",
    "92233720368.547758065",
    "92233720368.547758069",
    "1.99999999999",
    "9.999999995",
    "0.00000000000",
]


@pytest.mark.parametrize("text", AP_CASES)
def test_ap_rounds_half_even(dec: ModuleType, text: str) -> None:
    want = int((Decimal(text) * 100_000_000).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))
    assert dec.decode(frame({"ap": text}))[1]["ap"] == want
    # the same digits in any other decimal field are refused unless the extra digits are zeros
    exact = Decimal(text) * 100_000_000 == want
    assert dec.decode(frame({"p": text})) == (
        (R_ORDER, {"status": 1, "cid": "abc", "event_time": 1, "p": want}) if exact else mal(7)
    )


def test_ids_above_2_53_are_exact(dec: ModuleType) -> None:
    big = 8389765739703625592
    r, d = dec.decode(frame({"i": big, "t": 2**53 + 1, "T": INT64_MAX}, E=2**62 + 3))
    assert r == R_ORDER
    assert (d["order_id"], d["trade_id"], d["trade_time"], d["event_time"]) == (
        big,
        2**53 + 1,
        INT64_MAX,
        2**62 + 3,
    )
    lite = _data.read_bytes("ws/trade_lite_real_nautilus_ethusdt_2024.json")
    order_from_lite = lite.replace(b'"TRADE_LITE"', b'"ORDER_TRADE_UPDATE"').replace(
        b'"T":', b'"o":{"X":"NEW","T":', 1
    )
    order_from_lite = order_from_lite.rstrip().rstrip(b"}") + b"}}"
    r, d = dec.decode(order_from_lite)
    assert r == R_ORDER and d["order_id"] == big and d["cid"] == "O-20240930-081155-001-000-29"


def test_minus_zero_is_the_int_zero(dec: ModuleType) -> None:
    # orjson returns int 0 for "-0" (and a float for "-0.0")
    assert dec.decode(raw_frame('"c":"a","X":"NEW","i":-0'))[1]["order_id"] == 0
    assert dec.decode(raw_frame('"c":"a","X":"NEW","i":-0.0')) == mal(4)


def test_statuses(dec: ModuleType) -> None:
    for text, code in [
        *STATUS.items(),
        ("NEW_INSURANCE", 8),
        ("NEW_ADL", 8),
        ("", 8),
        ("new", 8),
        ("NEW ", 8),
        ("PARTIALLY_FILLEDX", 8),
        ("TRIGGERING", 8),
        ("É" * 9, 8),
    ]:
        assert dec.decode(frame({"X": text}))[1]["status"] == code, text


def test_client_ids(dec: ModuleType) -> None:
    for cid, want in [
        ("", ""),
        ("x" * 36, "x" * 36),
        ("x" * 37, None),
        ("é" * 18, "é" * 18),  # 36 UTF-8 bytes
        ("é" * 18 + "x", None),  # 37 bytes, 19 characters
        ("€" * 12, "€" * 12),
        ("𝄞" * 9, "𝄞" * 9),
        ("𝄞" * 9 + "a", None),
        ("a\x00b", "a\x00b"),
        ("x" * 5000, None),
    ]:
        assert dec.decode(frame({"c": cid}))[1]["cid"] == want, cid
        # the same through \u escapes (a surrogate pair for astral characters)
        escaped = json.dumps({"e": "ORDER_TRADE_UPDATE", "o": {"c": cid, "X": "NEW"}}, ensure_ascii=True)
        assert dec.decode(escaped)[1]["cid"] == want, cid


def test_event_type_is_cut_at_32_bytes_on_a_character_boundary(dec: ModuleType) -> None:
    for event, want in [
        ("ACCOUNT_UPDATE", "ACCOUNT_UPDATE"),
        ("A" * 32, "A" * 32),
        ("A" * 40, "A" * 32),
        ("A" * 31 + "é", "A" * 31),
        ("A" * 30 + "é", "A" * 30 + "é"),
        ("A" * 29 + "€x", "A" * 29 + "€"),
        ("A" * 30 + "€", "A" * 30),
        ("A" * 29 + "𝄞", "A" * 29),
        ("A" * 28 + "𝄞", "A" * 28 + "𝄞"),
        ("", ""),
        ("ORDER_TRADE_UPDATe", "ORDER_TRADE_UPDATe"),
        ("ORDER_TRADE_UPDATE ", "ORDER_TRADE_UPDATE "),
    ]:
        for text in (json.dumps({"e": event}), json.dumps({"e": event}, ensure_ascii=False)):
            assert dec.decode(text) == (R_OTHER, {"event_type": want}), event


def test_other_event_ignores_invalid_fields(dec: ModuleType) -> None:
    # e decides first: a CONDITIONAL_ORDER_TRIGGER_REJECT "o" is not an order, whatever it holds
    assert dec.decode(b'{"e":"CONDITIONAL_ORDER_TRIGGER_REJECT","E":-1,"o":{"X":5,"z":1}}') == (
        R_OTHER,
        {"event_type": "CONDITIONAL_ORDER_TRIGGER_REJECT"},
    )
    # but the document must still be valid JSON
    assert dec.decode(b'{"e":"ACCOUNT_UPDATE","o":{"X":5,"z":1e999}}') == mal(1)


def test_algo_update_capture(dec: ModuleType) -> None:
    """The captured ALGO_UPDATE sequence (docs/binance-protocol.md, "Algo orders"): caid, aid, the
    created order's id from the string ai ("" before the trigger), aq as the cumulative fill."""
    lines = _data.frames("ws/algo_update_nautilus_dogeusdt_stop_market_2025.jsonl")
    got = [dec.decode(orjson.dumps(orjson.loads(line)["data"])) for line in lines]
    cid = "O-20251211-053131-TEST-000-1"
    common = {"algo": True, "q": 3_800_000_000, "p": 0}
    assert got[0] == (R_ORDER, {"status": 9, "cid": cid, "algo_id": 1000000033225453,
                                "event_time": 1765431097020, **common})
    assert got[1] == (R_ORDER, {"status": 10, "cid": cid, "algo_id": 1000000033225453,
                                "order_id": 88937381063, "event_time": 1765431097037, "z": 0, "ap": 0,
                                **common})
    assert got[2][1]["status"] == 11 and got[2][1]["z"] == 3_800_000_000 and got[2][1]["ap"] == 13_856_000
    assert got[3][1]["cid"] == "O-20251211-053131-TEST-000-2" and got[3][1]["z"] == 0


def test_algo_update_rules(dec: ModuleType) -> None:
    def algo(o: str, e: str = "ALGO_UPDATE") -> tuple[int, dict[str, Any]]:
        return dec.decode(f'{{"e":"{e}","o":{{{o}}}}}'.encode())  # type: ignore[no-any-return]

    # the order event's keys mean nothing in an ALGO_UPDATE, and the reverse
    assert algo('"caid":"a","X":"NEW","c":5,"i":"x","z":true') == (
        R_ORDER, {"status": 1, "cid": "a", "algo": True})
    assert algo('"c":"a","X":"NEW","caid":5,"ai":7,"aq":true', "ORDER_TRADE_UPDATE") == (
        R_ORDER, {"status": 1, "cid": "a"})
    assert algo('"c":"a","X":"NEW"') == mal(5)  # no caid
    # the algo statuses only in an ALGO_UPDATE, the fill statuses only in an order update
    assert algo('"caid":"a","X":"FILLED"')[1]["status"] == 8
    assert algo('"c":"a","X":"TRIGGERED"', "ORDER_TRADE_UPDATE")[1]["status"] == 8
    # ai: digits in a string; "" absent; a JSON number a type error
    assert algo('"caid":"a","X":"NEW","ai":""')[1] == {"status": 1, "cid": "a", "algo": True}
    assert algo('"caid":"a","X":"NEW","ai":"0009"')[1]["order_id"] == 9
    assert algo('"caid":"a","X":"NEW","ai":"\\u0039"')[1]["order_id"] == 9
    assert algo('"caid":"a","X":"NEW","ai":9') == mal(4)
    assert algo('"caid":"a","X":"NEW","ai":"9x"') == mal(8)
    assert algo('"caid":"a","X":"NEW","ai":"9223372036854775808"') == mal(6)
    assert algo('"caid":"a","X":"NEW","ai":"9223372036854775807"')[1]["order_id"] == 2**63 - 1
    # errors in the order e E o caid X aid ai aq ap q p
    assert algo('"p":"x","aid":-1,"caid":"a","X":"NEW"') == mal(6)
    assert algo('"p":"x","aq":"1.123456789","caid":"a","X":"NEW"') == mal(7)
    # a later "o" replaces the earlier one entirely
    assert dec.decode(b'{"e":"ALGO_UPDATE","o":{"caid":"a","X":"NEW","aid":3,"ai":"5","aq":"1"},'
                      b'"o":{"caid":"b","X":"CANCELED"}}') == (
        R_ORDER, {"status": 4, "cid": "b", "algo": True})


def test_nulls_are_absent(dec: ModuleType) -> None:
    order = {k: None for k in ("i", "t", "T", "z", "l", "L", "ap", "q", "p")}
    assert dec.decode(frame(order, E=None)) == (R_ORDER, {"status": 1, "cid": "abc"})


def test_unknown_keys_of_any_shape_are_skipped(dec: ModuleType) -> None:
    extra = {
        "s": "BTCUSDT",
        "m": True,
        "R": False,
        "gtd": 0,
        "si": 0,
        "AP": "7476.89",
        "new": [1, {"a": [None]}],
        "obj": {"c": 5, "X": 5, "o": {"c": 1}},
        "f": 1.5e300,
        "cp": None,
        "ii": "x",
        "ap2": 1,
    }
    got = dec.decode(frame({**extra, "z": "1"}, T=5, data={"e": 1}, i=5, c=None))
    assert got == (R_ORDER, {"status": 1, "cid": "abc", "event_time": 1, "z": 100_000_000})


# --------------------------------------------------------------------------------------------
# layout variations of real frames
# --------------------------------------------------------------------------------------------

OTU_SAMPLES = [ln for _, ln in SAMPLE_LINES if json.loads(ln).get("e") == "ORDER_TRADE_UPDATE"]


def test_key_order_permutations(dec: ModuleType) -> None:
    rng = random.Random(7)
    for line in OTU_SAMPLES[:6]:
        msg = json.loads(line)
        want = dec.decode(line)
        assert want[0] == R_ORDER
        for env_order in itertools.permutations(msg):
            for _ in range(3):
                okeys = list(msg["o"])
                rng.shuffle(okeys)
                o = {k: msg["o"][k] for k in okeys}
                text = json.dumps({k: (o if k == "o" else msg[k]) for k in env_order})
                assert dec.decode(text) == want


def _u_escaped(s: str) -> str:
    # every character as \uXXXX, a surrogate pair above the BMP
    out = []
    for ch in s:
        cp = ord(ch)
        if cp < 0x10000:
            out.append(f"\\u{cp:04x}")
        else:
            cp -= 0x10000
            out.append(f"\\u{0xD800 + (cp >> 10):04X}\\u{0xDC00 + (cp & 0x3FF):04X}")
    return '"' + "".join(out) + '"'


def _escape_all(obj: Any) -> str:
    """JSON text of ``obj`` with every character of every key and string escaped."""
    if isinstance(obj, dict):
        return "{" + ",".join(f"{_u_escaped(k)}:{_escape_all(v)}" for k, v in obj.items()) + "}"
    if isinstance(obj, list):
        return "[" + ",".join(_escape_all(v) for v in obj) + "]"
    if isinstance(obj, str):
        return _u_escaped(obj)
    return json.dumps(obj)


def test_everything_escaped(dec: ModuleType) -> None:
    for line in OTU_SAMPLES:
        text = _escape_all(json.loads(line))
        assert '"\\u0065":"\\u004f' in text
        assert dec.decode(text) == dec.decode(line)
    assert dec.decode(_escape_all(json.loads(frame({"c": 'é𝄞/"\\', "z": "1.5"}))))[1]["cid"] == 'é𝄞/"\\'
    assert dec.decode(raw_frame(r'"c":"\/\b\f\n\r\t\"\\","X":"N\u0045W"'))[1] == {
        "status": 1,
        "cid": '/\b\f\n\r\t"\\',
        "event_time": 1,
    }


def test_whitespace_everywhere(dec: ModuleType) -> None:
    for line in OTU_SAMPLES[:5]:
        pretty = json.dumps(json.loads(line), indent="\t", separators=(" ,\r\n", " : "))
        assert dec.decode(" \n" + pretty + "\r\n\t ") == dec.decode(line)


# --------------------------------------------------------------------------------------------
# duplicate keys: the last one wins, value and error alike
# --------------------------------------------------------------------------------------------

DUPLICATES: list[tuple[bytes, tuple[int, dict[str, Any]]]] = [
    (
        raw_frame('"c":"a","X":"NEW","z":"x","z":"5"'),
        (R_ORDER, {"status": 1, "cid": "a", "event_time": 1, "z": 500_000_000}),
    ),
    (raw_frame('"c":"a","X":"NEW","z":"5","z":"x"'), mal(8)),
    (raw_frame('"c":"a","X":"NEW","z":"5","z":null'), (R_ORDER, {"status": 1, "cid": "a", "event_time": 1})),
    (
        raw_frame('"c":"a","X":"NEW","i":1.5,"i":7'),
        (R_ORDER, {"status": 1, "cid": "a", "order_id": 7, "event_time": 1}),
    ),
    (raw_frame('"c":"a","X":"NEW","i":7,"i":-7'), mal(6)),
    (raw_frame('"c":5,"X":"NEW","c":"b"'), (R_ORDER, {"status": 1, "cid": "b", "event_time": 1})),
    (raw_frame('"c":"b","X":"NEW","c":null'), mal(5)),
    (raw_frame('"c":"b","X":"NEW","X":"FILLED"'), (R_ORDER, {"status": 3, "cid": "b", "event_time": 1})),
    (
        raw_frame('"c":"a","X":"NEW"', '"e":"ORDER_TRADE_UPDATE","E":"x","E":3'),
        (R_ORDER, {"status": 1, "cid": "a", "event_time": 3}),
    ),
    (
        raw_frame('"c":"a","X":"NEW"', '"e":"ORDER_TRADE_UPDATE","E":3,"E":null'),
        (R_ORDER, {"status": 1, "cid": "a"}),
    ),
    (
        raw_frame('"c":"a","X":"NEW"', '"e":"ACCOUNT_UPDATE","e":"ORDER_TRADE_UPDATE"'),
        (R_ORDER, {"status": 1, "cid": "a"}),
    ),
    (
        raw_frame('"c":"a","X":"NEW"', '"e":"ORDER_TRADE_UPDATE","e":"ACCOUNT_UPDATE"'),
        (R_OTHER, {"event_type": "ACCOUNT_UPDATE"}),
    ),
    (raw_frame('"c":"a","X":"NEW"', '"e":5,"e":"ORDER_TRADE_UPDATE"'), (R_ORDER, {"status": 1, "cid": "a"})),
    (raw_frame('"c":"a","X":"NEW"', '"e":"ORDER_TRADE_UPDATE","e":null'), mal(3)),
    # a later "o" replaces the earlier one: nothing of the first leaks, its errors neither
    (
        b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","i":1,"z":"1"},"o":{"c":"b","X":"FILLED"}}',
        (R_ORDER, {"status": 3, "cid": "b"}),
    ),
    (
        b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","i":"bad"},"o":{"c":"b","X":"NEW","t":2}}',
        (R_ORDER, {"status": 1, "cid": "b", "trade_id": 2}),
    ),
    (b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW"},"o":{"X":"NEW"}}', mal(5)),
    (b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW"},"o":null}', mal(5)),
    (b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW"},"o":7}', mal(4)),
    (b'{"e":"ORDER_TRADE_UPDATE","o":7,"o":{"c":"a","X":"NEW"}}', (R_ORDER, {"status": 1, "cid": "a"})),
    (
        b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW"},"E":1,"o":{"c":"a","X":"NEW","E":"inner"}}',
        (R_ORDER, {"status": 1, "cid": "a", "event_time": 1}),
    ),
    (
        b'{"\\u0065":"ORDER_TRADE_UPDATE","\\u006f":{"\\u0063":"a","\\u0058":"NEW","\\u0061\\u0070":"1"}}',
        (R_ORDER, {"status": 1, "cid": "a", "ap": 100_000_000}),
    ),
]


@pytest.mark.parametrize(("data", "want"), DUPLICATES)
def test_duplicate_keys_last_wins(dec: ModuleType, data: bytes, want: tuple[int, dict[str, Any]]) -> None:
    assert dec.decode(data) == want
    assert pure.decode_dict(orjson.loads(data)) == want


def test_first_error_in_field_order(dec: ModuleType) -> None:
    # several errors: the one reported is the first in e, E, o, c, X, i, t, T, z, l, L, ap, q, p
    assert dec.decode(frame({"p": "x", "z": 1, "i": -1}, E=-1)) == mal(6)
    assert dec.decode(frame({"p": "x", "z": 1, "i": "1"})) == mal(4)
    assert dec.decode(frame({"p": "x", "ap": "1e", "q": 5})) == mal(8)
    assert dec.decode(frame({"c": None, "X": 5})) == mal(5)
    assert dec.decode(frame({"c": 5, "X": None})) == mal(4)
    assert dec.decode(frame({"X": None, "i": "x"})) == mal(5)


# --------------------------------------------------------------------------------------------
# argument types, decode_dict
# --------------------------------------------------------------------------------------------


def test_argument_types(dec: ModuleType) -> None:
    data = frame({"c": "é", "i": 5})
    want = dec.decode(data)
    assert want[0] == R_ORDER and want[1]["cid"] == "é"
    assert dec.decode(bytearray(data)) == want
    assert dec.decode(memoryview(data)) == want
    assert dec.decode(memoryview(b"xx" + data + b"yy")[2:-2]) == want
    assert dec.decode(data.decode()) == want
    assert dec.decode('{"e":"\ud800"}') == mal(1)  # a str with a lone surrogate: not UTF-8 at all
    with pytest.raises(TypeError):
        dec.decode(memoryview(data)[::2])
    for bad in (None, 5, [data], {"e": "x"}):
        with pytest.raises(TypeError):
            dec.decode(bad)


def test_decode_dict() -> None:
    for _, line in SAMPLE_LINES:
        assert pure.decode_dict(orjson.loads(line)) == pure.decode(line)
    assert pure.decode_dict([1]) == mal(2)
    assert pure.decode_dict({"e": "ORDER_TRADE_UPDATE", "o": {"c": "a", "X": "NEW", "i": True}}) == mal(4)
    assert pure.decode_dict({"e": "ORDER_TRADE_UPDATE", "o": {"c": "a", "X": "NEW", "i": 5.0}}) == mal(4)


# --------------------------------------------------------------------------------------------
# o.x: only AMENDMENT is read (docs/binance-protocol.md, "Amend in place")
# --------------------------------------------------------------------------------------------


def test_real_amendment_frame(dec: ModuleType) -> None:
    # a testnet capture: the "o" object alone; wrapped as the user stream delivers it
    o = json.loads(_data.frames("ws/otu_o_only_real_ccxt_issue_18112_amendment.jsonl")[0])
    r, u = dec.decode(json.dumps({"e": "ORDER_TRADE_UPDATE", "E": 1, "o": o}).encode())
    assert r == R_ORDER
    assert u["amended"] is True and u["status"] == STATUS["NEW"]
    assert (u["p"], u["q"]) == (51_890_000, 1_200_000_000)


@pytest.mark.parametrize(
    ("members", "amended"),
    [
        ('"x":"AMENDMENT"', True),
        ('"x":"\\u0041MENDMENT"', True),
        ('"x":"TRADE"', False),
        ('"x":"AMENDMENTS"', False),
        ('"x":"AMENDMEN"', False),
        ('"x":null', False),
        ('"x":1', False),
        ('"x":["AMENDMENT"]', False),
        ('"x":"AMENDMENT","x":"TRADE"', False),  # the last key wins
        ('"x":"TRADE","x":"AMENDMENT"', True),
    ],
)
def test_execution_type_only_flags_amendment(dec: ModuleType, members: str, amended: bool) -> None:
    r, u = dec.decode(raw_frame('"c":"a","X":"NEW",' + members))
    assert r == R_ORDER  # an odd x is never malformed
    assert u.get("amended", False) is amended


def test_repeated_order_object_forgets_the_amendment(dec: ModuleType) -> None:
    data = b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","x":"AMENDMENT"},"o":{"c":"a","X":"NEW"}}'
    r, u = dec.decode(data)
    assert r == R_ORDER and "amended" not in u
