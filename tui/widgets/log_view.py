"""The tail of a run's log, as ``less`` would show it: it follows the end while the view is at
the bottom (scrolled up, it stays put until End), finds text (matches highlighted, the current
one in reverse; next and previous wrap around) and folds long lines or not (then it scrolls
sideways)."""

from __future__ import annotations

import math
import re

from rich.cells import cell_len
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import ScrollableContainer
from textual.message import Message
from textual.widgets import Static

MATCH = "bold black on yellow"
CURRENT = "bold reverse"


class LogView(ScrollableContainer, can_focus=True):
    DEFAULT_CSS = """
    LogView { height: 1fr; }
    LogView > #log-text { width: auto; }
    LogView.-wrap > #log-text { width: 100%; }
    """

    class Moved(Message):
        """The view scrolled (it may have stopped or started following the end)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source_lines: list[str] = []
        self.wrap = False
        self.query_text = ""
        self.matches: list[int] = []  # line indices that hold the query
        self.current: int | None = None  # index into matches

    def compose(self) -> ComposeResult:
        yield Static(id="log-text", markup=False, expand=False, shrink=False)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self.post_message(self.Moved())

    @property
    def following(self) -> bool:
        """At the bottom (or nothing to scroll): new lines scroll into view."""
        return self.max_scroll_y == 0 or self.scroll_y >= self.max_scroll_y - 0.5

    def set_lines(self, lines: list[str]) -> None:
        """The log's tail again. It is a window (the last lines of the file), so lines that
        arrive push old ones out at the top: scrolled up, the view moves up by as many rows as
        went, and the lines on the screen stay on the screen (as in ``less``)."""
        if lines == self.source_lines:
            return
        follow = self.following
        old = self.source_lines
        top = None if follow else self._index_at(round(self.scroll_y))
        self.source_lines = list(lines)
        dropped = 0 if follow else _dropped(old, self.source_lines)
        if self.query_text:
            self._find(keep=True, shift=dropped)
        self._draw()
        if follow:
            self.call_after_refresh(self.scroll_end, animate=False, immediate=True)
        elif dropped and top is not None:
            line, within = top
            y = self._y_of(max(line - dropped, 0)) + (within if line >= dropped else 0)
            self.call_after_refresh(self.scroll_to, y=y, animate=False, immediate=True)

    def toggle_wrap(self) -> None:
        self.wrap = not self.wrap
        self.set_class(self.wrap, "-wrap")
        self._draw()
        self.call_after_refresh(self._show_current)

    def search(self, text: str) -> None:
        """Highlight ``text`` (case-insensitive) and go to its last (newest) match."""
        self.query_text = text
        self._find(keep=False)
        self._draw()
        self.call_after_refresh(self._show_current)

    def next_match(self, step: int) -> None:
        """The next (1) or previous (-1) match, wrapping around."""
        if not self.matches:
            return
        cur = len(self.matches) - 1 if self.current is None else self.current
        self.current = (cur + step) % len(self.matches)
        self._draw()
        self._show_current()

    def status(self) -> str:
        if not self.query_text:
            return ""
        if not self.matches:
            return f"/{self.query_text}: not found"
        return f"/{self.query_text}: {(self.current or 0) + 1} of {len(self.matches)}"

    # -- inside
    def _find(self, keep: bool, shift: int = 0) -> None:
        """The lines that hold the query; ``keep``: the current match stays current (``shift``
        lines earlier, when as many went out at the top)."""
        q = self.query_text.lower()
        old = self.matches[self.current] - shift if keep and self.current is not None else None
        self.matches = [i for i, ln in enumerate(self.source_lines) if q and q in ln.lower()]
        if not self.matches:
            self.current = None
        elif old is not None and old in self.matches:
            self.current = self.matches.index(old)
        else:
            self.current = len(self.matches) - 1

    def _draw(self) -> None:
        text = Text(
            "\n".join(self.source_lines),
            no_wrap=not self.wrap,
            overflow="fold" if self.wrap else "ignore",
        )
        if self.query_text and self.matches:
            pattern = re.compile(re.escape(self.query_text), re.IGNORECASE)
            starts = _line_starts(self.source_lines)
            for k, i in enumerate(self.matches):
                base = starts[i]
                style = CURRENT if k == self.current else MATCH
                for m in pattern.finditer(self.source_lines[i]):
                    text.stylize(style, base + m.start(), base + m.end())
        self.query_one("#log-text", Static).update(text)

    def _show_current(self) -> None:
        if self.current is None or not self.matches:
            return
        y = self._y_of(self.matches[self.current])
        self.scroll_to(y=max(0, y - self.scrollable_content_region.height // 2), animate=False)

    def _rows(self, line: str) -> int:
        """How many screen rows ``line`` takes (folded when wrapping)."""
        if not self.wrap:
            return 1
        return max(1, math.ceil(cell_len(line) / max(self.scrollable_content_region.width, 1)))

    def _y_of(self, index: int) -> int:
        if not self.wrap:
            return index
        return sum(self._rows(ln) for ln in self.source_lines[:index])

    def _index_at(self, y: int) -> tuple[int, int]:
        """The line at screen row ``y`` of the text, and the row within it (folded lines)."""
        if not self.wrap:
            return y, 0
        row = 0
        for i, ln in enumerate(self.source_lines):
            n = self._rows(ln)
            if y < row + n:
                return i, y - row
            row += n
        return len(self.source_lines), 0


def _dropped(old: list[str], new: list[str]) -> int:
    """How many lines of ``old`` went out at the top of ``new``: the smallest ``k`` with
    ``old[k:]`` a prefix of ``new`` (the tail moved on), 0 when they do not overlap so (the
    file was replaced: nothing to keep in place)."""
    if not old or not new:
        return 0
    for k in range(len(old)):
        if old[k] == new[0] and new[: len(old) - k] == old[k:]:
            return k
    return 0


def _line_starts(lines: list[str]) -> list[int]:
    out, pos = [], 0
    for ln in lines:
        out.append(pos)
        pos += len(ln) + 1
    return out
