"""RESP2 packing of event batches and counting of their replies: the pure-Python twin.

This is the typed reference for ``_resp_c.pyx``; both must produce byte-identical buffers and
the same reply counts (tests/events/test_resp.py runs the same cases on both).

Why pack by hand: redis-py builds every command through generic Python code (per-argument
encoding, a list of chunks), which caps its pipeline at about 85k PUBLISH/s here while one Redis
connection accepts about 300k/s (both measured on loopback, one process).
A batch of events only ever needs two command shapes, so their constant parts are literals and a
batch becomes one ``bytes`` object written with a single ``transport.write``.

Wire format (https://redis.io/docs/latest/develop/reference/protocol-spec/): a command is an
array of bulk strings, ``*<n>\\r\\n`` then ``$<len>\\r\\n<bytes>\\r\\n`` per argument.
"""

from __future__ import annotations

from collections.abc import Sequence

IMPLEMENTATION = "python"

__all__ = ["IMPLEMENTATION", "pack_publish", "scan_replies", "xadd_head"]  # what events._resp re-exports

_PUBLISH = b"*3\r\n$7\r\nPUBLISH\r\n"

# Reply type bytes (RESP2 and RESP3). Single-line replies end at the first CRLF.
_LINE = frozenset(b"+-:_,#(")
# Length-prefixed replies: blob string, blob error, verbatim string.
_BLOB = frozenset(b"$!=")
# Aggregates of n elements (array, set, push) and of 2n elements (map, attribute).
_AGG = frozenset(b"*~>")
_AGG2 = frozenset(b"%|")
_MAX_DEPTH = 32


def xadd_head(stream: bytes, maxlen: int) -> bytes:
    """The constant part of ``XADD <stream> MAXLEN ~ <maxlen> * data <payload>``, up to the payload.

    ``~`` lets Redis trim whole macro nodes lazily instead of to the exact count: O(1) amortised
    per XADD (https://redis.io/docs/latest/commands/xadd/, "Capped streams").
    """
    if not isinstance(stream, bytes) or not stream:
        raise TypeError("stream must be non-empty bytes")
    if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
        raise ValueError(f"maxlen must be a positive int, not {maxlen!r}")
    n = b"%d" % maxlen
    return (
        b"*8\r\n$4\r\nXADD\r\n$%d\r\n%s\r\n$6\r\nMAXLEN\r\n$1\r\n~\r\n$%d\r\n%s\r\n$1\r\n*\r\n$4\r\ndata\r\n"
        % (len(stream), stream, len(n), n)
    )


def pack_publish(items: Sequence[tuple[bytes, bytes]], xadd: bytes | None = None) -> bytes:
    """One buffer holding ``PUBLISH channel payload`` for every ``(channel, payload)`` in order.

    With ``xadd`` (from :func:`xadd_head`), each PUBLISH is preceded by that XADD of the same
    payload, so the stream and the channel see every event in the same order.
    """
    parts: list[bytes] = []
    append = parts.append
    for item in items:
        if not isinstance(item, tuple) or len(item) != 2:
            raise TypeError("items must be (channel, payload) tuples of bytes")
        channel, payload = item
        if type(channel) is not bytes or type(payload) is not bytes:
            raise TypeError("items must be (channel, payload) tuples of bytes")
        lp = len(payload)
        if xadd:
            append(xadd)
            append(b"$%d\r\n" % lp)
            append(payload)
            append(b"\r\n")
        append(_PUBLISH)
        append(b"$%d\r\n" % len(channel))
        append(channel)
        append(b"\r\n$%d\r\n" % lp)
        append(payload)
        append(b"\r\n")
    return b"".join(parts)


def _parse_int(buf: bytes, start: int, stop: int) -> int:
    text = buf[start:stop]
    digits = text[1:] if text[:1] == b"-" else text
    # 18 digits bound the value below 2**63, as in the compiled twin.
    if not digits.isdigit() or len(digits) > 18:
        raise ValueError(f"malformed RESP length {text[:20]!r}")
    return int(text)


def _skip(buf: bytes, pos: int, depth: int) -> int:
    """End of the reply starting at ``pos``; -1 if it is not complete yet."""
    if pos >= len(buf):
        return -1
    kind = buf[pos]
    end = buf.find(b"\r\n", pos + 1)  # the CR ending the header line
    if end < 0:
        return -1
    if kind in _LINE:
        return end + 2
    if kind in _BLOB:
        n = _parse_int(buf, pos + 1, end)
        if n < 0:  # RESP2 null bulk string ($-1)
            return end + 2
        stop = end + 2 + n + 2
        if stop > len(buf):
            return -1
        if buf[stop - 2 : stop] != b"\r\n":
            raise ValueError("malformed RESP blob: no CRLF after the payload")
        return stop
    if kind in _AGG or kind in _AGG2:
        if depth >= _MAX_DEPTH:
            raise ValueError("RESP reply nested too deep")
        n = _parse_int(buf, pos + 1, end)
        if kind in _AGG2:
            n *= 2
        p = end + 2
        for _ in range(max(n, 0)):  # *-1 is a RESP2 null array
            p = _skip(buf, p, depth + 1)
            if p < 0:
                return -1
        return p
    raise ValueError(f"unknown RESP reply type {bytes([kind])!r}")


def scan_replies(buf: bytes, pos: int, want: int) -> tuple[int, int, bytes | None]:
    """Consume up to ``want`` complete replies from ``buf[pos:]``.

    Returns ``(count, new_pos, error)``. Scanning stops right after an error reply, with
    ``error`` its text (without the ``-`` and CRLF), so that the caller knows exactly which
    command failed. RESP3 push messages and attributes are skipped and not counted: they are
    not replies to our commands. Raises ValueError on bytes that are not RESP.
    """
    count = 0
    n = len(buf)
    pos = max(pos, 0)
    while count < want and pos < n:
        kind = buf[pos]
        end = _skip(buf, pos, 0)
        if end < 0:
            break
        if kind == 0x3E or kind == 0x7C:  # '>' push, '|' attribute
            pos = end
            continue
        count += 1
        if kind == 0x2D:  # '-'
            return count, end, buf[pos + 1 : end - 2]
        if kind == 0x21:  # '!' blob error: the text follows the length line
            start = buf.index(b"\r\n", pos) + 2
            return count, end, buf[start : end - 2]
        pos = end
    return count, pos, None
