"""Polls of many runs as a lab server has them: idle polls with checkpoints, a cold collect of 300.

    python bench/bench_polls.py            # 20 realistic runs and 300 small runs
    python bench/bench_polls.py --quick    # fewer repeats
    python bench/bench_polls.py --baseline main   # the idle polls and cold collect beside main

Runs are HARL layout A: 13 tags x 200 points and 40 settled checkpoints (``models/
rl_model_<steps>_steps/`` with two actors, the critic and the value normaliser), a finished run's
``summary.json``. Generated once into bench/_data/ (git-ignored). Prints medians.

* idle poll: ``RunsCollector.collect()`` with nothing new on disk (what every refresh costs);
* cold collect: a fresh :class:`~collectors.monitor.Monitor` (runs and disk sizing; no process
  table, no GPU) collecting once, as ``happo-top --once`` does, with where the time goes (cProfile
  cumulative time of the parts, from a separate profiled run).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# --baseline runs the measurements again in a child on another tree (HAPPO_SRC), interleaved.
sys.path.insert(0, os.environ.get("HAPPO_SRC") or str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_reader import DATA, make_run  # noqa: E402

from collectors.model import Settings  # noqa: E402
from collectors.monitor import Monitor  # noqa: E402
from collectors.sources.runs import RunsCollector  # noqa: E402

CKPT_FILES = ("actor_agent0.pt", "actor_agent1.pt", "critic_agent.pt", "value_normalizer.pt")


def add_checkpoints(run: Path, n: int, every: int, t0: float) -> None:
    """Layout A: models/rl_model_<steps>_steps/ with a HARL save's files, settled long ago."""
    t = t0
    for k in range(1, n + 1):
        d = run / "models" / f"rl_model_{k * every}_steps"
        d.mkdir()
        t = t0 + k * 900.0
        for name in CKPT_FILES:
            f = d / name
            f.write_bytes(b"\0" * 256)
            os.utime(f, (t, t))
        os.utime(d, (t, t))
    os.utime(run / "models", (t, t))


