"""Write-ahead order journal: what was about to be sent, and what the feed said happened.

A restart must neither lose an order nor send it twice. The journal keeps, per exchange account,
an append-only log of two record kinds:

- ``Intent``: written *before* a place / cancel / amend (or a batch of them) leaves, so that after
  a crash every order that may have reached the exchange is known by its client order id and can
  be looked up there instead of being placed again.
- ``Change``: written after the core applied a feed event: state, exchange order id, cumulative
  fill, average price, and ``risk_filled`` (the cumulative fill the risk hook has been told), so
  that a fill the risk hook never heard of is told after the restart, and one it heard of is not
  told twice.

File format (version 1): one record per line, ``<crc32 of payload, 8 hex digits> <payload>\\n``,
the payload being compact JSON (orjson escapes every control character, so a payload never holds
a newline). Lines make the journal greppable by client id during an incident, and make resyncing
after a damaged record trivial: a record whose checksum does not match (a torn last write after a
crash, or a corrupted record in the middle) is skipped with one log line and counted, and the rest
loads. On open, an unterminated damaged last line is truncated away so that the next append does
not glue onto it. Quantities and prices are fixed-point ints (1e-8), as in the core.

Durability, by flush policy (``flush=``):

====================  ===========================================  =========================================
policy                ``append_intent`` (before the send)           ``append_change``
====================  ===========================================  =========================================
``"every"``           written and fsync'd before returning          written and fsync'd before returning
``N`` (ms, int >= 0)  written to the OS before returning            buffered; written at most N ms later
                      (survives a process crash); fsync'd at the    (N = 0: on the next event-loop turn),
                      next timer flush                              then fsync'd
====================  ===========================================  =========================================

So with ``flush=N`` at most N ms of changes are at risk on a process crash (and N ms of everything
on a power loss); ``fsync=False`` leaves durability to the OS page cache. Without a running event
loop a buffered change is written at once. An intent also writes out every change buffered before
it, in one write, so the file keeps the call order.

Compaction: the journal folds every record it writes into its own state (client id -> last place
intent, last cancel/amend intent, last change). When the file passes ``compact_bytes`` it rewrites
that state, less the settled orders (terminal, and the risk hook told of every fill), into a
temporary file, fsyncs it, moves it over the journal with ``os.replace`` and carries on appending.
A crash before the replace leaves the old file intact (the stale temporary is removed at the next
open). The automatic compaction runs on the loop turn after the write that crossed the limit (not
inside an append on the place path) and blocks the loop for the rewrite (see
``benchmarks/bench_journal.py``). An owner with a better view can call ``compact(entries)``.

On a restart, ``Journal.open(path).loaded.unsettled()`` is the work list: an entry with a place
intent and no change may or may not have reached the exchange (look it up by client id before
placing anything); a live one is to be reconciled with the exchange; a terminal one whose
``change.risk_filled`` is below ``change.filled`` still owes the risk hook the difference.

A write that fails (disk full, I/O error) breaks the journal: every later append raises
``JournalError``, since placing orders the journal cannot record would defeat it.

``RedisJournal`` keeps the same records in a Redis stream per account (redis-py's asyncio client);
there the appends of intents are coroutines.

One event loop drives a journal; it is not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final, Literal

import orjson

from ._states import FIRST_TERMINAL

log = logging.getLogger("trading_engine_python.orders.journal")

FORMAT_VERSION: Final = 1
ACTIONS: Final = frozenset({"place", "cancel", "amend"})
FlushPolicy = Literal["every"] | int
Clock = Callable[[], float]

_HEADER: Final = b"h"
_INTENT: Final = "i"
_CHANGE: Final = "c"
_MAX_SKIP_LOGS: Final = 20  # a badly damaged file logs this many skipped records, then a summary
_COMPACT_SUFFIX: Final = ".compact"


class JournalError(RuntimeError):
    """The journal cannot record (a failed write), or a file is not a journal this code reads."""


@dataclass(frozen=True, slots=True)
class Intent:
    """What is about to be sent for one order: ``action`` "place" carries the whole order, "amend"
    the new ``price`` / ``quantity``, "cancel" only the ids.

    Prices and quantities are fixed-point ints (1e-8); ``callback_rate`` too (a percentage, as
    Binance's ``callbackRate``). ``sub_account_id`` is the full sub-account id, not the prefix the
    client order id carries.
    """

    action: str
    client_id: str
    sub_account_id: str = ""
    symbol: str = ""
    side: str = ""
    order_type: str = ""
    quantity: int = 0
    price: int | None = None
    time_in_force: str | None = None
    reduce_only: bool = False
    leverage: int = 1
    origin: str = ""
    parent_id: str | None = None
    trigger_price: int | None = None
    working_type: str | None = None
    callback_rate: int | None = None
    activation_price: int | None = None
    close_position: bool | None = None
    price_protect: bool | None = None


@dataclass(frozen=True, slots=True)
class Change:
    """An order after the core applied a feed event. ``state`` is the core's state code (the table
    in ``_states.py``, fixed for format version 1); ``filled``, ``avg_price`` and ``risk_filled``
    are fixed-point (1e-8)."""

    client_id: str
    state: int
    exchange_order_id: int | None = None
    filled: int = 0
    avg_price: int = 0
    risk_filled: int = 0


@dataclass(slots=True)
class JournalEntry:
    """What the journal knows of one client order id: the last place intent, the last
    cancel/amend intent after it, the last change, and the time (journal clock) of the last."""

    client_id: str
    place: Intent | None = None
    action: Intent | None = None
    change: Change | None = None
    updated: float = 0.0

    @property
    def live(self) -> bool:
        """No terminal state seen: the order may be working (or may never have left: an intent
        without a change means "look it up by client id before placing anything")."""
        return self.change is None or self.change.state < FIRST_TERMINAL

    @property
    def settled(self) -> bool:
        """Terminal, and the risk hook was told of the whole fill: nothing left to do."""
        c = self.change
        return c is not None and c.state >= FIRST_TERMINAL and c.risk_filled == c.filled


@dataclass(slots=True)
class JournalState:
    """A journal as loaded: the entries by client id, and how the read went."""

    entries: dict[str, JournalEntry] = field(default_factory=dict)
    records: int = 0  # records read and applied (the header not counted)
    skipped: int = 0  # records dropped: checksum mismatch, torn, unreadable or invalid
    torn_tail: bool = False  # the last line was cut short (a crash in the middle of a write)
    version: int = FORMAT_VERSION
    has_header: bool = False  # a journal header record was read

    def live(self) -> list[JournalEntry]:
        return [e for e in self.entries.values() if e.live]

    def unsettled(self) -> list[JournalEntry]:
        """Live orders plus terminal ones whose fill the risk hook has not been fully told."""
        return [e for e in self.entries.values() if not e.settled]


@dataclass(slots=True)
class JournalStats:
    intents: int = 0
    changes: int = 0
    writes: int = 0  # write system calls
    fsyncs: int = 0
    bytes: int = 0
    compactions: int = 0


# --- the line format --------------------------------------------------------------------------

def encode_line(payload: bytes) -> bytes:
    """One checksummed record line."""
    return b"%08x %s\n" % (zlib.crc32(payload), payload)


def check_line(line: bytes) -> bytes | None:
    """The payload of a record line (without its newline), or None if the checksum says no."""
    if len(line) < 10 or line[8] != 0x20:
        return None
    try:
        crc = int(line[:8], 16)
    except ValueError:
        return None
    payload = line[9:]
    return payload if zlib.crc32(payload) == crc else None


class Tally:
    """Counts (and logs, up to a limit) the records a reader had to skip."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.skipped = 0

    def skip(self, offset: int | str, reason: str) -> None:
        self.skipped += 1
        if self.skipped <= _MAX_SKIP_LOGS:
            log.warning("%s: skipped the record at %s (%s)", self.where, offset, reason)

    def summary(self) -> None:
        if self.skipped > _MAX_SKIP_LOGS:
            log.warning("%s: %d records skipped in all", self.where, self.skipped)


