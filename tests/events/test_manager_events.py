"""OrderManager on both order cores publishing real transitions to a real redis-server."""

from __future__ import annotations

from typing import Any

import orjson

from trading_engine_python.exchange import ExchangeError
from trading_engine_python.orders.manager import OrderManager

from ..conftest import Implementation
from ..orders.fakes import FakeExchange

COMMON = {"seq", "subAccountId", "clientOrderId", "exchangeOrderId", "symbol", "side", "orderType",
          "origin", "parentId", "suppressToast", "timestamp", "price", "quantity"}


def frame(cid: str, status: str, *, z: str = "0", l: str = "0", lp: str = "0", ap: str = "0",  # noqa: E741
          e_time: int = 1_700_000_000_123) -> bytes:
    return orjson.dumps({"e": "ORDER_TRADE_UPDATE", "E": e_time, "T": e_time - 1, "o": {
        "s": "BTCUSDT", "c": cid, "S": "BUY", "o": "LIMIT", "q": "0.002", "p": "65000.1", "ap": ap,
        "X": status, "x": "TRADE", "i": 8389765739703625592, "l": l, "z": z, "L": lp, "t": 7}})


class Risk:
    def __init__(self) -> None:
        self.fills: list[float] = []

    async def on_order_fill(self, order: Any) -> None:
        self.fills.append(order.last_fill_qty)

    def account_snapshot(self, sub: str) -> dict[str, float]:
        return {"balance": 1000.0, "equity": 1001.5, "marginUsed": 6.5, "availableMargin": 995.0}


async def test_order_life_is_published_exactly(
    impl: Implementation, redis_server: Any, subscriber_factory: Any
) -> None:
    sub = subscriber_factory()
    await sub.start(redis_server.port)
    redis = redis_server.client()
    m = OrderManager(FakeExchange(), redis, Risk(), implementation=impl.name)
    o = await m.place_limit_order("alice-01", "BTCUSDT", "BUY", "0.002", "65000.1", parent_id="chase-7",
                                  origin="CHASE")
    cid = o.client_order_id
    m.feed(frame(cid, "NEW"))
    m.feed(frame(cid, "PARTIALLY_FILLED", z="0.001", l="0.001", lp="65000.1", ap="65000.1"))
    m.feed(frame(cid, "FILLED", z="0.002", l="0.001", lp="65000", ap="65000.05"))
    assert await sub.wait_count(3)
    await m.close()
    await redis.aclose()
    channels = [c for c, _ in sub.events]
    assert channels == ["pms:events:order_active", "pms:events:order_partially_filled",
                        "pms:events:order_filled"]
    active, partial, filled = (p for _, p in sub.events)
    assert set(active) == COMMON
    assert set(partial) == COMMON | {"filledQuantity", "avgPrice"}
    assert set(filled) == COMMON | {"account"}
    assert [p["seq"] for _, p in sub.events] == [1, 2, 3]
    assert active["exchangeOrderId"] == "8389765739703625593"  # the fake's REST orderId, exact, a string
    assert active["timestamp"] == 1_700_000_000_123  # the feed's E
    assert active["price"] == 65000.1 and active["quantity"] == 0.002
    assert active["suppressToast"] is True and active["parentId"] == "chase-7" and active["origin"] == "CHASE"
    assert partial["price"] == 65000.1 and partial["quantity"] == 0.001 and partial["filledQuantity"] == 0.001
    assert filled["price"] == 65000.05 and filled["quantity"] == 0.002
    assert filled["account"] == {"balance": 1000, "equity": 1001.5, "marginUsed": 6.5, "availableMargin": 995}


