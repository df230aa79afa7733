"""OrderManager: the feed rules (decoding and the transition function), on both cores and all four
input forms of ``on_order_update`` (raw bytes, str, the parsed raw dict, the spec's mapped dict),
plus replays of the real captured messages in tests/data/ws/ with our client order ids swapped in
for ``c``.

Placement, cancel, replace and status queries: test_manager_rest.py; callbacks:
test_manager_callbacks.py; ids, queries, retention, reconcile: test_manager_queries.py.
"""

from __future__ import annotations

import json
import logging
from decimal import Decimal
from typing import Any

import pytest

from .. import _data
from ..conftest import Implementation
from ._manager_util import (
    FORMS,
    OID,
    Log,
    Risk,
    load_jsonl,
    make,
    otu,
    render,
    swap,
    views,
)


@pytest.fixture(params=FORMS)
def form(request: pytest.FixtureRequest) -> str:
    return str(request.param)


async def place(m: Any, log: Log | None = None, *, qty: str = "0.010", price: str = "65000.3",
                **kw: Any) -> Any:
    hooks = log.hooks() if log is not None else {}
    hooks.update(kw)
    return await m.place_limit_order("sub1", "BTCUSDT", "BUY", qty, price, **hooks)


def ev(order: Any, status: str, **kw: Any) -> dict[str, Any]:
    kw.setdefault("i", order.exchange_order_id if order.exchange_order_id is not None else OID)
    return otu(order.client_order_id, status, **kw)


async def send(m: Any, msg: Any, form: str) -> None:
    await m.on_order_update(render(msg, form))


# ── NEW, PARTIALLY_FILLED, FILLED ──


async def test_new_activates_and_a_duplicate_new_changes_nothing(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    assert order.state == "placing"
    await send(m, ev(order, "NEW"), form)
    assert order.state == "active"
    before = order.to_dict()
    stale = m.stats()["stale"]
    await send(m, ev(order, "NEW"), form)
    assert order.to_dict() == before
    assert m.stats()["stale"] == stale + 1
    assert log.entries == []
    await m.close()


async def test_partial_fills_fire_on_partial_once_per_increase(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "NEW"), form)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1", ap="65000.1"), form)
    assert (order.state, order.filled_qty, order.last_fill_qty, order.last_fill_price) == (
        "active", 0.004, 0.004, 65000.1)
    assert order.avg_price == 65000.1
    # A repeat and an older event (smaller z) are stale: nothing changes, no callback.
    before = order.to_dict()
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1", ap="65000.1"), form)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.003", z="0.003", L="65000.0", ap="65000.0"), form)
    assert order.to_dict() == before
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.003", z="0.007", L="65000.2", ap="65000.14285714"), form)
    assert (order.filled_qty, order.last_fill_qty, order.last_fill_price) == (0.007, 0.003, 65000.2)
    assert order.avg_price == 65000.14285714
    assert log.entries == [("partial", order.client_order_id, "active", 0.004, 0.004),
                           ("partial", order.client_order_id, "active", 0.007, 0.003)]
    await send(m, ev(order, "FILLED", l="0.003", z="0.010", L="65000.3", ap="65000.19"), form)
    await send(m, ev(order, "FILLED", l="0.003", z="0.010", L="65000.3", ap="65000.19"), form)  # duplicate
    assert (order.state, order.filled_qty, order.last_fill_qty) == ("filled", 0.010, 0.003)
    assert log.names() == ["partial", "partial", "fill"]
    assert m.stats()["fills"] == 3
    assert m.get_active_orders() == []
    await m.close()


async def test_a_partial_fill_before_new_activates(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.002", z="0.002", L="65000.3"), form)
    assert (order.state, order.filled_qty) == ("active", 0.002)
    await send(m, ev(order, "NEW"), form)  # late NEW: nothing
    assert (order.state, order.filled_qty) == ("active", 0.002)
    assert log.names() == ["partial"]
    await m.close()


async def test_a_partial_fill_keeps_a_cancelling_order_cancelling(impl: Implementation, form: str) -> None:
    m, fake = make(impl)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "NEW"), form)
    assert await m.cancel_order(order.client_order_id) is True
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.3"), form)
    assert (order.state, order.filled_qty) == ("cancelling", 0.004)
    await send(m, ev(order, "CANCELED", z="0.004", L="0"), form)
    assert (order.state, order.filled_qty) == ("cancelled", 0.004)
    assert log.names() == ["partial", "cancel"]
    assert len(fake.sent("cancel_order")) == 1
    await m.close()


async def test_filled_straight_from_placing_fires_on_fill_exactly_once(
    impl: Implementation, form: str
) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "FILLED", l="0.010", z="0.010", L="65000.3", ap="65000.3"), form)
    await send(m, ev(order, "FILLED", l="0.010", z="0.010", L="65000.3", ap="65000.3"), form)
    await send(m, ev(order, "NEW"), form)
    await send(m, ev(order, "CANCELED", z="0.010"), form)
    assert (order.state, order.filled_qty, order.avg_price) == ("filled", 0.010, 65000.3)
    assert log.entries == [("fill", order.client_order_id, "filled", 0.010, 0.010)]
    await m.close()


