"""What the process collector looks up again and again about the machine, cached: user names by
uid and the mount table (to tell a network filesystem). One :class:`SystemCache` per collector,
instance state rather than module globals (nvitop's ``api/caching.py`` habit), with the clock
and the mount table's file injectable for tests."""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable

MOUNT_TTL = 60.0  # seconds before the mount table is read again

NETWORK_FS = frozenset(
    {
        "nfs",
        "nfs4",
        "cifs",
        "smb3",
        "smbfs",
        "lustre",
        "gpfs",
        "beegfs",
        "ceph",
        "glusterfs",
        "fuse.glusterfs",
        "fuse.sshfs",
        "fuse.s3fs",
        "fuse.juicefs",
        "fuse.gcsfuse",
        "9p",
        "afs",
        "panfs",
        "wekafs",
        "orangefs",
        "pvfs2",
    }
)
_mounts: tuple[float, list[tuple[str, str]]] = (-1e18, [])


def lookup_user_name(uid: int | None) -> str | None:
    """The login name of ``uid`` (its number as text when unknown); not cached."""
    if uid is None:
        return None
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


class SystemCache:
    """User names (kept for good: they seldom change) and the mount table (re-read every
    ``mount_ttl`` seconds of ``clock``), with which filesystem each path asked about is on."""

    def __init__(
        self,
        mounts_file: str = "/proc/self/mounts",
        clock: Callable[[], float] = time.monotonic,
        mount_ttl: float = MOUNT_TTL,
    ) -> None:
        self.mounts_file = mounts_file
        self.clock = clock
        self.mount_ttl = mount_ttl
        self._users: dict[int, str | None] = {}
        self._mounts: list[tuple[str, str]] = []
        self._mounts_read: float | None = None
        self._network: dict[str, bool] = {}  # is_network_fs's verdicts, with this mount table

    def user_name(self, uid: int | None) -> str | None:
        if uid is None:
            return None
        if uid not in self._users:
            self._users[uid] = lookup_user_name(uid)
        return self._users[uid]

    def mount_table(self) -> list[tuple[str, str]]:
        """(mount point, filesystem type), longest mount point first."""
        now = self.clock()
        if self._mounts_read is not None and now - self._mounts_read < self.mount_ttl:
            return self._mounts
        table: list[tuple[str, str]] = []
        try:
            with open(self.mounts_file, encoding="utf-8", errors="replace") as f:
                for line in f:
                    parts = line.split()
                    if len(parts) >= 3:
                        point = parts[1].replace("\\040", " ")
                        table.append((point, parts[2]))
        except OSError:
            pass
        table.sort(key=lambda m: len(m[0]), reverse=True)
        self._mounts, self._mounts_read = table, now
        self._network = {}
        return table

    def is_network_fs(self, path: str) -> bool:
        """Whether ``path`` is on a network filesystem (its writer may be on another host).
        Kept until the mount table is read again: the process collector asks it of every run
        at every poll, and ``realpath`` plus the walk down the table cost about 60 us a run
        (19 ms a poll of the monitor with 300 runs, sampled)."""
        table = self.mount_table()
        known = self._network.get(path)
        if known is not None:
            return known
        real = os.path.realpath(path)
        verdict = False
        for point, kind in table:
            if real == point or real.startswith(point.rstrip("/") + "/"):
                verdict = kind in NETWORK_FS
                break
        self._network[path] = verdict
        return verdict
