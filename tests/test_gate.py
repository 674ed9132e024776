"""Gate logic: verdicts, exit codes, renderers; latency regression against a baseline."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from click.testing import CliRunner

from edgeprune.cli import cli
from edgeprune.errors import ConfigError, InputFileError
from edgeprune.gate import Budgets, Check, GateResult, evaluate_gate, render_junit, render_markdown
from edgeprune.regression import (compare, latencies_from_entry, load_baseline, permutation_p, regression_check,
                                  regression_check_from)


def _report(p95=10.0, ci=(9.0, 11.0), rss=40.0, size_kb=120.0, accuracy=0.91, drop=()):
    latency = {"p50": p95 * 0.8, "p95": p95, "source": "measured", "where": "host vm (AMD EPYC)"}
    if ci is not None:
        latency["p95_ci"] = list(ci)
    summary = {"artifact": "model.int8.tflite", "latency_ms": latency, "peak_rss_mb": rss,
               "size_kb": size_kb, "accuracy": accuracy}
    for key in drop:
        summary.pop(key)
    return {"schema": 1, "summary": summary}


def _by_name(result: GateResult) -> dict[str, Check]:
    return {c.name: c for c in result.checks}


@pytest.mark.parametrize(("budget", "verdict", "code"), [
    (12.0, "pass", 0),          # whole CI below budget
    (11.0, "pass", 0),          # hi == budget
    (8.5, "fail", 3),           # whole CI above budget
    (10.0, "inconclusive", 4),  # CI straddles
])
def test_latency_ci_verdicts(budget, verdict, code):
    result = evaluate_gate(_report(), Budgets(budget_ms=budget))
    (check,) = result.checks
    assert check.verdict == verdict and result.exit_code == code
    assert check.value == 10.0 and check.budget == budget and check.unit == "ms"
    assert "measured" in check.detail


@pytest.mark.parametrize(("budget", "verdict"), [(10.0, "pass"), (9.99, "fail")])
def test_latency_without_ci_compares_p95(budget, verdict):
    result = evaluate_gate(_report(ci=None), Budgets(budget_ms=budget))
    assert result.checks[0].verdict == verdict
    assert "no confidence interval" in result.checks[0].detail


def test_all_pass_and_one_fail():
    ok = Budgets(budget_ms=20, max_memory_mb=50, max_size_kb=128, min_accuracy=0.9)
    result = evaluate_gate(_report(), ok)
    assert [c.verdict for c in result.checks] == ["pass"] * 4 and result.exit_code == 0
    assert result.verdict == "pass"
    bad = Budgets(budget_ms=20, max_memory_mb=30, max_size_kb=128, min_accuracy=0.9)
    result = evaluate_gate(_report(), bad)
    checks = _by_name(result)
    assert checks["peak_memory"].verdict == "fail" and result.exit_code == 3
    assert checks["size"].verdict == "pass"


def test_fail_beats_inconclusive():
    result = evaluate_gate(_report(), Budgets(budget_ms=10.0, max_size_kb=100))
    assert {c.verdict for c in result.checks} == {"inconclusive", "fail"}
    assert result.exit_code == 3


def test_missing_figure_counts_as_failure():
    result = evaluate_gate(_report(drop=("peak_rss_mb",)), Budgets(max_memory_mb=100, max_size_kb=500))
    checks = _by_name(result)
    assert checks["peak_memory"].verdict == "missing" and checks["peak_memory"].value is None
    assert "missing" in checks["peak_memory"].detail and "peak_rss_mb" in checks["peak_memory"].detail
    assert checks["size"].verdict == "pass"
    assert result.exit_code == 3
    # no summary at all: every budget missing
    result = evaluate_gate({}, Budgets(budget_ms=5, min_accuracy=0.5))
    assert [c.verdict for c in result.checks] == ["missing", "missing"] and result.exit_code == 3


def test_missing_alone_is_not_inconclusive():
    result = evaluate_gate(_report(drop=("accuracy",)), Budgets(budget_ms=10.0, min_accuracy=90))
    assert {c.verdict for c in result.checks} == {"inconclusive", "missing"}
    assert result.exit_code == 3


@pytest.mark.parametrize(("minimum", "verdict"), [(0.9, "pass"), (90, "pass"), (91, "pass"),
                                                   (0.92, "fail"), (92, "fail"), (1, "fail")])
def test_accuracy_fraction_or_percent(minimum, verdict):
    result = evaluate_gate(_report(accuracy=0.91), Budgets(min_accuracy=minimum))
    check = result.checks[0]
    assert check.verdict == verdict
    assert check.budget <= 1.0


def test_record_values_and_no_budgets():
    report = _report()
    report["summary"]["peak_rss_mb"] = {"value": 60.0, "unit": "MB", "source": "measured"}
    assert evaluate_gate(report, Budgets(max_memory_mb=50)).checks[0].verdict == "fail"
    empty = evaluate_gate(report, Budgets())
    assert empty.checks == [] and empty.exit_code == 0


@pytest.mark.parametrize("kwargs", [{"budget_ms": -1}, {"max_size_kb": 0}, {"min_accuracy": 150},
                                    {"max_memory_mb": float("nan")}, {"budget_ms": "5"}])
def test_bad_budgets_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        Budgets(**kwargs)


def test_junit_counts_failures():
    result = evaluate_gate(_report(), Budgets(budget_ms=10.0, max_memory_mb=30, max_size_kb=500,
                                              min_accuracy=0.9))
    xml = render_junit(result)
    root = ET.fromstring(xml.encode())
    suite = root.find("testsuite")
    assert suite.get("tests") == "4" and suite.get("failures") == "2"
    cases = {tc.get("name"): tc for tc in suite.findall("testcase")}
    assert set(cases) == {"latency_p95", "peak_memory", "size", "accuracy"}
    assert cases["size"].find("failure") is None
    assert cases["latency_p95"].find("failure").get("type") == "inconclusive"
    assert cases["peak_memory"].find("failure").get("type") == "fail"


def test_junit_escapes_text():
    result = GateResult([Check("x<&>", 1.0, 0.5, "ms", "fail", 'a "quoted" <tag> & more')])
    root = ET.fromstring(render_junit(result).encode())
    assert root.find("testsuite/testcase").get("name") == "x<&>"
    assert "<tag>" in root.find("testsuite/testcase/failure").get("message")


def test_markdown_table():
    result = evaluate_gate(_report(), Budgets(budget_ms=10.0, min_accuracy=0.95))
    md = render_markdown(result)
    lines = md.strip().splitlines()
    assert "fail" in lines[0] and "exit code 3" in lines[0]
    rows = [ln for ln in lines if ln.startswith("| ") and "---" not in ln]
    assert len(rows) == 3  # header + 2 checks
    assert "latency_p95" in md and "91.00%" in md and ">= 95.00%" in md
    assert "No budgets" in render_markdown(GateResult([]))


# ----------------------------------------------------------------------------------------------------
# Latency regression against a baseline (edgeprune.regression, `gate --baseline`)
# ----------------------------------------------------------------------------------------------------

ARTIFACT = "model.int8.tflite"
STEADY = [0.040, 0.0404, 0.0396]       # three processes agreeing within 1 %
NOISY_OLD = [0.040, 0.056, 0.032]      # +-30 % between processes
NOISY_NEW = [0.052, 0.036, 0.060]


def _entry(medians, *, n=400, scale=1.0, seed=0, recorded=True, sizes=False):
    """A bench.json entry: `n` samples per round around each round's median, rounds concatenated."""
    rng = np.random.default_rng(seed)
    rounds = [np.round(m * scale * np.exp(rng.normal(0.0, 0.03, n)), 6) for m in medians]
    entry = {"samples_ms": [float(v) for r in rounds for v in r], "rounds": len(rounds), "runs": n,
             "runtime": "ai-edge-litert", "threads": 2, "where": "host test (CPU)"}
    if recorded:
        entry["round_p50_ms"] = [float(np.median(r)) for r in rounds]
    if sizes:
        entry["round_runs"] = [n] * len(rounds)
    return entry


