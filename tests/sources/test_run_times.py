"""Times a researcher can trust (issue 9, "Time"): the start, end, duration, speed and checkpoint
times of runs written by the real writer (tensorboardX, through the simulator), checked against
an independent reading of the same event files with TensorBoard's own EventAccumulator; runs
from a host in another time zone, viewed elsewhere; runs whose file times were lost in a copy."""

from __future__ import annotations

import calendar
import json
import os
import time
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

from collectors import fmt
from collectors.model.run_dir import dir_stamp, utc_offset_from
from collectors.model.settings import Settings
from collectors.simulator.trainer import make_copied, write_instant_run
from collectors.sources.runs.tracker import RunTracker
from tests.builders import make_run_dir, write_harl_config
from tests.support import happo_top
from tui.screens.compare import reached, zone_note
from tui.screens.detail import checkpoint_note
from tui.text.report import render_report
from tui.widgets.run_panel import PanelContext, _Builder

# The seed document's basic run (issue 9, "Facts from the real runs"): started 06:34:13 UTC on
# a UTC+9 host (directory seed-00001-2025-11-15-15-34-13), last event 11:38:18 UTC.
START = float(calendar.timegm((2025, 11, 15, 6, 34, 13, 0, 0, 0)))
END = float(calendar.timegm((2025, 11, 15, 11, 38, 18, 0, 0, 0)))
H = 3600.0


def _local(hh: int, mm: int, ss: int = 30) -> float:
    """Seconds after the start at which the +09:00 clock reads hh:mm:ss on the start day."""
    return hh * H + mm * 60 + ss - (15 * H + 34 * 60 + 13)


# The seed's "Checkpoint Timeline" (basic column) as (steps, seconds after the start) knots,
# half a minute past each minute it shows; 100M at the last event.
SEED_PACE = [
    (2.5e6, _local(15, 42)),
    (5e6, _local(15, 49)),
    (10e6, _local(16, 4)),
    (20e6, _local(16, 33)),
    (30e6, _local(17, 2)),
    (40e6, _local(17, 32)),
    (47.5e6, _local(17, 55)),
    (50e6, _local(18, 2)),
    (75e6, _local(19, 18)),
    (100e6, END - START),
]


@pytest.fixture
def tz():
    """Set the viewer's time zone for one test (TZ + time.tzset()), restored afterwards."""
    old = os.environ.get("TZ")

    def set_tz(name: str) -> None:
        os.environ["TZ"] = name
        time.tzset()

    yield set_tz
    if old is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture(scope="module")
def seed_run(tmp_path_factory) -> Path:
    """The basic run as the UTC+9 host wrote it, at the seed document's pace, then copied."""
    root = tmp_path_factory.mktemp("tokyo")
    return write_instant_run(
        root, start_time=START, utc_offset=9, pace=SEED_PACE, copied=END + 381 * 86400
    )


def poll(run: Path, now: float | None = None) -> object:
    clock = (lambda: now) if now is not None else time.time
    return RunTracker(str(run), Settings(), clock).poll()


class Independent:
    """The run's times read with TensorBoard's EventAccumulator, not with happo-top's reader."""

    def __init__(self, run: Path) -> None:
        main = EventAccumulator(str(run / "logs"), size_guidance={SCALARS: 0})
        main.Reload()
        try:
            self.start = main.FirstEventTimestamp()  # the header, written when the writer opens
        except ValueError:  # an empty main file
            self.start = None
        self.walls: dict[str, dict[int, float]] = {}
        for d in sorted({p.parent for p in (run / "logs").rglob("events.out.tfevents.*")}):
            acc = EventAccumulator(str(d), size_guidance={SCALARS: 0})
            acc.Reload()
            for tag in acc.Tags()["scalars"]:
                self.walls.setdefault(tag, {}).update(
                    {e.step: e.wall_time for e in acc.Scalars(tag)}
                )
        rewards = self.walls.get("train_episode_rewards") or self.walls["average_step_reward"]
        self.last_step = max(rewards)
        self.end = max(w for series in self.walls.values() for w in series.values())
        self.rewards = rewards


# --------------------------------------------------------------------------- the model


