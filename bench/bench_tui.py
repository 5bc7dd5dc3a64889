"""Benchmark of the Textual monitor in a real terminal (tmux on a private socket).

    python bench/bench_tui.py            # the numbers for the README (~3 minutes)
    python bench/bench_tui.py --quick    # shorter windows, for a quick look

Measures, with the installed ``happo-top`` (not a test harness):

* **CPU**: the monitor's own CPU time (user + system, all its threads, from psutil) over a window
  of 60 s while it watches 4 live simulated runs at the default refresh (2 s), as a percentage of
  one core. Also over 30 s with 20 finished runs (nothing changes: the idle cost).
* **First frame**: from starting ``happo-top`` to the screen showing all 20 runs of a results
  directory on disk (100M steps each, 200 points per tag, 40 checkpoints), read from tmux every
  10 ms. Also the first paint of anything.
* **RSS** of the monitor with those 20 runs on screen.

The 20 runs are generated once into bench/_data/tui20/ (git-ignored) and reused. The machine is
shared: run it when it is quiet, and read the numbers as orders of magnitude.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.simulator.trainer import spawn, write_instant_run  # noqa: E402

DATA = Path(__file__).resolve().parent / "_data" / "tui20"
SOCKET = f"happo-bench-{os.getpid()}"


def happo_top() -> list[str]:
    script = Path(sys.executable).with_name("happo-top")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tui.cli"]


def tmux(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["tmux", "-L", SOCKET, *args], capture_output=True, text=True, check=check
    )


def start(argv: list[str], width: int = 120, height: int = 40) -> psutil.Process:
    env = {
        "TERM": "xterm-256color",
        "XDG_STATE_HOME": tempfile.mkdtemp(prefix="happo-bench-state-"),
        "XDG_CONFIG_HOME": tempfile.mkdtemp(prefix="happo-bench-config-"),
        "PYTHONPATH": str(ROOT),
    }
    exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    cmd = (
        f"cd {shlex.quote(str(ROOT))} && exec env -u COLUMNS -u LINES {exports} {shlex.join(argv)}"
    )
    tmux("new-session", "-d", "-s", "b", "-x", str(width), "-y", str(height), cmd)
    pid = int(tmux("list-panes", "-t", "b", "-F", "#{pane_pid}").stdout.strip())
    return psutil.Process(pid)


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", "b", check=False).stdout


def stop() -> None:
    tmux("send-keys", "-t", "b", "q", check=False)
    time.sleep(1.0)
    tmux("kill-server", check=False)
    base = os.environ.get("TMUX_TMPDIR") or "/tmp"
    with contextlib.suppress(OSError):  # the private socket file
        os.unlink(os.path.join(base, f"tmux-{os.getuid()}", SOCKET))


def wait_for(pred, timeout: float = 60.0, step: float = 0.01) -> float:
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        if pred(screen()):
            return time.perf_counter() - t0
        time.sleep(step)
    raise TimeoutError(f"screen never matched; last:\n{screen()}")


def cpu_seconds(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def measure_cpu(p: psutil.Process, window: float) -> float:
    c0, t0 = cpu_seconds(p), time.monotonic()
    time.sleep(window)
    return 100.0 * (cpu_seconds(p) - c0) / (time.monotonic() - t0)


def make_twenty() -> Path:
    marker = DATA / ".complete"
    if marker.exists():
        return DATA / "results"
    shutil.rmtree(DATA, ignore_errors=True)
    root = DATA / "results"
    now = time.time()
    t0 = time.perf_counter()
    for i in range(20):
        write_instant_run(
            root,
            exp_name=f"exp{i // 4}",
            preset="basic" if i % 2 else "safe",
            seed=i + 1,
            start_time=now - 6 * 3600 - i * 60,
            finished=i % 5 != 4,
            stop_at=0.6,
        )
    marker.write_text("ok\n")
    print(f"(wrote 20 runs to {root} in {time.perf_counter() - t0:.1f} s)")
    return root


def bench_cpu_live(window: float) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="happo-bench-live-"))
    procs = [
        spawn(tmp / "results", exp_name="live", seed=s, duration=3600.0, flush_secs=2.0)
        for s in range(1, 5)
    ]
    try:
        p = start([*happo_top(), str(tmp / "results")])
        wait_for(lambda s: "4 runs" in s and s.count("pid ") >= 4, timeout=60, step=0.2)
        time.sleep(5)  # past start-up and the first full process scan
        return measure_cpu(p, window)
    finally:
        stop()
        for pr in procs:
            pr.terminate()
        for pr in procs:
            pr.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def bench_twenty(idle_window: float) -> tuple[float, float, float, float]:
    root = make_twenty()
    firsts, paints = [], []
    rss = idle = 0.0
    for attempt in range(3):
        t0 = time.perf_counter()
        p = start([*happo_top(), str(root)], 200, 50)
        wait_for(lambda s: "happo-top" in s)
        paints.append(time.perf_counter() - t0)
        wait_for(lambda s: "20 runs" in s and "seed" in s)
        firsts.append(time.perf_counter() - t0)
        if attempt == 0:
            time.sleep(3)
            rss = p.memory_info().rss / 2**20
            idle = measure_cpu(p, idle_window)
        stop()
    return statistics.median(firsts), statistics.median(paints), rss, idle


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="20 s windows instead of 60 s / 30 s")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed", file=sys.stderr)
        return 2
    window = 20.0 if args.quick else 60.0
    idle_window = 10.0 if args.quick else 30.0
    first, paint, rss, idle = bench_twenty(idle_window)
    print(f"20 runs on disk: first frame with all runs {first:.2f} s (first paint {paint:.2f} s)")
    print(f"20 runs on disk: RSS {rss:.0f} MiB; CPU idle {idle:.2f}% of one core")
    live = bench_cpu_live(window)
    print(f"4 live runs, refresh 2 s: CPU {live:.2f}% of one core over {window:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
