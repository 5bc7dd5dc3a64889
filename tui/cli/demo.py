"""``happo-top demo``: simulated training runs, watched by the monitor, in one command.

Writes one finished "basic" run (as if it had trained for five hours) and starts three live
simulated trainers (a "safe" run, a second "basic" seed, and one that crashes part-way) in a
temporary results directory, then opens the monitor on them. The config has a launch preset that
starts one more simulated run (``l`` in the monitor). The simulated trainers, and any run launched
from the demo, are stopped (SIGINT, as a user would) when the demo quits; the directory is removed
unless ``--keep``.

``--hosts`` shows several hosts without a second machine: the simulated runs are started under
two roots, watched as two "hosts" (``demo-gpu1``, ``demo-gpu2``) whose streams come from a
``happo-top serve --stream`` on this machine, reached through a stand-in for ssh
(``$HAPPO_TOP_SSH``, :mod:`collectors.sources.remote`) that runs the remote command here; a third
host, ``demo-gpu3``, refuses the connection, as a host that is down does. Stop, kill and restart
on those runs go through the same stand-in to the happo-top "there", as they would over ssh.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import collectors
from collectors.control import LaunchSpec, Registry, launch
from collectors.model import Settings
from collectors.simulator.trainer import command, write_instant_run
from collectors.sources.remote import SSH_ENV
from tui.cli import common, exit_codes
from tui.cli.options import positive
from tui.cli.watch import NO_TERMINAL, has_terminal, print_once, watch_text


def start_demo_runs(
    root: str,
    base: str,
    duration: float,
    registry: Registry,
    quiet: bool = False,
    specs: list[dict] | None = None,
    launched: list | None = None,
    stop: threading.Event | None = None,
) -> list:
    """The finished basic run, then three live simulated trainers (or ``specs``) started as
    ``l`` would start them (collectors.control.launch: own session, a log file, a launch
    record), so that the monitor knows their command (restart works) and their log (the Log
    tab). Each trainer goes into ``launched`` as soon as it is started (the demo starts them
    behind the monitor's first frame, in a thread); ``stop`` set: no more are started."""
    launched = [] if launched is None else launched
    stop = stop or threading.Event()
    now = time.time()
    write_instant_run(
        root, exp_name="cuboid", preset="basic", seed=1, start_time=now - 6 * 3600, finished=True
    )
    if specs is None:
        specs = [
            dict(exp_name="cuboid", preset="safe", seed=1, duration=duration * 1.5),
            dict(exp_name="cuboid", preset="basic", seed=2, duration=duration),
            dict(exp_name="cuboid", preset="basic", seed=3, duration=duration, crash_at=0.35),
        ]
    for spec in specs:
        if stop.is_set():
            break
        name = f"{os.path.basename(os.path.dirname(root))}-{spec['preset']}-seed{spec['seed']}"
        launched.append(
            launch(
                LaunchSpec(
                    argv=tuple(command(root, flush_secs=2.0, **spec)),
                    cwd=base,
                    overrides={"PYTHONPATH": _package_root()},
                    name=name,
                    log=os.path.join(base, "logs", f"{name}.log"),
                    source="demo",
                ),
                registry,
            )
        )
        stop.wait(1.05)  # distinct run directory timestamps
    if not quiet:
        for lr in launched:
            print(f"started simulated trainer pid {lr.pid}, log {lr.log}")
    return launched


def demo_presets(root: str, base: str, duration: float) -> dict:
    """A launch preset that starts one more simulated run in the demo's results directory."""
    argv = [sys.executable, "-u", "-m", "collectors.simulator", "--root", root]
    argv += ["--config-preset", "safe", "--seed", "7", "--duration", f"{duration:g}"]
    argv += ["--flush-secs", "2", "--layout", "B", "--checkpoint-every", "10000000"]
    return {
        "simulated-safe": {
            "argv": argv,
            "cwd": base,
            "env": {"PYTHONPATH": _package_root()},
            "log": "launched-safe.log",
        }
    }


# The stand-in for ssh of ``demo --hosts``: the host is the argument before the last (as
# RemoteSpec.command writes it), the remote command the last; demo-gpu3 is a host that is down.
STAND_IN_SSH = """#!/bin/sh
# happo-top demo --hosts: a stand-in for ssh. It contacts nothing: it runs the remote command
# on this machine (demo-gpu1, demo-gpu2) or fails as ssh does for a host that is down.
for a; do host="$last"; last="$a"; done
case "$host" in
  demo-gpu1|demo-gpu2) exec /bin/sh -c "$last" ;;
  *) echo "ssh: connect to host $host port 22: Connection refused" >&2; exit 255 ;;
esac
"""

DOWN_HOST = "demo-gpu3"


def start_demo_hosts(base: str, duration: float, registry: Registry, quiet: bool) -> tuple:
    """``--hosts``: runs under two roots (two "hosts"), the stand-in ssh in ``$HAPPO_TOP_SSH``
    (this process and its children only), and the remote command: this happo-top, with the
    demo's state and no user config file. Returns (roots, remote_command, launched)."""
    ssh = os.path.join(base, "bin", "ssh-stand-in")
    os.makedirs(os.path.dirname(ssh), exist_ok=True)
    with open(ssh, "w") as f:
        f.write(STAND_IN_SSH)
    os.chmod(ssh, 0o755)
    os.environ[SSH_ENV] = ssh
    env = {
        "PYTHONPATH": _package_root(),
        "XDG_STATE_HOME": os.environ["XDG_STATE_HOME"],
        "XDG_CONFIG_HOME": os.path.join(base, "config"),
    }
    remote = "env " + " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
    remote += f" {shlex.quote(sys.executable)} -m tui.cli"
    roots, launched = [], []
    layouts = {
        "demo-gpu1": [
            dict(exp_name="cuboid", preset="safe", seed=1, duration=duration * 1.5),
            dict(exp_name="cuboid", preset="basic", seed=2, duration=duration),
        ],
        "demo-gpu2": [
            dict(exp_name="push", preset="basic", seed=3, duration=duration * 1.2),
            dict(exp_name="push", preset="basic", seed=4, duration=duration, crash_at=0.35),
        ],
    }
    for host, specs in layouts.items():
        root = os.path.join(base, host, "results")
        os.makedirs(root, exist_ok=True)
        launched += start_demo_runs(root, base, duration, registry, quiet, specs)
        roots.append(f"{host}:{root}")
    roots.append(f"{DOWN_HOST}:~/results")
    return roots, remote, launched


def _package_root() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(collectors.__file__)))


