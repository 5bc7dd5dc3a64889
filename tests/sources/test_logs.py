"""A run's stdout log and why it crashed (collectors.sources.processes.logs), with real child
processes: a simulator whose output is redirected to a file, one started under ``nohup`` on a
terminal, a plain Python script that raises; and the tail read cheaply and safely."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors.analysis.events import detect
from collectors.model import events as E
from collectors.model.run import CRASHED
from collectors.model.settings import Settings
from collectors.monitor import Monitor
from collectors.simulator.process import command
from collectors.simulator.trainer import write_instant_run
from collectors.sources.processes.logs import (
    LastLines,
    cause_line,
    guess_nohup,
    process_log,
    tail_lines,
)

pytestmark = pytest.mark.usefixtures("private_state")

CAUSE = "RuntimeError: CUDA error: an illegal memory access was encountered"


def wait_for(cond, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def children():
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait(timeout=10)


def watch_until_crashed(mon: Monitor, timeout: float = 30.0):
    """Poll like the app does (every 0.3 s) until the one run is crashed; the snapshots seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = mon.collect()
        seen.append(snap)
        if snap.runs and snap.runs[0].state == CRASHED:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"never crashed: {[r.state for s in seen for r in s.runs][-5:]}")


def sim_argv(root: Path, exp: str) -> list[str]:
    return command(root, exp_name=exp, duration=4.0, crash_at=0.5, flush_secs=0.5)


@pytest.mark.slow
def test_a_crash_shows_the_traceback_of_a_redirected_log(tmp_path, children):
    root = tmp_path / "results"
    log = tmp_path / "train.log"
    with open(log, "wb") as out:  # python -m collectors.simulator ... > train.log 2>&1
        children.append(
            subprocess.Popen(sim_argv(root, "redirected"), stdout=out, stderr=subprocess.STDOUT)
        )
    assert wait_for(lambda: b"run dir" in log.read_bytes(), 20)
    mon = Monitor([str(root)], Settings(stall_timeout=60), gpu=False, disk=False)
    try:
        seen = watch_until_crashed(mon)
        first_live = next(s.runs[0] for s in seen if s.runs and s.runs[0].process is not None)
        assert first_live.process.log == str(log)  # known while it lives: its fd 1
        assert first_live.log == str(log) and first_live.log_last is None  # no cause while alive
        run = seen[-1].runs[0]
        assert run.process is None  # the process is gone, its log is still known
        assert run.log == str(log)
        assert run.log_last == CAUSE
        # the crash event carries the cause, and the JSON has both
        events = detect(seen[-2], seen[-1])
        (crash,) = [e for e in events if e.kind == E.CRASHED]
        assert crash.message.endswith(f": {CAUSE}")
        doc = json.loads(json.dumps(seen[-1].to_json()))
        assert doc["runs"][0]["log"] == str(log) and doc["runs"][0]["log_last"] == CAUSE
    finally:
        mon.close()


@pytest.mark.slow
def test_nohup_out_on_a_terminal(tmp_path, children):
    root = tmp_path / "results"
    master, slave = pty.openpty()  # nohup writes nohup.out only when stdout is a terminal
    try:
        children.append(
            subprocess.Popen(
                ["nohup", *sim_argv(root, "nohupped")],
                cwd=tmp_path,
                stdin=subprocess.DEVNULL,
                stdout=slave,
                stderr=slave,
            )
        )
        nohup = tmp_path / "nohup.out"
        assert wait_for(lambda: nohup.exists() and b"run dir" in nohup.read_bytes(), 20)
        mon = Monitor([str(root)], Settings(stall_timeout=60), gpu=False, disk=False)
        try:
            run = watch_until_crashed(mon)[-1].runs[0]
        finally:
            mon.close()
    finally:
        os.close(slave)
        os.close(master)
    assert run.log == str(nohup)
    assert run.log_last == CAUSE


def test_a_python_script_that_raises_into_a_redirect(tmp_path, children):
    """process_log on a live process: fd 1 to /dev/null, fd 2 to a file -> the file."""
    err = tmp_path / "err.log"
    script = "import sys, time; print('starting', file=sys.stderr, flush=True); time.sleep(30)"
    with open(err, "wb") as f:
        p = subprocess.Popen(
            [sys.executable, "-c", script], stdout=subprocess.DEVNULL, stderr=f, cwd=tmp_path
        )
    children.append(p)
    assert wait_for(lambda: err.read_bytes() == b"starting\n", 10)
    assert process_log(p.pid, str(tmp_path), str(tmp_path), os.getuid()) == str(err)
    p.kill()
    p.wait()
    # and what such a script leaves: the exception line of its traceback, even with noise after
    raising = tmp_path / "raise.py"
    raising.write_text("def f():\n    raise ValueError('lr must be positive')\nf()\n")
    out = tmp_path / "out.log"
    with open(out, "wb") as f:
        code = subprocess.call([sys.executable, str(raising)], stdout=f, stderr=subprocess.STDOUT)
    assert code == 1
    with open(out, "a") as f:
        f.write("wandb: Waiting for W&B process to finish... (failed 1).\n")
    assert cause_line(tail_lines(str(out))) == "ValueError: lr must be positive"


def test_a_run_seen_only_after_its_death_finds_nohup_out_in_harls_cwd(tmp_path):
    root = tmp_path / "results"
    run = write_instant_run(root, exp_name="dead", finished=False, stop_at=0.4)
    nohup = tmp_path / "nohup.out"
    nohup.write_text(f"step 100\nTraceback (most recent call last):\n  File x\n{CAUSE}\n")
    mon = Monitor([str(root)], Settings(stall_timeout=60), gpu=False, disk=False)
    try:
        snap = mon.collect()
    finally:
        mon.close()
    (r,) = snap.runs
    assert r.state == CRASHED and r.log == str(nohup) and r.log_last == CAUSE
    # an old nohup.out (an hour away from the run's last data) is another run's
    old = time.time() - 3 * 86400
    os.utime(nohup, (old, old))
    assert guess_nohup(str(run), None, r.last_data) is None


def test_the_tail_is_bounded_and_safe(tmp_path):
    big = tmp_path / "big.log"
    with open(big, "wb") as f:
        f.write(b"x" * 50_000_000)  # 50 MB: only the end is read
        f.write(b"\nprogress 10%\rprogress 100%\n\x1b[31mred\x1b[0m \xff\xfe junk\nlast\n")
    t = time.perf_counter()
    lines = tail_lines(str(big), 4096)
    took = time.perf_counter() - t
    assert lines[-3:] == ["progress 100%", "red \ufffd\ufffd junk", "last"]
    assert took < 0.5
    # not a regular file: refused, never blocking
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        tail_lines(str(fifo))
    cache = LastLines()
    assert cache.cause(str(tmp_path / "missing")) is None
    assert cache.cause(str(big)) == "last"
    big.unlink()  # deleted meanwhile
    assert cache.cause(str(big)) is None
    empty = tmp_path / "empty"
    empty.write_bytes(b"")
    assert cache.cause(str(empty)) is None
