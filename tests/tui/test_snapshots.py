"""Layout snapshots of the monitor (pytest-textual-snapshot; Textual is pinned in pyproject).

Deterministic: fake sources with hand-built snapshots, a fixed clock and host, UTC. Update the
stored SVGs after an intended change with ``pytest tests/tui/test_snapshots.py --snapshot-update``
and look at them (``snapshot_report.html``) before committing.
"""

from __future__ import annotations

import time

import pytest

from collectors.model.settings import Settings
from tests.tui.fakes import FakeActions, FakeHost, FakeSources, fixed_clock
from tui.app.app import make_app


@pytest.fixture(autouse=True)
def _utc(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def app_for(colour: bool, monkeypatch):
    if colour:
        monkeypatch.delenv("NO_COLOR", raising=False)  # read when the app is created
    else:
        monkeypatch.setenv("NO_COLOR", "1")
    settings = Settings(refresh=3600.0)  # one poll: nothing moves while the screenshot is taken
    app = make_app(
        FakeSources(), settings, actions=FakeActions(settings), host=FakeHost(), clock=fixed_clock
    )
    app.animation_level = "none"
    return app


async def first_poll(pilot) -> None:
    app = pilot.app
    for _ in range(200):
        if app.polls and app.main.query("RunPanel"):
            break
        await pilot.pause(0.02)
    await pilot.pause()


def test_main_screen_wide(snap_compare, monkeypatch):
    """Side-by-side panels, the system strip and the footer at 120x40, in colour."""

    async def before(pilot):
        await first_poll(pilot)
        await pilot.press("right")  # the running run: its actions are offered in the footer

    assert snap_compare(app_for(True, monkeypatch), terminal_size=(120, 40), run_before=before)


@pytest.mark.slow
def test_compact_80x24_no_color_with_stop_confirmation(snap_compare, monkeypatch):
    """The compact layout of an 80x24 SSH session with NO_COLOR, and the stop dialog naming the
    pid, the command and the run, focus on No."""

    async def before(pilot):
        await first_poll(pilot)
        await pilot.press("down", "s")

    assert snap_compare(app_for(False, monkeypatch), terminal_size=(80, 24), run_before=before)


@pytest.mark.slow
def test_detail_charts(snap_compare, monkeypatch):
    """The run detail: reward, entropy with its band, grad norm with max_grad_norm, losses."""

    async def before(pilot):
        await first_poll(pilot)
        await pilot.press("right", "enter")
        await pilot.pause(0.2)

    assert snap_compare(app_for(True, monkeypatch), terminal_size=(140, 45), run_before=before)
