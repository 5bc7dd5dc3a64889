"""The ``happo-top`` command line.

Headless commands (``--once``, ``--json``, ``simulate``, ``check``, ``report``, ``diff``, run control)
run from ``collectors`` alone and never import Textual: their start-up time is part of what users
feel. Sub-commands are imported only when used.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from tui.cli import exit_codes, options

if TYPE_CHECKING:  # the engine is imported only when a command runs (see _main)
    from collectors.model import Settings

# sub-command -> (module, function). Each takes argv (after the sub-command) and returns the exit
# status.
SUBCOMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("tui.cli.demo", "main", "start simulated runs and watch them"),
    "simulate": (
        "collectors.simulator.trainer",
        "main",
        "run a simulated HARL trainer (for tests and demos)",
    ),
    "check": ("tui.cli.analysis", "check_main", "exit 1 when a run is unhealthy (cron, CI)"),
    "report": ("tui.cli.analysis", "report_main", "write a Markdown analysis of runs"),
    "diff": (
        "tui.cli.analysis",
        "diff_main",
        "show the config keys that differ between runs",
    ),
    "launch": ("tui.cli.control", "launch_main", "start a training run detached"),
    "stop": (
        "tui.cli.control",
        "stop_main",
        "stop a run gracefully (SIGINT, SIGTERM, SIGKILL)",
    ),
    "kill": ("tui.cli.control", "kill_main", "SIGKILL a run's process group"),
    "interrupt": (
        "tui.cli.control",
        "interrupt_main",
        "send a run one SIGINT (Ctrl-C) and nothing after it",
    ),
    "restart": ("tui.cli.control", "restart_main", "stop a run and start it again"),
    "config": (
        "tui.cli.config_cmd",
        "main",
        "write a commented config (--init) or show the settings in force (--print)",
    ),
    "tensorboard": (
        "tui.cli.tensorboard",
        "main",
        "start TensorBoard on runs, list the running ones, stop those happo-top started",
    ),
    "export": (
        "tui.cli.export",
        "main",
        "serve the runs, GPUs and disks as Prometheus metrics (--prometheus)",
    ),
    "completion": ("tui.cli.completion", "main", "print a bash, zsh or fish completion script"),
    "man": ("tui.cli.manpage", "main", "print the man page (roff), generated from the parsers"),
    "schema": ("tui.cli.schema", "main", "print the JSON Schema of the --json document"),
    "serve": (
        "tui.cli.serve",
        "main",
        "stream snapshots as NDJSON (the remote side of several hosts, over ssh)",
    ),
}


def version() -> str:
    # Deferred for start-up time: importlib.metadata (~20 ms) only when -V asks for it.
    import importlib.metadata

    try:
        return importlib.metadata.version("happo-top")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree, not installed
        return "unknown"


class _VersionAction(argparse.Action):
    """``-V``: the version, looked up only when asked for (argparse's ``version`` action needs
    the string when the parser is built, i.e. at every start)."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings,
            dest,
            nargs=0,
            default=argparse.SUPPRESS,
            help="show the version and exit",
        )

    def __call__(self, parser: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        sys.stdout.write(f"happo-top {version()}\n")
        parser.exit()


class _Formatter(argparse.RawDescriptionHelpFormatter):
    """The epilog as written (the sub-command and exit status lists), options wrapped.

    The width is argparse's own (the terminal's columns less 2), found as
    ``shutil.get_terminal_size`` finds it but without importing shutil (~2 ms with the
    compression modules it loads): argparse makes a formatter for every ``add_argument``, so
    every start would pay for it."""

    def __init__(
        self,
        prog: str,
        indent_increment: int = 2,
        max_help_position: int = 24,
        width: int | None = None,
    ) -> None:
        if width is None:
            width = terminal_columns() - 2
        super().__init__(prog, indent_increment, max_help_position, width)


def terminal_columns(fallback: int = 80) -> int:
    """``shutil.get_terminal_size().columns``: $COLUMNS, else the terminal of stdout, else
    ``fallback``."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns if columns > 0 else fallback


def usage() -> str:
    return (
        "happo-top [-h] [-V] [--once] [--json] [--format {text,json,prometheus}] [--plain] "
        "[OPTIONS] [ROOT ...]\n       happo-top {" + ",".join(SUBCOMMANDS) + "} ..."
    )


def epilog() -> str:
    """The sub-commands and the exit statuses, under the options of ``--help``."""
    return (
        "sub-commands (run 'happo-top SUBCOMMAND --help' for each):\n"
        + "".join(f"  {k:<18}{v[2]}\n" for k, v in SUBCOMMANDS.items())
        + "\n"
        + exit_codes.epilog()
    )


class _Parser(argparse.ArgumentParser):
    """The top-level parser, whose epilog is written only when help is shown: wrapping the exit
    statuses imports textwrap (~1 ms at every start otherwise)."""

    def format_help(self) -> str:
        if self.epilog is None:
            self.epilog = epilog()
        return super().format_help()


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="happo-top",
        usage=usage(),
        description="Monitor HAPPO/HARL training runs: progress, ETA, rewards, checkpoints, health.",
        formatter_class=_Formatter,
    )
    p.add_argument("-V", "--version", action=_VersionAction)
    options.add_roots(p)
    p.add_argument("--once", action="store_true", help="print one plain-text snapshot and exit")
    options.add_json(p, help="with --once: one JSON document (implies --once)")
    p.add_argument(
        "--format",
        choices=FORMATS,
        help="with --once: text (the default), json (as --json) or prometheus (the text "
        "format for node_exporter's textfile collector; implies --once)",
    )
    options.add_config(p)
    p.add_argument(
        "--refresh",
        type=options.positive(),
        metavar="SECONDS",
        help="seconds between refreshes (default: 2, or the config's refresh)",
    )
    options.add_stall_timeout(p)
    p.add_argument(
        "--verify-crc",
        action="store_true",
        default=None,
        help="check the CRC of every event record",
    )
    options.add_read_only(p)
    p.add_argument(
        "--width",
        type=options.positive(int),
        help="text width for --once (default: the terminal's)",
    )
    p.add_argument(
        "--plain",
        action="store_true",
        help="a refreshing plain-text view instead of the full-screen monitor",
    )
    return p


FORMATS = ("text", "json", "prometheus")


def _tolerant_streams() -> None:
    """A path that is not UTF-8 (a directory name, surrogate-escaped by Python) or a stray
    character must never make printing fail: such characters are written as backslash escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(ValueError, OSError):  # a closed or detached stream
                reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    _tolerant_streams()
    one_blas_thread()
    try:
        return _main(argv)
    except BrokenPipeError:  # the reader went away (happo-top simulate | head): not an error
        return options.reader_gone()


# numpy's OpenBLAS starts one thread per core when it loads (~100 ms of CPU per start on two
# cores) for matrix products happo-top never computes. Its thread count is read from these once,
# when numpy is imported.
BLAS_THREADS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


@contextlib.contextmanager
def single_thread_blas() -> Iterator[None]:
    """Import numpy inside this: BLAS gets one thread unless the user set a count. The variables
    are removed again afterwards, so that processes happo-top starts (a training run,
    TensorBoard) get the environment the user gave, not ours."""
    added = [k for k in BLAS_THREADS if k not in os.environ]
    for k in added:
        os.environ[k] = "1"
    try:
        yield
    finally:
        for k in added:
            os.environ.pop(k, None)


class _BlasLoader:
    """numpy's own loader, executing the package inside :func:`single_thread_blas`."""

    def __init__(self, loader: Any, hook: _OneBlasThread) -> None:
        self.loader = loader
        self.hook = hook

    def __getattr__(self, name: str) -> Any:  # resource readers, get_code, ...
        return getattr(self.loader, name)

    def create_module(self, spec: Any) -> Any:
        return self.loader.create_module(spec)

    def exec_module(self, module: Any) -> None:
        with single_thread_blas():
            self.loader.exec_module(module)
        module.__loader__ = module.__spec__.loader = self.loader  # no trace of this wrapper
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self.hook)  # numpy is loaded: nothing left to do


