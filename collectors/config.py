"""The YAML configuration file (``$XDG_CONFIG_HOME/happo-top/config.yaml`` or ``--config``).

Example::

    roots: [~/MAPush/results, /data/runs]
    refresh: 2.0            # seconds between polls
    stall_timeout: 360      # seconds without new data before a run is "stalled" (3 tensorboardX flushes)
    flush_secs: 120         # your trainers' tensorboardX flush period: data may arrive this late
    verify_crc: false       # check every record's CRC (see README: costs ~2x read time)
    read_only: false
    aliases:                # run directory (or id) -> name shown
      /data/runs/.../seed-00001-2025-11-15-15-34-13: basic
    thresholds:             # health rules (analysis)
      entropy_low: 1.0
    presets:                # launch presets (run control)
      cuboid: {argv: [python, train.py], cwd: ~/MAPush}
    remote_command: happo-top   # how happo-top is started on the hosts below
    hosts:                  # other hosts, over ssh (README "Several hosts")
      gpu01: {roots: [~/MAPush/results], remote_command: ~/.local/bin/happo-top, ssh_args: []}
    on_event: notify-send "happo-top: $HAPPO_TOP_RUN" "$HAPPO_TOP_MESSAGE"   # or an argv list
    on_event_rate: 10       # at most this many on_event commands a minute
    on_event_timeout: 10    # seconds an on_event command may run before it is killed
    bell: false             # ring the terminal bell for a crash, NaN or bad finding (TUI)

A bad file is an error that names the file, the line and the key.
"""

from __future__ import annotations

import math
import os
import reprlib
import stat
from types import ModuleType
from typing import TYPE_CHECKING, Any

from collectors.model.settings import TABLE_COLUMNS, Settings

if TYPE_CHECKING:
    import yaml


class ConfigError(Exception):
    """A configuration file problem, with the file, line and key in the message."""


def _yaml() -> ModuleType:
    """PyYAML, imported on first use: a command without a config file never pays for it."""
    import yaml  # deferred: ~10 ms of start-up, needed only when a config file is read

    return yaml


def default_config_path() -> str:
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "happo-top", "config.yaml")


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _finite(v: Any) -> bool:
    return _number(v) and math.isfinite(v)


MAX_CONFIG_BYTES = 1 << 20
"""At most this much of a config file is read (a real one is a few KiB; a 47 MB file used to take
30 s to parse before anything was shown)."""
MAX_DEPTH = 32
"""Deepest nesting of lists and mappings accepted (a real config nests 4 levels: hosts, presets)."""
MAX_NODES = 100_000
"""Most values a file may stand for once its aliases are expanded: a YAML alias bomb (nine
anchors of nine aliases each stand for 9^9 values) is refused before anything is constructed."""
MAX_SECONDS = 7 * 86400.0
"""The largest number of seconds a time setting may hold (``time.sleep`` and ``Event.wait``
overflow on ``.inf`` or ``1e300``; a week is far beyond any useful period)."""
MIN_REFRESH = 0.1
"""The shortest poll period: ``refresh: 1.0e-300`` would poll in a busy loop."""

_short = reprlib.Repr()
_short.maxstring = 40
_short.maxother = 40
_short.maxlevel = 3
_short.maxlist = _short.maxdict = _short.maxtuple = _short.maxset = 3


def _seconds(low: float, strict: bool = False) -> Any:
    """A check: a finite number of seconds in [low, MAX_SECONDS] (above ``low`` when strict)."""
    return lambda v: _finite(v) and (v > low if strict else v >= low) and v <= MAX_SECONDS


