"""The machine itself: CPU and memory (filled by collectors.sources.host), and the state of each
other host watched over ssh (collectors.sources.remote). No I/O here."""

from __future__ import annotations

import time as _time
from dataclasses import dataclass
from typing import Any

from collectors.model.disk import DiskSnapshot
from collectors.model.gpu import GpuSnapshot


@dataclass(frozen=True, slots=True)
class HostStats:
    cpu_percent: float | None  # all cores together, 0..100
    cpus: int
    mem_used: int | None
    mem_total: int | None
    load1: float | None = None
    cpu_history: tuple[float, ...] = ()


# The states of a remote host's stream.
CONNECTING = "connecting"  # ssh started, no snapshot yet
UP = "up"  # snapshots arriving
UNREACHABLE = "unreachable"  # ssh failed or the connection was lost; retried with backoff
INCOMPATIBLE = "incompatible"  # a happo-top there that speaks another schema
HOST_STATES = (CONNECTING, UP, UNREACHABLE, INCOMPATIBLE)


@dataclass(frozen=True, slots=True)
class HostStatus:
    """One remote host as its stream left it: its state since when and why, the happo-top
    version there, and its own GPUs, disks and errors (its runs are in the Snapshot's runs,
    tagged with ``name``). ``time`` is the time of its newest snapshot (None: none yet)."""

    name: str  # the ssh host name, as given ([user@]host)
    state: str
    since: float | None = None
    message: str = ""  # why, when not up ("Connection refused")
    version: str | None = None  # the remote happo-top's version
    schema: int | None = None
    time: float | None = None
    roots: tuple[str, ...] = ()
    gpus: GpuSnapshot | None = None
    disks: DiskSnapshot | None = None
    errors: tuple[str, ...] = ()  # the remote snapshot's own errors
    connects: int = 0  # how many times a stream was established

    @property
    def up(self) -> bool:
        return self.state == UP

    def line(self) -> str | None:
        """What is wrong, in one line ("gpu03: unreachable since 14:02: Connection refused"),
        or None when the host is up."""
        if self.state == UP:
            return None
        when = (
            ""
            if self.since is None
            else " since " + _time.strftime("%H:%M", _time.localtime(self.since))
        )
        why = f": {self.message}" if self.message else ""
        return f"{self.name}: {self.state}{when}{why}"

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state,
            "since": self.since,
            "message": self.message,
            "version": self.version,
            "schema": self.schema,
            "time": self.time,
            "roots": list(self.roots),
            "gpus": None if self.gpus is None else self.gpus.to_json(),
            "disks": None if self.disks is None else self.disks.to_json(),
            "errors": list(self.errors),
            "connects": self.connects,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> HostStatus:
        t = doc.get("time")
        gpus, disks = doc.get("gpus"), doc.get("disks")
        return cls(
            name=doc["name"],
            state=doc.get("state", UNREACHABLE),
            since=doc.get("since"),
            message=doc.get("message", ""),
            version=doc.get("version"),
            schema=doc.get("schema"),
            time=t,
            roots=tuple(doc.get("roots") or ()),
            gpus=None if gpus is None else GpuSnapshot.from_json(gpus, t or 0.0),
            disks=None if disks is None else DiskSnapshot.from_json(disks, t or 0.0),
            errors=tuple(doc.get("errors") or ()),
            connects=doc.get("connects", 0),
        )
