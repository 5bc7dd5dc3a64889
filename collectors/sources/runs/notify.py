"""Change notification for local run directories (Linux inotify), so that an idle poll reads
nothing.

A live HARL run appends to a dozen event files that it keeps open; an append changes no
directory's mtime, so without notification every poll has to ``stat`` every event file (about
420 system calls for 20 runs). With it, the poll reads the kernel's queue once (one ``read``)
and polls only the runs in whose directories something happened.

Notification is trusted only where it sees every change:

* Linux, with inotify available (``inotify_init1``); elsewhere, or with ``HAPPO_TOP_NO_INOTIFY``
  set, or when the process has no inotify instance left (``max_user_instances``), every run is
  polled as before;
* local filesystems: on NFS, SMB/CIFS, FUSE (sshfs), 9p, Lustre, GPFS, Ceph, AFS and the like
  inotify does not see what other machines write, so such a run is polled as before;
* a run whose watches could all be added: at ``max_user_watches`` (ENOSPC), or on a directory
  that cannot be watched, that run is polled as before;
* a queue that did not overflow: on IN_Q_OVERFLOW every run is polled once;
* a watch still on the directory its path names: a directory deleted (IN_IGNORED) or renamed
  (IN_MOVE_SELF) makes its run poll in full and watch the path afresh.

Whatever is watched, a run is still polled in full every :data:`FULL_POLL_EVERY` seconds (a
safety net), and while something time-based is pending (a checkpoint still settling). This
module reads no event file and knows nothing of HARL: it only says which runs may have changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import struct
import sys
import weakref
from collections.abc import Iterable

# The safety net: a watched run that saw no event is still polled in full this often (seconds).
FULL_POLL_EVERY = 30.0
DISABLE_ENV = "HAPPO_TOP_NO_INOTIFY"
RETRY = 60.0  # a run whose directories could not all be watched tries again after this long

IN_MODIFY = 0x00000002
IN_ATTRIB = 0x00000004
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_NONBLOCK = os.O_NONBLOCK
IN_CLOEXEC = os.O_CLOEXEC
MASK = (
    IN_MODIFY
    | IN_ATTRIB
    | IN_CLOSE_WRITE
    | IN_MOVED_FROM
    | IN_MOVED_TO
    | IN_CREATE
    | IN_DELETE
    | IN_DELETE_SELF
    | IN_MOVE_SELF
    | IN_ONLYDIR
)
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name

# statfs f_type of filesystems where inotify misses other clients' writes (linux/magic.h and
# the filesystems' own sources).
REMOTE_FS = {
    0x6969: "nfs",
    0x517B: "smb",
    0xFF534D42: "cifs",
    0xFE534D42: "smb2",
    0x65735546: "fuse",
    0x01021997: "9p",
    0x0BD00BD0: "lustre",
    0x47504653: "gpfs",
    0x00C36400: "ceph",
    0x5346414F: "afs",
    0x6B414653: "kafs",
    0x73757245: "coda",
    0x564C: "ncp",
}


class _Libc:
    """inotify and statfs through ctypes (the standard library has neither)."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self.init1 = lib.inotify_init1
        self.init1.argtypes = [ctypes.c_int]
        self.add = lib.inotify_add_watch
        self.add.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
        self.rm = lib.inotify_rm_watch
        self.rm.argtypes = [ctypes.c_int, ctypes.c_int]
        self.statfs = lib.statfs
        self.statfs.argtypes = [ctypes.c_char_p, ctypes.c_void_p]


_LIBC: _Libc | None = None


def _libc() -> _Libc | None:
    global _LIBC
    if _LIBC is None and sys.platform.startswith("linux"):
        try:
            _LIBC = _Libc()
        except (OSError, AttributeError):  # no libc or no inotify in it
            return None
    return _LIBC


def filesystem_type(path: str) -> int | None:
    """The statfs ``f_type`` of the filesystem holding ``path`` (None when unknown)."""
    lib = _libc()
    if lib is None:
        return None
    buf = ctypes.create_string_buffer(256)  # struct statfs: f_type is its first word
    if lib.statfs(os.fsencode(path), buf) != 0:
        return None
    return int(ctypes.c_long.from_buffer(buf).value) & 0xFFFFFFFF


def remote_filesystem(path: str) -> str | None:
    """The name of the network or FUSE filesystem ``path`` is on, else None."""
    kind = filesystem_type(path)
    return None if kind is None else REMOTE_FS.get(kind)