def generate_many(runs: int, points: int = 200, checkpoints: int = 40, live: bool = False) -> Path:
    stamp = DATA / f"many-{runs}-{points}-{checkpoints}{'-live' if live else ''}"
    if not (stamp / "done").exists():
        shutil.rmtree(stamp, ignore_errors=True)
        print(f"generating data set in {stamp} ...", flush=True)
        t0 = time.time() - 5 * 86400
        for i in range(runs):
            name = f"seed-{i % 5 + 1:05d}-2025-11-{10 + i // 100:02d}-15-{i // 60 % 60:02d}-{i % 60:02d}"
            run = make_run(stamp, name, points, t0)
            add_checkpoints(run, checkpoints, points * 500_000 // checkpoints, t0)
            if not live:
                (run / "logs" / "summary.json").write_text("{}")
        (stamp / "done").write_text("ok")
    return stamp


class Later:
    """The real clock, moved forward on demand (the runs' silence since the first poll)."""

    def __init__(self) -> None:
        self.shift = 0.0

    def __call__(self) -> float:
        return time.time() + self.shift


def idle_poll(root: Path, repeat: int) -> tuple[float, float, int]:
    """Median idle poll two minutes after the first collect, and the poll that re-reads the
    finished runs (every LOG_TREE_RESCAN seconds)."""
    clock = Later()
    collector = RunsCollector([str(root)], Settings(), clock=clock)
    snap = collector.collect()
    clock.shift = 120.0
    t = time.perf_counter()
    collector.collect()
    reread = time.perf_counter() - t
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        collector.collect()
        times.append(time.perf_counter() - t)
    return statistics.median(times), reread, len(snap.runs)


def cold(root: Path) -> float:
    t = time.perf_counter()
    m = Monitor([str(root)], Settings(), processes=False, gpu=False)
    snap = m.collect()
    m.close()
    assert len(snap.runs) >= 20
    return time.perf_counter() - t


PARTS = {
    "event files": ("tracker.py", "_poll_logs"),
    "walking logs/": ("tracker.py", "_walk_logs"),
    "checkpoint scans": ("tracker.py", "_scan_checkpoints"),
    "disk sizing": ("disk.py", "collect"),
    "discovery": ("tracker.py", "rescan"),
}


def profile_parts(root: Path) -> dict[str, float]:
    pr = cProfile.Profile()
    pr.enable()
    cold(root)
    pr.disable()
    stats = pstats.Stats(pr).stats  # type: ignore[attr-defined]
    out = dict.fromkeys(PARTS, 0.0)
    for (file, _, func), (_, _, _, cum, _) in stats.items():
        for part, (f, fn) in PARTS.items():
            if file.endswith(f) and func == fn:
                out[part] += cum
    return out


def measure(repeat: int) -> dict[str, float]:
    """The idle polls and the cold collect of this tree, in ms (for --baseline's children)."""
    out = {}
    for name, root in (
        ("20 finished", generate_many(20)),
        ("20 live", generate_many(20, live=True)),
        ("300 finished", generate_many(300)),
    ):
        out[name] = idle_poll(root, repeat * 5)[0] * 1e3
    out["cold 300"] = statistics.median(cold(generate_many(300)) for _ in range(repeat)) * 1e3
    return out


def baseline(ref: str, rounds: int) -> None:
    """Ours and ``ref``'s engine, each in a fresh child, alternately; medians of the rounds."""
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(
            ["git", "archive", ref, "collectors"], cwd=here, capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        got: dict[str, list[dict[str, float]]] = {"ours": [], ref: []}
        for _ in range(rounds):
            for label, src in (("ours", str(here)), (ref, tmp)):
                r = subprocess.run(
                    [sys.executable, __file__, "--measure"],
                    env=dict(os.environ, HAPPO_SRC=src),
                    capture_output=True,
                    text=True,
                    check=True,
                )
                got[label].append(json.loads(r.stdout.strip().splitlines()[-1]))
    print(f"\nidle polls and cold collect beside {ref} ({rounds} alternate rounds, medians, ms)")
    for key in got["ours"][0]:
        o = statistics.median(d[key] for d in got["ours"])
        b = statistics.median(d[key] for d in got[ref])
        print(f"  {key:<14} ours {o:9.2f}   {ref} {b:9.2f}   ({b / o:.1f}x)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--baseline", metavar="REF", help="also measure the engine of this git ref")
    ap.add_argument("--measure", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    repeat = 3 if args.quick else 7
    if args.measure:
        print(json.dumps(measure(3)))
        return
    if args.baseline:
        baseline(args.baseline, 3)
        return
    twenty = generate_many(20)
    many = generate_many(300)
    rows = []
    live = generate_many(20, live=True)
    for name, root, target in (
        ("20 finished runs", twenty, "< 0.5 ms"),
        ("20 live runs (no summary.json)", live, "< 0.5 ms"),
        ("300 finished runs", many, "< 10 ms"),
    ):
        med, reread, n = idle_poll(root, repeat * 5)
        assert n == int(name.split()[0]), (name, n)
        rows.append((f"idle poll, {name} x 40 checkpoints", f"{med * 1e3:.2f} ms", target))
        rows.append(("  the poll re-reading them (every 10 s)", f"{reread * 1e3:.2f} ms", ""))
    colds = [cold(many) for _ in range(repeat)]
    rows.append(
        (
            "cold collect, 300 runs x 13 tags x 200 points (runs + disk)",
            f"{statistics.median(colds) * 1e3:.0f} ms",
            "< 600 ms",
        )
    )
    for part, secs in profile_parts(many).items():
        rows.append((f"  of which {part} (profiled, inflated)", f"{secs * 1e3:.0f} ms", ""))
    width = max(len(r[0]) for r in rows)
    print(f"\nhappo-top polls of many runs ({'quick' if args.quick else 'full'}; medians)")
    for a, b, c in rows:
        print(f"  {a.ljust(width)}  {b:>10}  {c}")


if __name__ == "__main__":
    main()
