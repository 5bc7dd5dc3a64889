"""Cost of the Slurm part of a poll, against a real single-node Slurm started for the bench
(tests/slurm.py's cluster, on 127.0.0.1, in a temporary directory; stopped at the end).

Submits N held jobs (``sbatch --hold``: pending, nothing runs), then measures the median of
several repetitions of:

* one ``squeue --states=all --user=ME -O ...`` and one ``squeue --json`` (the call and the parse),
* one ``scontrol show job`` (a job that left squeue),
* the Slurm collector's poll: a fresh query, and a poll between queries (the cached answer),
* ``Monitor.collect`` of 4 finished runs with and without the Slurm part (cached between queries).

    python bench/bench_slurm.py [--jobs 50] [--repeat 15]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's code

from collectors.model.settings import Settings  # noqa: E402
from collectors.monitor import Monitor  # noqa: E402
from collectors.simulator.trainer import write_instant_run  # noqa: E402
from collectors.sources.slurm import Slurm, SlurmCollector  # noqa: E402
from tests.slurm import Unavailable, cluster  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_system import median_ms  # noqa: E402  (one timing loop for the poll benches)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--jobs", type=int, default=50, help="held jobs in the queue")
    p.add_argument("--repeat", type=int, default=15)
    args = p.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="happo-top-bench-slurm-"))
    try:
        with cluster(tmp / "cluster") as c:
            os.environ.update(c.env)
            for _ in range(args.jobs):
                c.tool("sbatch", "--hold", "--parsable", f"--output={tmp}/j.log", "--wrap=true")
            root = tmp / "results"
            for seed in range(4):
                write_instant_run(root, exp_name="b", seed=seed + 1, num_env_steps=2_000_000)
            rows = []
            fmt_o, fmt_j = Slurm(), Slurm()
            fmt_o.format, fmt_j.format = "-O", "--json"
            uid = os.getuid()
            rows.append(
                ("squeue -O, call + parse", median_ms(lambda: fmt_o.squeue(user=uid), args.repeat))
            )
            rows.append(
                (
                    "squeue --json, call + parse",
                    median_ms(lambda: fmt_j.squeue(user=uid), args.repeat),
                )
            )
            rows.append(("scontrol show job", median_ms(lambda: fmt_o.scontrol("1"), args.repeat)))
            col = SlurmCollector(None, interval=0.0)
            rows.append(
                ("collector poll, fresh query", median_ms(lambda: col.collect([]), args.repeat))
            )
            col.interval = 3600.0
            rows.append(
                ("collector poll, between queries", median_ms(lambda: col.collect([]), args.repeat))
            )
            settings = Settings()
            with_slurm = Monitor([str(root)], settings, gpu=False, disk=False)
            without = Monitor([str(root)], settings, gpu=False, disk=False, slurm=False)
            with_slurm.collect(), without.collect()  # warm: the first poll reads everything
            assert with_slurm.slurm is not None
            rows.append(
                ("Monitor.collect, 4 runs, no Slurm part", median_ms(without.collect, args.repeat))
            )
            rows.append(
                (
                    "Monitor.collect, 4 runs, Slurm cached",
                    median_ms(with_slurm.collect, args.repeat),
                )
            )
            with_slurm.close(), without.close()
            print(f"{args.jobs} held jobs in the queue, {args.repeat} repetitions")
            print(f"{'measurement':44} {'median':>10} {'max':>10}")
            for name, (med, mx) in rows:
                print(f"{name:44} {med:8.2f}ms {mx:8.2f}ms")
            c.cancel_all()
    except Unavailable as e:
        print(f"no Slurm to measure: {e}")
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
