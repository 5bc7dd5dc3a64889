"""The plain-text snapshot of ``happo-top --once``: one line per run, like ``top -b -n 1``.

Width-aware (columns drop out by priority on a narrow terminal, the name is shortened last) and
NO_COLOR-aware (colour only on a terminal and without ``NO_COLOR``). No Rich, no Textual.

Text from run files (names, tags, errors) is written through :func:`collectors.fmt.printable`, so
no escape sequence of a run file reaches the terminal; a run whose row cannot be rendered is a
row that says so, with its error below the table, and every other run is shown as usual.

With other hosts (collectors.sources.remote) the table has a HOST column (this machine's name
for local runs), each host's GPUs and filesystems follow this one's with its name first, a
``HOSTS`` line gives each host's state, and a host that is not up has its line below the table
("ERROR gpu03: unreachable since 14:02: Connection refused", from the snapshot's errors).
"""

from __future__ import annotations

import os
import sys
import time

from collectors import fmt
from collectors.analysis.jobs import job_summary
from collectors.model import (
    CRASHED,
    FINISHED,
    RUNNING,
    STALLED,
    STARTING,
    STATE_SYMBOLS,
    STOPPED,
    RunSnapshot,
    Snapshot,
)

_COLOURS = {
    RUNNING: "32",
    FINISHED: "36",
    STALLED: "33",
    CRASHED: "31",
    STOPPED: "35",
    STARTING: "34",
}


def use_colour(stream=None) -> bool:
    stream = stream or sys.stdout
    if os.environ.get("NO_COLOR", "") != "":
        return False
    return bool(getattr(stream, "isatty", lambda: False)()) and os.environ.get("TERM") != "dumb"


def _progress(r: RunSnapshot) -> str:
    done = fmt.steps(r.step) if r.step else "0"
    if r.total_steps:
        pct = f"{100 * (r.progress or 0):.0f}%"
        return f"{done}/{fmt.steps(r.total_steps)} {pct}"
    return done


def _eta(r: RunSnapshot, now: float) -> str:
    if r.eta is not None:
        return f"{fmt.clock(r.eta, now)} ({fmt.duration(r.eta - now)})"
    if r.state == FINISHED and r.ended:
        # The viewer's clock; the run host's own where it differs (its name is in that zone).
        own = fmt.own_clock(r.ended, r.utc_offset, now, short=True)
        return f"done {fmt.clock(r.ended, now)}" + (f" ({own})" if own else "")
    return "-"


def _reward(r: RunSnapshot) -> str:
    if r.reward is None:
        return "-"
    return f"{fmt.value(r.reward.latest)} best {fmt.value(r.reward.best)}"


def _ckpt(r: RunSnapshot, now: float) -> str:
    if not r.checkpoints:
        return "0"
    last = r.checkpoints[-1]
    return f"{len(r.checkpoints)} @{fmt.steps(last.step)} {fmt.clock(last.time, now)}"


def _data(r: RunSnapshot, now: float) -> str:
    return f"{fmt.duration(now - r.last_data)} ago" if r.last_data else "none"


def _proc(r: RunSnapshot) -> str:
    p = r.process
    if not p:
        return "-"
    pid = p.get("pid") if isinstance(p, dict) else getattr(p, "pid", None)
    return "-" if pid is None else str(pid)


# (header, getter, priority: lower survives longer on a narrow terminal, min width)
_COLUMNS = [
    ("STATE", lambda r, now: f"{STATE_SYMBOLS[r.state]} {r.state}", 0),
    ("RUN", lambda r, now: r.name, 0),  # made unique by render(): see _display_names
    ("PROGRESS", lambda r, now: _progress(r), 1),
    ("SPEED", lambda r, now: f"{fmt.steps(r.steps_per_hour)}/h" if r.steps_per_hour else "-", 3),
    ("ETA", lambda r, now: _eta(r, now), 1),
    ("REWARD", lambda r, now: _reward(r), 2),
    ("CKPTS", lambda r, now: _ckpt(r, now), 4),
    ("DATA", lambda r, now: _data(r, now), 5),
    ("PID", lambda r, now: _proc(r), 6),
    ("ID", lambda r, now: r.id, 7),
    ("LABEL", lambda r, now: r.label or "-", 8),
]


