"""The manager's order entry against the simulator over real sockets, on both order cores: ws-fapi
(Ed25519 session logon, or HMAC per request) with its REST fallback, amend in place through
``replace_order``, and ``place_limit_orders`` over batchOrders."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import pytest

from trading_engine_python.exchange import BinanceFuturesClient
from trading_engine_python.exchange.ws_api import WsApiClient
from trading_engine_python.feed import UserStreamService
from trading_engine_python.orders.manager import LimitOrderSpec, OrderManager
from trading_engine_python.sim import BinanceSimulator

from ..conftest import Implementation

API_KEY = "AKentryMGR1234567890key"
API_SECRET = "SEentryMGR0987654321secret"
ED_KEY = "EDentryMGR1234567890edkey"
TICK = Decimal("0.1")
PUT = ("PUT", "/fapi/v1/order")
POST = ("POST", "/fapi/v1/order")


async def until(cond: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


@dataclass
class Calls:
    """Callbacks as they ran: (name, client order id, filled quantity then)."""

    seen: list[tuple[str, str, float]] = field(default_factory=list)

    def hooks(self) -> dict[str, Any]:
        def make(name: str) -> Any:
            return lambda o: self.seen.append((name, o.client_order_id, o.filled_qty))

        return {"on_fill": make("fill"), "on_cancel": make("cancel"), "on_partial": make("partial")}

    def names(self) -> Counter[str]:
        return Counter(n for n, _, _ in self.seen)


@dataclass
class Rig:
    sim: BinanceSimulator
    client: BinanceFuturesClient
    manager: OrderManager
    entry: str

    def px(self, ticks: int) -> str:
        return str(self.sim.price("BTCUSDT") + TICK * ticks)

    def modify_requests(self) -> int:
        return self.sim.ws_requests.count("order.modify") + self.sim.requests.count(PUT)


async def _rig(impl: Implementation, auth: str, entry: str, connect: bool = True) -> AsyncIterator[Rig]:
    sim = BinanceSimulator(api_key=API_KEY, api_secret=API_SECRET, ed25519_api_key=ED_KEY, seed=0,
                           auto_walk=False)
    await sim.start()
    client = BinanceFuturesClient(API_KEY, API_SECRET, base_url=sim.base_url, ws_api_url=sim.ws_api_url,
                                  timeout=1.0)
    signer = client
    if auth == "ed25519":
        # The simulator's REST side knows the HMAC key only, so REST (listenKey, fallback) stays on
        # it and the ws-fapi client signs with the Ed25519 key (session.logon).
        signer = BinanceFuturesClient(ED_KEY, None, private_key=sim.ed25519_private_key_pem,
                                      base_url=sim.base_url, ws_api_url=sim.ws_api_url, timeout=1.0)
    client._ws_api = WsApiClient(signer, sim.ws_api_url, backoff_base=0.01, backoff_max=0.05)
    manager = OrderManager(client, implementation=impl.name, order_entry=entry, resolve_timeout=0.2,
                           stuck_timeout=1.0, replace_timeout=2.0)
    if connect:
        assert await manager.connect_order_entry() is (entry == "ws")
        if entry == "ws":
            assert client.ws_api.logon is (auth == "ed25519")
    stream = UserStreamService(client, manager, ws_url=sim.ws_url, reconnect_backoff=(0.02, 0.2))
    await stream.start()
    try:
        yield Rig(sim, client, manager, entry)
    finally:
        await stream.stop()
        await manager.close()
        await client.close()
        if signer is not client:
            await signer.close()
        await sim.stop()


@pytest.fixture(params=[("ed25519", "ws"), ("hmac", "ws"), ("hmac", "rest")], ids=lambda p: "-".join(p))
async def rig(request: pytest.FixtureRequest, impl: Implementation) -> AsyncIterator[Rig]:
    auth, entry = request.param
    async for r in _rig(impl, auth, entry):
        yield r


@pytest.fixture
async def ws_rig(impl: Implementation) -> AsyncIterator[Rig]:
    async for r in _rig(impl, "ed25519", "ws"):
        yield r


async def test_place_amend_cancel_on_each_path(rig: Rig) -> None:
    calls = Calls()
    o = await rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", rig.px(-100), **calls.hooks())
    await until(lambda: o.state == "active")
    cid, oid = o.client_order_id, o.exchange_order_id
    # price only
    new_px = Decimal(rig.px(-50))
    got = await rig.manager.replace_order(cid, str(new_px))
    assert got is o and o.client_order_id == cid and o.exchange_order_id == oid
    assert Decimal(str(o.price)) == new_px and o.quantity == 0.01 and o.state == "active"
    # quantity only, then both
    assert await rig.manager.replace_order(cid, None, "0.020") is o
    assert o.quantity == 0.02 and Decimal(str(o.price)) == new_px
    assert await rig.manager.replace_order(cid, rig.px(-70), "0.005") is o
    held = rig.sim.orders_by_client_id(cid)
    assert held is not None and held["orderId"] == oid
    assert Decimal(held["origQty"]) == Decimal("0.005") and Decimal(held["price"]) == Decimal(str(o.price))
    assert rig.modify_requests() == 3
    assert await rig.manager.cancel_order(cid) is True
    await until(lambda: o.state == "cancelled")
    assert calls.names() == Counter({"cancel": 1})
    # one place, never a second one: every reprice was an amend
    assert rig.sim.ws_requests.count("order.place") + rig.sim.requests.count(POST) == 1
    st = rig.manager.stats()
    assert st["amends"] == 3 and st["replaces"] == 0
    if rig.entry == "ws":
        assert rig.sim.ws_requests.count("order.modify") == 3 and PUT not in rig.sim.requests
        assert st["entry_ws"] == 5 and st["entry_rest"] == 0
        assert set(rig.manager.entry_latency()) == {"place_ws", "modify_ws", "cancel_ws"}
    else:
        assert "order.modify" not in rig.sim.ws_requests and st["entry_ws"] == 0 and st["entry_rest"] == 5


async def test_status_over_the_websocket_client(rig: Rig) -> None:
    # The manager's status queries stay on the REST client; the ws client answers them too.
    o = await rig.manager.place_limit_order("sub1", "BTCUSDT", "SELL", "0.003", rig.px(100))
    await until(lambda: o.state == "active")
    q = await rig.client.ws_api.get_order("BTCUSDT", client_order_id=o.client_order_id)
    assert q["status"] == "NEW" and q["orderId"] == o.exchange_order_id


async def test_cancel_place_mode_and_changed_side_keep_the_old_path(ws_rig: Rig) -> None:
    calls = Calls()
    m = ws_rig.manager
    o = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", ws_rig.px(-100), **calls.hooks())
    await until(lambda: o.state == "active")
    n = await m.replace_order(o.client_order_id, ws_rig.px(-90), mode="cancel_place")
    assert n is not None and n is not o and o.state == "cancelled" and n.price != o.price
    await until(lambda: n.state == "active")
    s = await m.replace_order(n.client_order_id, ws_rig.px(90), side="SELL")
    assert s is not None and s.side == "SELL" and n.state == "cancelled"
    g = await m.replace_order(s.client_order_id, ws_rig.px(95), time_in_force="GTX")
    assert g is not None and g.time_in_force == "GTX"
    assert ws_rig.modify_requests() == 0 and m.stats()["replaces"] == 3
    assert calls.names() == Counter()  # callbacks moved along, nothing closed the intent


async def test_gtx_amend_that_would_cross_is_a_cancel(ws_rig: Rig) -> None:
    calls = Calls()
    o = await ws_rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", ws_rig.px(-20),
                                               time_in_force="GTX", **calls.hooks())
    await until(lambda: o.state == "active")
    assert await ws_rig.manager.replace_order(o.client_order_id, ws_rig.px(20)) is None
    assert o.state == "cancelled" and calls.names() == Counter({"cancel": 1})
    assert ws_rig.sim.open_orders() == []


async def test_amend_to_a_crossing_price_fills_and_no_fill_is_lost(ws_rig: Rig) -> None:
    calls = Calls()
    o = await ws_rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", ws_rig.px(-20),
                                               **calls.hooks())
    await until(lambda: o.state == "active")
    got = await ws_rig.manager.replace_order(o.client_order_id, ws_rig.px(30))
    assert got is None or got is o  # the AMENDMENT and the fill race to the feed
    await until(lambda: o.state == "filled")
    assert o.filled_qty == 0.01 and calls.names()["fill"] == 1 and calls.names()["cancel"] == 0


async def test_amend_racing_a_fill(ws_rig: Rig) -> None:
    calls = Calls()
    sim = ws_rig.sim
    o = await ws_rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", ws_rig.px(-5),
                                               **calls.hooks())
    await until(lambda: o.state == "active")
    fill_at = sim.price("BTCUSDT") - TICK * 10

    async def market_moves() -> None:
        sim.set_price("BTCUSDT", fill_at)

    got, _ = await asyncio.gather(ws_rig.manager.replace_order(o.client_order_id, ws_rig.px(-8)),
                                  market_moves())
    await until(lambda: o.state == "filled")
    assert got is None or got is o
    assert o.filled_qty == 0.01 and calls.names() == Counter({"fill": 1})


async def test_quantity_at_or_below_the_executed_one_cancels(ws_rig: Rig) -> None:
    # The manager asks for 0.004 more than the 0 it knows of, but 0.004 filled meanwhile (the
    # fill's frame was held back): the exchange cancels. The fill arrives with the cancel.
    calls = Calls()
    sim = ws_rig.sim
    sim.max_fill_qty = Decimal("0.004")
    o = await ws_rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", ws_rig.px(-5),
                                               **calls.hooks())
    await until(lambda: o.state == "active")
    start = sim.price("BTCUSDT")
    sim.faults.drop_events(1)
    sim.set_price("BTCUSDT", start - TICK * 6)  # one trade of 0.004, not sent on the stream
    sim.set_price("BTCUSDT", start + TICK * 50)
    held = sim.orders_by_client_id(o.client_order_id)
    assert held is not None and Decimal(held["executedQty"]) == Decimal("0.004")
    assert o.filled_qty == 0
    assert await ws_rig.manager.replace_order(o.client_order_id, None, "0.004") is None
    assert o.state == "cancelled" and o.filled_qty == 0.004
    assert calls.names() == Counter({"partial": 1, "cancel": 1})
    assert calls.seen[-1] == ("cancel", o.client_order_id, 0.004)


async def test_nothing_to_change_returns_the_order(ws_rig: Rig) -> None:
    o = await ws_rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", ws_rig.px(-100))
    await until(lambda: o.state == "active")
    assert await ws_rig.manager.replace_order(o.client_order_id, str(Decimal(str(o.price)))) is o
    assert ws_rig.manager.stats()["amends_unchanged"] == 1 and o.state == "active"


async def test_amend_after_an_unseen_fill_is_none_and_the_fill_is_found(ws_rig: Rig) -> None:
    calls = Calls()
    sim = ws_rig.sim
    o = await ws_rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", ws_rig.px(-5),
                                               **calls.hooks())
    await until(lambda: o.state == "active")
    sim.faults.drop_events(1)
    sim.set_price("BTCUSDT", sim.price("BTCUSDT") - TICK * 10)  # filled; its frame is lost
    assert o.state == "active"
    assert await ws_rig.manager.replace_order(o.client_order_id, ws_rig.px(-30)) is None  # -2011
    await until(lambda: o.state == "filled")  # a status query found it
    assert calls.names() == Counter({"fill": 1})


@pytest.mark.parametrize("processed", [True, False], ids=["processed", "lost"])
async def test_drop_with_a_modify_in_flight(ws_rig: Rig, processed: bool) -> None:
    m, sim = ws_rig.manager, ws_rig.sim
    o = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", ws_rig.px(-100))
    await until(lambda: o.state == "active")
    old_px, new_px = o.price, Decimal(ws_rig.px(-60))
    sim.faults.ws_drop("order.modify", process=processed)
    got = await m.replace_order(o.client_order_id, str(new_px))
    assert got is o and o.state == "active"
    held = sim.orders_by_client_id(o.client_order_id)
    assert held is not None
    # the order as the exchange has it, whichever way the dropped request went
    assert Decimal(str(o.price)) == Decimal(held["price"]) == (new_px if processed else Decimal(str(old_px)))
    assert sim.ws_requests.count("order.modify") == 1 and PUT not in sim.requests  # never sent twice
    assert m.stats()["unknown_outcomes"] == 1
    await until(lambda: ws_rig.client.ws_api.connected)
    assert await m.replace_order(o.client_order_id, ws_rig.px(-40)) is o  # the new connection


async def test_drop_with_a_place_in_flight(ws_rig: Rig) -> None:
    calls = Calls()
    m, sim = ws_rig.manager, ws_rig.sim
    sim.faults.ws_drop("order.place", process=True)
    o = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", ws_rig.px(-5), **calls.hooks())
    await until(lambda: o.state == "active")
    sim.set_price("BTCUSDT", sim.price("BTCUSDT") - TICK * 10)
    await until(lambda: o.state == "filled")
    assert sim.ws_requests.count("order.place") == 1 and POST not in sim.requests
    assert calls.names() == Counter({"fill": 1}) and len(sim.open_orders()) == 0


@pytest.fixture
async def cold_rig(impl: Implementation) -> AsyncIterator[Rig]:
    async for r in _rig(impl, "hmac", "ws", connect=False):
        yield r


async def test_rest_while_the_websocket_is_down(cold_rig: Rig) -> None:
    r = cold_rig
    m, sim = r.manager, r.sim
    # not connected yet: this request goes over REST and starts the connection
    a = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", r.px(-100))
    assert sim.requests.count(POST) == 1 and m.stats()["entry_fallbacks"] == 1
    await until(lambda: r.client.ws_api.connected)
    b = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", r.px(-101))
    assert sim.ws_requests.count("order.place") == 1
    await until(lambda: a.state == "active" and b.state == "active")
    # the connection drops (after processing the amend): REST again until it is back
    sim.faults.ws_drop(None, process=True)
    assert await m.replace_order(a.client_order_id, r.px(-90)) is a
    fallback_before = m.stats()["entry_fallbacks"]
    if not r.client.ws_api.connected:
        assert await m.replace_order(b.client_order_id, r.px(-91)) is b
        assert m.stats()["entry_fallbacks"] == fallback_before + 1 and PUT in sim.requests
    await until(lambda: r.client.ws_api.connected)
    assert await m.cancel_order(b.client_order_id)
    await until(lambda: b.state == "cancelled")
    st = m.stats()
    assert st["entry_ws"] >= 2 and st["entry_rest"] >= 1


async def test_batch_places_in_input_order_and_rejects_only_the_bad_item(rig: Rig) -> None:
    calls = Calls()
    specs: list[Any] = [
        LimitOrderSpec("sub1", "BTCUSDT", "BUY", "0.001", rig.px(-100 - n), **calls.hooks()) for n in range(6)
    ]
    # reduce-only with no position: the exchange refuses this item (-2022) and only it
    specs.insert(3, {"sub_account_id": "sub1", "symbol": "BTCUSDT", "side": "SELL", "quantity": "0.001",
                     "price": rig.px(100), "reduce_only": True, **calls.hooks()})
    orders = await rig.manager.place_limit_orders(specs)
    assert len(orders) == 7 and len({o.client_order_id for o in orders}) == 7
    bad = orders[3]
    assert bad.state == "rejected" and bad.error is not None and bad.error[0] == -2022
    good = [o for o in orders if o is not bad]
    await until(lambda: all(o.state == "active" for o in good))
    for o, spec in zip(good, [s for s in specs if isinstance(s, LimitOrderSpec)], strict=True):
        held = rig.sim.orders_by_client_id(o.client_order_id)
        assert held is not None and Decimal(held["price"]) == Decimal(spec.price)  # type: ignore[arg-type]
    assert rig.sim.requests.count(("POST", "/fapi/v1/batchOrders")) == 2  # 5 + 2
    assert rig.manager.stats()["batches"] == 2
    assert calls.names() == Counter({"cancel": 1})  # the rejected one


async def test_batch_checks_every_item_first(ws_rig: Rig) -> None:
    m = ws_rig.manager
    with pytest.raises(ValueError):
        await m.place_limit_orders([LimitOrderSpec("sub1", "BTCUSDT", "BUY", "0.001", ws_rig.px(-100)),
                                    {"sub_account_id": "sub1", "symbol": "BTCUSDT", "side": "BUY",
                                     "quantity": "0.001"}])
    with pytest.raises(ValueError):
        await m.place_limit_orders([{"sub_account_id": "sub1", "symbol": "BTCUSDT", "side": "HOLD",
                                     "quantity": "0.001", "price": "1"}])
    assert m.get_active_orders() == [] and ("POST", "/fapi/v1/batchOrders") not in ws_rig.sim.requests


async def test_algo_orders_on_each_path(rig: Rig) -> None:
    """Algo orders follow order_entry: algoOrder.place / algoOrder.cancel over ws-fapi, or REST;
    STP (the manager's default) on both."""
    rig.manager.self_trade_prevention = "EXPIRE_BOTH"
    calls = Calls()
    stop = await rig.manager.place_stop_order("sub1", "BTCUSDT", "SELL", "0.002", rig.px(-300),
                                              **calls.hooks())
    await until(lambda: stop.state == "active")
    assert await rig.manager.cancel_order(stop.client_order_id) is True
    await until(lambda: stop.state == "cancelled")
    limit = await rig.manager.place_limit_order("sub1", "BTCUSDT", "BUY", "0.002", rig.px(-300))
    await until(lambda: limit.state == "active")
    held = rig.sim.orders_by_client_id(limit.client_order_id)
    assert held is not None and held["selfTradePreventionMode"] == "EXPIRE_BOTH"
    algo = {a["clientAlgoId"]: a for a in rig.sim.algo_orders()}[stop.client_order_id]
    assert algo["selfTradePreventionMode"] == "EXPIRE_BOTH" and algo["algoStatus"] == "CANCELED"
    rest_algo = [r for r in rig.sim.requests if r[1] == "/fapi/v1/algoOrder"]
    if rig.entry == "ws":
        assert rig.sim.ws_requests.count("algoOrder.place") == 1
        assert rig.sim.ws_requests.count("algoOrder.cancel") == 1 and rest_algo == []
    else:
        assert "algoOrder.place" not in rig.sim.ws_requests
        assert rest_algo == [("POST", "/fapi/v1/algoOrder"), ("DELETE", "/fapi/v1/algoOrder")]
    assert calls.names() == Counter({"cancel": 1})
