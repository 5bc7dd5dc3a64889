"""The charts' axis arithmetic (tui.widgets.scales) checked as properties over many ranges, and a
chart rendered for real: every labelled y tick is on the row that draws its value."""

from __future__ import annotations

import asyncio
import math
import time

import numpy as np
import pytest
from textual.app import App

from tests.tui.fakes import view
from tui.widgets import scales
from tui.widgets.charts import (
    RAW_MARKER,
    ChartView,
    Line,
    SeriesChart,
    Threshold,
    cursor_step,
    cursor_x,
    ticks,
    value_text,
)


def ranges(n: int = 400, seed: int = 7):
    """(lo, hi, rows): spans from 1e-7 to 1e7, offsets of either sign, 2 to 40 rows."""
    rng = np.random.default_rng(seed)
    for _ in range(n):
        span = 10.0 ** rng.uniform(-7, 7)
        centre = rng.choice([0.0, 1.0, -1.0]) * span * 10.0 ** rng.uniform(-2, 2)
        lo = centre - span * rng.uniform(0, 1)
        yield lo, lo + span, int(rng.integers(3, 41))


def test_every_y_tick_is_a_round_value_on_the_row_that_holds_it():
    for lo, hi, rows in ranges():
        axis = scales.y_axis(lo, hi, rows)
        assert axis is not None, (lo, hi, rows)
        assert axis.lo <= lo + 1e-9 * abs(lo) and axis.hi >= hi - 1e-9 * abs(hi)  # data fits
        assert 2 <= len(axis.ticks) <= 5
        assert len(set(axis.labels)) == len(axis.labels)  # no two ticks read the same
        rows_used = [axis.row_of(t) for t in axis.ticks]
        assert rows_used == sorted(set(rows_used)), "one tick a row, bottom to top"
        assert all(0 <= r < rows for r in rows_used)
        for t, r in zip(axis.ticks, rows_used, strict=True):
            low, high = scales.row_span(axis, r)  # what a braille curve draws on that row
            assert low <= t <= high, (lo, hi, rows, t, r)
        steps = np.diff(axis.ticks)
        assert np.allclose(steps, steps[0], rtol=1e-6)  # evenly spaced
        mantissa = steps[0] / 10 ** math.floor(math.log10(steps[0]) + 1e-9)
        assert any(math.isclose(mantissa, m, rel_tol=1e-6) for m in (*scales.NICE, 10)), steps
        for t, label in zip(axis.ticks, axis.labels, strict=True):
            assert math.isclose(float(label), t, rel_tol=1e-3, abs_tol=steps[0] * 1e-3), label


def test_the_curve_keeps_most_of_the_height():
    wasted = [
        (hi - lo) / (a.hi - a.lo)
        for lo, hi, rows in ranges()
        if rows >= 6 and (a := scales.y_axis(lo, hi, rows))
    ]
    assert np.median(wasted) > 0.7 and min(wasted) > 0.35


def test_the_issue_example_reads_round_values():
    axis = scales.y_axis(-23.0, -12.6, 12)
    assert axis.labels == ("-22", "-20", "-18", "-16", "-14") or all(
        float(s) % 1 == 0 or float(s) * 2 % 1 == 0 for s in axis.labels
    )
    assert "-12.6" not in axis.labels and "-17.8" not in axis.labels


def test_two_rows_still_get_an_axis():
    axis = scales.y_axis(-0.37, 0.07, 2)
    assert axis.lo <= -0.37 and axis.hi >= 0.07 and len(axis.ticks) <= 2


def test_tiny_values_are_labelled_in_scientific_notation():
    axis = scales.y_axis(1.2e-5, 3.4e-5, 10)
    assert all("e-05" in s for s in axis.labels if s != "0"), axis.labels
    assert scales.labels([0.0, 0.5, 1.0], 0.5) == ["0.0", "0.5", "1.0"]
    assert scales.labels([0.0, 0.25], 0.25) == ["0.00", "0.25"]


