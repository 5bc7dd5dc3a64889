"""Shared fixtures: real event files written by the real writers, HARL-shaped run directories."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.builders import make_run_dir, write_harl_config


@pytest.fixture
def private_state(tmp_path, monkeypatch):
    """The launch registry and logs in ``tmp_path``, no user config file read."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


@pytest.fixture
def harl_run(tmp_path: Path) -> Path:
    run = make_run_dir(tmp_path / "results")
    write_harl_config(run)
    return run


@pytest.fixture
def clock():
    """A controllable clock: call it for the time, set .now to move it."""

    class Clock:
        def __init__(self) -> None:
            self.now = time.time()

        def __call__(self) -> float:
            return self.now

    return Clock()


def pytest_configure(config):
    # Hermetic: no user config file, launch registry or colour leaks into the tests.
    import tempfile

    home = tempfile.mkdtemp(prefix="happo-top-tests-")
    config._happo_top_home = home
    os.environ["XDG_CONFIG_HOME"] = os.path.join(home, "config")
    os.environ["XDG_STATE_HOME"] = os.path.join(home, "state")
    os.environ["NO_COLOR"] = "1"


def pytest_unconfigure(config):
    import shutil

    home = getattr(config, "_happo_top_home", None)
    if home:
        shutil.rmtree(home, ignore_errors=True)
