"""The monitor in a real terminal, for the benchmarks that time it there (bench_tui.py,
bench_idle.py): a private tmux server (its own socket, so the user's sessions are never touched),
the installed ``happo-top`` started in a session of a given size with its own state and config
folders, the screen read back, the CPU a process has used."""

from __future__ import annotations

import contextlib
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from _installed import installed_env

ROOT = Path(__file__).resolve().parent.parent
SOCKET = f"happo-bench-{os.getpid()}"


def happo_top() -> list[str]:
    script = Path(sys.executable).with_name("happo-top")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tui.cli"]


def tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=check
    )


def start(
    argv: list[str], width: int = 120, height: int = 40, tree: Path | None = None
) -> psutil.Process:
    """``argv`` in a new detached session ``b`` of ``width`` x ``height``; its process.
    ``tree``: the source tree whose ``collectors`` and ``tui`` it runs (default: this one; an
    older tree must be compiled already, see bench_tui's --baseline)."""
    tree = tree or ROOT
    env = {
        "TERM": "xterm-256color",
        "XDG_STATE_HOME": tempfile.mkdtemp(prefix="happo-bench-state-"),
        "XDG_CONFIG_HOME": tempfile.mkdtemp(prefix="happo-bench-config-"),
        "PYTHONPATH": str(tree),
    }
    installed_env()  # compiled once (the tmux server's environment is this shell's)
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    cmd = (
        f"cd {shlex.quote(str(tree))} && exec env -u COLUMNS -u LINES -u PYTHONDONTWRITEBYTECODE "
        f"{exports} {shlex.join(argv)}"
    )
    tmux("new-session", "-d", "-s", "b", "-x", str(width), "-y", str(height), cmd)
    pid = int(tmux("list-panes", "-t", "b", "-F", "#{pane_pid}").stdout.strip())
    return psutil.Process(pid)


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", "b", check=False).stdout


def stop(keys: str = "q") -> None:
    """``keys`` (quit), then the private server and its socket file go."""
    tmux("send-keys", "-t", "b", keys, check=False)
    time.sleep(1.0)
    tmux("kill-server", check=False)
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    with contextlib.suppress(OSError):
        os.unlink(os.path.join(base, f"tmux-{os.getuid()}", SOCKET))


def wait_for(pred, timeout: float = 60.0, step: float = 0.01) -> float:
    """Seconds until ``pred(screen())`` holds (TimeoutError with the last screen)."""
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if pred(screen()):
            return time.perf_counter() - t0
        time.sleep(step)
    raise TimeoutError(f"screen never matched; last:\n{screen()}")


def cpu_seconds(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def cpu_percent(p: psutil.Process, window: float) -> float:
    """The share of one core ``p`` used over the next ``window`` seconds."""
    c0, t0 = cpu_seconds(p), time.monotonic()
    time.sleep(window)
    return 100.0 * (cpu_seconds(p) - c0) / (time.monotonic() - t0)
