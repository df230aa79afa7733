"""scripts/bench_report.py on a small synthetic pytest-benchmark JSON."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from ._proc import ROOT


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "scripts" / "bench_report.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_report"] = mod
    spec.loader.exec_module(mod)
    return mod


report = _load()


def _bench(group: str, name: str, mean: float, param: str | None = None, **extra: Any) -> dict[str, Any]:
    params = {"impl": param} if param else None
    return {
        "group": group,
        "name": name,
        "fullname": f"benchmarks/x.py::{name}",
        "param": param,
        "params": params,
        "extra_info": extra,
        "stats": {
            "mean": mean,
            "median": mean,
            "min": mean,
            "max": mean,
            "stddev": 0.0,
            "rounds": 5,
            "ops": 1 / mean,
        },
    }


RESULTS = {
    "machine_info": {
        "node": "bench-box",
        "python_version": "3.11.7",
        "python_implementation": "CPython",
        "system": "Linux",
        "release": "6.1",
        "cpu": {"brand_raw": "Test CPU 9000", "count": 2},
    },
    "commit_info": {"id": "0123456789abcdef", "dirty": False},
    "datetime": "2026-01-02T03:04:05.678901+00:00",
    "version": "5.1.0",
    "benchmarks": [
        _bench("feed-frame", "test_orjson_loads_yardstick", 2e-6),
        _bench("feed-frame", "test_frame[cython]", 4e-3, "cython", ns_per_frame=1000.0),
        _bench("feed-frame", "test_frame[python]", 2e-2, "python", ns_per_frame=8000.0),
        _bench("publish", "test_publish[ours-cython]", 0.04, "ours-cython", events_per_s=300_000),
        _bench("publish", "test_publish[ours-python]", 0.05, "ours-python", events_per_s=200_000),
        _bench(
            "publish",
            "test_publish[redis-py-pipeline-256]",
            0.1,
            "redis-py-pipeline-256",
            events_per_s=75_000,
        ),
        _bench("memory", "test_bytes[cython]", 1.0, "cython", orders=1000, bytes_per_order_tracemalloc=250.0),
        _bench(
            "memory", "test_bytes[python]", 1.0, "python", orders=1000, bytes_per_order_tracemalloc=1000.0
        ),
        _bench(
            "latency", "test_latency_at_steady_rate", 0.5, None, rate_per_s=20000, p50_us=120.0, p99_us=380.0
        ),
        _bench("tracker-insert", "test_insert[cython-1000]", 4e-4, "cython-1000", ns_per_op=400.0),
        _bench("tracker-insert", "test_insert[python-1000]", 8e-4, "python-1000", ns_per_op=800.0),
        _bench("tracker-insert", "test_insert[cython-1000000]", 6e-4, "cython-1000000", ns_per_op=600.0),
        _bench("tracker-insert", "test_insert[python-1000000]", 2.4e-3, "python-1000000", ns_per_op=2400.0),
    ],
}


@pytest.fixture
def results(tmp_path: Path) -> Path:
    path = tmp_path / "results.json"
    path.write_text(json.dumps(RESULTS))
    return path


def test_ratios() -> None:
    _data, benches = report.load_data(RESULTS)
    by = {b.name: b for b in benches}
    assert by["test_frame[cython]"].vs_pure == pytest.approx(8.0)
    assert by["test_frame[cython]"].vs_yard == [("orjson_loads_yardstick", pytest.approx(2.0))]
    assert by["test_frame[python]"].vs_yard[0][1] == pytest.approx(0.25)
    assert by["test_publish[ours-cython]"].vs_pure == pytest.approx(1.5)
    assert by["test_publish[ours-cython]"].vs_yard[0][1] == pytest.approx(4.0)
    assert by["test_bytes[cython]"].vs_pure == pytest.approx(4.0)
    lat = by["test_latency_at_steady_rate"]
    assert lat.kind == "latency" and lat.value == pytest.approx(120e-6) and lat.p99 == pytest.approx(380e-6)
    assert by["test_orjson_loads_yardstick"].yardstick and not by["test_frame[cython]"].yardstick


def test_report_files_and_readme_section(results: Path, tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(
        "# x\n\nintro\n\n<!-- bench-table:start -->\nstale numbers\n<!-- bench-table:end -->\n\nrest\n"
    )
    out = tmp_path / "out"
    assert report.main([str(results), "--out", str(out), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "stale numbers" not in text
    assert text.startswith("# x\n\nintro\n\n<!-- bench-table:start -->\nTargets from the issues")
    assert "| benchmark group |" in text
    assert text.endswith("<!-- bench-table:end -->\n\nrest\n")
    section = text[text.index("<!-- bench-table:start -->") :]
    assert (
        "| feed-frame | 1.00 µs (frame[cython]) | 8.00 µs | 8.00× | 2.00× orjson_loads_yardstick |" in section
    )
    assert "4.00× publish[redis-py-pipeline-256]" in section
    # A case run at several sizes shows how the cost grows.
    series = "| tracker-insert | 400 ns @1k → 600 ns @1M (insert) | 800 ns → 2.40 µs | 2.00× → 4.00× | - |"
    assert series in section
    assert "Test CPU 9000" in section  # results from another machine: its CPU, not this one's
    assert "2 cores" in section and "3.11.7" in section and "2026-01-02" in section
    full = (out / "README.md").read_text()
    for group in ("feed-frame", "publish", "memory", "latency"):
        assert f"### {group}" in full
    assert "p50 120.00 µs, p99 380.00 µs" in full
    png = out / "chart.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.stat().st_size < 200_000
    # Idempotent: a second run leaves the README as the first one wrote it.
    assert report.main([str(results), "--out", str(out), "--readme", str(readme)]) == 0
    assert readme.read_text() == text


def test_readme_without_markers_is_left_alone(
    results: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    readme = tmp_path / "README.md"
    readme.write_text("# no markers here\n")
    out = tmp_path / "out"
    assert report.main([str(results), "--out", str(out), "--readme", str(readme), "--no-chart"]) == 0
    assert readme.read_text() == "# no markers here\n"
    assert "markers" in capsys.readouterr().err
    assert (out / "README.md").is_file() and not (out / "chart.png").exists()


def test_missing_or_empty_results(tmp_path: Path) -> None:
    assert report.main([str(tmp_path / "nope.json")]) == 2
    empty = tmp_path / "empty.json"
    empty.write_text(json.dumps({"benchmarks": []}))
    assert report.main([str(empty)]) == 1


def test_write_json_drops_the_per_round_timings(tmp_path: Path) -> None:
    data = json.loads(json.dumps(RESULTS))
    data["benchmarks"][0]["stats"]["data"] = [2e-6] * 50_000
    data["machine_info"]["cpu"]["flags"] = ["avx2"] * 100
    src = tmp_path / "raw.json"
    src.write_text(json.dumps(data))
    kept = tmp_path / "kept" / "results.json"
    argv = [str(src), "--out", str(tmp_path / "out"), "--write-json", str(kept), "--no-chart"]
    assert report.main(argv) == 0
    small = json.loads(kept.read_text())
    assert "data" not in small["benchmarks"][0]["stats"]
    assert small["benchmarks"][0]["stats"]["mean"] == 2e-6
    assert "flags" not in small["machine_info"]["cpu"]
    assert len(small["benchmarks"]) == len(data["benchmarks"])
    assert kept.stat().st_size < src.stat().st_size / 10
    # The kept copy is enough to make the same report again.
    assert report.main([str(kept), "--out", str(tmp_path / "again"), "--no-chart"]) == 0
    assert (tmp_path / "again" / "README.md").read_text() == (tmp_path / "out" / "README.md").read_text()


def _bench(name: str, **extra: float) -> dict[str, object]:
    return {"group": "g", "name": name, "param": None, "params": {}, "stats": {"mean": 1.0, "rounds": 1},
            "extra_info": extra}


def test_targets_are_checked_against_the_figures() -> None:
    _, benches = report.load_data({"benchmarks": [
        _bench("test_orjson_loads_yardstick", ns_per_call=2000.0),
        _bench("test_on_order_update_raw_frame[cython]", ns_per_frame=1200.0),  # 0.6x: missed
        _bench("test_on_order_update_raw_frame[python]", ns_per_frame=12000.0),
        _bench("test_bytes_per_live_order[cython]", bytes_per_order_tracemalloc=200.0,
               bytes_per_order_rss=600.0),
        _bench("test_publish_throughput[ours-cython]", events_per_s=400_000.0),
        _bench("test_publish_throughput[redis-py-per-event]", events_per_s=10_000.0),
        _bench("test_publish_throughput[redis-py-pipeline-256]", events_per_s=80_000.0),
        _bench("test_latency_at_steady_rate", p50_us=200.0, p99_us=1500.0),
    ]})
    rows = {r[0]: (r[2], r[3]) for r in report.target_rows(benches)}
    verdicts = [v for _, v in rows.values()]
    assert len(rows) == 7
    assert verdicts.count("**missed**") == 3  # 0.6x orjson, 600 B RSS, 1.5 ms p99
    assert rows["the same, compiled vs pure-Python twin"] == ("10.0x", "met")
    assert rows["Redis events/s, ours vs one `await publish()` per event"] == ("40.0x", "met")


def test_the_hot_path_targets_come_first() -> None:
    _, benches = report.load_data({"benchmarks": [
        _bench("test_orjson_loads_hot_yardstick", ns_per_frame=2000.0),
        _bench("test_feed_with_callbacks[100-cython]", ns_per_frame=800.0),  # 0.40x: met
        _bench("test_feed_with_callbacks[10000-cython]", ns_per_frame=1000.0),  # 0.50x: missed
        _bench("test_feed_with_callbacks[10000-python]", ns_per_frame=9000.0),
        _bench("test_feed_without_callbacks[100-cython]", ns_per_frame=500.0),
        _bench("test_on_order_update_with_callbacks[100-cython]", ns_per_frame=900.0),
        _bench("test_bytes_per_live_order_placed[callbacks-cython]", orders=100_000,
               bytes_per_order_tracemalloc=190.0, bytes_per_order_rss=230.0),
        _bench("test_lookup_at_scale[1000-cython]", ns_per_op=100.0),
        _bench("test_lookup_at_scale[1000000-cython]", ns_per_op=125.0),
        _bench("test_orjson_loads_yardstick", ns_per_call=2000.0),
        _bench("test_on_order_update_raw_frame[cython]", ns_per_frame=600.0),
    ]})
    rows = report.target_rows(benches)
    assert rows[0][0] == ("raw frame through `manager.feed`, order with 3 callbacks, 100 live orders, "
                          "compiled, vs `orjson.loads` of the frame")
    got = {r[0]: (r[2].split(" ")[0], r[3]) for r in rows}
    assert got[rows[0][0]] == ("0.40x", "met")
    assert got[rows[1][0]] == ("0.50x", "**missed**") and "10,000" in rows[1][0]
    assert got["the same with callbacks at 10,000, compiled vs pure-Python twin"] == ("9.0x", "met")
    assert got["bytes per live order placed through the manager with 3 callbacks, at 100,000, RSS"] == (
        "230", "**missed**")
    assert got["lookup by client id at 1M live orders vs 1k, compiled"] == ("1.25x", "met")
    assert rows[-1][0] == ("raw frame through `await on_order_update`, compiled, vs `orjson.loads` "
                           "of the frame alone")


def test_a_partial_run_is_merged_into_the_recorded_results(tmp_path: Path) -> None:
    base = {"machine_info": {"node": "m"}, "benchmarks": [
        {**_bench("test_old"), "fullname": "b.py::test_old"},
        {**_bench("test_feed_with_callbacks[100-cython]", ns_per_frame=900.0),
         "fullname": "h.py::test_feed_with_callbacks[100-cython]"}]}
    new = {"datetime": "now", "commit_info": {"id": "abc"}, "benchmarks": [
        {**_bench("test_feed_with_callbacks[100-cython]", ns_per_frame=700.0),
         "fullname": "h.py::test_feed_with_callbacks[100-cython]"},
        {**_bench("test_new"), "fullname": "h.py::test_new"}]}
    merged = report.merge(base, new)
    assert [b["name"] for b in merged["benchmarks"]] == ["test_old", "test_feed_with_callbacks[100-cython]",
                                                         "test_new"]
    assert merged["benchmarks"][1]["extra_info"]["ns_per_frame"] == 700.0
    assert merged["machine_info"] == {"node": "m"} and merged["merged_runs"] == [
        {"datetime": "now", "commit": "abc", "benchmarks": 2}]
    (tmp_path / "base.json").write_text(json.dumps(base))
    (tmp_path / "new.json").write_text(json.dumps(new))
    kept = tmp_path / "kept.json"
    argv = [str(tmp_path / "new.json"), "--merge-into", str(tmp_path / "base.json"),
            "--write-json", str(kept), "--out", str(tmp_path / "out"), "--no-chart"]
    assert report.main(argv) == 0
    assert len(json.loads(kept.read_text())["benchmarks"]) == 3
