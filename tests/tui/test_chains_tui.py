"""A run chain in the TUI: each segment's panel says where it came from and what continues it,
the parent reads "continued" (not stopped or crashed), and the resumed run's progress is on the
chain's axis. The chain is linked by the engine's real linker (collectors.analysis.chains)."""

from __future__ import annotations

import dataclasses

from collectors.analysis.chains import ChainLinker
from tests.tui.fakes import FakeSources, aio, make_run, snapshot
from tests.tui.test_pilot import build, panels, started, text, until
from tui.screens.compare import CompareScreen
from tui.text.report import render_report
from tui.widgets.system_strip import HeaderBar

TOTAL = 100_000_000


def chained_runs():
    return tuple(ChainLinker().link(chained_inputs()))


def chained_inputs():
    first = make_run("seg1", state="stopped", step=30_000_000, total=TOTAL, run_id="aaaa0001")
    second = make_run(
        "seg2",
        state="stopped",
        step=20_000_000,
        total=TOTAL - 30_000_000,
        run_id="bbbb0002",
        seed=2,
    )
    third = make_run(
        "seg3",
        state="running",
        step=10_000_000,
        total=TOTAL - 50_000_000,
        run_id="cccc0003",
        seed=3,
        pid=4242,
    )
    second = dataclasses.replace(
        second,
        config={
            **second.config,
            "algo_args.train.model_dir": "/runs/seg1/models/rl_model_30000000_steps",
        },
    )
    third = dataclasses.replace(
        third,
        config={
            **third.config,
            "algo_args.train.model_dir": "/runs/seg2/models/rl_model_20000000_steps",
        },
    )
    return [first, second, third]


def test_linker_puts_segments_on_the_chain_axis():
    a, b, c = chained_runs()
    assert a.state == b.state == "continued" and a.continued_by == b.id and b.continued_by == c.id
    assert b.resumed_from.step == 30_000_000 and c.resumed_from.step == 50_000_000
    assert c.step == 60_000_000 and c.own_step == 10_000_000 and c.total_steps == TOTAL
    assert abs(c.progress - 0.6) < 1e-9
    assert c.chain == (a.id, b.id, c.id)
    assert c.resumed_at == (30_000_000, 50_000_000) and b.resumed_at == (30_000_000,)
    assert min(cp.step for cp in c.checkpoints) == 52_500_000
    # one continuous curve: seg1 up to 30M, seg2 from 30M to 50M, then seg3's own points
    tag = c.reward.tag
    steps = c.series[tag].steps
    assert steps[0] == a.series[tag].steps[0] and steps[-1] == 60_000_000
    assert (steps[1:] > steps[:-1]).all()
    assert len(steps) == (a.series[tag].steps <= 30_000_000).sum() + 40 + 20
    # unchanged inputs: the identical objects again (front ends skip them)
    linker = ChainLinker()
    raw = chained_inputs()
    once, again = linker.link(raw), linker.link(raw)
    assert all(x is y for x, y in zip(once, again, strict=True))
    doc = c.to_json()
    assert doc["resumed_from"] == {"id": b.id, "path": b.path, "step": 50_000_000}


@aio
async def test_a_chain_is_one_panel_listing_its_segments():
    """The chain is one panel (its latest segment, titled as the chain); the earlier segments
    have none, and filtering by an earlier segment's id finds the chain's panel."""
    app, _, _ = build(FakeSources(snapshot(chained_runs())))
    async with app.run_test(size=(180, 45)) as pilot:
        await started(pilot, app)
        shown = panels(app)
        assert [p.run.name for p in shown] == ["seg3"]
        last = text(shown[0])
        assert "chain 3 segments: aaaa0001 0-30M, bbbb0002 30M-50M, cccc0003 50M-" in last
        assert "resumed @50M 3/3" in last
        assert "60M / 100M" in last or "60M/100M" in last
        assert "seg1 · chain of 3" in str(shown[0].border_title)
        assert "crashed" not in last and "stopped" not in last
        head = text(app.main.query_one(HeaderBar))
        assert "3 runs" in head and "1/3" not in head  # every run is on screen, in the chain
        await pilot.press("slash", *"aaaa0001")
        await pilot.pause(0.2)
        assert [p.run.name for p in panels(app)] == ["seg3"]
        await pilot.press("escape")
        await pilot.press("slash", *"zzzz")
        await until(pilot, lambda: not panels(app))


