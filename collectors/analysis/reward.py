"""The reward of a run as HARL logs it: the verdict of its quarters, read on both reward series,
and its best point once the points HARL cannot average fairly are left out.

What HARL logs (harl/common/base_logger.py, ``BaseLogger.per_step`` and ``episode_log``):

- ``train_episode_rewards`` (``aver_rewards``) is the mean reward of the episodes that *ended*
  during the log interval (``done_episodes_rewards``, emptied at every log). In the first log
  interval only the episodes shorter than the interval have ended: the first point averages
  the short episodes alone (-6.12 at 500k against about -15 afterwards in the real runs).
- ``critic/average_step_rewards`` is ``critic_buffer.get_mean_rewards()`` of the last rollout
  (set in ``episode_log``): the reward per environment step, whatever the episodes' length,
  while an episode's reward is the sum over its steps of the agents' mean reward (``per_step``).

So ``episode reward / step reward`` is the implied episode length. When episodes get longer
(860 -> 1820 steps in the real runs) the episode reward can fall while the reward per step
improves (-0.0167 -> -0.0075): the run is not simply degrading. :func:`reward_verdict` reads
the quarters of both series (of the run's own quarter span, :func:`quarters.quarter_span`) and
calls a run ``degrading`` only when both agree; when they disagree it is ``mixed``, with the
reason. With only one of the series the verdict is that series' (as before).

Pure data layer: no Textual, Rich or plotext.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from collectors.analysis.quarters import (
    DEGRADING,
    FLAT,
    FLAT_NOISE,
    FLAT_RELATIVE,
    HIGHER_IS_BETTER,
    IMPROVING,
    NOT_AVAILABLE,
    RECOVERING,
    QuarterTable,
    quarter_span,
    reward_tag,
    run_quarters,
)
from collectors.model.run import RunSnapshot
from collectors.model.run_config import as_int, lookup

EPISODE_TAG = "train_episode_rewards"
STEP_TAGS = ("critic/average_step_rewards", "average_step_reward")
MIXED = "mixed"
# A point is trusted when each environment has run this many implied episode lengths by then
# (the first interval's episodes all started at step 0: only the short ones have ended).
FULL_EPISODES = 2.0


@dataclass(frozen=True, slots=True)
class RewardVerdict:
    """The reward verdict of a run, computed once and shown everywhere.

    ``verdict``: improving / flat / recovering / degrading / mixed / n/a. ``episode`` and
    ``step`` are the quarter tables of the episode reward and of the per-step reward (either
    may be None); ``lengths`` the implied episode length per quarter (episode mean / step mean);
    ``reason`` says why a verdict is mixed (empty otherwise).
    """

    verdict: str
    episode: QuarterTable | None
    step: QuarterTable | None
    lengths: tuple[float | None, float | None, float | None, float | None]
    reason: str = ""

    @property
    def main(self) -> QuarterTable | None:
        """The table the verdict's numbers come from (the episode reward when there is one)."""
        return self.episode if self.episode is not None else self.step

    def to_json(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "reason": self.reason,
            "episode": None if self.episode is None else self.episode.to_json(),
            "step": None if self.step is None else self.step.to_json(),
            "episode_length": [None if x is None else round(x, 1) for x in self.lengths],
        }


def step_reward_tag(run: RunSnapshot) -> str | None:
    """The per-step reward series of the run (layout A/U: ``critic/average_step_rewards``)."""
    return next((t for t in STEP_TAGS if t in run.series and len(run.series[t])), None)


def _sense(table: QuarterTable | None) -> str:
    """A table's verdict reduced to better / worse / flat / n/a."""
    if table is None or table.verdict == NOT_AVAILABLE:
        return NOT_AVAILABLE
    if table.verdict == IMPROVING:
        return "better"
    if table.verdict in (DEGRADING, RECOVERING):
        return "worse"
    return FLAT


def reward_verdict(
    run: RunSnapshot,
    *,
    span: int | None = None,
    flat_noise: float = FLAT_NOISE,
    flat_relative: float = FLAT_RELATIVE,
) -> RewardVerdict:
    """The run's reward verdict (see the module docstring); ``span`` defaults to the run's own
    quarter span."""
    s = span if span is not None else quarter_span(run)
    kw = {"span": s, "flat_noise": flat_noise, "flat_relative": flat_relative}
    tag = reward_tag(run)
    stag = step_reward_tag(run)
    episode = None
    if tag is not None and tag not in STEP_TAGS:
        episode = run_quarters(run, tag, direction=HIGHER_IS_BETTER, **kw)  # type: ignore[arg-type]
    step = None
    if stag is not None:
        step = run_quarters(run, stag, direction=HIGHER_IS_BETTER, **kw)  # type: ignore[arg-type]
    lengths: list[float | None] = [None, None, None, None]
    if episode is not None and step is not None:
        for i, (e, p) in enumerate(zip(episode.quarters, step.quarters, strict=True)):
            if e.mean is not None and p.mean not in (None, 0.0) and e.mean * (p.mean or 1) > 0:
                lengths[i] = e.mean / (p.mean or 1.0)
    ln = (lengths[0], lengths[1], lengths[2], lengths[3])
    if episode is None and step is None:
        return RewardVerdict(NOT_AVAILABLE, None, None, ln)
    if episode is None or step is None:
        only = episode or step
        assert only is not None
        return RewardVerdict(only.verdict, episode, step, ln)
    ev, sv = _sense(episode), _sense(step)
    if NOT_AVAILABLE in (ev, sv) or ev == sv:
        return RewardVerdict(episode.verdict, episode, step, ln)
    if ev == "worse" and sv != "worse":
        grew = _length_text(ln)
        reason = (
            f"episode reward {episode.verdict} but reward per step {step.verdict}"
            f"{grew}: episodes got longer, not worse"
            if grew
            else f"episode reward {episode.verdict} but reward per step {step.verdict}"
        )
        return RewardVerdict(MIXED, episode, step, ln, reason)
    if sv == "worse" and ev != "worse":
        reason = f"episode reward {episode.verdict} but reward per step {step.verdict}"
        return RewardVerdict(MIXED, episode, step, ln, reason)
    return RewardVerdict(episode.verdict, episode, step, ln)


