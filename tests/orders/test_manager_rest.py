"""OrderManager against the exchange: placement, unknown outcomes and their resolution, cancel,
cancel-all and replace, on both cores, with the scripted FakeExchange.

REST replies never drive state; status-query answers go through the feed's rules. Waits are
bounded polls for an outcome (``until``), never timing assertions.
"""

from __future__ import annotations

import asyncio
import math
from decimal import Decimal
from typing import Any

import pytest

from trading_engine_python.exchange import ExchangeError, ExchangeTimeout

from ..conftest import Implementation
from ._manager_util import OID, Log, Risk, make, otu, render, rest_order, settle, until, views

NOT_FOUND = ExchangeError(-2013, "Order does not exist.")
UNKNOWN = ExchangeError(-2011, "Unknown order sent.")


def ev(order: Any, status: str, **kw: Any) -> bytes:
    kw.setdefault("i", order.exchange_order_id if order.exchange_order_id is not None else OID)
    return render(otu(order.client_order_id, status, **kw), "bytes")  # type: ignore[no-any-return]


async def place(m: Any, log: Log | None = None, **kw: Any) -> Any:
    hooks = log.hooks() if log is not None else {}
    hooks.update(kw)
    return await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", "65000.3", **hooks)


# ── placement ──


async def test_the_order_is_registered_before_the_request_is_sent(impl: Implementation) -> None:
    m, fake = make(impl)
    seen: list[Any] = []

    def answer(**kw: Any) -> dict[str, Any]:
        order = m.get_order(kw["client_order_id"])
        seen.append((order.state, [o.client_order_id for o in m.get_active_orders()]))
        return {"orderId": 1, "status": "NEW"}

    fake.script("place_order", answer)
    order = await place(m)
    assert seen == [("placing", [order.client_order_id])]
    assert order.state == "placing"  # the REST reply does not drive state
    await m.close()


def _bad_placements() -> list[tuple[str, dict[str, Any]]]:
    ok = {"sub_account_id": "sub1", "symbol": "BTCUSDT", "side": "BUY", "quantity": "0.010",
          "price": "65000.3"}
    cases: list[tuple[str, dict[str, Any]]] = []
    for side in ("buy", "Buy", "LONG", "", None, 0):
        cases.append(("limit", {**ok, "side": side}))
    for qty in (0, -1, "0", "-0.001", 0.0, -0.5, "abc", "", "1e-9", 0.000000001, Decimal("0.000000001"),
                "0.000000005", math.nan, math.inf, -math.inf, "NaN", "Infinity", True, None, [1], b"1",
                Decimal("sNaN"), "1" * 40):
        cases.append(("limit", {**ok, "quantity": qty}))
        cases.append(("market", {**ok, "quantity": qty}))
    for px in (None, 0, -1, "0", "65000.123456789", 65000.123456789, math.nan, "x", False):
        cases.append(("limit", {**ok, "price": px}))
    for lev in (0, -1, 1.5, True, "5", None):
        cases.append(("limit", {**ok, "leverage": lev}))
        cases.append(("market", {**ok, "leverage": lev}))
    for sub in ("sub_1", "sub 1", "süb1", "a.b", "x:y", "PMS/1", "", "_abcdefgh"):
        cases.append(("limit", {**ok, "sub_account_id": sub}))
    cases.append(("limit", {**ok, "time_in_force": "DAY"}))
    cases.append(("limit", {**ok, "symbol": ""}))
    return cases


@pytest.mark.parametrize(("kind", "kw"), _bad_placements())
async def test_invalid_arguments_raise_before_anything_is_registered_or_sent(
        impl: Implementation, kind: str, kw: dict[str, Any]) -> None:
    m, fake = make(impl)
    kw = dict(kw)
    with pytest.raises(ValueError):
        if kind == "market":
            kw.pop("price")
            await m.place_market_order(**kw)
        else:
            await m.place_limit_order(**kw)
    assert fake.calls == []
    assert m.get_active_orders() == []
    assert m.stats()["added"] == 0 and m.stats()["tracked"] == 0
    await m.close()


async def test_only_the_first_8_characters_of_the_sub_account_are_checked(impl: Implementation) -> None:
    m, fake = make(impl)
    order = await m.place_limit_order("abcdefgh_rest is free", "BTCUSDT", "SELL", 1, 2)
    assert order.sub_account_id == "abcdefgh_rest is free"
    assert order.client_order_id.startswith("PMSabcdefgh_LMT_")
    assert len(fake.sent("place_order")) == 1
    await m.close()


@pytest.mark.parametrize(("qty", "wire"), [
    (0.001, "0.001"), (0.1, "0.1"), ("0.010", "0.01"), (Decimal("0.00100000"), "0.001"), (2, "2"),
    (1e-8, "0.00000001"), (123456.78901234, "123456.78901234"), ("1000", "1000"), (0.3, "0.3"),
    (Decimal("12.5"), "12.5"), (" 7.25 ", "7.25"),
])
async def test_quantities_go_to_the_client_as_plain_decimal_strings(
    impl: Implementation, qty: Any, wire: str
) -> None:
    m, fake = make(impl)
    await m.place_market_order("sub1", "BTCUSDT", "SELL", qty, reduce_only=True)
    (sent,) = fake.sent("place_order")
    assert sent["quantity"] == wire and type(sent["quantity"]) is str
    assert sent["price"] is None and sent["order_type"] == "MARKET" and sent["reduce_only"] is True
    await m.close()


