"""Benchmarks on a "device" reached over a real OpenSSH server on 127.0.0.1 (fixture `sshd`, tests/sshd.py).

Every test also checks that no edgeprune-* directory is left in the device's work dir.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tests.test_bench import _conv_onnx

from edgeprune.bench.fleet import Device, bench_fleet, load_inventory
from edgeprune.bench.remote import DeviceSession, throttle_reasons
from edgeprune.bench.ssh import HostSpec, connect, resolve_host, split_host
from edgeprune.errors import ConfigError, DeviceError, InputFileError
from edgeprune.targets import load_target


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    return _conv_onnx(tmp_path_factory.mktemp("artifact") / "model.onnx")


@pytest.fixture
def home(tmp_path, sshd, monkeypatch) -> Path:
    """A fake HOME whose ~/.ssh/config has the alias `device`; no agent."""
    home = tmp_path / "home"
    sshd.write_ssh_config(home)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    return home


@pytest.fixture
def work_dir(tmp_path) -> Path:
    path = tmp_path / "device-tmp"
    path.mkdir()
    return path


def _left_over(work_dir: Path) -> list[str]:
    return sorted(p.name for p in work_dir.iterdir())


def _spec(sshd, **overrides) -> HostSpec:
    values = dict(name="loopback", hostname="127.0.0.1", port=sshd.port, user=sshd.user,
                  identity_files=(str(sshd.client_key),), identities_only=True,
                  known_hosts_files=(str(sshd.known_hosts),))
    return HostSpec(**{**values, **overrides})


# ------------------------------------------------------------------------------------------------
# Host resolution
# ------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("pi@10.0.0.5", ("pi", "10.0.0.5", None)),
    ("pi@10.0.0.5:2222", ("pi", "10.0.0.5", 2222)),
    ("board", (None, "board", None)),
    ("[::1]:2022", (None, "::1", 2022)),
    ("u@[fe80::1]", ("u", "fe80::1", None)),
])
def test_split_host(text, expected):
    assert split_host(text) == expected


@pytest.mark.parametrize("text", ["", "a b", "-oProxyCommand=x", "pi@host:99999", "pi@host:abc", "pi@"])
def test_split_host_rejects(text):
    with pytest.raises(ConfigError, match="--host"):
        split_host(text)


def test_alias_from_ssh_config(home, sshd):
    spec = resolve_host("device")
    assert (spec.hostname, spec.port, spec.user) == ("127.0.0.1", sshd.port, sshd.user)
    assert spec.identity_files == (str(sshd.client_key),) and spec.identities_only
    assert spec.known_hosts_files == (str(sshd.known_hosts),)
    assert resolve_host("other@device:23").port == 23 and resolve_host("other@device:23").user == "other"
    plain = resolve_host("pi@192.0.2.1")
    assert plain.known_hosts_files == (str(home / ".ssh" / "known_hosts"),) and plain.port == 22


# ------------------------------------------------------------------------------------------------
# Real remote benchmarks
# ------------------------------------------------------------------------------------------------

def test_remote_benchmark_over_loopback(home, sshd, artifact, work_dir):
    inputs = np.random.default_rng(0).standard_normal((5, 3, 16, 16)).astype(np.float32)
    with DeviceSession(resolve_host("device"), python=sys.executable, work_dir=str(work_dir), inputs=inputs) as session:
        first = session.bench(artifact, threads=1, warmup=3, runs=40)
        assert len(_left_over(work_dir)) == 1  # the private dir exists while the session is open
        remote_dir = work_dir / _left_over(work_dir)[0]
        assert oct(remote_dir.stat().st_mode & 0o777) == "0o700"
        second = session.bench(artifact, threads=1, warmup=3, runs=40, warmup_seconds=0.1, cpus=(0,))
    assert _left_over(work_dir) == []
    for result in (first, second):
        assert result["source"] == "measured" and result["where"].startswith("device device (")
        assert len(result["samples_ms"]) == 40 and result["summary"]["p50"] > 0
        assert result["runtime"] == "onnxruntime" and result["device"]["hostname"]
        assert result["inputs"].startswith("5 samples") and result["throttled"] is False
    assert first["artifact"] == str(artifact)
    assert second["cpus"] == [0] and second["warmup_runs"] > 3


def test_unknown_host_key_refused_then_trusted_on_first_use(sshd, tmp_path):
    known = tmp_path / "known_hosts"
    with pytest.raises(DeviceError, match=r"not in .*known_hosts.*--trust-new-host") as err:
        connect(_spec(sshd, known_hosts_files=(str(known),)))
    assert "SHA256:" in str(err.value) and "ssh-keyscan -p" in str(err.value)
    assert not known.exists()
    with connect(_spec(sshd, known_hosts_files=(str(known),), accept_new_keys=True)) as conn:
        assert conn.run(["true"], timeout=10)[0] == 0
    assert known.read_text().split() == sshd.known_hosts_line().split()
    with connect(_spec(sshd, known_hosts_files=(str(known),))) as conn:  # now known: no flag needed
        assert conn.run(["echo", "ok; rm -rf /nonexistent"], timeout=10)[1] == "ok; rm -rf /nonexistent\n"


def test_changed_host_key_refused_even_with_trust(sshd, tmp_path):
    other = tmp_path / "other_host"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)], check=True)
    known = tmp_path / "known_hosts"
    known.write_text(sshd.known_hosts_line(other.with_suffix(".pub").read_text()) + "\n")
    with pytest.raises(DeviceError, match="CHANGED.*ssh-keygen -R"):
        connect(_spec(sshd, known_hosts_files=(str(known),), accept_new_keys=True))


def test_wrong_key_refused(sshd, monkeypatch):
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    with pytest.raises(DeviceError, match=f"refused authentication.*{sshd.other_key.name}"):
        connect(_spec(sshd, identity_files=(str(sshd.other_key),)))


def test_missing_python_and_missing_runtime(sshd, artifact, work_dir, tmp_path):
    with pytest.raises(DeviceError, match="not found on the device.*apt install python3"):
        with DeviceSession(_spec(sshd), python="/nonexistent/python3", work_dir=str(work_dir)):
            pass
    # a device Python with numpy but no ONNX Runtime: a fresh venv that sees only numpy
    venv = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    only_numpy = tmp_path / "only-numpy"
    only_numpy.mkdir()
    site = Path(np.__file__).parent.parent
    for name in ("numpy", "numpy.libs"):
        if (site / name).exists():
            (only_numpy / name).symlink_to(site / name)
    site_dir = next((venv / "lib").glob("python3*/site-packages"))
    (site_dir / "only_numpy.pth").write_text(str(only_numpy) + "\n")
    with pytest.raises(DeviceError, match=r"onnxruntime is not importable.*pip install onnxruntime"):
        with DeviceSession(_spec(sshd), python=str(venv / "bin" / "python"), work_dir=str(work_dir)) as session:
            session.bench(artifact, threads=1, warmup=0, runs=5)
    assert _left_over(work_dir) == []


def _runner_processes(work_dir: Path) -> list[int]:
    pids = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if str(work_dir).encode() in cmdline.read_bytes():
                pids.append(int(cmdline.parent.name))
        except OSError:
            continue
    return pids


def test_command_timeout_stops_the_run_and_removes_files(sshd, artifact, work_dir):
    session = DeviceSession(_spec(sshd), python=sys.executable, work_dir=str(work_dir), command_timeout=3)
    with pytest.raises(DeviceError, match="timed out after 3 s.*stopped and its files removed"):
        with session:
            session.bench(artifact, threads=1, warmup=0, runs=10, min_seconds=60)
    assert _left_over(work_dir) == []
    deadline = time.monotonic() + 5
    while _runner_processes(work_dir) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _runner_processes(work_dir) == []


def test_dropped_connection_is_retried_and_leaves_nothing(sshd, artifact, work_dir):
    spec = _spec(sshd)
    outcome: dict = {}
    with DeviceSession(spec, python=sys.executable, work_dir=str(work_dir), retries=1) as session:
        def run() -> None:
            try:
                outcome["result"] = session.bench(artifact, threads=1, warmup=0, runs=10, min_seconds=4)
            except Exception as exc:  # reported below
                outcome["error"] = exc

        worker = threading.Thread(target=run)
        worker.start()
        deadline = time.monotonic() + 20
        while not _runner_processes(work_dir) and time.monotonic() < deadline:
            time.sleep(0.05)
        first_dir = _left_over(work_dir)
        assert sshd.kill_sessions() >= 1
        worker.join(60)
        assert "error" not in outcome, outcome.get("error")
        assert _left_over(work_dir) != first_dir  # the retry ran in a fresh dir; the old one is gone
    assert outcome["result"]["runs"] >= 10
    assert _left_over(work_dir) == []


def test_dropped_connection_gives_up_after_bounded_retries(sshd, artifact, work_dir):
    session = DeviceSession(_spec(sshd), python=sys.executable, work_dir=str(work_dir), retries=0)
    killer = threading.Thread(target=lambda: (time.sleep(1.5), sshd.kill_sessions()))
    with pytest.raises(DeviceError, match="connection|session ended"):
        with session:
            killer.start()
            session.bench(artifact, threads=1, warmup=0, runs=10, min_seconds=5)
    killer.join()
    assert _left_over(work_dir) == []


def test_proxy_jump_through_an_alias(home, sshd, artifact, work_dir):
    sshd.write_ssh_config(home, f"Host via-jump\n  HostName 127.0.0.1\n  Port {sshd.port}\n  User {sshd.user}\n"
                                f"  IdentityFile {sshd.client_key}\n  IdentitiesOnly yes\n"
                                f"  UserKnownHostsFile {sshd.known_hosts}\n  ProxyJump device\n")
    spec = resolve_host("via-jump")
    assert spec.proxy_jump == ("device",)
    with connect(spec) as conn:
        assert len(conn.jumps) == 1
        assert conn.run(["echo", "through"], timeout=10)[1] == "through\n"


def test_throttle_reasons():
    assert throttle_reasons({"throttled": "throttled=0x50005", "temperature_c": 60.0}, limit_celsius=80) == [
        "under-voltage (vcgencmd get_throttled 0x50005)", "throttled (vcgencmd get_throttled 0x50005)"]
    assert throttle_reasons({"throttled": "throttled=0x50000"}, limit_celsius=80) == []  # past events only
    assert throttle_reasons({"temperature_c": 82.5}, limit_celsius=80) == ["temperature 82.5 C >= 80 C"]


# ------------------------------------------------------------------------------------------------
# Fleet and CLI
# ------------------------------------------------------------------------------------------------

def test_inventory_errors_name_the_file(tmp_path):
    profile = load_target("rpi4")
    path = tmp_path / "fleet.toml"
    path.write_text('[[device]]\nhost = "a"\ncolour = "red"\n')
    with pytest.raises(InputFileError, match=r"fleet.toml: device #1: unknown key\(s\) colour"):
        load_inventory(path, profile)
    path.write_text('[[device]]\nname = "x"\nhost = "a"\n[[device]]\nname = "x"\nhost = "b"\n')
    with pytest.raises(InputFileError, match="repeated: x"):
        load_inventory(path, profile)
    path.write_text('[[device]]\nhost = "a"\ntarget = "rpi5"\n')
    (device,) = load_inventory(path, profile)
    assert device.profile.name == "rpi5" and device.python == "python3" and device.name == "a"


def test_fleet_runs_in_parallel_and_reports_each_device(home, sshd, artifact, work_dir):
    profile = load_target("host")
    good = [Device(name, "device", profile, sys.executable, str(work_dir)) for name in ("pi-a", "pi-b")]
    bad = Device("pi-missing", "device", profile, "/nonexistent/python3", str(work_dir))
    results = bench_fleet([*good, bad], [artifact], threads=1, rounds=2, warmup=2, runs=20)
    assert set(results) == {"pi-a", "pi-b", "pi-missing"}
    for name in ("pi-a", "pi-b"):
        (result,) = results[name].values()
        assert result["rounds"] == 2 and len(result["samples_ms"]) == 40
    assert isinstance(results["pi-missing"], DeviceError)
    assert _left_over(work_dir) == []


def test_cli_bench_over_ssh_alias(home, sshd, artifact, work_dir, tmp_path):
    from tests.conftest import run_cli

    profile = tmp_path / "device.toml"
    text = Path(load_target("rpi4").source).read_text().replace('work_dir = "/tmp"', f'work_dir = "{work_dir}"')
    profile.write_text(text)
    out = tmp_path / "bench.json"
    env = {**os.environ, "HOME": str(home)}
    proc = run_cli("bench", str(artifact), "--target", str(profile), "--host", "device", "--remote-python", sys.executable,
                   "--runs", "20", "--warmup", "2", "--rounds", "2", "--threads", "1", "--min-seconds", "0",
                   "--json", str(out), env=env)
    assert proc.returncode == 0, proc.stderr
    assert "measured on device device (" in proc.stdout
    data = json.loads(out.read_text())
    assert len(data[str(artifact)]["samples_ms"]) == 40
    assert _left_over(work_dir) == []

    unknown = tmp_path / "empty_known_hosts"
    unknown.write_text("")
    sshd.write_ssh_config(home, f"Host stranger\n  HostName 127.0.0.1\n  Port {sshd.port}\n  IdentityFile {sshd.client_key}\n"
                                f"  UserKnownHostsFile {unknown}\n")
    proc = run_cli("bench", str(artifact), "--target", str(profile), "--host", "stranger", "--remote-python",
                   sys.executable, "--runs", "5", env=env)
    assert proc.returncode == 1
    assert "stranger: host key ssh-ed25519 SHA256:" in proc.stderr and "Traceback" not in proc.stderr
