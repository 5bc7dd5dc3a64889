"""A real single-node Slurm cluster for the Slurm tests, on loopback, in a temporary directory.

:func:`slurm_cluster` (the session fixture ``slurm``) writes a ``slurm.conf`` for this host
(``hostname -s``, its CPUs, ``ProctrackType=proctrack/linuxproc``, ``TaskPlugin=task/none``,
accounting off, the controller's and slurmd's ports free ports of 127.0.0.1, state, spool, pid
and log files in the directory), makes a munge key there and starts ``munged`` on its own socket
(``AuthInfo=socket=...``), then ``slurmctld -D`` and ``slurmd -D``, and waits until ``sinfo``
says the node is idle. The tools find the cluster through ``SLURM_CONF`` (:attr:`Cluster.env`);
nothing but 127.0.0.1 is contacted.

Under ``CI=true`` a Slurm that cannot start fails the test; elsewhere the test is skipped with
the reason. At the end every job of this cluster is cancelled and exactly the three daemons this
fixture started (its Popens) are stopped.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

MUNGED = "/usr/sbin/munged"
TOOLS = ("slurmctld", "slurmd", "sbatch", "squeue", "scancel", "scontrol", "sinfo", "mungekey")


@dataclass
class Cluster:
    dir: Path
    conf: Path
    node: str
    partition: str = "debug"
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        return {"SLURM_CONF": str(self.conf)}

    def tool(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """A Slurm command against this cluster."""
        return subprocess.run(
            list(argv),
            env={**os.environ, **self.env},
            capture_output=True,
            text=True,
            timeout=30,
            check=check,
        )

    def state(self, job_id: str) -> str:
        out = self.tool("squeue", "-h", "-t", "all", "-j", job_id, "-o", "%T", check=False)
        return out.stdout.strip()

    def wait_state(self, job_id: str, states: set[str], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while True:
            s = self.state(job_id)
            if s in states:
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"job {job_id} is {s!r}, not one of {sorted(states)}")
            time.sleep(0.2)

    def cancel_all(self) -> None:
        self.tool("scancel", f"--user={os.getuid()}", check=False)


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Slurm is needed under CI: {reason}")
    pytest.skip(f"no Slurm to test against: {reason}")


def _raise(reason: str) -> None:
    raise Unavailable(reason)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _log(path: Path) -> str:
    try:
        return path.read_text(errors="replace")[-800:]
    except OSError:
        return "(no log)"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()  # exactly the daemon this fixture started
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Unavailable(Exception):
    """Slurm cannot start here (the reason)."""


@pytest.fixture(scope="session", name="slurm")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    try:
        with cluster(tmp_path_factory.mktemp("slurm")) as c:
            yield c
    except Unavailable as e:
        _unavailable(str(e))


@contextlib.contextmanager
def cluster(d: Path) -> Iterator[Cluster]:
    """The cluster in the empty directory ``d`` (also for bench/bench_slurm.py); raises
    :class:`Unavailable` with the reason when it cannot start."""
    for tool in TOOLS:
        if shutil.which(tool) is None:
            raise Unavailable(f"{tool} not installed (apt-get install slurm-wlm munge)")
    if not os.access(MUNGED, os.X_OK):
        raise Unavailable(f"{MUNGED} not installed (apt-get install munge)")
    d.mkdir(parents=True, exist_ok=True)
    os.chmod(d, 0o755)  # munged wants its socket's directory reachable by all
    for sub in ("state", "spool", "log", "munge"):
        (d / sub).mkdir()
    os.chmod(d / "munge", 0o700)
    node = subprocess.run(["hostname", "-s"], capture_output=True, text=True).stdout.strip()
    node = node or socket.gethostname().split(".")[0]
    user = getpass.getuser()
    cpus = os.cpu_count() or 1
    key, sock = d / "munge" / "munge.key", d / "munge" / "munge.socket"
    subprocess.run(["mungekey", "--create", f"--keyfile={key}"], check=True, capture_output=True)
    conf = d / "slurm.conf"
    conf.write_text(
        "\n".join(
            [
                "ClusterName=happotest",
                f"SlurmctldHost={node}(127.0.0.1)",
                f"SlurmctldPort={_free_port()}",
                f"SlurmdPort={_free_port()}",
                f"SlurmUser={user}",
                f"SlurmdUser={user}",
                "AuthType=auth/munge",
                "CredType=cred/munge",
                f"AuthInfo=socket={sock}",
                f"StateSaveLocation={d / 'state'}",
                f"SlurmdSpoolDir={d / 'spool'}",
                f"SlurmctldPidFile={d / 'slurmctld.pid'}",
                f"SlurmdPidFile={d / 'slurmd.pid'}",
                f"SlurmctldLogFile={d / 'log' / 'slurmctld.log'}",
                f"SlurmdLogFile={d / 'log' / 'slurmd.log'}",
                "ProctrackType=proctrack/linuxproc",
                "TaskPlugin=task/none",
                "SelectType=select/cons_tres",
                "SelectTypeParameters=CR_Core",
                "AccountingStorageType=accounting_storage/none",
                "JobAcctGatherType=jobacct_gather/none",
                "JobCompType=jobcomp/none",
                "SchedulerType=sched/backfill",
                "SchedulerParameters=sched_interval=1,bf_interval=1",
                "MpiDefault=none",
                "ReturnToService=2",
                "SlurmctldTimeout=30",
                "SlurmdTimeout=30",
                "InactiveLimit=0",
                "MinJobAge=600",
                "KillWait=5",
                "OverTimeLimit=0",
                f"NodeName={node} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN",
                f"PartitionName=debug Nodes={node} Default=YES MaxTime=INFINITE State=UP",
                "",
            ]
        )
    )
    cluster = Cluster(d, conf, node)
    env = {**os.environ, "SLURM_CONF": str(conf)}
    try:
        munged = [
            MUNGED,
            "--foreground",
            "--force",
            f"--socket={sock}",
            f"--key-file={key}",
            f"--pid-file={d / 'munge' / 'munged.pid'}",
            f"--log-file={d / 'log' / 'munged.log'}",
            f"--seed-file={d / 'munge' / 'munged.seed'}",
        ]
        cluster.procs.append(
            subprocess.Popen(munged, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        )
        deadline = time.monotonic() + 10
        while not sock.exists():
            if cluster.procs[0].poll() is not None or time.monotonic() > deadline:
                _raise(f"munged did not start: {_log(d / 'log' / 'munged.log')}")
            time.sleep(0.05)
        for daemon in ("slurmctld", "slurmd"):
            out = (d / "log" / f"{daemon}.out").open("wb")
            cluster.procs.append(
                subprocess.Popen(
                    [daemon, "-D", "-f", str(conf)],
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 30
        while True:
            dead = [p for p in cluster.procs if p.poll() is not None]
            if dead:
                _raise(
                    f"{dead[0].args[0]} exited: {_log(d / 'log' / 'slurmctld.out')} "
                    f"{_log(d / 'log' / 'slurmd.out')}"
                )
            info = subprocess.run(
                ["sinfo", "-h", "-n", node, "-o", "%t"],
                env=env,
                capture_output=True,
                text=True,
                timeout=30,
            )
            if info.stdout.strip() == "idle":
                break
            if time.monotonic() > deadline:
                _raise(
                    f"node {node} not idle ({info.stdout.strip() or info.stderr.strip()}): "
                    f"{_log(d / 'log' / 'slurmctld.log')}"
                )
            time.sleep(0.2)
        yield cluster
    finally:
        if len(cluster.procs) == 3 and cluster.procs[1].poll() is None:
            cluster.cancel_all()
            time.sleep(1)
        for proc in reversed(cluster.procs):
            _stop(proc)
