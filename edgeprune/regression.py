"""Latency regression against a baseline build: is the new build slower than the old one by more than a
threshold, with statistical significance? Pure logic plus file loading; the CLI is `edgeprune gate
REPORT.json --baseline OLD.json [--regression-pct 5]`.

Decision rule (one gate check, ``latency_regression``)
------------------------------------------------------
The unit of replication is the benchmark *process* (a "round"), not the single inference. On a shared
machine each fresh process lands on its own core placement, frequency and neighbours' load, so its whole
latency distribution is shifted, while the thousands of samples inside one process are strongly
correlated. Recorded here (benchmarks/results/aa_gate.md): the p50 of 40 processes of one artifact
spreads over up to -34 % / +93 % around their median (coefficient of variation 10-25 %), and the noise
is not Gaussian and changes within minutes: at times most processes agree within 1 % and a few are 30 %
faster; at others a third of them are 20-90 % slower.

* A test over pooled samples (Mann-Whitney U on ~10^4 inferences per side) treats one process's shift
  as thousands of independent observations: its p-value is ~0 for almost any A/A pair, so only the
  magnitude condition is left and its false-alarm rate is not controlled (up to 42 of 100 A/A trials
  failed at 3 rounds per side).
* A t-test on the (log) round medians has the right unit, but means and variances are dragged by the
  odd 30 % process: 3 + 3 rounds passed only 56-73 A/A trials of 100.
* A bootstrap over 3 rounds has only 10 distinct resamples and under-states the variance.

So the rule works on one number per process, its median latency (``p50``), and uses rank-robust,
distribution-free statistics on those numbers:

* ``ratio = exp(HL)``, HL = Hodges-Lehmann shift of the log round medians (median of all
  new_j - old_i differences): the typical new/old ratio, not moved by one odd process out of three.
* ``p`` = one-sided permutation test of HL over processes (H0: old and new rounds exchangeable; exact
  for up to 20,000 splits, else 10,000 random splits with a fixed seed). Exact at any number of rounds
  and any noise shape, so an A/A comparison fails at most alpha = 5 % of the time. Its honest limit: with
  m + n rounds the smallest possible p is 1 / C(m + n, m), e.g. 0.05 for 3 + 3, so a 3-round build can
  only be called significantly slower when every new round is slower than every old one.

Verdicts, with threshold ``T = 1 + regression_pct / 100``:

* ``fail``          ratio > T and p <= alpha (0.05): slower than the threshold allows, significantly.
* ``inconclusive``  ratio > T but p > alpha: it looks like a regression, but the run-to-run noise could
                    explain it; re-measure both sides with more rounds.
* ``pass``          ratio <= T: no regression beyond the threshold (a significant but smaller slowdown
                    passes, and the detail says so).

benchmarks/aa_gate.py measures the rule on recorded processes: A/A false alarms stay near the 5 % of
the test; passing >= 95 A/A trials and failing >= 95 trials with a +10 % slowdown takes 5 rounds per side
when processes are stable (1 thread on this 2-vCPU VM: CV 5 %), and 10-15 or more when they are bimodal
(2 threads on 2 shared vCPUs: CV 10-29 %); never 3. The baseline should be measured on the same machine in
the same conditions: a drift of the machine between the two builds is indistinguishable from a regression.

Where the samples come from
---------------------------
A build folder's report.json names the deployable artifact (``summary.artifact``) and, per artifact,
``artifacts[NAME].bench.samples`` = the raw samples file (``bench.json``) next to it. bench.json (and
``edgeprune bench --json``) holds ``{artifact: {"samples_ms": [...], "rounds": R, "round_p50_ms": [...]}}``
with the rounds' samples concatenated in order. Per-round medians are taken from, in order:
``round_runs`` (per-round sample counts, if recorded) to split ``samples_ms`` exactly; else the recorded
``round_p50_ms`` (each computed by the runner from that process's own samples); else ``rounds`` equal
contiguous chunks of ``samples_ms`` (approximate: with a minimum timed duration, rounds differ in length).
"""
from __future__ import annotations

import itertools
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeprune.errors import ConfigError, InputFileError
from edgeprune.gate import FAIL, INCONCLUSIVE, MISSING, PASS, Check

CHECK_NAME = "latency_regression"
ALPHA = 0.05  # one-sided significance level for "the new build is slower"
DEFAULT_REGRESSION_PCT = 5.0


class SamplesMissing(InputFileError):
    """A report or bench file has no raw latency samples for the artifact."""


