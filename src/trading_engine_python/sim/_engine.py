"""Matching engine, account and event generation of the simulated Binance USD-M futures venue.

Synchronous and transport-free: the REST and ws-fapi layers turn parameters into calls here and ship
the events this module emits. Every rule cites the Binance behaviour it copies (docs/binance-protocol.md
sections or Binance's page names).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from ._fmt import ZERO, exceeds_precision, fixed, parse_decimal, plain, to_decimal

ORDER_ID_START = 8389765739703625592  # above 2^53 on purpose: a float parse of orderId corrupts it
TRADE_ID_START = 4467432841

# docs/binance-protocol.md, "Client order ids"
CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")

TAKER_FEE = Decimal("0.0005")
MAKER_FEE = Decimal("0.0002")
OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
FINAL_STATUSES = frozenset({"FILLED", "CANCELED", "EXPIRED", "EXPIRED_IN_MATCH"})
ALGO_TYPES = frozenset({"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})
TIFS = frozenset({"GTC", "IOC", "FOK", "GTX", "GTD"})
MAX_AMENDS = 10000  # "One order can only be modified for less than 10000 times" (Binance page "Modify Order")


class ApiError(Exception):
    """A Binance error reply: HTTP status plus the {"code","msg"} body."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code} {msg}")
        self.code = code
        self.msg = msg
        self.status = status

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def missing(name: str) -> ApiError:
    return ApiError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def illegal(name: str) -> ApiError:
    return ApiError(
        -1100,
        f"Illegal characters found in parameter '{name}'; legal range is "
        "'^([0-9]{1,20})(\\.[0-9]{1,20})?$'.",
    )


@dataclass(frozen=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    tick: Decimal
    step: Decimal
    min_price: Decimal
    max_price: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    start_price: Decimal
    price_precision: int
    qty_precision: int
    multiplier_up: Decimal = Decimal("1.0500")
    multiplier_down: Decimal = Decimal("0.9500")

    def exchange_info(self) -> dict[str, object]:
        """One `symbols[]` entry of GET /fapi/v1/exchangeInfo (Binance page "Exchange Information")."""
        tick = f"{self.tick:f}"
        step = f"{self.step:f}"
        return {
            "symbol": self.symbol,
            "pair": self.symbol,
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": self.base,
            "quoteAsset": self.quote,
            "marginAsset": self.quote,
            "pricePrecision": self.price_precision,
            "quantityPrecision": self.qty_precision,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": f"{self.min_price:f}",
                    "maxPrice": f"{self.max_price:f}",
                    "tickSize": tick,
                },
                {
                    "filterType": "LOT_SIZE",
                    "stepSize": step,
                    "maxQty": f"{self.max_qty:f}",
                    "minQty": f"{self.min_qty:f}",
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "stepSize": step,
                    "maxQty": f"{self.market_max_qty:f}",
                    "minQty": f"{self.min_qty:f}",
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": f"{self.min_notional:f}"},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": f"{self.multiplier_up:f}",
                    "multiplierDown": f"{self.multiplier_down:f}",
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": [
                "LIMIT",
                "MARKET",
                "STOP",
                "STOP_MARKET",
                "TAKE_PROFIT",
                "TAKE_PROFIT_MARKET",
                "TRAILING_STOP_MARKET",
            ],
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSets": ["GRID", "COPY"],
        }


def default_spec(symbol: str) -> SymbolSpec:
    """BTCUSDT tick 0.10 / step 0.001 and ETHUSDT tick 0.01 / step 0.001 as on the real venue; other names
    get a generic spec. minNotional is the documented "5" (docs/binance-protocol.md, "Error codes", -4164)
    so small test orders pass."""
    quote = "USDT" if symbol.endswith("USDT") else ("USDC" if symbol.endswith("USDC") else "USDT")
    base = symbol[: -len(quote)] if symbol.endswith(quote) else symbol
    if symbol == "BTCUSDT":
        return SymbolSpec(
            symbol,
            base,
            quote,
            Decimal("0.10"),
            Decimal("0.001"),
            Decimal("261.10"),
            Decimal("809484"),
            Decimal("0.001"),
            Decimal("1000"),
            Decimal("120"),
            Decimal("5"),
            Decimal("65000"),
            2,
            3,
        )
    if symbol == "ETHUSDT":
        return SymbolSpec(
            symbol,
            base,
            quote,
            Decimal("0.01"),
            Decimal("0.001"),
            Decimal("39.86"),
            Decimal("306177"),
            Decimal("0.001"),
            Decimal("10000"),
            Decimal("2000"),
            Decimal("5"),
            Decimal("3500"),
            2,
            3,
        )
    return SymbolSpec(
        symbol,
        base,
        quote,
        Decimal("0.01"),
        Decimal("0.001"),
        Decimal("0.01"),
        Decimal("1000000"),
        Decimal("0.001"),
        Decimal("100000"),
        Decimal("10000"),
        Decimal("5"),
        Decimal("100"),
        2,
        3,
    )


