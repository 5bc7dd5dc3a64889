"""collectors.control and control_cli: launch, stop, kill, restart, with real processes.

Every process a test starts is killed in a finaliser (its process group when it has its own).
Nothing here signals a process that the test did not start; bystander processes check that
nothing else is touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

import collectors.control as control
from collectors.control import (
    ActionError,
    LaunchRecord,
    LaunchSpec,
    ProcessGone,
    Registry,
    Target,
    check_target,
    kill,
    latest_complete_checkpoint,
    launch,
    restart,
    spec_from_preset,
    stop,
    with_model_dir,
)
from collectors.model.run import CRASHED, RUNNING, STOPPED
from collectors.simulator.trainer import spawn
from collectors.sources.processes.collector import (
    OPEN_FILES,
    PARENT_CMDLINE,
    TITLE_ONLY,
    ProcessCollector,
    refine_state,
)
from collectors.sources.runs.tracker import RunsCollector
from tests.builders import run_snapshot
from tests.support import LIVE, STANDIN
from tui.cli.control import kill_main, launch_main, restart_main, stop_main

pytestmark = pytest.mark.usefixtures("private_state")  # registry and logs in tmp_path


@pytest.fixture
def registry(tmp_path):
    return Registry(str(tmp_path / "state" / "happo-top"))


class Reaper:
    """Processes and process groups started by a test; all killed at the end."""

    def __init__(self) -> None:
        self.popens: list[subprocess.Popen] = []
        self.groups: list[int] = []

    def popen(self, p: subprocess.Popen) -> subprocess.Popen:
        self.popens.append(p)
        return p

    def group(self, pgid: int) -> int:
        self.groups.append(pgid)
        return pgid

    def cleanup(self) -> None:
        for pgid in self.groups:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        for p in self.popens:
            with contextlib.suppress(psutil.Error):
                for k in psutil.Process(p.pid).children(recursive=True):
                    k.kill()
            p.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                p.wait(timeout=10)


@pytest.fixture
def reaper():
    r = Reaper()
    yield r
    r.cleanup()


@pytest.fixture
def script(tmp_path) -> Path:
    s = tmp_path / "standin_train.py"
    s.write_text(STANDIN)
    return s


def read_run_dir(stream) -> Path:
    line = stream.readline()
    if isinstance(line, bytes):
        line = line.decode()
    assert line.startswith("run dir "), line
    return Path(line[len("run dir ") :].strip())


def wait_for(cond, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(step)
    return cond()


def identify(run_dir, registry=None, **kw):
    pc = ProcessCollector(registry=registry, **kw)
    return wait_for(lambda: pc.collect([str(run_dir)]).get(str(run_dir)))


def bystander(reaper) -> subprocess.Popen:
    """A process of ours that nothing may touch (own session, like an unrelated job)."""
    return reaper.popen(subprocess.Popen(["sleep", "60"], start_new_session=True))


def run_dirs(root: Path, exp: str) -> list[Path]:
    return sorted(root.glob(f"mapush/*/happo/{exp}/seed-*"))


# --------------------------------------------------------------------------- stop and kill


@pytest.mark.slow
def test_stop_simulator_gracefully(tmp_path, reaper, registry):
    root = tmp_path / "results"
    # flush_secs=60: the event data reaches the disk only through the trainer's clean close
    sim = reaper.popen(spawn(root, exp_name="cuboid", duration=60.0, flush_secs=60.0, **LIVE))
    other = reaper.popen(spawn(root, exp_name="other", seed=2, duration=60.0, **LIVE))
    bys = bystander(reaper)
    assert wait_for(lambda: any("total num timesteps" in line for line in sim.output))
    info = identify(sim.run_dir)
    assert info.pid == sim.pid and info.how_found == OPEN_FILES
    target = Target.from_process(info)
    res = stop(target, int_grace=10.0, term_grace=2.0, registry=registry)
    assert res.ended_by == "SIGINT" and not res.alive and res.signals == ("SIGINT",)
    assert res.group is None and "process only" in res.note  # pytest's group: pid only
    assert sim.wait(timeout=10) == 130
    time.sleep(0.2)  # let the stdout reader catch up
    # its final data is on disk: the last step it printed is in the event files
    steps = [int(m.group(1)) for m in re.finditer(r"timesteps (\d+)/", "\n".join(sim.output))]
    snap = RunsCollector([str(root)]).collect()
    run = next(r for r in snap.runs if r.path == str(sim.run_dir))
    assert steps and run.step == steps[-1]
    assert not (sim.run_dir / "logs" / "summary.json").exists()
    # happo-top stopped it: "stopped", not "crashed"
    assert registry.stopped_by_us(str(sim.run_dir))
    assert refine_state(RUNNING, run, None, registry.stopped_by_us(run.path)) == STOPPED
    assert not registry.stopped_by_us(str(other.run_dir))
    # nothing else was touched
    assert other.poll() is None and bys.poll() is None


def test_kill_simulator(tmp_path, reaper, registry):
    root = tmp_path / "results"
    sim = reaper.popen(spawn(root, duration=60.0, **LIVE))
    other = reaper.popen(spawn(root, exp_name="other", seed=2, duration=60.0, **LIVE))
    bys = bystander(reaper)
    info = identify(sim.run_dir)
    res = kill(Target.from_process(info), registry=registry)
    assert res.ended_by == "SIGKILL" and res.signals == ("SIGKILL",) and not res.alive
    assert sim.wait(timeout=10) == -signal.SIGKILL
    assert not (sim.run_dir / "logs" / "summary.json").exists()
    assert other.poll() is None and bys.poll() is None
    assert registry.stopped_by_us(str(sim.run_dir))
    # a second kill finds nothing to do
    assert kill(Target.from_process(info)).ended_by == "already gone"


@pytest.mark.parametrize("own_group", [True, False])
def test_escalation_int_ignored_ended_by_term(tmp_path, script, reaper, registry, own_group):
    root = tmp_path / "r"
    argv = (sys.executable, str(script), "--root", str(root), "--exp_name", "e", "--hold")
    argv += ("--ignore", "INT")
    if own_group:  # launched by happo-top: its own process group is signalled
        res = launch(LaunchSpec(argv=argv, cwd=str(tmp_path)), registry)
        reaper.group(res.pid)
        run = wait_for(lambda: run_dirs(root, "e"))[0]
    else:  # a child of pytest: shares pytest's group, so only the pid is signalled
        p = reaper.popen(subprocess.Popen(argv, stdout=subprocess.PIPE))
        run = read_run_dir(p.stdout)
    info = identify(run)
    out = stop(Target.from_process(info), int_grace=0.3, term_grace=5.0, registry=registry)
    assert out.signals == ("SIGINT", "SIGTERM") and out.ended_by == "SIGTERM"
    assert (out.group == info.pid) if own_group else (out.group is None)
    assert wait_for(lambda: (run / "final.txt").exists()) and (run / "final.txt").read_text() == (
        "SIGTERM"
    )


@pytest.mark.slow
def test_escalation_both_ignored_ended_by_kill(tmp_path, script, reaper):
    root = tmp_path / "r"
    argv = [sys.executable, str(script), "--root", str(root), "--exp_name", "e", "--hold"]
    p = reaper.popen(subprocess.Popen([*argv, "--ignore", "INT,TERM"], stdout=subprocess.PIPE))
    run = read_run_dir(p.stdout)
    out = stop(Target.from_process(identify(run)), int_grace=0.3, term_grace=0.3)
    assert out.signals == ("SIGINT", "SIGTERM", "SIGKILL") and out.ended_by == "SIGKILL"
    assert p.wait(timeout=5) == -signal.SIGKILL
    # without escalation the caller is told it still runs (the TUI then offers SIGKILL)
    q = reaper.popen(subprocess.Popen([*argv, "--ignore", "INT,TERM"], stdout=subprocess.PIPE))
    run2 = read_run_dir(q.stdout)
    out = stop(Target.from_process(identify(run2)), int_grace=0.2, term_grace=0.2, escalate=False)
    assert out.alive and out.ended_by is None and "still running" in out.message
    assert q.poll() is None


def test_group_with_a_stranger_is_not_signalled(tmp_path, script, reaper):
    """A wrapper group that also holds an unrelated job: only the trainer is signalled."""
    root = tmp_path / "r"
    cmd = f"sleep 60 & {sys.executable} {script} --root {root} --exp_name e --hold; wait"
    p = reaper.popen(
        subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.PIPE, start_new_session=True)
    )
    reaper.group(p.pid)
    run = read_run_dir(p.stdout)
    info = identify(run)
    sleeper = next(c for c in psutil.Process(p.pid).children() if c.name() == "sleep")
    out = stop(Target.from_process(info), int_grace=5.0)
    assert out.ended_by == "SIGINT" and out.group is None and "other processes" in out.note
    assert sleeper.is_running() and sleeper.status() != psutil.STATUS_ZOMBIE


def test_wrapper_group_is_signalled_whole(tmp_path, script, reaper):
    root = tmp_path / "r"
    cmd = f"{sys.executable} {script} --root {root} --exp_name e --hold; true"
    p = reaper.popen(
        subprocess.Popen(["bash", "-c", cmd], stdout=subprocess.PIPE, start_new_session=True)
    )
    reaper.group(p.pid)
    run = read_run_dir(p.stdout)
    info = identify(run)
    assert info.pid != p.pid and info.pgid == p.pid
    out = kill(Target.from_process(info))
    assert out.group == p.pid and out.ended_by == "SIGKILL"
    assert p.wait(timeout=5) == -signal.SIGKILL  # the bash wrapper went with it


# --------------------------------------------------------------------------- safety


def test_pid_reuse_guard(tmp_path, script, reaper, registry):
    root = tmp_path / "r"
    p = reaper.popen(
        subprocess.Popen(
            [sys.executable, str(script), "--root", str(root), "--exp_name", "e", "--hold"],
            stdout=subprocess.PIPE,
        )
    )
    run = read_run_dir(p.stdout)
    target = Target.from_process(identify(run))
    stale = dataclasses.replace(target, started=target.started - 3600.0)
    with pytest.raises(ActionError, match="now another process"):
        stop(stale, int_grace=0.1)
    with pytest.raises(ActionError, match="now another process"):
        kill(stale)
    # a stale launch record (same pid, another start time) identifies nothing
    rec = LaunchRecord(
        id="old-1",
        pid=p.pid,
        create_time=target.started - 3600.0,
        argv=("x",),
        cwd="/",
        env={},
        env_unset=(),
        log=None,
        host=registry.host,
        uid=os.geteuid(),
        launched_at=time.time() - 3600,
    )
    registry.add(rec)
    assert registry.live(p.pid) is None
    assert stop_main([str(p.pid), "--root", str(tmp_path / "nowhere")]) == 1
    time.sleep(0.2)
    assert p.poll() is None  # untouched


def test_unidentified_pid_refused(tmp_path, reaper, capsys):
    bys = bystander(reaper)
    assert kill_main([str(bys.pid), "--root", str(tmp_path)]) == 1
    assert stop_main([str(bys.pid), "--root", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "not identified" in err and "refusing" in err
    time.sleep(0.1)
    assert bys.poll() is None


def test_not_positive_refused(tmp_path, script, reaper):
    root = tmp_path / "r"
    p = reaper.popen(
        subprocess.Popen(
            [sys.executable, str(script), "--root", str(root), "--exp_name", "e", "--hold"],
            stdout=subprocess.PIPE,
        )
    )
    info = identify(read_run_dir(p.stdout))
    weak = dataclasses.replace(info, how_found=TITLE_ONLY)
    with pytest.raises(ActionError, match="not positively identified"):
        Target.from_process(weak)
    target = dataclasses.replace(Target.from_process(info), how_found=TITLE_ONLY)
    with pytest.raises(ActionError, match="not positively identified"):
        check_target(target)
    assert p.poll() is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to start a process as another user")
def test_other_users_process_refused(reaper):
    p = reaper.popen(subprocess.Popen(["sleep", "60"], user=65534, group=65534))
    ct = psutil.Process(p.pid).create_time()
    target = Target(p.pid, ct, 65534, OPEN_FILES, "sleep 60", run_path="/x")
    with pytest.raises(ActionError, match="belongs to user nobody, not to you"):
        stop(target, int_grace=0.1)
    with pytest.raises(ActionError, match="belongs to user nobody"):
        kill(target)
    assert p.poll() is None


def test_self_and_gone_targets():
    me = psutil.Process()
    t = Target(os.getpid(), me.create_time(), os.geteuid(), OPEN_FILES, "me")
    with pytest.raises(ActionError, match="happo-top itself"):
        kill(t)
    parent = psutil.Process(os.getppid())
    t = Target(parent.pid, parent.create_time(), os.geteuid(), OPEN_FILES, "parent")
    with pytest.raises(ActionError, match="happo-top itself or its parent"):
        check_target(t)
    q = subprocess.Popen(["true"])
    ct = psutil.Process(q.pid).create_time()
    q.wait()
    t = Target(q.pid, ct, os.geteuid(), OPEN_FILES, "true")
    with pytest.raises(ProcessGone):
        check_target(t)
    assert kill(t).ended_by == "already gone"


# --------------------------------------------------------------------------- launching


def test_launch_detached_with_log_and_record(tmp_path, registry, reaper):
    work = tmp_path / "work"
    work.mkdir()
    spec = LaunchSpec(
        argv=("bash", "-c", 'echo "[$FOO] $$ $(cat)"; pwd; sleep 60', "x"),
        cwd=str(work),
        overrides={"FOO": "bar"},
        name="my run",
    )
    res = launch(spec, registry)
    reaper.group(res.pid)
    p = psutil.Process(res.pid)
    assert os.getsid(res.pid) == res.pid and os.getpgid(res.pid) == res.pid  # own session
    assert os.readlink(f"/proc/{res.pid}/fd/0") == "/dev/null"
    assert os.readlink(f"/proc/{res.pid}/fd/1") == res.log
    assert os.readlink(f"/proc/{res.pid}/fd/2") == res.log
    assert res.log.startswith(str(tmp_path / "state" / "happo-top" / "logs" / "my_run-"))
    assert wait_for(lambda: "\n" + str(work) in Path(res.log).read_text())  # pwd ran
    text = Path(res.log).read_text()
    assert text.startswith("# happo-top launch ") and f"[bar] {res.pid} " in text
    rec = registry.get(res.record.id)
    assert rec == res.record
    assert rec.pid == res.pid and abs(rec.create_time - p.create_time()) < 1e-6
    assert rec.argv == spec.argv and rec.cwd == str(work) and rec.env["FOO"] == "bar"
    assert os.stat(registry.path_of(rec.id)).st_mode & 0o777 == 0o600
    assert not [f for f in os.listdir(registry.launches) if f.startswith(".tmp")]
    assert registry.live(res.pid) == rec


def test_no_shell_unless_asked(tmp_path, registry):
    res = launch(LaunchSpec(argv=("echo", "$HOME", "a;b"), cwd=str(tmp_path)), registry)
    res.popen.wait(timeout=10)
    assert Path(res.log).read_text().splitlines()[-1] == "$HOME a;b"
    res = launch(
        LaunchSpec(argv=("echo $((6*7)); echo done",), cwd=str(tmp_path), shell=True), registry
    )
    res.popen.wait(timeout=10)
    assert Path(res.log).read_text().splitlines()[-2:] == ["42", "done"]
    assert wait_for(lambda: (r := registry.get(res.record.id)) and r.exit_code == 0)


def test_launch_errors(tmp_path, registry):
    with pytest.raises(ActionError, match="command not found"):
        launch(LaunchSpec(argv=("no-such-command-xyz",), cwd=str(tmp_path)), registry)
    with pytest.raises(ActionError, match="does not exist"):
        launch(LaunchSpec(argv=("true",), cwd=str(tmp_path / "missing")), registry)


LAUNCHER = textwrap.dedent(
    """
    import fcntl, sys, termios, time
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)   # the pty becomes our controlling terminal (SSH)
    from tui.cli.control import launch_main
    code = launch_main(sys.argv[1:])
    print("launcher done", code, flush=True)
    time.sleep(60)
    """
)


@pytest.mark.slow
def test_launched_run_survives_its_launcher(tmp_path, reaper):
    """Launch from a session with a terminal, then kill the launcher and hang up the terminal
    (what an SSH disconnect does): the run keeps writing."""
    root = tmp_path / "results"
    master, slave = pty.openpty()
    launcher = reaper.popen(
        subprocess.Popen(
            [
                sys.executable,
                "-c",
                LAUNCHER,
                "--name",
                "survivor",
                "--",
                sys.executable,
                "-m",
                "collectors.simulator",
                "--root",
                str(root),
                "--num-env-steps",
                "200000",
                "--n-rollout-threads",
                "10",
                "--episode-length",
                "10",
                "--duration",
                "60",
                "--flush-secs",
                "0.5",
            ],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            start_new_session=True,
        )
    )
    reaper.group(launcher.pid)
    os.close(slave)
    out = b""
    end = time.time() + 20
    while b"launcher done" not in out and time.time() < end:
        r, _, _ = select.select([master], [], [], 0.5)
        if r:
            out += os.read(master, 4096)
    text = out.decode(errors="replace")
    m = re.search(r"launched pid (\d+)", text)
    assert m and "log: " in text, text
    pid = int(m.group(1))
    reaper.group(pid)
    log = re.search(r"log: (\S+)", text).group(1)
    assert os.getsid(pid) != launcher.pid
    # the SSH connection drops: the launcher dies, its session gets SIGHUP, the tty hangs up
    with contextlib.suppress(ProcessLookupError):
        os.killpg(launcher.pid, signal.SIGHUP)
    launcher.kill()
    launcher.wait(timeout=5)
    os.close(master)
    run = wait_for(lambda: run_dirs(root, "cuboid"), timeout=15)[0]
    events = lambda: sum(  # noqa: E731
        f.stat().st_size for f in (run / "logs").rglob("events.out.tfevents.*")
    )
    size0, log0 = events(), os.path.getsize(log)
    assert wait_for(lambda: events() > size0 and os.path.getsize(log) > log0, timeout=10)
    assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE


# --------------------------------------------------------------------------- restart


def test_restart_runs_load_config_in_cwd_with_env_from_registry(tmp_path, script, registry, reaper):
    """HARL's restart: the entry point of the recorded command, with --load_config of the run's
    own config.json and its exp_name; the original cwd and environment. The training arguments
    of the original command are not replayed (config.json holds them)."""
    root = tmp_path / "results"
    work = tmp_path / "work"
    work.mkdir()
    argv = (sys.executable, str(script), "--root", str(root), "--exp_name", "rx", "--hold")
    res = launch(LaunchSpec(argv=argv, cwd=str(work), overrides={"HT_VAR": "42"}), registry)
    reaper.group(res.pid)
    first = wait_for(lambda: run_dirs(root, "rx"))[0]
    rc = RunsCollector([str(root)])
    run = next(r for r in rc.collect().runs if r.path == str(first))
    info = identify(first, registry=registry)
    assert info.launch_id == res.record.id
    plan = control.plan_restart(run, info, registry=registry)
    cfg = str(first / "config.json")
    assert plan.spec.argv == (sys.executable, str(script), "--load_config", cfg, "--exp_name", "rx")
    assert plan.entry_source == "registry" and plan.target is not None
    out = control.execute_restart(plan, registry=registry, int_grace=5.0, term_grace=2.0)
    reaper.group(out.launch.pid)
    assert out.launch.spec is plan.spec  # what was shown is what ran
    assert out.stop is not None and out.stop.ended_by == "SIGINT"
    assert (first / "final.txt").read_text() == "SIGINT"
    second = wait_for(lambda: [d for d in run_dirs(root, "rx") if d != first], timeout=15)[0]
    a = json.loads((first / "launch.json").read_text())
    b = wait_for(lambda: (second / "launch.json").exists() and second / "launch.json")
    b = json.loads(b.read_text())
    assert b["argv"] == [str(script), "--load_config", cfg, "--exp_name", "rx"]
    assert b["load_config"] == cfg and a["cwd"] == b["cwd"] == str(work)
    assert b["env"]["HT_VAR"] == "42"
    assert a["env"] == b["env"]
    assert out.launch.record.restart_of == str(first)
    assert "entry point from registry" in out.notes


@pytest.mark.slow
def test_restart_resume_from_parent_command_cli(tmp_path, script, reaper, capsys):
    """A trainer started by hand through a wrapper (here `timeout`), renamed, holding nothing:
    found through the parent's command line; resumed with --model_dir and the steps left."""
    root = tmp_path / "results"
    work = tmp_path / "work2"
    work.mkdir()
    argv = ["timeout", "120", sys.executable, str(script), "--root", str(root)]
    argv += ["--exp_name", "ry", "--title", "happo-mapush-ry"]
    env = {**os.environ, "HT_FOO": "x y"}
    p = reaper.popen(
        subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, start_new_session=True)
    )
    reaper.group(p.pid)
    first = read_run_dir(p.stdout)
    info = identify(first)
    assert info.how_found == PARENT_CMDLINE and info.launcher == p.pid
    ckpt = first / "models" / "rl_model_1000_steps"
    ckpt.mkdir()
    for name in ("actor_agent0.pt", "critic_agent.pt"):
        (ckpt / name).write_bytes(b"x" * 100)
        os.utime(ckpt / name, (time.time() - 60, time.time() - 60))
    code = restart_main([str(first), "--resume", "--yes", "--grace", "5", "--root", str(root)])
    text = capsys.readouterr().out
    assert code == 0, text
    m = re.search(r"launched pid (\d+)", text)
    assert m, text
    reaper.group(int(m.group(1)))
    assert "ended by SIGINT" in text and f"resuming from {ckpt}" in text
    assert "--num_env_steps 999000" in text  # the plan was printed before anything was done
    p.wait(timeout=10)  # the wrapper went with its group
    second = wait_for(lambda: [d for d in run_dirs(root, "ry") if d != first], timeout=15)[0]
    b = wait_for(lambda: (second / "launch.json").exists() and second / "launch.json")
    b = json.loads(b.read_text())
    cfg = str(first / "config.json")
    tail = ["--load_config", cfg, "--exp_name", "ry", "--model_dir", str(ckpt)]
    assert b["argv"] == [str(script), *tail, "--num_env_steps", "999000"]  # sys.argv
    assert b["model_dir"] == str(ckpt) and b["num_env_steps"] == 999000
    assert b["cwd"] == str(work) and b["env"]["HT_FOO"] == "x y"
    assert json.loads((second / "config.json").read_text())["algo_args"]["train"]["model_dir"] == (
        str(ckpt)
    )


