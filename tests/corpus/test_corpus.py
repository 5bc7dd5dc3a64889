"""Every headless command, and the monitor in a real terminal, on the whole corpus of damaged and
hostile runs next to good ones (issue 11): no traceback, nothing hangs (each command bounded in
time), every good run shown with exactly EventAccumulator's points, every bad run named with its
error, and no run costing another."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from collectors.model.run import is_internal_error
from tests.builders import event_files
from tests.corpus.build import BAD, GOOD, build_corpus
from tests.support import ROOT, happo_top

TIMEOUT = 60  # seconds any one command may take on the whole corpus


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus") / "results"
    cases = build_corpus(root)
    assert len(cases) >= 50
    state = tmp_path_factory.mktemp("state")
    env = {"XDG_STATE_HOME": str(state), "XDG_CONFIG_HOME": str(state / "config")}
    return root, cases, env


def _run(*args: str, env: dict) -> subprocess.CompletedProcess:
    t0 = time.monotonic()
    out = happo_top(*args, env=env, timeout=TIMEOUT)
    assert time.monotonic() - t0 < TIMEOUT
    both = out.stdout + out.stderr
    assert "Traceback" not in both, both[-3000:]
    assert "\x1b" not in out.stdout, "an escape sequence from a run file reached the output"
    return out


def _ea_points(run: Path) -> list[tuple[int, int, float]]:
    """(count, last step, last value) of every tag of every event file, as TensorBoard reads."""
    out = []
    for f in event_files(run / "logs"):
        ea = EventAccumulator(str(f), size_guidance={"scalars": 0})
        ea.Reload()
        for tag in ea.Tags()["scalars"]:
            ev = ea.Scalars(tag)
            out.append((len(ev), ev[-1].step, round(ev[-1].value, 4)))
    return sorted(out)


def test_once_json_shows_every_run_good_ones_exactly_bad_ones_with_their_error(corpus):
    root, cases, env = corpus
    doc = json.loads(_run("--once", "--json", str(root), env=env).stdout)
    runs = {r["path"]: r for r in doc["runs"]}  # a non-UTF-8 name: the same surrogates
    assert len(doc["runs"]) == len(cases)
    for case in cases:
        r = runs[str(case.path)]
        errors = r["errors"]
        assert not any(is_internal_error(e) for e in errors), (case.name, errors)
        if case.kind == GOOD:
            assert errors == [], (case.name, errors)
            got = sorted(
                (s["count"], s["step"], round(s["value"], 4)) for s in r["scalars"].values()
            )
            assert got == _ea_points(case.path), case.name
        elif case.kind == BAD:
            assert any(case.error_in in e for e in errors), (case.name, errors)


def test_text_snapshot_check_report_diff_plain(corpus):
    root, cases, env = corpus
    # wide enough that no error line is cut (at 160 the file a message names could be cut off,
    # and a seed directory's name, which every case shares, found on any other line instead)
    text = _run("--once", "--width", "400", str(root), env=env).stdout
    assert f"{len(cases)} run(s)" in text
    problems = [ln for ln in text.splitlines() if ln.startswith(("ERROR", "BAD"))]
    for case in cases:
        if case.kind == BAD:
            assert any(case.error_in in ln for ln in problems), case.name

    for args in (("check", str(root)), ("check", "--json", "--strict", str(root))):
        out = _run(*args, env=env)
        assert out.returncode in (0, 1), out.stderr  # never INTERNAL_ERROR (3) on the corpus
    checked = json.loads(_run("check", "--json", str(root), env=env).stdout)
    assert len(checked["runs"]) == len(cases)

    report = root.parent / "report.md"
    out = _run("report", str(root), "-o", str(report), env=env)
    assert out.returncode == 0, out.stderr
    body = report.read_text(errors="replace")
    assert "could not be analysed" not in body and "\x1b" not in body

    good = [str(c.path) for c in cases if c.kind == GOOD]
    for args in (("diff", str(root), good[0]), ("diff", "--json", str(root), good[0])):
        assert _run(*args, env=env).returncode == 0

    # --plain: a couple of frames into a pipe, then SIGTERM ends it cleanly.
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "--plain", "--refresh", "0.5", str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, NO_COLOR="1", COLUMNS="160", **env),
        cwd=ROOT,
    )
    time.sleep(4)
    proc.send_signal(signal.SIGTERM)
    out_s, err_s = proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == 0 and "Traceback" not in err_s and f"{len(cases)} run(s)" in out_s


RUN_CONTROL_SAMPLE = ("not_utf8_directory", "config_fifo", "markup_in_directory_name", "good_a")


@pytest.mark.parametrize("command", ["stop", "kill", "restart"])
def test_run_control_on_hostile_runs_refuses_cleanly(corpus, command):
    root, cases, env = corpus
    for case in cases:
        if case.name in RUN_CONTROL_SAMPLE:
            out = _run(command, str(case.path), env=env)
            assert out.returncode == 1, out.stderr
            assert out.stderr.startswith(f"happo-top {command}: "), out.stderr


@pytest.mark.slow
def test_stop_on_every_corpus_run(corpus):
    """stop resolves the run like kill and restart (the sample above runs those)."""
    root, cases, env = corpus
    for case in cases:
        out = _run("stop", str(case.path), env=env)
        assert out.returncode == 1, (case.name, out.stderr)


# -- the monitor in a real terminal ---------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_monitor_on_the_corpus_then_the_tree_deleted(corpus, tmp_path):
    from tests.tui.test_e2e import Tmux, happo_top_argv, monitor_env

    root, cases, env = corpus
    copy = tmp_path / "copy"
    subprocess.run(["cp", "-a", str(root), str(copy)], check=True)
    tmux = Tmux(f"happo-corpus-{os.getpid()}")
    try:
        tmux.start(
            [*happo_top_argv(), str(copy), "--refresh", "0.5"], 160, 50, {**monitor_env(), **env}
        )
        screen = tmux.wait_for(
            lambda s: f"{len(cases)} runs" in s or "x crashed" in s or "crashed" in s,
            timeout=30,
            what="the corpus on screen",
        )
        assert "Traceback" not in screen and "collector failed" not in screen
        tmux.keys("?")
        tmux.wait_for(lambda s: "quit" in s.lower(), what="the help")
        tmux.keys("Escape")
        shutil.rmtree(copy, ignore_errors=True)
        subprocess.run(["rm", "-rf", str(copy)], check=False)
        tmux.wait_for(lambda s: "No HARL runs" in s, timeout=30, what="the empty screen")
        tmux.keys("q")
        tmux.wait_for(lambda s: tmux.dead(), timeout=10, what="the monitor to quit on q")
    finally:
        tmux.kill()
