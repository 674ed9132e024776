"""SSH connections to devices, resolved the way `ssh NAME` resolves them.

`--host` is ``[USER@]HOST[:PORT]`` or an alias from ``~/.ssh/config`` (HostName, User, Port, IdentityFile,
UserKnownHostsFile, ProxyJump, ConnectTimeout, IdentitiesOnly). Host keys are verified against the known
hosts files by default; ``trust_new_host`` (or ``StrictHostKeyChecking accept-new`` in the config) records an
unknown key on first use, but a CHANGED key is always refused. Auth is by key or agent, never by password.

Commands are argv lists: every word is quoted with `shlex.quote`, so no user text is ever parsed by the
remote shell. paramiko is imported lazily (it is only needed with ``--host``).
"""
from __future__ import annotations

import os
import shlex
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgeprune.errors import ConfigError, DeviceError

DEFAULT_CONNECT_TIMEOUT = 10.0
GLOBAL_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"  # read too, as OpenSSH does; never written
_POLL_SECONDS = 0.02


class _RunInterrupted(DeviceError):
    """A remote command did not finish; ``stdout`` holds what it printed before."""

    def __init__(self, message: str, stdout: str = "") -> None:
        super().__init__(message)
        self.stdout = stdout


class CommandTimeout(_RunInterrupted):
    """A remote command ran longer than its timeout."""


class ConnectionDropped(_RunInterrupted):
    """The SSH connection broke while a command was running (retryable)."""


@dataclass(frozen=True)
class HostSpec:
    """Where and how to connect, after ~/.ssh/config is applied."""

    name: str  # what the user typed (alias or address), used in messages and reports
    hostname: str
    port: int = 22
    user: str | None = None
    identity_files: tuple[str, ...] = ()
    identities_only: bool = False
    known_hosts_files: tuple[str, ...] = ()
    proxy_jump: tuple[str, ...] = ()
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    accept_new_keys: bool = False

    @property
    def address(self) -> str:
        user = f"{self.user}@" if self.user else ""
        return f"{user}{self.hostname}:{self.port}"


def ssh_config_path() -> Path:
    return Path(os.path.expanduser("~/.ssh/config"))


def split_host(text: str) -> tuple[str | None, str, int | None]:
    """``[USER@]HOST[:PORT]`` (IPv6 as ``[ADDR]:PORT``) -> (user, host, port)."""
    raw = text.strip()
    if not raw or any(ch.isspace() for ch in raw) or raw.startswith("-"):
        raise ConfigError(f"--host {text!r}: expected USER@HOST[:PORT] or an alias from ~/.ssh/config")
    user, _, rest = raw.rpartition("@")
    port: int | None = None
    if rest.startswith("["):
        host, sep, tail = rest[1:].partition("]")
        if not sep or (tail and not tail.startswith(":")):
            raise ConfigError(f"--host {text!r}: bad bracketed address; expected [ADDR]:PORT")
        port_text = tail[1:] if tail else ""
    elif rest.count(":") == 1:
        host, _, port_text = rest.partition(":")
    else:
        host, port_text = rest, ""
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ConfigError(f"--host {text!r}: port must be a number 1-65535, got {port_text!r}")
        port = int(port_text)
    if not host:
        raise ConfigError(f"--host {text!r}: no host name")
    return (user or None), host, port


