"""Colour in the text snapshot: only on a terminal, never with NO_COLOR (https://no-color.org)
or TERM=dumb. ``use_colour`` on fake streams, then ``happo-top --once`` on a real
pseudo-terminal and into a pipe."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors.simulator.trainer import write_instant_run
from tests.support import ROOT
from tui.text.table import use_colour

ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class FakeStream:
    def __init__(self, tty: bool) -> None:
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.fixture
def colour_env(monkeypatch):
    """A colour-capable terminal type and no NO_COLOR (conftest sets NO_COLOR for every test)."""
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")
    return monkeypatch


def test_colour_on_a_terminal(colour_env):
    assert use_colour(FakeStream(True)) is True


def test_no_colour_when_not_a_terminal(colour_env):
    assert use_colour(FakeStream(False)) is False
    assert use_colour(object()) is False  # no isatty at all: not a terminal


@pytest.mark.parametrize("value", ["1", "0", "false", "yes"])
def test_no_color_set_to_anything_turns_colour_off(colour_env, value):
    colour_env.setenv("NO_COLOR", value)
    assert use_colour(FakeStream(True)) is False
    assert use_colour(FakeStream(False)) is False


def test_an_empty_no_color_is_ignored(colour_env):
    colour_env.setenv("NO_COLOR", "")  # no-color.org: "present and not an empty string"
    assert use_colour(FakeStream(True)) is True


def test_dumb_terminal_has_no_colour(colour_env):
    colour_env.setenv("TERM", "dumb")
    assert use_colour(FakeStream(True)) is False


def test_default_stream_is_stdout(colour_env):
    colour_env.setattr(sys, "stdout", FakeStream(True))
    assert use_colour() is True
    colour_env.setattr(sys, "stdout", FakeStream(False))
    assert use_colour() is False


# -- happo-top --once, as a user runs it -------------------------------------------------------


@pytest.fixture(scope="module")
def results(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("colour") / "results"
    write_instant_run(root, exp_name="colourful", num_env_steps=2_000_000, n_rollout_threads=50)
    return root


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(TERM="xterm-256color", COLUMNS="200", LINES="50", **extra)
    return env


def once_on_a_pty(root: Path, env: dict[str, str]) -> str:
    """``happo-top --once ROOT`` with its stdout on a pseudo-terminal; what it wrote there."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "--once", str(root)],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=env,
            cwd=ROOT,
        )
        os.close(slave)
        slave = -1
        out = bytearray()
        deadline = time.monotonic() + 120  # a hung child, not a speed limit
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: every slave end is closed, the child is done
                break
            if not chunk:
                break
            out += chunk
        else:
            proc.kill()
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err.decode(errors="replace")
        return out.decode(errors="replace")
    finally:
        os.close(master)
        if slave >= 0:
            os.close(slave)


def test_once_on_a_terminal_is_coloured(results):
    out = once_on_a_pty(results, cli_env())
    assert "colourful" in out
    assert ANSI_COLOUR.search(out), out
    assert "\x1b[36m" in out  # finished runs are cyan


def test_once_on_a_terminal_with_no_color_has_no_escape_codes(results):
    out = once_on_a_pty(results, cli_env(NO_COLOR="1"))
    assert "colourful" in out
    assert "\x1b" not in out, out


def test_once_into_a_pipe_has_no_escape_codes(results):
    proc = subprocess.run(
        [sys.executable, "-m", "tui.cli", "--once", str(results)],
        capture_output=True,
        text=True,
        env=cli_env(),
        cwd=ROOT,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "colourful" in proc.stdout
    assert "\x1b" not in proc.stdout
