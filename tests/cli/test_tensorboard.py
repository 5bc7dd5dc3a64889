"""TensorBoard as a partner: started on runs with --logdir_spec names from aliases and labels,
found when running (ours and anyone's), and only ours stopped. The slow test starts real
TensorBoards on free loopback ports and asks them which runs they serve."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from collectors.control import logdir_spec, run_label
from collectors.model import Settings
from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs import run_id
from collectors.sources.tensorboard import (
    LogDir,
    find_tensorboards,
    is_tensorboard,
    parse_argv,
    parse_logdir_spec,
)
from tests.builders import run_snapshot
from tests.support import happo_top, http_get
from tui.cli import exit_codes


def test_command_lines_are_read_as_tensorboard_reads_them():
    assert is_tensorboard(["/venv/bin/tensorboard", "--logdir", "x"])
    assert is_tensorboard(["/usr/bin/python3", "/venv/bin/tensorboard", "--logdir", "x"])
    assert is_tensorboard(["python", "-m", "tensorboard.main", "--logdir", "x"])
    assert not is_tensorboard(["python", "train.py", "--tensorboard"])
    assert not is_tensorboard(["vim", "tensorboard.log"])
    port, bind, dirs = parse_argv(
        ["tensorboard", "--logdir_spec", "old:/r/a,new:rel/b,/c:d", "--port=7000"], cwd="/home"
    )
    assert (port, bind) == (7000, "localhost")
    assert dirs == (LogDir("old", "/r/a"), LogDir("new", "/home/rel/b"), LogDir(None, "/c:d"))
    assert parse_argv(["tensorboard", "--logdir", "~/x", "--bind_all"])[:2] == (6006, "*")
    assert parse_logdir_spec("gs://bucket/x") == (LogDir(None, "gs://bucket/x"),)


def test_names_come_from_aliases_then_labels_without_reserved_characters():
    a = run_snapshot(id="aaaa1111", path="/r/seed-00001-2025-11-15-15-34-13", label="lr=3e-4 x=1")
    b = run_snapshot(id="bbbb2222", path="/r/seed-00002-2025-11-15-15-34-13", label="")
    c = run_snapshot(id="cccc3333", path="/r/seed-00003-2025-11-15-15-34-13", label="lr=3e-4 x=1")
    settings = Settings(aliases={"bbbb2222": "new_happo:safe"})
    assert run_label(a, settings) == "lr=3e-4 x=1"
    assert run_label(b, settings) == "new_happo_safe"
    spec = logdir_spec([a, b, c], settings)
    assert spec == (
        "lr=3e-4 x=1:/r/seed-00001-2025-11-15-15-34-13,new_happo_safe:/r/seed-00002-2025-11-15-"
        "15-34-13,lr=3e-4 x=1_cccc3333:/r/seed-00003-2025-11-15-15-34-13"
    )
    assert parse_logdir_spec(spec)[1] == LogDir("new_happo_safe", b.path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_start_find_and_stop_real_tensorboards(tmp_path, private_state):
    root = tmp_path / "results"
    now = time.time()
    unstable = write_instant_run(root, exp_name="cuboid", seed=1, start_time=now - 7200)
    safe = write_instant_run(root, exp_name="cuboid", preset="safe", seed=1, start_time=now - 3600)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"roots: [{root}]\naliases:\n  {unstable}: old_happo_unstable\n  {safe}: new_happo_safe\n"
    )
    env = {"XDG_STATE_HOME": os.environ["XDG_STATE_HOME"], "HOME": os.environ["HOME"]}
    # someone else's TensorBoard (here: started without happo-top) on another port
    other_port = _free_port()
    other = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tensorboard.main",
            "--logdir",
            str(root),
            "--port",
            str(other_port),
            "--host",
            "localhost",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    ours_pid = None
    try:
        port = _free_port()
        r = happo_top(
            "tensorboard",
            str(unstable),
            str(safe),
            "--port",
            str(port),
            "--json",
            "--config",
            str(cfg),
            env=env,
            cwd=tmp_path,
        )
        assert r.returncode == exit_codes.OK, r.stderr
        doc = json.loads(r.stdout)
        ours_pid = doc["pid"]
        assert doc["ssh"].startswith(f"ssh -N -L {port}:localhost:{port} ")
        assert doc["logdir_spec"] == f"old_happo_unstable:{unstable},new_happo_safe:{safe}"
        served = json.loads(http_get(f"http://localhost:{port}/data/runs"))
        assert {name.split("/")[0] for name in served} == {"old_happo_unstable", "new_happo_safe"}
        assert psutil.Process(ours_pid).ppid() != os.getpid()  # detached, in its own session
        assert os.getsid(ours_pid) == ours_pid

        http_get(f"http://localhost:{other_port}/data/runs")
        listed = json.loads(
            happo_top("tensorboard", "--list", "--json", "--config", str(cfg), env=env).stdout
        )["tensorboards"]
        by_pid = {t["pid"]: t for t in listed}
        assert by_pid[ours_pid]["port"] == port and by_pid[ours_pid]["launched_by_happo_top"]
        assert [d["runs"] for d in by_pid[ours_pid]["logdirs"]] == [
            [run_id(str(unstable))],
            [run_id(str(safe))],
        ]
        assert by_pid[other.pid]["port"] == other_port
        assert by_pid[other.pid]["launched_by_happo_top"] is None
        assert sorted(by_pid[other.pid]["logdirs"][0]["runs"]) == sorted(
            [run_id(str(unstable)), run_id(str(safe))]
        )
        text = happo_top("tensorboard", "--list", "--config", str(cfg), env=env).stdout
        assert f"pid {other.pid} " in text and "not started by happo-top" in text

        # a TensorBoard happo-top did not start is never signalled
        refused = happo_top("tensorboard", "--stop", str(other.pid), env=env)
        assert refused.returncode == exit_codes.ACTION_FAILED and "refusing" in refused.stderr
        stopped = happo_top("tensorboard", "--stop", env=env)
        assert stopped.returncode == exit_codes.OK, stopped.stderr
        assert f"{ours_pid} ended by" in stopped.stdout
        assert not psutil.pid_exists(ours_pid) or psutil.Process(ours_pid).status() == "zombie"
        assert other.poll() is None
        assert {t.pid for t in find_tensorboards()} >= {other.pid}
        assert ours_pid not in {t.pid for t in find_tensorboards()}
    finally:
        other.send_signal(signal.SIGINT)
        other.wait(20)
        if ours_pid is not None:  # the assertions failed before --stop: leave nothing behind
            try:
                p = psutil.Process(ours_pid)
                if p.status() != psutil.STATUS_ZOMBIE and is_tensorboard(p.cmdline()):
                    p.kill()
            except psutil.Error:
                pass


def test_start_needs_runs_and_a_free_port(tmp_path, private_state):
    r = happo_top("tensorboard", cwd=tmp_path)
    assert r.returncode == exit_codes.USAGE and "give one or more RUNs" in r.stderr
    r = happo_top("tensorboard", "no-such-run", "--root", str(tmp_path), cwd=tmp_path)
    assert r.returncode == exit_codes.USAGE and "no run matches" in r.stderr
