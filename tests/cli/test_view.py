"""The demo view's pieces, without a terminal: event lines from real captured order events, net
positions from fill callbacks, cancels that include a replace's own cancel, and one rendered frame
(rich's recording console) whose table and panel agree."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from trading_engine_python.cli.algos import Algo, AlgoStats, Position
from trading_engine_python.cli.view import (
    View,
    event_line,
    merge_positions,
    notional_fp2,
    plain_number,
    position_text,
    signed_notional,
    signed_qty,
)
from trading_engine_python.orders._fixed import to_fixed

WS = Path(__file__).resolve().parents[1] / "data" / "ws"


def order_events(name: str) -> list[dict[str, Any]]:
    msgs = [json.loads(line) for line in (WS / name).read_text().splitlines() if line.strip()]
    return [m["o"] for m in msgs if m.get("e") == "ORDER_TRADE_UPDATE"]


def test_event_lines_of_a_real_limit_order() -> None:
    new, cancelled = order_events("otu_real_moxt_btcusdt_limit_new_then_canceled.jsonl")
    assert event_line(new) == "NEW web_w4Sot5R1ym9ChzWfGdAm BTCUSDT BUY LIMIT 0/0.01 @ 20000"
    assert event_line(cancelled) == "CANCELED web_w4Sot5R1ym9ChzWfGdAm BTCUSDT BUY LIMIT 0/0.01 @ 20000"


def test_event_lines_of_real_market_fills() -> None:
    events = order_events("seq_real_defi_xrpusdt_market_then_stop_partial_fills_2021.jsonl")
    lines = [event_line(o) for o in events]
    assert lines[0] == "NEW web_0Prp0GPBF3qmNbYihBgn XRPUSDT BUY MARKET 0/22.2 @ MKT"
    assert lines[1] == (
        "FILLED web_0Prp0GPBF3qmNbYihBgn XRPUSDT BUY MARKET 22.2/22.2 @ MKT avg 0.6738 +22.2 @ 0.6738"
    )
    partial = next(line for line in lines if line.startswith("PARTIALLY_FILLED"))
    assert partial.endswith("SELL MARKET 8.7/22.2 @ MKT avg 0.6716 +8.7 @ 0.6716")
    final = next(line for line in lines[2:] if line.startswith("FILLED"))
    assert " 22.2/22.2 @ MKT avg " in final and final.split(" +")[1].startswith("13.5 @ ")
    # Every line carries filled/quantity @ price; only trades carry the +last fill.
    for o, line in zip(events, lines, strict=True):
        assert f" {plain_number(o['z'])}/{plain_number(o['q'])} @ " in line
        assert (" +" in line) == (o["x"] == "TRADE")


@pytest.mark.parametrize(
    ("text", "out"),
    [("0.00400", "0.004"), ("20000", "20000"), ("1E+3", "1000"), ("0.0", "0"), ("-0", "0"), ("x", "x")],
)
def test_plain_number(text: str, out: str) -> None:
    assert plain_number(text) == out


def test_signed_figures() -> None:
    assert (signed_qty(400_000), signed_qty(-10_000_000), signed_qty(0)) == ("+0.004", "-0.1", "0")
    fp2 = to_fixed("0.004") * to_fixed("65000.1")
    assert signed_notional(fp2) == "+260.00" and signed_notional(-fp2) == "-260.00"
    assert signed_notional(to_fixed("1000") * to_fixed("1234.5")) == "+1,234,500.00"
    assert signed_notional(0) == "0.00"


def fill(
    stats: AlgoStats, cid: str, symbol: str, side: str, filled: str, last_price: str, final: bool = False
) -> None:
    order = SimpleNamespace(
        client_order_id=cid, symbol=symbol, side=side, filled_fp=to_fixed(filled),
        last_fill_price=float(last_price),
    )
    stats.add_fill(order, final=final)


def test_positions_from_fills_signed_by_side() -> None:
    st = AlgoStats()
    fill(st, "a", "BTCUSDT", "BUY", "0.002", "65000.1")
    fill(st, "a", "BTCUSDT", "BUY", "0.005", "65000.3")  # cumulative: +0.003 more
    fill(st, "a", "BTCUSDT", "BUY", "0.005", "65000.3")  # the same fill again: nothing more
    fill(st, "b", "BTCUSDT", "SELL", "0.001", "65010")
    fill(st, "c", "ETHUSDT", "SELL", "0.1", "3000.5")
    btc = st.positions["BTCUSDT"]
    assert btc.qty_fp == to_fixed("0.004")
    expected = (
        to_fixed("0.002") * to_fixed("65000.1")
        + to_fixed("0.003") * to_fixed("65000.3")
        - to_fixed("0.001") * to_fixed("65010")
    )
    assert btc.notional_fp2 == expected
    assert position_text(st.positions) == "BTCUSDT +0.004 ETHUSDT -0.1"
    assert notional_fp2(st.positions) == expected - to_fixed("0.1") * to_fixed("3000.5")
    fill(st, "d", "ETHUSDT", "BUY", "0.1", "3000", final=True)
    assert position_text(st.positions) == "BTCUSDT +0.004"
    assert "d" not in st._counted  # a completely filled order is not remembered


def test_final_fill_after_partials_counts_the_rest() -> None:
    st = AlgoStats()
    fill(st, "a", "BTCUSDT", "SELL", "0.002", "65000")
    fill(st, "a", "BTCUSDT", "SELL", "0.005", "65001", final=True)
    assert st.positions["BTCUSDT"].qty_fp == -to_fixed("0.005") and not st._counted


def test_merge_positions_and_flat() -> None:
    a = {"BTCUSDT": Position(to_fixed("0.002"), 5), "ETHUSDT": Position(to_fixed("1"), 7)}
    b = {"BTCUSDT": Position(-to_fixed("0.002"), -5)}
    merged = merge_positions([a, b])
    assert position_text(merged) == "ETHUSDT +1" and notional_fp2(merged) == 7
    assert position_text({}) == "flat" and position_text(merge_positions([b, b, a, a])) != "flat"
    assert a["BTCUSDT"].qty_fp == to_fixed("0.002")  # inputs untouched


class _Manager:
    def __init__(self, new: Any) -> None:
        self.new = new

    async def replace_order(self, cid: str, price: str, qty: str | None) -> Any:
        return self.new


@pytest.mark.parametrize("replaced", [True, False])
async def test_a_replace_counts_the_old_orders_cancel(replaced: bool) -> None:
    # The manager holds back on_cancel of a replaced order; the feed still says CANCELED for it.
    new = SimpleNamespace(client_order_id="new") if replaced else None
    algo = Algo(_Manager(new), "sub", ["BTCUSDT"], [])
    old = SimpleNamespace(client_order_id="old")
    assert await algo._replace(old, Decimal("65000.1")) is new
    counts = (algo.stats.replaces, algo.stats.cancels, algo.stats.placed)
    assert counts == ((1, 1, 0) if replaced else (0, 0, 0))


def _latency() -> Any:
    return SimpleNamespace(percentiles=lambda *qs, recent=True: [1e-4 for _ in qs])


def _demo(algos: list[Algo], recent: list[str]) -> Any:
    manager = SimpleNamespace(
        stats=lambda: {"live": 1, "events": None, "malformed": 0},
        get_active_orders=lambda sub=None: [object()] if sub == "mm-btc" else [],
        implementation="python",
        entry_latency=lambda: {"modify_ws": {"n": 3, "p50_ms": 0.4, "p99_ms": 0.9}},
    )

    def totals() -> dict[str, int]:
        keys = ("placed", "fills", "partials", "filled", "cancels", "rejected", "replaces", "errors")
        return {k: sum(getattr(a.stats, k) for a in algos) for k in keys}

    return SimpleNamespace(
        algos=algos,
        totals=totals,
        manager=manager,
        tap=SimpleNamespace(to_callback=_latency(), frame=_latency()),
        client=SimpleNamespace(all=_latency()),
        lag=None,
        user_stream=SimpleNamespace(stats=lambda: {"frames": 12, "reconnects": 0}),
        market_stream=SimpleNamespace(stats=lambda: {"reconnects": 0}),
        raw_client=SimpleNamespace(stats={"paced_waits": 0}),
        faults=None,
        recent_events=recent,
        market=SimpleNamespace(best={}),
        elapsed=lambda: 3.0,
        loop_name="asyncio",
        args=SimpleNamespace(duration=5.0),
        redis_note="no redis",
        registry=[_algo("PMStaker_STM_1", "cancelled"), _algo("PMStaker_STM_2", "active"),
                  SimpleNamespace(is_algo=False, client_order_id="plain")],
    )


def _algo(cid: str, state: str) -> Any:
    return SimpleNamespace(is_algo=True, client_order_id=cid, state=state, symbol="BTCUSDT", side="SELL",
                           order_type="STOP_MARKET", filled_fp=0, quantity_fp=to_fixed("0.004"))


def test_rendered_view_shows_positions_and_agreeing_cancels() -> None:
    from rich.console import Console

    scalper = Algo(None, "mm-btc", ["BTCUSDT"], [])
    scalper.kind = "scalper"
    scalper.stats = AlgoStats(placed=2, replaces=3, cancels=4, fills=1, partials=1)
    fill(scalper.stats, "x", "BTCUSDT", "SELL", "0.004", "65000")
    taker = Algo(None, "taker", ["BTCUSDT", "ETHUSDT"], [])
    taker.kind = "taker"
    taker.triggers = {"PMStaker_STM_2": Decimal("64000")}  # type: ignore[attr-defined]
    taker.stats = AlgoStats(placed=1, fills=1, filled=1)
    fill(taker.stats, "y", "ETHUSDT", "BUY", "0.5", "3000")
    lines = [event_line(o) for o in order_events("otu_real_moxt_btcusdt_limit_new_then_canceled.jsonl")]
    view = View(_demo([scalper, taker], lines), tty=False)
    console = Console(record=True, width=240, color_system=None)
    console.print(view.render())
    text = console.export_text()
    assert "net position" in text and "notional" in text
    row = next(line for line in text.splitlines() if "mm-btc" in line)
    assert "BTCUSDT -0.004" in row and "-260.00" in row
    total = next(line for line in text.splitlines() if "total" in line)
    assert "BTCUSDT -0.004 ETHUSDT +0.5" in total and "+1,240.00" in total
    assert lines[1] in text  # the CANCELED line, counted in the cancels column
    # The algo (conditional) orders panel: each with its state, and the count by state.
    assert "algo (conditional) orders: active 1, cancelled 1" in text
    assert "ACTIVE PMStaker_STM_2 BTCUSDT SELL STOP_MARKET 0/0.004 trigger 64000" in text
    assert "CANCELLED PMStaker_STM_1 BTCUSDT SELL STOP_MARKET 0/0.004" in text
    plain = view.line()
    assert "cancels=4" in plain and "net notional=+1,240.00" in plain
    assert "| algo orders: active 1, cancelled 1" in plain
    assert "reprice/ws p50 400µs p99 900µs" in text and "entry: reprice/ws p50 400µs" in plain
