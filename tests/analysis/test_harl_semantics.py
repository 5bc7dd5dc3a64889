"""Issue 9: health verdicts that respect what HARL logs, on runs written by the real writer
(tensorboardX, through the simulator) and read back by the runs collector. Every expected
number is computed independently from tensorboardX's own export (``summary.json``)."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import collectors.analysis.health as health
from collectors import fmt
from collectors.analysis.criteria import success_criteria
from collectors.analysis.health.training import sigma_cap
from collectors.analysis.reward import MIXED, best_reward, reward_verdict, with_trusted_best
from collectors.analysis.seeds import group_quarters, seed_band, seed_groups, settled
from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs.tracker import RunsCollector
from tests.builders import run_snapshot
from tests.builders import series_view as view
from tests.support import ROOT
from tui.screens.compare import _band_lines, _best_text, _seed_rows
from tui.screens.detail import health_text
from tui.text.report import render_report


def raw(run_dir: Path, key: str) -> tuple[np.ndarray, np.ndarray]:
    doc = json.loads((Path(run_dir) / "logs" / "summary.json").read_text())
    (pts,) = [v for k, v in doc.items() if k.split("/logs/", 1)[1].startswith(key + "/")]
    a = np.array(pts, dtype=np.float64)
    return a[:, 1].astype(np.int64), a[:, 2].astype(np.float32).astype(np.float64)


def by_rule(findings, rule, tag=None):
    return [f for f in findings if f.rule == rule and (tag is None or f.tag == tag)]


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("harl") / "results"
    now = time.time()
    dirs = {
        "basic": write_instant_run(root, preset="basic", seed=1, start_time=now - 30 * 3600),
        "basic2": write_instant_run(root, preset="basic", seed=2, start_time=now - 20 * 3600),
        "safe": write_instant_run(root, preset="safe", seed=1, start_time=now - 10 * 3600),
        "real": write_instant_run(
            root / "real",
            preset="basic",
            seed=1,
            start_time=now - 8 * 3600,
            short_first_interval=True,
            lengthening_episodes=True,
            action_dim=3,
        ),
    }
    snap = RunsCollector([str(root), str(root / "real")]).collect()
    # the best reward as the monitor sets it once (collectors.monitor: with_trusted_best)
    by_path = {r.path: with_trusted_best(r) for r in snap.runs}
    return {k: (by_path[str(d)], d) for k, d in dirs.items()}, snap.time


# -- grad norms ----------------------------------------------------------------------------------


def test_clipping_share_per_actor_and_critic_matches_the_event_files(sim):
    runs, now = sim
    run, d = runs["basic"]
    fs = health.evaluate(run, now=now)
    tags = ("agent0/actor_grad_norm", "agent1/actor_grad_norm", "critic/critic_grad_norm")
    for tag in tags:
        _, values = raw(d, tag)
        (f,) = by_rule(fs, "clipping", tag)
        assert f.level == "ok" and f.value == pytest.approx(np.mean(values > 10.0))
    # the safe run's critic (clip 0.5, norms ~1.6): clipped on most updates, still only "ok"
    safe, sd = runs["safe"]
    _, values = raw(sd, "critic/critic_grad_norm")
    (c,) = by_rule(health.evaluate(safe, now=now), "clipping", "critic/critic_grad_norm")
    share = np.mean(values > 0.5)
    assert share > 0.9 and c.level == "ok"
    assert (
        c.message == f"{share * 100:.0f}% of critic updates clipped: step size set by max_grad_norm"
    )


def test_grad_spikes_match_a_plain_loop_over_the_event_files(sim):
    runs, now = sim
    run, d = runs["basic"]
    fs = health.evaluate(run, now=now)
    for tag in ("agent0/actor_grad_norm", "critic/critic_grad_norm"):
        steps, values = raw(d, tag)
        hits = [i for i in range(20, len(values)) if values[i] > 5 * np.median(values[i - 20 : i])]
        found = by_rule(fs, "grad_spike", tag)
        if not hits:
            assert not found
            continue
        (f,) = found
        assert f.level == "warn" and f.step == steps[hits[-1]]
        assert f.message.split(": ", 1)[1].startswith(f"{len(hits)} > 5x recent median")
        assert f.current == (hits[-1] >= len(values) - 5)
    assert "bad" not in {f.level for f in fs if f.rule in ("clipping", "grad_spike")}


# -- best reward -----------------------------------------------------------------------------------


def test_best_reward_leaves_out_the_short_first_interval(sim):
    runs, _ = sim
    run, d = runs["real"]
    steps, values = raw(d, "train_episode_rewards")
    assert int(np.argmax(values)) == 0  # HARL's first point: the short episodes only
    best = best_reward(run)
    assert best is not None and best.left_out == 1 and "1 leading point" in best.why
    assert (
        best.value == pytest.approx(values[1:].max())
        and best.step == steps[1:][np.argmax(values[1:])]
    )
    # the monitor set it once on the run: the reward every front end and --json read
    assert run.reward is not None and (run.reward.best, run.reward.best_step) == (
        best.value,
        best.step,
    )
    assert run.reward.left_out == 1
    text = render_report([run], run.last_data or 0.0)
    assert f"leaves out {best.why}" in text
    # A run whose episodes fit its log interval (200 steps, 1000 per interval) keeps them all.
    plain, pd = runs["basic"]
    _, pv = raw(pd, "train_episode_rewards")
    b = best_reward(plain)
    assert b is not None and b.left_out == 0 and b.value == pytest.approx(pv.max())


# -- reward verdicts -------------------------------------------------------------------------------


def _quarter_means(steps, values, span):
    return [values[(steps > q * span / 4) & (steps <= (q + 1) * span / 4)].mean() for q in range(4)]


def test_episodes_that_lengthen_make_a_mixed_verdict_not_degrading(sim):
    runs, now = sim
    run, d = runs["real"]
    es, ev = raw(d, "train_episode_rewards")
    ss, sv = raw(d, "critic/average_step_rewards")
    rv = reward_verdict(run)
    ep = _quarter_means(es, ev, 100e6)
    per = _quarter_means(ss, sv, 100e6)
    assert rv.episode is not None and rv.step is not None
    assert [q.mean for q in rv.episode.quarters] == pytest.approx(ep)
    assert [q.mean for q in rv.step.quarters] == pytest.approx(per)
    assert rv.episode.verdict in ("degrading", "recovering") and rv.step.verdict == "improving"
    assert rv.verdict == MIXED and "episodes got longer" in rv.reason
    assert list(rv.lengths) == pytest.approx([e / p for e, p in zip(ep, per, strict=True)])
    assert 900 < rv.lengths[0] < 1050 and 1600 < rv.lengths[3] < 1800  # 860 -> 1820 steps
    (f,) = by_rule(health.evaluate(run, now=now), "reward")
    assert f.level == "warn" and f.verdict == MIXED and f.message.startswith("reward mixed:")
    # The report's criterion agrees: not a failure, "mixed".
    degr = next(c for c in success_criteria([run]) if c.title.startswith("No reward degradation"))
    assert degr.results[0].status == "n/a" and degr.results[0].detail.startswith("mixed")


def test_the_seed_quarters_keep_their_verdict_when_both_series_agree(sim):
    runs, now = sim
    run, d = runs["basic"]
    rv = reward_verdict(run)
    means = [round(q.mean, 2) for q in rv.episode.quarters]  # type: ignore[union-attr]
    assert means == pytest.approx([-15.00, -16.74, -19.49, -17.73], abs=0.2)
    assert rv.step is not None and rv.verdict == rv.episode.verdict == "recovering"  # type: ignore[union-attr]
    assert list(rv.lengths) == pytest.approx([200.0] * 4, rel=0.02)


def test_one_verdict_on_every_screen_and_output(sim):
    runs, now = sim
    run, _ = runs["real"]
    run = dataclasses.replace(run, health=health.evaluate(run, now=now))
    (f,) = by_rule(run.health, "reward")
    tab = health_text(run).plain
    row = next(line for line in tab.splitlines() if line.strip().startswith("reward "))
    assert row.rstrip().endswith(f.verdict)
    assert "reward per step" in tab and "episode length (implied)" in tab
    assert "-25M" in tab and "-100M" in tab  # the run's own step ranges
    report = render_report([run], now)
    assert f"verdict **{f.verdict}**" in report
    assert f.to_json()["verdict"] == MIXED
    assert "degrading" not in report.split("## Findings", 1)[1].split("## Success", 1)[0]


# -- entropy -----------------------------------------------------------------------------------------


def test_gaussian_sigma_is_judged_against_its_cap(sim):
    runs, now = sim
    run, d = runs["real"]
    _, values = raw(d, "agent0/dist_entropy")
    cap = sigma_cap(run, "agent0/dist_entropy")
    assert cap is not None and cap.dims == 3 and cap.cap == 0.5
    now_level = float(np.median(values[-5:]))
    sigma = math.exp(now_level / 3 - 0.5 * math.log(2 * math.pi * math.e))
    assert now_level < 3.0  # the default "too random" edge could never fire
    (f,) = by_rule(health.evaluate(run, now=now), "entropy", "agent0/dist_entropy")
    assert f.level == "bad" and "too random" in f.message
    assert f"{sigma * 2 * 100:.0f}% of its cap 0.5" in f.message
    # The same run without std_y_coef in its config: the configurable band, as before.
    bare = {k: v for k, v in run.config.items() if not k.endswith("std_y_coef")}
    (g,) = by_rule(
        health.evaluate(dataclasses.replace(run, config=bare), now=now),
        "entropy",
        "agent0/dist_entropy",
    )
    assert "cap" not in g.message and g.level == "warn"
    # A policy whose first entropy gives no whole action dimension: the band too.
    assert sigma_cap(runs["basic"][0], "agent0/dist_entropy") is None


# -- value loss -------------------------------------------------------------------------------------


def test_value_loss_on_normalised_returns_has_no_fixed_limit(sim):
    runs, now = sim
    run, _ = runs["basic"]
    assert run.config["algo_args.train.use_valuenorm"] is True
    (f,) = by_rule(health.evaluate(run, {"value_loss_max": 0.01}, now=now), "value_loss")
    assert f.level == "ok" and f.band is None and "judged by its trend" in f.message
    off = dict(run.config, **{"algo_args.train.use_valuenorm": False})
    (g,) = by_rule(
        health.evaluate(dataclasses.replace(run, config=off), {"value_loss_max": 0.01}, now=now),
        "value_loss",
    )
    assert g.level == "warn" and g.band is not None


# -- seeds --------------------------------------------------------------------------------------------


def test_runs_that_differ_only_by_seed_form_a_group_with_a_spread(sim):
    runs, _ = sim
    order = [runs[k][0] for k in ("basic", "safe", "basic2")]
    assert seed_groups(order) == [[0, 2], [1]]
    groups = group_quarters(order)
    b1 = _quarter_means(*raw(runs["basic"][1], "train_episode_rewards"), 100e6)
    b2 = _quarter_means(*raw(runs["basic2"][1], "train_episode_rewards"), 100e6)
    for q in range(4):
        gq = groups[0].quarters[q]
        assert gq.mean == pytest.approx((b1[q] + b2[q]) / 2) and gq.runs == 2
        assert gq.spread == pytest.approx(abs(b1[q] - b2[q]))
        gap, meaning = settled(groups, 1, 0, q)  # type: ignore[misc]
        if abs(gap) <= abs(b1[q] - b2[q]):
            assert "smaller than the spread between seeds" in meaning and "not settled" in meaning
        else:
            assert "larger than the spread between seeds" in meaning
    # One run per configuration: the spread is unknown, nothing is settled.
    lone = group_quarters([runs["basic"][0], runs["safe"][0]])
    assert "not settled" in settled(lone, 1, 0, 3)[1]  # type: ignore[index]
    report = render_report(order, time.time())
    assert "### Seeds and noise" in report and " ± " in report


# -- the simulator's command line -------------------------------------------------------------------


def test_simulator_command_line_writes_the_real_runs_conditions(tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "collectors.simulator",
            "--root",
            str(tmp_path),
            "--instant",
            "--num-env-steps",
            "10_000_000",
            "--short-first-interval",
            "--lengthening-episodes",
            "--action-dim",
            "2",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    (run_dir,) = list(tmp_path.rglob("seed-*"))
    es, ev = raw(run_dir, "train_episode_rewards")
    ss, sv = raw(run_dir, "critic/average_step_rewards")
    length = ev / sv
    assert length[0] < 0.6 * np.median(length[1:6])  # the first point: short episodes only
    expected = 860 + 960 * ss / 10_000_000  # 860 -> 1820 steps over the run
    assert length[1:] == pytest.approx(expected[1:], rel=0.08)
    assert sv[-5:].mean() > sv[1:6].mean()  # the per-step reward improves
    _, ent = raw(run_dir, "agent0/dist_entropy")
    first = 2 * (0.5 * math.log(2 * math.pi * math.e) + math.log(0.5 / (1 + math.exp(-1))))
    assert ent[0] == pytest.approx(first, abs=0.05)


def test_compare_draws_the_spread_between_seeds_as_a_band(sim):
    runs, _ = sim
    order = [runs[k][0] for k in ("basic", "safe", "basic2")]
    s1, v1 = raw(runs["basic"][1], "train_episode_rewards")
    s2, v2 = raw(runs["basic2"][1], "train_episode_rewards")
    assert (s1 == s2).all()
    base, keep, lo, hi = seed_band(order, [0, 2], "train_episode_rewards")  # type: ignore[misc]
    assert base == 0 and len(keep) == len(s1)
    assert lo == pytest.approx(np.minimum(v1, v2)) and hi == pytest.approx(np.maximum(v1, v2))
    assert seed_band(order, [1], "train_episode_rewards") is None  # a single run: no band
    lines = _band_lines(order, "train_episode_rewards")
    assert [ln.label for ln in lines] == ["G1 seeds min", "G1 seeds max"]
    assert (lines[1].view.steps == s1).all()
    assert lines[1].view.values == pytest.approx(np.maximum(v1, v2), abs=1e-5)


def test_a_flat_verdict_names_a_dip_in_between():
    """The 200M real run: flat from Q1 to Q4 with its second quarter far down."""
    steps = np.arange(1, 401) * 500_000
    reward = np.full(400, -15.0) + np.random.default_rng(1).normal(0, 0.3, 400)
    reward[100:200] -= 7.5  # Q2 50% down
    run = run_snapshot(
        {"train_episode_rewards": view(steps, reward)},
        state="finished",
        total_steps=200_000_000,
        last_data=1.7e9,
    )
    (f,) = by_rule(health.evaluate(run, now=1.7e9), "reward")
    assert f.verdict == "flat" and f.level == "ok"
    assert ", low Q2 -22." in f.message and "(-50%)" in f.message


def test_a_gap_smaller_than_the_seed_spread_is_not_presented_as_settled():
    """The real safe runs: two repeats 6.5 apart over 50-100M, more than the basic-vs-safe gap."""
    steps = np.arange(1, 201) * 500_000
    noise = np.random.default_rng(2).normal(0, 0.2, 200)

    def run(i, level, lr, seed):
        config = {"algo_args.model.lr": lr, "algo_args.seed.seed": seed}
        return run_snapshot(
            {"train_episode_rewards": view(steps, level + noise)},
            id=f"r{i}",
            name=f"run{i}",
            path=f"/x/e/seed-0000{seed}-2025-11-1{i}-10-00-00",
            state="finished",
            total_steps=100_000_000,
            last_data=1.7e9,
            config=config,
        )

    safe_a, safe_b, basic = run(1, -12.0, 3e-4, 1), run(2, -18.5, 3e-4, 2), run(3, -16.0, 5e-4, 1)
    groups = group_quarters([safe_a, safe_b, basic])
    assert [g.runs for g in groups] == [(0, 1), (2,)]
    assert groups[0].quarters[3].spread == pytest.approx(6.5, abs=1e-3)
    text = render_report([safe_a, safe_b, basic], 1.7e9)
    line = next(x for x in text.splitlines() if x.startswith("- Q4: G2 vs G1"))
    assert "smaller than the spread between seeds (6.50): not settled" in line


def test_compare_rows_show_the_trusted_best_and_the_seed_groups(sim):
    runs, _ = sim
    real, d = runs["real"]
    _, values = raw(d, "train_episode_rewards")
    assert _best_text(
        real
    ) == f"{fmt.value(values[1:].max())} @{fmt.steps(best_reward(real).step)}" + (  # type: ignore[union-attr]
        " (first 1 left out)"
    )
    rows = dict(_seed_rows([runs[k][0] for k in ("basic", "safe", "basic2")]))
    assert rows["seed group"] == ["G1 (2 runs)", "G2 (1 run)", "G1 (2 runs)"]
    assert " ±" in rows["group Q4 (≤100M)"][0] and "±" not in rows["group Q4 (≤100M)"][1]
    assert "spread between seeds" in rows["vs G1 in Q4"][1] and rows["vs G1 in Q4"][0] == "-"