async def test_the_specs_mapped_example(impl: Implementation) -> None:
    """The mapped dict exactly as the spec documents it."""
    m, _ = make(impl)
    log = Log()
    order = await m.place_market_order("sub1", "BTCUSDT", "BUY", 0.001, **log.hooks())
    data = {
        "symbol": "BTCUSDT", "client_order_id": order.client_order_id, "order_id": "123456", "side": "BUY",
        "order_type": "MARKET", "order_status": "NEW", "price": "65000.00", "orig_qty": "0.001",
        "last_filled_qty": "0", "last_filled_price": "0", "commission": "0", "commission_asset": "USDT",
        "order_trade_time": 1740547200000, "accumulated_filled_qty": "0", "avg_price": "0",
    }
    await m.on_order_update(data)
    assert order.state == "active"
    data.update(order_status="FILLED", last_filled_qty="0.001", last_filled_price="65001.50",
                accumulated_filled_qty="0.001", avg_price="65001.50", commission="0.01")
    await m.on_order_update(data)
    assert (order.state, order.filled_qty, order.avg_price, order.last_fill_price) == (
        "filled", 0.001, 65001.5, 65001.5)
    assert log.names() == ["fill"]
    await m.close()


# ── CANCELED / EXPIRED / EXPIRED_IN_MATCH / REJECTED ──


@pytest.mark.parametrize(("status", "state"), [("CANCELED", "cancelled"), ("EXPIRED", "expired"),
                                               ("EXPIRED_IN_MATCH", "expired"), ("REJECTED", "rejected")])
async def test_closing_statuses_fire_on_cancel_once(
    impl: Implementation, form: str, status: str, state: str
) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "NEW"), form)
    await send(m, ev(order, status, x="EXPIRED" if status.startswith("EXPIRED") else status), form)
    assert order.state == state
    assert order.is_terminal and not order.is_live
    for again in ("NEW", status, "CANCELED", "PARTIALLY_FILLED"):
        await send(m, ev(order, again), form)  # z = 0: no money, nothing changes
    assert order.state == state
    assert log.entries == [("cancel", order.client_order_id, state, 0.0, 0.0)]
    assert m.get_active_orders() == [] and m.get_order(order.client_order_id) is order
    await m.close()


async def test_rejected_from_the_feed_while_placing(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "REJECTED"), form)
    assert order.state == "rejected"
    assert log.names() == ["cancel"]
    await m.close()


async def test_a_fill_carried_by_the_cancel_event_is_applied_first(impl: Implementation, form: str) -> None:
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "NEW"), form)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.002", z="0.002", L="65000.0", ap="65000.0"), form)
    await m.cancel_order(order.client_order_id)
    # The cancel event reports more filled (z) than we knew: that fill is applied, then the close.
    await send(m, ev(order, "CANCELED", x="CANCELED", l="0", z="0.005", L="0", ap="65000.2"), form)
    assert (order.state, order.filled_qty, order.last_fill_qty, order.avg_price) == (
        "cancelled", 0.005, 0.003, 65000.2)
    assert log.names() == ["partial", "partial", "cancel"]
    assert log.entries[1][3:] == (0.005, 0.003)
    assert [f[1] for f in risk.fills] == [0.002, 0.003]
    await m.close()


# ── money is never dropped: late fills ──


async def test_a_late_fill_after_a_cancel_is_applied_and_counted(
    impl: Implementation, form: str, caplog: Any
) -> None:
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "NEW"), form)
    await send(m, ev(order, "CANCELED"), form)
    assert order.state == "cancelled"
    with caplog.at_level(logging.WARNING, logger="trading_engine_python.orders"):
        await send(m, ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1", ap="65000.1"), form)
    assert (order.state, order.filled_qty, order.last_fill_qty) == ("cancelled", 0.004, 0.004)
    assert m.stats()["late_fills"] == 1
    assert any("late fill" in r.getMessage() for r in caplog.records)
    assert risk.fills == [(order.client_order_id, 0.004, 65000.1, 0.004, "cancelled")]
    assert log.names() == ["cancel"]  # no on_partial for a closed order
    assert m.get_active_orders() == []  # a terminal state never goes back
    await m.close()


async def test_a_late_fill_that_completes_the_order_makes_it_filled(impl: Implementation, form: str) -> None:
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "NEW"), form)
    await send(m, ev(order, "EXPIRED", x="EXPIRED"), form)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"), form)
    await send(m, ev(order, "FILLED", l="0.006", z="0.010", L="65000.3", ap="65000.22"), form)
    await send(m, ev(order, "FILLED", l="0.006", z="0.010", L="65000.3", ap="65000.22"), form)  # duplicate
    assert (order.state, order.filled_qty, order.last_fill_qty, order.avg_price) == (
        "filled", 0.010, 0.006, 65000.22)
    assert log.names() == ["cancel", "fill"]
    assert log.entries[1][2] == "filled"
    assert m.stats()["late_fills"] == 2
    assert [f[1] for f in risk.fills] == [0.004, 0.006]
    await m.close()


# ── unknown statuses, unknown ids ──


