"""The ``happo-top`` command line: the entry point and every headless front end. Never imports
Textual (the full-screen monitor is imported only when it starts)."""

from tui.cli.command import main

__all__ = ["main"]
