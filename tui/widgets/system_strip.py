"""The header line and the system strip (GPUs, CPU and RAM, filesystems) of the main screen.

With other hosts (collectors.sources.remote), the strip has one more line per host: its name,
its GPUs and its disks, or what is wrong with it ("gpu03: unreachable since 14:02: Connection
refused"); too many hosts for the room left end in a count of the rest by state."""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.widget import Widget

from collectors import fmt
from collectors.analysis.jobs import job_summary
from collectors.model.host import CONNECTING, UP, HostStats, HostStatus
from collectors.model.run import STATES, Snapshot
from tui.widgets import render as R


class HeaderBar(Widget):
    """``happo-top  host  4 runs: 2 > running, 1 = finished ...  [PAUSED]  12:34:56``."""

    DEFAULT_CSS = """
    HeaderBar { height: 1; }
    """

    def __init__(self, clock: Any = time.time, **kw: Any) -> None:
        super().__init__(**kw)
        self.clock = clock
        self.host = ""
        self.counts: dict[str, int] = {}
        self.total = 0
        self.shown = 0
        self.paused = False
        self.filter_text = ""
        self.marked = 0
        self.read_only = False
        self.problem = ""  # a collector that failed
        self.notes = ""  # problems the snapshot reports (unreadable roots)
        self.jobs = ""  # Slurm jobs tied to no run yet (pending)
        self._text: Text | None = None

    def set_state(self, **values: Any) -> None:
        changed = False
        for k, v in values.items():
            if getattr(self, k) != v:
                setattr(self, k, v)
                changed = True
        if changed:
            self._text = None
            self.refresh()

    def set_snapshot(self, snap: Snapshot, shown: int) -> None:
        counts: dict[str, int] = {}
        for r in snap.runs:
            counts[r.state] = counts.get(r.state, 0) + 1
        jobs = " · ".join(job_summary(j, snap.time) for j in snap.jobs[:3])
        self.set_state(host=snap.host, counts=counts, total=len(snap.runs), shown=shown, jobs=jobs)

    def tick(self) -> None:
        """Called every second: redraws only when the clock text changed."""
        if self._text is not None and self._clock_text() not in self._text.plain:
            self._text = None
            self.refresh()

    def _clock_text(self) -> str:
        return time.strftime("%H:%M:%S", time.localtime(self.clock()))

    def render(self) -> Text:
        if self._text is not None:
            return self._text
        width = max(self.size.width, 20)
        left = Text()
        left.append(" happo-top ", style="bold reverse")
        if self.host:
            left.append(f" {self.host} ", style="bold")
        runs = f"{self.total} run{'s' if self.total != 1 else ''}"
        if self.shown != self.total:
            runs = f"{self.shown}/{self.total} runs"
        left.append(f" {runs}", style="")
        parts = [(s, self.counts[s]) for s in STATES if self.counts.get(s)]
        if parts:
            left.append(":")
        for s, n in parts:
            left.append(" ")
            left.append(
                f"{n}{R.state_symbol(s)}{s}" if width < 100 else f"{n} {R.state_symbol(s)} {s}",
                style=R.STATE_STYLE.get(s, ""),
            )
        flags = Text()
        if self.paused:
            flags.append(" PAUSED ", style="bold reverse yellow")
            flags.append(" ")
        if self.read_only:
            flags.append(" read-only ", style="reverse")
            flags.append(" ")
        if self.marked:
            flags.append(f"{self.marked} marked ", style="bold")
        if self.filter_text:
            flags.append(f"/{self.filter_text} ", style="italic")
        if self.problem:
            flags.append(f"! {self.problem} ", style="bold red")
        if self.notes:
            flags.append(f"! {self.notes} ", style="yellow")
        if self.jobs:
            flags.append(f"{self.jobs} ", style="cyan")
        clock = Text(" " + self._clock_text() + " ", style="bold")
        line = left.copy()
        line.append(" ")
        line.append_text(flags)
        room = width - len(clock.plain)
        if len(line.plain) > room:
            line.truncate(max(room - 1, 0))
            line.append("…")
        line.append(" " * (room - len(line.plain)))
        line.append_text(clock)
        self._text = line
        return line


def _gpu_name(name: str) -> str:
    for prefix in ("NVIDIA ", "GeForce ", "Tesla "):
        name = name.replace(prefix, "")
    return name.strip() or "GPU"


