"""The seed document's success criteria, evaluated for every run against the first run given
(the reference). Pure functions of snapshots; ``happo-top report`` renders them.

Success criteria (each ``pass`` / ``fail`` / ``not yet``, or ``n/a`` when the data cannot tell):

1. *Completes without a crash*: pass when finished; fail when crashed or stopped early.
2. *No degradation after 50 %*: reward quarters of the planned length; fail as soon as Q3 or Q4
   (with ``min_quarter_points``) is below the best of Q1/Q2 by more than the flat tolerance;
   pass when both have data and the run has finished. When the per-step reward is logged and
   did not degrade, a fall of the episode reward alone is ``n/a`` ("mixed").
3. *Final reward >= the reference's best quarter mean*: the planned length's Q4 mean of a
   finished run against the best quarter mean of the reference run.
4. *Stable gradients*: fail on a gradient spike (a grad norm point above ``grad_spike_factor``
   times the median of the ``grad_spike_window`` points before it, any actor or the critic);
   pass when the run has finished without one. The share of updates clipped is quoted: HARL
   logs the norm before clipping, so a norm above the clip value is the clip at work.
5. *Smooth curve*: point-to-point reward noise (:func:`collectors.analysis.point_noise`) of a
   finished run: at most the reference's for the other runs; at most ``reward_noise_max`` times
   the mean |reward| for the reference itself.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from collectors import fmt
from collectors.analysis.health import thresholds_with_defaults
from collectors.analysis.health.training import spike_indices
from collectors.analysis.quarters import (
    QuarterTable,
    all_finite,
    clip_value,
    metric_tags,
    point_noise,
    quarter_span,
    reward_quarters,
    reward_tag,
    run_quarters,
)
from collectors.analysis.reward import step_reward_tag
from collectors.analysis.selection import unique_names
from collectors.model.run import CRASHED, FINISHED, RUNNING, STALLED, STARTING, STOPPED, RunSnapshot

PASS = "pass"
FAIL = "fail"
NOT_YET = "not yet"
NA = "n/a"
LIVE_STATES = (RUNNING, STALLED, STARTING)


def planned_steps(run: RunSnapshot) -> int | None:
    """The run's planned length: ``num_env_steps``, else the span its quarters use."""
    return run.total_steps or quarter_span(run)


def planned_quarters(run: RunSnapshot, tol: Mapping[str, float]) -> QuarterTable | None:
    """The reward quarters over the run's planned length (None without a plan or a reward)."""
    planned = planned_steps(run)
    if not planned:
        return None
    return reward_quarters(
        run, span=planned, flat_noise=tol["flat_noise"], flat_relative=tol["flat_relative"]
    )


@dataclass(frozen=True, slots=True)
class CriterionResult:
    status: str  # pass | fail | not yet | n/a
    detail: str


@dataclass(frozen=True, slots=True)
class Criterion:
    title: str
    results: tuple[CriterionResult, ...]  # one per run, in the runs' order


def _live(run: RunSnapshot) -> bool:
    return run.state in LIVE_STATES


def _ended_early(run: RunSnapshot) -> bool:
    return run.state in (CRASHED, STOPPED) and (not run.total_steps or run.step < run.total_steps)


def _c_complete(run: RunSnapshot) -> CriterionResult:
    total = fmt.steps(run.total_steps) if run.total_steps else "?"
    if run.state == FINISHED:
        return CriterionResult(PASS, f"finished at {fmt.steps(run.step)}")
    if run.state == CRASHED:
        return CriterionResult(FAIL, f"crashed at {fmt.steps(run.step)} / {total}")
    if run.state == STOPPED:
        return CriterionResult(FAIL, f"stopped at {fmt.steps(run.step)} / {total}")
    return CriterionResult(NOT_YET, f"{run.state} at {fmt.steps(run.step)} / {total}")


def _degraded_after_half(table: QuarterTable, mp: int) -> bool:
    q = table.quarters
    pre = [x for x in q[:2] if x.count >= mp]
    if not pre:
        return False
    limit = (max(pre, key=lambda x: x.mean or 0.0).mean or 0.0) - table.tolerance
    return any((x.mean or 0.0) < limit for x in q[2:] if x.count >= mp)


