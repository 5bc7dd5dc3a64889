"""Other hosts over the system's ssh: one ``ssh HOST happo-top serve --stream ROOTS`` per host.

Nothing but OpenSSH and a happo-top on each host: the user's own ``~/.ssh/config`` (keys,
agent, ProxyJump, ControlMaster) applies, no port is opened, no daemon runs. Each host has one
ssh process and a reader thread that decodes its NDJSON stream
(:mod:`collectors.model.stream`); :meth:`RemoteHost.latest` returns the newest snapshot and the
host's state without ever blocking, so a host that is slow, down, refuses, or has no happo-top
(shown as such: ``gpu03: unreachable since 14:02: Connection refused``) never holds the others
up. A lost stream is started again with backoff (1 s doubling to a minute); a remote happo-top of
another schema is named with both versions and retried rarely.

A root names a host the way scp does: ``gpu01:~/MAPush/results``, ``me@gpu02:/data/runs``
(:func:`split_root`); a local path with a colon that exists stays local.

Actions on a run there (stop, kill, restart) are ``ssh HOST happo-top stop RUN --yes``
(:func:`run_action`): the happo-top there makes every safety check itself (positive
identification, the pid and start time re-checked, the owner); nothing here signals anything.

The ssh program is ``ssh`` from ``PATH``, or ``$HAPPO_TOP_SSH`` where set (:data:`SSH_ENV`): a
program taking ssh's arguments (``happo-top demo --hosts`` sets it to a stand-in that runs the
remote command on this machine, so several "hosts" can be shown without a second machine).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import IO, TYPE_CHECKING, Any

from collectors.model.run import Snapshot

if TYPE_CHECKING:
    import subprocess

    from collectors.model.host import HostStatus
    from collectors.model.stream import Header

# ssh options that make a network safe to use from a monitor: never a prompt (BatchMode), a
# dead peer noticed within ~3 keepalives, a host that does not answer given up after a while.
CONNECT_TIMEOUT = 10
ALIVE_INTERVAL = 15
ALIVE_COUNT = 3
BACKOFF_FIRST = 1.0
BACKOFF_MAX = 60.0
INCOMPATIBLE_RETRY = 300.0
ACTION_TIMEOUT = 120.0  # a remote stop waits for its grace periods there: generous
SSH_ENV = "HAPPO_TOP_SSH"  # the ssh program, where not "ssh" (see the module docstring)


def ssh_program() -> str:
    return os.environ.get(SSH_ENV) or "ssh"


# [user@]host:path — host has no '/', and is not a single letter (a Windows drive).
_REMOTE = re.compile(r"^(?P<host>(?:[^@/:\s]+@)?(?:\[[^\]/]+\]|[^@/:\s]{2,})):(?P<path>.*)$")


def split_root(root: str) -> tuple[str | None, str]:
    """``"gpu01:~/r"`` -> ("gpu01", "~/r"); ``"./results"`` -> (None, "./results"). A root
    with a colon that exists here stays local, as scp and rsync read it."""
    m = _REMOTE.match(root)
    if m is None or os.path.exists(root):
        return None, root
    host = m.group("host")
    if host.startswith("-"):
        return None, root
    return host, m.group("path")


def host_roots(roots: Iterable[str]) -> tuple[list[str], dict[str, list[str]]]:
    """The local roots and, per host (in order of appearance), that host's roots."""
    local: list[str] = []
    remote: dict[str, list[str]] = {}
    for r in roots:
        host, path = split_root(r)
        if host is None:
            local.append(r)
        else:
            remote.setdefault(host, []).append(path)
    return local, remote


