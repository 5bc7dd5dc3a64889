"""A run chain in the TUI: each segment's panel says where it came from and what continues it,
the parent reads "continued" (not stopped or crashed), and the resumed run's progress is on the
chain's axis. The chain is linked by the engine's real linker (collectors.analysis.chains)."""

from __future__ import annotations

import dataclasses

from collectors.analysis.chains import ChainLinker
from tests.tui.fakes import FakeSources, aio, make_run, snapshot
from tests.tui.test_pilot import build, panels, started, text

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
async def test_chain_segments_in_the_panels():
    app, _, _ = build(FakeSources(snapshot(chained_runs())))
    async with app.run_test(size=(180, 45)) as pilot:
        await started(pilot, app)
        by_name = {p.run.name: p for p in panels(app)}
        first, last = text(by_name["seg1"]), text(by_name["seg3"])
        assert "continued by bbbb0002" in first and "continued" in first
        assert "crashed" not in first and "stopped" not in first
        assert "resumed @50M 3/3" in last
        assert "60M / 100M" in last or "60M/100M" in last


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
