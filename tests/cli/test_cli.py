"""The headless command line, run as a user runs it: real processes, simulator runs on disk."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors.simulator.process import command
from collectors.simulator.trainer import spawn, write_instant_run
from tests.support import PRELOAD_AS_ROOT, ROOT
from tests.support import happo_top as run_cli

UI_MODULES = ("textual", "rich", "plotext", "textual_plotext")


def happo_top(*args: str, env: dict | None = None, check: bool = True):
    return run_cli(*args, env=env, check=check, timeout=60)


def test_headless_snapshot_does_not_import_ui(tmp_path):
    code = (
        "import sys, runpy\n"
        f"sys.argv = ['happo-top', '--once', '--json', {str(tmp_path)!r}]\n"
        "import io, contextlib\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    from tui.cli import main; main(sys.argv[1:])\n"
        f"print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in {UI_MODULES!r})))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    assert out.stdout.strip() == ""


@pytest.fixture
def finished_and_partial(tmp_path):
    root = tmp_path / "results"
    now = time.time()
    basic = write_instant_run(
        root, exp_name="cuboid", preset="basic", seed=1, start_time=now - 6 * 3600, finished=True
    )
    safe = write_instant_run(
        root,
        exp_name="cuboid",
        preset="safe",
        seed=1,
        start_time=now - 8 * 3600,
        finished=False,
        stop_at=0.475,
        steps_per_hour=13e6,
    )
    return root, basic, safe


def test_json_document(finished_and_partial):
    root, basic, safe = finished_and_partial
    doc = json.loads(happo_top("--once", "--json", str(root)).stdout)
    assert doc["schema"] == 1 and doc["host"] and doc["time"] == pytest.approx(time.time(), abs=30)
    runs = {r["path"]: r for r in doc["runs"]}
    b, s = runs[str(basic)], runs[str(safe)]
    required = {
        "id",
        "path",
        "name",
        "algo",
        "env",
        "task",
        "exp_name",
        "seed",
        "started",
        "state",
        "step",
        "total_steps",
        "progress",
        "steps_per_hour",
        "eta",
        "reward",
        "checkpoints",
        "scalars",
        "config",
        "health",
        "process",
        "errors",
    }
    assert required <= set(b)
    assert b["state"] == "finished" and b["progress"] == 1.0 and b["eta"] is None
    assert b["total_steps"] == 100_000_000 and b["step"] == 100_000_000
    assert b["steps_per_hour"] == pytest.approx(20e6, rel=0.05)
    assert len(b["checkpoints"]) == 40 and all(c["complete"] for c in b["checkpoints"])
    assert [c["step"] for c in b["checkpoints"]] == [2_500_000 * k for k in range(1, 41)]
    assert b["reward"]["tag"] == "train_episode_rewards"
    assert b["scalars"]["train_episode_rewards"]["count"] == 200
    assert b["config"]["algo_args.algo.max_grad_norm"] == 10.0
    assert (b["algo"], b["env"], b["task"], b["exp_name"], b["seed"]) == (
        "happo",
        "mapush",
        "go1push_mid",
        "cuboid",
        1,
    )
    # The partial run stopped at 47.5% without summary.json, hours ago: crashed (files alone).
    assert s["state"] == "crashed" and s["progress"] == pytest.approx(0.475)
    assert s["steps_per_hour"] == pytest.approx(13e6, rel=0.05)
    assert s["config"]["algo_args.algo.max_grad_norm"] == 0.5
    assert len(s["checkpoints"]) == 19


def test_text_snapshot_width_and_no_color(finished_and_partial):
    root, basic, safe = finished_and_partial
    wide = happo_top("--once", "--width", "200", str(root)).stdout
    assert "finished" in wide and "crashed" in wide and "100M/100M" in wide and "\x1b[" not in wide
    assert "47.5M/100M" in wide
    narrow = happo_top("--once", "--width", "60", str(root)).stdout
    assert all(len(line) <= 60 for line in narrow.splitlines())
    assert "finished" in narrow and "crashed" in narrow


def test_default_root_is_results_in_cwd(finished_and_partial, tmp_path):
    root, basic, _ = finished_and_partial
    code = "import sys; from tui.cli import main; sys.exit(main(['--once', '--json']))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
    )
    doc = json.loads(out.stdout)
    assert doc["roots"] == [str(root)] and len(doc["runs"]) == 2


@pytest.mark.slow
def test_bad_config_file_is_a_clear_error(tmp_path):
    cfg = tmp_path / "config.yaml"
    cfg.write_text("refresh: 2\nstall_timeout: soon\n")
    r = happo_top("--once", "--config", str(cfg), str(tmp_path), check=False)
    assert r.returncode == 2
    assert f"{cfg}:2: key 'stall_timeout'" in r.stderr
    cfg.write_text("refresh: 2\nthresholds:\n  entropy_low: 0.8\n  entropy_lo: 0.8\n")
    r = happo_top("--once", "--config", str(cfg), str(tmp_path), check=False)
    assert (
        r.returncode == 2
        and f"{cfg}:4: key 'thresholds': unknown threshold 'entropy_lo'" in r.stderr
    )
    cfg.write_text("roots: [a\n")
    r = happo_top("--once", "--config", str(cfg), str(tmp_path), check=False)
    assert r.returncode == 2 and str(cfg) in r.stderr and "invalid YAML" in r.stderr


def test_unreadable_directory_is_reported_and_the_rest_is_shown(finished_and_partial):
    """As an unprivileged user: as that user directly, or (root reads everything) as root
    dropping to nobody before the scan."""
    root, basic, safe = finished_and_partial
    secret = root / "mapush" / "go1push_mid" / "happo" / "secret"
    secret.mkdir()
    os.chmod(secret, 0o000)
    if os.geteuid() != 0:
        try:
            out = happo_top("--once", "--json", str(root), check=False)
        finally:
            os.chmod(secret, 0o700)  # let pytest remove it
    else:
        for p in [root, *root.parents]:  # let nobody walk down to the runs
            if p == Path("/"):
                break
            os.chmod(p, os.stat(p).st_mode | 0o005)
        # Import as root (the interpreter lives under /root), then drop to nobody before scanning.
        code = (
            PRELOAD_AS_ROOT + "import os, sys, tui.cli.command\n"
            "tui.cli.command.build_parser().parse_args([])\n"
            "os.setgid(65534); os.setuid(65534)\n"
            "sys.exit(tui.cli.command.main(sys.argv[1:]))\n"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, "--once", "--json", str(root)],
            capture_output=True,
            text=True,
            cwd="/",
            timeout=60,
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
        )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert len(doc["runs"]) == 2
    assert any(str(secret) in e and "Permission denied" in e for e in doc["errors"])


def _no_terminal(*args: str, timeout: float = 30) -> subprocess.CompletedProcess:
    """The command as cron or ``nohup`` runs it: stdin from /dev/null, output to pipes."""
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=timeout,
        env=dict(os.environ, NO_COLOR="1"),
    )


def test_the_monitor_without_a_terminal_says_so_and_exits(tmp_path):
    for args in ([str(tmp_path)], ["demo", "--dir", str(tmp_path / "demo")]):
        out = _no_terminal(*args)
        assert out.returncode == 2, out
        assert "needs a terminal" in out.stderr and "--once" in out.stderr
        assert out.stdout == ""  # no escape codes written into a log
    assert not (tmp_path / "demo").exists()  # the demo started no simulated trainers


@pytest.mark.slow
def test_plain_into_a_file_is_a_log_of_frames(tmp_path):
    write_instant_run(tmp_path, exp_name="logged", finished=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--plain", "--refresh", "0.2", str(tmp_path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=dict(os.environ, NO_COLOR="1", COLUMNS="120"),
    )
    time.sleep(3)
    proc.terminate()  # SIGTERM: a clean exit
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "\x1b" not in out
    assert out.startswith("--- ") and "logged" in out


@pytest.mark.parametrize(
    "args",
    [
        ("--refresh", "-1"),
        ("--refresh", "0"),
        ("--stall-timeout", "-5"),
        ("--width", "-5"),
        ("--refresh", "soon"),
        ("--refresh", "inf"),
        ("--stall-timeout", "nan"),
    ],
)
def test_bad_numbers_on_the_command_line_are_usage_errors(args, tmp_path):
    out = happo_top("--once", *args, str(tmp_path), check=False)
    assert out.returncode == 2
    assert args[0] in out.stderr and ("above 0" in out.stderr or "not a number" in out.stderr)
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_live_simulated_run_is_seen_growing(tmp_path):
    root = tmp_path / "results"
    proc = spawn(root, num_env_steps=20_000_000, duration=6, flush_secs=1, exp_name="live")
    try:
        steps = []
        deadline = time.time() + 30
        while time.time() < deadline and proc.poll() is None:
            doc = json.loads(
                happo_top("--once", "--json", "--stall-timeout", "30", str(root)).stdout
            )
            if doc["runs"]:
                (r,) = doc["runs"]
                assert r["path"] == str(proc.run_dir)
                steps.append(r["step"])
                # "finished": the run ended while this snapshot was being taken
                assert r["state"] in ("starting", "running", "finished")
            time.sleep(0.5)
        proc.wait(30)
        doc = json.loads(happo_top("--once", "--json", str(root)).stdout)
        (r,) = doc["runs"]
        assert r["state"] == "finished" and r["step"] == 20_000_000
        assert len(set(steps)) >= 3 and steps == sorted(steps)  # seen live, moving forward
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_simulate_into_an_unwritable_place_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = happo_top(
        "simulate", "--root", str(blocker / "results"), "--exp-name", "x", "--num-env-steps",
        "1000000", "--duration", "0", check=False,
    )  # fmt: skip
    assert out.returncode == 2 and "cannot write the run" in out.stderr
    assert "Traceback" not in out.stderr


def test_runs_sharing_a_name_are_told_apart_by_their_label(tmp_path):
    t0 = (time.time() // 3600 - 5) * 3600  # two runs started in the same minute, same seed
    for preset, dt in (("basic", 0), ("safe", 1)):
        write_instant_run(tmp_path, preset=preset, seed=1, start_time=t0 + dt, finished=True)
    out = happo_top("--once", "--width", "120", str(tmp_path)).stdout
    lines = out.splitlines()
    head = next(i for i, line in enumerate(lines) if line.startswith("STATE"))
    cells = [line.split("  ")[1] for line in lines[head + 1 : head + 3]]
    assert len(set(cells)) == 2, out  # not the same name twice
    assert any("max_grad_norm=0.5" in c or "mgn" in c for c in cells), out
    findings = [line for line in lines[head + 3 :] if line.startswith(("WARN", "BAD"))]
    assert findings and all("[" in line for line in findings), out


def test_json_into_a_reader_that_leaves_early(tmp_path):
    """``happo-top --once --json | head -2``: no BrokenPipeError traceback, exit 0."""
    for i in range(16):  # about 100 kB of JSON: more than a pipe holds
        write_instant_run(tmp_path, exp_name=f"e{i}", num_env_steps=5_000_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--once", "--json", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    # One compact line (the C encoder): read its first byte only, the rest (beyond what a
    # pipe and the reader's buffer hold) is never read.
    assert proc.stdout.read(1) == b"{"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "BrokenPipe" not in err


@pytest.mark.slow
def test_plain_logs_events_and_runs_on_event(tmp_path):
    """``happo-top --plain > log`` as a headless notifier: a simulated trainer crashes while it
    watches; the log gets an event line with the traceback's cause, the on_event command runs."""
    root = tmp_path / "results"
    train_log = tmp_path / "train.log"
    got = tmp_path / "hook.txt"
    config = tmp_path / "config.yaml"
    config.write_text(f"on_event: 'echo \"$HAPPO_TOP_EVENT $HAPPO_TOP_MESSAGE\" >> {got}'\n")
    argv = command(root, exp_name="plain-crash", duration=6.0, crash_at=0.5, flush_secs=0.5)
    with open(train_log, "wb") as out:
        trainer = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        while b"run dir" not in train_log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.1)
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tui.cli",
                "--plain",
                "--refresh",
                "0.3",
                "--config",
                str(config),
                str(root),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=dict(os.environ, NO_COLOR="1", COLUMNS="120"),
        )
        assert trainer.wait(30) == 1
        deadline = time.monotonic() + 30
        while not (got.exists() and "crashed" in got.read_text()) and time.monotonic() < deadline:
            time.sleep(0.2)
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    finally:
        if trainer.poll() is None:
            trainer.kill()
        trainer.wait(10)
    assert proc.returncode == 0, err
    cause = "RuntimeError: CUDA error: an illegal memory access was encountered"
    lines = [ln for ln in out.splitlines() if ln.startswith("event ") and " crashed: " in ln]
    assert len(lines) == 1 and lines[0].endswith(cause), out[-2000:]
    assert "crashed crashed at " in got.read_text() and cause in got.read_text()
