"""The manager's order-entry routing (ws-fapi or REST, per request) with scripted fakes: what goes
where, what falls back, and what never does (an unknown outcome is never sent again elsewhere)."""

from __future__ import annotations

from typing import Any

import pytest

from trading_engine_python.exchange import ExchangeError, ExchangeTimeout
from trading_engine_python.orders.manager import OrderManager

from ..conftest import Implementation
from ._manager_util import settle
from .fakes import FakeExchange


class FakeWs(FakeExchange):
    """A ws-fapi client stand-in: a FakeExchange with a ``connected`` switch."""

    connected = True
    starts = 0

    async def start(self) -> None:
        self.starts += 1


class Rest(FakeExchange):
    def __init__(self, ws: FakeWs | None) -> None:
        super().__init__()
        self.ws_api = ws


def make(impl: Implementation, **kw: Any) -> tuple[OrderManager, Rest, FakeWs]:
    ws = FakeWs()
    rest = Rest(ws)
    m = OrderManager(rest, implementation=impl.name, stuck_timeout=0, resolve_timeout=0.05, **kw)
    return m, rest, ws


async def test_ws_by_default_rest_on_request(impl: Implementation) -> None:
    m, rest, ws = make(impl)
    assert m.order_entry == "ws"
    o = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.001", "100")
    assert len(ws.sent("place_order")) == 1 and not rest.sent("place_order")
    assert await m.cancel_order(o.client_order_id)
    assert len(ws.sent("cancel_order")) == 1
    only_rest, rest2, ws2 = make(impl, order_entry="rest")
    assert only_rest.order_entry == "rest"
    await only_rest.place_limit_order("sub1", "BTCUSDT", "BUY", "0.001", "100")
    assert len(rest2.sent("place_order")) == 1 and not ws2.sent("place_order")
    assert m.stats()["entry_ws"] == 2 and only_rest.stats()["entry_rest"] == 1
    await m.close()
    await only_rest.close()


async def test_no_ws_client_means_rest(impl: Implementation) -> None:
    m = OrderManager(FakeExchange(), implementation=impl.name)
    assert m.order_entry == "rest"
    with pytest.raises(ValueError):
        OrderManager(FakeExchange(), implementation=impl.name, order_entry="ws")
    with pytest.raises(ValueError):
        OrderManager(FakeExchange(), implementation=impl.name, order_entry="fix")
    await m.close()


async def test_down_or_not_sent_falls_back_to_rest(impl: Implementation) -> None:
    m, rest, ws = make(impl)
    ws.connected = False
    await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.001", "100")
    await settle()
    assert ws.starts == 1  # the request that found it down started the connection
    ws.connected = True
    ws.script("place_order", ExchangeError(-1, "ws-api connection lost; request not sent"))
    o = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.001", "100")
    assert o.state == "placing"  # placed over REST, not rejected
    assert len(rest.sent("place_order")) == 2 and len(ws.sent("place_order")) == 1
    st = m.stats()
    assert st["entry_fallbacks"] == 2 and st["entry_rest"] == 2 and st["rest_rejections"] == 0
    await m.close()


async def test_unknown_outcome_on_ws_is_never_resent_over_rest(impl: Implementation) -> None:
    m, rest, ws = make(impl)
    ws.script("place_order", ExchangeTimeout(-1007, "connection dropped before the answer"))
    o = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.001", "100")
    assert o.state == "placing" and not rest.sent("place_order")
    assert m.stats()["unknown_outcomes"] == 1
    # a definite refusal over ws is the order's answer too
    ws.script("place_order", ExchangeError(-2019, "Margin is insufficient."))
    r = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.001", "100")
    assert r.state == "rejected" and not rest.sent("place_order")
    await settle()
    await m.close()
