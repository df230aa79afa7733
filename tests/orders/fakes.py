"""A scripted fake ExchangeClient: right for unit tests of the manager's logic, nowhere else."""

from __future__ import annotations

import asyncio
from collections import deque
from typing import Any

from trading_engine_python.exchange import ExchangeError


class FakeExchange:
    """Answers each call from a per-method script (a value, an exception, or a callable), else a
    plain Binance-shaped reply. Every call is recorded in ``calls``."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        methods = ("place_order", "place_algo_order", "cancel_order", "get_order", "get_open_orders")
        self.scripts: dict[str, deque[Any]] = {m: deque() for m in methods}
        self.next_order_id = 8389765739703625592  # > 2^53, like real Binance ids
        self.open_orders: list[dict[str, Any]] = []
        self.gate: asyncio.Event | None = None  # when set up, calls wait for it

    def script(self, method: str, *answers: Any) -> None:
        self.scripts[method].extend(answers)

    async def _answer(self, method: str, default: Any, **kw: Any) -> Any:
        self.calls.append((method, kw))
        if self.gate is not None:
            await self.gate.wait()
        if self.scripts[method]:
            answer = self.scripts[method].popleft()
            if callable(answer) and not isinstance(answer, type):
                answer = answer(**kw)
                if asyncio.iscoroutine(answer):
                    answer = await answer
            is_exc_type = isinstance(answer, type) and issubclass(answer, BaseException)
            if isinstance(answer, BaseException) or is_exc_type:
                raise answer
            return answer
        if isinstance(default, BaseException):
            raise default
        return default

    async def place_order(self, symbol: str, side: str, order_type: str, quantity: str, *,
                          price: str | None = None, client_order_id: str, reduce_only: bool = False,
                          time_in_force: str | None = None) -> dict[str, Any]:
        assert isinstance(quantity, str) and (price is None or isinstance(price, str))
        self.next_order_id += 1
        reply = {"orderId": self.next_order_id, "clientOrderId": client_order_id, "symbol": symbol,
                 "status": "NEW", "side": side, "type": order_type, "origQty": quantity,
                 "price": price or "0", "executedQty": "0", "avgPrice": "0.00"}
        return await self._answer("place_order", reply, symbol=symbol, side=side, order_type=order_type,
                                  quantity=quantity, price=price, client_order_id=client_order_id,
                                  reduce_only=reduce_only, time_in_force=time_in_force)

    async def place_algo_order(self, symbol: str, side: str, order_type: str, quantity: str | None,
                               **kw: Any) -> dict[str, Any]:
        # POST /fapi/v1/algoOrder answers with an algoId (docs/binance-protocol.md, "Algo orders").
        self.next_order_id += 1
        return await self._answer("place_algo_order", {"algoId": self.next_order_id}, symbol=symbol,
                                  side=side, order_type=order_type, quantity=quantity, **kw)

    async def cancel_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        return await self._answer("cancel_order", {"clientOrderId": client_order_id, "status": "CANCELED"},
                                  symbol=symbol, client_order_id=client_order_id)

    async def get_order(self, symbol: str, *, client_order_id: str) -> dict[str, Any]:
        return await self._answer("get_order", ExchangeError(-2013, "Order does not exist."),
                                  symbol=symbol, client_order_id=client_order_id)

    async def get_open_orders(self, symbol: str | None = None) -> list[dict[str, Any]]:
        return await self._answer("get_open_orders", list(self.open_orders), symbol=symbol)  # type: ignore[no-any-return]

    def sent(self, method: str) -> list[dict[str, Any]]:
        return [kw for m, kw in self.calls if m == method]