def _build(folder, medians, *, scale=1.0, seed=0, bench=True, **kwargs):
    """A build folder: report.json naming the deployable artifact, and bench.json with its raw samples."""
    folder.mkdir(parents=True, exist_ok=True)
    report = {"schema": 1, "summary": {"artifact": ARTIFACT, "latency_ms": {"p95": 0.05, "where": "host test"}},
              "artifacts": {ARTIFACT: {"bench": {"latency_ms": {"p50": 0.04, "where": "host test"},
                                                 "samples": "bench.json"}},
                            "teacher.tflite": {"bench": {"latency_ms": {"p50": 0.08}, "samples": "bench.json"}}}}
    (folder / "report.json").write_text(json.dumps(report))
    if bench:
        (folder / "bench.json").write_text(json.dumps({
            ARTIFACT: _entry(medians, scale=scale, seed=seed, **kwargs),
            "teacher.tflite": _entry([0.08, 0.081, 0.079], seed=seed + 1)}))
    return folder / "report.json"


def _lat(medians, **kwargs):
    return latencies_from_entry(_entry(medians, **kwargs), "test")


def test_regression_aa_passes_and_30pct_slower_fails():
    aa = regression_check_from(_lat(STEADY, seed=1), _lat(STEADY, seed=2))
    assert aa.name == "latency_regression" and aa.verdict == "pass" and aa.unit == "%" and aa.budget == 5.0
    assert abs(aa.value) < 2.0
    slow = regression_check_from(_lat(STEADY, seed=1), _lat(STEADY, seed=2, scale=1.3))
    assert slow.verdict == "fail" and 25 < slow.value < 35
    # the detail gives the ratio, the p-value, the threshold and the sizes
    assert "1.3" in slow.detail and "p = 0.05" in slow.detail and "1.05 (+5%)" in slow.detail
    assert "3 + 3 rounds" in slow.detail and "n = 1200 + 1200" in slow.detail
    # a smaller slowdown than the threshold passes, even when it is consistent across rounds
    small = regression_check_from(_lat(STEADY, seed=1), _lat(STEADY, seed=2, scale=1.03))
    assert small.verdict == "pass" and "within the threshold" in small.detail