def test_start_end_speed_and_offset_agree_with_event_accumulator(seed_run, tz):
    tz("UTC")  # viewed on a UTC machine, as in the issue
    ind = Independent(seed_run)
    r = poll(seed_run)
    assert seed_run.name == "seed-00001-2025-11-15-15-34-13"  # the host's local time
    assert ind.start == pytest.approx(START, abs=1e-3)
    assert r.started == pytest.approx(ind.start, abs=1e-3)
    assert r.utc_offset == 9 * 3600
    assert r.state == "finished"
    assert r.ended == pytest.approx(ind.end, abs=0.01) and r.ended >= r.started
    assert r.ended - r.started == pytest.approx(END - START, abs=0.01)  # 5h04m05s
    expected = ind.last_step / (ind.end - ind.start) * 3600.0
    assert r.steps_per_hour == pytest.approx(expected, rel=1e-6)
    assert r.steps_per_hour == pytest.approx(19.7e6, rel=0.005)
    doc = r.to_json()
    assert doc["utc_offset"] == 32400 and doc["started"] == pytest.approx(START, abs=1e-3)


def test_checkpoint_times_are_the_events_at_their_steps_after_a_copy(seed_run):
    ind = Independent(seed_run)
    r = poll(seed_run)
    assert len(r.checkpoints) == 40
    mtimes = {os.stat(c.path).st_mtime for c in r.checkpoints}
    assert len(mtimes) == 1  # copied: every file has one time, a year after the run
    for c in r.checkpoints:
        assert c.time_from == "event"
        assert c.time == pytest.approx(ind.rewards[c.step], abs=0.01), c.step
    intervals = [b.time - a.time for a, b in zip(r.checkpoints, r.checkpoints[1:], strict=False)]
    expected = [
        ind.rewards[b.step] - ind.rewards[a.step]
        for a, b in zip(r.checkpoints, r.checkpoints[1:], strict=False)
    ]
    assert intervals == pytest.approx(expected, abs=0.02)
    assert all(0 < x < 3 * 3600 for x in intervals)  # never "381d03h", never "-"


def test_copied_run_panel_and_checkpoint_tab_show_event_times(seed_run, tz):
    tz("UTC")
    now = END + 381 * 86400 + 60  # "today" is the copy's day
    r = poll(seed_run, now)
    lines = "\n".join(t.plain for t in _Builder(r, PanelContext(now, {}), 76).full())
    assert "done 11-15 11:38 (took 5h04m, 20:38 +09:00)" in lines
    assert "ckpt 40" in lines and "last 11-15 11:38" in lines
    assert "12-" not in lines.split("ckpt", 1)[1]  # no checkpoint dated on the copy's day
    assert max(len(t) for t in lines.splitlines()) <= 76
    note = checkpoint_note(r, now)
    assert "viewer's zone (UTC)" in note and "host is at +09:00" in note
    assert zone_note([r], now) == "times in the viewer's zone (UTC); run hosts: #1 at +09:00"


def test_checkpoint_beyond_the_last_event_of_a_copied_run_is_estimated(tmp_path):
    run = write_instant_run(tmp_path, num_env_steps=10_000_000, start_time=START, finished=False)
    # a save that the events do not cover yet (the writer had not flushed), then a copy
    last = max(int(p.name.split("_")[2]) for p in (run / "models").iterdir())
    extra = run / "models" / f"rl_model_{last + 2_500_000}_steps"
    extra.mkdir()
    for name in ("actor_agent0.pt", "actor_agent1.pt", "critic_agent.pt", "value_normalizer.pt"):
        (extra / name).write_bytes(b"\0" * 100)
    make_copied(run, START + 30 * 86400)
    r = poll(run)
    *covered, beyond = r.checkpoints
    assert all(c.time_from == "event" for c in covered)
    assert beyond.time_from == "estimate"
    assert covered[-1].time < beyond.time < covered[-1].time + 3600
    assert r.to_json()["checkpoints"][-1]["time_from"] == "estimate"


