"""Run-state rules: a process that exited early, a stalled, crashed or stopped run.

``run.process`` is read as a :class:`collectors.sources.processes.ProcessInfo`-shaped object, by
attribute only (``alive``, ``status``, ``pid``, ``exit_code``); None means no process is known.
"""

from __future__ import annotations

import math
from typing import Any

from collectors import fmt
from collectors.analysis.health.registry import Context, Rule
from collectors.model.findings import BAD, OK, WARN, Finding
from collectors.model.run import CRASHED, FINISHED, STALLED, STOPPED, RunSnapshot

FAMILY = "run state"
# The runs collector calls a run crashed from files alone after this many stall periods of
# silence (collectors.sources.runs DEAD_FACTOR); a crashed run silent for less was judged by its
# process.
DEAD_AFTER_STALLS = 3.0


def _process_dead(process: Any) -> bool:
    if process is None:
        return False
    if getattr(process, "alive", None) is False:
        return True
    status = getattr(process, "status", None)
    return isinstance(status, str) and status.lower() in ("dead", "zombie")


def _process_alive(process: Any) -> bool:
    return process is not None and not _process_dead(process)


def _ended_early(run: RunSnapshot) -> bool:
    if run.state == FINISHED:
        return False
    return run.total_steps is None or run.step < run.total_steps


def _died_early(run: RunSnapshot) -> bool:
    return _process_dead(run.process) and _ended_early(run)


def _who(run: RunSnapshot) -> str:
    pid = getattr(run.process, "pid", None)
    return f"process {pid}" if pid is not None else "process"


def _since(ctx: Context) -> str:
    run = ctx.run
    return fmt.clock(run.last_data, ctx.now) if run.last_data else "start"


def _of_total(run: RunSnapshot) -> str:
    return f" of {fmt.steps(run.total_steps)}" if run.total_steps else ""


def process(ctx: Context) -> list[Finding]:
    run = ctx.run
    if not _died_early(run):
        return []
    code = getattr(run.process, "exit_code", None)
    if code is None:
        code = getattr(run.process, "returncode", None)
    exit_text = f" (exit {code})" if code is not None else ""
    msg = f"{_who(run)} exited{exit_text} at {fmt.steps(run.step)}{_of_total(run)}"
    return [Finding("process", BAD, msg, run.step, None)]


def stall(ctx: Context) -> list[Finding]:
    run = ctx.run
    if run.state != STALLED:
        return []
    extra = f"; {_who(run)} alive" if _process_alive(run.process) else ""
    msg = f"no new data since {_since(ctx)} (limit {fmt.duration(run.stall_after)}){extra}"
    return [Finding("stall", WARN, msg, run.step, None)]


def crashed(ctx: Context) -> list[Finding]:
    run = ctx.run
    if run.state != CRASHED or _died_early(run):
        return []  # a process that exited early is the process rule's finding
    if run.job is not None and not run.job.active and run.job.state != "COMPLETED":
        return []  # Slurm said how it ended: the job rule's finding
    since = _since(ctx)
    silent = ctx.now - run.last_data if run.last_data else math.inf
    if _process_alive(run.process):
        msg = f"no data since {since}; {_who(run)} alive but silent"
    elif silent < DEAD_AFTER_STALLS * run.stall_after:
        # Not silent for long: the process collector saw the process gone.
        msg = f"process gone at {fmt.steps(run.step)}{_of_total(run)} (last data {since})"
    else:
        msg = f"no data since {since}: process presumed dead before the last step"
    return [Finding("crashed", BAD, msg, run.step, None)]


def stopped(ctx: Context) -> list[Finding]:
    run = ctx.run
    if run.state != STOPPED or not _ended_early(run):
        return []
    return [Finding("stopped", OK, f"stopped at {fmt.steps(run.step)}{_of_total(run)}", run.step)]


def job_limit(ctx: Context) -> list[Finding]:
    """A running Slurm job whose time limit comes before the run's ETA: Slurm will end it
    (TIMEOUT) with steps still to train."""
    run, job = ctx.run, ctx.run.job
    if job is None or job.state != "RUNNING" or job.time_left is None or run.eta is None:
        return []
    end = ctx.now + job.time_left
    if run.eta <= end:
        return []
    short = ""
    if run.steps_per_hour and math.isfinite(run.steps_per_hour):
        short = f", about {fmt.steps(int((run.eta - end) * run.steps_per_hour / 3600))} short"
    msg = (
        f"job {job.id}'s time limit ends it at {fmt.clock(end, ctx.now)}, before the run's ETA "
        f"{fmt.clock(run.eta, ctx.now)}{short}"
    )
    return [Finding("job_time_limit", WARN, msg, run.step, None)]


def job_end(ctx: Context) -> list[Finding]:
    """A Slurm job that ended before the run's last step, as Slurm tells it."""
    run, job = ctx.run, ctx.run.job
    if job is None or job.active or run.state == FINISHED or not _ended_early(run):
        return []
    when = f" at {fmt.clock(job.ended, ctx.now)}" if job.ended else ""
    code = f", exit {job.exit_code}" if job.exit_code not in (None, 0) else ""
    what = f"job {job.id} {job.state}{when}{code} at {fmt.steps(run.step)}{_of_total(run)}"
    if job.state == "TIMEOUT" and job.time_limit:
        what += f" (time limit {fmt.duration(job.time_limit)})"
    if job.state == "CANCELLED" or run.state == STOPPED:
        return [Finding("job", OK, what, run.step, None)]
    return [Finding("job", BAD, what, run.step, None)]


RULES = (
    Rule(
        "process",
        FAMILY,
        "bad: the run's process exited before the last step (alive false, or status dead or "
        "zombie); its pid and exit code are quoted when known",
        (),
        process,
    ),
    Rule(
        "stall",
        FAMILY,
        "warn: the run is stalled (no new data for longer than its stall period)",
        (),
        stall,
    ),
    Rule(
        "crashed",
        FAMILY,
        "bad: the run is crashed (its process gone, or silent for long: presumed dead before "
        "its last step)",
        (),
        crashed,
    ),
    Rule("stopped", FAMILY, "ok: the run was stopped before its last step", (), stopped),
    Rule(
        "job_time_limit",
        FAMILY,
        "warn: the run's Slurm job will reach its time limit before the run's ETA",
        (),
        job_limit,
    ),
    Rule(
        "job",
        FAMILY,
        "bad: the run's Slurm job ended before the last step (TIMEOUT, FAILED, NODE_FAIL, ...); "
        "ok when it was cancelled or stopped",
        (),
        job_end,
    ),
)
