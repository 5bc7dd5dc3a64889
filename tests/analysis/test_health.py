"""Health rules on hand-built series with known answers, and on simulated runs."""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pytest

import collectors.analysis.health as health
from collectors.analysis.health.training import row_medians, spike_indices
from collectors.model.run import CRASHED, FINISHED, RUNNING, STALLED, STOPPED
from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs.tracker import RunsCollector
from tests.builders import run_snapshot
from tests.builders import series_view as view

STEPS = np.arange(1, 201) * 500_000  # 200 log points over 100M steps, like the real runs
CLIP = {"algo_args.algo.max_grad_norm": 0.5, "algo_args.algo.use_max_grad_norm": True}


def make_run(series=None, *, state=RUNNING, total=100_000_000, config=None, **kw):
    views = {
        tag: view(*sv) if isinstance(sv, tuple) else view(STEPS, sv)
        for tag, sv in (series or {}).items()
    }
    fields = dict(
        state=state,
        total_steps=total,
        last_data=1.7e9 + 3600,
        config=config if config is not None else dict(CLIP),
    )
    fields.update(kw)
    return run_snapshot(views, **fields)


def by_rule(findings, rule, tag=None):
    return [f for f in findings if f.rule == rule and (tag is None or f.tag == tag)]


def steady(level, sd=0.02, seed=0, n=200):
    return level + np.random.default_rng(seed).normal(0, sd, n)


# -- entropy ------------------------------------------------------------------------------------


def test_healthy_entropy_is_ok():
    fs = health.evaluate(make_run({"agent0/dist_entropy": steady(1.5)}))
    (f,) = by_rule(fs, "entropy")
    assert f.level == "ok" and f.tag == "agent0/dist_entropy"
    assert not by_rule(fs, "entropy_trend")


@pytest.mark.parametrize(
    "level, expected, words",
    [
        (0.3, "bad", "too deterministic"),
        (3.4, "bad", "too random"),
        (0.8, "warn", "below"),
        (2.4, "warn", "above"),
    ],
)
def test_entropy_out_of_band_from_the_step_it_started(level, expected, words):
    values = steady(1.5)
    values[150:] = steady(level, n=50)
    values[170] = 1.5  # one point back in the band does not end the stretch
    fs = health.evaluate(make_run({"agent1/dist_entropy": values}))
    (f,) = by_rule(fs, "entropy")
    assert f.level == expected and words in f.message
    assert f.step == STEPS[150]
    assert f.tag == "agent1/dist_entropy" and "agent1" in f.message


def test_entropy_spike_in_the_past_is_not_a_finding_now():
    values = steady(1.5)
    values[50:60] = 0.2
    values[120] = 5.0
    (f,) = by_rule(health.evaluate(make_run({"agent0/dist_entropy": values})), "entropy")
    assert f.level == "ok"


def test_rising_entropy_is_a_warning():
    rising = np.linspace(1.2, 1.9, 200)
    fs = health.evaluate(make_run({"agent0/dist_entropy": rising}))
    (f,) = by_rule(fs, "entropy_trend")
    assert f.level == "warn" and "rising" in f.message
    # It started in the first quarter after Q1 whose mean is above Q1's by the tolerance.
    q = rising.reshape(4, 50).mean(axis=1)
    assert f.step == STEPS[50 * next(i for i in range(1, 4) if q[i] - q[0] > 0.02 * q[0])]
    # A small rise (under entropy_rise_min) is not.
    small = np.linspace(1.50, 1.62, 200)
    assert not by_rule(health.evaluate(make_run({"agent0/dist_entropy": small})), "entropy_trend")


def test_each_agent_is_analysed():
    fs = health.evaluate(
        make_run({"agent0/dist_entropy": steady(1.5), "agent1/dist_entropy": steady(0.2)})
    )
    levels = {f.tag: f.level for f in by_rule(fs, "entropy")}
    assert levels == {"agent0/dist_entropy": "ok", "agent1/dist_entropy": "bad"}


# -- grad norm ----------------------------------------------------------------------------------


# Changed by issue 9: HARL logs the pre-clip norm (clip_grad_norm_'s return value), so a norm
# above the clip is the clip at work, never "bad"; the rules are clipping and grad_spike.


def test_grad_norm_within_clip_is_never_clipped():
    fs = health.evaluate(make_run({"agent0/actor_grad_norm": steady(0.3)}))
    (f,) = by_rule(fs, "clipping")
    assert f.level == "ok" and f.value == 0.0 and "never clipped" in f.message
    assert not by_rule(fs, "grad_spike")


