"""The table view of the main screen, driven with Pilot: the default when the panels do not fit,
`v` between table and panels with one selection, sort (`<`/`>`, F6), groups (experiment, seed
group), mark all, and the keys acting on the row on screen."""

from __future__ import annotations

import dataclasses

import pytest
from textual.widgets import OptionList

from tests.tui.fakes import FakeSources, aio, make_run, snapshot
from tests.tui.test_pilot import build, screen_text, until
from tui.screens.detail import RunDetailScreen
from tui.screens.main_screen import MainScreen, SortModal
from tui.screens.modals import ConfirmModal
from tui.widgets.run_panel import RunPanel
from tui.widgets.run_table import GROUP, RunTable

pytestmark = pytest.mark.slow  # a real app


def thirty() -> tuple:
    """30 runs of 3 experiments: every third one running (with a process), the rest finished;
    within an experiment, pairs that differ only by their seed (basic or safe config)."""
    runs = []
    for i in range(30):
        live = i % 3 == 0
        runs.append(
            make_run(
                f"run{i:02d}",
                preset="basic" if i % 2 else "safe",
                state="running" if live else "finished",
                step=(i + 1) * 3_000_000 if live else 100_000_000,
                seed=i + 1,
                pid=3000 + i if live else None,
                run_id=f"id{i:04d}",
                exp=f"exp{i // 10}",
            )
        )
    return tuple(runs)


def table(app) -> RunTable:
    return app.main.query_one(RunTable)


async def shown(pilot, app) -> None:
    await until(pilot, lambda: app.polls > 0 and table(app).keys)
    await pilot.pause()


@aio
async def test_the_table_is_the_default_when_the_panels_do_not_fit():
    app, _, _ = build(FakeSources(snapshot(thirty())))
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, app)
        assert app.main.table_view and table(app).display
        assert not app.main.query(RunPanel)  # no panels built behind it
        text = screen_text(app)
        rows = [ln for ln in text.splitlines() if ln.lstrip().startswith(("> run", "= fin"))]
        assert len(rows) >= 30  # every run on one 120x40 screen
        # running first (the default order), each row with its name and numbers
        assert all("> running" in ln for ln in rows[:10])
        assert "run00" in rows[0] and "3M/100M" in rows[0]
    app, _, _ = build(FakeSources(snapshot(thirty()[:3])))
    async with app.run_test(size=(120, 40)) as pilot:  # three runs: their panels fit
        await until(pilot, lambda: app.polls > 0 and len(app.main.query(RunPanel)) == 3)
        assert not app.main.table_view


@aio
async def test_a_filter_down_to_a_few_runs_shows_their_panels():
    """The view follows the runs the filter lets through: 30 runs are a table, the two of them
    that a filter leaves are panels, and clearing the filter brings the table back."""
    app, _, _ = build(FakeSources(snapshot(thirty())))
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, app)
        assert app.main.table_view
        await pilot.press("slash", *"run0", "1")  # run01 (and nothing else)
        await until(pilot, lambda: not app.main.table_view and app.main.query(RunPanel))
        assert [p.run.name for p in app.main.query(RunPanel) if p.display] == ["run01"]
        await pilot.press("escape")  # the filter cleared
        await until(pilot, lambda: app.main.table_view and table(app).display)


@aio
async def test_v_switches_views_and_the_selection_is_shared():
    app, _, _ = build(FakeSources(snapshot(thirty())))
    async with app.run_test(size=(200, 50)) as pilot:
        await shown(pilot, app)
        await pilot.press("down", "down", "down")
        keys = table(app).keys
        assert app.main.selected_id == keys[3] and table(app).cursor_row == 3
        await pilot.press("v")
        await until(pilot, lambda: getattr(app.focused, "run_id", None) == keys[3])
        assert not app.main.table_view and app.main.selected_id == keys[3]
        await pilot.press("right")  # a panel further on
        await pilot.pause()
        chosen = app.main.selected_id
        assert chosen != keys[3]
        await pilot.press("v")
        await until(pilot, lambda: app.main.table_view and table(app).has_focus)
        assert table(app).selected_key() == chosen


