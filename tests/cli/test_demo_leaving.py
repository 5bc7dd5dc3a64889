"""The demo's cleanup on SIGHUP/SIGTERM does not depend on the monitor shutting down.

A closed terminal raises SystemExit wherever the demo's main thread is, possibly inside a
Textual shutdown that never finishes: the cleanup (the trainers stopped, the directory removed)
runs in a thread of its own and the process ends itself. Here a real child process stands in
for a main thread that never gets out (it swallows the SystemExit and blocks again)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

CHILD = r"""
import os, sys, time
from tui.cli.demo import LEAVE_SIGNALS, _Leaving
import signal
done = sys.argv[1]
calls = []
def cleanup():
    calls.append(1)
    with open(done, "a") as f:
        f.write("cleaned\n")
    time.sleep(0.5)  # a second signal lands while it runs
leaving = _Leaving(cleanup)
leaving.LINGER = 1.0
for sig in LEAVE_SIGNALS:
    signal.signal(sig, leaving.on_signal)
r, w = os.pipe()  # nothing ever comes: the main thread blocks in the read, inside the try
ready = False
while True:  # a shutdown that never finishes (the signal's SystemExit is raised in the read)
    try:
        if not ready:  # said from inside the try: a signal right after it is still caught
            ready = True
            print("ready", flush=True)
        os.read(r, 1)
    except SystemExit:
        pass
"""


def test_a_hung_main_thread_still_cleans_up_once_and_exits_with_the_signals_code(tmp_path):
    done = tmp_path / "done"
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(done)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert child.stdout is not None and child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGHUP)
        time.sleep(0.2)
        child.send_signal(signal.SIGHUP)  # ignored: the cleanup is not started twice
        assert child.wait(timeout=10) == 128 + signal.SIGHUP
        assert done.read_text() == "cleaned\n"
    finally:
        if child.poll() is None:
            child.kill()
