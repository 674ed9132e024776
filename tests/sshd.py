"""A real OpenSSH server on 127.0.0.1 for SSH tests (recipe: FINDINGS.md, "SSH on loopback").

Everything lives in one temp dir: host key, a client key pair authorised for the current user, a
known_hosts file with the host key, an sshd_config with a free high port. `write_ssh_config` writes an
OpenSSH client config under a fake HOME so aliases, IdentityFile and UserKnownHostsFile are exercised.
"""
from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgeprune-test", "-f", str(path)],
                   check=True, capture_output=True)
    return path.with_suffix(".pub").read_text().strip()


class LoopbackSshd:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.user = getpass.getuser()
        self.port = _free_port()
        self.host_pub = _keygen(root / "host_ed25519")
        self.client_key = root / "client_ed25519"
        (root / "authorized_keys").write_text(_keygen(self.client_key) + "\n")
        self.other_key = root / "other_ed25519"  # a valid key the server does not accept
        _keygen(self.other_key)
        self.known_hosts = root / "known_hosts"
        self.known_hosts.write_text(self.known_hosts_line() + "\n")
        self.config = root / "sshd_config"
        self.config.write_text("\n".join([
            f"Port {self.port}", "ListenAddress 127.0.0.1", f"HostKey {root / 'host_ed25519'}",
            f"PidFile {root / 'sshd.pid'}", f"AuthorizedKeysFile {root / 'authorized_keys'}",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no", "StrictModes no",
            "PermitRootLogin prohibit-password", "AllowTcpForwarding yes", "MaxStartups 50",
            "Subsystem sftp /usr/lib/openssh/sftp-server", "",
        ]))
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        subprocess.run([SSHD, "-t", "-f", str(self.config)], check=True, capture_output=True)
        self.log = open(root / "sshd.log", "wb")
        self.proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(self.config)], stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"sshd did not start: {(root / 'sshd.log').read_text()}")
                time.sleep(0.05)

    def known_hosts_line(self, pub: str | None = None) -> str:
        kind, key = (pub or self.host_pub).split()[:2]
        return f"[127.0.0.1]:{self.port} {kind} {key}"

    def session_pids(self) -> list[int]:
        """The per-connection sshd processes (children of the listener)."""
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                pids.append(int(stat.parent.name))
        return pids

    def kill_sessions(self) -> int:
        pids = self.session_pids()
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return len(pids)

    def write_ssh_config(self, home: Path, text: str = "") -> Path:
        """~/.ssh/config under a fake HOME with alias `device` for this server (plus any extra text)."""
        ssh_dir = home / ".ssh"
        ssh_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = ssh_dir / "config"
        path.write_text(
            f"Host device\n  HostName 127.0.0.1\n  Port {self.port}\n  User {self.user}\n"
            f"  IdentityFile {self.client_key}\n  IdentitiesOnly yes\n  UserKnownHostsFile {self.known_hosts}\n\n"
            + text)
        return path

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()
