"""Shared fixtures: a user's model file, real small data sets as .npz, CLI helpers."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

FIXTURES = Path(__file__).parent / "fixtures"


def pytest_sessionstart(session) -> None:
    """Import torch's compiler stack first: torch._dynamo (loaded lazily by the first optimizer or torch.export)
    segfaults when TensorFlow's native libraries were loaded before it in the same process (seen with
    tensorflow 2.21 + torch 2.14.1: `import tensorflow; import torch; torch.optim.AdamW(...)` crashes), and
    some tests load TensorFlow in-process before later ones train."""
    import torch._dynamo  # noqa: F401


@pytest.fixture(scope="session")
def user_model_spec() -> str:
    return f"{FIXTURES / 'user_models.py'}:small_net"


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory) -> Path:
    """scikit-learn's digits upscaled to 16x16 as float32 NCHW: real images, tiny and offline."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = np.kron(digits.images.astype(np.float32) / 16.0, np.ones((2, 2), np.float32))[:, None]
    x = (x - 0.3) / 0.4
    y = digits.target.astype(np.int64)
    path = tmp_path_factory.mktemp("data") / "digits16.npz"
    np.savez(path, x_train=x[:1400], y_train=y[:1400], x_test=x[1400:], y_test=y[1400:])
    return path


@pytest.fixture(scope="module")
def one_torch_thread():
    """One torch thread: on a busy 2-core machine, 2 OpenMP threads per process can run 10-20x slower."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 900) -> subprocess.CompletedProcess:
    """The installed CLI in a real subprocess, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "edgeprune.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A real sshd on 127.0.0.1 (tests/sshd.py). In CI it must be installed: .ci/run installs openssh-server."""
    import os

    from tests.sshd import SSHD, LoopbackSshd

    if not Path(SSHD).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{SSHD} is missing: the test setup must install openssh-server")
        pytest.skip("openssh-server is not installed")
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()
