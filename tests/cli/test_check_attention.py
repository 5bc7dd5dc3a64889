"""What makes ``check`` fail (issue 9): what needs attention now, not a finished run's history.

The findings are the real health rules' on hand-built series (the CLI tests in
test_analysis_commands.py run check as a process on simulated runs)."""

from __future__ import annotations

import dataclasses

import numpy as np

import collectors.analysis.health as health
from collectors.model.run import FINISHED, RUNNING, STALLED
from tests.builders import run_snapshot
from tests.builders import series_view as view
from tui.cli.analysis import attention

STEPS = np.arange(1, 201) * 500_000
CLIP = {"algo_args.algo.max_grad_norm": 0.5, "algo_args.algo.use_max_grad_norm": True}


def judged(state, series, **kw):
    run = run_snapshot(
        {t: view(STEPS, v) for t, v in series.items()},
        state=state,
        total_steps=100_000_000,
        last_data=1.7e9 + 3600,
        config=dict(CLIP),
        **kw,
    )
    return dataclasses.replace(run, health=health.evaluate(run, now=1.7e9 + 7200))


def degrading():
    n = len(STEPS)
    return np.concatenate([np.full(n // 2, -10.0), np.full(n - n // 2, -20.0)])


def test_a_finished_runs_degraded_history_does_not_need_attention():
    run = judged(FINISHED, {"train_episode_rewards": degrading()})
    assert health.worst(run.health) == "bad"
    assert attention(run, history=False) == "ok"
    assert attention(run, history=True) == "bad"


def test_a_live_degrading_run_needs_attention():
    run = judged(RUNNING, {"train_episode_rewards": degrading()})
    assert attention(run, history=False) == "bad"


def test_a_past_spike_of_a_live_run_is_history_a_current_one_is_not():
    grad = 0.3 + np.random.default_rng(0).normal(0, 0.02, len(STEPS))
    grad[90] = 3.0
    past = judged(RUNNING, {"agent0/actor_grad_norm": grad})
    assert attention(past, history=False) == "ok" and attention(past, history=True) == "warn"
    grad[-1] = 3.0
    now = judged(RUNNING, {"agent0/actor_grad_norm": grad})
    assert attention(now, history=False) == "warn"  # a warning: fails with --strict only


def test_a_stalled_run_and_a_data_error_need_attention():
    stalled = judged(STALLED, {"agent0/dist_entropy": np.full(len(STEPS), 1.5)})
    assert health.worst(stalled.health) == "warn" and attention(stalled, False) == "bad"
    broken = judged(FINISHED, {"agent0/dist_entropy": np.full(len(STEPS), 1.5)})
    broken = dataclasses.replace(broken, errors=("logs/x: 1 corrupt region(s) skipped",))
    assert attention(broken, history=False) == "bad"
    nan = np.full(len(STEPS), 0.3)
    nan[12] = np.nan
    finished_nan = judged(FINISHED, {"critic/value_loss": nan})
    assert attention(finished_nan, history=False) == "bad"  # NaN/inf: a data error, always
