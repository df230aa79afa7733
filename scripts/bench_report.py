#!/usr/bin/env python3
"""pytest-benchmark JSON -> bench_results/README.md (tables with ratios), chart.png, README table.

Usage: ``python scripts/bench_report.py bench_results/results.json [--out bench_results]
[--readme README.md]``. scripts/bench.sh runs it after the benchmark run.

How a benchmark is read (the suite's conventions, see benchmarks/):

- Its *figure* is the per-unit number its author put in ``extra_info`` when there is one
  (``ns_per_*``/``us_per_*``: time per unit; ``*_per_s``: a rate; ``bytes_per_*``: memory;
  ``p50_us``/``p99_us``: a latency), otherwise the mean time of one call.
- Its *implementation* is the order core (or RESP packer) it ran: a ``cython`` or ``python`` token
  in its parameters. Two benchmarks of a group whose names differ only by that token are a
  compiled/pure pair: "compiled vs pure" = how many times better the compiled figure is.
- A *yardstick* is a reference that is not ours: a name or parameter mentioning orjson, redis-py,
  websockets, aiohttp_raw, "yardstick" or "baseline". "vs yardstick" = how many times better our
  figure is than the yardstick's with the same implementation token (or without one).

Every ratio is "higher is better for ours": a time, latency or byte count divides the other's
figure by ours, a rate divides ours by the other's.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

START = "<!-- bench-table:start -->"
END = "<!-- bench-table:end -->"
_YARDSTICK = re.compile(r"yardstick|baseline|orjson|redis[-_]py|websockets|aiohttp_raw", re.IGNORECASE)
_IMPL = re.compile(r"(?<![a-z])(cython|python)(?![a-z])")


@dataclass
class Bench:
    group: str
    name: str
    param: str
    mean: float
    rounds: int
    extra: dict[str, Any]
    kind: str = "time"  # time | rate | bytes | latency
    value: float = 0.0  # seconds for time/latency, per second for rate, bytes for bytes
    p99: float | None = None
    impl: str | None = None
    yardstick: bool = False
    vs_pure: float | None = None
    vs_yard: list[tuple[str, float]] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.name.removeprefix("test_")

    def key_without_impl(self) -> str:
        return _IMPL.sub("*", self.name)


def _figure(b: Bench) -> None:
    ex = b.extra
    for key, value in ex.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            continue
        if key.startswith("ns_per_"):
            b.kind, b.value = "time", value * 1e-9
            return
        if key.startswith("us_per_"):
            b.kind, b.value = "time", value * 1e-6
            return
    for key, value in ex.items():
        # rate_per_s is an offered load (an input), not a result
        if (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and key.endswith("_per_s")
            and key != "rate_per_s"
        ):
            b.kind, b.value = "rate", float(value)
            return
    for key, value in ex.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key.startswith("bytes_per_"):
            b.kind, b.value = "bytes", float(value)
            return
    if isinstance(ex.get("p50_us"), (int, float)):
        b.kind, b.value = "latency", ex["p50_us"] * 1e-6
        if isinstance(ex.get("p99_us"), (int, float)):
            b.p99 = ex["p99_us"] * 1e-6
        return
    b.kind, b.value = "time", b.mean


def _better(ours: Bench, other: Bench) -> float | None:
    if ours.kind != other.kind or not ours.value or not other.value:
        return None
    if ours.kind == "rate":
        return ours.value / other.value
    return other.value / ours.value


def load(path: Path) -> tuple[dict[str, Any], list[Bench]]:
    return load_data(json.loads(path.read_text()))


def load_data(data: dict[str, Any]) -> tuple[dict[str, Any], list[Bench]]:
    benches: list[Bench] = []
    for raw in data.get("benchmarks", []):
        stats = raw.get("stats") or {}
        params = raw.get("params") or {}
        b = Bench(
            group=str(raw.get("group") or "(no group)"),
            name=str(raw.get("name", "?")),
            param=str(raw.get("param") or ""),
            mean=float(stats.get("mean", 0.0)),
            rounds=int(stats.get("rounds", 0)),
            extra=dict(raw.get("extra_info") or {}),
        )
        _figure(b)
        impl = params.get("impl") if isinstance(params, dict) else None
        tokens = _IMPL.findall(f"{impl or ''} {b.param}".lower())
        b.impl = tokens[-1] if tokens else None
        b.yardstick = bool(_YARDSTICK.search(b.name) or _YARDSTICK.search(b.param))
        benches.append(b)
    _ratios(benches)
    return data, benches


def compact(data: dict[str, Any]) -> dict[str, Any]:
    """The results without each benchmark's list of per-round timings (every statistic stays)."""
    out = dict(data)
    out["benchmarks"] = []
    for raw in data.get("benchmarks", []):
        b = dict(raw)
        if isinstance(b.get("stats"), dict):
            b["stats"] = {k: v for k, v in b["stats"].items() if k != "data"}
        out["benchmarks"].append(b)
    mi = out.get("machine_info")
    if isinstance(mi, dict) and isinstance(mi.get("cpu"), dict):
        out["machine_info"] = {**mi, "cpu": {k: v for k, v in mi["cpu"].items() if k != "flags"}}
    return out


