"""A/A benchmark of the latency-regression gate (`edgeprune gate REPORT.json --baseline OLD.json`).

Acceptance test of the regression check: benchmarking the same artifact twice and gating the second
measurement against the first must PASS (no false regression) in at least 95 of 100 trials, and an
injected 10 % slowdown must be flagged (FAIL) in at least 95 of 100.

1. Record: benchmark each real artifact (`--artifact`, repeatable; default the int8 and the fp32 TFLite
   model of build/rpi4) in `--rounds` fresh processes (edgeprune.bench.local.bench_local, the build's
   own settings: warm-up 100, runs 200, at least 0.5 s timed), one round after the other. Each round
   keeps its exact median and sample count plus an evenly thinned subset of its raw samples (`--keep`
   per round, 4 significant digits) in benchmarks/results/aa_samples.json. Each artifact is its own
   pool of rounds (a separate recording, at a different time, so under different machine load).
2. Simulate: per trial, draw two disjoint sets of k recorded rounds (old, new); A/A gates new against
   old as measured, "+10 %" multiplies the new side's samples (and medians) by 1.10. Each side goes
   through the same code path as a bench.json entry (edgeprune.regression.latencies_from_entry ->
   regression_check_from). Rows for k = 3 (a default build), 5, 10 and 20 rounds per side (20 + 20
   uses the whole pool of 40 in every trial: only the split varies).
   For comparison, on the same draws: the naive rule (one-sided Mann-Whitney U over the pooled samples,
   p < 0.05, AND pooled-median ratio over the threshold), and a t-test on the log round medians.

    .venv/bin/python benchmarks/aa_gate.py [--artifact build/rpi4/model.int8.tflite ...] [--rounds 40]
    .venv/bin/python benchmarks/aa_gate.py --samples benchmarks/results/aa_samples.json   # no re-measuring

Prints a Markdown table and writes it to benchmarks/results/aa_gate.md.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "benchmarks" / "results"


def _sig(x: float, digits: int = 4) -> float:
    return float(f"{x:.{digits}g}")


def _show(path: Path) -> str:
    path = path.resolve()
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def _thin(rec: dict, keep: int) -> dict:
    """At most `keep` stored samples per round (every k-th); exact medians and counts are kept as recorded."""
    rounds = []
    for r in rec["rounds"]:
        step = max(1, -(-len(r["samples_ms"]) // keep))
        rounds.append({**r, "samples_ms": r["samples_ms"][::step]})
    meta = dict(rec["meta"])
    artifact = Path(meta["artifact"])
    if artifact.is_absolute():
        meta["artifact"] = _show(artifact)
    if any(len(a["samples_ms"]) != len(b["samples_ms"]) for a, b in zip(rounds, rec["rounds"])):
        meta["stored_samples"] = f"{meta.get('stored_samples', 'raw samples')}; then thinned to at most {keep} per round"
    return {"meta": meta, "rounds": rounds}


def record(artifact: Path, *, rounds: int, threads: int, warmup: int, runs: int, min_seconds: float,
           keep: int) -> dict:
    from edgeprune.bench.local import bench_local

    recorded = []
    meta: dict = {}
    started = time.perf_counter()
    for i in range(rounds):
        result = bench_local(artifact, threads=threads, warmup=warmup, runs=runs, min_seconds=min_seconds)
        x = np.asarray(result["samples_ms"], dtype=np.float64)
        step = max(1, int(np.ceil(x.size / keep)))
        recorded.append({"n": int(x.size), "p50_ms": round(float(np.median(x)), 6),
                         "samples_ms": [_sig(v) for v in x[::step]]})
        if not meta:
            meta = {"artifact": _show(artifact), "runtime": f"{result['runtime']} {result['runtime_version']}",
                    "threads": threads, "warmup": warmup, "runs": runs, "min_seconds": min_seconds,
                    "inputs": result["inputs"], "where": result["where"], "python": platform.python_version()}
        print(f"round {i + 1}/{rounds}: n {x.size}, p50 {np.median(x):.5f} ms", file=sys.stderr)
    meta["rounds"] = rounds
    meta["seconds"] = round(time.perf_counter() - started, 1)
    meta["recorded"] = time.strftime("%Y-%m-%d %H:%M:%S")
    meta["stored_samples"] = f"every k-th raw sample, at most {keep} per round, 4 significant digits"
    return {"meta": meta, "rounds": recorded}


def _entry(rounds: list[dict], scale: float = 1.0) -> dict:
    """A bench.json-shaped entry from recorded rounds (medians are exact, samples thinned)."""
    return {"samples_ms": [v * scale for r in rounds for v in r["samples_ms"]], "rounds": len(rounds),
            "round_p50_ms": [r["p50_ms"] * scale for r in rounds]}


def _naive(old: dict, new: dict, threshold: float) -> str:
    """Pooled one-sided Mann-Whitney U (p < 0.05) AND pooled median ratio > threshold."""
    from scipy.stats import mannwhitneyu

    a, b = np.asarray(old["samples_ms"]), np.asarray(new["samples_ms"])
    p = mannwhitneyu(b, a, alternative="greater", method="asymptotic").pvalue
    return "fail" if p < 0.05 and np.median(b) / np.median(a) > threshold else "pass"


def _log_t(old: dict, new: dict, threshold: float) -> str:
    """Alternative considered: geometric-mean ratio of round medians, pooled-variance t-test on their logs."""
    from scipy.stats import ttest_ind

    a, b = np.log(old["round_p50_ms"]), np.log(new["round_p50_ms"])
    ratio = float(np.exp(b.mean() - a.mean()))
    if ratio <= threshold:
        return "pass"
    p = ttest_ind(b, a, alternative="greater").pvalue
    return "fail" if p < 0.05 else "inconclusive"


def simulate(rec: dict, *, per_side: int, trials: int, slowdown: float, pct: float, seed: int) -> dict:
    from edgeprune.regression import latencies_from_entry, regression_check_from

    pool = rec["rounds"]
    if len(pool) < 2 * per_side:
        raise SystemExit(f"need at least {2 * per_side} recorded rounds for {per_side} per side, have {len(pool)}")
    rng = np.random.default_rng(seed)
    counts = {kind: {"pass": 0, "fail": 0, "inconclusive": 0} for kind in ("aa", "slow")}
    naive = {"aa": 0, "slow": 0}
    log_t = {kind: {"pass": 0, "fail": 0, "inconclusive": 0} for kind in ("aa", "slow")}
    for _ in range(trials):
        picks = rng.permutation(len(pool))[: 2 * per_side]
        old = _entry([pool[i] for i in picks[:per_side]])
        for kind, scale in (("aa", 1.0), ("slow", slowdown)):
            new = _entry([pool[i] for i in picks[per_side:]], scale)
            check = regression_check_from(latencies_from_entry(old, "old"), latencies_from_entry(new, "new"), pct)
            counts[kind][check.verdict] += 1
            naive[kind] += _naive(old, new, 1 + pct / 100) == "fail"
            log_t[kind][_log_t(old, new, 1 + pct / 100)] += 1
    return {"counts": counts, "naive_fail": naive, "log_t": log_t}


def spread(rec: dict) -> dict:
    p50 = np.asarray([r["p50_ms"] for r in rec["rounds"]])
    med = float(np.median(p50))
    return {"min": float(p50.min()), "median": med, "max": float(p50.max()),
            "cv": float(p50.std(ddof=1) / p50.mean()), "lo_pct": 100 * (p50.min() / med - 1),
            "hi_pct": 100 * (p50.max() / med - 1), "rounds": int(p50.size)}


def _row(k: int, counts: dict, extra: list[str] = ()) -> str:
    aa, sl = counts["aa"], counts["slow"]
    return "| " + " | ".join(str(v) for v in (k, aa["pass"], aa["fail"], aa["inconclusive"], sl["pass"], sl["fail"],
                                               sl["inconclusive"], *extra)) + " |"


def section(rec: dict, rows: list[tuple[int, dict]], *, slowdown: float) -> list[str]:
    meta, s = rec["meta"], spread(rec)
    slow = f"+{round(100 * (slowdown - 1)):g}%"
    head = (f"| rounds per side | A/A pass | A/A fail | A/A inconclusive | {slow} pass | {slow} fail | "
            f"{slow} inconclusive |")
    lines = [
        f"## `{meta['artifact']}`",
        "",
        f"{meta['runtime']}, {meta['threads']} threads, warm-up {meta['warmup']}, runs {meta['runs']}, at least "
        f"{meta['min_seconds']} s timed per process, inputs: {meta['inputs']}; {s['rounds']} fresh processes "
        f"recorded on {meta['where']} at {meta.get('recorded', '?')} ({meta.get('seconds', '?')} s).",
        "",
        f"**Run-to-run spread of p50** over the {s['rounds']} processes: min {s['min']:.5f} ms, median "
        f"{s['median']:.5f} ms, max {s['max']:.5f} ms ({s['lo_pct']:+.1f}% / {s['hi_pct']:+.1f}% around the "
        f"median), coefficient of variation {100 * s['cv']:.1f}%.",
        "",
        "Gate rule (edgeprune.regression):",
        "",
        head[:-1] + "| target met | naive pooled Mann-Whitney: A/A false alarms | naive: " + slow + " flagged |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for k, r in rows:
        met = r["counts"]["aa"]["pass"] >= 95 and r["counts"]["slow"]["fail"] >= 95
        lines.append(_row(k, r["counts"], ["yes" if met else "no", r["naive_fail"]["aa"], r["naive_fail"]["slow"]]))
    lines += ["", "Alternative considered: geometric mean of the round medians, pooled t-test on their logs:", "",
              head, "|---:|---:|---:|---:|---:|---:|---:|"]
    lines += [_row(k, r["log_t"]) for k, r in rows]
    return lines + [""]


def report(recordings: list[dict], results: list[list[tuple[int, dict]]], *, trials: int, slowdown: float,
           pct: float) -> str:
    slow = f"+{round(100 * (slowdown - 1)):g}%"
    lines = [
        "# Latency-regression gate: A/A benchmark",
        "",
        f"Generated by `benchmarks/aa_gate.py`. Threshold `--regression-pct {pct:g}`: the gate fails when the "
        f"new/old ratio of per-process median latency (Hodges-Lehmann) is over {1 + pct / 100:g} and a one-sided "
        "permutation test over processes gives p <= 0.05; inconclusive when the ratio is over the threshold but "
        "not significant; pass otherwise. "
        f"{trials} trials per row: each draws two disjoint sets of k recorded processes (old, new); A/A gates "
        f"them as measured, {slow} multiplies the new side by {slowdown:g}. Target: A/A pass >= 95 and {slow} "
        "fail >= 95 of 100.",
        "",
    ]
    lines += ["## Summary", "",
              f"| recording | p50 spread (CV) | rounds per side | A/A pass | A/A fail (false alarm) | {slow} fail | "
              f"{slow} not passed (fail + inconclusive) | naive rule: A/A false alarms |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for rec, rows in zip(recordings, results):
        sp = spread(rec)
        threads = rec["meta"]["threads"]
        name = (f"`{Path(rec['meta']['artifact']).name}` {rec['meta'].get('recorded', '')}, "
                f"{threads} thread{'s' if threads > 1 else ''}")
        for k, r in rows:
            aa, sl = r["counts"]["aa"], r["counts"]["slow"]
            lines.append(f"| {name} | {sp['lo_pct']:+.0f}% / {sp['hi_pct']:+.0f}% ({100 * sp['cv']:.0f}%) | {k} | "
                         f"{aa['pass']} | {aa['fail']} | {sl['fail']} | {sl['fail'] + sl['inconclusive']} | "
                         f"{r['naive_fail']['aa']} |")
    worst = max(r["counts"]["aa"]["fail"] for rows in results for _, r in rows)
    naive = max(r["naive_fail"]["aa"] for rows in results for _, r in rows)
    lines += ["", f"False alarms (A/A fail) of the gate rule: at most {worst} of {trials} in any row (the test's "
              f"alpha is 5 %); the naive pooled-sample rule: up to {naive} of {trials}.", "",
              "Notes:", "",
              "- With 3 + 3 processes the smallest p-value any test over processes can give is 1/C(6,3) = 0.05: "
              "the gate can only fail when every new process is slower than every old one. Most slowdowns it "
              "misses at few rounds come out INCONCLUSIVE (exit 4), not PASS.",
              "- The rule (Hodges-Lehmann ratio + permutation test over processes) replaced a first design, a "
              "t-test on the log round medians (tables 'Alternative considered'), after the first recording; "
              "the later recordings were not used to choose it.",
              "- Recordings minutes apart see different noise (other jobs share the 2 cores). Rounds are drawn "
              "from one recording, i.e. old and new are measured under the same conditions; a baseline measured "
              "at another time can differ by more than the threshold with no change to the artifact.",
              "- Threads: this machine has 2 shared vCPUs. Processes running the runtime with 2 threads are "
              "bimodal (some 30 % faster or 20-90 % slower than the rest, depending on how both threads get "
              "scheduled); with 1 thread, 29 of 30 processes agree within 1.5 %. The gate meets the issue's "
              "bar (A/A >= 95 pass, +10 % >= 95 flagged) with 1 thread from 5 rounds per side; with 2 threads "
              "on this VM it needs 10-15 rounds in calm periods and misses it in noisy ones. Measure on a "
              "dedicated board, or with fewer threads than shared cores, when gating regressions.", ""]
    for rec, rows in zip(recordings, results):
        lines += section(rec, rows, slowdown=slowdown)
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artifact", action="append",
                        help="artifact to record (repeatable; default build/rpi4/model.int8.tflite and model.tflite)")
    parser.add_argument("--samples", nargs="+", help="recorded samples JSON file(s) to re-use instead of measuring")
    parser.add_argument("--rounds", type=int, default=40, help="fresh processes to record")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--min-seconds", type=float, default=0.5)
    parser.add_argument("--keep", type=int, default=200,
                        help="raw samples stored per round (also thins loaded recordings that have more)")
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--per-side", type=int, nargs="+", default=[3, 5, 10, 20])
    parser.add_argument("--slowdown", type=float, default=1.10)
    parser.add_argument("--regression-pct", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--save-samples", help="where to save the recordings (default when measuring: "
                        "benchmarks/results/aa_samples.json; with --samples: only if given, e.g. to merge files)")
    parser.add_argument("--results", default=str(RESULTS / "aa_gate.md"))
    args = parser.parse_args()

    if args.samples:
        recordings = []
        for path in args.samples:
            loaded = json.loads(Path(path).read_text())
            recordings += loaded.get("recordings", [loaded])  # a file may hold one recording or several
        recordings = [_thin(rec, args.keep) for rec in recordings]
        recordings.sort(key=lambda rec: rec["meta"].get("recorded", ""))
        data = {"recordings": recordings}
        save = args.save_samples
    else:
        artifacts = args.artifact or [str(ROOT / "build" / "rpi4" / name) for name in ("model.int8.tflite", "model.tflite")]
        data = {"recordings": [record(Path(a), rounds=args.rounds, threads=args.threads, warmup=args.warmup,
                                      runs=args.runs, min_seconds=args.min_seconds, keep=args.keep)
                               for a in artifacts]}
        save = args.save_samples or str(RESULTS / "aa_samples.json")
    if save:
        Path(save).parent.mkdir(parents=True, exist_ok=True)
        Path(save).write_text(json.dumps(data, separators=(",", ":")) + "\n")
        print(f"saved {save}", file=sys.stderr)
    results = [[(k, simulate(rec, per_side=k, trials=args.trials, slowdown=args.slowdown, pct=args.regression_pct,
                             seed=args.seed + k)) for k in args.per_side] for rec in data["recordings"]]
    text = report(data["recordings"], results, trials=args.trials, slowdown=args.slowdown, pct=args.regression_pct)
    print(text)
    Path(args.results).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
