"""``replay FILE``: a recording run through a manager again gives the live run's final states, on
both cores alike."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from trading_engine_python._compat import NO_EXTENSIONS
from trading_engine_python.cli.replay import replay
from trading_engine_python.exchange import ExchangeError, ExchangeTimeout
from trading_engine_python.orders._fixed import fixed_to_str
from trading_engine_python.orders.manager import OrderManager
from trading_engine_python.orders.recording import Recording

from ..conftest import Implementation
from ..orders._manager_util import OID, otu, render, rest_order, settle
from ..orders.fakes import FakeExchange
from . import _proc

NAMES = ["python"] if NO_EXTENSIONS else ["cython", "python"]


def frame(cid: str, status: str, **kw: Any) -> bytes:
    return render(otu(cid, status, **kw), "bytes")  # type: ignore[no-any-return]


async def _live_run(path: Path, impl: Implementation) -> dict[str, str]:
    """A session with every kind of record: frames, places (accepted, rejected, timed out), a
    cancel, a status-query answer, an adoption. Returns each order's final state line part."""
    fake = FakeExchange()
    m = OrderManager(fake, implementation=impl.name, recording=Recording.open(path), stuck_timeout=0,
                     resolve_timeout=3600)
    a = await m.place_limit_order("desk-one-long-id", "BTCUSDT", "BUY", "0.010", "65000.3", origin="CHASER",
                                  parent_id="p1", on_fill=lambda o: None)
    m.feed(frame(a.client_order_id, "NEW", i=a.exchange_order_id))
    m.feed(frame(a.client_order_id, "PARTIALLY_FILLED", z="0.004", l="0.004", L="65000.3", ap="65000.3",
                 i=a.exchange_order_id))
    fake.script("place_order", ExchangeError(-5022, "Due to the order could not be executed as maker."))
    b = await m.place_limit_order("desk-two", "ETHUSDT", "SELL", "0.02", "3500", time_in_force="GTX")
    fake.script("place_order", ExchangeTimeout(-1007, "Timeout waiting for response from backend server."))
    c = await m.place_market_order("desk-one-long-id", "BTCUSDT", "SELL", "0.003")
    m.apply_rest_order(rest_order(c.client_order_id, "FILLED", executed="0.003", orig="0.003",
                                  avg="64999.00000", order_type="MARKET", order_id=OID + 77))
    assert await m.cancel_order(a.client_order_id)
    m.feed(frame(a.client_order_id, "CANCELED", z="0.004", ap="65000.3", i=a.exchange_order_id))
    m.adopt_order(rest_order("PMSother_LMT_abc999", "PARTIALLY_FILLED", executed="0.001", order_id=OID + 99))
    await settle()
    out = {o.client_order_id: f"{o.state} filled={fixed_to_str(o.filled_fp)}" for o in (a, b, c)}
    adopted = m.get_order("PMSother_LMT_abc999")
    out[adopted.client_order_id] = f"{adopted.state} filled={fixed_to_str(adopted.filled_fp)}"
    await m.close()
    return out


async def test_replay_gives_the_live_final_states_on_both_cores(tmp_path: Path, impl: Implementation) -> None:
    path = tmp_path / "rec"
    live = await _live_run(path, impl)
    outputs = [await replay(str(path), name) for name in NAMES]
    assert all(out == outputs[0] for out in outputs)
    lines = outputs[0]
    for cid, want in live.items():
        line = next(x for x in lines if x.startswith(f"order {cid} "))
        assert want in line, (line, want)
    assert "desk-one-long-id" in next(x for x in lines if x.startswith("order PMSdesk-one_CHASE"))
    assert "callbacks: on_fill=1 on_partial=1 on_cancel=2" in lines  # replay hooks every order
    assert any(x.startswith("risk hook: 3 fills") for x in lines)


def test_replay_of_a_demo_recording_matches_the_demo_on_both_cores(tmp_path: Path) -> None:
    rec = tmp_path / "rec"
    demo = _proc.run("demo", "--duration", "3", "--plain", "--no-redis", "--record", str(rec), timeout=120)
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    m = re.search(r"reconciliation: all (\d+) orders match the simulator .*?: (.*)", demo.stdout)
    assert m is not None, demo.stdout[-3000:]
    outputs = []
    for name in NAMES:
        r = _proc.run("replay", str(rec), "--implementation", name, timeout=120)
        assert r.returncode == 0, r.stderr[-3000:]
        outputs.append(r.stdout)
    assert all(out == outputs[0] for out in outputs)
    order_lines = [x for x in outputs[0].splitlines() if x.startswith("order ")]
    assert len(order_lines) == int(m.group(1))
    # The demo's own count of final states ("cancelled 62, filled 13") is the replay's.
    for state, count in re.findall(r"(\w+) (\d+)", m.group(2)):
        assert sum(1 for x in order_lines if f" {state} filled=" in x) == int(count), (state, outputs[0])
