"""Differential fuzzing: the compiled scanner must answer exactly as the pure twin on any bytes.

The pure twin is ``orjson.loads`` + ``decode_dict``, so "same answer" also means "accepts exactly
the JSON orjson accepts". Inputs: random bytes, mutations of the real frames (byte flips,
truncation at every offset, insertions, deletions, duplicated members) and generated JSON shaped
like ORDER_TRADE_UPDATE or ALGO_UPDATE with hostile values. FUZZ_EXAMPLES=N raises the hypothesis budget.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Iterator
from types import ModuleType

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading_engine_python.orders import _decode_py as pure

from .. import _data
from ..conftest import without_extensions

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# The compiled twin, set per module run by ``_compiled``; None when the run is without extensions
# (then only the pure twin is checked against orjson).
C: ModuleType | None = None


@pytest.fixture(scope="module", autouse=True)
def _compiled(request: pytest.FixtureRequest) -> Iterator[None]:
    global C
    # no fallback here: a missing build must fail the run, not quietly compare pure with pure
    C = None if without_extensions(request.config) else importlib.import_module(
        "trading_engine_python.orders._decode_c")
    yield
    C = None


def _orjson_ok(data: bytes) -> bool:
    try:
        orjson.loads(data)
    except orjson.JSONDecodeError:
        return False
    return True


def check(data: bytes) -> None:
    """The differential oracle: same result and same dict, and M_JSON exactly when orjson fails."""
    want = pure.decode(data)
    assert (want == (pure.R_MALFORMED, {"reason": pure.M_JSON})) == (not _orjson_ok(data))
    if C is not None:
        got = C.decode(data)
        assert got == want, (data, got, want)


def _sample_frames() -> list[bytes]:
    out = []
    for path in [*_data.paths("ws"), _data.path("docs-examples/ws_order_trade_update.json")]:
        out += _data.frames(path)
    return out


# The captured ALGO_UPDATEs without their {"stream", "data"} wrapper: frames the decoder reads.
ALGO = [orjson.dumps(orjson.loads(f)["data"])
        for f in _data.frames("ws/algo_update_nautilus_dogeusdt_stop_market_2025.jsonl")]
FRAMES = [*_sample_frames(), *ALGO]
OTU = [f for f in FRAMES if b'"ORDER_TRADE_UPDATE"' in f and f.startswith(b"{")]


# --------------------------------------------------------------------------------------------
# deterministic sweeps over the real frames
# --------------------------------------------------------------------------------------------


def test_every_truncation_of_every_frame() -> None:
    for f in FRAMES:
        for i in range(len(f)):
            check(f[:i])


def test_every_single_byte_deletion() -> None:
    for f in [*OTU[:8], FRAMES[0], *ALGO[1:3]]:
        for i in range(len(f)):
            check(f[:i] + f[i + 1 :])


@pytest.mark.parametrize(
    "byte", [b'"', b"\\", b"{", b"}", b"[", b",", b":", b"0", b"-", b"e", b"\x00", b"\xff", b"\x80"]
)
def test_every_single_byte_replacement(byte: bytes) -> None:
    for f in [*OTU[:3], ALGO[2]]:
        for i in range(len(f)):
            check(f[:i] + byte + f[i + 1 :])


def test_number_edges_in_every_position() -> None:
    # orjson's int/float/infinity boundaries, as an id (read) and as an unknown value (skipped)
    numbers = [
        "0",
        "-0",
        "-0.0",
        "0e0",
        "1E+2",
        "9223372036854775807",
        "9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "1e308",
        "1e309",
        "-1e309",
        "1.7976931348623157e308",
        "1.7976931348623158e308",
        "1.7976931348623159e308",
        "1e-400",
        "0e99999",
        "0.000000000000000000001e330",
        "0.00001e313",
        "0.00001e314",
        "1" + "0" * 308,
        "1" + "0" * 309,
        "9" * 308,
        "9" * 309,
        "1" * 400 + "e-100",
        "01",
        "1.",
        ".1",
        "-",
        "1e",
        "1e+",
        "+1",
        "--1",
        "1.e5",
        str((2**54 - 1) * 2**970),
        str((2**54 - 1) * 2**970 - 1),
        str((2**54 - 1) * 2**970 - 1) + ".99999",
        str((2**54 - 1) * 2**970) + ".0",
        "1" + "0" * 5000,
        "0." + "0" * 5000 + "1",
        "1e" + "9" * 30,
        "1e-" + "9" * 30,
        "0." + "0" * 400 + "1e708",
        "0." + "0" * 400 + "1e709",
        "0." + "0" * 400 + "17976931348623159e710",
    ]
    for n in numbers:
        for key in ("i", "T", "zz"):
            check(b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","%s":%s}}' % (key.encode(), n.encode()))
        check(b'{"e":"ORDER_TRADE_UPDATE","E":%s,"o":{"c":"a","X":"NEW"}}' % n.encode())
        check(n.encode())
        check(b"[" + n.encode() + b"]")


def test_string_edges() -> None:
    bodies = [
        b"",
        b"\\u0000",
        b"\\uD800",
        b"\\uDC00",
        b"\\uD800\\uDC00",
        b"\\uDBFF\\uDFFF",
        b"\\uD800\\u0041",
        b"\\uD800\\uD800",
        b"\\uD800x",
        b"\\ud800\\",
        b"\\u12",
        b"\\uGGGG",
        b"\\x",
        b"\\'",
        b"\\U0041",
        b"\xc2\xa9",
        b"\xc2",
        b"\xc0\x80",
        b"\xe0\x80\x80",
        b"\xe0\xa0\x80",
        b"\xed\x9f\xbf",
        b"\xed\xa0\x80",
        b"\xef\xbf\xbf",
        b"\xf0\x8f\xbf\xbf",
        b"\xf0\x90\x80\x80",
        b"\xf4\x8f\xbf\xbf",
        b"\xf4\x90\x80\x80",
        b"\xf5\x80\x80\x80",
        b"\xff",
        b"\x80",
        b"\x7f",
        b"\x1f",
        b"\t",
        b"a\\",
        b"\\\\",
        b'\\"',
        b"\\/",
        b"\\b\\f\\n\\r\\t",
        "ÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉÉ".encode(),
        b"1",
        b"1.5",
        b"\\u0031.\\u0035",
        b"1\\u002e5",
        b"\\u0661",
        b"NEW",
        b"N\\u0045W",
        b"x" * 40,
    ]
    for body in bodies:
        for tmpl in (
            b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"%s","X":"NEW"}}',
            b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"%s"}}',
            b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","z":"%s","ap":"%s"}}',
            b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","s":"%s"}}',
            b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","%s":1}}',
            b'{"e":"%s"}',
            b'{"%s":"ORDER_TRADE_UPDATE"}',
            b'["%s"]',
        ):
            check(tmpl.replace(b"%s", body))


def test_nesting_edges() -> None:
    # orjson: 1024 nested containers accepted, 1025 rejected, wherever the nesting is
    for depth in (1022, 1023, 1024, 1025, 1026):
        for opener, closer in ((b"[", b"]"), (b'{"k":', b"}"), (b'[{"k":', b"}]")):
            levels = depth // (2 if len(opener) == 6 else 1)
            nest = opener * levels + b"0" + closer * levels
            check(nest)
            check(b'{"e":"ACCOUNT_UPDATE","x":' + nest + b"}")
            check(b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","x":' + nest + b"}}")
            check(b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","z":' + nest + b"}}")
            check(b'{"e":"ORDER_TRADE_UPDATE","o":' + nest + b"}")


def test_event_type_edges() -> None:
    # cut at 32 bytes on a character boundary, raw and escaped
    for n in range(26, 36):
        for ch in ("é", "€", "𝄞", "a"):
            for pad in ("", "x", "xy", "xyz"):
                event = (pad + ch * n)[:n]
                check(json.dumps({"e": event}, ensure_ascii=False).encode())
                check(json.dumps({"e": event, "o": 1}).encode())


# --------------------------------------------------------------------------------------------
# hypothesis: random bytes and mutated real frames
# --------------------------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=64))
def test_random_bytes(data: bytes) -> None:
    check(data)


@FUZZ
@given(st.binary(max_size=40))
def test_random_bytes_after_a_valid_prefix(tail: bytes) -> None:
    check(b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","z":' + tail)
    check(b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","z":"' + tail + b'"}}')
    check(b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"' + tail + b'","X":"NEW"}}')


MUTATIONS = st.lists(
    st.tuples(
        st.sampled_from(["flip", "set", "delete", "insert", "truncate", "duplicate", "move"]),
        st.integers(min_value=0, max_value=10_000),
        st.integers(min_value=0, max_value=10_000),
        st.binary(min_size=1, max_size=6)
        | st.sampled_from(
            [b'"', b"\\", b"\\u", b",", b":", b"{", b"}", b"[", b"]", b"null", b"-", b"e9", b"\xc3"]
        ),
    ),
    min_size=1,
    max_size=4,
)


def mutate(data: bytes, ops: list[tuple[str, int, int, bytes]]) -> bytes:
    for op, a, b, blob in ops:
        if not data:
            break
        i = a % len(data)
        if op == "flip":
            data = data[:i] + bytes([data[i] ^ (1 << (b % 8))]) + data[i + 1 :]
        elif op == "set":
            data = data[:i] + blob[:1] + data[i + 1 :]
        elif op == "delete":
            data = data[:i] + data[i + 1 + b % 8 :]
        elif op == "insert":
            data = data[:i] + blob + data[i:]
        elif op == "truncate":
            data = data[:i]
        else:
            # copy one "member" (between two commas) elsewhere: duplicate keys, usually same object
            commas = [k for k, ch in enumerate(data) if ch == 0x2C]
            if len(commas) < 2:
                continue
            s = commas[a % (len(commas) - 1)]
            e = commas[a % (len(commas) - 1) + 1]
            dst = commas[b % len(commas)] if op == "move" else e
            data = data[:dst] + data[s:e] + data[dst:]
    return data


@FUZZ
@given(st.sampled_from(FRAMES), MUTATIONS)
def test_mutated_real_frames(data: bytes, ops: list[tuple[str, int, int, bytes]]) -> None:
    check(mutate(data, ops))


# --------------------------------------------------------------------------------------------
# hypothesis: generated JSON shaped like the frames, rendered by hand (duplicates, escapes,
# white space), with hostile values in every field we read
# --------------------------------------------------------------------------------------------

WS = st.sampled_from(["", "", "", "", " ", "\n", "\t", "\r\n  "])
TEXT = st.text(max_size=10) | st.sampled_from(
    ["ORDER_TRADE_UPDATE", "NEW", 'é𝄞\x00\x1f"\\/', "x" * 40, "€" * 13]
)


def _u(ch: str) -> str:
    cp = ord(ch)
    if cp < 0x10000:
        return f"\\u{cp:04X}"
    cp -= 0x10000
    return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"


@st.composite
def jstring(draw: st.DrawFn, text: st.SearchStrategy[str] = TEXT) -> str:
    """A valid JSON string literal for ``text``, escaped in one of several ways."""
    s = draw(text)
    mode = draw(st.integers(0, 3))
    if mode == 0:
        return json.dumps(s, ensure_ascii=False)
    if mode == 1:
        return json.dumps(s, ensure_ascii=True)
    if mode == 2:
        return '"' + "".join(_u(ch) for ch in s) + '"'
    flags = draw(st.lists(st.booleans(), min_size=len(s), max_size=len(s)))  # some characters escaped
    return (
        '"'
        + "".join(
            _u(ch) if f else json.dumps(ch, ensure_ascii=False)[1:-1] for ch, f in zip(s, flags, strict=True)
        )
        + '"'
    )


# string literals orjson rejects (or accepts only just): lone surrogates, bad escapes, raw controls
BROKEN_STRING = st.builds(
    lambda bad, s: '"' + bad + s.replace('"', "").replace("\\", "") + '"',
    st.sampled_from(
        [r"\uD800", r"\uDC00", r"\uD834\uDD1E", r"\uD834\u0041", r"\x", "\\", "\t", "\x7f", r"\u00e", r"\/"]
    ),
    TEXT,
)


DBL_HALF = str((2**54 - 1) * 2**970)
NUMBER = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.sampled_from(
        [2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 2**53 + 1, 8389765739703625592]
    ).map(str),
    st.sampled_from(["-0", "0", "-0.0", "1e400", "1E-400", "0e400"]),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.from_regex(r"-?(0|[1-9][0-9]{0,25})(\.[0-9]{1,25})?([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.builds(
        lambda k, d, tail: DBL_HALF[:k] + d + tail,
        st.integers(300, 309),
        st.sampled_from("0123456789"),
        st.sampled_from(["", "0", "00", ".0", ".5", "e0", "e-1"]),
    ),
    st.builds(
        lambda k, ex: DBL_HALF[0] + "." + DBL_HALF[1:k] + "e" + ex,
        st.integers(1, 309),
        st.sampled_from(["308", "+308", "307", "309"]),
    ),
)


def _scaled(digits: str, decimals: int) -> str:
    """``digits`` with a decimal point ``decimals`` places from the right (leading zeros kept)."""
    if decimals == 0:
        return digits
    digits = digits.rjust(decimals + 1, "0")
    return digits[:-decimals] + "." + digits[-decimals:]


# every magnitude alike: the number of digits first, then the digits (int64 overflow, 11/12-digit
# integer parts, 8/9 decimals are all likely)
MAGNITUDE_DECIMAL = st.builds(
    _scaled,
    st.integers(1, 24).flatmap(lambda n: st.integers(10 ** (n - 1), 10**n - 1)).map(str),
    st.integers(0, 12),
)
DECIMAL_TEXT = st.one_of(
    MAGNITUDE_DECIMAL,
    st.from_regex(r"[0-9]{1,14}(\.[0-9]{1,12})?", fullmatch=True),
    st.from_regex(r"0{0,30}[0-9]{0,12}(\.[0-9]{0,20}0{0,30})?", fullmatch=True),
    st.sampled_from(
        [
            "92233720368.54775807",
            "92233720368.54775808",
            "184467440737.09551616",
            "184467440737.09551615",
            "999999999999",
            "99999999999.99999999",
            "92233720368.547758075",
            "92233720368.547758065",
            "0.000000005",
            "0.000000015",
            "0.0000000150",
            "0.00000001500000001",
            "1e5",
            "-1",
            ".5",
            "1.",
            "",
            " 1",
            "1 ",
            "+1",
            "\u0661",
            "1,5",
            "0x10",
            "99999999999999999999",
            "1" * 30,
        ]
    ),
)
LEAF = st.one_of(
    st.just("null"), st.sampled_from(["true", "false"]), NUMBER, jstring(), jstring(), BROKEN_STRING
)


def _values(leaf: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    # rendered JSON text, objects as member lists (so duplicate keys are possible)
    return st.recursive(
        leaf,
        lambda kids: (
            st.lists(kids, max_size=3).map(lambda xs: "[" + ",".join(xs) + "]")
            | st.lists(st.tuples(jstring(), kids), max_size=3).map(
                lambda kv: "{" + ",".join(f"{k}:{v}" for k, v in kv) + "}"
            )
        ),
        max_leaves=8,
    )


ANY = _values(LEAF)
# (what Binance sends, anything else) for each field we read
ORDER_FIELDS = {
    "c": (jstring(), ANY),
    "X": (
        jstring(
            st.sampled_from(
                [
                    "NEW",
                    "PARTIALLY_FILLED",
                    "FILLED",
                    "CANCELED",
                    "EXPIRED",
                    "EXPIRED_IN_MATCH",
                    "REJECTED",
                    "NEW_INSURANCE",
                    "PARTIALLY_FILLEd",
                    "",
                    "TRIGGERING",
                    "TRIGGERED",
                    "FINISHED",
                ]
            )
        ),
        ANY,
    ),
    "i": (st.integers(0, 2**63 - 1).map(str), NUMBER | ANY),
    "t": (st.integers(0, 2**63 - 1).map(str), NUMBER | ANY),
    "T": (st.integers(0, 2**63 - 1).map(str), NUMBER | ANY),
    "z": (
        jstring(st.from_regex(r"[0-9]{1,11}(\.[0-9]{1,8})?", fullmatch=True) | MAGNITUDE_DECIMAL),
        jstring(DECIMAL_TEXT) | ANY,
    ),
    "l": (
        jstring(st.from_regex(r"[0-9]{1,11}(\.[0-9]{1,8})?", fullmatch=True) | MAGNITUDE_DECIMAL),
        jstring(DECIMAL_TEXT) | ANY,
    ),
    "L": (
        jstring(st.from_regex(r"[0-9]{1,11}(\.[0-9]{1,8})?", fullmatch=True) | MAGNITUDE_DECIMAL),
        jstring(DECIMAL_TEXT) | ANY,
    ),
    "ap": (
        jstring(st.from_regex(r"[0-9]{1,11}(\.[0-9]{1,14})?", fullmatch=True)),
        jstring(DECIMAL_TEXT) | ANY,
    ),
    "q": (jstring(DECIMAL_TEXT), jstring(DECIMAL_TEXT) | ANY),
    "p": (jstring(DECIMAL_TEXT), jstring(DECIMAL_TEXT) | ANY),
    # read only to tell an amendment: near misses and other types must be ignored alike
    "x": (
        jstring(
            st.sampled_from(["AMENDMENT", "TRADE", "NEW", "AMENDMENT ", "AMENDMEN", "AMENDMENTS", "amendmen"])
        ),
        ANY,
    ),
    # ALGO_UPDATE's own keys (read only in one; the order keys only in an ORDER_TRADE_UPDATE)
    "caid": (jstring(), ANY),
    "aid": (st.integers(0, 2**63 - 1).map(str), NUMBER | ANY),
    "ai": (jstring(st.from_regex(r"[0-9]{0,21}", fullmatch=True)), jstring(DECIMAL_TEXT) | NUMBER | ANY),
    "aq": (
        jstring(st.from_regex(r"[0-9]{1,11}(\.[0-9]{1,8})?", fullmatch=True) | MAGNITUDE_DECIMAL),
        jstring(DECIMAL_TEXT) | ANY,
    ),
}
EXTRA_KEYS = [
    "s",
    "S",
    "o",
    "f",
    "x",
    "N",
    "n",
    "b",
    "a",
    "m",
    "R",
    "AP",
    "cr",
    "V",
    "pm",
    "gtd",
    "er",
    "e",
    "E",
    "zz",
    "",
    "c ",
]
CLEAN_EXTRA = st.one_of(
    jstring(), st.integers(0, 10**12).map(str), st.sampled_from(["true", "false", "null", "[]", "{}"])
)


def _key(draw: st.DrawFn, key: str) -> str:
    return draw(
        st.sampled_from([json.dumps(key), json.dumps(key), "".join(['"', *(_u(c) for c in key), '"'])])
    )


def _pick(draw: st.DrawFn, bad_pct: int, good: st.SearchStrategy[str], bad: st.SearchStrategy[str]) -> str:
    return draw(st.just("null") | bad if draw(st.integers(0, 99)) < bad_pct else good)


@st.composite
def obj(draw: st.DrawFn, members: list[tuple[str, str]]) -> str:
    members = draw(st.permutations(members))
    parts = [f"{draw(WS)}{k}{draw(WS)}:{draw(WS)}{v}{draw(WS)}" for k, v in members]
    return "{" + ",".join(parts) + draw(WS) + "}"


@st.composite
def order_object(draw: st.DrawFn, bad_pct: int) -> str:
    members = []
    for key, (good, bad) in ORDER_FIELDS.items():
        # usually once, sometimes missing or repeated (the last one must win)
        for _ in range(draw(st.sampled_from([1, 1, 1, 1, 1, 0, 2, 2, 3]))):
            members.append((_key(draw, key), _pick(draw, bad_pct, good, bad)))
    for _ in range(draw(st.integers(0, 4))):
        members.append(
            (_key(draw, draw(st.sampled_from(EXTRA_KEYS))), _pick(draw, bad_pct, CLEAN_EXTRA, ANY))
        )
    return str(draw(obj(members)))


@st.composite
def envelope(draw: st.DrawFn) -> str:
    """An ORDER_TRADE_UPDATE-like document; a per-document share of fields gets hostile values."""
    bad_pct = draw(st.sampled_from([0, 0, 2, 5, 15, 40]))
    event = _pick(
        draw,
        bad_pct,
        st.just('"ORDER_TRADE_UPDATE"') | jstring(st.just("ORDER_TRADE_UPDATE"))
        | st.just('"ALGO_UPDATE"') | jstring(st.just("ALGO_UPDATE")),
        st.sampled_from(['"ACCOUNT_UPDATE"', "null", "5", '"ORDER_TRADE_UPDATe"']) | jstring() | ANY,
    )
    members = [(_key(draw, "e"), event)] if draw(st.integers(0, 19)) else []
    for _ in range(draw(st.sampled_from([1, 1, 1, 0, 2, 2, 3]))):
        members.append(
            (_key(draw, "E"), _pick(draw, bad_pct, st.integers(0, 2**63 - 1).map(str), NUMBER | ANY))
        )
    for _ in range(draw(st.sampled_from([1, 1, 1, 1, 1, 1, 1, 0, 2]))):
        members.append(
            (_key(draw, "o"), _pick(draw, bad_pct, order_object(bad_pct), order_object(bad_pct) | ANY))
        )
    if draw(st.integers(0, 9)) == 0:
        members.append((_key(draw, "e"), event))
    for _ in range(draw(st.integers(0, 2))):
        members.append(
            (
                _key(draw, draw(st.sampled_from(["T", "a", "data", "i", "c"]))),
                _pick(draw, bad_pct, CLEAN_EXTRA, ANY),
            )
        )
    return str(draw(obj(members)))


@FUZZ
@given(envelope())
def test_generated_frames(doc: str) -> None:
    check(doc.encode("utf-8", "surrogatepass"))


@st.composite
def duplicated_fields(draw: st.DrawFn) -> str:
    """A valid frame whose fields (E and o's) each appear 1-3 times, good and bad values mixed:
    only the last occurrence counts, for the value and for the error."""
    fields = {"E": (st.integers(0, 2**63 - 1).map(str), NUMBER | ANY), **ORDER_FIELDS}
    members: dict[str, list[tuple[str, str]]] = {"env": [], "o": []}
    for key, (good, bad) in fields.items():
        for _ in range(draw(st.integers(1, 3))):
            value = draw(st.sampled_from([good, good, bad, st.just("null")]))
            members["env" if key == "E" else "o"].append((_key(draw, key), draw(value)))
    order = draw(obj(members["o"]))
    return str(draw(obj([('"e"', '"ORDER_TRADE_UPDATE"'), *members["env"], ('"o"', order)])))


@FUZZ
@given(duplicated_fields())
def test_duplicated_fields(doc: str) -> None:
    check(doc.encode("utf-8", "surrogatepass"))


@FUZZ
@given(envelope(), MUTATIONS)
def test_generated_frames_mutated(doc: str, ops: list[tuple[str, int, int, bytes]]) -> None:
    check(mutate(doc.encode("utf-8", "surrogatepass"), ops))


@FUZZ
@given(ANY)
def test_generated_json_values(doc: str) -> None:
    data = doc.encode("utf-8", "surrogatepass")
    check(data)
    check(b'{"e":"X","v":' + data + b"}")
    check(b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","v":' + data + b"}}")


@FUZZ
@given(NUMBER, DECIMAL_TEXT)
def test_numbers_and_decimals(number: str, decimal: str) -> None:
    check(
        b'{"e":"ORDER_TRADE_UPDATE","E":%s,"o":{"c":"a","X":"NEW","i":%s,"k":%s}}' % ((number.encode(),) * 3)
    )
    for key in (b"z", b"ap"):
        check(b'{"e":"ORDER_TRADE_UPDATE","o":{"c":"a","X":"NEW","%s":"%s"}}' % (key, decimal.encode()))