class LineScan(Tally):
    """Reads a record file line by line: the good payloads, decoded, with a tally of the rest.

    After the iteration: ``skipped``, ``torn_tail`` (the last line had no newline and a bad
    checksum), ``good_end`` (the offset after the last complete line, where a torn tail starts)
    and ``missing_newline`` (the last line is a good record that lacks only its newline).
    """

    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"{what} {path}")
        self.path = path
        self.torn_tail = False
        self.good_end = 0
        self.missing_newline = False
        self.at = "byte 0"  # where the record last yielded starts

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 (closed below, the generator may be left early)
        except FileNotFoundError:
            return
        offset = 0
        try:
            for line in f:
                start = offset
                offset += len(line)
                terminated = line.endswith(b"\n")
                payload = check_line(line[:-1] if terminated else line)
                if payload is None:
                    if terminated:
                        self.good_end = offset
                        self.skip(f"byte {start}", "checksum mismatch")
                    else:
                        self.torn_tail = True
                        self.skip(f"byte {start}", "torn last record")
                    continue
                self.good_end = offset
                self.missing_newline = not terminated
                try:
                    obj = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    self.skip(f"byte {start}", "checksum good but not JSON")
                    continue
                if not isinstance(obj, dict):
                    self.skip(f"byte {start}", "not a record")
                    continue
                self.at = f"byte {start}"
                yield obj
        finally:
            f.close()
            self.summary()


