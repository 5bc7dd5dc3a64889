"""``happo-top config --init`` and ``--print``, as a user runs them."""

from __future__ import annotations

import json

from collectors.config import load_settings
from collectors.model import Settings
from tests.support import happo_top
from tui.cli import exit_codes


def test_init_writes_the_defaults_and_refuses_to_overwrite(tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path)}
    path = tmp_path / "happo-top" / "config.yaml"
    r = happo_top("config", "--init", env=env)
    assert r.returncode == 0 and str(path) in r.stdout
    text = path.read_text()
    assert text.count("#") > 10  # commented
    written = load_settings(str(path))
    for field in ("refresh", "stall_timeout", "flush_secs", "stop_grace", "term_grace"):
        assert getattr(written, field) == getattr(Settings(), field)
    path.write_text("refresh: 7\n")
    again = happo_top("config", "--init", env=env)
    assert again.returncode == exit_codes.USAGE and "not overwritten" in again.stderr
    assert path.read_text() == "refresh: 7\n"  # nothing lost


def test_print_says_where_each_setting_came_from(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("# mine\nrefresh: 5\nthresholds:\n  entropy_low: 0.9\n")
    doc = json.loads(happo_top("config", "--print", "--json", "--config", str(cfg)).stdout)
    assert doc["settings"]["refresh"] == 5
    assert doc["origins"]["refresh"] == f"{cfg}:2"
    assert doc["origins"]["thresholds"] == f"{cfg}:3"
    assert doc["origins"]["stall_timeout"] == "default"
    text = happo_top("config", "--print", "--config", str(cfg)).stdout
    line = next(x for x in text.splitlines() if x.startswith("refresh:"))
    assert "5" in line and line.endswith(f"# {cfg}:2")


def test_print_with_a_bad_key_suggests_the_right_one(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("refresh: 5\nread_onyl: true\n")
    r = happo_top("config", "--print", "--config", str(cfg))
    assert r.returncode == exit_codes.USAGE
    assert "c.yaml:2: unknown key 'read_onyl'; did you mean 'read_only'?" in r.stderr


def test_table_columns_are_checked_with_the_file_and_line(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("refresh: 5\ntable_columns: [state, name, reward]\n")
    assert load_settings(str(cfg)).table_columns == ("state", "name", "reward")
    doc = json.loads(happo_top("config", "--print", "--json", "--config", str(cfg)).stdout)
    assert doc["settings"]["table_columns"] == ["state", "name", "reward"]
    assert doc["origins"]["table_columns"] == f"{cfg}:2"
    for text, says in [
        (
            "table_columns: [state, rewrad]\n",
            "c.yaml:1: table_columns: unknown column 'rewrad'; did you mean 'reward'?",
        ),
        (
            "refresh: 5\n\ntable_columns: [state, state]\n",
            "c.yaml:3: table_columns: 'state' is named twice",
        ),
        ("table_columns: state\n", "c.yaml:1: key 'table_columns' must be a list of the table"),
        ("table_columns: []\n", "c.yaml:1: key 'table_columns' must be a list"),
    ]:
        cfg.write_text(text)
        r = happo_top("config", "--print", "--config", str(cfg))
        assert r.returncode == exit_codes.USAGE and says in r.stderr, r.stderr