async def test_rejection_cancel_and_replace_are_published(impl: Implementation, redis_server: Any,
                                                          subscriber_factory: Any) -> None:
    sub = subscriber_factory()
    await sub.start(redis_server.port)
    redis = redis_server.client()
    ex = FakeExchange()
    m = OrderManager(ex, redis, implementation=impl.name, replace_timeout=2.0)
    ex.script("place_order", ExchangeError(-2019, "Margin is insufficient."))
    rejected = await m.place_limit_order("bob-0002", "BTCUSDT", "SELL", "0.001", "70000")
    assert rejected.state == "rejected"
    layer = await m.place_limit_order("bob-0002", "BTCUSDT", "BUY", "0.001", "64000", on_cancel=print)
    m.feed(frame(layer.client_order_id, "NEW"))

    async def confirm_cancel(**kw: Any) -> dict[str, Any]:
        m.feed(frame(kw["client_order_id"], "CANCELED"))
        return {"status": "CANCELED"}

    ex.script("cancel_order", confirm_cancel)
    new = await m.replace_order(layer.client_order_id, "64100")
    assert new is not None and new.price == 64100
    m.feed(frame(new.client_order_id, "NEW"))
    assert await sub.wait_count(4)
    await m.close()
    await redis.aclose()
    kinds = [c.rsplit(":", 1)[1] for c, _ in sub.events]
    assert kinds == ["order_failed", "order_active", "order_cancelled", "order_active"]
    assert sub.events[3][1]["clientOrderId"] == new.client_order_id
    failed = sub.events[0][1]
    assert set(failed) == COMMON | {"reason", "errorCode", "errorMessage"}
    assert failed["reason"] == "rejected" and failed["errorCode"] == -2019
    assert failed["exchangeOrderId"] is None and failed["timestamp"] > 1_700_000_000_000
    cancelled = sub.events[2][1]
    assert cancelled["clientOrderId"] == layer.client_order_id and cancelled["reason"] == "cancelled"
    assert set(cancelled) == COMMON | {"filledQuantity", "reason"}


async def test_risk_events_share_the_seq(
    impl: Implementation, redis_server: Any, subscriber_factory: Any
) -> None:
    sub = subscriber_factory()
    await sub.start(redis_server.port)
    redis = redis_server.client()
    m = OrderManager(FakeExchange(), redis, implementation=impl.name)
    o = await m.place_market_order("carol-03", "ETHUSDT", "BUY", "0.01")
    m.feed(frame(o.client_order_id, "NEW"))
    assert await m.publish("position_updated", {"subAccountId": "carol-03", "symbol": "ETHUSDT"}) == 2
    assert await sub.wait_count(2)
    await m.close()
    await redis.aclose()
    assert [(c, p["seq"]) for c, p in sub.events] == [("pms:events:order_active", 1),
                                                      ("pms:events:position_updated", 2)]
    assert sub.events[0][1]["price"] is None  # a market order has no limit price


async def test_no_redis_publishes_nothing(impl: Implementation) -> None:
    m = OrderManager(FakeExchange(), None, implementation=impl.name)
    o = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.001", "65000")
    m.feed(frame(o.client_order_id, "NEW"))
    assert m.publisher is None and "events" not in m.stats()
    assert await m.publish("margin_update", {}) is None
    await m.close()


async def test_amend_is_published_as_order_amended(impl: Implementation, redis_server: Any,
                                                   subscriber_factory: Any) -> None:
    sub = subscriber_factory()
    await sub.start(redis_server.port)
    redis = redis_server.client()

    class Amending(FakeExchange):
        async def modify_order(self, symbol: str, side: str, quantity: str, price: str, *,
                               client_order_id: str) -> dict[str, Any]:
            self.calls.append(("modify_order", {"quantity": quantity, "price": price}))
            m.feed(orjson.dumps({"e": "ORDER_TRADE_UPDATE", "E": 1_700_000_000_999, "o": {
                "s": symbol, "c": client_order_id, "S": side, "o": "LIMIT", "q": quantity, "p": price,
                "X": "NEW", "x": "AMENDMENT", "i": 8389765739703625593, "z": "0"}}))
            return {"status": "NEW", "price": price, "origQty": quantity}

    ex = Amending()
    m = OrderManager(ex, redis, implementation=impl.name, replace_timeout=2.0)
    o = await m.place_limit_order("carol-01", "BTCUSDT", "BUY", "0.002", "65000.1")
    m.feed(frame(o.client_order_id, "NEW"))
    assert await m.replace_order(o.client_order_id, "64999.9", "0.003") is o
    assert await sub.wait_count(2)
    await m.close()
    await redis.aclose()
    assert [c for c, _ in sub.events] == ["pms:events:order_active", "pms:events:order_amended"]
    amended = sub.events[1][1]
    assert set(amended) == COMMON
    assert amended["clientOrderId"] == o.client_order_id
    assert amended["exchangeOrderId"] == "8389765739703625593"
    assert amended["price"] == 64999.9 and amended["quantity"] == 0.003
    assert amended["timestamp"] == 1_700_000_000_999
    assert ex.sent("modify_order") == [{"quantity": "0.003", "price": "64999.9"}]
    assert not ex.sent("cancel_order") and len(ex.sent("place_order")) == 1