# --- records <-> JSON ---------------------------------------------------------------------------

_INTENT_FIELDS: Final = frozenset(f.name for f in fields(Intent))
_CHANGE_FIELDS: Final = frozenset(f.name for f in fields(Change))


def _intent_payload(i: Intent, ts: float) -> bytes:
    # A plain dict: orjson serialises it faster than the slotted dataclass itself (same bytes).
    return orjson.dumps({"k": _INTENT, "ts": ts, "r": {
        "action": i.action, "client_id": i.client_id, "sub_account_id": i.sub_account_id,
        "symbol": i.symbol, "side": i.side, "order_type": i.order_type, "quantity": i.quantity,
        "price": i.price, "time_in_force": i.time_in_force, "reduce_only": i.reduce_only,
        "leverage": i.leverage, "origin": i.origin, "parent_id": i.parent_id,
        "trigger_price": i.trigger_price, "working_type": i.working_type, "callback_rate": i.callback_rate,
        "activation_price": i.activation_price, "close_position": i.close_position,
        "price_protect": i.price_protect}})


def _change_payload(c: Change, ts: float) -> bytes:
    return orjson.dumps({"k": _CHANGE, "ts": ts, "r": {
        "client_id": c.client_id, "state": c.state, "exchange_order_id": c.exchange_order_id,
        "filled": c.filled, "avg_price": c.avg_price, "risk_filled": c.risk_filled}})


def _header_payload(ts: float) -> bytes:
    return orjson.dumps({"k": "h", "v": FORMAT_VERSION, "ts": ts})


def _intent_from(r: Any) -> Intent | None:
    if not isinstance(r, dict):
        return None
    try:
        intent = Intent(**{k: v for k, v in r.items() if k in _INTENT_FIELDS})
    except TypeError:
        return None
    if intent.action not in ACTIONS or not isinstance(intent.client_id, str):
        return None
    return intent


def _change_from(r: Any) -> Change | None:
    if not isinstance(r, dict):
        return None
    try:
        change = Change(**{k: v for k, v in r.items() if k in _CHANGE_FIELDS})
    except TypeError:
        return None
    if not isinstance(change.client_id, str) or not isinstance(change.state, int):
        return None
    return change


class _Folder:
    """Folds records into entries: a place starts an entry afresh, cancel/amend and changes
    update the entry of their client id (made if the place is not in the log: an adopted order)."""

    def __init__(self, entries: dict[str, JournalEntry]) -> None:
        self.entries = entries

    def intent(self, intent: Intent, ts: float) -> None:
        cid = intent.client_id
        if intent.action == "place":
            self.entries[cid] = JournalEntry(cid, intent, None, None, ts)
            return
        e = self.entries.get(cid)
        if e is None:
            e = self.entries[cid] = JournalEntry(cid)
        e.action = intent
        e.updated = ts

    def change(self, change: Change, ts: float) -> None:
        cid = change.client_id
        e = self.entries.get(cid)
        if e is None:
            e = self.entries[cid] = JournalEntry(cid)
        e.change = change
        e.updated = ts

    def record(self, obj: dict[str, Any], scan: Tally, state: JournalState, at: int | str = "?") -> None:
        kind = obj.get("k")
        ts = obj.get("ts", 0.0)
        if not isinstance(ts, int | float):
            ts = 0.0
        if kind == _INTENT:
            intent = _intent_from(obj.get("r"))
            if intent is None:
                scan.skip(at, "invalid intent")
                return
            self.intent(intent, float(ts))
        elif kind == _CHANGE:
            change = _change_from(obj.get("r"))
            if change is None:
                scan.skip(at, "invalid change")
                return
            self.change(change, float(ts))
        elif kind == "h":
            version = obj.get("v")
            if version != FORMAT_VERSION:
                raise JournalError(f"{scan.where} has format version {version!r}, "
                                   f"this code reads {FORMAT_VERSION}")
            state.version = version
            state.has_header = True
            return
        else:
            scan.skip(at, f"unknown record kind {kind!r}")
            return
        state.records += 1


