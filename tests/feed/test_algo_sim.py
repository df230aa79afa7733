"""Algo (conditional) orders end to end over real sockets: OrderManager <- real REST client and
real user stream -> the simulator's Algo service, on both order cores (the ``rig`` fixture)."""

from __future__ import annotations

import copy
from collections import Counter
from decimal import Decimal
from typing import Any

from ._fakes import until
from .conftest import TICK, Rig


class Calls:
    def __init__(self) -> None:
        self.n: Counter[tuple[str, str]] = Counter()

    def hooks(self) -> dict[str, Any]:
        return {name: (lambda o, name=name: self.n.update([(name, o.client_order_id)]))
                for name in ("on_trigger", "on_fill", "on_partial", "on_cancel")}

    def __call__(self, name: str, o: Any) -> int:
        return self.n[(name, o.client_order_id)]


async def test_stop_market_triggered_and_filled_in_parts(rig: Rig) -> None:
    calls = Calls()
    rig.sim.max_fill_qty = "0.004"
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "BUY", "0.010", str(px + 10), **calls.hooks())
    assert o.order_type == "STOP_MARKET" and o.is_algo and "_STM_" in o.client_order_id
    await until(lambda: o.state == "active")
    assert rig.manager.algo_id(o.client_order_id) is not None
    rig.sim.set_price("BTCUSDT", px + 10)
    await until(lambda: o.state == "filled")
    assert calls("on_trigger", o) == 1 and calls("on_fill", o) == 1 and calls("on_cancel", o) == 0
    assert calls("on_partial", o) >= 1
    assert o.filled_fp == 1_000_000 and o.exchange_order_id is not None


async def test_take_profit_limit_triggered(rig: Rig) -> None:
    calls = Calls()
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "SELL", "0.005", str(px + 20),
                                           kind="TAKE_PROFIT", price=str(px + 50), **calls.hooks())
    assert o.order_type == "TAKE_PROFIT"
    await until(lambda: o.state == "active")
    rig.sim.set_price("BTCUSDT", px + 20)
    await until(lambda: o.state == "triggered")
    assert calls("on_trigger", o) == 1 and calls("on_fill", o) == 0
    # the created LIMIT rests at px + 50 under our id; cancelling it ends the algo order
    assert await rig.manager.cancel_order(o.client_order_id) is True
    await until(lambda: o.state == "cancelled")
    assert calls("on_cancel", o) == 1 and rig.sim.open_orders() == []


async def test_trailing_stop_with_activation(rig: Rig) -> None:
    calls = Calls()
    px = rig.price()
    o = await rig.manager.place_trailing_stop_order("sub1", "BTCUSDT", "SELL", "0.003", "1",
                                                    activation_price=str(px + 100), **calls.hooks())
    await until(lambda: o.state == "active")
    rig.sim.set_price("BTCUSDT", px + 100)  # activates
    rig.sim.set_price("BTCUSDT", px + 200)  # the stop follows the high
    assert o.state == "active"
    rig.sim.set_price("BTCUSDT", ((px + 200) * Decimal("0.99") / TICK).to_integral_value() * TICK - TICK)
    await until(lambda: o.state == "filled")
    assert calls("on_trigger", o) == 1 and calls("on_fill", o) == 1


async def test_cancel_before_the_trigger(rig: Rig) -> None:
    calls = Calls()
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "SELL", "0.002", str(px - 30), **calls.hooks())
    await until(lambda: o.state == "active")
    assert await rig.manager.cancel_order(o.client_order_id) is True
    await until(lambda: o.state == "cancelled")
    rig.sim.set_price("BTCUSDT", px - 40)
    assert calls("on_cancel", o) == 1 and calls("on_trigger", o) == 0 and o.filled_fp == 0
    assert o.client_order_id not in [x.client_order_id for x in rig.manager.get_active_orders()]


async def test_refused_algo_order_is_rejected_not_raised(rig: Rig) -> None:
    calls = Calls()
    px = rig.price()
    # a BUY stop below the price would trigger at once: -2021
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "BUY", "0.002", str(px - 30), **calls.hooks())
    assert o.state == "rejected" and o.error[0] == -2021 and calls("on_cancel", o) == 1


