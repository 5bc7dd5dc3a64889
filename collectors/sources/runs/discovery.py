"""Finding HARL run directories below the watched roots.

A run directory is named ``seed-<NNNNN>-<YYYY-MM-DD-HH-MM-SS>`` and holds ``config.json`` and/or
``logs/`` (layouts U, A and B of run-format.md). The walk is bounded in depth and in directories,
never follows a symlink back into a directory it has seen nor another user's symlink into someone
else's files (:func:`foreign_link`), never descends into a run directory,
and reuses cached listings of directories that did not change.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

from collectors.model.run_dir import RUN_DIR_RE
from collectors.sources.runs.fscache import DirCache

MAX_DEPTH = 8  # results/<env>/<task>/<algo>/<exp>/seed-* is 5 below results/
MAX_DIRS = 20_000  # per scan; a root with more than this is reported, not walked forever
SKIP_NAMES = frozenset({"__pycache__", "node_modules", "site-packages", "wandb"})
# kernel and device trees: never below a root of / or a home (only when a root is one of them)
SKIP_PATHS = frozenset({"/proc", "/sys", "/dev"})


def foreign_link(path: str, link_uid: int, target_uid: int) -> str | None:
    """Why the symlink at ``path`` is not followed, or None. A link owned by another user (not
    us, not root) is followed only into that user's own files: a "run" planted by someone else
    that points into our directories would otherwise be our run under their name, and get our
    trainer identified as its process."""
    me = os.geteuid()
    if link_uid in (me, 0) or link_uid == target_uid:
        return None
    return (
        f"{path}: a symlink owned by uid {link_uid} to a directory of uid {target_uid}; "
        "not followed (another user's link into someone else's files)"
    )


def foreign_link_on(path: str) -> str | None:
    """Why ``path`` must not be used as a run (a symlink refused by :func:`foreign_link` is on
    the way to it), or None. A RUN named on the command line goes through here: the walk
    refuses such a link, and a path through it must not reach our run under another name."""
    p = os.path.abspath(path)
    while True:
        try:
            lst = os.lstat(p)
            if stat.S_ISLNK(lst.st_mode):
                why = foreign_link(p, lst.st_uid, os.stat(p).st_uid)
                if why:
                    return why
        except OSError:
            pass
        parent = os.path.dirname(p)
        if parent == p:
            return None
        p = parent


@dataclass(slots=True)
class ScanResult:
    runs: list[str]
    errors: list[str]
    dirs_visited: int


class Discovery:
    """Finds run directories below a set of roots; call :meth:`scan` as often as you like."""

    def __init__(self, roots: list[str], max_depth: int = MAX_DEPTH, max_dirs: int = MAX_DIRS):
        self.roots = [os.path.abspath(r) for r in roots]
        self.max_depth = max_depth
        self.max_dirs = max_dirs
        self.cache = DirCache()

    def scan(self) -> ScanResult:
        runs: list[str] = []
        errors: list[str] = []
        seen: set[tuple[int, int]] = set()
        visited = 0
        for root in self.roots:
            try:
                st = os.stat(root)
            except FileNotFoundError:
                errors.append(f"{root}: no such directory")
                continue
            except OSError as e:
                errors.append(f"{root}: {e.strerror or e}")
                continue
            seen.add((st.st_dev, st.st_ino))
            # Iterative depth-first walk; (path, depth).
            stack = [(root, 0)]
            while stack:
                path, depth = stack.pop()
                visited += 1
                if visited > self.max_dirs:
                    errors.append(
                        f"{root}: stopped after {self.max_dirs} directories; "
                        "point happo-top at a narrower root"
                    )
                    stack.clear()
                    break
                try:
                    listing = self.cache.list(path)
                except FileNotFoundError:
                    self.cache.forget(path)  # deleted while we looked: quietly gone
                    continue
                except OSError as e:
                    errors.append(f"{path}: {e.strerror or e} (skipped)")
                    continue
                if (
                    depth > 0
                    and RUN_DIR_RE.match(os.path.basename(path))
                    and ("config.json" in listing.files or "logs" in listing.dirs)
                ):
                    runs.append(path)
                    continue
                if depth >= self.max_depth:
                    continue
                for name in reversed(listing.dirs):
                    if name.startswith(".") or name in SKIP_NAMES:
                        continue
                    sub = os.path.join(path, name)
                    if sub in SKIP_PATHS or (
                        name in listing.links and os.path.realpath(sub) in SKIP_PATHS
                    ):
                        continue
                    if name in listing.links:
                        try:
                            lst = os.stat(sub)
                            link_uid = os.lstat(sub).st_uid
                        except OSError:
                            continue
                        refused = foreign_link(sub, link_uid, lst.st_uid)
                        if refused:
                            errors.append(refused)
                            continue
                        key = (lst.st_dev, lst.st_ino)
                        if key in seen:
                            continue  # a loop, or a second way to the same place
                        seen.add(key)
                    stack.append((sub, depth + 1))
        # The same run reached through two roots (or a symlink) is one run.
        # The shortest way there wins (the one without a detour through a symlink).
        # Sibling runs share their parent's resolution (realpath of each run alone is a stat per
        # component of its path: ~10 per run and scan); the run's own name is resolved only when
        # it is a symlink.
        unique: dict[str, str] = {}
        parents: dict[str, str] = {}
        for r in sorted(runs, key=lambda p: (p.count(os.sep), p)):
            parent, name = os.path.split(r)
            real_parent = parents.get(parent)
            if real_parent is None:
                real_parent = parents[parent] = os.path.realpath(parent)
            real = os.path.join(real_parent, name)
            if os.path.islink(r):
                real = os.path.realpath(real)
            unique.setdefault(real, r)
        return ScanResult(sorted(unique.values()), errors, visited)