def test_checkpoint_beyond_the_last_event_keeps_its_file_time(tmp_path):
    run = write_instant_run(tmp_path, num_env_steps=10_000_000, start_time=START, finished=False)
    last = max(int(p.name.split("_")[2]) for p in (run / "models").iterdir())
    extra = run / "models" / f"rl_model_{last + 2_500_000}_steps"
    extra.mkdir()
    (extra / "actor_agent0.pt").write_bytes(b"\0")
    t = START + 7200.0
    os.utime(extra / "actor_agent0.pt", (t, t))
    r = poll(run)
    assert r.checkpoints[-1].time_from == "file" and r.checkpoints[-1].time == t


# --------------------------------------------------------------------------- text output


def test_report_from_utc_plus_9_viewed_in_utc(seed_run, tz):
    tz("UTC")
    r = poll(seed_run)
    text = render_report([r], END + 86400)
    assert "- **Started**: 2025-11-15 06:34 UTC (15:34 +09:00 on the run's host)" in text
    assert "- **Ended**: 2025-11-15 11:38 UTC (20:38 +09:00 on the run's host)" in text
    assert "- **Duration**: 5h04m" in text
    assert "- **Speed**: 19.7M steps/hour" in text
    assert "| 2.5M | ✅ 06:42 |" in text  # the viewer's clock...
    assert "Times are in the viewer's zone (UTC); " in text  # ...and it says so
    assert "ran at +09:00" in text
    speed = next(line for line in text.splitlines() if line.startswith("| ") and "19.7M/h" in line)
    assert "5h04m" in speed and "142M" not in text


def test_report_timeline_in_the_runs_own_zone_reads_like_the_seed_table(seed_run, tz):
    tz("JST-9")  # the viewer in the run's own zone (POSIX: 9 hours east of UTC)
    r = poll(seed_run)
    text = render_report([r], END + 86400)
    for steps, hm in [
        ("2.5M", "15:42"),
        ("5M", "15:49"),
        ("10M", "16:04"),
        ("20M", "16:33"),
        ("30M", "17:02"),
        ("40M", "17:32"),
        ("50M", "18:02"),
        ("100M", "20:38"),
    ]:
        assert f"| {steps} | ✅ {hm} |" in text, steps
    assert "Times are in the viewer's zone" not in text  # same zone: nothing to say
    assert "- **Started**: 2025-11-15 15:34 +09:00\n" in text


def test_once_json_carries_utc_offset(seed_run, tz):
    res = happo_top("--once", "--json", str(seed_run.parent), env={"TZ": "UTC"})
    assert res.returncode in (0, 1), res.stderr
    (run,) = json.loads(res.stdout)["runs"]
    assert run["utc_offset"] == 32400
    assert run["started"] == pytest.approx(START, abs=1e-3)
    assert {c["time_from"] for c in run["checkpoints"]} == {"event"}


# --------------------------------------------------------------------------- fallbacks


def test_without_event_files_the_directory_stamp_stands_in(tmp_path, tz):
    tz("UTC")
    run = make_run_dir(tmp_path)
    write_harl_config(run)
    r = poll(run, START + 60)
    assert r.started == dir_stamp(run.name)  # read in the viewer's zone (UTC here)
    assert r.utc_offset is None


def test_empty_main_file_gives_the_start_by_its_name(tmp_path, tz):
    """HARL's main file can stay 0 bytes until the writer closes: its name still dates it."""
    tz("UTC")
    run = write_instant_run(tmp_path, num_env_steps=5_000_000, start_time=START, utc_offset=9)
    (main,) = (run / "logs").glob("events.out.tfevents.*")
    main.write_bytes(b"")
    r = poll(run)
    assert r.started == float(int(START)) and r.utc_offset == 9 * 3600


def test_an_end_is_never_before_the_start(tmp_path):
    run = write_instant_run(tmp_path, num_env_steps=5_000_000, start_time=START)
    (main,) = (run / "logs").glob("events.out.tfevents.*")
    host = main.name.split(".", 4)[4]
    # a main file whose name says a day after every event (an empty one: no header either)
    main.rename(main.with_name(f"events.out.tfevents.{int(START + 86400)}.{host}"))
    main.with_name(main.name.replace(str(int(START)), str(int(START + 86400)))).write_bytes(b"")
    r = poll(run)
    assert r.ended is not None and r.started is not None and r.ended >= r.started
    assert r.started <= min(Independent(run).rewards.values())


