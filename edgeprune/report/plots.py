"""Figures for report.html, drawn from report.json (and bench.json's raw samples when present).

Each figure is a PNG (matplotlib, Agg canvas, no pyplot global state) returned as a base64 string so the
page stays one self-contained file. matplotlib is imported inside the functions that draw, so importing
edgeprune.report stays cheap. The data-gathering helpers are pure and tested without drawing.
"""
from __future__ import annotations

import base64
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .summary import BASELINE_ARTIFACT

from ..gate import number

STUDENT_FP32_ARTIFACT = "model.tflite"
DPI = 100


@dataclass(frozen=True)
class Point:
    """One model or artifact on the accuracy / latency plane."""

    name: str
    accuracy: float  # fraction
    latency_ms: float  # p50
    latency_from: str  # artifact whose measured p50 gives the x position
    kind: str  # "model" (torch, placed at a stand-in artifact's latency) or "artifact"


_num = number  # a finite float from a number or a {"value": x} record


def artifact_p50(report: dict[str, Any], name: str) -> float | None:
    entry = report.get("artifacts", {}).get(name) or {}
    return _num((entry.get("bench") or {}).get("latency_ms", {}).get("p50"))


def accuracy_latency_points(report: dict[str, Any]) -> list[Point]:
    """Teacher, pruned, student and every artifact that has both an accuracy and a measured p50.

    The torch models have no latency of their own: the teacher sits at teacher.tflite's p50, the pruned
    model and the student (same architecture) at model.tflite's p50. Models whose stand-in has no
    latency are left out.
    """
    models = report.get("models", {})
    points: list[Point] = []
    stand_in = {"teacher": BASELINE_ARTIFACT, "pruned": STUDENT_FP32_ARTIFACT, "student": STUDENT_FP32_ARTIFACT}
    for key, artifact in stand_in.items():
        acc = _num((models.get(key) or {}).get("accuracy"))
        lat = artifact_p50(report, artifact)
        if acc is not None and lat is not None:
            points.append(Point(key, acc, lat, artifact, "model"))
    for name, entry in report.get("artifacts", {}).items():
        acc, lat = _num((entry or {}).get("accuracy")), artifact_p50(report, name)
        if acc is not None and lat is not None:
            points.append(Point(name, acc, lat, name, "artifact"))
    return points


def pareto_front(points: list[Point]) -> list[Point]:
    """Points no other point beats on both axes (lower latency and higher accuracy), by latency."""
    front = [p for p in points
             if not any(q.latency_ms <= p.latency_ms and q.accuracy >= p.accuracy
                        and (q.latency_ms < p.latency_ms or q.accuracy > p.accuracy) for q in points)]
    return sorted(front, key=lambda p: (p.latency_ms, -p.accuracy))


