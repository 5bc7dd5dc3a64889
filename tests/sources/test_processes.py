"""collectors.processes: finding the real training process behind each run.

Real child processes only (the simulator, and a small stand-in trainer that renames itself and
holds, or does not hold, its files open); every child is killed in a finaliser. psutil is faked
only where the real situation cannot be produced (AccessDenied when running as root).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from collectors.control import LaunchSpec, Registry, launch
from collectors.model.run import CRASHED, FINISHED, RUNNING, STALLED, STARTING, STOPPED
from collectors.simulator.trainer import spawn
from collectors.sources.processes import collector as procmod
from collectors.sources.processes.collector import (
    OPEN_FILES,
    PARENT_CMDLINE,
    REGISTRY,
    TITLE_CWD,
    TITLE_ONLY,
    ProcessCollector,
    PsutilProcs,
    SystemCache,
    read_command_txt,
    refine_state,
    training_args,
)
from collectors.sources.runs.tracker import RunsCollector
from tests.builders import process_info, run_snapshot
from tests.support import LIVE, STANDIN

pytestmark = pytest.mark.usefixtures("private_state")  # registry and logs in tmp_path


@pytest.fixture
def standin(tmp_path):
    """Start stand-in trainers; all of them (and their groups when separate) die at the end."""
    script = tmp_path / "standin_train.py"
    script.write_text(STANDIN)
    started: list[subprocess.Popen] = []

    def start(*args: str, cwd: Path | None = None, shell_wrap: bool = False, **kw):
        cmd = [sys.executable, str(script), *args]
        if shell_wrap:  # a bash parent that keeps the original arguments (no exec)
            cmd = ["bash", "-c", " ".join(cmd) + "; true"]
        p = subprocess.Popen(
            cmd, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw
        )
        started.append(p)
        line = p.stdout.readline()
        assert line.startswith("run dir "), (line, p.stderr.read() if p.poll() else "")
        run_dir = Path(cwd or os.getcwd()) / line[len("run dir ") :].strip()
        p.run_dir = Path(os.path.abspath(run_dir))  # type: ignore[attr-defined]
        return p

    start.script = script  # type: ignore[attr-defined]
    yield start
    for p in started:
        _kill_tree(p.pid)
        p.kill()
        p.wait(timeout=10)


def _kill_tree(pid: int) -> None:
    try:
        parent = psutil.Process(pid)
        kids = parent.children(recursive=True)
    except psutil.Error:
        return
    for k in kids:
        with contextlib.suppress(psutil.Error):
            k.kill()


@pytest.fixture
def sims(monkeypatch):
    started = []

    def start(root, **kw):
        opts = {**LIVE, "duration": 60.0, **kw}
        p = spawn(root, **opts)
        started.append(p)
        return p

    yield start
    for p in started:
        p.kill()
        p.wait(timeout=10)


def wait_for(cond, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


# --------------------------------------------------------------------------- pure rules


def test_training_args():
    assert training_args(["python", "train.py", "--exp_name", "cuboid", "--seed", "3"]) == {
        "exp_name": "cuboid",
        "seed": "3",
    }
    assert training_args(["x", "--exp-name=a-b", "--algo=happo", "--env", "mapush"]) == {
        "exp_name": "a-b",
        "algo": "happo",
        "env": "mapush",
    }
    assert training_args(["python", "train.py", "--seed", "1"]) is None
    assert training_args(["python", "--exp_name"]) is None


def test_refine_state_rules():
    proc = process_info(status="sleeping")
    zombie = process_info(status="zombie")
    # a live process keeps running/stalled; silent for long but alive is stalled, not crashed
    assert refine_state(RUNNING, None, proc, False) == RUNNING
    assert refine_state(STALLED, None, proc, False) == STALLED
    assert refine_state(CRASHED, None, proc, False) == STALLED
    assert refine_state(STARTING, None, proc, False) == STARTING
    assert refine_state(FINISHED, None, proc, False) == FINISHED
    # no process before the last step and without summary.json: crashed, or stopped by us
    for s in (STARTING, RUNNING, STALLED, CRASHED):
        assert refine_state(s, None, None, False) == CRASHED
        assert refine_state(s, None, zombie, False) == CRASHED
        assert refine_state(s, None, None, True) == STOPPED
    assert refine_state(FINISHED, None, None, False) == FINISHED
    assert refine_state(FINISHED, None, None, True) == FINISHED
    # nothing known about processes: the files decide
    assert refine_state(RUNNING, None, None, False, process_visible=False) == RUNNING


def test_command_txt(tmp_path):
    (tmp_path / "command.txt").write_text(
        "# Training command (2025-11-15 15:34:13, cwd /home/u/MAPush)\n"
        "python -u HARL/harl_mapush/train.py --exp_name 'a b' --seed 1\n"
    )
    argv, cwd = read_command_txt(str(tmp_path))
    assert argv == ("python", "-u", "HARL/harl_mapush/train.py", "--exp_name", "a b", "--seed", "1")
    assert cwd == "/home/u/MAPush"
    assert read_command_txt(str(tmp_path / "nope")) is None


# --------------------------------------------------------------------------- identification


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["procfs", "psutil"])
def test_simulator_found_by_open_files(tmp_path, sims, backend):
    other = sims(tmp_path / "results", exp_name="other", seed=2)  # a second run: not confused
    sim = sims(tmp_path / "results", exp_name="cuboid")
    be = PsutilProcs() if backend == "psutil" else None
    pc = ProcessCollector(backend=be)
    runs = [str(sim.run_dir), str(other.run_dir)]
    found = wait_for(lambda: len(pc.collect(runs)) == 2 and pc.collect(runs))
    info = found[str(sim.run_dir)]
    assert info.pid == sim.pid
    assert info.how_found == OPEN_FILES
    assert info.title == "happo-mapush-cuboid"  # renamed: no arguments left
    assert info.cwd == os.getcwd()
    assert abs(info.started - psutil.Process(sim.pid).create_time()) < 1e-6
    assert info.user and info.uid == os.geteuid()
    assert info.rss and info.rss > 1_000_000 and info.threads and info.threads >= 1
    assert found[str(other.run_dir)].pid == other.pid
    # the parent is pytest (not a wrapper, no training arguments): the title is all we have
    assert info.cmdline_source == "title"
    doc = info.to_json()
    assert json.loads(json.dumps(doc))["how_found"] == OPEN_FILES
    assert doc["pid"] == info.pid == sim.pid
    assert not hasattr(info, "keys") and not hasattr(info, "__getitem__")  # a value, not a mapping
    for key in ("pid", "title", "cmdline", "cwd", "started", "cpu_percent", "rss", "threads"):
        assert key in doc
    # second sample: CPU percent becomes a number
    time.sleep(0.2)
    again = pc.collect(runs)[str(sim.run_dir)]
    assert again.cpu_percent is not None and again.cpu_percent >= 0


def test_simulator_found_by_title_and_cwd(tmp_path, sims, monkeypatch):
    monkeypatch.chdir(tmp_path)
    sim = sims("results", exp_name="cuboid-x")  # relative root: <cwd>/results/...
    pc = ProcessCollector(methods=[TITLE_CWD])
    info = wait_for(lambda: pc.collect([str(sim.run_dir)]).get(str(sim.run_dir)))
    assert info.pid == sim.pid
    assert info.how_found == TITLE_CWD
    assert info.title == "happo-mapush-cuboid-x"
    assert os.path.realpath(info.cwd) == os.path.realpath(tmp_path)


def test_title_cwd_picks_closest_run_not_before_start(tmp_path, standin):
    # An older run of the same experiment (before the process started) must not be taken.
    old = tmp_path / "results" / "mapush" / "go1push_mid" / "happo" / "exp1"
    old_run = old / "seed-00001-2020-01-01-00-00-00"
    (old_run / "logs").mkdir(parents=True)
    p = standin(
        "--root", "results", "--exp_name", "exp1", "--title", "happo-mapush-exp1", cwd=tmp_path
    )
    pc = ProcessCollector()
    found = wait_for(lambda: pc.collect([str(old_run), str(p.run_dir)]).get(str(p.run_dir)))
    assert found.pid == p.pid and found.how_found == TITLE_CWD  # no files held open
    assert str(old_run) not in pc.collect([str(old_run), str(p.run_dir)])


def test_title_elsewhere_is_not_enough(tmp_path, standin):
    """Same title, but the run is not below the process's working directory."""
    root = tmp_path / "abs-root"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = standin(
        "--root", str(root), "--exp_name", "exp2", "--title", "happo-mapush-exp2", cwd=elsewhere
    )
    pc = ProcessCollector(methods=[TITLE_CWD])
    time.sleep(0.3)
    assert pc.collect([str(p.run_dir)]) == {}
    assert pc.can_judge(str(p.run_dir))


