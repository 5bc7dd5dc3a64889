"""The run table draws its body cells itself (tui.widgets.run_table.RunTable._render_cell):
exactly what DataTable's Rich path draws, kept by what a cell shows so that a live run's new
step redraws its own cells, not every visible cell."""

from __future__ import annotations

import dataclasses
import itertools

import pytest
from rich.segment import Segment
from textual.widgets import DataTable

from tests.tui.fakes import FakeSources, aio, snapshot
from tests.tui.test_pilot import build, until
from tests.tui.test_table_tui import shown, table, thirty
from tui.widgets.run_table import RunTable

pytestmark = pytest.mark.slow  # a real app


def plain(lines: list[list[Segment]]) -> list[list[tuple]]:
    """Segments as (text, style without its meta, meta), runs of one style merged."""
    return [
        [(s.text, str(s.style), s.style.meta if s.style else None) for s in Segment.simplify(line)]
        for line in lines
    ]


def compare_all(t: RunTable) -> int:
    """Every visible body cell, with and without the cursor and the hover, both ways; how many."""
    styles = [t.rich_style, t.get_component_styles("datatable--even-row").rich_style]
    n = 0
    for row, col in itertools.product(range(len(t.keys)), range(len(t.ordered_columns))):
        width = t.ordered_columns[col].get_render_width(t)
        for base, cursor, hover in itertools.product(styles, (False, True), (False, True)):
            ours = t._render_cell(row, col, base, width, cursor, hover)
            theirs = DataTable._render_cell(t, row, col, base, width, cursor, hover)
            assert plain(ours) == plain(theirs), (t.keys[row], t.columns_shown[col])
            n += 1
    return n


@aio
async def test_the_cells_drawn_here_are_the_cells_datatable_draws():
    runs = thirty()
    # odd content: a wide character, a name with markup-like brackets, an empty label
    runs = (
        dataclasses.replace(runs[0], name="实验 [b]run00[/b]", exp_name="exp[0]"),
        dataclasses.replace(runs[1], exp_name=""),
        *runs[2:],
    )
    app, _, _ = build(FakeSources(snapshot(runs)))
    async with app.run_test(size=(200, 50)) as pilot:
        await shown(pilot, app)
        t = table(app)
        await pilot.press("space")  # a marked row: its name starts with "* "
        await pilot.pause()
        assert compare_all(t) >= 30 * 8
        assert t.cells_drawn > 30 * 8  # drawn here, not handed to DataTable
        await pilot.press("o")  # grouped by experiment: the group rows, the runs indented
        await until(pilot, lambda: any(k.startswith("group:") for k in t.keys))
        await pilot.pause()
        assert compare_all(t) > 0


@aio
async def test_a_new_step_of_one_run_redraws_that_runs_cells_only():
    runs = thirty()
    sources = FakeSources(snapshot(runs))
    app, _, _ = build(sources)
    async with app.run_test(size=(200, 50)) as pilot:
        await shown(pilot, app)
        t = table(app)
        await pilot.pause(0.3)
        app.screen._compositor.render_strips()
        before, rich_before = t.cells_drawn, t.cells_rendered
        live = runs[0]
        sources.snap = snapshot((dataclasses.replace(live, step=live.step + 1_000_000), *runs[1:]))
        polls = app.polls
        await until(pilot, lambda: app.polls > polls + 1)
        await pilot.pause()
        app.screen._compositor.render_strips()
        drawn = t.cells_drawn - before
        assert 0 < drawn <= len(t.columns_shown)  # that run's row, at most
        assert t.cells_rendered == rich_before
