"""Client order ids: ``PMS{subAccountId[:8]}_{TYPE}_{unique}``.

Binance allows ``^[\\.A-Z\\:/a-z0-9_-]{1,36}$`` (docs/binance-protocol.md, "Client order ids")
and keeps ids unique only among open orders, so ours must be unique on their own: the unique
part is the time in microseconds (never repeating within the process, and moving forward across
restarts) in base 36, plus two random base-36 characters so that two processes started in the
same microsecond differ.
"""

from __future__ import annotations

import re
import secrets
import time
from typing import NamedTuple

PREFIX = "PMS"
MAX_LEN = 36
_SUB_OK = re.compile(r"[A-Za-z0-9-]{1,8}")
_PARSE = re.compile(r"PMS([A-Za-z0-9-]{1,8})_([A-Z0-9]{1,5})_([0-9a-z]{3,20})")
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_CODES = {"MARKET": "MKT", "LIMIT": "LMT", "STOP": "STP", "STOP_MARKET": "STM", "TAKE_PROFIT": "TP",
          "TAKE_PROFIT_MARKET": "TPM", "TRAILING_STOP_MARKET": "TRL"}


class ParsedId(NamedTuple):
    sub_account_prefix: str
    type_code: str


def _base36(n: int) -> str:
    out = []
    while True:
        n, r = divmod(n, 36)
        out.append(_DIGITS[r])
        if not n:
            return "".join(reversed(out))


def type_code(order_type: str, origin: str) -> str:
    """MKT/LMT (STP/STM/TP/TPM/TRL for the algo types) for manual orders, else the origin's first
    five letters or digits (SCALPER -> SCALP)."""
    if origin.upper() == "MANUAL":
        return _CODES.get(order_type, "ORD")
    code = "".join(ch for ch in origin.upper() if ch.isascii() and ch.isalnum())[:5]
    return code or _CODES.get(order_type, "ORD")


class IdGenerator:
    """Makes client order ids; one per manager (uniqueness does not depend on sharing it)."""

    __slots__ = ("_last_us", "_salt")

    def __init__(self) -> None:
        self._last_us = 0
        self._salt = _base36(secrets.randbelow(36 * 36)).rjust(2, "0")

    def new(self, sub_account_id: str, order_type: str, origin: str) -> str:
        sub = sub_account_id[:8]
        if not _SUB_OK.fullmatch(sub):
            raise ValueError(
                f"sub_account_id {sub_account_id!r}: its first 8 characters must be letters, digits or '-'"
            )
        now_us = time.time_ns() // 1000
        self._last_us = now_us if now_us > self._last_us else self._last_us + 1
        cid = f"{PREFIX}{sub}_{type_code(order_type, origin)}_{_base36(self._last_us)}{self._salt}"
        assert len(cid) <= MAX_LEN
        return cid


# One per process: managers sharing it can never make the same id in the same microsecond.
GENERATOR = IdGenerator()


def parse_client_order_id(client_order_id: str) -> ParsedId | None:
    """(sub-account prefix, type code) of one of our ids; None for anyone else's."""
    m = _PARSE.fullmatch(client_order_id)
    if m is None:
        return None
    return ParsedId(m.group(1), m.group(2))