def test_parent_cmdline(tmp_path, standin):
    """Renamed, no files held, cwd elsewhere: the bash parent still shows the arguments."""
    root = tmp_path / "abs-root"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    p = standin(
        "--root",
        str(root),
        "--exp_name",
        "exp3",
        "--seed",
        "7",
        "--title",
        "happo-mapush-exp3",
        cwd=elsewhere,
        shell_wrap=True,
    )
    pc = ProcessCollector()
    info = wait_for(lambda: pc.collect([str(p.run_dir)]).get(str(p.run_dir)))
    assert info.how_found == PARENT_CMDLINE
    assert info.pid != p.pid  # the trainer, not the bash wrapper
    assert psutil.Process(info.pid).ppid() == p.pid
    assert info.launcher == p.pid
    assert info.cmdline_source == "parent"
    assert info.cmdline[:2] == ("bash", "-c") and "--exp_name exp3" in info.cmdline[2]
    assert info.title == "happo-mapush-exp3"


def test_registry_identification(tmp_path, standin):
    """Launched by happo-top through a shell that execs the trainer: only the record knows."""
    registry = Registry(str(tmp_path / "state" / "happo-top"))
    root = tmp_path / "abs-root"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    cmd = (
        f"exec {sys.executable} {standin.script} --root {root} --exp_name exp4 "
        "--title happo-mapush-exp4"
    )
    res = launch(LaunchSpec(argv=(cmd,), cwd=str(elsewhere), shell=True), registry)
    try:
        # "run dir" is printed once the trainer has renamed itself: before, its own command
        # line still showed its arguments, and the parent-cmdline method found it first
        assert wait_for(lambda: "run dir" in Path(res.log).read_text(), timeout=15)
        run = list(root.glob("mapush/*/happo/exp4/seed-*"))
        assert run, Path(res.log).read_text()
        run_dir = str(run[0])
        pc = ProcessCollector(registry=registry)
        info = wait_for(lambda: pc.collect([run_dir]).get(run_dir))
        assert info.pid == res.pid and info.how_found == REGISTRY
        assert info.launch_id == res.record.id and info.log == res.log
        assert info.cmdline_source == "registry" and info.cmdline == (cmd,)
        assert info.pgid == res.pid and info.sid == res.pid  # its own session
        assert registry.get(res.record.id).run_dir == run_dir  # noted for later restarts
    finally:
        os.killpg(res.pid, signal.SIGKILL)
        res.popen.wait(timeout=10)


