"""The manager's dead-man switch over real sockets against the simulator's countdownCancelAll (a
real timer there), both order cores (docs/binance-protocol.md, "Dead-man switch")."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from ._fakes import until
from .conftest import Rig

SYM = "BTCUSDT"


def _spy(rig: Rig) -> list[tuple[str, int]]:
    """What the manager sent (the real client still sends it to the simulator)."""
    sent: list[tuple[str, int]] = []
    real = rig.client.countdown_cancel_all

    async def spy(symbol: str, countdown_ms: int) -> Any:
        sent.append((symbol, countdown_ms))
        return await real(symbol, countdown_ms)

    rig.client.countdown_cancel_all = spy  # type: ignore[method-assign]
    return sent


def _armed(rig: Rig) -> bool:
    return SYM in rig.sim._countdowns


def _deadman(rig: Rig) -> dict[str, Any]:
    return dict(rig.manager.stats()["dead_man"])


async def test_off_by_default(rig: Rig) -> None:
    sent = _spy(rig)
    o = await rig.limit("BUY", "0.001", rig.price() - 100)
    await until(lambda: o.state == "active")
    assert rig.manager.dead_man_seconds is None and "dead_man" not in rig.manager.stats()
    assert sent == [] and not _armed(rig)


async def test_renewed_while_live_then_disarmed(rig: Rig) -> None:
    sent = _spy(rig)
    rig.manager.dead_man_seconds = 2.0
    o = await rig.limit("BUY", "0.001", rig.price() - 100)
    # Six renewals span more than the 2 s countdown: the order is still open, so each renewal
    # replaced the countdown before it ran out (a quarter of it apart: 1.5 s of slack on a busy
    # machine).
    # (the spy sees a renewal sent; the counter, its answer: wait for both)
    await until(lambda: len(sent) >= 6 and _deadman(rig)["renewals"] >= 6, 20)
    assert set(sent) == {(SYM, 2000)} and _armed(rig), sent
    held = rig.sim.orders_by_client_id(o.client_order_id)
    assert o.state == "active" and held is not None and held["status"] == "NEW", (o.state, held,
                                                                                 _deadman(rig))
    st = _deadman(rig)
    assert st["seconds"] == 2.0 and st["armed"] == 1 and st["renewals"] >= 6 and st["failures"] == 0
    assert st["last_ok_ms"] > 0
    # No live order left on the symbol: the next beat sends 0 (disarms) and the loop stops sending.
    assert await rig.manager.cancel_order(o.client_order_id)
    await until(lambda: o.state == "cancelled")
    await until(lambda: sent[-1] == (SYM, 0))
    assert not _armed(rig), sent
    await until(lambda: _deadman(rig)["armed"] == 0)
    n = len(sent)
    o2 = await rig.limit("SELL", "0.001", rig.price() + 100)  # a new live order re-arms at once
    await until(lambda: len(sent) > n and _armed(rig))
    assert sent[n] == (SYM, 2000) and o2.is_live, (sent[n:], o2.state)


async def test_failed_renewal_is_logged_and_retried(rig: Rig, caplog: pytest.LogCaptureFixture) -> None:
    sent = _spy(rig)
    rig.manager.dead_man_seconds = 1.0
    rig.sim.faults.http_error(500, path="/fapi/v1/countdownCancelAll", method="POST", count=2)
    with caplog.at_level(logging.WARNING, logger="trading_engine_python"):
        o = await rig.limit("BUY", "0.001", rig.price() - 100)
        await until(lambda: _deadman(rig)["renewals"] >= 1)
    st = _deadman(rig)
    assert st["failures"] == 2 and st["armed"] == 1 and _armed(rig) and len(sent) >= 3
    warned = [r.getMessage() for r in caplog.records if "countdownCancelAll" in r.getMessage()]
    assert len(warned) == 2 and all("retrying" in w for w in warned)
    assert o.is_live


async def test_countdown_cancels_once_the_manager_is_gone(rig: Rig) -> None:
    """The manager stops renewing (here: closed; the demo test kills a process): the simulator's
    countdown cancels the plain orders; algo orders are not touched by it, as on Binance."""
    sent = _spy(rig)
    rig.manager.dead_man_seconds = 0.5
    o = await rig.limit("BUY", "0.001", rig.price() - 100)
    stop = await rig.manager.place_stop_order("sub1", SYM, "SELL", "0.001", str(rig.price() - 200))
    await until(lambda: o.state == "active" and stop.state == "active" and len(sent) >= 2)
    await rig.manager.close()
    await until(lambda: rig.sim.open_orders() == [])
    assert rig.sim.orders_by_client_id(o.client_order_id)["status"] == "CANCELED"  # type: ignore[index]
    algos = {a["clientAlgoId"]: a["algoStatus"] for a in rig.sim.algo_orders()}
    assert algos[stop.client_order_id] == "NEW"