@dataclass(frozen=True, slots=True)
class RemoteSpec:
    """How to reach one host: the ssh name, its roots there, how happo-top starts there, and
    extra ssh arguments (``-F file``, ``-J jump``; the user's ~/.ssh/config applies anyway)."""

    host: str
    roots: tuple[str, ...]
    remote_command: str = "happo-top"
    ssh_args: tuple[str, ...] = ()
    refresh: float = 2.0
    connect_timeout: int = CONNECT_TIMEOUT
    ssh: str = field(default_factory=ssh_program)

    def argv(self) -> list[str]:
        """The ssh command line of the stream: ``happo-top serve --stream`` there, on the
        roots (``~`` is expanded by serve itself; "host:" alone: that happo-top's own roots)."""
        args = ["serve", "--stream", "--refresh", f"{self.refresh:g}", "--"]
        return self.command([*args, *(r for r in self.roots if r)])

    def command(self, args: Sequence[str]) -> list[str]:
        """The ssh command line that runs the happo-top there with ``args`` (``["stop", RUN]``:
        that happo-top makes every safety check itself). The remote command is one string for
        the remote shell: the configured command as written (it may be ``conda run -n tools
        happo-top``), then each argument quoted."""
        remote = " ".join([self.remote_command, *(shlex.quote(a) for a in args)])
        return [
            self.ssh,
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={self.connect_timeout}",
            "-o",
            f"ServerAliveInterval={ALIVE_INTERVAL}",
            "-o",
            f"ServerAliveCountMax={ALIVE_COUNT}",
            "-T",
            *self.ssh_args,
            self.host,
            remote,
        ]


def specs(
    roots: Iterable[str],
    hosts: Mapping[str, Mapping[str, Any]],
    *,
    remote_command: str = "happo-top",
    ssh_args: Sequence[str] = (),
    refresh: float = 2.0,
) -> list[RemoteSpec]:
    """One spec per host named in ``roots`` (``host:path``), with what the config's ``hosts:``
    says of it (its remote_command and ssh_args)."""
    _, by_host = host_roots(roots)
    out = []
    for host, paths in by_host.items():
        entry = hosts.get(host) or {}
        out.append(
            RemoteSpec(
                host=host,
                roots=tuple(paths),
                remote_command=str(entry.get("remote_command") or remote_command),
                ssh_args=(*ssh_args, *(entry.get("ssh_args") or ())),
                refresh=refresh,
            )
        )
    return out


def spec_for(
    host: str,
    hosts: Mapping[str, Mapping[str, Any]],
    *,
    remote_command: str = "happo-top",
    ssh_args: Sequence[str] = (),
) -> RemoteSpec:
    """How to reach ``host`` for an action: the config's ``hosts:`` entry for it (its roots,
    remote_command, ssh_args), else the top-level remote_command and ssh_args."""
    entry = hosts.get(host) or {}
    return RemoteSpec(
        host=host,
        roots=tuple(str(r) for r in entry.get("roots") or ()),
        remote_command=str(entry.get("remote_command") or remote_command),
        ssh_args=(*ssh_args, *(entry.get("ssh_args") or ())),
    )


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What ``ssh HOST happo-top ACTION ...`` did: its exit status (the remote happo-top's, or
    255 when ssh itself failed), its output, and the JSON document it printed (``--json``)."""

    host: str
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str
    doc: Any = None

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def message(self) -> str:
        """One line: what the happo-top there said, or why ssh could not reach it."""
        err = [x for x in self.stderr.splitlines() if x.strip() and not x.startswith("Warning:")]
        out = [x for x in self.stdout.splitlines() if x.strip()]
        if self.returncode == 255 and err:
            return f"{self.host}: ssh failed: {_why(255, deque(err), False, _NO_SPEC)}"
        if self.returncode == 127:
            return f"{self.host}: no happo-top there ({err[-1] if err else 'command not found'})"
        if isinstance(self.doc, dict) and self.doc.get("message"):
            return f"{self.host}: {self.doc['message']}"
        lines = err if self.returncode != 0 and err else out or err
        return f"{self.host}: " + (lines[-1] if lines else f"exited with {self.returncode}")


def run_action(
    spec: RemoteSpec,
    args: Sequence[str],
    *,
    timeout: float = ACTION_TIMEOUT,
    parse_json: bool = False,
) -> ActionResult:
    """Run ``happo-top ARGS`` on the host (``["stop", RUN, "--yes"]``) and wait for it. No
    stdin (BatchMode: never a prompt); a host that does not answer in ``timeout`` seconds is a
    failure (exit 255), with ssh ended. ``parse_json``: the output is parsed as a JSON document."""
    # Deferred for start-up time: subprocess and threading only for a host:path root (every
    # start imports this module for its root syntax).
    import subprocess

    argv = spec.command(args)
    try:
        proc = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            start_new_session=True,
        )
    except subprocess.TimeoutExpired:
        return ActionResult(spec.host, tuple(argv), 255, "", f"no answer in {timeout:g} s")
    except OSError as e:
        return ActionResult(spec.host, tuple(argv), 255, "", f"cannot start ssh: {e}")
    doc = None
    if parse_json and proc.stdout.strip():
        with contextlib.suppress(ValueError):
            doc = json.loads(proc.stdout)
    return ActionResult(spec.host, tuple(argv), proc.returncode, proc.stdout, proc.stderr, doc)


def config_roots(hosts: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The ``host:root`` of every root of the config's ``hosts:`` (a host without roots is
    ``host:``: the roots of the happo-top there, from its own config)."""
    out = []
    for host, entry in hosts.items():
        roots = list((entry or {}).get("roots") or ())
        out += [f"{host}:{r}" for r in roots] if roots else [f"{host}:"]
    return out


