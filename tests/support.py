"""What the tests run: the command line as a user runs it, the stand-in trainers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# A short live simulator run (collectors.simulator.spawn options) for the process tests.
LIVE = dict(num_env_steps=20_000, n_rollout_threads=10, episode_length=10)

# A stand-in trainer: makes a HARL run directory below --root, optionally holds progress.txt
# open for writing, renames itself, then writes a line every 50 ms until signalled.
STANDIN = (Path(__file__).parent / "standin_train.py").read_text()

# Code for a child that starts as root and drops to nobody before it scans (the interpreter lives
# under /root, which nobody cannot read): every module of the engine and of the headless front
# ends, and the standard modules they import on first use (start-up time, issue 16), imported
# while it is still root.
PRELOAD_AS_ROOT = (
    "import importlib, pkgutil, collectors, tui.cli, tui.text\n"
    "for _pkg in (collectors, tui.cli, tui.text):\n"
    "    for _m in pkgutil.walk_packages(_pkg.__path__, _pkg.__name__ + '.'):\n"
    "        if not _m.name.endswith('__main__'):\n"
    "            importlib.import_module(_m.name)\n"
    "import calendar, difflib, hashlib, importlib.util, json, locale, shutil, signal\n"
    "import statistics, subprocess, threading, traceback, _ctypes\n"
    "import collectors.analysis.health as _health\n"
    "_health.REGISTRY, _health.THRESHOLDS\n"
)


def happo_top(
    *args: str,
    cwd: Path | str = ROOT,
    env: dict | None = None,
    check: bool = False,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """Run the command line as a user does: a real process, plain output, 200 columns."""
    e = dict(os.environ, NO_COLOR="1", COLUMNS="200")
    e.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        capture_output=True,
        text=True,
        env=e,
        cwd=cwd,
        check=check,
        timeout=timeout,
    )


def http_get(url: str, timeout: float = 60) -> bytes:
    """GET ``url`` (a server the test started on loopback), retrying until it answers."""
    deadline = time.time() + timeout
    while True:
        try:
            return urllib.request.urlopen(url, timeout=5).read()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)