class SystemStrip(Widget):
    """GPUs (utilisation sparkline, memory, temperature, power), CPU and RAM, free disk space."""

    DEFAULT_CSS = """
    SystemStrip { height: auto; max-height: 12; }
    """

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.gpus: Any = None
        self.disks: Any = None
        self.host: HostStats | None = None
        self.hosts: tuple[HostStatus, ...] = ()  # the other hosts, one line each
        self.max_lines = 3
        self._lines: list[Text] = []
        self._width = -1
        self._sticky: tuple[tuple[int, int], int] = ((0, 0), 0)  # ((width, max_lines), lines)

    def set_data(
        self, gpus: Any = ..., disks: Any = ..., host: Any = ..., hosts: Any = ...
    ) -> None:
        if hosts is not ...:
            self.hosts = tuple(hosts or ())
        if gpus is not ...:
            self.gpus = gpus
        if disks is not ...:
            self.disks = disks
        if host is not ...:
            self.host = host
        self._rebuild()

    def set_max_lines(self, n: int) -> None:
        if n != self.max_lines:
            self.max_lines = n
            self._rebuild()

    def on_resize(self) -> None:
        self._rebuild()

    def _rebuild(self) -> None:
        width = self.size.width or 80
        lines = self._build(width)
        # Sticky height: a figure that grows by a digit must not make the strip (and every panel
        # below it) jump by a line and back each poll; the height drops only on a resize.
        if (width, self.max_lines) != self._sticky[0]:
            self._sticky = ((width, self.max_lines), len(lines))
        else:
            self._sticky = (self._sticky[0], max(self._sticky[1], len(lines)))
        lines += [Text("") for _ in range(self._sticky[1] - len(lines))]
        if [t.plain for t in lines] != [t.plain for t in self._lines] or len(lines) != len(
            self._lines
        ):
            self._lines = lines
            self.styles.height = len(lines)
            self.refresh(layout=True)
        else:
            self._lines = lines

    def render(self) -> Text:
        if not self._lines:
            self._lines = self._build(self.size.width or 80)
        return Text("\n").join(self._lines)

    # -- items
    def _gpu_items(self, wide: bool, gpus: Any = ...) -> list[Text]:
        g = self.gpus if gpus is ... else gpus
        if g is None:
            return [Text("GPU -", style="dim")]
        if not getattr(g, "available", False):
            msg = getattr(g, "message", "") or "no NVIDIA GPU"
            if not wide:
                msg = msg.split(" (", 1)[0]  # the reason only on wide terminals
            return [Text(f"GPU: {msg}", style="dim")]
        out = []
        for d in g.devices:
            t = Text()
            t.append(f"GPU{d.index} ", style="bold")
            if wide:
                t.append(_gpu_name(d.name) + " ", style="dim")
            if d.history:
                t.append(R.sparkline(d.history[-10:], 10), style="green")
                t.append(" ")
            util = d.utilization
            t.append(f"{util:>3d}%" if util is not None else "  -%")
            if d.memory_used is not None and d.memory_total:
                t.append(" mem ", style="dim")
                t.append(f"{fmt.nbytes(d.memory_used)}/{fmt.nbytes(d.memory_total)}")
            if d.temperature is not None:
                hot = d.temperature >= 85
                t.append(f" {d.temperature}°C", style="bold red" if hot else "")
            if d.power is not None:
                t.append(f" {d.power:.0f}W")
            if d.error:
                t.append(" !", style="yellow")
            out.append(t)
        return out or [Text("GPU: none", style="dim")]

    def _host_item(self, compact: bool = False) -> Text:
        h = self.host
        t = Text()
        if h is None:
            t.append("CPU - RAM -", style="dim")
            return t
        t.append("CPU ", style="bold")
        if h.cpu_history and not compact:
            t.append(R.sparkline(h.cpu_history[-8:], 8), style="green")
            t.append(" ")
        t.append(f"{h.cpu_percent:.0f}%" if h.cpu_percent is not None else "-")
        t.append(f"/{h.cpus}", style="dim")
        t.append(" RAM ", style="bold")
        if h.mem_used is not None and h.mem_total:
            t.append(f"{fmt.nbytes(h.mem_used)}/{fmt.nbytes(h.mem_total)}")
        else:
            t.append("-")
        return t

    def _disk_items(self, disks: Any = ...) -> list[Text]:
        d = self.disks if disks is ... else disks
        if d is None:
            return [Text("disk -", style="dim")]
        out = []
        for f in getattr(d, "filesystems", ()):
            t = Text()
            warn = bool(getattr(f, "warning", None))
            t.append("! " if warn else "", style="bold red")
            t.append(f"{f.mount} ", style="bold")
            t.append(f"{fmt.nbytes(f.free)} free", style="bold red" if warn else "")
            if f.running and f.projected:
                t.append(f", runs need ~{fmt.nbytes(f.projected)}", style="red" if warn else "dim")
            out.append(t)
        for e in getattr(d, "errors", ())[:1]:
            out.append(Text(f"disk: {e}", style="yellow"))
        return out or [Text("disk -", style="dim")]

    def _build(self, width: int) -> list[Text]:
        """This host's items packed into at most ``max_lines`` lines, then one line per other
        host (:meth:`_host_lines`)."""
        wide = width >= 120
        items = self._gpu_items(wide) + [self._host_item(compact=width < 100)]
        items += self._disk_items()
        lines = _pack(items, width, self.max_lines, wide)
        if self.hosts:
            lines += self._host_lines(width, wide)
        return lines

    def _host_lines(self, width: int, wide: bool) -> list[Text]:
        """One line per other host: ``gpu02 │ GPU0 ... │ /data 1.2T free``, or its state line.
        At most 8 (3 on a short terminal, 1 on a tiny one): the rest are counted by state."""
        room = 8 if self.max_lines >= 3 else 3 if self.max_lines == 2 else 1
        shown = self.hosts if len(self.hosts) <= room else self.hosts[: room - 1]
        out = []
        for h in shown:
            name = Text(h.name, style="bold cyan")
            if h.state == UP:
                items = [name, *self._gpu_items(wide, h.gpus), *self._disk_items(h.disks)]
                out += _pack(items, width, 1, wide)
                continue
            line = h.line() or h.name
            if h.state == CONNECTING and h.time is None:
                out.append(_cut_words(Text(f"{h.name}: connecting…", style="dim"), width))
            else:
                out.append(_cut_words(Text(line, style="bold yellow"), width))
        rest = self.hosts[len(shown) :]
        if rest:
            states: dict[str, int] = {}
            for h in rest:
                states[h.state] = states.get(h.state, 0) + 1
            counts = ", ".join(f"{n} {s}" for s, n in states.items())
            out.append(_cut_words(Text(f"+{len(rest)} more hosts: {counts}", style="dim"), width))
        return out


