"""Pure-Python order core: the typed reference for ``_core_c.pyx``.

Holds every order the manager tracks, decodes user-stream frames and applies the transition rules.
The compiled twin keeps the same records as fixed-layout C structs; both must behave identically,
down to the counters (tests/orders/test_core_properties.py drives random operation sequences through both).

Rules: the one transition table ``_states.TRANSITIONS`` and the notes under it. The cumulative
filled quantity ``z`` is the truth and a smaller or equal ``z`` is stale; a terminal state never
goes back to a live one; a fill increase is never dropped, even on an order that is already
cancelled, expired, rejected or failed (a "late fill").

Re-entry: caller code may run inside a method (the ``clock``, an argument's ``__index__`` or
``__bool__``, a mapping given to ``feed_decoded``, a finalizer the cycle collector runs). It may not
call the core again before that method returns: the nested call raises
``RuntimeError("OrderCore is busy: ...")``. Each method reads the clock and converts its arguments
before it changes anything, so such a refusal (or any exception there) leaves the core as it was.
A ``str`` subclass argument is read as its plain value (its own methods never run). Reading a held
``OrderState`` is always allowed. The compiled twin follows the same rules, whose C structures
would not survive a nested call.

Not thread-safe: one event loop drives one core.
"""

from __future__ import annotations

import operator
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from . import _decode_py as dec
from ._decode_py import (  # (names, not dec.X: a global read per use, not an attribute too)
    CID_MAX,
    R_ORDER,
    R_OTHER_EVENT,
    ST_FILLED,
    ST_FINISHED,
    ST_NEW,
    ST_NONE,
    ST_OTHER,
    ST_PARTIALLY_FILLED,
    ST_TRIGGERING,
)
from ._fixed import FP_SCALE
from ._states import (
    A_ACK,
    A_AMEND,
    A_CLOSED,
    A_FILLED,
    A_ORPHAN,
    A_REFUSE,
    A_SEEN,
    A_TRIGGER,
    ACTIVE,
    CANCELLING,
    CELLS,
    COUNTERS,
    EV_AMENDED,
    EV_CANCEL_REFUSED,
    EV_CANCEL_REFUSED_ACKED,
    EV_CANCEL_SENT,
    EV_COMPLETED,
    EV_EXPIRED_IN_MATCH,
    EV_FAILED_LOCAL,
    EV_PLACE_SENT,
    EV_REJECTED_LOCAL,
    EV_TRIGGERED,
    EV_TRIGGERING,
    EV_UNKNOWN,
    EXPIRE_REASONS,
    F_ACTIVATED,
    F_AMENDED,
    F_CALLED,
    F_CLOSED,
    F_DIRTY,
    F_FILL,
    F_FILLED,
    F_HOOKED,
    F_LATE_FILL,
    F_MALFORMED,
    F_ORPHAN,
    F_OTHER_EVENT,
    F_PARTIAL,
    F_STALE,
    F_TRIGGERED,
    F_UNKNOWN_ID,
    F_UNKNOWN_STATUS,
    FAILED,
    FIRST_ALGO_TYPE,
    FIRST_TERMINAL,
    IDLE,
    KEEP,
    ORDER_TYPES,
    PLACING,
    PUBLIC_FIELDS,
    REJECTED,
    SIDES,
    STATE_NAMES,
    TRIGGERED,
)

IMPLEMENTATION = "python"

__all__ = ["IMPLEMENTATION", "OrderCore", "OrderState"]  # what orders._core re-exports

# add() registers an order as its request leaves: the table's "place sent" cell out of idle.
_PLACED = CELLS[IDLE][EV_PLACE_SENT] & 15
_LAST_TYPE = len(ORDER_TYPES) - 1


def _to_float(fp: int) -> float:
    return fp / FP_SCALE


# ── the input contract (the compiled twin has the same rules, messages and order of checks) ──

# Binance's leverage range (POST /fapi/v1/leverage: 1 to 125; a symbol's brackets may allow less).
LEVERAGE_MIN = 1
LEVERAGE_MAX = 125

BUSY = ("OrderCore is busy: re-entrant call from a callback/clock/__hash__/finalizer while "
        "one of its methods runs (call it again once that method has returned)")
_DETACHED = "OrderState has no order: this one was made by OrderState.__new__, not by OrderCore"
_INT64_MAX = 2**63 - 1
_BAD: Any = object()


def _exact_str(s: str) -> str:
    # A str subclass as its plain value (str.__str__ copies it without running the subclass's code).
    return s if type(s) is str else str.__str__(s)


def _text(name: str, value: object) -> str:
    if isinstance(value, str):
        return _exact_str(value)
    raise TypeError(f"{name} must be a str, not {type(value).__name__}")


