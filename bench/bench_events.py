"""Cost of events and log tails: what the monitor adds to each poll for them.

* ``detect`` between two snapshots of 30 runs (simulated, on disk): nothing changed (the
  monitor's identical objects), every run moved on (new step), every run crashed with a bad
  finding;
* the crashed run's cause line (``LastLines.cause``) on a 50 MB log: first read, then unchanged
  (one stat); the Log tab's 64 KiB tail of the same file;
* ``HookRunner.submit`` while the on_event command (``sleep 1``) is busy: what the poll waits.

Medians of ``--repeat`` repetitions (these machines are shared and noisy).

    python bench/bench_events.py [--repeat 50]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # this checkout's code

from collectors.analysis.events import detect  # noqa: E402
from collectors.control.hooks import HookRunner  # noqa: E402
from collectors.model.findings import BAD, Finding  # noqa: E402
from collectors.model.run import CRASHED  # noqa: E402
from collectors.model.settings import Settings  # noqa: E402
from collectors.monitor import Monitor  # noqa: E402
from collectors.simulator import write_instant_run  # noqa: E402
from collectors.sources.processes.logs import LastLines, tail_lines  # noqa: E402


def median_ms(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=50)
    args = ap.parse_args()
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench-events-") as tmp:
        root = Path(tmp) / "results"
        for i in range(30):
            write_instant_run(root, exp_name=f"e{i % 6}", seed=i, num_env_steps=10_000_000)
        mon = Monitor([str(root)], Settings(), processes=False, gpu=False, disk=False)
        try:
            before = mon.collect()
        finally:
            mon.close()
        assert len(before.runs) == 30
        same = dataclasses.replace(before, time=before.time + 2)
        moved = dataclasses.replace(
            same, runs=tuple(dataclasses.replace(r, step=r.step + 1) for r in before.runs)
        )
        bad = Finding("entropy", BAD, "entropy 0.2 < 0.5", metric="entropy", agent="agent0")
        crashed = dataclasses.replace(
            same,
            runs=tuple(
                dataclasses.replace(r, state=CRASHED, health=(bad, *r.health)) for r in before.runs
            ),
        )
        assert len(detect(before, crashed)) == 60
        for what, snap in (("nothing changed", same), ("every run moved", moved)):
            ms = median_ms(lambda s=snap: detect(before, s), args.repeat)
            rows.append((f"detect, 30 runs, {what}", f"{ms * 1e3:.0f} us"))
        ms = median_ms(lambda: detect(before, crashed), args.repeat)
        rows.append(
            ("detect, 30 runs, all crashed with a bad finding (60 events)", f"{ms * 1e3:.0f} us")
        )

        log = Path(tmp) / "big.log"
        with open(log, "wb") as f:
            f.write((b"update 123 step 456000 fps 9000 reward -15.2\n") * 1_100_000)
            f.write(b"Traceback (most recent call last):\n  File x\nValueError: boom\n")
        size = log.stat().st_size / 1e6
        ms = median_ms(lambda: LastLines().cause(str(log)), args.repeat)
        rows.append(
            (f"cause line of a {size:.0f} MB log, first read (8 KiB)", f"{ms * 1e3:.0f} us")
        )
        cache = LastLines()
        cache.cause(str(log))
        ms = median_ms(lambda: cache.cause(str(log)), args.repeat)
        rows.append(("cause line, file unchanged (one stat)", f"{ms * 1e3:.1f} us"))
        ms = median_ms(lambda: tail_lines(str(log)), args.repeat)
        rows.append(("Log tab tail, 64 KiB / 400 lines of it", f"{ms:.2f} ms"))

        runner = HookRunner("sleep 1", per_minute=10_000, timeout=5)
        try:
            ev = detect(before, crashed)[0]
            runner.submit(ev)  # the command is busy from here on
            ms = median_ms(lambda: runner.submit(ev), min(args.repeat, 90))
        finally:
            runner.close()
        rows.append(("HookRunner.submit while the command runs", f"{ms * 1e3:.1f} us"))
    width = max(len(a) for a, _ in rows)
    print(f"{'measurement':<{width}}  median of {args.repeat}")
    for a, b in rows:
        print(f"{a:<{width}}  {b}")


if __name__ == "__main__":
    main()
