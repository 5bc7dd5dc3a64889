"""Snapshot values: what the collectors hand to the text, JSON and TUI front ends.

Everything here is immutable and plain. ``RunSnapshot.series`` holds read-only numpy views for
charts and analysis and is left out of the JSON document.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from collectors.model.disk import DiskSnapshot
from collectors.model.findings import Finding as Finding  # re-exported: it lives there
from collectors.model.gpu import GpuSnapshot
from collectors.model.job import JobInfo
from collectors.model.series import SeriesView

if TYPE_CHECKING:  # imported where a snapshot is read back: a local one never needs them
    from collectors.model.host import HostStatus
    from collectors.model.process import ProcessInfo

SCHEMA = 1

# Run states, in the order a run usually passes through them.
STARTING = "starting"
RUNNING = "running"
STALLED = "stalled"
FINISHED = "finished"
STOPPED = "stopped"
CRASHED = "crashed"
CONTINUED = "continued"  # ended, and a resumed run carries it on (collectors.analysis.chains)
STATES = (STARTING, RUNNING, STALLED, FINISHED, STOPPED, CRASHED, CONTINUED)

# A symbol per state, so that the state is readable without colour.
STATE_SYMBOLS = {
    STARTING: "~",
    RUNNING: ">",
    STALLED: "!",
    FINISHED: "=",
    STOPPED: "#",
    CRASHED: "x",
    CONTINUED: "+",
}


@dataclass(frozen=True, slots=True)
class Checkpoint:
    step: int
    time: float  # unix time of the save: see ``time_from``
    bytes: int
    complete: bool
    path: str
    # Where ``time`` comes from: "event" (the wall time logged at the checkpoint's step, which
    # survives a copy), "file" (the newest file's mtime: beyond the last event, or no events),
    # "estimate" (beyond the last event of a copied run: last event + steps at the run's speed).
    time_from: str = "file"

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "time": self.time,
            "time_from": self.time_from,
            "bytes": self.bytes,
            "complete": self.complete,
            "path": self.path,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Checkpoint:
        return cls(
            step=doc["step"],
            time=doc.get("time", 0.0),
            bytes=doc.get("bytes", 0),
            complete=bool(doc.get("complete")),
            path=doc.get("path", ""),
            time_from=doc.get("time_from", "file"),
        )


@dataclass(frozen=True, slots=True)
class ResumedFrom:
    """Where a resumed run (HARL's ``--model_dir``) started: the parent run and the chain step
    of the checkpoint. ``offset`` is what is added to the run's own steps to put them on the
    chain's axis (the checkpoint's step, itself on the parent's chain axis)."""

    id: str
    path: str
    step: int
    checkpoint: str  # the model_dir

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "step": self.step}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ResumedFrom:
        return cls(id=doc["id"], path=doc["path"], step=doc["step"], checkpoint="")


@dataclass(frozen=True, slots=True)
class ScalarLatest:
    step: int
    value: float
    count: int
    nonfinite: int = 0  # NaN/inf points seen (also those thinned away)
    first_nonfinite_step: int | None = None

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> ScalarLatest:
        value = doc.get("value")
        return cls(
            step=doc.get("step", 0),
            value=math.nan if value is None else value,
            count=doc.get("count", 0),
            nonfinite=doc.get("nonfinite", 0),
            first_nonfinite_step=doc.get("first_nonfinite_step"),
        )


@dataclass(frozen=True, slots=True)
class Reward:
    tag: str
    latest: float
    best: float
    best_step: int
    # leading points left out of ``best`` (HARL averages its first log intervals over short
    # episodes only: collectors.analysis.reward.best_reward), and why
    left_out: int = 0
    left_out_why: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "tag": self.tag,
            "latest": _num(self.latest),
            "best": _num(self.best),
            "best_step": self.best_step,
            "left_out": self.left_out,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Reward:
        return cls(
            tag=doc["tag"],
            latest=_nan(doc.get("latest")),
            best=_nan(doc.get("best")),
            best_step=doc.get("best_step", 0),
            left_out=doc.get("left_out", 0),
        )


# The reward a run is judged by: the first of these tags it logs (layouts A/U, B, and the critic's).
REWARD_TAGS = ("train_episode_rewards", "average_step_reward", "critic/average_step_rewards")