@pytest.mark.parametrize(("price", "wire", "view"), [
    (65000.1, "65000.1", 65000.1), ("65000.10", "65000.1", 65000.1), (65000, "65000", 65000.0),
    (Decimal("65000.3"), "65000.3", 65000.3), (0.1, "0.1", 0.1), ("0.00000001", "0.00000001", 1e-8),
])
async def test_prices_go_to_the_client_as_plain_decimal_strings(impl: Implementation, price: Any, wire: str,
                                                                view: float) -> None:
    m, fake = make(impl)
    order = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.001", price, time_in_force="GTX")
    (sent,) = fake.sent("place_order")
    assert sent == {"symbol": "BTCUSDT", "side": "BUY", "order_type": "LIMIT", "quantity": "0.001",
                    "price": wire, "client_order_id": order.client_order_id, "reduce_only": False,
                    "time_in_force": "GTX"}
    assert order.price == view and order.quantity == 0.001
    assert (order.time_in_force, order.side, order.order_type) == ("GTX", "BUY", "LIMIT")
    await m.close()


async def test_views_are_the_nearest_double_to_the_exact_decimal(impl: Implementation) -> None:
    m, _ = make(impl)
    order = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.3", "65000.3")
    assert order.price == 65000.3 and order.quantity == 0.3
    big = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "92233720368.54775807", "0.00000001")
    assert big.quantity == float(Decimal("92233720368.54775807"))
    with pytest.raises(ValueError):
        await m.place_limit_order("sub1", "BTCUSDT", "BUY", "92233720368.54775808", "1")  # beyond int64
    await m.close()


async def test_exchange_order_id_from_the_rest_reply_first_and_exact(impl: Implementation) -> None:
    m, fake = make(impl)
    oid = 2**53 + 1  # not representable as a double
    fake.script("place_order", {"orderId": oid, "status": "NEW"})
    order = await place(m)
    assert order.exchange_order_id == oid and type(order.exchange_order_id) is int
    assert m.get_order_by_exchange_id(oid) is order
    await m.on_order_update(ev(order, "NEW", i=oid + 2))
    assert order.exchange_order_id == oid  # the first report wins
    await m.close()


@pytest.mark.parametrize("reply", [{"orderId": "123"}, {"orderId": 1.0}, {"orderId": True}, {}, None, [1],
                                   "x"])
async def test_a_reply_without_a_usable_order_id_leaves_it_to_the_feed(
    impl: Implementation, reply: Any
) -> None:
    m, fake = make(impl)
    fake.script("place_order", reply)
    order = await place(m)
    assert order.exchange_order_id is None and order.state == "placing"
    await m.on_order_update(ev(order, "NEW", i=OID))
    assert order.exchange_order_id == OID and order.state == "active"
    await m.close()


# ── the feed before the REST reply ──


async def test_feed_before_the_rest_reply(impl: Implementation) -> None:
    m, fake = make(impl)
    log = Log()

    async def answer(**kw: Any) -> dict[str, Any]:
        order = m.get_order(kw["client_order_id"])
        await m.on_order_update(ev(order, "NEW", i=OID))  # the user stream beats the REST reply
        assert order.state == "active"
        return {"orderId": OID + 1, "status": "NEW"}

    fake.script("place_order", answer)
    order = await place(m, log)
    assert order.state == "active"
    assert order.exchange_order_id == OID  # the feed's i came first
    await m.on_order_update(ev(order, "FILLED", l="0.010", z="0.010", L="65000.3"))
    assert log.names() == ["fill"]
    await m.close()


async def test_feed_before_the_rest_reply_through_the_gate(impl: Implementation) -> None:
    m, fake = make(impl)
    log = Log()
    fake.gate = asyncio.Event()
    task = asyncio.ensure_future(place(m, log))
    await until(lambda: len(fake.calls) == 1)
    cid = fake.calls[0][1]["client_order_id"]
    order = m.get_order(cid)
    assert order.state == "placing"
    await m.on_order_update(render(otu(cid, "FILLED", l="0.010", z="0.010", L="65000.3"), "str"))
    assert order.state == "filled"
    fake.gate.set()
    assert await task is order
    assert order.state == "filled" and log.names() == ["fill"]
    await m.close()


async def test_a_rest_error_after_the_feed_acknowledged_changes_nothing(impl: Implementation) -> None:
    m, fake = make(impl)
    log = Log()

    async def answer(**kw: Any) -> Any:
        await m.on_order_update(otu(kw["client_order_id"], "NEW"))
        raise ExchangeError(-1001, "Internal error; unable to process your request. Please try again.")

    fake.script("place_order", answer)
    order = await place(m, log)
    assert order.state == "active" and order.error is None  # the exchange said it exists
    assert log.entries == []
    await m.close()


# ── unknown outcomes ──


@pytest.mark.parametrize("exc", [ExchangeTimeout(-1007, "Timeout waiting for response from backend server."),
                                 ConnectionResetError("peer reset"), RuntimeError("client bug")])
