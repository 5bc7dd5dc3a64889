"""End to end: the installed ``happo-top`` in a real terminal (tmux on a private socket) watching a
simulated trainer; keys are sent with ``send-keys`` and the screen is read with ``capture-pane``."""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from collectors.simulator.process import command
from collectors.simulator.trainer import spawn, write_instant_run

pytestmark = [
    pytest.mark.slow,  # end to end: a real app, terminal or processes
    # Under CI a missing tmux fails these tests (.ci/run installs it); elsewhere they skip.
    pytest.mark.skipif(
        shutil.which("tmux") is None and os.environ.get("CI") != "true",
        reason="tmux is not installed",
    ),
]

ROOT = Path(__file__).resolve().parents[2]


def happo_top_argv() -> list[str]:
    """The installed console script next to this Python, else the module."""
    script = Path(sys.executable).with_name("happo-top")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "tui.cli"]


class Tmux:
    def __init__(self, socket: str) -> None:
        self.socket = socket
        self.session = "happo"

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check
        )

    def start(self, argv: list[str], width: int, height: int, env: dict[str, str]) -> None:
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        # No COLUMNS/LINES: a fixed size from the environment would hide every resize.
        command = (
            f"cd {shlex.quote(str(ROOT))} && exec env -u COLUMNS -u LINES {exports} "
            f"{shlex.join(argv)}"
        )
        self.run(
            "new-session", "-d", "-s", self.session, "-x", str(width), "-y", str(height), command
        )
        self.run("set-option", "-t", self.session, "remain-on-exit", "on")

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", self.session).stdout

    def keys(self, *keys: str) -> None:
        self.run("send-keys", "-t", self.session, *keys)

    def wait_for(self, predicate, timeout: float = 20.0, what: str = "") -> str:
        deadline = time.monotonic() + timeout
        shown = ""
        while time.monotonic() < deadline:
            shown = self.screen()
            if predicate(shown):
                return shown
            time.sleep(0.2)
        size = self.run(
            "display",
            "-p",
            "-t",
            self.session,
            "#{window_width}x#{window_height} dead=#{pane_dead}",
        )
        raise AssertionError(
            f"timed out waiting for {what}; the screen ({size.stdout.strip()}):\n{shown}"
        )

    def dead(self) -> bool:
        out = self.run("list-panes", "-t", self.session, "-F", "#{pane_dead}", check=False)
        return out.returncode != 0 or out.stdout.strip() == "1"

    def kill(self) -> None:
        pids = self.run("list-panes", "-a", "-F", "#{pane_pid}", check=False).stdout.split()
        self.run("kill-server", check=False)
        base = os.environ.get("TMUX_TMPDIR") or "/tmp"
        with contextlib.suppress(OSError):  # the private socket file
            os.unlink(os.path.join(base, f"tmux-{os.getuid()}", self.socket))
        for pid in pids:  # the monitor, if the server left it behind
            with contextlib.suppress(psutil.Error, ValueError):
                psutil.Process(int(pid)).kill()


@pytest.fixture
def tmux():
    t = Tmux(f"happo-test-{os.getpid()}")
    try:
        yield t
    finally:
        t.kill()


