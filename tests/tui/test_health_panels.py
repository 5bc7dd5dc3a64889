"""The panels, the detail screen and the report show the health rules' findings as they are:
one verdict per run, never judged again against a copy of the thresholds."""

from __future__ import annotations

import dataclasses

import numpy as np

from collectors.analysis.health import evaluate
from collectors.model.findings import Band, Finding
from collectors.model.run import ScalarLatest
from tests.tui.fakes import make_run
from tui.screens.detail import RATIO_TITLE, chart_specs, deviation_view
from tui.text.report import render_report
from tui.widgets import render as R
from tui.widgets.run_panel import PanelContext, _Builder

ENTROPY = Band(1.0, 2.0, 0.5, 3.0)


def entropy(agent: str, level: str, value: float, band: Band = ENTROPY) -> Finding:
    return Finding(
        "entropy",
        level,
        f"{agent} entropy {value:.3g}",
        1,
        f"{agent}/dist_entropy",
        value=value,
        band=band,
        metric="entropy",
        agent=agent,
    )


def lines(run, width=100):
    ctx = PanelContext(now=run.last_data or 0.0, thresholds={})
    b = _Builder(run, ctx, width)
    return b.health().plain, b.compact()[2].plain


def test_panel_marks_are_the_findings_levels():
    run = make_run("safe", preset="safe")  # entropy ~1.55, grad ~0.4 under clip 0.5
    # The rules said warn and bad (e.g. with tighter thresholds in force): the panel says so too.
    judged = (
        entropy("agent0", "ok", 1.5),
        entropy("agent1", "warn", 1.6),
        # issue 9: the grad mark is the clipping / grad_spike findings' (never bad on their own)
        Finding("grad_spike", "warn", "spike", 1, "agent0/actor_grad_norm", agent="agent0"),
        Finding("value_loss", "ok", "fine", 1, "critic/value_loss"),
    )
    full, compact = lines(dataclasses.replace(run, health=judged))
    assert "entropy 1.54/1.59!" in full and "grad 0.43/0.5!" in full and "vloss 0.41✓" in full
    assert "ent " in compact and "/0.5!" in compact


def test_without_findings_nothing_is_judged():
    run = make_run("safe", preset="safe", health=())
    full, _ = lines(run)
    assert "entropy 1.54/1.59·" in full and "grad 0.43/0.5·" in full and "vloss 0.41·" in full


def test_compact_panel_shows_the_agent_furthest_outside_its_band():
    run = make_run("safe", preset="safe")
    scalars = dict(run.scalars)
    scalars["agent0/dist_entropy"] = ScalarLatest(run.step, 1.5, 10)
    scalars["agent1/dist_entropy"] = ScalarLatest(run.step, 2.4, 10)
    judged = (entropy("agent0", "ok", 1.5), entropy("agent1", "warn", 2.4))
    _, compact = lines(dataclasses.replace(run, scalars=scalars, health=judged))
    assert "ent 2.40!" in compact
    # A band that puts agent0 further out (as a config's thresholds might): agent0 is shown.
    wide = Band(1.8, 2.6, 0.5, 3.0)
    judged = (entropy("agent0", "warn", 1.5, wide), entropy("agent1", "ok", 2.4, wide))
    _, compact = lines(dataclasses.replace(run, scalars=scalars, health=judged))
    assert "ent 1.50!" in compact


def test_monitor_findings_give_the_marks_the_old_panel_computed():
    run = make_run("safe", preset="safe")
    run = dataclasses.replace(run, health=evaluate(run, now=run.last_data))
    full, _ = lines(run)
    assert "entropy 1.54/1.59✓" in full and "vloss 0.41✓" in full
    assert R.level_of(run.health, ("entropy",)) == "ok"
    assert R.level_of((), ("entropy",)) is None


def test_chart_band_lines_use_the_thresholds_in_force():
    run = make_run("safe", preset="safe")
    specs = {title: th for title, _, th in chart_specs(run, {"entropy_low": 1.2})}
    assert [x.value for x in specs["entropy"]] == [1.2, 2.0]
    assert [x.value for x in specs["value loss"]] == [1.0]
    # Issue 9: with use_valuenorm no limit line squashes the data; the ratio is drawn as its
    # deviation from 1 (in thousandths) around a line at 0.
    normed = dataclasses.replace(run, config={**run.config, "algo_args.train.use_valuenorm": True})
    specs = {title: th for title, _, th in chart_specs(normed, {})}
    assert specs["value loss"] == [] and [x.value for x in specs[RATIO_TITLE]] == [0.0]
    view = run.series["agent0/ratio"]
    dev = deviation_view(view)
    assert np.allclose(dev.values, (view.values.astype(np.float64) - 1) * 1000, atol=1e-3)
    assert (dev.steps == view.steps).all() and (dev.wall == view.wall).all()
    assert [x.value for x in specs["actor grad norm"]] == [0.5]


def test_report_healthy_column_is_the_band_of_the_finding():
    run = make_run("safe", preset="safe")
    judged = evaluate(run, {"entropy_high": 2.5, "value_loss_max": 0.8}, now=run.last_data)
    text = render_report([dataclasses.replace(run, health=judged)], run.last_data or 0.0)
    health = text.split("## Health metrics by quarter", 1)[1].split("## Findings", 1)[0]
    # Issue 9: grad norms show the clip value and the share of updates it clipped (HARL logs
    # the pre-clip norm), the share of the clipping finding.
    assert "| 1.0-2.5 |" in health and "| <= 0.8 |" in health
    (clipped,) = [f for f in judged if f.rule == "clipping" and f.agent == "agent0"]
    assert f"| clip 0.5: {clipped.value * 100:.0f}% clipped |" in health
    # With use_valuenorm the loss is on normalised returns: judged by its trend, no limit.
    config = {**run.config, "algo_args.train.use_valuenorm": True}
    normed = dataclasses.replace(run, config=config, health=())
    text = render_report([normed], run.last_data or 0.0)
    assert "| trend (normalised) |" in text.split("## Health metrics by quarter", 1)[1]
    # Without findings the thresholds in force give the band.
    unjudged = dataclasses.replace(run, health=())
    plain = render_report([unjudged], run.last_data or 0.0, thresholds={"entropy_low": 1.2})
    assert "| 1.2-2.0 |" in plain.split("## Findings", 1)[0]