_HOST_COLUMN = ("HOST", lambda r, now: r.host or "", 0)


def _columns(snapshot: Snapshot) -> list:
    """The columns: with a HOST column after STATE when runs come from other hosts too."""
    if snapshot.hosts or any(r.host for r in snapshot.runs):
        return [_COLUMNS[0], _HOST_COLUMN, *_COLUMNS[1:]]
    return _COLUMNS


def _system_lines(snapshot: Snapshot) -> list[str]:
    """One line for the GPUs (or why there are none) and one per filesystem holding runs; then
    the same for each other host that is up, its name first, and one line of host states."""
    out = _machine_lines(snapshot.gpus, snapshot.disks)
    for h in snapshot.hosts:
        if h.up:
            out += [f"{h.name}  {line}" for line in _machine_lines(h.gpus, h.disks)]
    if snapshot.hosts:
        out.append("HOSTS " + ", ".join(f"{h.name} {h.state}" for h in snapshot.hosts))
    # Slurm: each run's job, and the submitted jobs tied to no run yet (a pending job)
    jobs = [f"{r.name}: {job_summary(r.job, snapshot.time)}" for r in snapshot.runs if r.job]
    jobs += [job_summary(j, snapshot.time) for j in snapshot.jobs]
    if jobs:
        out.append("JOBS " + "; ".join(jobs))
    return out


def _machine_lines(gpus, disks) -> list[str]:
    out = []
    if gpus is not None:
        if not getattr(gpus, "available", False):
            out.append(f"GPU   {getattr(gpus, 'message', 'no NVIDIA GPU')}")
        for d in getattr(gpus, "devices", ()):
            if d.error:
                out.append(f"GPU{d.index}  {d.name}: {d.error}")
                continue
            util = f"{d.utilization:.0f}%" if d.utilization is not None else "-"
            mem = (
                f"{fmt.nbytes(d.memory_used)}/{fmt.nbytes(d.memory_total)}"
                if d.memory_total
                else "-"
            )
            temp = f"{d.temperature}C" if d.temperature is not None else "-"
            power = f"{d.power:.0f}W" if d.power is not None else "-"
            out.append(f"GPU{d.index}  {d.name}  util {util}  mem {mem}  {temp}  {power}")
    for fs in getattr(disks, "filesystems", ()):
        need = f", running runs need {fmt.nbytes(fs.projected)} more" if fs.projected else ""
        warn = f"  ! {fs.warning}" if fs.warning else ""
        out.append(
            f"DISK  {fs.mount}  {fmt.nbytes(fs.free)} free of {fmt.nbytes(fs.total)}{need}{warn}"
        )
    return out


def _display_names(runs, short: bool = False) -> dict[str, str]:
    """Run path -> the name shown: the run's name, and where two runs share it (same seed, same
    minute), its label (the config keys that tell it apart; else its id): first and with short
    keys when ``short`` (a table cell that may be cut), after the name otherwise."""
    seen: dict[tuple[str | None, str], int] = {}  # per host: the HOST column tells hosts apart
    for r in runs:
        key = (getattr(r, "host", None), r.name)
        seen[key] = seen.get(key, 0) + 1
    out = {}
    for r in runs:
        tell = r.label or r.id
        if seen[(getattr(r, "host", None), r.name)] < 2:
            out[r.path] = r.name
        elif short:
            out[r.path] = " ".join([*map(fmt.short_key, tell.split()), r.name])
        else:
            out[r.path] = f"{r.name} [{tell}]"
    return out


def _row(r: RunSnapshot, now: float, columns: list) -> tuple[list[str], str | None]:
    """The cells of one run, or a stand-in row and the error when rendering it raised."""
    try:
        return [fmt.printable(get(r, now)) for _, get, _ in columns], None
    except Exception as e:  # odd data in one run costs its row only
        path = fmt.printable(getattr(r, "path", "?"))
        cells = ["? error"] + ["-"] * (len(columns) - 1)
        cells[_name_col(columns)] = fmt.printable(os.path.basename(path))
        return cells, f"ERROR {path}: could not be shown: {type(e).__name__}: {e}"


def _name_col(columns: list) -> int:
    return next(i for i, c in enumerate(columns) if c[0] == "RUN")


