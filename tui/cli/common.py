"""What every headless front end shares: loading the settings, the launch registry, finding the
runs a command names, and turning a failure into an exit status and one ``prog: message`` line.

A RUN on the command line is a run directory (anywhere: its parent is watched for the
occasion), a directory holding runs, a run id or id prefix, or a run name, looked up under the
roots; the run-control commands also take a pid, and a run on another host: ``HOST:RUN``, or a
RUN found below a ``host:path`` root (:func:`resolve_action`). Only ``collectors`` is imported here: no
Textual, Rich or plotext.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from collectors.config import ConfigError, default_roots
from collectors.config import load_settings as read_config
from collectors.control import ActionError
from collectors.model import RunSnapshot, Settings, Snapshot, json_safe
from collectors.monitor import Monitor
from collectors.sources.remote import RemoteSpec, config_roots, spec_for, split_root
from collectors.sources.runs import find_run, foreign_link_on
from tui.cli import exit_codes
from tui.cli.options import reader_gone

if TYPE_CHECKING:  # imported where used: an empty root's snapshot needs neither
    from collectors.control import Registry, Target
    from collectors.sources.processes import ProcessInfo


class UsageError(Exception):
    """A bad command line or config file: exit status USAGE."""


class RunNotFound(Exception):
    """A RUN that matches no run, or several. Its exit status depends on the command (see
    :mod:`tui.cli.exit_codes`): USAGE for report and diff, ACTION_FAILED for run control."""


# -- settings ------------------------------------------------------------------------------------

# command-line option (argparse dest) -> the Settings field it overrides, when given
OVERRIDES: tuple[tuple[str, str], ...] = (
    ("refresh", "refresh"),
    ("stall_timeout", "stall_timeout"),
    ("verify_crc", "verify_crc"),
    ("read_only", "read_only"),
    ("grace", "stop_grace"),
    ("term_grace", "term_grace"),
)


def load_settings(args: argparse.Namespace) -> Settings:
    """The config file's settings (``args.config``, else the XDG path) with the command line's
    overrides on top. A bad file (thresholds that do not fit together included: the config
    parser checks them against the health registry) is a UsageError that names the file and
    the line."""
    try:
        settings = read_config(getattr(args, "config", None))
    except ConfigError as e:
        raise UsageError(str(e)) from None
    changes: dict[str, Any] = {}
    for option, field in OVERRIDES:
        value = getattr(args, option, None)
        if value is not None:
            changes[field] = value
    return dataclasses.replace(settings, **changes) if changes else settings


def registry() -> Registry:
    """The launch registry (``$XDG_STATE_HOME/happo-top``). A command builds it once, here, and
    passes it to everything that launches, signals or identifies processes."""
    # Deferred for start-up time: see TYPE_CHECKING above.
    from collectors.control import Registry

    return Registry()


# -- runs ----------------------------------------------------------------------------------------


def is_run_dir(path: str) -> bool:
    # Deferred for start-up time: the run directory names (calendar, datetime) when asked.
    from collectors.model import RUN_DIR_RE

    return os.path.isdir(path) and bool(RUN_DIR_RE.match(os.path.basename(os.path.abspath(path))))


def under(path: str, root: str) -> bool:
    p, r = os.path.realpath(path), os.path.realpath(root)
    return p == r or p.startswith(r.rstrip(os.sep) + os.sep)


def root_path(key: str) -> str:
    """A local path made absolute; a ``host:path`` root stays as it is (collectors.sources.remote)."""
    if split_root(key)[0] is not None:
        return key
    return os.path.abspath(os.path.expanduser(key))


def search_roots(
    keys: Sequence[str],
    settings: Settings,
    roots: Sequence[str] = (),
    *,
    roots_replace_defaults: bool = False,
) -> list[str]:
    """Where to look for ``keys``: the ``--root`` directories, the parent of each run directory
    and each directory of runs among the keys (unless already below a root), and the config's
    roots (else ./results, else .) when a key is not a directory — unless ``--root`` was given to
    a command whose ``--root`` replaces them (run control)."""
    chosen = [root_path(r) for r in roots]
    need_default = False
    for key in keys:
        path = root_path(key)
        if not os.path.isdir(path):
            need_default = True
        elif not any(under(path, r) for r in chosen):
            chosen.append(os.path.dirname(path) if is_run_dir(path) else path)
    if not chosen or (need_default and not (roots and roots_replace_defaults)):
        configured = [*settings.roots, *config_roots(settings.hosts)]
        chosen += [root_path(r) for r in (configured or default_roots())]
    return list(dict.fromkeys(chosen))


def check_roots(roots: Sequence[str]) -> None:
    """Roots given on the command line must be readable directories: a UsageError (exit 2) in
    every command, rather than an empty snapshot that looks like "no runs"."""
    for root in roots:
        if split_root(root)[0] is not None:
            continue  # host:path: the remote happo-top says what is wrong there
        path = root_path(root)
        if not os.path.exists(path):
            raise UsageError(f"{root}: no such directory")
        if not os.path.isdir(path):
            raise UsageError(f"{root}: not a directory")
        if not os.access(path, os.R_OK | os.X_OK):
            raise UsageError(f"{root}: permission denied")


def collect(roots: Sequence[str], settings: Settings, reg: Registry) -> Snapshot:
    """The runs below ``roots`` once, with their processes (which decide crashed vs running)
    and health findings; no GPUs, no disks."""
    monitor = Monitor(list(dict.fromkeys(roots)), settings, gpu=False, disk=False, registry=reg)
    try:
        monitor.wait_for_hosts()
        return monitor.collect()
    finally:
        monitor.close()


def match_runs(snap: Snapshot, keys: Sequence[str], *, single: bool = False) -> list[RunSnapshot]:
    """The runs of ``snap`` that ``keys`` name, in order and without repeats: all the runs below
    a directory of runs, else the run directory, the id (or prefix), the name, the experiment.
    Raises RunNotFound for a key that matches nothing, or an id / name (any key, when
    ``single``) that matches several runs."""
    chosen: list[RunSnapshot] = []
    for key in keys:
        path = root_path(key)
        isdir = os.path.isdir(path)
        refused = foreign_link_on(path) if isdir else None
        if refused:
            raise RunNotFound(refused)
        if isdir and not is_run_dir(path):
            found = [r for r in snap.runs if under(r.path, path)]
            if not found:
                raise RunNotFound(f"no runs under {path}")
        else:
            found = find_run(snap, path if isdir else key)
            if not found:
                raise RunNotFound(
                    f"no run matches '{key}' (looked under {', '.join(snap.roots)}); give a run "
                    "directory, or --root DIR to look elsewhere"
                )
        if len(found) > 1 and (single or not isdir):
            names = "; ".join(f"{r.id} {r.name} ({r.path})" for r in found[:6])
            raise RunNotFound(f"'{key}' matches {len(found)} runs: {names}. Give the id or path")
        for r in found:
            if all(r.id != c.id for c in chosen):
                chosen.append(r)
    return chosen


def resolve_runs(
    keys: Sequence[str], settings: Settings, reg: Registry, roots: Sequence[str] = ()
) -> tuple[Snapshot, list[RunSnapshot]]:
    """The runs named by ``keys`` (check, report, diff: ``--root`` adds to the config's roots)
    and the snapshot they come from."""
    snap = collect(search_roots(keys, settings, roots), settings, reg)
    return snap, match_runs(snap, keys)


@dataclasses.dataclass(frozen=True)
class Resolved:
    """One RUN of a run-control command: the run (None for a process happo-top launched that
    is not tied to a run directory yet), its live process, and what to signal (None: no live
    process)."""

    run: RunSnapshot | None
    info: ProcessInfo | None
    target: Target | None


def resolve_target(
    key: str, settings: Settings, reg: Registry, roots: Sequence[str] | None = None
) -> Resolved:
    """The run (or launched process) that ``key`` names for stop, kill and restart: a RUN as
    above, or a pid, which must be the identified process of a run below the roots (or its
    launcher), or a process happo-top launched itself. ``--root`` replaces the config's roots."""
    # Deferred for start-up time: see TYPE_CHECKING above.
    from collectors.control import Target

    where = search_roots([key], settings, roots or (), roots_replace_defaults=True)
    # Run control acts on this host only: a run elsewhere is stopped by the happo-top there.
    where = [r for r in where if split_root(r)[0] is None]
    monitor = Monitor(where, settings, gpu=False, disk=False, registry=reg)
    try:
        snap = monitor.collect()
        if _is_pid(key, snap):
            pid = int(key)
            run_path = monitor.procs.find_pid(pid) if monitor.procs is not None else None
            run = next((r for r in snap.runs if r.path == run_path), None)
            if run is not None and run.process is not None:
                return Resolved(run, run.process, Target.from_process(run.process, run))
            rec = reg.live(pid)
            if rec is not None:
                return Resolved(None, None, Target.from_record(rec))
            raise ActionError(
                f"pid {pid} is not identified as the process of any run below "
                f"{', '.join(snap.roots)}, nor launched by happo-top: refusing"
            )
    finally:
        monitor.close()
    (run,) = match_runs(snap, [key], single=True)
    if run.process is None:
        return Resolved(run, None, None)
    return Resolved(run, run.process, Target.from_process(run.process, run))


@dataclasses.dataclass(frozen=True)
class RemoteRun:
    """A RUN on another host: how to reach it, the RUN as the happo-top there reads it (and the
    roots to look under there, ``--root``), and the run when it was found through its stream."""

    spec: RemoteSpec
    key: str
    roots: tuple[str, ...] = ()
    run: RunSnapshot | None = None

    @property
    def host(self) -> str:
        return self.spec.host

    def args(self, action: str, *extra: str) -> list[str]:
        """``[action, RUN, --yes, --root R..., extra...]``: the same line works for stop, kill
        and restart there (each accepts ``--yes``)."""
        roots = [a for r in self.roots for a in ("--root", r)]
        return [action, self.key, "--yes", *roots, *extra]


def remote_spec(host: str, settings: Settings) -> RemoteSpec:
    """How run control reaches ``host``: the config's hosts: entry, remote_command, ssh_args."""
    return spec_for(
        host, settings.hosts, remote_command=settings.remote_command, ssh_args=settings.ssh_args
    )


def resolve_action(
    key: str, settings: Settings, reg: Registry, roots: Sequence[str] | None = None
) -> Resolved | RemoteRun:
    """What stop, kill and restart act on: ``HOST:RUN`` (scp's form; a path with a colon that
    exists here stays local) is that host's RUN, looked up by the happo-top there under the
    host's roots (``--root HOST:DIR``, else its ``hosts:`` entry, else its own config). Any
    other RUN is looked up here first (:func:`resolve_target`; a pid is always this host's), then
    below the ``host:path`` roots (``--root``, else the config's), each host asked once."""
    host, rest = split_root(key)
    if host is not None:
        if not rest:
            raise UsageError(f"{key}: give a run after the host ({host}:RUN)")
        spec = remote_spec(host, settings)
        given = [p for h, p in map(split_root, roots or ()) if h == host and p]
        return RemoteRun(spec, rest, tuple(given or spec.roots))
    try:
        return resolve_target(key, settings, reg, roots)
    except RunNotFound as e:
        where = search_roots([key], settings, roots or (), roots_replace_defaults=True)
        far = [r for r in where if split_root(r)[0] is not None]
        if not far:
            raise
        snap = collect(far, settings, reg)
        try:
            (run,) = match_runs(snap, [key], single=True)
        except RunNotFound as far_e:
            down = "".join(f"; {h.line()}" for h in snap.hosts if h.line())
            raise RunNotFound(f"{e}; not on the hosts either ({far_e}{down})") from None
        assert run.host is not None
        return RemoteRun(remote_spec(run.host, settings), run.path, (), run)


def _is_pid(key: str, snap: Snapshot) -> bool:
    """A number that is neither a run's id nor a directory is a pid."""
    return (
        key.isdigit() and all(r.id != key for r in snap.runs) and not os.path.isdir(root_path(key))
    )


# -- output and exit status ----------------------------------------------------------------------


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def write_json(doc: Any, *, allow_nan: bool = False) -> None:
    """One JSON document on stdout (NaN is not JSON: it is written as null at any depth; values
    nested too deeply or too large are bounded: :func:`collectors.model.run.json_safe`).

    Indented for a person at a terminal; compact otherwise, through ``json.dumps`` without
    ``indent``: the only form that takes the C encoder (``json.dump`` and ``indent`` both fall
    back to the pure-Python one, 4x slower on 300 runs)."""
    pretty = _isatty(sys.stdout)
    text = json.dumps(json_safe(doc), indent=1 if pretty else None, allow_nan=allow_nan)
    sys.stdout.write(text)
    sys.stdout.write("\n")
    sys.stdout.flush()


def fail(prog: str, message: object) -> None:
    """The one line (or lines) a failed command writes on stderr: ``prog: message``."""
    print(f"{prog}: {message}", file=sys.stderr)


def run_command(
    prog: str,
    fn: Callable[..., int],
    *args: Any,
    run_not_found: int = exit_codes.USAGE,
) -> int:
    """``fn(*args)``'s exit status, with every expected failure turned into its named status
    and a ``prog: message`` line on stderr: a usage or config error, a RUN that matches nothing
    (``run_not_found``: USAGE in every command, see exit_codes), a refused or failed action,
    and a reader that went away (``| head``: not an error)."""
    try:
        return int(fn(*args))
    except (UsageError, ConfigError) as e:
        fail(prog, e)
        return exit_codes.USAGE
    except RunNotFound as e:
        fail(prog, e)
        return run_not_found
    except ActionError as e:
        fail(prog, e)
        return exit_codes.ACTION_FAILED
    except BrokenPipeError:
        return reader_gone()
    except Exception as e:  # happo-top itself failed: never the status of a finding (1)
        # Deferred for start-up time: traceback only for a bug.
        import traceback

        traceback.print_exc(file=sys.stderr)
        fail(prog, f"internal error (a bug in happo-top): {type(e).__name__}: {e}")
        return exit_codes.INTERNAL_ERROR


__all__ = [
    "OVERRIDES",
    "RemoteRun",
    "Resolved",
    "RunNotFound",
    "UsageError",
    "check_roots",
    "collect",
    "fail",
    "is_run_dir",
    "load_settings",
    "match_runs",
    "registry",
    "remote_spec",
    "resolve_action",
    "resolve_runs",
    "resolve_target",
    "root_path",
    "run_command",
    "search_roots",
    "under",
    "write_json",
]