def test_full_scan_cadence_and_cheap_refresh(tmp_path, sims, clock):
    sim = sims(tmp_path / "results")
    pc = ProcessCollector(clock=clock, scan_interval=10.0)
    runs = [str(sim.run_dir)]
    assert runs[0] in pc.collect(runs)  # the first collect scans
    scans = pc.scans
    for _ in range(5):
        clock.now += 1.0
        assert runs[0] in pc.collect(runs)
    assert pc.scans == scans  # refreshes only
    clock.now += 10.0
    pc.collect(runs)
    assert pc.scans == scans + 1
    # a new run is looked for at once (not only at the next full scan)
    other = sims(tmp_path / "results", exp_name="late", seed=3)
    clock.now += 1.5
    got = pc.collect([*runs, str(other.run_dir)])
    assert pc.scans == scans + 2 and str(other.run_dir) in got
    assert pc.can_judge(str(other.run_dir))
    assert not pc.can_judge(str(tmp_path / "never-seen"))


def test_vanishing_and_zombie_processes(tmp_path, standin):
    p = standin("--root", str(tmp_path / "r"), "--exp_name", "e", "--hold")
    pc = ProcessCollector()
    run = str(p.run_dir)
    assert wait_for(lambda: pc.collect([run]).get(run))
    # killed and not reaped: a zombie of ours. It counts as gone, quietly.
    p.kill()
    assert wait_for(lambda: psutil.Process(p.pid).status() == psutil.STATUS_ZOMBIE)
    assert pc.collect([run]) == {}
    p.wait()
    assert pc.collect([run]) == {}  # gone (NoSuchProcess) between scans
    pc.full_scan([])
    assert pc.collect([run]) == {}


