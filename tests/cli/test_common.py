"""The command line's shared plumbing: named exit codes (and the README agreeing), one settings
loader, one run resolver, one guard; and the rules the code of tui/cli keeps."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from collectors.simulator.trainer import write_instant_run
from tests.support import ROOT
from tests.support import happo_top as run_cli
from tui.cli import exit_codes

CLI = ROOT / "tui" / "cli"
FRONT_ENDS = [*sorted(CLI.glob("*.py")), ROOT / "tui" / "text" / "table.py"]


def happo_top(*args: str, **kw):
    return run_cli(*args, timeout=60, **kw)


# -- exit codes ----------------------------------------------------------------------------------


def test_every_exit_code_is_named_once_with_a_meaning():
    named = {k: v for k, v in vars(exit_codes).items() if k.isupper() and isinstance(v, int)}
    assert {c.name: c.value for c in exit_codes.CODES} == named
    assert all(c.meaning and "\n" not in c.meaning for c in exit_codes.CODES)
    # today's numbers, which scripts rely on
    assert (exit_codes.OK, exit_codes.UNHEALTHY, exit_codes.ACTION_FAILED) == (0, 1, 1)
    assert (exit_codes.USAGE, exit_codes.by_signal(15)) == (2, 143)


def test_readme_lists_the_exit_codes_of_the_module():
    text = (ROOT / "README.md").read_text()
    section = text.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| (.+?) \|$", section, re.M)
    assert [(int(v), n, m) for v, n, m in rows] == [
        (c.value, c.name, c.meaning) for c in exit_codes.CODES
    ]


def test_help_lists_the_exit_codes():
    out = happo_top("--help", check=True).stdout
    flat = " ".join(out.split())
    for c in exit_codes.CODES:
        assert f"{c.value} {c.name} {c.meaning}" in flat


def _called(call: ast.Call) -> str:
    return getattr(call.func, "attr", None) or getattr(call.func, "id", "")


def _functions(tree: ast.AST):
    return [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]


@pytest.mark.parametrize("path", sorted(CLI.glob("*.py")), ids=lambda p: p.name)
def test_the_cli_returns_named_exit_codes_only(path):
    tree = ast.parse(path.read_text())
    bare = []
    for node in ast.walk(tree):
        value = None
        if isinstance(node, ast.Return):
            value = node.value
        elif isinstance(node, ast.Call) and _called(node) in ("exit", "SystemExit"):
            value = node.args[0] if node.args else None
        if isinstance(value, ast.Constant) and type(value.value) is int:
            bare.append(node.lineno)
    assert not bare, f"{path.name}: bare exit statuses on lines {bare}"


# -- import rules --------------------------------------------------------------------------------

# Package APIs only: other engineers split the modules inside these packages.
ALLOWED_ENGINE = {
    "collectors",
    "collectors.fmt",
    "collectors.model",
    "collectors.config",
    "collectors.control",
    "collectors.monitor",
    "collectors.analysis.health",
    "collectors.analysis.config_diff",
    "collectors.analysis.jobs",  # a Slurm job in words (the table, the panels)
    "collectors.analysis.events",  # --plain: the events between two polls
    "collectors.sources.runs",
    "collectors.sources.processes",
    "collectors.sources.tensorboard",
    "collectors.sources.remote",  # other hosts: root syntax and the config's hosts
    "collectors.simulator.trainer",
}


@pytest.mark.parametrize("path", FRONT_ENDS, ids=lambda p: p.name)
def test_the_cli_imports_package_apis_and_defers_only_for_start_up(path):
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.startswith("collectors")
        ):
            assert node.module in ALLOWED_ENGINE, f"{path.name}:{node.lineno}: {node.module}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("collectors"):
                    assert alias.name in ALLOWED_ENGINE, f"{path.name}:{node.lineno}"
    for fn in _functions(tree):
        for node in ast.walk(fn):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                above = "\n".join(lines[max(0, node.lineno - 4) : node.lineno - 1])
                assert "Deferred for start-up time" in above, (
                    f"{path.name}:{node.lineno}: an import inside a function without the "
                    "comment saying it is deferred for start-up time"
                )


def test_the_launch_registry_is_built_in_one_place():
    builders = [
        f"{p.name}:{i}"
        for p in sorted(CLI.glob("*.py"))
        for i, line in enumerate(p.read_text().splitlines(), 1)
        if "Registry(" in line and not line.lstrip().startswith(("#", '"'))
    ]
    assert builders == [f"common.py:{_line(CLI / 'common.py', 'return Registry()')}"]


def _line(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


# -- one loader, one resolver, one guard ---------------------------------------------------------


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    now = time.time()
    run = write_instant_run(
        root, exp_name="one", preset="basic", seed=1, start_time=now - 6 * 3600, finished=True
    )
    return root, run


@pytest.mark.slow
def test_a_run_that_matches_nothing_reads_the_same_everywhere(results, tmp_path, private_state):
    """One resolver: the same message for report, diff and stop; the exit status each has
    (USAGE in every command: see exit_codes)."""
    root, run = results
    seen = {}
    for cmd, extra in (("report", []), ("diff", [str(run)]), ("stop", []), ("kill", [])):
        r = happo_top(cmd, *extra, "no-such-run", "--root", str(root), cwd=tmp_path)
        assert "Traceback" not in r.stderr
        (line,) = r.stderr.splitlines()
        assert line.startswith(f"happo-top {cmd}: no run matches 'no-such-run' (looked under ")
        assert str(root) in line
        seen[cmd] = (r.returncode, line.split(": ", 1)[1])
    assert {status for status, _ in seen.values()} == {exit_codes.USAGE}
    assert len({msg for _, msg in seen.values()}) == 1


@pytest.mark.slow
def test_a_run_found_by_directory_id_and_name(results, tmp_path, private_state):
    root, run = results
    doc = happo_top("diff", str(run), str(run), "--json", cwd=tmp_path)
    assert doc.returncode == exit_codes.USAGE and "at least two runs" in doc.stderr
    by_dir = happo_top("report", str(root), cwd=tmp_path)  # a directory of runs
    assert by_dir.returncode == exit_codes.OK and str(run) in by_dir.stdout
    # kill finds the run by its directory and refuses: it has no live process
    r = happo_top("kill", str(run), cwd=tmp_path)
    assert r.returncode == exit_codes.ACTION_FAILED
    assert "has no live process (state: finished): nothing to signal" in r.stderr


@pytest.mark.slow
def test_bad_numbers_are_usage_errors_in_every_command(results, tmp_path, private_state):
    root, run = results
    for option, args in (
        ("--stall-timeout", ("check", "--stall-timeout", "-5", str(root))),
        ("--grace", ("stop", str(run), "--grace", "-1")),
        ("--term-grace", ("restart", str(run), "--term-grace", "soon")),
    ):
        r = happo_top(*args, cwd=tmp_path)
        assert r.returncode == exit_codes.USAGE, (args, r.stderr)
        assert option in r.stderr
        assert "above 0" in r.stderr or "0 or more" in r.stderr or "not a number" in r.stderr
        assert "Traceback" not in r.stderr


def test_thresholds_that_do_not_fit_together_are_refused_by_every_front_end(results, tmp_path):
    """One settings loader: the check that entropy_min <= entropy_low <= ... holds for
    --once and run control as it did for check."""
    root, run = results
    cfg = tmp_path / "config.yaml"
    cfg.write_text("thresholds:\n  entropy_low: 1.5\n  entropy_high: 1.2\n")  # each fine alone
    for args in (("check", str(root)), ("--once", str(root)), ("kill", str(run))):
        r = happo_top(*args, "--config", str(cfg), cwd=tmp_path)
        assert r.returncode == exit_codes.USAGE, (args, r.stdout, r.stderr)
        assert f"{cfg}:2: key 'thresholds': entropy thresholds must satisfy" in r.stderr


def test_the_command_line_overrides_the_config_file(results, tmp_path):
    root, run = results
    cfg = tmp_path / "config.yaml"
    cfg.write_text(f"roots: [{tmp_path / 'elsewhere'}]\nstall_timeout: 1\n")
    r = happo_top("--once", "--json", "--config", str(cfg), str(root), cwd=tmp_path)
    assert r.returncode == exit_codes.OK and str(run) in r.stdout  # ROOT replaces roots


def test_check_into_a_reader_that_leaves_early(tmp_path):
    """The guard: a closed pipe is not an error, for the sub-commands too."""
    for i in range(12):
        write_instant_run(tmp_path, exp_name=f"e{i}", num_env_steps=5_000_000)
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "check", "--json", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout.readline().strip() == b"{"
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == exit_codes.OK, err
    assert "Traceback" not in err and "BrokenPipe" not in err