def test_clipping_share_per_network_is_reported_not_bad():
    rng = np.random.default_rng(4)
    values = rng.uniform(0.2, 0.49, 200)
    idx = np.sort(rng.choice(np.arange(30, 200), 7, replace=False))
    values[idx] = rng.uniform(0.55, 1.4, 7)
    critic = np.where(rng.random(200) < 0.77, 0.9, 0.4)
    fs = health.evaluate(
        make_run({"agent0/actor_grad_norm": values, "critic/critic_grad_norm": critic})
    )
    (a,) = by_rule(fs, "clipping", "agent0/actor_grad_norm")
    (c,) = by_rule(fs, "clipping", "critic/critic_grad_norm")
    assert a.level == c.level == "ok"
    assert a.value == pytest.approx(7 / 200) and "4% of agent0 updates clipped" in a.message
    share = float(np.mean(critic > 0.5))
    assert c.value == pytest.approx(share)
    assert f"{share * 100:.0f}% of critic updates clipped: step size set by max_grad_norm" in (
        c.message
    )


def test_a_grad_spike_against_the_recent_median_warns_and_ages_into_history():
    values = steady(0.3)
    values[90] = 2.0  # 6.7x the median of the points before it
    fs = health.evaluate(make_run({"agent0/actor_grad_norm": values}))
    (f,) = by_rule(fs, "grad_spike")
    assert f.level == "warn" and f.step == STEPS[90] and not f.current
    assert "1 > 5x recent median, last at 45.5M" in f.message
    assert health.worst(fs) == "warn"  # never bad on its own
    values[-1] = 2.0
    (now,) = by_rule(health.evaluate(make_run({"agent0/actor_grad_norm": values})), "grad_spike")
    assert now.current and "now at 100M" in now.message
    relaxed = health.evaluate(
        make_run({"agent0/actor_grad_norm": values}), {"grad_spike_factor": 8.0}
    )
    assert not by_rule(relaxed, "grad_spike")


@pytest.mark.parametrize("n", [5, 21, 200, 5000])
def test_spike_indices_are_exactly_the_rolling_median_definition(n):
    rng = np.random.default_rng(n)
    v = np.exp(0.6 * rng.standard_normal(n)).astype(np.float32)
    v[rng.random(n) < 0.03] *= 9
    expected = [i for i in range(20, n) if v[i] > 5 * np.median(v[i - 20 : i])]
    assert spike_indices(v, 5.0, 20).tolist() == expected


def test_no_clip_no_grad_norm_rule():
    values = steady(30.0)
    off = {"algo_args.algo.max_grad_norm": 0.5, "algo_args.algo.use_max_grad_norm": False}
    assert not by_rule(
        health.evaluate(make_run({"agent0/actor_grad_norm": values}, config=off)), "clipping"
    )
    assert not by_rule(
        health.evaluate(make_run({"agent0/actor_grad_norm": values}, config={})), "clipping"
    )


# -- value loss ---------------------------------------------------------------------------------


def test_value_loss_above_threshold_at_the_end():
    values = steady(0.4)
    values[180:] = steady(1.6, n=20)
    fs = health.evaluate(make_run({"critic/value_loss": values}))
    (f,) = by_rule(fs, "value_loss")
    assert f.level == "warn" and f.step == STEPS[180]
    spikes = steady(0.4)
    spikes[::15] = 3.0  # isolated spikes: the current level is fine
    (g,) = by_rule(health.evaluate(make_run({"critic/value_loss": spikes})), "value_loss")
    assert g.level == "ok"


def test_value_loss_rising_over_quarters():
    values = np.linspace(0.2, 0.8, 200)
    fs = health.evaluate(make_run({"critic/value_loss": values}))
    assert by_rule(fs, "value_loss")[0].level == "ok"
    (f,) = by_rule(fs, "value_loss_trend")
    assert f.level == "warn" and "rising" in f.message
    falling = health.evaluate(make_run({"critic/value_loss": values[::-1].copy()}))
    assert not by_rule(falling, "value_loss_trend")


# -- NaN / inf ----------------------------------------------------------------------------------


@pytest.mark.parametrize("bad_value, word", [(np.nan, "NaN"), (np.inf, "inf")])
def test_nonfinite_values_are_bad(bad_value, word):
    values = steady(0.4)
    where = [77, 78, 150]
    values[where] = bad_value
    fs = health.evaluate(make_run({"critic/value_loss": values, "agent0/policy_loss": steady(0)}))
    (f,) = by_rule(fs, "nonfinite")
    assert f.level == "bad" and f.tag == "critic/value_loss"
    assert f.step == STEPS[77] and word in f.message and "(3 pts)" in f.message
    assert fs[0].level == "bad"  # worst first


# -- reward -------------------------------------------------------------------------------------


