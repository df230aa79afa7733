"""OrderManager: the one door every order goes through.

A thin async shell around the order core (compiled, or its pure twin). The rules it keeps:

- REST replies never drive state: a place reply only records the exchange's order id; the order
  stays ``placing`` until the user stream says NEW (or fills, or cancels it).
- Feed events drive every other transition (``OrderCore.feed``); status-query answers go through
  the very same rules.
- An unknown outcome (timeout, dropped connection, -1006/-1007, the 503 "Unknown error") is
  resolved by the feed or by a status query, never guessed.
- Reprice: ``replace_order`` amends a LIMIT order in place (one modify request; the feed's
  AMENDMENT confirms it) when only its price and/or quantity change; otherwise it cancels and places
  the new order only after the feed confirmed the old one is gone, so one intent never has two live
  orders.
- Order entry: over ws-fapi when the client offers it and the WebSocket is up, else over REST, per
  request; both paths keep the same contract (``order_entry``).
- The common feed path is synchronous: ``feed(frame)`` decodes, transitions and runs plain
  callbacks without touching the event loop. Only async work (coroutine callbacks, the risk hook)
  goes through one ordered work queue.
- Nothing per order lives outside the core's record: an order's callbacks are a handle in its
  record (``OrderCore.set_hook``) into this shell's table of interned ``_Hooks`` (one per tuple of
  callables, shared by every order an algo places), and the core runs a plain callback itself when
  that is all a result asks for (``OrderCore.feed_call``); the stuck-order watch is the core's too
  (``OrderCore.watch``/``expired``). A replace or an amend in progress is the one per-order Python
  object.
- With a journal (``journal=``, see ``journal.py``): every place and cancel intent is written
  before its request leaves; an order change that moves money or ends an order is appended on the
  next loop turn (off the feed path: the core keeps the list of changed orders itself,
  ``OrderCore.set_dirty_mask``/``take_dirty``), with ``risk_filled``, the cumulative fill the risk hook has
  been told, written as soon as the hook returns. ``restore()`` (``restart.py``) brings the
  journaled orders back after a restart.

One event loop drives a manager; it is not thread-safe.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, fields
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from ..exchange.errors import NO_SUCH_ORDER, UNKNOWN_ORDER, ExchangeAuthError, ExchangeError, ExchangeTimeout
from ..exchange.protocol import ExchangeClient, SupportsBatch, SupportsModify
from . import _core, _decode_py
from ._core import OrderState
from ._fixed import fixed_to_str, to_fixed
from ._forms import algo_message_from_rest, message_from_dict, message_from_rest
from ._states import (
    CANCELLED,
    CANCELLING,
    EXPIRED,
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
    F_PARTIAL,
    F_TRIGGERED,
    F_UNKNOWN_STATUS,
    FAILED,
    FILLED,
    FIRST_ALGO_TYPE,
    ORDER_TYPES,
    PLACING,
    REJECTED,
    TRIGGERED,
)
from .ids import GENERATOR, parse_client_order_id
from .journal import Change, Intent, Journal
from .resolver import Resolver

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from ..events.publisher import EventPublisher

log = logging.getLogger("trading_engine_python.orders")

# What a callback gets: the order's OrderState. A plain function runs at once on the feed path; a
# coroutine function (its return value awaited) runs later with a snapshot.
Callback = Callable[[OrderState], object]
# A quantity or price: str/int/Decimal exactly, a float by the 4-ulp rule of _fixed.to_fixed.
Number = str | int | float | Decimal


class RiskEngine(Protocol):
    """What the manager calls on the risk engine (``account_snapshot(sub_account_id)``, used for the
    order_filled event's account, is optional)."""

    async def on_order_fill(self, order: OrderState) -> None: ...


_SIDES = {"BUY": 0, "SELL": 1}
_TYPES = {"LIMIT": 0, "MARKET": 1}
_ALL_TYPES = {name: i for i, name in enumerate(ORDER_TYPES)}
_WORKING_TYPES = frozenset({"CONTRACT_PRICE", "MARK_PRICE"})
_STP_MODES = frozenset({"EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"})
_TIFS = frozenset({"GTC", "IOC", "FOK", "GTX", "GTD"})
_OID_LIMIT = 2**63  # Binance's orderId is an int64
_LEVERAGE_MAX = 125  # Binance's ceiling; the cores refuse more (LEVERAGE_MAX)
_BATCH_MAX = 5  # orders per batchOrders request (docs/binance-protocol.md, "Batch orders")
# -5027 "No need to modify the order.": the amend asked for what the order already is
# (docs/binance-protocol.md, "Amend in place").
_NO_NEED_TO_MODIFY = -5027
_NOT_SENT = -1  # ExchangeError code of a local failure that certainly sent nothing
_LATENCY_SAMPLES = 2048


@dataclass(frozen=True, slots=True)
class LimitOrderSpec:
    """One item of ``place_limit_orders``: ``place_limit_order``'s arguments (a dict with these
    keys works the same)."""

    sub_account_id: str
    symbol: str
    side: str
    quantity: Number
    price: Number
    leverage: int = 1
    reduce_only: bool = False
    time_in_force: str | None = None
    origin: str = "MANUAL"
    parent_id: str | None = None
    on_fill: Callback | None = None
    on_cancel: Callback | None = None
    on_partial: Callback | None = None


class _Hooks:
    """An order's callbacks, interned: one object (and one handle, stored in each order's record by
    ``OrderCore.set_hook``) serves every order with the same callables, as algos pass the same
    bound methods for thousands of orders. ``moved``: the variant a replaced order keeps, whose
    callbacks went on to its replacement (a late fill on it still reaches them)."""

    __slots__ = ("fast", "key", "moved", "on_cancel", "on_fill", "on_partial", "on_trigger", "plain")

    def __init__(self, on_fill: Callback | None, on_cancel: Callback | None, on_partial: Callback | None,
                 on_trigger: Callback | None = None, moved: bool = False) -> None:
        self.on_fill = on_fill
        self.on_cancel = on_cancel
        self.on_partial = on_partial
        self.on_trigger = on_trigger  # algo orders: their trigger placed the order
        self.moved = moved
        # No coroutine function among them: a callback runs at once, without inspecting it.
        self.plain = not any(inspect.iscoroutinefunction(fn)
                             for fn in (on_fill, on_cancel, on_partial, on_trigger))
        self.fast = self.plain and not moved  # the core may run them itself (OrderCore.feed_call)
        self.key: tuple[Any, ...] | None = None  # its key in OrderManager._hook_ids (None: not interned)

    def any(self) -> bool:
        return not (self.on_fill is None and self.on_cancel is None and self.on_partial is None
                    and self.on_trigger is None)


class _Intent:
    """A replace or an amend in progress on one order (its handle points here until they return),
    or an algo order whose cancel lost the race with its trigger (until the trigger's frame): their
    waiters, and the callbacks the order had. No other order has one."""

    __slots__ = ("aborted", "amend", "cancel_created", "handle", "hooks", "replace", "suppressed")

    def __init__(self, hooks: _Hooks | None) -> None:
        self.hooks = hooks
        self.handle = -1  # this entry's own handle
        self.replace: asyncio.Future[None] | None = None  # a replace waits for this order's close
        self.amend: asyncio.Future[None] | None = None  # an amend waits for its AMENDMENT (or a close)
        self.aborted = False  # a cancel was asked for during the replace: place nothing
        self.suppressed = False  # the replace's own cancel: on_cancel held back (the intent goes on)
        # An algo order whose cancel lost the race with its trigger: cancel the created order
        # once the trigger's frame arrives (the caller asked for it to go).
        self.cancel_created = False


class OrderManager:
    """Central order state machine (see the module docstring for its rules).

    ``implementation`` picks the core explicitly ("cython" or "python"); by default the compiled
    one unless TRADING_ENGINE_NO_EXTENSIONS is set.

    ``order_entry``: "ws" sends place / modify / cancel over the client's ws-fapi connection
    (``exchange_client.ws_api``) and falls back to REST for a request while that WebSocket is down;
    "rest" never uses it. The default is "ws" when the client offers ws-fapi, else "rest".
    """

    def __init__(
        self,
        exchange_client: ExchangeClient,
        redis_client: Redis | None = None,
        risk_engine: RiskEngine | None = None,
        *,
        resolve_timeout: float = 5.0,
        replace_timeout: float = 5.0,
        stuck_timeout: float = 30.0,
        terminal_ttl: float = 600.0,
        terminal_max: int = 100_000,
        event_buffer: int = 100_000,
        event_stream_maxlen: int | None = None,
        implementation: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        journal: Any = None,
        recording: Any = None,
        dead_man_seconds: float | None = None,
        self_trade_prevention: str | None = None,
        order_entry: str | None = None,
    ) -> None:
        if dead_man_seconds is not None and not dead_man_seconds > 0:
            raise ValueError(f"dead_man_seconds must be > 0 or None, not {dead_man_seconds!r}")
        if self_trade_prevention is not None and self_trade_prevention not in _STP_MODES:
            raise ValueError(f"self_trade_prevention must be one of {sorted(_STP_MODES)} or None")
        # Dead-man switch: off in the library (None); `run` and the demo turn it on.
        self.dead_man_seconds: float | None = dead_man_seconds
        # selfTradePreventionMode for limit and algo orders that do not name one (None: the
        # exchange's default, EXPIRE_MAKER; docs/binance-protocol.md, "Self-trade prevention").
        self.self_trade_prevention: str | None = self_trade_prevention
        self._deadman_task: asyncio.Task[None] | None = None
        self._deadman_wake: asyncio.Future[None] | None = None
        self._deadman_symbols: set[str] = set()
        self._deadman_armed: set[str] = set()
        self._deadman: dict[str, int] = {"renewals": 0, "failures": 0, "armed": 0, "last_ok_ms": 0}
        self._algo_ids: dict[str, int] = {}
        self._exchange = exchange_client
        self._ws = _ws_entry(exchange_client, order_entry)
        self.order_entry = "ws" if self._ws is not None else "rest"
        self._ws_starting: asyncio.Task[Any] | None = None
        self._latency: dict[str, deque[float]] = {}
        self._redis = redis_client
        self._risk = risk_engine
        self.replace_timeout = float(replace_timeout)
        core_cls = _core.load(implementation)
        self._core = core_cls(terminal_ttl, terminal_max, clock)
        self._terminal_ttl = float(terminal_ttl)
        self.implementation: str = self._core.implementation
        self._ids = GENERATOR
        # Handles (set_hook) -> _Hooks (interned by their callables) or _Intent (a replace or an
        # amend in progress); freed handles are reused. Nothing per order: the handle lives in its
        # record.
        self._hook_list: list[_Hooks | _Intent | None] = []
        # Per handle, what the core may run itself (OrderCore.feed_call): (on_partial, on_fill,
        # on_cancel, on_trigger) of a _Hooks whose callbacks are plain and not moved; None for
        # anything else.
        self._fast: list[tuple[Any, Any, Any, Any] | None] = []
        self._hook_ids: dict[tuple[Any, ...], int] = {}
        self._hook_free: list[int] = []
        self._hook_gc_at = _HOOK_GC_MIN
        self._waiting: dict[str, _Intent] = {}  # orders with a replace or an amend in progress
        self._replaces_waiting = 0
        self._drain_wake: asyncio.Future[None] | None = None
        self._resolver = Resolver(self, resolve_timeout, stuck_timeout)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._work: deque[tuple[Any, ...]] = deque()
        self._worker: asyncio.Task[None] | None = None
        self._closed = False
        self._stats = dict.fromkeys(
            ("callback_errors", "risk_errors", "rest_rejections", "unknown_outcomes", "status_queries",
             "resolved_failed", "replaces", "replace_aborted", "adopted",
             "cancel_resends", "orphans_cancelled", "bad_order_ids", "entry_ws", "entry_rest",
             "entry_fallbacks", "amends", "amends_unchanged", "amends_refused", "batches"), 0)
        self._publisher: EventPublisher | None = None
        if redis_client is not None:
            from ..events.publisher import EventPublisher

            self._publisher = EventPublisher(redis_client, buffer_size=event_buffer,
                                             stream_maxlen=event_stream_maxlen)
        self._log_budget = _LogBudget()
        # The journal: a path opens a file journal this manager owns (closes); a Journal or
        # RedisJournal object stays its owner's.
        self._owns_journal = isinstance(journal, (str, os.PathLike))
        self._journal: Any = Journal.open(journal) if self._owns_journal else journal
        # Orders whose change is due on the next loop turn, besides those the core marks itself
        # (set_dirty_mask: feed and local-close results; take_dirty() in the flush).
        self._jdirty: dict[str, Any] = {}
        self._jhandle: asyncio.Handle | None = None
        self._risk_told: dict[str, int] = {}  # cumulative fill (fixed-point) the risk hook heard
        self._told_prune_at = 4096
        self.restored: list[Any] = []  # orders restore() brought back from the journal
        # A Recording (``recording.py``; a path opens one this manager closes): raw frames and the
        # commands and answers that drive the core, for ``trading-engine replay``.
        self._owns_recording = isinstance(recording, (str, os.PathLike))
        if self._owns_recording:
            from .recording import Recording

            recording = Recording.open(recording)
        self._recording: Any = recording
        self._mask = self._shell_mask = self._slow_mask = self._post_mask = 0
        self._update_mask()
        if self._recording is None:
            # The stream's frame callback is then the core's feed_shell itself: feed()'s steps in
            # C, one call per frame and no Python frame around it.
            self.feed = self._core.feed_shell  # type: ignore[method-assign]

    def _update_mask(self) -> None:
        # Which transition results need the shell: an order without callbacks, with no publisher
        # and no risk hook attached, never leaves the compiled core.
        mask = _ALWAYS
        if self._publisher is not None:
            mask |= F_ACTIVATED | F_FILL | F_FILLED | F_CLOSED | F_TRIGGERED | F_AMENDED
        if self._risk is not None:
            mask |= F_FILL
        self._shell_mask = mask
        # Results that need more than the order's callbacks (otherwise the core runs a plain one).
        self._slow_mask = mask & ~F_HOOKED
        if self._journal is not None:
            # The core notes the journal's results itself, no object made per frame; F_DIRTY (the
            # first of a loop turn) is all feed() sees of them.
            self._core.set_dirty_mask(_JOURNALED)
            mask |= F_DIRTY
        self._mask = mask
        # feed()'s one test for "anything left to do" (a callback the core ran may have left some)
        self._post_mask = mask | F_CALLED
        self._core.set_shell(self._fast, self._work, self._slow_mask, self._post_mask, self._after_feed)

    @property
    def journal(self) -> Any:
        """The Journal / RedisJournal this manager writes (None without one)."""
        return self._journal

    @property
    def resolve_timeout(self) -> float:
        """Seconds before an unknown outcome is asked about, and between status queries."""
        return self._resolver.resolve_timeout

    @property
    def stuck_timeout(self) -> float:
        """Seconds an accepted request may wait for its feed event before a status query."""
        return self._resolver.stuck_timeout

    @property
    def risk_engine(self) -> RiskEngine | None:
        return self._risk

    @risk_engine.setter
    def risk_engine(self, risk: RiskEngine | None) -> None:
        """Attach the risk engine later (it is created after the manager)."""
        if risk is not None and self._risk is None and self._journal is not None:
            # Fills so far were journaled as told (nobody was owed them). The engine attached now
            # is owed only what fills from here on: start its account at what the journal holds,
            # so a later change of such an order never writes a smaller risk_filled.
            self._journal_flush()
            try:
                entries = self._journal.state().entries
            except Exception:
                log.exception("journal: could not read its state to attach the risk engine")
                entries = {}
            told = self._risk_told
            for cid, entry in entries.items():
                if entry.change is not None:
                    told.setdefault(cid, entry.change.risk_filled)
        self._risk = risk
        self._update_mask()

    # ── Public API: place orders ──

    # Every place_* method: the same positional arguments, then the same keywords in one order.
    async def place_market_order(
        self,
        sub_account_id: str,
        symbol: str,
        side: str,
        quantity: Number,
        *,
        leverage: int = 1,
        reduce_only: bool = False,
        origin: str = "MANUAL",
        parent_id: str | None = None,
        on_fill: Callback | None = None,
        on_cancel: Callback | None = None,
        on_partial: Callback | None = None,
    ) -> OrderState:
        """Place a market order; returns its live OrderState (state ``placing`` until the feed)."""
        return await self._place(sub_account_id, symbol, side, "MARKET", quantity, None, leverage,
                                 origin, parent_id, on_fill, on_cancel, on_partial, reduce_only, None)

    async def place_limit_order(
        self,
        sub_account_id: str,
        symbol: str,
        side: str,
        quantity: Number,
        price: Number,
        *,
        leverage: int = 1,
        reduce_only: bool = False,
        time_in_force: str | None = None,
        self_trade_prevention: str | None = None,
        origin: str = "MANUAL",
        parent_id: str | None = None,
        on_fill: Callback | None = None,
        on_cancel: Callback | None = None,
        on_partial: Callback | None = None,
    ) -> OrderState:
        """Place a limit order (``time_in_force="GTX"`` for post-only); returns its OrderState.

        ``self_trade_prevention`` (EXPIRE_TAKER, EXPIRE_MAKER, EXPIRE_BOTH) is sent as
        selfTradePreventionMode; None takes the manager's default (its ``self_trade_prevention``),
        and with none there the exchange's (EXPIRE_MAKER). An order STP expires ends ``expired``
        with ``expire_reason == "EXPIRED_IN_MATCH"``, its fills before that counted."""
        if self_trade_prevention is not None and self_trade_prevention not in _STP_MODES:
            raise ValueError(f"self_trade_prevention must be one of {sorted(_STP_MODES)} or None")
        return await self._place(sub_account_id, symbol, side, "LIMIT", quantity, price, leverage,
                                 origin, parent_id, on_fill, on_cancel, on_partial, reduce_only,
                                 time_in_force, stp=self_trade_prevention)

    async def place_limit_orders(
        self, orders: Sequence[LimitOrderSpec | Mapping[str, Any]]
    ) -> list[OrderState]:
        """Place several limit orders: one OrderState per item, in input order, each with
        ``place_limit_order``'s contract (items are ``LimitOrderSpec`` or dicts of its fields).

        Every item is checked first (a bad one raises ValueError and nothing is registered or
        sent). Up to 5 go in one batchOrders request, the requests sent concurrently; an item the
        exchange refuses rejects only its own order. A client without batch support gets one
        place request per item (concurrently too).
        """
        specs = [_spec(item, n) for n, item in enumerate(orders)]
        checked = [self._check(s.sub_account_id, s.symbol, s.side, "LIMIT", s.quantity, s.price, s.leverage,
                               s.parent_id, s.time_in_force) for s in specs]
        placed: list[OrderState] = []
        for spec, (qty, px) in zip(specs, checked, strict=True):
            placed.append(await self._register(
                spec.sub_account_id, spec.symbol, spec.side, "LIMIT", qty, px, spec.leverage, spec.origin,
                spec.parent_id, spec.on_fill, spec.on_cancel, spec.on_partial, spec.reduce_only,
                spec.time_in_force, None))
        chunks = [placed[i:i + _BATCH_MAX] for i in range(0, len(placed), _BATCH_MAX)]
        if isinstance(self._exchange, SupportsBatch) and self._recording is None:
            await asyncio.gather(*(self._send_batch(chunk) for chunk in chunks))
        else:
            # One request per order (a recording replays those one by one).
            await asyncio.gather(*(self._send_place(o) for o in placed))
        for symbol in {o.symbol for o in placed}:
            self._deadman_touch(symbol)
        return placed

    async def _place(self, sub: str, symbol: str, side: str, order_type: str, quantity: Any,
                     price: Any, leverage: int, origin: str, parent_id: str | None,
                     on_fill: Callback | None, on_cancel: Callback | None,
                     on_partial: Callback | None, reduce_only: bool, tif: str | None,
                     hooks: _Hooks | None = None, stp: str | None = None) -> OrderState:
        qty, px = self._check(sub, symbol, side, order_type, quantity, price, leverage, parent_id, tif)
        order = await self._register(sub, symbol, side, order_type, qty, px, leverage, origin, parent_id,
                                     on_fill, on_cancel, on_partial, reduce_only, tif, hooks, stp)
        await self._send_place(order, stp)
        self._deadman_touch(symbol)
        return order

    def _check(self, sub: str, symbol: str, side: str, order_type: str, quantity: Any, price: Any,
               leverage: int, parent_id: str | None, tif: str | None) -> tuple[int, int]:
        # Everything is checked before anything is registered or sent.
        if self._closed:
            raise RuntimeError("OrderManager is closed")
        if side not in _SIDES:
            raise ValueError(f"side must be 'BUY' or 'SELL', not {side!r}")
        if not isinstance(symbol, str) or not symbol:
            raise ValueError("symbol must be a non-empty string")
        if not isinstance(sub, str) or not sub:
            raise ValueError("sub_account_id must be a non-empty string")
        qty = to_fixed(quantity, "quantity")
        if qty <= 0:
            raise ValueError(f"quantity must be > 0, not {quantity!r}")
        px = 0
        if order_type == "LIMIT":
            if price is None:
                raise ValueError("a limit order needs a price")
            px = to_fixed(price, "price")
            if px <= 0:
                raise ValueError(f"price must be > 0, not {price!r}")
        if isinstance(leverage, bool) or not isinstance(leverage, int) or not 1 <= leverage <= _LEVERAGE_MAX:
            raise ValueError(f"leverage must be an int from 1 to {_LEVERAGE_MAX}, not {leverage!r}")
        if tif is not None and tif not in _TIFS:
            raise ValueError(f"time_in_force must be one of {sorted(_TIFS)}, not {tif!r}")
        if parent_id is not None and not isinstance(parent_id, str):
            raise ValueError("parent_id must be a string or None")
        return qty, px

    async def _register(self, sub: str, symbol: str, side: str, order_type: str, qty: int, px: int,
                        leverage: int, origin: str, parent_id: str | None, on_fill: Callback | None,
                        on_cancel: Callback | None, on_partial: Callback | None, reduce_only: bool,
                        tif: str | None, hooks: _Hooks | None, stp: str | None = None) -> OrderState:
        """The checked order tracked (placing) and journaled; nothing sent yet."""
        cid = self._ids.new(sub, order_type, str(origin))
        if self._recording is not None:
            self._recording.command("place", {
                "cid": cid, "sub": sub, "symbol": symbol, "side": side, "type": order_type, "qty": qty,
                "price": px, "leverage": leverage, "origin": str(origin), "parent": parent_id,
                "reduce_only": bool(reduce_only), "tif": tif, "stp": stp})
        order = self._core.add(cid, sub, symbol, _SIDES[side], _TYPES[order_type], qty, px, str(origin),
                               parent_id, leverage, bool(reduce_only), tif)
        if hooks is not None:
            self._core.set_hook(cid, self._handle(hooks, False))
        elif on_fill is not None or on_cancel is not None or on_partial is not None:
            self._core.set_hook(cid, self._intern_hooks(on_fill, on_cancel, on_partial, None, False))
        if self._journal is not None:
            # Before the send: after a crash this order is looked up, never placed again.
            try:
                await self._write_intent(Intent(
                    "place", cid, sub, symbol, side, order_type, qty, px or None, tif, bool(reduce_only),
                    leverage, str(origin), parent_id))
            except BaseException as exc:  # a cancelled caller too: nothing was sent
                if self._recording is not None:
                    self._recording.command("place_reply", {"cid": cid, "kind": "refused", "msg": "journal"})
                flags = self._core.close_local(cid, REJECTED, -1, f"journal: {exc!r}")
                if flags:
                    self._dispatch(flags | F_HOOKED, order, _now_ms())
                raise
        return order

    def _place_args(self, order: Any, stp: str | None = None) -> dict[str, Any]:
        px = order.price_fp
        args = {"symbol": order.symbol, "side": order.side, "order_type": order.order_type,
                "quantity": fixed_to_str(order.quantity_fp), "price": fixed_to_str(px) if px else None,
                "client_order_id": order.client_order_id, "reduce_only": order.reduce_only,
                "time_in_force": order.time_in_force}
        # selfTradePreventionMode: the order's own, else the manager's default for limit orders.
        # The keyword only when there is a mode: a client without it keeps working.
        mode = stp or (self.self_trade_prevention if order.order_type == "LIMIT" else None)
        if mode is not None:
            args["self_trade_prevention"] = mode
        return args

    async def _send_place(self, order: Any, stp: str | None = None) -> None:
        cid = order.client_order_id
        args = self._place_args(order, stp)
        stp_kw = "self_trade_prevention"
        extra = {stp_kw: args[stp_kw]} if stp_kw in args else {}
        try:
            call = self._entry("place", lambda c: c.place_order(
                args["symbol"], args["side"], args["order_type"], args["quantity"], price=args["price"],
                client_order_id=cid, reduce_only=args["reduce_only"], time_in_force=args["time_in_force"],
                **extra))
            reply = await (call if self._recording is None else self._recorded("place_reply", cid, call))
        except asyncio.CancelledError:
            self._resolver.unknown_outcome(order, "place", None)
            raise
        except Exception as exc:
            self._place_outcome(order, exc)
        else:
            self._place_outcome(order, reply)

    async def _send_batch(self, chunk: list[Any]) -> None:
        """One batchOrders request (over REST: ws-fapi has no batch method)."""
        self._stats["batches"] += 1
        self._stats["entry_rest"] += 1
        t0 = time.perf_counter()
        try:
            answers: list[Any] = list(await self._exchange.place_orders(  # type: ignore[attr-defined]
                [self._place_args(o) for o in chunk]))
        except asyncio.CancelledError:
            for o in chunk:
                self._resolver.unknown_outcome(o, "place", None)
            raise
        except Exception as exc:
            # The request as a whole: refused, refused before sending, or unknown, for every item.
            for o in chunk:
                self._place_outcome(o, exc)
            return
        self._observe("place", "rest", t0)
        if len(answers) != len(chunk):
            unknown = ExchangeTimeout(-1006, "batch answer has the wrong length; outcome unknown")
            answers = [unknown] * len(chunk)
        for o, answer in zip(chunk, answers, strict=True):
            self._place_outcome(o, answer)

    def _place_outcome(self, order: Any, result: Any) -> None:
        """A place request's answer (a reply dict) or failure (the exception), for one order."""
        cid = order.client_order_id
        if isinstance(result, ExchangeTimeout):
            self._resolver.unknown_outcome(order, "place", result)
        elif isinstance(result, ExchangeError):
            self._stats["rest_rejections"] += 1
            flags = self._core.close_local(cid, REJECTED, result.code, result.msg)
            if flags:
                self._dispatch(flags | F_HOOKED, order, _now_ms())  # a local close: look up its intent
        elif isinstance(result, ValueError):
            # The client refuses before sending (a quantity off the symbol's step, a price off
            # its tick, a type for the Algo API): definitely not placed.
            self._stats["rest_rejections"] += 1
            flags = self._core.close_local(cid, REJECTED, -1, str(result))
            if flags:
                self._dispatch(flags | F_HOOKED, order, _now_ms())  # a local close: look up its intent
        elif isinstance(result, BaseException):  # a client bug or transport error: the outcome is unknown
            self._resolver.unknown_outcome(order, "place", result)
        else:
            oid = result.get("orderId") if isinstance(result, dict) else None
            if isinstance(oid, int) and not isinstance(oid, bool):
                if 0 <= oid < _OID_LIMIT:
                    self._core.set_exchange_id(cid, oid)
                else:
                    # Binance's orderId is an int64; anything else is a bad reply. The order stays
                    # tracked without it: the feed's "i" supplies it (or is counted malformed).
                    self._stats["bad_order_ids"] += 1
                    log.warning("place reply for %s has an orderId out of range; waiting for the feed", cid)
            self._resolver.watch(order)

    # ── Order entry: ws-fapi or REST, per request ──

    async def _entry(self, op: str, send: Callable[[Any], Awaitable[Any]]) -> Any:
        """``send(client)`` over ws-fapi while it is connected, else over REST (a fallback, counted).

        A ws request that certainly never left (``ExchangeError(-1)``: the connection went away
        just before) goes over REST too; any other answer, an unknown outcome included, is the
        request's own: it was sent once and is never sent again on the other path.
        """
        ws = self._ws
        if ws is not None:
            if ws.connected:
                t0 = time.perf_counter()
                try:
                    reply = await send(ws)
                except ExchangeError as exc:
                    if exc.code != _NOT_SENT or isinstance(exc, (ExchangeTimeout, ExchangeAuthError)):
                        self._stats["entry_ws"] += 1
                        raise
                else:
                    self._stats["entry_ws"] += 1
                    self._observe(op, "ws", t0)
                    return reply
            self._start_ws()
            self._stats["entry_fallbacks"] += 1
        self._stats["entry_rest"] += 1
        t0 = time.perf_counter()
        reply = await send(self._exchange)
        self._observe(op, "rest", t0)
        return reply

    def _start_ws(self) -> None:
        # The ws client reconnects by itself once started; this starts it (once at a time) when
        # a request found it down, so the next requests go back to the WebSocket.
        if self._closed or (self._ws_starting is not None and not self._ws_starting.done()):
            return
        self._ws_starting = asyncio.ensure_future(self._ws_start_quietly())
        self._tasks.add(self._ws_starting)
        self._ws_starting.add_done_callback(self._tasks.discard)

    async def _ws_start_quietly(self) -> None:
        ws = self._ws
        if ws is None:
            return
        try:
            await ws.start()
        except ExchangeError as exc:
            log.info("ws-fapi order entry not up yet (%s); orders go over REST meanwhile", exc)
        except Exception:  # a client bug: orders keep going over REST
            log.exception("ws-fapi order entry could not be started; orders go over REST")

    async def connect_order_entry(self) -> bool:
        """Open the ws-fapi connection now (with ``order_entry="ws"``); True when it is up. Orders
        go over REST while it is not, so calling this is optional."""
        if self._ws is None:
            return False
        await self._ws_start_quietly()
        return bool(self._ws.connected)

    def _observe(self, op: str, path: str, t0: float) -> None:
        key = f"{op}_{path}"
        samples = self._latency.get(key)
        if samples is None:
            samples = self._latency[key] = deque(maxlen=_LATENCY_SAMPLES)
        samples.append(time.perf_counter() - t0)

    def entry_latency(self) -> dict[str, dict[str, float]]:
        """Request round trips (request sent to its answer) of the last 2048 requests of each
        kind: ``{"place_ws": {"n", "p50_ms", "p99_ms"}, "modify_rest": ..., ...}``."""
        out: dict[str, dict[str, float]] = {}
        for key, samples in self._latency.items():
            if not samples:
                continue
            ordered = sorted(samples)
            n = len(ordered)
            out[key] = {"n": n, "p50_ms": ordered[(n - 1) // 2] * 1000,
                        "p99_ms": ordered[min(n - 1, (n * 99) // 100)] * 1000}
        return out

    # ── Public API: algo (conditional) orders ──
    #
    # Since 2025-12-09 STOP/TAKE_PROFIT(_MARKET) and TRAILING_STOP_MARKET live in Binance's Algo
    # service (docs/binance-protocol.md, "Algo orders"): placed with /fapi/v1/algoOrder under a
    # clientAlgoId (ours, a PMS id), reported by ALGO_UPDATE. The order a trigger creates carries
    # the same id as its client order id, so the core applies its ORDER_TRADE_UPDATEs (fills) to the
    # algo order's own record: on_trigger, then on_partial / on_fill, or on_cancel.

    async def place_stop_order(
        self,
        sub_account_id: str,
        symbol: str,
        side: str,
        quantity: Number,
        trigger_price: Number,
        *,
        kind: str = "STOP",
        price: Number | None = None,
        working_type: str = "CONTRACT_PRICE",
        reduce_only: bool = False,
        close_position: bool = False,
        price_protect: bool = False,
        leverage: int = 1,
        origin: str = "MANUAL",
        parent_id: str | None = None,
        on_trigger: Callback | None = None,
        on_fill: Callback | None = None,
        on_partial: Callback | None = None,
        on_cancel: Callback | None = None,
    ) -> OrderState:
        """A stop or take-profit: ``kind`` STOP or TAKE_PROFIT; with a limit ``price`` it places that
        LIMIT order when triggered, else a MARKET one (the _MARKET type). Same contract as the other
        place_* methods: ValueError for bad arguments before anything is sent, never raises for the
        exchange's answer (the order ends rejected)."""
        if kind not in ("STOP", "TAKE_PROFIT"):
            raise ValueError(f"kind must be 'STOP' or 'TAKE_PROFIT', not {kind!r}")
        tp = to_fixed(trigger_price, "trigger_price")
        if tp <= 0:
            raise ValueError(f"trigger_price must be > 0, not {trigger_price!r}")
        order_type = kind if price is not None else f"{kind}_MARKET"
        return await self._place_algo(
            sub_account_id, symbol, side, order_type, quantity, price, leverage, origin, parent_id,
            _Hooks(on_fill, on_cancel, on_partial, on_trigger), reduce_only, close_position, price_protect,
            working_type, {"trigger_price": fixed_to_str(tp)})

    async def place_trailing_stop_order(
        self,
        sub_account_id: str,
        symbol: str,
        side: str,
        quantity: Number,
        callback_rate: Number,
        *,
        activation_price: Number | None = None,
        working_type: str = "CONTRACT_PRICE",
        reduce_only: bool = False,
        close_position: bool = False,
        price_protect: bool = False,
        leverage: int = 1,
        origin: str = "MANUAL",
        parent_id: str | None = None,
        on_trigger: Callback | None = None,
        on_fill: Callback | None = None,
        on_partial: Callback | None = None,
        on_cancel: Callback | None = None,
    ) -> OrderState:
        """A TRAILING_STOP_MARKET: ``callback_rate`` in percent, 0.1 to 10 in steps of 0.1; it trails
        from ``activation_price`` once reached (else from the current price)."""
        rate = Decimal(fixed_to_str(to_fixed(callback_rate, "callback_rate")))
        if not Decimal("0.1") <= rate <= Decimal("10") or rate % Decimal("0.1"):
            raise ValueError(f"callback_rate must be 0.1 to 10 in steps of 0.1, not {callback_rate!r}")
        extra = {"callback_rate": format(rate.normalize(), "f")}
        if activation_price is not None:
            act = to_fixed(activation_price, "activation_price")
            if act <= 0:
                raise ValueError(f"activation_price must be > 0, not {activation_price!r}")
            extra["activation_price"] = fixed_to_str(act)
        return await self._place_algo(
            sub_account_id, symbol, side, "TRAILING_STOP_MARKET", quantity, None, leverage, origin,
            parent_id, _Hooks(on_fill, on_cancel, on_partial, on_trigger), reduce_only, close_position,
            price_protect, working_type, extra)

    async def _place_algo(self, sub: str, symbol: str, side: str, order_type: str, quantity: Any,
                          price: Any, leverage: int, origin: str, parent_id: str | None, hooks: _Hooks,
                          reduce_only: bool, close_position: bool, price_protect: bool,
                          working_type: str, extra: dict[str, str]) -> OrderState:
        if self._closed:
            raise RuntimeError("OrderManager is closed")
        if side not in _SIDES:
            raise ValueError(f"side must be 'BUY' or 'SELL', not {side!r}")
        if not isinstance(symbol, str) or not symbol:
            raise ValueError("symbol must be a non-empty string")
        if not isinstance(sub, str) or not sub:
            raise ValueError("sub_account_id must be a non-empty string")
        if working_type not in _WORKING_TYPES:
            raise ValueError(f"working_type must be one of {sorted(_WORKING_TYPES)}, not {working_type!r}")
        qty = to_fixed(quantity, "quantity")
        if qty <= 0:
            raise ValueError(f"quantity must be > 0, not {quantity!r}")
        if close_position and (reduce_only or order_type not in ("STOP_MARKET", "TAKE_PROFIT_MARKET")):
            raise ValueError("close_position is for STOP_MARKET/TAKE_PROFIT_MARKET, without reduce_only")
        px = 0
        if price is not None:
            px = to_fixed(price, "price")
            if px <= 0:
                raise ValueError(f"price must be > 0, not {price!r}")
        if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
            raise ValueError(f"leverage must be an int >= 1, not {leverage!r}")
        if parent_id is not None and not isinstance(parent_id, str):
            raise ValueError("parent_id must be a string or None")
        cid = self._ids.new(sub, order_type, str(origin))
        tif = "GTC" if px else None
        order = self._core.add(cid, sub, symbol, _SIDES[side], _ALL_TYPES[order_type], qty, px, str(origin),
                               parent_id, leverage, bool(reduce_only), tif)
        if hooks.any():
            self._core.set_hook(cid, self._handle(hooks, False))
        if self._journal is not None:
            # Before the send, with the algo fields: restore() rebuilds the order from this alone.
            fields = {"triggerPrice": extra.get("trigger_price"), "callbackRate": extra.get("callback_rate"),
                      "activatePrice": extra.get("activation_price"), "workingType": working_type,
                      "closePosition": bool(close_position), "priceProtect": bool(price_protect)}
            try:
                await self._write_intent(_algo_intent(cid, sub, order, qty, px, leverage, str(origin),
                                                      parent_id, fields))
            except BaseException as exc:  # a cancelled caller too: nothing was sent
                flags = self._core.close_local(cid, REJECTED, -1, f"journal: {exc!r}")
                if flags:
                    self._dispatch(flags | F_HOOKED, order, _now_ms())
                raise
        if self._recording is not None:
            self._recording.command("place", {
                "cid": cid, "sub": sub, "symbol": symbol, "side": side, "type": order_type, "qty": qty,
                "price": px, "leverage": leverage, "origin": str(origin), "parent": parent_id,
                "reduce_only": bool(reduce_only), "tif": tif, "close_position": bool(close_position),
                "price_protect": bool(price_protect), "working_type": working_type, "algo": extra})
        try:
            if getattr(self._exchange, "place_algo_order", None) is None:
                raise ValueError("the exchange client has no Algo API (place_algo_order)")
            # Over ws-fapi (algoOrder.place) with order_entry "ws", else REST, as plain orders.
            call = self._entry("place", lambda c: c.place_algo_order(
                symbol, side, order_type, None if close_position else fixed_to_str(qty),
                client_algo_id=cid, price=fixed_to_str(px) if px else None, working_type=working_type,
                reduce_only=bool(reduce_only), close_position=bool(close_position),
                price_protect=bool(price_protect), self_trade_prevention=self.self_trade_prevention,
                **extra))
            reply = await (call if self._recording is None else self._recorded("place_reply", cid, call))
        except ExchangeTimeout:  # -1006/-1007, the 503 "Unknown error": it may be placed
            self._stats["unknown_outcomes"] += 1
            self._spawn(self._resolve_algo(order))
        except (ExchangeError, ValueError) as exc:
            # Definitely not placed: Binance refused it (-2021 "would immediately trigger", a
            # filter) or the client did before sending.
            self._stats["rest_rejections"] += 1
            code, msg = (exc.code, exc.msg) if isinstance(exc, ExchangeError) else (-1, str(exc))
            flags = self._core.close_local(cid, REJECTED, code, msg)
            if flags:
                self._dispatch(flags | F_HOOKED, order, _now_ms())
        except asyncio.CancelledError:
            self._spawn(self._resolve_algo(order))
            raise
        except Exception:  # a timeout or transport error: the feed or a query says what happened
            self._stats["unknown_outcomes"] += 1
            self._spawn(self._resolve_algo(order))
        else:
            aid = reply.get("algoId") if isinstance(reply, dict) else None
            if isinstance(aid, int) and not isinstance(aid, bool):
                self._algo_ids[cid] = aid
        self._deadman_touch(symbol)
        return order

    async def _resolve_algo(self, order: Any) -> None:
        """An algo place whose outcome is unknown: once the feed had its chance, ask GET
        /fapi/v1/algoOrder; "does not exist" closes it as never placed, an answer goes through the
        feed's rules (docs/binance-protocol.md, "Algo orders")."""
        cid = order.client_order_id
        get = getattr(self._exchange, "get_algo_order", None)
        while get is not None and not self._closed:
            await asyncio.sleep(self._resolver.resolve_timeout)
            if order.state_code != PLACING:
                return
            try:
                self._stats["status_queries"] += 1
                answer = await get(order.symbol, client_algo_id=cid)
            except ExchangeError as exc:
                if exc.code in (UNKNOWN_ORDER, -2013):
                    flags = self._core.close_local(cid, FAILED, exc.code, exc.msg)
                    if flags:
                        self._stats["resolved_failed"] += 1
                        self._dispatch(flags | F_HOOKED, order, _now_ms())
                    return
                continue
            except Exception:
                continue
            self.feed_algo_rest(answer)
            return

    def feed_algo_rest(self, answer: dict[str, Any]) -> int:
        """A Query Algo Order / openAlgoOrders item through the feed's rules (reconciliation)."""
        if self._recording is not None:
            self._recording.command("rest_algo", answer)
        flags = self._core.feed_decoded(*_decode_py.decode_dict(algo_message_from_rest(answer)))
        cid = answer.get("clientAlgoId")
        order = self._core.get(cid) if isinstance(cid, str) else None
        if order is not None and flags & self._mask:
            self._dispatch(flags, order, _now_ms())
        aid = answer.get("algoId")
        if order is not None and isinstance(aid, int) and not isinstance(aid, bool):
            self._algo_ids[cid] = aid  # type: ignore[index]
        return int(flags)

    def algo_id(self, client_order_id: str) -> int | None:
        """Binance's algoId of one of our algo orders (from its place reply or reconciliation)."""
        return self._algo_ids.get(client_order_id)

    # ── Dead-man switch (docs/binance-protocol.md, "Dead-man switch") ──

    def _deadman_touch(self, symbol: str) -> None:
        if self.dead_man_seconds is None or self._closed:
            return
        if self._deadman_task is None or self._deadman_task.done():
            self._deadman_task = asyncio.get_running_loop().create_task(self._deadman_loop())
        self._deadman_symbols.add(symbol)
        wake = self._deadman_wake
        if wake is not None and not wake.done() and symbol not in self._deadman_armed:
            wake.set_result(None)

    async def _deadman_loop(self) -> None:
        """While a symbol has live orders, countdownCancelAll(symbol, dead_man_seconds) every quarter
        of it; 0 once it has none. A failed renewal is logged and retried at the next beat."""
        assert self.dead_man_seconds is not None
        ms = int(self.dead_man_seconds * 1000)
        period = self.dead_man_seconds / 4
        send = getattr(self._exchange, "countdown_cancel_all", None)
        if send is None:
            log.warning("dead-man switch: the exchange client has no countdown_cancel_all")
            return
        while not self._closed:
            for symbol in sorted(self._deadman_symbols):
                live = bool(self._core.live(None, symbol))
                if not live and symbol not in self._deadman_armed:
                    self._deadman_symbols.discard(symbol)
                    continue
                try:
                    await send(symbol, ms if live else 0)
                except Exception as exc:
                    self._deadman["failures"] += 1
                    log.warning("dead-man switch: countdownCancelAll(%s) failed (%s); retrying", symbol, exc)
                    continue
                self._deadman["renewals"] += 1
                self._deadman["last_ok_ms"] = _now_ms()
                if live:
                    self._deadman_armed.add(symbol)
                else:
                    self._deadman_armed.discard(symbol)
                    self._deadman_symbols.discard(symbol)
            self._deadman["armed"] = len(self._deadman_armed)
            wake = self._deadman_wake = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake, period)

    # ── Public API: cancel and replace ──

    async def cancel_order(self, client_order_id: str) -> bool:
        """placing/active -> cancelling, and the cancel request is sent: True.

        False, with nothing sent, for a terminal, already cancelling or unknown order; False too
        when the exchange definitely refused the cancel (the order goes back to where it was).
        """
        return (await self._cancel(client_order_id))[1]

    async def _cancel(self, cid: str) -> tuple[bool, bool]:
        """(request sent, cancel_order's answer)."""
        order = self._core.get(cid)
        if order is None:
            return False, False
        prev = self._core.begin_cancel(cid)
        if prev < 0:
            intent = self._waiting.get(cid)
            if intent is not None and intent.replace is not None:
                # The replace's cancel is already on its way; asking to cancel now ends the intent:
                # the replace places nothing (a kill switch must not leave a fresh order behind).
                intent.aborted = True
                return True, True
            return False, False
        if self._journal is not None:
            try:
                await self._write_intent(Intent("cancel", cid, order.sub_account_id, order.symbol))
            except BaseException:
                self._core.undo_cancel(cid, prev)
                raise
        if self._recording is not None:
            self._recording.command("cancel", {"cid": cid})
        if order.is_algo:
            return await self._cancel_algo(order, prev)
        try:
            symbol = order.symbol
            call = self._entry("cancel", lambda c: c.cancel_order(symbol, client_order_id=cid))
            await (call if self._recording is None else self._recorded("cancel_reply", cid, call))
        except ExchangeTimeout as exc:
            self._resolver.unknown_outcome(order, "cancel", exc)
        except ExchangeError as exc:
            if exc.code != UNKNOWN_ORDER:
                # Definitely not processed (e.g. -1003, -1021): nothing changed at the exchange.
                self._core.undo_cancel(cid, prev)
                log.info("cancel of %s refused: %s", cid, exc)
                return True, False
            # -2011: not open any more (filled, cancelled, expired) or not there yet: the feed or
            # a status query says which.
            self._resolver.unknown_outcome(order, "cancel", exc)
        except asyncio.CancelledError:
            self._resolver.unknown_outcome(order, "cancel", None)
            raise
        except Exception as exc:
            self._resolver.unknown_outcome(order, "cancel", exc)
        else:
            self._resolver.watch(order)
        return True, True

    async def _cancel_algo(self, order: Any, prev: int) -> tuple[bool, bool]:
        """Before the trigger: DELETE /fapi/v1/algoOrder; once triggered: the created order, whose
        client order id is the clientAlgoId. -2011 (the trigger won the race, or it is gone): the
        feed tells which; any other refusal changed nothing."""
        cid = order.client_order_id
        try:
            if prev == TRIGGERED:
                call = self._entry("cancel", lambda c: c.cancel_order(order.symbol, client_order_id=cid))
            else:
                call = self._entry("cancel", lambda c: c.cancel_algo_order(order.symbol, client_algo_id=cid))
            await (call if self._recording is None else self._recorded("cancel_reply", cid, call))
        except ExchangeError as exc:
            if exc.code != UNKNOWN_ORDER:
                self._core.undo_cancel(cid, prev)
                log.info("cancel of %s refused: %s", cid, exc)
                return True, False
            log.info("cancel of %s: %s; the feed decides", cid, exc)
            if prev != TRIGGERED:
                # -2011 for an algo order: gone, or its trigger won the race. In the latter case
                # the created order is what the caller wants cancelled: now if the trigger's frame
                # came first, else when it comes (_dispatch).
                if order.state_code == TRIGGERED:
                    self._spawn(self._cancel(cid))
                elif order.is_live:
                    # Its handle points at a waiting entry until the trigger's frame (or its end).
                    self._wait_on(cid).cancel_created = True
        except Exception as exc:
            self._stats["unknown_outcomes"] += 1
            log.warning("cancel of %s: outcome unknown (%r); the feed or reconciliation decides", cid, exc)
            if isinstance(exc, asyncio.CancelledError):
                raise
        return True, True

    async def cancel_all_orders_for_symbol(self, symbol: str) -> int:
        """Cancel every live order of ``symbol`` that this manager tracks; returns requests sent.

        Never Binance's cancel-all endpoint, which would also hit orders this manager does not own.
        """
        cids = [o.client_order_id for o in self._core.live(None, symbol)]
        if not cids:
            return 0
        results = await asyncio.gather(*(self._cancel(cid) for cid in cids))
        return sum(1 for sent, _ in results if sent)

    async def replace_order(self, client_order_id: str, new_price: Number | None,
                            new_quantity: Number | None = None, *, side: str | None = None,
                            order_type: str | None = None, time_in_force: str | None = None,
                            mode: str = "auto") -> OrderState | None:
        """Reprice an order: amend it in place, or cancel it and place the same intent anew.

        ``new_price`` None keeps the price; ``new_quantity`` is the quantity to leave open (default:
        what is open now), on both paths.

        Amend (``mode="auto"``, a LIMIT order whose side, type and time in force stay, a client that
        can modify): one modify request; returns the SAME OrderState (same client order id,
        callbacks attached) once the feed confirmed the new price/quantity (its AMENDMENT), within
        ``replace_timeout``. None when the order ended instead: it filled, or the exchange cancelled
        it (a GTX amend that would cross, a quantity at or below the executed one; on_cancel runs
        as for any cancel), or -2011/-2013 (the fill or a cancel won). -5027 (nothing to change)
        returns the order unchanged; another refusal returns None with the order unchanged. An
        unknown outcome is settled by a status query: the order as the exchange has it.

        Cancel-then-place (``mode="cancel_place"``, or any change of side, type or time in force):
        cancel, wait for the feed to confirm, then place the same intent (its callbacks move to
        the new order). Returns the new OrderState, or None when nothing was placed: the old order
        filled, the cancel was refused, or it was not confirmed within ``replace_timeout``.
        """
        if mode not in ("auto", "cancel_place"):
            raise ValueError(f"mode must be 'auto' or 'cancel_place', not {mode!r}")
        if side is not None and side not in _SIDES:
            raise ValueError(f"side must be 'BUY' or 'SELL', not {side!r}")
        if order_type is not None and order_type not in _TYPES:
            raise ValueError(f"order_type must be 'LIMIT' or 'MARKET', not {order_type!r}")
        if time_in_force is not None and time_in_force not in _TIFS:
            raise ValueError(f"time_in_force must be one of {sorted(_TIFS)}, not {time_in_force!r}")
        old = self._core.get(client_order_id)
        if old is not None and old.is_algo:
            raise ValueError("replace_order takes LIMIT and MARKET orders, not algo orders")
        if (old is not None and old.order_type == "LIMIT" and order_type in (None, "LIMIT")
                and new_price is None and new_quantity is None and side is None and time_in_force is None):
            raise ValueError("replacing a limit order needs a new price, quantity, side or time in force")
        if (mode == "auto" and old is not None and old.order_type == "LIMIT"
                and (side is None or side == old.side) and order_type in (None, "LIMIT")
                and (time_in_force is None or time_in_force == old.time_in_force)
                and isinstance(self._exchange, SupportsModify)):
            return await self._amend(client_order_id, new_price, new_quantity)
        return await self._cancel_place(client_order_id, new_price, new_quantity, side, order_type,
                                        time_in_force)

    async def _cancel_place(self, client_order_id: str, new_price: Number | None,
                            new_quantity: Number | None, new_side: str | None, new_type: str | None,
                            new_tif: str | None) -> OrderState | None:
        cid = client_order_id
        old = self._core.get(cid)
        intent = self._waiting.get(cid)
        if old is None or not old.is_live or (intent is not None and (intent.replace is not None
                                                                     or intent.amend is not None)):
            return None
        otype = new_type or old.order_type
        px = 0
        if otype == "LIMIT":
            if new_price is None and old.order_type != "LIMIT":
                raise ValueError("a limit order needs a price")
            px = to_fixed(new_price, "new_price") if new_price is not None else old.price_fp
            if px <= 0:
                raise ValueError(f"new_price must be > 0, not {new_price!r}")
        if new_quantity is not None and to_fixed(new_quantity, "new_quantity") <= 0:
            raise ValueError(f"new_quantity must be > 0, not {new_quantity!r}")
        intent = self._wait_on(cid)  # its close must reach the waiter
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        intent.replace = done
        self._replaces_waiting += 1
        try:
            _sent, accepted = await self._cancel(cid)
            if not accepted:
                return None
            wake = self._drain_wake
            if wake is not None and not wake.done():
                wake.set_result(None)  # an on_order_update caller must be free to send the cancel
            try:
                await asyncio.wait_for(asyncio.shield(done), self.replace_timeout)
            except TimeoutError:
                self._stats["replace_aborted"] += 1
                log.warning("replace of %s: cancel not confirmed within %.1fs, nothing placed",
                            cid, self.replace_timeout)
                return None
        finally:
            self._replaces_waiting -= 1
            intent.replace = None
            aborted, suppressed = intent.aborted, intent.suppressed
            intent.aborted = intent.suppressed = False
            self._done_waiting(cid, intent)
        hooks = intent.hooks
        if aborted:
            self._stats["replace_aborted"] += 1
            if suppressed and hooks is not None and hooks.on_cancel is not None:
                self._call(hooks.on_cancel, old)  # the intent ended here after all
            return None
        if old.state not in ("cancelled", "expired"):
            return None  # the fill won (or it was rejected/failed): one intent, no new order
        if hooks is not None:
            # Replaced: a late fill on the old order still reaches the callbacks, as a late fill.
            self._core.set_hook(cid, self._handle(hooks, True))
        quantity = new_quantity if new_quantity is not None else fixed_to_str(
            old.quantity_fp - old.filled_fp)
        if to_fixed(quantity) <= 0:
            return None
        self._stats["replaces"] += 1
        tif = new_tif if new_tif is not None else old.time_in_force
        return await self._place(
            old.sub_account_id, old.symbol, new_side or old.side, otype, quantity,
            fixed_to_str(px) if otype == "LIMIT" else None, old.leverage, old.origin,
            old.parent_id, None, None, None, old.reduce_only, tif if otype == "LIMIT" else None,
            hooks=hooks)

    async def _amend(self, cid: str, new_price: Number | None,
                     new_quantity: Number | None) -> OrderState | None:
        """One modify request (docs/binance-protocol.md, "Amend in place"), then the feed's word."""
        order = self._core.get(cid)
        intent = self._waiting.get(cid)
        if order is None or not order.is_live or order.state_code == CANCELLING or (
                intent is not None and (intent.replace is not None or intent.amend is not None)):
            return None  # a cancel on its way ends the order: nothing to amend
        px = to_fixed(new_price, "new_price") if new_price is not None else order.price_fp
        if px <= 0:
            raise ValueError(f"new_price must be > 0, not {new_price!r}")
        filled = order.filled_fp
        if new_quantity is not None:
            open_qty = to_fixed(new_quantity, "new_quantity")
            if open_qty <= 0:
                raise ValueError(f"new_quantity must be > 0, not {new_quantity!r}")
            # Binance's quantity is the order's total: what filled stays filled.
            qty = filled + open_qty
        else:
            qty = order.quantity_fp
        intent = self._wait_on(cid)  # its AMENDMENT or close must reach the waiter
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        intent.amend = done
        symbol, side = order.symbol, order.side
        self._stats["amends"] += 1
        self._replaces_waiting += 1
        try:
            if self._journal is not None:
                await self._write_intent(Intent("amend", cid, order.sub_account_id, symbol, side,
                                                order.order_type, qty, px))
            try:
                await self._entry("modify", lambda c: c.modify_order(
                    symbol, side, fixed_to_str(qty), fixed_to_str(px), client_order_id=cid))
            except ExchangeTimeout as exc:
                self._stats["unknown_outcomes"] += 1
                log.warning("amend of %s: outcome unknown (%s); asking the exchange", cid, exc)
                await self._settle_amend(order, done)
            except ExchangeError as exc:
                if exc.code == _NO_NEED_TO_MODIFY:
                    self._stats["amends_unchanged"] += 1
                    return order if order.is_live else None
                if exc.code in (UNKNOWN_ORDER, NO_SUCH_ORDER):
                    # The fill or a cancel won: the feed closes the order; should its frame be
                    # lost, a status query does.
                    self._spawn(self._closed_meanwhile(order))
                else:
                    self._stats["amends_refused"] += 1
                    log.info("amend of %s refused: %s", cid, exc)
                return None
            except ValueError as exc:  # refused by the client before sending (tick, step)
                self._stats["amends_refused"] += 1
                log.info("amend of %s refused: %s", cid, exc)
                return None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a client bug or transport error: the outcome is unknown
                self._stats["unknown_outcomes"] += 1
                log.warning("amend of %s: outcome unknown (%r); asking the exchange", cid, exc)
                await self._settle_amend(order, done)
            else:
                # Accepted: the feed's AMENDMENT (or a close) follows; the reply never drives state.
                wake = self._drain_wake
                if wake is not None and not wake.done():
                    wake.set_result(None)  # an on_order_update caller must be free to deliver it
                try:
                    await asyncio.wait_for(asyncio.shield(done), self.replace_timeout)
                except TimeoutError:
                    log.warning("amend of %s: no AMENDMENT within %.1fs; asking the exchange",
                                cid, self.replace_timeout)
                    await self._settle_amend(order, done)
        finally:
            self._replaces_waiting -= 1
            intent.amend = None
            self._done_waiting(cid, intent)
        return order if order.is_live else None

    async def _closed_meanwhile(self, order: Any) -> None:
        await asyncio.sleep(self._resolver.resolve_timeout)
        if order.is_live and not self._closed:
            await self._resolver.query(order)

    async def _settle_amend(self, order: Any, done: asyncio.Future[None]) -> None:
        """An amend whose answer we lack: the feed may still say; else one status query, whose
        answer (price and quantity as the exchange has them) goes through the feed rules."""
        if not done.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(done), self._resolver.resolve_timeout)
        if not done.done() and order.is_live:
            await self._resolver.query(order)

    # ── Feed event handler (called by UserStreamService) ──

    def feed(self, data: bytes | bytearray | memoryview | str) -> None:
        """One raw user-stream frame, synchronously (the stream's frame callback). Never raises.

        The core runs the order's callback itself when that is all the result asks for (a plain
        callback, nothing queued ahead of it: ``OrderCore.feed_call``) and hands anything more to
        ``_after_feed``; see ``OrderCore.feed_shell``. Without a recording, an instance's ``feed``
        is that method itself (``__init__``).
        """
        if self._recording is not None:
            self._record_frame(data)
        self._core.feed_shell(data)

    def _after_feed(self, flags: int) -> None:
        """What the shell does with a feed result that is more than the core's own business."""
        if flags & self._mask:
            if not flags & self._shell_mask:  # F_DIRTY alone: the journal's flush is due
                if self._jhandle is None:
                    self._journal_soon()
            else:
                try:
                    self._dispatch(flags, self._core.last_order(), self._core.last_event_time())
                except Exception:  # the feed path must survive anything the shell does
                    log.exception("dispatch failed")
        if flags & F_CALLED:
            self._called()

    def _called(self) -> None:
        """What the callback the core ran (feed_call) left: an exception, or a result to await."""
        outcome = self._core.call_outcome()
        if outcome is None:
            return
        fn, order, result, exc = outcome
        if exc is not None:
            self._stats["callback_errors"] += 1
            log.error("callback %r failed for %s", fn, order.client_order_id, exc_info=exc)
        elif inspect.isawaitable(result):
            self._queue(None, result)

    async def on_order_update(self, data: Any) -> None:
        """An ORDER_TRADE_UPDATE as raw bytes/str, the parsed message, or the mapped dict
        (``client_order_id``, ``order_status``, ``accumulated_filled_qty``, ...).

        Returns once its callbacks (and any async work queued before it) have run.
        """
        if type(data) is bytes and self._recording is None:
            self._core.feed_shell(data)  # feed(data) without its Python frame
        elif isinstance(data, (bytes, bytearray, memoryview, str)):
            self.feed(data)
        elif isinstance(data, dict):
            if self._recording is not None:
                with contextlib.suppress(TypeError):
                    self._recording.command("update", data)
            self._feed_message(message_from_dict(data))
        else:
            self._feed_message(data)  # counted as malformed by the decoder
        if self._work and asyncio.current_task() is not self._worker:
            await self._drain()

    def _feed_message(self, msg: Any) -> int:
        result, fields = _decode_py.decode_dict(msg)
        flags = self._core.feed_decoded(result, fields)
        if flags & self._mask:
            self._dispatch(flags, self._core.last_order(), self._core.last_event_time())
        return int(flags)

    def apply_rest_order(self, order_json: dict[str, Any]) -> int:
        """A status-query answer (Binance's order JSON) through the feed's transition rules."""
        if self._recording is not None:
            self._recording.command("rest_order", order_json)
        return self._feed_message(message_from_rest(order_json))

    async def _recorded(self, what: str, cid: str, call: Awaitable[Any]) -> Any:
        """``await call``, its answer recorded (``replay`` answers the same way)."""
        rec = self._recording
        try:
            reply = await call
        except ExchangeError as exc:
            kind = "timeout" if isinstance(exc, ExchangeTimeout) else "error"
            rec.command(what, {"cid": cid, "kind": kind, "code": exc.code, "msg": exc.msg})
            raise
        except ValueError as exc:
            rec.command(what, {"cid": cid, "kind": "refused", "msg": str(exc)})
            raise
        except BaseException as exc:
            rec.command(what, {"cid": cid, "kind": "unknown", "msg": type(exc).__name__})
            raise
        oid = reply.get("orderId") if isinstance(reply, dict) else None
        rec.command(what, {"cid": cid, "kind": "ok", "order_id": oid})
        return reply

    # ── Query API ──

    def get_order(self, client_order_id: str) -> OrderState | None:
        return self._core.get(client_order_id)

    def get_order_by_exchange_id(self, exchange_order_id: int) -> OrderState | None:
        return self._core.get_by_exchange_id(exchange_order_id)

    def get_active_orders(
        self, sub_account_id: str | None = None, symbol: str | None = None
    ) -> list[OrderState]:
        """Live orders (placing, active, cancelling, triggering, triggered), by sub-account and/or symbol."""
        return self._core.live(sub_account_id, symbol)

    def get_orders_by_parent(self, parent_id: str) -> list[OrderState]:
        return self._core.by_parent(parent_id)

    def stats(self) -> dict[str, Any]:
        out: dict[str, Any] = dict(self._core.counters())
        out.update(self._stats)
        out["queued_work"] = len(self._work)
        if self.dead_man_seconds is not None:
            out["dead_man"] = {"seconds": self.dead_man_seconds, **self._deadman}
        if self._publisher is not None:
            out["events"] = self._publisher.stats()
        return out

    @property
    def exchange(self) -> ExchangeClient:
        return self._exchange

    @property
    def publisher(self) -> EventPublisher | None:
        return self._publisher

    async def publish(self, event_type: str, payload: dict[str, Any]) -> int | None:
        """The risk engine's own events (position_updated, margin_update): same publisher, same seq."""
        if self._publisher is None:
            return None
        return int(self._publisher.publish_nowait(event_type, payload))

    # ── Reconciliation (after every user-stream (re)connect) ──

    async def reconcile(self) -> dict[str, int]:
        """Bring every tracked order in line with the exchange after a gap in the feed.

        Open orders cannot show what filled or was cancelled during the gap, so each live order
        missing from them is queried; every answer goes through the feed rules (a terminal state
        never goes back). Our-prefix open orders this manager does not know are adopted.
        """
        report = {"open": 0, "open_algo": 0, "queried": 0, "adopted": 0, "applied": 0}
        open_orders = await self._exchange.get_open_orders()
        # Conditional orders live in the Algo service: its own open list (docs/binance-protocol.md,
        # "Algo orders"). Both lists are read before anything is applied.
        get_algos = getattr(self._exchange, "get_open_algo_orders", None)
        open_algos: list[dict[str, Any]] = await get_algos() if get_algos is not None else []
        report["open"] = len(open_orders)
        report["open_algo"] = len(open_algos)
        seen = set()
        for rest in open_orders:  # a triggered algo order's created order is here, under its id
            cid = rest.get("clientOrderId")
            if not isinstance(cid, str):
                continue
            seen.add(cid)
            if self._core.get(cid) is not None:
                self.apply_rest_order(rest)
                report["applied"] += 1
            elif self.adopt_order(rest) is not None:
                report["adopted"] += 1
        for item in open_algos:
            cid = item.get("clientAlgoId")
            if not isinstance(cid, str):
                continue
            seen.add(cid)
            if self._core.get(cid) is not None:
                self.feed_algo_rest(item)
                report["applied"] += 1
            elif self.adopt_algo_order(item) is not None:
                report["adopted"] += 1
        for order in self._core.live(None, None):
            cid = order.client_order_id
            if cid in seen:
                continue
            report["queried"] += 1
            if order.is_algo and order.state_code != TRIGGERED:
                await self._query_algo(order)
            else:  # a plain order, or the created order of a triggered one (same client id)
                await self._resolver.query(order)
        return report

    async def _query_algo(self, order: Any) -> None:
        """An algo order that is in neither open list: GET /fapi/v1/algoOrder. If its trigger
        created an order, that order's status is applied first, so that its fills count before the
        algo order's FINISHED ends the record (the algo answer carries no filled quantity)."""
        get = getattr(self._exchange, "get_algo_order", None)
        if get is None:
            return
        cid = order.client_order_id
        self._stats["status_queries"] += 1
        try:
            answer = await get(order.symbol, client_algo_id=cid)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # not there (yet): a placing one is _resolve_algo's to settle
            log.info("algo status query of %s failed: %s", cid, exc)
            return
        if not isinstance(answer, dict):
            return
        if answer.get("actualOrderId") not in (None, "", 0, "0"):
            await self._resolver.query(order)
        self.feed_algo_rest(answer)

    def adopt_algo_order(self, item: dict[str, Any]) -> OrderState | None:
        """Track an open algo order with our id prefix that this process did not place, as
        ``adopt_order`` does a plain one (what its id tells, no callbacks)."""
        cid = item.get("clientAlgoId")
        if not isinstance(cid, str):
            return None
        parsed = parse_client_order_id(cid)
        if parsed is None or self._core.get(cid) is not None:
            return None
        try:
            otype = str(item["orderType"])
            code = _ALL_TYPES[otype]
            if code < FIRST_ALGO_TYPE:
                raise ValueError(otype)
            side = _SIDES[item["side"]]
            # closePosition orders carry no quantity: nothing the core can track (restore() brings
            # them back from the journal with the quantity they were placed with).
            qty = to_fixed(item.get("quantity") or "0")
            px = to_fixed(item.get("price") or "0") if otype in ("STOP", "TAKE_PROFIT") else 0
            reduce_only = item.get("reduceOnly") in (True, "true")
            order = self._core.add(cid, parsed.sub_account_prefix, str(item.get("symbol", "")), side, code,
                                   qty, px, parsed.type_code, None, 1, reduce_only, "GTC" if px else None)
        except (KeyError, ValueError, TypeError) as exc:
            log.warning("cannot adopt open algo order %s: %s", cid, exc)
            return None
        self._stats["adopted"] += 1
        if self._recording is not None:
            self._recording.command("adopt_algo", item)
        if self._journal is not None:
            intent = _algo_intent(cid, parsed.sub_account_prefix, order, qty, px, 1, parsed.type_code, None,
                                  item)
            try:
                result = self._journal.append_intent(intent)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                log.exception("journal: could not record the adopted algo order %s", cid)
        self.feed_algo_rest(item)
        return order

    def adopt_order(self, rest: dict[str, Any]) -> OrderState | None:
        """Track an open order with our id prefix that this process did not place (a restart).

        It gets what its id tells (sub-account prefix, type code as origin), no parent and no
        callbacks, so it is never routed to an algo.
        """
        cid = rest.get("clientOrderId")
        if not isinstance(cid, str):
            return None
        parsed = parse_client_order_id(cid)
        if parsed is None or self._core.get(cid) is not None:
            return None
        try:
            side = _SIDES[rest["side"]]
            otype = _TYPES[rest["type"]]
            qty = to_fixed(rest["origQty"])
            px = to_fixed(rest.get("price") or "0") if otype == 0 else 0
        except (KeyError, ValueError, TypeError):
            log.warning("cannot adopt open order %s: unexpected fields", cid)
            return None
        tif = rest.get("timeInForce") if rest.get("timeInForce") in _TIFS else None
        try:
            order = self._core.add(cid, parsed.sub_account_prefix, str(rest.get("symbol", "")), side, otype,
                                   qty, px, parsed.type_code, None, 1, bool(rest.get("reduceOnly")), tif)
        except (ValueError, TypeError) as exc:  # e.g. origQty 0: nothing the core can track
            log.warning("cannot adopt open order %s: %s", cid, exc)
            return None
        self._stats["adopted"] += 1
        if self._recording is not None:
            self._recording.command("adopt", rest)
        if self._journal is not None:
            # What the id tells, so that the next restart restores it rather than adopting again.
            intent = Intent("place", cid, parsed.sub_account_prefix, order.symbol, order.side,
                            order.order_type, qty, px or None, tif, order.reduce_only, 1,
                            parsed.type_code, None)
            try:
                result = self._journal.append_intent(intent)
                if inspect.isawaitable(result):
                    self._spawn(result)
            except Exception:
                log.exception("journal: could not record the adopted order %s", cid)
        self._feed_message(message_from_rest(rest))
        return order

    # ── Journal and restart ──

    async def restore(self, *, reconcile: bool = True) -> dict[str, int]:
        """Bring back the journaled orders after a restart, then (``reconcile``) reconcile with
        the exchange; see ``restart.py``. Call it once, after the risk engine is attached (the
        fills it is owed are told to it here) and before the user stream starts."""
        from .restart import restore

        return await restore(self, reconcile=reconcile)

    def _record_frame(self, data: Any) -> None:
        try:
            self._recording.frame(data)
        except Exception:  # the feed path must survive a failing recording
            if self._log_budget.take():
                log.exception("recording: could not record a frame")

    async def _write_intent(self, intent: Intent) -> None:
        result = self._journal.append_intent(intent)
        if inspect.isawaitable(result):
            await result

    def _journal_mark(self, order: Any) -> None:
        """The order's change is due: appended on the next loop turn."""
        self._jdirty[order.client_order_id] = order
        self._journal_soon()

    def _journal_soon(self) -> None:
        """The flush on the next loop turn (at once without a running loop)."""
        if self._jhandle is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self._journal_flush()
                return
            self._jhandle = loop.call_soon(self._journal_flush)

    def _journal_flush(self, now: bool = False) -> None:
        """Append the due changes (``now``: the last one written to the OS before returning)."""
        if self._jhandle is not None:
            self._jhandle.cancel()
            self._jhandle = None
        # The core's marks first (feed order), then the shell's, each order once.
        orders = self._core.take_dirty()
        if self._jdirty:
            if orders:
                seen = {o.client_order_id for o in orders}
                orders.extend(o for cid, o in self._jdirty.items() if cid not in seen)
            else:
                orders = list(self._jdirty.values())
            self._jdirty = {}
        if not orders:
            return
        journal = self._journal
        told = self._risk_told
        risk = self._risk is not None
        last = len(orders) - 1
        try:
            for n, order in enumerate(orders):
                cid = order.client_order_id
                filled = order.filled_fp
                # Without a risk hook nobody is owed a fill: the order settles when it ends.
                change = Change(cid, order.state_code, order.exchange_order_id, filled,
                                round(order.avg_price * 100_000_000), told.get(cid, 0) if risk else filled)
                if now and n == last and isinstance(journal, Journal):
                    journal.append_change(change, now=True)
                else:
                    journal.append_change(change)
        except Exception:
            if self._log_budget.take():
                log.exception("journal: could not append order changes")
        if len(told) > self._told_prune_at:
            # The core has let go of these orders: no later fill can reach them any more.
            core = self._core
            for cid in [c for c in told if core.get(c) is None]:
                del told[cid]
            self._told_prune_at = max(4096, 2 * len(told))

    # ── Dispatch: events, risk hook, callbacks ──

    def _dispatch(self, flags: int, order: Any, ts_ms: int) -> None:
        if order is None:
            if flags & F_MALFORMED and self._log_budget.take():
                log.warning("malformed user-stream message (%d so far)", self._core.counters()["malformed"])
            return
        # The order's callbacks come from its record's handle: no id string, no dict probe.
        h = self._core.last_hook() if flags & F_HOOKED else -1
        if flags & F_DIRTY and self._jhandle is None:
            self._journal_soon()
        if flags & (F_ORPHAN | F_LATE_FILL | F_UNKNOWN_STATUS):
            self._note(flags, order)
        if self._publisher is not None:
            self._publish(flags, order, ts_ms or _now_ms())
        if flags & F_FILL and self._risk is not None:
            self._queue(self._risk_fill, order.snapshot())
        if h < 0:
            return
        hooks = self._hook_list[h]
        if hooks.__class__ is _Intent:
            flags, hooks = self._wait_event(flags, order, hooks)
            if hooks is None:
                return
        if TYPE_CHECKING:
            assert isinstance(hooks, _Hooks)
        if hooks.moved:
            # A fill on a replaced order after its cancel was confirmed: the intent traded more
            # than the algo asked for, so the algo must hear of it (through the callbacks it moved
            # to the replacement, with the old order as argument). Once filled, nothing more.
            if flags & F_LATE_FILL:
                if flags & F_FILLED:
                    if hooks.on_fill is not None:
                        self._call(hooks.on_fill, order, hooks.plain)
                elif hooks.on_partial is not None and order.state_code != FILLED:
                    self._call(hooks.on_partial, order, hooks.plain)
            return
        # A live order, or one already closed (F_PARTIAL is never set for a terminal order, and a
        # closed order cannot close again): a late fill that completes a closed order did fill
        # after all, so on_fill runs for it.
        if flags & F_TRIGGERED and hooks.on_trigger is not None:
            self._call(hooks.on_trigger, order, hooks.plain)
        if flags & F_PARTIAL:
            if hooks.on_partial is not None:
                self._call(hooks.on_partial, order, hooks.plain)
        elif (flags & F_LATE_FILL and not flags & F_FILLED and hooks.on_partial is not None
              and order.is_algo and order.state_code != FILLED):
            # The created order of an algo order we cancelled (the trigger won): its fills are the
            # caller's position, never dropped.
            self._call(hooks.on_partial, order, hooks.plain)
        if flags & F_FILLED:
            if hooks.on_fill is not None:
                self._call(hooks.on_fill, order, hooks.plain)
        elif flags & F_CLOSED and hooks.on_cancel is not None:
            self._call(hooks.on_cancel, order, hooks.plain)

    def _wait_event(self, flags: int, order: Any, intent: _Intent) -> tuple[int, _Hooks | None]:
        """An event of an order a replace or an amend waits on: their waiters first. Or an algo
        order whose cancel lost the race with its trigger: the created order is cancelled."""
        if intent.cancel_created and flags & (F_TRIGGERED | F_FILLED | F_CLOSED):
            intent.cancel_created = False
            cid = order.client_order_id
            if flags & F_TRIGGERED and order.state_code == TRIGGERED:
                self._spawn(self._cancel(cid))
            self._done_waiting(cid, intent)
        amend = intent.amend
        if flags & (F_AMENDED | F_FILLED | F_CLOSED) and amend is not None and not amend.done():
            amend.set_result(None)
        waiter = intent.replace
        if flags & (F_FILLED | F_CLOSED) and waiter is not None and not waiter.done():
            waiter.set_result(None)
            if flags & F_CLOSED and order.state_code in (CANCELLED, EXPIRED) and not intent.aborted:
                # The replace's own cancel: the callbacks move to the new order.
                flags &= ~F_CLOSED
                intent.suppressed = True
        hooks = intent.hooks
        if intent.suppressed and hooks is not None and not hooks.moved:
            # The replace's cancel is confirmed but the replace has not resumed yet: a fill now is
            # a late fill on a replaced order, reported through the callbacks that move on.
            moved = self._hook_list[self._handle(hooks, True)]
            if isinstance(moved, _Hooks):
                return flags, moved
        return flags, hooks

    def _note(self, flags: int, order: Any) -> None:
        if flags & F_ORPHAN:
            self._resolver.orphan(order)
        if flags & (F_LATE_FILL | F_UNKNOWN_STATUS) and self._log_budget.take():
            cid = order.client_order_id
            if flags & F_LATE_FILL:
                log.warning("late fill on %s (%s): %s more, filled %s of %s", cid, order.state,
                            order.last_fill_qty, order.filled_qty, order.quantity)
            else:
                log.warning("unknown order status for %s", cid)

    # ── Hook handles ──

    def _handle(self, hooks: _Hooks, moved: bool) -> int:
        return self._intern_hooks(hooks.on_fill, hooks.on_cancel, hooks.on_partial, hooks.on_trigger, moved)

    def _intern_hooks(self, on_fill: Callback | None, on_cancel: Callback | None,
                      on_partial: Callback | None, on_trigger: Callback | None, moved: bool) -> int:
        """The handle of these callbacks (one per distinct tuple; an unhashable callable gets its own)."""
        key = (on_fill, on_cancel, on_partial, on_trigger, moved)
        try:
            h = self._hook_ids.get(key)
        except TypeError:
            h, key = None, None  # type: ignore[assignment]
        if h is not None:
            return h
        hooks = _Hooks(on_fill, on_cancel, on_partial, on_trigger, moved)
        h = self._new_handle(hooks)
        if key is not None:
            hooks.key = key
            self._hook_ids[key] = h
        return h

    def _new_handle(self, entry: _Hooks | _Intent) -> int:
        if not self._hook_free and len(self._hook_list) >= self._hook_gc_at:
            self._collect_hooks()
        fast = ((entry.on_partial, entry.on_fill, entry.on_cancel, entry.on_trigger)
                if isinstance(entry, _Hooks) and entry.fast else None)
        if self._hook_free:
            h = self._hook_free.pop()
            self._hook_list[h] = entry
            self._fast[h] = fast
            return h
        self._hook_list.append(entry)
        self._fast.append(fast)
        return len(self._hook_list) - 1

    def _free_handle(self, h: int) -> None:
        self._hook_list[h] = None
        self._fast[h] = None
        self._hook_free.append(h)

    def _collect_hooks(self) -> None:
        """Free the handles no tracked order holds any more (callbacks of algos that are gone):
        one walk of the core's records each time the table doubles."""
        used = self._core.hooks_in_use()
        for h, entry in enumerate(self._hook_list):
            # A replace's or an amend's entry is freed by them, whatever happened to the order.
            if isinstance(entry, _Hooks) and h not in used:
                if entry.key is not None:
                    del self._hook_ids[entry.key]
                self._free_handle(h)
        self._hook_gc_at = max(_HOOK_GC_MIN, 2 * (len(self._hook_list) - len(self._hook_free)))

    def _wait_on(self, cid: str) -> _Intent:
        """The order's _Intent, made on first use: its handle then points there, so that its
        events reach the waiters (and, through the _Intent, its callbacks)."""
        intent = self._waiting.get(cid)
        if intent is None:
            h = self._core.get_hook(cid)
            entry = self._hook_list[h] if h >= 0 else None
            intent = self._waiting[cid] = _Intent(entry if isinstance(entry, _Hooks) else None)
            intent.handle = self._new_handle(intent)
            self._core.set_hook(cid, intent.handle)
        return intent

    def _done_waiting(self, cid: str, intent: _Intent) -> None:
        """A replace or an amend returned: once neither waits, the order's handle goes back to its
        own callbacks (or none) and the _Intent's is freed."""
        if (intent.replace is not None or intent.amend is not None or intent.cancel_created
                or self._waiting.get(cid) is not intent):
            return
        del self._waiting[cid]
        self._core.set_hook(cid, -1 if intent.hooks is None else self._handle(intent.hooks, False))
        self._free_handle(intent.handle)

    def _publish(self, flags: int, order: Any, ts: int) -> None:
        from ..events import payloads

        pub = self._publisher
        if pub is None:
            return
        if flags & F_ACTIVATED:
            pub.publish_nowait("order_active", payloads.order_active(order, ts))
        if flags & F_AMENDED:
            pub.publish_nowait("order_amended", payloads.order_amended(order, ts))
        if flags & F_TRIGGERED:
            pub.publish_nowait("order_triggered", payloads.order_triggered(order, ts))
        if flags & F_FILL and not flags & F_FILLED:
            pub.publish_nowait("order_partially_filled", payloads.order_partially_filled(order, ts))
        if flags & F_FILLED:
            pub.publish_nowait("order_filled", payloads.order_filled(order, ts, self._account(order)))
        elif flags & F_CLOSED:
            if order.state_code in (REJECTED, FAILED):
                pub.publish_nowait("order_failed", payloads.order_failed(order, ts))
            else:
                pub.publish_nowait("order_cancelled", payloads.order_cancelled(order, ts))

    def _account(self, order: Any) -> Any:
        snap = getattr(self._risk, "account_snapshot", None)
        if snap is None:
            return None
        try:
            return snap(order.sub_account_id)
        except Exception:
            log.exception("risk_engine.account_snapshot failed")
            return None

    async def _risk_fill(self, order: Any) -> None:
        risk = self._risk
        if risk is None:  # detached since the fill was queued
            return
        try:
            await risk.on_order_fill(order)
        except Exception:
            self._stats["risk_errors"] += 1
            log.exception("risk_engine.on_order_fill failed for %s", order.client_order_id)
        if self._journal is None:
            return
        # Told (even if the hook raised: it saw the fill). Recorded at once: a crash after this
        # point must not make the restart tell it again.
        cid = order.client_order_id
        told = self._risk_told
        if order.filled_fp > told.get(cid, 0):
            told[cid] = order.filled_fp
        live = self._core.get(cid)
        self._jdirty[cid] = live if live is not None else order
        if isinstance(self._journal, Journal):
            self._journal_flush(now=True)
        else:
            self._journal_flush()
            try:
                await self._journal.flush()
            except Exception:
                log.exception("journal: could not send the risk acknowledgement of %s", cid)

    def _call(self, fn: Callback, order: Any, plain: bool = False) -> None:
        # A callback that runs later (queued behind async work, or a coroutine whose body runs at
        # the next loop turn) gets a snapshot: by then later frames may have moved the live view,
        # and on_partial must see its own increase. A plain callback run now gets the live view.
        # ``plain``: known not to be a coroutine function (its _Hooks checked once).
        if self._work:
            self._queue(fn, order.snapshot())  # keep callbacks in order behind pending async work
            return
        if not plain and inspect.iscoroutinefunction(fn):
            order = order.snapshot()
        try:
            result = fn(order)
        except Exception:
            self._stats["callback_errors"] += 1
            log.exception("callback %r failed for %s", fn, order.client_order_id)
            return
        if result is not None and inspect.isawaitable(result):
            self._queue(None, result)

    def _queue(self, fn: Callable[[Any], Any] | None, arg: Any) -> None:
        self._work.append((fn, arg))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._run_work())

    async def _run_work(self) -> None:
        work = self._work
        while work:
            fn, arg = work[0]
            try:
                result = arg if fn is None else fn(arg)
                if inspect.isawaitable(result):
                    await result
            except asyncio.CancelledError:
                if self._closed:
                    raise
                # A callback that raises CancelledError must not stall everything behind it.
                self._stats["callback_errors"] += 1
                log.error("callback raised CancelledError")
            except Exception:
                self._stats["callback_errors"] += 1
                log.exception("callback failed")
            finally:
                if work:
                    work.popleft()

    async def _drain(self) -> None:
        # Wait for queued callbacks, but not for one that waits on a later feed event (a replace
        # waiting for its cancel): the caller has to be free to deliver that event.
        while self._work and self._worker is not None and not self._worker.done():
            if self._replaces_waiting:
                return
            wake = self._drain_wake
            if wake is None or wake.done():
                wake = self._drain_wake = asyncio.get_running_loop().create_future()
            await asyncio.wait((self._worker, wake), return_when=asyncio.FIRST_COMPLETED)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop background work, run queued callbacks (bounded), flush events."""
        if self._closed:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._drain(), 5.0)
        self._closed = True
        for task in [*self._tasks, *self._resolver.tasks, self._worker, self._deadman_task]:
            if task is not None and not task.done():
                task.cancel()
        for task in [*self._tasks, *self._resolver.tasks, self._worker, self._deadman_task]:
            if task is not None:
                with contextlib.suppress(BaseException):
                    await task
        if self._publisher is not None:
            await self._publisher.close()
        self._close_recording()
        if self._journal is not None:
            self._journal_flush()
            with contextlib.suppress(Exception):
                if self._owns_journal:
                    self._journal.close()
                elif isinstance(self._journal, Journal):
                    self._journal.flush()
                else:
                    await self._journal.flush()

    def _close_recording(self) -> None:
        if self._recording is not None:
            with contextlib.suppress(Exception):
                if self._owns_recording:
                    self._recording.close()
                else:
                    self._recording.flush()

    async def __aenter__(self) -> OrderManager:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


# Results the shell always looks at: marked orders, and what must be logged.
_ALWAYS = F_HOOKED | F_LATE_FILL | F_UNKNOWN_STATUS | F_MALFORMED | F_ORPHAN
# Results the journal records: money moved, the order ended, or the exchange's id arrived.
_JOURNALED = F_ACTIVATED | F_FILL | F_FILLED | F_CLOSED
# The hook table is swept for unused handles when it reaches this size (then twice what is used).
_HOOK_GC_MIN = 1024


def _algo_intent(cid: str, sub: str, order: Any, qty: int, px: int, leverage: int, origin: str,
                 parent_id: str | None, fields: dict[str, Any]) -> Intent:
    """The journal's place intent of an algo order; ``fields`` holds its algo parameters in the
    Algo API's names (a New Algo Order's, or an openAlgoOrders item's)."""
    def fp(name: str) -> int | None:
        value = fields.get(name)
        return to_fixed(value) if value not in (None, "", "0") else None

    def flag(name: str) -> bool:
        return fields.get(name) in (True, "true")

    return Intent(
        "place", cid, sub, order.symbol, order.side, order.order_type, qty, px or None,
        "GTC" if px else None, bool(order.reduce_only), leverage, origin, parent_id,
        trigger_price=fp("triggerPrice"), working_type=fields.get("workingType") or "CONTRACT_PRICE",
        callback_rate=fp("callbackRate"), activation_price=fp("activatePrice"),
        close_position=flag("closePosition"), price_protect=flag("priceProtect"))


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def _ws_entry(client: Any, order_entry: str | None) -> Any:
    """The ws-fapi client order entry uses, or None for REST only."""
    if order_entry not in (None, "ws", "rest"):
        raise ValueError(f"order_entry must be 'ws' or 'rest', not {order_entry!r}")
    if order_entry == "rest":
        return None
    try:
        ws = getattr(client, "ws_api", None)
    except ValueError:  # BinanceFuturesClient without a ws-fapi URL
        ws = None
    if ws is None or not hasattr(ws, "connected"):
        if order_entry == "ws":
            raise ValueError("order_entry='ws' needs a client with a ws-fapi endpoint (client.ws_api)")
        return None
    return ws


_SPEC_FIELDS = frozenset(f.name for f in fields(LimitOrderSpec))


def _spec(item: Any, n: int) -> LimitOrderSpec:
    if isinstance(item, LimitOrderSpec):
        return item
    if not isinstance(item, Mapping):
        raise ValueError(f"order {n}: a LimitOrderSpec or a dict, not {type(item).__name__}")
    unknown = set(item) - _SPEC_FIELDS
    if unknown:
        raise ValueError(f"order {n}: unknown keys {sorted(unknown)}")
    try:
        return LimitOrderSpec(**item)
    except TypeError as exc:  # a required key missing
        raise ValueError(f"order {n}: {exc}") from None


class _LogBudget:
    """At most ``per_second`` warnings a second, so a storm of bad frames cannot flood the log."""

    __slots__ = ("_left", "_second")

    def __init__(self, per_second: int = 20) -> None:
        self._second = 0
        self._left = per_second

    def take(self) -> bool:
        now = int(time.monotonic())
        if now != self._second:
            self._second = now
            self._left = 20
        if self._left > 0:
            self._left -= 1
            return True
        return False
