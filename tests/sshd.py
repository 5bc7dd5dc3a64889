"""A real sshd on 127.0.0.1 for the several-hosts tests, with keys made here.

:func:`sshd_server` (the fixture ``sshd``) starts ``/usr/sbin/sshd -D -f <generated config>`` listening on two free ports of
127.0.0.1 (host aliases ``gpu01`` and ``gpu02``), with a host key and a user key made by
ssh-keygen in the test's directory, ``AuthorizedKeysFile`` there and ``StrictModes no``; the ssh
client config (``ssh -F``) names the aliases, plus ``gpu03`` on a port where nothing listens
(refused) and ``gpu04`` on a port that accepts and never answers (a hung host). The remote
command is this checkout's happo-top. Every alias is 127.0.0.1: nothing else is contacted.

Under ``CI=true`` an sshd that cannot start fails the test; elsewhere the test is skipped with
the reason. The fixture stops exactly the sshd it started (its Popen).
"""

from __future__ import annotations

import getpass
import os
import shlex
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import ROOT

SSHD = "/usr/sbin/sshd"


@dataclass
class Sshd:
    dir: Path
    config: Path  # for ssh -F
    ports: dict[str, int]
    remote_command: str
    state: Path  # the remote happo-top's XDG_STATE_HOME
    proc: subprocess.Popen[bytes] | None = None
    hung: list[socket.socket] = field(default_factory=list)

    @property
    def ssh_args(self) -> list[str]:
        return ["-F", str(self.config)]

    def config_file(self, path: Path, **extra: object) -> Path:
        """A happo-top config that reaches the aliases through this sshd."""
        lines = [
            f"remote_command: {self.remote_command!r}",
            f"ssh_args: [-F, {str(self.config)!r}]",
            "refresh: 0.5",
        ]
        lines += [f"{k}: {v}" for k, v in extra.items()]
        path.write_text("\n".join(lines) + "\n")
        return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"sshd is needed under CI: {reason}")
    pytest.skip(f"no sshd to test against: {reason}")


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
            s.settimeout(2)
            return s.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _hung_listener() -> tuple[socket.socket, int]:
    """A port that accepts connections and never says a word (a hung host)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    held: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                c, _ = s.accept()
            except OSError:
                return
            held.append(c)

    threading.Thread(target=accept, daemon=True).start()
    return s, s.getsockname()[1]


@pytest.fixture(name="sshd")
def sshd_server(tmp_path: Path) -> Iterator[Sshd]:
    for tool in (SSHD, "ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            _unavailable(f"{tool} not installed (apt-get install openssh-server)")
    d = tmp_path / "sshd"
    d.mkdir()
    _keygen(d / "host_key")
    _keygen(d / "id_user")
    (d / "authorized_keys").write_text((d / "id_user.pub").read_text())
    user = getpass.getuser()
    ports = {"gpu01": _free_port(), "gpu02": _free_port(), "gpu03": _free_port()}
    hung, ports["gpu04"] = _hung_listener()
    (d / "sshd_config").write_text(
        "".join(f"Port {ports[h]}\n" for h in ("gpu01", "gpu02"))
        + f"ListenAddress 127.0.0.1\nHostKey {d / 'host_key'}\nPidFile {d / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {d / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
        f"PermitRootLogin prohibit-password\nAllowUsers {user}\nMaxStartups 50\n"
        "MaxSessions 50\nLogLevel ERROR\n"
    )
    host_pub = (d / "host_key.pub").read_text().split()[:2]
    (d / "known_hosts").write_text(
        "".join(f"[127.0.0.1]:{p} {' '.join(host_pub)}\n" for p in ports.values())
    )
    (d / "ssh_config").write_text(
        "".join(f"Host {h}\n  HostName 127.0.0.1\n  Port {p}\n" for h, p in ports.items())
        + f"Host *\n  User {user}\n  IdentityFile {d / 'id_user'}\n  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {d / 'known_hosts'}\n  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n  PasswordAuthentication no\n  ControlMaster no\n"
        "  ControlPath none\n  LogLevel ERROR\n"
    )
    state = tmp_path / "remote-state"
    env = {
        "XDG_STATE_HOME": str(state),
        "XDG_CONFIG_HOME": str(tmp_path / "remote-config"),
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    remote = "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    remote += f" {shlex.quote(sys.executable)} -m tui.cli"
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)  # sshd's privilege separation dir
    log = d / "sshd.log"
    proc = subprocess.Popen(
        [SSHD, "-D", "-e", "-f", str(d / "sshd_config")],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    server = Sshd(d, d / "ssh_config", ports, remote, state, proc, [hung])
    try:
        deadline = time.monotonic() + 15
        while not all(_listening(ports[h]) for h in ("gpu01", "gpu02")):
            if proc.poll() is not None or time.monotonic() > deadline:
                _unavailable(f"sshd did not start: {log.read_text(errors='replace')[-800:]}")
            time.sleep(0.1)
        yield server
    finally:
        if proc.poll() is None:
            proc.terminate()  # exactly the sshd this fixture started
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        hung.close()
