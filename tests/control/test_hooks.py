"""collectors.control.hooks: the on_event command, run for real as a child process."""

from __future__ import annotations

import json
import os
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from collectors.config import ConfigError, parse_settings
from collectors.control.hooks import HookRunner, hook_argv
from collectors.model import events as E
from collectors.model.events import Event

T0 = 1_763_567_400.0


def crash(name="basic", t=T0):
    return Event(
        t,
        E.CRASHED,
        E.ERROR,
        "crashed at 1.2M: ValueError: boom",
        "r1",
        "/x/r1",
        name,
        "crashed",
        1_200_000,
    )


def recorder(tmp_path: Path) -> list[str]:
    """A hook script that appends what it got (stdin and its HAPPO_TOP_* variables) to a file."""
    script = tmp_path / "hook.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, os, sys
            doc = json.load(sys.stdin)
            env = {{k: v for k, v in os.environ.items() if k.startswith("HAPPO_TOP_")}}
            with open({str(tmp_path / "got.ndjson")!r}, "a") as f:
                f.write(json.dumps({{"stdin": doc, "env": env}}) + "\\n")
            """
        )
    )
    return [sys.executable, str(script)]


def lines(tmp_path: Path) -> list[dict]:
    p = tmp_path / "got.ndjson"
    return [json.loads(s) for s in p.read_text().splitlines()] if p.exists() else []


def test_the_command_gets_the_event_on_stdin_and_in_its_environment(tmp_path):
    reports: list[Event] = []
    runner = HookRunner(recorder(tmp_path), report=reports.append)
    try:
        t = time.perf_counter()
        assert runner.submit(crash())
        assert time.perf_counter() - t < 0.05  # the poll never waits for the command
        assert runner.wait_idle(20)
    finally:
        runner.close()
    (got,) = lines(tmp_path)
    assert got["stdin"] == crash().to_json()
    assert got["env"]["HAPPO_TOP_EVENT"] == "crashed"
    assert got["env"]["HAPPO_TOP_RUN"] == "basic"
    assert got["env"]["HAPPO_TOP_MESSAGE"] == "crashed at 1.2M: ValueError: boom"
    assert got["env"]["HAPPO_TOP_STEP"] == "1200000"
    assert reports == []


def test_a_shell_command_string_runs_through_sh(tmp_path):
    out = tmp_path / "shell.txt"
    assert hook_argv("echo hi") == ("/bin/sh", "-c", "echo hi")
    runner = HookRunner(f'echo "$HAPPO_TOP_EVENT $HAPPO_TOP_RUN" >> {out}; cat >> {out}')
    try:
        runner.submit(crash())
        assert runner.wait_idle(20)
    finally:
        runner.close()
    first, second = out.read_text().splitlines()
    assert first == "crashed basic"
    assert json.loads(second)["kind"] == "crashed"


def test_a_failing_or_missing_command_is_reported_never_raised(tmp_path):
    reports: list[Event] = []
    runner = HookRunner(
        [sys.executable, "-c", "import sys; print('no webhook', file=sys.stderr); sys.exit(3)"],
        report=reports.append,
    )
    try:
        runner.submit(crash())
        assert runner.wait_idle(20)
    finally:
        runner.close()
    (r,) = reports
    assert r.kind == E.HOOK_FAILED and r.severity == E.WARNING
    assert "exited 3: no webhook" in r.message
    reports.clear()
    missing = HookRunner([str(tmp_path / "nope")], report=reports.append)
    try:
        missing.submit(crash())
        assert missing.wait_idle(20)
    finally:
        missing.close()
    (r,) = reports
    assert "could not start" in r.message and "No such file" in r.message


def test_a_hanging_command_is_killed_with_its_children_and_the_runner_goes_on(tmp_path):
    pidfile = tmp_path / "pids"
    script = tmp_path / "hang.sh"
    # the hook starts a grandchild and waits: both must be gone after the timeout
    script.write_text(f"#!/bin/sh\nsleep 300 &\necho $$ $! > {pidfile}\nwait\n")
    script.chmod(0o755)
    reports: list[Event] = []
    runner = HookRunner([str(script)], timeout=1.0, report=reports.append)
    try:
        t = time.monotonic()
        runner.submit(crash("one"))
        runner.submit(crash("two"))
        assert runner.wait_idle(30)
        took = time.monotonic() - t
    finally:
        runner.close()
    assert took < 10  # two timeouts of 1 s, not 300 s
    assert [r.message.split(" (killed)")[0] for r in reports] == [
        f"on_event command {script.name} timed out after 1 s"
    ] * 2
    for pid in map(int, pidfile.read_text().split()):
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_the_rate_limit_drops_and_reports_once_per_burst(tmp_path):
    reports: list[Event] = []
    clock = [100.0]
    runner = HookRunner(
        recorder(tmp_path), per_minute=3, report=reports.append, monotonic=lambda: clock[0]
    )
    try:
        sent = [runner.submit(crash(f"r{i}")) for i in range(8)]
        assert sent == [True] * 3 + [False] * 5
        clock[0] += 61  # a minute later the command runs again
        assert runner.submit(crash("later"))
        deadline = time.monotonic() + 30
        while len(lines(tmp_path)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        runner.close()
    assert [g["env"]["HAPPO_TOP_RUN"] for g in lines(tmp_path)] == ["r0", "r1", "r2", "later"]
    assert runner.dropped == 5
    assert reports[0].message == "on_event not run for r3 (more than 3 events a minute)"
    assert reports[1].message == "on_event was not run for 5 events"
    assert len(reports) == 2


def test_hook_failures_are_never_fed_to_the_hook(tmp_path):
    runner = HookRunner(recorder(tmp_path))
    try:
        assert not runner.submit(Event(T0, E.HOOK_FAILED, E.WARNING, "x"))
    finally:
        runner.close()
    assert runner.ran == 0


@pytest.mark.skipif(not os.path.exists("/bin/sh"), reason="needs /bin/sh")
def test_close_kills_a_running_command(tmp_path):
    runner = HookRunner("sleep 300", timeout=600)
    runner.submit(crash())
    deadline = time.monotonic() + 10
    while runner._running is None and time.monotonic() < deadline:
        time.sleep(0.02)
    proc = runner._running
    assert proc is not None
    runner.close()
    assert proc.wait(10) is not None


def test_on_event_settings_are_validated_with_file_and_line():
    s = parse_settings("on_event: [notify-send, happo-top]\non_event_rate: 4\nbell: true\n")
    assert s.on_event == ("notify-send", "happo-top") and s.on_event_rate == 4.0 and s.bell
    assert parse_settings("on_event: 'ntfy pub x \"$HAPPO_TOP_MESSAGE\"'\n").on_event.startswith(
        "ntfy"
    )
    for text, line, key in (
        ("refresh: 2\non_event: 3\n", 2, "on_event"),
        ("on_event: []\n", 1, "on_event"),
        ("bell: true\non_event_rate: 0\n", 2, "on_event_rate"),
        ("on_event_timeout: .inf\n", 1, "on_event_timeout"),
        ("bell: yes please\n", 1, "bell"),
    ):
        with pytest.raises(ConfigError, match=rf"^cfg.yaml:{line}: key '{key}' must be"):
            parse_settings(text, "cfg.yaml")


def test_close_drops_what_is_still_queued(tmp_path):
    runner = HookRunner(f"sleep 2; echo ran >> {tmp_path / 'ran'}", timeout=30)
    for i in range(5):
        runner.submit(crash(f"r{i}"))
    time.sleep(0.3)
    runner.close()
    time.sleep(2.5)
    assert runner.ran == 1 and not (tmp_path / "ran").exists()  # the first was killed