async def test_created_order_fill_after_local_cancel_reaches_callbacks(rig: Rig) -> None:
    """The cancel races the trigger: the manager sent the algo cancel, the trigger won (-2011), the
    created order fills; every fill reaches the callbacks and nothing is dropped."""
    calls = Calls()
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "BUY", "0.004", str(px + 10), **calls.hooks())
    await until(lambda: o.state == "active")
    rig.sim.set_price("BTCUSDT", px + 10)  # triggers and fills before our cancel reaches it
    await rig.manager.cancel_order(o.client_order_id)
    await until(lambda: o.state == "filled")
    assert calls("on_fill", o) == 1 and calls("on_cancel", o) == 0 and o.filled_fp == 400_000


async def test_bad_arguments_raise_before_sending(rig: Rig) -> None:
    m = rig.manager
    for kw in ({"kind": "LIMIT"}, {"working_type": "LAST"}, {"price": "-1"}):
        try:
            await m.place_stop_order("sub1", "BTCUSDT", "BUY", "0.001", "70000", **kw)
        except ValueError:
            continue
        raise AssertionError(kw)
    for rate in ("0.05", "10.5", "0.15"):
        try:
            await m.place_trailing_stop_order("sub1", "BTCUSDT", "SELL", "0.001", rate)
        except ValueError:
            continue
        raise AssertionError(rate)
    assert rig.sim.open_orders() == []


async def _gap(rig: Rig) -> int:
    """Drop the user stream; what the caller does next (synchronously) happens while it is down."""
    before = rig.stream.stats()["reconciles"]
    await rig.sim.drop_user_streams()
    return int(before)


async def test_trigger_and_fill_during_a_reconnect_are_reconciled(rig: Rig) -> None:
    """The trigger, the created order's fills and the algo order's FINISHED all happen while the
    user stream is down: reconciliation finds the algo order in no open list, asks the Algo API,
    applies the created order's fills first, and nothing is lost or counted twice."""
    calls = Calls()
    rig.sim.max_fill_qty = "0.004"
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "BUY", "0.010", str(px + 10), **calls.hooks())
    await until(lambda: o.state == "active")
    reconciles = await _gap(rig)
    rig.sim.set_price("BTCUSDT", px + 10)  # triggers and fills while nobody listens
    await until(lambda: rig.stream.stats()["reconciles"] > reconciles)
    await until(lambda: o.state == "filled")
    held = rig.sim.orders_by_client_id(o.client_order_id)
    assert held is not None and held["status"] == "FILLED"
    assert o.filled_fp == int(Decimal(held["executedQty"]) * 100_000_000) == 1_000_000
    assert o.exchange_order_id == held["orderId"]
    assert calls("on_trigger", o) == 1 and calls("on_fill", o) == 1 and calls("on_cancel", o) == 0
    stats = rig.manager.stats()
    assert stats["late_fills"] == 0 and stats["status_queries"] >= 1
    # The lost frames are not replayed; a later reconnect changes nothing.
    reconciles = await _gap(rig)
    await until(lambda: rig.stream.stats()["reconciles"] > reconciles)
    assert o.filled_fp == 1_000_000 and calls("on_fill", o) == 1 and calls("on_trigger", o) == 1


async def test_reconnect_between_a_partial_trigger_and_the_rest(rig: Rig) -> None:
    """A stop-limit triggers during the gap and its created order takes part of the book; the
    reconnect finds that order open (under the algo order's id) and the rest fills live."""
    calls = Calls()
    rig.sim.taker_liquidity = "0.004"
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "BUY", "0.010", str(px + 10),
                                           price=str(px + 12), **calls.hooks())
    assert o.order_type == "STOP"
    await until(lambda: o.state == "active")
    reconciles = await _gap(rig)
    rig.sim.set_price("BTCUSDT", px + 10)
    await until(lambda: rig.stream.stats()["reconciles"] > reconciles)
    await until(lambda: o.state == "triggered" and o.filled_fp == 400_000)
    assert calls("on_trigger", o) == 1 and calls("on_fill", o) == 0
    rig.sim.taker_liquidity = None
    rig.sim.set_price("BTCUSDT", px)  # the ask comes down to the resting remainder: filled live
    await until(lambda: o.state == "filled")
    held = rig.sim.orders_by_client_id(o.client_order_id)
    assert held is not None and o.filled_fp == int(Decimal(held["executedQty"]) * 100_000_000) == 1_000_000
    assert calls("on_trigger", o) == 1 and calls("on_fill", o) == 1 and calls("on_cancel", o) == 0
    assert rig.manager.stats()["late_fills"] == 0


