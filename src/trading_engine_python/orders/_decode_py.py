"""Pure-Python twin of the user-stream frame decoder (the typed reference for ``_decode_c``).

Decodes one Binance USD-M ``ORDER_TRADE_UPDATE`` or ``ALGO_UPDATE`` message into the few fields the
order tracker needs (schemas: docs/binance-protocol.md, "Order update event" and "Algo orders"):

- envelope ``e`` (event type, required), ``E`` (event time, optional int), ``o`` (order, required);
- inside ``o``: ``c`` clientOrderId and ``X`` status (required strings), ``i`` orderId, ``t``
  tradeId, ``T`` trade time (optional ints), ``z``/``l``/``L``/``ap``/``q``/``p`` (optional decimal
  strings, returned as int64 fixed point scaled by ``FP_SCALE`` = 1e8, Binance's precision);
  ``x`` execution type, read only to tell an amendment: ``"amended": True`` when it is the string
  ``AMENDMENT`` (docs/binance-protocol.md, "Amend in place"); any other value, of any type, is ignored
  and never makes a frame malformed.

``decode(bytes)`` is literally ``decode_dict(orjson.loads(bytes))``; the compiled twin scans the bytes
itself and must give the same answer for every input (the tests compare them on fuzzed bytes).

Rules both twins follow (see the module docstring of ``_decode_c.pyx`` for how the scanner does it):

- The document must be what ``orjson.loads`` accepts, else ``M_JSON``.
- JSON ``null`` for a field means the field is absent, for required fields too (``"c": null`` is
  ``M_MISSING``, ``"e": null`` is ``M_NO_EVENT``).
- Integers are JSON integers (``type(x) is int``: no bool, no float) in ``0..2**63-1``. orjson turns
  integers outside ``[-2**63, 2**64-1]`` into floats, so they are ``M_TYPE``, not ``M_RANGE``.
- Decimals are strings matching ``[0-9]+(\\.[0-9]+)?``; more than 8 decimals only if the extra
  digits are zeros (``M_DECIMALS``), except ``ap`` (an average, not a price Binance accepts), which
  is rounded half-even to 8 places.
- Errors are reported in a fixed field order: ``e``, ``E``, ``o``, then ``c X i t T z l L ap q p``.
- ``ALGO_UPDATE`` (an algo order) gives the same fields, read from other keys: ``caid`` the client
  algo id as ``cid``, ``aid`` the algo id as ``algo_id`` (optional int), ``ai`` the created order's
  id as ``order_id`` (a string of digits; ``""`` before the trigger means absent), ``aq`` its
  executed quantity as ``z``; ``ap``/``q``/``p`` as above, and ``algo: True``. Errors in the order
  ``e E o caid X aid ai aq ap q p``; the other event's keys are not read. Statuses: the algo ones
  (``TRIGGERING``, ``TRIGGERED``, ``FINISHED``, and ``NEW CANCELED EXPIRED REJECTED``) only in an
  ``ALGO_UPDATE``, the fill statuses only in an ``ORDER_TRADE_UPDATE``; any other is ``ST_OTHER``.
- ``o`` is read even when it will not be needed, so a later ``e`` decides (duplicate keys: the
  last one wins, as in orjson).
"""

from __future__ import annotations

import re
from typing import Final, TypedDict

import orjson

__all__ = [
    "FP_SCALE",
    "M_DECIMALS",
    "M_DECIMAL_SYNTAX",
    "M_JSON",
    "M_MISSING",
    "M_NOT_OBJECT",
    "M_NO_EVENT",
    "M_RANGE",
    "M_TYPE",
    "R_MALFORMED",
    "R_ORDER",
    "R_OTHER_EVENT",
    "ST_CANCELED",
    "ST_EXPIRED",
    "ST_EXPIRED_IN_MATCH",
    "ST_FILLED",
    "ST_FINISHED",
    "ST_NEW",
    "ST_NONE",
    "ST_OTHER",
    "ST_PARTIALLY_FILLED",
    "ST_REJECTED",
    "ST_TRIGGERED",
    "ST_TRIGGERING",
    "Update",
    "decode",
    "decode_dict",
]

