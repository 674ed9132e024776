"""report.md: the headline tables in Markdown, for pull-request comments."""
from __future__ import annotations

from typing import Any

from .summary import ENERGY_COLUMNS, comparison_rows, energy_rows


def fmt(value: Any, spec: str = ".3g", scale: float = 1.0, suffix: str = "") -> str:
    """'not measured' beats a misleading 0."""
    if value is None:
        return "—"
    if isinstance(value, (int, float)):
        return f"{value * scale if scale != 1.0 else value:{spec}}{suffix}"
    return str(value)


def render_markdown(report: dict[str, Any]) -> str:
    summary = report.get("summary", {})
    latency = summary.get("latency_ms", {})
    target = report["target"]
    lines = [
        f"# edgeprune build: {target['name']}",
        "",
        f"Target: {target['description']}. Deployable artifact: `{summary.get('artifact')}`.",
        "",
        "| | value |",
        "|---|---|",
        f"| accuracy | {fmt(summary.get('accuracy'), '.2f', 100, ' %')} (teacher {fmt(summary.get('teacher_accuracy'), '.2f', 100, ' %')}, "
        f"change {fmt(summary.get('accuracy_change_points'), '+.2f', 1, ' points')}) |",
        f"| latency p50 / p95 | {fmt(latency.get('p50'), '.4f')} / {fmt(latency.get('p95'), '.4f')} ms |",
        f"| speed-up vs fp32 teacher (TFLite) | {fmt(summary.get('speedup_vs_teacher_tflite_fp32'), '.2f', 1, 'x')} |",
        f"| size | {fmt(summary.get('size_kb'), '.1f', 1, ' KB')} |",
        f"| peak RSS of the runner | {fmt(summary.get('peak_rss_mb'), '.1f', 1, ' MB')} |",
        "",
        f"Latency: {latency.get('source', 'not measured')} on {latency.get('where', '—')} with "
        f"{latency.get('runtime', '—')}, {latency.get('threads', '—')} threads, {latency.get('runs', '—')} runs"
        + ("" if target["name"] == "host" else f"; these are not {target['name']} figures") + ".",
        "",
        "| model / artifact | accuracy | params | MACs | size | p50 ms | p95 ms | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in comparison_rows(report):
        lines.append(
            f"| {row['name']} | {fmt(row['accuracy'], '.2f', 100, ' %')} | {fmt(row['params'], ',d')} | "
            f"{fmt(row['macs'], ',d')} | {fmt(row['size_kb'], '.1f', 1, ' KB')} | {fmt(row['p50_ms'], '.4f')} | "
            f"{fmt(row['p95_ms'], '.4f')} | {fmt(row['peak_rss_mb'], '.1f', 1, ' MB')} |"
        )
    lines += ["", *pruning_lines(report), "", *latency_lines(report), "", *energy_lines(report),
              "", "Every figure's provenance (runtime, threads, runs, host) is in `report.json`.", ""]
    return "\n".join(lines)


def pruning_lines(report: dict[str, Any]) -> list[str]:
    """How pruning went: groups pruned, the ones left whole and why, and the output check."""
    pruned = report.get("models", {}).get("pruned", {})
    if "unstructured" in pruned:
        return [f"Pruning: unstructured, {pruned['unstructured']['sparsity']:.1%} of conv/linear weights are zero "
                "(same architecture: dense runtimes run it at the same speed; see each artifact's compressed_size)."]
    groups = pruned.get("prunability")
    if not groups:
        return ["Pruning: no prunability report."]
    check = pruned["verification"]
    lines = [f"Pruning: {sum(g['pruned'] for g in groups)} of {len(groups)} groups of coupled layers pruned; "
             f"outputs equal the original's with the removed channels zeroed within {check['max_error']:.1e} "
             f"(limit {check['tolerance']:g}). Left whole:"]
    lines += [f"- `{g['root']}` ({g['channels_before']} channels): {g['reason']}" for g in groups if not g["pruned"]]
    return lines


LATENCY_ROWS = 10  # slowest layers shown; report.json keeps them all


def latency_lines(report: dict[str, Any]) -> list[str]:
    """The budget search's outcome, and which layers cost what (predicted), teacher vs student."""
    pruned = report.get("models", {}).get("pruned", {})
    lines = []
    budget = pruned.get("budget")
    if budget:
        measured = budget["measured"][budget["percentile"]]
        lines += [f"Latency budget: {budget['percentile']} <= {budget['budget_ms']:g} ms; widths chosen by the "
                  f"latency model ({'calibrated' if budget['calibrated'] else 'uncalibrated'}), predicted "
                  f"{budget['predicted_ms']:.4f} ms, measured {budget['percentile']} {measured:.4f} ms after "
                  f"{len(budget['attempts'])} attempt(s).", ""]
    table = pruned.get("latency_layers")
    if not table:
        return lines + ["Latency per layer: not predicted."]
    lines += [f"Latency per layer, predicted for {table['runtime']} {table['dtype']} at {table['threads']} threads "
              f"(not measured; {table['model']}): teacher {table['teacher_ms']:.4f} ms, student "
              f"{table['student_ms']:.4f} ms, of which {table['overhead_ms']:.4f} ms per invoke. Slowest layers:", "",
              "| layer | kind | teacher ms | student ms |", "|---|---|---:|---:|"]
    for row in sorted(table["rows"], key=lambda r: -r["teacher_ms"])[:LATENCY_ROWS]:
        lines.append(f"| `{row['name']}` | {row['kind']} | {row['teacher_ms']:.4f} | {fmt(row['student_ms'], '.4f')} |")
    return lines


def energy_lines(report: dict[str, Any]) -> list[str]:
    """The energy table (artifacts.NAME.energy), or one line saying energy was not measured."""
    rows = energy_rows(report)
    if not rows:
        return ["Energy: not measured."]
    lines = ["| " + " | ".join(ENERGY_COLUMNS) + " |", "|---|---|---:|---|---|---|"]
    for r in rows:
        mj = "not measured" if r["mj_per_inference"] is None else fmt(r["mj_per_inference"], ".3g")
        cells = (r["artifact"], r["method"], mj, r["source"], r["basis"], r["reference"])
        lines.append("| " + " | ".join(("—" if c is None else str(c)).replace("|", "\\|") for c in cells) + " |")
    return lines