@aio
async def test_an_unchained_run_keeps_its_own_panel():
    a, b, c = chained_inputs()  # not linked: three runs, three panels, no chain line
    app, _, _ = build(FakeSources(snapshot((a, b, c))))
    async with app.run_test(size=(180, 45)) as pilot:
        await started(pilot, app)
        assert sorted(p.run.name for p in panels(app)) == ["seg1", "seg2", "seg3"]
        assert all("chain" not in text(p) for p in panels(app))


@aio
async def test_chain_detail_charts_are_marked_where_it_resumed():
    from tui.screens.detail import RunDetailScreen
    from tui.widgets.charts import SeriesChart

    app, _, _ = build(FakeSources(snapshot(chained_runs())))
    async with app.run_test(size=(180, 50)) as pilot:
        await started(pilot, app)
        panel = next(p for p in panels(app) if p.run.name == "seg3")
        panel.focus()
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause(0.3)
        assert isinstance(app.screen, RunDetailScreen)
        charts = list(app.screen.query(SeriesChart))
        assert charts and all(ch.marks == (30_000_000, 50_000_000) for ch in charts)
        reward = next(ch for ch in charts if ch.lines and "reward" in ch.title.lower())
        assert int(reward.lines[0].view.steps[0]) < 30_000_000  # the parent's part is drawn
        head = text(app.screen.query_one("#detail-head"))
        assert "chain 3 segments: aaaa0001 0-30M, bbbb0002 30M-50M, cccc0003 50M-" in head


@aio
async def test_compare_shows_a_chain_as_one_run_with_a_row_per_segment():
    other = make_run("basic", state="finished", step=100_000_000, run_id="dddd0004", seed=4)
    app, _, _ = build(FakeSources(snapshot((*chained_runs(), other))))
    async with app.run_test(size=(180, 45)) as pilot:
        await started(pilot, app)
        assert sorted(p.run.name for p in panels(app)) == ["basic", "seg3"]
        for p in panels(app):
            p.focus()
            await pilot.pause()
            await pilot.press("space")
        assert sorted(r.name for r in app.main.marked_runs()) == ["basic", "seg3"]
        await pilot.press("c")
        await pilot.pause(0.2)
        assert isinstance(app.screen, CompareScreen) and len(app.screen.runs) == 2
        await pilot.press("4")
        await pilot.pause(0.3)
        table = app.screen.query_one("#summary-table")
        rows = {str(table.get_row_at(i)[0]): table.get_row_at(i) for i in range(table.row_count)}
        chain = next(i for i, r in enumerate(app.screen.runs) if r.name == "seg3") + 1
        assert [str(rows[f"segment {k}"][chain]) for k in (1, 2, 3)] == [
            "aaaa0001 0-30M",
            "bbbb0002 30M-50M",
            "cccc0003 50M-",
        ]
        assert str(rows["segment 1"][3 - chain]) == "-"
        assert "segment 4" not in rows


def test_report_shows_a_chain_as_one_run_with_its_segments():
    runs = chained_runs()
    text = render_report(runs, runs[-1].last_data or 0.0)
    assert "**Runs**: 1 (1 running)" in text
    assert "### Run 1: seg3 (RUNNING)" in text and "seg1 (" not in text
    assert "- **Segments**: 3: aaaa0001 0-30M, bbbb0002 30M-50M, cccc0003 50M-" in text
    alone = render_report(runs[:1], runs[0].last_data or 0.0)  # an earlier segment asked alone
    assert "### Run 1: seg1 (CONTINUED)" in alone and "**Segments**" not in alone


@aio
async def test_going_to_an_earlier_segment_focuses_the_chain_panel():
    app, _, _ = build(FakeSources(snapshot(chained_runs())))
    async with app.run_test(size=(180, 45)) as pilot:
        await started(pilot, app)
        app.goto_run("aaaa0001")
        await pilot.pause(0.1)
        assert app.focused is panels(app)[0] and app.main.selected_id == "cccc0003"
