"""Several builds side by side (deployable artifact's headline figures, deltas against the first build),
and `rerender`: report.json -> report.html / report.md again, optionally with a comparison section."""
from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from ..errors import InputFileError
from ..fileio import write_text_atomic
from .html import CSS, render_html
from .markdown import render_markdown
from .plots import _num

Reports = list[tuple[str, dict[str, Any]]]


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    show: Callable[[float], str]  # the value as displayed
    delta: Callable[[float], str]  # an absolute delta as displayed (signed)


METRICS = (
    Metric("accuracy", "accuracy", lambda v: f"{100 * v:.2f} %", lambda d: f"{100 * d:+.2f} points"),
    Metric("params", "params", lambda v: f"{v:,.0f}", lambda d: f"{d:+,.0f}"),
    Metric("macs", "MACs", lambda v: f"{v:,.0f}", lambda d: f"{d:+,.0f}"),
    Metric("size_kb", "size", lambda v: f"{v:.1f} KB", lambda d: f"{d:+.1f} KB"),
    Metric("p50_ms", "latency p50", lambda v: f"{v:.4f} ms", lambda d: f"{d:+.4f} ms"),
    Metric("p95_ms", "latency p95", lambda v: f"{v:.4f} ms", lambda d: f"{d:+.4f} ms"),
)


def headline(report: dict[str, Any]) -> dict[str, float | None]:
    """The deployable artifact's figures (report["summary"]); params / MACs of the model it was made from."""
    summary = report.get("summary") or {}
    latency = summary.get("latency_ms") or {}
    artifact = (report.get("artifacts") or {}).get(summary.get("artifact")) or {}
    owner = (report.get("models") or {}).get(artifact.get("of", "student")) or {}
    return {"accuracy": _num(summary.get("accuracy")), "params": _num(owner.get("params")),
            "macs": _num(owner.get("macs")), "size_kb": _num(summary.get("size_kb")),
            "p50_ms": _num(latency.get("p50")), "p95_ms": _num(latency.get("p95"))}


def delta(base: float | None, value: float | None) -> tuple[float, float | None] | None:
    """(value - base, percent change) or None if either is missing; percent is None when base is 0."""
    if base is None or value is None:
        return None
    return value - base, None if base == 0 else 100.0 * (value - base) / base


def comparison_table(reports: Reports) -> list[dict[str, Any]]:
    """One row per metric: values per build and deltas against the first build (None for the first)."""
    heads = [headline(r) for _, r in reports]
    return [{"metric": m.key, "label": m.label, "values": [h[m.key] for h in heads],
             "deltas": [None] + [delta(heads[0][m.key], h[m.key]) for h in heads[1:]]} for m in METRICS]


def _cells(reports: Reports) -> tuple[list[str], list[tuple[str, list[str]]]]:
    by_key = {m.key: m for m in METRICS}
    rows = []
    for row in comparison_table(reports):
        metric = by_key[row["metric"]]
        cells = []
        for i, (value, d) in enumerate(zip(row["values"], row["deltas"])):
            text = "not measured" if value is None else metric.show(value)
            if i and value is not None:
                text += " (—)" if d is None else (
                    f" ({metric.delta(d[0])}, " + ("n/a %" if d[1] is None else f"{d[1]:+.1f} %") + ")")
            cells.append(text)
        rows.append((metric.label, cells))
    return [label for label, _ in reports], rows


def _artifact_note(reports: Reports) -> str:
    return "; ".join(f"{label}: {(r.get('summary') or {}).get('artifact', '?')} on "
                     f"{((r.get('summary') or {}).get('latency_ms') or {}).get('where', '?')}" for label, r in reports)


def comparison_section_html(reports: Reports) -> str:
    labels, rows = _cells(reports)
    esc = html.escape
    head = "".join(f"<th>{esc(label)}</th>" for label in labels)
    body = "".join(f"<tr><td>{esc(label)}</td>" + "".join(f"<td>{esc(c)}</td>" for c in cells) + "</tr>"
                   for label, cells in rows)
    return (f'<h2 id="comparison">Comparison</h2><table><tr><th>deployable artifact</th>{head}</tr>{body}</table>'
            f"<p class=note>Deltas in brackets are against the first build ({esc(labels[0])}): absolute, then "
            f"relative. Artifacts: {esc(_artifact_note(reports))}.</p>")


def render_comparison_html(reports: Reports) -> str:
    """A self-contained page comparing builds ([(label, report), ...]; the first is the baseline)."""
    if not reports:
        raise ValueError("render_comparison_html needs at least one report")
    title = " vs ".join(label for label, _ in reports)
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>edgeprune: '
            f"{html.escape(title)}</title><style>{CSS}</style></head><body>\n"
            f"<h1>edgeprune builds compared</h1>{comparison_section_html(reports)}\n</body></html>\n")


def render_comparison_markdown(reports: Reports) -> str:
    if not reports:
        raise ValueError("render_comparison_markdown needs at least one report")
    labels, rows = _cells(reports)
    clean = [label.replace("|", "\\|") for label in labels]
    lines = ["## Comparison", "", "| deployable artifact | " + " | ".join(clean) + " |",
             "|---|" + "---:|" * len(labels)]
    lines += [f"| {label} | " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for label, cells in rows]
    lines += ["", f"Deltas in brackets are against the first build ({clean[0]}): absolute, then relative. "
              f"Artifacts: {_artifact_note(reports)}.", ""]
    return "\n".join(lines)


def load_report(build_dir: Path) -> dict[str, Any]:
    """BUILD_DIR/report.json, or an InputFileError naming the file."""
    path = Path(build_dir) / "report.json"
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputFileError(f"{path}: report not found (is {build_dir} a build folder? run `edgeprune build` "
                             "first)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InputFileError(f"{path}: cannot read the report ({exc})") from None
    except ValueError as exc:
        raise InputFileError(f"{path}: not valid JSON ({exc}); rebuild to regenerate it") from None
    if not isinstance(report, dict) or not {"target", "summary"} <= report.keys():
        raise InputFileError(f"{path}: not an edgeprune report.json (needs the keys 'target' and 'summary')")
    return report


def _labels(dirs: list[Path]) -> list[str]:
    names = [Path(d).resolve().name or str(d) for d in dirs]
    return [f"{Path(d).resolve().parent.name}/{n}" if names.count(n) > 1 else n for d, n in zip(dirs, names)]


def rerender(build_dir: Path, compare: list[Path] | None = None) -> list[Path]:
    """Write BUILD_DIR/report.html and report.md again from report.json (and bench.json); with `compare`,
    append a comparison against those builds (this build is the baseline). Returns the written paths."""
    build_dir = Path(build_dir)
    report = load_report(build_dir)
    others = [Path(d) for d in compare or []]
    reports = list(zip(_labels([build_dir, *others]), [report, *(load_report(d) for d in others)]))
    html_text = render_html(report, build_dir, compare=reports if others else None)
    md_text = render_markdown(report)
    if others:
        md_text = md_text.rstrip("\n") + "\n\n" + render_comparison_markdown(reports)
    written = [build_dir / "report.html", build_dir / "report.md"]
    write_text_atomic(written[0], html_text)
    write_text_atomic(written[1], md_text)
    return written
