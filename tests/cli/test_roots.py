"""Roots are given the same way in every sub-command that reads runs: ``--root DIR``
(repeatable), and where a command also takes positional ROOTs, both, in the order given."""

from __future__ import annotations

import json
import time

import pytest

from collectors.simulator.trainer import write_instant_run
from tests.support import happo_top
from tui.cli import exit_codes, parsers

# The sub-commands that read no runs, so a root would mean nothing to them (a new sub-command
# must either take --root or be listed here with its reason).
NO_RUNS = {
    "demo": "starts its own simulated runs in a directory of its own",
    "launch": "starts a preset or a command; it looks for no run",
    "config": "writes or prints the config file",
    "completion": "prints a shell completion script",
    "man": "prints the man page",
    "schema": "prints the JSON Schema",
}
# what each parser needs besides --root to parse
REQUIRED = {
    "report": ["r"],
    "diff": ["a", "b"],
    "stop": ["r"],
    "kill": ["r"],
    "restart": ["r"],
    "export": ["--prometheus"],
}


def _commands():
    return [c for c in parsers.commands() if c.name not in NO_RUNS]


def test_no_runs_lists_only_real_sub_commands():
    names = {c.name for c in parsers.commands()}
    assert set(NO_RUNS) <= names


@pytest.mark.parametrize("cmd", _commands(), ids=lambda c: c.name or "monitor")
def test_every_sub_command_takes_root_repeatable(cmd):
    assert any("--root" in o.flags for o in cmd.options), f"{cmd.name or 'happo-top'}: no --root"
    args = cmd.parser.parse_args(
        ["--root", "/r/one", "--root", "/r/two", *REQUIRED.get(cmd.name, [])]
    )
    if cmd.name == "simulate":  # the simulator's --root: the one tree it writes into
        assert args.root == "/r/two"
    else:  # the commands with positional ROOTs keep them in args.roots, the others in args.root
        given = args.roots if "roots" in vars(args) else args.root
        assert given == ["/r/one", "/r/two"]
    assert "--root" in cmd.parser.format_help()


@pytest.mark.parametrize("name", ["", "check", "export", "serve"])
def test_positional_roots_and_root_options_add_up_in_order(name):
    cmd = next(c for c in parsers.commands() if c.name == name)
    args = cmd.parser.parse_args(["/a", "--root", "/b", *REQUIRED.get(name, [])])
    assert args.roots == ["/a", "/b"]
    assert cmd.parser.parse_args(REQUIRED.get(name, [])).roots == []


def test_root_finds_the_runs_in_the_monitor_and_in_check(tmp_path, private_state):
    root = tmp_path / "results"
    run = write_instant_run(root, exp_name="cuboid", seed=1, start_time=time.time() - 3600)
    once = happo_top("--json", "--root", str(root), cwd=tmp_path)
    assert once.returncode == exit_codes.OK, once.stderr
    assert [r["path"] for r in json.loads(once.stdout)["runs"]] == [str(run)]
    check = happo_top("check", "--json", "--root", str(root), cwd=tmp_path)
    assert check.returncode in (exit_codes.OK, exit_codes.UNHEALTHY), check.stderr
    assert len(json.loads(check.stdout)["runs"]) == 1
    missing = happo_top("--json", "--root", str(tmp_path / "nowhere"), cwd=tmp_path)
    assert missing.returncode == exit_codes.USAGE  # as a positional ROOT that is missing
