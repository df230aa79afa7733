"""OrderManager with a journal: intents before the send, changes after the feed, and restart.

A "kill" drops the manager without ``close()``: whatever its journal still buffered is lost, as
in a crash; a new manager then opens the same file (``Journal.open`` reads what reached the OS).
Every test runs on both cores with the scripted FakeExchange.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trading_engine_python.orders._states import ACTIVE, CANCELLED, FILLED
from trading_engine_python.orders.journal import Change, Intent, Journal, JournalError, load

from ..conftest import Implementation
from ._manager_util import OID, Log, Risk, make, otu, render, rest_order, settle, until
from .fakes import FakeExchange

SUB = "desk-alpha-sub-0001"  # longer than the 8 characters the client order id carries
FP = 100_000_000


def fp(x: str) -> int:
    return round(float(x) * FP)


def ev(order: Any, status: str, **kw: Any) -> bytes:
    kw.setdefault("i", order.exchange_order_id if order.exchange_order_id is not None else OID)
    return render(otu(order.client_order_id, status, **kw), "bytes")  # type: ignore[no-any-return]


async def place(m: Any, **kw: Any) -> Any:
    kw.setdefault("origin", "CHASER")
    kw.setdefault("parent_id", "chase-7")
    kw.setdefault("leverage", 5)
    return await m.place_limit_order(SUB, "BTCUSDT", "BUY", "0.010", "65000.3", **kw)


def entry(path: Path, cid: str) -> Any:
    return load(path).entries[cid]


async def restart(impl: Implementation, path: Path, fake: FakeExchange | None = None,
                  **kw: Any) -> tuple[Any, Any, Risk]:
    risk = Risk()
    m, fake = make(impl, fake, journal=str(path), risk_engine=risk, **kw)
    report = await m.restore()
    await settle()
    return m, report, risk


# ── writing ──


async def test_the_place_intent_is_on_disk_before_the_request_leaves(
        impl: Implementation, tmp_path: Path) -> None:
    path = tmp_path / "j"
    seen: list[Any] = []

    def answer(**kw: Any) -> dict[str, Any]:
        seen.append(load(path).entries.get(kw["client_order_id"]))
        return {"orderId": OID}

    m, fake = make(impl, journal=str(path))
    fake.script("place_order", answer)
    o = await place(m, reduce_only=True, time_in_force="GTX")
    e = seen[0]
    assert e is not None and e.change is None
    assert e.place == Intent("place", o.client_order_id, SUB, "BTCUSDT", "BUY", "LIMIT", fp("0.010"),
                             fp("65000.3"), "GTX", True, 5, "CHASER", "chase-7")
    await m.close()


async def test_the_cancel_intent_is_on_disk_before_the_request_leaves(
        impl: Implementation, tmp_path: Path) -> None:
    path = tmp_path / "j"
    seen: list[Any] = []
    m, fake = make(impl, journal=str(path))
    fake.script("cancel_order", lambda **kw: seen.append(entry(path, kw["client_order_id"]).action) or {})
    o = await place(m)
    assert await m.cancel_order(o.client_order_id)
    assert seen[0] is not None and seen[0].action == "cancel" and seen[0].sub_account_id == SUB
    await m.close()


async def test_a_broken_journal_sends_nothing_and_closes_the_order(
        impl: Implementation, tmp_path: Path) -> None:
    j = Journal.open(tmp_path / "j")
    j.close()  # a closed journal refuses appends like a broken one
    m, fake = make(impl, journal=j)
    log = Log()
    with pytest.raises(JournalError):
        await place(m, **log.hooks())
    assert fake.sent("place_order") == []
    assert log.names() == ["cancel"] and log.orders[0].state == "rejected"
    await m.close()


async def test_changes_follow_the_feed_off_its_path_with_risk_filled(
        impl: Implementation, tmp_path: Path) -> None:
    path = tmp_path / "j"
    risk = Risk()
    m, _ = make(impl, journal=Journal.open(path, flush=0), risk_engine=risk)
    o = await place(m)
    cid = o.client_order_id
    m.feed(ev(o, "NEW"))
    m.journal.flush()
    assert entry(path, cid).change is None  # noted on the feed path (in the core), written next turn
    await settle()
    m.journal.flush()
    assert entry(path, cid).change.state == ACTIVE
    m.feed(ev(o, "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.3", ap="65000.3"))
    await until(lambda: len(risk.fills) == 1)
    m.journal.flush()
    c = entry(path, cid).change
    assert c == Change(cid, ACTIVE, o.exchange_order_id, fp("0.004"), fp("65000.3"), fp("0.004"))
    m.feed(ev(o, "CANCELED", z="0.004", ap="65000.3"))
    await settle()
    m.journal.flush()
    assert entry(path, cid).change.state == CANCELLED
    assert entry(path, cid).settled
    await m.close()
    m.journal.close()


async def test_the_risk_acknowledgement_reaches_the_os_when_the_hook_returns(
        impl: Implementation, tmp_path: Path) -> None:
    # A 10 s flush policy: only the immediate write can put risk_filled on disk.
    path = tmp_path / "j"
    risk = Risk()
    m, _ = make(impl, journal=Journal.open(path, flush=10_000), risk_engine=risk)
    o = await place(m)
    m.feed(ev(o, "FILLED", z="0.010", l="0.010", L="65000.3", ap="65000.3"))
    await until(lambda: len(risk.fills) == 1)
    c = entry(path, o.client_order_id).change
    assert c is not None and c.state == FILLED and c.risk_filled == c.filled == fp("0.010")


# ── restart ──


async def test_restore_brings_back_the_full_order_and_reports_a_fill_made_while_down_once(
        impl: Implementation, tmp_path: Path) -> None:
    path = tmp_path / "j"
    risk = Risk()
    m, _ = make(impl, journal=str(path), risk_engine=risk)
    o = await place(m, reduce_only=True, time_in_force="GTC")
    cid, oid = o.client_order_id, o.exchange_order_id
    m.feed(ev(o, "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.3", ap="65000.3"))
    await until(lambda: len(risk.fills) == 1)
    del m  # killed

    fake = FakeExchange()
    fake.script("get_order", rest_order(cid, "FILLED", executed="0.010", avg="65000.30000", order_id=oid))
    m2, report, risk2 = await restart(impl, path, fake)
    await until(lambda: len(risk2.fills) == 1)
    r = m2.get_order(cid)
    assert (r.sub_account_id, r.origin, r.parent_id, r.leverage, r.reduce_only, r.time_in_force) == (
        SUB, "CHASER", "chase-7", 5, True, "GTC")
    assert r.state == "filled" and r.filled_fp == fp("0.010") and r.exchange_order_id == oid
    assert [f[1] for f in risk2.fills] == [pytest.approx(0.006)]  # not the 0.004 told before the kill
    assert report["restored"] == 1 and report["queried"] == 1
    assert fake.sent("place_order") == []
    await m2.close()

    # A second restart: everything was told; nothing is told again.
    m3, _, risk3 = await restart(impl, path, FakeExchange())
    await settle()
    assert risk3.fills == [] and m3.get_order(cid).state == "filled"
    await m3.close()


async def test_a_fill_the_risk_hook_never_heard_of_is_told_after_the_restart(
        impl: Implementation, tmp_path: Path) -> None:
    # Journaled filled 0.010 but risk_filled 0.004 (the acknowledgement did not make it).
    path = tmp_path / "j"
    j = Journal.open(path)
    cid = "PMSdesk-alp_CHASE_abc123"
    j.append_intent(Intent("place", cid, SUB, "BTCUSDT", "SELL", "LIMIT", fp("0.010"), fp("3000"), "GTC",
                           False, 3, "CHASER", "p1"))
    j.append_change(Change(cid, FILLED, OID, fp("0.010"), fp("3000"), fp("0.004")))
    j.close()
    m, report, risk = await restart(impl, path, FakeExchange())
    await until(lambda: len(risk.fills) == 1)
    assert report["risk_owed"] == 1
    assert risk.fills[0][0] == cid and risk.fills[0][1] == pytest.approx(0.006)
    assert risk.fills[0][2] == pytest.approx(3000.0)
    await m.close()
    m2, _, risk2 = await restart(impl, path, FakeExchange())
    assert risk2.fills == []
    await m2.close()


async def test_a_place_intent_without_a_change_is_looked_up_never_placed_again(
        impl: Implementation, tmp_path: Path) -> None:
    path = tmp_path / "j"
    m, fake = make(impl, journal=str(path))

    async def crash(**kw: Any) -> Any:
        raise KeyboardInterrupt  # the process dies with the request in flight

    fake.script("place_order", crash)
    with pytest.raises(KeyboardInterrupt):
        await place(m)
    cid = next(iter(load(path).entries))
    fake2 = FakeExchange()
    fake2.script("get_order", rest_order(cid, "NEW"))
    m2, report, _ = await restart(impl, path, fake2)
    assert m2.get_order(cid).state == "active" and m2.get_order(cid).sub_account_id == SUB
    assert fake2.sent("place_order") == [] and report["queried"] == 1
    await m2.close()


async def test_a_place_intent_the_exchange_never_saw_ends_failed(
        impl: Implementation, tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path)
    cid = "PMSdesk-alp_CHASE_abc124"
    j.append_intent(Intent("place", cid, SUB, "BTCUSDT", "BUY", "MARKET", fp("0.010"), None, None,
                           False, 1, "CHASER", None))
    j.close()
    m, report, _ = await restart(impl, path, FakeExchange(), resolve_timeout=0.01)
    assert report["resolving"] == 1
    await until(lambda: m.get_order(cid).state == "failed")
    assert m.get_order(cid).state == "failed"
    await m.close()


async def test_an_unjournaled_order_of_ours_is_adopted_and_counted_once(
        impl: Implementation, tmp_path: Path) -> None:
    path = tmp_path / "j"
    cid = "PMSother_LMT_abc125"
    fake = FakeExchange()
    fake.open_orders = [rest_order(cid, "PARTIALLY_FILLED", executed="0.003", avg="65000.30000")]
    m, report, risk = await restart(impl, path, fake)
    await until(lambda: len(risk.fills) == 1)
    assert report["adopted"] == 1 and risk.fills[0][1] == pytest.approx(0.003)
    await m.close()
    # The adoption was journaled: the next restart restores it and tells nothing again.
    m2, report2, risk2 = await restart(impl, path, FakeExchange())
    assert report2["restored"] == 1 and report2["adopted"] == 0 and risk2.fills == []
    assert m2.get_order(cid).filled_fp == fp("0.003")
    await m2.close()


async def test_a_pending_cancel_is_sent_again(impl: Implementation, tmp_path: Path) -> None:
    path = tmp_path / "j"
    m, fake = make(impl, journal=str(path))
    o = await place(m)
    cid = o.client_order_id
    m.feed(ev(o, "NEW"))
    await settle()

    async def crash(**kw: Any) -> Any:
        raise KeyboardInterrupt

    fake.script("cancel_order", crash)
    with pytest.raises(KeyboardInterrupt):
        await m.cancel_order(cid)
    fake2 = FakeExchange()
    fake2.open_orders = [rest_order(cid, "NEW")]
    m2, report, _ = await restart(impl, path, fake2)
    assert report["cancels_resent"] == 1
    assert [c["client_order_id"] for c in fake2.sent("cancel_order")] == [cid]
    assert m2.get_order(cid).state == "cancelling"
    await m2.close()


async def test_terminal_orders_inside_retention_come_back_older_ones_not(
        impl: Implementation, tmp_path: Path) -> None:
    path = tmp_path / "j"
    t = [1_000_000.0]
    j = Journal.open(path, clock=lambda: t[0])
    for n, age in enumerate((10.0, 10_000.0)):
        cid = f"PMSdesk-alp_CHASE_abc13{n}"
        t[0] = 1_000_000.0 - age
        j.append_intent(Intent("place", cid, SUB, "BTCUSDT", "BUY", "LIMIT", fp("0.01"), fp("100"), None,
                               False, 1, "CHASER", None))
        j.append_change(Change(cid, CANCELLED, OID + n, 0, 0, 0))
    j.close()
    m, _ = make(impl, journal=str(path), terminal_ttl=600.0)
    from trading_engine_python.orders import restart as restart_mod

    report = await restart_mod.restore(m, reconcile=False, wall_clock=lambda: 1_000_000.0)
    assert report["restored"] == 1
    assert m.get_order("PMSdesk-alp_CHASE_abc130").state == "cancelled"
    assert m.get_order("PMSdesk-alp_CHASE_abc131") is None
    await m.close()


@pytest.mark.parametrize("damage", ["garbled middle", "torn tail", "empty", "missing"])
async def test_a_damaged_journal_restores_what_it_can(
        impl: Implementation, tmp_path: Path, damage: str) -> None:
    path = tmp_path / "j"
    cids = []
    if damage != "missing":
        j = Journal.open(path)
        for n in range(3):
            cid = f"PMSdesk-alp_CHASE_abc14{n}"
            cids.append(cid)
            j.append_intent(Intent("place", cid, SUB, "BTCUSDT", "BUY", "LIMIT", fp("0.01"), fp("100"),
                                   None, False, 1, "CHASER", None))
        j.close()
        lines = path.read_bytes().splitlines(keepends=True)
        if damage == "garbled middle":
            lines[2] = lines[2].replace(b"BTCUSDT", b"BTCUSDX")  # checksum no longer matches
        elif damage == "torn tail":
            lines[-1] = lines[-1][: len(lines[-1]) // 2]
        elif damage == "empty":
            lines = []
        path.write_bytes(b"".join(lines))
    fake = FakeExchange()
    for cid in cids:
        fake.script("get_order", rest_order(cid, "NEW", price="100", orig="0.01"))
    m, report, _ = await restart(impl, path, fake)
    expect = {"garbled middle": 2, "torn tail": 2, "empty": 0, "missing": 0}[damage]
    assert report["restored"] == expect
    assert len(m.get_active_orders()) == expect
    # The manager goes on journaling after the damage.
    o = await place(m)
    await settle()
    assert o.client_order_id in load(path).entries
    await m.close()


async def test_restore_needs_a_journal(impl: Implementation) -> None:
    m, _ = make(impl)
    with pytest.raises(RuntimeError):
        await m.restore()
    await m.close()


# ── the Redis journal ──


async def test_restore_from_a_redis_journal(impl: Implementation, tmp_path: Path) -> None:
    from trading_engine_python.orders.journal import RedisJournal, load_stream

    from ..events._redis import RedisServer

    server = RedisServer(tmp_path)
    server.start()
    client = server.client()
    try:
        risk = Risk()
        j = await RedisJournal.open(client, "acct-1")
        m, _ = make(impl, journal=j, risk_engine=risk)
        o = await place(m)
        cid, oid = o.client_order_id, o.exchange_order_id
        m.feed(ev(o, "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.3", ap="65000.3"))
        await until(lambda: len(risk.fills) == 1)
        await settle()
        state = await load_stream(client, "pms:journal:acct-1")
        c = state.entries[cid].change
        assert c is not None and c.risk_filled == c.filled == fp("0.004")
        del m  # killed

        fake = FakeExchange()
        fake.script("get_order", rest_order(cid, "FILLED", executed="0.010", avg="65000.30000", order_id=oid))
        risk2 = Risk()
        m2, _ = make(impl, fake, journal=await RedisJournal.open(client, "acct-1"), risk_engine=risk2)
        await m2.restore()
        await until(lambda: len(risk2.fills) == 1)
        assert m2.get_order(cid).sub_account_id == SUB and m2.get_order(cid).state == "filled"
        assert [f[1] for f in risk2.fills] == [pytest.approx(0.006)]
        await m2.close()
    finally:
        await client.aclose()
        server.close()