@dataclass(frozen=True)
class Latencies:
    """Latency of one artifact: one median per benchmark process (round), plus provenance."""

    round_p50_ms: tuple[float, ...]
    n: int                 # raw samples over all rounds
    p50_ms: float          # median of the pooled raw samples (for the detail line)
    label: str             # file (and key) the samples came from, for messages
    where: str | None = None
    split: str = "recorded"  # how round medians were obtained: exact | recorded | single | equal-chunks
    settings: tuple[tuple[str, Any], ...] = ()  # runtime, threads, warm-up, timing, inputs (as recorded)

    @property
    def rounds(self) -> int:
        return len(self.round_p50_ms)


@dataclass(frozen=True)
class Comparison:
    ratio: float           # new / old: Hodges-Lehmann shift of the log per-round medians, exponentiated
    p_value: float         # one-sided permutation test over rounds, H0: old and new rounds exchangeable
    min_p: float           # the smallest p-value these numbers of rounds can give: 1 / C(m + n, m)
    threshold: float       # 1 + pct / 100
    verdict: str


# ----------------------------------------------------------------------------------------------------
# Statistics
# ----------------------------------------------------------------------------------------------------

def compare(old: Latencies, new: Latencies, regression_pct: float = DEFAULT_REGRESSION_PCT) -> Comparison:
    """The decision rule of the module docstring, on the per-round medians of both sides."""
    threshold = 1.0 + _check_pct(regression_pct) / 100.0
    a = np.log(np.asarray(old.round_p50_ms, dtype=np.float64))
    b = np.log(np.asarray(new.round_p50_ms, dtype=np.float64))
    if a.size == 0 or b.size == 0:
        raise ValueError("compare() needs at least one round on each side")
    shift = hodges_lehmann(a, b)
    ratio = math.exp(shift)
    p, min_p = permutation_p(a, b)
    if ratio <= threshold:
        verdict = PASS
    elif p <= ALPHA:
        verdict = FAIL
    else:
        verdict = INCONCLUSIVE
    return Comparison(ratio=ratio, p_value=p, min_p=min_p, threshold=threshold, verdict=verdict)


def hodges_lehmann(a: np.ndarray, b: np.ndarray) -> float:
    """Median of all pairwise differences b_j - a_i (the Hodges-Lehmann shift of b against a)."""
    return float(np.median((np.asarray(b)[:, None] - np.asarray(a)[None, :]).ravel()))


_EXACT_LIMIT = 20_000     # enumerate every split up to this many (7 + 7 rounds = 3432, 8 + 8 = 12870)
_MONTE_CARLO = 10_000     # random splits beyond it (fixed seed: the same files give the same verdict)
_CHUNK = 1_000


def permutation_p(a: np.ndarray, b: np.ndarray, *, seed: int = 0) -> tuple[float, float]:
    """One-sided permutation p-value of the Hodges-Lehmann shift of b over a, and the smallest possible p.

    Under H0 (old and new rounds exchangeable) every split of the pooled rounds into sizes len(a), len(b)
    is equally likely; p = share of splits whose shift is >= the observed one (ties count against
    "slower", so the test is conservative). Exact enumeration for small samples, else Monte Carlo with
    ``p = (1 + hits) / (1 + draws)``.
    """
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    x = np.concatenate([a, b])
    total, m = x.size, b.size
    observed = hodges_lehmann(a, b) - 1e-12 * max(1.0, float(np.abs(x).max()))
    splits = math.comb(total, m)
    exact = splits <= _EXACT_LIMIT
    if exact:
        new_idx = np.array(list(itertools.combinations(range(total), m)), dtype=np.int64)
    else:
        rng = np.random.default_rng(seed)
        new_idx = np.argsort(rng.random((_MONTE_CARLO, total)), axis=1)[:, :m]
    hits = 0
    for start in range(0, len(new_idx), _CHUNK):
        idx = new_idx[start:start + _CHUNK]
        in_new = np.zeros((len(idx), total), dtype=bool)
        in_new[np.arange(len(idx))[:, None], idx] = True
        order = np.argsort(~in_new, axis=1, kind="stable")  # new members first, then old, each in order
        values = x[order]
        bb, aa = values[:, :m], values[:, m:]
        shifts = np.median((bb[:, :, None] - aa[:, None, :]).reshape(len(idx), -1), axis=1)
        hits += int((shifts >= observed).sum())
    if exact:
        return hits / splits, 1.0 / splits
    return (1 + hits) / (1 + len(new_idx)), 1.0 / (1 + len(new_idx))


