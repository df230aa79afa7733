"""The names a newcomer imports from the package root, loaded lazily; each case runs in a fresh
interpreter so that modules other tests imported cannot hide a heavy import."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import trading_engine_python
from trading_engine_python import orders
from trading_engine_python._compat import NO_EXTENSIONS

ROOT_NAMES = (
    "OrderManager",
    "OrderState",
    "BinanceFuturesClient",
    "UserStreamService",
    "MarketStream",
    "BinanceSimulator",
)
SRC = str(Path(trading_engine_python.__file__).resolve().parents[1])


def run(code: str, **env: str) -> str:
    environ = {**os.environ, "PYTHONPATH": SRC, **env}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_importing_the_package_is_light() -> None:
    out = run(
        """
        import sys
        import trading_engine_python
        import trading_engine_python.orders
        heavy = sorted(m for m in ("aiohttp", "picows", "redis", "orjson", "trading_engine_python.sim",
                                    "trading_engine_python.orders.manager") if m in sys.modules)
        print(heavy)
        """
    )
    assert out.strip() == "[]"


def test_root_names_import_and_are_the_defining_objects() -> None:
    out = run(
        """
        import sys
        from trading_engine_python import (OrderManager, OrderState, BinanceFuturesClient,
                                           UserStreamService, MarketStream, BinanceSimulator)
        from trading_engine_python.orders import _core, manager
        from trading_engine_python.exchange.binance import BinanceFuturesClient as C
        from trading_engine_python.feed.user_stream import UserStreamService as U
        from trading_engine_python.feed.market_stream import MarketStream as M
        from trading_engine_python.sim import BinanceSimulator as S
        assert OrderManager is manager.OrderManager
        assert OrderState is _core.OrderState
        assert (BinanceFuturesClient, UserStreamService, MarketStream, BinanceSimulator) == (C, U, M, S)
        print(OrderState.__module__, "aiohttp" in sys.modules)
        """
    )
    module, aiohttp_loaded = out.split()
    assert module.startswith("trading_engine_python.orders._core_")
    assert aiohttp_loaded == "True"  # loaded on demand, by the client and the simulator


def test_order_state_is_the_live_core_class() -> None:
    code = """
        import trading_engine_python as te
        from trading_engine_python.orders import IMPLEMENTATION, OrderState
        assert te.OrderState is OrderState
        print(IMPLEMENTATION, OrderState.__module__)
        """
    assert run(code, TRADING_ENGINE_NO_EXTENSIONS="1").split() == [
        "python",
        "trading_engine_python.orders._core_py",
    ]
    if not NO_EXTENSIONS:
        assert run(code, TRADING_ENGINE_NO_EXTENSIONS="").split() == [
            "cython",
            "trading_engine_python.orders._core_c",
        ]


def test_orders_exports_the_manager_lazily() -> None:
    out = run(
        """
        import sys
        import trading_engine_python.orders as orders
        before = "trading_engine_python.orders.manager" in sys.modules
        from trading_engine_python.orders import OrderManager, OrderState
        print(before, OrderManager.__module__, "aiohttp" in sys.modules)
        """
    )
    assert out.split() == ["False", "trading_engine_python.orders.manager", "False"]


@pytest.mark.parametrize("module", [trading_engine_python, orders])
def test_all_and_dir(module: object) -> None:
    names = module.__all__  # type: ignore[attr-defined]
    assert len(set(names)) == len(names)
    for name in names:
        assert getattr(module, name) is not None
        assert name in dir(module)
    with pytest.raises(AttributeError, match="no_such_name"):
        module.no_such_name  # type: ignore[attr-defined]  # noqa: B018


def test_root_all_covers_the_brief_names() -> None:
    assert set(ROOT_NAMES) <= set(trading_engine_python.__all__)


KEYWORDS = ["leverage", "reduce_only", "time_in_force", "self_trade_prevention", "origin", "parent_id",
            "on_fill", "on_cancel", "on_partial"]
LIMIT_ONLY = ("time_in_force", "self_trade_prevention")


@pytest.mark.parametrize(
    ("method", "positional"),
    [
        ("place_market_order", ["sub_account_id", "symbol", "side", "quantity"]),
        ("place_limit_order", ["sub_account_id", "symbol", "side", "quantity", "price"]),
    ],
)
def test_place_methods_share_one_argument_order(method: str, positional: list[str]) -> None:
    import inspect

    from trading_engine_python import OrderManager

    params = list(inspect.signature(getattr(OrderManager, method)).parameters.values())[1:]
    kinds = inspect.Parameter
    assert [p.name for p in params if p.kind == kinds.POSITIONAL_OR_KEYWORD] == positional
    keyword_only = [p.name for p in params if p.kind == kinds.KEYWORD_ONLY]
    expected = [k for k in KEYWORDS if method == "place_limit_order" or k not in LIMIT_ONLY]
    assert keyword_only == expected
    assert len(params) == len(positional) + len(expected)


def test_public_methods_are_typed_with_order_state() -> None:
    import typing

    from trading_engine_python import OrderManager
    from trading_engine_python.exchange import ExchangeClient
    from trading_engine_python.orders._core_py import OrderState as PyOrderState

    hints = {name: typing.get_type_hints(getattr(OrderManager, name))
             for name in ("place_market_order", "place_limit_order", "replace_order", "get_order",
                          "get_active_orders")}
    # Type checkers see the pure twin's class (the typed reference); at run time it is the live core's.
    state = hints["place_limit_order"]["return"]
    assert state in (PyOrderState, orders.OrderState)
    assert hints["place_market_order"]["return"] is state
    assert hints["replace_order"]["return"] == state | None
    assert hints["get_order"]["return"] == state | None
    assert hints["get_active_orders"]["return"] == list[state]  # type: ignore[valid-type]
    # The constructor names redis' type only for type checkers (redis is imported lazily).
    init = typing.get_type_hints(OrderManager.__init__, localns={"Redis": object})
    assert init["exchange_client"] is ExchangeClient
    for name, h in hints.items():
        assert typing.Any not in h.values(), name
