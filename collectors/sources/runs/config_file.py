"""A run's ``config.json`` as HARL writes it, and what follows from it.

HARL dumps the merged config with ``indent=4, sort_keys=True`` and a TAB after every colon, which
is still valid JSON. ``num_env_steps`` may be a float (``100000000.0``) when it came from the
command line. Missing keys are normal (forks differ); a missing or malformed file leaves the run
visible with an error that names the file.

Nothing in the file can block or take down a poll: only a regular file is opened (a FIFO named
``config.json`` would block a read for good, ``/dev/zero`` never ends), at most
:data:`MAX_CONFIG_BYTES` are read, nesting deeper than Python's parser allows is an error, and an
integer of more than :data:`MAX_INT_DIGITS` digits is read as a float (infinity past 1e308; it
becomes null in the JSON) instead of tripping Python's 4300-digit limit later.
"""

from __future__ import annotations

import errno
import json
import os
import stat

from collectors.model.run_config import RunConfig, flatten

MAX_CONFIG_BYTES = 16 << 20  # a real HARL config.json is a few KB
MAX_INT_DIGITS = 40
_O_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)


def _parse_int(text: str) -> int | float:
    return int(text) if len(text) <= MAX_INT_DIGITS else float(text)


def read_regular(path: str, limit: int, st: os.stat_result | None = None) -> bytes:
    """At most ``limit`` bytes of ``path``, opened only if it is a regular file (never blocks on
    a FIFO). Raises OSError: EINVAL for what is not a regular file, EFBIG past ``limit``."""
    st = st or os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        raise OSError(errno.EINVAL, "not a regular file (a FIFO, device or directory): not read")
    if st.st_size > limit:
        raise OSError(errno.EFBIG, f"too large ({st.st_size} bytes, at most {limit} are read)")
    fd = os.open(path, _O_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):  # swapped between stat and open
            raise OSError(errno.EINVAL, "not a regular file: not read")
        chunks, got = [], 0
        while got <= limit:
            data = os.read(fd, min(1 << 20, limit + 1 - got))
            if not data:
                break
            chunks.append(data)
            got += len(data)
    finally:
        os.close(fd)
    if got > limit:
        raise OSError(errno.EFBIG, f"too large (more than {limit} bytes)")
    return b"".join(chunks)


def load_config(path: str, previous: RunConfig | None = None) -> RunConfig:
    """Parse ``config.json``; reuse ``previous`` when the file has not changed."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return RunConfig(error=f"{path}: missing (no config.json yet)")
    except OSError as e:
        return RunConfig(error=f"{path}: {e.strerror or e}")
    if previous is not None and previous.mtime == st.st_mtime:
        return previous
    try:
        tree = json.loads(read_regular(path, MAX_CONFIG_BYTES, st), parse_int=_parse_int)
    except json.JSONDecodeError as e:
        return RunConfig(
            error=f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}",
            mtime=st.st_mtime,
        )
    except OSError as e:
        return RunConfig(error=f"{path}: {e.strerror or e}", mtime=st.st_mtime)
    except UnicodeDecodeError as e:
        return RunConfig(error=f"{path}: not UTF-8 text ({e.reason})", mtime=st.st_mtime)
    except RecursionError:
        return RunConfig(error=f"{path}: nested too deeply to read", mtime=st.st_mtime)
    except (ValueError, MemoryError) as e:
        return RunConfig(error=f"{path}: unreadable JSON: {e}", mtime=st.st_mtime)
    if not isinstance(tree, dict):
        return RunConfig(error=f"{path}: expected a JSON object", mtime=st.st_mtime)
    try:
        flat = flatten(tree)
    except RecursionError:
        return RunConfig(error=f"{path}: nested too deeply to read", mtime=st.st_mtime)
    return RunConfig(flat=flat, mtime=st.st_mtime)