def test_restart_refuses_without_checkpoint_and_touches_nothing(tmp_path, script, reaper, capsys):
    root = tmp_path / "results"
    p = reaper.popen(
        subprocess.Popen(
            [sys.executable, str(script), "--root", str(root), "--exp_name", "rz", "--hold"],
            stdout=subprocess.PIPE,
        )
    )
    run_dir = read_run_dir(p.stdout)
    run = next(r for r in RunsCollector([str(root)]).collect().runs if r.path == str(run_dir))
    with pytest.raises(ActionError, match="no complete checkpoint"):
        restart(run, identify(run_dir), resume=True, registry=Registry())
    assert p.poll() is None
    # the command line says why, and never that it is stopping the run
    assert restart_main([str(run_dir), "--resume", "--yes", "--root", str(root)]) == 1
    out = capsys.readouterr()
    assert "no complete checkpoint" in out.err and "stopping" not in out.out + out.err
    # without --yes and without a terminal: the plan is printed, nothing is done
    assert restart_main([str(run_dir), "--root", str(root)]) == 1
    out = capsys.readouterr()
    assert "--load_config" in out.out and "no terminal to ask on" in out.err
    assert "stopping" not in out.out + out.err
    assert p.poll() is None


def _run_dir(tmp_path, config=None):
    root = tmp_path / "proj" / "results"
    run_dir = root / "mapush" / "t" / "happo" / "e" / "seed-00001-2025-01-01-00-00-00"
    (run_dir / "logs").mkdir(parents=True)
    doc = config or {
        "main_args": {"algo": "happo", "env": "mapush", "exp_name": "e"},
        "algo_args": {"logger": {"log_dir": "./results"}, "train": {"model_dir": None}},
    }
    (run_dir / "config.json").write_text(json.dumps(doc))
    return run_dir


