"""Cost of one system poll (processes + GPU + disk) on a busy machine.

Starts N unrelated idle processes (``sleep 600``, 300 by default) and a few live simulated
training runs, then measures the median of several repetitions of:

* a full process scan (every /proc entry, the fds of readable processes, titles, parents),
* a refresh of the known pids (what happens at every poll between full scans),
* a GPU poll (NVML; says so when there is no GPU),
* a disk poll, with and without re-sizing the runs,

and the monitor's own CPU use over a few seconds of polling at the default cadence.
Everything it starts is killed at the end.

    python bench/bench_system.py [--procs 300] [--runs 4] [--repeat 30]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's code

from collectors.simulator.trainer import spawn, write_instant_run  # noqa: E402
from collectors.sources.disk import DiskCollector  # noqa: E402
from collectors.sources.gpu import GpuCollector  # noqa: E402
from collectors.sources.processes import ProcessCollector  # noqa: E402
from collectors.sources.runs import RunsCollector  # noqa: E402


def median_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times), max(times)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--procs", type=int, default=300, help="unrelated idle processes to start")
    p.add_argument("--runs", type=int, default=4, help="live simulated runs")
    p.add_argument("--repeat", type=int, default=30)
    p.add_argument("--cpu-seconds", type=float, default=6.0, help="polling time for CPU use")
    p.add_argument("--refresh", type=float, default=2.0, help="poll period for CPU use")
    args = p.parse_args(argv)

    sleepers: list[subprocess.Popen[bytes]] = []
    sims: list[subprocess.Popen[str]] = []
    tmp = tempfile.mkdtemp(prefix="happo-top-bench-")
    root = os.path.join(tmp, "results")
    try:
        for _ in range(args.procs):
            sleepers.append(subprocess.Popen(["sleep", "600"]))
        for i in range(args.runs):
            sims.append(
                spawn(
                    root,
                    exp_name=f"bench{i}",
                    seed=i,
                    duration=600.0,
                    num_env_steps=2_000_000,
                    n_rollout_threads=50,
                    episode_length=20,
                )
            )
        for i in range(args.runs):  # finished runs: looked for at every full scan
            write_instant_run(
                root, exp_name=f"done{i}", num_env_steps=200_000, n_rollout_threads=50
            )
        time.sleep(1.0)
        nproc = len([d for d in os.listdir("/proc") if d.isdigit()])
        runs_collector = RunsCollector([root])
        runs = runs_collector.collect().runs
        assert len(runs) == 2 * args.runs
        pc = ProcessCollector(registry=None, scan_interval=1e9)
        found = pc.collect(runs)
        assert len(found) == args.runs, f"found {len(found)} of {args.runs} live runs"
        gpu = GpuCollector()
        gpu.collect()
        dc_sized = DiskCollector([root], live_interval=0.0)
        dc = DiskCollector([root])
        dc.collect(runs)

        rows = []
        keys = [pc._key(r) for r in runs]
        rows.append(
            (
                "full scan, first (nothing known)",
                *median_ms(lambda: ProcessCollector(registry=None).full_scan(keys), args.repeat),
            )
        )
        rows.append(
            (
                "full scan, steady (live runs known)",
                *median_ms(lambda: pc.full_scan(keys), args.repeat),
            )
        )
        rows.append(("refresh of known pids", *median_ms(lambda: pc.collect(runs), args.repeat)))
        gsnap = gpu.collect()
        gname = "GPU poll" + ("" if gsnap.available else " (no GPU here)")
        rows.append((gname, *median_ms(gpu.collect, args.repeat)))
        rows.append(("disk poll (cached sizes)", *median_ms(lambda: dc.collect(runs), args.repeat)))
        rows.append(
            ("disk poll (re-size runs)", *median_ms(lambda: dc_sized.collect(runs), args.repeat))
        )

        def system_poll() -> None:
            g = gpu.collect()
            pc.collect(runs, g.memory_by_pid())
            dc.collect(runs)

        rows.append(("system poll (refresh+GPU+disk)", *median_ms(system_poll, args.repeat)))

        # The monitor's own CPU use at the default cadences (full scan every 10 s).
        live = ProcessCollector(registry=None)
        t_wall, t_cpu = time.perf_counter(), time.process_time()
        end = t_wall + args.cpu_seconds
        while time.perf_counter() < end:
            g = gpu.collect()
            live.collect(runs, g.memory_by_pid())
            dc.collect(runs)
            time.sleep(args.refresh)
        cpu = (time.process_time() - t_cpu) / (time.perf_counter() - t_wall) * 100.0

        print(
            f"{nproc} processes on the machine ({args.procs} idle added), {args.runs} live and "
            f"{args.runs} finished runs"
        )
        if not gsnap.available:
            print(f"GPU: {gsnap.message}")
        print(f"{'measure':<40} {'median ms':>10} {'max ms':>10}")
        for name, med, mx in rows:
            print(f"{name:<40} {med:>10.2f} {mx:>10.2f}")
        print(
            f"monitor CPU while polling every {args.refresh:g} s (full scan every 10 s): "
            f"{cpu:.2f}% of one core"
        )
        return 0
    finally:
        for s in sims:
            s.kill()
        for s in sleepers:
            s.kill()
        for s in [*sims, *sleepers]:
            with contextlib.suppress(Exception):
                s.wait(timeout=10)
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