def test_noisy_small_sample_is_inconclusive():
    old, new = _lat(NOISY_OLD, seed=3), _lat(NOISY_NEW, seed=4)
    result = compare(old, new, 5.0)
    assert result.ratio > 1.05 and result.p_value > 0.05
    check = regression_check_from(old, new)
    assert check.verdict == "inconclusive" and "more rounds" in check.detail
    # 1 + 1 rounds can never be significant: p >= 0.5
    one = regression_check_from(_lat([0.040]), _lat([0.050]))
    assert one.verdict == "inconclusive" and "p >= 0.5" in one.detail


def test_samples_inside_a_round_are_not_independent_evidence():
    # thousands of samples per round but only 3 processes a side: one slow process cannot make it fail
    old = _lat([0.040, 0.040, 0.040], n=3000, seed=5)
    new = _lat([0.040, 0.052, 0.040], n=3000, seed=6)  # one process 30 % slower, as happens on a shared host
    assert regression_check_from(old, new).verdict == "pass"
    both = _lat([0.052, 0.052, 0.0395], n=3000, seed=7)  # two slow processes, one as fast as the old ones
    assert compare(old, both).verdict == "inconclusive"


def test_permutation_p_exact_and_monte_carlo():
    a, b = np.log([1.0, 1.01, 0.99]), np.log([1.2, 1.21, 1.19])
    p, min_p = permutation_p(a, b)
    assert p == pytest.approx(0.05) and min_p == pytest.approx(1 / 20)
    assert permutation_p(b, a)[0] == 1.0
    # 10 + 10 rounds: C(20, 10) splits is over the exact limit -> Monte Carlo with a fixed seed
    a10 = np.log(np.linspace(1.0, 1.02, 10))
    p10, min10 = permutation_p(a10, a10 + 0.1)
    assert p10 < 0.001 and p10 == permutation_p(a10, a10 + 0.1)[0] and min10 < 0.001
    assert permutation_p(a10, a10)[0] > 0.3


def test_round_medians_from_the_entry():
    exact = latencies_from_entry(_entry(STEADY, sizes=True), "x")
    assert exact.split == "exact" and exact.rounds == 3
    assert exact.round_p50_ms == pytest.approx(STEADY, rel=0.01)
    recorded = latencies_from_entry(_entry(STEADY), "x")
    assert recorded.split == "recorded" and recorded.round_p50_ms == pytest.approx(exact.round_p50_ms)
    chunks = latencies_from_entry(_entry(STEADY, recorded=False), "x")
    assert chunks.split == "equal-chunks" and chunks.round_p50_ms == pytest.approx(exact.round_p50_ms)
    check = regression_check_from(chunks, recorded)
    assert "equal chunks" in check.detail