_SCHEMA: dict[str, tuple[str, Any]] = {
    # key: (description of the expected type, check)
    "roots": (
        "a list of directories",
        lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
    ),
    "refresh": (
        f"a finite number of seconds from {MIN_REFRESH:g} to {MAX_SECONDS:g}",
        _seconds(MIN_REFRESH),
    ),
    "stall_timeout": (
        f"a finite number of seconds > 0 and <= {MAX_SECONDS:g}",
        _seconds(0.0, strict=True),
    ),
    "flush_secs": (
        f"a finite number of seconds > 0 and <= {MAX_SECONDS:g}",
        _seconds(0.0, strict=True),
    ),
    "stop_grace": (f"a finite number of seconds >= 0 and <= {MAX_SECONDS:g}", _seconds(0.0)),
    "term_grace": (f"a finite number of seconds >= 0 and <= {MAX_SECONDS:g}", _seconds(0.0)),
    "harl_train": (
        "the HARL entry point: a path to train.py, a list [python, path/to/train.py], or the "
        "name of a launch preset",
        lambda v: (
            (isinstance(v, str) and v.strip())
            or (isinstance(v, list) and v and all(isinstance(x, str) and x for x in v))
        ),
    ),
    "verify_crc": ("true or false", lambda v: isinstance(v, bool)),
    "read_only": ("true or false", lambda v: isinstance(v, bool)),
    "aliases": (
        "a mapping of run path or id to name",
        lambda v: (
            isinstance(v, dict)
            and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
        ),
    ),
    "thresholds": (
        "a mapping of threshold name to number",
        lambda v: (
            isinstance(v, dict) and all(isinstance(k, str) and _number(x) for k, x in v.items())
        ),
    ),
    "presets": (
        "a mapping of preset name to {argv, cwd, env, log, shell, backend, sbatch}",
        lambda v: isinstance(v, dict) and all(isinstance(x, dict) for x in v.values()),
    ),
    "hosts": (
        "a mapping of ssh host name to {roots: [...], remote_command: ..., ssh_args: [...]}",
        lambda v: isinstance(v, dict) and all(_host_entry(k, x) for k, x in v.items()),
    ),
    "remote_command": ("a command (text)", lambda v: isinstance(v, str) and v.strip() != ""),
    "ssh_args": ("a list of ssh options", lambda v: _strings(v)),
    "on_event": (
        "a command run for each event: a shell command (text) or an argv list",
        lambda v: (
            (isinstance(v, str) and v.strip() != "")
            or (isinstance(v, list) and v and all(isinstance(x, str) and x for x in v))
        ),
    ),
    "on_event_rate": (
        "the most on_event commands a minute: a number from 1 to 10000",
        lambda v: _finite(v) and 1 <= v <= 10000,
    ),
    "on_event_timeout": (
        f"a finite number of seconds > 0 and <= {MAX_SECONDS:g}",
        _seconds(0.0, strict=True),
    ),
    "bell": ("true or false", lambda v: isinstance(v, bool)),
    "table_columns": (
        "a list of the table view's columns (" + ", ".join(TABLE_COLUMNS) + ")",
        lambda v: isinstance(v, list) and len(v) > 0 and all(isinstance(x, str) for x in v),
    ),
}


def _strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(x, str) for x in v)


def _host_entry(name: Any, entry: Any) -> bool:
    if not isinstance(name, str) or not name or name.startswith("-"):
        return False
    if entry is None:
        return True
    if not isinstance(entry, dict) or set(entry) - {"roots", "remote_command", "ssh_args"}:
        return False
    rc = entry.get("remote_command", "x")
    return (
        _strings(entry.get("roots", []))
        and _strings(entry.get("ssh_args", []))
        and isinstance(rc, str)
        and rc.strip() != ""
    )


def _key_lines(text: str) -> dict[str, int]:
    """Line (1-based) of each top-level key and of each key one level down (``thresholds.x``)."""
    yaml = _yaml()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    lines: dict[str, int] = {}
    if isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            if isinstance(k, yaml.ScalarNode):
                lines[str(k.value)] = k.start_mark.line + 1
                if isinstance(v, yaml.MappingNode):
                    for k2, _ in v.value:
                        if isinstance(k2, yaml.ScalarNode):
                            lines[f"{k.value}.{k2.value}"] = k2.start_mark.line + 1
    return lines


def _check_thresholds(mapping: dict[str, Any], lines: dict[str, int], path: str) -> None:
    """The ``thresholds:`` mapping against the health rules' declared thresholds: each key on
    its own (an error at its line), then the orders between keys (at the first key involved)."""
    # Deferred for start-up time: the declarations only for a file with a thresholds: key.
    from collectors.analysis.health.thresholds import DECLARED

    top = lines.get("thresholds", 1)
    for name, value in mapping.items():
        problem = DECLARED.problem(name, value)
        if problem is not None:
            line = lines.get(f"thresholds.{name}", top)
            raise ConfigError(f"{path}:{line}: key 'thresholds': {problem}")
    broken = DECLARED.order_problems(mapping)
    if broken:
        order, _ = broken[0]
        first = next((k for k in order.names if k in mapping), None)
        line = lines.get(f"thresholds.{first}", top) if first else top
        raise ConfigError(f"{path}:{line}: key 'thresholds': " + "; ".join(p for _, p in broken))


PRESET_KEYS = ("argv", "cwd", "env", "log", "shell", "name", "backend", "sbatch")
BACKENDS = ("local", "slurm")