def test_access_denied_shows_what_is_known(tmp_path, standin, monkeypatch):
    """psutil refusing one field (another user's process) leaves the rest visible."""
    p = standin("--root", str(tmp_path / "r"), "--exp_name", "e", "--hold")
    pc = ProcessCollector()
    run = str(p.run_dir)
    assert wait_for(lambda: pc.collect([run]).get(run))

    def denied(self, *a, **k):  # what psutil raises when the OS says EPERM
        raise psutil.AccessDenied(self.pid)

    platform = psutil._psplatform.Process
    monkeypatch.setattr(platform, "memory_info", denied)
    info = pc.collect([run])[run]
    assert info.pid == p.pid and info.rss is None
    monkeypatch.setattr(platform, "status", denied)
    info = pc.collect([run])[run]
    assert info.pid == p.pid and info.status == "?"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run a process as another user")
def test_other_users_view(tmp_path, standin):
    """Seen from another user: no fds or cwd, so title + start only, never 'positive'."""
    shared = Path(tempfile.mkdtemp(prefix="happo-top-other-"))
    try:
        os.chmod(shared, 0o755)
        shutil.copy(standin.script, shared / "t.py")
        p = standin(
            "--root", str(shared / "results"), "--exp_name", "e5", "--hold",
            "--title", "happo-mapush-e5", cwd=shared,
        )  # fmt: skip
        for d, _, files in os.walk(shared):
            os.chmod(d, 0o755)
            for f in files:
                os.chmod(os.path.join(d, f), 0o644)
        # Look at it as user nobody: a forked copy of this process drops its privileges
        # (no exec needed, so the virtualenv need not be readable by nobody).
        r, w = os.pipe()
        child = os.fork()
        if child == 0:  # pragma: no cover (the child)
            code = 1
            try:
                os.close(r)
                os.setgid(65534)
                os.setuid(65534)
                pc = ProcessCollector()
                got = pc.collect([str(p.run_dir)])
                doc = {k: v.to_json() for k, v in got.items()}
                doc["can_judge"] = pc.can_judge(str(p.run_dir))
                os.write(w, json.dumps(doc).encode())
                code = 0
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            data = f.read()
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        result = json.loads(data)
        assert result["can_judge"] is True  # other users' processes are visible (no hidepid)
        seen = result[str(p.run_dir)]
        assert seen["pid"] == p.pid and seen["how_found"] == TITLE_ONLY
        assert seen["cwd"] is None and seen["user"] == "root"
    finally:
        shutil.rmtree(shared, ignore_errors=True)


def test_gpu_memory_joined_by_pid(tmp_path, standin):
    p = standin("--root", str(tmp_path / "r"), "--exp_name", "e", "--hold")
    pc = ProcessCollector()
    run = str(p.run_dir)
    assert wait_for(lambda: pc.collect([run]).get(run))
    assert pc.collect([run], gpu_memory={p.pid: 3 << 30, 999999: 1})[run].gpu_memory == 3 << 30
    assert pc.collect([run], gpu_memory={})[run].gpu_memory is None