def test_restart_entry_point_sources_and_refusals(tmp_path):
    from collectors.control.restart import _cwd_from_run

    run_dir = _run_dir(tmp_path)
    flat = {"algo_args.logger.log_dir": "./results", "algo_args.train.model_dir": None}
    snap_run = dataclasses.replace(_fake_run(str(run_dir), flat), exp_name="e")
    reg = Registry(str(tmp_path / "st"))
    assert _cwd_from_run(snap_run) == str(tmp_path / "proj")
    with pytest.raises(ActionError, match="HARL entry point .* unknown.*harl_train"):
        control.plan_restart(snap_run, None, registry=reg)
    # a wrapper that reads only its own arguments is never launched with HARL's
    (run_dir / "command.txt").write_text("# Training command\nbash train.sh False\n")
    with pytest.raises(ActionError, match="takes only its own arguments.*harl_train"):
        control.plan_restart(snap_run, None, registry=reg)
    # a trusted command.txt names the entry point; its arguments are not replayed
    train = tmp_path / "proj" / "train.py"
    train.write_text("")
    (run_dir / "command.txt").write_text("# Training command\npython -u train.py --exp_name x\n")
    plan = control.plan_restart(snap_run, None, registry=reg)
    cfg = str(run_dir / "config.json")
    assert plan.spec.argv == ("python", "-u", "train.py", "--load_config", cfg, "--exp_name", "e")
    assert plan.spec.cwd == str(tmp_path / "proj") and plan.entry_source == "command.txt"
    # harl_train from the config file, when nothing else tells
    os.remove(run_dir / "command.txt")
    plan = control.plan_restart(snap_run, None, registry=reg, harl_train=(str(train),))
    assert plan.spec.argv[:2] == ("python", str(train)) and plan.entry_source == "harl_train"
    # ... or a launch preset of the config file: its argv, cwd and environment
    presets = {"mapush": {"argv": ["python", str(train), "--seed", "3"], "cwd": str(run_dir.parent),
                          "env": {"HT_FROM_PRESET": "1"}}}  # fmt: skip
    plan = control.plan_restart(
        snap_run, None, registry=reg, harl_train=("mapush",), presets=presets
    )
    assert plan.spec.argv == ("python", str(train), "--load_config", cfg, "--exp_name", "e")
    assert plan.entry_source == "preset mapush" and plan.spec.cwd == str(run_dir.parent)
    assert plan.env_changes.get("HT_FROM_PRESET") == "1"
    # resume: a config without the keys HARL would silently drop is refused
    with pytest.raises(ActionError, match="no algo_args.train.num_env_steps"):
        control.plan_restart(snap_run, None, resume=True, registry=reg, harl_train=(str(train),))


