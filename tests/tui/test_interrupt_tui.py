"""``I``: one SIGINT to the selected run and nothing after it, behind its own confirmation;
driven through the pilot on a real child process (the stand-in trainer) identified by the real
process collector, with the real run control."""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from collectors.control import Registry
from collectors.model.settings import Settings
from collectors.sources.processes.collector import ProcessCollector
from tests.builders import run_snapshot
from tests.support import STANDIN
from tests.tui.fakes import FakeHost, FakeSources, aio, fixed_clock, snapshot
from tests.tui.test_pilot import focus_run, notes, started, until
from tui.app.actions import Actions
from tui.app.app import make_app
from tui.app.commands import ACTIONS
from tui.screens.modals import HELP, ConfirmModal

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("private_state")]  # a real child


def _child(tmp_path, ignore: str):
    script = tmp_path / "standin_train.py"
    script.write_text(STANDIN)
    argv = [sys.executable, str(script), "--root", str(tmp_path / "r"), "--exp_name", "e"]
    argv += ["--hold", "--ignore", ignore]
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("run dir "), line
    run = line[len("run dir ") :].strip()
    pc = ProcessCollector()
    deadline = time.monotonic() + 15
    info = None
    while info is None and time.monotonic() < deadline:
        info = pc.collect([run]).get(run)
        time.sleep(0.05)
    assert info is not None and info.pid == p.pid and info.positive
    return p, run, info


async def _interrupt(tmp_path, ignore: str):
    p, run, info = _child(tmp_path, ignore)
    try:
        runs = (run_snapshot(id="aaaa0001", path=run, name="standin", process=info),)
        settings = Settings(refresh=0.2, stop_grace=0.3, term_grace=0.3)
        actions = Actions(settings, Registry())
        app = make_app(
            FakeSources(snapshot(runs)),
            settings,
            actions=actions,
            host=FakeHost(),
            clock=fixed_clock,
        )
        app.animation_level = "none"
        async with app.run_test(size=(140, 40)) as pilot:
            await started(pilot, app)
            await focus_run(pilot, app, "standin")
            assert app.check_action("interrupt", ()) is True
            await pilot.press("I")
            assert isinstance(app.screen, ConfirmModal)
            title = str(app.screen.query_one("#dialog-title").render())
            body = str(app.screen.query_one("#dialog-body").render())
            assert "one SIGINT, nothing after it" in title
            assert "no SIGTERM, no SIGKILL" in body and str(p.pid) in body
            await pilot.press("y")
            await until(pilot, lambda: notes(app, "SIGINT sent"), timeout=20)
            # nothing follows it: no kill dialog, whatever the process did
            await pilot.pause(0.5)
            assert not isinstance(app.screen, ConfirmModal)
        return p, run
    except BaseException:
        p.kill()
        p.wait(5)
        raise


@aio
async def test_interrupt_sends_one_sigint_and_nothing_after_it(tmp_path):
    """The trainer ignores SIGINT: it is still running well past the stop's grace periods
    (0.3 s each here), so neither SIGTERM nor SIGKILL was sent."""
    p, run = await _interrupt(tmp_path, "INT")
    try:
        time.sleep(1.5)
        assert p.poll() is None  # alive: SIGTERM would have ended it (final.txt: SIGTERM)
        assert not (tmp_path / run / "final.txt").exists()
    finally:
        p.kill()
        p.wait(5)


@aio
async def test_interrupt_ends_a_trainer_that_exits_on_sigint(tmp_path):
    p, run = await _interrupt(tmp_path, "")
    try:
        assert p.wait(10) == 128 + 2
        with open(f"{run}/final.txt") as f:
            assert f.read() == "SIGINT"
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)


def test_i_is_in_the_help_and_the_palette_apart_from_stop():
    rows = dict(r for _, rs in HELP for r in rs)
    assert "I" in rows and "one SIGINT" in rows["I"] and "nothing after it" in rows["I"]
    assert "SIGTERM" in rows["T (s)"]
    assert any(a == "interrupt" and "(I)" in h for a, _, h in ACTIONS)