@pytest.fixture
def trainer(tmp_path):
    root = tmp_path / "results"
    proc = spawn(
        root,
        exp_name="e2e",
        num_env_steps=10_000_000,
        duration=300.0,
        flush_secs=0.5,
        n_rollout_threads=100,
    )
    try:
        yield root, proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def monitor_env() -> dict[str, str]:
    env = {"TERM": "xterm-256color", "PYTHONPATH": str(ROOT)}
    for k in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "NO_COLOR", "PATH", "HOME"):
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def test_stop_a_run_from_the_monitor(tmux, trainer):
    root, proc = trainer
    tmux.start([*happo_top_argv(), str(root), "--refresh", "0.5"], 120, 40, monitor_env())
    screen = tmux.wait_for(
        lambda s: f"pid {proc.pid}" in s and "running" in s, what="the run with its process"
    )
    assert "happo-top" in screen and "1 run" in screen
    tmux.keys("T")  # nvitop's terminate: a stop, SIGINT first
    dialog = tmux.wait_for(lambda s: "Stop run" in s, what="the stop confirmation")
    assert str(proc.pid) in dialog  # the pid ...
    assert "e2e" in dialog  # ... the run ...
    assert "command" in dialog  # ... and the command are named
    tmux.keys("y")
    proc.wait(15)  # the trainer got SIGINT and exited
    assert not psutil.pid_exists(proc.pid) or psutil.Process(proc.pid).status() == "zombie"
    tmux.wait_for(
        lambda s: "# stopped" in s and "no process (stopped)" in s,
        what="the panel to say stopped",
    )
    tmux.wait_for(lambda s: "SIGINT" in s, what="the notification saying how it ended")
    tmux.keys("q")
    tmux.wait_for(lambda s: tmux.dead(), timeout=10, what="the monitor to quit")


def test_compact_80x24_and_quit_leaves_runs_alone(tmux, trainer, tmp_path):
    root, proc = trainer
    write_instant_run(root, exp_name="e2e", num_env_steps=10_000_000, n_rollout_threads=100)
    tmux.start([*happo_top_argv(), str(root), "--refresh", "0.5"], 80, 24, monitor_env())
    screen = tmux.wait_for(  # the footer may come a frame after the panels
        lambda s: "finished" in s and f"pid {proc.pid}" in s and "q Quit" in s,
        what="both runs, compact, and the footer",
    )
    lines = screen.splitlines()
    assert len(lines) <= 24 and all(len(line) <= 80 for line in lines)
    assert "2 runs" in lines[0]
    assert "l Launch" in screen and "q Quit" in screen  # the keys fit
    assert "= finished" in screen
    assert "> running" in screen or "~ starting" in screen
    tmux.run("resize-window", "-t", tmux.session, "-x", "60", "-y", "20")
    tmux.wait_for(lambda s: max(len(x) for x in s.splitlines()) <= 60, what="a 60x20 layout")
    tmux.run("resize-window", "-t", tmux.session, "-x", "160", "-y", "40")
    tmux.wait_for(lambda s: "seed 1" in s, what="the full layout again")
    tmux.keys("q")
    tmux.wait_for(lambda s: tmux.dead(), timeout=10, what="the monitor to quit")
    time.sleep(0.5)
    assert proc.poll() is None  # quitting never stops a run


def test_demo_cleans_up_when_its_terminal_goes_away(tmux, tmp_path):
    """The SSH connection drops (SIGHUP from the closing terminal): the demo's simulated
    trainers are stopped and its temporary directory removed, as after q."""
    env = {**monitor_env(), "TMPDIR": str(tmp_path)}
    env.pop("XDG_STATE_HOME", None)  # the demo keeps its launch records in its own directory
    tmux.start([*happo_top_argv(), "demo", "--duration", "300"], 120, 40, env)
    tmux.wait_for(lambda s: s.count("> running") >= 2, timeout=40, what="the demo's live runs")
    (base,) = tmp_path.glob("happo-top-demo-*")
    logs = sorted((base / "logs").glob("*.log"))
    assert len(logs) == 3
    # the simulated trainers: started in the demo's directory (they renamed themselves)
    trainers = [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(base)]
    assert len(trainers) == 3
    (pane_pid,) = map(int, tmux.run("list-panes", "-F", "#{pane_pid}").stdout.split())
    demo = psutil.Process(pane_pid)  # the demo itself (exec'd by env): its start time is known
    tmux.run("kill-server", check=False)  # the terminal closes: SIGHUP
    # tmux's SIGHUP and the one the kernel sends as the pty closes can come a moment apart: a
    # second signal must not cut the cleanup short (psutil checks the start time before it)
    time.sleep(0.3)
    with contextlib.suppress(psutil.NoSuchProcess):
        demo.send_signal(signal.SIGHUP)
    gone, alive = psutil.wait_procs(trainers, timeout=30)
    assert not alive
    deadline = time.monotonic() + 20
    while base.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not base.exists()