def _c_no_degradation(run: RunSnapshot, mp: int, tol: Mapping[str, float]) -> CriterionResult:
    """Fails when the episode reward degrades after 50 % *and* the per-step reward does too
    (when logged): HARL's episode reward falls when episodes get longer (base_logger.py), so a
    fall of the episode reward alone is "mixed", not a failure."""
    table = planned_quarters(run, tol)
    if table is None:
        return CriterionResult(NA, "no reward series")
    planned = planned_steps(run)
    stag = step_reward_tag(run)
    if stag is not None and stag != table.tag and planned:
        step_table = run_quarters(
            run,
            stag,
            span=planned,
            flat_noise=tol["flat_noise"],
            flat_relative=tol["flat_relative"],
        )
        if (
            step_table is not None
            and _degraded_after_half(table, mp)
            and not _degraded_after_half(step_table, mp)
        ):
            return CriterionResult(
                NA, "mixed: the episode reward fell after 50% but the reward per step did not"
            )
    q = table.quarters
    pre = [x for x in q[:2] if x.count >= mp]
    if not pre:
        return CriterionResult(NA if not _live(run) else NOT_YET, "no reward before 50%")
    best = max(pre, key=lambda x: x.mean or 0.0)
    limit = (best.mean or 0.0) - table.tolerance
    post = [x for x in q[2:] if x.count >= mp]
    for x in post:
        if (x.mean or 0.0) < limit:
            return CriterionResult(
                FAIL, f"{x.label} {fmt.reward(x.mean)} < {best.label} {fmt.reward(best.mean)}"
            )
    if len(post) == 2 and not _live(run):
        return CriterionResult(
            PASS, f"Q3 {fmt.reward(q[2].mean)}, Q4 {fmt.reward(q[3].mean)} >= ~{fmt.reward(limit)}"
        )
    if _live(run):
        done = ", ".join(f"{x.label} {fmt.reward(x.mean)}" for x in post) or "no data after 50% yet"
        return CriterionResult(NOT_YET, done)
    return CriterionResult(NA, f"ended at {fmt.steps(run.step)}")


def _other_tag(run: RunSnapshot, ref_tag: str | None) -> str | None:
    """Why this run's reward cannot be set against the reference's: it logs another reward tag
    (``average_step_reward`` is per step, ``train_episode_rewards`` per episode)."""
    tag = reward_tag(run)
    if tag is None or ref_tag is None or tag == ref_tag:
        return None
    return f"logs {tag}, the reference {ref_tag}: not comparable"


def _c_final(
    run: RunSnapshot,
    ref_best: float | None,
    ref_name: str,
    tol: Mapping[str, float],
    ref_tag: str | None = None,
) -> CriterionResult:
    if ref_best is None:
        return CriterionResult(NA, "no reference reward")
    other = _other_tag(run, ref_tag)
    if other:
        return CriterionResult(NA, other)
    table = planned_quarters(run, tol)
    if table is None:
        return CriterionResult(NA, "no reward series")
    q4 = table.quarters[3]
    target = f">= {fmt.reward(ref_best)} ({ref_name})"
    if run.state == FINISHED:
        if q4.mean is None:
            return CriterionResult(NA, "no data in Q4")
        ok = q4.mean >= ref_best
        rel = ">=" if ok else "<"
        return CriterionResult(
            PASS if ok else FAIL,
            f"Q4 {fmt.reward(q4.mean)} {rel} {fmt.reward(ref_best)} ({ref_name})",
        )
    if _ended_early(run):
        return CriterionResult(FAIL, f"ended at {fmt.steps(run.step)}")
    now = table.last
    so_far = f"{now.label} so far {fmt.reward(now.mean)}" if now is not None else "no data yet"
    return CriterionResult(NOT_YET, f"{so_far}; target {target}")


