"""REST endpoint handlers and the route table (method, path) -> handler, security, weight.

A handler takes the simulator and the request's parameters and returns the JSON body, or raises
ApiError. ws-fapi methods reuse the same handlers.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from ._engine import ApiError, Engine, Order, missing, next_funding
from ._fmt import ZERO, fixed

if TYPE_CHECKING:
    from ._app import BinanceSimulator

Params = dict[str, str]
Handler = Callable[["BinanceSimulator", Params], Awaitable[Any]]


@dataclass(frozen=True)
class Route:
    fn: Handler
    security: str  # NONE | USER_STREAM (key only) | SIGNED (TRADE/USER_DATA)
    weight: Callable[[Params], int]
    orders: int = 0  # counts on X-MBX-ORDER-COUNT-*


def _w(n: int) -> Callable[[Params], int]:
    return lambda _p: n


def _w_sym(with_symbol: int, without: int) -> Callable[[Params], int]:
    return lambda p: with_symbol if p.get("symbol") else without


def _w_depth(p: Params) -> int:
    limit = int(p.get("limit", "500")) if p.get("limit", "500").isdigit() else 500
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


# ====================================================================== endpoint handlers
def _engine(sim: BinanceSimulator) -> Engine:
    return sim.engine


def _symbol(p: Params, required: bool = True) -> str | None:
    sym = p.get("symbol")
    if not sym:
        if required:
            raise missing("symbol")
        return None
    return sym


async def h_ping(sim: BinanceSimulator, p: Params) -> Any:
    return {}


async def h_time(sim: BinanceSimulator, p: Params) -> Any:
    return {"serverTime": sim.now_ms()}


async def h_exchange_info(sim: BinanceSimulator, p: Params) -> Any:
    eng = _engine(sim)
    return {
        "timezone": "UTC",
        "serverTime": sim.now_ms(),
        "futuresType": "U_MARGINED",
        "rateLimits": [
            {
                "rateLimitType": "REQUEST_WEIGHT",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": sim.limits["weight_1m"],
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "MINUTE",
                "intervalNum": 1,
                "limit": sim.limits["orders_1m"],
            },
            {
                "rateLimitType": "ORDERS",
                "interval": "SECOND",
                "intervalNum": 10,
                "limit": sim.limits["orders_10s"],
            },
        ],
        "exchangeFilters": [],
        "assets": [{"asset": "USDT", "marginAvailable": True, "autoAssetExchange": "-10000"}],
        "symbols": [eng.specs[s].exchange_info() for s in eng.symbols],
    }


def _symbols_for(sim: BinanceSimulator, p: Params) -> tuple[list[str], bool]:
    eng = _engine(sim)
    sym = p.get("symbol")
    if sym:
        eng.spec(sym)
        return [sym], True
    return list(eng.symbols), False


async def h_ticker_price(sim: BinanceSimulator, p: Params) -> Any:
    eng = _engine(sim)
    syms, single = _symbols_for(sim, p)
    now = sim.now_ms()
    out = [
        {"symbol": s, "price": fixed(eng.mark(s), eng.specs[s].price_precision), "time": now} for s in syms
    ]
    return out[0] if single else out


async def h_book_ticker(sim: BinanceSimulator, p: Params) -> Any:
    eng = _engine(sim)
    syms, single = _symbols_for(sim, p)
    now = sim.now_ms()
    out = []
    for s in syms:
        spec = eng.specs[s]
        out.append(
            {
                "symbol": s,
                "bidPrice": fixed(eng.bid(s), spec.price_precision),
                "bidQty": fixed(Decimal(7) * spec.step * 100, spec.qty_precision),
                "askPrice": fixed(eng.ask(s), spec.price_precision),
                "askQty": fixed(Decimal(9) * spec.step * 100, spec.qty_precision),
                "time": now,
                "lastUpdateId": eng.books[s].update_id,
            }
        )
    return out[0] if single else out


async def h_ticker_24hr(sim: BinanceSimulator, p: Params) -> Any:
    eng = _engine(sim)
    syms, single = _symbols_for(sim, p)
    now = sim.now_ms()
    out = []
    for s in syms:
        spec = eng.specs[s]
        pp = spec.price_precision
        b = eng.books[s]
        change = b.price - b.open_price
        pct = (change / b.open_price * 100) if b.open_price else ZERO
        wavg = b.quote_volume / b.volume if b.volume else b.price
        out.append(
            {
                "symbol": s,
                "priceChange": fixed(change, pp),
                "priceChangePercent": fixed(pct, 3),
                "weightedAvgPrice": fixed(wavg, pp),
                "lastPrice": fixed(b.price, pp),
                "lastQty": fixed(b.last_qty, spec.qty_precision),
                "openPrice": fixed(b.open_price, pp),
                "highPrice": fixed(b.high, pp),
                "lowPrice": fixed(b.low, pp),
                "volume": fixed(b.volume, spec.qty_precision),
                "quoteVolume": fixed(b.quote_volume, 2),
                "openTime": now - 86_400_000,
                "closeTime": now,
                "firstId": 1,
                "lastId": b.trades,
                "count": b.trades,
            }
        )
    return out[0] if single else out


async def h_depth(sim: BinanceSimulator, p: Params) -> Any:
    eng = _engine(sim)
    sym = _symbol(p)
    assert sym is not None
    spec = eng.spec(sym)
    limit_raw = p.get("limit", "500")
    if limit_raw not in ("5", "10", "20", "50", "100", "500", "1000"):
        raise ApiError(-4021, f"'{limit_raw}' is not valid depth limit.")
    limit = int(limit_raw)
    rng = random.Random(eng.books[sym].update_id * 31 + sim.seed)
    bids = []
    asks = []
    for i in range(limit):
        bids.append(
            [
                fixed(eng.bid(sym) - spec.tick * i, spec.price_precision),
                fixed(Decimal(rng.randint(1, 3000)) * spec.step, spec.qty_precision),
            ]
        )
        asks.append(
            [
                fixed(eng.ask(sym) + spec.tick * i, spec.price_precision),
                fixed(Decimal(rng.randint(1, 3000)) * spec.step, spec.qty_precision),
            ]
        )
    now = sim.now_ms()
    return {"lastUpdateId": eng.books[sym].update_id, "E": now, "T": now, "bids": bids, "asks": asks}


async def h_premium_index(sim: BinanceSimulator, p: Params) -> Any:
    eng = _engine(sim)
    syms, single = _symbols_for(sim, p)
    now = sim.now_ms()
    out = [
        {
            "symbol": s,
            "markPrice": fixed(eng.mark(s), 8),
            "indexPrice": fixed(eng.mark(s), 8),
            "estimatedSettlePrice": fixed(eng.mark(s), 8),
            "lastFundingRate": "0.00010000",
            "interestRate": "0.00010000",
            "nextFundingTime": next_funding(now),
            "time": now,
        }
        for s in syms
    ]
    return out[0] if single else out


# --- trading
async def h_order_post(sim: BinanceSimulator, p: Params) -> Any:
    return place_order(sim, p)


async def h_order_put(sim: BinanceSimulator, p: Params) -> Any:
    return _engine(sim).modify(p)


async def h_order_amendments(sim: BinanceSimulator, p: Params) -> Any:
    """GET /fapi/v1/orderAmendment: the modify history of one order, newest first (Binance page "Get
    Order Modify History"); ``count`` is the order's number of amendments so far."""
    eng = _engine(sim)
    sym = _symbol(p)
    assert sym is not None
    eng.spec(sym)
    order = eng.find(sym, p.get("orderId"), p.get("origClientOrderId"))
    if order is None:
        raise ApiError(-2013, "Order does not exist.")
    rows = [a for a in eng.amendments if a.order_id == order.order_id]
    if p.get("startTime", "").isdigit():
        rows = [a for a in rows if a.time >= int(p["startTime"])]
    if p.get("endTime", "").isdigit():
        rows = [a for a in rows if a.time <= int(p["endTime"])]
    limit = min(int(p["limit"]), 100) if p.get("limit", "").isdigit() else 50
    return [eng.amendment_json(a) for a in reversed(rows)][:limit]


async def h_order_delete(sim: BinanceSimulator, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    return _engine(sim).cancel(sym, p.get("orderId"), p.get("origClientOrderId"))


def _find_or_2013(sim: BinanceSimulator, p: Params, open_only: bool) -> Order:
    eng = _engine(sim)
    sym = _symbol(p)
    assert sym is not None
    eng.spec(sym)
    order = eng.find(sym, p.get("orderId"), p.get("origClientOrderId"))
    if order is None or (open_only and not order.is_open):
        raise ApiError(-2013, "Order does not exist.")
    return order


async def h_order_get(sim: BinanceSimulator, p: Params) -> Any:
    return _engine(sim).order_json(_find_or_2013(sim, p, False), "get")


async def h_open_order_get(sim: BinanceSimulator, p: Params) -> Any:
    return _engine(sim).order_json(_find_or_2013(sim, p, True), "get")


async def h_open_orders(sim: BinanceSimulator, p: Params) -> Any:
    eng = _engine(sim)
    sym = _symbol(p, required=False)
    if sym:
        eng.spec(sym)
    return [eng.order_json(o, "get") for o in eng.open_orders(sym)]


async def h_all_orders(sim: BinanceSimulator, p: Params) -> Any:
    eng = _engine(sim)
    sym = _symbol(p)
    assert sym is not None
    eng.spec(sym)
    orders = [o for o in eng.orders.values() if o.symbol == sym]
    if p.get("orderId", "").isdigit():
        orders = [o for o in orders if o.order_id >= int(p["orderId"])]
    if p.get("startTime", "").isdigit():
        orders = [o for o in orders if o.time >= int(p["startTime"])]
    if p.get("endTime", "").isdigit():
        orders = [o for o in orders if o.time <= int(p["endTime"])]
    limit = int(p["limit"]) if p.get("limit", "").isdigit() else 500
    orders.sort(key=lambda o: o.order_id)
    return [eng.order_json(o, "get") for o in orders[: min(limit, 1000)]]


async def h_cancel_all(sim: BinanceSimulator, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).cancel_all(sym)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


def _item_params(item: Any) -> Params:
    if not isinstance(item, dict):
        raise ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
    out: Params = {}
    for k, v in item.items():
        if isinstance(v, bool):
            out[str(k)] = "true" if v else "false"
        elif isinstance(v, float):
            out[str(k)] = repr(v)
        else:
            out[str(k)] = str(v)
    return out


def batch_items(p: Params, too_many: ApiError) -> list[Any]:
    """The `batchOrders` JSON list of POST/PUT /fapi/v1/batchOrders: at most 5 items (Binance page "Place
    Multiple Orders"); each item is later parsed on its own so one bad item fails alone."""
    raw = p.get("batchOrders")
    if not raw:
        raise missing("batchOrders")
    invalid = ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid.")
    try:
        items = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise invalid from None
    if not isinstance(items, list) or not items:
        raise invalid
    if len(items) > 5:
        raise too_many
    return items


def _each(items: list[Any], fn: Callable[[Params], Any]) -> list[Any]:
    """Results in input order; a failing item becomes its error object (docs/binance-protocol.md,
    "Batch orders")."""
    out: list[Any] = []
    for item in items:
        try:
            out.append(fn(_item_params(item)))
        except ApiError as err:
            out.append(err.body())
    return out


def place_order(sim: BinanceSimulator, p: Params) -> Any:
    """POST /fapi/v1/order's body for ACK (default) or RESULT."""
    resp_type = p.get("newOrderRespType", "ACK") or "ACK"
    if resp_type not in ("ACK", "RESULT"):
        raise missing("newOrderRespType")
    eng = _engine(sim)
    ack, order = eng.place(p)
    return ack if resp_type == "ACK" else eng.order_json(order, "post")


async def h_batch_post(sim: BinanceSimulator, p: Params) -> Any:
    items = batch_items(p, ApiError(-4082, "Invalid number of batch place orders."))
    return _each(items, lambda ip: place_order(sim, ip))


async def h_batch_put(sim: BinanceSimulator, p: Params) -> Any:
    items = batch_items(p, ApiError(-1130, "Data sent for parameter 'batchOrders' is not valid."))
    return _each(items, _engine(sim).modify)


async def h_batch_delete(sim: BinanceSimulator, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    eng = _engine(sim)
    eng.spec(sym)
    ids_raw = p.get("orderIdList")
    cids_raw = p.get("origClientOrderIdList")
    if not ids_raw and not cids_raw:
        raise ApiError(
            -1102, "Param 'origClientOrderIdList' or 'orderIdList' must be sent, but both were empty/null!"
        )
    try:
        values = orjson.loads(ids_raw or cids_raw or "[]")
    except orjson.JSONDecodeError:
        raise ApiError(-1130, "Data sent for parameter 'orderIdList' is not valid.") from None
    # at most 10 ids (docs/binance-protocol.md, "REST endpoints")
    if not isinstance(values, list) or len(values) > 10:
        raise ApiError(-1130, "Data sent for parameter 'orderIdList' is not valid.")
    out: list[Any] = []
    for v in values:
        try:
            if ids_raw:
                out.append(eng.cancel(sym, str(v), None))
            else:
                out.append(eng.cancel(sym, None, str(v)))
        except ApiError as err:
            out.append(err.body())
    return out


async def h_countdown(sim: BinanceSimulator, p: Params) -> Any:
    """Dead-man switch: cancel all open orders of the symbol after countdownTime ms (0 = off)."""
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).spec(sym)
    raw = p.get("countdownTime", "")
    if not raw.isdigit():
        raise missing("countdownTime")
    ms = int(raw)
    sim.set_countdown(sym, ms)
    return {"symbol": sym, "countdownTime": raw}


async def h_user_trades(sim: BinanceSimulator, p: Params) -> Any:
    eng = _engine(sim)
    sym = _symbol(p)
    assert sym is not None
    spec = eng.spec(sym)
    trades = [t for t in eng.trades if t.symbol == sym]
    if p.get("orderId", "").isdigit():
        trades = [t for t in trades if t.order_id == int(p["orderId"])]
    limit = int(p["limit"]) if p.get("limit", "").isdigit() else 500
    return [
        {
            "symbol": t.symbol,
            "id": t.trade_id,
            "orderId": t.order_id,
            "side": t.side,
            "price": fixed(t.price, spec.price_precision),
            "qty": fixed(t.qty, spec.qty_precision),
            "realizedPnl": fixed(t.realized, 8),
            "quoteQty": fixed(t.quote_qty, 5),
            "commission": fixed(t.commission, 8),
            "commissionAsset": "USDT",
            "time": t.time,
            "positionSide": "BOTH",
            "buyer": t.side == "BUY",
            "maker": t.maker,
        }
        for t in trades[-limit:]
    ]


# --- algo service (Binance pages "New Algo Order", "Cancel Algo Order", "Query Algo Order")
async def h_algo_post(sim: BinanceSimulator, p: Params) -> Any:
    return sim.algo.place(p)


async def h_algo_delete(sim: BinanceSimulator, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).spec(sym)
    return sim.algo.cancel(p)


async def h_algo_get(sim: BinanceSimulator, p: Params) -> Any:
    algo = sim.algo.find(p)
    if algo is None:
        raise ApiError(-2013, "Order does not exist.")
    return sim.algo.algo_json(algo)


async def h_open_algos(sim: BinanceSimulator, p: Params) -> Any:
    sym = _symbol(p, required=False)
    if sym:
        _engine(sim).spec(sym)
    return [sim.algo.algo_json(a) for a in sim.algo.open_algos(sym)]


async def h_algo_cancel_all(sim: BinanceSimulator, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    sim.algo.cancel_all(sym)
    return {"code": 200, "msg": "The operation of cancel all open order is done."}


# --- listen key (USER_STREAM: API key, no signature; docs/binance-protocol.md, "User data stream")
async def h_listen_key_post(sim: BinanceSimulator, p: Params) -> Any:
    return {"listenKey": sim.streams.start_key()}


async def h_listen_key_put(sim: BinanceSimulator, p: Params) -> Any:
    return {"listenKey": sim.streams.keepalive(p.get("listenKey"))}  # the key is returned since 2024-04


async def h_listen_key_delete(sim: BinanceSimulator, p: Params) -> Any:
    sim.streams.close_key(p.get("listenKey"))
    return {}


# --- account
def _balance_fields(sim: BinanceSimulator) -> dict[str, str]:
    eng = _engine(sim)
    wallet = eng.wallet
    up = eng._unrealized()
    avail = eng._available()
    return {
        "wallet": fixed(wallet, 8),
        "up": fixed(up, 8),
        "avail": fixed(avail, 8),
        "margin": fixed(wallet + up, 8),
    }


async def h_balance(sim: BinanceSimulator, p: Params) -> Any:
    b = _balance_fields(sim)
    return [
        {
            "accountAlias": "SimAcct",
            "asset": "USDT",
            "balance": b["wallet"],
            "crossWalletBalance": b["wallet"],
            "crossUnPnl": b["up"],
            "availableBalance": b["avail"],
            "maxWithdrawAmount": b["avail"],
            "marginAvailable": True,
            "updateTime": sim.now_ms(),
        }
    ]


def _position_risk(sim: BinanceSimulator, sym: str) -> dict[str, Any]:
    eng = _engine(sim)
    spec = eng.specs[sym]
    pos = eng.positions[sym]
    mark = eng.mark(sym)
    up = (mark - pos.entry) * pos.amount if pos.amount else ZERO
    return {
        "symbol": sym,
        "positionAmt": fixed(pos.amount, spec.qty_precision),
        "entryPrice": fixed(pos.entry, 8) if pos.amount else "0.0",
        "breakEvenPrice": fixed(pos.entry, 8) if pos.amount else "0.0",
        "markPrice": fixed(mark, 8),
        "unRealizedProfit": fixed(up, 8),
        "liquidationPrice": "0",
        "leverage": str(pos.leverage),
        "maxNotionalValue": "1000000",
        "marginType": pos.margin_type,
        "isolatedMargin": "0.00000000",
        "isAutoAddMargin": "false",
        "positionSide": "BOTH",
        "notional": fixed(pos.amount * mark, 8),
        "isolatedWallet": "0",
        "updateTime": pos.update_time,
        "marginAsset": "USDT",
        "initialMargin": fixed(abs(pos.amount) * mark / pos.leverage, 8),
        "maintMargin": fixed(abs(pos.amount) * mark * Decimal("0.004"), 8),
        "adl": 0,
        "bidNotional": "0",
        "askNotional": "0",
    }


async def h_position_risk(sim: BinanceSimulator, p: Params) -> Any:
    syms, _single = _symbols_for(sim, p)
    return [_position_risk(sim, s) for s in syms]


async def h_account(sim: BinanceSimulator, p: Params) -> Any:
    b = _balance_fields(sim)
    eng = _engine(sim)
    positions = []
    for s in eng.symbols:
        pr = _position_risk(sim, s)
        positions.append(
            {
                "symbol": s,
                "positionSide": "BOTH",
                "positionAmt": pr["positionAmt"],
                "unrealizedProfit": pr["unRealizedProfit"],
                "isolatedMargin": "0",
                "notional": pr["notional"],
                "isolatedWallet": "0",
                "initialMargin": pr["initialMargin"],
                "maintMargin": pr["maintMargin"],
                "updateTime": pr["updateTime"],
                "leverage": pr["leverage"],
                "entryPrice": pr["entryPrice"],
                "isolated": False,
            }
        )
    asset = {
        "asset": "USDT",
        "walletBalance": b["wallet"],
        "unrealizedProfit": b["up"],
        "marginBalance": b["margin"],
        "maintMargin": "0",
        "initialMargin": "0",
        "positionInitialMargin": "0",
        "openOrderInitialMargin": "0",
        "crossWalletBalance": b["wallet"],
        "crossUnPnl": b["up"],
        "availableBalance": b["avail"],
        "maxWithdrawAmount": b["avail"],
        "marginAvailable": True,
        "updateTime": sim.now_ms(),
    }
    return {
        "feeTier": 0,
        "canTrade": True,
        "canDeposit": True,
        "canWithdraw": True,
        "feeBurn": False,
        "tradeGroupId": -1,
        "updateTime": 0,
        "multiAssetsMargin": False,
        "totalInitialMargin": "0",
        "totalMaintMargin": "0",
        "totalWalletBalance": b["wallet"],
        "totalUnrealizedProfit": b["up"],
        "totalMarginBalance": b["margin"],
        "totalPositionInitialMargin": "0",
        "totalOpenOrderInitialMargin": "0",
        "totalCrossWalletBalance": b["wallet"],
        "totalCrossUnPnl": b["up"],
        "availableBalance": b["avail"],
        "maxWithdrawAmount": b["avail"],
        "assets": [asset],
        "positions": positions,
    }


async def h_leverage(sim: BinanceSimulator, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).spec(sym)
    raw = p.get("leverage", "")
    if not raw.isdigit():
        raise missing("leverage")
    lev = int(raw)
    if not 1 <= lev <= 125:
        raise ApiError(-4028, f"Leverage {lev} is not valid")
    _engine(sim).positions[sym].leverage = lev
    return {"leverage": lev, "maxNotionalValue": "1000000", "symbol": sym}


async def h_margin_type(sim: BinanceSimulator, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).spec(sym)
    mt = (p.get("marginType") or "").upper()
    if mt not in ("ISOLATED", "CROSSED"):
        raise missing("marginType")
    pos = _engine(sim).positions[sym]
    new = "isolated" if mt == "ISOLATED" else "cross"
    if new == pos.margin_type:
        raise ApiError(-4046, "No need to change margin type.")
    pos.margin_type = new
    return {"code": 200, "msg": "success"}


async def h_dual_get(sim: BinanceSimulator, p: Params) -> Any:
    return {"dualSidePosition": False}


async def h_dual_post(sim: BinanceSimulator, p: Params) -> Any:
    if (p.get("dualSidePosition") or "").lower() == "false":
        raise ApiError(-4059, "No need to change position side.")
    raise ApiError(-4068, "The simulator only supports one-way mode (positionSide BOTH).")


async def h_multi_assets(sim: BinanceSimulator, p: Params) -> Any:
    return {"multiAssetsMargin": False}


async def h_commission(sim: BinanceSimulator, p: Params) -> Any:
    sym = _symbol(p)
    assert sym is not None
    _engine(sim).spec(sym)
    return {"symbol": sym, "makerCommissionRate": "0.000200", "takerCommissionRate": "0.000500"}


_BRACKETS = [
    (125, 50_000, 0, "0.004", "0"),
    (100, 600_000, 50_000, "0.005", "50"),
    (50, 3_000_000, 600_000, "0.01", "3050"),
    (20, 12_000_000, 3_000_000, "0.025", "48050"),
]


async def h_leverage_bracket(sim: BinanceSimulator, p: Params) -> Any:
    syms, single = _symbols_for(sim, p)
    out = [
        {
            "symbol": s,
            "notionalCoef": 1.0,
            "brackets": [
                {
                    "bracket": i + 1,
                    "initialLeverage": lev,
                    "notionalCap": cap,
                    "notionalFloor": floor,
                    "maintMarginRatio": float(mmr),
                    "cum": float(cum),
                }
                for i, (lev, cap, floor, mmr, cum) in enumerate(_BRACKETS)
            ],
        }
        for s in syms
    ]
    return out[0] if single else out


async def h_rate_limit_order(sim: BinanceSimulator, p: Params) -> Any:
    return [
        {
            "rateLimitType": "ORDERS",
            "interval": "SECOND",
            "intervalNum": 10,
            "limit": sim.limits["orders_10s"],
        },
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": sim.limits["orders_1m"]},
    ]


ROUTES: dict[tuple[str, str], Route] = {
    ("GET", "/fapi/v1/ping"): Route(h_ping, "NONE", _w(1)),
    ("GET", "/fapi/v1/time"): Route(h_time, "NONE", _w(1)),
    ("GET", "/fapi/v1/exchangeInfo"): Route(h_exchange_info, "NONE", _w(1)),
    ("GET", "/fapi/v1/ticker/price"): Route(h_ticker_price, "NONE", _w_sym(1, 2)),
    ("GET", "/fapi/v2/ticker/price"): Route(h_ticker_price, "NONE", _w_sym(1, 2)),
    ("GET", "/fapi/v1/ticker/bookTicker"): Route(h_book_ticker, "NONE", _w_sym(2, 5)),
    ("GET", "/fapi/v1/ticker/24hr"): Route(h_ticker_24hr, "NONE", _w_sym(1, 40)),
    ("GET", "/fapi/v1/depth"): Route(h_depth, "NONE", _w_depth),
    ("GET", "/fapi/v1/premiumIndex"): Route(h_premium_index, "NONE", _w_sym(1, 10)),
    ("POST", "/fapi/v1/order"): Route(h_order_post, "SIGNED", _w(0), orders=1),
    # modify: 1 on both order counters and 1 IP weight (Binance page "Modify Order")
    ("PUT", "/fapi/v1/order"): Route(h_order_put, "SIGNED", _w(1), orders=1),
    ("GET", "/fapi/v1/orderAmendment"): Route(h_order_amendments, "SIGNED", _w(1)),
    ("DELETE", "/fapi/v1/order"): Route(h_order_delete, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/order"): Route(h_order_get, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/openOrder"): Route(h_open_order_get, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/openOrders"): Route(h_open_orders, "SIGNED", _w_sym(1, 40)),
    ("GET", "/fapi/v1/allOrders"): Route(h_all_orders, "SIGNED", _w(5)),
    ("DELETE", "/fapi/v1/allOpenOrders"): Route(h_cancel_all, "SIGNED", _w(1)),
    ("POST", "/fapi/v1/batchOrders"): Route(h_batch_post, "SIGNED", _w(5), orders=5),
    ("PUT", "/fapi/v1/batchOrders"): Route(h_batch_put, "SIGNED", _w(5), orders=5),
    ("DELETE", "/fapi/v1/batchOrders"): Route(h_batch_delete, "SIGNED", _w(1)),
    ("POST", "/fapi/v1/countdownCancelAll"): Route(h_countdown, "SIGNED", _w(10)),
    ("GET", "/fapi/v1/userTrades"): Route(h_user_trades, "SIGNED", _w(5)),
    ("POST", "/fapi/v1/algoOrder"): Route(h_algo_post, "SIGNED", _w(0), orders=1),
    ("DELETE", "/fapi/v1/algoOrder"): Route(h_algo_delete, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/algoOrder"): Route(h_algo_get, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/openAlgoOrders"): Route(h_open_algos, "SIGNED", _w_sym(1, 40)),
    ("DELETE", "/fapi/v1/algoOpenOrders"): Route(h_algo_cancel_all, "SIGNED", _w(1)),
    ("POST", "/fapi/v1/listenKey"): Route(h_listen_key_post, "USER_STREAM", _w(1)),
    ("PUT", "/fapi/v1/listenKey"): Route(h_listen_key_put, "USER_STREAM", _w(1)),
    ("DELETE", "/fapi/v1/listenKey"): Route(h_listen_key_delete, "USER_STREAM", _w(1)),
    ("GET", "/fapi/v2/balance"): Route(h_balance, "SIGNED", _w(5)),
    ("GET", "/fapi/v3/balance"): Route(h_balance, "SIGNED", _w(5)),
    ("GET", "/fapi/v2/account"): Route(h_account, "SIGNED", _w(5)),
    ("GET", "/fapi/v3/account"): Route(h_account, "SIGNED", _w(5)),
    ("GET", "/fapi/v2/positionRisk"): Route(h_position_risk, "SIGNED", _w(5)),
    ("GET", "/fapi/v3/positionRisk"): Route(h_position_risk, "SIGNED", _w(5)),
    ("POST", "/fapi/v1/leverage"): Route(h_leverage, "SIGNED", _w(1)),
    ("POST", "/fapi/v1/marginType"): Route(h_margin_type, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/positionSide/dual"): Route(h_dual_get, "SIGNED", _w(30)),
    ("POST", "/fapi/v1/positionSide/dual"): Route(h_dual_post, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/multiAssetsMargin"): Route(h_multi_assets, "SIGNED", _w(30)),
    ("GET", "/fapi/v1/commissionRate"): Route(h_commission, "SIGNED", _w(20)),
    ("GET", "/fapi/v1/leverageBracket"): Route(h_leverage_bracket, "SIGNED", _w(1)),
    ("GET", "/fapi/v1/rateLimit/order"): Route(h_rate_limit_order, "SIGNED", _w(1)),
}
