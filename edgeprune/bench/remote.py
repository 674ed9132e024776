"""Benchmark artifacts on a device over SSH, agentless.

A `DeviceSession` creates a private temp dir on the device (``mkdtemp``, mode 0700, under the profile's
work dir), copies ``device_runner.py`` (standard library + numpy + the device's runtime), the inputs and
each artifact into it, runs the runner per artifact and round, reads back its JSON, and removes the dir on
close, also after errors. A dropped connection is retried a bounded number of times: the old run is
killed and its dir removed before the retry, so nothing is left on the device.
"""
from __future__ import annotations

import posixpath
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from edgeprune.bench.local import RUNNER_PATH, runner_options, runner_payload
from edgeprune.bench.ssh import CommandTimeout, Connection, ConnectionDropped, HostSpec, connect
from edgeprune.bench.stats import summarize
from edgeprune.errors import DeviceError

_MKDTEMP = "import sys, tempfile; print(tempfile.mkdtemp(prefix='edgeprune-', dir=sys.argv[1]))"
_SETUP_TIMEOUT = 60.0
_RPI_CURRENT_FLAGS = {0: "under-voltage", 1: "ARM frequency capped", 2: "throttled", 3: "soft temperature limit"}


def throttle_reasons(facts: dict, *, limit_celsius: float | None) -> list[str]:
    """Why a run may have been throttled: `vcgencmd get_throttled` current-state bits, or temperature."""
    reasons = []
    flags = str(facts.get("throttled", ""))
    if "=" in flags:
        try:
            value = int(flags.split("=", 1)[1], 16)
        except ValueError:
            value = 0
        reasons += [f"{name} (vcgencmd get_throttled {value:#x})" for bit, name in _RPI_CURRENT_FLAGS.items()
                    if value >> bit & 1]
    temp = facts.get("temperature_c")
    if limit_celsius is not None and isinstance(temp, (int, float)) and temp >= limit_celsius:
        reasons.append(f"temperature {temp:.1f} C >= {limit_celsius:g} C")
    return reasons


