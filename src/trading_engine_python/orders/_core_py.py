"""Pure-Python order core: the typed reference for ``_core_c.pyx``.

Holds every order the manager tracks, decodes user-stream frames and applies the transition rules.
The compiled twin keeps the same records as fixed-layout C structs; both must behave identically,
down to the counters (tests/orders/test_core_properties.py drives random operation sequences through both).

Rules: the one transition table ``_states.TRANSITIONS`` and the notes under it. The cumulative
filled quantity ``z`` is the truth and a smaller or equal ``z`` is stale; a terminal state never
goes back to a live one; a fill increase is never dropped, even on an order that is already
cancelled, expired, rejected or failed (a "late fill").

Not thread-safe: one event loop drives one core.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from . import _decode_py as dec
from ._fixed import FP_SCALE
from ._states import (
    A_ACK,
    A_CLOSED,
    A_FILLED,
    A_ORPHAN,
    A_REFUSE,
    A_SEEN,
    ACTIVE,
    CELLS,
    EV_CANCEL_REFUSED,
    EV_CANCEL_REFUSED_ACKED,
    EV_CANCEL_SENT,
    EV_COMPLETED,
    EV_FAILED_LOCAL,
    EV_PLACE_SENT,
    EV_REJECTED_LOCAL,
    EV_UNKNOWN,
    F_ACTIVATED,
    F_CLOSED,
    F_FILL,
    F_FILLED,
    F_HOOKED,
    F_LATE_FILL,
    F_MALFORMED,
    F_ORPHAN,
    F_OTHER_EVENT,
    F_PARTIAL,
    F_STALE,
    F_UNKNOWN_ID,
    F_UNKNOWN_STATUS,
    FAILED,
    FIRST_TERMINAL,
    IDLE,
    KEEP,
    ORDER_TYPES,
    PLACING,
    REJECTED,
    SIDES,
    STATE_NAMES,
)

IMPLEMENTATION = "python"

__all__ = ["IMPLEMENTATION", "OrderCore", "OrderState"]  # what orders._core re-exports

# add() registers an order as its request leaves: the table's "place sent" cell out of idle.
_PLACED = CELLS[IDLE][EV_PLACE_SENT] & 15


def _to_float(fp: int) -> float:
    return fp / FP_SCALE


class OrderState:
    """One tracked order. In this twin the record is its own view: a held object simply keeps its
    final values after the core lets go of it."""

    __slots__ = (
        "_acked",
        "_avg",
        "_filled",
        "_hooked",
        "_last_price",
        "_last_qty",
        "_price",
        "_qty",
        "_side",
        "_state",
        "_type",
        "client_order_id",
        "error",
        "exchange_order_id",
        "leverage",
        "origin",
        "parent_id",
        "reduce_only",
        "sub_account_id",
        "symbol",
        "terminal_at",
        "time_in_force",
    )

    def __init__(
        self,
        client_order_id: str,
        sub_account_id: str,
        symbol: str,
        side: int,
        order_type: int,
        quantity: int,
        price: int,
        origin: str,
        parent_id: str | None,
        leverage: int,
        reduce_only: bool,
        time_in_force: str | None,
    ) -> None:
        self.client_order_id = client_order_id
        self.sub_account_id = sub_account_id
        self.symbol = symbol
        self._side = side
        self._type = order_type
        self._qty = quantity
        self._price = price
        self.origin = origin
        self.parent_id = parent_id
        self.leverage = leverage
        self.reduce_only = reduce_only
        self.time_in_force = time_in_force
        self.exchange_order_id: int | None = None
        self.error: tuple[int, str] | None = None
        self._state = _PLACED
        self._acked = False
        self._hooked = False
        self._filled = 0
        self._avg = 0
        self._last_qty = 0
        self._last_price = 0
        self.terminal_at = 0.0

    # Floats for the Python API: the double nearest each exact decimal.
    @property
    def side(self) -> str:
        return SIDES[self._side]

    @property
    def order_type(self) -> str:
        return ORDER_TYPES[self._type]

    @property
    def state(self) -> str:
        return STATE_NAMES[self._state]

    @property
    def state_code(self) -> int:
        return self._state

    @property
    def quantity(self) -> float:
        return _to_float(self._qty)

    @property
    def price(self) -> float | None:
        return _to_float(self._price) if self._price else None

    @property
    def filled_qty(self) -> float:
        return _to_float(self._filled)

    @property
    def remaining_qty(self) -> float:
        return _to_float(self._qty - self._filled)

    @property
    def avg_price(self) -> float:
        return _to_float(self._avg)

    @property
    def last_fill_qty(self) -> float:
        return _to_float(self._last_qty)

    @property
    def last_fill_price(self) -> float:
        return _to_float(self._last_price)

    @property
    def is_live(self) -> bool:
        return PLACING <= self._state < FIRST_TERMINAL

    @property
    def is_terminal(self) -> bool:
        return self._state >= FIRST_TERMINAL

    @property
    def quantity_fp(self) -> int:
        return self._qty

    @property
    def price_fp(self) -> int:
        return self._price

    @property
    def filled_fp(self) -> int:
        return self._filled

    def snapshot(self) -> OrderState:
        """A detached copy with today's values (later transitions do not show in it)."""
        copy = OrderState.__new__(OrderState)
        for name in OrderState.__slots__:
            object.__setattr__(copy, name, getattr(self, name))
        return copy

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}

    def __repr__(self) -> str:
        return (
            f"<OrderState {self.client_order_id} {self.sub_account_id} {self.symbol} {self.side} "
            f"{self.order_type} {self.quantity}@{self.price} {self.state} filled={self.filled_qty}>"
        )


