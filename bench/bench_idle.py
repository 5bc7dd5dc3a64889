"""The monitor's idle cost in a real terminal (tmux on a private socket): CPU, first frame, RSS.

    python bench/bench_idle.py            # 30 s windows (~8 minutes)
    python bench/bench_idle.py --quick    # 10 s windows

With the installed ``happo-top`` at the default refresh (2 s), as a user runs it:

* CPU (user + system of all its threads, psutil) as a percentage of one core, over a window
  that starts ``--settle`` seconds after the first full frame (default 65 s: a finished run
  silent for a minute is read every 10 s, not at every poll), with 4 live simulated runs, 100
  finished runs and 300 finished runs (bench_polls.py's runs: 13 tags x 200 points, 40
  checkpoints each);
* the first full frame with 300 runs: from the start to the header counting all 300;
* RSS with no run, 100 and 300 runs; per run: (RSS at 300 - RSS at 100) / 200.

htop at the same refresh is the anchor for CPU: it is measured too when installed. This script
measures what bench_tui.py does not (key latency lives there).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _tmux  # noqa: E402
from _tmux import cpu_percent, happo_top, stop  # noqa: E402
from bench_polls import generate_many  # noqa: E402

from collectors.simulator.trainer import spawn  # noqa: E402


def start(argv: list[str], width: int = 200, height: int = 50):
    return _tmux.start(argv, width, height)  # this bench's terminal: 200x50


def wait_for(pred, timeout: float = 120.0, step: float = 0.02) -> float:
    return _tmux.wait_for(pred, timeout, step)


def watch(root: Path, n: int, settle: float, window: float) -> tuple[float, float, float]:
    """(seconds to the first frame counting all n runs, RSS MiB, CPU % over the window)."""
    t0 = time.perf_counter()
    p = start([*happo_top(), str(root)])
    try:
        # the header counts them all and their rows (or panels) are drawn: the runs are named
        wait_for(lambda s: f"{n} runs" in s and "bench s" in s)
        first = time.perf_counter() - t0
        time.sleep(settle)
        rss = p.memory_info().rss / 2**20
        return first, rss, cpu_percent(p, window)
    finally:
        stop()


def live(settle: float, window: float) -> float:
    tmp = Path(tempfile.mkdtemp(prefix="happo-idle-live-"))
    procs = [
        spawn(tmp / "results", exp_name="live", seed=s, duration=3600.0, flush_secs=2.0)
        for s in range(1, 5)
    ]
    try:
        p = start([*happo_top(), str(tmp / "results")])
        wait_for(lambda s: "4 runs" in s and s.count("pid ") >= 4, step=0.2)
        time.sleep(min(settle, 10.0))  # live runs change at every poll: nothing to settle
        return cpu_percent(p, window)
    finally:
        stop()
        for pr in procs:
            pr.terminate()
        for pr in procs:
            pr.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def htop(window: float) -> float | None:
    if shutil.which("htop") is None:
        return None
    p = start(["htop", "-d", "20"])  # tenths of a second: 2 s, the monitor's refresh
    try:
        time.sleep(3)
        return cpu_percent(p, window)
    finally:
        stop("q")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="10 s windows instead of 30 s")
    ap.add_argument("--settle", type=float, default=65.0, help="seconds before a CPU window")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed", file=sys.stderr)
        return 2
    window = 10.0 if args.quick else 30.0
    hundred, three = generate_many(100), generate_many(300)
    with tempfile.TemporaryDirectory() as empty:
        p = start([*happo_top(), empty])
        try:
            wait_for(lambda s: "happo-top" in s)
            time.sleep(3)
            rss0 = p.memory_info().rss / 2**20
        finally:
            stop()
    rows = []
    cpu_live = live(args.settle, window)
    rows.append(("CPU, 4 live runs", f"{cpu_live:.2f}% of a core", "< 0.5%"))
    f100, rss100, cpu100 = watch(hundred, 100, args.settle, window)
    rows.append(("CPU, 100 finished runs", f"{cpu100:.2f}% of a core", "< 1%"))
    f300, rss300, cpu300 = watch(three, 300, args.settle, window)
    rows.append(("CPU, 300 finished runs", f"{cpu300:.2f}% of a core", "< 2%"))
    anchor = htop(window)
    if anchor is not None:
        rows.append(("  htop, same refresh (anchor)", f"{anchor:.2f}% of a core", ""))
    rows.append(("first full frame, 300 runs", f"{f300:.2f} s", "< 1 s"))
    rows.append(("first full frame, 100 runs", f"{f100:.2f} s", ""))
    rows.append(
        ("RSS: no run / 100 / 300 runs", f"{rss0:.0f} / {rss100:.0f} / {rss300:.0f} MiB", "")
    )
    rows.append(("RSS per run (300 - 100) / 200", f"{(rss300 - rss100) * 1024 / 200:.0f} KiB", ""))
    width = max(len(r[0]) for r in rows)
    print(f"\nhappo-top idle cost ({window:.0f} s windows, {args.settle:.0f} s after the frame)")
    for a, b, c in rows:
        print(f"  {a.ljust(width)}  {b:>26}  {c}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