def load_samples(build_dir: Path | None) -> dict[str, list[float]] | None:
    """Raw latency samples per artifact from BUILD_DIR/bench.json; None if absent or unreadable."""
    if build_dir is None:
        return None
    path = Path(build_dir) / "bench.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    samples = {}
    for name, entry in data.items():
        values = entry.get("samples_ms") if isinstance(entry, dict) else None
        if isinstance(values, list):
            clean = [float(v) for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
            if clean:
                samples[name] = clean
    return samples or None


# -- drawing -------------------------------------------------------------------------------------------

def _figure(width: float, height: float):
    from matplotlib.figure import Figure  # lazy: matplotlib costs ~0.3 s to import

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig, fig.subplots()


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    return base64.b64encode(buf.getvalue()).decode("ascii")


def split_outliers(points: list[Point], gap: float = 0.15) -> tuple[list[Point], list[Point]]:
    """(shown, below): points more than `gap` (fraction) under the best accuracy are drawn clipped at the
    bottom edge, so one untrained model (e.g. pruned before distillation) does not flatten the others."""
    if not points:
        return [], []
    best = max(p.accuracy for p in points)
    shown = [p for p in points if p.accuracy >= best - gap]
    below = [p for p in points if p.accuracy < best - gap]
    return (shown, below) if len(shown) >= 2 else (points, [])


def scatter_png(points: list[Point]) -> str | None:
    if not points:
        return None
    front = pareto_front(points)
    shown, below = split_outliers(points)
    fig, ax = _figure(8, 4.6)
    accs = [100 * p.accuracy for p in shown]
    pad = max(0.3, 0.15 * (max(accs) - min(accs)))
    low, high = min(accs) - pad * (3 if below else 1), max(accs) + pad
    for p in points:
        on_front = p in front
        y = 100 * p.accuracy if p in shown else low + 0.02 * (high - low)
        ax.scatter([p.latency_ms], [y], s=70 if on_front else 45,
                   marker=("o" if p.kind == "artifact" else "s") if p in shown else "v",
                   color="#1f77b4" if p.kind == "artifact" else "#7f7f7f",
                   edgecolors="#d62728" if on_front else "none", linewidths=2, zorder=3, clip_on=False)
        label = p.name if p in shown else f"{p.name}: {100 * p.accuracy:.2f} % (off the axis)"
        ax.annotate(label, (p.latency_ms, y), textcoords="offset points", xytext=(6, 4), fontsize=8)
    if front:
        xs, ys = [], []
        for p in front:  # staircase: the best accuracy reachable within a latency
            y = 100 * p.accuracy if p in shown else low
            if xs:
                xs.append(p.latency_ms)
                ys.append(ys[-1])
            xs.append(p.latency_ms)
            ys.append(y)
        ax.plot(xs, ys, color="#d62728", linewidth=1.2, linestyle="--", zorder=2, label="Pareto front")
        ax.legend(loc="upper right", fontsize=8)
    ax.set_ylim(low, high)
    ax.set_xlabel("latency p50 (ms)")
    ax.set_ylabel("accuracy (%)")
    ax.grid(True, alpha=0.3)
    ax.margins(x=0.15)
    return _png(fig)


def latency_distribution_png(report: dict[str, Any], samples: dict[str, list[float]] | None) -> str | None:
    """Horizontal box plots (whiskers p1..p99, no fliers) from raw samples, or percentile glyphs if none.

    The report's own p50 / p95 (over all rounds) are marked on top in both cases.
    """
    rows = []
    for name, entry in report.get("artifacts", {}).items():
        lat = ((entry or {}).get("bench") or {}).get("latency_ms") or {}
        if _num(lat.get("p50")) is None:
            continue
        rows.append((name, lat, (samples or {}).get(name)))
    if not rows:
        return None
    fig, ax = _figure(8, 0.65 * len(rows) + 1.3)
    ys = list(range(len(rows), 0, -1))
    with_samples = [(y, s) for y, (_, _, s) in zip(ys, rows) if s]
    if with_samples:
        style = dict(whis=(1, 99), showfliers=False, widths=0.5, patch_artist=True,
                     boxprops={"facecolor": "#c6dbef", "edgecolor": "#4a6f8a"},
                     medianprops={"color": "#4a6f8a"}, whiskerprops={"color": "#4a6f8a"},
                     capprops={"color": "#4a6f8a"})
        data, positions = [s for _, s in with_samples], [y for y, _ in with_samples]
        try:  # matplotlib >= 3.10
            ax.boxplot(data, positions=positions, orientation="horizontal", **style)
        except TypeError:  # older matplotlib (pyproject allows >= 3.8)
            ax.boxplot(data, positions=positions, vert=False, **style)
    for y, (_, lat, s) in zip(ys, rows):
        if not s:  # percentile glyph: a line from min (or p50) to p99
            lo = _num(lat.get("min")) or _num(lat.get("p50"))
            hi = _num(lat.get("p99")) or _num(lat.get("p95")) or lo
            ax.plot([lo, hi], [y, y], color="#9e9e9e", linewidth=3, solid_capstyle="butt")
    p50 = [(_num(lat.get("p50")), y) for y, (_, lat, _) in zip(ys, rows)]
    p95 = [(_num(lat.get("p95")), y) for y, (_, lat, _) in zip(ys, rows) if _num(lat.get("p95")) is not None]
    ax.scatter([x for x, _ in p50], [y for _, y in p50], marker="|", s=400, color="#2ca02c", linewidths=2.5,
               zorder=4, label="p50 (report)")
    if p95:
        ax.scatter([x for x, _ in p95], [y for _, y in p95], marker="|", s=400, color="#d62728", linewidths=2.5,
                   zorder=4, label="p95 (report)")
    ax.set_yticks(ys, [name for name, _, _ in rows], fontsize=8)
    ax.set_ylim(0.4, len(rows) + 0.6)
    ax.set_xlabel("latency per inference (ms)")
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def _paired_bars(rows: list[tuple[str, float, float]], legend: tuple[str, str], xlabel: str,
                 notes: list[str]) -> str:
    """Horizontal grouped bars, one pair per row (grey: first value, blue: second), a note right of each."""
    fig, ax = _figure(8, 0.32 * len(rows) + 1.3)
    ys = list(range(len(rows), 0, -1))
    ax.barh([y + 0.2 for y in ys], [r[1] for r in rows], height=0.4, color="#bdbdbd", label=legend[0])
    ax.barh([y - 0.2 for y in ys], [r[2] for r in rows], height=0.4, color="#1f77b4", label=legend[1])
    for y, (_, first, second), note in zip(ys, rows, notes):
        if note:
            ax.annotate(note, (max(first, second), y), textcoords="offset points", xytext=(4, -3), fontsize=7)
    ax.set_yticks(ys, [r[0] for r in rows], fontsize=8)
    ax.set_xlabel(xlabel)
    ax.margins(x=0.18)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return _png(fig)


def widths_png(widths: dict[str, Any]) -> str | None:
    """Grouped bars: output channels per layer before and after pruning."""
    rows = [(layer, v[0], v[1]) for layer, v in widths.items()
            if isinstance(v, (list, tuple)) and len(v) == 2 and all(_num(x) is not None for x in v)]
    if not rows:
        return None
    notes = [f"{after}/{before} ({100 * after / before:.0f} %)" if before else "" for _, before, after in rows]
    return _paired_bars(rows, ("before", "after"), "output channels", notes)


def layer_rows(report: dict[str, Any]) -> list[dict[str, Any]] | None:
    """models.pruned.layers.rows (per-layer MACs / params, teacher vs student), or None if not recorded."""
    layers = ((report.get("models") or {}).get("pruned") or {}).get("layers")
    rows = layers.get("rows") if isinstance(layers, dict) else None
    return [r for r in rows if isinstance(r, dict) and "name" in r] if isinstance(rows, list) else None


def macs_share(rows: list[dict[str, Any]], limit: int = 16) -> tuple[list[tuple[str, float, float]], float, float]:
    """([(layer, teacher %, student %)], teacher total, student total): each layer's MACs as a percentage of
    the teacher's total MACs, in model order. Only layers with MACs are kept; past `limit` layers, the ones
    with the fewest MACs are summed into one "N other layers" row."""
    macs = [(str(r["name"]), _num(r.get("macs_teacher")) or 0.0, _num(r.get("macs_student")) or 0.0) for r in rows]
    macs = [m for m in macs if m[1] or m[2]]
    t_total, s_total = sum(m[1] for m in macs), sum(m[2] for m in macs)
    if not t_total:
        return [], t_total, s_total
    if len(macs) > limit:
        keep = set(sorted(range(len(macs)), key=lambda i: -max(macs[i][1], macs[i][2]))[:limit - 1])
        rest = [m for i, m in enumerate(macs) if i not in keep]
        macs = [m for i, m in enumerate(macs) if i in keep]
        macs.append((f"{len(rest)} other layers", sum(m[1] for m in rest), sum(m[2] for m in rest)))
    return [(name, 100 * t / t_total, 100 * s / t_total) for name, t, s in macs], t_total, s_total


def macs_share_png(rows: list[dict[str, Any]]) -> str | None:
    """Grouped bars: each layer's MACs as a share of the teacher's total MACs, teacher vs student."""
    shares, _, _ = macs_share(rows)
    if not shares:
        return None
    notes = [f"{teacher:.1f} → {student:.1f} %" for _, teacher, student in shares]
    return _paired_bars(shares, ("teacher", "student"), "share of the teacher's total MACs (%)", notes)
