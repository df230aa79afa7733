"""The Algo service: conditional orders (STOP, STOP_MARKET, TAKE_PROFIT, TAKE_PROFIT_MARKET,
TRAILING_STOP_MARKET) that live outside the order book until a price triggers them, then place a LIMIT
or MARKET order in the engine (docs/binance-protocol.md, "Algo orders"; Binance pages "New Algo Order",
"Cancel Algo Order", "Query Algo Order", "Event: Algo Order Update").

Event order on a trigger: ALGO_UPDATE TRIGGERING, ALGO_UPDATE TRIGGERED (``ai`` = the new order's id),
the new order's ORDER_TRADE_UPDATEs (``c`` = clientAlgoId, ``ot`` = the algo type, ``sp`` = the trigger
price), then ALGO_UPDATE FINISHED (``ap``/``aq`` = its average price and filled quantity) once that order
is final. A cancel sends ALGO_UPDATE CANCELED; a triggered order the engine refuses, REJECTED.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ._engine import ALGO_TYPES, CLIENT_ID_RE, TIFS, ApiError, Engine, Order, SymbolSpec, missing
from ._fmt import ZERO, exceeds_precision, fixed, parse_decimal, plain

ALGO_ID_START = 1000000033225453  # the size of real algoIds (the ALGO_UPDATE sample's aid)
OPEN_ALGO = frozenset({"NEW"})
MAX_ALGO_ORDERS = 10  # MAX_NUM_ALGO_ORDERS filter of exchangeInfo
WORKING_TYPES = frozenset({"CONTRACT_PRICE", "MARK_PRICE"})
MARKET_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"})


@dataclass
class AlgoOrder:
    algo_id: int
    client_algo_id: str
    symbol: str
    side: str
    type: str
    tif: str
    qty: Decimal  # 0 with closePosition
    price: Decimal  # 0 for the *_MARKET types
    trigger_price: Decimal  # for a trailing stop: the current stop level once activated
    working_type: str
    reduce_only: bool
    close_position: bool
    price_protect: bool
    stp: str
    activate_price: Decimal | None
    callback_rate: Decimal | None
    gtd: int
    create_time: int
    update_time: int
    trigger_time: int = 0
    status: str = "NEW"
    actual_order_id: int = 0
    actual_type: str = ""
    activated: bool = False  # trailing stop: activatePrice reached
    extreme: Decimal = ZERO  # trailing stop: best price since activation
    reject_msg: str = ""


class AlgoService:
    """Algo orders of the simulated account; ``check`` runs after every price move."""

    def __init__(self, engine: Engine, emit: Callable[[dict[str, object]], None]) -> None:
        self.engine = engine
        self.emit = emit
        self.algos: dict[int, AlgoOrder] = {}
        self._next_id = ALGO_ID_START
        self._auto = 0
        self._by_order: dict[int, AlgoOrder] = {}  # created orderId -> algo
        engine.after_price = self.check
        engine.on_final = self._order_final

    # ------------------------------------------------------------------ lookup
    def find(self, p: dict[str, str]) -> AlgoOrder | None:
        raw_id = p.get("algoId")
        cid = p.get("clientAlgoId")
        if raw_id:
            if not raw_id.isdigit():
                raise ApiError(
                    -1100, "Illegal characters found in parameter 'algoId'; legal range is '^[0-9]{1,20}$'."
                )
            return self.algos.get(int(raw_id))
        if cid:
            found = [a for a in self.algos.values() if a.client_algo_id == cid]
            return found[-1] if found else None
        raise ApiError(-1102, "Param 'clientAlgoId' or 'algoId' must be sent, but both were empty/null!")

    def open_algos(self, symbol: str | None = None) -> list[AlgoOrder]:
        return [
            a for a in self.algos.values() if a.status in OPEN_ALGO and (symbol is None or a.symbol == symbol)
        ]

    # ------------------------------------------------------------------ place / cancel
    def _decimal(self, spec: SymbolSpec, raw: str | None, name: str, tick: bool = True) -> Decimal:
        if raw is None or raw == "":
            raise missing(name)
        value = parse_decimal(raw)
        if value is None or value <= 0:
            raise missing(name)
        if tick:
            if exceeds_precision(value, spec.price_precision):
                raise ApiError(-1111, "Precision is over the maximum defined for this asset.")
            if value % spec.tick != 0:
                raise ApiError(-4014, "Price not increased by tick size.")
        return value

    def _reference(self, symbol: str, working_type: str) -> Decimal:
        """CONTRACT_PRICE = the last (contract) price, MARK_PRICE = the mark price."""
        eng = self.engine
        return eng.mark(symbol) if working_type == "MARK_PRICE" else eng.books[symbol].price

    def place(self, p: dict[str, str]) -> dict[str, object]:
        """POST /fapi/v1/algoOrder, ws-fapi algoOrder.place."""
        eng = self.engine
        algo_type = p.get("algoType") or ""
        if not algo_type:
            raise missing("algoType")
        if algo_type != "CONDITIONAL":  # the only algoType of USD-M futures
            raise missing("algoType")
        symbol, spec, side, otype = eng.order_basics(p)
        if otype not in ALGO_TYPES:
            raise ApiError(-1116, "Invalid orderType.")
        if (p.get("positionSide") or "BOTH") != "BOTH":
            raise ApiError(-4061, "Order's position side does not match user's setting.")
        cid = p.get("clientAlgoId") or ""
        if not cid:
            self._auto += 1
            cid = f"simalgo{self._auto:015d}"
        elif not CLIENT_ID_RE.match(cid):
            raise ApiError(-4015, "Client order id is not valid.")
        if any(a.client_algo_id == cid for a in self.open_algos()):
            raise ApiError(-4116, "clientOrderId is duplicated")
        close_position = (p.get("closePosition") or "false").lower() == "true"
        reduce_only = (p.get("reduceOnly") or "false").lower() == "true"
        if close_position:
            if otype not in ("STOP_MARKET", "TAKE_PROFIT_MARKET"):
                raise ApiError(-1106, "Parameter 'closePosition' sent when not required.")
            if p.get("quantity"):
                raise ApiError(-1106, "Parameter 'quantity' sent when not required.")
            if reduce_only:
                raise ApiError(-1106, "Parameter 'reduceOnly' sent when not required.")
            qty = ZERO
        else:
            qty = eng._qty(spec, p.get("quantity"), "quantity", otype in MARKET_TYPES)
        if otype in MARKET_TYPES:
            if p.get("price"):
                raise ApiError(-1106, "Parameter 'price' sent when not required.")
            price = ZERO
        else:
            price = eng._price(spec, p.get("price"))
        tif = p.get("timeInForce") or "GTC"
        if tif not in TIFS:
            raise ApiError(-1115, "Invalid timeInForce.")
        working_type = p.get("workingType") or "CONTRACT_PRICE"
        if working_type not in WORKING_TYPES:
            raise missing("workingType")
        stp = p.get("selfTradePreventionMode") or "NONE"
        if stp not in ("NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"):
            raise missing("selfTradePreventionMode")
        ref = self._reference(symbol, working_type)
        activate: Decimal | None = None
        callback: Decimal | None = None
        if otype == "TRAILING_STOP_MARKET":
            callback = self._decimal(spec, p.get("callbackRate"), "callbackRate", tick=False)
            if not Decimal("0.1") <= callback <= Decimal("10"):  # 0.1 .. 10 (%)
                raise missing("callbackRate")
            raw_act = p.get("activatePrice") or p.get("activationPrice")
            if raw_act:
                activate = self._decimal(spec, raw_act, "activatePrice")
                # a BUY trailing stop activates when the price falls to activatePrice, a SELL when it rises
                if (side == "BUY" and activate >= ref) or (side == "SELL" and activate <= ref):
                    raise ApiError(-2021, "Order would immediately trigger.")
            trigger = ZERO
        else:
            trigger = self._decimal(spec, p.get("triggerPrice") or p.get("stopPrice"), "triggerPrice")
            if self._crossed(otype, side, trigger, ref):
                raise ApiError(-2021, "Order would immediately trigger.")
        if len(self.open_algos(symbol)) >= MAX_ALGO_ORDERS:
            raise ApiError(-4045, "Reach max stop order limit.")
        now = eng.now_ms()
        algo = AlgoOrder(
            self._next_id,
            cid,
            symbol,
            side,
            otype,
            tif,
            qty,
            price,
            trigger,
            working_type,
            reduce_only,
            close_position,
            (p.get("priceProtect") or "false").lower() == "true",
            stp,
            activate,
            callback,
            0,
            now,
            now,
        )
        self._next_id += 1
        if otype == "TRAILING_STOP_MARKET" and activate is None:
            algo.activated = True  # no activatePrice: trails from the current price
            algo.extreme = ref
            algo.trigger_price = self._trail_level(algo)
        self.algos[algo.algo_id] = algo
        self._emit(algo, now)
        return self.algo_json(algo)

    def cancel(self, p: dict[str, str]) -> dict[str, object]:
        """DELETE /fapi/v1/algoOrder, ws-fapi algoOrder.cancel; -2011 unless the algo order is open."""
        algo = self.find(p)
        if algo is None or algo.status not in OPEN_ALGO:
            raise ApiError(-2011, "Unknown order sent.")
        self._cancel(algo)
        return {"algoId": algo.algo_id, "clientAlgoId": algo.client_algo_id, "code": "200", "msg": "success"}

    def _cancel(self, algo: AlgoOrder) -> None:
        now = self.engine.now_ms()
        algo.status = "CANCELED"
        algo.update_time = now
        self._emit(algo, now)

    def cancel_all(self, symbol: str) -> None:
        self.engine.spec(symbol)
        for algo in self.open_algos(symbol):
            self._cancel(algo)

    # ------------------------------------------------------------------ triggers
    @staticmethod
    def _crossed(otype: str, side: str, trigger: Decimal, ref: Decimal) -> bool:
        """STOP*: BUY when the price rises to the trigger, SELL when it falls to it. TAKE_PROFIT*: the
        opposite (BUY on a fall, SELL on a rise)."""
        rising = (side == "BUY") == otype.startswith("STOP")
        return ref >= trigger if rising else ref <= trigger

    def _trail_level(self, algo: AlgoOrder) -> Decimal:
        spec = self.engine.specs[algo.symbol]
        assert algo.callback_rate is not None
        rate = algo.callback_rate / 100
        level = algo.extreme * (1 - rate) if algo.side == "SELL" else algo.extreme * (1 + rate)
        return (level / spec.tick).to_integral_value() * spec.tick

    def check(self, symbol: str) -> None:
        """After a price move: advance trailing stops and trigger every crossed algo order."""
        for algo in list(self.open_algos(symbol)):
            ref = self._reference(symbol, algo.working_type)
            if algo.type == "TRAILING_STOP_MARKET":
                if not algo.activated:
                    act = algo.activate_price
                    assert act is not None
                    if (algo.side == "SELL" and ref >= act) or (algo.side == "BUY" and ref <= act):
                        algo.activated = True
                        algo.extreme = ref
                    else:
                        continue
                better = ref > algo.extreme if algo.side == "SELL" else ref < algo.extreme
                if better:
                    algo.extreme = ref
                algo.trigger_price = self._trail_level(algo)
                hit = ref <= algo.trigger_price if algo.side == "SELL" else ref >= algo.trigger_price
                if hit:
                    self._trigger(algo)
            elif self._crossed(algo.type, algo.side, algo.trigger_price, ref):
                self._trigger(algo)

    def _trigger(self, algo: AlgoOrder) -> None:
        eng = self.engine
        now = eng.now_ms()
        algo.status = "TRIGGERING"
        algo.trigger_time = now
        algo.update_time = now
        self._emit(algo, now)
        spec = eng.specs[algo.symbol]
        market = algo.type in MARKET_TYPES
        qty = algo.qty
        reduce_only = algo.reduce_only
        if algo.close_position:
            qty = eng._reducible(algo.symbol, algo.side)
            reduce_only = True
        params = {
            "symbol": algo.symbol,
            "side": algo.side,
            "type": "MARKET" if market else "LIMIT",
            "quantity": fixed(qty, spec.qty_precision),
            "newClientOrderId": algo.client_algo_id,
            "reduceOnly": "true" if reduce_only else "false",
            "selfTradePreventionMode": algo.stp,
        }
        if not market:
            params["price"] = fixed(algo.price, spec.price_precision)
            params["timeInForce"] = algo.tif

        def accepted(order: Order) -> None:
            order.orig_type = algo.type
            order.stop_price = algo.trigger_price
            order.algo_id = algo.algo_id
            algo.status = "TRIGGERED"
            algo.actual_order_id = order.order_id
            algo.actual_type = order.type
            self._by_order[order.order_id] = algo
            self._emit(algo, now)

        try:
            if qty <= 0:
                raise ApiError(-2022, "ReduceOnly Order is rejected.")
            eng.place(params, algo=accepted)
        except ApiError as err:
            algo.status = "REJECTED"
            algo.reject_msg = err.msg
            algo.update_time = now
            self._emit(algo, now)

    def _order_final(self, order: Order) -> None:
        algo = self._by_order.pop(order.order_id, None)
        if algo is None:
            return
        now = self.engine.now_ms()
        algo.status = "FINISHED"
        algo.update_time = now
        self._emit(algo, now, order)

    # ------------------------------------------------------------------ JSON
    def algo_json(self, algo: AlgoOrder) -> dict[str, object]:
        """New/Query Algo Order response (the SDK's QueryAlgoOrderResponse keys)."""
        spec = self.engine.specs[algo.symbol]
        pp, qp = spec.price_precision, spec.qty_precision
        order = self.engine.orders.get(algo.actual_order_id)
        actual_price = fixed(self.engine.avg_price(order), pp) if order is not None else "0"
        out: dict[str, Any] = {
            "algoId": algo.algo_id,
            "clientAlgoId": algo.client_algo_id,
            "algoType": "CONDITIONAL",
            "orderType": algo.type,
            "symbol": algo.symbol,
            "side": algo.side,
            "positionSide": "BOTH",
            "timeInForce": algo.tif,
            "quantity": fixed(algo.qty, qp),
            "algoStatus": algo.status,
            "actualOrderId": str(algo.actual_order_id) if algo.actual_order_id else "",
            "actualPrice": actual_price,
            "triggerPrice": fixed(algo.trigger_price, pp),
            "price": fixed(algo.price, pp),
            "icebergQuantity": None,
            "selfTradePreventionMode": algo.stp,
            "workingType": algo.working_type,
            "priceMatch": "NONE",
            "closePosition": algo.close_position,
            "priceProtect": algo.price_protect,
            "reduceOnly": algo.reduce_only,
            "createTime": algo.create_time,
            "updateTime": algo.update_time,
            "triggerTime": algo.trigger_time,
            "goodTillDate": algo.gtd,
        }
        if algo.type == "TRAILING_STOP_MARKET":
            out["activatePrice"] = fixed(algo.activate_price, pp) if algo.activate_price is not None else ""
            out["callbackRate"] = plain(algo.callback_rate) if algo.callback_rate is not None else ""
        return out

    def _emit(self, algo: AlgoOrder, now: int, order: Order | None = None) -> None:
        """ALGO_UPDATE, keys as the ALGO_UPDATE sample (tests/data/ws/algo_update_*.jsonl)."""
        o: dict[str, object] = {
            "caid": algo.client_algo_id,
            "aid": algo.algo_id,
            "at": "CONDITIONAL",
            "o": algo.type,
            "s": algo.symbol,
            "S": algo.side,
            "ps": "BOTH",
            "f": algo.tif,
            "q": plain(algo.qty),
            "X": algo.status,
            "ai": str(algo.actual_order_id) if algo.actual_order_id else "",
        }
        if algo.actual_order_id:
            child = order or self.engine.orders.get(algo.actual_order_id)
            avg = self.engine.avg_price(child) if child is not None else ZERO
            o["ap"] = plain(avg)
            o["aq"] = plain(child.executed) if child is not None else "0"
            o["act"] = algo.actual_type
        o.update(
            {
                "tp": plain(algo.trigger_price),
                "p": plain(algo.price),
                "V": algo.stp,
                "wt": algo.working_type,
                "pm": "NONE",
                "cp": algo.close_position,
                "pP": algo.price_protect,
                "R": algo.reduce_only,
                "tt": algo.trigger_time,
                "gtd": algo.gtd,
            }
        )
        if algo.reject_msg:
            o["rm"] = algo.reject_msg
        self.emit({"e": "ALGO_UPDATE", "T": now, "E": now + 1, "o": o})
