"""A replayable recording (``--record FILE``): the raw user-stream frames and the manager commands,
in the order they happened, with monotonic times.

Same file format as the journal (``journal.py``): one checksummed line per record, so a recording
cut short by a crash, or damaged in the middle, still reads up to and around the damage. Records:

- frame: ``{"k": "f", "t": <monotonic s>, "f": "<the frame as text>"}``; a frame that is not
  UTF-8 (never the case for Binance's JSON) is kept exactly as ``"b": "<base64>"`` instead.
- command: ``{"k": "m", "t": <monotonic s>, "n": "<name>", "a": <args as JSON>}``.

The first line is a header (``{"k": "h", "v": 1, "wall": <epoch s>, "t": <monotonic s>}``) that
ties the monotonic times to the wall clock. Records are buffered and written at most
``flush`` ms later (a recording is a debugging and replay aid, not a durability device: no fsync
unless asked).
"""

from __future__ import annotations

import base64
import logging
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import orjson

from .journal import (
    Appender,
    Clock,
    FlushPolicy,
    JournalError,
    JournalStats,
    LineScan,
    _flush_ms,
    _open_append,
    _repair_tail,
    encode_line,
    refuse_foreign,
)

log = logging.getLogger("trading_engine_python.orders.recording")

RECORDING_VERSION: Final = 1


@dataclass(frozen=True, slots=True)
class FrameRecord:
    """A raw user-stream frame, exactly the bytes received."""

    t: float
    data: bytes


@dataclass(frozen=True, slots=True)
class CommandRecord:
    """A manager command: its name and arguments (as JSON gave them back)."""

    t: float
    name: str
    args: Any


class Recording:
    """Appends frames and commands to a recording file (created, or continued after a restart)."""

    def __init__(self, path: Path, appender: Appender, clock: Clock) -> None:
        self.path = path
        self._app = appender
        self._clock = clock
        self.stats = appender.stats

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, flush: FlushPolicy = 5, fsync: bool = False,
             clock: Clock = time.monotonic, wall_clock: Clock = time.time) -> Recording:
        p = Path(path)
        flush_ms = _flush_ms(flush)
        if p.exists():
            scan = LineScan(p, "recording")
            ours = False
            for obj in scan:
                ours = ours or obj.get("k") == "h"
            refuse_foreign(scan, ours)
            _repair_tail(p, scan)
        app = Appender(p, _open_append(p), flush_ms, fsync, JournalStats())
        if app.size == 0:
            header = {"k": "h", "v": RECORDING_VERSION, "wall": wall_clock(), "t": clock()}
            app.write_now(encode_line(orjson.dumps(header)))
        return cls(p, app, clock)

    def frame(self, data: bytes | bytearray | memoryview | str) -> None:
        """Record one raw frame as received."""
        t = self._clock()
        if isinstance(data, str):
            rec: dict[str, Any] = {"k": "f", "t": t, "f": data}
        else:
            raw = bytes(data)
            try:
                rec = {"k": "f", "t": t, "f": raw.decode()}
            except UnicodeDecodeError:
                rec = {"k": "f", "t": t, "b": base64.b64encode(raw).decode()}
        self._app.buffer(encode_line(orjson.dumps(rec)))

    def command(self, name: str, args: Any = None) -> None:
        """Record a manager command; ``args`` must be JSON-serialisable (orjson: dataclasses,
        dicts, lists, numbers, strings; fixed-point ints stay exact). Raises TypeError otherwise,
        and records nothing."""
        self._app.buffer(encode_line(orjson.dumps({"k": "m", "t": self._clock(), "n": name, "a": args})))

    def flush(self) -> None:
        self._app.flush()

    @property
    def pending(self) -> int:
        return len(self._app.pending)

    def close(self) -> None:
        self._app.close()

    def __enter__(self) -> Recording:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RecordingReader:
    """Iterates a recording's frames and commands in file order; ``skipped`` counts damaged
    records (after the iteration), ``header`` holds the header record once read."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.header: dict[str, Any] | None = None
        self.skipped = 0

    def __iter__(self) -> Iterator[FrameRecord | CommandRecord]:
        scan = LineScan(self.path, "recording")
        try:
            for obj in scan:
                item = self._item(obj, scan)
                if item is not None:
                    yield item
        finally:
            self.skipped = scan.skipped

    def _item(self, obj: dict[str, Any], scan: LineScan) -> FrameRecord | CommandRecord | None:
        kind = obj.get("k")
        t = obj.get("t")
        if kind == "h":
            if obj.get("v") != RECORDING_VERSION:
                raise JournalError(f"recording {self.path} has version {obj.get('v')!r}, "
                                   f"this code reads {RECORDING_VERSION}")
            self.header = obj
            return None
        if not isinstance(t, int | float):
            scan.skip(scan.at, "no time")
            return None
        if kind == "f":
            text = obj.get("f")
            if isinstance(text, str):
                return FrameRecord(float(t), text.encode())
            b64 = obj.get("b")
            if isinstance(b64, str):
                try:
                    return FrameRecord(float(t), base64.b64decode(b64, validate=True))
                except ValueError:
                    pass
            scan.skip(scan.at, "frame without data")
            return None
        if kind == "m" and isinstance(obj.get("n"), str):
            return CommandRecord(float(t), obj["n"], obj.get("a"))
        scan.skip(scan.at, f"unknown record kind {kind!r}")
        return None


def iter_recording(path: str | os.PathLike[str]) -> Iterator[FrameRecord | CommandRecord]:
    """The frames and commands of a recording, in order (damaged records skipped and logged)."""
    return iter(RecordingReader(path))
