"""The command line itself: every command's --help, `run` refusing without keys, `run` and `sim`
against the simulator, `bench` without a checkout."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest

from trading_engine_python.cli import main as cli_main
from trading_engine_python.sim import BinanceSimulator

from ._proc import ROOT, cli, env, free_port, run, spawn


@pytest.mark.parametrize("command", [None, "demo", "run", "sim", "bench"])
def test_help(command: str | None, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--help"] if command is None else [command, "--help"]
    with pytest.raises(SystemExit) as exc:
        cli_main.main(argv)
    assert exc.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: trading-engine")
    if command is None:
        for name in ("demo", "run", "sim", "bench"):
            assert name in out
    else:
        assert f"trading-engine {command}" in out
    expected = {"demo": "--duration", "run": "--testnet", "sim": "--port", "bench": "--quick"}
    if command is not None:
        assert expected[command] in out
    if command in ("demo", "run"):
        assert "--metrics-port" in out and "--dead-man SECONDS" in out


@pytest.mark.parametrize(("value", "seconds"), [(120.0, 120.0), (2.0, 2.0), (0.0, None)])
def test_dead_man_option(value: float, seconds: float | None) -> None:
    import argparse

    from trading_engine_python.cli.engine import dead_man_seconds

    assert dead_man_seconds(argparse.Namespace(dead_man=value)) == seconds
    with pytest.raises(ValueError, match="--dead-man"):
        dead_man_seconds(argparse.Namespace(dead_man=-1.0))


def test_module_entry_point_and_no_command() -> None:
    # `python -m trading_engine_python` goes through __main__.py to cli.main.main.
    done = run("--help", timeout=30)
    assert done.returncode == 0 and "demo" in done.stdout
    done = run(timeout=30)
    assert done.returncode == 2 and "usage: trading-engine" in done.stdout


@pytest.mark.parametrize("present", [(), ("BINANCE_API_KEY",), ("BINANCE_API_SECRET",)])
def test_run_refuses_without_keys(present: tuple[str, ...]) -> None:
    values = {"BINANCE_API_KEY": "AKdonotprint0123456789", "BINANCE_API_SECRET": "SEdonotprint9876543210"}
    done = run("run", "--testnet", timeout=30, **{k: values[k] for k in present})
    assert done.returncode == 2
    assert "refusing to start" in done.stderr
    missing = [k for k in values if k not in present]
    for name in missing:
        assert name in done.stderr
    for value in values.values():
        assert value not in done.stdout + done.stderr


def test_run_refuses_blank_keys(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BINANCE_API_KEY", "   ")
    monkeypatch.setenv("BINANCE_API_SECRET", "SEblank0000")
    assert cli_main.main(["run"]) == 2
    err = capsys.readouterr().err
    assert "BINANCE_API_KEY" in err and "SEblank0000" not in err


async def test_run_against_the_simulator_and_stops_on_sigterm() -> None:
    """`run` with keys: manager + user stream up and reconciled, then SIGTERM ends it with 0.

    The REST and websocket roots are the simulator's (a hidden option meant for tests); the keys
    come from the environment only and must appear nowhere in the output.
    """
    key, secret = "AKrunTEST5551234567890", "SErunTEST0987654321abc"
    async with BinanceSimulator(api_key=key, api_secret=secret, seed=3) as sim:
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            *cli(
                "run",
                "--rest-url",
                sim.base_url,
                "--ws-url",
                sim.ws_url,
                "--metrics-port",
                str(port),
                "--status-interval",
                "0.5",
            ),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=env(BINANCE_API_KEY=key, BINANCE_API_SECRET=secret),
            cwd=ROOT,
        )
        try:
            deadline = time.monotonic() + 30
            while sim.user_stream_count == 0:
                assert proc.returncode is None, "run exited early"
                assert time.monotonic() < deadline, "run never opened the user stream"
                await asyncio.sleep(0.05)
            import aiohttp

            text = ""
            async with aiohttp.ClientSession() as s:
                # Connected means the websocket is up AND the start-up reconciliation is done.
                while "trading_engine_stream_connected 1.0" not in text:
                    assert time.monotonic() < deadline, text[-2000:]
                    try:
                        async with s.get(f"http://127.0.0.1:{port}/metrics") as r:
                            text = await r.text()
                    except aiohttp.ClientError:
                        pass
                    await asyncio.sleep(0.05)
            assert "trading_engine_orders_live 0.0" in text
            # The dead-man switch is on by default (120 s), idle with no live order.
            assert "trading_engine_dead_man_seconds 120.0" in text
            assert "trading_engine_dead_man_armed_symbols 0.0" in text
            await asyncio.sleep(1.2)  # at least one status line
            proc.send_signal(signal.SIGTERM)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    text_out = out.decode() + err.decode()
    assert proc.returncode == 0, text_out
    assert "user stream up and reconciled" in text_out
    assert "live=0" in text_out
    assert key not in text_out and secret not in text_out
    assert ("POST", "/fapi/v1/listenKey") in sim.requests  # it really talked to the venue
    assert ("GET", "/fapi/v1/openOrders") in sim.requests  # and reconciled at start-up


def test_sim_prints_urls_and_stops_on_sigterm() -> None:
    port = free_port()
    proc = spawn("sim", "--port", str(port), "--seed", "4")
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while not any("Ctrl-C" in ln for ln in lines):
            assert time.monotonic() < deadline and proc.poll() is None
            lines.append(proc.stdout.readline())
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}" in text and f"ws://127.0.0.1:{port}" in text
        assert f"ws://127.0.0.1:{port}/ws-fapi/v1" in text
        assert "sim-key" in text
        # sim/__main__.py prints its banner just before it installs the signal handlers.
        time.sleep(0.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_bench_needs_a_checkout(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli_main, "_repo_root", lambda: None)
    assert cli_main.main(["bench", "--quick"]) == 2
    assert "source checkout" in capsys.readouterr().err


def test_bench_runs_the_script(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}

    def fake_call(args: list[str], cwd: object, env: dict[str, str]) -> int:
        seen.update(args=args, cwd=cwd, quick=env.get("BENCH_QUICK"), skip=env.get("TE_SKIP_INSTALL"))
        return 0

    monkeypatch.setattr(cli_main.subprocess, "call", fake_call)
    monkeypatch.delenv("BENCH_QUICK", raising=False)
    monkeypatch.delenv("TE_SKIP_INSTALL", raising=False)
    assert cli_main.main(["bench", "--quick"]) == 0
    assert seen["args"] == ["bash", str(ROOT / "scripts" / "bench.sh")]
    assert seen["quick"] == "1" and seen["skip"] == "1"
