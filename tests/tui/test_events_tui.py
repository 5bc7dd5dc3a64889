"""Events in the monitor: notifications, the terminal title, the bell, the events log (e) and the
on_event command, driven with Pilot over fake sources whose runs change state."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import textwrap

import pytest

from collectors.model import events as E
from collectors.model.events import Event
from collectors.model.findings import BAD, Finding
from collectors.model.run import CRASHED, STALLED
from collectors.model.settings import Settings
from tests.tui.fakes import NOW, aio, snapshot, standard_runs
from tests.tui.test_pilot import build, palette, started, top, until
from tui.app import alerts
from tui.screens.events import EventsScreen
from tui.screens.main_screen import MainScreen

pytestmark = pytest.mark.slow  # a real app


def toasts(app) -> list[str]:
    return [f"{n.title} | {n.message}" for n in app._notifications]


def later(runs, **changes_by_name):
    """The runs one poll later (the snapshot's time moves on), some changed."""
    out = []
    for r in runs:
        out.append(
            dataclasses.replace(r, **changes_by_name[r.name]) if r.name in changes_by_name else r
        )
    return tuple(out)


@aio
async def test_start_up_is_quiet_and_a_crash_while_watching_is_news():
    app, sources, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        await pilot.pause(0.5)  # a few polls of the same runs
        # one run (crashy) was crashed before the monitor started: no toast, but the title
        assert not [t for t in toasts(app) if "crashed" in t]
        assert app.terminal_title == "happo-top: 1 crashed"
        assert list(app.alerts.log) == []
        runs = standard_runs()
        sources.snap = dataclasses.replace(
            sources.snap, time=NOW + 10, runs=later(runs, safe={"state": CRASHED})
        )
        await until(pilot, lambda: any("safe: crashed" in t for t in toasts(app)))
        assert app.terminal_title == "happo-top: 2 crashed"
        (event,) = app.alerts.log
        assert event.kind == E.CRASHED and event.run_id == "bbbb0002"
        # the events log, and Enter on its row goes to the run
        await pilot.press("e")
        assert isinstance(app.screen, EventsScreen)
        table = app.screen.query_one("#events-table")
        assert table.row_count == 1
        row = [str(c) for c in table.get_row_at(0)]
        assert row[1] == "safe" and row[2] == "crashed" and row[3].startswith("crashed at 47.5M")
        await pilot.press("enter")
        assert isinstance(app.screen, MainScreen)
        assert app.main.selected_id == "bbbb0002"


@aio
async def test_a_burst_of_events_is_summed_up_and_the_bell_rings_once():
    app, sources, _ = build(bell=True)
    rings = []
    app.bell = lambda: rings.append(1)  # the terminal's bell: counted here
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        runs = standard_runs()
        bad = Finding("entropy", BAD, "agent0 entropy 0.2 < 0.5", metric="entropy", agent="agent0")
        extra = tuple(
            dataclasses.replace(runs[1], id=f"eeee000{i}", path=f"/runs/x{i}", name=f"x{i}")
            for i in range(4)
        )
        sources.snap = dataclasses.replace(sources.snap, runs=runs + extra)
        await until(pilot, lambda: len(app.alerts.log) == 0 and app.polls > 2)
        await pilot.pause(0.3)
        changed = tuple(dataclasses.replace(r, state=STALLED) for r in extra)
        safe = dataclasses.replace(runs[1], health=(bad, *runs[1].health))
        sources.snap = dataclasses.replace(
            sources.snap, time=NOW + 10, runs=(runs[0], safe, runs[2], *changed)
        )
        await until(pilot, lambda: len(app.alerts.log) == 5)
        await pilot.pause(0.2)
        assert rings == [1]  # one bell for the poll, for the bad finding
        shown = toasts(app)
        assert sum("more events" in t for t in shown) == 1
        assert any("2 more events | 2 stalled" in t for t in shown)
        assert app.terminal_title == "happo-top: 1 crashed, 4 stalled, 1 unhealthy"


@aio
async def test_the_on_event_command_runs_and_its_failure_is_in_the_log(tmp_path):
    got = tmp_path / "got.ndjson"
    script = tmp_path / "hook.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, os, sys
            doc = json.load(sys.stdin)
            with open({str(got)!r}, "a") as f:
                f.write(json.dumps([doc, os.environ["HAPPO_TOP_RUN"]]) + "\\n")
            sys.exit(0 if doc["kind"] == "crashed" else 4)
            """
        )
    )

    app, sources, _ = build(on_event=(sys.executable, str(script)))
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        runs = standard_runs()
        sources.snap = dataclasses.replace(
            sources.snap, time=NOW + 10, runs=later(runs, safe={"state": CRASHED})
        )
        await until(pilot, lambda: got.exists() and got.read_text().count("\n") == 1, 20)
        sources.snap = dataclasses.replace(
            sources.snap, time=NOW + 20, runs=later(runs, safe={"state": STALLED})
        )
        await until(pilot, lambda: any(e.kind == E.HOOK_FAILED for e in app.alerts.log), 20)
        failed = next(e for e in app.alerts.log if e.kind == E.HOOK_FAILED)
        name = os.path.basename(sys.executable)
        assert failed.message == f"on_event command {name} exited 4"
        assert any("on_event" in t and "exited 4" in t for t in toasts(app))
        await pilot.press("e")
        table = app.screen.query_one("#events-table")
        assert "hook-failed" in [str(c) for c in table.get_row_at(0)]
    doc, run = json.loads(got.read_text().splitlines()[0])
    assert doc["kind"] == "crashed" and doc["run_id"] == "bbbb0002" and run == "safe"


def test_title_text_and_escape():
    assert alerts.title(None) == "happo-top"
    assert alerts.title_sequence("a\x07b\x1b]0;evil") == "\x1b]2;ab]0;evil\x07"


def test_good_news_is_logged_not_toasted():
    def ev(kind, severity=E.INFO, name="r"):
        return Event(NOW, kind, severity, kind, run_name=name)

    shown = alerts.toasts([ev(E.HEALTH_OK), ev(E.APPEARED), ev(E.FINISHED)])
    assert [t.title for t in shown] == ["r: finished"]
    burst = alerts.toasts([ev(E.STALLED, E.WARNING, f"r{i}") for i in range(5)])
    assert [t.title for t in burst] == [
        "r0: stalled",
        "r1: stalled",
        "r2: stalled",
        "2 more events",
    ]
    assert burst[-1].message == "2 stalled (e: the events log)"


@aio
async def test_the_palette_opens_the_events_log():
    app, _, _ = build()
    async with app.run_test(size=(120, 40)) as pilot:
        await started(pilot, app)
        p = await palette(pilot, app, "events log")
        await until(pilot, lambda: top(p) == "Events log")
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EventsScreen))
        assert "none yet" in str(app.screen.query_one("#events-head").render())
        await pilot.press("e")  # e again (or Esc) goes back
        assert isinstance(app.screen, MainScreen)


def test_a_finding_flapping_around_its_threshold_is_told_once_in_ten_minutes():
    runs = standard_runs()
    bad = Finding("entropy", BAD, "entropy low", metric="entropy", agent="agent0")
    ok_run, bad_run = runs[1], dataclasses.replace(runs[1], health=(bad,))
    a = alerts.Alerts(Settings())

    def poll(run, t):
        return a.observe(dataclasses.replace(snapshot((runs[0], run, runs[2])), time=t), {})

    assert poll(ok_run, NOW) == []  # the baseline
    assert [e.kind for e in poll(bad_run, NOW + 2)] == [E.HEALTH_BAD]
    assert [e.kind for e in poll(ok_run, NOW + 60)] == [E.HEALTH_OK]  # told (and logged)
    assert poll(bad_run, NOW + 120) == []  # bad again 2 min later: logged only
    assert [e.kind for e in a.log] == [E.HEALTH_BAD, E.HEALTH_OK, E.HEALTH_BAD]
    poll(ok_run, NOW + 700)
    assert [e.kind for e in poll(bad_run, NOW + 800)] == [E.HEALTH_BAD]  # 13 min after: told
