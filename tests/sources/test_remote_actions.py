"""Actions on a run on another host, from this side: ``happo-top stop HOST:RUN`` and the app's
Actions run ``ssh HOST happo-top stop RUN --yes`` against a real sshd on 127.0.0.1
(tests/sshd.py); the happo-top there makes every safety check."""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import time
from pathlib import Path

import pytest

from collectors.model import Settings
from collectors.simulator.process import spawn
from collectors.sources.remote import RemoteHost, RemoteSpec, run_action
from tests.sshd import Sshd, sshd_server  # noqa: F401  (the fixture ``sshd``)
from tests.support import happo_top
from tui.app.actions import INTERRUPT, KILL, RESTART, STOP, Actions
from tui.cli import exit_codes
from tui.screens.modals import plan_text


def _live(tmp_path: Path, name: str = "live"):
    return spawn(
        tmp_path / name,
        exp_name="far",
        num_env_steps=10_000_000,
        n_rollout_threads=10,
        episode_length=10,
        duration=300,
        flush_secs=0.2,
    )


def _end(sim) -> None:
    if sim.poll() is None:
        sim.kill()
    sim.wait()


def _watching(root: Path, sshd: Sshd) -> RemoteHost:
    """Host "gpu02" (the test's sshd) streaming ``root``."""
    spec = RemoteSpec(
        "gpu02",
        (str(root),),
        sshd.remote_command,
        tuple(sshd.ssh_args),
        refresh=0.3,
        connect_timeout=5,
    )
    return RemoteHost(spec)


def _remote_live_run(remote: RemoteHost):
    """The first run there, once the happo-top there has found its process."""
    assert remote.wait_for(lambda st, s: bool(s and s.runs and s.runs[0].process), 30)
    return remote.latest()[1].runs[0]  # type: ignore[union-attr]


def _settings(sshd: Sshd, **kw) -> Settings:
    return Settings(
        refresh=0.3, remote_command=sshd.remote_command, ssh_args=tuple(sshd.ssh_args), **kw
    )


@pytest.mark.slow
def test_stop_host_colon_run_from_the_local_cli_stops_it_there(tmp_path, private_state, sshd: Sshd):
    sim = _live(tmp_path)
    cfg = sshd.config_file(tmp_path / "config.yaml")
    try:
        out = happo_top(
            "stop", "--config", str(cfg), f"gpu02:{sim.run_dir}", "--grace", "10", timeout=90
        )
        assert out.returncode == exit_codes.OK, out.stdout + out.stderr
        assert out.stdout.startswith("on gpu02: ")
        assert f"stop {sim.run_dir} --yes" in out.stdout.splitlines()[0]
        assert "ended by SIGINT" in out.stdout  # the remote happo-top's own report
        assert sim.wait(timeout=30) is not None
    finally:
        _end(sim)


@pytest.mark.slow
def test_a_run_name_found_below_a_host_root_is_stopped_there(tmp_path, private_state, sshd: Sshd):
    sim = _live(tmp_path)
    cfg = sshd.config_file(tmp_path / "config.yaml")
    try:
        # Not a run here: looked up below the host root, then stopped by the happo-top there.
        out = happo_top(
            "kill", "--config", str(cfg), "--root", f"gpu01:{tmp_path / 'live'}", "far", "--yes"
        )
        assert out.returncode == exit_codes.OK, out.stdout + out.stderr
        assert out.stdout.startswith("on gpu01: ") and "kill " in out.stdout
        assert sim.wait(timeout=30) is not None
        again = happo_top(
            "stop", "--config", str(cfg), "--root", f"gpu01:{tmp_path / 'live'}", "nothing-such"
        )
        assert again.returncode == exit_codes.USAGE
        assert "not on the hosts either" in again.stderr
    finally:
        _end(sim)


@pytest.mark.slow
def test_a_host_that_refuses_and_read_only_are_refused_clearly(tmp_path, private_state, sshd):
    cfg = sshd.config_file(tmp_path / "config.yaml")
    out = happo_top("stop", "--config", str(cfg), "gpu03:/some/run", timeout=60)
    assert out.returncode == exit_codes.ACTION_FAILED
    assert "gpu03: ssh failed (exit 255): nothing was done there" in out.stderr
    assert "Connection refused" in out.stderr  # ssh's own word, passed through
    ro = happo_top("kill", "--config", str(cfg), "--read-only", "gpu01:/some/run")
    assert ro.returncode == exit_codes.ACTION_FAILED
    assert "actions are disabled" in ro.stderr and "on gpu01" not in ro.stdout
    bare = happo_top("stop", "--config", str(cfg), "gpu01:")
    assert bare.returncode == exit_codes.USAGE and "give a run after the host" in bare.stderr