def test_with_run_snapshots_and_state(tmp_path, sims):
    sim = sims(tmp_path / "results")
    rc = RunsCollector([str(tmp_path / "results")])
    pc = ProcessCollector()
    snap = wait_for(lambda: (s := rc.collect()).runs and s)
    run = snap.runs[0]
    info = wait_for(lambda: pc.collect(rc.collect().runs).get(run.path))
    assert info.pid == sim.pid
    assert refine_state(run.state, run, info, False) in (STARTING, RUNNING)
    sim.kill()
    sim.wait()
    assert pc.collect(rc.collect().runs) == {}
    assert refine_state(RUNNING, run, None, False, process_visible=pc.can_judge(run.path)) == (
        CRASHED
    )


def test_children_listed(tmp_path):
    """A trainer with a worker child: the trainer is the run's process, the worker its child."""
    script = tmp_path / "parent.py"
    run = tmp_path / "r" / "mapush" / "t" / "happo" / "e" / "seed-00001-2025-01-01-00-00-00"
    (run / "logs").mkdir(parents=True)
    script.write_text(
        textwrap.dedent(
            f"""
            import os, subprocess, sys, time
            f = open({str(run / "progress.txt")!r}, "w")
            c = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                 pass_fds=[f.fileno()])
            print(c.pid, flush=True)
            time.sleep(60)
            """
        )
    )
    p = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        kid = int(p.stdout.readline())
        pc = ProcessCollector()
        info = wait_for(lambda: pc.collect([str(run)]).get(str(run)))
        assert info.pid == p.pid and info.children == (kid,)
        # the worker inherited the open file but is not the run's process
        assert procmod.ProcFS().written_files(kid, (str(run) + os.sep,))
    finally:
        _kill_tree(p.pid)
        p.kill()
        p.wait()


def _snapshot(path: str, state: str):
    return run_snapshot(
        id="x",
        path=path,
        name="n",
        state=state,
        step=10,
        total_steps=100,
        progress=0.1,
        started=None,
    )


def _mounts(path, table) -> None:
    """A mount table in /proc/self/mounts's format."""
    space = "\\040"  # how the kernel writes a space in a mount point
    lines = [f"dev{i} {p.replace(' ', space)} {kind} rw 0 0" for i, (p, kind) in enumerate(table)]
    path.write_text("\n".join(lines) + "\n")


def test_network_filesystem_runs_are_left_to_the_files(tmp_path):
    """On NFS the trainer may run on another host: no local process proves nothing."""
    run = tmp_path / "r" / "mapush" / "t" / "happo" / "e" / "seed-00001-2025-01-01-00-00-00"
    (run / "logs").mkdir(parents=True)
    mounts = tmp_path / "mounts"
    _mounts(mounts, [("/", "ext4"), (str(tmp_path), "nfs4")])
    now = [0.0]
    cache = SystemCache(str(mounts), clock=lambda: now[0])
    assert cache.is_network_fs(str(run)) and not cache.is_network_fs("/usr")
    pc = ProcessCollector(cache=cache)
    assert pc.collect([str(run)]) == {}
    assert not pc.can_judge(str(run))
    assert pc.refine(_snapshot(str(run), RUNNING), None, False) == RUNNING
    _mounts(mounts, [("/", "ext4"), (str(tmp_path), "xfs")])
    assert not pc.can_judge(str(run))  # the table is re-read once a minute
    now[0] += 61.0
    assert pc.can_judge(str(run))
    assert pc.refine(_snapshot(str(run), RUNNING), None, False) == CRASHED
    assert pc.refine(_snapshot(str(run), RUNNING), None, True) == STOPPED


def test_network_filesystem_run_seen_then_gone(tmp_path, standin):
    mounts = tmp_path / "mounts"
    _mounts(mounts, [("/", "nfs")])
    p = standin("--root", str(tmp_path / "r"), "--exp_name", "e", "--hold")
    pc = ProcessCollector(cache=SystemCache(str(mounts)))
    run = str(p.run_dir)
    info = wait_for(lambda: pc.collect([run]).get(run))
    assert pc.refine(_snapshot(run, CRASHED), info, False) == STALLED  # alive but silent
    p.kill()
    p.wait()
    assert pc.collect([run]) == {}
    assert pc.can_judge(run)  # we saw it here, and it is gone
    assert pc.refine(_snapshot(run, RUNNING), None, False) == CRASHED