def test_utc_offset_rounding():
    stamp = dir_stamp("seed-00001-2025-11-15-15-34-13")
    assert utc_offset_from(stamp, START) == 32400
    assert utc_offset_from(stamp, START + 40) == 32400  # the writer opened a moment later
    assert utc_offset_from(stamp, START + 9 * H - 5.75 * H) == int(5.75 * H)  # Nepal
    assert utc_offset_from(stamp, START - 30 * H) is None  # no real zone: a renamed directory
    assert utc_offset_from(None, START) is None


# --------------------------------------------------------------------------- the simulator


def test_simulator_cli_utc_offset_and_copied(tmp_path):
    res = happo_top(
        "simulate",
        "--instant",
        "--root",
        str(tmp_path),
        "--num-env-steps",
        "5000000",
        "--start-time",
        str(START),
        "--utc-offset",
        "9",
        "--copied",
        env={"TZ": "UTC"},
    )
    assert res.returncode == 0, res.stderr
    (run,) = tmp_path.glob("*/*/*/*/seed-*")
    assert run.name == "seed-00001-2025-11-15-15-34-13"
    (main,) = (run / "logs").glob("events.out.tfevents.*")
    assert main.name.startswith(f"events.out.tfevents.{int(START)}.")
    times = {p.stat().st_mtime for p in run.rglob("*")}
    assert len(times) == 1 and times.pop() > START + 86400  # copied: one time, today


def test_own_clock_says_the_day_when_it_differs(tz):
    tz("UTC")
    evening = float(calendar.timegm((2025, 11, 15, 20, 0, 0, 0, 0, 0)))  # 05:00 next day at +9
    assert fmt.clock(evening, evening) == "20:00"
    assert fmt.own_clock(evening, 9 * 3600, evening) == "11-16 05:00 +09:00"
    assert fmt.own_clock(START, 9 * 3600, START) == "15:34 +09:00"
    assert fmt.own_clock(START, 0, START) == ""  # the viewer's own zone: nothing to add
    assert fmt.own_clock(START, None, START) == ""
    assert fmt.dated_in_zones(evening, 9 * 3600) == (
        "2025-11-15 20:00 UTC (2025-11-16 05:00 +09:00 on the run's host)"
    )


def test_plain_view_at_80_columns_keeps_the_name_and_gives_both_clocks(seed_run):
    res = happo_top("--once", "--plain", "--width", "80", str(seed_run.parent), env={"TZ": "UTC"})
    row = next(line for line in res.stdout.splitlines() if line.startswith("= finished"))
    assert "cuboid s1 11-15 15:34" in row  # the name keeps the directory's (host's) stamp
    assert row.endswith("done 11-15 11:38 (20:38 +9)") and len(row) <= 80
    assert fmt.offset_short(int(5.75 * H)) == "+5:45" and fmt.offset_short(-3 * H) == "-3"


def test_panel_checkpoints_report_and_compare_timeline_agree(seed_run, tz):
    tz("UTC")
    r = poll(seed_run)
    text = render_report([r], END + 86400)
    for c in r.checkpoints:
        wall, _ = reached(r, c.step)
        assert wall == pytest.approx(c.time, abs=0.01), c.step
    for c in (r.checkpoints[0], r.checkpoints[1], r.checkpoints[-1]):
        assert f"| {fmt.steps(c.step)} | ✅ {fmt.clock(c.time, r.started)} |" in text
    last = r.checkpoints[-1]
    lines = "\n".join(t.plain for t in _Builder(r, PanelContext(END + 60, {}), 76).full())
    assert f"last {fmt.clock(last.time, END + 60)}" in lines


@pytest.mark.parametrize("layout", ["B", "U"])
def test_other_layouts_date_checkpoints_by_events_after_a_copy(tmp_path, layout):
    run = write_instant_run(
        tmp_path,
        num_env_steps=30_000_000,
        layout=layout,
        start_time=START,
        utc_offset=9,
        copied=END + 86400,
    )
    ind = Independent(run)
    r = poll(run)
    assert r.started == pytest.approx(START, abs=1e-3) and r.utc_offset == 32400
    assert r.checkpoints and all(c.time_from == "event" for c in r.checkpoints)
    for c in r.checkpoints:
        assert c.time == pytest.approx(ind.walls[r.reward.tag][c.step], abs=0.01)