def _entry_payloads(e: JournalEntry) -> Iterator[bytes]:
    if e.place is not None:
        yield _intent_payload(e.place, e.updated)
    if e.action is not None:
        yield _intent_payload(e.action, e.updated)
    if e.change is not None:
        yield _change_payload(e.change, e.updated)


def _fold_lines(lines: Iterable[dict[str, Any]], scan: LineScan) -> JournalState:
    state = JournalState()
    folder = _Folder(state.entries)
    for obj in lines:
        folder.record(obj, scan, state, scan.at)
    state.skipped = scan.skipped
    state.torn_tail = scan.torn_tail
    return state


def load(path: str | os.PathLike[str]) -> JournalState:
    """Read a journal file without writing to it (a missing or empty file is an empty state)."""
    scan = LineScan(Path(path), "journal")
    return _fold_lines(scan, scan)


def _flush_ms(flush: FlushPolicy) -> int | None:
    if flush == "every":
        return None
    if isinstance(flush, bool) or not isinstance(flush, int) or flush < 0:
        raise ValueError(f"flush must be 'every' or a number of milliseconds >= 0, not {flush!r}")
    return flush


def _fsync_dir(path: Path) -> None:
    # The rename itself must reach the disk, or a power loss could bring the old name back.
    try:
        fd = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _open_append(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)


def refuse_foreign(scan: LineScan, recognised: bool) -> None:
    """Refuse to append to (and cut the tail of) a file with content but not one record of ours:
    most likely the wrong path. A file holding only a torn first header is a crashed start."""
    if not recognised and scan.skipped > (1 if scan.torn_tail else 0):
        raise JournalError(f"{scan.where} has {scan.skipped} lines and not one valid record: "
                           "not a file of ours? (left untouched)")


def _repair_tail(path: Path, scan: LineScan) -> None:
    """Make the file end with a complete line before appending to it."""
    if scan.torn_tail:
        log.warning("%s: cut the torn last record at byte %d", scan.where, scan.good_end)
        with open(path, "r+b") as f:
            f.truncate(scan.good_end)
            f.flush()
            os.fsync(f.fileno())
    elif scan.missing_newline:
        with open(path, "ab") as f:
            f.write(b"\n")


# --- the appending file -------------------------------------------------------------------------