class _OneBlasThread:
    """A meta path finder for one name, ``numpy``: whenever and wherever its first import happens
    (the engine's when the first run is found, Textual's widgets, a sub-command's), it runs
    inside :func:`single_thread_blas`. An empty root's snapshot never imports numpy at all,
    hence a hook rather than a wrapper around one import."""

    def __init__(self) -> None:
        self._finding = False

    def find_spec(self, name: str, path: Any = None, target: Any = None) -> Any:
        if name != "numpy" or self._finding:
            return None
        # Deferred for start-up time: only once numpy is looked for.
        import importlib.util

        self._finding = True  # the finders below this one find the real numpy
        try:
            spec = importlib.util.find_spec(name)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            spec.loader = _BlasLoader(spec.loader, self)
        return spec


def one_blas_thread() -> None:
    """Install :class:`_OneBlasThread` (once, and only while numpy is still to be imported)."""
    if "numpy" not in sys.modules and not any(isinstance(f, _OneBlasThread) for f in sys.meta_path):
        sys.meta_path.insert(0, _OneBlasThread())


def _main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in SUBCOMMANDS:
        module, func, _ = SUBCOMMANDS[argv[0]]
        try:
            # Deferred for start-up time: a sub-command's module only when it is used.
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name != module:
                raise
            print(f"happo-top {argv[0]}: not available in this version", file=sys.stderr)
            return exit_codes.USAGE
        return int(getattr(mod, func)(argv[1:]) or exit_codes.OK)

    typo = _unknown_command(argv)
    if typo is not None:
        print(f"happo-top: {typo}", file=sys.stderr)
        return exit_codes.USAGE
    args = build_parser().parse_args(argv)
    if args.format == "json":
        args.json = True
    # Deferred for start-up time: the engine only once the monitor or one of its headless forms
    # runs, never for --help or a sub-command (numpy: once a run is found, see one_blas_thread).
    from tui.cli import common, watch

    def monitor(args: argparse.Namespace) -> int:
        common.check_roots(args.roots)
        if args.format == "prometheus":
            # Deferred for start-up time: prometheus_client only for this output.
            from tui.cli import export

            return export.print_once(args)
        return watch.main(args, run_monitor)

    return common.run_command("happo-top", monitor, args)


