"""The file journal: record round trips, damaged files, compaction and flush policies."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import orjson
import pytest

from trading_engine_python.orders import journal as jmod
from trading_engine_python.orders._states import ACTIVE, CANCELLED, FILLED, PLACING
from trading_engine_python.orders.journal import (
    Change,
    Intent,
    Journal,
    JournalEntry,
    JournalError,
    check_line,
    encode_line,
    load,
)

BIG_OID = 8_389_765_739_703_625_592  # > 2**53, like real Binance order ids


class Ticks:
    """A journal clock that moves by one each reading (exact floats)."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        self.t += 1.0
        return self.t


def place(cid: str, **kw: Any) -> Intent:
    base: dict[str, Any] = dict(sub_account_id="sub-account-0001", symbol="BTCUSDT", side="BUY",
                                order_type="LIMIT", quantity=100_000, price=6_500_010_000_000,
                                time_in_force="GTC", leverage=5, origin="GRID", parent_id="grid-7")
    base.update(kw)
    return Intent("place", cid, **base)


ALGO = place("c-algo", order_type="TRAILING_STOP_MARKET", price=None, time_in_force=None, reduce_only=True,
             trigger_price=6_400_000_000_000, working_type="MARK_PRICE", callback_rate=50_000_000,
             activation_price=6_600_000_000_000, close_position=False, price_protect=True)


