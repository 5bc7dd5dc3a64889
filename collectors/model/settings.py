"""The settings in force: the config file's values with the command line on top."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# The monitor's table view (tui.widgets.run_table draws them), in their default order. The
# config's ``table_columns:`` picks and orders them; ``name`` is the alias or run name,
# ``label`` what tells a run apart from its siblings (config keys that differ).
TABLE_COLUMNS = (
    "state",
    "name",
    "experiment",
    "label",
    "progress",
    "step",
    "speed",
    "eta",
    "reward",
    "best",
    "trend",
    "ckpt",
    "health",
    "pid",
    "gpu",
)
# What tells runs apart and how they do first: a narrow terminal still shows the reward.
DEFAULT_TABLE_COLUMNS = (
    "state",
    "name",
    "label",
    "progress",
    "reward",
    "best",
    "trend",
    "step",
    "speed",
    "eta",
    "ckpt",
    "health",
    "pid",
    "gpu",
)


@dataclass(frozen=True, slots=True)
class Settings:
    roots: tuple[str, ...] = ()
    refresh: float = 2.0
    stall_timeout: float = 360.0
    flush_secs: float = 120.0
    verify_crc: bool = False
    read_only: bool = False
    stop_grace: float = 30.0  # stop: seconds between SIGINT and SIGTERM
    term_grace: float = 15.0  # stop: seconds between SIGTERM and SIGKILL
    aliases: Mapping[str, str] = field(default_factory=dict)
    thresholds: Mapping[str, float] = field(default_factory=dict)
    presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # restart: the HARL entry point when the run's own command cannot tell it
    # (``~/MAPush/HARL/examples/train.py``, or ``[~/envs/mapush/bin/python, .../train.py]``)
    harl_train: tuple[str, ...] = ()
    path: str | None = None  # the file these came from
    # Other hosts, over the system's ssh: ssh host name -> {roots, remote_command, ssh_args}
    # (collectors.sources.remote); remote_command is how happo-top is started there.
    hosts: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    remote_command: str = "happo-top"
    ssh_args: tuple[str, ...] = ()  # added to every ssh command (before a host's own)
    # Events (collectors.analysis.events): the command run for each (a shell command, or an
    # argv list; collectors.control.hooks), at most this many a minute, each for at most
    # this long; and whether the TUI rings the terminal bell for a crash or a bad finding.
    on_event: str | tuple[str, ...] = ""
    on_event_rate: float = 10.0
    on_event_timeout: float = 10.0
    bell: bool = False
    table_columns: tuple[str, ...] = ()  # the table view's columns (empty: the default ones)
