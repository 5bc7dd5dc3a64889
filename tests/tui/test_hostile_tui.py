"""The monitor (Pilot, with the real Monitor as its source) on hostile runs of the corpus (issue
11): markup and escape sequences in tags, names and config keys, a run whose panel cannot be
drawn; nothing crashes, text is shown as text."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from textual.widgets import OptionList

from collectors.model.settings import Settings
from collectors.monitor import Monitor
from tests.corpus.build import CASES, build_corpus
from tests.tui.fakes import FakeHost, aio
from tui.app.app import make_app
from tui.widgets import run_panel
from tui.widgets.run_panel import RunPanel

pytestmark = pytest.mark.slow  # a real app

WANTED = ("tag_rich_markup", "config_markup_and_escapes", "good_a", "markup_in_directory_name")


def _corpus(tmp_path: Path, monkeypatch) -> Path:
    monkeypatch.setattr("tests.corpus.build.CASES", [c for c in CASES if c[0] in WANTED])
    root = tmp_path / "results"
    build_corpus(root)
    return root


async def _until(pilot, cond, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await pilot.pause(0.05)


def _app(root: Path):
    settings = Settings(refresh=0.2, read_only=True)
    monitor = Monitor([str(root)], settings, processes=False, gpu=False, disk=False)
    app = make_app(monitor, settings, host=FakeHost())
    app.animation_level = "none"
    return app


def _panels(app) -> list[RunPanel]:
    return [p for p in app.main.query(RunPanel) if not p.removing]


@aio
async def test_markup_tags_and_names_are_shown_as_text(tmp_path, monkeypatch):
    app = _app(_corpus(tmp_path, monkeypatch))
    async with app.run_test(size=(160, 50)) as pilot:
        await _until(pilot, lambda: len(_panels(app)) == len(WANTED))
        for p in _panels(app):
            assert "\x1b" not in p.render().plain and "\x1b" not in str(p.border_title)
        panel = next(p for p in _panels(app) if "tag_rich_markup" in p.run.path)
        app.open_detail(panel.run_id)
        await pilot.pause(0.2)
        await pilot.press("t")
        await _until(pilot, lambda: bool(app.screen.query(OptionList)))
        options = app.screen.query_one(OptionList)
        shown = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert "reward[agent0]" in shown and "[/]" in shown  # whole, not parsed as markup
        await pilot.press(*"[/]")
        await pilot.pause(0.1)
        await pilot.press("escape", "escape")
        await pilot.pause(0.1)
        config_run = next(p for p in _panels(app) if "config_markup" in p.run.path)
        app.open_detail(config_run.run_id)
        await pilot.pause(0.2)
        await pilot.press("3")  # the config tree: keys '[/]', values with escapes
        await pilot.pause(0.3)
        await pilot.press("escape")
        await pilot.pause(0.1)
        assert app.is_running


@aio
async def test_a_panel_that_cannot_be_drawn_shows_its_error(tmp_path, monkeypatch):
    app = _app(_corpus(tmp_path, monkeypatch))
    real = run_panel._Builder.full

    def buggy(self):
        if "good_a" in self.r.path:
            raise ValueError("cannot draw")
        return real(self)

    monkeypatch.setattr(run_panel._Builder, "full", buggy)
    async with app.run_test(size=(160, 50)) as pilot:
        await _until(pilot, lambda: len(_panels(app)) == len(WANTED))
        await pilot.pause(0.3)
        texts = {p.run.path: p.render().plain for p in _panels(app)}
        bad = next(t for path, t in texts.items() if "good_a" in path)
        assert "cannot show this run: ValueError: cannot draw" in bad
        others = [t for path, t in texts.items() if "good_a" not in path]
        assert all("cannot show" not in t for t in others)


@aio
async def test_the_whole_tree_deleted_leaves_the_keys_working(tmp_path, monkeypatch):
    root = _corpus(tmp_path, monkeypatch)
    app = _app(root)
    async with app.run_test(size=(160, 50)) as pilot:
        await _until(pilot, lambda: len(_panels(app)) == len(WANTED))
        _panels(app)[0].focus()
        await pilot.pause()
        shutil.rmtree(root)
        await _until(pilot, lambda: not _panels(app))
        await pilot.pause(0.3)
        focused = app.screen.focused
        assert focused is None or (focused.is_attached and not isinstance(focused, RunPanel))
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        assert app.screen.__class__.__name__ == "HelpScreen"
        await pilot.press("escape", "q")
        await pilot.pause(0.2)
    assert not app.is_running
