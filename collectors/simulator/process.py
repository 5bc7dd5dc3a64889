"""The simulator as a real child process: its command line and :func:`spawn`."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any


def command(
    root: str | os.PathLike[str],
    *,
    exp_name: str = "cuboid",
    num_env_steps: int = 100_000_000,
    duration: float = 10.0,
    layout: str = "A",
    preset: str = "basic",
    seed: int = 1,
    flush_secs: float = 1.0,
    extra_args: list[str] | tuple[str, ...] = (),
    **options: Any,
) -> list[str]:
    """The argv that runs the simulator (this interpreter, unbuffered). ``options`` become
    flags: ``n_rollout_threads=10`` -> ``--n-rollout-threads 10``; ``True`` -> a bare flag."""
    cmd = [
        sys.executable,
        "-u",
        "-m",
        "collectors.simulator",
        "--root",
        str(root),
        "--exp-name",
        exp_name,
        "--num-env-steps",
        str(int(num_env_steps)),
        "--duration",
        str(duration),
        "--layout",
        layout,
        "--config-preset",
        preset,
        "--seed",
        str(seed),
        "--flush-secs",
        str(flush_secs),
    ]
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            cmd.append(flag)
        elif value not in (None, False):
            cmd += [flag, str(value)]
    cmd += list(extra_args)
    return cmd


def spawn(
    root: str | os.PathLike[str], *, timeout: float = 30.0, **options: Any
) -> subprocess.Popen[str]:
    """Start the simulator as a child process (``options``: those of :func:`command`); return it
    once it has printed its run dir.

    The returned Popen has ``run_dir`` (Path) and ``output`` (list of the stdout lines after the
    first, filled by a daemon thread so the pipe never blocks the child). stderr is a pipe (read
    it after the child exits).
    """
    cmd = command(root, **options)
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    first = proc.stdout.readline() if ready else ""
    prefix = "happo-top simulate: run dir "
    if not first.startswith(prefix):
        proc.kill()
        _, err = proc.communicate()
        raise RuntimeError(f"simulator did not start (first line {first!r}): {err[-2000:]}")
    output: list[str] = []

    def drain(stream: IO[str] = proc.stdout) -> None:
        with stream:  # closed at EOF, when the child exits
            for line in stream:
                output.append(line.rstrip("\n"))

    threading.Thread(target=drain, daemon=True, name="happo-sim-stdout").start()
    proc.run_dir = Path(first[len(prefix) :].strip())  # type: ignore[attr-defined]
    proc.output = output  # type: ignore[attr-defined]
    return proc


# --------------------------------------------------------------------------- CLI