def resolve_host(text: str, *, config_path: Path | None = None, trust_new_host: bool = False) -> HostSpec:
    """Apply ~/.ssh/config to ``[USER@]HOST[:PORT]``; explicit user/port win over the config, as in OpenSSH."""
    import paramiko

    user, host, port = split_host(text)
    path = config_path or ssh_config_path()
    options: dict[str, Any] = {"hostname": host}
    if path.is_file():
        try:
            options = dict(paramiko.SSHConfig.from_path(str(path)).lookup(host))
        except (OSError, ValueError, paramiko.ssh_exception.ConfigParseError) as exc:
            raise ConfigError(f"{path}: cannot read SSH config ({exc})") from None
    try:
        config_port = int(options.get("port", 22))
        timeout = float(options.get("connecttimeout", DEFAULT_CONNECT_TIMEOUT))
    except ValueError as exc:
        raise ConfigError(f"{path}: bad Port or ConnectTimeout for host {host!r} ({exc})") from None
    known = tuple(os.path.expanduser(p) for p in str(options.get("userknownhostsfile", "")).split()) or (
        os.path.expanduser("~/.ssh/known_hosts"),)
    jump = str(options.get("proxyjump", "")).strip()
    strict = str(options.get("stricthostkeychecking", "")).lower()
    return HostSpec(
        name=text,
        hostname=str(options.get("hostname", host)),
        port=port or config_port,
        user=user or options.get("user"),
        identity_files=tuple(os.path.expanduser(p) for p in options.get("identityfile", [])),
        identities_only=str(options.get("identitiesonly", "no")).lower() == "yes",
        known_hosts_files=known,
        proxy_jump=tuple(h.strip() for h in jump.split(",") if h.strip()) if jump.lower() != "none" else (),
        connect_timeout=timeout,
        accept_new_keys=trust_new_host or strict in ("accept-new", "no", "off"),
    )


def _fingerprint(key: Any) -> str:
    import base64
    import hashlib

    digest = base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")
    return f"{key.get_name()} SHA256:{digest}"


def _policy(spec: HostSpec) -> Any:
    """Refuse unknown keys (with the command that fixes it), or append them to known_hosts on first use."""
    import paramiko

    class Policy(paramiko.MissingHostKeyPolicy):
        def missing_host_key(self, client: Any, hostname: str, key: Any) -> None:
            known = spec.known_hosts_files[0]
            if not spec.accept_new_keys:
                scan = f"ssh-keyscan -p {spec.port} {spec.hostname} >> {known}"
                raise DeviceError(
                    f"{spec.name}: host key {_fingerprint(key)} of {hostname} is not in {known}; check the "
                    f"fingerprint, then add it (`{scan}`, or `ssh {spec.name}` once) or pass --trust-new-host")
            client.get_host_keys().add(hostname, key.get_name(), key)
            Path(known).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open(known, "a", encoding="utf-8") as handle:
                handle.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")

    return Policy()


def _connect_one(spec: HostSpec, sock: Any = None) -> Any:
    import paramiko

    client = paramiko.SSHClient()
    for path in (*spec.known_hosts_files, GLOBAL_KNOWN_HOSTS):
        if os.path.isfile(path):
            try:
                client.get_host_keys().load(path)
            except (OSError, paramiko.SSHException) as exc:
                raise DeviceError(f"{path}: cannot read known hosts ({exc})") from None
    client.set_missing_host_key_policy(_policy(spec))
    keys = [p for p in spec.identity_files if os.path.isfile(p)]
    try:
        client.connect(spec.hostname, port=spec.port, username=spec.user, key_filename=keys or None,
                       allow_agent=not spec.identities_only, look_for_keys=not (spec.identities_only and keys),
                       timeout=spec.connect_timeout, banner_timeout=spec.connect_timeout,
                       auth_timeout=spec.connect_timeout, sock=sock)
    except DeviceError:
        client.close()
        raise
    except paramiko.BadHostKeyException as exc:
        client.close()
        raise DeviceError(
            f"{spec.name}: host key of {spec.address} CHANGED ({_fingerprint(exc.key)}, expected "
            f"{_fingerprint(exc.expected_key)}); refusing to connect. If the device was reinstalled, remove the old "
            f"entry with `ssh-keygen -R {spec.hostname}`") from None
    except paramiko.PasswordRequiredException:
        client.close()
        raise DeviceError(f"{spec.name}: the private key is passphrase-protected; load it into ssh-agent "
                          "(`ssh-add KEY`)") from None
    except paramiko.AuthenticationException as exc:
        client.close()
        tried = ", ".join(keys) or "ssh-agent and ~/.ssh/id_*"
        raise DeviceError(f"{spec.name}: {spec.address} refused authentication ({exc}); keys tried: {tried}. "
                          "edgeprune uses key or agent auth only") from None
    except (socket.timeout, TimeoutError):
        client.close()
        raise DeviceError(f"{spec.name}: connecting to {spec.address} timed out after {spec.connect_timeout:g} s") from None
    except (OSError, paramiko.SSHException, EOFError) as exc:
        client.close()
        raise DeviceError(f"{spec.name}: cannot connect to {spec.address}: {exc or exc.__class__.__name__}") from None
    return client