async def test_an_unknown_status_changes_no_state(impl: Implementation, form: str, caplog: Any) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    before = order.to_dict()
    with caplog.at_level(logging.WARNING, logger="trading_engine_python.orders"):
        await send(m, ev(order, "NEW_INSURANCE", x="CALCULATED"), form)
    assert order.to_dict() == before  # still placing
    assert m.stats()["unknown_status"] == 1
    assert any("unknown order status" in r.getMessage() for r in caplog.records)
    await send(m, ev(order, "NEW"), form)
    await send(m, ev(order, "TRIGGERED", x="AMENDMENT"), form)
    assert order.state == "active"
    assert m.stats()["unknown_status"] == 2
    assert log.entries == []
    await m.close()


async def test_a_fill_carried_by_an_unknown_status_is_applied(impl: Implementation, form: str) -> None:
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "NEW"), form)
    await send(m, ev(order, "NEW_ADL", x="CALCULATED", l="0.004", z="0.004", L="65000.1"), form)
    assert (order.state, order.filled_qty, order.last_fill_qty) == ("active", 0.004, 0.004)
    assert log.names() == ["partial"]
    await send(m, ev(order, "NEW_ADL", x="CALCULATED", l="0.006", z="0.010", L="65000.1"), form)
    assert (order.state, order.filled_qty) == ("filled", 0.010)
    assert log.names() == ["partial", "fill"]
    assert [f[1] for f in risk.fills] == [0.004, 0.006]
    assert m.stats()["unknown_status"] == 2
    await m.close()