def test_stop_and_kill_accept_yes_like_restart(tmp_path, private_state):
    for action in ("stop", "kill"):
        out = happo_top(action, "--root", str(tmp_path), "nothing-such", "--yes")
        assert out.returncode == exit_codes.USAGE
        assert "unrecognized arguments" not in out.stderr and "no run matches" in out.stderr


def test_remote_commands_are_batch_mode_and_quoted():
    spec = RemoteSpec("gpu01", (), remote_command="conda run -n t happo-top", ssh="/bin/false")
    res = run_action(spec, ["stop", "/my runs/x", "--yes"])
    assert res.argv[-1] == "conda run -n t happo-top stop '/my runs/x' --yes"
    assert "BatchMode=yes" in res.argv and not res.ok


@pytest.mark.slow
def test_the_apps_actions_stop_a_remote_run_through_ssh(tmp_path, private_state, sshd: Sshd):
    sim = _live(tmp_path)
    settings = _settings(sshd, stop_grace=10.0)
    remote = _watching(tmp_path / "live", sshd)
    try:
        run = _remote_live_run(remote)
        assert run.host == "gpu02" and run.process is not None and not run.process.positive
        actions = Actions(settings)
        assert Actions.signallable(run)  # offered: the happo-top there identifies it
        plan = actions.plan_signal(STOP, run)
        assert plan.host == "gpu02" and plan.pid == run.process.pid and plan.target is None
        assert "BatchMode=yes" in plan.command and "stop" in plan.command
        shown = plan_text(plan.view(), "far").plain
        assert "host  gpu02" in shown and str(run.path) in shown
        assert plan.remote_args() == ["stop", run.path, "--yes", "--no-kill"]
        assert plan.remote_args(graces=(10, 5), escalate=True)[3:] == [
            "--grace",
            "10",
            "--term-grace",
            "5",
        ]
        assert "--grace 10 --term-grace" in plan.command  # this side's grace periods
        assert "SIGTERM after 10 s (by happo-top on gpu02)" in plan.detail
        kill_plan = actions.plan_signal(KILL, run)
        assert kill_plan.remote_args() == ["kill", run.path, "--yes"]
        restart = actions.plan_restart(run)
        assert restart.action == RESTART and restart.host == "gpu02"
        assert restart.remote_args(resume=True)[-1] == "--resume"
        t0 = time.monotonic()
        outcome = actions.execute(plan)
        assert outcome.ok, outcome.message
        assert (
            outcome.message.startswith(f"stop {run.name}: gpu02: ")
            and "ended by" in outcome.message
        )
        assert sim.wait(timeout=30) is not None and time.monotonic() - t0 < 60
        assert remote.wait_for(lambda st, s: bool(s and s.runs[0].state == "stopped"), 30)
        # Now nothing lives there: the happo-top there refuses, and says why.
        again = actions.execute(plan)
        assert not again.ok and "no live process" in again.message
    finally:
        remote.close()
        _end(sim)


def test_interrupt_sends_one_sigint_here_and_on_a_remote_host(tmp_path, private_state, sshd: Sshd):
    """``happo-top interrupt RUN``: one SIGINT and nothing after it (the simulated trainer's
    handler flushes and exits); the monitor's I on a remote run runs it there through ssh."""
    sim = _live(tmp_path, "here")
    try:
        deadline = time.monotonic() + 30
        out = None
        while time.monotonic() < deadline:  # until its process is identified
            out = happo_top("interrupt", "--root", str(tmp_path / "here"), str(sim.pid), "--json")
            if out.returncode == exit_codes.OK:
                break
            time.sleep(0.5)
        assert out is not None and out.returncode == exit_codes.OK, out.stdout + out.stderr
        doc = json.loads(out.stdout)
        assert doc["action"] == "interrupt" and doc["signals"] == ["SIGINT"]
        assert sim.wait(timeout=30) is not None  # it chose to end, on SIGINT alone
    finally:
        _end(sim)
    sim = _live(tmp_path)
    remote = _watching(tmp_path / "live", sshd)
    try:
        run = _remote_live_run(remote)
        actions = Actions(_settings(sshd))
        plan = actions.plan_signal(INTERRUPT, run)
        assert plan.host == "gpu02" and plan.remote_args() == ["interrupt", run.path, "--yes"]
        assert "one SIGINT (like Ctrl-C, by happo-top on gpu02)" in plan.detail
        outcome = actions.execute(plan)
        assert outcome.ok, outcome.message
        assert "SIGINT sent" in outcome.message or "ended by SIGINT" in outcome.message
        assert sim.wait(timeout=30) is not None
    finally:
        remote.close()
        _end(sim)


def test_read_only_refuses_a_remote_plan():
    actions = Actions(Settings(read_only=True))
    with pytest.raises(Exception, match="read-only"):
        actions.plan_signal(STOP, None)


