"""The ORDER_TRADE_UPDATE frame decoder alone: compiled vs pure twin vs ``orjson.loads`` of the same frame.

Per frame (every number in the table is one call on one frame), except ``test_decode_frame_c_loop_x1000``,
whose one call runs the C ``decode_frame`` 1000 times with no Python object per frame: its time in us
is the C cost in ns per frame (``extra_info["ns_per_frame"]`` holds it for every test).

Frames: the documented shape with every key Binance sends (about 700 bytes, as in bench_core), and a
real captured partial fill (about 480 bytes).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from tests._data import frames

from trading_engine_python._compat import NO_EXTENSIONS
from trading_engine_python.orders import _decode_py

from ._frames import order_trade_update
from .conftest import QUICK

LOOPS = 1000

DOC_SHAPE = order_trade_update("PMSsub1_LMT_hoqop1c0k2aj")
_REAL = frames("ws/seq_real_defi_xrpusdt_market_then_stop_partial_fills_2021.jsonl")
REAL_PARTIAL = next(ln for ln in _REAL if b'"X":"PARTIALLY_FILLED"' in ln)
FRAMES = {"doc-shape": DOC_SHAPE, "real-partial": REAL_PARTIAL}


def _decoder(impl: str) -> Any:
    return (
        importlib.import_module("trading_engine_python.orders._decode_c") if impl == "cython" else _decode_py
    )


def _run(benchmark: Any, per_call_frames: int, fn: Callable[..., Any], *args: Any) -> None:
    if QUICK:
        benchmark.pedantic(
            fn, args=args, rounds=5, iterations=20 if per_call_frames > 1 else 2000, warmup_rounds=1
        )
    else:
        benchmark(fn, *args)
    benchmark.extra_info["ns_per_frame"] = round(benchmark.stats.stats.median * 1e9 / per_call_frames, 1)


@pytest.fixture(params=list(FRAMES))
def frame_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _group(benchmark: Any, frame_name: str) -> bytes:
    frame = FRAMES[frame_name]
    benchmark.group = f"decode {frame_name} ({len(frame)} B)"
    benchmark.extra_info["frame_bytes"] = len(frame)
    return frame


def test_orjson_loads_alone(benchmark: Any, frame_name: str) -> None:
    frame = _group(benchmark, frame_name)
    _run(benchmark, 1, orjson.loads, frame)


def test_decode(benchmark: Any, frame_name: str, impl: str) -> None:
    """``decode(frame)``: the Python API, result dict included."""
    frame = _group(benchmark, frame_name)
    dec = _decoder(impl)
    assert dec.decode(frame)[0] == dec.R_ORDER
    _run(benchmark, 1, dec.decode, frame)


@pytest.mark.skipif(NO_EXTENSIONS, reason="pure twin requested")
def test_decode_frame_c_loop_x1000(benchmark: Any, frame_name: str) -> None:
    """``decode_frame`` alone, as the compiled core calls it: 1000 frames per call."""
    frame = _group(benchmark, frame_name)
    dec = _decoder("cython")
    _run(benchmark, LOOPS, dec._scan_loop, frame, LOOPS)