def _opt_text(name: str, value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return _exact_str(value)
    raise TypeError(f"{name} must be a str or None, not {type(value).__name__}")


def _index(name: str, value: object) -> int:
    """``value`` as a plain int (anything with ``__index__`` but bool), else TypeError."""
    if type(value) is int:
        return value
    if type(value) is not bool:
        try:
            return operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            pass
    raise TypeError(f"{name} must be an int, not {type(value).__name__}")


def _int_arg(name: str, value: object, lo: int, hi: int) -> int:
    v = _index(name, value)
    if not (lo <= v <= hi):
        raise ValueError(f"{name} must be in [{lo}, {hi}], not {v!r}")
    return v


def _key(value: object) -> str | None:
    """What a lookup by string uses: a plain str, or None when ``value`` names nothing (it is
    hashed first, so that an unhashable value raises TypeError as a dict lookup does)."""
    if isinstance(value, str):
        return _exact_str(value)
    hash(value)
    return None


def _oid_key(value: object) -> int:
    """An exchange order id to look up, or -1: anything but an int in [0, 2**63) names no order."""
    if type(value) is not int:
        try:
            value = operator.index(value)  # type: ignore[arg-type]
        except TypeError:
            return -1
    assert isinstance(value, int)
    return value if 0 <= value <= _INT64_MAX else -1


def _field_int(value: object) -> int:
    """A decoded integer field: -1 absent (None), -2 outside the decoder's contract (a plain int
    in [0, 2**63))."""
    if value is None:
        return -1
    if type(value) is int and 0 <= value <= _INT64_MAX:
        return value
    return -2


def _previous(previous: object) -> int:
    # undo_cancel's ``previous`` as a state code, compared with == (-1: not placing or active).
    if previous == ACTIVE:
        return ACTIVE
    if previous == PLACING:
        return PLACING
    return -1


def _seconds(value: object) -> float:
    # What the compiled twin's C double conversion accepts: a float, or anything with __float__
    # or __index__ (not a string: float("1") would parse it).
    if type(value) is float:
        return value
    t = type(value)
    if hasattr(t, "__float__") or hasattr(t, "__index__"):
        return float(value)  # type: ignore[arg-type]
    raise TypeError(f"must be real number, not {t.__name__}")


def _checked(result: object, fields: Mapping[str, Any] | None
             ) -> tuple[int, str | None, int, int, dict[str, Any] | None]:
    """``feed_decoded``'s input as (kind, cid, event_time, status, fields): each value read once,
    in the compiled twin's order; kind 0 an order update, 1 another event, 2 malformed."""
    if result == R_OTHER_EVENT:
        return 1, None, 0, 0, None
    if result != R_ORDER or fields is None:
        return 2, None, 0, 0, None
    ok = True
    cid = fields.get("cid", _BAD)
    if cid is not None:
        if isinstance(cid, str):
            cid = _exact_str(cid)
        else:
            ok = False
    status = fields.get("status")
    if not (type(status) is int and ST_NONE <= status <= ST_FINISHED):
        ok = False
    f: dict[str, Any] = {}
    algo = fields.get("algo")
    if algo is True:
        f["algo"] = True
    elif algo is not None and algo is not False:
        ok = False
    event_time = _field_int(fields.get("event_time", 0))
    if event_time == -2:
        ok = False
    for key in ("order_id", "z", "ap", "L", "q", "p"):
        value = fields.get(key, _BAD)
        if value is _BAD:
            continue
        if value is None:
            if key == "z":
                f["z"] = None  # an explicit null z: FILLED then does not mean "all of it"
            continue
        v = _field_int(value)
        if v < 0:
            ok = False
        else:
            f[key] = v
    if fields.get("amended") is True:
        f["amended"] = True
    if not ok:
        return 2, None, 0, 0, None
    return 0, cid, max(event_time, 0), status, f  # type: ignore[return-value]


class OrderState:
    """One tracked order. In this twin the record is its own view: a held object simply keeps its
    final values after the core lets go of it. One made by ``OrderState.__new__`` has no order:
    every attribute, repr, copy or pickle of it raises AttributeError."""

    __slots__ = (
        "_avg",
        "_bits",
        "_filled",
        "_hook",
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

    def __new__(cls, *args: object, **kwargs: object) -> OrderState:
        # Only code outside the core gets here (the core makes its records with object.__new__):
        # what it makes has no order, so it is a _NoOrder, whose attributes raise a clear error.
        # (A __getattr__ on OrderState itself would slow every attribute read of every record:
        # CPython 3.11 specialises none on such a class, twice the time.)
        return object.__new__(_NoOrder)

    def __init__(self, *args: object, **kwargs: object) -> None:
        raise TypeError("an OrderState is made by OrderCore.add, not by calling OrderState")

    def _init(
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
        self._bits = 0  # _B_*: three flags in one slot (a slot costs every order 8 bytes)
        self._hook = -1
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
    def is_algo(self) -> bool:
        """A conditional order of the Algo service (its client id is the clientAlgoId)."""
        return self._type >= FIRST_ALGO_TYPE

    @property
    def expire_reason(self) -> str | None:
        """"EXPIRED_IN_MATCH" when self-trade prevention expired it, else None."""
        return EXPIRE_REASONS[1 if self._bits & _B_IN_MATCH else 0]

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
        return _restored(*[getattr(self, name) for name in OrderState.__slots__])

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}

    def __repr__(self) -> str:
        return (
            f"<OrderState {self.client_order_id} {self.sub_account_id} {self.symbol} {self.side} "
            f"{self.order_type} {self.quantity}@{self.price} {self.state} filled={self.filled_qty}>"
        )

    # A copy is a snapshot (copy, deepcopy and pickle go through here). One made by
    # OrderState.__new__ has nothing to copy: AttributeError, as every attribute of it.
    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        return _restored, tuple([getattr(self, name) for name in OrderState.__slots__])


class _NoOrder(OrderState):
    """What ``OrderState.__new__`` makes: no order; every attribute, repr, copy or pickle of it
    raises AttributeError (every slot is unset, and this is where reading one is explained)."""

    __slots__ = ()

    if not TYPE_CHECKING:  # (type checkers would take every attribute for Any)

        def __getattr__(self, name: str) -> Any:
            raise AttributeError(f"{_DETACHED} (reading {name!r})")


def _restored(*values: Any) -> OrderState:
    """A record with these slot values (in ``OrderState.__slots__`` order), outside any core."""
    o = _new_record(OrderState)
    for name, value in zip(OrderState.__slots__, values, strict=True):
        object.__setattr__(o, name, value)
    return o


_new_record = object.__new__


class OrderCore:
    """Records, indexes, the feed decoder and the transition function."""

    implementation = IMPLEMENTATION
    _ready = False  # until __init__ ran (an instance made by OrderCore.__new__ refuses every call)
    _busy = False

    def __init__(
        self,
        terminal_ttl: float = 600.0,
        terminal_max: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if self._ready:
            raise RuntimeError("OrderCore is already initialised")
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
        # The in-flight watch: client id -> deadline, in deadline order (insertion order of a dict).
        self._watch: dict[str, float] = {}
        self._last: OrderState | None = None
        self._last_event_time = 0
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._busy = False
        self._now_op = 0.0
        self._now_read = False
        self._outcome: tuple[Any, OrderState, Any, BaseException | None] | None = None
        # set_shell(): what feed_shell() hands feed_call, and which results go on to after(flags)
        self._sh_table: list[tuple[Any, Any, Any, Any] | None] | None = None
        self._sh_work: Any = None
        self._sh_slow = 0
        self._sh_post = 0
        self._sh_after: Callable[[int], Any] | None = None
        # set_dirty_mask/take_dirty: orders by identity, in marking order (an order the core let go
        # of stays here, with its final values, until taken).
        self._dirty_mask = 0
        self._dirty: dict[int, OrderState] = {}
        self._ready = True

    # ── the re-entry guard (the compiled twin's, rule for rule: see _core_c.pyx) ──

    def _enter(self) -> None:
        if self._busy:
            raise RuntimeError(BUSY)
        if not self._ready:
            raise RuntimeError("OrderCore.__init__ was not called")
        self._busy = True

    def _begin(self, closing: bool) -> None:
        """Read the clock once, first, when the call may need it: to evict (orders are retained)
        or to stamp an order it closes (``closing``). A feed event reads it after the lookup, still
        before anything changes, and only when it may close its order (_may_close)."""
        if closing or self._retired:
            now = self._clock()
            self._now_op = now if type(now) is float else _seconds(now)
            self._now_read = True
        else:
            self._now_read = False

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
        """Register an order in state placing (the manager sends its request right after).

        Input contract (both twins): the ids and names are ``str`` (``parent_id`` and
        ``time_in_force`` may be None), a subclass being stored as its plain ``str`` value, else
        TypeError; ``side`` 0 or 1 and ``order_type`` 0..6 (indexes into SIDES / ORDER_TYPES),
        ``quantity`` 1..2**63-1 and ``price`` 0..2**63-1 (fixed point, 0: market), ``leverage``
        LEVERAGE_MIN..LEVERAGE_MAX: ints (anything with ``__index__`` but bool, else TypeError)
        in range (else ValueError). The client order id is at most 36 UTF-8 bytes and not
        already tracked (ValueError).
        """
        if self._busy or not self._ready:
            self._enter()  # (inlined, as in get(): it raises)
        self._busy = True
        try:
            if self._retired:
                self._begin(False)
            # (each plain str / in-range int passes without a call: the common case)
            cid = client_order_id if type(client_order_id) is str else _text("client_order_id",
                                                                              client_order_id)
            sub = sub_account_id if type(sub_account_id) is str else _text("sub_account_id", sub_account_id)
            sym = symbol if type(symbol) is str else _text("symbol", symbol)
            org = origin if type(origin) is str else _text("origin", origin)
            parent = parent_id if type(parent_id) is str else _opt_text("parent_id", parent_id)
            tif = time_in_force if type(time_in_force) is str else _opt_text("time_in_force", time_in_force)
            if (len(cid) if cid.isascii() else len(cid.encode())) > CID_MAX:
                raise ValueError("client order id longer than 36 bytes")
            side_i = side if type(side) is int and 0 <= side <= 1 else _int_arg("side", side, 0, 1)
            type_i = (order_type if type(order_type) is int and 0 <= order_type <= _LAST_TYPE
                      else _int_arg("order_type", order_type, 0, _LAST_TYPE))
            qty = (quantity if type(quantity) is int and 1 <= quantity <= _INT64_MAX
                   else _int_arg("quantity", quantity, 1, _INT64_MAX))
            px = (price if type(price) is int and 0 <= price <= _INT64_MAX
                  else _int_arg("price", price, 0, _INT64_MAX))
            lev = (leverage if type(leverage) is int and LEVERAGE_MIN <= leverage <= LEVERAGE_MAX
                   else _int_arg("leverage", leverage, LEVERAGE_MIN, LEVERAGE_MAX))
            ro = bool(reduce_only)
            self._expire()
            if cid in self._by_cid:
                raise ValueError(f"client order id {cid!r} is already tracked")
            o = _new_record(OrderState)
            o._init(cid, sub, sym, side_i, type_i, qty, px, org, parent, lev, ro, tif)
            self._by_cid[cid] = o
            self._live_all[cid] = o
            self._live_sub.setdefault(sub, {})[cid] = o
            self._live_sym.setdefault(sym, {})[cid] = o
            self._live_pair.setdefault((sub, sym), {})[cid] = o
            if parent is not None:
                self._live_parent.setdefault(parent, {})[cid] = o
            self._counters["added"] += 1
            return o
        finally:
            self._busy = False

    # The lookups below answer at once, without the guard, when nothing can run Python code of
    # anybody else's (a plain str or int key: dict hashing and comparison stay in C) and nothing
    # is waiting to be let go of (no clock read, no eviction): the answer and the refusals are
    # those of the guarded path. The manager asks these for every order.

    def get(self, client_order_id: str) -> OrderState | None:
        if type(client_order_id) is str and self._ready and not (self._busy or self._retired):
            return self._by_cid.get(client_order_id)
        self._enter()
        try:
            self._begin(False)
            key = client_order_id if type(client_order_id) is str else _key(client_order_id)
            self._expire()
            return self._by_cid.get(key) if key is not None else None
        finally:
            self._busy = False

    def get_by_exchange_id(self, exchange_order_id: int) -> OrderState | None:
        """The order with that Binance orderId; None for anything but an int in [0, 2**63)."""
        if type(exchange_order_id) is int and self._ready and not (self._busy or self._retired):
            return self._by_oid.get(exchange_order_id)  # (no key outside [0, 2**63) is stored)
        self._enter()
        try:
            self._begin(False)
            oid = _oid_key(exchange_order_id)
            self._expire()
            return self._by_oid.get(oid) if oid >= 0 else None
        finally:
            self._busy = False

    def live(self, sub_account_id: str | None = None, symbol: str | None = None) -> list[OrderState]:
        sub, sym = sub_account_id, symbol
        if not (self._ready and not (self._busy or self._retired)
                and (sub is None or type(sub) is str) and (sym is None or type(sym) is str)):
            self._enter()
            try:
                self._begin(False)
                sub = _key(sub_account_id) if sub_account_id is not None else None
                sym = _key(symbol) if symbol is not None else None
                self._expire()
            finally:
                self._busy = False
            if (sub_account_id is not None and sub is None) or (symbol is not None and sym is None):
                return []  # a key that names nothing
        # plain str keys: the lookups below run no caller code
        found: dict[str, OrderState] | None
        if sub is None:
            found = self._live_all if sym is None else self._live_sym.get(sym)
        elif sym is None:
            found = self._live_sub.get(sub)
        else:
            found = self._live_pair.get((sub, sym))
        return list(found.values()) if found else []

    def by_parent(self, parent_id: str) -> list[OrderState]:
        found: dict[str, OrderState] | None
        if type(parent_id) is str and self._ready and not (self._busy or self._retired):
            found = self._live_parent.get(parent_id)
            return list(found.values()) if found else []
        self._enter()
        try:
            self._begin(False)
            key = _key(parent_id)
            self._expire()
            found = self._live_parent.get(key) if key is not None else None
            return list(found.values()) if found else []
        finally:
            self._busy = False

    def last_order(self) -> OrderState | None:
        """The order the last feed/transition call touched (None after malformed input)."""
        self._enter()
        try:
            return self._last
        finally:
            self._busy = False

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
        """Record Binance's orderId from whichever reports it first (REST reply or feed ``i``).
        An int outside [0, 2**63) is no order id and is ignored; a non-integer is a TypeError."""
        self._enter()
        try:
            oid = _index("exchange_order_id", exchange_order_id)
            key = _key(client_order_id)
            o = self._by_cid.get(key) if key is not None else None
            if o is not None and o.exchange_order_id is None and 0 <= oid <= _INT64_MAX:
                self._set_oid(o, oid)
        finally:
            self._busy = False

    def set_hooked(self, client_order_id: str, hooked: bool) -> None:
        """Mark an order whose feed events the shell must see (callbacks, a replace waiting):
        its results then carry F_HOOKED, so unmarked orders never leave the core."""
        self._enter()
        try:
            key = _key(client_order_id)
            on = bool(hooked)
            o = self._by_cid.get(key) if key is not None else None
            if o is not None:
                o._bits = o._bits | _B_HOOKED if on else o._bits & ~_B_HOOKED
        finally:
            self._busy = False

    def set_hook(self, client_order_id: str, hook: int) -> None:
        """Store the shell's handle for an order (an index into its own table of callbacks) and
        mark it (F_HOOKED) when ``hook`` >= 0; -1 clears both. ``last_hook()`` then answers it with
        each result, so the shell reaches an order's callbacks without building its id."""
        self._enter()
        try:
            h = _int_arg("hook", hook, -1, 2**31 - 1)
            key = _key(client_order_id)
            o = self._by_cid.get(key) if key is not None else None
            if o is not None:
                o._hook = h
                o._bits = o._bits | _B_HOOKED if h >= 0 else o._bits & ~_B_HOOKED
        finally:
            self._busy = False

    def get_hook(self, client_order_id: str) -> int:
        """The order's handle (``set_hook``); -1 for none or an unknown order."""
        self._enter()
        try:
            key = _key(client_order_id)
            o = self._by_cid.get(key) if key is not None else None
            return o._hook if o is not None else -1
        finally:
            self._busy = False

    def last_hook(self) -> int:
        """The handle of ``last_order()`` (-1: none, or no last order). Reads only."""
        o = self._last
        return o._hook if o is not None else -1

    def hooks_in_use(self) -> set[int]:
        """The set of handles tracked orders hold (the shell frees the others)."""
        self._enter()
        try:
            return {o._hook for o in self._by_cid.values() if o._hook >= 0}
        finally:
            self._busy = False

    # ── the in-flight watch: accepted requests whose feed event has not come ──

    def watch(self, client_order_id: str, timeout: float) -> bool:
        """The exchange accepted a request for this placing/cancelling order: it is due back from
        ``expired()`` ``timeout`` seconds from now unless it leaves placing/cancelling first.
        Watching it again moves its deadline. False when not placing or cancelling (or unknown).
        Kept in deadline order: with one timeout, appending keeps it."""
        self._enter()
        try:
            t = _seconds(timeout)
            now = self._clock()
            self._now_op = now if type(now) is float else _seconds(now)
            deadline = t + self._now_op
            self._expire()
            key = _key(client_order_id)
            o = self._by_cid.get(key) if key is not None else None
            if o is None or o._state not in (PLACING, CANCELLING):
                return False
            watch = self._watch
            cid = o.client_order_id
            watch.pop(cid, None)
            if watch and next(reversed(watch.values())) > deadline:  # only for a shorter timeout
                items = sorted([*watch.items(), (cid, deadline)], key=lambda kv: kv[1])
                watch.clear()
                watch.update(items)
            else:
                watch[cid] = deadline
            return True
        finally:
            self._busy = False

    def expired(self) -> list[OrderState]:
        """The watched orders whose deadline has passed, oldest first, each taken off the watch
        (only those are looked at)."""
        self._enter()
        try:
            now = self._clock()
            self._now_op = now if type(now) is float else _seconds(now)
            self._expire()
            out = []
            watch = self._watch
            for cid, deadline in watch.items():
                if deadline > self._now_op:
                    break
                out.append(self._by_cid[cid])
            for o in out:
                del watch[o.client_order_id]
            return out
        finally:
            self._busy = False

    def watched(self) -> int:
        """How many orders are on the watch."""
        return len(self._watch)

    def close_local(self, client_order_id: str, state: int, code: int, msg: str) -> int:
        """REST rejection (REJECTED) or resolution as never placed (FAILED).

        Only an order the feed never acknowledged can be closed this way: once the exchange has
        told us the order exists, only the feed or a status query may end it. ``int(code)`` and
        ``str(msg)`` are taken first, whatever happens next.
        """
        self._enter()
        try:
            self._begin(True)
            target = _index("state", state)
            error = (int(code), _exact_str(str(msg)))
            key = _key(client_order_id)
            self._expire()
            o = self._by_cid.get(key) if key is not None else None
            self._last = o
            if o is None or o._bits & _B_ACKED or target not in (REJECTED, FAILED):
                return 0
            cell = CELLS[o._state][EV_REJECTED_LOCAL if target == REJECTED else EV_FAILED_LOCAL]
            if (cell >> 4) & A_REFUSE:
                return 0
            o.error = error  # (the compiled twin's order: the error, then the cell)
            flags = self._take(o, cell, 0)
            return self._mark(o, flags) if flags & self._dirty_mask else flags
        finally:
            self._busy = False

    def begin_cancel(self, client_order_id: str) -> int:
        """placing/active -> cancelling; returns the previous state, or -1 when not allowed."""
        self._enter()
        try:
            self._begin(False)
            key = _key(client_order_id)
            self._expire()
            o = self._by_cid.get(key) if key is not None else None
            if o is None:
                return -1
            prev = o._state
            return -1 if self._take(o, CELLS[prev][EV_CANCEL_SENT], 0) < 0 else prev
        finally:
            self._busy = False

    def undo_cancel(self, client_order_id: str, previous: int) -> bool:
        """A cancel the exchange definitely did not process: back to where it was."""
        self._enter()
        try:
            prev = _previous(previous)
            key = _key(client_order_id)
            o = self._by_cid.get(key) if key is not None else None
            if o is None or prev < 0:
                return False
            ev = EV_CANCEL_REFUSED_ACKED if (prev == ACTIVE or o._bits & _B_ACKED) else EV_CANCEL_REFUSED
            return self._take(o, CELLS[o._state][ev], 0) >= 0
        finally:
            self._busy = False

    # ── the feed ──

    def feed(self, data: bytes | bytearray | memoryview | str) -> int:
        """One raw user-stream frame. Bad content is counted, never raised; only an argument of
        the wrong type (not bytes-like or str) raises TypeError. Subclasses of bytes, bytearray
        and str are read as their contents (see ``_decode_py.decode``)."""
        if self._busy or not self._ready:
            self._enter()  # raises
        self._busy = True
        try:
            result, fields = dec.decode(data)
            # _begin(False) inline (the clock, when the event may close its order: _feed_checked)
            if self._retired:
                self._begin(False)
            else:
                self._now_read = False
            if result == R_ORDER:
                return self._feed_checked(0, fields["cid"], fields.get("event_time", 0), fields["status"],
                                          fields)
            return self._feed_checked(1 if result == R_OTHER_EVENT else 2, None, 0, 0, fields)
        finally:
            self._busy = False

    def feed_call(self, data: bytes | bytearray | memoryview | str,
                  table: list[tuple[Any, Any, Any, Any] | None] | None, slow: int) -> int:
        """``feed(data)``, then, when the result is one the shell would only hand to the order's
        callback, that callback run here: the order's handle (``set_hook``) indexes ``table``, whose
        entry is ``(on_partial, on_fill, on_cancel, on_trigger)`` or anything else (None: the shell
        decides); the flags pick one (F_TRIGGERED, else F_PARTIAL, else F_FILLED, else F_CLOSED)
        and it is called with the order once the core is free again (it may call the core). Not
        for a result with a ``slow`` bit, nor one that asks for two callbacks (a partial fill that
        also closes the order, a trigger with a fill or a close), nor with ``table`` None. A result
        handled here comes back without F_HOOKED; with F_CALLED when the callback raised or
        returned something (``call_outcome()`` has it)."""
        if table is not None and not isinstance(table, list):
            raise TypeError(f"table must be a list or None, not {type(table).__name__}")
        slow = _index("slow", slow)
        flags = self.feed(data)
        o = self._last
        if (not flags & F_HOOKED or flags & slow or table is None or o is None
                or (flags & F_CLOSED and flags & (F_PARTIAL | F_TRIGGERED))
                or (flags & F_TRIGGERED and flags & F_FILL)):
            return flags
        h = o._hook
        if h < 0 or h >= len(table):
            return flags
        entry = table[h]
        if type(entry) is not tuple or len(entry) != 4:
            return flags
        fn = (entry[3] if flags & F_TRIGGERED else entry[0] if flags & F_PARTIAL
              else entry[1] if flags & F_FILLED else entry[2] if flags & F_CLOSED else None)
        if fn is None:
            return flags & ~F_HOOKED
        try:
            result = fn(o)
        except Exception as exc:
            self._outcome = (fn, o, None, exc)
            return (flags & ~F_HOOKED) | F_CALLED
        if result is None:
            return flags & ~F_HOOKED
        self._outcome = (fn, o, result, None)
        return (flags & ~F_HOOKED) | F_CALLED

    def set_shell(self, table: list[tuple[Any, Any, Any, Any] | None] | None, work: Any, slow: int, post: int,
                  after: Callable[[int], Any]) -> None:
        """What ``feed_shell`` needs of the shell: the ``table`` of ``feed_call`` (a list, or None),
        a container that is not empty while the shell has work queued (then no callback runs
        here: it would overtake that work), the ``slow`` mask, and ``after(flags)``, called for a
        result with a ``post`` bit."""
        if table is not None and not isinstance(table, list):
            raise TypeError(f"table must be a list or None, not {type(table).__name__}")
        if not callable(after):
            raise TypeError("after must be callable")
        slow = _index("slow", slow)
        post = _index("post", post)
        self._sh_table = table
        self._sh_work = work
        self._sh_slow = slow & 0x7FFFFFFF
        self._sh_post = post & 0x7FFFFFFF
        self._sh_after = after

    def feed_shell(self, data: bytes | bytearray | memoryview | str) -> None:
        """One raw frame for the shell (its ``feed``): ``feed_call(data, table, slow)`` with what
        ``set_shell`` gave (the table None while work is queued), then ``after(flags)`` when the
        result has a ``post`` bit. An argument that is not bytes-like or str is counted as
        malformed, never raised; what ``after`` raises goes to the caller. Without ``set_shell``,
        it is ``feed`` and returns nothing."""
        try:
            flags = self.feed_call(data, None if self._sh_work else self._sh_table, self._sh_slow)
        except TypeError:  # not bytes-like or str: counted as malformed like any bad frame
            flags = self.feed_decoded(dec.R_MALFORMED, None)
        if flags & self._sh_post:
            self._sh_after(flags)  # type: ignore[misc]

    def call_outcome(self) -> tuple[Any, OrderState, Any, BaseException | None] | None:
        """What the callback ``feed_call`` ran left for the shell: (callback, order, result,
        exception), once; None when there is nothing."""
        out = self._outcome
        self._outcome = None
        return out

    def set_dirty_mask(self, mask: int) -> None:
        """From now on, a feed/feed_decoded/feed_call/close_local result with a ``mask`` bit puts
        its order on the dirty list (once until ``take_dirty``); the result that makes the list
        non-empty carries F_DIRTY, so the caller schedules one flush for a burst. 0 (the default):
        nothing is marked."""
        self._dirty_mask = _index("mask", mask) & 0x7FFFFFFF & ~F_DIRTY  # the F_* bits: any int works

    def take_dirty(self) -> list[OrderState]:
        """The orders on the dirty list, in marking order, and the list emptied. One the core let
        go of meanwhile comes with its final values."""
        self._enter()
        try:
            out = list(self._dirty.values())
            self._dirty = {}
            return out
        finally:
            self._busy = False

    def feed_decoded(self, result: int, fields: Mapping[str, Any] | None) -> int:
        """Apply the output of ``decode``/``decode_dict`` (dict inputs come this way).

        Each value is read once, before anything changes, and must be what the decoder gives:
        ``status`` one of the ST_* codes, ``cid`` a str (a subclass is read as its plain value) or
        None (an id longer than 36 bytes), ``event_time``/``order_id``/``z``/``ap``/``L``/``q``/``p``
        absent, None or a plain int in [0, 2**63). Anything else makes the frame malformed (counted,
        never raised): an exchange order id beyond int64 is no id of Binance's. ``amended`` counts
        only when it is ``True``.
        """
        self._enter()
        try:
            self._begin(False)  # (the clock, when the event may close its order: _feed_checked)
            return self._feed_checked(*_checked(result, fields))
        finally:
            self._busy = False

    def _feed_checked(self, kind: int, cid: str | None, event_time: int, status: int,
                      f: Mapping[str, Any] | None) -> int:
        # kind: 0 an order update, 1 another event, 2 malformed
        if self._retired:
            self._expire()
        o = self._by_cid.get(cid) if kind == 0 and cid is not None else None
        if o is not None and not self._now_read and _may_close(status, f, o._qty):  # type: ignore[arg-type]
            self._begin(True)  # after the lookup, before anything changes: a clock may raise
        self._last = None
        self._last_event_time = 0
        self._counters["frames"] += 1
        if kind == 1:
            self._counters["other_events"] += 1
            return F_OTHER_EVENT
        if kind == 2 or f is None:
            self._counters["malformed"] += 1
            return F_MALFORMED
        if o is None:
            self._counters["unknown_ids"] += 1
            return F_UNKNOWN_ID
        self._last = o
        self._last_event_time = event_time
        flags = self._apply(o, status, f)
        if o._bits & _B_HOOKED:
            flags |= F_HOOKED
        return self._mark(o, flags) if flags & self._dirty_mask else flags

    def _mark(self, o: OrderState, flags: int) -> int:
        """``flags`` (which have a bit of the dirty mask), with F_DIRTY when the result puts ``o``
        on an empty dirty list."""
        if id(o) not in self._dirty:
            self._dirty[id(o)] = o
            if len(self._dirty) == 1:
                return flags | F_DIRTY
        return flags

    def _apply(self, o: OrderState, status: int, f: Mapping[str, Any]) -> int:
        """One feed event: the fill arithmetic (notes 1-3 under ``_states.TRANSITIONS``), then the
        table's cell for (state, event)."""
        oid = f.get("order_id")
        if oid is not None and o.exchange_order_id is None:
            self._set_oid(o, oid)
        flags = 0
        is_algo = o._type >= FIRST_ALGO_TYPE
        reveal = False
        if is_algo or f.get("algo") is True:
            algo_event = f.get("algo") is True
            # note 7: the created order's events (or FINISHED) show a trigger we may not have seen
            reveal = is_algo and (not algo_event or status == ST_FINISHED)
            if algo_event and not is_algo:
                status = ST_OTHER  # an ALGO_UPDATE for a LIMIT/MARKET order: unknown (note 7)
            elif status >= ST_TRIGGERING:  # the algo statuses' columns; no order status (note 7)
                status = status - ST_TRIGGERING + EV_TRIGGERING if algo_event else ST_OTHER
        elif status >= ST_TRIGGERING:
            status = ST_OTHER  # an algo status in an order's frame: unknown (note 7)
        if status == ST_PARTIALLY_FILLED or status == ST_NEW:  # noqa: SIM109 (no tuple to build)
            z = f.get("z")
            # Note 9: an amendment, or a partial fill, states the order's size; taken first, so
            # that the fill is measured against it.
            amended = f.get("amended")
            if amended:
                status = EV_AMENDED
            if not is_algo and (amended or (status == ST_PARTIALLY_FILLED and z is not None
                                            and z > o._filled)):
                p = f.get("p")
                q = f.get("q")
                if ((p is not None and p != o._price) or (q is not None and q != o._qty)) and (
                        CELLS[o._state][EV_AMENDED] >> 4 & A_AMEND):
                    flags = self._amend(o, p, q, z)
        elif status == ST_FILLED:
            z = f.get("z", o._qty)
        elif status == ST_NONE or status == ST_OTHER:  # noqa: SIM109 (no tuple to build)
            self._counters["unknown_status"] += 1
            flags = F_UNKNOWN_STATUS
            status = EV_UNKNOWN
            z = f.get("z")
        else:
            z = f.get("z")
        if z is not None and z > o._filled:
            flags |= self._fill(o, z, f)
            if o._filled >= o._qty:
                status = EV_COMPLETED
        was_terminal = o._state >= FIRST_TERMINAL
        if reveal and PLACING <= o._state < TRIGGERED:
            flags = self._take(o, CELLS[o._state][EV_TRIGGERED], flags)
        cell = CELLS[o._state][status]
        if cell != _STAY_ACKED or not o._bits & _B_ACKED:  # (that cell, once acknowledged: no change)
            flags = self._take(o, cell, flags)
        if status == EV_EXPIRED_IN_MATCH and flags & F_CLOSED:
            o._bits |= _B_IN_MATCH  # note 8
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
            if not o._bits & _B_ACKED:
                o._bits |= _B_ACKED
                flags |= F_ACTIVATED
        elif acts & A_SEEN:
            o._bits |= _B_ACKED
        if acts & A_CLOSED:
            flags |= F_CLOSED
        if acts & A_FILLED:
            flags |= F_FILLED
        if acts & A_ORPHAN:
            self._counters["orphans"] += 1
            flags |= F_ORPHAN
        if acts & A_TRIGGER:
            flags |= F_TRIGGERED
        new = cell & 15
        if new != KEEP:
            self._set_state(o, new)
        return flags

    def _amend(self, o: OrderState, p: int | None, q: int | None, z: int | None) -> int:
        """Note 9: the frame's p/q become the order's; F_AMENDED when one of them changed."""
        flags = 0
        if p is not None and p > 0 and p != o._price:
            o._price = p
            flags = F_AMENDED
        if q is not None and q > o._filled and (z is None or q > z) and q != o._qty:
            o._qty = q
            flags = F_AMENDED
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
        if self._watch and new != PLACING and new != CANCELLING:
            self._watch.pop(o.client_order_id, None)  # the feed (or a local close) answered
        if new >= FIRST_TERMINAL:
            if old < FIRST_TERMINAL:
                self._unlink_live(o)
                o.terminal_at = self._now_op  # read by _begin(closing=True) before anything changed
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
        inside one, so an order is always still there for the callbacks of its own last event).
        The time is the one _begin() read."""
        retired = self._retired
        now = self._now_op
        while retired and (len(retired) > self._max or now - retired[0].terminal_at >= self._ttl):
            o = retired.popleft()
            del self._by_cid[o.client_order_id]
            if o.exchange_order_id is not None and self._by_oid.get(o.exchange_order_id) is o:
                del self._by_oid[o.exchange_order_id]
            self._counters["evicted"] += 1


# OrderState._bits: the exchange has acknowledged the order; the shell marked it (F_HOOKED);
# it expired in matching (self-trade prevention, note 8).
_B_ACKED = 1
_B_HOOKED = 2
_B_IN_MATCH = 4

# A live order's NEW / PARTIALLY_FILLED cell: the state stays, the order is acknowledged.
_STAY_ACKED = KEEP | A_ACK << 4


def _may_close(status: int, f: Mapping[str, Any], qty: int) -> bool:
    """Whether a feed event may take its order to a terminal state, so that the clock is read
    before anything changes: any status but NEW and PARTIALLY_FILLED, or a fill that reaches the
    order's size or the size the frame states. A NEW or PARTIALLY_FILLED event closes nothing
    otherwise (``tests/orders/test_transition_table.py`` checks the table for it), so a fill frame
    costs no clock call."""
    if status != ST_NEW and status != ST_PARTIALLY_FILLED:
        return True
    z = f.get("z")
    if z is None:
        return False
    q = f.get("q")
    return bool(z >= qty or (q is not None and z >= q))


def _discard(index: dict[Any, dict[str, OrderState]], key: Any, cid: str) -> None:
    bucket = index[key]
    del bucket[cid]
    if not bucket:
        del index[key]