FP_SCALE: Final = 100_000_000
CID_MAX: Final = 36  # Binance's newClientOrderId limit (error -4015): a longer id is never ours
EVENT_TYPE_MAX: Final = 32

ST_NONE: Final = 0
ST_NEW: Final = 1
ST_PARTIALLY_FILLED: Final = 2
ST_FILLED: Final = 3
ST_CANCELED: Final = 4
ST_EXPIRED: Final = 5
ST_EXPIRED_IN_MATCH: Final = 6
ST_REJECTED: Final = 7
ST_OTHER: Final = 8
ST_TRIGGERING: Final = 9  # the algo statuses (ALGO_UPDATE only)
ST_TRIGGERED: Final = 10
ST_FINISHED: Final = 11

R_ORDER: Final = 0
R_OTHER_EVENT: Final = 1
R_MALFORMED: Final = 2

M_JSON: Final = 1
M_NOT_OBJECT: Final = 2
M_NO_EVENT: Final = 3
M_TYPE: Final = 4
M_MISSING: Final = 5
M_RANGE: Final = 6
M_DECIMALS: Final = 7
M_DECIMAL_SYNTAX: Final = 8

_INT64_MAX: Final = (1 << 63) - 1
# The integer part of a value that fits int64 after scaling by 1e8 has at most 11 digits
# (92233720368); checking the length first keeps int() away from huge digit strings.
_INT_PART_MAX_DIGITS: Final = 11

_EVENT: Final = "ORDER_TRADE_UPDATE"
_ALGO_EVENT: Final = "ALGO_UPDATE"

# X values; EXPIRED_IN_MATCH came with self-trade prevention (docs/binance-protocol.md, "Order update event").
# REJECTED is a REST status, kept so that the core can map it if Binance ever streams it.
_STATUS: Final[dict[str, int]] = {
    "NEW": ST_NEW,
    "PARTIALLY_FILLED": ST_PARTIALLY_FILLED,
    "FILLED": ST_FILLED,
    "CANCELED": ST_CANCELED,
    "EXPIRED": ST_EXPIRED,
    "EXPIRED_IN_MATCH": ST_EXPIRED_IN_MATCH,
    "REJECTED": ST_REJECTED,
}

# ALGO_UPDATE's X (docs/binance-protocol.md, "Algo orders").
_ALGO_STATUS: Final[dict[str, int]] = {
    "NEW": ST_NEW,
    "CANCELED": ST_CANCELED,
    "EXPIRED": ST_EXPIRED,
    "REJECTED": ST_REJECTED,
    "TRIGGERING": ST_TRIGGERING,
    "TRIGGERED": ST_TRIGGERED,
    "FINISHED": ST_FINISHED,
}
_DIGITS: Final = re.compile(r"[0-9]+")

# ASCII digits only: re's \d would also accept other Unicode digits.
_DECIMAL: Final = re.compile(r"([0-9]+)(?:\.([0-9]+))?")

# (key in "o", rounds half-even instead of rejecting extra decimals, key in the Update), in the
# order errors are reported
_DECIMAL_FIELDS: Final = (("z", False, "z"), ("l", False, "l"), ("L", False, "L"), ("ap", True, "ap"),
                          ("q", False, "q"), ("p", False, "p"))
# An ALGO_UPDATE's: its executed quantity aq is the Update's z
_ALGO_DECIMAL_FIELDS: Final = (("aq", False, "z"), ("ap", True, "ap"), ("q", False, "q"), ("p", False, "p"))


class Update(TypedDict, total=False):
    """What ``decode`` returns next to the result code (a plain dict at run time).

    ``R_ORDER``: ``status`` and ``cid`` (``None`` when longer than 36 UTF-8 bytes), plus each optional
    field that was present. ``R_OTHER_EVENT``: ``event_type`` (at most 32 UTF-8 bytes of ``e``).
    ``R_MALFORMED``: ``reason`` (an ``M_*`` code).
    """

    status: int
    cid: str | None
    order_id: int
    trade_id: int
    event_time: int
    trade_time: int
    z: int
    l: int  # noqa: E741 - Binance's key for the last fill quantity
    L: int
    ap: int
    q: int
    p: int
    amended: bool  # present (True) only when o.x is "AMENDMENT"
    event_type: str
    reason: int
    algo: bool  # an ALGO_UPDATE (present only then, True)
    algo_id: int


