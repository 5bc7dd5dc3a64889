"""The conventions users of git, htop and nvitop expect: -V, 'did you mean', one exit status
for one failure in every command, help without raw reST and with defaults."""

from __future__ import annotations

import importlib.metadata
import os
import re

import pytest

from collectors.config import ConfigError, parse_settings
from collectors.model import Settings
from tests.support import happo_top
from tui.cli import command, exit_codes


def test_version_flag_prints_the_installed_version():
    for flag in ("-V", "--version"):
        r = happo_top(flag)
        assert r.returncode == 0
        assert r.stdout.strip() == f"happo-top {importlib.metadata.version('happo-top')}"


def test_a_typod_subcommand_is_an_error_with_a_suggestion(tmp_path):
    r = happo_top("chekc", cwd=tmp_path)
    assert r.returncode == exit_codes.USAGE
    assert "did you mean 'check'?" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_an_existing_directory_named_like_a_command_is_a_root(tmp_path):
    (tmp_path / "chekc").mkdir()
    r = happo_top("chekc", "--once", "--json", cwd=tmp_path)
    assert r.returncode == exit_codes.OK, r.stderr


@pytest.mark.parametrize("form", [["--once"], ["--json"], ["--format", "json"], ["--plain"]])
def test_a_missing_root_is_a_usage_error_in_every_form(tmp_path, form):
    r = happo_top(*form, str(tmp_path / "nowhere"), cwd=tmp_path)
    assert r.returncode == exit_codes.USAGE
    assert r.stderr.strip() == f"happo-top: {tmp_path / 'nowhere'}: no such directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every directory")
def test_an_unreadable_root_is_a_usage_error(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0)
    try:
        r = happo_top("--once", str(locked), cwd=tmp_path)
    finally:
        locked.chmod(0o755)
    assert r.returncode == exit_codes.USAGE and "permission denied" in r.stderr


def test_check_and_the_snapshot_agree_on_a_missing_root(tmp_path):
    codes = {
        happo_top(*cmd, str(tmp_path / "nowhere"), cwd=tmp_path).returncode
        for cmd in (["check"], ["--once"], ["--json"])
    }
    assert codes == {exit_codes.USAGE}


def test_an_unknown_config_key_suggests_the_known_one():
    with pytest.raises(ConfigError) as e:
        parse_settings("roots: [/x]\nstal_timeout: 30\n", "c.yaml")
    assert "c.yaml:2: unknown key 'stal_timeout'; did you mean 'stall_timeout'?" in str(e.value)
    with pytest.raises(ConfigError) as e:
        parse_settings("zzz: 1\n", "c.yaml")
    assert "did you mean" not in str(e.value)


def test_help_lists_the_subcommands_in_its_usage_and_shows_defaults():
    out = happo_top("--help", check=True).stdout
    usage = out.split("\n\n", 1)[0]
    for name in command.SUBCOMMANDS:
        assert name in usage
    defaults = Settings()
    assert f"default: {defaults.refresh:g}" in " ".join(out.split())


def test_no_help_prints_raw_rest():
    for name in ["", *command.SUBCOMMANDS]:
        r = happo_top(*([name] if name else []), "--help")
        assert r.returncode == 0, (name, r.stderr)
        for markup in ("``", ":func:", ":class:", ":mod:", ":data:"):
            assert markup not in r.stdout, (name, markup)
        assert not re.search(r"^\s*\.\. \w+::", r.stdout, re.M), name