def _unknown_command(argv: Sequence[str]) -> str | None:
    """The message for a first word that is neither a sub-command nor an existing path but
    close to a sub-command (``happo-top chekc``); None otherwise (a root that does not exist is
    reported as such later)."""
    if not argv or argv[0].startswith("-") or os.path.exists(os.path.expanduser(argv[0])):
        return None
    # Deferred for start-up time: difflib only for a first word that may be a typo.
    import difflib

    close = difflib.get_close_matches(argv[0], list(SUBCOMMANDS), n=1)
    if not close:
        return None
    return (
        f"'{argv[0]}' is neither a command nor a directory; did you mean '{close[0]}'? "
        f"(commands: {', '.join(SUBCOMMANDS)})"
    )


def run_monitor(roots: Sequence[str], settings: Settings) -> int:
    """The full-screen Textual monitor."""
    # Deferred for start-up time: the engine's run readers (before Textual, see its docstring)
    # and Textual are imported here, and only here.
    from collectors.monitor import Monitor, fork_first_collect, import_run_readers

    # The first poll, in a child process beside Textual's import and the first paint (forked
    # before any thread starts and before the run readers are imported: the child imports them
    # itself); the monitor takes its snapshot, then its readers' state.
    first = fork_first_collect(list(roots), settings)
    if first is None:
        import_run_readers()
    monitor = Monitor(list(roots), settings, first=first)
    # Deferred for start-up time: Textual only for the monitor.
    from tui.app.app import run_app

    return run_app(list(roots), settings, sources=monitor)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
