"""report.html / report.md / comparison: rendered from a synthetic report.json of the real shape."""
from __future__ import annotations

import base64
import copy
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from edgeprune.errors import InputFileError
from edgeprune.report import (comparison_table, render_comparison_html, render_comparison_markdown, render_html,
                              render_markdown, rerender, write_reports)
from edgeprune.report.plots import Point, accuracy_latency_points, macs_share, pareto_front

CHROMIUM = Path("/usr/bin/chromium")
SECTIONS = ("Summary", "Accuracy vs latency", "Latency distribution", "Pruning: channels per layer",
            "Models and artifacts", "Parity", "Energy", "Provenance")
ENERGY = [
    {"method": "power-x-latency", "mj_per_inference": 0.1309, "source": "estimated",
     "basis": "p50 0.035 ms x (6.4 W - 2.7 W) loaded-idle from targets/rpi4.toml", "reference": "targets/rpi4.toml"},
    {"method": "rapl", "mj_per_inference": 0.0874, "source": "measured", "basis": "RAPL package energy | 600 runs",
     "reference": "/sys/class/powercap/intel-rapl:0"},
]
IMG = re.compile(r'<img alt="[^"]*" src="data:image/png;base64,([A-Za-z0-9+/=]*)">')


def _latency(p50: float, p95: float) -> dict:
    return {"p50": p50, "p90": p50 * 1.1, "p95": p95, "p99": p95 * 1.5, "mean": p50 * 1.05, "min": p50 * 0.8,
            "max": p95 * 5, "p50_ci": [p50 * 0.95, p50 * 1.05], "p95_ci": [p95 * 0.9, p95 * 1.1], "unit": "ms",
            "source": "measured", "where": "host ci (test cpu)", "runtime": "ai-edge-litert 2.3.0", "threads": 2,
            "runs": 600, "rounds": 3, "note": "measured on this host, not on rpi4"}


def _artifact(of: str, precision: str, size: int, p50: float, p95: float, parity: dict, accuracy=None) -> dict:
    entry = {"format": "tflite", "precision": precision, "of": of,
             "size": {"value": size, "unit": "bytes", "source": "measured", "on": "file size"},
             "parity": parity,
             "bench": {"latency_ms": _latency(p50, p95),
                       "startup_ms": {"value": 2.5, "unit": "ms", "source": "measured"},
                       "first_inference_ms": {"value": 0.2, "unit": "ms", "source": "measured"},
                       "peak_rss_mb": {"value": 50.4, "unit": "MB", "source": "measured"},
                       "samples": "bench.json"}}
    if accuracy is not None:
        entry["accuracy"] = {"value": accuracy, "unit": "fraction", "source": "measured"}
    return entry


def _model(acc: float, params: int, macs: int) -> dict:
    return {"accuracy": {"value": acc, "unit": "fraction", "source": "measured"},
            "params": {"value": params, "unit": "count", "source": "computed"},
            "macs": {"value": macs, "unit": "MAC", "source": "computed"}}


TEACHER_LAYERS = (("features.0", "Conv2d", 56448, 288), ("features.1", "BatchNorm2d", 12544, 64),
                  ("features.2", "ReLU", 6272, 0), ("features.4", "Conv2d", 2000000, 13824),
                  ("classifier", "Linear", 1866618, 970))  # MACs add up to the teacher's 3,941,882


