"""The spec's own validation (its "Validation" section), on both cores."""

from __future__ import annotations

import subprocess
import sys

from trading_engine_python.orders.manager import OrderManager

from ..conftest import Implementation
from .fakes import FakeExchange


def test_validation_command_prints_ok() -> None:
    out = subprocess.run(
        [sys.executable, "-c", "from trading_engine_python.orders.manager import OrderManager; print('OK')"],
        capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "OK"


async def test_spec_unit_test(impl: Implementation) -> None:
    manager = OrderManager(FakeExchange(), implementation=impl.name)
    order = await manager.place_limit_order("sub1", "BTCUSDT", "BUY", 0.001, 65000)
    assert order.state == "placing"  # the REST reply does not drive state
    await manager.on_order_update({"client_order_id": order.client_order_id, "order_status": "NEW",
                                   "order_id": "123456", "symbol": "BTCUSDT"})
    assert order.state == "active"
    await manager.on_order_update({"client_order_id": order.client_order_id, "order_status": "FILLED",
                                   "accumulated_filled_qty": "0.001", "avg_price": "65000"})
    assert order.state == "filled"
    assert order.filled_qty == 0.001
    await manager.close()
