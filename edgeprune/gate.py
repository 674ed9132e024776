"""Gate: compare a report's headline figures with budgets and give an exit code (pure logic, no CLI).

Exit codes (DESIGN.md): 0 every check passes; 3 any check fails (a figure missing from the report counts
as a failure); 4 nothing fails but some check is inconclusive (the latency confidence interval
straddles the budget).
"""
from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

from edgeprune.errors import ConfigError

PASS, FAIL, INCONCLUSIVE, MISSING = "pass", "fail", "inconclusive", "missing"
EXIT_OK, EXIT_FAIL, EXIT_INCONCLUSIVE = 0, 3, 4


@dataclass(frozen=True)
class Budgets:
    """Limits to check; None = not checked. min_accuracy: a fraction (0.9) or a percent (90)."""

    budget_ms: float | None = None
    max_memory_mb: float | None = None
    max_size_kb: float | None = None
    min_accuracy: float | None = None

    def __post_init__(self) -> None:
        for name in ("budget_ms", "max_memory_mb", "max_size_kb", "min_accuracy"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ConfigError(f"budget {name} must be a finite number, got {value!r}")
            if name == "min_accuracy":
                if not 0 <= value <= 100:
                    raise ConfigError(f"min_accuracy must be a fraction 0..1 or a percent 0..100, got {value}")
            elif value <= 0:
                raise ConfigError(f"budget {name} must be > 0, got {value}")

    @property
    def min_accuracy_fraction(self) -> float | None:
        """min_accuracy as a fraction: values > 1 are read as percent (90 -> 0.9)."""
        if self.min_accuracy is None:
            return None
        return self.min_accuracy / 100.0 if self.min_accuracy > 1 else float(self.min_accuracy)


@dataclass(frozen=True)
class Check:
    name: str
    value: float | None
    budget: float
    unit: str
    verdict: str  # pass | fail | inconclusive | missing
    detail: str


@dataclass
class GateResult:
    checks: list[Check] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        verdicts = {c.verdict for c in self.checks}
        if verdicts & {FAIL, MISSING}:
            return EXIT_FAIL
        if INCONCLUSIVE in verdicts:
            return EXIT_INCONCLUSIVE
        return EXIT_OK

    @property
    def verdict(self) -> str:
        return {EXIT_OK: PASS, EXIT_FAIL: FAIL, EXIT_INCONCLUSIVE: INCONCLUSIVE}[self.exit_code]

    def to_dict(self) -> dict:
        return {
            "verdict": self.verdict,
            "exit_code": self.exit_code,
            "checks": [c.__dict__.copy() for c in self.checks],
        }


# ----------------------------------------------------------------------------------------------------

def number(value) -> float | None:
    """A finite float from a number or a {"value": x} record; None if absent or not a number."""
    if isinstance(value, dict):
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _missing(name: str, budget: float, unit: str, key: str) -> Check:
    return Check(name, None, budget, unit, MISSING,
                 f"{key} is missing from the report: cannot check the budget, counted as a failure")


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _check_latency(summary: dict, budget: float) -> Check:
    name, unit = "latency_p95", "ms"
    lat = summary.get("latency_ms")
    if not isinstance(lat, dict):
        return _missing(name, budget, unit, "summary.latency_ms")
    p95 = number(lat.get("p95"))
    if p95 is None:
        return _missing(name, budget, unit, "summary.latency_ms.p95")
    origin = ", ".join(str(lat[k]) for k in ("source", "where") if lat.get(k))
    origin = f" ({origin})" if origin else ""
    ci = lat.get("p95_ci")
    lo = hi = None
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        lo, hi = number(ci[0]), number(ci[1])
    if lo is not None and hi is not None and lo <= hi:
        span = f"p95 {_fmt(p95)} ms, CI [{_fmt(lo)}, {_fmt(hi)}] ms vs budget {_fmt(budget)} ms{origin}"
        if hi <= budget:
            return Check(name, p95, budget, unit, PASS, f"{span}: the whole interval is within budget")
        if lo > budget:
            return Check(name, p95, budget, unit, FAIL, f"{span}: the whole interval is over budget")
        return Check(name, p95, budget, unit, INCONCLUSIVE,
                     f"{span}: the interval straddles the budget; measure more runs or on a quieter device")
    span = f"p95 {_fmt(p95)} ms vs budget {_fmt(budget)} ms (no confidence interval){origin}"
    return Check(name, p95, budget, unit, PASS if p95 <= budget else FAIL, span)


def _check_max(name: str, key: str, unit: str, summary: dict, budget: float) -> Check:
    value = number(summary.get(key))
    if value is None:
        return _missing(name, budget, unit, f"summary.{key}")
    ok = value <= budget
    return Check(name, value, budget, unit, PASS if ok else FAIL,
                 f"{_fmt(value)} {unit} {'<=' if ok else '>'} budget {_fmt(budget)} {unit}")


def _check_accuracy(summary: dict, minimum: float) -> Check:
    name, unit = "accuracy", "fraction"
    value = number(summary.get("accuracy"))
    if value is None:
        return _missing(name, minimum, unit, "summary.accuracy")
    ok = value >= minimum
    return Check(name, value, minimum, unit, PASS if ok else FAIL,
                 f"{value:.2%} {'>=' if ok else '<'} minimum {minimum:.2%}")


def evaluate_gate(report: dict, budgets: Budgets) -> GateResult:
    """Check ``report["summary"]`` against every budget that is set (see module docstring for codes)."""
    summary = report.get("summary") if isinstance(report, dict) else None
    if not isinstance(summary, dict):
        summary = {}
    checks: list[Check] = []
    if budgets.budget_ms is not None:
        checks.append(_check_latency(summary, float(budgets.budget_ms)))
    if budgets.max_memory_mb is not None:
        checks.append(_check_max("peak_memory", "peak_rss_mb", "MB", summary, float(budgets.max_memory_mb)))
    if budgets.max_size_kb is not None:
        checks.append(_check_max("size", "size_kb", "KB", summary, float(budgets.max_size_kb)))
    if budgets.min_accuracy_fraction is not None:
        checks.append(_check_accuracy(summary, budgets.min_accuracy_fraction))
    return GateResult(checks)


# ----------------------------------------------------------------------------------------------------
# Renderers
# ----------------------------------------------------------------------------------------------------

def _value_text(c: Check) -> str:
    if c.value is None:
        return "missing"
    if c.unit == "fraction":
        return f"{c.value:.2%}"
    return f"{_fmt(c.value)} {c.unit}"


def _budget_text(c: Check) -> str:
    if c.unit == "fraction":
        return f">= {c.budget:.2%}"
    return f"<= {_fmt(c.budget)} {c.unit}"


def render_junit(result: GateResult, *, suite: str = "edgeprune.gate") -> str:
    """JUnit XML: one testcase per check; a <failure> for fail, missing and inconclusive."""
    failures = sum(c.verdict != PASS for c in result.checks)
    root = ET.Element("testsuites", name=suite, tests=str(len(result.checks)), failures=str(failures),
                      errors="0")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(result.checks)),
                       failures=str(failures), errors="0", skipped="0")
    for c in result.checks:
        tc = ET.SubElement(ts, "testcase", classname=suite, name=c.name, time="0")
        if c.verdict != PASS:
            fail = ET.SubElement(tc, "failure", message=f"{c.verdict}: {c.detail}", type=c.verdict)
            fail.text = f"{c.name}: {_value_text(c)} (budget {_budget_text(c)}): {c.detail}"
        out = ET.SubElement(tc, "system-out")
        out.text = f"{c.verdict}: {c.detail}"
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


_ICON = {PASS: "✅ pass", FAIL: "❌ fail", MISSING: "❌ missing", INCONCLUSIVE: "⚠️ inconclusive"}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: GateResult) -> str:
    """A small Markdown table for a CI job summary."""
    lines = [f"### edgeprune gate: {result.verdict} (exit code {result.exit_code})", ""]
    if not result.checks:
        lines.append("No budgets were set: nothing to check.")
        return "\n".join(lines) + "\n"
    lines += ["| Check | Value | Budget | Verdict | Detail |", "|---|---|---|---|---|"]
    for c in result.checks:
        lines.append("| " + " | ".join(_cell(x) for x in (c.name, _value_text(c), _budget_text(c),
                                                           _ICON[c.verdict], c.detail)) + " |")
    return "\n".join(lines) + "\n"
