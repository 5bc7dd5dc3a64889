"""Starting TensorBoard on runs, as a launch: its --logdir_spec names (aliases, else labels),
a free port on localhost, the launch spec recorded under :data:`LAUNCH_NAME` (how happo-top
knows its own), waiting until it answers, and the ``ssh -L`` line to reach it from a laptop.
Used by ``happo-top tensorboard`` and the monitor's key alike."""

from __future__ import annotations

import getpass
import os
import re
import socket
import sys
import time
from collections.abc import Sequence

from collectors.control.errors import ActionError
from collectors.control.launch import LaunchResult, LaunchSpec, early_exit
from collectors.model.run import RunSnapshot
from collectors.model.settings import Settings
from collectors.sources.tensorboard import DEFAULT_PORT

LAUNCH_NAME = "tensorboard"  # the launch record's name: how happo-top knows its own


def run_label(run: RunSnapshot, settings: Settings) -> str:
    """The TensorBoard name of a run: its alias, else its label (the config keys that tell it
    from its siblings), else its name; without the characters --logdir_spec reserves."""
    alias = next(
        (
            settings.aliases[k]
            for k in (run.path, os.path.realpath(run.path), run.id)
            if k in settings.aliases
        ),
        None,
    )
    name = alias or run.label or run.name
    return re.sub(r"[,:]+", "_", " ".join(name.split())).strip("_ ") or run.id


def logdir_spec(runs: Sequence[RunSnapshot], settings: Settings) -> str:
    names: dict[str, str] = {}
    for r in runs:
        name = run_label(r, settings)
        if name in names:
            name = f"{name}_{r.id}"
        names[name] = r.path
    return ",".join(f"{n}:{p}" for n, p in names.items())


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def choose_port(asked: int | None) -> int:
    if asked is not None:
        if not _port_free(asked):
            raise ActionError(f"port {asked} is in use: give another --port")
        return asked
    for port in range(DEFAULT_PORT, DEFAULT_PORT + 100):
        if _port_free(port):
            return port
    raise ActionError(f"no free port in {DEFAULT_PORT}-{DEFAULT_PORT + 99}: give --port")


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("localhost", port), timeout=1):
            return True
    except OSError:
        return False


def ssh_line(port: int) -> str:
    return f"ssh -N -L {port}:localhost:{port} {getpass.getuser()}@{socket.gethostname()}"


def launch_spec(spec: str, port: int) -> LaunchSpec:
    """The launch of a TensorBoard on ``spec`` (--logdir_spec) at ``port`` on localhost, named
    :data:`LAUNCH_NAME` in the launch registry (how --list and --stop know it as happo-top's)."""
    argv: tuple[str, ...] = (sys.executable, "-m", "tensorboard.main", "--logdir_spec", spec)
    argv += ("--port", str(port), "--host", "localhost")
    return LaunchSpec(argv=argv, cwd=os.getcwd(), name=LAUNCH_NAME, source="command")


def wait_up(res: LaunchResult, port: int, wait: float) -> int | None:
    """None once TensorBoard answers on ``port`` (or ``wait`` ran out: still starting); its exit
    status when it exited first."""
    deadline = time.monotonic() + wait
    while True:
        code = early_exit(res, within=0.2)
        if code is not None:
            return code
        if _answers(port) or time.monotonic() >= deadline:
            return None
