"""The RESP twins: byte-identical packing (to each other and to redis-py's own packer) and the
same reply counting, on both implementations."""

from __future__ import annotations

import pytest
import redis.connection
from hypothesis import given, settings
from hypothesis import strategies as st

from trading_engine_python._compat import NO_EXTENSIONS
from trading_engine_python.events import _resp, _resp_py

from ..conftest import Implementation

CHANNELS = [b"pms:events:order_active", b"pms:events:order_filled", b"pms:events:x", b"c"]
XADD = _resp_py.xadd_head(b"pms:events", 100_000)


def redis_py_pack(*args: object) -> bytes:
    """redis-py's (sync, pure-Python) command packer: an independent reference."""
    conn = redis.connection.Connection()
    return b"".join(conn.pack_command(*args))


@pytest.mark.c_extension
def test_compiled_twin_is_selected() -> None:
    assert _resp.IMPLEMENTATION == "cython"


def test_selector_honours_no_extensions() -> None:
    if NO_EXTENSIONS:
        assert _resp.IMPLEMENTATION == "python"
        assert _resp.pack_publish is _resp_py.pack_publish


def test_publish_matches_redis_py(impl: Implementation) -> None:
    payload = b'{"seq":1,"symbol":"BTCUSDT","price":65000.1}'
    assert impl.resp.pack_publish([(CHANNELS[0], payload)]) == redis_py_pack("PUBLISH", CHANNELS[0], payload)
    assert impl.resp.pack_publish([(b"c", b"")]) == redis_py_pack("PUBLISH", b"c", b"")
    many = [(CHANNELS[i % 4], b"x" * (i * 37)) for i in range(40)]  # lengths of 1 to 4 digits
    assert impl.resp.pack_publish(many) == b"".join(redis_py_pack("PUBLISH", c, p) for c, p in many)
    assert impl.resp.pack_publish([]) == b""


def test_xadd_then_publish_matches_redis_py(impl: Implementation) -> None:
    head = impl.resp.xadd_head(b"pms:events", 100_000)
    assert head == XADD
    items = [(CHANNELS[1], b'{"seq":7}'), (CHANNELS[0], b"y" * 1234)]
    expected = b"".join(
        redis_py_pack("XADD", "pms:events", "MAXLEN", "~", 100_000, "*", "data", p)
        + redis_py_pack("PUBLISH", c, p)
        for c, p in items
    )
    assert impl.resp.pack_publish(items, head) == expected
    assert impl.resp.xadd_head(b"s", 1) == redis_py_pack("XADD", "s", "MAXLEN", "~", 1, "*", "data", "")[:-6]


def test_bad_items_are_a_clear_error(impl: Implementation) -> None:
    for bad in ([(b"c",)], [("c", b"p")], [(b"c", "p")], [b"cp"], [(b"c", b"p", b"q")]):
        with pytest.raises(TypeError, match="tuples of bytes"):
            impl.resp.pack_publish(bad)
    with pytest.raises(ValueError):
        impl.resp.xadd_head(b"pms:events", 0)
    with pytest.raises(TypeError):
        impl.resp.xadd_head(b"", 5)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.binary(max_size=40), st.binary(max_size=3000)), max_size=30), st.booleans())
def test_twins_byte_identical(
    impl: Implementation, items: list[tuple[bytes, bytes]], with_stream: bool
) -> None:
    # Each twin equals redis-py command by command, hence the twins equal each other.
    head = XADD if with_stream else None
    ref = b"".join(
        (redis_py_pack("XADD", "pms:events", "MAXLEN", "~", 100_000, "*", "data", p) if with_stream else b"")
        + redis_py_pack("PUBLISH", c, p)
        for c, p in items
    )
    assert impl.resp.pack_publish(items, head) == ref


# ── Reply counting ──

REPLIES = (
    b":1\r\n"  # PUBLISH
    b"$15\r\n1700000000000-0\r\n"  # XADD
    b"+OK\r\n"
    b"$-1\r\n"  # null bulk
    b"*2\r\n$1\r\na\r\n:5\r\n"  # array
    b">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nd\r\n"  # RESP3 push: not a reply
    b"%1\r\n+k\r\n*1\r\n:1\r\n"  # RESP3 map
    b"_\r\n"  # RESP3 null
    b":0\r\n"
)
N_REPLIES = 8


def test_scan_counts_every_kind(impl: Implementation) -> None:
    assert impl.resp.scan_replies(REPLIES, 0, 100) == (N_REPLIES, len(REPLIES), None)
    assert impl.resp.scan_replies(REPLIES, 0, 2) == (2, 4 + 22, None)
    assert impl.resp.scan_replies(REPLIES, 0, 0) == (0, 0, None)


def test_scan_stops_after_an_error(impl: Implementation) -> None:
    buf = b":1\r\n-WRONGTYPE Operation against a key holding the wrong kind of value\r\n:1\r\n"
    n, pos, err = impl.resp.scan_replies(buf, 0, 10)
    assert (n, err) == (2, b"WRONGTYPE Operation against a key holding the wrong kind of value")
    assert impl.resp.scan_replies(buf, pos, 10) == (1, len(buf), None)
    blob_err = b"!9\r\nLOADING x\r\n"
    assert impl.resp.scan_replies(blob_err, 0, 5) == (1, len(blob_err), b"LOADING x")


def test_scan_waits_for_incomplete_replies_at_every_split(impl: Implementation) -> None:
    for cut in range(len(REPLIES)):
        part = REPLIES[:cut]
        n, pos, err = impl.resp.scan_replies(part, 0, 100)
        assert err is None and pos <= cut
        # Same answer as the reference, and the rest completes it.
        assert (n, pos) == _resp_py.scan_replies(part, 0, 100)[:2]
        n2, pos2, _ = impl.resp.scan_replies(part + REPLIES[cut:], pos, 100)
        assert n + n2 == N_REPLIES and pos2 == len(REPLIES)


@pytest.mark.parametrize("junk", [b"?what\r\n", b"$abc\r\n", b"$3\r\nabcd\r\n", b"*x\r\n",
                                  b"$99999999999999999999\r\n"])
def test_scan_rejects_non_resp(impl: Implementation, junk: bytes) -> None:
    with pytest.raises(ValueError):
        impl.resp.scan_replies(b":1\r\n" + junk, 0, 10)