async def test_rest_timeout_then_feed(impl: Implementation, exc: BaseException) -> None:
    m, fake = make(impl, resolve_timeout=0.02)
    log = Log()
    fake.script("place_order", exc)
    order = await place(m, log)  # never raises for an exchange outcome
    assert order.state == "placing" and m.stats()["unknown_outcomes"] == 1
    await m.on_order_update(ev(order, "NEW"))
    assert order.state == "active"
    await asyncio.sleep(0.1)  # past resolve_timeout: the feed decided, no query is needed
    assert fake.sent("get_order") == [] and order.state == "active"
    await m.close()


@pytest.mark.parametrize(("answer", "state", "filled", "names"), [
    (rest_order("{cid}", "NEW"), "active", 0.0, []),
    (rest_order("{cid}", "PARTIALLY_FILLED", executed="0.004", avg="65000.1"), "active", 0.004, ["partial"]),
    (rest_order("{cid}", "FILLED", executed="0.010", avg="65000.2"), "filled", 0.010, ["fill"]),
    (rest_order("{cid}", "CANCELED", executed="0.002", avg="65000.1"), "cancelled", 0.002,
     ["partial", "cancel"]),
    (rest_order("{cid}", "EXPIRED"), "expired", 0.0, ["cancel"]),
])
async def test_rest_timeout_then_status_query(
    impl: Implementation, answer: dict[str, Any], state: str, filled: float, names: list[str]
) -> None:
    risk = Risk()
    m, fake = make(impl, risk_engine=risk, resolve_timeout=0.05)
    log = Log()
    fake.script("place_order", ExchangeTimeout(-1006, "An unexpected response was received"))
    fake.script("get_order", lambda **kw: {**answer, "clientOrderId": kw["client_order_id"]})
    order = await place(m, log)
    assert order.state == "placing"
    await until(lambda: order.state != "placing")
    assert (order.state, order.filled_qty) == (state, filled)
    assert order.exchange_order_id == OID  # from the answer's orderId
    assert fake.sent("get_order") == [{"symbol": "BTCUSDT", "client_order_id": order.client_order_id}]
    assert log.names() == names
    assert [f[1] for f in risk.fills] == ([filled] if filled else [])
    await settle()
    await asyncio.sleep(0.15)
    assert len(fake.sent("get_order")) == 1  # decided: no more queries
    await m.close()


async def test_repeated_not_found_makes_it_failed_with_on_cancel_once(impl: Implementation) -> None:
    m, fake = make(impl, resolve_timeout=0.01)
    log = Log()
    fake.script("place_order", ExchangeTimeout(-1007, "timeout"))
    order = await place(m, log)
    await until(lambda: order.state == "failed")
    assert order.state == "failed"
    assert order.error == (-2013, "Order does not exist.")
    assert len(fake.sent("get_order")) == 3  # repeated queries, spread over resolve_timeouts
    assert log.entries == [("cancel", order.client_order_id, "failed", 0.0, 0.0)]
    assert m.stats()["resolved_failed"] == 1 and m.get_active_orders() == []
    await asyncio.sleep(0.05)
    assert len(fake.sent("get_order")) == 3 and log.count("cancel") == 1
    # It was live after all: a terminal state never goes back, but its money is never dropped,
    # and since nobody manages it any more, it is cancelled at once.
    await m.on_order_update(ev(order, "NEW"))
    assert order.state == "failed"
    await until(lambda: len(fake.sent("cancel_order")) == 1)
    assert fake.sent("cancel_order") == [{"symbol": "BTCUSDT", "client_order_id": order.client_order_id}]
    assert m.stats()["orphans"] == 1 and m.stats()["orphans_cancelled"] == 1
    await m.on_order_update(ev(order, "FILLED", l="0.010", z="0.010", L="65000.3"))
    assert (order.state, order.filled_qty) == ("filled", 0.010)
    assert log.names() == ["cancel", "fill"] and m.stats()["late_fills"] == 1
    await m.close()


async def test_not_found_then_found(impl: Implementation) -> None:
    m, fake = make(impl, resolve_timeout=0.01)
    log = Log()
    fake.script("place_order", ExchangeTimeout(-1007, "timeout"))
    fake.script("get_order", NOT_FOUND, NOT_FOUND, lambda **kw: rest_order(kw["client_order_id"], "NEW"))
    order = await place(m, log)
    await until(lambda: order.state != "placing")
    assert order.state == "active" and order.error is None
    assert len(fake.sent("get_order")) == 3 and log.entries == []
    await m.close()


async def test_only_consecutive_not_found_answers_count(impl: Implementation) -> None:
    m, fake = make(impl, resolve_timeout=0.01)
    fake.script("place_order", ExchangeTimeout(-1007, "timeout"))
    fake.script("get_order", NOT_FOUND, NOT_FOUND, ExchangeTimeout(-1007, "timeout"), NOT_FOUND, NOT_FOUND,
                lambda **kw: rest_order(kw["client_order_id"], "FILLED", executed="0.010"))
    order = await place(m)
    await until(lambda: order.state != "placing")
    assert order.state == "filled"
    assert len(fake.sent("get_order")) == 6
    await m.close()