def merge(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``base`` with the benchmarks of ``new`` in place of those of the same full name (new ones
    appended); the machine and commit stay ``base``'s, and each merged run is listed under
    ``merged_runs`` (its date, commit and how many benchmarks it brought)."""
    fresh = {b.get("fullname") or b.get("name"): b for b in new.get("benchmarks", [])}
    out = dict(base)
    kept = [b for b in base.get("benchmarks", []) if (b.get("fullname") or b.get("name")) not in fresh]
    out["benchmarks"] = kept + list(fresh.values())
    info = new.get("commit_info") or {}
    out["merged_runs"] = [*base.get("merged_runs", []), {
        "datetime": new.get("datetime"), "commit": info.get("id"), "benchmarks": len(fresh)}]
    return out


def groups(benches: list[Bench]) -> dict[str, list[Bench]]:
    out: dict[str, list[Bench]] = {}
    for b in benches:
        out.setdefault(b.group, []).append(b)
    return out


def _ratios(benches: list[Bench]) -> None:
    for members in groups(benches).values():
        by_key: dict[str, dict[str, Bench]] = {}
        for b in members:
            if b.impl is not None:
                by_key.setdefault(b.key_without_impl(), {})[b.impl] = b
        for pair in by_key.values():
            c, p = pair.get("cython"), pair.get("python")
            if c is not None and p is not None:
                c.vs_pure = _better(c, p)
        yards = [b for b in members if b.yardstick]
        for b in members:
            if b.yardstick:
                continue
            for y in yards:
                if y.impl is not None and y.impl != b.impl:
                    continue
                r = _better(b, y)
                if r is not None:
                    b.vs_yard.append((y.label, r))


# ── formatting ──


def fmt_value(b: Bench) -> str:
    v = b.value
    if b.kind == "rate":
        return f"{v / 1e6:.2f} M/s" if v >= 1e6 else f"{v / 1e3:.1f} k/s" if v >= 1e3 else f"{v:.0f}/s"
    if b.kind == "bytes":
        return f"{v:.0f} B"
    s = fmt_time(v)
    if b.kind == "latency":
        s = f"p50 {s}" + (f", p99 {fmt_time(b.p99)}" if b.p99 is not None else "")
    return s


def fmt_time(v: float | None) -> str:
    if v is None:
        return "-"
    if v < 1e-6:
        return f"{v * 1e9:.0f} ns"
    if v < 1e-3:
        return f"{v * 1e6:.2f} µs"
    if v < 1:
        return f"{v * 1e3:.2f} ms"
    return f"{v:.2f} s"


def fmt_ratio(r: float | None) -> str:
    return "-" if r is None else f"{r:.2f}×"


def unit_of(b: Bench) -> str:
    for key in b.extra:
        if key.startswith(("ns_per_", "us_per_")):
            return "per " + key.split("_per_", 1)[1]
        if key.endswith("_per_s") and key != "rate_per_s":
            return key[: -len("_per_s")].replace("_", " ") + "/s"
        if key.startswith("bytes_per_"):
            return "bytes per " + key[len("bytes_per_") :].replace("_", " ")
    if b.kind == "latency":
        return "latency"
    return "per call"


def machine(data: dict[str, Any]) -> dict[str, str]:
    mi = data.get("machine_info") or {}
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    if not cpu or (mi.get("node") and mi.get("node") != platform.node()):
        cpu = str((mi.get("cpu") or {}).get("brand_raw") or cpu or "unknown CPU")
    cores = (mi.get("cpu") or {}).get("count") or os.cpu_count() or "?"
    when = str(data.get("datetime") or dt.datetime.now(dt.UTC).isoformat())
    commit = data.get("commit_info") or {}
    cid = str(commit.get("id") or "")[:10]
    if cid and commit.get("dirty"):
        cid += " (uncommitted changes)"
    return {
        "cpu": cpu,
        "cores": str(cores),
        "python": str(mi.get("python_version") or platform.python_version()),
        "impl": str(mi.get("python_implementation") or platform.python_implementation()),
        "system": f"{mi.get('system', platform.system())} {mi.get('release', platform.release())}",
        "date": when[:19].replace("T", " ") + " UTC" if "+" in when or when.endswith("Z") else when[:19],
        "commit": cid or "unknown",
        "merged": "; ".join(
            f"{r.get('benchmarks')} re-run {str(r.get('datetime') or '?')[:19].replace('T', ' ')}, commit "
            f"{str(r.get('commit') or 'unknown')[:10]}" for r in data.get("merged_runs", [])),
    }


def machine_line(m: dict[str, str], quick: bool) -> str:
    mode = " Short mode (BENCH_QUICK=1): small sizes, few rounds; indicative only." if quick else ""
    merged = f" Merged since: {m['merged']}." if m.get("merged") else ""
    return (
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['impl']} {m['python']}, {m['system']}; "
        f"run {m['date']}, commit {m['commit']}.{merged}{mode}"
    )


def _size(b: Bench) -> str:
    nums = re.findall(r"\d+", b.param)
    if not nums:
        return ""
    n = int(nums[-1])
    for div, suffix in ((1_000_000, "M"), (1_000, "k")):
        if n >= div and n % div == 0:
            return f"{n // div}{suffix}"
    return str(n)


def _pure_of(b: Bench, ours: list[Bench]) -> Bench | None:
    return next(
        (p for p in ours if p.impl == "python" and p.key_without_impl() == b.key_without_impl()), None
    )


def key_rows(benches: list[Bench]) -> list[list[str]]:
    """One row per group: its first compiled case (or first case), its twin and the ratios.

    A group that runs the same case at several sizes (the tracker at 1k/100k/1M orders) shows the
    whole series, so that the table says how the cost grows.
    """
    rows = []
    for group, members in groups(benches).items():
        ours = [b for b in members if not b.yardstick]
        if not ours:
            continue
        comp = next((b for b in ours if b.impl == "cython"), None)
        head = comp or ours[0]
        shape = re.sub(r"\d+", "#", head.key_without_impl())
        series = [
            b for b in ours if b.impl == head.impl and re.sub(r"\d+", "#", b.key_without_impl()) == shape
        ]
        yards = "; ".join(f"{fmt_ratio(r)} {name}" for name, r in head.vs_yard) or "-"
        if len(series) > 1 and all(_size(b) for b in series):
            pures = [_pure_of(b, ours) for b in series]
            label = re.sub(r"\[.*\]$", "", head.label)
            rows.append(
                [
                    group,
                    " → ".join(f"{fmt_value(b)} @{_size(b)}" for b in series) + f" ({label})",
                    " → ".join(fmt_value(p) if p else "-" for p in pures) if any(pures) else "-",
                    " → ".join(fmt_ratio(b.vs_pure) for b in series) if any(pures) else "-",
                    yards,
                ]
            )
            continue
        pure = _pure_of(head, ours) if comp is not None else None
        rows.append(
            [
                group,
                f"{fmt_value(head)} ({head.label})",
                fmt_value(pure) if pure else "-",
                fmt_ratio(head.vs_pure),
                yards,
            ]
        )
    return rows


def md_table(header: list[str], rows: list[list[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(out)


def _extras(b: Bench) -> str:
    skip = {"impl"}
    parts = []
    for k, v in b.extra.items():
        if k in skip:
            continue
        if isinstance(v, float):
            v = f"{v:.4g}"
        parts.append(f"{k}={v}")
    return ", ".join(parts)


def full_report(data: dict[str, Any], benches: list[Bench], quick: bool, chart: bool) -> str:
    m = machine(data)
    lines = [
        "# Benchmark results",
        "",
        "Produced by `scripts/bench.sh` (one pytest-benchmark run of every file in `benchmarks/`) "
        "and `scripts/bench_report.py`; raw numbers in `results.json`.",
        "",
        machine_line(m, quick),
        "",
        'Ratios are "higher is better for ours": *compiled vs pure* compares the Cython core (or '
        "packer) with its pure-Python twin in the same run; *vs yardstick* compares with a reference "
        "that is not ours (orjson.loads, redis-py, the websockets client, raw aiohttp).",
        "",
        "## Key figures",
        "",
        md_table(
            [
                "group",
                "ours (compiled where there is a twin)",
                "pure-Python twin",
                "compiled vs pure",
                "vs yardstick",
            ],
            key_rows(benches),
        ),
        "",
    ]
    if chart:
        lines += ["![benchmark chart](chart.png)", ""]
    lines += ["## Every benchmark", ""]
    for group, members in groups(benches).items():
        lines += [f"### {group}", ""]
        rows = []
        for b in members:
            role = "yardstick" if b.yardstick else (b.impl or "")
            rows.append(
                [
                    b.label,
                    role,
                    fmt_value(b),
                    unit_of(b),
                    fmt_time(b.mean),
                    str(b.rounds),
                    fmt_ratio(b.vs_pure),
                    "; ".join(f"{fmt_ratio(r)} {n}" for n, r in b.vs_yard) or "-",
                    _extras(b),
                ]
            )
        lines += [
            md_table(
                [
                    "benchmark",
                    "role",
                    "figure",
                    "unit",
                    "mean per round",
                    "rounds",
                    "compiled vs pure",
                    "vs yardstick",
                    "extra_info",
                ],
                rows,
            ),
            "",
        ]
    return "\n".join(lines)


def _find(benches: list[Bench], name: str) -> Bench | None:
    # The tracker's memory figure is the reference one (every order has an exchange id there).
    found = [b for b in benches if b.name == name]
    return found[-1] if found else None


def target_rows(benches: list[Bench]) -> list[list[str]]:
    """The issues' performance targets, each checked against this run's figures."""
    rows: list[list[str]] = []

    def row(what: str, target: str, value: float | None, ok: bool | None, shown: str) -> None:
        if value is not None and ok is not None:
            rows.append([what, target, shown, "met" if ok else "**missed**"])

    # The headline: a frame for an order with on_fill/on_cancel/on_partial (bench_hot.py).
    hot_yard = _find(benches, "test_orjson_loads_hot_yardstick")
    for test, what, limit in (
        ("test_feed_with_callbacks", "raw frame through `manager.feed`, order with 3 callbacks", 0.45),
        ("test_feed_without_callbacks", "raw frame through `manager.feed`, order without callbacks", 0.3),
        ("test_on_order_update_with_callbacks", "raw frame through `await on_order_update`, 3 callbacks",
         0.5),
    ):
        for live in (100, 10_000):
            ours = _find(benches, f"{test}[{live}-cython]")
            if ours and hot_yard and ours.value and hot_yard.value:
                r = ours.value / hot_yard.value
                row(f"{what}, {live:,} live orders, compiled, vs `orjson.loads` of the frame",
                    f"<= {limit}x its time", r, r <= limit,
                    f"{r:.2f}x ({fmt_time(ours.value)} vs {fmt_time(hot_yard.value)})")
    ours = _find(benches, "test_feed_with_callbacks[10000-cython]")
    pure = _find(benches, "test_feed_with_callbacks[10000-python]")
    if ours and pure and ours.value and pure.value:
        r = pure.value / ours.value
        row("the same with callbacks at 10,000, compiled vs pure-Python twin", ">= 5x faster", r, r >= 5,
            f"{r:.1f}x")
    for kind, limit in (("callbacks", 224), ("bare", 200)):
        mem = _find(benches, f"test_bytes_per_live_order_placed[{kind}-cython]")
        if mem:
            n = mem.extra.get("orders")
            label = "with 3 callbacks" if kind == "callbacks" else "without callbacks"
            for key, how in (("bytes_per_order_tracemalloc", "tracemalloc"), ("bytes_per_order_rss", "RSS")):
                v = mem.extra.get(key)
                if isinstance(v, (int, float)):
                    row(f"bytes per live order placed through the manager {label}, at {n:,}, {how}",
                        f"< {limit} B", v, v < limit, f"{v:.0f} B")
    for test, what in (("test_lookup_at_scale", "lookup by client id"),
                       ("test_fill_frame_at_scale", "fill frame through `OrderCore.feed`")):
        small = _find(benches, f"{test}[1000-cython]")
        big = _find(benches, f"{test}[1000000-cython]")
        paired = big.extra.get("paired_min_ratio") if big else None
        if big and isinstance(paired, (int, float)):
            # Alternating rounds of the one test (bench_hot._paired): the fastest of each table,
            # and the median of the per-pair ratios beside it.
            e = big.extra
            row(f"{what} at 1M live orders vs 1k, compiled, alternating rounds", "<= 1.3x", paired,
                paired <= 1.3,
                f"{paired:.2f}x fastest rounds ({e['paired_min_ns_per_op_big']:.0f} vs "
                f"{e['paired_min_ns_per_op_small']:.0f} ns); median of {e['paired_rounds']} pairs "
                f"{e['paired_ratio']:.2f}x ({e['paired_ns_per_op_big']:.0f} vs "
                f"{e['paired_ns_per_op_small']:.0f} ns)")
        elif small and big and small.value and big.value:
            r = big.value / small.value
            row(f"{what} at 1M live orders vs 1k, compiled", "<= 1.3x", r, r <= 1.3,
                f"{r:.2f}x ({fmt_time(big.value)} vs {fmt_time(small.value)})")
    ours = _find(benches, "test_on_order_update_raw_frame[cython]")
    pure = _find(benches, "test_on_order_update_raw_frame[python]")
    yard = _find(benches, "test_orjson_loads_yardstick")
    if ours and yard and ours.value and yard.value:
        r = ours.value / yard.value
        row("raw frame through `await on_order_update`, compiled, vs `orjson.loads` of the frame alone",
            "<= 0.5x its time", r, r <= 0.5, f"{r:.2f}x ({fmt_time(ours.value)} vs {fmt_time(yard.value)})")
    if ours and pure and ours.value and pure.value:
        r = pure.value / ours.value
        row("the same, compiled vs pure-Python twin", ">= 5x faster", r, r >= 5, f"{r:.1f}x")
    mem = _find(benches, "test_bytes_per_live_order[cython]")
    if mem:
        t = mem.extra.get("bytes_per_order_tracemalloc")
        rss = mem.extra.get("bytes_per_order_rss")
        if isinstance(t, (int, float)):
            row("bytes per live order at 100k, tracemalloc", "< 256 B", t, t < 256, f"{t:.0f} B")
        if isinstance(rss, (int, float)):
            row("bytes per live order at 100k, resident memory", "< 512 B", rss, rss < 512, f"{rss:.0f} B")
    pub = _find(benches, "test_publish_throughput[ours-cython]")
    per = _find(benches, "test_publish_throughput[redis-py-per-event]")
    pipe = _find(benches, "test_publish_throughput[redis-py-pipeline-256]")
    if pub and per and per.value:
        r = pub.value / per.value
        row("Redis events/s, ours vs one `await publish()` per event", ">= 20x", r, r >= 20, f"{r:.1f}x")
    if pub and pipe and pipe.value:
        r = pub.value / pipe.value
        row("Redis events/s, ours vs redis-py pipeline of 256", ">= 2x", r, r >= 2, f"{r:.1f}x")
    lat = _find(benches, "test_latency_at_steady_rate")
    if lat and lat.p99 is not None:
        row("enqueue-to-subscriber p99 at 20k events/s", "< 1 ms", lat.p99, lat.p99 < 1e-3,
            f"{lat.p99 * 1e6:.0f} µs (p50 {lat.value * 1e6:.0f} µs)")
    # Order entry through the manager against the simulator (bench_entry_latency.py), p50s.
    def entry(case: str, key: str) -> float | None:
        b = _find_tokens(benches, "test_entry_latency", "cython", case)
        v = b.extra.get(key) if b else None
        return float(v) if isinstance(v, (int, float)) else None

    ws_amend, rest_cp = entry("ws-amend", "reprice_p50_us"), entry("rest-cancel_place", "reprice_p50_us")
    if ws_amend and rest_cp:
        r = ws_amend / rest_cp
        row("reprice -> repriced and live, p50: ws-fapi amend vs REST cancel-then-place", "<= 0.4x", r,
            r <= 0.4, f"{r:.2f}x ({ws_amend:.0f} µs vs {rest_cp:.0f} µs)")
    ws_place = entry("ws-cancel_place", "place_p50_us")
    rest_place = entry("rest-cancel_place", "place_p50_us")
    if ws_place and rest_place:
        r = ws_place / rest_place
        row("place -> NEW on the feed, p50: ws-fapi vs REST", "<= 0.75x", r, r <= 0.75,
            f"{r:.2f}x ({ws_place:.0f} µs vs {rest_place:.0f} µs)")
    # The client's own cost per order: build, check, sign, write (bench_order_entry.py, send path).
    b = _find(benches, "test_ws_api_place_order")
    v = b.extra.get("send_cpu_us_per_order") if b else None
    if isinstance(v, (int, float)):
        row("client CPU per ws-fapi order (build, sign, write), stub answers at once", "<= 25 µs",
            v, v <= 25, f"{v:.1f} µs")
    # A raw ALGO_UPDATE (the real captured TRIGGERED frame) through manager.feed (bench_algo.py).
    yard = _find(benches, "test_orjson_loads_algo_update_yardstick")
    for case, label in (("no-callbacks", "without callbacks"), ("on_trigger", "with on_trigger")):
        ours = _find_tokens(benches, "test_feed_algo_update_raw_frame", "cython", case)
        if ours and yard and ours.value and yard.value:
            r = ours.value / yard.value
            row(f"raw ALGO_UPDATE through `manager.feed`, {label}, compiled, vs `orjson.loads` of the frame",
                "<= 0.5x its time", r, r <= 0.5,
                f"{r:.2f}x ({fmt_time(ours.value)} vs {fmt_time(yard.value)})")
    # The journal on the feed path (bench_journal_manager.py): feed() time per frame, on vs off.
    on = _find_tokens(benches, "test_journal_manager_feed", "cython", "5ms")
    off = _find_tokens(benches, "test_journal_manager_feed", "cython", "off")
    if on and off:
        a, b = on.extra.get("feed_ns_per_frame"), off.extra.get("feed_ns_per_frame")
        if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
            r = a / b
            row("raw frame through `manager.feed` with the journal on (5 ms) vs off, compiled",
                "within 10%", r, r <= 1.1, f"{r:.2f}x ({a:.0f} ns vs {b:.0f} ns)")
    return rows


def _find_tokens(benches: list[Bench], test: str, *tokens: str) -> Bench | None:
    """The last benchmark of ``test`` whose parameter id has every token (in any order)."""
    found = []
    for b in benches:
        if not b.name.startswith(test + "["):
            continue
        parts = b.name[len(test) + 1 : -1]
        if all(t in parts.split("-") or t in parts for t in tokens):
            found.append(b)
    return found[-1] if found else None


def readme_section(data: dict[str, Any], benches: list[Bench], quick: bool) -> str:
    m = machine(data)
    targets = target_rows(benches)
    return "\n".join(
        [
            START,
            "Targets from the issues, checked against this run:",
            "",
            md_table(["figure", "target", "measured", ""], targets) if targets else "(no target figures)",
            "",
            "Key figures (*vs yardstick*: how many times faster, or smaller, ours is than the reference):",
            "",
            md_table(
                [
                    "benchmark group",
                    "ours (compiled where there is a twin)",
                    "pure-Python twin",
                    "compiled vs pure",
                    "vs yardstick",
                ],
                key_rows(benches),
            ),
            "",
            machine_line(m, quick)
            + " Every case, with ratios: [bench_results/README.md](bench_results/README.md) "
            "(chart: [bench_results/chart.png](bench_results/chart.png)). "
            "Reproduce: `bash scripts/bench.sh`.",
            END,
        ]
    )


def update_readme(readme: Path, section: str) -> bool:
    text = readme.read_text()
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i:
        print(f"bench_report: {readme} has no {START} ... {END} markers; left unchanged", file=sys.stderr)
        return False
    new = text[:i] + section + text[j + len(END) :]
    if new != text:
        readme.write_text(new)
    return True


_COLORS = {"cython": "#1f77b4", "python": "#ff7f0e", "yardstick": "#9e9e9e", None: "#2ca02c"}


def chart(benches: list[Bench], path: Path, m: dict[str, str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    gs = list(groups(benches).items())
    cols = 2
    rows = (len(gs) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(11, 1.0 + 1.9 * rows), squeeze=False)
    for ax in axes.flat[len(gs) :]:
        ax.axis("off")
    for ax, (group, members) in zip(axes.flat, gs, strict=False):
        labels = [b.label[:46] for b in members]
        kind = members[0].kind
        same = all(b.kind == kind for b in members)
        scale, unit = _scale(members) if same else (1.0, "")
        values = [b.value * scale if same else (b.vs_pure or 1.0) for b in members]
        colors = [
            _COLORS["yardstick"] if b.yardstick else _COLORS.get(b.impl, _COLORS[None]) for b in members
        ]
        ax.barh(range(len(members)), values, color=colors)
        ax.set_yticks(range(len(members)), labels, fontsize=6)
        ax.invert_yaxis()
        better = "higher is better" if kind == "rate" else "lower is better"
        ax.set_title(f"{group[:48]} ({unit}, {better})" if same else group[:60], fontsize=7)
        ax.tick_params(axis="x", labelsize=6)
        for i, v in enumerate(values):
            ax.text(v, i, f" {v:,.0f}" if v >= 1000 else f" {v:.3g}", va="center", fontsize=5)
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in _COLORS.values()]
    fig.legend(
        handles, ["compiled", "pure Python", "yardstick", "other"], loc="upper right", fontsize=7, ncol=4
    )
    fig.suptitle(
        f"trading_engine_python benchmarks: {m['cpu']}, {m['cores']} cores, Python {m['python']}, "
        f"{m['date']}",
        fontsize=8,
        x=0.01,
        ha="left",
    )
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    for dpi in (72, 60, 45):  # keep the repo small: coarser until it is under 200 KB
        fig.savefig(path, dpi=dpi)
        if path.stat().st_size < 200_000:
            break
    plt.close(fig)


def _scale(members: list[Bench]) -> tuple[float, str]:
    kind = members[0].kind
    top = max((b.value for b in members), default=0.0)
    if kind == "rate":
        return (1e-3, "k/s") if top >= 1e4 else (1.0, "/s")
    if kind == "bytes":
        return 1.0, "bytes"
    if top < 2e-6:
        return 1e9, "ns"
    if top < 1e-2:
        return 1e6, "µs"
    return 1e3, "ms"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("results", type=Path, help="pytest-benchmark --benchmark-json output")
    ap.add_argument(
        "--out", type=Path, default=None, help="output directory (default: the results' directory)"
    )
    ap.add_argument(
        "--readme",
        type=Path,
        default=None,
        help=f"README whose {START} ... {END} section is rewritten with the key figures",
    )
    ap.add_argument(
        "--quick",
        action="store_true",
        default=bool(os.environ.get("BENCH_QUICK")),
        help="label the numbers as short-mode (default: from BENCH_QUICK)",
    )
    ap.add_argument("--no-chart", action="store_true", help="skip chart.png")
    ap.add_argument("--merge-into", type=Path, default=None, metavar="BASE",
                    help="a partial run (pytest -k ...) merged into the recorded results BASE: its "
                    "benchmarks replace those of the same full name there, the others stay")
    ap.add_argument("--write-json", type=Path, default=None, metavar="PATH",
                    help="also write the results here without the per-round timings (stats.data), which "
                    "make pytest-benchmark's file tens of MB: the copy to keep in the repository")
    args = ap.parse_args(argv)
    if not args.results.is_file():
        print(f"bench_report: {args.results} not found", file=sys.stderr)
        return 2
    data, benches = load(args.results)
    if args.merge_into is not None:
        data, benches = load_data(merge(json.loads(args.merge_into.read_text()), data))
    if not benches:
        print(f"bench_report: no benchmarks in {args.results}", file=sys.stderr)
        return 1
    if args.write_json is not None:
        args.write_json.parent.mkdir(parents=True, exist_ok=True)
        args.write_json.write_text(json.dumps(compact(data), indent=1) + "\n")
    out = args.out or args.results.parent
    out.mkdir(parents=True, exist_ok=True)
    drew = False
    if not args.no_chart:
        try:
            chart(benches, out / "chart.png", machine(data))
            drew = True
        except ImportError:
            print("bench_report: matplotlib not installed; no chart", file=sys.stderr)
    (out / "README.md").write_text(full_report(data, benches, args.quick, drew) + "\n")
    print(
        f"bench_report: {len(benches)} benchmarks in {len(groups(benches))} groups -> {out / 'README.md'}"
        + (f", {out / 'chart.png'}" if drew else "")
    )
    if args.readme is not None and update_readme(args.readme, readme_section(data, benches, args.quick)):
        print(f"bench_report: key figures written into {args.readme}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
