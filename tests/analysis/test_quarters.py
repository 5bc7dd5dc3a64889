"""Quarter analysis: checked against independent numpy computations on the raw points."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pytest

from collectors.analysis import quarters as an
from collectors.model.run import FINISHED, RUNNING, Reward
from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs.tracker import RunsCollector
from tests.builders import run_snapshot
from tests.builders import series_view as view

# -- helpers -------------------------------------------------------------------------------------


def make_run(series=None, *, state=RUNNING, total=None, config=None, reward_tag=None):
    views = {tag: view(st, v) for tag, (st, v) in (series or {}).items()}
    reward = None
    if reward_tag and reward_tag in views:
        r = views[reward_tag]
        reward = Reward(reward_tag, float(r.values[-1]), float(np.nanmax(r.values)), 0)
    return run_snapshot(views, state=state, total_steps=total, config=config or {}, reward=reward)


def independent_quarters(steps, values, span):
    """The issue's definition, written out with boolean masks."""
    steps = np.asarray(steps, dtype=np.float64)
    values = np.asarray(values, dtype=np.float32).astype(np.float64)
    out = []
    for q in range(4):
        m = (steps > q * span / 4) & (steps <= (q + 1) * span / 4)
        fin = m & np.isfinite(values)
        v = values[fin]
        out.append(
            {
                "count": int(fin.sum()),
                "nonfinite": int((m & ~np.isfinite(values)).sum()),
                "mean": float(v.mean()) if len(v) else None,
                "min": float(v.min()) if len(v) else None,
                "max": float(v.max()) if len(v) else None,
                "std": float(v.std(ddof=1)) if len(v) > 1 else (0.0 if len(v) else None),
                "first": int(steps[fin][0]) if len(v) else None,
                "last": int(steps[fin][-1]) if len(v) else None,
            }
        )
    return out


def independent_verdicts(means, counts, stds, direction, noise=0.5, rel=0.02):
    """The documented verdict rule, restated."""
    num = sum((n - 1) * s * s for n, s in zip(counts, stds, strict=True) if n >= 2)
    den = sum(n - 1 for n in counts if n >= 2)
    pooled = math.sqrt(num / den) if den else 0.0
    filled = [i for i in range(4) if counts[i]]
    base = filled[0]
    tol = max(noise * pooled, rel * abs(means[base]))
    out, prev = [], None
    for i in range(4):
        if not counts[i]:
            out.append("no data")
            continue
        if i == base:
            out.append("baseline")
            continue
        d = means[i] - means[base]
        if abs(d) <= tol:
            v = "flat"
        elif direction == 0:
            v = "rising" if d > 0 else "falling"
        elif direction * d > 0:
            v = "improving"
        elif prev is not None and direction * (means[i] - prev) > tol:
            v = "recovering"
        else:
            v = "degrading"
        out.append(v)
        prev = means[i]
    return out, tol, pooled


def assert_matches(table, expected):
    for q, e in zip(table.quarters, expected, strict=True):
        assert q.count == e["count"]
        assert q.nonfinite == e["nonfinite"]
        for k in ("mean", "min", "max", "std"):
            got = getattr(q, k)
            if e[k] is None:
                assert got is None
            else:
                assert got == pytest.approx(e[k], rel=1e-9, abs=1e-9), k
        assert q.first_step == e["first"]
        assert q.last_step == e["last"]