def pick_reward_tag(tags) -> str | None:
    for t in REWARD_TAGS:
        if t in tags:
            return t
    return None


@dataclass(frozen=True, slots=True)
class RunSnapshot:
    id: str  # short, stable: derived from the absolute path
    path: str  # absolute run directory
    name: str  # human label
    layout: str  # U, A, B or "?" (not known yet)
    algo: str
    env: str
    task: str
    exp_name: str
    seed: int | None
    # unix: the true start instant, from the main event file (its name's epoch, its first
    # record's wall time); the directory name's stamp (read in the viewer's zone) only when
    # there is no event file yet
    started: float | None
    state: str
    step: int  # latest logged step (0 when no data)
    total_steps: int | None
    progress: float | None  # 0..1
    steps_per_hour: float | None
    eta: float | None  # unix time of the expected end, running runs only
    last_data: float | None  # wall time of the newest event
    ended: float | None  # wall time of the last event of a run that is not running
    reward: Reward | None
    checkpoints: tuple[Checkpoint, ...]
    scalars: Mapping[str, ScalarLatest]
    config: Mapping[str, Any]  # flat dotted keys
    stall_after: float  # seconds without new data before the run counts as stalled
    health: tuple[Finding, ...] = ()
    process: ProcessInfo | None = None  # filled by the process collector (collectors.monitor)
    errors: tuple[str, ...] = ()
    label: str = ""  # what tells it apart from sibling runs, e.g. "lr=3e-4 max_grad_norm=0.5"
    # The training host's UTC offset in seconds (directory stamp minus the true start), None when
    # unknown (no event file yet, or a directory name without a stamp)
    utc_offset: int | None = None
    # run chains (collectors.analysis.chains): step, total_steps, progress and the checkpoint
    # steps of a resumed run are on the chain's axis; ``own_step`` is its own logged step
    resumed_from: ResumedFrom | None = None
    continued_by: str | None = None  # the id of the run that resumed from this one
    chain: tuple[str, ...] = ()  # the ids of the chain's segments, first to last (when chained)
    own_step: int | None = None
    resumed_at: tuple[int, ...] = ()  # chain steps where this run's chain was resumed (chart marks)
    host: str | None = None  # the ssh host it runs on (collectors.sources.remote); None: here
    job: JobInfo | None = None  # its Slurm job (collectors.sources.slurm), None: not a job
    # its stdout log when known (collectors.sources.processes.logs), kept after the process died,
    # and for a crashed or stopped run the line that says why (a traceback's exception line)
    log: str | None = None
    log_last: str | None = None
    series: Mapping[str, SeriesView] = field(default_factory=dict, repr=False, compare=False)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "name": self.name,
            "label": self.label,
            "layout": self.layout,
            "algo": self.algo,
            "env": self.env,
            "task": self.task,
            "exp_name": self.exp_name,
            "seed": self.seed,
            "started": self.started,
            "utc_offset": self.utc_offset,
            "state": self.state,
            "step": self.step,
            "total_steps": self.total_steps,
            "progress": _num(self.progress),
            "steps_per_hour": _num(self.steps_per_hour),
            "eta": _num(self.eta),
            "last_data": _num(self.last_data),
            "ended": _num(self.ended),
            "reward": None if self.reward is None else self.reward.to_json(),
            "checkpoints": [c.to_json() for c in self.checkpoints],
            "scalars": {tag: _scalar_json(s) for tag, s in sorted(self.scalars.items())},
            "config": {str(k): json_safe(v) for k, v in self.config.items()},
            "health": [f.to_json() for f in self.health],
            "process": _to_json(self.process),
            "errors": list(self.errors),
            "resumed_from": None if self.resumed_from is None else self.resumed_from.to_json(),
            "continued_by": self.continued_by,
            "chain": list(self.chain),
            "host": self.host,
            "stall_after": self.stall_after,
            "job": None if self.job is None else self.job.to_json(),
            "log": self.log,
            "log_last": self.log_last,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], host: str | None = None) -> RunSnapshot:
        """A run as another happo-top wrote it (``to_json``; ``happo-top serve --stream``).
        Series do not travel: ``series`` is empty. ``host``, when given, replaces the document's."""
        reward = doc.get("reward")
        process = doc.get("process")
        path = doc["path"]
        host = host if host is not None else doc.get("host")
        return cls(
            id=doc["id"],
            path=path,
            name=doc.get("name", ""),
            layout=doc.get("layout", "?"),
            algo=doc.get("algo", ""),
            env=doc.get("env", ""),
            task=doc.get("task", ""),
            exp_name=doc.get("exp_name", ""),
            seed=doc.get("seed"),
            started=doc.get("started"),
            state=doc.get("state", STARTING),
            step=doc.get("step", 0),
            total_steps=doc.get("total_steps"),
            progress=doc.get("progress"),
            steps_per_hour=doc.get("steps_per_hour"),
            eta=doc.get("eta"),
            last_data=doc.get("last_data"),
            ended=doc.get("ended"),
            reward=None if reward is None else Reward.from_json(reward),
            checkpoints=tuple(Checkpoint.from_json(c) for c in doc.get("checkpoints") or ()),
            scalars={t: ScalarLatest.from_json(v) for t, v in (doc.get("scalars") or {}).items()},
            config=dict(doc.get("config") or {}),
            stall_after=doc.get("stall_after", 360.0),
            health=tuple(Finding.from_json(f) for f in doc.get("health") or ()),
            process=None if process is None else _process_from_json(process, path, host),
            errors=tuple(doc.get("errors") or ()),
            label=doc.get("label", ""),
            host=host,
            utc_offset=doc.get("utc_offset"),
            resumed_from=ResumedFrom.from_json(doc["resumed_from"])
            if doc.get("resumed_from")
            else None,
            continued_by=doc.get("continued_by"),
            chain=tuple(doc.get("chain") or ()),
            job=JobInfo.from_json(doc["job"]) if doc.get("job") else None,
            log=doc.get("log"),
            log_last=doc.get("log_last"),
        )


