"""Benchmark harness checks: its own overhead, and a full remote benchmark over a loopback SSH server.

    .venv/bin/python benchmarks/harness.py [ARTIFACT ...] [--runs 2000] [--rounds 7] [--loopback-ssh]

1. Overhead: for each artifact, in ONE process over ONE session, a bare loop (one clock pair around N runs)
   vs the harness loop (a clock pair around every run), alternated `--rounds` times; ratio from the fastest
   round of each (`edgeprune.bench.local.measure_overhead`). The issue's bar: at most 2% on the default int8 model.
2. `--loopback-ssh`: starts a real sshd on 127.0.0.1 (tests/sshd.py), runs `edgeprune bench --host` through an
   alias in a private ~/.ssh/config against the first artifact, then compares its p50 with a local run of the
   same artifact (same command, no --host), and prints the remote JSON (samples elided).
Default artifacts: build/rpi4/model.int8.tflite and model.tflite (run `edgeprune build --target rpi4` first).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edgeprune.bench.local import measure_overhead  # noqa: E402


def overhead_table(artifacts: list[Path], runs: int, rounds: int, threads: int) -> str:
    rows = ["| artifact | runtime | threads | runs x rounds | bare ms/run | harness ms/run | harness / bare | "
            "overhead us/run | paired median ratio |", "|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for artifact in artifacts:
        r = measure_overhead(artifact, threads=threads, runs=runs, rounds=rounds)
        rows.append(f"| {artifact.name} | {r['runtime']} | {threads} | {runs} x {rounds} | {r['bare_ms_per_run']:.5f} | "
                    f"{r['harness_ms_per_run']:.5f} | {r['overhead_ratio']:.4f} | {r['overhead_us_per_run']:.3f} | "
                    f"{r['paired_ratio_median']:.4f} |")
    return "\n".join(rows)


def _bench(args: list[str], env: dict) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.json"
        proc = subprocess.run([sys.executable, "-m", "edgeprune.cli", "bench", *args, "--json", str(out)],
                              capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"edgeprune bench failed ({proc.returncode}): {proc.stderr.strip()}")
        print(proc.stdout.strip())
        return json.loads(out.read_text())


def loopback_ssh(artifact: Path, threads: int) -> str:
    sys.path.insert(0, str(ROOT / "tests"))
    from sshd import LoopbackSshd

    with tempfile.TemporaryDirectory(prefix="edgeprune-loopback-") as tmp:
        server = LoopbackSshd(Path(tmp))
        try:
            home = Path(tmp) / "home"
            server.write_ssh_config(home)
            env = {**os.environ, "HOME": str(home)}
            env.pop("SSH_AUTH_SOCK", None)
            common = [str(artifact), "--target", "host", "--threads", str(threads), "--rounds", "3"]
            remote = _bench([*common, "--host", "device", "--remote-python", sys.executable], env)[str(artifact)]
            local = _bench(common, env)[str(artifact)]
        finally:
            server.stop()
    shown = {k: v for k, v in remote.items() if k not in ("samples_ms",)}
    shown["samples_ms"] = f"[{len(remote['samples_ms'])} samples elided]"
    ratio = remote["summary"]["p50"] / local["summary"]["p50"]
    table = ("| run | where | p50 ms [95% CI] | p95 ms | start-up ms | peak RSS MB |\n|---|---|---:|---:|---:|---:|\n"
             + "\n".join(f"| {name} | {r['where']} | {r['summary']['p50']:.4f} [{r['summary']['p50_ci'][0]:.4f}, "
                         f"{r['summary']['p50_ci'][1]:.4f}] | {r['summary']['p95']:.4f} | {r['startup_ms']:.1f} | "
                         f"{r['peak_rss_mb']:.1f} |" for name, r in (("over SSH (loopback)", remote), ("local", local)))
             + f"\n\nSSH / local p50 ratio: {ratio:.3f} (same machine: the runner is the same, only the transport differs)")
    return table + "\n\nRemote JSON (samples elided):\n\n```json\n" + json.dumps(shown, indent=1)[:6000] + "\n```"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("artifacts", nargs="*", type=Path)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--loopback-ssh", action="store_true")
    args = parser.parse_args()
    artifacts = args.artifacts or [ROOT / "build/rpi4/model.int8.tflite", ROOT / "build/rpi4/model.tflite"]
    missing = [str(a) for a in artifacts if not a.is_file()]
    if missing:
        raise SystemExit(f"missing artifact(s): {', '.join(missing)}; run `edgeprune build --target rpi4` first")
    print("## Harness overhead vs a bare loop (one process, one session, one input)\n")
    print(overhead_table(artifacts, args.runs, args.rounds, args.threads))
    if args.loopback_ssh:
        print("\n## Remote benchmark over a real sshd on 127.0.0.1\n")
        print(loopback_ssh(artifacts[0], args.threads))


if __name__ == "__main__":
    main()
