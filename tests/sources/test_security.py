"""The security cases of issue 11, as real users: root's trainer (the stand-in, a real child
process), runs planted by ``nobody`` (uid 65534), and the monitor run as ``nobody`` over root's
runs (dropping privileges with ``setuid`` in the child, as tests/cli/test_cli.py does).

Root only: as another user these tests cannot make a second user's files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors.sources.processes import ProcessCollector
from collectors.sources.runs.discovery import Discovery
from tests.support import PRELOAD_AS_ROOT, ROOT, STANDIN

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as two users")


def _wait(cond, timeout=15.0):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    return cond()


@pytest.fixture
def trainer(tmp_path):
    """Root's trainer: a stand-in with its title and its progress.txt held open."""
    script = tmp_path / "standin_train.py"
    script.write_text(STANDIN)
    root = tmp_path / "mine"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--root", str(root), "--exp_name", "cuboid", "--hold"],
        stdout=subprocess.PIPE,
        text=True,
        cwd=tmp_path,
        start_new_session=True,
    )
    line = proc.stdout.readline()
    assert line.startswith("run dir "), line
    run = Path(line[len("run dir ") :].strip())
    try:
        yield proc, run
    finally:
        proc.kill()
        proc.wait(10)


def _planted(tmp_path: Path, run: Path) -> Path:
    """nobody's root directory, writable by nobody, as a shared /tmp-like place would be."""
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, NOBODY, NOBODY)
    _let_nobody_walk(tmp_path)
    return shared


def _let_nobody_walk(path: Path) -> None:
    for p in [path, *path.parents]:
        if p == Path("/"):
            break
        os.chmod(p, os.stat(p).st_mode | 0o005)


def test_another_users_symlink_into_my_run_is_refused(tmp_path, trainer):
    proc, run = trainer
    shared = _planted(tmp_path, run)
    link = shared / run.name
    link.symlink_to(run, target_is_directory=True)
    os.lchown(link, NOBODY, NOBODY)
    mine = shared / "mine-too"  # a link of ours (root's) is followed as before
    mine.symlink_to(run.parent, target_is_directory=True)
    found = Discovery([str(shared)]).scan()
    assert str(link) not in found.runs
    assert found.runs == [str(mine / run.name)]
    assert any(
        str(link) in e and f"symlink owned by uid {NOBODY}" in e and "not followed" in e
        for e in found.errors
    ), found.errors
    # and the command line says so, without a traceback
    r = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--once", "--json", str(link.parent)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert any(f"symlink owned by uid {NOBODY}" in e for e in doc["errors"])
    # `stop` through the planted link finds no run there, and signals nothing
    r = subprocess.run(
        [sys.executable, "-m", "tui.cli", "stop", str(link), "--root", str(shared)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    time.sleep(0.3)
    assert proc.poll() is None and not (run / "final.txt").exists()


def test_a_planted_run_of_another_user_never_gets_my_trainer(tmp_path, trainer):
    """A directory of nobody's, named and configured like root's run, with no files root's
    trainer holds open: the trainer's command line (--exp_name cuboid) matches it, but a run
    of another user is matched only by files inside its real directory."""
    proc, run = trainer
    shared = _planted(tmp_path, run)
    fake = shared / "mapush" / "go1push_mid" / "happo" / "cuboid" / run.name
    fake.mkdir(parents=True)
    (fake / "logs").mkdir()
    (fake / "config.json").write_text((run / "config.json").read_text())
    for p in [fake, *fake.parents]:
        if p == shared.parent:
            break
        os.chown(p, NOBODY, NOBODY)
    pc = ProcessCollector()
    got = pc.collect([str(fake)])
    assert got.get(str(fake)) is None
    # root's own run is still found (by the files its trainer holds open)
    pc = ProcessCollector()
    mine = _wait(lambda: pc.collect([str(run), str(fake)]).get(str(run)))
    assert mine is not None and mine.pid == proc.pid
    assert pc.collect([str(run), str(fake)]).get(str(fake)) is None
    # and `stop` through the planted run signals nothing
    r = subprocess.run(
        [sys.executable, "-m", "tui.cli", "stop", str(fake), "--root", str(shared)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode != 0 and "Traceback" not in r.stderr, (r.stdout, r.stderr)
    time.sleep(0.3)
    assert proc.poll() is None and not (run / "final.txt").exists()


def _as_nobody(state: Path, *argv: str) -> subprocess.CompletedProcess:
    # Import as root (the interpreter lives under /root), then drop to nobody before scanning.
    code = (
        PRELOAD_AS_ROOT + "import os, sys, tui.cli.command\n"
        "tui.cli.command.build_parser().parse_args([])\n"
        "os.setgid(65534); os.setuid(65534)\n"
        "sys.exit(tui.cli.command.main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv],
        capture_output=True,
        text=True,
        cwd="/",
        timeout=60,
        env=dict(os.environ, PYTHONPATH=str(ROOT), HOME="/nonexistent", XDG_STATE_HOME=str(state)),
    )


def test_the_monitor_as_nobody_over_roots_runs(tmp_path, trainer):
    proc, run = trainer
    _let_nobody_walk(run)
    for p in run.rglob("*"):
        os.chmod(p, os.stat(p).st_mode | 0o004 | (0o001 if p.is_dir() else 0))
    root = tmp_path / "mine"
    state = tmp_path / "nobody-state"  # nobody's own launch registry
    state.mkdir()
    os.chown(state, NOBODY, NOBODY)
    r = _as_nobody(state, "--once", "--json", str(root))
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    doc = json.loads(r.stdout)
    assert [x["path"] for x in doc["runs"]] == [str(run)]
    # nobody cannot stop root's trainer, and says so
    r = _as_nobody(state, "stop", str(run), "--root", str(root))
    assert r.returncode != 0 and "Traceback" not in r.stderr, r.stderr
    # (the reason depends on what nobody can see of root's process: its open files or not)
    assert r.stderr.rstrip().endswith("refusing"), r.stderr
    assert "not to you (nobody)" in r.stderr or "not positively identified" in r.stderr
    time.sleep(0.3)
    assert proc.poll() is None  # still running
    assert not (run / "final.txt").exists()