@dataclass
class Order:
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    tif: str
    qty: Decimal
    price: Decimal
    reduce_only: bool
    position_side: str
    stp: str
    price_match: str
    gtd: int
    time: int
    update_time: int
    status: str = "NEW"
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    expire_reason: str = "0"
    seq: int = 0  # time priority; a modify requeues the order (Binance page "Modify Order")
    amend_count: int = 0
    orig_type: str = ""  # the algo order's type (ot) for an order an algo order created, else type
    stop_price: Decimal = ZERO
    algo_id: int = 0  # the algo order that created this one

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass
class Amendment:
    """One accepted modify, as GET /fapi/v1/orderAmendment reports it (Binance page "Get Order Modify
    History")."""

    amendment_id: int
    order_id: int
    client_id: str
    symbol: str
    time: int
    price_before: Decimal
    price_after: Decimal
    qty_before: Decimal
    qty_after: Decimal
    count: int


@dataclass
class Trade:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    realized: Decimal
    maker: bool
    time: int


@dataclass
class Position:
    amount: Decimal = ZERO
    entry: Decimal = ZERO
    realized: Decimal = ZERO
    leverage: int = 20
    margin_type: str = "cross"
    update_time: int = 0


@dataclass
class Book:
    price: Decimal
    update_id: int = 1
    open_price: Decimal = ZERO
    high: Decimal = ZERO
    low: Decimal = ZERO
    volume: Decimal = ZERO
    quote_volume: Decimal = ZERO
    trades: int = 0
    last_qty: Decimal = ZERO
    mark_offset: Decimal | None = None  # mark = price + offset when set (sim.set_mark_price)


EventSink = Callable[[dict[str, object]], None]
TickerSink = Callable[[str], None]


