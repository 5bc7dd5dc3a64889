"""A call made in a forked child process, its results handed back pickled, one part at a time.

The full-screen monitor's first poll is the one use (:func:`collectors.monitor.fork_first_collect`):
forked before Textual is imported, the child reads every run while the parent imports Textual and
draws its first paint, on another core. Threads would not do: the first poll and the import both
hold the interpreter lock most of the time, and a thread made the first frame of 30 runs no
sooner (502 against 472 ms median).

The child:

* resets SIGINT, SIGTERM and SIGHUP to their default action (the parent's handlers are not its
  own: a Ctrl-C simply ends it; the three are blocked across the fork until then) and points its
  standard streams at ``/dev/null``, so that it never writes to the terminal;
* runs the call, pickles each part it returns into the pipe and ends with ``os._exit``: no
  ``atexit`` handler or buffered output of the parent runs twice.

The parent reads a part when it asks for it (:meth:`ForkedCall.part`). Objects both sides hold
(the settings, a shared dict) travel as names (pickle's persistent ids), so the unpickled parts
point at the parent's own objects. Anything that goes wrong (the child failed, died, or sent
something that does not unpickle) makes :meth:`part` return None: the caller does the work
itself. :meth:`close` ends a child still running (it is our own, unreaped child: its pid cannot
name another process) and reaps it, so no zombie is left.
"""

from __future__ import annotations

import io
import os
import pickle
import select
import signal
import sys
import threading
import time
import types
from collections.abc import Callable, Mapping, Sequence
from typing import IO, Any, NoReturn

_BLOCKED = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}  # held back across the fork


def _mapping_proxy(d: dict[Any, Any]) -> types.MappingProxyType[Any, Any]:
    return types.MappingProxyType(d)


def _array_view(
    base: Any, dtype: Any, shape: tuple[int, ...], strides: tuple[int, ...], offset: int, ro: bool
) -> Any:
    """A view into ``base`` again (an unpickled array's own copy of its buffer otherwise)."""
    np = sys.modules["numpy"]  # unpickling ``base`` imported it
    view = np.ndarray(shape, dtype, buffer=base, offset=offset, strides=strides)
    if ro:
        view.flags.writeable = False
    return view


def _view_of(obj: Any) -> tuple[Any, int] | None:
    """(its base, its byte offset there) for a numpy array that is a plain view into a
    contiguous array, else None. Only ``numpy`` already imported is looked at."""
    np = sys.modules.get("numpy")
    if np is None or type(obj) is not np.ndarray:
        return None
    base = obj.base
    if type(base) is not np.ndarray or not base.flags.c_contiguous or obj.size == 0:
        return None
    if any(s < 0 for s in obj.strides):
        return None
    offset = obj.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    end = offset + sum((n - 1) * s for n, s in zip(obj.shape, obj.strides, strict=True))
    if offset < 0 or end + obj.itemsize > base.nbytes:
        return None
    return base, offset


class _Pickler(pickle.Pickler):
    """Pickles the shared objects as their names, read-only mappings (the model's frozen config
    maps) as the dicts they wrap, and a numpy view as a view into its base (a series' snapshot
    views its growing buffer: pickled apart, each would come as a copy of its own, and the
    series kept twice)."""

    def __init__(self, file: IO[bytes], names: Mapping[int, str]) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self._names = names

    def persistent_id(self, obj: Any) -> str | None:
        return self._names.get(id(obj))

    def reducer_override(self, obj: Any) -> Any:
        if type(obj) is types.MappingProxyType:
            return _mapping_proxy, (dict(obj),)
        view = _view_of(obj)
        if view is not None:
            base, offset = view
            ro = not obj.flags.writeable
            return _array_view, (base, obj.dtype, obj.shape, obj.strides, offset, ro)
        return NotImplemented


class _Unpickler(pickle.Unpickler):
    def __init__(self, file: IO[bytes]) -> None:
        super().__init__(file)
        self.objects: Mapping[str, Any] = {}

    def persistent_load(self, pid: Any) -> Any:
        try:
            return self.objects[pid]
        except KeyError:
            raise pickle.UnpicklingError(f"no shared object {pid!r} on this side") from None


# How long a child that sent everything is given to exit before it is ended (it is in os._exit).
LEAVING = 2.0

Result = tuple[Sequence[Any], Mapping[str, Any]]  # the parts, and the shared objects by name


