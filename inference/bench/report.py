"""The figures: latency summaries, ratios against the baseline, the targets, the printed table.

Pure functions of the timings and of the result dict that ``python -m inference.bench``
builds (and writes with ``--json``).
"""
from __future__ import annotations

import statistics
from typing import Any

from .system import mb

# the per-photo stages of (b), in the order the service runs them (pipeline.py times them)
STAGES = ("decode", "quality", "route", "detect", "segment", "grade", "draw", "encode")

# the product's performance goals (the package docstring states them)
TARGETS = {
    "cpu_p50_ms": 120.0,  # service, concurrency 1, p50
    "cpu_speedup": 1.5,  # baseline p50 / service c=1 p50
    "service_rss_bytes": 1.2e9,
    "gpu_photos_per_s_c64": 1000.0,
    "gpu_scaling_c64_over_c1": 5.0,
}


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summary(lat_ms: list[float], photos: int, wall_s: float, **extra: Any) -> dict[str, Any]:
    """One timed row: latency percentiles over ``lat_ms``, throughput over the wall time."""
    return {
        "n": photos,
        "p50_ms": round(percentile(lat_ms, 0.5), 2),
        "p95_ms": round(percentile(lat_ms, 0.95), 2),
        "mean_ms": round(statistics.fmean(lat_ms), 2) if lat_ms else float("nan"),
        "photos_per_s": round(photos / wall_s, 2) if wall_s > 0 else float("nan"),
        "wall_s": round(wall_s, 3),
        **extra,
    }


def ratios(base: dict | None, row: dict) -> dict:
    """``base p50 / p50`` (latency) and ``photos/s / base photos/s`` (throughput)."""
    if not base:
        return {"latency": None, "throughput": None}
    return {
        "latency": round(base["p50_ms"] / row["p50_ms"], 2) if row["p50_ms"] > 0 else None,
        "throughput": round(row["photos_per_s"] / base["photos_per_s"], 2) if base["photos_per_s"] > 0 else None,
    }


def _target(value: float, target: float, met: bool, applies: bool) -> dict:
    return {"value": value, "target": target, "met": met, "applies": applies}


def check_targets(res: dict) -> dict:
    """Each target: its value in this run, whether it is met, and whether it applies to the device."""
    gpu = res["meta"]["device"].startswith("cuda")
    levels = res["service"]["levels"]
    c1 = levels.get("1")
    base = res.get("baseline")
    t: dict[str, Any] = {}
    if c1:
        t["p50_c1_le_120ms"] = _target(c1["p50_ms"], TARGETS["cpu_p50_ms"], c1["p50_ms"] <= TARGETS["cpu_p50_ms"],
                                       not gpu)
        if base:
            sp = base["p50_ms"] / c1["p50_ms"]
            t["c1_vs_baseline_ge_1.5x"] = _target(round(sp, 2), TARGETS["cpu_speedup"], sp >= TARGETS["cpu_speedup"],
                                                  True)
    rss = res["service"]["peak_rss_mb"] * 1e6
    t["service_rss_le_1.2GB"] = _target(mb(rss), mb(TARGETS["service_rss_bytes"]), rss <= TARGETS["service_rss_bytes"],
                                        not gpu)
    c64 = levels.get("64")
    if c64:
        per_s = c64["photos_per_s"]
        t["c64_ge_1000_photos_s"] = _target(per_s, TARGETS["gpu_photos_per_s_c64"],
                                            per_s >= TARGETS["gpu_photos_per_s_c64"], gpu)
        if c1:
            sc = per_s / c1["photos_per_s"]
            t["c64_ge_5x_c1"] = _target(round(sc, 2), TARGETS["gpu_scaling_c64_over_c1"],
                                        sc >= TARGETS["gpu_scaling_c64_over_c1"], gpu)
    return t


# -- the printed table ---------------------------------------------------------------------


def fmt(x: Any, nd: int = 1) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        return f"{x:.{nd}f}"
    return str(x)


def _worker_cpu(r: dict) -> str:
    """Each worker's CPU seconds, where there are several."""
    return f", worker CPU s {r['worker_cpu_s']}" if len(r.get("worker_cpu_s", [])) > 1 else ""