@dataclass
class Engine:
    """One account (one-way mode, positionSide BOTH) trading a few symbols against a synthetic book."""

    symbols: Iterable[str]
    seed: int
    now_ms: Callable[[], int]
    emit: EventSink
    on_price: TickerSink
    max_fill_qty: Decimal | None = None
    taker_liquidity: Decimal | None = None
    wallet: Decimal = Decimal("10000")
    specs: dict[str, SymbolSpec] = field(default_factory=dict)
    books: dict[str, Book] = field(default_factory=dict)
    positions: dict[str, Position] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    trades: list[Trade] = field(default_factory=list)
    amendments: list[Amendment] = field(default_factory=list)
    max_amends: int = MAX_AMENDS
    after_price: Callable[[str], None] | None = None  # called after each price move and its fills
    on_final: Callable[[Order], None] | None = None  # called after an order's final ORDER_TRADE_UPDATE

    def __post_init__(self) -> None:
        self.symbols = tuple(self.symbols)
        self._rng = random.Random(self.seed)
        self._id_rng = random.Random(self.seed + 7919)
        self._next_order_id = ORDER_ID_START
        self._next_trade_id = TRADE_ID_START
        self._seq = 0
        self._open: dict[int, Order] = {}
        self._by_client: dict[str, int] = {}  # newest order carrying each clientOrderId
        self._auto_id = 0
        for sym in self.symbols:
            spec = default_spec(sym)
            self.specs[sym] = spec
            self.books[sym] = Book(
                spec.start_price, open_price=spec.start_price, high=spec.start_price, low=spec.start_price
            )
            self.positions[sym] = Position()

    # ------------------------------------------------------------------ market
    def bid(self, symbol: str) -> Decimal:
        return self.books[symbol].price - self.specs[symbol].tick

    def ask(self, symbol: str) -> Decimal:
        return self.books[symbol].price + self.specs[symbol].tick

    def mark(self, symbol: str) -> Decimal:
        book = self.books[symbol]
        return book.price if book.mark_offset is None else book.price + book.mark_offset

    def set_mark(self, symbol: str, price: object | None) -> None:
        """Move the mark price away from the contract (last) price; None makes them equal again. The
        offset follows later moves of the contract price."""
        book = self.books[self.spec(symbol).symbol]
        book.mark_offset = None if price is None else to_decimal(price) - book.price
        book.update_id += 1
        self.on_price(symbol)
        if self.after_price is not None:
            self.after_price(symbol)

    def spec(self, symbol: str) -> SymbolSpec:
        spec = self.specs.get(symbol)
        if spec is None:
            raise ApiError(-1121, "Invalid symbol.")
        return spec

    def set_price(self, symbol: str, price: object) -> None:
        spec = self.spec(symbol)
        px = to_decimal(price)
        px = (px / spec.tick).to_integral_value(rounding=ROUND_DOWN) * spec.tick
        if px <= spec.tick * 2:
            px = spec.tick * 2
        book = self.books[symbol]
        book.price = px
        book.update_id += 1
        book.high = max(book.high, px)
        book.low = min(book.low, px)
        self.on_price(symbol)
        self._match_resting(symbol)
        if self.after_price is not None:
            self.after_price(symbol)  # the algo service's triggers

    def step(self) -> None:
        """One seeded random-walk move per symbol: -3..+3 ticks, biased back toward the start price."""
        for sym in self.symbols:
            spec = self.specs[sym]
            book = self.books[sym]
            move = self._rng.randint(-3, 3)
            drift = (spec.start_price - book.price) / (spec.tick * 2000)
            if (drift > 1 and move < 0 and self._rng.random() < 0.5) or (
                drift < -1 and move > 0 and self._rng.random() < 0.5
            ):
                move = -move
            if move:
                self.set_price(sym, book.price + spec.tick * move)

    # ------------------------------------------------------------------ ids
    def _new_order_id(self) -> int:
        oid = self._next_order_id
        self._next_order_id += self._id_rng.randint(1, 9)
        return oid

    def _new_trade_id(self) -> int:
        tid = self._next_trade_id
        self._next_trade_id += self._id_rng.randint(1, 5)
        return tid

    def _auto_client_id(self) -> str:
        self._auto_id += 1
        return f"sim{self.seed}x{self._auto_id:08d}{self._id_rng.getrandbits(40):010x}"[:22]

    # ------------------------------------------------------------------ lookup
    def find(self, symbol: str, order_id: str | None, client_id: str | None) -> Order | None:
        if order_id:
            try:
                oid = int(order_id)
            except ValueError:
                raise ApiError(
                    -1100, "Illegal characters found in parameter 'orderId'; legal range is '^[0-9]{1,20}$'."
                ) from None
            order = self.orders.get(oid)
        elif client_id:
            cid_oid = self._by_client.get(client_id)
            order = self.orders.get(cid_oid) if cid_oid is not None else None
        else:
            raise ApiError(
                -1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!"
            )
        if order is None or order.symbol != symbol:
            return None
        return order

    def by_client_id(self, client_id: str) -> Order | None:
        oid = self._by_client.get(client_id)
        return self.orders.get(oid) if oid is not None else None

    def _live(self) -> list[Order]:
        """Open orders, from an index pruned as orders close (a scan of every order ever placed
        made long runs slow down on each placement)."""
        live = self._open
        for oid in [oid for oid, o in live.items() if not o.is_open]:
            del live[oid]
        return list(live.values())

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        out = [o for o in self._live() if symbol is None or o.symbol == symbol]
        out.sort(key=lambda o: o.seq)
        return out

    # ------------------------------------------------------------------ validation
    def _qty(self, spec: SymbolSpec, raw: str | None, name: str, market: bool) -> Decimal:
        if raw is None or raw == "":
            raise missing(name)
        qty = parse_decimal(raw)
        if qty is None:
            raise illegal(name)
        if qty <= 0:
            raise ApiError(-4003, "Quantity less than zero.")
        # Binance: too many decimals -> -1111; within precision but off-step -> -4023
        if exceeds_precision(qty, spec.qty_precision):
            raise ApiError(-1111, "Precision is over the maximum defined for this asset.")
        if qty % spec.step != 0:
            raise ApiError(-4023, "Qty not increased by step size.")
        if qty < spec.min_qty:
            raise ApiError(-4004, "Quantity less than min quantity.")
        if qty > (spec.market_max_qty if market else spec.max_qty):
            raise ApiError(-4005, "Quantity greater than max quantity.")
        return qty

    def _price(self, spec: SymbolSpec, raw: str | None) -> Decimal:
        if raw is None or raw == "":
            raise missing("price")
        price = parse_decimal(raw)
        if price is None:
            raise illegal("price")
        if price <= 0:
            raise ApiError(-4001, "Price less than 0.")
        if exceeds_precision(price, spec.price_precision):
            raise ApiError(-1111, "Precision is over the maximum defined for this asset.")
        if price % spec.tick != 0:
            raise ApiError(-4014, "Price not increased by tick size.")
        if price < spec.min_price:
            raise ApiError(-4013, "Price less than min price.")
        if price > spec.max_price:
            raise ApiError(-4002, "Price greater than max price.")
        return price

    def _check_percent_price(self, spec: SymbolSpec, side: str, price: Decimal) -> None:
        # PERCENT_PRICE: bids at most mark*multiplierUp, asks at least mark*multiplierDown.
        mark = self.mark(spec.symbol)
        if side == "BUY":
            cap = mark * spec.multiplier_up
            if price > cap:
                raise ApiError(-4016, f"Limit price can't be higher than {fixed(cap, spec.price_precision)}.")
        else:
            floor = mark * spec.multiplier_down
            if price < floor:
                raise ApiError(
                    -4024, f"Limit price can't be lower than {fixed(floor, spec.price_precision)}."
                )

    def _reducible(self, symbol: str, side: str) -> Decimal:
        """How much a reduce-only order on ``side`` may still trade: the opposite position, if any."""
        pos = self.positions[symbol].amount
        if side == "SELL" and pos > 0:
            return pos
        if side == "BUY" and pos < 0:
            return -pos
        return ZERO

    def _available(self) -> Decimal:
        used = ZERO
        for sym, pos in self.positions.items():
            if pos.amount:
                used += abs(pos.amount) * self.mark(sym) / pos.leverage
        for o in self._live():
            if not o.reduce_only:
                used += o.remaining * o.price / self.positions[o.symbol].leverage
        return self.wallet + self._unrealized() - used

    def _unrealized(self) -> Decimal:
        total = ZERO
        for sym, pos in self.positions.items():
            if pos.amount:
                total += (self.mark(sym) - pos.entry) * pos.amount
        return total

    # ------------------------------------------------------------------ place
    def order_basics(self, p: dict[str, str]) -> tuple[str, SymbolSpec, str, str]:
        """(symbol, its spec, side, type) of a new order or algo order, checked in Binance's order:
        a missing one is -1102, an unknown symbol -1121, a side other than BUY/SELL -1117. The
        type is only checked for presence: each caller knows its own types."""
        symbol = p.get("symbol") or ""
        if not symbol:
            raise missing("symbol")
        spec = self.spec(symbol)
        side = p.get("side") or ""
        if not side:
            raise missing("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        otype = p.get("type") or ""
        if not otype:
            raise missing("type")
        return symbol, spec, side, otype

    def place(
        self, p: dict[str, str], algo: Callable[[Order], None] | None = None
    ) -> tuple[dict[str, object], Order]:
        """POST /fapi/v1/order. Returns (ACK snapshot, order): ACK is the state at acceptance. ``algo``
        is set by the algo service when it triggers: it is called with the new LIMIT/MARKET order before
        the order's first event."""
        symbol, spec, side, otype = self.order_basics(p)
        if otype in ALGO_TYPES:
            # Since 2025-12-09 conditional orders live in the Algo service
            # (docs/binance-protocol.md, "Algo orders")
            raise ApiError(
                -4120,
                "Order type not supported for this endpoint. Please use the Algo Order API "
                "endpoints instead.",
            )
        if otype not in ("LIMIT", "MARKET"):
            raise ApiError(-1116, "Invalid orderType.")
        position_side = p.get("positionSide", "BOTH") or "BOTH"
        if position_side != "BOTH":
            raise ApiError(-4061, "Order's position side does not match user's setting.")
        reduce_raw = (p.get("reduceOnly") or "false").lower()
        if reduce_raw not in ("true", "false"):
            raise missing("reduceOnly")
        reduce_only = reduce_raw == "true"
        cid = p.get("newClientOrderId")
        if cid is None or cid == "":
            cid = self._auto_client_id()
        elif not CLIENT_ID_RE.match(cid):
            raise ApiError(-4015, "Client order id is not valid.")
        existing = self.by_client_id(cid)
        if existing is not None and existing.is_open:
            raise ApiError(-4116, "clientOrderId is duplicated")
        qty = self._qty(spec, p.get("quantity"), "quantity", otype == "MARKET")
        stp = p.get("selfTradePreventionMode") or "NONE"
        if stp not in ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"):
            raise ApiError(
                -1102,
                "Mandatory parameter 'selfTradePreventionMode' was not sent, was empty/null, or malformed.",
            )
        gtd = 0
        if otype == "LIMIT":
            tif = p.get("timeInForce") or ""
            if not tif:
                raise missing("timeInForce")
            if tif not in TIFS:
                raise ApiError(-1115, "Invalid timeInForce.")
            if p.get("priceMatch") and p.get("priceMatch") != "NONE":
                raise ApiError(-4138, "priceMatch is not supported by the simulator.")
            price = self._price(spec, p.get("price"))
            self._check_percent_price(spec, side, price)
            if tif == "GTD":
                raw = p.get("goodTillDate") or ""
                if not raw.isdigit():
                    raise missing("goodTillDate")
                gtd = int(raw) // 1000 * 1000
                if gtd <= self.now_ms() + 600_000:
                    raise ApiError(-4129, "goodTillDate must be greater than current time plus 600 seconds.")
        else:
            tif = "GTC"
            if p.get("price"):
                raise ApiError(-1106, "Parameter 'price' sent when not required.")
            price = ZERO
        ref_price = price if otype == "LIMIT" else self.mark(symbol)
        if not reduce_only and qty * ref_price < spec.min_notional:
            raise ApiError(
                -4164,
                f"Order's notional must be no smaller than {plain(spec.min_notional)} "
                "(unless you choose reduce only).",
            )
        if reduce_only and self._reducible(symbol, side) == 0:
            raise ApiError(-2022, "ReduceOnly Order is rejected.")
        crosses = otype == "MARKET" or self._crosses(symbol, side, price)
        if tif == "GTX" and crosses:
            # Since 2023-03-22: rejected synchronously, no WS event, not queryable
            # (docs/binance-protocol.md, "Event order")
            raise ApiError(
                -5022,
                "Due to the order could not be executed as maker, the Post Only order will be "
                "rejected. The order will not be recorded in the order history",
            )
        if tif == "FOK":
            fillable = self._takeable(symbol, side, price, qty, reduce_only) if crosses else ZERO
            if fillable < qty:
                raise ApiError(
                    -5021,
                    "Due to the order could not be filled immediately, the FOK order has been "
                    "rejected. The order will not be recorded in the order history",
                )
        if not reduce_only:
            lev = self.positions[symbol].leverage
            # only the part that opens/extends a position needs margin
            opening = qty - self._reducible(symbol, side)
            if opening > 0 and opening * ref_price / lev > self._available():
                raise ApiError(-2019, "Margin is insufficient.")
        now = self.now_ms()
        self._seq += 1
        order = Order(
            self._new_order_id(),
            cid,
            symbol,
            side,
            otype,
            tif,
            qty,
            price,
            reduce_only,
            "BOTH",
            stp,
            "NONE",
            gtd,
            now,
            now,
            seq=self._seq,
        )
        if algo is not None:
            algo(order)
        self.orders[order.order_id] = order
        self._open[order.order_id] = order
        self._by_client[cid] = order.order_id
        ack = self.order_json(order, "post")
        self._emit_order(order, "NEW", now)
        stp_hit = self._take(order, now) if crosses else False
        if order.is_open and (otype == "MARKET" or tif in ("IOC", "FOK")):
            # market remainder -> er 9; IOC remainder -> er 2, or 3 when self-trade prevention acted
            # during its match (docs/binance-protocol.md, "Order update event")
            self._expire(order, "9" if otype == "MARKET" else ("3" if stp_hit else "2"), now)
        return ack, order

    def _crosses(self, symbol: str, side: str, price: Decimal) -> bool:
        """Would a LIMIT at ``price`` take: the synthetic touch or one of the account's own resting orders
        on the other side."""
        if price >= self.ask(symbol) if side == "BUY" else price <= self.bid(symbol):
            return True
        return self._own_maker(symbol, side, price) is not None

    def _own_maker(self, symbol: str, side: str, reach: Decimal | None) -> Order | None:
        """The best resting LIMIT order of the account opposite ``side`` that a taker reaching ``reach``
        (None = any price) would meet first: best price, then time priority."""
        best: Order | None = None
        for o in self._live():
            if o.symbol != symbol or o.side == side or o.type != "LIMIT":
                continue
            if reach is not None and (o.price > reach if side == "BUY" else o.price < reach):
                continue
            if best is None or (
                (o.price, o.seq) < (best.price, best.seq)
                if side == "BUY"
                else (-o.price, o.seq) < (-best.price, best.seq)
            ):
                best = o
        return best

    def _self_trade(self, taker: Order, maker: Order, now: int) -> Decimal:
        """A taker meets an order of the same account: the taker's selfTradePreventionMode decides
        (docs/binance-protocol.md, "Self-trade prevention"). NONE trades (both sides fill at the maker's
        price); EXPIRE_MAKER / EXPIRE_TAKER / EXPIRE_BOTH end those orders as EXPIRED_IN_MATCH, er "1"
        ("3" for an IOC taker). STP only applies to GTC/IOC/GTD takers. Returns the quantity traded."""
        mode = taker.stp if taker.tif in ("GTC", "IOC", "GTD") else "NONE"
        if mode == "NONE":
            q = min(taker.remaining, maker.remaining)
            if self.max_fill_qty is not None:
                q = min(q, self.max_fill_qty)
            self._fill(maker, q, maker.price, True, now)
            self._fill(taker, q, maker.price, False, now)
            return q
        if mode in ("EXPIRE_MAKER", "EXPIRE_BOTH"):
            self._expire(maker, "1", now, "EXPIRED_IN_MATCH")
        if mode in ("EXPIRE_TAKER", "EXPIRE_BOTH"):
            self._expire(taker, "3" if taker.tif == "IOC" else "1", now, "EXPIRED_IN_MATCH")
        return ZERO

    def _takeable(self, symbol: str, side: str, price: Decimal, qty: Decimal, reduce_only: bool) -> Decimal:
        avail = qty if self.taker_liquidity is None else min(qty, self.taker_liquidity)
        if reduce_only:
            avail = min(avail, self._reducible(symbol, side))
        return avail

    def _take(self, order: Order, now: int) -> bool:
        """Sweep the synthetic book as taker: trades of at most max_fill_qty, one tick worse each (capped
        at the limit), until filled or taker_liquidity runs out. An own resting order at or better than
        the next level is met first (self-trade prevention). True when STP expired an order."""
        spec = self.specs[order.symbol]
        left = order.remaining if self.taker_liquidity is None else min(order.remaining, self.taker_liquidity)
        k = 0
        stp_hit = False
        while left > 0 and order.is_open:
            if order.side == "BUY":
                px = self.ask(order.symbol) + spec.tick * k
                if order.type == "LIMIT":
                    px = min(px, order.price)
            else:
                px = self.bid(order.symbol) - spec.tick * k
                if order.type == "LIMIT":
                    px = max(px, order.price)
            reach = order.price if order.type == "LIMIT" else None
            own = self._own_maker(order.symbol, order.side, reach)
            if own is not None and (own.price <= px if order.side == "BUY" else own.price >= px):
                traded = self._self_trade(order, own, now)
                stp_hit = stp_hit or traded == 0
                left -= traded
                continue
            touch = self.ask(order.symbol) if order.side == "BUY" else self.bid(order.symbol)
            if order.type == "LIMIT" and (
                touch > order.price if order.side == "BUY" else touch < order.price
            ):
                break  # only own orders were within the limit: the rest rests
            q = left if self.max_fill_qty is None else min(left, self.max_fill_qty)
            if order.reduce_only:
                q = min(q, self._reducible(order.symbol, order.side))
                if q <= 0:
                    self._expire(order, "4", now)  # knocked out by reduce-only
                    return stp_hit
            self._fill(order, q, px, False, now)
            left -= q
            k += 1
        return stp_hit

    def _match_resting(self, symbol: str) -> None:
        """After a price move: each crossed resting order gets one maker trade of at most max_fill_qty."""
        bid = self.bid(symbol)
        ask = self.ask(symbol)
        now = self.now_ms()
        for order in self.open_orders(symbol):
            if order.type != "LIMIT":
                continue
            if order.tif == "GTD" and order.gtd and now >= order.gtd:
                self._expire(order, "6", now)
                continue
            crossed = ask <= order.price if order.side == "BUY" else bid >= order.price
            if not crossed:
                continue
            q = order.remaining if self.max_fill_qty is None else min(order.remaining, self.max_fill_qty)
            if order.reduce_only:
                q = min(q, self._reducible(symbol, order.side))
                if q <= 0:
                    self._expire(order, "4", now)
                    continue
            self._fill(order, q, order.price, True, now)

    def _fill(self, order: Order, qty: Decimal, price: Decimal, maker: bool, now: int) -> None:
        spec = self.specs[order.symbol]
        quote = qty * price
        fee = (quote * (MAKER_FEE if maker else TAKER_FEE)).quantize(Decimal("0.00000001"))
        realized = self._apply_position(order.symbol, order.side, qty, price, now)
        self.wallet += realized - fee
        order.executed += qty
        order.cum_quote += quote
        order.status = "FILLED" if order.executed >= order.qty else "PARTIALLY_FILLED"
        order.update_time = now
        trade = Trade(
            self._new_trade_id(),
            order.order_id,
            order.symbol,
            order.side,
            price,
            qty,
            quote,
            fee,
            realized,
            maker,
            now,
        )
        self.trades.append(trade)
        book = self.books[order.symbol]
        book.volume += qty
        book.quote_volume += quote
        book.trades += 1
        book.last_qty = qty
        # docs/binance-protocol.md, "Event order": TRADE_LITE (low latency), ACCOUNT_UPDATE,
        # ORDER_TRADE_UPDATE
        e_ms = now + 1
        self.emit(
            {
                "e": "TRADE_LITE",
                "E": e_ms,
                "T": now,
                "s": order.symbol,
                "q": fixed(order.qty, spec.qty_precision),
                "p": plain(order.price),
                "m": maker,
                "c": order.client_id,
                "S": order.side,
                "L": plain(price),
                "l": fixed(qty, spec.qty_precision),
                "t": trade.trade_id,
                "i": order.order_id,
            }
        )
        self.emit(self.account_update(order.symbol, "ORDER", now))
        self._emit_order(order, "TRADE", now, trade=trade)
        if order.reduce_only and order.is_open and self._reducible(order.symbol, order.side) == 0:
            self._expire(order, "4", now)

    def _apply_position(self, symbol: str, side: str, qty: Decimal, price: Decimal, now: int) -> Decimal:
        pos = self.positions[symbol]
        signed = qty if side == "BUY" else -qty
        realized = ZERO
        if pos.amount == 0 or (pos.amount > 0) == (signed > 0):
            total = abs(pos.amount) + qty
            pos.entry = (pos.entry * abs(pos.amount) + price * qty) / total
            pos.amount += signed
        else:
            closing = min(qty, abs(pos.amount))
            direction = 1 if pos.amount > 0 else -1
            realized = (price - pos.entry) * closing * direction
            pos.amount += signed
            if pos.amount == 0:
                pos.entry = ZERO
            elif (pos.amount > 0) != (direction > 0):
                pos.entry = price
        pos.realized += realized
        pos.update_time = now
        return realized

    def _expire(self, order: Order, reason: str, now: int, status: str = "EXPIRED") -> None:
        order.status = status
        order.expire_reason = reason
        order.update_time = now
        self._emit_order(order, "EXPIRED", now)

    # ------------------------------------------------------------------ cancel / modify
    def cancel(self, symbol: str, order_id: str | None, client_id: str | None) -> dict[str, object]:
        self.spec(symbol)
        order = self.find(symbol, order_id, client_id)
        if order is None or not order.is_open:
            # -2011 = not open, also for unknown ids (docs/binance-protocol.md, "Error codes")
            raise ApiError(-2011, "Unknown order sent.")
        now = self.now_ms()
        order.status = "CANCELED"
        order.update_time = now
        self._emit_order(order, "CANCELED", now)
        return self.order_json(order, "delete")

    def cancel_all(self, symbol: str) -> int:
        self.spec(symbol)
        n = 0
        for order in self.open_orders(symbol):
            self.cancel(symbol, str(order.order_id), None)
            n += 1
        return n

    def modify(self, p: dict[str, str]) -> dict[str, object]:
        """PUT /fapi/v1/order, order.modify: amend a LIMIT order in place (docs/binance-protocol.md,
        "Amend in place"; Binance page "Modify Order"). Quantity and price are both required; filter
        failures leave the order as it is; the order keeps its ids, loses its time priority and is
        reported as x=AMENDMENT with the new p/q. It is CANCELED instead when the new quantity is at or
        below what already filled, or when a GTX order would cross."""
        symbol = p.get("symbol") or ""
        if not symbol:
            raise missing("symbol")
        spec = self.spec(symbol)
        side = p.get("side") or ""
        if not side:
            raise missing("side")
        if side not in ("BUY", "SELL"):
            raise ApiError(-1117, "Invalid side.")
        qty = self._qty(spec, p.get("quantity"), "quantity", False)
        price = self._price(spec, p.get("price"))
        order = self.find(symbol, p.get("orderId"), p.get("origClientOrderId"))
        if order is None:
            raise ApiError(-2013, "Order does not exist.")
        if not order.is_open:
            raise ApiError(-2011, "Unknown order sent.")
        if order.type != "LIMIT" or side != order.side:
            raise ApiError(-4000, "Invalid order status.")
        if qty == order.qty and price == order.price:
            raise ApiError(-5027, "No need to modify the order.")
        if order.amend_count >= self.max_amends:
            raise ApiError(-5026, "Exceed maximum modify order limit.")
        self._check_percent_price(spec, side, price)
        now = self.now_ms()
        crosses = self._crosses(symbol, side, price)
        if qty <= order.executed or (order.tif == "GTX" and crosses):
            order.status = "CANCELED"
            order.update_time = now
            self._emit_order(order, "CANCELED", now)
            return self.order_json(order, "put")
        order.amend_count += 1
        self.amendments.append(
            Amendment(
                len(self.amendments) + 1,
                order.order_id,
                order.client_id,
                symbol,
                now,
                order.price,
                price,
                order.qty,
                qty,
                order.amend_count,
            )
        )
        order.qty = qty
        order.price = price
        order.stp = "NONE"  # "Modify order will set selfTradePreventionMode to NONE"
        order.update_time = now
        self._seq += 1
        order.seq = self._seq
        self._emit_order(order, "AMENDMENT", now)
        if crosses:
            self._take(order, now)
        return self.order_json(order, "put")

    def amendment_json(self, a: Amendment) -> dict[str, object]:
        spec = self.specs[a.symbol]
        pp, qp = spec.price_precision, spec.qty_precision
        return {
            "amendmentId": a.amendment_id,
            "symbol": a.symbol,
            "pair": a.symbol,
            "orderId": a.order_id,
            "clientOrderId": a.client_id,
            "time": a.time,
            "amendment": {
                "price": {"before": fixed(a.price_before, pp), "after": fixed(a.price_after, pp)},
                "origQty": {"before": fixed(a.qty_before, qp), "after": fixed(a.qty_after, qp)},
                "count": a.count,
            },
        }

    def expire_gtd(self) -> None:
        now = self.now_ms()
        for order in self.open_orders():
            if order.tif == "GTD" and order.gtd and now >= order.gtd:
                self._expire(order, "6", now)

    # ------------------------------------------------------------------ JSON
    def avg_price(self, order: Order) -> Decimal:
        if order.executed == 0:
            return ZERO
        return order.cum_quote / order.executed

    def order_json(self, order: Order, kind: str = "get") -> dict[str, object]:
        """REST order object; key sets follow docs-examples/rest_{post,get,delete,put}_order_response.json."""
        spec = self.specs[order.symbol]
        pp, qp = spec.price_precision, spec.qty_precision
        avg = self.avg_price(order)
        avg_s = fixed(avg, pp) if avg == 0 else fixed(avg, 5)
        out: dict[str, object] = {
            "orderId": order.order_id,
            "symbol": order.symbol,
            "status": order.status,
            "clientOrderId": order.client_id,
            "price": fixed(order.price, pp),
            "avgPrice": avg_s,
            "origQty": fixed(order.qty, qp),
            "executedQty": fixed(order.executed, qp),
        }
        if kind != "get":
            out["cumQty"] = fixed(order.executed, qp)
        out["cumQuote"] = fixed(order.cum_quote, 5)
        if kind == "put":
            out["pair"] = order.symbol
            out["cumBase"] = "0"
        out.update(
            {
                "timeInForce": order.tif,
                "type": order.type,
                "reduceOnly": order.reduce_only,
                "closePosition": False,
                "side": order.side,
                "positionSide": order.position_side,
                "stopPrice": fixed(order.stop_price, pp),
                "workingType": "CONTRACT_PRICE",
                "priceProtect": False,
                "origType": order.orig_type or order.type,
                "priceMatch": order.price_match,
                "selfTradePreventionMode": order.stp,
                "goodTillDate": order.gtd,
            }
        )
        if kind == "get":
            out["time"] = order.time
        out["updateTime"] = order.update_time
        return out

    def _side_notional(self, symbol: str, side: str) -> Decimal:
        return sum(
            (
                o.remaining * o.price
                for o in self._live()
                if o.symbol == symbol and o.side == side and o.type == "LIMIT"
            ),
            ZERO,
        )

    def _emit_order(self, order: Order, exec_type: str, now: int, trade: Trade | None = None) -> None:
        """ORDER_TRADE_UPDATE with every key of docs-examples/ws_order_trade_update.json except the
        trailing-stop-only AP/cr (docs/binance-protocol.md, "Order update event"); n/N always present as
        in 2023-2024 captures."""
        spec = self.specs[order.symbol]
        qp = spec.qty_precision
        avg = self.avg_price(order)
        o: dict[str, object] = {
            "s": order.symbol,
            "c": order.client_id,
            "S": order.side,
            "o": order.type,
            "f": order.tif,
            "q": fixed(order.qty, qp),
            "p": plain(order.price),
            "ap": fixed(avg, 5) if avg else "0",
            "sp": plain(order.stop_price),
            "x": exec_type,
            "X": order.status,
            "i": order.order_id,
            "l": fixed(trade.qty, qp) if trade else "0",
            "z": fixed(order.executed, qp) if order.executed else "0",
            "L": plain(trade.price) if trade else "0",
            "N": "USDT",
            "n": fixed(trade.commission, 8) if trade else "0",
            "T": now,
            "t": trade.trade_id if trade else 0,
            "b": plain(self._side_notional(order.symbol, "BUY").quantize(Decimal("0.00001"))),
            "a": plain(self._side_notional(order.symbol, "SELL").quantize(Decimal("0.00001"))),
            "m": trade.maker if trade else False,
            "R": order.reduce_only,
            "wt": "CONTRACT_PRICE",
            "ot": order.orig_type or order.type,
            "ps": order.position_side,
            "cp": False,
            "pP": False,
            "si": 0,
            "ss": 0,
            "rp": fixed(trade.realized, 8) if trade else "0",
            "V": order.stp,
            "pm": order.price_match,
            "gtd": order.gtd,
            "er": order.expire_reason if exec_type == "EXPIRED" else "0",
        }
        self.emit({"e": "ORDER_TRADE_UPDATE", "E": now + 1, "T": now, "o": o})
        if self.on_final is not None and order.status in FINAL_STATUSES:
            self.on_final(order)

    def account_update(self, symbol: str, reason: str, now: int) -> dict[str, object]:
        """ACCOUNT_UPDATE (docs-examples/ws_account_update.json): wallet and the touched position."""
        pos = self.positions[symbol]
        mark = self.mark(symbol)
        up = (mark - pos.entry) * pos.amount if pos.amount else ZERO
        wb = fixed(self.wallet, 8)
        return {
            "e": "ACCOUNT_UPDATE",
            "E": now + 1,
            "T": now,
            "a": {
                "m": reason,
                "B": [{"a": "USDT", "wb": wb, "cw": wb, "bc": "0"}],
                "P": [
                    {
                        "s": symbol,
                        "pa": plain(pos.amount),
                        "ep": fixed(
                            pos.entry, 8 if pos.entry != pos.entry.quantize(Decimal("0.00001")) else 5
                        ),
                        "bep": fixed(pos.entry, 8) if pos.amount else "0",
                        "cr": fixed(pos.realized, 8),
                        "up": fixed(up, 8),
                        "mt": pos.margin_type,
                        "iw": "0",
                        "ps": "BOTH",
                    }
                ],
            },
        }


def next_funding(now: int) -> int:
    """Next 8-hourly funding time (00:00, 08:00, 16:00 UTC)."""
    period = 8 * 3600 * 1000
    return now - now % period + period