PUBLIC_FIELDS = (
    "client_order_id",
    "exchange_order_id",
    "sub_account_id",
    "symbol",
    "side",
    "order_type",
    "quantity",
    "price",
    "state",
    "filled_qty",
    "avg_price",
    "last_fill_qty",
    "last_fill_price",
    "origin",
    "parent_id",
    "leverage",
    "reduce_only",
    "time_in_force",
    "error",
)


class OrderCore:
    """Records, indexes, the feed decoder and the transition function."""

    implementation = IMPLEMENTATION

    def __init__(
        self,
        terminal_ttl: float = 600.0,
        terminal_max: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if terminal_ttl < 0 or terminal_max < 0:
            raise ValueError("terminal_ttl and terminal_max must be >= 0")
        self._ttl = float(terminal_ttl)
        self._max = int(terminal_max)
        self._clock = clock
        self._by_cid: dict[str, OrderState] = {}
        self._by_oid: dict[int, OrderState] = {}
        # Live indexes: insertion-ordered dicts used as sets, so a query costs what it returns.
        self._live_all: dict[str, OrderState] = {}
        self._live_sub: dict[str, dict[str, OrderState]] = {}
        self._live_sym: dict[str, dict[str, OrderState]] = {}
        self._live_pair: dict[tuple[str, str], dict[str, OrderState]] = {}
        self._live_parent: dict[str, dict[str, OrderState]] = {}
        self._retired: deque[OrderState] = deque()
        self._last: OrderState | None = None
        self._last_event_time = 0
        self._counters = dict.fromkeys(COUNTERS, 0)

    # ── registration and lookups ──

    def add(
        self,
        client_order_id: str,
        sub_account_id: str,
        symbol: str,
        side: int,
        order_type: int,
        quantity: int,
        price: int,
        origin: str,
        parent_id: str | None,
        leverage: int,
        reduce_only: bool,
        time_in_force: str | None,
    ) -> OrderState:
        """Register an order in state placing (the manager sends its request right after)."""
        self._expire()
        for name, value in (("client_order_id", client_order_id), ("sub_account_id", sub_account_id),
                            ("symbol", symbol), ("origin", origin)):
            if not isinstance(value, str):
                raise TypeError(f"{name} must be a str, not {type(value).__name__}")
        if parent_id is not None and not isinstance(parent_id, str):
            raise TypeError(f"parent_id must be a str or None, not {type(parent_id).__name__}")
        if client_order_id in self._by_cid:
            raise ValueError(f"client order id {client_order_id!r} is already tracked")
        if len(client_order_id.encode()) > 36:
            raise ValueError("client order id longer than 36 bytes")
        o = OrderState(client_order_id, sub_account_id, symbol, side, order_type, quantity, price,
                       origin, parent_id, leverage, reduce_only, time_in_force)
        self._by_cid[client_order_id] = o
        self._live_all[client_order_id] = o
        self._live_sub.setdefault(sub_account_id, {})[client_order_id] = o
        self._live_sym.setdefault(symbol, {})[client_order_id] = o
        self._live_pair.setdefault((sub_account_id, symbol), {})[client_order_id] = o
        if parent_id is not None:
            self._live_parent.setdefault(parent_id, {})[client_order_id] = o
        self._counters["added"] += 1
        return o

    def get(self, client_order_id: str) -> OrderState | None:
        self._expire()
        return self._by_cid.get(client_order_id)

    def get_by_exchange_id(self, exchange_order_id: int) -> OrderState | None:
        self._expire()
        return self._by_oid.get(exchange_order_id)

    def live(self, sub_account_id: str | None = None, symbol: str | None = None) -> list[OrderState]:
        self._expire()
        if sub_account_id is None and symbol is None:
            found: dict[str, OrderState] | None = self._live_all
        elif symbol is None:
            found = self._live_sub.get(sub_account_id)  # type: ignore[arg-type]
        elif sub_account_id is None:
            found = self._live_sym.get(symbol)
        else:
            found = self._live_pair.get((sub_account_id, symbol))
        return list(found.values()) if found else []

    def by_parent(self, parent_id: str) -> list[OrderState]:
        self._expire()
        found = self._live_parent.get(parent_id)
        return list(found.values()) if found else []

    def last_order(self) -> OrderState | None:
        """The order the last feed/transition call touched (None after malformed input)."""
        return self._last

    def last_event_time(self) -> int:
        """The envelope's ``E`` (ms) of the last frame that reached an order; 0 when it had none."""
        return self._last_event_time

    def counters(self) -> dict[str, int]:
        c = dict(self._counters)
        c["tracked"] = len(self._by_cid)
        c["live"] = len(self._live_all)
        return c

    def __len__(self) -> int:
        return len(self._by_cid)

    # ── local transitions (driven by the manager, never by a REST reply's content) ──

    def set_exchange_id(self, client_order_id: str, exchange_order_id: int) -> None:
        """Record Binance's orderId from whichever reports it first (REST reply or feed ``i``)."""
        o = self._by_cid.get(client_order_id)
        if o is not None and o.exchange_order_id is None and exchange_order_id >= 0:
            self._set_oid(o, exchange_order_id)

    def set_hooked(self, client_order_id: str, hooked: bool) -> None:
        """Mark an order whose feed events the shell must see (callbacks, a replace waiting):
        its results then carry F_HOOKED, so unmarked orders never leave the core."""
        o = self._by_cid.get(client_order_id)
        if o is not None:
            o._hooked = bool(hooked)

    def close_local(self, client_order_id: str, state: int, code: int, msg: str) -> int:
        """REST rejection (REJECTED) or resolution as never placed (FAILED).

        Only an order the feed never acknowledged can be closed this way: once the exchange has
        told us the order exists, only the feed or a status query may end it.
        """
        self._expire()
        o = self._by_cid.get(client_order_id)
        self._last = o
        if o is None or o._acked or state not in (REJECTED, FAILED):
            return 0
        error = (int(code), str(msg))
        flags = self._take(o, CELLS[o._state][EV_REJECTED_LOCAL if state == REJECTED else EV_FAILED_LOCAL], 0)
        if flags < 0:
            return 0
        o.error = error
        return flags

    def begin_cancel(self, client_order_id: str) -> int:
        """placing/active -> cancelling; returns the previous state, or -1 when not allowed."""
        self._expire()
        o = self._by_cid.get(client_order_id)
        if o is None:
            return -1
        prev = o._state
        return -1 if self._take(o, CELLS[prev][EV_CANCEL_SENT], 0) < 0 else prev

    def undo_cancel(self, client_order_id: str, previous: int) -> bool:
        """A cancel the exchange definitely did not process: back to where it was."""
        o = self._by_cid.get(client_order_id)
        if o is None or previous not in (PLACING, ACTIVE):
            return False
        ev = EV_CANCEL_REFUSED_ACKED if (previous == ACTIVE or o._acked) else EV_CANCEL_REFUSED
        return self._take(o, CELLS[o._state][ev], 0) >= 0

    # ── the feed ──

    def feed(self, data: bytes | bytearray | memoryview | str) -> int:
        """One raw user-stream frame. Bad content is counted, never raised; only an argument of
        the wrong type (not bytes-like or str) raises TypeError."""
        result, fields = dec.decode(data)
        return self.feed_decoded(result, fields)

    def feed_decoded(self, result: int, fields: Mapping[str, Any] | None) -> int:
        """Apply the output of ``decode``/``decode_dict`` (dict inputs come this way)."""
        self._expire()
        self._last = None
        self._last_event_time = 0
        self._counters["frames"] += 1
        if result == dec.R_OTHER_EVENT:
            self._counters["other_events"] += 1
            return F_OTHER_EVENT
        if result != dec.R_ORDER or fields is None:
            self._counters["malformed"] += 1
            return F_MALFORMED
        cid = fields["cid"]
        o = self._by_cid.get(cid) if cid is not None else None
        if o is None:
            self._counters["unknown_ids"] += 1
            return F_UNKNOWN_ID
        self._last = o
        self._last_event_time = fields.get("event_time", 0)
        flags = self._apply(o, fields["status"], fields)
        return flags | F_HOOKED if o._hooked else flags

    def _apply(self, o: OrderState, status: int, f: Mapping[str, Any]) -> int:
        """One feed event: the fill arithmetic (notes 1-3 under ``_states.TRANSITIONS``), then the
        table's cell for (state, event)."""
        oid = f.get("order_id")
        if oid is not None and o.exchange_order_id is None:
            self._set_oid(o, oid)
        flags = 0
        if status == dec.ST_NONE or status == dec.ST_OTHER:
            self._counters["unknown_status"] += 1
            flags = F_UNKNOWN_STATUS
            status = EV_UNKNOWN
            z = f.get("z")
        elif status == dec.ST_FILLED:
            z = f.get("z", o._qty)
        else:
            z = f.get("z")
        if z is not None and z > o._filled:
            flags |= self._fill(o, z, f)
            if o._filled >= o._qty:
                status = EV_COMPLETED
        was_terminal = o._state >= FIRST_TERMINAL
        flags = self._take(o, CELLS[o._state][status], flags)
        # note 6
        if flags & F_FILL:
            if was_terminal:
                self._counters["late_fills"] += 1
                flags |= F_LATE_FILL
            elif not flags & F_FILLED:
                flags |= F_PARTIAL
        elif was_terminal or not flags:
            self._counters["stale"] += 1
            flags |= F_STALE
        return flags

    def _take(self, o: OrderState, cell: int, flags: int) -> int:
        """Apply one cell of the transition table: -1 if it refuses, else ``flags`` plus the
        flags the cell asks for."""
        acts = cell >> 4
        if acts & A_REFUSE:
            return -1
        if acts & A_ACK:
            if not o._acked:
                o._acked = True
                flags |= F_ACTIVATED
        elif acts & A_SEEN:
            o._acked = True
        if acts & A_CLOSED:
            flags |= F_CLOSED
        if acts & A_FILLED:
            flags |= F_FILLED
        if acts & A_ORPHAN:
            self._counters["orphans"] += 1
            flags |= F_ORPHAN
        new = cell & 15
        if new != KEEP:
            self._set_state(o, new)
        return flags

    def _fill(self, o: OrderState, z: int, f: Mapping[str, Any]) -> int:
        inc = z - o._filled
        ap = f.get("ap")
        lp = f.get("L")
        last_price = lp
        if ap:
            if not lp:
                # No last price (a status-query answer): the increase's own price follows from the
                # two averages, exactly: (ap*z - avg*filled) / inc, rounded half up.
                last_price = min((ap * z - o._avg * o._filled + inc // 2) // inc, 2**63 - 1)
                if last_price <= 0:
                    last_price = ap
            o._avg = ap
        elif lp:
            # No average from the exchange: keep a weighted one (exact integer arithmetic).
            o._avg = (o._avg * o._filled + lp * inc + z // 2) // z
        o._filled = z
        o._last_qty = inc
        o._last_price = last_price if last_price else o._avg
        self._counters["fills"] += 1
        return F_FILL

    # ── the single transition point ──

    def _set_state(self, o: OrderState, new: int) -> None:
        old = o._state
        if old == new:
            return
        o._state = new
        if new >= FIRST_TERMINAL:
            if old < FIRST_TERMINAL:
                self._unlink_live(o)
                o.terminal_at = self._clock()
                self._retired.append(o)
            self._counters["terminal"] += 1

    def _set_oid(self, o: OrderState, oid: int) -> None:
        o.exchange_order_id = oid
        self._by_oid[oid] = o

    def _unlink_live(self, o: OrderState) -> None:
        cid = o.client_order_id
        del self._live_all[cid]
        _discard(self._live_sub, o.sub_account_id, cid)
        _discard(self._live_sym, o.symbol, cid)
        _discard(self._live_pair, (o.sub_account_id, o.symbol), cid)
        if o.parent_id is not None:
            _discard(self._live_parent, o.parent_id, cid)

    def _expire(self) -> None:
        """Let go of terminal orders past the retention (called before each operation, never
        inside one, so an order is always still there for the callbacks of its own last event)."""
        retired = self._retired
        if not retired:
            return
        now = self._clock()
        while retired and (len(retired) > self._max or now - retired[0].terminal_at >= self._ttl):
            o = retired.popleft()
            del self._by_cid[o.client_order_id]
            if o.exchange_order_id is not None and self._by_oid.get(o.exchange_order_id) is o:
                del self._by_oid[o.exchange_order_id]
            self._counters["evicted"] += 1


def _discard(index: dict[Any, dict[str, OrderState]], key: Any, cid: str) -> None:
    bucket = index[key]
    del bucket[cid]
    if not bucket:
        del index[key]


COUNTERS = (
    "added",
    "frames",
    "malformed",
    "other_events",
    "unknown_ids",
    "unknown_status",
    "stale",
    "fills",
    "late_fills",
    "orphans",
    "terminal",
    "evicted",
)