def _names(runs, short: bool = False) -> dict[str, str]:
    """:func:`_display_names`, made printable; the paths when that fails."""
    try:
        return {p: fmt.printable(n) for p, n in _display_names(runs, short).items()}
    except Exception:
        return {r.path: fmt.printable(r.path) for r in runs}


def render(snapshot: Snapshot, width: int | None = None, colour: bool = False) -> str:
    now = snapshot.time
    width = width or 200
    lines = []
    counts: dict[str, int] = {}
    for r in snapshot.runs:
        counts[r.state] = counts.get(r.state, 0) + 1
    summary = ", ".join(f"{n} {s}" for s, n in counts.items()) or "no runs"
    lines.append(
        f"happo-top  {fmt.printable(snapshot.host)}  "
        f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(now))}"
        f"  {len(snapshot.runs)} run(s): {fmt.printable(summary)}"[:width]
    )
    try:
        lines.extend(fmt.printable(line)[:width] for line in _system_lines(snapshot))
    except Exception as e:
        lines.append(f"system: could not be shown: {type(e).__name__}: {e}"[:width])
    names = _names(snapshot.runs)
    for r in snapshot.runs:  # below the table, a run on another host is named with its host
        if getattr(r, "host", None) and r.path in names:
            names[r.path] = f"{fmt.printable(r.host)}: {names[r.path]}"
    failed: list[str] = []
    if not snapshot.runs:
        roots = fmt.printable(", ".join(snapshot.roots))
        lines.append(
            f"No HARL runs (seed-NNNNN-YYYY-MM-DD-HH-MM-SS directories) below {roots}."[:width]
        )
    else:
        table = []
        columns = _columns(snapshot)
        nc = _name_col(columns)
        cells = _names(snapshot.runs, short=True)
        for r in snapshot.runs:
            row, error = _row(r, now, columns)
            if error is None:
                row[nc] = cells.get(r.path, row[nc])
                if nc == 2 and not r.host:
                    row[1] = fmt.printable(snapshot.host)  # a local run: this machine's name
            else:
                failed.append(error)
            table.append(row)
        cols = list(range(len(columns)))
        widths = {c: max(len(columns[c][0]), *(len(row[c]) for row in table)) for c in cols}

        def total(cs):
            return sum(widths[c] for c in cs) + 2 * (len(cs) - 1)

        # Shorten the run name a little, drop the least important columns until the table
        # fits, give the name back what room is left, and shorten it further only as a last step.
        natural = widths[nc]
        widths[nc] = max(min(natural, 16), natural - max(total(cols) - width, 0))
        for c in sorted(cols, key=lambda c: -columns[c][2]):
            if total(cols) <= width or columns[c][2] == 0:
                break
            cols.remove(c)
        widths[nc] = min(natural, widths[nc] + max(width - total(cols), 0))
        if total(cols) > width:
            widths[nc] = max(8, widths[nc] - (total(cols) - width))
        lines.append("  ".join(columns[c][0].ljust(widths[c]) for c in cols).rstrip()[:width])
        for r, row in zip(snapshot.runs, table, strict=True):
            cells = []
            for c in cols:
                cell = row[c]
                if len(cell) > widths[c]:
                    cell = cell[: widths[c] - 1] + "~"
                cell = cell.ljust(widths[c])
                if colour and c == 0:
                    cell = f"\x1b[{_COLOURS.get(r.state, '0')}m{cell}\x1b[0m"
                cells.append(cell)
            lines.append("  ".join(cells).rstrip())
    # Below the table: what is wrong, one line per problem, and each run's worst finding.
    problems = [f"ERROR {e}" for e in snapshot.errors] + failed
    for r in snapshot.runs:
        name = names.get(r.path, r.path)
        problems += [f"ERROR {name} [{r.id}]: {fmt.problem_first(e, r.path)}" for e in r.errors]
    for r in snapshot.runs:
        worrying = [f for f in r.health if f.level in ("bad", "warn")]
        if worrying:
            worst = min(worrying, key=lambda f: f.level != "bad")
            more = f" (+{len(worrying) - 1} more)" if len(worrying) > 1 else ""
            name = names.get(r.path, r.path)
            problems.append(f"{worst.level.upper():5} {name}: {worst.message}{more}")
    lines.extend(fmt.printable(p)[:width] for p in problems)
    return "\n".join(lines) + "\n"