def _process_from_json(doc: dict[str, Any], path: str, host: str | None) -> ProcessInfo:
    # Deferred for start-up time: the process values only for a snapshot read back.
    from collectors.model.process import ProcessInfo

    return ProcessInfo.from_json(doc, path, host)


def _hosts_from_json(docs: Any) -> tuple[HostStatus, ...]:
    # Deferred for start-up time: the host values only for a snapshot read back.
    from collectors.model.host import HostStatus

    return tuple(HostStatus.from_json(h) for h in docs)


@dataclass(frozen=True, slots=True)
class Snapshot:
    host: str
    time: float
    runs: tuple[RunSnapshot, ...]
    roots: tuple[str, ...]
    errors: tuple[str, ...] = ()  # problems with the roots themselves
    gpus: GpuSnapshot | None = None  # filled by the system collectors (collectors.monitor)
    disks: DiskSnapshot | None = None
    # The other hosts watched over ssh (collectors.sources.remote), each with its own GPUs, disks
    # and errors; ``gpus`` and ``disks`` above are this host's. Their runs are in ``runs``.
    hosts: tuple[HostStatus, ...] = ()
    # Slurm jobs happo-top submitted that no run directory is tied to yet (pending, or not
    # writing yet), and those that ended before writing one (collectors.sources.slurm)
    jobs: tuple[JobInfo, ...] = ()

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "schema": SCHEMA,
            "host": self.host,
            "time": self.time,
            "roots": list(self.roots),
            "runs": [r.to_json() for r in self.runs],
            "errors": list(self.errors),
        }
        doc["gpus"] = _to_json(self.gpus)
        doc["disks"] = _to_json(self.disks)
        doc["hosts"] = [h.to_json() for h in self.hosts]
        doc["jobs"] = [j.to_json() for j in self.jobs]
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any], host: str | None = None) -> Snapshot:
        """A snapshot as ``to_json`` wrote it (another happo-top's ``--json`` or stream).
        ``host`` tags every run (the ssh host name it came from); otherwise runs keep theirs.
        A document of another schema is refused (ValueError naming both)."""
        schema = doc.get("schema", SCHEMA)
        if schema != SCHEMA:
            raise ValueError(f"snapshot schema {schema}, this happo-top reads schema {SCHEMA}")
        t = doc.get("time", 0.0)
        gpus, disks = doc.get("gpus"), doc.get("disks")
        return cls(
            host=doc.get("host", ""),
            time=t,
            runs=tuple(RunSnapshot.from_json(r, host) for r in doc.get("runs") or ()),
            roots=tuple(doc.get("roots") or ()),
            errors=tuple(doc.get("errors") or ()),
            gpus=None if gpus is None else GpuSnapshot.from_json(gpus, t),
            disks=None if disks is None else DiskSnapshot.from_json(disks, t),
            hosts=_hosts_from_json(doc.get("hosts") or ()),
            jobs=tuple(JobInfo.from_json(j) for j in doc.get("jobs") or ()),
        )