def stop_launched(launched: list, grace: float = 5.0) -> None:
    """SIGINT the demo's runs and those launched from it (their own sessions, started by this
    process: positively ours), SIGKILL what stays."""
    popens = [lr.popen for lr in launched if getattr(lr, "popen", None) is not None]
    for p in popens:
        if p.poll() is None:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGINT)
    deadline = time.time() + grace
    for p in popens:
        try:
            p.wait(max(deadline - time.time(), 0.1))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(OSError):
                os.killpg(p.pid, signal.SIGKILL)


LEAVE_SIGNALS = (signal.SIGHUP, signal.SIGTERM)


class _Leaving:
    """The demo's cleanup, run once: from the ``finally`` of a normal exit, or, on SIGHUP or
    SIGTERM, from a thread of its own that does not wait for the monitor to shut down.

    A closed terminal raises the signal's SystemExit wherever the main thread is, possibly
    inside Textual, whose shutdown may then never finish (it writes to a terminal that is
    gone, or waits for a task the stopped loop never runs): the trainers would outlive the
    demo. So the signal starts the cleanup at once in a thread, and ends the process itself
    (``os._exit``) if the main thread has not ended ``LINGER`` seconds after it. A second
    signal (tmux sends SIGHUP to the pane and the kernel sends one more when the pty closes)
    is ignored rather than interrupting the cleanup half-way."""

    LINGER = 10.0

    def __init__(self, cleanup) -> None:
        self._cleanup = cleanup
        self._lock = threading.Lock()
        self._done = False

    def run(self) -> None:
        with self._lock:
            if self._done:
                return
            self._done = True
            self._cleanup()

    def on_signal(self, signum: int, frame: object) -> None:
        for sig in LEAVE_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
        code = exit_codes.by_signal(signum)

        def finish() -> None:
            self.run()
            time.sleep(self.LINGER)  # the main thread's own exit (the terminal restored) first
            os._exit(code)

        threading.Thread(target=finish, name="demo-leaving", daemon=True).start()
        raise SystemExit(code)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="happo-top demo", description=__doc__.splitlines()[0].replace("``", "")
    )
    ap.add_argument(
        "--dir", help="where to put the simulated runs (default: a new temporary directory)"
    )
    ap.add_argument(
        "--duration",
        type=positive(),
        default=600.0,
        help="seconds a simulated 100M-step run takes (default 600)",
    )
    ap.add_argument(
        "--keep", action="store_true", help="keep the simulated runs when the demo quits"
    )
    ap.add_argument(
        "--once",
        action="store_true",
        help="print one snapshot after a few seconds and quit (for scripts)",
    )
    ap.add_argument(
        "--plain", action="store_true", help="a plain-text view instead of the full-screen monitor"
    )
    ap.add_argument("--read-only", action="store_true", help="disable every action on runs")
    ap.add_argument(
        "--hosts",
        action="store_true",
        help="several hosts without a second machine: two simulated hosts served by "
        "'happo-top serve --stream' here through a stand-in for ssh, and one that is down",
    )
    args = ap.parse_args(argv)

    if not (args.once or args.plain or has_terminal()):
        common.fail("happo-top demo", NO_TERMINAL)
        return exit_codes.USAGE
    base = args.dir or tempfile.mkdtemp(prefix="happo-top-demo-")
    root = os.path.join(base, "results")
    os.makedirs(root, exist_ok=True)
    # Simulated trainers flush every 2 s and log every few seconds: scale the stall rules to them.
    settings = Settings(
        refresh=1.0,
        stall_timeout=10.0,
        flush_secs=2.0,
        read_only=args.read_only,
        presets=demo_presets(root, base, args.duration),
    )
    # The demo's launch records live (and go) with its directory, not in the user's registry.
    os.environ["XDG_STATE_HOME"] = os.path.join(base, "state")
    registry = common.registry()
    roots = [root]
    procs: list = []
    stopping = threading.Event()
    starter: threading.Thread | None = None
    actions = None

    def cleanup() -> None:
        stopping.set()
        if starter is not None and starter.is_alive():  # a trainer it is starting: in procs
            starter.join(30)
        stop_launched(procs + (actions.launched if actions is not None else []))
        if args.keep or args.dir:
            with contextlib.suppress(OSError):  # the terminal may be gone
                print(
                    f"simulated runs kept in {os.path.dirname(root) if args.hosts else root}",
                    file=sys.stderr,
                )
        else:
            shutil.rmtree(base, ignore_errors=True)

    leaving = _Leaving(cleanup)
    # A closed terminal (SIGHUP: the SSH connection dropped, the tmux pane killed) or SIGTERM
    # ends the demo like q does: its trainers stopped, its directory removed.
    for sig in LEAVE_SIGNALS:
        signal.signal(sig, leaving.on_signal)
    if args.hosts:
        roots, remote, procs = start_demo_hosts(base, args.duration, registry, not args.once)
        settings = Settings(
            refresh=1.0,
            stall_timeout=10.0,
            flush_secs=2.0,
            read_only=args.read_only,
            remote_command=remote,
        )
    elif args.once or args.plain:
        procs = start_demo_runs(root, base, args.duration, registry, quiet=not args.once)
    else:
        # The monitor's first frame at once: the trainers start behind it (about 3.5 s of
        # writing the finished run and spacing the run directories' timestamps), and appear
        # on the screen as they start.
        starter = threading.Thread(
            target=start_demo_runs,
            args=(root, base, args.duration, registry),
            kwargs={"quiet": True, "launched": procs, "stop": stopping},
            name="demo-trainers",
            daemon=True,
        )
    try:
        if args.once:
            time.sleep(4)
            return print_once(roots, settings, registry)
        if args.plain:
            return watch_text(roots, settings, registry)
        # Deferred for start-up time: Textual only when the monitor starts.
        from tui.app.actions import Actions
        from tui.app.app import run_app

        actions = None if settings.read_only else Actions(settings)
        # the trainers start once the first frame is on the screen (their writing competes for
        # the CPU); a monitor that fails before it starts none
        return run_app(
            roots,
            settings,
            actions=actions,
            after_first_frame=starter.start if starter is not None else None,
        )
    finally:
        leaving.run()
