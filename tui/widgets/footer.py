"""The screens' footer: recomposed only when the keys it shows change.

Textual's :class:`~textual.widgets.Footer` rebuilds all its key widgets whenever the screen's
bindings are refreshed, and Textual refreshes them on every focus change: a selection step paid
for a footer of new widgets and their styling (issue 16: half the cost of a focus move). The keys
it shows only change when the selected run's actions do (a process came or went, a run was
marked), so this footer compares what it would show and skips the rebuild when nothing differs.
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


def shown_keys(screen: Screen[Any]) -> tuple:
    """What a footer on ``screen`` shows: each shown binding's key, label and whether enabled."""
    return tuple(
        (binding.key, binding.action, binding.description, enabled, tooltip)
        for (_node, binding, enabled, tooltip) in screen.active_bindings.values()
        if binding.show or binding.action == "command_palette"
    )


class QuietFooter(Footer):
    """A footer that is rebuilt only when its keys change."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._shown: tuple | None = None
        self.rebuilds = 0  # how many times the keys were rebuilt (tests, benchmarks)

    def bindings_changed(self, screen: Screen[Any]) -> None:
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen:
            super().bindings_changed(screen)
            return
        keys = (self.show_command_palette, shown_keys(screen))
        if keys == self._shown and self._bindings_ready:
            return
        self._shown = keys
        self.rebuilds += 1
        super().bindings_changed(screen)