class Appender:
    """An append-only file of lines: writes now (one system call) or buffers until a timer.

    ``flush_ms`` None: every write is immediate and fsync'd (when ``fsync``). Otherwise buffered
    data waits at most ``flush_ms`` (0: the next loop turn); immediate writes are fsync'd by that
    same timer. ``after_write`` is called after every write that reached the file.
    """

    def __init__(self, path: Path, fd: int, flush_ms: int | None, fsync: bool,
                 stats: JournalStats, after_write: Callable[[], None] | None = None) -> None:
        self.path = path
        self.fd = fd
        self.size = os.fstat(fd).st_size
        self.flush_ms = flush_ms
        self.fsync = fsync
        self.stats = stats
        self.after_write = after_write
        self.pending: list[bytes] = []
        self.dirty = False  # written but not fsync'd
        self.timer: asyncio.Handle | None = None
        self.timer_loop: asyncio.AbstractEventLoop | None = None
        self.broken: BaseException | None = None

    def _check(self) -> None:
        if self.broken is not None:
            raise JournalError(f"{self.path}: an earlier write failed ({self.broken})") from self.broken
        if self.fd < 0:
            raise JournalError(f"{self.path} is closed")

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                n = os.write(self.fd, view)
                self.stats.writes += 1
                view = view[n:]
        except BaseException as exc:
            # Part of a line may be on disk now; anything appended after it would be glued to it.
            self.broken = exc
            raise
        self.size += len(data)
        self.stats.bytes += len(data)
        self.dirty = True

    def _sync(self) -> None:
        if self.dirty and self.fsync:
            try:
                os.fsync(self.fd)
            except BaseException as exc:
                self.broken = exc
                raise
            self.stats.fsyncs += 1
        self.dirty = False

    def write_now(self, data: bytes) -> None:
        """Write ``data`` (after whatever is buffered) before returning; fsync now or by the timer."""
        self._check()
        if self.pending:
            self.pending.append(data)
            data = b"".join(self.pending)
            self.pending.clear()
        self._write(data)
        if self.flush_ms is None:
            self._sync()
        elif self.fsync:
            self._schedule()
        if self.after_write is not None:
            self.after_write()

    def buffer(self, data: bytes) -> None:
        """Write ``data`` within the flush policy."""
        if self.flush_ms is None:
            self.write_now(data)
            return
        self._check()
        self.pending.append(data)
        self._schedule()

    def _schedule(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.flush()
            return
        if self.timer is not None:
            if self.timer_loop is loop:
                return
            self.timer.cancel()  # set by a loop that is gone: it would never fire
        self.timer_loop = loop
        if self.flush_ms:
            self.timer = loop.call_later(self.flush_ms / 1000, self._on_timer)
        else:
            self.timer = loop.call_soon(self._on_timer)

    def _on_timer(self) -> None:
        self.timer = None
        try:
            self.flush()
        except Exception:
            log.exception("%s: flush failed; the journal refuses further appends", self.path)

    def flush(self) -> None:
        """Write what is buffered and fsync (policy permitting) now."""
        if self.fd < 0:
            return
        self._check()
        wrote = False
        if self.pending:
            data = b"".join(self.pending)
            self.pending.clear()
            self._write(data)
            wrote = True
        self._sync()
        if wrote and self.after_write is not None:
            self.after_write()

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

    def close(self) -> None:
        if self.fd < 0:
            return
        self.cancel_timer()
        try:
            if self.broken is None:
                self.flush()
        finally:
            os.close(self.fd)
            self.fd = -1


class Journal:
    """The file journal of one exchange account (see the module docstring).

    ``Journal.open`` reads what is there (``journal.loaded``), repairs a torn tail, removes a
    temporary file a crashed compaction left, and appends from then on.
    """

    def __init__(self, path: Path, appender: Appender, loaded: JournalState, *,
                 compact_bytes: int, clock: Clock) -> None:
        self.path = path
        self._app = appender
        self.loaded = loaded
        self.stats = appender.stats
        self._clock = clock
        self._entries: dict[str, JournalEntry] = {cid: replace(e) for cid, e in loaded.entries.items()}
        self._folder = _Folder(self._entries)
        self._compact_bytes = compact_bytes
        self._compact_at = max(compact_bytes, 2 * appender.size)
        self._compact_handle: asyncio.Handle | None = None
        self._compacting = False
        appender.after_write = self._after_write

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, flush: FlushPolicy = 5, fsync: bool = True,
             compact_bytes: int = 64 << 20, clock: Clock = time.time) -> Journal:
        """Open (or create) the journal at ``path``. The default ``flush=5`` writes each intent to
        the OS before the send and fsyncs within 5 ms; ``"every"`` fsyncs before every append
        returns, which costs a disk flush per order (see ``benchmarks/bench_journal.py``).
        ``clock`` stamps each record (wall time by default, for people reading the file)."""
        p = Path(path)
        flush_ms = _flush_ms(flush)
        if compact_bytes <= 0:
            raise ValueError("compact_bytes must be > 0")
        tmp = p.with_name(p.name + _COMPACT_SUFFIX)
        if tmp.exists():
            log.warning("journal %s: removed %s left by a compaction that did not finish", p, tmp.name)
            tmp.unlink()
        scan = LineScan(p, "journal")
        loaded = _fold_lines(scan, scan)
        refuse_foreign(scan, loaded.has_header or loaded.records > 0)
        if p.exists():
            _repair_tail(p, scan)
        fd = _open_append(p)
        app = Appender(p, fd, flush_ms, fsync, JournalStats())
        if app.size == 0:
            app.write_now(encode_line(_header_payload(clock())))
            if flush_ms is not None:
                app.flush()
            _fsync_dir(p)
        return cls(p, app, loaded, compact_bytes=compact_bytes, clock=clock)

    # -- appends --

    def append_intent(self, intent: Intent) -> None:
        """Record an intent before its request leaves: on return it is written to the OS (and
        fsync'd with flush="every"). Raises (and writes nothing) if the intent cannot be encoded,
        ``JournalError`` if the journal is broken or closed: do not send then."""
        ts = self._clock()
        self._app.write_now(encode_line(_intent_payload(intent, ts)))
        self.stats.intents += 1
        self._folder.intent(intent, ts)

    def append_intents(self, intents: Sequence[Intent]) -> None:
        """Record the intents of one batch request in one write (see ``append_intent``)."""
        if not intents:
            return
        ts = self._clock()
        data = b"".join(encode_line(_intent_payload(i, ts)) for i in intents)
        self._app.write_now(data)
        self.stats.intents += len(intents)
        for i in intents:
            self._folder.intent(i, ts)

    def append_change(self, change: Change, *, now: bool = False) -> None:
        """Record an order change after the core applied it; buffered under a ``flush=N`` policy
        (at most N ms at risk on a crash), written and fsync'd before returning with "every".
        ``now``: written to the OS before returning, like an intent (for a ``risk_filled`` just
        told to the risk hook: a crash must not make the restart tell it again)."""
        ts = self._clock()
        line = encode_line(_change_payload(change, ts))
        if now:
            self._app.write_now(line)
        else:
            self._app.buffer(line)
        self.stats.changes += 1
        self._folder.change(change, ts)

    def flush(self) -> None:
        """Write buffered changes and fsync now."""
        self._app.flush()

    @property
    def pending(self) -> int:
        """Records buffered, not yet written."""
        return len(self._app.pending)

    @property
    def size(self) -> int:
        """Bytes in the file (written records; buffered ones not counted)."""
        return self._app.size

    def state(self) -> JournalState:
        """The journal's current fold (a copy): everything loaded and appended since."""
        entries = {cid: replace(e) for cid, e in self._entries.items()}
        return replace(self.loaded, entries=entries)

    # -- compaction --

    def _after_write(self) -> None:
        if self._app.size < self._compact_at or self._compact_handle is not None or self._compacting:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.compact()
            return
        # Not inside the append that crossed the line: that one may be on the place path.
        self._compact_handle = loop.call_soon(self._auto_compact)

    def _auto_compact(self) -> None:
        self._compact_handle = None
        if self._app.fd < 0 or self._app.size < self._compact_at:
            return
        try:
            self.compact()
        except Exception:
            log.exception("journal %s: compaction failed; appending to the old file", self.path)
            self._compact_at = max(self._compact_bytes, 2 * self._app.size)

    def compact(self, entries: Iterable[JournalEntry] | None = None) -> None:
        """Rewrite the journal as ``entries`` (default: the journal's own fold less the settled
        orders) and continue appending to the new file. Crash-safe: temporary file, fsync,
        ``os.replace``, fsync of the directory. Blocks for the time of the rewrite."""
        app = self._app
        app._check()
        self._compacting = True
        try:
            self._compact(app, entries)
        finally:
            self._compacting = False

    def _compact(self, app: Appender, entries: Iterable[JournalEntry] | None) -> None:
        app.flush()
        keep = [e for e in self._entries.values() if not e.settled] if entries is None else list(entries)
        tmp = self.path.with_name(self.path.name + _COMPACT_SUFFIX)
        parts = [encode_line(_header_payload(self._clock()))]
        for e in keep:
            parts.extend(encode_line(p) for p in _entry_payloads(e))
        data = b"".join(parts)
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0), 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(self.path)
        # From here the new file is the journal; an error reopening it breaks the journal.
        app.cancel_timer()
        os.close(app.fd)
        app.fd = -1
        try:
            app.fd = _open_append(self.path)
        except BaseException as exc:
            app.broken = exc
            raise
        app.size = len(data)
        app.dirty = False
        self._entries.clear()
        for e in keep:
            self._entries[e.client_id] = replace(e)
        self._compact_at = max(self._compact_bytes, 2 * app.size)
        self.stats.compactions += 1
        log.info("journal %s: compacted to %d orders, %d bytes", self.path, len(keep), app.size)

    def close(self) -> None:
        """Write what is buffered, fsync and close (idempotent)."""
        if self._compact_handle is not None:
            self._compact_handle.cancel()
            self._compact_handle = None
        self._app.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- Redis backend ------------------------------------------------------------------------------

