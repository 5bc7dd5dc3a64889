"""Disk values: filesystems that hold runs, each run's size and what it will still write (filled
by collectors.sources.disk). No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# One directory as read during the current poll, shared by the readers of the run's files and the
# disk sizing so that no directory is listed (nor a file stat'ed) twice in one poll:
# (the directory's st_mtime_ns, taken before the listing; its real sub-directories, symlinks
# excluded; its regular files, symlinks excluded, as name -> (st_size, st_mtime)).
DirSizes = tuple[int, tuple[str, ...], dict[str, tuple[int, float]]]
# directory path -> what this poll read of it; the monitor empties it at the start of each poll.
SharedListings = dict[str, DirSizes]


@dataclass(frozen=True, slots=True)
class RunDiskUsage:
    path: str
    id: str | None
    logs: int  # bytes under logs/
    checkpoints: int  # bytes under models/ and checkpoints/
    other: int  # everything else in the run directory
    device: int | None
    projected: int | None = None  # bytes it will still write (running runs)
    checkpoints_left: int | None = None

    @property
    def total(self) -> int:
        return self.logs + self.checkpoints + self.other

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "logs": self.logs,
            "checkpoints": self.checkpoints,
            "other": self.other,
            "total": self.total,
            "projected": self.projected,
            "checkpoints_left": self.checkpoints_left,
            "device": self.device,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RunDiskUsage:
        return cls(
            path=doc["path"],
            id=doc.get("id"),
            logs=doc.get("logs", 0),
            checkpoints=doc.get("checkpoints", 0),
            other=doc.get("other", 0),
            device=doc.get("device"),
            projected=doc.get("projected"),
            checkpoints_left=doc.get("checkpoints_left"),
        )


@dataclass(frozen=True, slots=True)
class Filesystem:
    device: int
    mount: str
    total: int  # bytes
    free: int  # bytes available to us (statvfs f_bavail)
    used: int  # bytes in use (total - f_bfree)
    roots: tuple[str, ...]  # watched roots on it
    runs: int  # runs on it
    running: int  # running runs on it
    projected: int  # bytes the running runs will still write (estimate)
    warning: str | None = None

    @property
    def used_fraction(self) -> float:
        return self.used / self.total if self.total else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "device": self.device,
            "mount": self.mount,
            "total": self.total,
            "free": self.free,
            "used": self.used,
            "roots": list(self.roots),
            "runs": self.runs,
            "running": self.running,
            "projected": self.projected,
            "warning": self.warning,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Filesystem:
        return cls(
            device=doc["device"],
            mount=doc.get("mount", "?"),
            total=doc.get("total", 0),
            free=doc.get("free", 0),
            used=doc.get("used", 0),
            roots=tuple(doc.get("roots") or ()),
            runs=doc.get("runs", 0),
            running=doc.get("running", 0),
            projected=doc.get("projected", 0),
            warning=doc.get("warning"),
        )


@dataclass(frozen=True, slots=True)
class DiskSnapshot:
    filesystems: tuple[Filesystem, ...]
    runs: Mapping[str, RunDiskUsage] = field(default_factory=dict)  # by run path
    errors: tuple[str, ...] = ()
    time: float = 0.0

    @property
    def warnings(self) -> tuple[str, ...]:
        return tuple(f.warning for f in self.filesystems if f.warning)

    def usage(self, run_path: str) -> RunDiskUsage | None:
        return self.runs.get(run_path)

    def filesystem_of(self, run_path: str) -> Filesystem | None:
        u = self.runs.get(run_path)
        if u is None:
            return None
        return next((f for f in self.filesystems if f.device == u.device), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "filesystems": [f.to_json() for f in self.filesystems],
            "runs": [u.to_json() for _, u in sorted(self.runs.items())],
            "warnings": list(self.warnings),
            "errors": list(self.errors),
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], time: float = 0.0) -> DiskSnapshot:
        runs = [RunDiskUsage.from_json(u) for u in doc.get("runs") or ()]
        return cls(
            filesystems=tuple(Filesystem.from_json(f) for f in doc.get("filesystems") or ()),
            runs={u.path: u for u in runs},
            errors=tuple(doc.get("errors") or ()),
            time=time,
        )
