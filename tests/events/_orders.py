"""A small stand-in for the order manager's OrderState view (the events layer knows no other layer)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

BIG_ID = 2**63 - 25  # above 2**53: a JS number (or a float) would round it


@dataclass
class Order:
    client_order_id: str = "PMSab12cd34_LMT_0f3c9a"
    exchange_order_id: int | None = BIG_ID
    sub_account_id: str = "ab12cd34-0000-4000-8000-000000000001"
    symbol: str = "BTCUSDT"
    side: str = "BUY"
    order_type: str = "LIMIT"
    origin: str = "MANUAL"
    parent_id: str | None = None
    quantity: float = 0.003
    price: float | None = 65000.1
    state: str = "active"
    filled_qty: float = 0.0
    avg_price: float = 0.0
    last_fill_qty: float = 0.0
    last_fill_price: float = 0.0
    error: tuple[int, str] | None = None

    def but(self, **changes: Any) -> Order:
        return replace(self, **changes)


ACCOUNT = {"balance": 1000.0, "equity": 1001.5, "marginUsed": 6.5, "availableMargin": 995.0}

LIMIT = Order()
MARKET = Order(client_order_id="PMSab12cd34_MKT_77aa", order_type="MARKET", price=None,
               exchange_order_id=None, side="SELL")
CHILD = Order(client_order_id="PMSab12cd34_CHS_1b2c", parent_id="chase-42", origin="CHASE")
PARTIAL = LIMIT.but(state="active", filled_qty=0.001, avg_price=65000.1, last_fill_qty=0.001,
                    last_fill_price=65000.1)
FILLED = LIMIT.but(state="filled", filled_qty=0.003, avg_price=65000.05, last_fill_qty=0.002,
                   last_fill_price=65000.0)
CANCELLED = PARTIAL.but(state="cancelled")
EXPIRED = MARKET.but(state="expired", exchange_order_id=12345)
REJECTED = LIMIT.but(state="rejected", exchange_order_id=None,
                     error=(-2019, "Margin is insufficient."))
FAILED = MARKET.but(state="failed", error=None)

# Every builder, with the orders that exercise each alternative of its keys' types.
SAMPLES: dict[str, list[tuple[Order, dict[str, Any]]]] = {
    "order_active": [(LIMIT, {}), (MARKET, {}), (CHILD, {})],
    "order_amended": [(LIMIT.but(price=64990.5, quantity=0.004), {}),
                      (CHILD.but(exchange_order_id=None), {})],
    "order_partially_filled": [(PARTIAL, {}), (PARTIAL.but(exchange_order_id=None, parent_id="p1"), {})],
    "order_filled": [(FILLED, {"account": ACCOUNT}), (FILLED.but(parent_id="twap-1"), {"account": None}),
                     (MARKET.but(state="filled", filled_qty=0.003, avg_price=64990.0), {"account": None})],
    "order_cancelled": [(CANCELLED, {}), (EXPIRED, {}), (MARKET.but(state="cancelled", parent_id="x"), {})],
    "order_failed": [(REJECTED, {}), (FAILED, {}),
                     (CHILD.but(state="rejected", error=(-1013, "bad qty")), {})],
    # an algo order's trigger: a STOP (limit price) and a STOP_MARKET (none)
    "order_triggered": [(LIMIT.but(order_type="STOP", state="triggered"), {}),
                        (MARKET.but(order_type="STOP_MARKET", state="triggered", parent_id="p1"), {})],
}
