"""`demo` end to end (a real subprocess: simulator, Redis, REST, streams, algos), on both cores.

While it runs, its Prometheus endpoint is scraped; after it, the exit status and the summary say
whether every order matched the simulator. Also the reconciliation check itself on made-up
records, so that a difference is shown to fail it.
"""

from __future__ import annotations

import argparse
import re
import shutil
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from trading_engine_python.cli.demo import Demo
from trading_engine_python.orders._fixed import to_fixed

from ..conftest import Implementation
from ._proc import free_port, run, spawn


@dataclass
class DemoRun:
    impl: str
    returncode: int
    stdout: str
    stderr: str
    metrics: str


@pytest.fixture(scope="module")
def demo_run(impl: Implementation) -> Iterator[DemoRun]:
    """One demo run per core, shared by the tests of this module."""
    port = free_port()
    proc = spawn(
        "demo", "--duration", "8", "--seed", "7", "--metrics-port", str(port), "--implementation", impl.name
    )
    metrics = ""
    try:
        deadline = time.monotonic() + 40
        url = f"http://127.0.0.1:{port}/metrics"
        # Scrape mid-run, once orders have gone through (the endpoint comes up before the algos start).
        while proc.poll() is None and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(url, timeout=2) as r:
                    text = r.read().decode()
            except OSError:
                time.sleep(0.1)
                continue
            metrics = text
            if _value(text, "trading_engine_fills_total") >= 5:
                break
            time.sleep(0.3)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    yield DemoRun(impl.name, proc.returncode, out, err, metrics)


def _value(text: str, name: str, labels: str = "") -> float:
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+-]+)$", text, re.MULTILINE)
    return float(m.group(1)) if m else -1.0


def test_demo_exits_0_with_every_order_reconciled(demo_run: DemoRun) -> None:
    assert demo_run.returncode == 0, demo_run.stdout[-3000:] + demo_run.stderr[-3000:]
    out = demo_run.stdout
    m = re.search(r"reconciliation: all (\d+) orders match the simulator", out)
    assert m is not None, out[-3000:]
    assert int(m.group(1)) > 10
    assert f"order core {demo_run.impl}" in out
    # The scenario really happened: partial fills, replaces, market orders, events through Redis.
    fills = re.search(r"fill events (\d+) \(partial (\d+), orders filled (\d+)\)", out)
    assert fills is not None and int(fills.group(2)) > 0 and int(fills.group(3)) > 0
    # Reprices: amended in place over ws-fapi (the default order entry), never a fallback to REST.
    assert int(re.search(r"(\d+) repriced in place", out).group(1)) > 0  # type: ignore[union-attr]
    entry = re.search(r"order entry \(ws; .*requests ws (\d+), REST (\d+) \(fallbacks (\d+)\)", out)
    assert entry is not None and int(entry.group(1)) > 0 and entry.group(3) == "0", out[-3000:]
    assert re.search(r"taker +taker .* filled=[1-9]", out)
    # The taker's positions got protective stops (Algo API orders), checked against the venue too.
    algo = re.search(r"algo \(conditional\) orders (\d+): (.*) \(protective", out)
    assert algo is not None and int(algo.group(1)) > 0 and "cancelled" in algo.group(2), out[-3000:]
    assert re.search(r"dead-man switch: countdownCancelAll 120 s, renewals [1-9]\d*, failures 0", out)
    if shutil.which("redis-server"):
        ev = re.search(r"events: published (\d+), dropped (\d+)", out)
        assert ev is not None and int(ev.group(1)) > 0 and ev.group(2) == "0"
    # Not a terminal: plain status lines every 2 s, no escape codes.
    assert "orders/s=" in out and "\x1b[" not in out
    assert "Traceback" not in demo_run.stderr


def test_metrics_scraped_from_a_running_demo(demo_run: DemoRun) -> None:
    text = demo_run.metrics
    assert text, "the metrics endpoint never answered"
    assert _value(text, "trading_engine_orders_placed_total") > 0
    assert _value(text, "trading_engine_fills_total") > 0
    assert _value(text, "trading_engine_feed_frames_total") > 0
    assert _value(text, "trading_engine_feed_messages_total", '{kind="malformed"}') == 0
    assert _value(text, "trading_engine_callback_errors_total", '{kind="order"}') == 0
    assert _value(text, "trading_engine_stream_reconnects_total", '{stream="user"}') == 0
    assert _value(text, "trading_engine_feed_to_callback_seconds_count") > 0
    # orders go over ws-fapi (the default order entry); open orders (reconciliation) over REST
    assert _value(text, "trading_engine_rest_roundtrip_seconds_count", '{call="open_orders"}') > 0
    assert _value(text, "trading_engine_order_entry_seconds", '{path="ws",quantile="0.5",step="place"}') > 0
    assert 'trading_engine_orders{state="' in text
    assert _value(text, "trading_engine_rest_client_total", '{counter="requests"}') > 0
    # The demo's dead-man switch (120 s by default) is armed while its algos have orders open.
    assert _value(text, "trading_engine_dead_man_seconds") == 120
    assert _value(text, "trading_engine_dead_man_renewals_total") > 0
    assert _value(text, "trading_engine_dead_man_failures_total") == 0
    if shutil.which("redis-server"):
        assert _value(text, "trading_engine_events_published_total") > 0
        assert _value(text, "trading_engine_events_dropped_total") == 0
        assert _value(text, "trading_engine_publish_lag_seconds_count") > 0


# ── the reconciliation check on made-up records ──