def lines(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def test_line_checksum() -> None:
    line = encode_line(b'{"a":1}')
    assert line.endswith(b"\n")
    assert check_line(line[:-1]) == b'{"a":1}'
    assert check_line(line[:-1].replace(b"1", b"2")) is None
    assert check_line(b"") is None
    assert check_line(b"zzzzzzzz {}") is None


def test_round_trip_every_record_kind(tmp_path: Path) -> None:
    path = tmp_path / "acct.journal"
    j = Journal.open(path, clock=Ticks())
    j.append_intent(place("c1"))
    j.append_intent(ALGO)
    j.append_intents([place("b1", side="SELL"), place("b2", order_type="MARKET", price=None)])
    j.append_change(Change("c1", ACTIVE, BIG_OID, 0, 0, 0))
    j.append_intent(Intent("amend", "c1", price=6_500_020_000_000, quantity=90_000))
    j.append_change(Change("b1", FILLED, 17, 100_000, 6_500_010_000_000, 100_000))
    j.append_intent(Intent("cancel", "c1"))
    j.append_change(Change("c1", CANCELLED, BIG_OID, 30_000, 6_500_020_000_000, 30_000))
    j.close()

    state = load(path)
    assert (state.records, state.skipped, state.torn_tail, state.version) == (9, 0, False, 1)
    assert set(state.entries) == {"c1", "c-algo", "b1", "b2"}
    c1 = state.entries["c1"]
    assert c1.place == place("c1")
    assert c1.action == Intent("cancel", "c1")
    assert c1.change == Change("c1", CANCELLED, BIG_OID, 30_000, 6_500_020_000_000, 30_000)
    assert c1.updated == 1009.0  # the 9th clock reading (the header took the first)
    assert state.entries["c-algo"] == JournalEntry("c-algo", ALGO, None, None, 1003.0)
    # One batch, one clock reading.
    assert state.entries["b1"].place == place("b1", side="SELL")
    assert state.entries["b2"].place == place("b2", order_type="MARKET", price=None)
    assert state.entries["b2"].updated == 1004.0
    assert [e.client_id for e in state.live()] == ["c-algo", "b2"]
    assert state.unsettled() == state.live()
    # The journal read back at open is the same state.
    again = Journal.open(path)
    assert again.loaded.entries == state.entries
    assert again.state().entries == state.entries
    again.close()


def test_amend_then_change_keeps_the_place(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal.open(path) as j:
        j.append_intent(place("c1"))
        j.append_intent(Intent("amend", "c1", price=1, quantity=2))
        j.append_change(Change("c1", ACTIVE, 5))
    e = load(path).entries["c1"]
    assert e.place == place("c1")
    assert e.action == Intent("amend", "c1", price=1, quantity=2)
    assert e.change == Change("c1", ACTIVE, 5)


def test_a_change_without_its_intent_makes_an_entry(tmp_path: Path) -> None:
    # An order the manager adopted from the exchange has no place intent in the journal.
    path = tmp_path / "j"
    with Journal.open(path) as j:
        j.append_change(Change("adopted", ACTIVE, 9))
    e = load(path).entries["adopted"]
    assert (e.place, e.action, e.change) == (None, None, Change("adopted", ACTIVE, 9))
    assert e.live


def test_a_place_starts_the_entry_afresh(tmp_path: Path) -> None:
    path = tmp_path / "j"
    with Journal.open(path) as j:
        j.append_intent(place("c1"))
        j.append_change(Change("c1", CANCELLED, 5))
        j.append_intent(place("c1", price=7))
    e = load(path).entries["c1"]
    assert (e.place, e.action, e.change) == (place("c1", price=7), None, None)


def test_missing_and_empty_files(tmp_path: Path) -> None:
    missing = tmp_path / "nope"
    state = load(missing)
    assert (state.entries, state.records, state.skipped, state.torn_tail) == ({}, 0, 0, False)
    assert not missing.exists()  # load never writes

    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    state = load(empty)
    assert (state.entries, state.records, state.skipped, state.torn_tail) == ({}, 0, 0, False)

    j = Journal.open(empty)
    assert j.loaded.entries == {} and j.loaded.skipped == 0
    j.close()
    assert len(lines(empty)) == 1  # the header only
    j = Journal.open(missing)
    j.close()
    assert load(missing).records == 0 and len(lines(missing)) == 1


def _three_orders(path: Path) -> None:
    with Journal.open(path) as j:
        j.append_intent(place("c1"))
        j.append_intent(place("c2"))
        j.append_intent(place("c3"))


def test_torn_last_record(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j"
    _three_orders(path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 40])  # a crash in the middle of writing c3
    with caplog.at_level(logging.WARNING, "trading_engine_python.orders.journal"):
        state = load(path)
    assert set(state.entries) == {"c1", "c2"}
    assert (state.records, state.skipped, state.torn_tail) == (2, 1, True)
    assert len([r for r in caplog.records if "torn" in r.getMessage()]) == 1

    # Opening cuts the torn bytes, so that the next record is not glued onto them.
    j = Journal.open(path)
    assert j.loaded.skipped == 1 and j.loaded.torn_tail
    j.append_intent(place("c4"))
    j.close()
    state = load(path)
    assert set(state.entries) == {"c1", "c2", "c4"}
    assert (state.skipped, state.torn_tail) == (0, False)


def test_good_last_record_without_its_newline(tmp_path: Path) -> None:
    path = tmp_path / "j"
    _three_orders(path)
    path.write_bytes(path.read_bytes()[:-1])
    state = load(path)
    assert set(state.entries) == {"c1", "c2", "c3"} and state.skipped == 0
    with Journal.open(path) as j:
        j.append_intent(place("c4"))
    state = load(path)
    assert set(state.entries) == {"c1", "c2", "c3", "c4"} and state.skipped == 0


def test_corrupted_record_in_the_middle(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j"
    _three_orders(path)
    recs = lines(path)
    assert b'"c2"' in recs[2]
    recs[2] = recs[2].replace(b"BTCUSDT", b"BTCUSDX")  # a flipped byte, checksum unchanged
    path.write_bytes(b"".join(recs))
    with caplog.at_level(logging.WARNING, "trading_engine_python.orders.journal"):
        state = load(path)
    assert set(state.entries) == {"c1", "c3"}
    assert (state.records, state.skipped, state.torn_tail) == (2, 1, False)
    assert len([r for r in caplog.records if "checksum mismatch" in r.getMessage()]) == 1

    # A newline inside a record (two damaged lines) and a line of garbage: all skipped, counted.
    recs[2] = recs[2][:50] + b"\n" + recs[2][50:]
    recs.insert(1, b"garbage\n")
    path.write_bytes(b"".join(recs))
    state = load(path)
    assert set(state.entries) == {"c1", "c3"} and state.skipped == 3


def test_valid_checksum_but_invalid_record(tmp_path: Path) -> None:
    path = tmp_path / "j"
    _three_orders(path)
    with open(path, "ab") as f:
        f.write(encode_line(b'{"k":"i","ts":1,"r":{"action":"explode","client_id":"x"}}'))
        f.write(encode_line(b'{"k":"c","ts":1,"r":{"state":2}}'))
        f.write(encode_line(b'{"k":"zz"}'))
        f.write(encode_line(b"[1,2]"))
        f.write(encode_line(b"not json"))
    state = load(path)
    assert set(state.entries) == {"c1", "c2", "c3"}
    assert (state.records, state.skipped) == (3, 5)


def test_unknown_format_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "j"
    path.write_bytes(encode_line(b'{"k":"h","v":99,"ts":0}'))
    with pytest.raises(JournalError, match="version 99"):
        load(path)
    with pytest.raises(JournalError, match="version 99"):
        Journal.open(path)


def _compaction_fixture(path: Path, **kw: Any) -> Journal:
    j = Journal.open(path, **kw)
    j.append_intent(place("live-placing"))
    j.append_intent(place("live-active"))
    j.append_change(Change("live-active", ACTIVE, 11, 20_000, 6_500_010_000_000, 20_000))
    j.append_intent(Intent("amend", "live-active", price=6_500_000_000_000, quantity=100_000))
    j.append_intent(place("settled-fill"))
    j.append_change(Change("settled-fill", FILLED, 12, 100_000, 6_500_010_000_000, 100_000))
    j.append_intent(place("settled-cancel"))
    j.append_intent(Intent("cancel", "settled-cancel"))
    j.append_change(Change("settled-cancel", CANCELLED, 13, 0, 0, 0))
    # Filled, but the risk hook was told of 40 % only: not done, must survive compaction.
    j.append_intent(place("unsettled-fill"))
    j.append_change(Change("unsettled-fill", FILLED, 14, 100_000, 6_500_010_000_000, 40_000))
    return j


def test_compaction_keeps_exactly_the_unsettled_orders(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = _compaction_fixture(path)
    before = load(path)
    size_before = path.stat().st_size
    j.compact()
    assert j.stats.compactions == 1
    after = load(path)
    assert path.stat().st_size < size_before and j.size == path.stat().st_size
    assert set(after.entries) == {"live-placing", "live-active", "unsettled-fill"}
    for cid, e in after.entries.items():
        old = before.entries[cid]
        assert (e.place, e.action, e.change) == (old.place, old.action, old.change)
    assert after.skipped == 0
    # The journal goes on appending to the new file; its fold dropped the settled orders too.
    j.append_change(Change("live-placing", ACTIVE, 15))
    j.close()
    final = load(path)
    assert final.entries["live-placing"].change == Change("live-placing", ACTIVE, 15)
    assert set(final.entries) == {"live-placing", "live-active", "unsettled-fill"}
    assert not (tmp_path / "j.compact").exists()


def test_compaction_with_the_owners_entries(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = _compaction_fixture(path)
    keep = [e for e in j.state().entries.values() if e.client_id == "live-active"]
    j.compact(keep)
    j.close()
    state = load(path)
    assert list(state.entries) == ["live-active"]
    assert state.entries["live-active"].action == Intent("amend", "live-active", price=6_500_000_000_000,
                                                         quantity=100_000)


def test_a_crash_before_the_replace_leaves_the_old_file(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j"
    j = _compaction_fixture(path)
    before = path.read_bytes()

    class Crash(BaseException):
        pass

    def crash(src: Any, dst: Any) -> None:
        raise Crash

    monkeypatch.setattr(jmod.os, "replace", crash)
    with pytest.raises(Crash):
        j.compact()
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert not (tmp_path / "j.compact").exists()
    j.append_intent(place("after"))  # still appending to the old file
    j.close()
    assert "after" in load(path).entries


def test_a_stale_temporary_file_is_removed_at_open(tmp_path: Path) -> None:
    # The process died after writing the temporary file, before the replace.
    path = tmp_path / "j"
    j = _compaction_fixture(path)
    j.close()
    before = path.read_bytes()
    tmp = tmp_path / "j.compact"
    tmp.write_bytes(encode_line(b'{"k":"h","v":1,"ts":0}') + b"half a rec")
    j = Journal.open(path)
    assert not tmp.exists()
    assert path.read_bytes() == before
    assert set(j.loaded.entries) == set(load(path).entries) and len(j.loaded.entries) == 5
    j.close()


def test_compaction_runs_by_itself_past_compact_bytes(tmp_path: Path) -> None:
    # Without a running loop, inline after the write that crossed the limit.
    path = tmp_path / "j"
    j = Journal.open(path, compact_bytes=4096)
    for k in range(40):
        j.append_intent(place(f"c{k}"))
        j.append_change(Change(f"c{k}", CANCELLED, k))
    assert j.stats.compactions >= 1
    assert path.stat().st_size < 4096 * 2
    j.append_intent(place("last"))
    j.close()
    state = load(path)
    assert [e.client_id for e in state.unsettled()] == ["last"]
    assert len(state.entries) < 40  # the settled orders before the compaction are gone


async def test_compaction_past_compact_bytes_waits_for_the_next_loop_turn(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path, compact_bytes=2048)
    for k in range(10):
        j.append_intent(place(f"c{k}"))
        j.append_change(Change(f"c{k}", CANCELLED, k))
    assert j.stats.compactions == 0  # not inside the append that crossed the limit
    await asyncio.sleep(0)
    assert j.stats.compactions == 1
    j.close()
    assert load(path).entries == {}


def test_flush_every_writes_and_syncs_each_record(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path, flush="every")
    syncs = j.stats.fsyncs
    j.append_intent(place("c1"))
    j.append_change(Change("c1", ACTIVE, 1))
    assert j.pending == 0
    assert j.stats.fsyncs == syncs + 2
    assert load(path).entries["c1"].change == Change("c1", ACTIVE, 1)  # before close
    j.close()


async def test_flush_ms_buffers_changes_intents_write_through(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path, flush=60_000)  # a timer that never fires within the test
    j.append_intent(place("c1"))
    assert "c1" in load(path).entries  # an intent is on disk before the send
    j.append_change(Change("c1", ACTIVE, 1))
    j.append_change(Change("c1", ACTIVE, 2))
    await asyncio.sleep(0)
    assert j.pending == 2
    assert load(path).entries["c1"].change is None
    # The next intent writes the buffered changes first, in one write.
    writes = j.stats.writes
    j.append_intent(place("c2"))
    assert j.stats.writes == writes + 1 and j.pending == 0
    assert load(path).entries["c1"].change == Change("c1", ACTIVE, 2)
    j.append_change(Change("c2", ACTIVE, 3))
    assert j.pending == 1
    j.flush()
    assert j.pending == 0 and load(path).entries["c2"].change == Change("c2", ACTIVE, 3)
    j.close()


async def test_flush_zero_writes_on_the_next_loop_turn(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path, flush=0)
    j.append_change(Change("c1", PLACING, None))
    assert j.pending == 1 and load(path).entries == {}
    await asyncio.sleep(0)
    assert j.pending == 0 and "c1" in load(path).entries
    j.close()


async def test_flush_ms_timer_writes_and_syncs(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path, flush=2)
    syncs = j.stats.fsyncs
    j.append_change(Change("c1", ACTIVE, 1))
    j.append_change(Change("c1", ACTIVE, 2))
    assert j.pending == 2
    for _ in range(2000):  # bounded wait for the timer, no timing asserted
        if j.pending == 0:
            break
        await asyncio.sleep(0.005)
    assert j.pending == 0
    assert j.stats.fsyncs == syncs + 1  # one flush, one fsync, both changes
    assert load(path).entries["c1"].change == Change("c1", ACTIVE, 2)
    j.close()


def test_flush_ms_without_a_loop_writes_at_once(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path, flush=5)
    j.append_change(Change("c1", ACTIVE, 1))
    assert j.pending == 0 and "c1" in load(path).entries
    j.close()


def test_close_writes_what_is_buffered(tmp_path: Path) -> None:
    path = tmp_path / "j"

    async def run() -> Journal:
        j = Journal.open(path, flush=60_000)
        j.append_change(Change("c1", ACTIVE, 1))
        assert j.pending == 1
        return j

    j = asyncio.run(run())
    j.close()
    j.close()
    assert "c1" in load(path).entries
    with pytest.raises(JournalError, match="closed"):
        j.append_intent(place("c2"))


def test_bad_flush_policy() -> None:
    for bad in ("sometimes", -1, True, 1.5):
        with pytest.raises(ValueError, match="flush"):
            Journal.open("unused", flush=bad)  # type: ignore[arg-type]


def test_an_intent_that_cannot_be_encoded_writes_nothing(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path)
    size = j.size
    with pytest.raises(TypeError):
        j.append_intent(place("c1", price=object()))
    assert j.size == size == path.stat().st_size
    j.append_intent(place("c2"))
    j.close()
    assert set(load(path).entries) == {"c2"}


def test_a_failed_write_breaks_the_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "j"
    j = Journal.open(path)

    def full(fd: int, data: Any) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(jmod.os, "write", full)
    with pytest.raises(OSError):
        j.append_intent(place("c1"))
    monkeypatch.undo()
    with pytest.raises(JournalError, match="earlier write failed"):
        j.append_intent(place("c2"))
    with pytest.raises(JournalError):
        j.append_change(Change("c2", ACTIVE, 1))
    j.close()


def test_the_payloads_name_every_field() -> None:
    # The hand-written serialisers must not miss a field added to the dataclasses.
    change = Change("c", 2, BIG_OID, 1, 2, 3)
    pairs = ((ALGO, jmod._intent_payload(ALGO, 1.0)), (change, jmod._change_payload(change, 1.0)))
    for rec, payload in pairs:
        assert orjson.loads(payload)["r"] == orjson.loads(orjson.dumps(rec))


def test_a_file_that_is_not_a_journal_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    text = b"line one\nline two\nno newline at the end"
    path.write_bytes(text)
    with pytest.raises(JournalError, match="not one valid record"):
        Journal.open(path)
    assert path.read_bytes() == text
    # A crash while writing the very first header: a torn line only, a restart goes on.
    torn = tmp_path / "j"
    torn.write_bytes(encode_line(b'{"k":"h","v":1,"ts":0}')[:12])
    with Journal.open(torn) as j:
        assert j.loaded.torn_tail and j.loaded.skipped == 1
        j.append_intent(place("c1"))
    assert set(load(torn).entries) == {"c1"}


async def test_an_explicit_compaction_with_buffered_changes_runs_once(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path, flush=60_000, compact_bytes=4096)
    for k in range(40):
        j.append_change(Change(f"c{k}", ACTIVE, k))
    assert j.pending == 40
    j.compact()  # its flush crosses compact_bytes: no second compaction for that
    for _ in range(3):
        await asyncio.sleep(0)
    assert j.stats.compactions == 1
    j.close()
    assert len(load(path).entries) == 40


CHILD = """
import asyncio
import sys
from trading_engine_python.orders.journal import Change, Intent, Journal

j = Journal.open(sys.argv[1], flush=int(sys.argv[2]), fsync=False)

async def main():
    k = 0
    while True:
        cid = f"c{k}"
        j.append_intent(Intent("place", cid, "sub", "BTCUSDT", "BUY", "LIMIT", 100000, 1))
        j.append_change(Change(cid, 1))
        print(cid, flush=True)  # told only after append_intent returned
        k += 1
        if k % 50 == 0:
            await asyncio.sleep(0)

asyncio.run(main())
"""


@pytest.mark.parametrize("flush_ms", [0, 5])
def test_every_intent_acknowledged_before_a_kill_is_in_the_journal(tmp_path: Path, flush_ms: int) -> None:
    path = tmp_path / "j"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(flush_ms)],
                            stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None
        told = [proc.stdout.readline().decode().strip() for _ in range(500)]
    finally:
        proc.send_signal(signal.SIGKILL)
    told += [line.decode().strip() for line in proc.stdout.read().splitlines()]
    proc.wait()
    proc.stdout.close()
    state = load(path)
    assert told and all(t for t in told)
    missing = [cid for cid in told if cid not in state.entries or state.entries[cid].place is None]
    assert missing == []
    assert state.skipped <= 1  # at most the record being written when the kill came


def test_a_timer_left_by_a_finished_loop_does_not_hold_changes_back(tmp_path: Path) -> None:
    path = tmp_path / "j"
    j = Journal.open(path, flush=60_000)

    async def append(cid: str) -> asyncio.AbstractEventLoop:
        j.append_change(Change(cid, ACTIVE, 1))
        return asyncio.get_running_loop()

    asyncio.run(append("c1"))  # its 60 s timer dies with the loop
    assert j.pending == 1
    # A later loop gets a timer of its own (the dead one would never fire).
    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(append("c2")) is loop
        assert j._app.timer is not None and j._app.timer_loop is loop
    finally:
        loop.close()
    assert j.pending == 2
    j.append_change(Change("c3", ACTIVE, 4))  # no loop now: written at once, with the others
    assert j.pending == 0 and set(load(path).entries) == {"c1", "c2", "c3"}
    j.close()