def _layers(student_macs: int) -> dict:
    """models.pruned.layers: the student's MACs per layer scaled from the teacher's to add up to student_macs."""
    total = sum(t[2] for t in TEACHER_LAYERS)
    rows = [{"name": name, "type": kind, "macs_teacher": macs, "macs_student": macs * student_macs // total,
             "params_teacher": params, "params_student": params // 2} for name, kind, macs, params in TEACHER_LAYERS]
    rows[-1]["macs_student"] += student_macs - sum(r["macs_student"] for r in rows)
    return {"source": "computed", "model": "torch-pruning count_ops_and_params", "input_shape": [1, 28, 28],
            "unit": {"macs": "MAC", "params": "count"}, "rows": rows}


def make_report(p50: float = 0.04, p95: float = 0.05, accuracy: float = 0.92, size: int = 51200,
                params: int = 28490, macs: int = 1040642) -> dict:
    fp32_parity = {"max_abs_diff": 3e-6, "max_rel_diff": 4e-4, "samples": 1000}
    int8_parity = {"top1_agreement": 0.994, "accuracy": accuracy, "reference_accuracy": 0.921,
                   "mean_abs_logit_error": 0.03, "max_abs_logit_error": 1.03, "samples": 10000}
    stage = {"status": "done", "skipped": False, "config": {"seed": 0}, "config_sha256": "ab" * 32,
             "inputs": {}, "outputs": {}, "wall_seconds": 12.5, "finished": "2026-11-25T04:50:13Z"}
    return {
        "schema": 1, "created": "2026-11-25T04:56:27Z",
        "command": ["edgeprune", "build", "--target", "rpi4"],
        "config": {"target": "rpi4", "model": "example", "prune_ratio": 0.5, "weights": None},
        "target": {"name": "rpi4", "description": "Raspberry Pi 4 Model B, 4x Cortex-A72 @ 1.5 GHz",
                   "runtime": "tflite", "threads": 4, "ssh": {"python": "python3"}},
        "host": {"machine": "x86_64", "node": "ci"},
        "versions": {"python": "3.11.7", "torch": "2.13.0+cpu", "edgeprune": "0.1.0"},
        "inputs": {"model": {"spec": "example", "fingerprint": "example@5cbab52d"}, "weights": None,
                   "data": {"spec": "fashion-mnist", "sha256": "ca3a" * 16, "input_shape": [1, 28, 28]}},
        "stages": {name: dict(stage) for name in ("teacher", "prune", "distill", "export", "bench")},
        "models": {"teacher": _model(0.9274, 110474, 3941882),
                   "pruned": {**_model(0.1344, params, macs),
                              "widths": {"features.0": [32, 16], "features.4": [48, 24], "classifier": [10, 10]},
                              "layers": _layers(macs)},
                   "student": _model(0.921, params, macs)},
        "artifacts": {
            "model.tflite": _artifact("student", "fp32", 131664, 0.031, 0.063, fp32_parity),
            "model.int8.tflite": _artifact("student", "int8", size, p50, p95, int8_parity, accuracy),
            "teacher.tflite": _artifact("teacher", "fp32", 458544, 0.081, 0.103, fp32_parity),
        },
        "summary": {"artifact": "model.int8.tflite", "target": "rpi4", "accuracy": accuracy,
                    "teacher_accuracy": 0.9274, "accuracy_change_points": round(100 * (accuracy - 0.9274), 3),
                    "latency_ms": {k: _latency(p50, p95)[k] for k in
                                   ("p50", "p95", "p99", "p95_ci", "source", "where", "runtime", "threads", "runs")},
                    "peak_rss_mb": 50.4, "size_kb": size / 1024, "speedup_vs_teacher_tflite_fp32": 0.081 / p50},
    }


@pytest.fixture
def build_dir(tmp_path) -> Path:
    rng = np.random.default_rng(0)
    bench = {name: {"samples_ms": (base + rng.gamma(2.0, base / 20, 600)).round(6).tolist(), "runs": 600}
             for name, base in (("model.tflite", 0.028), ("model.int8.tflite", 0.036), ("teacher.tflite", 0.07))}
    (tmp_path / "bench.json").write_text(json.dumps(bench))
    (tmp_path / "report.json").write_text(json.dumps(make_report()))
    return tmp_path


def _images(page: str) -> list[bytes]:
    return [base64.b64decode(b64) for b64 in IMG.findall(page)]


def _section(page: str, anchor: str) -> str:
    start = page.index(f'<h2 id="{anchor}">')
    end = page.find("<h2", start + 1)
    return page[start:end if end != -1 else None]


def test_html_has_sections_images_and_is_self_contained(build_dir):
    page = render_html(json.loads((build_dir / "report.json").read_text()), build_dir)
    for heading in SECTIONS:
        assert f">{heading}</h2>" in page, heading
    images = _images(page)
    assert len(images) >= 3
    assert all(len(img) > 2000 and img.startswith(b"\x89PNG\r\n\x1a\n") for img in images)
    assert "http://" not in page and "https://" not in page
    assert "<script" not in page and "<link" not in page
    assert "not measured" in _section(page, "energy")
    assert "n = model.tflite: 600" in page  # raw samples from bench.json were used
    assert "raw samples not available" not in page
    assert "2.02×" in page and "-0.74 points" in page  # speed-up 0.081 / 0.04, accuracy change
    assert "edgeprune build --target rpi4" in page and "abababababababab" in page  # command, config hash
    assert "gate" not in _section(page, "summary").lower()


def test_html_escapes_every_report_string(build_dir):
    report = make_report()
    hostile = "<script>alert('x')</script>"
    report["target"]["description"] = hostile
    report["command"] = ["edgeprune", hostile]
    report["versions"]["evil<img src=x onerror=alert(1)>"] = hostile
    report["models"]["pruned"]["widths"][hostile] = [8, 4]
    report["artifacts"]["model.int8.tflite"]["parity"]["note"] = hostile
    page = render_html(report, build_dir)
    assert "<script>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page


def test_html_without_bench_json_draws_from_percentiles(tmp_path):
    page = render_html(make_report(), tmp_path)
    assert "raw samples not available" in page
    assert len(_images(page)) >= 3
    page_no_dir = render_html(make_report())
    assert "raw samples not available" in page_no_dir


def test_gate_and_energy_shown_only_when_present(build_dir):
    report = make_report()
    report["gate"] = {"verdict": "fail", "exit_code": 3, "checks": [
        {"name": "latency", "value": 0.05, "budget": 0.04, "unit": "ms", "verdict": "fail", "detail": "p95 over"}]}
    report["artifacts"]["model.int8.tflite"]["energy"] = ENERGY
    page = render_html(report, build_dir)
    summary = _section(page, "summary")
    assert "FAIL" in summary and "exit code 3" in summary and "p95 over" in summary
    energy = _section(page, "energy")
    assert "<table>" in energy and "0.131" in energy and "not measured" not in energy


def test_missing_numbers_say_not_measured(tmp_path):
    report = make_report()
    report["summary"]["latency_ms"] = {}
    report["summary"]["speedup_vs_teacher_tflite_fp32"] = None
    summary = _section(render_html(report, tmp_path), "summary")
    assert summary.count("not measured") >= 2 and ">0<" not in summary


def test_scatter_points_and_pareto_front():
    points = accuracy_latency_points(make_report(accuracy=0.922))  # int8 beats the student by 0.1 point
    by_name = {p.name: p for p in points}
    assert by_name["teacher"].latency_ms == 0.081 and by_name["teacher"].latency_from == "teacher.tflite"
    assert by_name["student"].latency_ms == 0.031 and by_name["pruned"].latency_from == "model.tflite"
    assert "model.tflite" not in by_name  # no accuracy of its own
    assert [p.name for p in pareto_front(points)] == ["student", "model.int8.tflite", "teacher"]
    a, b, c = Point("a", 0.9, 1.0, "a", "artifact"), Point("b", 0.8, 2.0, "b", "artifact"), \
        Point("c", 0.95, 3.0, "c", "artifact")
    assert pareto_front([c, b, a]) == [a, c]


def _two_builds():
    base = make_report(p50=0.040, p95=0.050, accuracy=0.90, size=51200, params=1000, macs=20000)
    other = make_report(p50=0.030, p95=0.060, accuracy=0.92, size=40960, params=500, macs=25000)
    return [("rpi4", base), ("warm", other)]


def test_comparison_deltas_are_right():
    rows = {row["metric"]: row for row in comparison_table(_two_builds())}
    assert rows["accuracy"]["values"] == [0.90, 0.92]
    d_abs, d_pct = rows["accuracy"]["deltas"][1]
    assert d_abs == pytest.approx(0.02) and d_pct == pytest.approx(100 * 0.02 / 0.90)
    assert rows["params"]["deltas"] == [None, (-500, -50.0)]
    assert rows["macs"]["deltas"][1] == pytest.approx((5000, 25.0))
    assert rows["size_kb"]["deltas"][1] == pytest.approx((-10.0, -20.0))
    assert rows["p50_ms"]["deltas"][1] == pytest.approx((-0.010, -25.0))
    assert rows["p95_ms"]["deltas"][1] == pytest.approx((0.010, 20.0))
    md = render_comparison_markdown(_two_builds())
    assert "| rpi4 | warm |" in md
    assert "| params | 1,000 | 500 (-500, -50.0 %) |" in md
    assert "0.0300 ms (-0.0100 ms, -25.0 %)" in md and "+2.00 points, +2.2 %" in md
    page = render_comparison_html(_two_builds())
    assert "-25.0 %" in page and "http" not in page


def test_comparison_missing_value_is_not_measured():
    builds = _two_builds()
    builds[1][1]["summary"]["latency_ms"]["p95"] = None
    row = {r["metric"]: r for r in comparison_table(builds)}["p95_ms"]
    assert row["deltas"] == [None, None]
    assert "| latency p95 | 0.0500 ms | not measured |" in render_comparison_markdown(builds)


def test_rerender_missing_or_corrupt_report_names_the_file(tmp_path):
    missing = tmp_path / "no-such-build"
    with pytest.raises(InputFileError, match=re.escape(str(missing / "report.json"))):
        rerender(missing, [])
    (tmp_path / "report.json").write_text("{ not json")
    with pytest.raises(InputFileError, match="report.json: not valid JSON"):
        rerender(tmp_path, [])


def test_rerender_writes_html_and_md_with_comparison(build_dir, tmp_path):
    other = tmp_path / "warm"
    other.mkdir()
    (other / "report.json").write_text(json.dumps(_two_builds()[1][1]))
    written = rerender(build_dir, [other])
    assert written == [build_dir / "report.html", build_dir / "report.md"]
    page, md = written[0].read_text(), written[1].read_text()
    assert 'id="comparison"' in page and ">warm</th>" in page
    assert md.startswith("# edgeprune build: rpi4") and "## Comparison" in md
    assert not list(build_dir.glob(".*partial*"))
    written = rerender(build_dir, [])
    assert "## Comparison" not in written[1].read_text()


def test_write_reports_reads_bench_json(build_dir):
    write_reports(build_dir, json.loads((build_dir / "report.json").read_text()))
    assert "n = model.tflite: 600" in (build_dir / "report.html").read_text()
    assert (build_dir / "report.md").read_text().startswith("# edgeprune build")


@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (Debian package: chromium)")
def test_report_renders_in_a_real_browser(build_dir, tmp_path):
    report = copy.deepcopy(make_report())
    (build_dir / "report.html").write_text(render_html(report, build_dir))
    url = (build_dir / "report.html").resolve().as_uri()
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    shot = tmp_path / "shot.png"
    subprocess.run([str(CHROMIUM), *flags, f"--screenshot={shot}", "--window-size=1280,2400", url],
                   capture_output=True, timeout=60, check=False)
    assert shot.exists() and shot.stat().st_size > 40_000, shot.stat().st_size  # blank 1280x2400 page: ~14 KB
    dom = subprocess.run([str(CHROMIUM), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=60,
                         check=False).stdout
    assert dom.count("data:image/png;base64,") >= 3
    assert "Accuracy vs latency</h2>" in dom and "not measured" in dom
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


# -- per-layer MACs (models.pruned.layers) ------------------------------------------------------------------

@pytest.fixture(scope="module")
def pruned_build(tmp_path_factory, user_model_spec, digits_npz) -> dict:
    """The teacher and prune stages of a real build of the fixture model (one teacher epoch: seconds)."""
    from edgeprune.config import BuildConfig
    from edgeprune.pipeline import open_context, run_stages
    from edgeprune.progress import Progress
    from edgeprune.stages import PRUNE, TEACHER
    from edgeprune.stages.common import prepare
    from edgeprune.targets import load_target

    root = tmp_path_factory.mktemp("pruned")
    config = BuildConfig(model=user_model_spec, data=f"npz:{digits_npz}", input_shape=(1, 16, 16), teacher_epochs=1,
                         batch_size=64, out=str(root / "out"), cache_dir=str(root / "cache"))

    def run() -> dict:
        ctx = open_context(config, load_target("rpi4"), Progress(enabled=False))
        prepare(ctx)
        run_stages(ctx, [TEACHER, PRUNE])
        ctx.save()  # as `build` does after its stages (a skipped stage alone writes nothing)
        return json.loads((root / "out" / "report.json").read_text())

    return {"first": run(), "again": run()}


def test_prune_stage_records_per_layer_macs_that_add_up(pruned_build):
    models = pruned_build["first"]["models"]
    layers = models["pruned"]["layers"]
    assert layers["source"] == "computed" and "torch-pruning" in layers["model"] and "not a latency" in layers["model"]
    assert layers["input_shape"] == [1, 16, 16]
    rows = {r["name"]: r for r in layers["rows"]}
    assert rows["head.0"]["type"] == "Conv2d" and rows["fc"]["type"] == "Linear"
    assert set(models["pruned"]["widths"]) <= set(rows)  # every conv / linear layer has a row
    assert all(r["macs_teacher"] or r["params_teacher"] for r in rows.values())  # no empty rows
    for key, model in (("teacher", "teacher"), ("student", "pruned")):
        assert sum(r[f"macs_{key}"] for r in rows.values()) == models[model]["macs"]["value"]
        assert sum(r[f"params_{key}"] for r in rows.values()) == models[model]["params"]["value"]
    pruned = [name for name, (before, after) in models["pruned"]["widths"].items() if after < before]
    assert pruned, "the fixture build should prune some layers"
    for name in pruned:
        assert rows[name]["macs_student"] < rows[name]["macs_teacher"], name
        assert rows[name]["params_student"] < rows[name]["params_teacher"], name
    assert rows["fc"]["macs_student"] < rows["fc"]["macs_teacher"]  # fewer inputs, all 10 outputs kept


def test_per_layer_macs_survive_a_skipped_prune_stage(pruned_build):
    again = pruned_build["again"]
    assert again["stages"]["prune"]["skipped"] is True
    assert again["models"]["pruned"]["layers"] == pruned_build["first"]["models"]["pruned"]["layers"]


def test_real_layer_table_renders_as_a_chart(pruned_build):
    section = _section(render_html(pruned_build["first"]), "pruning")
    assert "MACs per layer" in section and "not measured latency" in section
    assert len(_images(section)) == 2  # channels chart and MACs share chart
    assert "<td>head.0</td><td>Conv2d</td>" in section


def test_macs_share_is_a_percentage_of_the_teacher_total():
    rows = _layers(1040642)["rows"]
    shares, t_total, s_total = macs_share(rows)
    assert (t_total, s_total) == (3941882, 1040642)
    assert [s[0] for s in shares] == [r["name"] for r in rows]
    assert sum(s[1] for s in shares) == pytest.approx(100.0)
    assert sum(s[2] for s in shares) == pytest.approx(100 * 1040642 / 3941882)
    top, t_total2, _ = macs_share(rows, limit=3)  # two largest layers, then the other three summed
    assert [s[0] for s in top] == ["features.4", "classifier", "3 other layers"]
    assert t_total2 == t_total and sum(s[1] for s in top) == pytest.approx(100.0)
    assert macs_share([{"name": "relu", "macs_teacher": 0, "macs_student": 0}])[0] == []


def test_html_shows_macs_share_chart_next_to_channels(build_dir):
    report = make_report()
    section = _section(render_html(report, build_dir), "pruning")
    images = _images(section)
    assert len(images) == 2 and all(img.startswith(b"\x89PNG") and len(img) > 2000 for img in images)
    assert "Counted MACs" in section and "not measured latency" in section
    assert "1,040,642 of 3,941,882 MACs (26.4 %)" in section
    assert "<td>features.4</td><td>Conv2d</td><td>2,000,000</td>" in section
    assert "50.7 %" in section  # features.4: 2,000,000 of the teacher's 3,941,882
    assert "not shown" not in section and "not recorded" not in section


def test_old_report_without_layers_still_renders(build_dir):
    report = make_report()
    del report["models"]["pruned"]["layers"]
    page = render_html(report, build_dir)
    section = _section(page, "pruning")
    assert "Per-layer MACs: not recorded" in section
    assert len(_images(section)) == 1  # the channels chart only
    assert all(f">{heading}</h2>" in page for heading in SECTIONS)
    report["models"]["pruned"]["layers"] = {"rows": "garbled"}
    assert "Per-layer MACs: not recorded" in _section(render_html(report, build_dir), "pruning")


def test_energy_table_from_artifact_records(build_dir):
    report = make_report()
    report["artifacts"]["model.int8.tflite"]["energy"] = ENERGY
    report["artifacts"]["teacher.tflite"]["energy"] = [{"method": "op-count", "mj_per_inference": None,
                                                         "source": "estimated", "basis": "<b>x</b>"}]
    energy = _section(render_html(report, build_dir), "energy")
    rows = re.findall(r"<tr><td>([^<]*)</td><td class=l>([^<]*)</td><td>([^<]*)</td><td class=l>([^<]*)</td>",
                      energy)
    assert rows == [("model.int8.tflite", "power-x-latency", "0.131", "estimated"),
                    ("model.int8.tflite", "rapl", "0.0874", "measured"),
                    ("teacher.tflite", "op-count", "not measured", "estimated")]
    assert "6.4 W - 2.7 W" in energy and "targets/rpi4.toml" in energy and "&lt;b&gt;x&lt;/b&gt;" in energy
    md = render_markdown(report)
    assert "| artifact | method | mJ per inference | estimated / measured | basis | reference |" in md
    assert "| model.int8.tflite | rapl | 0.0874 | measured | RAPL package energy \\| 600 runs |" in md
    assert "| teacher.tflite | op-count | not measured | estimated | <b>x</b> | — |" in md
    assert "Energy: not measured." not in md


def test_energy_not_measured_when_no_artifact_has_it(build_dir):
    report = make_report()
    report["artifacts"]["model.tflite"]["energy"] = []
    assert "Energy: not measured." in _section(render_html(report, build_dir), "energy")
    assert "Energy: not measured." in render_markdown(report) and "mJ per inference" not in render_markdown(report)


def test_ops_section_lists_ops_and_flags(build_dir):
    report = make_report()
    assert "Operators: not recorded." in _section(render_html(report, build_dir), "ops")
    report["artifacts"]["model.int8.tflite"]["ops"] = {
        "ops": {"CONV_2D": 6, "ADD": 3}, "total": 9, "float_ops": {"MEAN": 1},
        "runtime_issues": ["FlexErf: a Flex (TensorFlow) op; tflite-runtime and ai-edge-litert cannot run it"],
        "source": "TFLite interpreter op table"}
    ops = _section(render_html(report, build_dir), "ops")
    assert re.search(r"<td>model\.int8\.tflite</td><td>9</td><td class=l>CONV_2D x6, ADD x3</td>"
                     r"<td class=l>MEAN x1</td><td class=l>FlexErf: a Flex", ops)


def test_int8_error_by_layer_section(build_dir):
    report = make_report()
    assert "Int8 error by layer: not recorded." in _section(render_html(report, build_dir), "sqnr")
    layers = [{"module": f"features.{i}", "op": "Conv+Relu", "sqnr_db": 30.0 - i, "sqnr_lost_db": 20.0 - 2 * i}
              for i in range(10)]
    report["artifacts"]["model.int8.onnx"] = {**report["artifacts"].get("model.int8.onnx", {}),
                                              "layer_sqnr": {"samples": 64, "layers": layers}}
    section = _section(render_html(report, build_dir), "sqnr")
    rows = re.findall(r"<tr><td class=l>([^<]*)</td><td class=l>[^<]*</td><td>([^<]*)</td><td>([^<]*)</td></tr>", section)
    assert rows[0] == ("features.0", "30.0", "20.0") and len(rows) == 8 and "64 real test samples" in section