class RemoteHost:
    """One host's stream, kept alive in a thread. ``latest()`` never blocks."""

    def __init__(self, spec: RemoteSpec, clock: Callable[[], float] = time.time) -> None:
        # Deferred for start-up time: subprocess and threading only for a host:path root (every
        # start imports this module for its root syntax).
        import threading

        # deferred for start-up time, as threading: the host values only for a host:path root
        from collectors.model.host import CONNECTING, HostStatus

        self.spec = spec
        self.clock = clock
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._proc: subprocess.Popen[bytes] | None = None
        self._snap: Snapshot | None = None
        self._header: Header | None = None
        self._status = HostStatus(spec.host, CONNECTING, since=clock())
        self._attempts = 0  # finished connection attempts (for wait_first)
        self._thread = threading.Thread(
            target=self._supervise, name=f"remote-{spec.host}", daemon=True
        )
        self._thread.start()

    @property
    def name(self) -> str:
        return self.spec.host

    @property
    def pid(self) -> int | None:
        """The pid of the ssh process now running (None between attempts)."""
        p = self._proc
        return None if p is None or p.poll() is not None else p.pid

    def latest(self) -> tuple[HostStatus, Snapshot | None]:
        """The host's state and its newest snapshot (None: none yet, or from an earlier
        connection when the host is not up now)."""
        with self._lock:
            return self._status, self._snap

    def wait_first(self, timeout: float) -> bool:
        """Wait until a snapshot came or one attempt failed (``--once``); True if one came."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._snap is None and self._attempts == 0 and not self._stop.is_set():
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._changed.wait(left)
            return self._snap is not None

    def wait_for(self, pred: Callable[[HostStatus, Snapshot | None], bool], timeout: float) -> bool:
        """Wait until ``pred(status, snapshot)`` holds (tests, the demo)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not pred(self._status, self._snap):
                left = deadline - time.monotonic()
                if left <= 0 or self._stop.is_set():
                    return False
                self._changed.wait(left)
            return True

    def close(self) -> None:
        self._stop.set()
        self._end_proc()
        with self._changed:
            self._changed.notify_all()
        self._thread.join(timeout=5)

    # -- the thread ---------------------------------------------------------------------------

    def _set(self, **changes: Any) -> None:
        with self._changed:
            st = self._status
            if "state" in changes and changes["state"] != st.state:
                changes.setdefault("since", self.clock())
            self._status = replace(st, **changes)
            self._changed.notify_all()

    def _supervise(self) -> None:
        from collectors.model.host import INCOMPATIBLE  # deferred for start-up time: __init__

        backoff = BACKOFF_FIRST
        while not self._stop.is_set():
            ok, state, message = self._once()
            with self._changed:
                self._attempts += 1
            if self._stop.is_set():
                break
            if ok:
                backoff = BACKOFF_FIRST
            self._set(state=state, message=message)
            wait = INCOMPATIBLE_RETRY if state == INCOMPATIBLE else backoff
            backoff = min(backoff * 2, BACKOFF_MAX)
            self._stop.wait(wait)

    def _once(self) -> tuple[bool, str, str]:
        """One connection: start ssh, read its stream until it ends. Returns whether a stream
        was established, and the state and message to show after it."""
        import subprocess  # deferred for start-up time: see __init__
        import threading

        # deferred for start-up time, as subprocess: the stream only for a host:path root
        from collectors.model.host import INCOMPATIBLE, UNREACHABLE
        from collectors.model.stream import Header, StreamDecoder, StreamError

        stderr: deque[str] = deque(maxlen=20)
        try:
            proc = subprocess.Popen(
                self.spec.argv(),
                stdin=subprocess.PIPE,  # kept open: serve ends when it closes
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # a Ctrl-C in the terminal is ours to handle, not ssh's
            )
        except OSError as e:
            return False, UNREACHABLE, f"cannot start ssh: {e.strerror or e}"
        self._proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        err_thread = threading.Thread(
            target=_drain, args=(proc.stderr, stderr), name=f"remote-{self.name}-err", daemon=True
        )
        err_thread.start()
        decoder = StreamDecoder(self.name)
        established = False
        problem: tuple[str, str] | None = None
        try:
            for line in proc.stdout:
                if self._stop.is_set():
                    break
                try:
                    got = decoder.feed(line)
                except StreamError as e:
                    if decoder.header is None and "schema" in str(e):
                        problem = (INCOMPATIBLE, str(e))
                    elif decoder.header is None:
                        problem = (UNREACHABLE, f"no happo-top stream there ({e})")
                    else:
                        problem = (UNREACHABLE, str(e))
                    break
                if isinstance(got, Header):
                    established = True
                    self._set(version=got.version, schema=got.schema, roots=got.roots)
                    continue
                self._publish(got)
        except (OSError, ValueError):
            pass
        self._end_proc()
        err_thread.join(timeout=2)
        if problem is not None:
            return established, *problem
        return established, UNREACHABLE, _why(proc.returncode, stderr, established, self.spec)

    def _publish(self, snap: Snapshot) -> None:
        from collectors.model.host import UP  # deferred for start-up time: see __init__

        with self._changed:
            self._snap = snap
            st = self._status
            self._status = replace(
                st,
                state=UP,
                since=st.since if st.state == UP else self.clock(),
                message="",
                time=snap.time,
                gpus=snap.gpus,
                disks=snap.disks,
                errors=snap.errors,
                connects=st.connects + (st.state != UP),
            )
            self._changed.notify_all()

    def _end_proc(self) -> None:
        proc = self._proc
        if proc is None:
            return
        import subprocess  # deferred for start-up time: see __init__

        with contextlib.suppress(OSError, ValueError):
            if proc.stdin is not None:
                proc.stdin.close()  # serve there sees its stdin end
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.terminate()  # the ssh process this object started (its Popen)
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    proc.kill()
                proc.wait()
        with contextlib.suppress(OSError, ValueError):
            if proc.stdout is not None:
                proc.stdout.close()