def test_entry_point():
    ep = control.entry_point
    assert ep(["python", "-u", "HARL/examples/train.py", "--exp_name", "x"]) == (
        "python",
        "-u",
        "HARL/examples/train.py",
    )
    assert ep(["conda", "run", "-n", "m", "python", "train.py", "--seed", "1"]) == (
        "conda",
        "run",
        "-n",
        "m",
        "python",
        "train.py",
    )
    assert ep(["/v/bin/python", "-m", "collectors.simulator", "--root", "r"]) == (
        "/v/bin/python",
        "-m",
        "collectors.simulator",
    )
    assert ep(["happo-top", "simulate", "--root", "r"]) == ("happo-top", "simulate")
    assert ep(["bash", "task/cuboid/train.sh", "False"]) is None
    assert ep(["nohup", "bash", "train.sh"]) is None


def _fake_run(path, config=None, checkpoints=()):
    return run_snapshot(
        id="abc", path=path, state=CRASHED, checkpoints=tuple(checkpoints), config=config or {}
    )


def test_model_dir_and_checkpoint_helpers():
    from collectors.model.run import Checkpoint

    assert with_model_dir(["p", "t.py"], "/m") == ("p", "t.py", "--model_dir", "/m")
    assert with_model_dir(["p", "--model_dir", "/a", "x"], "/m") == ("p", "--model_dir", "/m", "x")
    assert with_model_dir(["p", "--model_dir=/a"], "/m") == ("p", "--model_dir=/m")
    assert with_model_dir(["bash train.sh"], "/a b", shell=True) == (
        "bash train.sh --model_dir '/a b'",
    )
    cps = [
        Checkpoint(10_000_000, 1.0, 1, True, "/r/10M"),
        Checkpoint(2_500_000, 1.0, 1, True, "/r/2.5M"),
        Checkpoint(12_500_000, 1.0, 1, False, "/r/12.5M"),
    ]
    assert latest_complete_checkpoint(_fake_run("/r", checkpoints=cps)) == "/r/10M"
    assert latest_complete_checkpoint(_fake_run("/r")) is None


