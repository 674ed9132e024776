"""report.html: one self-contained page made from report.json (plus bench.json's raw samples if present).

No network: figures are inline base64 PNGs, the style sheet is inline, there is no script. Every string
that comes from the report is escaped. A number that is missing is shown as "not measured", never as 0.
"""
from __future__ import annotations

import html
import json
import shlex
from pathlib import Path
from typing import Any

from . import plots
from .markdown import fmt, latency_lines
from .summary import BASELINE_ARTIFACT, ENERGY_COLUMNS, comparison_rows, energy_rows

NOT_MEASURED = "not measured"
FRACTION_KEYS = {"top1_agreement", "accuracy", "reference_accuracy", "host_kernels_top1_agreement"}
LOCALISE_ROWS = 8  # worst layers shown; report.json keeps them all

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:72rem;padding:0 1rem;
color:#1d2733;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{margin-top:2.2rem;border-bottom:1px solid #dde3ea;padding-bottom:.2rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
td,th{border:1px solid #d5dbe1;padding:.25rem .55rem;text-align:right;vertical-align:top}
th{background:#f0f3f6}td:first-child,th:first-child{text-align:left}td.l{text-align:left}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.85rem}
pre{background:#f4f6f8;padding:.6rem;border-radius:.4rem;white-space:pre-wrap;word-break:break-all}
.card{background:#f4f6f8;border-left:5px solid #1f77b4;padding:.8rem 1.2rem;border-radius:.5rem}
.card dl{display:grid;grid-template-columns:max-content 1fr;gap:.25rem 1.2rem;margin:0}
.card dt{color:#5a6b7b}.card dd{margin:0}.big{font-size:1.35rem;font-weight:600}
.pass{color:#1a7f37}.fail{color:#c62828}.inconclusive{color:#b26a00}
figure{margin:.8rem 0}figure img{max-width:100%;height:auto;border:1px solid #e3e7eb;border-radius:.3rem}
figcaption,.note{color:#5a6b7b;font-size:.85rem;max-width:60rem}
details{margin:.4rem 0}summary{cursor:pointer}
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(value: Any) -> float | None:
    return plots._num(value)


def _show(value: Any, spec: str = ".4g", scale: float = 1.0, suffix: str = "", missing: str = NOT_MEASURED) -> str:
    """A number formatted, or `missing` (never 0) when it is absent."""
    number = _num(value)
    if number is None:
        return missing
    return f"{number * scale:{spec}}{suffix}"


def _cell(value: Any) -> str:
    """A table cell for an arbitrary report value (escaped)."""
    if value is None:
        return "—"
    if isinstance(value, dict) and "value" in value:
        unit = value.get("unit")
        return esc(f"{value['value']}{' ' + str(unit) if unit else ''}")
    if isinstance(value, (dict, list)):
        return f"<code>{esc(json.dumps(value, default=str))}</code>"
    return esc(value)


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value and "value" not in value:
        rows = []
        for key, inner in value.items():
            rows += _flatten(inner, f"{prefix}.{key}" if prefix else str(key))
        return rows
    return [(prefix, value)]


def _kv_table(pairs: list[tuple[str, Any]], head: tuple[str, str] = ("key", "value")) -> str:
    body = "".join(f"<tr><td>{esc(k)}</td><td class=l>{_cell(v)}</td></tr>" for k, v in pairs)
    return f"<table><tr><th>{esc(head[0])}</th><th>{esc(head[1])}</th></tr>{body}</table>"


def _figure(b64: str | None, alt: str, caption: str) -> str:
    if b64 is None:
        return f"<p class=note>{esc(alt)}: nothing to draw ({caption})</p>"
    return (f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{b64}">'
            f"<figcaption>{caption}</figcaption></figure>")


# -- sections ------------------------------------------------------------------------------------------

def _summary_card(report: dict[str, Any]) -> str:
    summary = report.get("summary", {})
    target = report.get("target", {})
    latency = summary.get("latency_ms") or {}
    name = summary.get("artifact")
    artifact = report.get("artifacts", {}).get(name) or {}
    art_latency = (artifact.get("bench") or {}).get("latency_ms") or {}
    teacher_p50 = plots.artifact_p50(report, BASELINE_ARTIFACT)
    speedup = summary.get("speedup_vs_teacher_tflite_fp32")
    speed_detail = "" if _num(speedup) is None else (
        f" (p50 {esc(_show(teacher_p50, '.4f', suffix=' ms'))} for {esc(BASELINE_ARTIFACT)} → "
        f"{esc(_show(latency.get('p50'), '.4f', suffix=' ms'))})")
    change = _num(summary.get("accuracy_change_points"))
    p95_ci = latency.get("p95_ci")
    ci = (f", 95 % CI {esc(_show(p95_ci[0], '.4f'))}–{esc(_show(p95_ci[1], '.4f'))} ms"
          if isinstance(p95_ci, list) and len(p95_ci) == 2 else "")
    if latency.get("p95") is None:
        where = ""
    else:
        where = (f"{esc(latency.get('source', 'measured'))} on {esc(latency.get('where', 'unknown host'))} with "
                 f"{esc(latency.get('runtime', 'unknown runtime'))}, {esc(latency.get('threads', '?'))} threads, "
                 f"{esc(latency.get('runs', '?'))} runs")
        if art_latency.get("note"):
            where += f" — <b>{esc(art_latency['note'])}</b>"
    rows = [
        ("target", f"<b>{esc(target.get('name', '?'))}</b> — {esc(target.get('description', ''))}"),
        ("deployable artifact", f"<code>{esc(name)}</code>"
         + (f" ({esc(artifact.get('format', ''))} {esc(artifact.get('precision', ''))}, "
            f"{esc(_show(summary.get('size_kb'), '.1f', suffix=' KB'))})" if artifact else "")),
        ("speed-up vs fp32 teacher", f"<span class=big>{esc(_show(speedup, '.2f', suffix='×'))}</span>{speed_detail}"),
        ("accuracy", f"<span class=big>{esc(_show(change, '+.2f', suffix=' points'))}</span> "
         f"({esc(_show(summary.get('accuracy'), '.2f', 100, ' %'))}, teacher "
         f"{esc(_show(summary.get('teacher_accuracy'), '.2f', 100, ' %'))})"),
        ("latency p95", f"<span class=big>{esc(_show(latency.get('p95'), '.4f', suffix=' ms'))}</span>{ci}"
         + (f"<br>{where}" if where else "")),
        ("peak memory (runner RSS)", esc(_show(summary.get("peak_rss_mb"), ".1f", suffix=" MB"))),
    ]
    gate = report.get("gate")
    if isinstance(gate, dict):
        verdict = str(gate.get("verdict", "unknown"))
        checks = gate.get("checks") or []
        bad = [c for c in checks if isinstance(c, dict) and c.get("verdict") != "pass"]
        detail = "; ".join(f"{c.get('name')}: {c.get('verdict')} ({c.get('detail', '')})" for c in bad)
        rows.append(("gate", f"<span class='big {esc(verdict)}'>{esc(verdict.upper())}</span> "
                             f"({len(checks)} checks{', exit code ' + esc(gate['exit_code']) if 'exit_code' in gate else ''})"
                             + (f"<br>{esc(detail)}" if detail else "")))
    body = "".join(f"<dt>{esc(k)}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<h2 id="summary">Summary</h2><div class=card><dl>{body}</dl></div>'


def _scatter_section(report: dict[str, Any]) -> str:
    points = plots.accuracy_latency_points(report)
    front = plots.pareto_front(points)
    summary_latency = report.get("summary", {}).get("latency_ms") or {}
    caption = (
        "Accuracy (y) against p50 latency (x) for every model and artifact that has both. "
        f"The torch models have no latency of their own: <b>teacher</b> is placed at "
        f"<code>{esc(BASELINE_ARTIFACT)}</code>'s latency, <b>pruned</b> and <b>student</b> (same architecture) at "
        f"<code>{esc(plots.STUDENT_FP32_ARTIFACT)}</code>'s latency (grey squares). Blue circles are artifacts "
        "measured as themselves. Red outline and dashed staircase: the Pareto front (no other point is both faster "
        f"and at least as accurate): {esc(', '.join(p.name for p in front) or 'none')}. "
        + (f"Drawn as a triangle on the bottom edge, off the accuracy axis: "
           f"{esc(', '.join(f'{p.name} ({100 * p.accuracy:.2f} %)' for p in plots.split_outliers(points)[1]))}. "
           if plots.split_outliers(points)[1] else "") +
        f"Latency {esc(summary_latency.get('source', 'measured'))} on {esc(summary_latency.get('where', '?'))}.")
    table = "".join(
        f"<tr><td>{esc(p.name)}</td><td>{esc(_show(p.accuracy, '.2f', 100, ' %'))}</td>"
        f"<td>{esc(_show(p.latency_ms, '.4f'))}</td><td class=l>{esc(p.latency_from)}</td>"
        f"<td>{'yes' if p in front else ''}</td></tr>" for p in points)
    return ('<h2 id="accuracy-latency">Accuracy vs latency</h2>'
            + _figure(plots.scatter_png(points), "accuracy vs latency scatter", caption)
            + ("<details><summary>data</summary><table><tr><th>point</th><th>accuracy</th><th>p50 ms</th>"
               f"<th>latency of</th><th>Pareto</th></tr>{table}</table></details>" if points else ""))


def _latency_section(report: dict[str, Any], build_dir: Path | None) -> str:
    samples = plots.load_samples(build_dir)
    names = [n for n, e in report.get("artifacts", {}).items()
             if _num(((e or {}).get("bench") or {}).get("latency_ms", {}).get("p50")) is not None]
    have = [n for n in names if samples and n in samples]
    missing = [n for n in names if n not in have]
    parts = []
    if have:
        counts = ", ".join(f"{n}: {len(samples[n]):,}" for n in have)
        parts.append("Boxes: raw per-inference samples from <code>bench.json</code> (box = quartiles, whiskers = "
                     f"p1–p99, outliers hidden; n = {esc(counts)}).")
    if missing:
        parts.append(f"<b>raw samples not available</b> for {esc(', '.join(missing))}: drawn from the summary "
                     "percentiles in report.json (grey line from min to p99).")
    parts.append("Green / red ticks: p50 / p95 as recorded in report.json.")
    startup = "".join(
        f"<tr><td>{esc(n)}</td><td>{esc(_show(((report['artifacts'][n].get('bench') or {}).get('startup_ms')), '.3f'))}</td>"
        f"<td>{esc(_show(((report['artifacts'][n].get('bench') or {}).get('first_inference_ms')), '.3f'))}</td>"
        f"<td>{esc(_show(((report['artifacts'][n].get('bench') or {}).get('latency_ms') or {}).get('p50'), '.4f'))}</td>"
        f"<td>{esc(_show(((report['artifacts'][n].get('bench') or {}).get('latency_ms') or {}).get('p95'), '.4f'))}</td>"
        f"<td>{esc(_show(((report['artifacts'][n].get('bench') or {}).get('latency_ms') or {}).get('p99'), '.4f'))}</td></tr>"
        for n in names)
    return ('<h2 id="latency">Latency distribution</h2>'
            + _figure(plots.latency_distribution_png(report, samples), "latency distribution per artifact",
                      " ".join(parts))
            + ("<p class=note>Start-up, first inference and steady state, each in ms:</p><table><tr><th>artifact</th>"
               "<th>start-up</th><th>first inference</th><th>p50</th><th>p95</th><th>p99</th></tr>"
               f"{startup}</table>" if names else ""))


def _pruning_section(report: dict[str, Any]) -> str:
    models = report.get("models", {})
    widths = (models.get("pruned") or {}).get("widths") or {}
    before, after = sum(_num(v[0]) or 0 for v in widths.values()), sum(_num(v[1]) or 0 for v in widths.values())
    caption = ("Output channels per pruned layer, before (grey) and after (blue) pruning"
               + (f"; {after:.0f} of {before:.0f} channels kept ({100 * after / before:.0f} %)." if before else "."))
    t_macs, s_macs = _num((models.get("teacher") or {}).get("macs")), _num((models.get("student") or {}).get("macs"))
    t_par, s_par = _num((models.get("teacher") or {}).get("params")), _num((models.get("student") or {}).get("params"))
    totals = (f"Totals: MACs {esc(_show(t_macs, ',.0f', missing='not recorded'))} → "
              f"{esc(_show(s_macs, ',.0f', missing='not recorded'))}"
              + (f" ({100 * s_macs / t_macs:.1f} % of the teacher)" if t_macs and s_macs is not None else "")
              + f", parameters {esc(_show(t_par, ',.0f', missing='not recorded'))} → "
              f"{esc(_show(s_par, ',.0f', missing='not recorded'))}"
              + (f" ({100 * s_par / t_par:.1f} %)" if t_par and s_par is not None else "") + ".")
    return ('<h2 id="pruning">Pruning: channels per layer</h2>'
            + (_figure(plots.widths_png(widths), "channels per layer before and after pruning", caption)
               if widths else "<p class=note>No per-layer widths in report.json (models.pruned.widths).</p>")
            + f"<p>{totals}</p>" + _layer_macs(report) + _layer_latency(report))


def _layer_macs(report: dict[str, Any]) -> str:
    """Per-layer MACs share, teacher vs student (models.pruned.layers), with the counts in a details table."""
    rows = plots.layer_rows(report)
    if rows is None:
        return "<h3>MACs per layer</h3><p>Per-layer MACs: not recorded (no models.pruned.layers in report.json).</p>"
    shares, t_total, s_total = plots.macs_share(rows)
    caption = ("Counted MACs (Torch-Pruning's op counter, batch 1), not measured latency: each layer's share of "
               "the teacher's total, grey teacher, blue student"
               + (f"; the student counts {s_total:,.0f} of {t_total:,.0f} MACs ({100 * s_total / t_total:.1f} %)."
                  if t_total else "."))

    def share(value: Any, total: float) -> str:
        return _show(value, ".1f", 100 / total, " %", missing="—") if total else "—"

    table = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in (
            r["name"], r.get("type", ""), fmt(r.get("macs_teacher"), ",d"), fmt(r.get("macs_student"), ",d"),
            share(r.get("macs_teacher"), t_total), share(r.get("macs_student"), s_total),
            fmt(r.get("params_teacher"), ",d"), fmt(r.get("params_student"), ",d"))) + "</tr>"
        for r in rows)
    return ("<h3>MACs per layer</h3>"
            + _figure(plots.macs_share_png(rows), "share of MACs per layer, teacher vs student", esc(caption))
            + "<details><summary>per-layer MACs and parameters</summary><table><tr><th>layer</th><th>type</th>"
              "<th>MACs teacher</th><th>MACs student</th><th>share of teacher total</th>"
              "<th>share of student total</th><th>params teacher</th><th>params student</th></tr>"
              f"{table}</table></details>")


def _layer_latency(report: dict[str, Any]) -> str:
    """Predicted latency per layer (models.pruned.latency_layers) and the budget search, as the markdown says it."""
    lines = latency_lines(report)
    text = "".join(f"<p>{esc(line)}</p>" for line in lines if line and not line.startswith("|"))
    table = pruned.get("latency_layers") if (pruned := report.get("models", {}).get("pruned", {})) else None
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(c)}</td>" for c in (r["name"], r["kind"], fmt(r["teacher_ms"], ".4f"),
                                                         fmt(r.get("student_ms"), ".4f"))) + "</tr>"
        for r in (table or {}).get("rows", []))
    details = ("<details><summary>predicted latency of every layer</summary><table><tr><th>layer</th><th>kind</th>"
               f"<th>teacher ms</th><th>student ms</th></tr>{rows}</table></details>") if rows else ""
    return f"<h3>Latency per layer</h3>{text}{details}"


def _models_section(report: dict[str, Any]) -> str:
    rows = "".join(
        "<tr>" + "".join(f"<td>{esc(cell)}</td>" for cell in (
            row["name"], fmt(row["accuracy"], ".2f", 100, " %"), fmt(row["params"], ",d"), fmt(row["macs"], ",d"),
            fmt(row["size_kb"], ".1f", 1, " KB"), fmt(row["p50_ms"], ".4f"), fmt(row["p95_ms"], ".4f"),
            fmt(row["peak_rss_mb"], ".1f", 1, " MB"))) + "</tr>"
        for row in comparison_rows(report))
    return ('<h2 id="models">Models and artifacts</h2><table><tr><th>model / artifact</th><th>accuracy</th>'
            "<th>params</th><th>MACs</th><th>size</th><th>p50 ms</th><th>p95 ms</th><th>peak RSS</th></tr>"
            f"{rows}</table><p class=note>— = not applicable (torch models are not benchmarked; fp32 artifacts "
            "are checked for parity with the student rather than re-evaluated).</p>")


def _flat_parity(parity: dict[str, Any]) -> dict[str, Any]:
    """Numbers only, with this machine's fused-kernel agreement of an int8 ONNX model as its own column."""
    flat = {k: v for k, v in parity.items() if _num(v) is not None}
    host = parity.get("host_kernels")
    if isinstance(host, dict):
        flat["host_kernels_top1_agreement"] = host.get("top1_agreement")
    return flat


def _parity_cell(key: str, value: Any) -> str:
    if _num(value) is None:
        return "—" if value is None else esc(value)
    if key in FRACTION_KEYS:
        return esc(_show(value, ".2f", 100, " %"))
    if key == "samples":
        return esc(f"{int(value):,}")
    return esc(_show(value, ".3g"))


def _parity_section(report: dict[str, Any]) -> str:
    entries = [(n, (e or {}).get("parity")) for n, e in report.get("artifacts", {}).items()]
    entries = [(n, _flat_parity(p)) for n, p in entries if isinstance(p, dict)]
    if not entries:
        return '<h2 id="parity">Parity</h2><p>Parity: not measured.</p>'
    keys: list[str] = []
    for _, parity in entries:
        keys += [k for k in parity if k not in keys]
    head = "".join(f"<th>{esc(k.replace('_', ' '))}</th>" for k in keys)
    body = "".join(f"<tr><td>{esc(n)}</td>" + "".join(f"<td>{_parity_cell(k, p.get(k))}</td>" for k in keys) + "</tr>"
                   for n, p in entries)
    return (f'<h2 id="parity">Parity</h2><table><tr><th>artifact</th>{head}</tr>{body}</table>'
            "<p class=note>fp32 artifacts: largest absolute / relative difference of the outputs from the torch "
            "student; fp16-weight, dynamic-range and int8 artifacts: top-1 agreement with the student, logit error "
            "and accuracy on the test set; int8 ONNX as written (graph optimisations off: what Arm and VNNI "
            "kernels compute), with this machine's fused int8 kernels in the host kernels column "
            "(— = not applicable).</p>")


def _ops_section(report: dict[str, Any]) -> str:
    entries = [(n, (e or {}).get("ops")) for n, e in report.get("artifacts", {}).items()]
    entries = [(n, o) for n, o in entries if isinstance(o, dict) and isinstance(o.get("ops"), dict)]
    if not entries:
        return '<h2 id="ops">Operators</h2><p>Operators: not recorded.</p>'

    def counts(ops: dict[str, Any]) -> str:
        return ", ".join(f"{name} x{count}" for name, count in ops.items()) or "none"

    body = "".join(
        f"<tr><td>{esc(n)}</td><td>{esc(str(o.get('total', '—')))}</td><td class=l>{esc(counts(o['ops']))}</td>"
        f"<td class=l>{esc(counts(o.get('float_ops') or {}))}</td>"
        f"<td class=l>{esc('; '.join(o.get('runtime_issues') or []) or 'none')}</td></tr>" for n, o in entries)
    return ('<h2 id="ops">Operators</h2><table><tr><th>artifact</th><th>ops</th><th>by type</th>'
            f"<th>float ops left in int8</th><th>runtime issues</th></tr>{body}</table>"
            "<p class=note>From each artifact's own graph (TFLite interpreter op table, ONNX nodes). Float ops in "
            "an int8 model run slower and unquantized; runtime issues are ops the device runtime cannot run "
            "(e.g. Flex ops).</p>")


def _sqnr_section(report: dict[str, Any]) -> str:
    record = (report.get("artifacts", {}).get("model.int8.onnx") or {}).get("layer_sqnr")
    if not isinstance(record, dict) or not isinstance(record.get("layers"), list):
        return '<h2 id="sqnr">Int8 error by layer</h2><p>Int8 error by layer: not recorded.</p>'
    body = "".join(
        f"<tr><td class=l>{esc(str(r.get('module') or r.get('node', '')))}</td><td class=l>{esc(str(r.get('op', '')))}</td>"
        f"<td>{esc(_show(r.get('sqnr_db'), '.1f'))}</td><td>{esc(_show(r.get('sqnr_lost_db'), '.1f'))}</td></tr>"
        for r in record["layers"][:LOCALISE_ROWS] if isinstance(r, dict))
    return ('<h2 id="sqnr">Int8 error by layer</h2><table><tr><th>module</th><th>op</th><th>SQNR dB</th>'
            f"<th>SQNR lost dB</th></tr>{body}</table>"
            f"<p class=note>model.int8.onnx vs model.onnx on {esc(str(record.get('samples', '?')))} real test samples, "
            "worst layer first: per-channel signal-to-quantisation-noise ratio of each quantised activation, and how "
            "much of it the layer loses relative to its inputs. A layer far ahead of the rest is the one to keep in "
            "float or fix.</p>" + _fallback_note(report))


def _fallback_note(report: dict[str, Any]) -> str:
    record = (report.get("artifacts", {}).get("model.int8.onnx") or {}).get("fallback")
    if not isinstance(record, dict) or not record.get("steps"):
        return ""
    first, last = record["steps"][0], record["steps"][-1]
    text = (f"Allowed int8 accuracy drop (--max-int8-drop): {_show(record.get('max_drop_pp'), 'g')} points; "
            f"full int8 lost {_show(first.get('drop_pp'), '.2f')}.")
    if record.get("needed"):
        modules = ", ".join(str(layer.get("module") or layer.get("nodes")) for layer in record.get("float_layers", []))
        cost = record.get("latency_cost") or {}
        text += (f" Kept in float: {modules} (and the nodes reading their outputs); drop now "
                 f"{_show(last.get('drop_pp'), '.2f')} points; p50 latency x{_show(cost.get('ratio'), '.2f')} of full "
                 f"int8 ({cost.get('threads', '?')} thread, measured on {cost.get('host', 'this machine')}).")
    tflite = (report.get("artifacts", {}).get("model.int8.tflite") or {}).get("int8_drop")
    if isinstance(tflite, dict) and isinstance(tflite.get("post_training"), dict):
        text += f" model.int8.tflite: post-training int8 lost {_show(tflite['post_training'].get('drop_pp'), '.2f')} points"
        qat = tflite.get("quantisation_aware")
        if isinstance(qat, dict):
            text += (f"; after {qat.get('epochs', '?')} epochs of quantisation-aware training "
                     f"{_show(qat.get('drop_pp'), '.2f')}")
        text += "."
    return f"<p>{esc(text)}</p>"


def _energy_section(report: dict[str, Any]) -> str:
    rows = energy_rows(report)
    if not rows:
        return '<h2 id="energy">Energy</h2><p>Energy: not measured.</p>'
    head = "".join(f"<th>{esc(c)}</th>" for c in ENERGY_COLUMNS)
    body = "".join(
        f"<tr><td>{esc(r['artifact'])}</td><td class=l>{esc(r['method'] or '—')}</td>"
        f"<td>{esc(_show(r['mj_per_inference'], '.3g'))}</td>"
        f"<td class=l>{esc(r['source'] or 'not recorded')}</td>"
        f"<td class=l>{esc(r['basis'] or '—')}</td><td class=l>{esc(r['reference'] or '—')}</td></tr>" for r in rows)
    return (f'<h2 id="energy">Energy</h2><table><tr>{head}</tr>{body}</table>'
            "<p class=note>Energy per inference in millijoules: estimated figures are computed from other numbers "
            "(see basis), measured ones read from an energy counter or meter.</p>")


def _provenance_section(report: dict[str, Any]) -> str:
    command = report.get("command")
    command_text = shlex.join(str(c) for c in command) if isinstance(command, list) and command else None
    stage_rows = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(st.get('status', '?'))}</td>"
        f"<td>{'reused' if st.get('skipped') else 'ran'}</td>"
        f"<td>{esc(_show(st.get('wall_seconds'), '.2f', missing='not recorded'))}</td>"
        f"<td class=l><code title=\"{esc(st.get('config_sha256', ''))}\">{esc(str(st.get('config_sha256', '—'))[:16])}</code></td>"
        f"<td class=l>{esc(st.get('finished', '—'))}</td></tr>"
        for name, st in report.get("stages", {}).items() if isinstance(st, dict))
    stage_configs = "".join(
        f"<details><summary>{esc(name)} config</summary><pre>{esc(json.dumps(st.get('config'), indent=2, default=str))}"
        "</pre></details>" for name, st in report.get("stages", {}).items() if isinstance(st, dict))
    meta = [("schema", report.get("schema")), ("created", report.get("created"))]
    meta += [(f"host.{k}", v) for k, v in (report.get("host") or {}).items()]
    return ('<h2 id="provenance">Provenance</h2>'
            "<h3>Reproduce</h3>"
            + (f"<pre>{esc(command_text)}</pre>" if command_text else "<p>Command: not recorded.</p>")
            + _kv_table(meta)
            + "<h3>Stages</h3><table><tr><th>stage</th><th>status</th><th>this run</th><th>wall s</th>"
              f"<th>config sha256</th><th>finished</th></tr>{stage_rows}</table>{stage_configs}"
            + "<h3>Inputs</h3>" + _kv_table(_flatten(report.get("inputs") or {}))
            + "<h3>Versions</h3>" + _kv_table(list((report.get("versions") or {}).items()), ("package", "version"))
            + "<h3>Config</h3>" + _kv_table(list((report.get("config") or {}).items()), ("option", "value"))
            + "<h3>Target profile</h3>" + _kv_table(_flatten(report.get("target") or {}), ("fact", "value")))


def render_html(report: dict[str, Any], build_dir: Path | None = None, *,
                compare: list[tuple[str, dict[str, Any]]] | None = None) -> str:
    """The page. `build_dir` lets it read bench.json's raw samples; `compare` appends a comparison section
    ([(label, report), ...], this build first)."""
    target = report.get("target", {})
    sections = [
        _summary_card(report), _scatter_section(report), _latency_section(report, build_dir),
        _pruning_section(report), _models_section(report), _parity_section(report), _sqnr_section(report), _ops_section(report),
        _energy_section(report),
        _provenance_section(report),
    ]
    if compare:
        from .compare import comparison_section_html  # compare imports this module

        sections.append(comparison_section_html(compare))
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width,initial-scale=1">'
            f"<title>edgeprune: {esc(target.get('name', '?'))}</title><style>{CSS}</style></head><body>\n"
            f"<h1>edgeprune build for {esc(target.get('name', '?'))}</h1>"
            f"<p class=note>{esc(target.get('description', ''))} · report.json schema {esc(report.get('schema', '?'))}"
            f" · created {esc(report.get('created', '?'))}</p>\n"
            + "\n".join(sections) + "\n</body></html>\n")