class RedisJournal:
    """The journal in a Redis stream per account (``XADD`` with ``MAXLEN ~``, read with ``XRANGE``).

    Same records, checksummed lines and fold as the file journal; each stream entry holds one
    line in its field ``r``. Differences: ``append_intent`` / ``append_intents`` are coroutines
    (the intent is in Redis when they return), and ``append_change`` always buffers: with
    flush="every" the changes go out on the next loop turn, with ``N`` ms at most N ms later
    (one pipeline per flush). How durable a record is then depends on the server's persistence
    (``appendonly yes``, ``appendfsync``): Redis acknowledges before it syncs.

    Compaction (when the stream passes ``compact_entries``, or ``compact()``): the live fold is
    written to ``<key>.compact`` and renamed over the stream (``RENAME``, atomic); a crash before the
    rename leaves the old stream intact, and ``open`` deletes the stale copy. ``maxlen`` is only
    the last-resort bound of ``MAXLEN ~``: keep it well above ``compact_entries``, since trimming
    drops the oldest records, which may be the place intent of an order still live.

    ``client`` is a ``redis.asyncio.Redis``; the journal does not close it.
    """

    def __init__(self, client: Any, key: str, loaded: JournalState, length: int, *,
                 flush_ms: int, maxlen: int, compact_entries: int, clock: Clock) -> None:
        self.client = client
        self.key = key
        self.loaded = loaded
        self.stats = JournalStats()
        self.length = length  # entries in the stream, as far as this journal knows
        self._flush_ms = flush_ms
        self._maxlen = maxlen
        self._compact_entries = compact_entries
        self._compact_at = max(compact_entries, 2 * length)
        self._clock = clock
        self._entries: dict[str, JournalEntry] = {cid: replace(e) for cid, e in loaded.entries.items()}
        self._folder = _Folder(self._entries)
        self._pending: list[bytes] = []
        self._lock = asyncio.Lock()  # one send at a time, in call order (asyncio.Lock is FIFO)
        self._timer: asyncio.Handle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._broken: BaseException | None = None
        self._closed = False
        self._compacting = False

    @classmethod
    async def open(cls, client: Any, account: str, *, key_prefix: str = "pms:journal:",
                   flush: FlushPolicy = 5, maxlen: int = 1_000_000, compact_entries: int = 100_000,
                   clock: Clock = time.time) -> RedisJournal:
        flush_ms = _flush_ms(flush)
        if compact_entries <= 0 or maxlen <= compact_entries:
            raise ValueError("need 0 < compact_entries < maxlen")
        key = key_prefix + account
        await client.delete(key + _COMPACT_SUFFIX)
        loaded = await load_stream(client, key)
        length = int(await client.xlen(key))
        if length == 0:
            await client.xadd(key, {"r": encode_line(_header_payload(clock()))[:-1]})
            length = 1
        return cls(client, key, loaded, length, flush_ms=flush_ms or 0, maxlen=maxlen,
                   compact_entries=compact_entries, clock=clock)

    def _check(self) -> None:
        if self._broken is not None:
            raise JournalError(f"{self.key}: an earlier write failed ({self._broken})") from self._broken
        if self._closed:
            raise JournalError(f"{self.key} is closed")

    async def _send(self, lines: list[bytes]) -> None:
        async with self._lock:
            if not lines:
                return
            pipe = self.client.pipeline(transaction=False)
            for line in lines:
                pipe.xadd(self.key, {"r": line}, maxlen=self._maxlen, approximate=True)
            try:
                await pipe.execute()
            except BaseException as exc:
                # Which of the records arrived is unknown: refuse to go on rather than guess.
                self._broken = exc
                raise
            self.length += len(lines)
            self.stats.writes += 1
            self.stats.bytes += sum(map(len, lines))
        if self.length >= self._compact_at and not self._compacting:
            self._spawn(self._auto_compact())

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _take(self, extra: list[bytes]) -> list[bytes]:
        lines = self._pending + extra if self._pending else extra
        self._pending = []
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        return lines

    async def append_intent(self, intent: Intent) -> None:
        """Record an intent (after the changes buffered before it); returns once Redis has it."""
        await self.append_intents((intent,))

    async def append_intents(self, intents: Sequence[Intent]) -> None:
        self._check()
        ts = self._clock()
        mine = [encode_line(_intent_payload(i, ts))[:-1] for i in intents]
        for i in intents:
            self._folder.intent(i, ts)
        self.stats.intents += len(intents)
        await self._send(self._take(mine))

    def append_change(self, change: Change) -> None:
        """Buffer a change; sent on the next loop turn (flush="every") or within ``N`` ms."""
        self._check()
        ts = self._clock()
        self._pending.append(encode_line(_change_payload(change, ts))[:-1])
        self.stats.changes += 1
        self._folder.change(change, ts)
        if self._timer is None:
            loop = asyncio.get_running_loop()
            if self._flush_ms:
                self._timer = loop.call_later(self._flush_ms / 1000, self._on_timer)
            else:
                self._timer = loop.call_soon(self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._spawn(self._flush_logged())

    async def _flush_logged(self) -> None:
        try:
            await self.flush()
        except Exception:
            log.exception("journal stream %s: flush failed; the journal refuses further appends", self.key)

    async def flush(self) -> None:
        """Send the buffered changes now."""
        self._check()
        await self._send(self._take([]))

    @property
    def pending(self) -> int:
        return len(self._pending)

    def state(self) -> JournalState:
        entries = {cid: replace(e) for cid, e in self._entries.items()}
        return replace(self.loaded, entries=entries)

    async def _auto_compact(self) -> None:
        try:
            await self.compact()
        except Exception:
            log.exception("journal stream %s: compaction failed", self.key)
            self._compact_at = max(self._compact_entries, 2 * self.length)

    async def compact(self, entries: Iterable[JournalEntry] | None = None) -> None:
        """Rewrite the stream as ``entries`` (default: the fold less the settled orders)."""
        self._check()
        self._compacting = True
        try:
            async with self._lock:
                # The fold already holds every buffered change: they are in the rewrite.
                self._take([])
                keep = ([e for e in self._entries.values() if not e.settled] if entries is None
                        else [replace(e) for e in entries])
                tmp = self.key + _COMPACT_SUFFIX
                lines = [encode_line(_header_payload(self._clock()))[:-1]]
                for e in keep:
                    lines.extend(encode_line(p)[:-1] for p in _entry_payloads(e))
                pipe = self.client.pipeline(transaction=False)
                pipe.delete(tmp)
                for line in lines:
                    pipe.xadd(tmp, {"r": line})
                await pipe.execute()
                await self.client.rename(tmp, self.key)
                self._entries.clear()
                for e in keep:
                    self._entries[e.client_id] = e
                self.length = len(lines)
                self._compact_at = max(self._compact_entries, 2 * self.length)
                self.stats.compactions += 1
        finally:
            self._compacting = False

    async def close(self) -> None:
        """Send what is buffered and stop (the Redis client stays open)."""
        if self._closed:
            return
        try:
            if self._broken is None:
                await self.flush()
            for task in list(self._tasks):
                with contextlib.suppress(BaseException):
                    await task
        finally:
            self._closed = True


async def load_stream(client: Any, key: str, *, page: int = 10_000) -> JournalState:
    """Read a journal stream (a missing key is an empty state), in pages of ``page`` entries."""
    tally = Tally(f"journal stream {key}")
    state = JournalState()
    folder = _Folder(state.entries)
    start: bytes | str = "-"
    while True:
        batch = await client.xrange(key, start, "+", count=page)
        for entry_id, values in batch:
            at = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            line = values.get(b"r", values.get("r"))
            if isinstance(line, str):
                line = line.encode()
            payload = check_line(line) if isinstance(line, bytes) else None
            if payload is None:
                tally.skip(at, "checksum mismatch")
                continue
            try:
                obj = orjson.loads(payload)
            except orjson.JSONDecodeError:
                tally.skip(at, "checksum good but not JSON")
                continue
            if not isinstance(obj, dict):
                tally.skip(at, "not a record")
                continue
            folder.record(obj, tally, state, at)
        if len(batch) < page:
            break
        last = batch[-1][0]
        start = b"(" + last if isinstance(last, bytes) else "(" + str(last)
    tally.summary()
    state.skipped = tally.skipped
    return state