async def test_events_for_unknown_client_ids_are_counted_and_ignored(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.001", z="0.001", L="1"), form)
    before = order.to_dict()
    strangers = ["web_w4Sot5R1ym9ChzWfGdAm", "adl_autoclose", "autoclose-1617971759717",
                 order.client_order_id + "x", order.client_order_id[:-1], "P" * 37, "Ω" * 30, ""]
    for cid in strangers:
        await send(m, otu(cid, "FILLED", l="0.010", z="0.010", L="65000.3"), form)
    assert m.stats()["unknown_ids"] == len(strangers)
    assert order.to_dict() == before
    assert log.names() == ["partial"]
    await m.close()


# ── malformed input: counted, never raises, no order changes ──


def _frame_text(cid: str, **kw: Any) -> str:
    return json.dumps(otu(cid, "FILLED", l="0.010", z="0.010", L="65000.3", ap="65000.3", **kw),
                      separators=(",", ":"))


def _bad_texts(cid: str) -> list[str]:
    """JSON texts that must each be refused whole (every one names a tracked order)."""
    good = _frame_text(cid)
    texts = [
        "", " ", "not json", "{", "}", "[]", "null", "123", '"ORDER_TRADE_UPDATE"', "NaN", "[[[[[[[[[[",
        good[: len(good) // 2],  # truncated
        good[:-1],
        good + "x",
        good.replace('"e":"ORDER_TRADE_UPDATE",', ""),  # no event type
        good.replace('"e":"ORDER_TRADE_UPDATE"', '"e":null'),
        good.replace('"e":"ORDER_TRADE_UPDATE"', '"e":5'),
        good.replace('"E":1704459987709', '"E":"1704459987709"'),
        good.replace('"E":1704459987709', '"E":-1'),
        good.replace('"E":1704459987709', '"E":true'),
        json.dumps({"e": "ORDER_TRADE_UPDATE", "E": 1}),  # no "o"
        json.dumps({"e": "ORDER_TRADE_UPDATE", "o": []}),
        json.dumps({"e": "ORDER_TRADE_UPDATE", "o": "x"}),
        json.dumps({"e": "ORDER_TRADE_UPDATE", "o": {}}),
        json.dumps({"e": "ORDER_TRADE_UPDATE", "o": {"c": cid}}),  # no status
        json.dumps({"e": "ORDER_TRADE_UPDATE", "o": {"X": "FILLED", "z": "0.010"}}),  # no id
        # a trailing-garbage frame and a second document
        good + good,
    ]
    for key, bad in [("c", "123"), ("c", "null"), ("c", "[]"), ("X", "null"), ("X", "3"), ("X", "{}"),
                     ("i", "-1"), ("i", "1.5"), ("i", '"8389765739703625592"'), ("i", str(2**63)),
                     ("i", str(2**64 + 1)), ("i", "true"), ("T", '"x"'), ("t", "-5"),
                     ("z", '"0.0100000001"'), ("z", '"1e-2"'), ("z", '"-0.010"'), ("z", "0.01"), ("z", '""'),
                     ("z", '" 0.010"'), ("z", '"0.010 "'), ("z", '"0,010"'), ("z", '"99999999999999999999"'),
                     ("z", '".5"'), ("z", '"5."'), ("z", '"０.010"'), ("z", "null1"), ("l", '"abc"'),
                     ("L", '"65000.300000001"'), ("L", "true"), ("ap", '"x"'), ("ap", "65000"),
                     ("q", '"0.0100000001"'), ("p", '"65000.123456789"'), ("p", '"inf"')]:
        old = {"c": f'"{cid}"', "X": '"FILLED"', "i": str(OID), "T": "1704459987707", "t": "0",
               "z": '"0.010"', "l": '"0.010"', "L": '"65000.3"', "ap": '"65000.3"', "q": '"0.010"',
               "p": '"65000.3"'}[key]
        needle = f'"{key}":{old}'
        head, tail = good.split('"o":', 1)  # the envelope has a "T" of its own: change the order's
        assert needle in tail, needle
        texts.append(head + '"o":' + tail.replace(needle, f'"{key}":{bad}', 1))
    # duplicate keys: the last one wins, and here the last one is bad
    texts.append(good.replace('"z":"0.010"', '"z":"0.010","z":"bad"', 1))
    return texts


def _bad_dicts(cid: str) -> list[Any]:
    """Python values no JSON text gives, for the dict paths (and non-dicts)."""
    frame = json.loads(_frame_text(cid))

    def with_o(**kw: Any) -> dict[str, Any]:
        msg = json.loads(json.dumps(frame))
        msg["o"].update(kw)
        return msg

    return [
        None, 5, 1.5, ["e"], ("e", "o"), object(), set(),
        with_o(z=Decimal("0.010")), with_o(z=0.01), with_o(z=b"0.010"), with_o(i=1.5e19), with_o(i=True),
        with_o(i=-(2**70)), with_o(i=2**80), with_o(c=b"PMS"), with_o(X=("FILLED",)), with_o(l=None, L=7),
        {**frame, "o": None}, {**frame, "E": 1.0}, {**frame, "e": b"ORDER_TRADE_UPDATE"},
        {"o": frame["o"]},
    ]


def _bad_mapped(cid: str) -> list[dict[str, Any]]:
    base = {"client_order_id": cid, "order_status": "FILLED", "accumulated_filled_qty": "0.010",
            "last_filled_qty": "0.010", "last_filled_price": "65000.3", "avg_price": "65000.3"}
    return [
        {}, {"order_status": "FILLED"}, {"client_order_id": cid},
        {**base, "client_order_id": None}, {**base, "client_order_id": 42}, {**base, "order_status": None},
        {**base, "order_status": 3}, {**base, "accumulated_filled_qty": "0.0100000001"},
        {**base, "accumulated_filled_qty": "abc"}, {**base, "accumulated_filled_qty": "-0.010"},
        {**base, "accumulated_filled_qty": -1}, {**base, "accumulated_filled_qty": True},
        {**base, "accumulated_filled_qty": float("nan")}, {**base, "accumulated_filled_qty": float("inf")},
        {**base, "accumulated_filled_qty": Decimal("NaN")},
        {**base, "accumulated_filled_qty": Decimal("sNaN")},
        {**base, "accumulated_filled_qty": 1e300}, {**base, "accumulated_filled_qty": [1]},
        {**base, "accumulated_filled_qty": 10**5000},
        {**base, "accumulated_filled_qty": Decimal("1e999999999")},
        {**base, "accumulated_filled_qty": Decimal("1e-999999999")}, {**base, "order_id": 10**5000},
        {**base, "last_filled_price": "1e5"}, {**base, "avg_price": {}}, {**base, "order_id": "-5"},
        {**base, "order_id": 1.5}, {**base, "order_id": "12a"}, {**base, "order_id": "9" * 5000},
        {**base, "order_id": str(2**63)}, {**base, "event_time": "9" * 5000}, {**base, "event_time": "x"},
        {**base, "trade_id": "٣"}, {**base, "order_trade_time": -3},
    ]


def bad_inputs(cid: str, form: str) -> list[Any]:
    texts = _bad_texts(cid)
    if form == "bytes":
        frame = _frame_text(cid)
        return [t.encode() for t in texts] + [
            b"\xff\xfe\x00", b"\x00" * 16, frame.encode()[:-3] + b"\xff}}",
            frame.replace(cid, "\udc80").encode("utf-8", "surrogatepass"),  # not UTF-8
        ]
    if form == "str":
        lone = _frame_text(cid).replace("ORDER_TRADE_UPDATE", "ORDER_TRADE_UPDATE\ud800")
        return [*texts, '"\ud800"', lone]
    parsed = []
    for t in texts:
        try:
            parsed.append(json.loads(t))
        except ValueError:
            continue
    if form == "raw_dict":
        return parsed + _bad_dicts(cid)
    return _bad_mapped(cid) + [p for p in parsed if not isinstance(p, dict)]


async def test_malformed_inputs_are_counted_and_change_nothing(
    impl: Implementation, form: str, caplog: Any
) -> None:
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    log = Log()
    placing = await place(m, log)
    active = await place(m, log)
    await send(m, ev(active, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"), form)
    orders = [placing, active]
    before = views(orders)
    stats = m.stats()
    callbacks, fills = len(log.entries), len(risk.fills)
    n = 0
    with caplog.at_level(logging.WARNING, logger="trading_engine_python.orders"):
        for order in orders:
            for bad in bad_inputs(order.client_order_id, form):
                await m.on_order_update(bad)  # never raises
                n += 1
                assert views(orders) == before, bad
    after = m.stats()
    assert after["malformed"] - stats["malformed"] == n
    for key in ("fills", "stale", "unknown_ids", "unknown_status", "other_events", "late_fills", "terminal"):
        assert after[key] == stats[key], key
    assert len(log.entries) == callbacks and len(risk.fills) == fills
    assert any("malformed" in r.getMessage() for r in caplog.records)
    # ... and the orders still follow good events afterwards.
    await send(m, ev(placing, "NEW"), form)
    assert placing.state == "active"
    await m.close()


async def test_a_storm_of_malformed_frames_is_not_logged_one_by_one(
    impl: Implementation, caplog: Any
) -> None:
    m, _ = make(impl)
    with caplog.at_level(logging.WARNING, logger="trading_engine_python.orders"):
        for _ in range(500):
            await m.on_order_update(b"{garbage")
    assert m.stats()["malformed"] == 500
    assert 1 <= sum("malformed" in r.getMessage() for r in caplog.records) < 100
    await m.close()


def _other_events() -> list[str]:
    lines = [*load_jsonl("account_update_real_nautilus_bnfcr.json"),
             *load_jsonl("account_update_real_unicornfy_chzusdt_2021.json"),
             *load_jsonl("account_config_update_real_unicornfy_2021.jsonl"),
             *load_jsonl("trade_lite_real_nautilus_ethusdt_2024.json")]
    lines.append(_data.read_bytes("docs-examples/ws_listen_key_expired.json").decode())
    return lines


async def test_other_event_types_are_counted_and_ignored(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    events = _other_events()
    # A TRADE_LITE for our own order is still not an ORDER_TRADE_UPDATE.
    cid = order.client_order_id
    events.append(json.dumps({"e": "TRADE_LITE", "E": 1, "T": 1, "s": "BTCUSDT", "q": "0.010", "p": "65000.3",
                              "m": False, "c": cid, "S": "BUY", "L": "65000.3", "l": "0.010", "t": 1,
                              "i": OID}))
    events.append(json.dumps({"e": "ORDER_TRADE_UPDATE_V2", "o": {"c": cid, "X": "FILLED"}}))
    events.append(json.dumps({"e": "order_trade_update", "o": {"c": cid, "X": "FILLED"}}))
    before = order.to_dict()
    for text in events:
        await m.on_order_update(render(text, "raw_dict" if form == "mapped" else form))
    assert m.stats()["other_events"] == len(events)
    assert m.stats()["malformed"] == 0
    assert order.to_dict() == before and log.entries == []
    await m.close()


# ── the decoder's tolerance: key order, unknown keys, repeated keys ──


async def test_any_key_order_and_unknown_keys(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    msg = ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1", ap="65000.1")
    msg["o"] = dict(reversed(list(msg["o"].items())))
    msg["o"]["zz_future"] = {"nested": [1, 2, {"X": "FILLED"}], "z": "9"}
    msg["o"]["er"] = "0"
    msg["o"]["st"] = "OTOCO"
    msg = {"o": msg["o"], "fs": "UM", "E": msg["E"], "T": msg["T"], "e": msg["e"]}
    await send(m, msg, form)
    assert (order.state, order.filled_qty) == ("active", 0.004)
    assert log.names() == ["partial"]
    await m.close()


@pytest.mark.parametrize("text_form", ["bytes", "str"])
async def test_a_repeated_key_takes_the_last_value(impl: Implementation, text_form: str) -> None:
    m, _ = make(impl)
    log = Log()
    order = await place(m, log)
    text = json.dumps(ev(order, "NEW"), separators=(",", ":"))
    text = text.replace('"X":"NEW"', '"X":"NEW","X":"PARTIALLY_FILLED"').replace(
        '"z":"0"', '"z":"0.001","z":"0.003"').replace('"L":"0"', '"L":"1","L":"65000.2"')
    text = text.replace('"e":"ORDER_TRADE_UPDATE"', '"e":"ACCOUNT_UPDATE","e":"ORDER_TRADE_UPDATE"')
    await m.on_order_update(render(text, text_form))
    assert (order.state, order.filled_qty, order.last_fill_price) == ("active", 0.003, 65000.2)
    assert json.loads(text)["o"]["z"] == "0.003"  # as the stdlib does
    await m.close()


async def test_only_the_average_price_is_rounded_to_8_places(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    order = await place(m)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.0040000000", z="0.00400000000", L="65000.10000000000",
                     ap="65000.123456785"), form)  # extra zeros are exact; ap rounds half-even
    assert (order.filled_qty, order.last_fill_price, order.avg_price) == (0.004, 65000.1, 65000.12345678)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.001", z="0.005", L="65000.1",
                     ap="65000.123456775000001"), form)
    assert order.avg_price == 65000.12345678
    await m.close()


async def test_exchange_order_id_from_the_feed_is_exact(impl: Implementation, form: str) -> None:
    m, fake = make(impl)
    fake.script("place_order", {"clientOrderId": "x", "status": "NEW"})  # a reply without orderId
    order = await place(m)
    assert order.exchange_order_id is None
    big = 2**63 - 1
    await send(m, ev(order, "NEW", i=big), form)
    assert order.exchange_order_id == big and isinstance(order.exchange_order_id, int)
    assert m.get_order_by_exchange_id(big) is order
    await send(m, ev(order, "PARTIALLY_FILLED", i=big - 1, l="0.001", z="0.001", L="1"), form)
    assert order.exchange_order_id == big  # the first report wins
    await m.close()


async def test_float_views_are_the_nearest_double(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    order = await m.place_limit_order("sub1", "BTCUSDT", "SELL", "0.3", "65000.3")
    assert (order.price, order.quantity) == (65000.3, 0.3)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.1", z="0.1", L="0.7", ap="0.7"), form)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.2", z="0.3", L="92233720368.54775807",
                     ap="92233720368.54775807"), form)
    assert order.filled_qty == 0.3 and order.last_fill_qty == 0.2
    assert order.avg_price == float(Decimal("92233720368.54775807"))
    assert order.state == "filled"  # z reached the quantity
    await m.close()


# ── the risk hook ──


async def test_the_risk_hook_sees_every_fill_increase(impl: Implementation, form: str) -> None:
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    order = await place(m)  # no callbacks at all: the risk hook alone must still see the fills
    await send(m, ev(order, "NEW"), form)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"), form)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"), form)
    await send(m, ev(order, "FILLED", l="0.006", z="0.010", L="65000.5"), form)
    cid = order.client_order_id
    assert risk.fills == [(cid, 0.004, 65000.1, 0.004, "active"), (cid, 0.006, 65000.5, 0.010, "filled")]
    await m.close()