@dataclass
class _Order:
    client_order_id: str
    state: str
    filled: str

    @property
    def filled_fp(self) -> int:
        return to_fixed(self.filled)

    is_algo = False

    @property
    def is_live(self) -> bool:
        return self.state in ("placing", "active", "cancelling")


class _Sim:
    def __init__(self, records: dict[str, dict[str, Any]]) -> None:
        self.records = records

    def orders_by_client_id(self, cid: str) -> dict[str, Any] | None:
        return self.records.get(cid)


def _check(orders: list[_Order], records: dict[str, dict[str, Any]]) -> Any:
    demo = Demo(argparse.Namespace(symbols="BTCUSDT", seed=1))
    demo.sim = _Sim(records)
    demo.registry = list(orders)
    return demo.check()


def test_check_accepts_matching_records() -> None:
    res = _check(
        [
            _Order("a", "filled", "0.005"),
            _Order("b", "cancelled", "0.002"),
            _Order("c", "rejected", "0"),
            _Order("d", "expired", "0.003"),
        ],
        {
            "a": {"status": "FILLED", "executedQty": "0.005"},
            "b": {"status": "CANCELED", "executedQty": "0.002"},
            "d": {"status": "EXPIRED", "executedQty": "0.003"},
        },
    )
    assert res.ok and res.checked == 4 and not res.mismatches


@pytest.mark.parametrize(
    ("order", "record", "why"),
    [
        (_Order("a", "filled", "0.005"), {"status": "FILLED", "executedQty": "0.004"}, "filled 0.005 here"),
        (_Order("a", "cancelled", "0"), {"status": "FILLED", "executedQty": "0"}, "cancelled here, FILLED"),
        (_Order("a", "active", "0"), {"status": "NEW", "executedQty": "0"}, "still open"),
        (_Order("a", "cancelled", "0"), {"status": "NEW", "executedQty": "0"}, "still open"),
        (_Order("a", "filled", "0.005"), None, "unknown to the exchange"),
        (_Order("a", "rejected", "0"), {"status": "CANCELED", "executedQty": "0"}, "rejected here"),
    ],
)
def test_check_reports_every_difference(order: _Order, record: dict[str, Any] | None, why: str) -> None:
    res = _check([order], {} if record is None else {"a": record})
    assert not res.ok
    assert len(res.mismatches) == 1 and why in res.mismatches[0]


def test_check_with_no_orders_is_not_ok() -> None:
    assert not _check([], {}).ok


def test_demo_without_redis_logs_the_events() -> None:
    done = run("demo", "--duration", "3", "--no-redis", timeout=60)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert "order events go to the log" in done.stderr
    assert re.search(r"event (NEW|PARTIALLY_FILLED|FILLED|CANCELED) PMS", done.stderr)
    assert "reconciliation: all" in done.stdout
    assert "events: published" not in done.stdout


class _AlgoOrder(_Order):
    is_algo = True


def _check_algo(order: _Order, algo: dict[str, Any] | None, created: dict[str, Any] | None) -> Any:
    demo = Demo(argparse.Namespace(symbols="BTCUSDT", seed=1))
    demo.sim = _Sim({} if created is None else {order.client_order_id: created})
    demo.registry = [order]
    if algo is not None:
        demo.venue_algos[order.client_order_id] = algo
    return demo.check()


@pytest.mark.parametrize(
    ("state", "filled", "algo", "created"),
    [
        ("cancelled", "0", {"algoStatus": "CANCELED", "actualOrderId": ""}, None),
        ("rejected", "0", None, None),
        ("rejected", "0", {"algoStatus": "REJECTED", "actualOrderId": ""}, None),
        ("filled", "0.004", {"algoStatus": "FINISHED", "actualOrderId": "7"},
         {"status": "FILLED", "executedQty": "0.004"}),
        ("finished", "0.001", {"algoStatus": "FINISHED", "actualOrderId": "7"},
         {"status": "CANCELED", "executedQty": "0.001"}),
        ("cancelled", "0", {"algoStatus": "FINISHED", "actualOrderId": "7"},
         {"status": "CANCELED", "executedQty": "0"}),
    ],
)
def test_check_accepts_matching_algo_records(state: str, filled: str, algo: Any, created: Any) -> None:
    res = _check_algo(_AlgoOrder("s", state, filled), algo, created)
    assert res.ok and not res.mismatches, res.mismatches


@pytest.mark.parametrize(
    ("state", "filled", "algo", "created", "why"),
    [
        ("active", "0", {"algoStatus": "NEW", "actualOrderId": ""}, None, "still open"),
        ("cancelled", "0", {"algoStatus": "NEW", "actualOrderId": ""}, None, "still open"),
        ("cancelled", "0", None, None, "unknown to the Algo API"),
        ("cancelled", "0", {"algoStatus": "EXPIRED", "actualOrderId": ""}, None, "cancelled here, EXPIRED"),
        ("cancelled", "0", {"algoStatus": "TRIGGERED", "actualOrderId": "7"},
         {"status": "PARTIALLY_FILLED", "executedQty": "0.001"}, "still open"),
        ("filled", "0.003", {"algoStatus": "FINISHED", "actualOrderId": "7"},
         {"status": "FILLED", "executedQty": "0.004"}, "filled 0.003 here"),
        ("cancelled", "0", {"algoStatus": "FINISHED", "actualOrderId": "7"},
         {"status": "FILLED", "executedQty": "0.004"}, "cancelled here, FINISHED"),
    ],
)
def test_check_reports_algo_differences(state: str, filled: str, algo: Any, created: Any, why: str) -> None:
    res = _check_algo(_AlgoOrder("s", state, filled), algo, created)
    assert not res.ok and len(res.mismatches) == 1 and why in res.mismatches[0], res.mismatches
