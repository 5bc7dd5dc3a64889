"""TensorBoards running on this host, started by anyone: pid, owner, the port it listens on and
the directories it serves (``--logdir`` / ``--logdir_spec`` as TensorBoard parses them).

A TensorBoard is a process whose command line runs ``tensorboard`` (the console script, or
``python -m tensorboard.main``). The port is the one it listens on when the process table shows
it (our own processes), else the one its command line asks for (``--port``, default 6006).
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import psutil

DEFAULT_PORT = 6006  # tensorboard/program.py: --port's default
_URI = re.compile(r"[a-zA-Z][0-9a-zA-Z.]*://.*")


@dataclass(frozen=True, slots=True)
class LogDir:
    name: str | None  # the --logdir_spec group name (None: unnamed, or plain --logdir)
    path: str  # absolute (relative ones resolved against the process's cwd when known)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "path": self.path}


@dataclass(frozen=True, slots=True)
class TensorBoardProcess:
    pid: int
    started: float
    user: str | None
    uid: int | None
    port: int | None  # listening port, else the one asked for; None: --port 0 and unseen
    listening: bool  # port comes from the socket table (else from the command line)
    bind: str  # --host (default localhost), "*" for --bind_all
    logdirs: tuple[LogDir, ...]
    cmdline: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "pid": self.pid,
            "started": self.started,
            "user": self.user,
            "uid": self.uid,
            "port": self.port,
            "listening": self.listening,
            "bind": self.bind,
            "logdirs": [d.to_json() for d in self.logdirs],
            "cmdline": list(self.cmdline),
        }


def is_tensorboard(cmdline: Sequence[str]) -> bool:
    """``tensorboard ...``, ``python .../bin/tensorboard ...`` or ``python -m tensorboard.main``."""
    for i, arg in enumerate(cmdline[:3]):
        if os.path.basename(arg) == "tensorboard":
            return True
        if (
            arg == "-m"
            and i + 1 < len(cmdline)
            and cmdline[i + 1]
            in (
                "tensorboard",
                "tensorboard.main",
            )
        ):
            return True
    return False


def _flag(argv: Sequence[str], name: str) -> str | None:
    """The value of ``--name V`` or ``--name=V`` (the last one wins, as with absl flags)."""
    value = None
    for i, arg in enumerate(argv):
        if arg == f"--{name}" and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(f"--{name}="):
            value = arg.split("=", 1)[1]
    return value


def parse_logdir_spec(spec: str, cwd: str | None = None) -> tuple[LogDir, ...]:
    """``name:/path,other:/path2`` the way TensorBoard reads it (data_ingester.py,
    ``_parse_event_files_spec``): a spec that starts with ``/`` or a URI has no name."""
    out = []
    for item in spec.split(","):
        if not item:
            continue
        if _URI.match(item) is None and ":" in item and item[0] != "/":
            name, _, path = item.partition(":")
        else:
            name, path = None, item
        out.append(LogDir(name or None, _absolute(path, cwd)))
    return tuple(out)


def _absolute(path: str, cwd: str | None) -> str:
    if _URI.match(path):
        return path
    path = os.path.expanduser(path)
    if not os.path.isabs(path) and cwd:
        path = os.path.join(cwd, path)
    return os.path.normpath(path)


def parse_argv(
    argv: Sequence[str], cwd: str | None = None
) -> tuple[int | None, str, tuple[LogDir, ...]]:
    """(port asked for, bind address, directories served) from a TensorBoard command line."""
    port_text = _flag(argv, "port")
    port: int | None = DEFAULT_PORT
    if port_text is not None:
        port = int(port_text) if port_text.isdigit() and int(port_text) > 0 else None
    bind = "*" if "--bind_all" in argv else (_flag(argv, "host") or "localhost")
    spec = _flag(argv, "logdir_spec")
    logdir = _flag(argv, "logdir")
    dirs: tuple[LogDir, ...] = ()
    if logdir:
        dirs = (LogDir(None, _absolute(logdir, cwd)),)
    elif spec:
        dirs = parse_logdir_spec(spec, cwd)
    return port, bind, dirs


def _listening_port(p: psutil.Process) -> int | None:
    with contextlib.suppress(psutil.Error, OSError):
        for c in p.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr:
                return int(c.laddr.port)
    return None


def describe(p: psutil.Process) -> TensorBoardProcess | None:
    """The TensorBoard ``p`` is, or None (not one, or gone)."""
    try:
        with p.oneshot():
            cmdline = tuple(p.cmdline())
            if not is_tensorboard(cmdline):
                return None
            started = p.create_time()
            user = uid = None
            with contextlib.suppress(psutil.Error, KeyError):
                user = p.username()
                uid = p.uids().real
            cwd = None
            with contextlib.suppress(psutil.Error, OSError):
                cwd = p.cwd()
    except (psutil.Error, OSError):
        return None
    asked, bind, dirs = parse_argv(cmdline, cwd)
    seen = _listening_port(p)
    return TensorBoardProcess(
        pid=p.pid,
        started=started,
        user=user,
        uid=uid,
        port=seen if seen is not None else asked,
        listening=seen is not None,
        bind=bind,
        logdirs=dirs,
        cmdline=cmdline,
    )


def find_tensorboards(
    processes: Iterable[psutil.Process] | None = None,
) -> list[TensorBoardProcess]:
    """Every TensorBoard on this host (any user's), by pid."""
    found = []
    me = os.getpid()
    for p in processes if processes is not None else psutil.process_iter():
        if p.pid == me:
            continue
        tb = describe(p)
        if tb is not None:
            found.append(tb)
    return sorted(found, key=lambda t: t.pid)


def serves(tb: TensorBoardProcess, run_path: str) -> LogDir | None:
    """The directory of ``tb`` that holds the run at ``run_path`` (TensorBoard reads every event
    file below a logdir), or None."""
    real = os.path.realpath(run_path)
    for d in tb.logdirs:
        root = os.path.realpath(d.path)
        if real == root or real.startswith(root.rstrip(os.sep) + os.sep):
            return d
    return None


__all__ = [
    "DEFAULT_PORT",
    "LogDir",
    "TensorBoardProcess",
    "describe",
    "find_tensorboards",
    "is_tensorboard",
    "parse_argv",
    "parse_logdir_spec",
    "serves",
]