async def test_a_risk_engine_attached_later_is_used(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    order = await place(m)
    await send(m, ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"), form)
    risk = Risk()
    m.risk_engine = risk
    await send(m, ev(order, "FILLED", l="0.006", z="0.010", L="65000.5"), form)
    assert risk.fills == [(order.client_order_id, 0.006, 65000.5, 0.010, "filled")]
    await m.close()


async def test_a_failing_risk_hook_is_counted_and_the_rest_goes_on(
    impl: Implementation, form: str, caplog: Any
) -> None:
    risk = Risk(raises=True)
    m, _ = make(impl, risk_engine=risk)
    log = Log()
    order = await place(m, log)
    with caplog.at_level(logging.ERROR, logger="trading_engine_python.orders"):
        await send(m, ev(order, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1"), form)
        await send(m, ev(order, "FILLED", l="0.006", z="0.010", L="65000.5"), form)
    assert order.state == "filled"
    assert log.names() == ["partial", "fill"]
    assert len(risk.fills) == 2
    assert m.stats()["risk_errors"] == 2
    await m.close()


# ── all forms give identical outcomes ──


async def test_every_form_gives_identical_outcomes(impl: Implementation) -> None:
    results = []
    for form in FORMS:
        risk = Risk()
        m, _ = make(impl, risk_engine=risk)
        log = Log()
        a = await place(m, log)
        b = await m.place_market_order("sub2", "ETHUSDT", "SELL", "1.5", **log.hooks())
        c = await place(m, log, qty="0.5")
        names = {a.client_order_id: "a", b.client_order_id: "b", c.client_order_id: "c"}
        seq = [ev(a, "NEW"), ev(b, "NEW", s="ETHUSDT", o="MARKET"),
               ev(a, "PARTIALLY_FILLED", l="0.004", z="0.004", L="65000.1", ap="65000.1"),
               ev(b, "PARTIALLY_FILLED", l="0.5", z="0.5", L="3000.01"),
               ev(a, "PARTIALLY_FILLED", l="0.001", z="0.001", L="65000.1"),
               ev(c, "EXPIRED_IN_MATCH"), ev(c, "FILLED", l="0.5", z="0.5", L="65000"),
               ev(b, "EXPIRED", l="0.2", z="0.7", L="3000.02", ap="3000.0157"),
               ev(a, "NEW_INSURANCE", l="0.001", z="0.005", L="65000.4"),
               ev(a, "FILLED", l="0.005", z="0.010", L="65000.5"), otu("web_nobody", "NEW")]
        for msg in seq:
            await send(m, msg, form)
        for bad in bad_inputs(a.client_order_id, form)[:10]:
            await m.on_order_update(bad)
        outcome = {
            "orders": [{**o.to_dict(), "client_order_id": names[o.client_order_id]} for o in (a, b, c)],
            "log": [(e[0], names[e[1]], *e[2:]) for e in log.entries],
            "risk": [(names[f[0]], *f[1:]) for f in risk.fills],
            "stats": {k: v for k, v in m.stats().items() if k != "malformed"},
        }
        results.append(outcome)
        await m.close()
    for other in results[1:]:
        assert other == results[0]
    assert (results[0]["orders"][0]["state"], results[0]["orders"][0]["filled_qty"]) == ("filled", 0.010)
    assert results[0]["orders"][1]["filled_qty"] == 0.7  # the fill on the EXPIRED event is kept
    assert results[0]["orders"][2]["state"] == "filled"  # late fill completing an expired order


# ── replays of real captured messages ──


async def test_replay_moxt_limit_new_then_canceled(impl: Implementation, form: str) -> None:
    """f0cii/moxt BTCUSDT hedge-mode LIMIT GTC: NEW, then (our cancel) CANCELED."""
    m, fake = make(impl)
    fake.script("place_order", {"orderId": 238950797096, "status": "NEW"})
    log = Log()
    order = await m.place_limit_order("sub1", "BTCUSDT", "BUY", "0.010", "20000", **log.hooks())
    new, canceled = (swap(t, {"web_w4Sot5R1ym9ChzWfGdAm": order.client_order_id})
                     for t in load_jsonl("otu_real_moxt_btcusdt_limit_new_then_canceled.jsonl"))
    await m.on_order_update(render(new, form))
    assert order.state == "active" and order.exchange_order_id == 238950797096
    assert await m.cancel_order(order.client_order_id)
    assert order.state == "cancelling"
    await m.on_order_update(render(canceled, form))
    assert (order.state, order.filled_qty) == ("cancelled", 0.0)
    assert log.entries == [("cancel", order.client_order_id, "cancelled", 0.0, 0.0)]
    assert fake.sent("cancel_order") == [{"symbol": "BTCUSDT", "client_order_id": order.client_order_id}]
    await m.close()


async def test_replay_unicornfy_pretty_printed_new(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    order = await m.place_limit_order("sub1", "SANDUSDT", "BUY", "1000", "0.63428")
    (text,) = load_jsonl("otu_real_unicornfy_sandusdt_limit_new_2021.json")
    text = swap(text, {"electron_6LyJZ9KPgmRbhKfFamx3": order.client_order_id})
    await m.on_order_update(render(text, form))
    assert order.state == "active" and order.price == 0.63428
    assert m.stats()["malformed"] == 0
    await m.close()


async def test_replay_defi_xrpusdt_two_trade_fill(impl: Implementation, form: str) -> None:
    """Slavian2015/Defi XRPUSDT: the triggered order's NEW, then PARTIALLY_FILLED l=8.7 z=8.7, then
    FILLED l=13.5 z=22.2, each trade after an ACCOUNT_UPDATE (all sharing T and E)."""
    risk = Risk()
    m, fake = make(impl, risk_engine=risk)
    fake.script("place_order", {"orderId": 15384883176, "status": "NEW"})
    log = Log()
    order = await m.place_market_order("sub1", "XRPUSDT", "SELL", "22.2", reduce_only=True, **log.hooks())
    lines = load_jsonl("seq_real_defi_xrpusdt_market_then_stop_partial_fills_2021.jsonl")[6:11]
    for text in lines:
        await m.on_order_update(render(swap(text, {"web_KQFVXIJXTeG6I9RUDmTo": order.client_order_id}), form))
        if '"PARTIALLY_FILLED"' in text:
            assert (order.state, order.filled_qty, order.last_fill_qty, order.last_fill_price) == (
                "active", 8.7, 8.7, 0.6716)
    cid = order.client_order_id
    assert (order.state, order.filled_qty, order.last_fill_qty, order.avg_price) == (
        "filled", 22.2, 13.5, 0.6716)
    assert log.entries == [("partial", cid, "active", 8.7, 8.7), ("fill", cid, "filled", 22.2, 13.5)]
    assert [(f[1], f[2]) for f in risk.fills] == [(8.7, 0.6716), (13.5, 0.6716)]
    assert m.stats()["other_events"] == 2
    await m.close()


async def test_replay_defi_xrpusdt_whole_sequence(impl: Implementation, form: str) -> None:
    """The whole capture: a MARKET fill, two close-position orders, the stop's EXPIRED then NEW with
    the same id, its two trades, the sibling's EXPIRED. With our ids on all three orders the rules
    say: the EXPIRED closes the stop (a terminal state never goes back, so the NEW changes nothing),
    and its two trades are late fills, applied, the second completing it."""
    risk = Risk()
    m, _ = make(impl, risk_engine=risk)
    log = Log()
    entry = await m.place_market_order("sub1", "XRPUSDT", "BUY", "22.2", **log.hooks("entry_"))
    tp = await m.place_limit_order("sub1", "XRPUSDT", "SELL", "22.2", "0.6760", reduce_only=True,
                                   **log.hooks("tp_"))
    sl = await m.place_market_order("sub1", "XRPUSDT", "SELL", "22.2", reduce_only=True, **log.hooks("sl_"))
    ids = {"web_0Prp0GPBF3qmNbYihBgn": entry.client_order_id, "web_ihuNZxkJQ2a1yMFrYQDI": tp.client_order_id,
           "web_KQFVXIJXTeG6I9RUDmTo": sl.client_order_id}
    for text in load_jsonl("seq_real_defi_xrpusdt_market_then_stop_partial_fills_2021.jsonl"):
        await m.on_order_update(render(swap(text, ids), form))
    assert (entry.state, entry.filled_qty, entry.avg_price) == ("filled", 22.2, 0.6738)
    assert (tp.state, tp.filled_qty) == ("expired", 0.0)
    assert (sl.state, sl.filled_qty, sl.last_fill_qty) == ("filled", 22.2, 13.5)
    assert log.names() == ["entry_fill", "sl_cancel", "sl_fill", "tp_cancel"]
    assert m.stats()["late_fills"] == 2 and m.stats()["other_events"] == 3
    assert [(f[0], f[1]) for f in risk.fills] == [(entry.client_order_id, 22.2), (sl.client_order_id, 8.7),
                                                  (sl.client_order_id, 13.5)]
    assert m.get_active_orders() == []
    await m.close()


async def test_replay_defi_trxusdt_stop_loss_expired_then_new(impl: Implementation, form: str) -> None:
    risk = Risk()
    m, fake = make(impl, risk_engine=risk)
    fake.script("place_order", {"orderId": 4014170256}, {"orderId": 4014170258}, {"orderId": 4014170259})
    log = Log()
    entry = await m.place_market_order("sub1", "TRXUSDT", "SELL", "150", **log.hooks("entry_"))
    tp = await m.place_limit_order("sub1", "TRXUSDT", "BUY", "150", "0.07550", reduce_only=True,
                                   **log.hooks("tp_"))
    sl = await m.place_market_order("sub1", "TRXUSDT", "BUY", "150", reduce_only=True, **log.hooks("sl_"))
    ids = {"web_st_Ihlt5wPQEpiqt1j": entry.client_order_id, "web_st_VjMqi9dr7NULDpU": tp.client_order_id,
           "web_st_U8qk7AIsi5rYhlu": sl.client_order_id}
    for text in load_jsonl("seq_real_defi_trxusdt_otoco_stop_loss_2021.jsonl"):
        await m.on_order_update(render(swap(text, ids), form))
    assert (entry.state, entry.avg_price, entry.exchange_order_id) == ("filled", 0.07574, 4014170256)
    assert (sl.state, sl.filled_qty, sl.avg_price) == ("filled", 150.0, 0.076)
    assert tp.state == "expired"
    assert log.names() == ["entry_fill", "sl_cancel", "sl_fill", "tp_cancel"]
    assert m.stats()["late_fills"] == 1
    await m.close()


async def test_replay_defi_trxusdt_close_position(impl: Implementation, form: str) -> None:
    m, _ = make(impl)
    log = Log()
    sl = await m.place_limit_order("sub1", "TRXUSDT", "SELL", "150", "0.07550", **log.hooks("sl_"))
    tp = await m.place_limit_order("sub1", "TRXUSDT", "SELL", "150", "0.07650", **log.hooks("tp_"))
    close = await m.place_market_order("sub1", "TRXUSDT", "SELL", "150", reduce_only=True,
                                       **log.hooks("close_"))
    ids = {"web_st_FrDgRbUPFFGs951": sl.client_order_id, "web_st_rRii3jh4cJc6RpC": tp.client_order_id,
           "web_73cPJrYDmm232j136Iui": close.client_order_id}
    for text in load_jsonl("seq_real_defi_trxusdt_otoco_close_position_2021.jsonl"):
        await m.on_order_update(render(swap(text, ids), form))
    assert (sl.state, tp.state, close.state, close.filled_qty) == ("expired", "expired", "filled", 150.0)
    assert log.names() == ["sl_cancel", "tp_cancel", "close_fill"]
    await m.close()


def _wrap(o_text: str) -> str:
    """ccxt printed only the inner ``o`` object: put the envelope Binance sends around it."""
    o = json.loads(o_text)
    return json.dumps({"e": "ORDER_TRADE_UPDATE", "T": o["T"], "E": o["T"] + 2, "o": o})


async def test_replay_ccxt_testnet_new_amendment_and_maker_fill(impl: Implementation, form: str) -> None:
    m, fake = make(impl)
    fake.script("place_order", {"orderId": 246411432}, {"orderId": 246411433}, {"orderId": 246411442})
    log = Log()
    buy = await m.place_limit_order("sub1", "XRPUSDT", "BUY", "20", "0.5299", **log.hooks("buy_"))
    sell = await m.place_limit_order("sub1", "XRPUSDT", "SELL", "20", "0.5332", **log.hooks("sell_"))
    amended = await m.place_limit_order("sub1", "XRPUSDT", "SELL", "20", "0.5340", **log.hooks("amend_"))
    ids = {"10001": buy.client_order_id, "10002": sell.client_order_id, "10003": amended.client_order_id}
    new, amendment = load_jsonl("otu_o_only_real_ccxt_issue_18078_testnet_new_amendment.jsonl")
    (fill,) = load_jsonl("otu_o_only_real_ccxt_issue_18051_testnet_trade_filled_maker.jsonl")
    (amendment2,) = load_jsonl("otu_o_only_real_ccxt_issue_18112_amendment.jsonl")
    for text in (new, amendment, fill, amendment2):
        await m.on_order_update(render(_wrap(swap(text, ids)), form))
    assert (buy.state, buy.exchange_order_id) == ("active", 246411432)  # the later AMENDMENT (X=NEW) is stale
    assert (amended.state, amended.exchange_order_id) == ("active", 246411442)  # AMENDMENT with X=NEW: acked
    assert (sell.state, sell.filled_qty, sell.avg_price) == ("filled", 20.0, 0.5332)
    assert log.names() == ["sell_fill"]
    await m.close()