class ForkedCall:
    """``call()`` in a forked child; it returns (parts, shared objects by name). Linux (fork).

    The parts go down one pickle stream (one pickler, one unpickler), so an object in two parts
    is one object here too: the second part's values can be the very objects of the first.
    """

    def __init__(self, call: Callable[[], Result]) -> None:
        read, write = os.pipe()
        # Ctrl-C, SIGTERM and SIGHUP wait until the child has its own (default) handlers: one
        # landing in between would run the parent's handler, and the parent's code, in the child.
        mask = signal.pthread_sigmask(signal.SIG_BLOCK, _BLOCKED)
        try:
            pid = os.fork()
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, mask)
            os.close(read)
            os.close(write)
            raise
        if pid == 0:  # the child: never returns
            try:
                os.close(read)
                _child(call, write, mask)
            finally:
                os._exit(1)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        os.close(write)
        self._lock = threading.Lock()  # the pid is ours until reaped: kill() and close() agree
        self.pid: int | None = pid
        self._pipe: IO[bytes] | None = os.fdopen(read, "rb")
        self._unpickler = _Unpickler(self._pipe)
        self.status: int | None = None  # the child's exit status, once reaped
        self.error: str | None = None  # why a part did not come, if one did not

    def ready(self, timeout: float) -> bool:
        """Whether the next part has begun to arrive (or the child ended) within ``timeout``
        seconds: :meth:`part` then returns without waiting on the child's work."""
        if self._pipe is None:
            return True
        try:
            readable, _, _ = select.select([self._pipe], [], [], timeout)
        except (OSError, ValueError):
            return True  # part() says what is wrong
        return bool(readable)

    def part(self, shared: Mapping[str, Any]) -> Any | None:
        """The next part the child returned (blocking until it is sent), or None when there is
        none (the child failed, or sent everything); ``shared``: this side's objects by name."""
        if self._pipe is None:
            return None
        self._unpickler.objects = shared
        try:
            return self._unpickler.load()
        except EOFError:  # the child closed its end: it is leaving (or left) by itself
            self.error = self.error or "the child sent no more"
        except Exception as e:  # a part that is cut off or does not unpickle: no part
            self.error = f"{type(e).__name__}: {e}"
        self.close(wait=LEAVING)
        return None

    def finish(self) -> None:
        """Done with the child once its last part is taken: it is leaving; reap it."""
        self.close(wait=LEAVING)

    def kill(self) -> None:
        """End the child now if it still runs (from any thread: a reader blocked in
        :meth:`part` then sees the pipe end). It is reaped by :meth:`close`."""
        with self._lock:
            if self.pid is not None:
                # our own child, not reaped yet: the pid is still its and no other process's
                os.kill(self.pid, signal.SIGKILL)

    def close(self, wait: float = 0.0) -> None:
        """Stop reading, reap the child, and end it first if it has not ended within ``wait``
        seconds (a child that sent its last part leaves at once: give it ``LEAVING``)."""
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            pipe.close()  # a child still writing gets EPIPE and ends
            # The unpickler's memo holds every object it made (for the references the next
            # part may make to them): ~30 MiB for 300 runs, kept as long as this call is.
            self._unpickler = _Unpickler(io.BytesIO())
        with self._lock:
            pid, self.pid = self.pid, None
            if pid is None:
                return
            try:
                deadline = time.monotonic() + wait
                done, status = os.waitpid(pid, os.WNOHANG)
                while done == 0 and time.monotonic() < deadline:
                    time.sleep(0.002)
                    done, status = os.waitpid(pid, os.WNOHANG)
                if done == 0:
                    os.kill(pid, signal.SIGKILL)  # ours and not reaped: see kill()
                    done, status = os.waitpid(pid, 0)
                self.status = os.waitstatus_to_exitcode(status)
            except ChildProcessError:  # reaped elsewhere (a SIGCHLD handler of the caller's)
                pass


def _child(call: Callable[[], Result], fd: int, mask: set[int | signal.Signals]) -> NoReturn:
    code = 1
    try:
        for sig in _BLOCKED:
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)  # one that came meanwhile ends it now
        null = os.open(os.devnull, os.O_RDWR)
        for std in (0, 1, 2):
            os.dup2(null, std)
        sys.stdin = sys.stdout = sys.stderr = open(null, "r+", closefd=False)  # noqa: SIM115
        parts, shared = call()
        with os.fdopen(fd, "wb") as out:
            pickler = _Pickler(out, {id(v): k for k, v in shared.items()})
            for p in parts:
                pickler.dump(p)  # the memo is kept from part to part
                out.flush()  # this part goes now; the pipe holds the next until it is read
        code = 0
    except BaseException:  # nothing to report to: the parent sees the pipe end and works alone
        pass
    finally:
        os._exit(code)  # no atexit handler, no flush of buffers copied from the parent
