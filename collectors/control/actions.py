"""The names of run control as they were before the split into registry, signals, launch and
restart: kept for callers that still import ``collectors.control.actions`` (the headless control
commands in tui/cli). New code imports from :mod:`collectors.control`."""

from collectors.control import *  # noqa: F403
from collectors.control import __all__  # noqa: F401