def _c_grad(run: RunSnapshot, t: Mapping[str, float]) -> CriterionResult:
    """Stable gradients: no gradient spike (a grad norm point above ``grad_spike_factor`` times
    the median of the points before it, any network) and the share of clipped updates.

    HARL logs the pre-clip norm (clip_grad_norm_'s return value, harl/algorithms/actors/
    on_policy_base.py ``OnPolicyBase.update``, harl/algorithms/critics/v_critic.py
    ``VCritic.update``): a logged norm above ``max_grad_norm`` is the clip at work, not a
    failure, so only spikes against the run's own level fail this criterion."""
    tags = metric_tags(run.series)
    nets = [*tags["actor_grad_norm"], *tags["critic_grad_norm"]]
    nets = [x for x in nets if len(run.series[x])]
    if not nets:
        return CriterionResult(NA, "no grad norm series")
    clip = clip_value(run.config)
    factor, width = t["grad_spike_factor"], int(t["grad_spike_window"])
    spikes, worst_share, worst_net = 0, 0.0, ""
    for tag in nets:
        v = run.series[tag].values
        spikes += len(spike_indices(v, factor, width))
        fin = v if all_finite(v) else v[np.isfinite(v)]
        if clip is not None and len(fin):
            share = float(np.count_nonzero(fin > clip)) / len(fin)
            if share > worst_share:
                worst_share, worst_net = share, tag.split("/")[0]
    clipped = (
        f"; clipped on {worst_share * 100:.0f}% of {worst_net} updates"
        if worst_share > 0
        else (f"; never above max_grad_norm {clip:g}" if clip is not None else "")
    )
    if spikes:
        return CriterionResult(FAIL, f"{spikes} spikes > {factor:g}x recent median{clipped}")
    if _live(run):
        return CriterionResult(NOT_YET, f"no spike > {factor:g}x recent median so far{clipped}")
    return CriterionResult(PASS, f"no spike > {factor:g}x recent median{clipped}")


def _noise(run: RunSnapshot) -> tuple[float, float] | None:
    tag = reward_tag(run)
    if tag is None:
        return None
    v = run.series[tag].values
    n = point_noise(v)
    if n is None:
        return None
    fin = v[np.isfinite(v)]
    return n, float(np.abs(fin.astype(np.float64)).mean())


def _c_smooth(
    run: RunSnapshot,
    is_ref: bool,
    ref_noise: float | None,
    noise_max: float,
    ref_tag: str | None = None,
) -> CriterionResult:
    got = _noise(run)
    if got is None:
        return CriterionResult(NA, "too few reward points")
    noise, level = got
    if is_ref or ref_noise is None or _other_tag(run, ref_tag):  # judged on its own scale
        rel = noise / level if level > 0 else math.inf
        ok = rel <= noise_max
        detail = (
            f"noise {fmt.reward(noise)} = {rel * 100:.1f}% of |reward| (max {noise_max * 100:g}%)"
        )
    else:
        ok = noise <= ref_noise
        detail = f"noise {fmt.reward(noise)} vs {fmt.reward(ref_noise)} (reference)"
    if _live(run):
        return CriterionResult(NOT_YET, detail + " so far")
    return CriterionResult(PASS if ok else FAIL, detail)


def success_criteria(
    runs: Sequence[RunSnapshot], thresholds: Mapping[str, float] | None = None
) -> list[Criterion]:
    """The seed's success criteria for every run, the first run being the reference."""
    if not runs:
        return []
    t = thresholds_with_defaults(thresholds)
    tol = {"flat_noise": t["flat_noise"], "flat_relative": t["flat_relative"]}
    mp = int(t["min_quarter_points"])
    ref = runs[0]
    names = unique_names(runs)
    ref_table = reward_quarters(
        ref, flat_noise=tol["flat_noise"], flat_relative=tol["flat_relative"]
    )
    ref_best_q = ref_table.best if ref_table is not None else None
    ref_best = ref_best_q.mean if ref_best_q is not None else None
    ref_noise_t = _noise(ref)
    ref_noise = ref_noise_t[0] if ref_noise_t else None
    ref_tag = reward_tag(ref)
    planned = sorted({p for p in (planned_steps(r) for r in runs) if p})
    if len(planned) > 1:
        complete = f"Completes its planned steps ({' / '.join(map(fmt.steps, planned))})"
    else:
        complete = f"Completes {fmt.steps(planned[0] if planned else None)} steps"
    best_text = f"{fmt.reward(ref_best)}, {ref_best_q.label} of {names[0]}" if ref_best_q else "-"
    return [
        Criterion(f"{complete} without a crash", tuple(_c_complete(r) for r in runs)),
        Criterion(
            "No reward degradation after 50% of the steps",
            tuple(_c_no_degradation(r, mp, tol) for r in runs),
        ),
        Criterion(
            f"Final (Q4) reward >= reference's best quarter ({best_text})",
            tuple(_c_final(r, ref_best, names[0], tol, ref_tag) for r in runs),
        ),
        Criterion(
            f"Stable gradients (no spike above {t['grad_spike_factor']:g}x the recent median)",
            tuple(_c_grad(r, t) for r in runs),
        ),
        Criterion(
            "Smooth learning curve (low reward variance)",
            tuple(
                _c_smooth(r, i == 0, ref_noise, t["reward_noise_max"], ref_tag)
                for i, r in enumerate(runs)
            ),
        ),
    ]
