"""Child processes of the benchmarks run as an installed happo-top does: from compiled
bytecode. ``pip install`` compiles every module, and an editable install writes ``__pycache__``
on its first run, but a shell with ``PYTHONDONTWRITEBYTECODE`` set (some CI images and
sandboxes) would make every start compile happo-top's ~90 modules again, about 150 ms that no
user pays."""

from __future__ import annotations

import compileall
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_compiled = False


def installed_env(base: dict[str, str] | None = None, **extra: str) -> dict[str, str]:
    """``base`` (default: this process's environment) without PYTHONDONTWRITEBYTECODE, with
    ``extra`` set; the tree's packages compiled once."""
    global _compiled
    if not _compiled:
        for package in ("collectors", "tui"):
            compileall.compile_dir(str(ROOT / package), quiet=1)
        _compiled = True
    env = dict(os.environ if base is None else base, **extra)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env
