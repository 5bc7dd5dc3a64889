"""The table's rows as data (tui.widgets.run_table.table_rows): names sorted as a person reads
them, and a seed group's line carrying what its runs' lines carry."""

from __future__ import annotations

import dataclasses

import numpy as np
from rich.text import Text

from tests.tui.fakes import NOW, make_run
from tui.widgets import render as R
from tui.widgets.run_table import (
    GROUP,
    RowCache,
    column_widths,
    natural,
    sort_runs,
    table_rows,
)

COLUMNS = ("state", "name", "trend", "eta", "health", "pid", "gpu")


def plain(cell) -> str:
    return cell.plain if isinstance(cell, Text) else str(cell)


def test_names_sort_by_the_numbers_in_them():
    names = ["seed 11", "seed 9", "Seed 10", "seed 1", "lr=5e-4 s2"]
    runs = [make_run(n, state="finished", run_id=f"id{i}") for i, n in enumerate(names)]
    order = sort_runs(runs, names, "name", False)
    assert [names[i] for i in order] == ["lr=5e-4 s2", "seed 1", "seed 9", "Seed 10", "seed 11"]
    assert natural("cuboid 11-9 14:02") < natural("cuboid 11-10 09:00")
    # descending is the reverse, runs without a value still last
    order = sort_runs(runs, names, "name", True)
    assert [names[i] for i in order][:2] == ["seed 11", "Seed 10"]


def test_a_seed_groups_line_has_trend_eta_health_and_processes():
    a = make_run("a", seed=1, step=40_000_000, pid=4001, run_id="ida")
    b = make_run("b", seed=2, step=60_000_000, pid=4002, run_id="idb")
    c = make_run("c", seed=3, state="finished", step=100_000_000, run_id="idc")
    runs = [a, b, c]
    rows = table_rows(runs, ["a", "b", "c"], COLUMNS, group="seed", now=NOW)
    (group,) = [r for r in rows if r.key.startswith(GROUP)]
    cells = dict(zip(COLUMNS, map(plain, group.cells), strict=True))
    assert "3 seeds" in cells["name"]
    assert cells["pid"] == "2 proc"  # two of its seeds have a training process
    assert cells["gpu"] != "-"
    # the group ends when its slowest running seed does
    assert cells["eta"] == R.short_duration(max(a.eta, b.eta) - NOW)
    assert cells["health"] == R.count_levels([f for r in runs for f in r.health])
    # the trend is the seeds' mean over the steps all reached, not one seed's line
    tag = a.reward.tag
    lo = max(int(r.series[tag].steps[0]) for r in runs)
    hi = min(int(r.series[tag].steps[-1]) for r in runs)
    grid = np.linspace(lo, hi, 40)
    mean = np.mean([np.interp(grid, r.series[tag].steps, r.series[tag].values) for r in runs], 0)
    assert cells["trend"] == R.sparkline(mean, 10)
    assert cells["trend"] != plain(table_rows([a], ["a"], COLUMNS, now=NOW)[0].cells[2])


def test_a_seed_group_with_no_curve_and_no_process_shows_dashes():
    runs = [
        dataclasses.replace(make_run(n, seed=i, state="finished", run_id=n), series={})
        for i, n in enumerate(("x", "y"), 1)
    ]
    (group,) = table_rows(runs, ["x", "y"], COLUMNS, group="seed", now=NOW)
    cells = dict(zip(COLUMNS, map(plain, group.cells), strict=True))
    assert cells["trend"] == "" and cells["eta"] == "-" and cells["pid"] == "-"
    assert cells["gpu"] == "-"


def test_a_wide_terminal_gives_its_spare_width_to_labels_then_names():
    cols = ("state", "name", "label", "progress", "reward")
    base = column_widths(cols, 80, {"label": 50, "name": 30})
    assert base[2] == 18  # nothing to spare at 80 columns
    wide = dict(zip(cols, column_widths(cols, 200, {"label": 50, "name": 30}), strict=True))
    assert wide["label"] == 50 and wide["name"] == 30  # up to their longest content
    assert wide["state"] == 10 and wide["reward"] == 11
    # short content: the column keeps its own width
    assert column_widths(cols, 200, {"label": 5, "name": 5})[2] == 18
    # a long label is abbreviated to the width it gets, not to 18
    label = "lr=5e-4 max_grad_norm=10 use_adv_normalize=True entropy_coef=0.01"
    run = make_run("a", run_id="ida")
    run = dataclasses.replace(run, label=label)
    (row,) = table_rows([run], ["a"], ("label",), label_width=50)
    assert 18 < len(plain(row.cells[0])) <= 50


def test_rows_of_runs_that_did_not_change_are_not_built_again():
    done = make_run("done", state="finished", step=100_000_000, run_id="iddone")
    live = make_run("live", run_id="idlive", pid=4100)
    runs, names = [done, live], ["done", "live"]
    cache = RowCache()
    first = table_rows(runs, names, COLUMNS, now=NOW, cache=cache)
    again = table_rows(runs, names, COLUMNS, now=NOW + 10, cache=cache)
    assert cache.hits == 2 and [a is b for a, b in zip(first, again, strict=True)] == [True, True]
    # a live run's ETA moves with the clock: its row is built again the next minute
    later = table_rows(runs, names, COLUMNS, now=NOW + 70, cache=cache)
    by_key = {r.key: r for r in later}
    assert by_key["iddone"] is first[[r.key for r in first].index("iddone")]
    assert by_key["idlive"] is not first[[r.key for r in first].index("idlive")]
    # a new snapshot of a run (new data): built again, and so are all when the columns change
    moved = dataclasses.replace(done, step=done.step + 1)
    hits = cache.hits
    table_rows([moved, live], names, COLUMNS, now=NOW + 70, cache=cache)
    assert cache.hits == hits + 1  # the live one only
    table_rows([moved, live], names, COLUMNS[:3], now=NOW + 70, cache=cache)
    assert cache.hits == hits + 1
