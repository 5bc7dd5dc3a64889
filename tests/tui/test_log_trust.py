"""The Log tab shows only a log the launch registry recorded, or a file of the user running
happo-top or of the run's owner (issue 11), and says why otherwise. Real files owned by real
users (root and ``nobody``), a real process whose stdout is a file; root only (it makes another
user's files)."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.builders import make_run_dir, process_info
from tests.tui.fakes import FakeSources, aio, snapshot, standard_runs
from tests.tui.test_pilot import build, focus_run, until
from tui.app.sources import find_log, read_log
from tui.screens.detail import RunDetailScreen

NOBODY = 65534

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as two users")


def _run(path: Path, process=None):
    return dataclasses.replace(standard_runs()[0], path=str(path), process=process)


def _chown_tree(path: Path, stop: Path) -> None:
    for p in [path, *path.parents]:
        if p == stop:
            break
        os.chown(p, NOBODY, NOBODY)


def _command_txt(run: Path, log: Path) -> None:
    (run / "command.txt").write_text(f"# Training command (cwd {run})\npython train.py > {log}\n")


def test_another_users_redirect_to_a_root_only_file_is_not_shown(tmp_path):
    """nobody's run, nobody's command.txt, naming a file only root may read: root's monitor
    used to show it."""
    run = make_run_dir(tmp_path / "theirs")
    secret = tmp_path / "secret"
    secret.write_text("root only\n")
    os.chmod(secret, 0o600)
    _command_txt(run, secret)
    _chown_tree(run / "command.txt", tmp_path)
    path, lines, error = read_log(_run(run))
    assert path == str(secret) and lines == []
    assert error is not None and "not shown" in error and "command.txt (uid 65534)" in error
    assert "belongs to uid 0" in error
    # nobody's redirect to nobody's own log is shown (root watching a colleague's run)
    log = run / "train.log"
    log.write_text("step 1\nstep 2\n")
    os.chown(log, NOBODY, NOBODY)
    _command_txt(run, log)
    os.chown(run / "command.txt", NOBODY, NOBODY)
    assert read_log(_run(run)) == (str(log), ["step 1", "step 2"], None)


def test_a_command_txt_planted_in_my_run_by_another_user_is_not_followed(tmp_path):
    run = make_run_dir(tmp_path / "mine")
    log = tmp_path / "mine.log"
    log.write_text("mine\n")
    _command_txt(run, log)
    assert read_log(_run(run)) == (str(log), ["mine"], None)  # mine: shown
    os.chown(run / "command.txt", NOBODY, NOBODY)
    path, lines, error = read_log(_run(run))
    assert lines == [] and "which belongs to uid 65534, neither to you (uid 0)" in error


def test_the_live_processs_stdout_is_shown_only_when_it_is_ours_or_the_runs(tmp_path):
    run = make_run_dir(tmp_path / "mine")
    for owner, shown in ((0, True), (NOBODY, False)):
        out = tmp_path / f"stdout-{owner}.log"
        out.write_text("")
        os.chown(out, owner, owner)
        with open(out, "a") as f:
            child = subprocess.Popen(
                [sys.executable, "-c", "print('hello', flush=True); import time; time.sleep(30)"],
                stdout=f,
            )
        try:
            proc = process_info(pid=child.pid, uid=0, log=None)
            path, why = find_log(_run(run, proc))
            assert path == str(out)
            if shown:
                assert why is None
            else:
                assert why == (
                    f"{out}: not shown: it belongs to uid {NOBODY}, neither to you (uid 0) "
                    "nor to the run's owner (uid 0)"
                )
        finally:
            child.kill()
            child.wait()


def test_the_launch_registrys_log_is_shown(tmp_path):
    run = make_run_dir(tmp_path / "mine")
    log = tmp_path / "launch.log"
    log.write_text("launched\n")
    proc = process_info(pid=os.getpid(), log=str(log))
    assert read_log(_run(run, proc)) == (str(log), ["launched"], None)


def test_a_fifo_named_as_the_log_never_blocks(tmp_path):
    run = make_run_dir(tmp_path / "mine")
    fifo = tmp_path / "train.log"
    os.mkfifo(fifo)
    _command_txt(run, fifo)
    (run / "command.txt").write_text(f"python train.py > {fifo}\n")
    path, lines, error = read_log(_run(run))
    # not a regular file: never opened (isfile() is false, so it is not even named)
    assert lines == [] and (path is None or "not a regular file" in (error or ""))


@pytest.mark.slow
@aio
async def test_the_log_tab_says_why_a_log_is_not_shown(tmp_path):
    run = make_run_dir(tmp_path / "theirs")
    secret = tmp_path / "secret"
    secret.write_text("root only\n")
    os.chmod(secret, 0o600)
    _command_txt(run, secret)
    _chown_tree(run / "command.txt", tmp_path)
    runs = (_run(run), *standard_runs()[1:])
    app, _, _ = build(FakeSources(snapshot(runs)))
    async with app.run_test(size=(160, 45)) as pilot:
        await until(pilot, lambda: app.polls > 0)
        await pilot.pause()
        await focus_run(pilot, app, runs[0].name)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        await pilot.press("5")
        head = app.screen.query_one("#log-path")
        await until(pilot, lambda: "not shown" in str(head.render()))
        assert "uid 65534" in str(head.render())
        assert "root only" not in "\n".join(app.screen.query_one("#log-view").source_lines)