def test_x_ticks_are_round_steps():
    pos, labels = ticks(0, 43e6, "step", now=0)
    assert labels == ["0", "10M", "20M", "30M", "40M"]
    assert ticks(1e6, 1.9e6, "step", now=0)[1] == ["1M", "1.2M", "1.4M", "1.6M", "1.8M"]
    for lo, hi, _ in ranges(200):
        xs = scales.x_ticks(lo, hi, 5)
        assert 2 <= len(xs) <= 5 and all(
            lo - 1e-9 * abs(lo) <= x <= hi + 1e-9 * abs(hi) for x in xs
        )


def test_time_ticks_fall_on_round_times():
    assert ticks(0, 0.5, "relative", now=0)[1] == ["0m", "10m", "20m", "30m"]
    assert ticks(0, 10, "relative", now=0)[1] == ["0h", "2h", "4h", "6h", "8h", "10h"][:5] or (
        ticks(0, 10, "relative", now=0)[1][-1].endswith("h")
    )
    assert ticks(0, 240, "relative", now=0)[1][-1] == "10d"
    t0 = time.mktime((2026, 11, 25, 9, 0, 7, 0, 0, -1))
    pos, labels = ticks(t0, t0 + 300, "wall", now=t0)
    assert labels == ["09:01", "09:02", "09:03", "09:04", "09:05"]
    pos, labels = ticks(t0, t0 + 50, "wall", now=t0)
    assert labels[0] == "09:00:10" and all(s[-1] == "0" for s in labels)
    assert ticks(t0, t0 + 4 * 3600, "wall", now=t0)[1][-1] == "13:00"


def test_log_axis_labels_round_values_on_the_rows_that_draw_them():
    axis = scales.log_axis(-4.2, 0.3, 12)
    assert set(axis.labels) <= {"1e-04", "0.001", "0.01", "0.1", "1"} and len(axis.labels) >= 3
    narrow = scales.log_axis(math.log10(1.35), math.log10(1.62), 10)
    assert narrow.labels and all(
        float(s) in (1.35, 1.4, 1.45, 1.5, 1.55, 1.6) for s in narrow.labels
    )
    for lo, hi, rows in ranges(300, seed=3):
        if lo <= 0:
            continue
        axis = scales.log_axis(math.log10(lo), math.log10(hi), rows)
        for t, label in zip(axis.ticks, axis.labels, strict=True):
            low, high = scales.row_span(axis, axis.row_of(t))
            assert low <= t <= high
            assert math.isclose(float(label), 10**t, rel_tol=1e-2), (label, 10**t)
    assert np.isnan(scales.log_values(np.array([-1.0, 0.0]))).all()


def test_threshold_far_from_the_data_is_not_drawn():
    assert scales.threshold_place(10, 0.1, 0.9) == "above"
    assert scales.threshold_place(0.95, 0.1, 0.9) == "in"
    assert scales.threshold_place(-5, 0.1, 0.9) == "below"


def test_window_and_readout():
    assert scales.window(0, 100, 1.0) == (0, 100)
    assert scales.window(0, 100, 0.25) == (75, 100)
    assert scales.window(0, 100, 0.25, pan=1) == (50, 75)
    assert scales.window(0, 100, 0.25, pan=99) == (0, 25)  # never past the first point
    x, y = np.array([0.0, 10, 20]), np.array([1.0, 2, 3])
    assert scales.value_at(x, y, 15) == (10, 2) and scales.value_at(x, y, -5) == (0, 1)


class _Host(App):
    def __init__(self, chart: SeriesChart) -> None:
        super().__init__()
        self.chart = chart

    def compose(self):
        yield self.chart


def _render(chart: SeriesChart, size=(80, 20)) -> list[str]:
    async def go() -> list[str]:
        app = _Host(chart)
        async with app.run_test(size=size) as pilot:
            await pilot.pause(0.1)
            return chart.render().plain.splitlines()

    return asyncio.run(go())


def _plateaus(levels, n=40):
    steps = np.arange(len(levels) * n, dtype=np.int64) * 1000
    values = np.repeat(np.asarray(levels, dtype=np.float64), n)
    return view(steps, values, 1e9 + steps / 100.0)