def _preset_lines(text: str) -> dict[str, int]:
    """Line of each ``presets.NAME.KEY``."""
    yaml = _yaml()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return {}
    out: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return out
    for k, v in node.value:
        if getattr(k, "value", None) != "presets" or not isinstance(v, yaml.MappingNode):
            continue
        for name, body in v.value:
            if isinstance(body, yaml.MappingNode):
                for key, _ in body.value:
                    out[f"{name.value}.{key.value}"] = key.start_mark.line + 1
    return out


def _check_presets(presets: dict[str, Any], text: str, lines: dict[str, int], path: str) -> None:
    """Each preset's keys: ``backend`` local or slurm, ``sbatch`` a list of sbatch options
    (only with ``backend: slurm``); an unknown key is an error at its line."""
    at = _preset_lines(text)
    for name, body in presets.items():
        here = lines.get(f"presets.{name}", lines.get("presets", 1))

        def fail(key: str, what: str, name: str = name, here: int = here) -> None:
            line = at.get(f"{name}.{key}", here)
            raise ConfigError(f"{path}:{line}: preset '{name}': {what}")

        for key in body:
            if key not in PRESET_KEYS:
                fail(str(key), f"unknown key '{key}' (known keys: {', '.join(PRESET_KEYS)})")
        backend = body.get("backend", "local")
        if backend not in BACKENDS:
            fail("backend", f"key 'backend' must be one of {', '.join(BACKENDS)}, got {backend!r}")
        sbatch = body.get("sbatch")
        if sbatch is not None:
            if not (_strings(sbatch) and all(a.startswith("-") for a in sbatch)):
                got = _short.repr(sbatch)
                fail("sbatch", f"key 'sbatch' must be a list of sbatch options (--x=y), got {got}")
            if backend != "slurm":
                fail("sbatch", "key 'sbatch' needs 'backend: slurm'")


def _invalid(e: yaml.YAMLError, path: str) -> ConfigError:
    mark = getattr(e, "problem_mark", None)
    where = f"{path}:{mark.line + 1}" if mark is not None else path
    problem = getattr(e, "problem", None) or str(e)
    return ConfigError(f"{where}: invalid YAML: {problem}")


def _check_shape(text: str, path: str) -> None:
    """Refuse, from the parser's events alone (PyYAML's parser is a loop, its composer and
    constructor recurse), a document nested deeper than MAX_DEPTH (20k levels used to be a
    RecursionError traceback) or standing for more than MAX_NODES values once its aliases are
    expanded (an alias bomb: each anchor's expanded size is counted as it closes, each alias adds
    its anchor's size), with the line where the limit was passed."""
    sizes: dict[str, int] = {}
    stack: list[list[Any]] = []  # one frame per open collection: [values in it so far, anchor]
    total = 0

    def add(n: int, line: int) -> None:
        nonlocal total
        total += n
        if stack:
            stack[-1][0] += n
        if total > MAX_NODES:
            raise ConfigError(
                f"{path}:{line}: this file stands for more than {MAX_NODES} values once its "
                "aliases are expanded (a YAML alias bomb?)"
            )

    yaml = _yaml()
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            add(sizes.get(event.anchor, 1), line)
        elif isinstance(event, yaml.ScalarEvent):
            if event.anchor is not None:
                sizes[event.anchor] = 1
            add(1, line)
        elif isinstance(event, yaml.CollectionStartEvent):
            total += 1
            stack.append([1, event.anchor])
            if len(stack) > MAX_DEPTH:
                raise ConfigError(
                    f"{path}:{line}: nested more than {MAX_DEPTH} levels deep "
                    "(lists or mappings inside each other)"
                )
        elif isinstance(event, yaml.CollectionEndEvent) and stack:
            n, anchor = stack.pop()
            if anchor is not None:
                sizes[anchor] = n
            if stack:
                stack[-1][0] += n