async def test_a_cancelled_place_call_leaves_the_order_to_be_resolved(impl: Implementation) -> None:
    m, fake = make(impl, resolve_timeout=0.02)
    fake.gate = asyncio.Event()
    task = asyncio.ensure_future(place(m))
    await until(lambda: len(fake.calls) == 1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    order = m.get_order(fake.calls[0][1]["client_order_id"])
    assert order.state == "placing"  # the request may have gone out
    fake.gate = None
    fake.script("get_order", lambda **kw: rest_order(kw["client_order_id"], "NEW"))
    await until(lambda: order.state != "placing")
    assert order.state == "active"
    await m.close()


@pytest.mark.parametrize(("code", "msg"), [
    (-2019, "Margin is insufficient."),
    (-5022, "Due to the order could not be executed as maker, the Post Only order will be rejected."),
    (-4164, "Order's notional must be no smaller than 5.0"),
    (-1021, "Timestamp for this request is outside of the recvWindow."),
])
async def test_a_definite_rejection(impl: Implementation, code: int, msg: str) -> None:
    m, fake = make(impl, resolve_timeout=0.01)
    log = Log()
    fake.script("place_order", ExchangeError(code, msg))
    order = await place(m, log)
    assert order.state == "rejected" and order.error == (code, msg)
    assert log.entries == [("cancel", order.client_order_id, "rejected", 0.0, 0.0)]
    assert m.get_active_orders() == [] and m.get_order(order.client_order_id) is order
    assert m.stats()["rest_rejections"] == 1
    await m.on_order_update(ev(order, "NEW"))
    await asyncio.sleep(0.05)
    assert order.state == "rejected" and log.count("cancel") == 1
    assert fake.sent("get_order") == []  # a definite answer needs no query
    await m.close()


async def test_an_accepted_order_whose_feed_is_lost_is_queried(impl: Implementation) -> None:
    m, fake = make(impl, stuck_timeout=0.05)
    fake.script("get_order", lambda **kw: rest_order(kw["client_order_id"], "NEW"))
    order = await place(m)
    await until(lambda: order.state != "placing")
    assert order.state == "active" and len(fake.sent("get_order")) == 1
    await m.close()


# ── cancel ──


async def test_cancel_sends_once_and_the_feed_confirms(impl: Implementation) -> None:
    m, fake = make(impl)
    log = Log()
    order = await place(m, log)
    await m.on_order_update(ev(order, "NEW"))
    assert await m.cancel_order(order.client_order_id) is True
    assert order.state == "cancelling"
    assert fake.sent("cancel_order") == [{"symbol": "BTCUSDT", "client_order_id": order.client_order_id}]
    assert await m.cancel_order(order.client_order_id) is False  # already cancelling: nothing sent
    assert len(fake.sent("cancel_order")) == 1
    await m.on_order_update(ev(order, "CANCELED"))
    assert order.state == "cancelled" and log.names() == ["cancel"]
    await m.close()


@pytest.mark.parametrize("end", ["FILLED", "CANCELED", "EXPIRED", "rejected", "failed", "unknown",
                                 "cancelling"])
async def test_cancel_of_terminal_unknown_or_cancelling_is_false_and_sends_nothing(impl: Implementation,
                                                                                    end: str) -> None:
    m, fake = make(impl, resolve_timeout=0.01)
    if end == "rejected":
        fake.script("place_order", ExchangeError(-2019, "Margin is insufficient."))
    if end == "failed":
        fake.script("place_order", ExchangeTimeout(-1007, "timeout"))
    order = await place(m)
    cid = order.client_order_id
    if end in ("FILLED", "CANCELED", "EXPIRED"):
        await m.on_order_update(ev(order, end, z="0.010" if end == "FILLED" else "0"))
    elif end == "failed":
        await until(lambda: order.state == "failed")
    elif end == "unknown":
        cid = "PMSsub1_LMT_doesnotexist00"
    elif end == "cancelling":
        assert await m.cancel_order(cid)
    before = order.to_dict()
    sent = len(fake.sent("cancel_order"))
    assert await m.cancel_order(cid) is False
    assert len(fake.sent("cancel_order")) == sent
    assert order.to_dict() == before
    await m.close()


async def test_cancel_while_placing(impl: Implementation) -> None:
    m, fake = make(impl)
    log = Log()
    release = asyncio.Event()

    async def slow_place(**kw: Any) -> dict[str, Any]:
        await release.wait()
        return {"orderId": OID, "status": "NEW"}

    fake.script("place_order", slow_place)
    task = asyncio.ensure_future(place(m, log))
    await until(lambda: len(fake.calls) == 1)
    order = m.get_order(fake.calls[0][1]["client_order_id"])
    assert order.state == "placing"
    assert await m.cancel_order(order.client_order_id) is True
    assert order.state == "cancelling" and len(fake.sent("cancel_order")) == 1
    release.set()
    assert await task is order
    assert order.state == "cancelling"  # the place reply does not drive state
    await m.on_order_update(ev(order, "NEW"))
    assert order.state == "cancelling"  # the cancel is still in flight
    await m.on_order_update(ev(order, "CANCELED"))
    assert order.state == "cancelled" and log.names() == ["cancel"]
    await m.close()


async def test_cancel_while_placing_then_the_place_is_rejected(impl: Implementation) -> None:
    m, fake = make(impl)
    log = Log()
    release = asyncio.Event()

    async def slow_reject(**kw: Any) -> Any:
        await release.wait()
        raise ExchangeError(-2019, "Margin is insufficient.")

    fake.script("place_order", slow_reject)
    task = asyncio.ensure_future(place(m, log))
    await until(lambda: len(fake.calls) == 1)
    cid = fake.calls[0][1]["client_order_id"]
    assert await m.cancel_order(cid) is True
    release.set()
    order = await task
    assert order.state == "rejected" and order.error == (-2019, "Margin is insufficient.")
    assert log.names() == ["cancel"]
    await m.close()


@pytest.mark.parametrize("feed_first", [True, False])
async def test_cancel_racing_a_fill(impl: Implementation, feed_first: bool) -> None:
    """DELETE answers -2011 "Unknown order sent." while the feed says TRADE/FILLED
    (docs/binance-protocol.md, "Event order")."""
    m, fake = make(impl, resolve_timeout=0.02)
    log = Log()
    order = await place(m, log)
    await m.on_order_update(ev(order, "NEW"))

    async def fill_then_refuse(**kw: Any) -> Any:
        if feed_first:
            await m.on_order_update(ev(order, "FILLED", l="0.010", z="0.010", L="65000.3"))
        raise UNKNOWN

    fake.script("cancel_order", fill_then_refuse)
    assert await m.cancel_order(order.client_order_id) is True  # sent; -2011 leaves it to the feed
    if not feed_first:
        assert order.state == "cancelling"
        await m.on_order_update(ev(order, "FILLED", l="0.010", z="0.010", L="65000.3"))
    assert (order.state, order.filled_qty) == ("filled", 0.010)
    assert log.names() == ["fill"]
    await asyncio.sleep(0.08)
    assert fake.sent("get_order") == []  # the feed decided before resolve_timeout
    await m.close()


@pytest.mark.parametrize(("answer", "state", "names"), [
    (rest_order("{cid}", "FILLED", executed="0.010", avg="65000.3"), "filled", ["fill"]),
    (rest_order("{cid}", "CANCELED"), "cancelled", ["cancel"]),
    (rest_order("{cid}", "EXPIRED", executed="0.004", avg="65000.3"), "expired", ["partial", "cancel"]),
])
@pytest.mark.parametrize("error", [UNKNOWN, ExchangeTimeout(-1007, "timeout")])
async def test_an_undecided_cancel_is_resolved_by_a_status_query(
        impl: Implementation, answer: dict[str, Any], state: str, names: list[str], error: Exception) -> None:
    m, fake = make(impl, resolve_timeout=0.02)
    log = Log()
    order = await place(m, log)
    await m.on_order_update(ev(order, "NEW"))
    fake.script("cancel_order", error)
    fake.script("get_order", lambda **kw: {**answer, "clientOrderId": kw["client_order_id"]})
    assert await m.cancel_order(order.client_order_id) is True
    assert order.state == "cancelling"
    await until(lambda: order.state != "cancelling")
    assert order.state == state and log.names() == names
    assert len(fake.sent("get_order")) == 1
    await m.close()


async def test_a_timed_out_cancel_then_the_feed(impl: Implementation) -> None:
    m, fake = make(impl, resolve_timeout=0.02)
    log = Log()
    order = await place(m, log)
    await m.on_order_update(ev(order, "NEW"))
    fake.script("cancel_order", ExchangeTimeout(-1007, "timeout"))
    assert await m.cancel_order(order.client_order_id) is True
    await m.on_order_update(ev(order, "CANCELED"))
    assert order.state == "cancelled" and log.names() == ["cancel"]
    await asyncio.sleep(0.08)
    assert fake.sent("get_order") == []
    await m.close()


@pytest.mark.parametrize("acked", [True, False])
async def test_a_refused_cancel_returns_to_the_previous_state(impl: Implementation, acked: bool) -> None:
    m, fake = make(impl)
    log = Log()
    order = await place(m, log)
    if acked:
        await m.on_order_update(ev(order, "NEW"))
    before = order.state
    fake.script("cancel_order",
                ExchangeError(-1003, "Too many requests; please use the websocket for live updates."))
    assert await m.cancel_order(order.client_order_id) is False
    assert order.state == before and log.entries == []
    assert len(fake.sent("cancel_order")) == 1
    assert await m.cancel_order(order.client_order_id) is True  # a new cancel can go
    assert len(fake.sent("cancel_order")) == 2
    await m.close()


async def test_a_refused_cancel_of_an_order_acknowledged_meanwhile_is_active(impl: Implementation) -> None:
    m, fake = make(impl)
    order = await place(m)

    async def ack_then_refuse(**kw: Any) -> Any:
        await m.on_order_update(ev(order, "NEW"))
        raise ExchangeError(-1021, "Timestamp for this request is outside of the recvWindow.")

    fake.script("cancel_order", ack_then_refuse)
    assert await m.cancel_order(order.client_order_id) is False
    assert order.state == "active"
    await m.close()


async def test_partial_then_cancel(impl: Implementation) -> None:
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    log = Log()
    order = await place(m, log)
    await m.on_order_update(ev(order, "NEW"))
    await m.on_order_update(ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"))
    assert await m.cancel_order(order.client_order_id)
    await m.on_order_update(ev(order, "CANCELED", z="0.004", L="0"))
    assert (order.state, order.filled_qty, order.remaining_qty) == ("cancelled", 0.004, 0.006)
    assert log.names() == ["partial", "cancel"] and len(risk.fills) == 1
    await m.close()


# ── cancel_all_orders_for_symbol ──


async def test_cancel_all_orders_for_symbol(impl: Implementation) -> None:
    m, fake = make(impl)
    mine = [await place(m) for _ in range(3)]
    other_sub = await m.place_limit_order("sub2", "BTCUSDT", "SELL", "1", "70000")
    mine.append(other_sub)
    await m.on_order_update(ev(mine[0], "NEW"))
    cancelling = await place(m)
    assert await m.cancel_order(cancelling.client_order_id)
    done = await place(m)
    await m.on_order_update(ev(done, "FILLED", z="0.010"))
    eth = await m.place_limit_order("sub1", "ETHUSDT", "BUY", "1", "3000")
    n = len(mine)
    started: list[str] = []
    all_in = asyncio.Event()

    async def wait_for_all(**kw: Any) -> dict[str, Any]:
        started.append(kw["client_order_id"])
        if len(started) == n:
            all_in.set()
        await asyncio.wait_for(all_in.wait(), 2.0)  # only concurrent requests all get here
        return {"status": "CANCELED"}

    fake.script("cancel_order", *[wait_for_all] * n)
    before_calls = len(fake.calls)
    assert await m.cancel_all_orders_for_symbol("BTCUSDT") == n
    new_calls = fake.calls[before_calls:]
    assert {c[0] for c in new_calls} == {"cancel_order"}  # never an exchange-wide cancel-all
    assert sorted(c[1]["client_order_id"] for c in new_calls) == sorted(o.client_order_id for o in mine)
    assert all(c[1]["symbol"] == "BTCUSDT" for c in new_calls)
    assert all(o.state == "cancelling" for o in mine) and eth.state == "placing"
    assert m.stats()["unknown_outcomes"] == 0  # no request waited out its barrier
    assert await m.cancel_all_orders_for_symbol("BTCUSDT") == 0
    assert await m.cancel_all_orders_for_symbol("DOGEUSDT") == 0
    await m.close()


async def test_cancel_all_counts_requests_sent_even_when_refused(impl: Implementation) -> None:
    m, fake = make(impl)
    a, b = await place(m), await place(m)
    fake.script("cancel_order", ExchangeError(-1003, "Too many requests."), {"status": "CANCELED"})
    assert await m.cancel_all_orders_for_symbol("BTCUSDT") == 2
    assert sorted([a.state, b.state]) == ["cancelling", "placing"]
    await m.close()


# ── replace_order ──


async def _replace_setup(impl: Implementation, **kw: Any) -> tuple[Any, Any, Log, Any]:
    m, fake = make(impl, **kw)
    log = Log()
    old = await m.place_limit_order("subaccount-0001-long", "BTCUSDT", "SELL", "0.010", "65000.3",
                                    leverage=7, origin="CHASE", parent_id="chase-1", reduce_only=True,
                                    time_in_force="GTX", **log.hooks())
    await m.on_order_update(ev(old, "NEW"))
    return m, fake, log, old


@pytest.mark.parametrize("new_quantity", [None, "0.02", 0.003])
async def test_replace_places_the_new_order_after_the_cancel_is_confirmed(impl: Implementation,
                                                                           new_quantity: Any) -> None:
    m, fake, log, old = await _replace_setup(impl)
    await m.on_order_update(ev(old, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.3"))
    task = asyncio.ensure_future(m.replace_order(old.client_order_id, 65001.5, new_quantity))
    await settle()
    assert len(fake.sent("place_order")) == 1  # nothing new before the feed confirms the cancel
    assert old.state == "cancelling" and m.get_active_orders() == [old]
    await m.on_order_update(ev(old, "CANCELED", z="0.004"))
    new = await asyncio.wait_for(task, 2.0)
    assert new is not None and new is not old
    assert new.client_order_id != old.client_order_id
    assert new.client_order_id.startswith("PMSsubaccou_CHASE_")
    same = ("sub_account_id", "symbol", "side", "order_type", "reduce_only", "leverage", "origin",
            "parent_id", "time_in_force")
    assert {k: getattr(new, k) for k in same} == {k: getattr(old, k) for k in same}
    want = {None: 0.006, "0.02": 0.02, 0.003: 0.003}[new_quantity]
    assert (new.quantity, new.price, new.state, new.filled_qty) == (want, 65001.5, "placing", 0.0)
    sent = fake.sent("place_order")[-1]
    assert (sent["quantity"], sent["price"], sent["time_in_force"], sent["reduce_only"]) == (
        {None: "0.006", "0.02": "0.02", 0.003: "0.003"}[new_quantity], "65001.5", "GTX", True)
    assert old.state == "cancelled"
    assert log.names() == ["partial"]  # the replace's own cancel does not fire the old on_cancel
    assert m.get_active_orders() == [new] and m.get_orders_by_parent("chase-1") == [new]
    # the callbacks moved: the new order's events reach them
    await m.on_order_update(ev(new, "PARTIALLY_FILLED", l="0.001", z="0.001", L="65001.5"))
    await m.on_order_update(ev(new, "FILLED", l="0.001", z=sent["quantity"], L="65001.5"))
    assert [e[:2] for e in log.entries[1:]] == [("partial", new.client_order_id),
                                                ("fill", new.client_order_id)]
    # a late event for the old order can never touch the new one
    await m.on_order_update(ev(old, "FILLED", z="0.010"))
    assert new.filled_qty == want and m.stats()["replaces"] == 1
    await m.close()


async def test_late_fills_on_a_replaced_order_reach_the_moved_callbacks(impl: Implementation) -> None:
    # After the replace, the old order's hooks belong to the new one; a fill the exchange reports
    # for the old order afterwards is extra trading for the same intent: the algo must hear it.
    m, fake, log, old = await _replace_setup(impl)
    task = asyncio.ensure_future(m.replace_order(old.client_order_id, 65001.5))
    await settle()
    await m.on_order_update(ev(old, "CANCELED"))
    new = await asyncio.wait_for(task, 2.0)
    assert new is not None and log.entries == [] and len(fake.sent("place_order")) == 2
    await m.on_order_update(ev(old, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.3"))
    assert log.entries == [("partial", old.client_order_id, "cancelled", 0.004, 0.004)]
    await m.on_order_update(ev(old, "FILLED", l="0.006", z="0.010", L="65000.3"))
    assert log.entries[1] == ("fill", old.client_order_id, "filled", 0.010, 0.006)
    await m.on_order_update(ev(old, "FILLED", l="0.006", z="0.010", L="65000.3"))  # duplicate
    assert len(log.entries) == 2 and m.stats()["late_fills"] == 2
    await m.on_order_update(ev(old, "FILLED", l="0.001", z="0.011", L="65000.3"))  # above its size
    assert len(log.entries) == 2 and m.stats()["late_fills"] == 3  # counted; filled: nothing more runs
    assert new.state == "placing" and new.filled_qty == 0.0  # the new order is untouched
    await m.close()


async def test_replace_when_the_cancel_event_is_expired(impl: Implementation) -> None:
    m, fake, log, old = await _replace_setup(impl)
    task = asyncio.ensure_future(m.replace_order(old.client_order_id, "65000.1"))
    await settle()
    await m.on_order_update(ev(old, "EXPIRED"))
    new = await asyncio.wait_for(task, 2.0)
    assert new is not None and new.price == 65000.1 and new.quantity == 0.010
    assert log.entries == [] and len(fake.sent("place_order")) == 2
    await m.close()


@pytest.mark.parametrize("how", ["feed", "-2011 then feed", "feed then -2011"])
async def test_replace_when_the_fill_wins(impl: Implementation, how: str) -> None:
    m, fake, log, old = await _replace_setup(impl, resolve_timeout=0.02)
    fill = ev(old, "FILLED", l="0.010", z="0.010", L="65000.3")

    async def answer(**kw: Any) -> Any:
        if how == "feed then -2011":
            await m.on_order_update(fill)
        if how != "feed":
            raise UNKNOWN
        return {"status": "CANCELED"}

    fake.script("cancel_order", answer)
    task = asyncio.ensure_future(m.replace_order(old.client_order_id, 65001.5))
    await settle()
    if how != "feed then -2011":
        await m.on_order_update(fill)
    assert await asyncio.wait_for(task, 2.0) is None
    assert len(fake.sent("place_order")) == 1  # nothing placed
    assert old.state == "filled" and log.names() == ["fill"]
    assert m.get_active_orders() == []
    await m.close()


async def test_replace_when_the_cancel_is_rejected(impl: Implementation) -> None:
    m, fake, log, old = await _replace_setup(impl)
    fake.script("cancel_order", ExchangeError(-1003, "Too many requests."))
    assert await m.replace_order(old.client_order_id, 65001.5) is None
    assert len(fake.sent("place_order")) == 1 and old.state == "active"
    await m.on_order_update(ev(old, "FILLED", l="0.010", z="0.010", L="65000.3"))
    assert log.names() == ["fill"]  # the callbacks stayed with the old order
    await m.close()


async def test_replace_timeout_places_nothing_and_a_later_cancel_fires_on_cancel(
    impl: Implementation
) -> None:
    m, fake, log, old = await _replace_setup(impl, replace_timeout=0.05)
    assert await m.replace_order(old.client_order_id, 65001.5) is None
    assert len(fake.sent("place_order")) == 1 and old.state == "cancelling"
    assert m.stats()["replace_aborted"] == 1
    await m.on_order_update(ev(old, "CANCELED"))
    assert old.state == "cancelled"
    assert log.names() == ["cancel"]
    assert len(fake.sent("place_order")) == 1
    await m.close()


async def test_never_two_live_orders_for_one_intent(impl: Implementation) -> None:
    m, fake, log, old = await _replace_setup(impl)
    first = asyncio.ensure_future(m.replace_order(old.client_order_id, 65001.5))
    await settle()
    assert await m.replace_order(old.client_order_id, 65002) is None  # one replace at a time
    assert len(m.get_active_orders()) == 1 and len(fake.sent("cancel_order")) == 1
    await m.on_order_update(ev(old, "CANCELED"))
    new = await asyncio.wait_for(first, 2.0)
    assert m.get_active_orders() == [new]
    assert await m.replace_order(old.client_order_id, 65003) is None  # the old one is gone
    assert len(fake.sent("place_order")) == 2
    assert await m.replace_order("PMSsub1_LMT_nosuchorder000", 1) is None
    assert log.entries == []  # the replace's own cancel fired nothing
    await m.close()


@pytest.mark.parametrize("when", ["before the cancel is confirmed", "after it, before the new order"])
async def test_cancel_during_a_replace_ends_the_intent(impl: Implementation, when: str) -> None:
    # cancel_order on an order being replaced: its cancel is already in flight, so nothing more is
    # sent, but the replace must not put a fresh order on the book afterwards.
    m, fake, log, old = await _replace_setup(impl)
    first = asyncio.ensure_future(m.replace_order(old.client_order_id, 65001.5))
    await settle()
    if when.startswith("after"):
        await m.on_order_update(ev(old, "CANCELED"))
        assert await m.cancel_order(old.client_order_id) is True
    else:
        assert await m.cancel_order(old.client_order_id) is True
        await m.on_order_update(ev(old, "CANCELED"))
    assert await asyncio.wait_for(first, 2.0) is None
    assert len(fake.sent("cancel_order")) == 1 and len(fake.sent("place_order")) == 1
    assert m.get_active_orders() == [] and old.state == "cancelled"
    assert log.names() == ["cancel"]  # the intent ended: the old order's on_cancel, once
    await m.close()


@pytest.mark.parametrize(("price", "qty"), [(0, None), (-1, None), ("65000.123456789", None), (None, None),
                                            (65001, 0), (65001, "-1"), (65001, "0.0000000001")])
async def test_replace_validates_before_anything_is_sent(impl: Implementation, price: Any, qty: Any) -> None:
    m, fake, _log, old = await _replace_setup(impl)
    before, calls = old.to_dict(), len(fake.calls)
    with pytest.raises(ValueError):
        await m.replace_order(old.client_order_id, price, qty)
    assert old.to_dict() == before and len(fake.calls) == calls
    await m.close()


async def test_a_replacement_that_is_rejected_reaches_the_moved_on_cancel(impl: Implementation) -> None:
    m, fake, log, old = await _replace_setup(impl)
    fake.script("place_order", ExchangeError(-5022, "Post Only order will be rejected."))
    task = asyncio.ensure_future(m.replace_order(old.client_order_id, 65001.5))
    await settle()
    await m.on_order_update(ev(old, "CANCELED"))
    new = await asyncio.wait_for(task, 2.0)
    assert new.state == "rejected"
    assert [e[:3] for e in log.entries] == [("cancel", new.client_order_id, "rejected")]
    await m.close()


async def test_replace_of_a_market_order_ignores_the_price(impl: Implementation) -> None:
    m, fake = make(impl)
    old = await m.place_market_order("sub1", "BTCUSDT", "BUY", "0.5", origin="TWAP", parent_id="twap-9")
    task = asyncio.ensure_future(m.replace_order(old.client_order_id, None))
    await settle()
    await m.on_order_update(ev(old, "CANCELED", o="MARKET"))
    new = await asyncio.wait_for(task, 2.0)
    assert (new.order_type, new.price, new.quantity, new.origin, new.parent_id) == (
        "MARKET", None, 0.5, "TWAP", "twap-9")
    assert fake.sent("place_order")[-1]["price"] is None
    assert "_TWAP_" in new.client_order_id
    await m.close()


async def test_views_before_and_after_a_replace_stay_separate(impl: Implementation) -> None:
    m, _fake, _log, old = await _replace_setup(impl)
    task = asyncio.ensure_future(m.replace_order(old.client_order_id, 65001.5))
    await settle()
    await m.on_order_update(ev(old, "CANCELED"))
    new = await asyncio.wait_for(task, 2.0)
    snap = views([old, new])
    await m.on_order_update(ev(new, "NEW"))
    assert views([old])[0] == snap[0] and new.state == "active"
    await m.close()


@pytest.mark.parametrize("lost", ["timeout", "overtook the placement"])
async def test_a_lost_cancel_is_sent_again_when_the_query_finds_the_order_open(
    impl: Implementation, lost: str
) -> None:
    """The cancel timed out (or got -2011 because it reached the exchange before the order did),
    and the status query says the order is still open: without a second cancel it would stay
    "cancelling" for good, and cancel_order refuses a cancelling order."""
    m, fake = make(impl, resolve_timeout=0.02)
    log = Log()
    release = asyncio.Event()

    async def slow_place(**kw: Any) -> dict[str, Any]:
        await release.wait()
        return {"orderId": OID, "status": "NEW"}

    if lost == "timeout":
        order = await place(m, log)
        await m.on_order_update(ev(order, "NEW"))
        fake.script("cancel_order", ExchangeTimeout(-1007, "timeout"), {"status": "CANCELED"})
    else:
        fake.script("place_order", slow_place)
        task = asyncio.ensure_future(place(m, log))
        await until(lambda: len(fake.calls) == 1)
        order = m.get_order(fake.calls[0][1]["client_order_id"])
        fake.script("cancel_order", UNKNOWN, {"status": "CANCELED"})
    fake.script("get_order", lambda **kw: rest_order(kw["client_order_id"], "NEW"))
    assert await m.cancel_order(order.client_order_id) is True
    if lost != "timeout":
        release.set()
        await task
    await until(lambda: len(fake.sent("cancel_order")) == 2)
    assert len(fake.sent("cancel_order")) == 2 and order.state == "cancelling"
    assert m.stats()["cancel_resends"] == 1
    await m.on_order_update(ev(order, "CANCELED"))
    assert order.state == "cancelled" and log.names() == ["cancel"]
    await asyncio.sleep(0.06)
    assert len(fake.sent("cancel_order")) == 2
    await m.close()