@aio
async def test_end_then_the_keys_act_on_the_last_row_on_screen():
    app, _, actions = build(FakeSources(snapshot(thirty())))
    async with app.run_test(size=(120, 30)) as pilot:  # fewer rows than runs: it scrolls
        await shown(pilot, app)
        t = table(app)
        await pilot.press("end")
        await pilot.pause()
        last = t.keys[-1]
        assert app.main.selected_id == last and t.cursor_row == len(t.keys) - 1
        assert t.scroll_y > 0  # scrolled to it
        assert last in screen_text(app) or app.main.selected_run().name in screen_text(app)
        # a burst typed ahead: every key counts
        await pilot.press("home", "down", "down", "down", "up")
        await pilot.pause()
        assert app.main.selected_id == t.keys[2]
        await pilot.press("G", "K")  # the last row is a finished run: nothing to kill
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)
        await pilot.press("g", "K")  # the first row: running, with a process
        await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
        await pilot.press("escape")
        await pilot.press("G", "enter")
        await until(pilot, lambda: isinstance(app.screen, RunDetailScreen))
        assert app.screen.run_id == last
    assert actions.executed == []


@aio
async def test_sort_by_any_column_with_the_keys_and_f6():
    app, _, _ = build(FakeSources(snapshot(thirty())))
    async with app.run_test(size=(200, 50)) as pilot:
        await shown(pilot, app)
        runs = {r.id: r for r in app.snapshot.runs}
        await pilot.press("greater_than_sign")  # the next column after state: the name
        await pilot.pause()
        assert app.main.sort_column == "name"
        names = [runs[k].name for k in table(app).keys]
        assert names == sorted(names, key=str.lower)
        await pilot.press("f6")
        await until(pilot, lambda: isinstance(app.screen, SortModal))
        box = app.screen.query_one(OptionList)
        box.highlighted = app.screen.columns.index("reward")
        await pilot.press("enter")
        await until(pilot, lambda: app.main.sort_column == "reward")
        await pilot.pause()
        rewards = [runs[k].reward.latest for k in table(app).keys]
        assert rewards == sorted(rewards, reverse=True)  # best first
        assert "reward ▼" in screen_text(app)
        await pilot.press("f6")  # the same column again turns the order round
        await until(pilot, lambda: isinstance(app.screen, SortModal))
        await pilot.press("enter")
        await until(pilot, lambda: not app.main.sort_reverse)
        await pilot.pause()
        rewards = [runs[k].reward.latest for k in table(app).keys]
        assert rewards == sorted(rewards)
        cols = app.main._sortable()
        await pilot.press("less_than_sign", "less_than_sign")  # two columns back
        await pilot.pause()
        assert app.main.sort_column == cols[cols.index("reward") - 2]


