"""Shell completion, run in the real shells (bash, zsh, fish), and the man page through groff."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import pytest

from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs import run_id
from tests.support import happo_top
from tui.cli import command


@pytest.fixture
def home(tmp_path):
    """A config whose roots hold one run, and happo-top on PATH (the completion calls it)."""
    root = tmp_path / "results"
    run = write_instant_run(root, exp_name="cuboid", start_time=time.time() - 3600)
    (tmp_path / "cfg" / "happo-top").mkdir(parents=True)
    (tmp_path / "cfg" / "happo-top" / "config.yaml").write_text(f"roots: [{root}]\n")
    env = dict(
        os.environ,
        XDG_CONFIG_HOME=str(tmp_path / "cfg"),
        PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"],
    )
    return tmp_path, str(run), env


def _bash_like(shell: str, script: str, words: list[str], env: dict, cwd) -> list[str]:
    call = (
        f"COMP_WORDS=({' '.join(words)}); COMP_CWORD={len(words) - 1}; _happo_top; "
        'printf "%s\\n" "${COMPREPLY[@]}"'
    )
    if shell == "zsh":  # as bashcompinit's compgen -F calls the function: in sh emulation
        call = f"_t() {{ emulate -L sh; setopt kshglob noshglob braceexpand; {call}; }}; _t"
    code = f"{script}\n{call}"
    r = subprocess.run([shell, "-c", code], capture_output=True, text=True, env=env, cwd=cwd)
    assert r.returncode == 0, r.stderr
    # zsh's compgen leaves the matching to compadd, which keeps what starts with the word
    prefix = words[-1].strip("'")
    return [w for w in r.stdout.split() if w.startswith(prefix)]


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_bash_and_zsh_complete_commands_options_and_runs(shell, home):
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed (.ci/run installs it)")
    tmp, run, env = home
    script = happo_top("completion", shell, check=True).stdout
    assert _bash_like(shell, script, ["happo-top", "chec"], env, tmp) == ["check"]
    assert "--strict" in _bash_like(shell, script, ["happo-top", "check", "--st"], env, tmp)
    assert set(_bash_like(shell, script, ["happo-top", "-"], env, tmp)) >= {"--once", "-V"}
    runs = _bash_like(shell, script, ["happo-top", "stop", "''"], env, tmp)
    assert run_id(run) in runs and "cuboid" in runs
    assert _bash_like(shell, script, ["happo-top", "--format", "pro"], env, tmp) == ["prometheus"]
    assert _bash_like(shell, script, ["happo-top", "completion", "fi"], env, tmp) == ["fish"]


def test_fish_completes_commands_options_and_runs(home):
    if shutil.which("fish") is None:
        pytest.skip("fish is not installed (.ci/run installs it)")
    tmp, run, env = home
    script = tmp / "happo-top.fish"
    script.write_text(happo_top("completion", "fish", check=True).stdout)

    def complete(line: str) -> list[str]:
        r = subprocess.run(
            ["fish", "--no-config", "-c", f"source {script}; complete -C {line!r}"],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp,
        )
        assert r.returncode == 0, r.stderr
        return [x.split("\t")[0] for x in r.stdout.splitlines()]

    assert "check" in complete("happo-top chec")
    assert "--strict" in complete("happo-top check --st")
    assert run_id(run) in complete("happo-top stop ")


def test_runs_list_is_ids_and_experiment_names(home):
    tmp, run, env = home
    r = subprocess.run(
        [sys.executable, "-m", "tui.cli", "completion", "--runs"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp,
    )
    assert r.stdout.split() == [run_id(run), "cuboid"]


def test_man_page_is_clean_roff_with_every_command_and_option(tmp_path):
    page = happo_top("man", check=True).stdout
    assert page.startswith(".TH HAPPO\\-TOP 1")
    for name in command.SUBCOMMANDS:
        assert f".SS happo\\-top {name}" in page
    assert "\\fB\\-\\-strict\\fR" in page and "\\fB\\-\\-once\\fR" in page
    if shutil.which("groff") is None:
        pytest.skip("groff is not installed")
    r = subprocess.run(
        ["groff", "-man", "-Tutf8", "-ww", "-z"], input=page, capture_output=True, text=True
    )
    assert r.returncode == 0 and r.stderr == "", r.stderr