def seed_reward(last):
    rng = np.random.default_rng(11)
    return np.repeat([-15.0, -16.74, -19.49, last], 50) + rng.normal(0, 0.5, 200)


def test_reward_degrading_is_bad_recovering_is_warn_improving_is_ok():
    rec = health.evaluate(make_run({"train_episode_rewards": seed_reward(-17.73)}))
    (f,) = by_rule(rec, "reward")
    assert f.level == "warn" and "recovering" in f.message
    assert f.step == STEPS[50]  # the first quarter below Q1
    deg = health.evaluate(make_run({"train_episode_rewards": seed_reward(-21.0)}))
    (g,) = by_rule(deg, "reward")
    assert g.level == "bad" and "degrading" in g.message and g.step == STEPS[50]
    v = seed_reward(-21.0)
    q = v.reshape(4, 50).mean(axis=1)
    assert f"{q[0]:.2f}" in g.message and f"{q[3]:.2f}" in g.message
    good = health.evaluate(make_run({"train_episode_rewards": np.linspace(-20, -12, 200)}))
    assert by_rule(good, "reward")[0].level == "ok"


def test_reward_needs_enough_points_per_quarter():
    steps = np.array([1, 2, 3, 4]) * 25
    run = make_run({"train_episode_rewards": (steps, [-1.0, -5.0, -9.0, -12.0])}, total=100)
    assert not by_rule(health.evaluate(run), "reward")
    assert by_rule(health.evaluate(run, {"min_quarter_points": 1}), "reward")[0].level == "bad"


# -- state and process --------------------------------------------------------------------------


def test_stalled_and_crashed_states():
    now = 1.7e9 + 3600 + 600
    stalled = health.evaluate(make_run({}, state=STALLED), now=now)
    (f,) = by_rule(stalled, "stall")
    assert f.level == "warn" and "no new data since" in f.message
    silent = health.evaluate(make_run({}, state=CRASHED), now=1.7e9 + 3600 + 3 * 3600)
    (g,) = by_rule(silent, "crashed")
    assert g.level == "bad" and "presumed dead before the last step" in g.message
    gone = health.evaluate(make_run({}, state=CRASHED), now=now)  # recent data: process seen gone
    assert by_rule(gone, "crashed")[0].level == "bad"
    assert not by_rule(health.evaluate(make_run({}, state=FINISHED)), "crashed")
    stopped = health.evaluate(make_run({"x": steady(1)}, state=STOPPED, total=200_000_000))
    assert by_rule(stopped, "stopped")[0].level == "ok"
    at_end = health.evaluate(make_run({"x": steady(1)}, state=STOPPED))  # stopped at its end
    assert not by_rule(at_end, "stopped")


@dataclasses.dataclass(frozen=True)
class FakeProcess:
    """The attributes the process rules read (like collectors.sources.processes.ProcessInfo,
    attributes only); by default a process that has exited."""

    pid: int
    alive: bool = False
    exit_code: int | None = None


def test_process_rule():
    dead = make_run({"x": steady(1.0)}, total=200_000_000, process=FakeProcess(4242, exit_code=-9))
    (f,) = by_rule(health.evaluate(dead), "process")
    assert f.level == "bad" and "4242" in f.message and "-9" in f.message

    @dataclasses.dataclass
    class Proc:  # the shape of collectors.processes.ProcessInfo
        pid: int
        status: str

        @property
        def alive(self):
            return self.status != "zombie"

    zombie = make_run({"x": steady(1.0)}, total=200_000_000, process=Proc(77, "zombie"))
    assert by_rule(health.evaluate(zombie), "process")[0].level == "bad"
    alive = make_run({"x": steady(1.0)}, total=200_000_000, process=Proc(77, "sleeping"))
    assert not by_rule(health.evaluate(alive), "process")
    assert not by_rule(health.evaluate(make_run({"x": steady(1.0)}, process=None)), "process")
    done = make_run({"x": steady(1.0)}, state=FINISHED, total=100_000_000, process=FakeProcess(1))
    assert not by_rule(health.evaluate(done), "process")  # exited after its last step


# -- degenerate runs and thresholds -------------------------------------------------------------


def test_degenerate_runs_do_not_raise():
    assert health.evaluate(make_run({})) == ()
    assert health.evaluate(make_run({}, config={})) == ()
    one = make_run({"train_episode_rewards": ([5], [1.0]), "agent0/dist_entropy": ([5], [1.5])})
    fs = health.evaluate(one)
    assert [f.rule for f in fs] == ["entropy"]
    all_nan = make_run({"agent0/dist_entropy": np.full(200, np.nan)})
    fs = health.evaluate(all_nan)
    assert [f.rule for f in fs] == ["nonfinite"]