def _length_text(lengths: tuple[float | None, ...]) -> str:
    """`` (episodes 860 -> 1820 steps)`` when the implied length grew by 10 % or more."""
    known = [x for x in lengths if x is not None]
    if len(known) < 2 or known[-1] < 1.1 * known[0]:
        return ""
    return f" (episodes {known[0]:.0f} -> {known[-1]:.0f} steps)"


# -- best --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BestReward:
    """The best reward point that HARL averaged over full episodes, and what was left out."""

    value: float | None
    step: int | None
    left_out: int  # leading points left out
    why: str  # empty when nothing was left out


def typical_length(run: RunSnapshot, points: int = 10) -> float | None:
    """The implied episode length at the start of the run: the median of episode reward / step
    reward over the points after the first (the first is biased to short episodes)."""
    tag, stag = reward_tag(run), step_reward_tag(run)
    if tag is None or stag is None or tag in STEP_TAGS:
        return None
    ev, sv = run.series[tag], run.series[stag]
    if len(ev) < 2 or len(sv) == 0:
        return None
    steps = ev.steps[1 : 1 + points]
    idx = np.clip(np.searchsorted(sv.steps, steps), 0, len(sv) - 1)
    per = sv.values[idx].astype(np.float64)
    ep = ev.values[1 : 1 + points].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(per * ep > 0, ep / per, np.nan)
    ratio = ratio[np.isfinite(ratio)]
    return float(np.median(ratio)) if len(ratio) else None


def best_reward(run: RunSnapshot) -> BestReward | None:
    """The best reward point of the run, leaving out the leading points whose log interval
    cannot hold full episodes.

    A point at step ``s`` is kept when every one of the ``n_rollout_threads`` environments has
    run at least ``FULL_EPISODES`` implied episode lengths by then (``s / n_rollout_threads``
    steps; the length from :func:`typical_length`). When the length or the
    thread count cannot be known, the first point is left out (HARL's first log interval holds
    only the episodes that ended in it: base_logger.py ``episode_log``). None without a reward.
    """
    tag = reward_tag(run)
    if tag is None:
        return None
    view = run.series[tag]
    steps, values = view.steps, view.values
    ok = np.isfinite(values)
    if not ok.any():
        return None
    skip = 1 if len(values) > 1 else 0
    why = "the first log point (HARL's first interval holds only the short episodes)"
    threads = as_int(lookup(run.config, "n_rollout_threads"))
    length = typical_length(run) if tag not in STEP_TAGS else None
    if length is not None and threads:
        held = steps / threads
        short = ~(held >= FULL_EPISODES * length)
        # leading points only: the bias is of the start (episodes that all began at step 0)
        skip = int(np.argmin(short)) if not short.all() else len(values) - 1
        why = (
            f"{skip} leading point{'s' if skip != 1 else ''} whose interval cannot hold full "
            f"episodes (about {length:.0f} steps each)"
            if skip
            else ""
        )
    if skip >= len(values):
        skip = len(values) - 1
    kept = np.flatnonzero(ok[skip:]) + skip
    if len(kept) == 0:
        kept = np.flatnonzero(ok)
        skip, why = 0, ""
    i = int(kept[int(np.argmax(values[kept]))])
    v = float(values[i])
    return BestReward(v if math.isfinite(v) else None, int(steps[i]), skip, why if skip else "")


def with_trusted_best(run: RunSnapshot) -> RunSnapshot:
    """The run with ``reward.best`` (and ``best_step``) as :func:`best_reward` has it, the
    leading points left out counted: computed once, by the monitor, so that every screen and
    output (``--json``, the table, the panels) shows the same best."""
    if run.reward is None:
        return run
    best = best_reward(run)
    if best is None or best.value is None:
        return run
    reward = dataclasses.replace(
        run.reward,
        best=best.value,
        best_step=best.step or 0,
        left_out=best.left_out,
        left_out_why=best.why,
    )
    return run if reward == run.reward else dataclasses.replace(run, reward=reward)


__all__ = [
    "with_trusted_best",
    "EPISODE_TAG",
    "MIXED",
    "STEP_TAGS",
    "BestReward",
    "RewardVerdict",
    "best_reward",
    "reward_verdict",
    "step_reward_tag",
]