@pytest.mark.parametrize("size", [(80, 20), (60, 12), (120, 30)])
def test_rendered_ticks_sit_on_the_rows_their_values_are_drawn_on(size):
    levels = list(range(11))  # a staircase 0..10: each tick value is one stair
    chart = SeriesChart("stairs")
    chart.set_lines([Line("s", _plateaus(levels))], smoothing=0.0)
    lines = _render(chart, size)
    axis = chart.axis
    assert axis is not None and lines[0].startswith("stairs")
    plot = lines[1:]
    width = len(plot[0])
    label_w = plot[1].index("│") if "│" in plot[1] else plot[1].index("┤")
    canvas = width - label_w - 2
    for t, label in zip(axis.ticks, axis.labels, strict=True):
        if t != int(t):
            continue  # between two stairs
        row = next(i for i, ln in enumerate(plot) if ln[:label_w].strip() == label)
        stair = levels.index(round(t))
        c0 = label_w + 1 + int(canvas * (stair + 0.3) / len(levels))
        c1 = label_w + 1 + int(canvas * (stair + 0.7) / len(levels))
        cells = plot[row][c0:c1]
        assert any("\u2800" < ch <= "\u28ff" for ch in cells), (label, row, cells, plot)


def test_a_far_threshold_leaves_the_scale_to_the_data_and_says_so():
    chart = SeriesChart("grad norm")
    steps = np.arange(100, dtype=np.int64) * 1000
    data = view(steps, 0.2 + 0.01 * np.sin(steps / 5000.0), 1e9 + steps / 100.0)
    chart.set_lines([Line("agent0", data)], [Threshold(10.0, "max_grad_norm 10")])
    lines = _render(chart)
    assert chart.axis.hi < 1.0  # not stretched to 10
    assert "↑ max_grad_norm 10 above" in lines[0]


def test_log_y_window_and_cursor_readout():
    chart = SeriesChart("loss")
    steps = np.arange(1, 201, dtype=np.int64) * 1000
    data = view(steps, 10.0 ** (-steps / 50_000.0), 1e9 + steps / 100.0)
    chart.set_lines(
        [Line("loss", data)], smoothing=0.0, view=ChartView(log_y=True, zoom=0.5, cursor=1.0)
    )
    lines = _render(chart)
    assert chart.window == (100_000.0, 200_000.0)  # the last half of 0..200k
    assert "@ 200k" in lines[0] and "loss 1.00e-04" in lines[0]
    assert {"1e-04", "0.001"} & set(chart.axis.labels), chart.axis.labels


def test_the_legend_names_every_series_before_any_in_full():
    from tui.widgets.charts import fit_labels

    labels = ["#1 lr=5e-4 seed=1", "#2 lr=3e-4 seed=1", "#3 lr=5e-4 seed=3"]
    assert fit_labels(labels, 200, 30) == labels
    assert fit_labels(labels, 60, 30) == ["#1 lr=5e-4", "#2 lr=3e-4", "#3 lr=5e-4"]
    assert fit_labels(labels, 20, 30) == ["#1", "#2", "#3"]


def test_a_step_axis_starts_at_zero_and_reads_round_steps():
    chart = SeriesChart("reward")
    steps = np.arange(1, 87, dtype=np.int64) * 500_000  # 0.5M .. 43M, as HARL logs
    chart.set_lines([Line("r", view(steps, np.sin(steps / 5e6), 1e9 + steps / 1e4))])
    lines = _render(chart, (80, 16))
    assert chart.window == (0.0, 43_000_000.0)
    assert lines[-1].split() == ["0", "10M", "20M", "30M", "40M"], lines[-1]


def _noisy(n: int = 300):
    steps = np.arange(1, n + 1, dtype=np.int64) * 1000
    values = np.sin(steps / 20_000.0) + np.random.default_rng(3).normal(0, 0.3, n)
    return view(steps, values, 1e9 + steps / 100.0)


