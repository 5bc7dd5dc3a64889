"""The TUI's pure helpers: sparklines, checkpoint marks, EMA smoothing, filters, log discovery."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest

from collectors.analysis.compare import config_differences
from collectors.analysis.selection import display_labels, filter_runs
from collectors.model.host import HostStats
from collectors.model.settings import Settings
from tests.tui.fakes import standard_runs
from tui.app.actions import ActionRefused, Actions
from tui.app.sources import log_path, tail_file
from tui.widgets import render as R
from tui.widgets.charts import downsample, ema


def test_sparkline_buckets_and_levels():
    assert R.sparkline([], 10) == ""
    assert R.sparkline([1, 2, 3, 4, 5, 6, 7, 8], 8) == "▁▂▃▄▅▆▇█"
    assert len(R.sparkline(np.arange(1000), 20)) == 20
    assert R.sparkline([5, 5, 5], 10) == "▄▄▄"  # flat: mid-level, never wider than the data
    assert R.sparkline([1, float("nan"), 3], 3) == "▁ █"  # a bucket of NaN only stays blank


def test_checkpoint_marks_along_the_step_axis():
    # 4 of 10 cells trained, checkpoints at 10 % and 30 % of 100
    assert R.checkpoint_marks([10, 30], 40, 100, 10) == "|-|-······"
    # denser than the cells: no aliasing gaps
    marks = R.checkpoint_marks([2_500_000 * k for k in range(1, 41)], 10**8, 10**8, 45)
    assert marks == "|" * 45
    assert R.checkpoint_marks([], 0, None, 5) == "·····"


def test_durations_and_bars_are_readable_without_colour():
    assert R.short_duration(30) == "<1m" and R.short_duration(125) == "2m"
    assert R.short_duration(3725) == "1h02m" and R.short_duration(None) == "-"
    assert R.bar(0.475, 20) == ("█" * 10, "░" * 10)
    assert R.state_text("crashed").plain == "x crashed"


def test_ema_is_tensorboards_debiased_smoothing():
    v = np.array([1.0, 2.0, 3.0, 4.0])
    w = 0.6
    last, expect = 0.0, []
    for i, x in enumerate(v, 1):
        last = last * w + (1 - w) * x
        expect.append(last / (1 - w**i))
    assert np.allclose(ema(v, w), expect)
    assert ema(np.array([1.0, 2.0]), 0.0).tolist() == [1.0, 2.0]
    # a NaN keeps the previous smoothed value instead of poisoning the rest
    out = ema(np.array([1.0, np.nan, 1.0]), 0.5)
    assert out[1] == pytest.approx(1.0) and out[2] == pytest.approx(1.0)


def test_downsample_keeps_the_ends():
    x = np.arange(1000.0)
    xs, ys = downsample(x, x * 2, 50)
    assert len(xs) == 50 and xs[0] == 0 and xs[-1] == 999 and np.all(ys == xs * 2)


def test_config_differences_and_labels():
    runs = standard_runs()
    diff = dict(config_differences(runs[:2]))
    assert diff["algo_args.algo.max_grad_norm"] == ["10", "0.5"]
    assert diff["algo_args.model.lr"] == ["5e-4", "3e-4"]
    assert "algo_args.train.num_env_steps" not in diff
    labels = display_labels(runs, {})
    assert labels["/runs/safe"].startswith("lr=3e-4 max_grad_norm=0.5")

    aliases = {"/runs/safe": "the safe one"}
    assert "/runs/safe" not in display_labels(runs, aliases)  # an alias wins over the label


def test_filter_by_words_in_name_state_label_path():
    runs = standard_runs()
    labels = display_labels(runs, {})
    assert [r.name for r in filter_runs(runs, "crashed", labels)] == ["crashy"]
    assert [r.name for r in filter_runs(runs, "max_grad_norm=0.5", labels)] == ["safe"]
    assert [r.name for r in filter_runs(runs, "runs basic", labels)] == ["basic"]
    assert len(filter_runs(runs, "", labels)) == 3


def test_log_from_command_txt_redirect(tmp_path):
    import dataclasses

    run_dir = tmp_path / "seed-00001-2025-11-19-13-26-03"
    run_dir.mkdir()
    (tmp_path / "train.log").write_text("a\nb\r progress 50%\rprogress 100%\n")
    (run_dir / "command.txt").write_text(
        f"# Training command (2025-11-19 13:26:03, cwd {tmp_path})\n"
        "python -u train.py --exp_name x > train.log 2>&1\n"
    )
    run = dataclasses.replace(standard_runs()[0], path=str(run_dir), process=None)
    path = log_path(run)
    assert path == str(tmp_path / "train.log")
    assert tail_file(path) == ["a", "progress 100%"]


def test_actions_refuse_in_read_only_mode_before_anything():
    actions = Actions(Settings(read_only=True), registry=object())
    for call in (
        lambda: actions.plan_signal("stop", standard_runs()[1]),
        lambda: actions.plan_restart(standard_runs()[1]),
        lambda: actions.plan_launch(command="python train.py"),
    ):
        with pytest.raises(ActionRefused, match="read-only"):
            call()


def test_only_an_identified_live_process_can_be_signalled():
    runs = standard_runs()
    assert Actions.signallable(runs[1])  # found by its open files
    assert not Actions.signallable(runs[0])  # finished: no process
    import dataclasses

    title_only = dataclasses.replace(runs[1].process, how_found="title")
    assert not Actions.signallable(dataclasses.replace(runs[1], process=title_only))


def test_a_data_error_shows_in_full_and_compact_panels():
    import dataclasses

    from tui.widgets.run_panel import PanelContext, _Builder

    run = standard_runs()[0]
    bad = dataclasses.replace(
        run, errors=("/r/logs/x/events.out.tfevents.1.h: 3 corrupt region(s) skipped",)
    )
    ctx = PanelContext(now=run.last_data or 0.0, thresholds={})
    assert "corrupt" in _Builder(bad, ctx, 100).finding_line().plain
    assert "! 1 error" in _Builder(bad, ctx, 100).compact()[2].plain
    assert "error" not in _Builder(run, ctx, 100).compact()[2].plain


def test_labels_split_into_shared_and_own_words():
    common, own = R.split_labels(["lr=3e-4 mgn=0.5 seed=1", "lr=3e-4 mgn=10 seed=1"])
    assert common == "lr=3e-4 seed=1" and own == ["mgn=0.5", "mgn=10"]
    assert R.split_labels(["only one"]) == ("", ["only one"])
    assert R.split_labels(["a", "b"]) == ("", ["a", "b"])


def test_abbreviate_shortens_long_keys_before_cutting():
    label = "max_grad_norm=0.5 use_adv_normalize=true lr=3e-4"
    assert R.abbreviate(label, 80) == label  # room: unchanged
    short = R.abbreviate(label, 36)
    assert short == "mgn=0.5 uan=true lr=3e-4" or short == "max_grad_norm=0.5 uan=true lr=3e-4"
    assert len(short) <= 36 and "lr=3e-4" in short
    tiny = R.abbreviate(label, 10)
    assert len(tiny) <= 10 and tiny.endswith("…")


def test_count_levels():
    class F:
        def __init__(self, level):
            self.level = level

    assert R.count_levels([]) == "-"
    assert R.count_levels([F("ok")]) == "ok"
    assert R.count_levels([F("bad"), F("warn"), F("warn"), F("ok")]) == "1 bad, 2 warn"


@pytest.mark.parametrize("width", [40, 60, 80, 100, 120, 200])
def test_system_strip_packs_whole_items_never_cut_mid_number(width):
    from tui.widgets.system_strip import SystemStrip

    strip = SystemStrip()
    strip.gpus = _many_gpus(8)
    strip.host = HostStats(23.0, 16, 41 * 10**9, 128 * 10**9, 2.5, (10.0, 20.0))
    lines = [t.plain for t in strip._build(width)]
    assert 1 <= len(lines) <= strip.max_lines
    assert all(len(line) <= width for line in lines)
    shown = "\n".join(lines)
    # every GPU is either shown whole (its power figure ends the item) or counted as hidden
    whole = sum(1 for i in range(8) if f"GPU{i} " in shown)
    assert shown.count("310W") == whole
    counted = re.findall(r"\+(\d+) more", shown)
    hidden = int(counted[0]) if counted else 0
    assert whole + hidden + ("CPU" in shown) >= 9


def test_timeline_rows_mark_each_unfinished_run_by_number():
    from tests.tui.fakes import make_run
    from tui.screens.compare import TIMELINE_FRACTIONS, timeline_steps

    runs = [
        make_run("a", state="finished", step=100_000_000),
        make_run("b", state="running", step=47_500_000, pid=1),
        make_run("c", state="crashed", step=47_500_000, run_id="c"),
        make_run("d", state="running", step=50_000_000, pid=2),  # on a fixed row
    ]
    rows = dict(timeline_steps(runs))
    assert rows[47_500_000] == "#2 now, #3 crashed"
    assert rows[50_000_000] == "#4 now"
    fixed = {int(round(100_000_000 * f)) for f in TIMELINE_FRACTIONS}
    assert set(rows) == fixed | {47_500_000}
    assert all(rows[s] == "" for s in fixed - {50_000_000})
    assert [s for s, _ in timeline_steps(runs)] == sorted(rows)


def test_system_strip_height_does_not_jump_back_and_forth():
    """A figure that grows by a digit wraps the strip to two lines; when it shrinks again the
    strip keeps its height, so the panels below do not move every poll."""
    from tui.widgets.system_strip import SystemStrip

    strip = SystemStrip()  # 80 columns when not mounted
    strip.gpus = None
    long_host = HostStats(100.0, 128, 999 * 10**9, 1000 * 10**9, 2.5, (10.0, 20.0))
    strip.set_data(host=HostStats(5.0, 2, 5 * 10**8, 2 * 10**10, 0.1, ()))
    short = len(strip._lines)
    strip.disks = None
    strip.set_data(host=long_host, gpus=_many_gpus(2))
    tall = len(strip._lines)
    assert tall > short
    strip.set_data(host=HostStats(5.0, 2, 5 * 10**8, 2 * 10**10, 0.1, ()), gpus=None)
    assert len(strip._lines) == tall
    strip.set_max_lines(2)  # a new size (the app calls this on resize) may shrink it
    strip.set_data(gpus=None)
    assert len(strip._lines) == short


def _many_gpus(n):
    from collectors.model import GpuDevice, GpuSnapshot

    devs = tuple(
        GpuDevice(i, "NVIDIA H200", None, 87, None, 45 * 10**9, 143 * 10**9, 62, 310.0)
        for i in range(n)
    )
    return GpuSnapshot(True, "", devs, "550", 0.0)


def test_health_quarter_table_fits_80_columns_beside_a_scrollbar():
    from tests.tui.fakes import make_run
    from tui.screens.detail import health_text

    text = health_text(make_run("safe", preset="safe", pid=1)).plain
    table = text.split("Quarters", 1)[1].splitlines()[1:]
    assert len(table) >= 4 and "verdict" in table[0]
    assert any(line.lstrip().startswith("reward") for line in table)
    assert max(len(line) for line in table) <= 78


def test_the_stop_dialog_names_the_configured_grace_period():
    from collectors.config import parse_settings
    from tests.tui.fakes import FakeActions

    run = standard_runs()[1]
    plan = FakeActions(parse_settings("stop_grace: 2\nterm_grace: 1\n")).plan_signal("stop", run)
    assert "SIGTERM after 2 s" in plan.detail
    actions = FakeActions(parse_settings(""))
    assert "SIGTERM after 30 s" in actions.plan_signal("stop", run).detail
    assert actions._graces() == {"int_grace": 30.0, "term_grace": 15.0}


@pytest.mark.parametrize(
    "command",
    ["python x.py > log.txt", "python x.py 2>&1", "python x.py | tee log", "echo $HOME",
     "python x.py >log", "a && b", "python x.py --seed `date`"],
)  # fmt: skip
def test_a_typed_command_with_shell_syntax_needs_the_shell_box(command, tmp_path):
    from collectors.model.settings import Settings
    from tests.tui.fakes import FakeActions

    actions = FakeActions(Settings())
    with pytest.raises(ActionRefused, match="shell syntax.*through /bin/sh"):
        actions.plan_launch(command=command, cwd=str(tmp_path))
    plan = actions.plan_launch(command=command, cwd=str(tmp_path), shell=True)
    assert plan.spec.shell and plan.spec.argv == (command,)
    assert plan.detail.startswith("through /bin/sh")


def test_a_plain_typed_command_runs_without_a_shell(tmp_path):
    from collectors.model.settings import Settings
    from tests.tui.fakes import FakeActions

    plan = FakeActions(Settings()).plan_launch(
        command="python train.py --exp_name 'a b' --note '' --lr=3e-4", cwd=str(tmp_path)
    )
    assert not plan.spec.shell and "/bin/sh" not in plan.detail
    assert plan.spec.argv == ("python", "train.py", "--exp_name", "a b", "--note", "", "--lr=3e-4")


def test_compact_panel_shows_the_worst_agent_and_the_clip_value():
    from collectors.model.findings import Band, Finding
    from collectors.model.run import ScalarLatest
    from tui.widgets.run_panel import PanelContext, _Builder

    run = standard_runs()[1]  # max_grad_norm 0.5
    scalars = dict(run.scalars)
    scalars["agent0/dist_entropy"] = ScalarLatest(run.step, 1.5, 10)
    scalars["agent1/dist_entropy"] = ScalarLatest(run.step, 2.4, 10)  # above the band
    band = Band(1.0, 2.0, 0.5, 3.0)
    judged = tuple(
        Finding(
            "entropy",
            level,
            f"{a} entropy {v}",
            run.step,
            f"{a}/dist_entropy",
            value=v,
            band=band,
            metric="entropy",
            agent=a,
        )
        for a, level, v in (("agent0", "ok", 1.5), ("agent1", "warn", 2.4))
    )
    run = dataclasses.replace(run, scalars=scalars, health=judged)
    ctx = PanelContext(now=run.last_data or 0.0, thresholds={})
    line = _Builder(run, ctx, 100).compact()[2].plain
    assert "ent 2.40!" in line and "/0.5" in line.split("gn ", 1)[1]
    full = "\n".join(t.plain for t in _Builder(run, ctx, 100).full())
    assert "entropy 1.50/2.40!" in full


def test_compare_keys_in_full_or_by_their_unique_suffix():
    from tui.screens.compare import key_texts

    keys = ["algo_args.train.lr", "algo_args.model.lr", "algo_args.algo.max_grad_norm"]
    assert key_texts(keys, 40) == keys  # they fit: in full
    assert key_texts(keys, 12) == ["…train.lr", "…model.lr", "…max_grad_norm"]
    assert key_texts(["x.b", "b"], 1) == ["x.b", "b"]  # "b" alone would be the other key


def test_run_names_lead_with_the_words_that_tell_them_apart():
    from tui.widgets.render import telling_order

    labels = [
        "lr=5e-4 max_grad_norm=10 seed=1",
        "lr=3e-4 max_grad_norm=0.5 seed=1",
        "lr=5e-4 max_grad_norm=10 seed=3",
    ]
    assert telling_order(labels) == [
        "lr=5e-4 seed=1 max_grad_norm=10",
        "lr=3e-4 seed=1 max_grad_norm=0.5",
        "lr=5e-4 seed=3 max_grad_norm=10",
    ]
    assert telling_order(["cuboid s1", "cuboid s2"]) == ["cuboid s1", "cuboid s2"]  # not k=v
    assert telling_order(["a=1"]) == ["a=1"]