class Notifier:
    """One inotify instance; :class:`RunWatch` objects (one per run) share it. ``drain()`` once
    a poll reads the queue and marks the runs whose directories changed."""

    def __init__(self, enabled: bool | None = None) -> None:
        self.fd: int | None = None
        self.why_not: str | None = None  # why notification is off (README, tests)
        self._owners: dict[int, set[RunWatch]] = {}  # watch descriptor -> runs watching it
        self._watches: weakref.WeakSet[RunWatch] = weakref.WeakSet()
        self.events = 0  # events read (tests, benchmarks)
        self.overflows = 0
        if enabled is None:
            enabled = not os.environ.get(DISABLE_ENV)
        if not enabled:
            self.why_not = f"{DISABLE_ENV} is set" if os.environ.get(DISABLE_ENV) else "disabled"
            return
        lib = _libc()
        if lib is None:
            self.why_not = "no inotify on this system"
            return
        fd = lib.init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd < 0:
            self.why_not = f"inotify_init1: {os.strerror(ctypes.get_errno())}"
            return
        self.fd = fd
        self._lib = lib
        self._finalizer = weakref.finalize(self, os.close, fd)

    @property
    def active(self) -> bool:
        return self.fd is not None

    def watcher(self) -> RunWatch:
        w = RunWatch(self)
        self._watches.add(w)
        return w

    def close(self) -> None:
        if self.fd is not None:
            self._finalizer()
            self.fd = None
            self._owners.clear()
            for w in list(self._watches):
                w.trusted = False

    # -- the watches of one run (RunWatch calls these)
    def _add(self, owner: RunWatch, directory: str) -> int:
        """The watch descriptor of ``directory`` (added if new), -errno when it cannot be."""
        assert self.fd is not None
        wd = self._lib.add(self.fd, os.fsencode(directory), MASK)
        if wd < 0:
            return -(ctypes.get_errno() or errno.EIO)
        self._owners.setdefault(wd, set()).add(owner)
        return wd

    def _remove(self, owner: RunWatch, wd: int) -> None:
        owners = self._owners.get(wd)
        if owners is None:
            return
        owners.discard(owner)
        if not owners:
            del self._owners[wd]
            if self.fd is not None:
                self._lib.rm(self.fd, wd)  # its IN_IGNORED comes later: nobody owns it then

    def drain(self) -> None:
        """Read every queued event: the runs owning a directory that changed are dirty; an
        overflowed queue makes every run dirty."""
        if self.fd is None:
            return
        while True:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                return
            except OSError:  # the instance is unusable: every run polls as before
                self.why_not = "the inotify queue could not be read"
                self.close()
                return
            if not data:
                return
            pos = 0
            while pos + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, pos)
                pos += _EVENT.size + length
                self.events += 1
                if mask & IN_Q_OVERFLOW:
                    self.overflows += 1
                    for w in list(self._watches):
                        w.dirty = True
                    continue
                owners = self._owners.get(wd, ())
                for w in owners:
                    w.dirty = True
                if mask & (IN_IGNORED | IN_MOVE_SELF):
                    self._gone(wd, moved=not mask & IN_IGNORED)

    def _gone(self, wd: int, moved: bool) -> None:
        """The watched directory went (IN_IGNORED: deleted, unmounted) or was renamed
        (IN_MOVE_SELF: the watch follows it, so the path it was added for no longer names it,
        and a directory made again at that path would go unwatched): its owners forget it and
        add the path again at their next full poll."""
        for w in list(self._owners.pop(wd, ())):
            w._forget(wd)
        if moved and self.fd is not None:
            self._lib.rm(self.fd, wd)  # its IN_IGNORED comes later: nobody owns it then


class RunWatch:
    """The watched directories of one run, and whether the run must be polled."""

    def __init__(self, notifier: Notifier) -> None:
        self.notifier = notifier
        self.dirty = True  # something changed (or nothing is known yet)
        self.trusted = notifier.active  # every directory of the run is watched
        self.why_not: str | None = notifier.why_not
        self._wds: dict[str, int] = {}  # directory -> watch descriptor
        self._last_full = -1e18
        self._remote_checked = False
        self._remote = False  # on a network filesystem: never trusted
        self._retry_at = -1e18  # a watch that failed: not tried again before then

    def due(self, now: float, pending: bool = False) -> bool:
        """Whether the run is to be polled in full now (``pending``: something time-based is
        waiting, e.g. a checkpoint settling); clears the mark, so that what happens from here
        on marks it again."""
        if not self.trusted or self.dirty or pending or now - self._last_full >= FULL_POLL_EVERY:
            self.dirty = False
            self._last_full = now
            return True
        return False

    def ensure(self, directories: Iterable[str]) -> None:
        """Watch exactly ``directories`` (those that exist; gone ones stop being watched). A
        directory that cannot be watched makes the run untrusted (polled as before); a new
        watch makes the run dirty once, for what was written before it was added."""
        if not self.notifier.active:
            self.trusted = False
            return
        if not self.trusted and (self._remote or self._last_full < self._retry_at):
            return  # on a network filesystem for good; at the watch limit until RETRY
        self.trusted = True
        wanted = set(directories)
        if not self._remote_checked and wanted:
            self._remote_checked = True
            fs = remote_filesystem(min(wanted, key=len))
            if fs is not None:
                self._remote = True
                self._untrust(f"on {fs}: inotify does not see other machines' writes")
                return
        for d in [d for d in self._wds if d not in wanted]:
            self.notifier._remove(self, self._wds.pop(d))
        for d in wanted:
            if d in self._wds:
                continue
            wd = self.notifier._add(self, d)
            if wd == -errno.ENOENT or wd == -errno.ENOTDIR:
                continue  # not there (yet): the parent's watch sees it come
            if wd < 0:
                reason = (
                    "the inotify watch limit (fs.inotify.max_user_watches) is reached"
                    if wd == -errno.ENOSPC
                    else f"cannot watch {d}: {os.strerror(-wd)}"
                )
                self._untrust(reason)
                return
            self._wds[d] = wd
            self.dirty = True

    def close(self) -> None:
        for wd in self._wds.values():
            self.notifier._remove(self, wd)
        self._wds.clear()

    @property
    def watched(self) -> tuple[str, ...]:
        return tuple(sorted(self._wds))

    def _forget(self, wd: int) -> None:
        for d, w in list(self._wds.items()):
            if w == wd:
                del self._wds[d]

    def _untrust(self, why: str) -> None:
        self.trusted = False
        self.why_not = why
        self._retry_at = self._last_full + RETRY
        self.close()
