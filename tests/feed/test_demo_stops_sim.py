"""The demo taker's protective stops against the simulator, both order cores: one reduce-only
STOP_MARKET per position, moved when the position changes, none when flat."""

from __future__ import annotations

import random
from decimal import Decimal
from types import SimpleNamespace

from trading_engine_python.cli.algos import MarketData, Taker
from trading_engine_python.orders._fixed import to_fixed

from ._fakes import until
from .conftest import TICK, Rig


def _fill(taker: Taker, side: str, qty: str, price: Decimal, n: list[int]) -> None:
    n[0] += 1
    taker.stats.add_fill(SimpleNamespace(client_order_id=f"f{n[0]}", symbol="BTCUSDT", side=side,
                                         filled_fp=to_fixed(qty), last_fill_price=float(price)), final=True)


async def test_protective_stop_follows_the_position(rig: Rig) -> None:
    px = rig.price()
    market = MarketData()
    market.best["BTCUSDT"] = (px, px + TICK)
    registry: list[object] = []
    taker = Taker(rig.manager, "taker", ["BTCUSDT"], {"BTCUSDT": Decimal("0.002")}, registry, interval=1.0,
                  rng=random.Random(0), market=market, ticks={"BTCUSDT": TICK})
    n = [0]
    _fill(taker, "BUY", "0.004", px, n)  # long 0.004
    await taker._protect("BTCUSDT")
    long_stop = taker.stops["BTCUSDT"]
    await until(lambda: long_stop.state == "active")
    held = {a["clientAlgoId"]: a for a in rig.sim.algo_orders()}[long_stop.client_order_id]
    assert held["side"] == "SELL" and held["reduceOnly"] is True
    assert Decimal(held["quantity"]) == Decimal("0.004")
    assert Decimal(held["triggerPrice"]) < px and held["orderType"] == "STOP_MARKET"
    await taker._protect("BTCUSDT")  # unchanged position: the same stop stays
    assert taker.stops["BTCUSDT"] is long_stop and len(registry) == 1
    _fill(taker, "SELL", "0.006", px, n)  # now short 0.002: the stop moves above the ask
    await taker._protect("BTCUSDT")
    short_stop = taker.stops["BTCUSDT"]
    await until(lambda: long_stop.state == "cancelled" and short_stop.state == "active")
    held = {a["clientAlgoId"]: a for a in rig.sim.algo_orders()}[short_stop.client_order_id]
    assert held["side"] == "BUY" and Decimal(held["quantity"]) == Decimal("0.002")
    assert Decimal(held["triggerPrice"]) > px + TICK
    _fill(taker, "BUY", "0.002", px, n)  # flat: no stop
    await taker._protect("BTCUSDT")
    await until(lambda: short_stop.state == "cancelled")
    assert "BTCUSDT" not in taker.stops and taker.stats.cancels == 2
    assert [a["algoStatus"] for a in rig.sim.algo_orders()] == ["CANCELED", "CANCELED"]
