"""Exact decimals for the manager's inputs and the client's wire strings.

Binance quotes every price and quantity with at most 8 decimal places, so the core stores them as
int64 counts of 1e-8 ("fixed point"). This module turns what an algo passes (float, int, str,
Decimal) into that integer without ever rounding, and back into the plain decimal string the REST
client sends. Not on the feed path: the compiled decoder reads the feed's strings itself.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

FP_SCALE = 100_000_000
FP_DECIMALS = 8
FP_MAX = 2**63 - 1


def to_fixed(value: object, what: str = "value") -> int:
    """Exact fixed-point of ``value``; ValueError for anything not exactly representable.

    A float is read by its shortest repr (``0.1`` means "0.1"), the number the caller typed.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {value!r}")
    if isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, float):
        dec = Decimal(repr(value))
    elif isinstance(value, Decimal):
        dec = value
    elif isinstance(value, str):
        try:
            dec = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(f"{what} is not a decimal number: {value!r}") from None
    else:
        raise ValueError(f"{what} must be a float, int, str or Decimal, not {type(value).__name__}")
    if not dec.is_finite():
        raise ValueError(f"{what} must be finite, not {value!r}")
    scaled = dec.scaleb(FP_DECIMALS)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{what} {value!r} has more than {FP_DECIMALS} decimal places")
    fp = int(scaled)
    if abs(fp) > FP_MAX:
        raise ValueError(f"{what} {value!r} is out of range")
    return fp


def fixed_to_str(fp: int) -> str:
    """Plain decimal string without exponent or trailing zeros: 100000 -> "0.001"."""
    sign = "-" if fp < 0 else ""
    whole, frac = divmod(abs(fp), FP_SCALE)
    if not frac:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:08d}".rstrip("0")


def fixed_to_float(fp: int) -> float:
    """The double nearest the exact decimal (int / int true division is correctly rounded)."""
    return fp / FP_SCALE