def _scalar_json(s: ScalarLatest) -> dict[str, Any]:
    out: dict[str, Any] = {"step": s.step, "value": _num(s.value), "count": s.count}
    if s.nonfinite:
        out.update(nonfinite=s.nonfinite, first_nonfinite_step=s.first_nonfinite_step)
    return out


def _nan(x: float | None) -> float:
    return math.nan if x is None else x


def _to_json(x: Any) -> Any:
    if x is None:
        return None
    if hasattr(x, "to_json"):
        return x.to_json()
    return dict(x) if isinstance(x, Mapping) else x


def _num(x: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    if x is None or not math.isfinite(x):
        return None
    return x


JSON_MAX_DEPTH = 64  # deeper values are cut (a config nested 100k deep cannot be written)
JSON_MAX_ITEMS = 10_000  # per list or object
JSON_MAX_INT = 1 << 64  # a bigger integer is written as a float (Python limits int digits)
INTERNAL = "happo-top internal error"


def json_safe(v: Any, depth: int = 0) -> Any:
    """``v`` as a value ``json.dumps(allow_nan=False)`` always writes: NaN and infinity become
    null at any depth, huge integers floats (null past 1e308), keys strings, tuples lists;
    deeper than :data:`JSON_MAX_DEPTH` or past :data:`JSON_MAX_ITEMS` items, a marker string."""
    if v is None or isinstance(v, (bool, str)):
        return v
    if isinstance(v, int):
        if -JSON_MAX_INT < v < JSON_MAX_INT:
            return int(v)
        return _num(float(v)) if v.bit_length() <= 1023 else None
    if isinstance(v, float):
        return _num(v)
    if depth >= JSON_MAX_DEPTH:
        return "<nested too deeply>"
    if isinstance(v, Mapping):
        items = list(v.items())
        out = {str(k): json_safe(x, depth + 1) for k, x in items[:JSON_MAX_ITEMS]}
        if len(items) > JSON_MAX_ITEMS:
            out["..."] = f"<{len(items) - JSON_MAX_ITEMS} more>"
        return out
    if isinstance(v, (list, tuple)):
        out_l = [json_safe(x, depth + 1) for x in v[:JSON_MAX_ITEMS]]
        if len(v) > JSON_MAX_ITEMS:
            out_l.append(f"<{len(v) - JSON_MAX_ITEMS} more>")
        return out_l
    if hasattr(v, "to_json"):
        return json_safe(v.to_json(), depth + 1)
    try:  # numpy scalars
        return json_safe(v.item(), depth + 1)
    except (AttributeError, ValueError, TypeError):
        return str(v)


def internal_error(doing: str, e: BaseException) -> str:
    """The message of a failure of happo-top itself (a bug on odd data), as opposed to a problem
    with a run's files: ``check`` exits INTERNAL_ERROR when it sees one."""
    return f"{INTERNAL} while {doing}: {type(e).__name__}: {e}"


def is_internal_error(message: str) -> bool:
    return INTERNAL in message


def text_value(v: Any) -> str | None:
    """A config value used as a name (exp_name, algo, env, task) as text: None when absent,
    else a string even when the file holds a number or a list (a sibling run's ``exp_name: 7``
    must not break the sort of all runs)."""
    if v is None or v == "":
        return None
    if isinstance(v, str):
        return v
    try:
        return str(json_safe(v))[:200]
    except Exception:
        return "?"
