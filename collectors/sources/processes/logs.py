"""A run's stdout log: where it is, its last lines, and the line that says why it crashed.

Where: the launch registry's log (happo-top started it), else the regular file the live
process's stdout or stderr goes to (``/proc/PID/fd/1``, ``fd/2``: a ``> file`` redirect, and
``nohup``, which points them at ``nohup.out``; a pipe to ``tee`` is no file: ``command.txt``'s
redirect covers it), else ``nohup.out`` in its working directory. The process collector remembers the path while the process lives
(:meth:`collectors.sources.processes.ProcessCollector.log_of`), so that it is still known after a
crash; for a run whose process was never seen, :func:`guess_nohup` looks where HARL's working
directory must have been.

Reading is cheap and safe: only a regular file (a FIFO would block), opened non-blocking,
read from the end (at most ``max_bytes``), decoded with replacement and cleaned of control
characters; any OSError is the caller's "no tail".
"""

from __future__ import annotations

import errno
import os
import re
import stat

from collectors.sources.processes.commands import log_refusal

TAIL_BYTES = 65536  # the Log tab
LAST_LINE_BYTES = 8192  # the panel's and the JSON's last line: read every poll for ended runs
NOHUP = "nohup.out"
# A Python exception line at the end of a traceback: ``ValueError: x``, ``torch.cuda.OutOfMemoryError``.
_EXCEPTION = re.compile(r"^[A-Za-z_][\w.]*(Error|Exception|Interrupt|Exit|Warning)\b")
_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def process_log(pid: int, cwd: str | None, run_path: str, uid: int | None) -> str | None:
    """The file process ``pid`` writes its output to, when it may be shown for the run
    (:func:`~collectors.sources.processes.commands.log_refusal`): its stdout, else its stderr,
    when a regular file; else ``nohup.out`` in ``cwd``."""
    for fd in (1, 2):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.endswith(" (deleted)") or not target.startswith("/"):
            continue  # a pipe, a socket, a terminal or a removed file
        try:
            if not stat.S_ISREG(os.stat(target).st_mode):
                continue  # /dev/null, a tty
        except OSError:
            continue
        if log_refusal(target, run_path, uid) is None:
            return target
    if cwd:
        path = os.path.join(cwd, NOHUP)
        if os.path.isfile(path) and log_refusal(path, run_path, uid) is None:
            return path
    return None


def guess_nohup(run_path: str, log_dir: str | None, near: float | None) -> str | None:
    """``nohup.out`` where HARL's working directory was for a run at
    ``<cwd>/<log_dir>/<env>/<task>/<algo>/<exp_name>/seed-*`` (``log_dir`` relative, default
    ``./results``), when it was written within an hour of ``near`` (the run's last data)."""
    rel = log_dir if log_dir and not os.path.isabs(log_dir) else "results"
    base = run_path
    for _ in range(5):
        base = os.path.dirname(base)
    depth = len([p for p in os.path.normpath(rel).split(os.sep) if p not in ("", ".")])
    for _ in range(depth):
        base = os.path.dirname(base)
    path = os.path.join(base, NOHUP)
    try:
        st = os.stat(path)
    except OSError:
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    if near is not None and abs(st.st_mtime - near) > 3600:
        return None  # another run's, or an old one
    return path if log_refusal(path, run_path) is None else None


def read_tail(path: str, max_bytes: int = TAIL_BYTES) -> tuple[bytes, bool]:
    """The last ``max_bytes`` of a regular file, and whether the file is longer (blocking)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file")
        start = max(st.st_size - max_bytes, 0)
        os.lseek(fd, start, os.SEEK_SET)
        chunks, got = [], 0
        while got < max_bytes:
            chunk = os.read(fd, max_bytes - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks), start > 0
    finally:
        os.close(fd)


def tail_lines(path: str, max_bytes: int = TAIL_BYTES, max_lines: int = 400) -> list[str]:
    """The last lines of a text file, as a terminal would show them: progress bars rewritten
    with ``\\r`` keep their last state, escape sequences and control characters are taken out,
    bytes that are not UTF-8 become U+FFFD."""
    data, cut = read_tail(path, max_bytes)
    lines = data.decode("utf-8", "replace").split("\n")  # not splitlines(): it splits at \r
    if lines and lines[-1] == "":
        lines.pop()
    if cut and lines:
        lines = lines[1:]  # the first line is probably cut
    return [_CONTROL.sub("", ln.rsplit("\r", 1)[-1].rstrip("\r")) for ln in lines[-max_lines:]]


def cause_line(lines: list[str]) -> str | None:
    """The line that says why a run ended: the exception line of the last traceback
    (``ValueError: boom``), else the last line that is not blank."""
    tb = max(
        (i for i, ln in enumerate(lines) if ln.startswith("Traceback (most recent")), default=-1
    )
    if tb >= 0:
        for ln in reversed(lines[tb + 1 :]):
            if _EXCEPTION.match(ln.strip()):
                return ln.strip()[:300]
    for ln in reversed(lines):
        if ln.strip():
            return ln.strip()[:300]
    return None


class LastLines:
    """The cause line of each log, read again only when the file changed (size, mtime)."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[tuple[int, float], str | None]] = {}

    def cause(self, path: str) -> str | None:
        try:
            st = os.stat(path)
        except OSError:
            return None
        key = (st.st_size, st.st_mtime)
        hit = self._seen.get(path)
        if hit is not None and hit[0] == key:
            return hit[1]
        try:
            line = cause_line(tail_lines(path, LAST_LINE_BYTES, 200))
        except OSError:
            line = None
        if len(self._seen) > 10_000:
            self._seen.clear()
        self._seen[path] = (key, line)
        return line
