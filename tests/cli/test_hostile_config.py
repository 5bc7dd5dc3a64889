"""Hostile YAML config files (issue 11): each is a clear ``happo-top: FILE[:LINE]: ...`` error with
exit status 2, never a traceback and never a hang, in ``--once``, ``--plain`` and the monitor
(which reads its settings before it takes the terminal)."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from collectors.config import (
    MAX_CONFIG_BYTES,
    MAX_DEPTH,
    MAX_NODES,
    ConfigError,
    load_settings,
    parse_settings,
)
from tests.support import happo_top
from tests.tui.test_e2e import Tmux, happo_top_argv

BOMB = "\n".join(
    [
        "presets:",
        '  a: &a {argv: ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]}',
        *(
            f"  {b}: &{b} {{argv: [{', '.join([f'*{a}'] * 9)}]}}"
            for a, b in zip("abcdefgh", "bcdefghi", strict=True)
        ),
        "roots: *i",  # the error message used to print the expanded value: 9^9 strings
        "",
    ]
)


def _cases(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (config file, what its error message must contain)."""
    made: dict[str, tuple[Path, str]] = {}

    def case(name: str, text: str, expect: str) -> None:
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        made[name] = (path, expect.format(path=path))

    # 47 MB: used to take 30 s to parse (then start as if nothing was wrong)
    case("big", "roots: [/tmp]\n# " + "x" * (47 * 10**6) + "\n", "{path}: too large")
    case("bomb", BOMB, "{path}:7: this file stands for more than")
    case(
        "deep",
        "refresh: 2\nthresholds: " + "[" * 20000 + "]" * 20000 + "\n",
        f"{{path}}:2: nested more than {MAX_DEPTH} levels deep",
    )
    case("deep_block", "".join(f"{' ' * i}k{i}:\n" for i in range(200)), "{path}:")
    case("inf", "stall_timeout: 9\nrefresh: .inf\n", "{path}:2: key 'refresh' must be a finite")
    case("tiny", "refresh: 1.0e-300\n", "{path}:1: key 'refresh' must be a finite number")
    case("nan", "flush_secs: .nan\n", "{path}:1: key 'flush_secs' must be a finite number")
    case("huge", "stall_timeout: 1.0e+300\n", "{path}:1: key 'stall_timeout' must be a finite")
    case("grace", "term_grace: 1.0e+300\n", "{path}:1: key 'term_grace' must be a finite")
    case("binary", "refresh: 2\nroots: [\xff]\n", "{path}:2: not UTF-8 text")
    made["binary"][0].write_bytes(b"refresh: 2\nroots: [\xff]\n")
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # used to block every command for good
    made["fifo"] = (fifo, f"{fifo}: not a regular file")
    made["dev_zero"] = (Path("/dev/zero"), "/dev/zero: not a regular file")
    return made


@pytest.fixture
def cases(tmp_path):
    return _cases(tmp_path)


@pytest.mark.parametrize(
    "name",
    [
        "big",
        "bomb",
        "deep",
        "deep_block",
        "inf",
        "tiny",
        "nan",
        "huge",
        "grace",
        "binary",
        "fifo",
        "dev_zero",
    ],
)
def test_hostile_config_is_a_clear_error_at_once(cases, name):
    path, expect = cases[name]
    start = time.monotonic()
    with pytest.raises(ConfigError) as e:
        load_settings(str(path))
    assert time.monotonic() - start < 5
    assert str(e.value).startswith(expect), str(e.value)
    assert len(str(e.value)) < 400  # never the expanded value


