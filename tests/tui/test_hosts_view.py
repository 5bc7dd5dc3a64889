"""Each host on screen: the system strip's line per host and the ``--once`` table's HOST column,
from hosts reached through a real sshd on 127.0.0.1 (tests/sshd.py), and the strip's layout
from host states as the stream leaves them (GPUs are the one thing faked: this machine has
none)."""

from __future__ import annotations

import time

import pytest

from collectors.model.disk import DiskSnapshot, Filesystem
from collectors.model.gpu import GpuDevice, GpuSnapshot
from collectors.model.host import CONNECTING, INCOMPATIBLE, UNREACHABLE, UP, HostStatus
from collectors.simulator.trainer import write_instant_run
from tests.sshd import Sshd, sshd_server  # noqa: F401  (the fixture ``sshd``)
from tests.support import happo_top
from tui.widgets.system_strip import SystemStrip

GIB = 1 << 30


def _up(name: str, gpus: int = 2) -> HostStatus:
    devs = tuple(
        GpuDevice(i, "NVIDIA H100", utilization=90, memory_used=40 * GIB, memory_total=80 * GIB)
        for i in range(gpus)
    )
    fs = Filesystem(1, "/data", 2000 * GIB, 900 * GIB, 1100 * GIB, ("/data/runs",), 3, 2, 0)
    return HostStatus(
        name,
        UP,
        since=time.time(),
        time=time.time(),
        gpus=GpuSnapshot(True, "", devs),
        disks=DiskSnapshot((fs,)),
    )


def _strip(hosts, max_lines: int = 3) -> list[str]:
    s = SystemStrip()
    s.hosts = tuple(hosts)
    s.max_lines = max_lines
    return [t.plain for t in s._build(160)]


def test_the_strip_has_a_line_per_host_with_its_gpus_disks_or_its_state():
    since = time.mktime((2026, 1, 2, 14, 2, 0, 0, 0, -1))
    down = HostStatus("gpu03", UNREACHABLE, since=since, message="Connection refused")
    old = HostStatus("gpu04", INCOMPATIBLE, since=since, message="schema 9 there, 2 here")
    lines = _strip([_up("gpu01"), _up("gpu02", 1), down, old, HostStatus("gpu05", CONNECTING)])
    host_lines = lines[-5:]
    assert host_lines[0].startswith("gpu01") and "GPU0" in host_lines[0] and "GPU1" in host_lines[0]
    assert host_lines[0].endswith("│  /data 900.0G free")
    assert host_lines[1].startswith("gpu02") and "GPU1" not in host_lines[1]
    assert host_lines[2] == "gpu03: unreachable since 14:02: Connection refused"
    assert host_lines[3].startswith("gpu04: incompatible since 14:02: schema 9")
    assert host_lines[4] == "gpu05: connecting…"
    assert not any(line.startswith("gpu") for line in _strip([]))  # no hosts: as before


def test_many_hosts_are_counted_and_a_tiny_terminal_gets_one_line():
    hosts = [_up(f"gpu{i:02d}") for i in range(12)]
    hosts.append(HostStatus("gpu99", UNREACHABLE, since=time.time(), message="No route to host"))
    lines = _strip(hosts)
    assert sum(line.startswith("gpu") for line in lines) == 7
    assert lines[-1] == "+6 more hosts: 5 up, 1 unreachable"
    tiny = _strip(hosts, max_lines=1)
    assert tiny[-1] == "+13 more hosts: 12 up, 1 unreachable" and len(tiny) == 2


@pytest.mark.slow
def test_once_table_has_a_host_column_and_lists_unreachable_hosts(
    tmp_path, private_state, sshd: Sshd
):
    write_instant_run(tmp_path / "a", exp_name="faraway", num_env_steps=2_000_000)
    write_instant_run(tmp_path / "local", exp_name="nearby", num_env_steps=2_000_000, seed=3)
    cfg = sshd.config_file(tmp_path / "config.yaml")
    out = happo_top(
        "--once",
        "--config",
        str(cfg),
        f"gpu01:{tmp_path / 'a'}",
        f"gpu03:{tmp_path}",
        str(tmp_path / "local"),
        timeout=60,
    )
    assert out.returncode in (0, 1), out.stderr
    lines = out.stdout.splitlines()
    header = next(line for line in lines if line.startswith("STATE"))
    assert header.split()[:3] == ["STATE", "HOST", "RUN"]
    far = next(line for line in lines if "faraway" in line)
    near = next(line for line in lines if "nearby" in line)
    assert "gpu01" in far.split()[:4]
    here = lines[0].split()[1]  # this machine's name, from the title line
    assert here in near.split()[:4]
    assert any(line.startswith("HOSTS gpu01 up, gpu03 unreachable") for line in lines)
    assert any(
        line.startswith("ERROR gpu03: unreachable since ") and "Connection refused" in line
        for line in lines
    )
    assert any(line.startswith("gpu01  DISK ") for line in lines)  # its filesystems, named


@pytest.mark.slow
def test_once_table_without_hosts_has_no_host_column(tmp_path, private_state):
    write_instant_run(tmp_path / "local", exp_name="nearby", num_env_steps=2_000_000)
    out = happo_top("--once", str(tmp_path / "local"))
    header = next(line for line in out.stdout.splitlines() if line.startswith("STATE"))
    assert header.split()[:2] == ["STATE", "RUN"]