@aio
async def test_groups_by_experiment_and_seed_group_and_mark_all():
    app, _, _ = build(FakeSources(snapshot(thirty())))
    async with app.run_test(size=(200, 50)) as pilot:
        await shown(pilot, app)
        await pilot.press("o")  # by experiment: a header row, then its runs
        await until(pilot, lambda: table(app).keys[0] == f"{GROUP}exp:exp0")
        keys = table(app).keys
        assert sum(k.startswith(GROUP) for k in keys) == 3 and len(keys) == 33
        await pilot.press("home", "enter")  # folds exp0
        await until(pilot, lambda: len(table(app).keys) == 23)
        await pilot.press("f5")  # by seed group: runs differing only by seed are one row
        await until(pilot, lambda: app.main.grouping == "seed")
        await pilot.pause()
        rows = table(app).rows_of
        groups = [r for k, r in rows.items() if k.startswith(GROUP)]
        assert len(groups) == 2 and sorted(len(g.runs) for g in groups) == [15, 15]
        text = screen_text(app)
        assert "15 seeds" in text and "±" in text  # mean and spread of the latest reward
        await pilot.press("home", "enter")  # opens the first group: its 15 runs below it
        await until(pilot, lambda: len(table(app).keys) == 17)
        await pilot.press("home", "space")  # marks the whole group
        await pilot.pause()
        assert len(app.main.marked_runs()) == 15
        await pilot.press("a")  # every run on screen
        await pilot.pause()
        assert len(app.main.marked_runs()) == 30
        await pilot.press("slash")
        await pilot.press(*"exp2")
        await pilot.press("enter", "escape", "escape")  # clear the filter, then the marks
        await pilot.press("escape")
        await pilot.pause()
        assert app.main.marked_runs() == []
        await pilot.press("slash", *"exp2", "enter")
        await pilot.pause()
        await pilot.press("a")  # only the ten runs the filter shows
        await pilot.pause()
        assert len(app.main.marked_runs()) == 10
        assert {r.exp_name for r in app.main.marked_runs()} == {"exp2"}


@aio
async def test_the_columns_come_from_the_config():
    app, _, _ = build(
        FakeSources(snapshot(thirty())), table_columns=("state", "name", "reward", "pid")
    )
    async with app.run_test(size=(120, 40)) as pilot:
        await shown(pilot, app)
        head = next(ln for ln in screen_text(app).splitlines() if ln.lstrip().startswith("state"))
        assert head.split() == ["state", "▲", "run", "reward", "pid"]


@aio
async def test_columns_that_do_not_fit_give_way_and_come_back_when_the_terminal_widens():
    """At 80 columns nothing has to be scrolled sideways to be seen: the pid and GPU columns go
    before the run's name, progress and reward, and the label is shortened by its keys'
    initials; at 200 columns every default column is back."""
    app, _, _ = build(FakeSources(snapshot(thirty())))
    async with app.run_test(size=(80, 24)) as pilot:
        await shown(pilot, app)
        shown_cols = table(app).columns_shown
        assert {"state", "name", "progress", "reward"} <= set(shown_cols)
        assert "pid" not in shown_cols and "gpu" not in shown_cols
        widths = sum(c.get_render_width(table(app)) for c in table(app).columns.values())
        assert widths <= 80, (shown_cols, widths)
        lines = screen_text(app).splitlines()
        row = next(ln for ln in lines if "run00" in ln)
        assert "3M/100M" not in row or "%" in row  # progress is on screen
        assert "max_grad_n" not in screen_text(app)  # max_grad_norm is written mgn
        await pilot.resize_terminal(200, 50)
        await until(pilot, lambda: "gpu" in table(app).columns_shown)
        assert table(app).columns_shown == app.main.table_columns


@aio
async def test_a_marked_or_grouped_run_keeps_its_whole_name():
    """The name column is as wide as the longest name plus a marked run's "* " and a grouped
    run's "  └ ": marking or grouping cuts no name short."""
    long = "a_rather_long_experiment_name"  # the name column grows to its content (up to 40)
    runs = tuple(dataclasses.replace(r, name=f"{long}{i:02d}") for i, r in enumerate(thirty()))
    app, _, _ = build(FakeSources(snapshot(runs)))
    async with app.run_test(size=(200, 50)) as pilot:
        await shown(pilot, app)
        assert app.main.table_view
        await pilot.press("home", "space")
        await pilot.pause()
        first = table(app).keys[0]
        name = next(r.name for r in runs if r.id == first)
        assert f"* {name}" in screen_text(app)
        await pilot.press("o")  # grouped by experiment: the runs indented below their group
        await until(pilot, lambda: table(app).keys[0].startswith(GROUP))
        await pilot.pause()
        text = screen_text(app)
        assert all(f"└ {r.name}" in text or f"└ * {r.name}" in text for r in runs)