def test_the_alias_bomb_is_refused_before_it_is_constructed():
    with pytest.raises(ConfigError, match="alias bomb"):
        parse_settings(BOMB, "c.yaml")
    # aliases within bounds are still YAML: an anchor used a few times is fine
    ok = parse_settings("refresh: &r 3\nstall_timeout: *r\nroots: &x [/a, /b]\n", "c.yaml")
    assert ok.refresh == 3.0 and ok.stall_timeout == 3.0 and ok.roots == ("/a", "/b")
    # exactly at the bound (MAX_NODES values: the mapping, its key, the list, its items) is
    # accepted, one more is not
    many = "roots: [" + ", ".join(["a"] * (MAX_NODES - 3)) + "]\n"
    assert len(parse_settings(many, "c").roots) == MAX_NODES - 3
    with pytest.raises(ConfigError, match="c:1: this file stands for more than"):
        parse_settings("roots: [" + ", ".join(["a"] * (MAX_NODES - 2)) + "]\n", "c")


def test_a_bad_value_is_shown_short():
    with pytest.raises(ConfigError) as e:
        parse_settings("refresh: [" + ", ".join(["x" * 100] * 1000) + "]\n", "c")
    assert len(str(e.value)) < 300 and str(e.value).startswith("c:1: key 'refresh'")


def test_sane_values_and_the_entropy_band_are_accepted():
    s = parse_settings(
        "refresh: 0.1\nstall_timeout: 604800\nflush_secs: 0.5\nstop_grace: 0\n"
        "thresholds:\n  entropy_low: 2.2\n  entropy_high: 2.8\n",
        "c",
    )
    assert s.refresh == 0.1 and s.stall_timeout == 604800.0 and s.stop_grace == 0.0
    assert s.thresholds == {"entropy_low": 2.2, "entropy_high": 2.8}


def test_a_config_at_the_size_bound_is_read(tmp_path):
    path = tmp_path / "c.yaml"
    body = "refresh: 3\n"
    path.write_text(body + "#" * (MAX_CONFIG_BYTES - len(body) - 1) + "\n")
    assert load_settings(str(path)).refresh == 3.0
    path.write_text(body + "#" * (MAX_CONFIG_BYTES - len(body)) + "\n")
    with pytest.raises(ConfigError, match="too large"):
        load_settings(str(path))


@pytest.mark.parametrize(
    "mode",
    [
        ["--once"],
        pytest.param(["--json"], marks=pytest.mark.slow),
        pytest.param(["--plain"], marks=pytest.mark.slow),
        pytest.param(["check"], marks=pytest.mark.slow),
    ],
)
def test_every_command_exits_2_without_a_traceback(cases, tmp_path, mode):
    prog = "happo-top" if mode[0].startswith("-") else f"happo-top {mode[0]}"
    for name, (path, expect) in cases.items():
        start = time.monotonic()
        r = happo_top(*mode, "--config", str(path), str(tmp_path), timeout=30)
        assert time.monotonic() - start < 20, name
        assert r.returncode == 2, (name, r.stdout[-500:], r.stderr[-2000:])
        assert "Traceback" not in r.stderr, (name, r.stderr[-2000:])
        assert r.stderr.startswith(f"{prog}: {expect}"), (name, r.stderr[-500:])


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("tmux") is None and os.environ.get("CI") != "true",
    reason="tmux is not installed",
)
def test_the_monitor_in_a_terminal_says_so_and_exits_2(cases, tmp_path):
    words = {
        # (the end of each message: the pane keeps only the last wrapped line of a long one)
        "bomb": "bomb?)",
        "deep": "other)",
        "inf": "got inf",
        "fifo": "e one)",
    }
    for name, word in words.items():
        path, _ = cases[name]
        t = Tmux(f"happo-cfg-{os.getpid()}-{name}")
        try:
            argv = [*happo_top_argv(), "--config", str(path), str(tmp_path)]
            t.start(
                # the blank line first: this tmux (3.3a) loses a new pane's first line of
                # output, which was the whole message when it fits on one (a short tmp path)
                ["sh", "-c", 'echo; "$@"; echo "exit=$?"', "sh", *argv],
                120,
                30,
                {"PATH": os.environ["PATH"]},
            )
            shown = t.wait_for(lambda s: "exit=" in s, timeout=20, what=f"{name} to exit")
            flat = shown.replace("\n", "")
            assert "exit=2" in shown and "Traceback" not in shown, shown
            assert word in flat, shown
        finally:
            t.kill()
