"""Decimal helpers: every number the simulator sends is a decimal string built without floats."""

from __future__ import annotations

import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation

ZERO = Decimal(0)

# Binance's own legal range for decimal parameters (-1100 text quotes it).
_DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")


def parse_decimal(text: str) -> Decimal | None:
    """A non-negative decimal from Binance's legal syntax, or None."""
    if not _DECIMAL_RE.match(text):
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # pragma: no cover - the regex already rules this out
        return None


def to_decimal(value: object) -> Decimal:
    """Decimal from a Decimal/str/int, or a float through its shortest repr (never its binary value)."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(str(value))


def fixed(value: Decimal, places: int) -> str:
    """``value`` with exactly ``places`` decimals ("65000.10", "0.00000")."""
    q = Decimal(1).scaleb(-places)
    out = value.quantize(q, rounding=ROUND_HALF_EVEN)
    if out == 0:
        out = abs(out)
    return f"{out:f}"


def plain(value: Decimal) -> str:
    """Shortest plain form, no exponent ("20000", "0.5332"), as the user stream sends p/L/l."""
    if value == 0:
        return "0"
    out = f"{value.normalize():f}"
    return out


def decimals_of(value: Decimal) -> int:
    exp = value.as_tuple().exponent
    assert isinstance(exp, int)
    return max(0, -exp)


def exceeds_precision(value: Decimal, places: int) -> bool:
    """True when ``value`` has significant digits beyond ``places`` decimals (trailing zeros are fine)."""
    return value != value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