def _malformed(reason: int) -> tuple[int, Update]:
    return R_MALFORMED, {"reason": reason}


def _int_field(value: object) -> int:
    """The value of an id/time field, or minus the reason when it is not a usable int."""
    if type(value) is not int:  # bool is an int subclass: not accepted
        return -M_TYPE
    if value < 0 or value > _INT64_MAX:
        return -M_RANGE
    return value


def _decimal_field(value: object, half_even: bool) -> int:
    """A decimal string as int64 fixed point (1e8), or minus the reason it is refused."""
    if not isinstance(value, str):
        return -M_TYPE
    m = _DECIMAL.fullmatch(value)
    if m is None:
        return -M_DECIMAL_SYNTAX
    int_part: str = m.group(1)
    frac: str = m.group(2) or ""
    bump = False
    if len(frac) > 8:
        extra = frac[8:]
        frac = frac[:8]
        if not half_even:
            if extra.strip("0"):
                return -M_DECIMALS
        else:
            first = extra[0]
            if first > "5":
                bump = True
            elif first == "5":
                # Exactly half only when every later digit is zero; then round to even.
                bump = bool(extra[1:].strip("0")) or (int(frac[-1]) & 1) == 1
    int_part = int_part.lstrip("0")
    if len(int_part) > _INT_PART_MAX_DIGITS:
        return -M_RANGE
    scaled = int(int_part or "0") * FP_SCALE + int(frac.ljust(8, "0"))
    if bump:
        scaled += 1
    if scaled > _INT64_MAX:
        return -M_RANGE
    return scaled


def _digits_field(value: object) -> int:
    """ALGO_UPDATE's ``ai``, a string of digits: the id, -1 for ``""`` (not triggered yet), or
    minus the reason it is refused."""
    if not isinstance(value, str):
        return -M_TYPE
    if not value:
        return -1
    if _DIGITS.fullmatch(value) is None:
        return -M_DECIMAL_SYNTAX
    digits = value.lstrip("0")
    if len(digits) > 19:
        return -M_RANGE
    n = int(digits or "0")
    return n if n <= _INT64_MAX else -M_RANGE


def _event_type(event: str) -> str:
    raw = event.encode("utf-8", "surrogatepass")
    if len(raw) <= EVENT_TYPE_MAX:
        return event
    # Cut at a character boundary: only the last, split character can fail to decode.
    return raw[:EVENT_TYPE_MAX].decode("utf-8", "ignore")


def _cid(cid: str) -> str | None:
    if len(cid) <= CID_MAX // 4:  # at most 4 UTF-8 bytes a character
        return cid
    if len(cid.encode("utf-8", "surrogatepass")) > CID_MAX:
        return None
    return cid


def decode_dict(obj: object) -> tuple[int, Update]:
    """Decode an already-parsed message (what ``orjson.loads`` returns for the frame)."""
    if not isinstance(obj, dict):
        return _malformed(M_NOT_OBJECT)
    event = obj.get("e")
    if event is None:
        return _malformed(M_NO_EVENT)
    if not isinstance(event, str):
        return _malformed(M_TYPE)
    algo = event == _ALGO_EVENT
    if event != _EVENT and not algo:
        return R_OTHER_EVENT, {"event_type": _event_type(event)}

    event_time_raw = obj.get("E")
    event_time = -1
    if event_time_raw is not None:
        event_time = _int_field(event_time_raw)
        if event_time < 0:
            return _malformed(-event_time)

    order = obj.get("o")
    if order is None:
        return _malformed(M_MISSING)
    if not isinstance(order, dict):
        return _malformed(M_TYPE)

    if algo:
        return _algo(order, event_time)
    result, out = _id_and_status(order, "c", _STATUS)
    if result != R_ORDER:
        return result, out
    ints = []
    for key in ("i", "t", "T"):
        raw = order.get(key)
        value = -1
        if raw is not None:
            value = _int_field(raw)
            if value < 0:
                return _malformed(-value)
        ints.append(value)
    order_id, trade_id, trade_time = ints
    if order_id >= 0:
        out["order_id"] = order_id
    if trade_id >= 0:
        out["trade_id"] = trade_id
    if event_time >= 0:
        out["event_time"] = event_time
    if trade_time >= 0:
        out["trade_time"] = trade_time

    reason = _put_decimals(order, _DECIMAL_FIELDS, out)
    if reason:
        return _malformed(reason)
    if order.get("x") == "AMENDMENT":
        out["amended"] = True
    return R_ORDER, out


