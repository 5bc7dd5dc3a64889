"""The training process behind a run, as the process collector saw it at one poll, and the
names of the ways a process can be tied to a run. No I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

# How a process was tied to its run (collectors.sources.processes), strongest first.
OPEN_FILES = "open-files"
TITLE_CWD = "title-cwd"
PARENT_CMDLINE = "parent-cmdline"
REGISTRY = "registry"
TITLE_ONLY = "title"  # title + start time, working directory unreadable: shown, never acted on
POSITIVE = frozenset({OPEN_FILES, TITLE_CWD, PARENT_CMDLINE, REGISTRY})
METHODS = (OPEN_FILES, TITLE_CWD, PARENT_CMDLINE, REGISTRY)

ZOMBIE = "zombie"  # psutil.STATUS_ZOMBIE


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """The process behind one run, as seen at one poll."""

    pid: int
    title: str  # what ps shows now (the renamed title, or the command line)
    cmdline: tuple[str, ...]  # the original command (see cmdline_source)
    cmdline_source: str  # self | registry | parent | command.txt | title
    cwd: str | None
    started: float  # unix create time, as psutil reports it (compared before signalling)
    uid: int | None
    user: str | None
    status: str  # psutil status: running, sleeping, disk-sleep, stopped, zombie, ...
    cpu_percent: float | None  # None until two samples exist
    rss: int | None
    threads: int | None
    children: tuple[int, ...]
    gpu_memory: int | None  # bytes, the process and its children, from NVML
    how_found: str  # open-files | title-cwd | parent-cmdline | registry | title
    pgid: int | None = None
    sid: int | None = None
    launcher: int | None = None  # pid the original command came from (wrapper, launch)
    launch_id: str | None = None  # launch-registry record when happo-top started it
    log: str | None = None  # its stdout/stderr log file, when known (launch registry)
    run_path: str = ""
    # The ssh host whose happo-top reported it (collectors.sources.remote); None: this host.
    # A pid there means nothing here: such a process is never a target here.
    host: str | None = None

    @property
    def alive(self) -> bool:
        return self.status != ZOMBIE

    @property
    def positive(self) -> bool:
        """Identified well enough to be signalled here (ownership is checked separately); a
        process on another host never is (only the happo-top there may act on it)."""
        return self.how_found in POSITIVE and self.host is None

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "title": self.title,
            "cmdline": list(self.cmdline),
            "cmdline_source": self.cmdline_source,
            "cwd": self.cwd,
            "started": self.started,
            "user": self.user,
            "uid": self.uid,
            "status": self.status,
            "cpu_percent": self.cpu_percent,
            "rss": self.rss,
            "threads": self.threads,
            "children": list(self.children),
            "gpu_memory": self.gpu_memory,
            "how_found": self.how_found,
            "pgid": self.pgid,
            "sid": self.sid,
            "launcher": self.launcher,
            "launch_id": self.launch_id,
            "log": self.log,
        }

    @classmethod
    def from_json(
        cls, doc: dict[str, Any], run_path: str = "", host: str | None = None
    ) -> ProcessInfo:
        """The process as another happo-top reported it (``happo-top serve``): shown, and acted
        on only through that happo-top, which identifies the process again itself."""
        return cls(
            pid=doc["pid"],
            title=doc.get("title", ""),
            cmdline=tuple(doc.get("cmdline") or ()),
            cmdline_source=doc.get("cmdline_source", "self"),
            cwd=doc.get("cwd"),
            started=doc.get("started", 0.0),
            uid=doc.get("uid"),
            user=doc.get("user"),
            status=doc.get("status", "running"),
            cpu_percent=doc.get("cpu_percent"),
            rss=doc.get("rss"),
            threads=doc.get("threads"),
            children=tuple(doc.get("children") or ()),
            gpu_memory=doc.get("gpu_memory"),
            how_found=doc.get("how_found", TITLE_ONLY),
            pgid=doc.get("pgid"),
            sid=doc.get("sid"),
            launcher=doc.get("launcher"),
            launch_id=doc.get("launch_id"),
            log=doc.get("log"),
            run_path=run_path,
            host=host,
        )


class LaunchRecordLike(Protocol):
    """What the process collector reads from a launch record (collectors.control.LaunchRecord)."""

    @property
    def id(self) -> str: ...
    @property
    def pid(self) -> int: ...
    @property
    def create_time(self) -> float | None: ...
    @property
    def argv(self) -> tuple[str, ...]: ...
    @property
    def run_dir(self) -> str | None: ...
    @property
    def log(self) -> str | None: ...
    @property
    def shell(self) -> bool: ...


class RegistryLike(Protocol):
    """What the sources need of the launch registry (collectors.control.Registry), so that they
    never import control: the assembly (collectors.monitor) builds the registry and passes it."""

    def records(self) -> Sequence[LaunchRecordLike]: ...
    def note_run(self, record_id: str, run_path: str) -> None: ...
    def stopped_runs(self) -> set[str]: ...