# -- hand-built series ---------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_random_series_match_the_definition(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(5, 3000))
    steps = np.sort(rng.choice(np.arange(1, 10_000_000), n, replace=False))
    values = rng.normal(-10, 3, n).astype(np.float32)
    span = int(rng.integers(steps[-1] // 2, steps[-1] * 2))  # may cut points off at the end
    table = an.quarter_table(steps, values, span, direction=an.HIGHER_IS_BETTER)
    exp = independent_quarters(steps, values, span)
    assert_matches(table, exp)
    counts = [e["count"] for e in exp]
    means = [e["mean"] for e in exp]
    stds = [e["std"] for e in exp]
    verdicts, tol, pooled = independent_verdicts(means, counts, stds, 1)
    assert [q.verdict for q in table.quarters] == verdicts
    assert table.tolerance == pytest.approx(tol)
    assert table.noise == pytest.approx(pooled)
    base = next(e["mean"] for e in exp if e["count"])
    for q, e in zip(table.quarters, exp, strict=True):
        if e["mean"] is not None:
            assert q.change == pytest.approx(e["mean"] - base)
            assert q.change_pct == pytest.approx((e["mean"] - base) / abs(base) * 100)


def test_seed_pattern_gives_the_seed_verdicts():
    """Quarter means like the seed's basic run: best first, worst third, partial recovery."""
    rng = np.random.default_rng(7)
    target = [-15.00, -16.74, -19.49, -17.73]
    steps = np.arange(1, 201) * 500_000
    values = np.repeat(target, 50) + rng.normal(0, 0.3, 200)
    values -= np.repeat(values.reshape(4, 50).mean(axis=1) - target, 50)  # exact means
    table = an.quarter_table(steps, values, 100_000_000)
    assert [round(m, 2) for m in table.means] == target
    assert [q.verdict for q in table.quarters] == [
        "baseline",
        "degrading",
        "degrading",
        "recovering",
    ]
    assert table.verdict == "recovering"
    assert table.best is table.quarters[0]
    assert table.trend == "falling"


def test_flat_tolerance_boundary():
    """A change just inside the tolerance is flat, just outside it is not."""
    steps = np.arange(1, 81) * 10
    # No noise within quarters: the relative tolerance (2% of Q1 = 2.0) decides.
    for delta, expected in ((1.9, "flat"), (2.1, "improving"), (-2.1, "degrading")):
        values = 100.0 + np.repeat([0.0, delta, 0.0, 0.0], 20)
        table = an.quarter_table(steps, values.astype(np.float32), 800)
        assert table.tolerance == pytest.approx(2.0)
        assert table.quarters[1].verdict == expected
    # Mean near 0: half the pooled within-quarter standard deviation decides.
    noise = np.tile([-2.0, 2.0], 40)
    values = noise + np.repeat([0.0, 0.9, 0.0, -1.1], 20)
    table = an.quarter_table(steps, values.astype(np.float32), 800)
    pooled = float(np.sqrt(np.mean([np.var(q, ddof=1) for q in values.reshape(4, 20)])))
    assert table.tolerance == pytest.approx(0.5 * pooled, rel=1e-6)
    assert 0.9 < table.tolerance < 1.1
    assert [q.verdict for q in table.quarters] == ["baseline", "flat", "flat", "degrading"]


def test_directions():
    steps = np.arange(1, 41)
    rising = np.repeat([1.0, 1.5, 2.0, 2.5], 10)
    lower = an.quarter_table(steps, rising, 40, direction=an.LOWER_IS_BETTER)
    assert [q.verdict for q in lower.quarters][1:] == ["degrading"] * 3
    none = an.quarter_table(steps, rising, 40, direction=an.NO_DIRECTION)
    assert [q.verdict for q in none.quarters][1:] == ["rising"] * 3
    assert none.trend == "rising"
    higher = an.quarter_table(steps, rising, 40, direction=an.HIGHER_IS_BETTER)
    assert [q.verdict for q in higher.quarters][1:] == ["improving"] * 3
    # Recovering needs a real improvement over the previous quarter.
    v = np.repeat([3.0, 1.0, 1.01, 2.0], 10)
    t = an.quarter_table(steps, v, 40)
    assert [q.verdict for q in t.quarters] == ["baseline", "degrading", "degrading", "recovering"]


# -- degenerate inputs ---------------------------------------------------------------------------


def test_no_points():
    t = an.quarter_table(np.array([], np.int64), np.array([], np.float32), 100)
    assert t.points == 0 and t.baseline is None and t.verdict == "n/a"
    assert all(q.verdict == "no data" and q.mean is None for q in t.quarters)


def test_fewer_than_four_points():
    steps, values = [10, 60, 90], [1.0, 2.0, 3.0]
    t = an.quarter_table(np.array(steps), np.array(values, np.float32), 90)
    assert_matches(t, independent_quarters(steps, values, 90))
    assert [q.count for q in t.quarters] == [1, 0, 1, 1]
    assert t.quarters[1].verdict == "no data"
    assert t.noise == 0.0  # no quarter with two points


def test_one_point_and_span_zero():
    t = an.quarter_table(np.array([5]), np.array([1.0], np.float32), 5)
    assert [q.count for q in t.quarters] == [0, 0, 0, 1]
    assert t.baseline == 3 and t.quarters[3].verdict == "baseline" and t.verdict == "n/a"
    t0 = an.quarter_table(np.array([5]), np.array([1.0], np.float32), 0)
    assert t0.points == 0


def test_empty_first_quarter_uses_first_quarter_with_data_as_baseline():
    steps = np.arange(30, 101)  # nothing in (0, 25]
    values = np.where(steps <= 50, 5.0, 1.0).astype(np.float32)
    t = an.quarter_table(steps, values, 100)
    assert t.quarters[0].verdict == "no data"
    assert t.baseline == 1 and t.quarters[1].verdict == "baseline"
    assert t.quarters[2].change == pytest.approx(1.0 - t.quarters[1].mean)


def test_gap_leaves_a_quarter_empty():
    steps = np.r_[np.arange(1, 26), np.arange(51, 101)]
    values = np.ones(len(steps), np.float32)
    t = an.quarter_table(steps, values, 100)
    assert [q.count for q in t.quarters] == [25, 0, 25, 25]
    assert [q.verdict for q in t.quarters] == ["baseline", "no data", "flat", "flat"]


def test_nan_and_inf_are_counted_and_left_out():
    rng = np.random.default_rng(3)
    steps = np.arange(1, 101)
    values = rng.normal(0, 1, 100).astype(np.float32)
    values[[3, 40, 41, 99]] = [np.nan, np.inf, -np.inf, np.nan]
    t = an.quarter_table(steps, values, 100)
    assert_matches(t, independent_quarters(steps, values, 100))
    assert [q.nonfinite for q in t.quarters] == [1, 2, 0, 1]
    assert all(math.isfinite(q.mean) for q in t.quarters)
    all_nan = an.quarter_table(steps, np.full(100, np.nan, np.float32), 100)
    assert all_nan.points == 0 and all_nan.nonfinite == 100


def test_points_outside_the_span_are_ignored():
    steps = np.array([0, 1, 50, 100, 101, 200])
    t = an.quarter_table(steps, np.ones(6, np.float32), 100)
    assert t.points == 3


def test_point_noise_matches_numpy():
    rng = np.random.default_rng(5)
    v = (np.linspace(0, 10, 500) + rng.normal(0, 0.7, 500)).astype(np.float32)
    v[10] = np.nan
    fin = v[np.isfinite(v)].astype(np.float64)
    assert an.point_noise(v) == pytest.approx(np.diff(fin).std(ddof=1) / np.sqrt(2))
    assert an.point_noise(np.array([1.0, 2.0], np.float32)) is None


# -- on run snapshots ----------------------------------------------------------------------------


def test_quarter_span_and_run_quarters():
    steps = np.arange(1, 96) * 500_000  # 47.5M of 100M
    series = {"train_episode_rewards": (steps, np.linspace(-20, -12, 95))}
    live = make_run(series, state=RUNNING, total=100_000_000, reward_tag="train_episode_rewards")
    assert an.quarter_span(live) == 47_500_000
    t = an.reward_quarters(live)
    assert t is not None and t.span == 47_500_000
    assert_matches(t, independent_quarters(steps, np.linspace(-20, -12, 95), 47_500_000))
    done = make_run(series, state=FINISHED, total=100_000_000)  # no Reward: picks the tag
    assert an.quarter_span(done) == 100_000_000
    t2 = an.reward_quarters(done)
    assert t2 is not None and [q.count for q in t2.quarters] == [50, 45, 0, 0]
    assert an.reward_quarters(done, span=47_500_000).span == 47_500_000


def test_no_reward_tag_and_no_config():
    run = make_run({"agent0/dist_entropy": (np.arange(1, 11), np.ones(10))})
    assert an.reward_quarters(run) is None
    assert an.clip_value(run.config) is None
    assert an.run_quarters(run, "missing/tag") is None
    empty = make_run({})
    assert an.quarter_span(empty) is None
    assert an.reward_quarters(empty) is None
    assert an.metric_quarters(empty) == {}


def test_layout_b_reward_tag():
    steps = np.arange(1, 21) * 1000
    run = make_run({"average_step_reward": (steps, np.linspace(-0.1, -0.05, 20))})
    t = an.reward_quarters(run)
    assert t is not None and t.tag == "average_step_reward" and t.verdict == "improving"


def test_metric_tags_are_grouped_and_agents_sorted_numerically():
    tags = [
        "agent10/dist_entropy",
        "agent2/dist_entropy",
        "agent0/actor_grad_norm",
        "critic/value_loss",
        "critic/critic_grad_norm",
        "agent0/policy_loss",
        "rewards/x",
        "agent0/dist_entropy@other",
    ]
    g = an.metric_tags(tags)
    assert g["entropy"] == ["agent2/dist_entropy", "agent10/dist_entropy"]
    assert g["actor_grad_norm"] == ["agent0/actor_grad_norm"]
    assert g["value_loss"] == ["critic/value_loss"]
    assert g["critic_grad_norm"] == ["critic/critic_grad_norm"]


def test_clip_value():
    assert an.clip_value({"algo_args.algo.max_grad_norm": 0.5}) == 0.5
    assert (
        an.clip_value(
            {"algo_args.algo.max_grad_norm": 10.0, "algo_args.algo.use_max_grad_norm": False}
        )
        is None
    )
    assert an.clip_value({"x.max_grad_norm": 2, "x.use_max_grad_norm": True}) == 2.0
    assert an.clip_value({"algo_args.algo.max_grad_norm": "big"}) is None


# -- simulator runs: the real reader on real event files -----------------------------------------


@pytest.fixture(scope="module")
def sim_runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("analysis") / "results"
    now = time.time()
    basic = write_instant_run(root, preset="basic", seed=1, start_time=now - 6 * 3600)
    safe = write_instant_run(
        root,
        preset="safe",
        seed=1,
        start_time=now - 47.5e6 / 20e6 * 3600,  # its last point is now: running
        finished=False,
        stop_at=0.475,
    )
    snap = RunsCollector([str(root)]).collect()
    by_path = {r.path: r for r in snap.runs}
    return by_path[str(basic)], by_path[str(safe)]


def summary_points(run_dir: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """tensorboardX's own export (logs/summary.json), not our reader."""
    doc = json.loads((Path(run_dir) / "logs" / "summary.json").read_text())
    (points,) = [v for k, v in doc.items() if k.split("/logs/", 1)[1].startswith(key + "/")]
    arr = np.array(points, dtype=np.float64)
    return arr[:, 1], arr[:, 2]


def test_basic_simulated_run_against_an_independent_reading(sim_runs):
    basic, _ = sim_runs
    assert basic.state == FINISHED
    steps, values = summary_points(basic.path, "train_episode_rewards")
    t = an.reward_quarters(basic)
    assert t is not None and t.span == 100_000_000
    exp = independent_quarters(steps, values, 100_000_000)
    for q, e in zip(t.quarters, exp, strict=True):
        assert q.count == e["count"] == 50
        assert q.mean == pytest.approx(e["mean"], abs=1e-5)  # float32 storage
        assert q.max == pytest.approx(e["max"], abs=1e-5)
    # The seed's shape (-15.00 / -16.74 / -19.49 / -17.73): Q1 best, Q3 worst, Q4 recovering.
    for got, seed in zip(t.means, (-15.00, -16.74, -19.49, -17.73), strict=True):
        assert got == pytest.approx(seed, abs=0.5)
    assert [q.verdict for q in t.quarters] == ["baseline", "degrading", "degrading", "recovering"]
    groups = an.metric_quarters(basic)
    assert [x.tag for x in groups["entropy"]] == ["agent0/dist_entropy", "agent1/dist_entropy"]
    for table in groups["entropy"] + groups["actor_grad_norm"] + groups["value_loss"]:
        s, v = summary_points(basic.path, table.tag)
        assert table.means == pytest.approx(
            [e["mean"] for e in independent_quarters(s, v, 100_000_000)], abs=1e-4
        )
    assert groups["entropy"][0].trend == "rising"


def test_live_simulated_run_is_split_by_its_last_step(sim_runs):
    _, safe = sim_runs
    assert safe.state == RUNNING and safe.step == 47_500_000
    t = an.reward_quarters(safe)
    assert t is not None and t.span == 47_500_000
    assert [q.count for q in t.quarters] == [23, 24, 24, 24]
    assert t.verdict == "improving"
    # The same run over its planned length: two quarters with data.
    planned = an.reward_quarters(safe, span=100_000_000)
    assert [q.count for q in planned.quarters] == [50, 45, 0, 0]


def test_criteria_do_not_set_rewards_of_different_tags_against_each_other():
    """A layout B run logs the per-step reward, a layout A reference the episode reward: the
    final-reward criterion is n/a, smoothness is judged on the run's own scale, and the
    completion title names each plan when they differ."""
    from collectors.analysis.criteria import FAIL, NA, PASS, success_criteria

    steps = np.arange(1, 41) * 500_000
    rng = np.random.default_rng(0)
    episode = view(steps, -15 + rng.normal(0, 0.5, 40))
    per_step = view(steps[:8], -0.08 + rng.normal(0, 0.001, 8))
    ref = run_snapshot(
        {"train_episode_rewards": episode}, id="a", name="a", state=FINISHED, total_steps=20_000_000
    )
    other = run_snapshot(
        {"average_step_reward": per_step}, id="b", name="b", state=FINISHED, total_steps=4_000_000
    )
    by_title = {c.title.split(" (")[0]: c for c in success_criteria([ref, other])}
    final = next(c for t, c in by_title.items() if t.startswith("Final"))
    assert final.results[1].status == NA and "not comparable" in final.results[1].detail
    smooth = next(c for t, c in by_title.items() if t.startswith("Smooth"))
    assert "of |reward|" in smooth.results[1].detail  # its own relative noise, not the reference's
    assert smooth.results[1].status in (PASS, FAIL)
    complete = next(c for c in success_criteria([ref, other]) if c.title.startswith("Completes"))
    assert "4M / 20M" in complete.title
    # the same tag is compared as before
    same = run_snapshot(
        {"train_episode_rewards": view(steps, -20 + 0 * steps)},
        id="c", name="c", state=FINISHED, total_steps=20_000_000,
    )  # fmt: skip
    final = [c for c in success_criteria([ref, same]) if c.title.startswith("Final")][0]
    assert final.results[1].status == FAIL and "<" in final.results[1].detail
