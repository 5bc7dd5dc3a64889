"""The user's ``on_event`` command, run once per event, never in the way of the poll.

:class:`HookRunner` takes events from the poll (:meth:`HookRunner.submit` never blocks: it puts
the event on a bounded queue) and runs the command for each from one background thread: the
event as one JSON document on stdin, and as ``HAPPO_TOP_*`` environment variables
(:meth:`collectors.model.events.Event.environment`), so that ``notify-send "$HAPPO_TOP_RUN"
"$HAPPO_TOP_MESSAGE"``, an ``ntfy`` call or a Slack webhook script work as they are.

At most ``per_minute`` commands start in any 60 s (the rest are dropped and counted); each may
run ``timeout`` seconds, then its process group is killed (it was started in its own session by
this runner, so the group is positively ours). A command that cannot start, exits non-zero, times
out or is rate-limited is reported as a ``hook-failed`` event through ``report`` (from the
runner's thread), never raised.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import queue
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from collectors.model import events as E
from collectors.model.events import Event

DEFAULT_PER_MINUTE = 10.0
DEFAULT_TIMEOUT = 10.0
QUEUE_SIZE = 100  # events waiting for the command; past this, dropped (and reported)
STDERR_KEPT = 4096  # bytes of a failing command's stderr kept for its report


def hook_argv(command: str | Sequence[str]) -> tuple[str, ...]:
    """The argv of an ``on_event`` setting: a string is a shell command (``/bin/sh -c``), a
    list the argv itself."""
    if isinstance(command, str):
        return ("/bin/sh", "-c", command)
    return tuple(command)


class HookRunner:
    """Runs ``command`` for each submitted event, in the background, rate-limited."""

    def __init__(
        self,
        command: str | Sequence[str],
        *,
        per_minute: float = DEFAULT_PER_MINUTE,
        timeout: float = DEFAULT_TIMEOUT,
        report: Callable[[Event], None] | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.argv = hook_argv(command)
        self.per_minute = per_minute
        self.timeout = timeout
        self.report = report or (lambda _event: None)
        self.clock = clock
        self.monotonic = monotonic
        self.ran = 0  # commands started (tests, the events screen)
        self.dropped = 0  # events not sent: rate limit or a full queue
        self._starts: collections.deque[float] = collections.deque()
        self._dropped_since_report = 0
        self._queue: queue.Queue[Event | None] = queue.Queue(QUEUE_SIZE)
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = threading.Event()
        self._running: subprocess.Popen[bytes] | None = None

    # -- the poll's side: never blocks --------------------------------------------------------

    def submit(self, event: Event) -> bool:
        """Queue ``event`` for the command; False when it was dropped (rate limit, full queue,
        closed). Hook failures themselves are never sent (a failing hook would feed itself)."""
        if event.kind == E.HOOK_FAILED or self._closed.is_set():
            return False
        with self._lock:
            now = self.monotonic()
            while self._starts and now - self._starts[0] >= 60.0:
                self._starts.popleft()
            limited = len(self._starts) >= self.per_minute
            if not limited:
                self._starts.append(now)
            if not limited and self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="happo-top on_event", daemon=True
                )
                self._thread.start()
        if limited:
            return self._drop(event, f"more than {self.per_minute:g} events a minute")
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            return self._drop(event, f"{QUEUE_SIZE} events already waiting")
        return True

    def _drop(self, event: Event, why: str) -> bool:
        with self._lock:
            self.dropped += 1
            self._dropped_since_report += 1
            first = self._dropped_since_report == 1
        if first:  # one report per burst, not one per event
            self._report(f"on_event not run for {event.run_name or event.kind} ({why})")
        return False

    # -- the runner's thread --------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            event = self._queue.get()
            try:
                if event is None:
                    return
                if self._closed.is_set():
                    continue  # closed: what is still queued is dropped, not run
                with self._lock:
                    missed, self._dropped_since_report = self._dropped_since_report, 0
                if missed > 1:
                    self._report(f"on_event was not run for {missed} events")
                try:
                    self.run_one(event)
                except Exception as e:  # never let one event stop the runner
                    self._report(f"on_event failed: {type(e).__name__}: {e}")
            finally:
                self._queue.task_done()

    def run_one(self, event: Event) -> None:
        """Run the command for ``event`` (blocking, up to ``timeout``); failures are reported."""
        env = {**os.environ, **event.environment()}
        data = json.dumps(event.to_json(), allow_nan=False).encode() + b"\n"
        name = os.path.basename(self.argv[0]) if self.argv else "?"
        try:
            proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                env=env,
                start_new_session=True,  # its own group: a timeout kills all it started
                close_fds=True,
            )
        except OSError as e:
            self._report(f"on_event command {name} could not start: {e.strerror or e}")
            return
        self.ran += 1
        self._running = proc
        try:
            try:
                _, err = proc.communicate(data, timeout=self.timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(OSError):
                    os.killpg(proc.pid, signal.SIGKILL)  # our child's own session
                with contextlib.suppress(Exception):
                    proc.communicate(timeout=5)
                self._report(
                    f"on_event command {name} timed out after {self.timeout:g} s (killed) "
                    f"for {event.kind} {event.run_name}".rstrip()
                )
                return
        finally:
            self._running = None
        if proc.returncode != 0:
            tail = err[-STDERR_KEPT:].decode("utf-8", "replace").strip().splitlines()
            why = f": {tail[-1][:200]}" if tail else ""
            self._report(f"on_event command {name} exited {proc.returncode}{why}")

    def _report(self, message: str) -> None:
        with contextlib.suppress(Exception):
            self.report(Event(self.clock(), E.HOOK_FAILED, E.WARNING, message))

    # -- lifetime -------------------------------------------------------------------------------

    def wait_idle(self, timeout: float) -> bool:
        """Until every queued event was handled (tests, a headless command before it exits)."""
        deadline = self.monotonic() + timeout
        while self.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0 or self._thread is None:
                return True
            time.sleep(0.02)
        return False

    def close(self) -> None:
        """Stop taking events; a command still running is killed (it is ours)."""
        self._closed.set()
        proc = self._running
        if proc is not None and proc.poll() is None:  # not reaped: the group is still ours
            with contextlib.suppress(OSError):
                os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(queue.Full):
            self._queue.put_nowait(None)
