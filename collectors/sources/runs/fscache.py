"""Directory listings that are re-read only when a directory changes.

Adding or removing an entry changes a directory's mtime, so one ``stat`` tells whether a cached
listing is still good. A rescan of an unchanged tree costs one ``stat`` per directory and no
``scandir`` at all.

Filesystem times are coarser than writes (a kernel tick), so an entry added just after the
listing was read can leave the mtime as it was. With ``recent=True`` a listing read within a
second of its directory's mtime is read again at the next call (from then on the mtime says it
all): the checkpoint scanner asks for that, a new checkpoint must not wait for the next one.

With a ``shared`` dict (:data:`~collectors.model.disk.SharedListings`, the monitor's), every
directory actually read also leaves its real sub-directories and its regular files' sizes there
for the disk sizing of the same poll, which then neither lists nor stats it again.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass

from collectors.model.disk import SharedListings

RACY_NS = 1_000_000_000  # a listing read this soon after its directory changed is not trusted


@dataclass(frozen=True, slots=True)
class Listing:
    dirs: tuple[str, ...]  # names of sub-directories (symlinks to directories included)
    files: tuple[str, ...]  # names of everything else
    links: frozenset[str]  # the sub-directory names that are symlinks
    mtime_ns: int


class DirCache:
    def __init__(self, shared: SharedListings | None = None) -> None:
        self.shared = shared
        # With ``shared``: the lstat of every regular file in a directory read since the owner
        # last emptied it (an event file's reader takes it instead of a stat of its own).
        self.fresh: dict[str, os.stat_result] = {}
        self._cache: dict[str, Listing] = {}
        self._racy: set[str] = set()  # listings read too soon after their mtime: read again

    def __len__(self) -> int:
        return len(self._cache)

    def list(self, path: str, recent: bool = False) -> Listing:
        """The listing of ``path``. Raises OSError (gone, permission denied, not a directory).

        ``recent``: do not trust a listing read within a second of its directory's mtime."""
        st = os.stat(path)
        cached = self._cache.get(path)
        if (
            cached is not None
            and cached.mtime_ns == st.st_mtime_ns
            and not (recent and path in self._racy)
        ):
            return cached
        listed_ns = time.time_ns()
        dirs: list[str] = []
        files: list[str] = []
        links: set[str] = set()
        shared = self.shared
        real: list[str] = []
        sizes: dict[str, tuple[int, float]] = {}
        with os.scandir(path) as it:
            for e in it:
                try:
                    is_dir = e.is_dir()
                except OSError:
                    is_dir = False
                if is_dir:
                    dirs.append(e.name)
                    if e.is_symlink():
                        links.add(e.name)
                    elif shared is not None:
                        real.append(e.name)
                else:
                    files.append(e.name)
                    if shared is not None:
                        try:
                            if e.is_file(follow_symlinks=False):
                                fst = e.stat(follow_symlinks=False)
                                sizes[e.name] = (fst.st_size, fst.st_mtime)
                                self.fresh[e.path] = fst
                        except OSError:
                            pass
        if shared is not None:
            shared[path] = (st.st_mtime_ns, tuple(sorted(real)), sizes)
        listing = Listing(
            tuple(sorted(dirs)), tuple(sorted(files)), frozenset(links), st.st_mtime_ns
        )
        if st.st_mtime_ns >= listed_ns - RACY_NS:
            self._racy.add(path)
        else:
            self._racy.discard(path)
        if cached == listing:
            listing = cached  # the same object: callers may compare listings by identity
        self._cache[path] = listing
        return listing

    def forget(self, prefix: str) -> None:
        """Drop cached listings at and below ``prefix`` (a deleted tree)."""
        sep = prefix.rstrip(os.sep) + os.sep
        for p in [p for p in self._cache if p == prefix or p.startswith(sep)]:
            del self._cache[p]
            self._racy.discard(p)
