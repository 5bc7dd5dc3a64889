"""Cost of several hosts: the bytes a host's stream sends, and the local monitor's CPU.

Makes 20 runs (``--live`` of them live simulated trainers, the rest finished), then

* runs ``happo-top serve --stream`` on them at the default refresh (2 s) and counts the bytes
  of its first snapshot and, after it, the bytes per second in steady state;
* starts ``--hosts`` RemoteHost streams (10 by default) on the same runs through a stand-in for
  ``ssh`` that runs the remote command here (``sh -c``: the cost of ssh itself is not the
  monitor's), and measures the local process's CPU while a Monitor merges them every 2 s.

Everything it starts is stopped at the end.

    python bench/bench_hosts.py [--live 4] [--hosts 10] [--seconds 30] [--duration 18000]
"""

from __future__ import annotations

import argparse
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's code

from collectors.model import Settings  # noqa: E402
from collectors.monitor import Monitor  # noqa: E402
from collectors.simulator import spawn, write_instant_run  # noqa: E402
from collectors.sources.remote import RemoteHost, RemoteSpec  # noqa: E402

FAKE_SSH = '#!/bin/sh\nfor a; do last="$a"; done\nexec sh -c "$last"\n'


def stream_bytes(root: str, seconds: float, refresh: float) -> tuple[int, int, float]:
    """(header + first snapshot bytes, steady bytes, steady seconds)."""
    p = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve", "--stream", "--refresh", str(refresh), root],
        stdout=subprocess.PIPE,
        stdin=subprocess.PIPE,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert p.stdout is not None and p.stdin is not None
    first = len(p.stdout.readline()) + len(p.stdout.readline())
    t0, steady = time.monotonic(), 0
    stop = threading.Event()

    def read() -> None:
        nonlocal steady
        assert p.stdout is not None
        for line in p.stdout:
            steady += len(line)
            if stop.is_set():
                break

    t = threading.Thread(target=read, daemon=True)
    t.start()
    time.sleep(seconds)
    stop.set()
    took = time.monotonic() - t0
    p.stdin.close()
    p.wait(timeout=20)
    return first, steady, took


def monitor_cpu(root: str, hosts: int, seconds: float, refresh: float, tmp: str) -> float:
    ssh = os.path.join(tmp, "fake-ssh")
    Path(ssh).write_text(FAKE_SSH)
    os.chmod(ssh, 0o755)
    cmd = f"{shlex.quote(sys.executable)} -m tui.cli"
    # No host name ever reaches a real ssh: the stand-in runs the command here.
    monitor = Monitor([], Settings(refresh=refresh), processes=False, gpu=False, disk=False)
    monitor.remotes = [
        RemoteHost(RemoteSpec(f"host{i:02d}", (root,), cmd, (), refresh, 5, ssh=ssh))
        for i in range(hosts)
    ]
    try:
        monitor.wait_for_hosts(30)
        snap = monitor.collect()
        up = sum(h.up for h in snap.hosts)
        runs = len(snap.runs)
        c0, t0 = time.process_time(), time.monotonic()
        while time.monotonic() - t0 < seconds:
            monitor.collect()
            time.sleep(refresh)
        cpu = (time.process_time() - c0) / (time.monotonic() - t0) * 100
        print(f"  {up}/{hosts} hosts up, {runs} runs merged")
        return cpu
    finally:
        monitor.close()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--live", type=int, default=4, help="of them, live simulated trainers")
    p.add_argument("--hosts", type=int, default=10)
    p.add_argument("--seconds", type=float, default=30.0)
    p.add_argument(
        "--duration",
        type=float,
        default=18000.0,
        help="real seconds each live run lasts: 18000 is a real HAPPO run's pace (a log point "
        "every 90 s); 600 logs every 3 s (a busy worst case)",
    )
    p.add_argument("--refresh", type=float, default=2.0)
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp(prefix="happo-top-bench-hosts-")
    root = os.path.join(tmp, "results")
    sims = []
    try:
        for i in range(args.runs - args.live):
            write_instant_run(root, num_env_steps=10_000_000, seed=100 + i)
        for i in range(args.live):
            sims.append(
                spawn(
                    root,
                    seed=i + 1,
                    num_env_steps=100_000_000,
                    duration=args.duration,
                    flush_secs=5,
                )
            )
        first, steady, took = stream_bytes(root, args.seconds, args.refresh)
        every = args.duration / 200  # 100M steps, 100k per update, log_interval 5
        print(
            f"stream, {args.runs} runs ({args.live} live, a log point every {every:.0f} s), "
            f"refresh {args.refresh:g} s:"
        )
        print(f"  header + first snapshot: {first / 1024:.1f} KiB")
        print(f"  steady state: {steady / took / 1024:.2f} KiB/s over {took:.0f} s")
        print(f"local monitor, {args.hosts} hosts x {args.runs} runs:")
        cpu = monitor_cpu(root, args.hosts, args.seconds, args.refresh, tmp)
        print(f"  CPU: {cpu:.2f}% of one core")
    finally:
        for s in sims:
            s.kill()
            s.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
