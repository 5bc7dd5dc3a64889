"""``happo-top config``: write a commented default config file (``--init``, never over an
existing one) or show the settings in force and where each came from (``--print``)."""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Sequence
from typing import Any

from collectors.config import default_config_path, origins, parse_settings
from collectors.model import DEFAULT_TABLE_COLUMNS, Settings
from tui.cli import common, exit_codes, options

_D = Settings()

TEMPLATE = f"""\
# happo-top configuration (YAML). Every key is optional; the values below are the defaults.
# An unknown key or a bad value is an error naming this file and the line.

# Directories to watch when none are given on the command line (else ./results, else .).
roots: []

refresh: {_D.refresh:g}            # seconds between polls
stall_timeout: {_D.stall_timeout:g}      # seconds of silence before a run is "stalled"
flush_secs: {_D.flush_secs:g}        # your trainers' tensorboardX flush period
verify_crc: {str(_D.verify_crc).lower()}       # check every event record's CRC (slower)
read_only: {str(_D.read_only).lower()}        # disable every action on runs
stop_grace: {_D.stop_grace:g}         # stop: seconds from SIGINT to SIGTERM
term_grace: {_D.term_grace:g}         #   and from SIGTERM to SIGKILL

# Run directory (or id) -> the name shown (also the TensorBoard run name).
aliases: {{}}
#  /data/runs/mapush/go1push_mid/happo/cuboid/seed-00001-2025-11-15-15-34-13: basic

# Health thresholds (README: the thresholds table), e.g.
thresholds: {{}}
#  entropy_low: 1.0

# Launch presets (happo-top launch PRESET, the l key).
presets: {{}}
#  cuboid: {{argv: [python, train.py, --exp_name, cuboid], cwd: ~/MAPush}}

# Events (a run crashed, stalled, finished, logged NaN, a health finding turned bad): a command
# run for each, with the event as JSON on stdin and HAPPO_TOP_EVENT, HAPPO_TOP_RUN,
# HAPPO_TOP_MESSAGE, ... in its environment (README: Events).
#on_event: notify-send "happo-top: $HAPPO_TOP_RUN" "$HAPPO_TOP_MESSAGE"
on_event_rate: {_D.on_event_rate:g}       # at most this many on_event commands a minute
on_event_timeout: {_D.on_event_timeout:g}    # seconds before an on_event command is killed
bell: {str(_D.bell).lower()}             # ring the terminal bell for a crash, NaN, bad finding
# The monitor's table view: its columns, in order (empty list or absent: these).
# table_columns: [{", ".join(DEFAULT_TABLE_COLUMNS)}]
#   also: experiment
"""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="happo-top config",
        description="Write a commented default config file, or show the settings in force.",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument(
        "--init",
        action="store_true",
        help="write the commented defaults to the config file (refuses to overwrite one)",
    )
    what.add_argument(
        "--print",
        action="store_true",
        help="the effective settings, each with where it came from (file:line or default)",
    )
    what.add_argument("--path", action="store_true", help="print the config file's path")
    options.add_config(p)
    options.add_json(p, help="with --print: one JSON document")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(list(argv or []))
    return common.run_command("happo-top config", _run, args)


def _run(args: argparse.Namespace) -> int:
    path = os.path.expanduser(args.config) if args.config else default_config_path()
    if args.path:
        print(path)
        return exit_codes.OK
    if args.init:
        return _init(path)
    settings = common.load_settings(args)
    where = origins(settings)
    values = {k: _plain(getattr(settings, k)) for k in where}
    if args.json:
        common.write_json(
            {"file": settings.path, "settings": values, "origins": where}, allow_nan=False
        )
        return exit_codes.OK
    print(f"# config file: {settings.path or f'{path} (absent: all defaults)'}")
    width = max(len(k) for k in values)
    for key, value in values.items():
        print(f"{key + ':':<{width + 1}} {_yaml(value):<30} # {where[key]}")
    return exit_codes.OK


def _init(path: str) -> int:
    parse_settings(TEMPLATE, "<template>")  # the template itself is a valid config
    if os.path.lexists(path):
        raise common.UsageError(f"{path} exists: not overwritten (edit it, or remove it first)")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    try:
        with open(path, "x", encoding="utf-8") as f:
            f.write(TEMPLATE)
    except FileExistsError:
        raise common.UsageError(f"{path} exists: not overwritten") from None
    except OSError as e:
        raise common.UsageError(f"{path}: {e.strerror or e}") from None
    print(f"wrote {path}")
    return exit_codes.OK


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return list(value)
    if dataclasses.is_dataclass(value):
        return dataclasses.asdict(value)  # type: ignore[arg-type]
    if hasattr(value, "items"):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _yaml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, dict)):
        return str(value) if value else ("[]" if isinstance(value, list) else "{}")
    return f"{value:g}" if isinstance(value, float) else str(value)


__all__ = ["TEMPLATE", "main"]
