"""Opening a run's detail and the chart keys, in-process under Textual's pilot (no terminal).

    python bench/bench_detail.py               # medians of 15 opens, 30 runs, 200x50
    python bench/bench_detail.py --profile     # and a cProfile of the opens and keys (printed,
                                               # and saved to /tmp/happo-bench-detail.prof)
    python bench/bench_detail.py --cold        # the charts' kept renders dropped before each key

The 30 runs of ``bench_tui.py`` (bench/_data/tui30/, written once) are read by the real sources.
Each figure is from the key to the screen's strips rendered again (the compositor's full render,
the charts' drawing included), with refreshing paused so that only the key changes the screen:
the part of ``bench_tui.py``'s key-to-frame figures that the monitor's own code costs, without
tmux's reads. Each open is of the next run down (a run whose charts were never drawn), and its
keys are ``+ x - x x``: the last ``x`` comes back to the step axis at the first smoothing, a
render the charts keep (tui/widgets/charts.py), and is counted apart from the four that draw;
``--cold`` drops the kept renders before every key, so that every figure includes plotext's
drawing of every chart. Medians and p95 of several opens; the machine is shared, read them as
orders of magnitude.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_tui import make_runs, quantiles  # noqa: E402

from collectors.config import Settings  # noqa: E402
from tui.app.app import make_app  # noqa: E402
from tui.app.sources import live_sources  # noqa: E402
from tui.screens.detail import RunDetailScreen  # noqa: E402
from tui.widgets import charts  # noqa: E402


def frame(app) -> None:
    app.screen._compositor.render_strips()


async def bench(
    opens: int, prof: cProfile.Profile | None, cold: bool = False
) -> dict[str, list[float]]:
    root = make_runs(30)
    settings = Settings(refresh=2.0, read_only=True)
    sources = live_sources([str(root)], settings)
    app = make_app(sources, settings)
    out: dict[str, list[float]] = {"detail": [], "plus": [], "x": [], "kept": []}

    async def timed(keys: str, into: list[float]) -> None:
        await pilot.pause()
        frame(app)
        if cold:
            charts.forget_renders()
        if prof:
            prof.enable()
        t0 = time.perf_counter()
        await pilot.press(keys)
        await pilot.pause()
        frame(app)
        into.append(time.perf_counter() - t0)
        if prof:
            prof.disable()

    async with app.run_test(size=(200, 50)) as pilot:
        deadline = time.monotonic() + 60
        while not (app.snapshot is not None and len(app.snapshot.runs) >= 30):
            if time.monotonic() > deadline:
                raise TimeoutError("the 30 runs never came")
            await pilot.pause(0.1)
        await pilot.pause(1.0)
        await pilot.press("p")  # paused: only the keys change the screen
        for _ in range(opens):
            await timed("enter", out["detail"])
            assert isinstance(app.screen, RunDetailScreen)
            for key, into in (("+", "plus"), ("x", "x"), ("-", "plus"), ("x", "x"), ("x", "kept")):
                await timed(key, out[into])
            await pilot.press("escape", "down")  # the next open: a run not drawn yet
            await pilot.pause(0.1)
    sources.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--opens", type=int, default=15)
    ap.add_argument("--profile", action="store_true")
    ap.add_argument("--cold", action="store_true", help="drop the charts' kept renders each key")
    args = ap.parse_args()
    prof = cProfile.Profile() if args.profile else None
    out = asyncio.run(bench(args.opens, prof, args.cold))
    kept = "renders dropped before each key" if args.cold else "renders kept"
    print(f"30 runs, 200x50, pilot, {args.opens} opens, {kept} (medians, p95):")
    for name, what in (
        ("detail", "opening a detail (Enter)"),
        ("plus", "+/- on the charts"),
        ("x", "x on the charts"),
        ("kept", "x back to a frame drawn before"),
    ):
        med, p95 = quantiles(out[name])
        print(f"  {what}: {med * 1000:.0f} ms (p95 {p95 * 1000:.0f} ms, n={len(out[name])})")
    if prof:
        pstats.Stats(prof).sort_stats("cumulative").print_stats(40)
        prof.dump_stats("/tmp/happo-bench-detail.prof")
    return 0


if __name__ == "__main__":
    sys.exit(main())
