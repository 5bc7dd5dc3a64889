"""Several hosts in the real monitor, in tmux: a live run on a "remote" host (a real sshd on
127.0.0.1, tests/sshd.py) stopped with ``s``, the confirmation naming the host; and
``happo-top demo --hosts``: two hosts served by ``happo-top serve --stream`` through the demo's
stand-in for ssh, and one that is down, each with its line in the system strip."""

from __future__ import annotations

import os
import shutil
import time

import psutil
import pytest

from collectors.simulator.process import spawn
from tests.sshd import Sshd, sshd_server  # noqa: F401  (the fixture ``sshd``)
from tests.support import happo_top
from tests.tui.test_e2e import Tmux, happo_top_argv, monitor_env

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        shutil.which("tmux") is None and os.environ.get("CI") != "true",
        reason="tmux is not installed",
    ),
]


@pytest.fixture
def tmux():
    t = Tmux(f"happo-hosts-{os.getpid()}")
    try:
        yield t
    finally:
        t.kill()


def test_stop_a_remote_run_from_the_monitor(tmux, tmp_path, private_state, sshd: Sshd):
    sim = spawn(
        tmp_path / "live",
        exp_name="far",
        num_env_steps=10_000_000,
        duration=300.0,
        flush_secs=0.5,
        n_rollout_threads=100,
    )
    cfg = sshd.config_file(tmp_path / "config.yaml")
    env = {**monitor_env(), "XDG_STATE_HOME": str(tmp_path / "state")}
    try:
        tmux.start(
            [*happo_top_argv(), "--config", str(cfg), f"gpu02:{tmp_path / 'live'}"], 140, 40, env
        )
        tmux.wait_for(lambda s: "gpu02: far" in s and "running" in s, 60, "the remote run, running")
        strip = tmux.wait_for(lambda s: "gpu02  │" in s, 20, "the host's line in the strip")
        assert "GPU" in strip.split("gpu02  │", 1)[1].splitlines()[0]
        tmux.keys("s")
        dialog = tmux.wait_for(lambda s: "Stop run" in s, 10, "the stop confirmation")
        assert "host  gpu02 (over ssh" in dialog
        assert "BatchMode=yes" in dialog  # the exact command line is shown
        tmux.keys("y")
        assert sim.wait(timeout=60) is not None  # stopped there, by the happo-top there
        tmux.wait_for(lambda s: "ended by SIGINT" in s, 30, "the notification saying how")
        tmux.wait_for(lambda s: "stopped" in s, 30, "the panel to say stopped")
    finally:
        if sim.poll() is None:
            sim.kill()
        sim.wait()


def test_demo_hosts_shows_two_hosts_and_one_that_is_down(tmux, tmp_path):
    env = {**monitor_env(), "TMPDIR": str(tmp_path)}
    env.pop("XDG_STATE_HOME", None)
    tmux.start([*happo_top_argv(), "demo", "--hosts", "--duration", "300"], 160, 45, env)
    screen = tmux.wait_for(
        lambda s: "─ demo-gpu1: " in s and "─ demo-gpu2: " in s and "> running" in s,
        60,
        "runs from both hosts, with their host names",
    )
    screen = tmux.wait_for(
        lambda s: "demo-gpu3: unreachable since" in s and "Connection refused" in s,
        30,
        "the host that is down, in the strip",
    )
    if os.environ.get("SHOW_SCREEN"):
        print(screen)
    assert "demo-gpu1  │" in screen and "demo-gpu2  │" in screen
    (base,) = tmp_path.glob("happo-top-demo-*")
    trainers = [p for p in psutil.process_iter(["cwd"]) if p.info["cwd"] == str(base)]
    assert len(trainers) == 4
    tmux.keys("q")
    tmux.wait_for(lambda s: tmux.dead(), timeout=20, what="the demo to quit")
    gone, alive = psutil.wait_procs(trainers, timeout=30)
    assert not alive
    deadline = time.monotonic() + 20
    while base.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not base.exists()


def test_demo_hosts_once_names_each_host(tmp_path):
    out = happo_top("demo", "--hosts", "--once", "--duration", "300", env={"TMPDIR": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(
        line.startswith("HOSTS demo-gpu1 up, demo-gpu2 up, demo-gpu3 unreachable") for line in lines
    )
    rows = [line.split() for line in lines if line.startswith(("> running", "= finished"))]
    assert {r[2] for r in rows} == {"demo-gpu1", "demo-gpu2"}
    assert any("demo-gpu3: unreachable" in line and "Connection refused" in line for line in lines)
    assert not list(tmp_path.glob("happo-top-demo-*"))  # its trainers stopped, its files gone
