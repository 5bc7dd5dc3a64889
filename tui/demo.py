"""``happo-top demo``: simulated training runs, watched by the monitor, in one command.

Writes one finished "basic" run (as if it had trained for five hours) and starts three live
simulated trainers (a "safe" run, a second "basic" seed, and one that crashes part-way) in a
temporary results directory, then opens the monitor on them. The simulated trainers are stopped
(SIGINT, as a user would) when the demo quits; the directory is removed unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def start_demo_runs(root: str, duration: float, quiet: bool = False) -> list[subprocess.Popen]:
    from collectors.simulator import spawn, write_instant_run

    now = time.time()
    write_instant_run(
        root, exp_name="cuboid", preset="basic", seed=1, start_time=now - 6 * 3600, finished=True
    )
    specs = [
        dict(exp_name="cuboid", preset="safe", seed=1, duration=duration * 1.5),
        dict(exp_name="cuboid", preset="basic", seed=2, duration=duration),
        dict(exp_name="cuboid", preset="basic", seed=3, duration=duration, crash_at=0.35),
    ]
    procs = []
    for spec in specs:
        procs.append(spawn(root, flush_secs=2.0, **spec))
        time.sleep(1.05)  # distinct run directory timestamps
    if not quiet:
        for p in procs:
            print(f"started simulated trainer pid {p.pid}: {p.run_dir}")
    return procs


def stop_demo_runs(procs: list[subprocess.Popen], grace: float = 5.0) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGINT)
    deadline = time.time() + grace
    for p in procs:
        try:
            p.wait(max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="happo-top demo", description=__doc__.splitlines()[0])
    ap.add_argument(
        "--dir", help="where to put the simulated runs (default: a new temporary directory)"
    )
    ap.add_argument(
        "--duration",
        type=float,
        default=600.0,
        help="seconds a simulated 100M-step run takes (default 600)",
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the simulated runs when the demo quits"
    )
    ap.add_argument(
        "--once",
        action="store_true",
        help="print one snapshot after a few seconds and quit (for scripts)",
    )
    args = ap.parse_args(argv)

    from collectors.settings import Settings

    base = args.dir or tempfile.mkdtemp(prefix="happo-top-demo-")
    root = os.path.join(base, "results")
    os.makedirs(root, exist_ok=True)
    # Simulated trainers flush every 2 s and log every few seconds: scale the stall rules to them.
    settings = Settings(refresh=1.0, stall_timeout=10.0, flush_secs=2.0)
    procs = start_demo_runs(root, args.duration, quiet=not args.once)
    try:
        from tui.cli import print_once, watch_text

        if args.once:
            time.sleep(4)
            return print_once([root], settings)
        return watch_text([root], settings)
    finally:
        stop_demo_runs(procs)
        if args.keep or args.dir:
            print(f"simulated runs kept in {root}", file=sys.stderr)
        else:
            shutil.rmtree(base, ignore_errors=True)
