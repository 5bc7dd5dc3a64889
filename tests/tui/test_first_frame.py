"""The first frame: a first snapshot handed to the app (run_app's, from the child that made the
first collect) is on the screen in the first paint, and the polls go on from it."""

from __future__ import annotations

import time

import pytest

from collectors.model.settings import Settings
from collectors.monitor import Monitor, fork_first_collect
from collectors.simulator.trainer import write_instant_run
from tests.tui.fakes import FakeHost, FakeSources, aio, fixed_clock
from tests.tui.test_pilot import until
from tui.app.app import make_app
from tui.widgets.run_panel import RunPanel
from tui.widgets.run_table import RunTable

pytestmark = pytest.mark.slow  # a real app (and, below, a real child process)


@aio
async def test_a_first_snapshot_is_in_the_first_paint_and_the_first_poll_comes_an_interval_later():
    sources = FakeSources()
    refresh = 4.0  # longer than the panels can take to come on a loaded machine
    app = make_app(sources, Settings(refresh=refresh), host=FakeHost(), clock=fixed_clock)
    app.first_snapshot = sources.snap
    t0 = time.monotonic()
    async with app.run_test(size=(160, 45)) as pilot:
        want = {r.name for r in sources.snap.runs}
        await until(pilot, lambda: {p.run.name for p in app.main.query(RunPanel)} == want)
        assert (app.polls, sources.calls) == (1, 0)  # shown without a collect
        await until(pilot, lambda: sources.calls >= 1, timeout=3 * refresh)
        assert time.monotonic() - t0 >= refresh  # the next collect waited its interval
        await until(pilot, lambda: app.polls >= 2)


@aio
async def test_the_monitor_shows_the_childs_first_collect_then_reads_on_with_its_readers(tmp_path):
    results = tmp_path / "results"
    now = time.time()
    for seed in range(1, 13):
        write_instant_run(results, exp_name=f"exp{seed % 3}", seed=seed, start_time=now - 7200)
    settings = Settings(refresh=0.3)
    first = fork_first_collect([str(results)], settings)
    monitor = Monitor([str(results)], settings, first=first)
    try:
        own_readers = monitor.runs
        app = make_app(monitor, settings, host=FakeHost(), clock=fixed_clock)
        app.first_snapshot = monitor.first_snapshot(wait=30)
        assert app.first_snapshot is not None and len(app.first_snapshot.runs) == 12
        async with app.run_test(size=(120, 40)) as pilot:  # 12 runs: the table
            table = app.main.query_one(RunTable)
            await until(pilot, lambda: len(table.keys) == 12)
            await until(pilot, lambda: app.polls >= 3)
            assert monitor.runs is not own_readers  # the child's readers, taken over
            assert first is not None and first.pid is None and first.status == 0  # reaped
            assert len(table.keys) == 12
    finally:
        monitor.close()  # a child that never answered is ended, not left behind