def _pack(items: list[Text], width: int, max_lines: int, wide: bool) -> list[Text]:
    """Whole items packed into at most ``max_lines`` lines: items that do not fit are dropped
    (and counted), never cut mid-number; an item wider than a line is cut at a word."""
    items = [_cut_words(it, width) for it in items]
    sep = Text("  │  ", style="dim") if wide else Text(" │ ", style="dim")
    rows: list[list[Text]] = []
    for it in items:
        if rows and _width(rows[-1], sep) + len(sep.plain) + len(it.plain) <= width:
            rows[-1].append(it)
        else:
            rows.append([it])
    hidden = 0
    if len(rows) > max_lines:
        hidden = sum(len(r) for r in rows[max_lines:])
        rows = rows[:max_lines]
        last = rows[-1]
        while last and _width(last, sep) + len(f" (+{hidden} more)") > width:
            last.pop()  # the count of hidden items must show: make room for it
            hidden += 1
    lines = []
    for row in rows:
        line = Text()
        for i, it in enumerate(row):
            if i:
                line.append_text(sep)
            line.append_text(it)
        lines.append(line)
    if hidden and lines:
        lines[-1].append(
            f" (+{hidden} more)" if lines[-1].plain else f"+{hidden} more", style="dim"
        )
    return lines or [Text("")]


def _width(row: list[Text], sep: Text) -> int:
    return sum(len(t.plain) for t in row) + len(sep.plain) * max(len(row) - 1, 0)


def _cut_words(t: Text, width: int) -> Text:
    """``t`` cut at the last space that leaves room for an ellipsis (never inside a word)."""
    if len(t.plain) <= width:
        return t
    cut = t.plain.rfind(" ", 0, max(width - 1, 1))
    t = t.copy()
    t.truncate(cut if cut > 0 else max(width - 1, 0))
    t.append("…", style="dim")
    return t
