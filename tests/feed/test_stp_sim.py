"""Self-trade prevention end to end over real sockets, both order cores (the ``rig`` fixture): two
sub-accounts of the manager trade on one Binance account, so their orders can meet each other; the
taker's selfTradePreventionMode decides (docs/binance-protocol.md, "Self-trade prevention")."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from ._fakes import until
from .conftest import TICK, Rig


def _hooks(seen: Counter[tuple[str, str]]) -> dict[str, Any]:
    return {name: (lambda o, name=name: seen.update([(name, o.client_order_id)]))
            for name in ("on_fill", "on_partial", "on_cancel")}


async def test_expire_taker_keeps_the_fills_before_it(rig: Rig) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    m = rig.manager
    rig.sim.max_fill_qty = "0.004"
    px = rig.price()
    ask = px + TICK  # the synthetic touch
    maker = await m.place_limit_order("sub1", "BTCUSDT", "SELL", "0.010", str(ask + TICK), **_hooks(seen))
    await until(lambda: maker.state == "active")
    # sub2's BUY takes 0.004 at the touch, then meets sub1's SELL one tick higher: STP expires it.
    taker = await m.place_limit_order("sub2", "BTCUSDT", "BUY", "0.010", str(ask + TICK),
                                      self_trade_prevention="EXPIRE_TAKER", **_hooks(seen))
    await until(lambda: taker.is_terminal)
    held = rig.sim.orders_by_client_id(taker.client_order_id)
    assert held is not None and held["selfTradePreventionMode"] == "EXPIRE_TAKER"
    assert held["status"] == "EXPIRED_IN_MATCH"
    assert taker.state == "expired" and taker.expire_reason == "EXPIRED_IN_MATCH"
    assert taker.filled_fp == 400_000 == int(float(held["executedQty"]) * 1e8)
    assert seen["on_cancel", taker.client_order_id] == 1 and seen["on_fill", taker.client_order_id] == 0
    assert seen["on_partial", taker.client_order_id] == 1
    assert maker.state == "active" and maker.filled_fp == 0 and maker.expire_reason is None
    assert await m.cancel_order(maker.client_order_id)
    await until(lambda: maker.state == "cancelled")
    assert maker.expire_reason is None


async def test_manager_default_expire_maker(rig: Rig) -> None:
    seen: Counter[tuple[str, str]] = Counter()
    m = rig.manager
    m.self_trade_prevention = "EXPIRE_MAKER"
    px = rig.price()
    ask = px + TICK
    maker = await m.place_limit_order("sub1", "BTCUSDT", "SELL", "0.010", str(ask), **_hooks(seen))
    await until(lambda: maker.state == "active")
    # At the touch's price the own SELL is met first (time priority): expired, then the book fills.
    taker = await m.place_limit_order("sub2", "BTCUSDT", "BUY", "0.010", str(ask), **_hooks(seen))
    await until(lambda: maker.is_terminal and taker.is_terminal)
    assert rig.sim.orders_by_client_id(taker.client_order_id)["selfTradePreventionMode"] == "EXPIRE_MAKER"  # type: ignore[index]
    assert maker.state == "expired" and maker.expire_reason == "EXPIRED_IN_MATCH" and maker.filled_fp == 0
    assert seen["on_cancel", maker.client_order_id] == 1
    assert taker.state == "filled" and taker.expire_reason is None
    assert seen["on_fill", taker.client_order_id] == 1 and seen["on_cancel", taker.client_order_id] == 0


async def test_bad_mode_is_refused_before_sending(rig: Rig) -> None:
    px = rig.price()
    with pytest.raises(ValueError, match="self_trade_prevention"):
        await rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.001", str(px - 10),
                                            self_trade_prevention="NONE")
    # NONE is refused by Binance since STP became mandatory; the client refuses it before sending.
    with pytest.raises(ValueError, match="self_trade_prevention"):
        await rig.client.place_order("BTCUSDT", "BUY", "LIMIT", "0.001", price=str(px - 10),
                                     client_order_id="x1", self_trade_prevention="NONE")
    assert rig.sim.open_orders() == [] and rig.manager.get_active_orders() == []
