"""The process table: every process's pid, parent, group, owner and start, read from ``/proc``
directly (:class:`ProcFS`) or through psutil alone (:class:`PsutilProcs`, systems without
``/proc``). Processes that vanish or deny access are skipped quietly."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

import psutil

_O_ACCMODE = 0o3


@dataclass(slots=True)
class Proc:
    """One process at the last full scan."""

    pid: int
    ppid: int
    pgid: int | None
    sid: int | None
    comm: str
    state: str  # one letter on Linux (Z for a zombie)
    start: float  # identity key together with pid (ticks on Linux, create time elsewhere)
    create_time: float
    uid: int | None
    threads: int | None = None
    _cmdline: tuple[str, ...] | None = field(default=None, repr=False)


class ProcFS:
    """Reads ``/proc`` directly: one ``stat`` read and one ``stat()`` per process."""

    def __init__(self, root: str = "/proc") -> None:
        self.root = root
        self.hz = os.sysconf("SC_CLK_TCK")

    def scan(self) -> dict[int, Proc]:
        boot = psutil.boot_time()
        out: dict[int, Proc] = {}
        try:
            names = os.listdir(self.root)
        except OSError:
            return out
        for name in names:
            if not name.isdigit():
                continue
            p = self.read(int(name), boot)
            if p is not None:
                out[p.pid] = p
        return out

    def read(self, pid: int, boot: float | None = None) -> Proc | None:
        base = f"{self.root}/{pid}"
        try:
            with open(base + "/stat", "rb") as fh:
                data = fh.read()
            uid = os.stat(base).st_uid
        except OSError:
            return None  # gone (or never readable): quietly skipped
        lp, rp = data.find(b"("), data.rfind(b")")
        if lp < 0 or rp < 0:
            return None
        comm = data[lp + 1 : rp].decode("utf-8", "replace")
        fields = data[rp + 2 :].split()
        try:
            ppid, pgid, sid = int(fields[1]), int(fields[2]), int(fields[3])
            threads, ticks = int(fields[17]), int(fields[19])
        except (IndexError, ValueError):
            return None
        if pid == 2 or ppid == 2:
            return None  # kernel threads
        if boot is None:
            boot = psutil.boot_time()
        return Proc(
            pid,
            ppid,
            pgid,
            sid,
            comm,
            fields[0].decode(),
            float(ticks),
            ticks / self.hz + boot,
            uid,
            threads,
        )

    def cmdline(self, pid: int) -> tuple[str, ...] | None:
        try:
            with open(f"{self.root}/{pid}/cmdline", "rb") as f:
                raw = f.read()
        except OSError:
            return None
        parts = raw.split(b"\0")
        while parts and not parts[-1]:
            parts.pop()
        return tuple(p.decode("utf-8", "surrogateescape") for p in parts)

    def cwd(self, pid: int) -> str | None:
        """The working directory; None when unreadable (another user) or gone."""
        try:
            return os.readlink(f"{self.root}/{pid}/cwd")
        except OSError:
            return None

    def written_files(self, pid: int, prefixes: tuple[str, ...]) -> list[str] | None:
        """Paths under ``prefixes`` that ``pid`` holds open for writing (None: not readable)."""
        d = f"{self.root}/{pid}/fd"
        try:
            fds = os.listdir(d)
        except OSError:
            return None
        out = []
        for fd in fds:
            try:
                target = os.readlink(f"{d}/{fd}")
            except OSError:
                continue
            if not target.startswith(prefixes):
                continue
            try:
                with open(f"{self.root}/{pid}/fdinfo/{fd}", "rb") as fh:
                    info = fh.read(256)
            except OSError:
                continue
            flags = None
            for line in info.splitlines():
                if line.startswith(b"flags:"):
                    with contextlib.suppress(ValueError):
                        flags = int(line.split()[1], 8)
                    break
            if flags is not None and flags & _O_ACCMODE != os.O_RDONLY:
                out.append(target.removesuffix(" (deleted)"))
        return out

    def children(self, pid: int) -> tuple[int, ...] | None:
        """Direct children from ``/proc/<pid>/task/*/children`` (None when unavailable)."""
        base = f"{self.root}/{pid}/task"
        try:
            tids = os.listdir(base)
        except OSError:
            return None
        kids: list[int] = []
        for tid in tids:
            try:
                with open(f"{base}/{tid}/children", "rb") as f:
                    kids.extend(int(x) for x in f.read().split())
            except FileNotFoundError:
                continue  # thread ended
            except OSError:
                return None  # kernel without CONFIG_PROC_CHILDREN
        return tuple(sorted(set(kids)))


class PsutilProcs:
    """The same through psutil alone (systems without ``/proc``; also tested on Linux)."""

    def scan(self) -> dict[int, Proc]:
        out: dict[int, Proc] = {}
        attrs = ["pid", "ppid", "name", "uids", "create_time", "status", "num_threads"]
        for p in psutil.process_iter(attrs):
            info = p.info
            ct = info.get("create_time")
            if ct is None or info.get("ppid") is None:
                continue
            pid = info["pid"]
            pgid: int | None
            sid: int | None
            try:
                pgid, sid = os.getpgid(pid), os.getsid(pid)
            except OSError:
                pgid = sid = None
            uids = info.get("uids")
            status = info.get("status") or ""
            out[pid] = Proc(
                pid,
                info["ppid"],
                pgid,
                sid,
                info.get("name") or "",
                "Z" if status == psutil.STATUS_ZOMBIE else (status[:1].upper() or "?"),
                float(ct),
                float(ct),
                uids.real if uids is not None else None,
                info.get("num_threads"),
            )
        return out

    def read(self, pid: int, boot: float | None = None) -> Proc | None:
        del boot
        try:
            p = psutil.Process(pid)
            with p.oneshot():
                ct = p.create_time()
                return Proc(
                    pid,
                    p.ppid(),
                    os.getpgid(pid),
                    os.getsid(pid),
                    p.name(),
                    "Z" if p.status() == psutil.STATUS_ZOMBIE else "S",
                    ct,
                    ct,
                    p.uids().real,
                    p.num_threads(),
                )
        except (psutil.Error, OSError):
            return None

    def cmdline(self, pid: int) -> tuple[str, ...] | None:
        try:
            parts = psutil.Process(pid).cmdline()
        except psutil.Error:
            return None
        while parts and not parts[-1]:
            parts.pop()
        return tuple(parts)

    def cwd(self, pid: int) -> str | None:
        try:
            return psutil.Process(pid).cwd() or None
        except psutil.Error:
            return None

    def written_files(self, pid: int, prefixes: tuple[str, ...]) -> list[str] | None:
        try:
            files = psutil.Process(pid).open_files()
        except psutil.Error:
            return None
        out = []
        for f in files:
            if not f.path.startswith(prefixes):
                continue
            mode = getattr(f, "mode", None)
            if mode is None or mode != "r":
                out.append(f.path)
        return out

    def children(self, pid: int) -> tuple[int, ...] | None:
        del pid
        return None  # taken from the last full scan


Backend = ProcFS | PsutilProcs


def default_backend() -> Backend:
    if os.path.isfile("/proc/self/stat") and os.path.isdir("/proc/self/fd"):
        return ProcFS()
    return PsutilProcs()
