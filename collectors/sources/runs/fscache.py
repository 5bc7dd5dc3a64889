"""Directory listings that are re-read only when a directory changes.

Adding or removing an entry changes a directory's mtime, so one ``stat`` tells whether a cached
listing is still good. A rescan of an unchanged tree costs one ``stat`` per directory and no
``scandir`` at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Listing:
    dirs: tuple[str, ...]  # names of sub-directories (symlinks to directories included)
    files: tuple[str, ...]  # names of everything else
    links: frozenset[str]  # the sub-directory names that are symlinks
    mtime_ns: int


class DirCache:
    def __init__(self) -> None:
        self._cache: dict[str, Listing] = {}

    def __len__(self) -> int:
        return len(self._cache)

    def list(self, path: str) -> Listing:
        """The listing of ``path``. Raises OSError (gone, permission denied, not a directory)."""
        st = os.stat(path)
        cached = self._cache.get(path)
        if cached is not None and cached.mtime_ns == st.st_mtime_ns:
            return cached
        dirs: list[str] = []
        files: list[str] = []
        links: set[str] = set()
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
                else:
                    files.append(e.name)
        listing = Listing(
            tuple(sorted(dirs)), tuple(sorted(files)), frozenset(links), st.st_mtime_ns
        )
        self._cache[path] = listing
        return listing

    def forget(self, prefix: str) -> None:
        """Drop cached listings at and below ``prefix`` (a deleted tree)."""
        sep = prefix.rstrip(os.sep) + os.sep
        for p in [p for p in self._cache if p == prefix or p.startswith(sep)]:
            del self._cache[p]