async def test_reconcile_adopts_our_open_algo_orders(rig: Rig) -> None:
    """An algo order of ours the manager does not know (another process placed it, before a
    restart) is adopted from openAlgoOrders; a foreign one is left alone."""
    px = rig.price()
    ours = "PMSsub9_STM_adopt1"
    await rig.client.place_algo_order("BTCUSDT", "SELL", "STOP_MARKET", "0.002", client_algo_id=ours,
                                      trigger_price=str(px - 50))
    await rig.client.place_algo_order("BTCUSDT", "SELL", "STOP_MARKET", "0.002", client_algo_id="foreign-1",
                                      trigger_price=str(px - 50))
    report = await rig.manager.reconcile()
    assert report["open_algo"] == 2 and report["adopted"] == 1
    o = rig.manager.get_order(ours)
    assert o is not None and o.is_algo and o.state == "active" and o.order_type == "STOP_MARKET"
    assert o.sub_account_id == "sub9" and o.quantity_fp == 200_000
    assert rig.manager.algo_id(ours) is not None and rig.manager.get_order("foreign-1") is None
    assert await rig.manager.cancel_order(ours)
    await until(lambda: o.state == "cancelled")


async def test_algo_order_cancelled_elsewhere_during_a_reconnect(rig: Rig) -> None:
    """Cancelled out of band (another client, the web UI) while the stream is down: in no open list,
    unknown to the order endpoint; the Algo API's answer ends it."""
    calls = Calls()
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "SELL", "0.002", str(px - 30), **calls.hooks())
    await until(lambda: o.state == "active")
    reconciles = await _gap(rig)
    await rig.client.cancel_algo_order("BTCUSDT", client_algo_id=o.client_order_id)
    await until(lambda: rig.stream.stats()["reconciles"] > reconciles)
    await until(lambda: o.state == "cancelled")
    assert calls("on_cancel", o) == 1 and calls("on_trigger", o) == 0 and o.filled_fp == 0


def _trigger_before_the_cancel(rig: Rig, price: Decimal) -> None:
    """The race at Binance: the cancel request is on its way when the trigger fires. The simulator
    holds the cancel at its arrival, moves the price (the trigger fires, its frames go out), then
    processes the cancel, which finds a triggered algo order: -2011."""
    real = rig.sim.algo.cancel

    def racing(p: dict[str, str]) -> dict[str, object]:
        rig.sim.algo.cancel = real  # type: ignore[method-assign]
        rig.sim.set_price("BTCUSDT", price)
        return real(p)

    rig.sim.algo.cancel = racing  # type: ignore[method-assign]


async def test_cancel_racing_the_trigger_cancels_the_created_order(rig: Rig) -> None:
    calls = Calls()
    px = rig.price()
    # A stop-limit whose created BUY rests below the ask once triggered.
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "BUY", "0.004", str(px + 10),
                                           price=str(px + 5), **calls.hooks())
    await until(lambda: o.state == "active")
    _trigger_before_the_cancel(rig, px + 10)
    assert await rig.manager.cancel_order(o.client_order_id) is True
    # The algo cancel lost (-2011); the created order is what the caller wanted gone.
    await until(lambda: o.state == "cancelled")
    held = rig.sim.orders_by_client_id(o.client_order_id)
    assert held is not None and held["status"] == "CANCELED" and held["type"] == "LIMIT"
    assert [a["algoStatus"] for a in rig.sim.algo_orders()] == ["FINISHED"]
    assert calls("on_trigger", o) == 1 and calls("on_cancel", o) == 1 and calls("on_fill", o) == 0
    assert rig.sim.open_orders() == [] and o.filled_fp == 0