def parse_settings(text: str, path: str = "<config>") -> Settings:
    yaml = _yaml()
    try:
        _check_shape(text, path)
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        raise _invalid(e, path) from None
    except RecursionError:  # not reached below MAX_DEPTH; kept so that it is never a traceback
        raise ConfigError(f"{path}: nested too deeply to be read") from None
    if doc is None:
        return Settings(path=path)
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}:1: expected a mapping of settings at the top level")
    lines = _key_lines(text)
    values: dict[str, Any] = {}
    for key, value in doc.items():
        line = lines.get(str(key), 1)
        if key not in _SCHEMA:
            known = ", ".join(sorted(_SCHEMA))
            import difflib  # deferred for start-up time: only for a misspelt key

            close = difflib.get_close_matches(str(key), list(_SCHEMA), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise ConfigError(f"{path}:{line}: unknown key '{key}'{hint} (known keys: {known})")
        what, check = _SCHEMA[key]
        if not check(value):
            got = _short.repr(value)
            raise ConfigError(f"{path}:{line}: key '{key}' must be {what}, got {got}")
        values[key] = value
    if "thresholds" in values:
        _check_thresholds(values["thresholds"], lines, path)
    if "presets" in values:
        _check_presets(values["presets"], text, lines, path)
    if "roots" in values:
        values["roots"] = tuple(os.path.expanduser(r) for r in values["roots"])
    if isinstance(values.get("harl_train"), str):
        values["harl_train"] = (values["harl_train"],)
    elif "harl_train" in values:
        values["harl_train"] = tuple(values["harl_train"])
    if "hosts" in values:
        values["hosts"] = {k: dict(v or {}) for k, v in values["hosts"].items()}
    if "ssh_args" in values:
        values["ssh_args"] = tuple(values["ssh_args"])
    if isinstance(values.get("on_event"), list):
        values["on_event"] = tuple(values["on_event"])
    if "table_columns" in values:
        values["table_columns"] = _table_columns(values["table_columns"], lines, path)
    for k in (
        "refresh",
        "stall_timeout",
        "flush_secs",
        "stop_grace",
        "term_grace",
        "on_event_rate",
        "on_event_timeout",
    ):
        if k in values:
            values[k] = float(values[k])
    return Settings(path=path, **values)


def _table_columns(names: list[str], lines: dict[str, int], path: str) -> tuple[str, ...]:
    """The table's columns as named: each a known one, none twice."""
    line = lines.get("table_columns", 1)
    for name in names:
        if name not in TABLE_COLUMNS:
            import difflib  # deferred for start-up time: only for a misspelt key

            close = difflib.get_close_matches(name, TABLE_COLUMNS, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            known = ", ".join(TABLE_COLUMNS)
            raise ConfigError(
                f"{path}:{line}: table_columns: unknown column '{name}'{hint} (known: {known})"
            )
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ConfigError(f"{path}:{line}: table_columns: '{twice[0]}' is named twice")
    return tuple(names)


def load_settings(path: str | None = None) -> Settings:
    """The settings from ``path`` (must exist) or the default path (may be absent)."""
    explicit = path is not None
    path = os.path.expanduser(path) if path else default_config_path()
    if not explicit and not os.path.exists(path):
        return Settings()  # no config file (or a home we may not look into): the defaults
    return parse_settings(read_text(path), path)


def read_text(path: str) -> str:
    """The text of the config file at ``path``: only a regular file (a FIFO would block every
    command for good, ``/dev/zero`` never ends) of at most MAX_CONFIG_BYTES, in UTF-8."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path}: not a regular file (a config file must be one)")
        if st.st_size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"{path}: too large for a config file ({st.st_size / 2**20:.1f} MiB; "
                f"at most {MAX_CONFIG_BYTES >> 20} MiB is read)"
            )
        chunks: list[bytes] = []
        got = 0
        while got <= MAX_CONFIG_BYTES:
            chunk = os.read(fd, MAX_CONFIG_BYTES + 1 - got)
            if not chunk:
                break
            chunks.append(chunk)
            got += len(chunk)
        data = b"".join(chunks)
        if len(data) > MAX_CONFIG_BYTES:  # grew since fstat
            raise ConfigError(
                f"{path}: too large for a config file (at most {MAX_CONFIG_BYTES >> 20} MiB)"
            )
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data[: e.start].count(b"\n") + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text ({e.reason})") from None
    except OSError as e:
        raise ConfigError(f"{path}: {e.strerror or e}") from None
    finally:
        os.close(fd)


def origins(settings: Settings) -> dict[str, str]:
    """Where each setting of ``settings`` (as :func:`load_settings` returned it) came from:
    ``PATH:LINE`` for a key the file sets, ``default`` for the rest (for ``config --print``)."""
    lines: dict[str, int] = {}
    if settings.path is not None:
        try:
            lines = _key_lines(read_text(settings.path))
        except ConfigError:
            lines = {}
    return {key: f"{settings.path}:{lines[key]}" if key in lines else "default" for key in _SCHEMA}


def default_roots(cwd: str | None = None) -> list[str]:
    cwd = cwd or os.getcwd()
    results = os.path.join(cwd, "results")
    return [results] if os.path.isdir(results) else [cwd]
