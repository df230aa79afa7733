"""The payload builders: values, per event type (shapes and JSON types: test_contract_doc.py)."""

from __future__ import annotations

import orjson
import pytest

from trading_engine_python.events import payloads

from ._orders import (
    ACCOUNT,
    BIG_ID,
    CANCELLED,
    CHILD,
    EXPIRED,
    FAILED,
    FILLED,
    LIMIT,
    MARKET,
    PARTIAL,
    REJECTED,
)


def test_common_keys_and_big_exchange_id_is_an_exact_string() -> None:
    out = payloads.order_active(LIMIT, 1740547200123)
    assert out["exchangeOrderId"] == str(BIG_ID)
    # Round trip through JSON: the id survives exactly (a float would have rounded it).
    assert int(orjson.loads(orjson.dumps(out))["exchangeOrderId"]) == BIG_ID
    assert out["subAccountId"] == LIMIT.sub_account_id
    assert out["clientOrderId"] == LIMIT.client_order_id
    assert out["symbol"] == "BTCUSDT" and out["side"] == "BUY" and out["orderType"] == "LIMIT"
    assert out["origin"] == "MANUAL" and out["parentId"] is None and out["suppressToast"] is False
    assert out["timestamp"] == 1740547200123 and type(out["timestamp"]) is int
    assert "seq" not in out  # the publisher stamps it


def test_exchange_order_id_null_until_known_and_never_from_a_float() -> None:
    assert payloads.order_active(MARKET, 1)["exchangeOrderId"] is None
    assert payloads.order_active(LIMIT.but(exchange_order_id="8389765"), 1)["exchangeOrderId"] == "8389765"  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exchange_order_id"):
        payloads.order_active(LIMIT.but(exchange_order_id=1.5e18), 1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="exchange_order_id"):
        payloads.order_active(LIMIT.but(exchange_order_id=True), 1)


def test_children_suppress_toasts() -> None:
    out = payloads.order_active(CHILD, 1)
    assert out["parentId"] == "chase-42" and out["suppressToast"] is True
    assert payloads.order_failed(CHILD.but(state="failed"), 1)["suppressToast"] is True


def test_order_active_limit_and_market_price() -> None:
    assert payloads.order_active(LIMIT, 1)["price"] == 65000.1
    assert payloads.order_active(LIMIT, 1)["quantity"] == 0.003
    assert payloads.order_active(MARKET, 1)["price"] is None
    # A market order never shows a price, even if one was recorded.
    assert payloads.order_active(MARKET.but(price=1.0), 1)["price"] is None
    assert "account" not in payloads.order_active(LIMIT, 1, ACCOUNT)


def test_order_partially_filled_is_the_last_fill() -> None:
    out = payloads.order_partially_filled(PARTIAL.but(filled_qty=0.002, avg_price=65000.2,
                                                      last_fill_qty=0.001, last_fill_price=65000.3), 5)
    assert (out["price"], out["quantity"]) == (65000.3, 0.001)
    assert (out["filledQuantity"], out["avgPrice"]) == (0.002, 65000.2)


def test_order_filled_is_the_spec_shape() -> None:
    out = payloads.order_filled(FILLED, 7, ACCOUNT)
    assert (out["price"], out["quantity"]) == (65000.05, 0.003)
    assert out["account"] == ACCOUNT
    assert payloads.order_filled(FILLED, 7, None)["account"] is None


@pytest.mark.parametrize(("order", "reason"), [(CANCELLED, "cancelled"), (EXPIRED, "expired")])
def test_order_cancelled_reason_and_filled_before(order: object, reason: str) -> None:
    out = payloads.order_cancelled(order, 9)  # type: ignore[arg-type]
    assert out["reason"] == reason
    assert out["filledQuantity"] == order.filled_qty  # type: ignore[attr-defined]
    assert out["quantity"] == order.quantity  # type: ignore[attr-defined]


def test_order_cancelled_market_has_null_price() -> None:
    assert payloads.order_cancelled(EXPIRED, 1)["price"] is None
    assert payloads.order_cancelled(CANCELLED, 1)["price"] == 65000.1


def test_order_failed_reason_and_error() -> None:
    out = payloads.order_failed(REJECTED, 3)
    assert (out["reason"], out["errorCode"]) == ("rejected", -2019)
    assert out["errorMessage"] == "Margin is insufficient."
    out = payloads.order_failed(FAILED, 3)
    assert (out["reason"], out["errorCode"], out["errorMessage"]) == ("failed", None, None)


def test_numbers_are_json_numbers_even_from_ints() -> None:
    out = payloads.order_active(LIMIT.but(quantity=2, price=65000), 1)  # type: ignore[arg-type]
    assert type(out["quantity"]) is float and type(out["price"]) is float
    assert orjson.loads(orjson.dumps(out))["quantity"] == 2.0


def test_event_type_list_matches_builders() -> None:
    for name in payloads.ORDER_EVENT_TYPES:
        assert callable(getattr(payloads, name))