def _drain(stream: IO[bytes], keep: deque[str]) -> None:
    with contextlib.suppress(OSError, ValueError):
        for line in stream:
            text = line.decode(errors="replace").strip()
            if text:
                keep.append(text)


def _why(rc: int | None, stderr: deque[str], established: bool, spec: RemoteSpec) -> str:
    """What ssh's end says, in a few words: its last error line, cleaned."""
    lines = [x for x in stderr if not x.startswith(("Warning: Permanently added", "debug"))]
    last = lines[-1] if lines else ""
    if rc == 127 or "command not found" in last or "No such file" in last:
        return f"no happo-top there ({spec.remote_command!r}: {last or 'command not found'})"
    if last:
        # "ssh: connect to host 127.0.0.1 port 2: Connection refused" -> "Connection refused"
        m = re.search(r"ssh: connect to host \S+ port \d+: (.*)$", last)
        last = m.group(1) if m else last
    if established:
        return f"connection lost ({last or f'ssh exited with {rc}'})"
    return last or f"ssh exited with {rc}"


_NO_SPEC = RemoteSpec("", ())

__all__ = [
    "ACTION_TIMEOUT",
    "SSH_ENV",
    "ActionResult",
    "RemoteHost",
    "RemoteSpec",
    "config_roots",
    "host_roots",
    "run_action",
    "spec_for",
    "specs",
    "split_root",
    "ssh_program",
]