async def test_cancel_racing_a_market_trigger_leaves_the_fill(rig: Rig) -> None:
    calls = Calls()
    rig.sim.max_fill_qty = "0.002"
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "BUY", "0.004", str(px + 10), **calls.hooks())
    await until(lambda: o.state == "active")
    _trigger_before_the_cancel(rig, px + 10)
    assert await rig.manager.cancel_order(o.client_order_id) is True
    await until(lambda: o.state == "filled")
    assert o.filled_fp == 400_000 and calls("on_trigger", o) == 1 and calls("on_fill", o) == 1
    assert calls("on_cancel", o) == 0 and calls("on_partial", o) == 1
    assert rig.manager.get_active_orders() == [] and rig.sim.open_orders() == []


async def test_fill_of_the_created_order_after_the_algo_cancel_was_answered(rig: Rig) -> None:
    """The algo order's cancel was answered and its CANCELED seen (on_cancel ran); then a fill of the
    order its trigger created arrives (at Binance: the trigger won, its frames came late). The
    simulator cannot produce that order after a successful cancel, so the frame is one of its own
    fill frames (another order's, same shape) re-addressed to our id and sent through the real
    user stream. The fill reaches the callbacks: on_partial, then on_fill when it completes."""
    calls = Calls()
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "SELL", "0.004", str(px - 30), **calls.hooks())
    await until(lambda: o.state == "active")
    assert await rig.manager.cancel_order(o.client_order_id) is True
    await until(lambda: o.state == "cancelled")
    assert calls("on_cancel", o) == 1
    rig.sim.max_fill_qty = "0.002"
    await rig.client.place_order("BTCUSDT", "SELL", "MARKET", "0.004", client_order_id="other-1")
    fills = [e for e in rig.sim.events
             if e.get("e") == "ORDER_TRADE_UPDATE" and e["o"]["c"] == "other-1" and e["o"]["x"] == "TRADE"]
    assert [f["o"]["X"] for f in fills] == ["PARTIALLY_FILLED", "FILLED"]
    await until(lambda: rig.manager.stats()["unknown_ids"] >= 3)  # other-1's own frames went by
    for n, frame in enumerate(fills):
        late = copy.deepcopy(frame)
        late["o"].update(c=o.client_order_id, ot="STOP_MARKET", i=10**12 + 1)
        rig.sim.streams.broadcast(late)
        await until(lambda n=n: calls("on_partial", o) + calls("on_fill", o) == n + 1)
    assert calls("on_partial", o) == 1 and calls("on_fill", o) == 1 and calls("on_cancel", o) == 1
    assert o.state == "filled" and o.filled_fp == 400_000 and rig.manager.stats()["late_fills"] == 2


async def test_unknown_outcome_of_an_algo_place_is_resolved_not_rejected(rig: Rig) -> None:
    """503 "Unknown error" after the venue placed it (docs/binance-protocol.md, "Error codes"): the
    outcome is unknown, never a reject; the feed or GET algoOrder says it is live."""
    calls = Calls()
    rig.sim.faults.http_error(503, path="/fapi/v1/algoOrder", method="POST")
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "SELL", "0.002", str(px - 30), **calls.hooks())
    assert o.state in ("placing", "active") and rig.manager.stats()["unknown_outcomes"] == 1
    await until(lambda: o.state == "active")
    assert calls("on_cancel", o) == 0 and rig.manager.stats()["orphans"] == 0
    assert [a["algoStatus"] for a in rig.sim.algo_orders()] == ["NEW"]


async def test_cancel_racing_the_trigger_without_callbacks(rig: Rig) -> None:
    """The same race for an algo order placed without callbacks: the created order goes too."""
    px = rig.price()
    o = await rig.manager.place_stop_order("sub1", "BTCUSDT", "BUY", "0.004", str(px + 10), price=str(px + 5))
    await until(lambda: o.state == "active")
    _trigger_before_the_cancel(rig, px + 10)
    assert await rig.manager.cancel_order(o.client_order_id) is True
    await until(lambda: o.state == "cancelled")
    assert rig.sim.open_orders() == [] and o.filled_fp == 0
    assert rig.manager._waiting == {}  # the follow-through's entry is gone with it