def _check_pct(value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ConfigError(f"--regression-pct must be a finite number > 0 (percent), got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------------------------------
# Loading
# ----------------------------------------------------------------------------------------------------

def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise InputFileError(f"{path}: {what} not found") from None
    except (OSError, ValueError) as exc:
        raise InputFileError(f"{path}: not a readable JSON {what} ({exc})") from None


def _is_report(data: Any) -> bool:
    return isinstance(data, dict) and "summary" in data and "artifacts" in data


def latencies_from_entry(entry: Any, label: str, *, where: str | None = None) -> Latencies:
    """Latencies from one bench.json entry (see module docstring); SamplesMissing if it has no raw samples."""
    samples = entry.get("samples_ms") if isinstance(entry, dict) else None
    if not isinstance(samples, list) or not samples:
        raise SamplesMissing(f"{label}: no raw latency samples ('samples_ms'); re-run the benchmark "
                             "(`edgeprune build` writes them to bench.json, `edgeprune bench --json FILE` too)")
    try:
        x = np.asarray(samples, dtype=np.float64)
    except (TypeError, ValueError):
        raise InputFileError(f"{label}: 'samples_ms' must be a list of numbers (ms)") from None
    if x.ndim != 1 or not np.all(np.isfinite(x)) or np.any(x <= 0):
        raise InputFileError(f"{label}: 'samples_ms' must be a flat list of finite positive numbers (ms)")
    rounds = entry.get("rounds", 1)
    if isinstance(rounds, bool) or not isinstance(rounds, int) or not 1 <= rounds <= x.size:
        raise InputFileError(f"{label}: 'rounds' must be an integer between 1 and the number of samples, "
                             f"got {rounds!r}")
    sizes = entry.get("round_runs")
    recorded = entry.get("round_p50_ms")
    if (isinstance(sizes, list) and sizes and all(isinstance(s, int) and not isinstance(s, bool) and s > 0
                                                  for s in sizes) and sum(sizes) == x.size):
        parts = np.split(x, np.cumsum(sizes)[:-1])
        p50s, split = [float(np.median(p)) for p in parts], "exact"
    elif rounds == 1:
        p50s, split = [float(np.median(x))], "single"
    elif isinstance(recorded, list) and len(recorded) == rounds and all(
            not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in recorded):
        p50s, split = [float(v) for v in recorded], "recorded"
    else:
        p50s, split = [float(np.median(p)) for p in np.array_split(x, rounds)], "equal-chunks"
    return Latencies(round_p50_ms=tuple(p50s), n=int(x.size), p50_ms=float(np.median(x)), label=label,
                     where=where or _where(entry), split=split, settings=_settings(entry))


_SETTINGS = ("runtime", "runtime_version", "threads", "warmup", "min_seconds", "inputs")


def _settings(entry: dict) -> tuple[tuple[str, Any], ...]:
    """The measurement settings that make two latencies comparable (inputs without their temp path)."""
    out = []
    for key in _SETTINGS:
        value = entry.get(key)
        if isinstance(value, str) and key == "inputs":
            value = value.split(" from ")[0]  # "64 samples from /tmp/.../inputs.npy" -> "64 samples"
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            out.append((key, value))
    return tuple(out)


def _setting_changes(old: Latencies, new: Latencies) -> list[str]:
    a, b = dict(old.settings), dict(new.settings)
    return [f"{k} {a[k]} vs {b[k]}" for k in _SETTINGS if k in a and k in b and a[k] != b[k]]


def _where(entry: dict) -> str | None:
    where = entry.get("where")
    return where if isinstance(where, str) else None


def _pick_entry(data: dict, artifact: str, path: Path) -> tuple[str, Any]:
    """The entry of a bench file for `artifact`: same key, or same file name, or the only entry."""
    if artifact in data:
        return artifact, data[artifact]
    same_name = [k for k in data if Path(str(k)).name == artifact]
    if len(same_name) == 1:
        return same_name[0], data[same_name[0]]
    if len(data) == 1:
        key = next(iter(data))
        return key, data[key]
    known = ", ".join(sorted(map(str, data))) or "none"
    raise InputFileError(f"{path}: no samples for {artifact} (artifacts in the file: {known}); "
                         f"benchmark {artifact} or pass a file with a single artifact")


def latencies_from_report(report: dict, report_path: Path, artifact: str | None = None) -> Latencies:
    """Raw samples of `artifact` (default: the report's deployable one) from the bench.json next to it."""
    report_path = Path(report_path)
    summary = report.get("summary") if isinstance(report.get("summary"), dict) else {}
    artifact = artifact or summary.get("artifact")
    if not isinstance(artifact, str) or not artifact:
        raise SamplesMissing(f"{report_path}: summary.artifact is missing: cannot tell which artifact's "
                             "latency to compare")
    record = (report.get("artifacts") or {}).get(artifact)
    bench = record.get("bench") if isinstance(record, dict) else None
    if not isinstance(bench, dict):
        raise SamplesMissing(f"{report_path}: artifacts.{artifact}.bench is missing: {artifact} was not benchmarked")
    ref = bench.get("samples")
    if not isinstance(ref, str) or not ref:
        raise SamplesMissing(f"{report_path}: artifacts.{artifact}.bench names no raw samples file "
                             "('samples'); re-run the build's bench stage")
    samples_path = report_path.parent / ref
    if not samples_path.is_file():
        raise SamplesMissing(f"{samples_path}: raw samples file of {report_path} not found; keep bench.json "
                             "next to report.json (e.g. in the CI artifact)")
    data = _read_json(samples_path, "bench.json")
    if not isinstance(data, dict):
        raise InputFileError(f"{samples_path}: expected an object keyed by artifact name")
    key, entry = _pick_entry(data, artifact, samples_path)
    latency = bench.get("latency_ms") if isinstance(bench.get("latency_ms"), dict) else {}
    where = latency.get("where") if isinstance(latency.get("where"), str) else None
    return latencies_from_entry(entry, f"{samples_path} [{key}]", where=where)


def load_baseline(path: Path, artifact: str) -> Latencies:
    """Baseline samples from a report.json (with its bench.json) or a bench.json / `bench --json` file.

    Any problem, including missing samples, is an InputFileError naming the file: the baseline is an
    input the user chose, not a figure of the build being gated.
    """
    path = Path(path)
    data = _read_json(path, "baseline")
    if _is_report(data):
        baseline_artifact = artifact if artifact in (data.get("artifacts") or {}) else None
        if baseline_artifact is None:
            known = ", ".join(sorted(data.get("artifacts") or {})) or "none"
            raise SamplesMissing(f"{path}: baseline has no artifact {artifact} (it has: {known})")
        return latencies_from_report(data, path, baseline_artifact)
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        key, entry = _pick_entry(data, artifact, path)
        return latencies_from_entry(entry, f"{path} [{key}]")
    raise InputFileError(f"{path}: baseline is neither an edgeprune report.json nor a bench.json "
                         "(`edgeprune bench --json`) file")


# ----------------------------------------------------------------------------------------------------
# Gate check
# ----------------------------------------------------------------------------------------------------

def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.4g}"


def regression_check_from(old: Latencies, new: Latencies, regression_pct: float = DEFAULT_REGRESSION_PCT) -> Check:
    """The ``latency_regression`` gate check: value = % change of the median (+ = slower), budget = pct."""
    pct = _check_pct(regression_pct)
    c = compare(old, new, pct)
    head = (f"new/old median latency {c.ratio:.3f} (one-sided p = {c.p_value:.2g}) vs threshold "
            f"{_fmt(c.threshold)} (+{_fmt(pct)}%); {old.rounds} + {new.rounds} rounds, n = {old.n} + {new.n} samples, "
            f"p50 {_fmt(old.p50_ms)} -> {_fmt(new.p50_ms)} ms")
    if c.verdict == FAIL:
        why = "slower than the threshold allows, and significantly so"
    elif c.verdict == INCONCLUSIVE:
        why = (f"over the threshold but not significant at {ALPHA:g} given the run-to-run noise "
               f"({old.rounds} + {new.rounds} rounds can give p >= {c.min_p:.2g}); re-measure with more rounds")
    elif c.p_value <= ALPHA and c.ratio > 1:
        why = "significantly slower, but within the threshold"
    else:
        why = "within the threshold"
    notes = []
    if old.where and new.where and old.where != new.where:
        notes.append(f"baseline measured on {old.where}, new on {new.where}")
    changes = _setting_changes(old, new)
    if changes:
        notes.append("measured with different settings (baseline vs new): " + ", ".join(changes))
    if "equal-chunks" in (old.split, new.split):
        notes.append("round boundaries approximated by equal chunks")
    note = f" (note: {'; '.join(notes)})" if notes else ""
    return Check(CHECK_NAME, round(100.0 * (c.ratio - 1.0), 4), pct, "%", c.verdict,
                 f"{head}; baseline {old.label}: {why}{note}")


def regression_check(report: dict, report_path: Path, baseline_path: Path,
                     regression_pct: float = DEFAULT_REGRESSION_PCT) -> Check:
    """Compare the report's deployable artifact with the same artifact in the baseline.

    Samples missing from the report being gated give a ``missing`` check (a failure, as for any figure
    missing from the report, see gate.evaluate_gate); a baseline without samples is an InputFileError.
    """
    pct = _check_pct(regression_pct)
    try:
        new = latencies_from_report(report, Path(report_path))
    except SamplesMissing as exc:
        return Check(CHECK_NAME, None, pct, "%", MISSING,
                     f"{exc.message}: cannot check for a latency regression, counted as a failure")
    old = load_baseline(Path(baseline_path), _artifact_name(report))
    return regression_check_from(old, new, pct)


def _artifact_name(report: dict) -> str:
    return str((report.get("summary") or {}).get("artifact"))
