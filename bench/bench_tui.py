"""Benchmark of the Textual monitor in a real terminal (tmux on a private socket).

    python bench/bench_tui.py            # the numbers for the README (~3 minutes)
    python bench/bench_tui.py --quick    # shorter windows, for a quick look
    python bench/bench_tui.py --baseline main   # only the first frames, beside main's, interleaved

Measures, with the installed ``happo-top`` (not a test harness):

* **CPU**: the monitor's own CPU time (user + system, all its threads, from psutil) over a window
  of 60 s while it watches 4 live simulated runs at the default refresh (2 s), as a percentage of
  one core. Also over 30 s with 20 finished runs (nothing changes: the idle cost).
* **First frame**: from starting ``happo-top`` to the screen showing all 20 runs of a results
  directory on disk (100M steps each, 200 points per tag, 40 checkpoints), read from tmux every
  10 ms. Also the first paint of anything.
* **RSS** of the monitor with those 20 runs on screen.
* **30 runs at 200x50**: start to the first paint and to the first frame with every run (5
  starts); key to frame: from ``send-keys`` to the screen (its colours included, the header's
  clock left out) changing, for a selection step (Down, Up) in the table and in the panels, with
  refreshing paused so that only the key changes it; the monitor's CPU time per step, its frame
  included; opening a detail (Enter to its tabs on screen; each open the next run down, whose
  charts were never drawn); ``+``/``-`` and ``x`` on its charts.
  Medians and p95; tmux is read as fast as it answers (2-4 ms a read), which the figures include.
* **demo**: ``happo-top demo`` to its first paint (its trainers start behind the screen), and to
  its first live run on screen.

The 20 and 30 runs are generated once into bench/_data/tui20/ and tui30/ (git-ignored) and reused. The machine is
shared: run it when it is quiet, and read the numbers as orders of magnitude.
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from collectors.simulator.trainer import spawn, write_instant_run  # noqa: E402

DATA = Path(__file__).resolve().parent / "_data" / "tui20"
from _tmux import cpu_percent as measure_cpu  # noqa: E402
from _tmux import (  # noqa: E402
    cpu_seconds,
    happo_top,
    start,
    stop,
    tmux,
    wait_for,
)


def make_runs(n: int) -> Path:
    """``n`` finished or crashed runs on disk (100M steps, 200 points a tag, 40 checkpoints),
    written once into bench/_data/tui{n}/ and reused."""
    data = DATA.parent / f"tui{n}"
    marker = data / ".complete"
    if marker.exists():
        return data / "results"
    shutil.rmtree(data, ignore_errors=True)
    root = data / "results"
    now = time.time()
    t0 = time.perf_counter()
    for i in range(n):
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
    print(f"(wrote {n} runs to {root} in {time.perf_counter() - t0:.1f} s)")
    return root


def make_twenty() -> Path:
    return make_runs(20)


def quantiles(xs: list[float]) -> tuple[float, float]:
    """(median, p95) of ``xs`` (p95 by the nearest rank)."""
    s = sorted(xs)
    return statistics.median(s), s[min(len(s) - 1, max(0, round(0.95 * len(s)) - 1))]


def body(text: str) -> str:
    """The screen without its first line (the header's clock ticks every second)."""
    return "\n".join(text.splitlines()[1:])


def styled() -> str:
    """The screen with its colours (a selection move changes only the highlight)."""
    return tmux("capture-pane", "-p", "-e", "-t", "b", check=False).stdout


def key_to_frame(key: str, before: str, timeout: float = 5.0) -> tuple[float, str]:
    """Seconds from sending ``key`` to the screen (its colours included, the header left out)
    differing from ``before``, read from tmux as fast as it answers (about 2-4 ms a read)."""
    t0 = time.perf_counter()
    tmux("send-keys", "-t", "b", key)
    while time.perf_counter() - t0 < timeout:
        now = body(styled())
        if now != before:
            return time.perf_counter() - t0, now
    raise TimeoutError(f"no new frame after {key!r}")


def settle(quiet: float = 0.3, timeout: float = 10.0) -> str:
    """The screen once it has not changed for ``quiet`` seconds."""
    last, since, t0 = body(styled()), time.perf_counter(), time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        time.sleep(0.02)
        now = body(styled())
        if now != last:
            last, since = now, time.perf_counter()
        elif time.perf_counter() - since >= quiet:
            return now
    return last


def first_frames(trees: dict[str, Path], starts: int) -> dict[str, dict[str, list[float]]]:
    """30 runs at 200x50, ``starts`` starts of each tree's monitor, the trees one after the
    other in every round: seconds from start to the first paint and to the first frame with
    every run."""
    root = make_runs(30)
    out: dict[str, dict[str, list[float]]] = {k: {"paint": [], "first": []} for k in trees}
    for _ in range(starts):
        for name, tree in trees.items():
            t0 = time.perf_counter()
            start([*happo_top(), str(root)], 200, 50, tree=tree)
            wait_for(lambda s: "happo-top" in s, step=0.005)
            out[name]["paint"].append(time.perf_counter() - t0)
            wait_for(lambda s: "30 runs" in s and s.count("finished") >= 24, step=0.005)
            out[name]["first"].append(time.perf_counter() - t0)
            stop()
    return out


def baseline_tree(ref: str, into: str) -> Path:
    """``ref``'s collectors/ and tui/ (git archive) in ``into``, compiled as installed."""
    archive = subprocess.run(
        ["git", "archive", ref, "collectors", "tui"], cwd=ROOT, capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", into], input=archive, check=True)
    for package in ("collectors", "tui"):
        compileall.compile_dir(os.path.join(into, package), quiet=1)
    return Path(into)


def bench_thirty(quick: bool) -> dict[str, tuple[float, float]]:
    """30 runs at 200x50: first frame, key to frame in the table and the panels, CPU per
    selection step, opening a detail, ``+`` and ``x`` on its charts."""
    root = make_runs(30)
    out: dict[str, list[float]] = first_frames({"": ROOT}, 3 if quick else 5)[""]
    p = start([*happo_top(), str(root)], 200, 50)
    try:
        wait_for(lambda s: "30 runs" in s and s.count("finished") >= 24)
        time.sleep(2)
        tmux("send-keys", "-t", "b", "p")  # paused: only the keys change the screen
        time.sleep(1)
        n = 10 if quick else 25
        for view in ("table", "panels"):
            if view == "panels":
                tmux("send-keys", "-t", "b", "v")
                time.sleep(1.5)
            screen_now = settle()
            times = []
            c0 = cpu_seconds(p)
            for i in range(2 * n):
                t, screen_now = key_to_frame("Down" if i % 2 == 0 else "Up", screen_now)
                times.append(t)
                screen_now = settle(0.15)
            out[f"key {view}"] = times
            # CPU of the monitor per step, its frame included (the reads above cost it nothing)
            out[f"cpu {view}"] = [(cpu_seconds(p) - c0) / (2 * n)]
        opened, plus, xaxis = [], [], []
        for _ in range(3 if quick else 6):
            t0 = time.perf_counter()
            tmux("send-keys", "-t", "b", "Enter")
            wait_for(lambda s: "Checkpoints" in s and "smoothing" in s, step=0.002)
            opened.append(time.perf_counter() - t0)
            screen_now = settle()
            for key, into in (("+", plus), ("x", xaxis), ("-", plus), ("x", xaxis), ("x", xaxis)):
                t, screen_now = key_to_frame(key, screen_now)
                into.append(t)
                screen_now = settle(0.2)
            tmux("send-keys", "-t", "b", "Escape", "Down")  # the next open: a run not drawn yet
            time.sleep(0.5)
            settle()
        out["detail"], out["plus"], out["x"] = opened, plus, xaxis
    finally:
        stop()
    return {k: quantiles(v) for k, v in out.items()}


def bench_demo(quick: bool) -> tuple[tuple[float, float], tuple[float, float]]:
    """``happo-top demo``: start to its first paint, and to its first live run on screen."""
    paint, live = [], []
    for _ in range(2 if quick else 4):
        t0 = time.perf_counter()
        start([*happo_top(), "demo", "--duration", "300"], 120, 40)
        wait_for(lambda s: "happo-top" in s, step=0.005)
        paint.append(time.perf_counter() - t0)
        wait_for(lambda s: "> running" in s or "~ starting" in s, step=0.02)
        live.append(time.perf_counter() - t0)
        stop()
        time.sleep(3)  # the demo stops its trainers and removes its directory
    return quantiles(paint), quantiles(live)


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
        wait_for(lambda s: "20 runs" in s and s.count("finished") >= 16)  # the table's rows
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
    ap.add_argument(
        "--baseline",
        metavar="REF",
        help="only the first frames of 30 runs, this tree's and REF's (git) interleaved",
    )
    ap.add_argument("--starts", type=int, default=9, help="starts of each tree for --baseline")
    args = ap.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is needed", file=sys.stderr)
        return 2
    if args.baseline:
        with tempfile.TemporaryDirectory(prefix="happo-bench-base-") as base:
            trees = {"this tree": ROOT, args.baseline: baseline_tree(args.baseline, base)}
            got = first_frames(trees, args.starts)
        print(f"30 runs on disk, 200x50, {args.starts} interleaved starts each (median, p95):")
        for name, r in got.items():
            paint, first = quantiles(r["paint"]), quantiles(r["first"])
            print(
                f"  {name}: first paint {paint[0] * 1000:.0f} ms (p95 {paint[1] * 1000:.0f}), "
                f"first frame with all runs {first[0] * 1000:.0f} ms (p95 {first[1] * 1000:.0f})"
            )
        return 0
    window = 20.0 if args.quick else 60.0
    idle_window = 10.0 if args.quick else 30.0
    r = bench_thirty(args.quick)
    print("30 runs on disk, 200x50 (medians, p95; key to frame read from tmux):")
    print(f"  first paint {r['paint'][0] * 1000:.0f} ms (p95 {r['paint'][1] * 1000:.0f} ms)")
    print(
        f"  first frame with all runs {r['first'][0] * 1000:.0f} ms (p95 {r['first'][1] * 1000:.0f} ms)"
    )
    for view in ("table", "panels"):
        k = r[f"key {view}"]
        print(
            f"  key to frame, selection step in the {view}: {k[0] * 1000:.0f} ms "
            f"(p95 {k[1] * 1000:.0f} ms); CPU per step {r[f'cpu {view}'][0] * 1000:.1f} ms"
        )
    for name, what in (
        ("detail", "opening a detail (Enter)"),
        ("plus", "+/- on the charts"),
        ("x", "x on the charts"),
    ):
        print(f"  {what}: {r[name][0] * 1000:.0f} ms (p95 {r[name][1] * 1000:.0f} ms)")
    demo_paint, demo_live = bench_demo(args.quick)
    print(
        f"demo: first paint {demo_paint[0] * 1000:.0f} ms (p95 {demo_paint[1] * 1000:.0f} ms), "
        f"first live run on screen {demo_live[0]:.1f} s"
    )
    first, paint, rss, idle = bench_twenty(idle_window)
    print(f"20 runs on disk: first frame with all runs {first:.2f} s (first paint {paint:.2f} s)")
    print(f"20 runs on disk: RSS {rss:.0f} MiB; CPU idle {idle:.2f}% of one core")
    live = bench_cpu_live(window)
    print(f"4 live runs, refresh 2 s: CPU {live:.2f}% of one core over {window:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