# --------------------------------------------------------------------------- presets and CLI


def test_presets(tmp_path):
    presets = {
        "a": {"argv": ["python", "train.py", "--seed", 3], "cwd": "~/x", "env": {"K": 1}},
        "s": {"argv": "echo $HOME", "shell": True, "log": "out.log"},
        "bad": {"argv": []},
        "typo": {"argv": ["x"], "enviroment": {}},
    }
    spec = spec_from_preset(presets, "a", "/c.yaml", {"Z": "9"})
    assert spec.argv == ("python", "train.py", "--seed", "3") and not spec.shell
    assert spec.cwd == os.path.expanduser("~/x") and spec.overrides == {"K": "1", "Z": "9"}
    spec = spec_from_preset(presets, "s")
    assert spec.shell and spec.argv == ("echo $HOME",) and spec.log == "out.log"
    with pytest.raises(ActionError, match=r"/c.yaml: preset 'bad': key 'argv'"):
        spec_from_preset(presets, "bad", "/c.yaml")
    with pytest.raises(ActionError, match="unknown key"):
        spec_from_preset(presets, "typo")
    with pytest.raises(ActionError, match="no launch preset 'nope'"):
        spec_from_preset(presets, "nope")


@pytest.mark.slow
def test_cli_preset_launch_then_kill_by_pid(tmp_path, script, reaper, capsys):
    root = tmp_path / "results"
    work = tmp_path / "w"
    work.mkdir()
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        textwrap.dedent(
            f"""
            roots: [{root}]
            presets:
              pz:
                argv: [{sys.executable}, {script}, --root, {root}, --exp_name, pz, --hold]
                cwd: {work}
                env: {{PZ: "1"}}
                log: logs/pz.log
            """
        )
    )
    assert launch_main(["pz", "--config", str(cfg)]) == 0
    out = capsys.readouterr().out
    pid = int(re.search(r"launched pid (\d+)", out).group(1))
    reaper.group(pid)
    assert f"log: {work / 'logs' / 'pz.log'}" in out
    wait_for(lambda: run_dirs(root, "pz"))
    # read-only (flag or config) refuses, and touches nothing
    assert kill_main([str(pid), "--config", str(cfg), "--read-only"]) == 1
    assert "disabled (--read-only)" in capsys.readouterr().err
    ro = tmp_path / "ro.yaml"
    ro.write_text(cfg.read_text() + "read_only: true\n")
    assert stop_main(["pz", "--config", str(ro)]) == 1
    assert f"read_only: true in {ro}" in capsys.readouterr().err
    assert launch_main(["pz", "--config", str(ro)]) == 1
    assert psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    # kill by pid, as JSON
    assert kill_main([str(pid), "--config", str(cfg), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ended_by"] == "SIGKILL" and doc["group"] == pid
    # the run is now crashed-looking but stopped by us
    assert Registry().stopped_by_us(str(run_dirs(root, "pz")[0]))


def test_cli_usage_errors(tmp_path, capsys):
    assert launch_main([]) == 2
    assert "give a PRESET" in capsys.readouterr().err
    assert launch_main(["--env", "NOEQUALS", "--", "true"]) == 2
    assert launch_main(["x", "--", "true"]) == 2
    cfg = tmp_path / "bad.yaml"
    cfg.write_text("presets: [1, 2]\n")
    assert launch_main(["x", "--config", str(cfg)]) == 2
    assert "bad.yaml:1: key 'presets'" in capsys.readouterr().err
    assert stop_main(["nothing-here", "--root", str(tmp_path)]) == 2  # USAGE, as everywhere
    assert "no run matches" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_launch_command_and_stop_by_name(tmp_path, script, reaper, capsys):
    root = tmp_path / "results"
    assert (
        launch_main(
            ["--name", "cmd", "--cwd", str(tmp_path), "--env", "A=b=c", "--", sys.executable]
            + [str(script), "--root", str(root), "--exp_name", "byname", "--hold"]
        )
        == 0
    )
    pid = int(re.search(r"launched pid (\d+)", capsys.readouterr().out).group(1))
    reaper.group(pid)
    run = wait_for(lambda: run_dirs(root, "byname"))[0]
    assert wait_for(lambda: (run / "launch.json").exists())
    assert json.loads((run / "launch.json").read_text())["env"]["A"] == "b=c"
    assert stop_main(["byname", "--root", str(root), "--grace", "5"]) == 0
    text = capsys.readouterr().out
    assert f"stopping pid {pid}" in text and f"process group {pid} ended by SIGINT" in text


@pytest.mark.slow
def test_cli_stop_takes_its_grace_periods_from_the_config(tmp_path, script, reaper, capsys):
    """stop_grace / term_grace in the YAML config: a trainer that ignores SIGINT is ended by
    SIGTERM after the configured 0.3 s, not the default 30 s."""
    root = tmp_path / "results"
    cfg = tmp_path / "config.yaml"
    cfg.write_text("stop_grace: 0.3\nterm_grace: 5\n")
    argv = [sys.executable, str(script), "--root", str(root), "--exp_name", "stubborn", "--hold"]
    assert launch_main(["--cwd", str(tmp_path), "--", *argv, "--ignore", "INT"]) == 0
    pid = int(re.search(r"launched pid (\d+)", capsys.readouterr().out).group(1))
    reaper.group(pid)
    run = wait_for(lambda: run_dirs(root, "stubborn"))[0]
    wait_for(lambda: identify(run) is not None)
    assert stop_main(["stubborn", "--root", str(root), "--config", str(cfg)]) == 0
    text = capsys.readouterr().out
    assert "SIGTERM after 0.3 s" in text and "ended by SIGTERM" in text
    cfg.write_text("stop_grace: -1\n")
    assert stop_main(["stubborn", "--root", str(root), "--config", str(cfg)]) == 2
    # (message changed by issue 10: infinity is refused too)
    assert "config.yaml:1: key 'stop_grace' must be a finite number of seconds >= 0" in (
        capsys.readouterr().err
    )
    for bad in (".inf", ".nan"):
        cfg.write_text(f"term_grace: {bad}\n")
        assert stop_main(["stubborn", "--root", str(root), "--config", str(cfg)]) == 2
        assert "key 'term_grace' must be a finite number" in capsys.readouterr().err


def test_cli_launch_of_a_command_that_exits_at_once_is_an_error(tmp_path, capsys):
    code = "import sys; print('bad argument --model_dir', file=sys.stderr); sys.exit(3)"
    assert launch_main(["--cwd", str(tmp_path), "--", sys.executable, "-c", code]) == 1
    out = capsys.readouterr()
    assert "launched pid" in out.out
    assert "exited at once (status 3)" in out.err and "bad argument --model_dir" in out.err
    # a command that cannot start leaves no empty log behind
    logs = Path(os.environ["XDG_STATE_HOME"]) / "happo-top" / "logs"
    before = set(logs.iterdir())
    assert launch_main(["--cwd", str(tmp_path), "--", "/no/such/binary"]) == 1
    assert "command not found: /no/such/binary" in capsys.readouterr().err
    assert set(logs.iterdir()) == before


# --------------------------------------------------------------------------- registry


def test_registry_records_hosts_prune_and_stops(tmp_path):
    reg = Registry(str(tmp_path / "s"))
    assert reg.records() == [] and reg.stopped_runs() == set()
    base = dict(argv=("x",), cwd="/", env={}, env_unset=(), log=None, uid=0)
    mine = LaunchRecord(id="a", pid=1, create_time=1.0, host=reg.host, launched_at=1.0, **base)
    other = LaunchRecord(id="b", pid=2, create_time=1.0, host="elsewhere", launched_at=2.0, **base)
    reg.add(mine)
    reg.add(other)
    (Path(reg.launches) / "junk.json").write_text("{not json")
    assert [r.id for r in reg.records()] == ["a"]  # other hosts and junk ignored
    assert reg.update("a", run_dir="/runs/r1").run_dir == "/runs/r1"
    assert reg.for_run("/runs/r1").id == "a"
    assert reg.prune(max_age=10.0, now=1000.0) == 1  # pid 1's start time differs: dead
    assert reg.records() == []
    reg.record_stop("/runs/r1", 5, 1.0, "stop", "SIGINT")
    assert reg.stopped_by_us("/runs/r1") and not reg.stopped_by_us("/runs/r2")
    reg.forget_stop("/runs/r1")
    assert not reg.stopped_by_us("/runs/r1")


def test_state_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_STATE_HOME")
    assert control.state_dir() == str(tmp_path / "home" / ".local" / "state" / "happo-top")


def test_cli_kill_by_run_directory_outside_the_roots(tmp_path, script, reaper, capsys, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "results").mkdir(parents=True)  # the default root, empty
    root = tmp_path / "far" / "results"
    p = reaper.popen(
        subprocess.Popen(
            [sys.executable, str(script), "--root", str(root), "--exp_name", "far", "--hold"],
            stdout=subprocess.PIPE,
            start_new_session=True,
        )
    )
    run = read_run_dir(p.stdout)
    monkeypatch.chdir(elsewhere)
    assert kill_main([str(run)]) == 0
    assert f"process group {p.pid} ended by SIGKILL" in capsys.readouterr().out
    assert p.wait(timeout=5) == -signal.SIGKILL
    assert kill_main([str(run)]) == 1
    assert "has no live process" in capsys.readouterr().err