@dataclass
class Connection:
    """An authenticated session to a device (plus the jump hosts it goes through)."""

    spec: HostSpec
    client: Any
    jumps: list[Any] = field(default_factory=list)

    def close(self) -> None:
        for c in [self.client, *reversed(self.jumps)]:
            c.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def alive(self) -> bool:
        transport = self.client.get_transport()
        return bool(transport and transport.is_active())

    def run(self, argv: list[str], *, timeout: float, prefix: str = "") -> tuple[int, str, str]:
        """Run argv (each word quoted) with a wall-clock timeout; returns (exit code, stdout, stderr).

        ``prefix`` is fixed shell text of ours (never user input) put before the quoted command.
        Raises CommandTimeout (the channel is closed) or ConnectionDropped.
        """
        import paramiko

        command = prefix + " ".join(shlex.quote(str(a)) for a in argv)
        try:
            channel = self.client.get_transport().open_session(timeout=self.spec.connect_timeout)
            channel.exec_command(command)
        except (AttributeError, OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionDropped(f"{self.spec.name}: connection lost ({exc or exc.__class__.__name__})") from None
        out, err = bytearray(), bytearray()
        deadline = time.monotonic() + timeout
        try:
            while True:
                busy = False
                while channel.recv_ready():
                    out += channel.recv(65536)
                    busy = True
                while channel.recv_stderr_ready():
                    err += channel.recv_stderr(65536)
                    busy = True
                if channel.exit_status_ready() and not channel.recv_ready() and not channel.recv_stderr_ready():
                    break
                if channel.closed or not self.alive:
                    if channel.exit_status_ready():
                        break
                    raise ConnectionDropped(f"{self.spec.name}: connection dropped while running a command",
                                            out.decode("utf-8", "replace"))
                if time.monotonic() > deadline:
                    raise CommandTimeout(f"{self.spec.name}: remote command timed out after {timeout:g} s",
                                         out.decode("utf-8", "replace"))
                if not busy:
                    time.sleep(_POLL_SECONDS)
            code = channel.recv_exit_status()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionDropped(f"{self.spec.name}: connection dropped ({exc or exc.__class__.__name__})",
                                    out.decode("utf-8", "replace")) from None
        finally:
            channel.close()
        if code == -1:
            raise ConnectionDropped(f"{self.spec.name}: the session ended without an exit status",
                                    out.decode("utf-8", "replace"))
        return code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")

    def sftp(self) -> Any:
        import paramiko

        try:
            return self.client.open_sftp()
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise ConnectionDropped(f"{self.spec.name}: cannot open SFTP ({exc or exc.__class__.__name__}); "
                                    "is the sftp subsystem enabled in sshd_config?") from None


def connect(spec: HostSpec, *, config_path: Path | None = None) -> Connection:
    """Connect through any ProxyJump hops (each resolved with the same config), then to the device."""
    jumps: list[Any] = []
    sock = None
    try:
        hops = [resolve_host(h, config_path=config_path, trust_new_host=spec.accept_new_keys) for h in spec.proxy_jump]
        for index, hop in enumerate(hops):
            client = _connect_one(hop, sock)
            jumps.append(client)
            nxt = hops[index + 1] if index + 1 < len(hops) else spec
            try:
                sock = client.get_transport().open_channel("direct-tcpip", (nxt.hostname, nxt.port), ("127.0.0.1", 0),
                                                            timeout=spec.connect_timeout)
            except Exception as exc:  # paramiko.ChannelException and socket errors
                raise DeviceError(f"{spec.name}: jump host {hop.name} cannot reach {nxt.address}: {exc}") from None
        return Connection(spec, _connect_one(spec, sock), jumps)
    except BaseException:
        for client in reversed(jumps):
            client.close()
        raise
