"""The replayable recording: frames and commands round trip in order, damage is skipped."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from trading_engine_python.orders.journal import JournalError, encode_line
from trading_engine_python.orders.recording import (
    CommandRecord,
    FrameRecord,
    Recording,
    RecordingReader,
    iter_recording,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "ws"
SAMPLES = ("seq_real_defi_xrpusdt_market_then_stop_partial_fills_2021.jsonl",
           "otu_real_moxt_btcusdt_limit_new_then_canceled.jsonl")


class Ticks:
    def __init__(self) -> None:
        self.t = 50.0

    def __call__(self) -> float:
        self.t += 0.5
        return self.t


FRAME = (b'{"e":"ORDER_TRADE_UPDATE","T":1568879465651,"E":1568879465653,"o":{"s":"BTCUSDT",'
         b'"c":"PMSs0001_LMT_0000000000000001","X":"NEW","i":8389765739703625592,"z":"0"}}')


def _record(path: Path) -> None:
    with Recording.open(path, flush="every", clock=Ticks(), wall_clock=lambda: 1_700_000_000.0) as rec:
        rec.command("place_limit", {"sub_account_id": "sub-1", "symbol": "BTCUSDT", "side": "BUY",
                                    "quantity": "0.001", "price": 65000.1, "leverage": 5})
        rec.frame(FRAME)
        rec.frame(bytearray(b'{"e":"listenKeyExpired"}\n'))  # a newline inside a frame stays exact
        rec.frame('{"e":"ACCOUNT_UPDATE","a":"\u00e9"}')
        rec.frame(b"\xff\xfe not utf-8 \x00")
        rec.command("cancel_order", ["PMSs0001_LMT_0000000000000001"])
        rec.command("heartbeat")


def test_round_trip_in_order(tmp_path: Path) -> None:
    path = tmp_path / "session.rec"
    _record(path)
    reader = RecordingReader(path)
    items = list(reader)
    assert items == [
        CommandRecord(51.0, "place_limit", {"sub_account_id": "sub-1", "symbol": "BTCUSDT", "side": "BUY",
                                            "quantity": "0.001", "price": 65000.1, "leverage": 5}),
        FrameRecord(51.5, FRAME),
        FrameRecord(52.0, b'{"e":"listenKeyExpired"}\n'),
        FrameRecord(52.5, '{"e":"ACCOUNT_UPDATE","a":"\u00e9"}'.encode()),
        FrameRecord(53.0, b"\xff\xfe not utf-8 \x00"),
        CommandRecord(53.5, "cancel_order", ["PMSs0001_LMT_0000000000000001"]),
        CommandRecord(54.0, "heartbeat", None),
    ]
    assert reader.skipped == 0
    assert reader.header is not None
    assert (reader.header["wall"], reader.header["t"]) == (1_700_000_000.0, 50.5)
    assert list(iter_recording(path)) == items


def test_real_frames_are_kept_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / "r"
    frames = [line for name in SAMPLES for line in (DATA / name).read_bytes().splitlines() if line.strip()]
    assert len(frames) > 10
    with Recording.open(path) as rec:
        for f in frames:
            rec.frame(f)
    assert [i.data for i in iter_recording(path) if isinstance(i, FrameRecord)] == frames


def test_reopen_continues_the_file(tmp_path: Path) -> None:
    path = tmp_path / "r"
    _record(path)
    with Recording.open(path) as rec:
        rec.command("after_restart", {"n": 1})
    items = list(iter_recording(path))
    assert len(items) == 8 and items[-1].name == "after_restart"  # type: ignore[union-attr]
    assert path.read_bytes().count(b'"k":"h"') == 1  # one header


def test_torn_tail_and_corrupted_middle(tmp_path: Path) -> None:
    path = tmp_path / "r"
    _record(path)
    lines = path.read_bytes().splitlines(keepends=True)
    lines[2] = lines[2].replace(b"BTCUSDT", b"ETHUSDT")  # FRAME, damaged
    lines[-1] = lines[-1][:20]  # heartbeat, torn
    path.write_bytes(b"".join(lines))
    reader = RecordingReader(path)
    items = list(reader)
    assert reader.skipped == 2
    assert [type(i).__name__ for i in items] == ["CommandRecord"] + ["FrameRecord"] * 3 + ["CommandRecord"]
    assert FRAME not in [getattr(i, "data", None) for i in items]
    # Appending after a torn tail: the torn bytes are cut first.
    with Recording.open(path, flush="every") as rec:
        rec.command("next")
    reader = RecordingReader(path)
    assert [getattr(i, "name", None) for i in reader][-2:] == ["cancel_order", "next"]
    assert reader.skipped == 1  # the damaged frame in the middle stays skipped


def test_invalid_records_with_good_checksums(tmp_path: Path) -> None:
    path = tmp_path / "r"
    _record(path)
    with open(path, "ab") as f:
        f.write(encode_line(b'{"k":"f","t":1}'))
        f.write(encode_line(b'{"k":"f","t":1,"b":"!!"}'))
        f.write(encode_line(b'{"k":"m","n":"no time"}'))
        f.write(encode_line(b'{"k":"q","t":1}'))
    reader = RecordingReader(path)
    assert len(list(reader)) == 7 and reader.skipped == 4


def test_missing_and_empty(tmp_path: Path) -> None:
    reader = RecordingReader(tmp_path / "missing")
    assert list(reader) == [] and reader.skipped == 0 and reader.header is None
    (tmp_path / "empty").write_bytes(b"")
    assert list(iter_recording(tmp_path / "empty")) == []


def test_unknown_version_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "r"
    path.write_bytes(encode_line(b'{"k":"h","v":7,"t":0}'))
    with pytest.raises(JournalError, match="version 7"):
        list(iter_recording(path))


def test_unserialisable_args_record_nothing(tmp_path: Path) -> None:
    path = tmp_path / "r"
    with Recording.open(path, flush="every") as rec:
        with pytest.raises(TypeError):
            rec.command("bad", {"x": object()})
        rec.command("good")
    assert [i.name for i in iter_recording(path)] == ["good"]  # type: ignore[union-attr]


async def test_buffered_until_the_timer(tmp_path: Path) -> None:
    path = tmp_path / "r"
    rec = Recording.open(path, flush=60_000)
    rec.frame(FRAME)
    rec.command("x")
    await asyncio.sleep(0)
    assert rec.pending == 2 and list(iter_recording(path)) == []
    rec.flush()
    assert rec.pending == 0 and len(list(iter_recording(path))) == 2
    rec.frame(FRAME)
    rec.close()
    assert len(list(iter_recording(path))) == 3


async def test_flush_zero_writes_on_the_next_loop_turn(tmp_path: Path) -> None:
    path = tmp_path / "r"
    rec = Recording.open(path, flush=0)
    rec.frame(FRAME)
    assert rec.pending == 1
    await asyncio.sleep(0)
    assert rec.pending == 0 and [i.data for i in iter_recording(path)] == [FRAME]  # type: ignore[union-attr]
    rec.close()


def test_a_file_that_is_not_a_recording_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "r"
    path.write_bytes(b"some\nother file")
    with pytest.raises(JournalError, match="not one valid record"):
        Recording.open(path)
    assert path.read_bytes() == b"some\nother file"
