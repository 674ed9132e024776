"""Gate logic: verdicts, exit codes, renderers."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from edgeprune.errors import ConfigError
from edgeprune.gate import Budgets, Check, GateResult, evaluate_gate, render_junit, render_markdown


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
