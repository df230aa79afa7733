"""Each injected simulator fault, end to end on both cores: every order ends in the state the
simulator holds, each callback fires exactly once, no fill is lost or counted twice, and replace
never leaves two live orders."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ._fakes import until
from .conftest import TICK, Rig

ORDER = "/fapi/v1/order"


async def scenario(rig: Rig) -> None:
    """Place, partially fill, fill, cancel and replace: the common workload for every fault."""
    rig.sim.max_fill_qty = "0.004"
    px = rig.price() - 100
    a = await rig.limit("BUY", "0.010", px)  # partial, partial, filled
    b = await rig.limit("BUY", "0.002", px - 50)  # cancelled
    c = await rig.limit("BUY", "0.003", px - 60)  # replaced
    m = await rig.market("SELL", "0.004")  # filled at once
    await until(lambda: all(o.state == "active" for o in (a, b, c)) and m.state == "filled", 10)
    for n in range(3):
        rig.sim.set_price("BTCUSDT", px - TICK * (n + 1))
        want = min(Decimal("0.004") * (n + 1), Decimal("0.010"))
        await until(lambda w=want: a.filled_fp == int(w * 10**8), 10)
    await rig.manager.cancel_order(b.client_order_id)
    new = await rig.replace(c, px - 70)
    assert new is not None
    await rig.settle()
    rig.check_callbacks()
    rig.check_one_live_per_intent()
    assert a.state == "filled" and b.state == "cancelled" and c.state == "cancelled" and new.state == "active"


async def test_no_fault(rig: Rig) -> None:
    await scenario(rig)


async def test_latency(rig: Rig) -> None:
    rig.sim.faults.latency = 0.05
    await scenario(rig)


async def test_event_delay(rig: Rig) -> None:
    rig.sim.faults.event_delay = 0.15  # REST replies now beat the feed every time
    await scenario(rig)


async def test_duplicate_events(rig: Rig) -> None:
    rig.sim.faults.duplicate_events = True
    await scenario(rig)
    st = rig.manager.stats()
    assert rig.stream.stats()["order_updates"] > 0 and st


async def test_lost_reply_after_placing(rig: Rig) -> None:
    rig.sim.faults.lose_reply(path=ORDER, method="POST", count=1)
    o = await rig.limit("BUY", "0.002", rig.price() - 100)
    assert o.state in ("placing", "active")  # unknown outcome: never guessed
    await until(lambda: o.state == "active")  # the feed resolves it
    rig.sim.set_price("BTCUSDT", rig.price() - 100 - TICK)
    await until(lambda: o.state == "filled")
    await rig.settle()
    rig.check_callbacks()


async def test_lost_reply_and_lost_event_resolved_by_query(rig: Rig) -> None:
    rig.sim.faults.lose_reply(path=ORDER, method="POST", count=1)
    rig.sim.faults.drop_events(count=1)  # the NEW event too
    o = await rig.limit("BUY", "0.002", rig.price() - 100)
    await until(lambda: o.state == "active")  # the status query after resolve_timeout
    assert rig.manager.stats()["status_queries"] >= 1
    await rig.settle()
    rig.check_callbacks()


async def test_lost_reply_on_cancel(rig: Rig) -> None:
    o = await rig.limit("BUY", "0.002", rig.price() - 100)
    await until(lambda: o.state == "active")
    rig.sim.faults.lose_reply(path=ORDER, method="DELETE", count=1)
    await rig.manager.cancel_order(o.client_order_id)
    await until(lambda: o.state == "cancelled")
    await rig.settle()
    rig.check_callbacks()


async def test_lost_replies_everywhere(rig: Rig) -> None:
    rig.sim.faults.lose_reply(path=ORDER, method=None, count=3)
    await scenario(rig)


@pytest.mark.parametrize(
    ("status", "body", "placed"),
    [
        (503, None, True),  # "Unknown error...": processed, outcome unknown
        (503, {"code": -1000, "msg": "Service Unavailable."}, False),
        (500, None, False),
        (504, None, False),  # -1007: unknown outcome, not processed here
    ],
)
async def test_5xx_on_place(rig: Rig, status: int, body: object, placed: bool) -> None:
    await rig.client.get_exchange_info()
    rig.sim.faults.http_error(status=status, body=body, count=1, path=ORDER, method="POST")  # type: ignore[arg-type]
    o = await rig.limit("BUY", "0.002", rig.price() - 100)
    await rig.settle()
    assert (o.state == "active") is placed
    if not placed:
        assert o.state in ("rejected", "failed")
    rig.check_callbacks()
    ok = await rig.limit("BUY", "0.002", rig.price() - 101)  # and business goes on
    await until(lambda: ok.state == "active")
    await rig.settle()
    rig.check_callbacks()


async def test_5xx_on_cancel(rig: Rig) -> None:
    o = await rig.limit("BUY", "0.002", rig.price() - 100)
    await until(lambda: o.state == "active")
    rig.sim.faults.http_error(status=503, count=1, path=ORDER, method="DELETE")  # processed, unknown
    await rig.manager.cancel_order(o.client_order_id)
    await until(lambda: o.state == "cancelled")
    p = await rig.limit("BUY", "0.002", rig.price() - 101)
    await until(lambda: p.state == "active")
    rig.sim.faults.http_error(status=500, count=1, path=ORDER, method="DELETE")  # refused, not processed
    assert await rig.manager.cancel_order(p.client_order_id) is False
    assert p.state == "active"
    await rig.settle()
    rig.check_callbacks()


async def test_429(rig: Rig) -> None:
    await rig.client.get_exchange_info()
    rig.sim.faults.rate_limit(count=1, status=429, retry_after=0)
    o = await rig.limit("BUY", "0.002", rig.price() - 100)
    assert o.state == "rejected"  # -1003: definitely not placed
    ok = await rig.limit("BUY", "0.002", rig.price() - 100)
    await until(lambda: ok.state == "active")
    await rig.settle()
    rig.check_callbacks()


async def test_dropped_websocket_fill_and_cancel_during_gap(rig: Rig) -> None:
    px = rig.price() - 100
    a = await rig.limit("BUY", "0.010", px)
    b = await rig.limit("BUY", "0.002", px - 50)
    c = await rig.limit("BUY", "0.002", px - 60)
    await until(lambda: all(o.state == "active" for o in (a, b, c)))
    await rig.sim.drop_user_streams()
    # While nobody listens: a fills, b is cancelled by someone else (the web UI, say).
    rig.sim.set_price("BTCUSDT", px - TICK)
    rig.sim.engine.cancel("BTCUSDT", None, b.client_order_id)
    await until(lambda: rig.stream.stats()["reconnects"] >= 1 and rig.stream.connected)
    await rig.settle()
    rig.check_callbacks()
    assert a.state == "filled" and b.state == "cancelled" and c.state == "active"
    assert rig.fills[a.client_order_id] == 1 and rig.cancels[b.client_order_id] == 1
    # and the new connection carries events
    rig.sim.set_price("BTCUSDT", px - 60 - TICK)
    await until(lambda: c.state == "filled")
    await rig.settle()
    rig.check_callbacks()


async def test_dropped_websocket_during_scenario(rig: Rig) -> None:
    rig.sim.max_fill_qty = "0.004"
    px = rig.price() - 100
    a = await rig.limit("BUY", "0.010", px)
    await until(lambda: a.state == "active")
    rig.sim.set_price("BTCUSDT", px - TICK)  # one partial fill, seen live
    await until(lambda: a.filled_fp == 400_000)
    await rig.sim.drop_user_streams()
    rig.sim.set_price("BTCUSDT", px - 2 * TICK)  # the second partial, missed
    await until(lambda: rig.stream.stats()["reconnects"] >= 1 and rig.stream.connected)
    await until(lambda: a.filled_fp == 800_000)
    rig.sim.set_price("BTCUSDT", px - 3 * TICK)  # the last one, live again
    await until(lambda: a.state == "filled")
    await rig.settle()
    rig.check_callbacks()


async def test_listen_key_expired(rig: Rig) -> None:
    old = rig.sim.listen_keys
    await rig.sim.expire_listen_key()
    await until(lambda: rig.stream.stats()["listen_key_expired"] == 1 and rig.stream.connected)
    await until(lambda: set(rig.sim.listen_keys) - set(old) != set())
    await scenario(rig)
    assert rig.stream.stats()["listen_key_creates"] >= 2


async def test_dropped_events_healed_by_reconnect(rig: Rig) -> None:
    px = rig.price() - 100
    a = await rig.limit("BUY", "0.002", px)
    await until(lambda: a.state == "active")
    rig.sim.faults.drop_events(count=3)  # TRADE_LITE, ACCOUNT_UPDATE and ORDER_TRADE_UPDATE of the fill
    rig.sim.set_price("BTCUSDT", px - TICK)
    assert a.state == "active"
    await rig.sim.drop_user_streams()  # the next reconnect reconciles
    await until(lambda: a.state == "filled")
    await rig.settle()
    rig.check_callbacks()


async def test_dropped_events_healed_by_periodic_reconcile(rig: Rig) -> None:
    rig.stream.reconcile_interval = 0.2
    await rig.stream.stop()
    await rig.stream.start()
    px = rig.price() - 100
    a = await rig.limit("BUY", "0.002", px)
    await until(lambda: a.state == "active")
    rig.sim.faults.drop_events(count=3)
    rig.sim.set_price("BTCUSDT", px - TICK)
    await until(lambda: a.state == "filled")
    assert rig.stream.stats()["reconnects"] == 0
    await rig.settle()
    rig.check_callbacks()


async def test_replace_with_lost_cancel_reply_never_two_live(rig: Rig) -> None:
    px = rig.price() - 100
    o = await rig.limit("BUY", "0.004", px)
    await until(lambda: o.state == "active")
    rig.sim.faults.lose_reply(path=ORDER, method="DELETE", count=1)
    rig.sim.faults.event_delay = 0.1
    new = await rig.replace(o, px - 5)
    assert new is not None
    await rig.settle()
    rig.check_callbacks()
    rig.check_one_live_per_intent()
    assert len(rig.sim.open_orders()) == 1


async def test_replace_refused_cancel_places_nothing(rig: Rig) -> None:
    o = await rig.limit("BUY", "0.004", rig.price() - 100)
    await until(lambda: o.state == "active")
    rig.sim.faults.reject_next_cancel(code=-1003, msg="Too many requests.", status=429)
    assert await rig.replace(o, rig.price() - 105) is None
    assert o.state == "active"
    await rig.settle()
    rig.check_callbacks()
    assert [h["clientOrderId"] for h in rig.sim.open_orders()] == [o.client_order_id]


async def test_replace_racing_a_fill(rig: Rig) -> None:
    px = rig.price() - 100
    o = await rig.limit("BUY", "0.004", px)
    await until(lambda: o.state == "active")
    rig.sim.set_price("BTCUSDT", px - TICK)  # fills at the exchange; the feed frame is on its way
    new = await rig.replace(o, px - 5)
    await rig.settle()
    assert new is None and o.state == "filled"
    rig.check_callbacks()
    assert rig.sim.open_orders() == []
