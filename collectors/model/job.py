"""A Slurm job behind a run, as ``squeue`` / ``scontrol`` / ``sacct`` (or the launch registry,
once Slurm forgot it) reported it at one poll (collectors.sources.slurm). No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Slurm's job states (``squeue -t``): the ones in which the job may still run, and the ends.
PENDING = "PENDING"
RUNNING = "RUNNING"
COMPLETED = "COMPLETED"
CANCELLED = "CANCELLED"
FAILED = "FAILED"
TIMEOUT = "TIMEOUT"
UNKNOWN = "UNKNOWN"  # Slurm forgot a job that was active when last seen: it ended, not known how
ACTIVE_STATES = frozenset(
    {
        PENDING,
        RUNNING,
        "CONFIGURING",
        "COMPLETING",
        "SUSPENDED",
        "REQUEUED",
        "REQUEUE_HOLD",
        "REQUEUE_FED",
        "RESIZING",
        "RESV_DEL_HOLD",
        "SIGNALING",
        "STAGE_OUT",
        "STOPPED",
    }
)
# Ends that are a failure of the job (the run did not end by itself)
FAILED_STATES = frozenset(
    {FAILED, TIMEOUT, "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED"}
)

# How a job was tied to its run (collectors.sources.slurm), strongest first.
BY_REGISTRY = "registry"  # happo-top submitted it (the launch registry has its job id)
BY_ENVIRON = "environ"  # SLURM_JOB_ID in the environment of the run's process on this node
BY_WORKDIR = "workdir"  # the run is below the job's working directory, started after the job
JOB_METHODS = (BY_REGISTRY, BY_ENVIRON, BY_WORKDIR)
# What reported it last: Slurm's tools, or the launch registry's note once Slurm forgot the job.
JOB_SOURCES = ("squeue", "scontrol", "sacct", "registry")


@dataclass(frozen=True, slots=True)
class JobInfo:
    """One Slurm job. Times are unix seconds; ``time_left`` and ``time_limit`` are seconds
    (None: no limit, or not known)."""

    id: str  # Slurm's job id (an array task as ``123_4``)
    state: str  # Slurm's state: PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT, FAILED, ...
    reason: str | None = None  # why pending (Priority, Resources, JobHeldUser) or why it ended
    partition: str | None = None
    node: str | None = None  # the node list (the batch host first)
    time_left: float | None = None
    time_limit: float | None = None
    submitted: float | None = None
    started: float | None = None  # the start of a job that started
    expected_start: float | None = None  # Slurm's estimate for a pending job (backfill)
    ended: float | None = None  # the end of a job that ended
    user: str | None = None
    uid: int | None = None
    name: str | None = None
    workdir: str | None = None
    stdout: str | None = None
    exit_code: int | None = None  # the batch script's exit status (negative: killed by signal)
    how_found: str = BY_REGISTRY  # registry | environ | workdir
    source: str = "squeue"  # squeue | scontrol | sacct | registry (Slurm forgot it)
    seen: float | None = None  # when Slurm last reported it
    launch_id: str | None = None  # the launch-registry record when happo-top submitted it

    @property
    def active(self) -> bool:
        """Pending or running (or on the way there): the job may still run or be cancelled."""
        return self.state in ACTIVE_STATES

    @property
    def pending(self) -> bool:
        return self.state == PENDING

    @property
    def failed(self) -> bool:
        return self.state in FAILED_STATES

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "state": self.state,
            "reason": self.reason,
            "partition": self.partition,
            "node": self.node,
            "time_left": self.time_left,
            "submitted": self.submitted,
            "started": self.started,
            "expected_start": self.expected_start,
            "ended": self.ended,
            "time_limit": self.time_limit,
            "user": self.user,
            "name": self.name,
            "workdir": self.workdir,
            "stdout": self.stdout,
            "exit_code": self.exit_code,
            "how_found": self.how_found,
            "source": self.source,
            "launch_id": self.launch_id,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> JobInfo:
        return cls(
            id=str(doc["id"]),
            state=str(doc.get("state") or "UNKNOWN"),
            reason=doc.get("reason"),
            partition=doc.get("partition"),
            node=doc.get("node"),
            time_left=doc.get("time_left"),
            time_limit=doc.get("time_limit"),
            submitted=doc.get("submitted"),
            started=doc.get("started"),
            expected_start=doc.get("expected_start"),
            ended=doc.get("ended"),
            user=doc.get("user"),
            name=doc.get("name"),
            workdir=doc.get("workdir"),
            stdout=doc.get("stdout"),
            exit_code=doc.get("exit_code"),
            how_found=str(doc.get("how_found") or BY_REGISTRY),
            source=str(doc.get("source") or "squeue"),
            launch_id=doc.get("launch_id"),
        )