def test_without_colour_the_raw_curve_has_its_own_glyph(monkeypatch):
    """Under NO_COLOR the faint raw curve and the smoothed one (series 0: braille) would both be
    plain braille: the raw one is drawn in '·' instead."""
    monkeypatch.setenv("NO_COLOR", "1")
    chart = SeriesChart("reward")
    chart.set_lines([Line("r", _noisy())], smoothing=0.9)
    plot = "\n".join(_render(chart)[1:])
    assert RAW_MARKER in plot
    assert any(0x2801 <= ord(c) <= 0x28FF for c in plot)  # the smoothed curve, braille
    chart = SeriesChart("reward")
    chart.set_lines([Line("r", _noisy())], smoothing=0.0)  # no raw curve: no dots
    assert RAW_MARKER not in "\n".join(_render(chart)[1:])


def test_the_cursor_moves_by_logged_step_and_reads_smoothed_and_raw():
    track = np.array([0.0, 10.0, 30.0, 35.0, 100.0])
    lo, hi = 0.0, 100.0
    on = cursor_step(track, None, lo, hi, right=False)  # off: onto the last point
    assert on == 1.0
    back = cursor_step(track, on, lo, hi, right=False)
    assert cursor_x(back, lo, hi) == pytest.approx(35.0)
    back = cursor_step(track, back, lo, hi, right=False)
    assert cursor_x(back, lo, hi) == pytest.approx(30.0)  # the steps as logged, not 2.5%
    fwd = cursor_step(track, back, lo, hi, right=True)
    assert cursor_x(fwd, lo, hi) == pytest.approx(35.0)
    first = cursor_step(track, 0.0, lo, hi, right=False)
    assert first == 0.0  # it stops at the first point
    # the readout at the cursor: the smoothed value and the raw one of that logged step
    data = _noisy()
    chart = SeriesChart("reward")
    chart.set_lines([Line("r", data)], smoothing=0.9, view=ChartView(cursor=0.5))
    legend = _render(chart)[0]
    lo, hi = chart.window
    i = scales.index_at(chart.track, cursor_x(0.5, lo, hi))
    step = int(chart.track[i])
    raw = float(data.values[np.searchsorted(data.steps, step)])
    assert f"(raw {value_text(raw)})" in legend, legend


def test_a_chart_with_the_inputs_of_one_drawn_before_reuses_its_render():
    """A second chart with the same series, options and size (the detail opened again on the
    run, ``x`` cycled back) shows the kept render and its axis without drawing; new data draws."""
    data = _noisy()
    th = [Threshold(0.5, "limit 0.5")]
    first = SeriesChart("loss")
    first.set_lines([Line("loss", data)], th, view=ChartView(cursor=0.5))
    drawn = _render(first)
    again = SeriesChart("loss")
    again.set_lines([Line("loss", data)], th, view=ChartView(cursor=0.5))
    assert _render(again) == drawn and again.draws == 0
    assert again.axis == first.axis and again.window == first.window
    assert again.track is not None and np.array_equal(again.track, first.track)
    assert again.legend.plain == first.legend.plain and "@ " in again.legend.plain
    newer = view(data.steps, data.values * 2, data.wall)  # a poll brought a new view
    fresh = SeriesChart("loss")
    fresh.set_lines([Line("loss", newer)], th, view=ChartView(cursor=0.5))
    assert _render(fresh) != drawn and fresh.draws == 1


def test_a_kept_wall_clock_render_is_not_shown_on_another_day():
    """Wall-clock ticks carry the date once the viewer's day is not the data's: a render kept
    from the day before is drawn again."""
    data = _noisy()  # wall times from 1e9 s (2001)
    today = SeriesChart("loss")
    today.clock = lambda: 1e9 + 1000.0
    today.set_lines([Line("loss", data)], x_mode="wall")
    drawn = _render(today)
    later = SeriesChart("loss")
    later.clock = lambda: 1e9 + 3 * 86400.0
    later.set_lines([Line("loss", data)], x_mode="wall")
    lines = _render(later)
    assert lines != drawn and later.draws == 1
    assert "-" in lines[-1] and "-" not in drawn[-1]  # "09-09 01:46": the date on another day