def test_thresholds_are_used():
    run = make_run({"agent0/dist_entropy": steady(1.5)})
    (f,) = by_rule(health.evaluate(run, {"entropy_low": 1.6, "entropy_min": 0.5}), "entropy")
    assert f.level == "warn" and "below 1.6-2.0" in f.message


def test_validate_thresholds():
    assert health.validate_thresholds(None) == []
    assert health.validate_thresholds({"entropy_low": 0.8, "window": 7}) == []
    (msg,) = health.validate_thresholds({"entropy_lo": 1.0})
    assert "unknown threshold 'entropy_lo'" in msg and "entropy_low" in msg
    assert "must be a number" in health.validate_thresholds({"entropy_low": "x"})[0]
    assert health.validate_thresholds({"entropy_low": True})
    assert health.validate_thresholds({"window": 2.5})
    assert health.validate_thresholds({"value_loss_max": -1})
    assert "entropy_min <= entropy_low" in health.validate_thresholds({"entropy_low": 2.5})[0]


def test_messages_fit_a_terminal_line():
    values = steady(1.5)
    values[150:] = 0.2
    grad = steady(0.3)
    grad[5:9] = 0.7
    run = make_run(
        {
            "agent0/dist_entropy": values,
            "agent1/actor_grad_norm": grad,
            "critic/value_loss": np.linspace(0.5, 3.0, 200),
            "train_episode_rewards": seed_reward(-21.0),
        },
        state=STALLED,
        process=FakeProcess(123456, alive=True),
    )
    fs = health.evaluate(run, now=1.7e9 + 7200)
    assert len(fs) >= 6
    assert "process 123456 alive" in by_rule(fs, "stall")[0].message
    for f in fs:
        assert len(f"{f.level:<4}  {f.rule}: {f.message}") <= 80, f.message


# -- simulated runs -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("health") / "results"
    now = time.time()
    basic = write_instant_run(root, preset="basic", seed=1, start_time=now - 6 * 3600)
    crashed = write_instant_run(
        root, preset="safe", seed=2, start_time=now - 9 * 3600, finished=False, stop_at=0.3
    )
    snap = RunsCollector([str(root)]).collect()
    runs = {r.path: r for r in snap.runs}
    return runs[str(basic)], runs[str(crashed)], snap.time


def raw(run_dir, key):
    doc = json.loads((Path(run_dir) / "logs" / "summary.json").read_text())
    (pts,) = [v for k, v in doc.items() if k.split("/logs/", 1)[1].startswith(key + "/")]
    a = np.array(pts, dtype=np.float64)
    return a[:, 1], a[:, 2]


def test_basic_simulated_run(sim):
    basic, _, now = sim
    fs = health.evaluate(basic, now=now)
    assert by_rule(fs, "reward")[0].level == "warn"  # Q4 recovering from Q3
    for tag in ("agent0/actor_grad_norm", "agent1/actor_grad_norm"):
        steps, values = raw(basic.path, tag)
        share = float(np.mean(values.astype(np.float32) > 10.0))
        (f,) = by_rule(fs, "clipping", tag)
        assert f.level == "ok" and f.value == pytest.approx(share)
    assert "bad" not in {f.level for f in fs if f.rule in ("clipping", "grad_spike")}
    assert not by_rule(fs, "nonfinite") and not by_rule(fs, "crashed")


def test_crashed_simulated_run(sim):
    _, crashed, now = sim
    assert crashed.state == CRASHED
    fs = health.evaluate(crashed, now=now)
    (f,) = by_rule(fs, "crashed")
    assert f.level == "bad" and f.step == crashed.step == 30_000_000
    assert health.worst(fs) == "bad"


def test_nonfinite_thinned_away_is_still_bad():
    import dataclasses

    from collectors.model.run import ScalarLatest

    run = make_run({"critic/value_loss": np.full(len(STEPS), 0.3)})
    seen = ScalarLatest(
        int(STEPS[-1]), 0.3, len(STEPS) * 4, nonfinite=2, first_nonfinite_step=int(STEPS[10])
    )
    run = dataclasses.replace(run, scalars={"critic/value_loss": seen})
    found = by_rule(health.evaluate(run), "nonfinite")
    assert len(found) == 1 and found[0].level == "bad" and found[0].step == int(STEPS[10])


@pytest.mark.parametrize("k", [1, 2, 3, 4, 20, 21])
def test_row_medians_are_numpys(k):
    rng = np.random.default_rng(k)
    rows = rng.normal(size=(50, k)) * rng.choice([1e-9, 1.0, 1e9], size=(50, 1))
    rows[0] = 3.0  # all equal
    assert np.array_equal(row_medians(rows), np.median(rows, axis=1))