@pytest.mark.slow
def test_a_remote_restart_shows_the_plan_made_there_and_asks_here(
    tmp_path, private_state, sshd: Sshd, harl_run
):
    run = harl_run  # a HARL run directory with its config.json, no process
    cfg = sshd.config_file(tmp_path / "config.yaml")
    # The happo-top there refuses (it does not know HARL's entry point there): its word, here.
    refused = happo_top("restart", "--config", str(cfg), f"gpu01:{run}", "--yes", timeout=60)
    assert refused.returncode == exit_codes.ACTION_FAILED
    assert "happo-top restart: the HARL entry point of run" in refused.stderr
    train = tmp_path / "HARL" / "examples" / "train.py"
    train.parent.mkdir(parents=True)
    train.write_text("print('never run here')\n")
    there = tmp_path / "remote-config" / "happo-top" / "config.yaml"  # the remote's own config
    there.parent.mkdir(parents=True)
    there.write_text(f"harl_train: {train}\n")
    dry = happo_top("restart", "--config", str(cfg), f"gpu01:{run}", "--dry-run", timeout=60)
    assert dry.returncode == exit_codes.OK, dry.stdout + dry.stderr
    first = dry.stdout.splitlines()[0]
    assert first.startswith("on gpu01: ") and "--dry-run" in first
    assert "restart " in dry.stdout and "--load_config" in dry.stdout  # the plan made there
    # No terminal here and no --yes: shown, then refused here; nothing was started there.
    ask = happo_top("restart", "--config", str(cfg), f"gpu01:{run}", timeout=60)
    assert ask.returncode == exit_codes.ACTION_FAILED
    assert "not confirmed: no terminal to ask on" in ask.stderr
    assert not list((sshd.state / "happo-top" / "launches").glob("*"))


@pytest.mark.slow
def test_launch_on_another_host_runs_there_and_is_recorded_there(
    tmp_path, private_state, sshd: Sshd
):
    """launch --host: the happo-top there starts the command (its registry, its log), and
    the run it starts is then stopped there by HOST:PID."""
    cfg = sshd.config_file(tmp_path / "config.yaml")
    marker = tmp_path / "started-there"
    out = happo_top(
        "launch", "--config", str(cfg), "--host", "gpu01", "--json", "--",
        "sh", "-c", f"touch {marker}; exec sleep 60",
        timeout=90,
    )  # fmt: skip
    assert out.returncode == exit_codes.OK, out.stdout + out.stderr
    doc = json.loads(out.stdout)
    pid = doc["pid"]
    try:
        assert doc["log"].startswith(str(sshd.state))  # the remote side's registry
        deadline = time.time() + 20
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.1)
        assert marker.exists()
        gone = happo_top("kill", "--config", str(cfg), f"gpu01:{pid}", "--yes", timeout=90)
        assert gone.returncode == exit_codes.OK, gone.stdout + gone.stderr
        assert gone.stdout.startswith("on gpu01: ")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    refused = happo_top("launch", "--config", str(cfg), "--host", "gpu03", "--", "true")
    assert refused.returncode == exit_codes.ACTION_FAILED
    assert "gpu03: ssh failed (exit 255): nothing was done there" in refused.stderr


def test_a_launch_plan_for_another_host_carries_its_spec_to_the_happo_top_there(tmp_path):
    """What the confirmation shows is what the happo-top there is asked to run."""
    settings = Settings(presets={"p": {"argv": ["python", "train.py", "--seed", "2"], "cwd": "/w",
                                       "env": {"A": "1"}}})  # fmt: skip
    plan = Actions(settings, registry=None).plan_launch("p", host="gpu01")  # type: ignore[arg-type]
    assert plan.host == "gpu01" and plan.remote is not None and "on gpu01" in plan.detail
    assert plan.remote_args() == [
        "launch", "--cwd", "/w", "--name", "p", "--env", "A=1", "--", "python", "train.py",
        "--seed", "2",
    ]  # fmt: skip
    assert "host" in plan_text(plan.view()).plain


@pytest.mark.slow
def test_the_app_launches_on_a_chosen_host(tmp_path, private_state, sshd: Sshd):
    marker = tmp_path / "pid-there"
    code = f"import os, pathlib, time; pathlib.Path({str(marker)!r}).write_text(str(os.getpid())); time.sleep(60)"
    actions = Actions(_settings(sshd), registry=None)  # type: ignore[arg-type]
    plan = actions.plan_launch(command=f"python3 -c {shlex.quote(code)}", cwd=str(tmp_path),
                               host="gpu01")  # fmt: skip
    out = actions.execute(plan)
    pid = None
    try:
        assert out.ok, out.message
        assert "gpu01" in out.message and "launched pid" in out.message
        deadline = time.time() + 20
        while not marker.exists() and time.time() < deadline:
            time.sleep(0.1)
        pid = int(marker.read_text())  # the process that the happo-top there started
    finally:
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
