"""Never run (or show) another user's words, and the small refusals of run control: real files
chowned to ``nobody`` (the tests run the checks as root, where the hole was: a ``command.txt``
written by nobody in a crashed run's directory was executed as root by ``happo-top restart``),
real processes, the real command line."""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import signal
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from collectors.sources.processes import command_txt_log, read_command_txt, untrusted
from tests.builders import make_run_dir, write_harl_config
from tests.support import STANDIN, happo_top

pytestmark = pytest.mark.usefixtures("private_state")

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


def _nobody() -> int:
    try:
        return pwd.getpwnam("nobody").pw_uid
    except KeyError:
        return 65534


def _crashed_run(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A crashed layout-B-like run in <proj>/results with a command.txt naming evil.py, which
    would leave a marker if it ever ran."""
    proj = tmp_path / "proj"
    run = make_run_dir(proj / "results")
    cfg = json.loads(json.dumps(__import__("tests.builders").builders.HARL_CONFIG))
    cfg["algo_args"]["logger"] = {"log_dir": "./results"}
    cfg["algo_args"]["train"]["model_dir"] = None
    write_harl_config(run, cfg)
    marker = tmp_path / "ran"
    evil = proj / "evil.py"
    evil.write_text(f"import time\nopen({str(marker)!r}, 'w').write('ran')\ntime.sleep(3)\n")
    (run / "command.txt").write_text(f"# Training command (cwd {proj})\npython -u evil.py\n")
    return run, marker, evil


@as_root
def test_command_txt_of_another_user_is_never_run_or_shown(tmp_path):
    run, marker, _ = _crashed_run(tmp_path)
    assert read_command_txt(str(run)) is not None  # ours: usable
    os.chown(run / "command.txt", _nobody(), _nobody())
    assert "belongs to uid" in (untrusted(str(run / "command.txt")) or "")
    assert read_command_txt(str(run)) is None  # nobody's: neither shown nor run
    out = happo_top("restart", str(run), "--yes", "--root", str(tmp_path / "proj" / "results"))
    assert out.returncode == 1, out.stdout + out.stderr
    assert "command.txt not used" in out.stderr and f"uid {_nobody()}" in out.stderr
    assert "harl_train" in out.stderr
    time.sleep(0.3)
    assert not marker.exists()


@as_root
def test_world_writable_command_txt_or_directory_is_refused(tmp_path):
    run, marker, _ = _crashed_run(tmp_path)
    os.chmod(run / "command.txt", 0o666)
    assert "writable by other users" in (untrusted(str(run / "command.txt")) or "")
    assert read_command_txt(str(run)) is None
    os.chmod(run / "command.txt", 0o644)
    os.chmod(run, 0o777)
    assert "directory" in (untrusted(str(run / "command.txt")) or "")
    os.chmod(run, 0o755)
    assert untrusted(str(run / "command.txt")) is None


@as_root
def test_config_json_or_entry_script_of_another_user_is_refused(tmp_path):
    """HARL eval()s the values of --load_config's file; the script is what runs."""
    run, marker, evil = _crashed_run(tmp_path)
    root = str(tmp_path / "proj" / "results")
    os.chown(run / "config.json", _nobody(), _nobody())
    out = happo_top("restart", str(run), "--yes", "--root", root)
    assert out.returncode == 1 and "refusing to restart from" in out.stderr, out.stderr
    os.chown(run / "config.json", 0, 0)
    os.chown(evil, _nobody(), _nobody())  # the entry point command.txt names
    out = happo_top("restart", str(run), "--yes", "--root", root)
    assert out.returncode == 1 and f"refusing to run {evil}" in out.stderr, out.stderr
    assert not marker.exists()
    # ours again: the plan runs evil.py with HARL's arguments (it is "the trainer" here)
    os.chown(evil, 0, 0)
    out = happo_top("restart", str(run), "--yes", "--root", root)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "--load_config" in out.stdout
    assert _wait(marker.exists)
    pid = int(re.search(r"launched pid (\d+)", out.stdout).group(1))
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)


@as_root
def test_log_redirect_of_another_user_is_not_shown(tmp_path):
    run = make_run_dir(tmp_path / "results")
    log = tmp_path / "train.log"
    log.write_text("secret\n")
    (run / "command.txt").write_text(f"# Training command\npython train.py > {log}\n")
    assert command_txt_log(str(run)) == str(log)
    os.chown(log, _nobody(), _nobody())
    assert command_txt_log(str(run)) is None


def _wait(cond, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        if cond():
            return True
        time.sleep(0.05)
    return cond()


def test_launch_log_is_private(tmp_path):
    out = happo_top(
        "launch", "--cwd", str(tmp_path), "--", sys.executable, "-c", "import time; time.sleep(3)"
    )
    assert out.returncode == 0, out.stderr
    log = Path(re.search(r"log: (\S+)", out.stdout).group(1))
    pid = int(re.search(r"launched pid (\d+)", out.stdout).group(1))
    try:
        assert stat.S_IMODE(log.stat().st_mode) == 0o600
        assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


@pytest.mark.parametrize("bad", ["nan", "inf", "-1", "-inf"])
def test_stop_grace_rejects_nan_infinity_and_negatives(tmp_path, bad):
    for flag in ("--grace", "--term-grace"):
        out = happo_top("stop", "x", "--root", str(tmp_path), f"{flag}={bad}")
        assert out.returncode == 2, out.stderr
        assert "must be a finite number of 0 or more" in out.stderr


def test_refusal_for_a_run_without_process_does_not_call_it_running(tmp_path):
    """Fresh data, no process: the files say "running", but no live process can be stopped."""
    root = tmp_path / "results"
    out = happo_top(
        "simulate",
        "--root",
        str(root),
        "--exp-name",
        "gone",
        "--duration",
        "0",
        "--num-env-steps",
        "10e6",
        "--crash-at",
        "0.5",
    )
    runs = list(root.glob("mapush/*/happo/gone/seed-*"))
    assert runs, out.stdout + out.stderr
    out = happo_top("stop", str(runs[0]), "--root", str(root))
    assert out.returncode == 1
    assert "has no live process" in out.stderr and "(state: running)" not in out.stderr
    assert "stopping" not in out.stdout + out.stderr


SYSTEM_PYTHON = "/usr/bin/python3"  # one user nobody may run (ours lives under /root, 0700)


@as_root
@pytest.mark.skipif(not os.access(SYSTEM_PYTHON, os.X_OK), reason="no /usr/bin/python3")
def test_no_stopping_line_before_refusing_another_users_process(tmp_path):
    """A trainer of user nobody, identified by its open files: refused before anything is
    printed about stopping it, and left alive."""
    base = Path(tempfile.mkdtemp(prefix="happo-top-nobody-"))
    try:
        os.chmod(base, 0o777)
        script = base / "standin.py"
        script.write_text(STANDIN)
        os.chmod(script, 0o644)
        root = base / "results"
        uid = _nobody()
        p = subprocess.Popen(
            [SYSTEM_PYTHON, str(script), "--root", str(root), "--exp_name", "theirs", "--hold"],
            stdout=subprocess.PIPE,
            user=uid,
            group=uid,
            start_new_session=True,
            cwd=str(base),
        )
        try:
            line = p.stdout.readline().decode()
            assert line.startswith("run dir "), line
            run = line[len("run dir ") :].strip()
            out = happo_top("stop", run, "--root", str(root), "--grace", "1")
            text = out.stdout + out.stderr
            assert out.returncode == 1, text
            assert "stopping" not in text and "not to you" in text
            assert p.poll() is None
        finally:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(timeout=5)
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)