def test_baseline_from_bench_json_and_report_json(tmp_path):
    old_report = _build(tmp_path / "old", STEADY, seed=1)
    from_report = load_baseline(old_report, ARTIFACT)
    assert from_report.rounds == 3 and from_report.n == 1200 and str(tmp_path / "old" / "bench.json") in from_report.label
    from_bench = load_baseline(tmp_path / "old" / "bench.json", ARTIFACT)
    assert from_bench.round_p50_ms == from_report.round_p50_ms
    # `edgeprune bench --json` keys entries by the artifact's path
    cli_json = tmp_path / "bench-cli.json"
    cli_json.write_text(json.dumps({f"build/rpi4/{ARTIFACT}": _entry(STEADY, seed=1)}))
    assert load_baseline(cli_json, ARTIFACT).round_p50_ms == from_report.round_p50_ms
    new_report = _build(tmp_path / "new", STEADY, seed=2, scale=1.3)
    check = regression_check(json.loads(new_report.read_text()), new_report, old_report)
    assert check.verdict == "fail" and "old" in check.detail


def test_baseline_without_samples_is_an_input_error(tmp_path):
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps({ARTIFACT: {"summary": {"p50": 0.04}, "rounds": 3}}))
    with pytest.raises(InputFileError, match=r"bare\.json.*no raw latency samples \('samples_ms'\)"):
        load_baseline(bare, ARTIFACT)
    old_report = _build(tmp_path / "old", STEADY, bench=False)  # report.json without its bench.json
    with pytest.raises(InputFileError, match=r"old/bench\.json: raw samples file of .*report\.json not found"):
        load_baseline(old_report, ARTIFACT)
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"a.tflite": _entry(STEADY), "b.tflite": _entry(STEADY)}))
    with pytest.raises(InputFileError, match=r"no samples for model\.int8\.tflite.*a\.tflite, b\.tflite"):
        load_baseline(other, ARTIFACT)
    with pytest.raises(InputFileError, match="not found"):
        load_baseline(tmp_path / "nope.json", ARTIFACT)


def test_new_report_without_samples_is_a_missing_check(tmp_path):
    old_report = _build(tmp_path / "old", STEADY)
    new_report = _build(tmp_path / "new", STEADY, bench=False)
    check = regression_check(json.loads(new_report.read_text()), new_report, old_report)
    assert check.verdict == "missing" and check.value is None and "bench.json" in check.detail
    assert GateResult([check]).exit_code == 3


def test_bad_regression_pct():
    with pytest.raises(ConfigError, match="regression-pct"):
        regression_check_from(_lat(STEADY), _lat(STEADY), 0)


def test_regression_check_in_junit_and_markdown():
    check = regression_check_from(_lat(STEADY, seed=1), _lat(STEADY, seed=2, scale=1.3))
    result = GateResult([check])
    case = ET.fromstring(render_junit(result).encode()).find("testsuite/testcase")
    assert case.get("name") == "latency_regression" and case.find("failure").get("type") == "fail"
    assert "| latency_regression |" in render_markdown(result) and "<= 5 %" in render_markdown(result)


@pytest.mark.parametrize(("new_medians", "scale", "code"), [(STEADY, 1.0, 0), (STEADY, 1.3, 3), (NOISY_NEW, 1.0, 4)])
def test_cli_gate_with_baseline(tmp_path, new_medians, scale, code):
    old = _build(tmp_path / "old", NOISY_OLD if code == 4 else STEADY, seed=1)
    new = _build(tmp_path / "new", new_medians, scale=scale, seed=2)
    junit = tmp_path / "gate.xml"
    result = CliRunner().invoke(cli, ["gate", str(new), "--baseline", str(old), "--junit", str(junit)])
    assert result.exit_code == code, result.output
    assert "latency_regression" in result.output and 'name="latency_regression"' in junit.read_text()
    # a looser threshold turns the +30 % into a pass
    if code == 3:
        loose = CliRunner().invoke(cli, ["gate", str(new), "--baseline", str(old), "--regression-pct", "40"])
        assert loose.exit_code == 0, loose.output


def test_cli_gate_baseline_errors(tmp_path):
    new = _build(tmp_path / "new", STEADY)
    bare = tmp_path / "old.json"
    bare.write_text(json.dumps({ARTIFACT: {"rounds": 3}}))
    result = CliRunner().invoke(cli, ["gate", str(new), "--baseline", str(bare)])
    assert result.exit_code == 1 and "old.json" in result.output and "no raw latency samples" in result.output
    usage = CliRunner().invoke(cli, ["gate", str(new), "--regression-pct", "3"])
    assert usage.exit_code == 2 and "--baseline" in usage.output
    bad = CliRunner().invoke(cli, ["gate", str(new), "--baseline", str(bare), "--regression-pct", "0"])
    assert bad.exit_code == 2
