"""report.html: a self-contained page made from report.json only (no network)."""
from __future__ import annotations

import html
import json
from typing import Any

from .markdown import fmt
from .summary import comparison_rows


def render_html(report: dict[str, Any]) -> str:
    summary = report.get("summary", {})
    latency = summary.get("latency_ms", {})
    target = report["target"]
    esc = html.escape
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in (
            row["name"], fmt(row["accuracy"], ".2f", 100, " %"), fmt(row["params"], ",d"), fmt(row["macs"], ",d"),
            fmt(row["size_kb"], ".1f", 1, " KB"), fmt(row["p50_ms"], ".4f"), fmt(row["p95_ms"], ".4f"),
            fmt(row["peak_rss_mb"], ".1f", 1, " MB"))) + "</tr>"
        for row in comparison_rows(report)
    )
    parity = "".join(
        f"<tr><td>{esc(name)}</td><td><code>{esc(json.dumps(entry.get('parity', {})))}</code></td></tr>"
        for name, entry in report.get("artifacts", {}).items()
    )
    versions = ", ".join(f"{esc(k)} {esc(str(v))}" for k, v in report.get("versions", {}).items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>edgeprune: {esc(target['name'])}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}}td:first-child{{text-align:left}}
.card{{background:#f4f6f8;padding:1rem;border-radius:.5rem}}</style></head><body>
<h1>edgeprune build for {esc(target['name'])}</h1>
<div class="card"><p>{esc(target['description'])}. Deployable artifact <b>{esc(str(summary.get('artifact')))}</b>:
accuracy {esc(fmt(summary.get('accuracy'), '.2f', 100, ' %'))}
(change {esc(fmt(summary.get('accuracy_change_points'), '+.2f', 1, ' points'))}),
p95 {esc(fmt(latency.get('p95'), '.4f', 1, ' ms'))}, speed-up vs fp32 teacher
{esc(fmt(summary.get('speedup_vs_teacher_tflite_fp32'), '.2f', 1, 'x'))}.</p>
<p>Latency {esc(str(latency.get('source', 'not measured')))} on {esc(str(latency.get('where', '—')))}
({esc(str(latency.get('runtime', '—')))}, {esc(str(latency.get('threads', '—')))} threads).</p></div>
<h2>Models and artifacts</h2>
<table><tr><th>model / artifact</th><th>accuracy</th><th>params</th><th>MACs</th><th>size</th><th>p50 ms</th>
<th>p95 ms</th><th>peak RSS</th></tr>{rows}</table>
<h2>Parity</h2><table><tr><th>artifact</th><th>parity</th></tr>{parity}</table>
<h2>Provenance</h2><p>{versions}</p><p>Command: <code>{esc(' '.join(report.get('command', [])))}</code></p>
</body></html>
"""
