"""End to end at 40x12 in a real terminal (tmux): the detail's charts and tabs, the stop dialog's
buttons on screen, and a footer with no characters left over from the screen before."""

from __future__ import annotations

import time

from tests.tui.test_e2e import (  # noqa: F401  (fixtures)
    happo_top_argv,
    monitor_env,
    pytestmark,
    tmux,
    trainer,
)


def test_40x12_detail_dialog_and_footer(tmux, trainer):  # noqa: F811
    root, proc = trainer
    tmux.start([*happo_top_argv(), str(root), "--refresh", "0.5"], 40, 12, monitor_env())
    first = tmux.wait_for(
        lambda s: "running" in s and "Open" in s.splitlines()[-1], what="the run and the footer"
    )
    footer = first.splitlines()[-1]
    assert all(len(line) <= 40 for line in first.splitlines())
    tmux.keys("Enter")
    tmux.wait_for(
        lambda s: "Charts" in s and "reward" in s and "Back" in s.splitlines()[-1],
        what="the detail's charts and its footer",
    )
    for key, needle in (("2", "step"), ("6", "Health"), ("1", "reward")):
        tmux.keys(key)
        tmux.wait_for(lambda s, n=needle: n in s, what=f"tab {key}")
    tmux.keys("Escape")
    time.sleep(1.0)
    back = tmux.wait_for(lambda s: "Open" in s.splitlines()[-1], what="the main screen's footer")
    assert back.splitlines()[-1] == footer, (footer, back.splitlines()[-1])
    tmux.keys("s")
    dialog = tmux.wait_for(lambda s: "No (n)" in s, what="the stop dialog's buttons")
    assert "Stop (y)" in dialog  # both buttons on the 12 lines, the body scrolls
    tmux.keys("Escape")
    tmux.wait_for(lambda s: "Open" in s.splitlines()[-1], what="the dialog to close")
    assert proc.poll() is None
    tmux.keys("q")
    tmux.wait_for(lambda s: tmux.dead(), timeout=10, what="the monitor to quit")
