"""Numbers in: ``to_fixed`` takes str/int/Decimal exactly and a float as the shortest decimal with at
most 8 places within 4 ulps of it; the manager applies the same rule on both cores."""

from __future__ import annotations

import math
from decimal import Context, Decimal, localcontext
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from trading_engine_python.orders._fixed import FLOAT_ULPS, FP_MAX, fixed_to_str, to_fixed

from ..conftest import Implementation
from ._manager_util import make


@pytest.mark.parametrize(
    ("value", "fp"),
    [
        ("0.1", 10_000_000),
        ("65000.10000000", 6_500_010_000_000),
        (" 1 ", 100_000_000),
        (Decimal("0.00000001"), 1),
        (Decimal("-2.5"), -250_000_000),
        (7, 700_000_000),
        ("92233720368.54775807", FP_MAX),
    ],
)
def test_exact_inputs(value: Any, fp: int) -> None:
    assert to_fixed(value) == fp


@pytest.mark.parametrize(
    "value", ["0.123456789", Decimal("0.000000001"), "1e-9", "92233720368.54775808", "abc", "nan", "inf"]
)
def test_exact_inputs_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        to_fixed(value)


@pytest.mark.parametrize("value", [True, None, [1], b"1"])
def test_other_types_refused(value: Any) -> None:
    with pytest.raises(ValueError):
        to_fixed(value)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.1 + 0.2, "0.3"),  # 0.30000000000000004: one ulp above 0.3
        (65000.1, "65000.1"),
        (0.1 * 3, "0.3"),
        (1.1 * 3, "3.3"),  # 3.3000000000000003
        (1e-8, "0.00000001"),
        (0.0, "0"),
        (-0.0, "0"),
        (-65000.3, "-65000.3"),
        (10_000_000_000.1, "10000000000.1"),
        (1e10 + 2**-19, "10000000000"),  # one ulp above 1e10: the fewest places win
        (92233720368.5, "92233720368.5"),
    ],
)
def test_floats_within_a_few_ulps(value: float, text: str) -> None:
    assert fixed_to_str(to_fixed(value)) == text


@pytest.mark.parametrize(
    "value", [0.123456789, 1e-9, 0.5000000001, 65000.000000001, math.nan, math.inf, -math.inf, 1e300]
)
def test_floats_refused(value: float) -> None:
    with pytest.raises(ValueError):
        to_fixed(value)


def test_tolerance_boundary() -> None:
    # Exactly FLOAT_ULPS ulps away from 0.3 is accepted, one more is not.
    x = 0.3
    for _ in range(FLOAT_ULPS):
        x = math.nextafter(x, 1.0)
    assert to_fixed(x) == to_fixed("0.3")
    with pytest.raises(ValueError):
        to_fixed(math.nextafter(x, 1.0))


@given(st.integers(min_value=-(10**15), max_value=10**15), st.integers(min_value=0, max_value=8))
def test_float_of_a_decimal_reads_back_exactly(units: int, places: int) -> None:
    # The double nearest any decimal with <= 8 places (in range) is read as that decimal.
    dec = Decimal(units).scaleb(-places)
    if abs(dec) > Decimal(FP_MAX).scaleb(-8):
        return
    assert to_fixed(float(dec)) == to_fixed(dec)


@given(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False))
def test_float_rule_matches_its_definition(value: float) -> None:
    # Checked against the definition itself, with exact Decimal arithmetic.
    exact = Decimal(value)
    expected = None
    with localcontext(Context(prec=2000)):
        tolerance = Decimal(math.ulp(value)) * FLOAT_ULPS
        for places in range(9):
            cand = exact.quantize(Decimal(1).scaleb(-places))
            if abs(exact - cand) <= tolerance:
                expected = cand
                break
    if expected is None:
        with pytest.raises(ValueError):
            to_fixed(value)
    else:
        assert to_fixed(value) == int(expected.scaleb(8))


async def test_manager_takes_floats_by_the_same_rule(impl: Implementation) -> None:
    m, fake = make(impl)
    order = await m.place_limit_order("sub1", "BTCUSDT", "BUY", 0.1 + 0.2, 65000.1)
    assert order.quantity_fp == to_fixed("0.3") and order.price_fp == to_fixed("65000.1")
    sent = fake.sent("place_order")[0]
    assert (sent["quantity"], sent["price"]) == ("0.3", "65000.1")
    with pytest.raises(ValueError, match="quantity"):
        await m.place_market_order("sub1", "BTCUSDT", "SELL", 0.123456789)
    with pytest.raises(ValueError, match="price"):
        await m.place_limit_order("sub1", "BTCUSDT", "SELL", 1, 65000.000000001)
    assert len(fake.sent("place_order")) == 1  # nothing sent for the refused ones
    await m.close()