def test_a_crash_while_watching_titles_the_terminal_runs_on_event_and_shows_the_cause(
    tmux, tmp_path
):
    root = tmp_path / "results"
    log = tmp_path / "train.log"
    got = tmp_path / "hook.txt"
    config = tmp_path / "config" / "happo-top" / "config.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(f"on_event: 'echo \"$HAPPO_TOP_EVENT $HAPPO_TOP_RUN\" >> {got}'\n")
    argv = command(
        root,
        exp_name="e2e-crash",
        duration=10.0,
        crash_at=0.6,
        flush_secs=0.5,
        n_rollout_threads=100,
    )
    with open(log, "wb") as out:  # python -m collectors.simulator ... > train.log 2>&1
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while b"run dir" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        env = {**monitor_env(), "XDG_CONFIG_HOME": str(config.parent.parent)}
        tmux.start([*happo_top_argv(), str(root), "--refresh", "0.5"], 120, 40, env)
        tmux.wait_for(lambda s: f"pid {proc.pid}" in s, what="the run with its process")

        def title() -> str:  # what OSC 2 set: tmux keeps it as the pane title
            return tmux.run("display", "-p", "-t", tmux.session, "#{pane_title}").stdout

        def titled(want: str) -> bool:  # the title follows the frame within a refresh or two
            deadline = time.monotonic() + 10
            while title().strip() != want and time.monotonic() < deadline:
                time.sleep(0.1)
            return title().strip() == want

        assert titled("happo-top: 1 running"), title()
        screen = tmux.wait_for(
            lambda s: "x RuntimeError: CUDA error" in s, timeout=30, what="the crash's cause"
        )
        assert "x crashed" in screen
        assert titled("happo-top: 1 crashed"), title()
        deadline = time.monotonic() + 10
        while not (got.exists() and "crashed" in got.read_text()) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert any(ln.startswith("crashed e2e-crash s1 ") for ln in got.read_text().splitlines())
        tmux.keys("e")
        tmux.wait_for(lambda s: "crashed at" in s and "RuntimeError" in s, what="the events log")
        tmux.keys("q")
        tmux.wait_for(lambda s: tmux.dead(), timeout=10, what="the monitor to quit")
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def test_a_burst_of_keys_moves_the_selection_by_every_key(tmux, tmp_path):
    """Keys sent in one write (typed ahead, or held down) each move the selection, in the table
    and in the panels; Enter then opens the run the selection reached."""
    root = tmp_path / "results"
    for seed in range(1, 9):
        write_instant_run(root, exp_name="burst", seed=seed, num_env_steps=2_000_000)
    tmux.start([*happo_top_argv(), str(root), "--refresh", "0.5"], 80, 24, monitor_env())
    # eight runs do not fit as panels at 80x24: the table, sorted by name within a state
    tmux.wait_for(lambda s: s.count("burst s") >= 8, what="the table of eight runs")
    tmux.keys("End", "Home", "Down", "Down", "Enter")  # one burst
    tmux.wait_for(lambda s: "seed 3" in s and "Checkpoints" in s, what="run 3's detail")
    tmux.keys("Escape")
    tmux.wait_for(lambda s: s.count("burst s") >= 8, what="the table again")
    tmux.keys("v")  # the panels: one column of compact panels
    tmux.wait_for(lambda s: "╭" in s or "┏" in s, what="the panels")
    tmux.keys("End", "Home", "Down", "Down", "Down", "Up", "Enter")
    tmux.wait_for(lambda s: "seed 3" in s and "Checkpoints" in s, what="run 3's detail")
    tmux.keys("Escape")  # alone: Escape and q in one write would read as Alt+q
    tmux.wait_for(lambda s: "Checkpoints" not in s, what="the main screen")
    tmux.keys("q")
    tmux.wait_for(lambda s: tmux.dead(), timeout=10, what="the monitor to quit")