class DeviceSession:
    """One device: connect once, upload once, run many artifacts and rounds, clean up on close."""

    def __init__(self, spec: HostSpec, *, python: str = "python3", work_dir: str = "/tmp",
                 command_timeout: float = 600.0, retries: int = 2, inputs: np.ndarray | None = None,
                 throttle_celsius: float | None = None, config_path: Path | None = None) -> None:
        self.spec = spec
        self.python = python
        self.work_dir = work_dir
        self.command_timeout = command_timeout
        self.retries = retries
        self.throttle_celsius = throttle_celsius
        self._config_path = config_path
        self._inputs = None if inputs is None else np.ascontiguousarray(np.asarray(inputs, dtype=np.float32))
        self._conn: Connection | None = None
        self._dir: str | None = None
        self._uploaded: dict[Path, str] = {}
        self._running_pid: int | None = None

    # -- lifecycle -----------------------------------------------------------------------------------

    def __enter__(self) -> DeviceSession:
        try:
            self._open()
        except BaseException:
            self.__exit__(*sys.exc_info())
            raise
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        """Clean up; when an error is already on its way out, a failed clean-up must not replace it."""
        try:
            self.close()
        except DeviceError:
            if exc_type is None:
                raise

    def close(self) -> None:
        """Remove the remote dir (reconnecting once if the connection is gone), then disconnect."""
        if self._dir is None:
            if self._conn:
                self._conn.close()
                self._conn = None
            return
        try:
            if self._conn is None or not self._conn.alive:
                self._reconnect()
            self._cleanup_remote()
        finally:
            if self._conn:
                self._conn.close()
                self._conn = None

    def _reconnect(self) -> None:
        if self._conn:
            self._conn.close()
        self._conn = connect(self.spec, config_path=self._config_path)

    def _open(self) -> None:
        if self._conn is None or not self._conn.alive:
            self._reconnect()
        assert self._conn is not None
        code, out, err = self._conn.run([self.python, "-c", _MKDTEMP, self.work_dir], timeout=_SETUP_TIMEOUT)
        if code == 127 or (code != 0 and "not found" in err):
            raise DeviceError(f"{self.spec.name}: {self.python!r} was not found on the device; install Python 3 "
                              "(`sudo apt install python3 python3-numpy`) or set [ssh] python in the target profile "
                              "or --remote-python")
        if code != 0:
            last = (err.strip().splitlines() or ["no output"])[-1]
            raise DeviceError(f"{self.spec.name}: cannot create a temp dir in {self.work_dir}: {last}")
        self._dir = out.strip().splitlines()[-1]
        self._uploaded = {}
        sftp = self._conn.sftp()
        try:
            sftp.put(str(RUNNER_PATH), posixpath.join(self._dir, "runner.py"))
            if self._inputs is not None:
                with tempfile.TemporaryDirectory(prefix="edgeprune-inputs-") as tmp:
                    local = Path(tmp) / "inputs.npy"
                    np.save(local, self._inputs)
                    sftp.put(str(local), posixpath.join(self._dir, "inputs.npy"))
        except OSError as exc:
            raise DeviceError(f"{self.spec.name}: cannot copy files to {self._dir}: {exc}") from None
        finally:
            sftp.close()

    def _cleanup_remote(self) -> None:
        """Kill a run left over from a dropped connection and remove our dir (only files we put there)."""
        if self._conn is None or self._dir is None:
            return
        if self._running_pid is not None:
            try:
                self._conn.run(["kill", str(self._running_pid)], timeout=_SETUP_TIMEOUT)
            except DeviceError:
                pass
            self._running_pid = None
        sftp = self._conn.sftp()
        try:
            for name in sftp.listdir(self._dir):
                sftp.remove(posixpath.join(self._dir, name))
            sftp.rmdir(self._dir)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise DeviceError(f"{self.spec.name}: could not remove {self._dir} from the device: {exc}") from None
        finally:
            sftp.close()
        self._dir = None
        self._uploaded = {}

    # -- benchmarking --------------------------------------------------------------------------------

    def bench(self, artifact: Path, *, threads: int, warmup: int, runs: int, min_seconds: float = 0.0,
              warmup_seconds: float = 0.0, cpus: tuple[int, ...] | None = None) -> dict:
        """Same result shape as `bench_local`, plus the device's facts and a throttling verdict."""
        artifact = Path(artifact)
        if not artifact.is_file():
            raise DeviceError(f"benchmark of {artifact} failed: artifact not found: {artifact}")
        for attempt in range(self.retries + 1):
            try:
                return self._bench_once(artifact, dict(threads=threads, warmup=warmup, runs=runs, min_seconds=min_seconds,
                                                       warmup_seconds=warmup_seconds, cpus=cpus))
            except ConnectionDropped:
                if attempt == self.retries:
                    raise
                self._reconnect()
                self._cleanup_remote()
        raise AssertionError("unreachable")

    def cycle(self, artifacts: list[Path], *, threads: int, warmup: int, chunk: int, seconds: float,
              min_chunks: int, cpus: tuple[int, ...] | None = None) -> dict[Path, dict]:
        """Time many artifacts on the device, taking turns, each runtime's in one runner process
        (`local.bench_cycled`)."""
        from edgeprune.bench.local import cycle_options, cycled_per_runtime, cycled_results

        artifacts = [Path(a) for a in artifacts]
        self._open_once()
        remotes = {a: self._upload(a) for a in artifacts}

        def cycle(group: list[Path], share: float) -> dict[Path, dict]:
            argv = [self.python, posixpath.join(self._dir, "runner.py"), *(remotes[a] for a in group),
                    *cycle_options(threads=threads, warmup=warmup, chunk=chunk, seconds=share, min_chunks=min_chunks,
                                   cpus=cpus)]
            label = f"{len(group)} artifacts"
            code, out, err = self._run(argv, label)
            payload = runner_payload(out)
            if payload is None or "error" in payload or code != 0 or "cycled" not in payload:
                reason = (payload or {}).get("error") or (err.strip().splitlines() or [f"exit code {code}"])[-1]
                raise DeviceError(f"{self.spec.name}: benchmark of {label} failed on the device: {reason}")
            facts = payload.get("device", {})
            return cycled_results(group, payload, f"device {self.spec.name} ({facts.get('cpu_model', 'unknown CPU')}, "
                                                  f"{facts.get('machine', '?')})")

        return cycled_per_runtime(artifacts, seconds, cycle)

    def _open_once(self) -> None:
        if self._conn is None or self._dir is None:
            self._open()

    def _upload(self, artifact: Path) -> str:
        assert self._conn is not None and self._dir is not None
        remote = self._uploaded.get(artifact)
        if remote is None:
            remote = posixpath.join(self._dir, f"{len(self._uploaded)}-{artifact.name}")
            sftp = self._conn.sftp()
            try:
                sftp.put(str(artifact), remote)
            except OSError as exc:
                raise DeviceError(f"{self.spec.name}: cannot copy {artifact} to the device: {exc}") from None
            finally:
                sftp.close()
            self._uploaded[artifact] = remote
        return remote

    def _run(self, argv: list[str], label: str) -> tuple[int, str, str]:
        assert self._conn is not None
        try:
            # "echo $$; exec ...": the runner keeps the shell's PID, so a dropped or timed-out run can be killed
            return self._conn.run(argv, timeout=self.command_timeout, prefix="echo $$; exec ")
        except (CommandTimeout, ConnectionDropped) as exc:
            first = exc.stdout.split("\n", 1)[0].strip()
            self._running_pid = int(first) if first.isdigit() else None
            if isinstance(exc, ConnectionDropped):
                raise
            self._cleanup_remote()
            raise DeviceError(f"{self.spec.name}: benchmark of {label} timed out after "
                              f"{self.command_timeout:g} s (the run was stopped and its files removed)") from None

    def _bench_once(self, artifact: Path, protocol: dict) -> dict:
        self._open_once()
        remote = self._upload(artifact)
        inputs = posixpath.join(self._dir, "inputs.npy") if self._inputs is not None else None
        argv = [self.python, posixpath.join(self._dir, "runner.py"), remote, *runner_options(inputs=inputs, **protocol)]
        code, out, err = self._run(argv, artifact.name)
        return self._result(artifact, code, runner_payload(out), err)

    def _result(self, artifact: Path, code: int, payload: dict | None, err: str) -> dict:
        if payload is not None and "error" in payload:
            raise DeviceError(f"{self.spec.name}: benchmark of {artifact.name} failed on the device "
                              f"(python {self.python}): {payload['error']}")
        if code != 0 or payload is None or not payload.get("samples_ms"):
            last = (err.strip().splitlines() or [f"no JSON output (exit code {code})"])[-1]
            raise DeviceError(f"{self.spec.name}: benchmark of {artifact.name} failed (exit code {code}): {last}")
        payload["artifact"] = str(artifact)
        payload["summary"] = summarize(payload["samples_ms"])
        payload["source"] = "measured"
        facts = payload.get("device", {})
        payload["host"] = self.spec.name
        payload["where"] = f"device {self.spec.name} ({facts.get('cpu_model', 'unknown CPU')}, {facts.get('machine', '?')})"
        reasons = []
        for key in ("device", "device_after"):
            reasons += throttle_reasons(payload.get(key) or {}, limit_celsius=self.throttle_celsius)
        payload["throttled"] = bool(reasons)
        payload["throttle_reasons"] = sorted(set(reasons))
        return payload