def _id_and_status(order: dict[str, object], id_key: str, statuses: dict[str, int]) -> tuple[int, Update]:
    """The order's client id (``id_key``) and status (o.X, mapped by ``statuses``), both required
    strings: (R_ORDER, the Update begun with them), or the malformed result."""
    cid = order.get(id_key)
    if cid is None:
        return _malformed(M_MISSING)
    if not isinstance(cid, str):
        return _malformed(M_TYPE)
    status_raw = order.get("X")
    if status_raw is None:
        return _malformed(M_MISSING)
    if not isinstance(status_raw, str):
        return _malformed(M_TYPE)
    return R_ORDER, {"status": statuses.get(status_raw, ST_OTHER), "cid": _cid(cid)}


def _put_decimals(order: dict[str, object], fields: tuple[tuple[str, bool, str], ...], out: Update) -> int:
    """Each decimal field of ``fields`` that ``order`` has, into ``out``: 0, or the M_* reason the
    first bad one (in ``fields`` order) is refused for."""
    for key, half_even, name in fields:
        raw = order.get(key)
        if raw is not None:
            value = _decimal_field(raw, half_even)
            if value < 0:
                return -value
            out[name] = value  # type: ignore[literal-required]
    return 0


def _algo(order: dict[str, object], event_time: int) -> tuple[int, Update]:
    result, out = _id_and_status(order, "caid", _ALGO_STATUS)
    if result != R_ORDER:
        return result, out
    out["algo"] = True
    raw = order.get("aid")
    if raw is not None:
        value = _int_field(raw)
        if value < 0:
            return _malformed(-value)
        out["algo_id"] = value
    raw = order.get("ai")
    if raw is not None:
        value = _digits_field(raw)
        if value < -1:
            return _malformed(-value)
        if value >= 0:
            out["order_id"] = value
    if event_time >= 0:
        out["event_time"] = event_time
    reason = _put_decimals(order, _ALGO_DECIMAL_FIELDS, out)
    return _malformed(reason) if reason else (R_ORDER, out)


def decode(data: bytes | bytearray | memoryview | str) -> tuple[int, Update]:
    """Decode one raw frame: ``(R_ORDER, fields)``, ``(R_OTHER_EVENT, {"event_type": ...})`` or
    ``(R_MALFORMED, {"reason": M_*})``. Raises ``TypeError`` only for an unsupported argument type
    (or a non-contiguous memoryview), never for bad content.

    Subclasses of bytes, bytearray and str are read as their contents, as the compiled scanner
    reads them: being orjson's twin is about the JSON grammar, not the container type (orjson
    itself refuses subclasses, so they are handed to it as a memoryview / plain str).
    """
    if isinstance(data, memoryview):
        if not data.c_contiguous:
            raise TypeError("decode() needs a contiguous buffer")
    elif isinstance(data, str):
        if type(data) is not str:
            data = str.__str__(data)  # a plain copy: the subclass's own methods never run
    elif isinstance(data, (bytes, bytearray)):
        if type(data) is not bytes and type(data) is not bytearray:
            data = memoryview(data)
    else:
        raise TypeError(f"decode() takes bytes, bytearray, memoryview or str, not {type(data).__name__}")
    try:
        obj = orjson.loads(data)
    except orjson.JSONDecodeError:
        return _malformed(M_JSON)
    return decode_dict(obj)