def _header(m: dict) -> list[str]:
    share = m.get("other_processes_cpu_share")
    return [
        f"inference.bench: device {m['device']} ({m['device_name']}), torch {m['torch']}, "
        f"{m['torch_threads']} torch threads, {m['cpus']} CPUs; load average (1, 5, 15 min) "
        f"{m['loadavg_start']} at the start, {m.get('loadavg_end')} at the end; other processes used "
        f"{fmt(None if share is None else share * 100)}% of the CPUs meanwhile",
        f"photos: {m['photos']} ({m['distinct_files']} files) from {m['photo_source']}, x{m['repeats']} repeats, "
        f"warm-up {m['warmup']}; flips {','.join(m.get('flips', [])) or '-'}; service {m['service_settings']}",
        "",
        f"{'':30} {'n':>5} {'p50 ms':>8} {'p95 ms':>8} {'photos/s':>9} {'x base p50':>10} {'x base /s':>9}  notes",
    ]


def _rows(res: dict) -> list[str]:
    """One row per timed section: (a), (b) single and batched, (c) at each level and worker count."""
    lines: list[str] = []

    def row(label: str, r: dict | None, rat: dict | None, notes: str = "") -> None:
        if r is None:
            lines.append(f"{label:30} {'skipped':>5}")
            return
        rat = rat or {}
        lines.append(
            f"{label:30} {r['n']:>5} {fmt(r['p50_ms']):>8} {fmt(r['p95_ms']):>8} {fmt(r['photos_per_s']):>9} "
            f"{fmt(rat.get('latency'), 2):>10} {fmt(rat.get('throughput'), 2):>9}  {notes}"
        )

    b = res["baseline"]
    row("(a) baseline (seed style)", b, None,
        f"{b['boxes_per_photo']} boxes/photo, imgsz {b['imgsz']}, conf {b['conf']}" if b else "")
    p = res["pipeline"]
    row("(b) pipeline, 1 photo", p["single"], res["ratios"]["pipeline_single"], f"{p['single']['graded']} graded")
    row(f"(b) pipeline, batch {p['batched']['batch']}", p["batched"], res["ratios"]["pipeline_batched"],
        "latency per batch")
    for c, r in res["service"]["levels"].items():
        row(f"(c) service, concurrency {c}", r, res["ratios"][f"service_c{c}"],
            f"mean batch {fmt(r['mean_batch'], 2)}, queue {fmt(r['mean_queue_ms'])} ms, errors {r['errors']}"
            + _worker_cpu(r))
    first = res["meta"]["service_settings"]["workers"]
    for w, more in res.get("service_more_workers", {}).items():
        for c, r in more["levels"].items():
            row(f"(c) {w} workers, concurrency {c}", r, res["ratios"][f"workers{w}_c{c}"],
                f"x columns: against {first} worker(s); mean batch {fmt(r['mean_batch'], 2)}, errors {r['errors']}"
                + _worker_cpu(r))
        lines.append(f"{'':30} RSS with {w} workers: after load {more['rss_after_load_mb']} MB, "
                     f"peak {more['peak_rss_mb']} MB (sum over the processes)")
    return lines


def _stages(res: dict) -> list[str]:
    lines = ["", "(c) the service's own timings_ms, mean per answer (predict: the batch's model call):"]
    for c, r in res["service"]["levels"].items():
        lines.append(f"  concurrency {c:>3}: " + "  ".join(f"{k} {fmt(v)}" for k, v in r.get("server_ms", {}).items()))
    st = res["stages"]
    lines += ["", f"(b) stages, ms per graded photo ({st['photos']} photos, one at a time; mean / p50):"]
    keys = [k for k in (*STAGES, "other", "total") if k in st["mean_ms"]]
    lines.append("  " + "  ".join(f"{k} {fmt(st['mean_ms'][k])}/{fmt(st['p50_ms'][k])}" for k in keys))
    sub = [k for k in ("detect.forward", "segment.forward", "encode.jpeg") if k in st["mean_ms"]]
    if sub:
        lines.append("  of which: " + "  ".join(f"{k} {fmt(st['mean_ms'][k])}" for k in sub))
    return lines


def report(res: dict) -> str:
    """The printed table of a run's result dict."""
    m = res["meta"]
    rs = res["rss"]
    lines = [
        *_header(m),
        *_rows(res),
        *_stages(res),
        "",
        f"RSS: service after load {rs['service_after_load_mb']} MB, "
        f"after the load test {rs['service_after_load_test_mb']} MB, "
        f"peak while serving {rs['service_peak_mb']} MB; process peak (ru_maxrss) {rs['process_peak_mb']} MB",
        "",
        "targets:",
    ]
    for name, t in res["targets"].items():
        if t["applies"]:
            state = "MET" if t["met"] else "NOT MET"
        else:
            state = f"n/a on {m['device']} ({'met' if t['met'] else 'not met'})"
        lines.append(f"  {name:28} {fmt(t['value'], 2):>9} (target {fmt(t['target'], 2)}): {state}")
    return "\n".join(lines)
