"""The Checkpoints tab and the compare timeline of a copied run from a UTC+9 host, viewed in UTC
(issue 9, "Time"): the times are the events' (not the copy's mtimes) and the zone is said."""

from __future__ import annotations

import calendar
import os
import time

import pytest
from textual.widgets import DataTable, Static

from collectors.model.settings import Settings
from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs.tracker import RunTracker
from tests.tui.fakes import FakeHost, FakeSources, aio, snapshot
from tui.app.app import make_app
from tui.screens.detail import RunDetailScreen

pytestmark = pytest.mark.slow  # a real app

START = float(calendar.timegm((2025, 11, 15, 6, 34, 13, 0, 0, 0)))
COPIED = START + 381 * 86400  # the copy, a year later: "today"


@aio
async def test_checkpoints_tab_of_a_copied_run_from_another_zone(tmp_path):
    old = os.environ.get("TZ")
    os.environ["TZ"] = "UTC"
    time.tzset()
    try:
        run = write_instant_run(
            tmp_path, num_env_steps=20_000_000, start_time=START, utc_offset=9, copied=COPIED
        )
        snap = RunTracker(str(run), Settings(), lambda: COPIED + 60).poll()
        app = make_app(
            FakeSources(snapshot((snap,))),
            Settings(refresh=0.2),
            actions=None,
            host=FakeHost(),
            clock=lambda: COPIED + 60,
        )
        app.animation_level = "none"
        async with app.run_test(size=(80, 24)) as pilot:
            for _ in range(100):
                if app.polls:
                    break
                await pilot.pause(0.02)
            app.push_screen(RunDetailScreen(snap, Settings(), clock=lambda: COPIED + 60))
            await pilot.pause(0.2)
            await pilot.press("2")  # the Checkpoints tab
            await pilot.pause(0.3)
            screen = app.screen
            table = screen.query_one("#ckpt-table", DataTable)
            rows = [table.get_row_at(i) for i in range(table.row_count)]
            assert len(rows) == 8
            assert [r[3] for r in rows] == ["event"] * 8
            shown = [time.strftime("%m-%d %H:%M", time.gmtime(c.time)) for c in snap.checkpoints]
            assert [r[2] for r in rows] == shown  # the events' times (checked in tests/sources)
            assert rows[0][2] == "11-15 06:42" and all(
                r[2].startswith("11-15 07") for r in rows[4:]
            )
            assert all(r[4].endswith(("m", "s")) and "d" not in r[4] for r in rows)  # intervals
            note = str(screen.query_one("#ckpt-note", Static).render())
            assert "viewer's zone (UTC)" in note and "+09:00" in note
    finally:
        if old is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = old
        time.tzset()
