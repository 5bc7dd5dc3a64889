"""A Slurm job in words, the same on every screen and in the text table: ``job 12 PENDING
(Resources), expected 14:02``, ``job 12 RUNNING on gpu07, 3h12m left``, ``job 12 TIMEOUT
14:02``. Pure: a function of the model value and the time."""

from __future__ import annotations

from collectors import fmt
from collectors.model.job import PENDING, RUNNING, JobInfo


def job_summary(job: JobInfo, now: float | None = None, short: bool = False) -> str:
    out = f"job {job.id} {job.state}"
    if job.state == PENDING:
        if job.reason:
            out += f" ({job.reason})"
        if job.expected_start:
            out += f", expected {fmt.clock(job.expected_start, now)}"
    elif job.state == RUNNING:
        if job.node and not short:
            out += f" on {job.node}"
        if job.time_left is not None:
            out += f", {fmt.duration(job.time_left)} left"
        elif not short:
            out += ", no time limit"
    elif not job.active:
        if job.ended and not short:
            out += f" {fmt.clock(job.ended, now)}"
        if job.exit_code not in (None, 0):
            out += f" (exit {job.exit_code})"
    return out
