"""Exact decimals for the manager's inputs and the client's wire strings.

Binance quotes every price and quantity with at most 8 decimal places, so the core stores them as
int64 counts of 1e-8 ("fixed point"). This module turns what an algo passes (float, int, str,
Decimal) into that integer without ever rounding, and back into the plain decimal string the REST
client sends. Not on the feed path: the compiled decoder reads the feed's strings itself.
"""

from __future__ import annotations

import math
from decimal import ROUND_HALF_EVEN, Context, Decimal, InvalidOperation, localcontext

FP_SCALE = 100_000_000
FP_DECIMALS = 8
FP_MAX = 2**63 - 1
# How far (in units in the last place of the float itself) a float may sit from the decimal it
# is read as. One addition or multiplication of exact-looking floats errs by at most 1/2 ulp per
# step, so 4 ulps absorbs a short sum (0.1 + 0.2) while no float with a 9th decimal digit passes.
FLOAT_ULPS = 4
_STEPS = tuple(Decimal(1).scaleb(-k) for k in range(FP_DECIMALS + 1))
# Enough digits for any double's exact value (a subnormal has ~770), so nothing below rounds.
_EXACT = Context(prec=1100)
_UNIQUE_BELOW = 2.0**22


def to_fixed(value: object, what: str = "value") -> int:
    """Exact fixed-point of ``value``; ValueError for anything not exactly representable.

    int, str and Decimal are taken exactly and refused beyond 8 decimal places. A float is taken
    as the decimal with the fewest places (at most 8) that lies within ``FLOAT_ULPS`` ulps of it,
    ``|f - d| <= 4 * math.ulp(f)`` computed exactly: ``0.1 + 0.2`` is 0.3, ``65000.1`` is
    65000.1, and ``0.123456789`` (1e-9 away from any 8-place decimal) is a ValueError.
    """
    if isinstance(value, bool):
        raise ValueError(f"{what} must be a number, not {value!r}")
    if isinstance(value, int):
        dec = Decimal(value)
    elif isinstance(value, float):
        dec = _float_decimal(value, what)
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


def _float_decimal(value: float, what: str) -> Decimal:
    if not math.isfinite(value):
        raise ValueError(f"{what} must be finite, not {value!r}")
    if abs(value) > FP_MAX / FP_SCALE + 1:  # also keeps quantize within the default precision
        raise ValueError(f"{what} {value!r} is out of range")
    if abs(value) < _UNIQUE_BELOW:
        # Below 2**22 four ulps are under 2e-9, so at most one 8-place decimal is that close; when
        # the shortest repr (within half an ulp) has at most 8 places, it is that one.
        dec = Decimal(repr(value))
        if int(dec.as_tuple().exponent) >= -FP_DECIMALS:
            return dec
    exact = Decimal(value)  # every float is a finite binary fraction: this is its exact value
    with localcontext(_EXACT):
        tolerance = Decimal(math.ulp(value)) * FLOAT_ULPS
        for step in _STEPS:
            dec = exact.quantize(step, rounding=ROUND_HALF_EVEN)
            if abs(exact - dec) <= tolerance:
                return dec
    raise ValueError(
        f"{what} {value!r} is not within {FLOAT_ULPS} ulps of a number with at most {FP_DECIMALS} "
        "decimal places (pass a str or Decimal to be exact)"
    )


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
