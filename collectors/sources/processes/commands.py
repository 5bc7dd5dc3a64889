"""What a process's command line says: the training arguments in it, whether it is a wrapper
(``bash train.sh``, ``conda run``) that starts the trainer, and layout B's ``command.txt``."""

from __future__ import annotations

import os
import shlex
import stat
from collections.abc import Sequence

# argv[0] basenames that start another program rather than being the trainer
WRAPPERS = frozenset(
    {
        "bash",
        "sh",
        "dash",
        "zsh",
        "fish",
        "ksh",
        "conda",
        "mamba",
        "micromamba",
        "env",
        "nohup",
        "setsid",
        "timeout",
        "stdbuf",
        "time",
        "nice",
        "ionice",
        "taskset",
        "numactl",
        "srun",
        "uv",
        "poetry",
        "pipenv",
        "sudo",
        "su",
        "runuser",
        "tini",
        "dumb-init",
        "xvfb-run",
        "script",
    }
)


def training_args(argv: Sequence[str]) -> dict[str, str] | None:
    """``--exp_name X --seed 1 --algo happo --env mapush`` (also ``--k=v``, ``--exp-name``).

    Returns the values found when an experiment name is among them, else None.
    """
    keys = {
        "--exp_name": "exp_name",
        "--exp-name": "exp_name",
        "--seed": "seed",
        "--algo": "algo",
        "--env": "env",
    }
    out: dict[str, str] = {}
    if any(" " in a and "--" in a for a in argv):  # sh -c "python train.py --exp_name x"
        words: list[str] = []
        for a in argv:
            try:
                words.extend(shlex.split(a) if " " in a else [a])
            except ValueError:
                words.append(a)
        argv = words
    it = iter(range(len(argv)))
    for i in it:
        a = argv[i]
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
            if k in keys:
                out[keys[k]] = v
        elif a in keys and i + 1 < len(argv):
            out[keys[a]] = argv[i + 1]
            next(it, None)
    return out if out.get("exp_name") else None


def is_wrapper(argv: Sequence[str]) -> bool:
    return bool(argv) and os.path.basename(argv[0]) in WRAPPERS


def command_like(argv: Sequence[str]) -> bool:
    """The training command itself (``--exp_name``), or a wrapper running a script with it
    (``bash train.sh``, ``conda run ... python train.py``). Not an interactive shell, not the
    temporary script ``conda run`` writes, not an unrelated Python parent."""
    if len(argv) < 2:
        return False
    if training_args(argv):
        return True
    return is_wrapper(argv) and any(a.endswith((".py", ".sh")) for a in argv[1:])


def untrusted(path: str) -> str | None:
    """Why the file at ``path`` must not be executed or shown as a command, or None when it may.

    A file happo-top would run (``command.txt``, a wrapper script, a ``config.json`` passed to
    HARL's ``--load_config``, whose values go through ``eval()`` in ``examples/train.py``) or
    follow (a log redirect) must belong, with the directory holding it, to the user running
    happo-top, and neither may be writable by others: otherwise another user's words would run
    as ours (as root, for a root happo-top)."""
    me = os.geteuid()
    real = os.path.realpath(path)
    for what, p in (("file", real), ("directory", os.path.dirname(real))):
        try:
            st = os.stat(p)
        except OSError as e:
            return f"cannot check {p}: {e.strerror or e}"
        if st.st_uid != me:
            return f"the {what} {p} belongs to uid {st.st_uid}, not to you (uid {me})"
        if st.st_mode & stat.S_IWOTH and not (what == "directory" and st.st_mode & stat.S_ISVTX):
            return f"the {what} {p} is writable by other users"
    return None


def _command_txt(run_path: str) -> tuple[list[str], str | None] | None:
    """Layout B's ``command.txt``: its command lines and the ``cwd <dir>`` of a ``#`` header;
    None when it is missing or :func:`untrusted` (another user's file is never shown or run)."""
    if untrusted(os.path.join(run_path, "command.txt")) is not None:
        return None
    return _command_lines(run_path)


def _command_lines(run_path: str) -> tuple[list[str], str | None] | None:
    """``command.txt``'s command lines and recorded cwd, unchecked (see :func:`_command_txt`);
    only a regular file is opened (a FIFO would block)."""
    try:
        fd = os.open(os.path.join(run_path, "command.txt"), os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        text = os.read(fd, 65536).decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    finally:
        os.close(fd)
    cwd = None
    lines = []
    for line in text.splitlines():
        s = line.strip()
        if s.startswith("#"):
            i = s.find("cwd ")
            if i >= 0 and cwd is None:
                cwd = s[i + 4 :].rstrip(")").strip() or None
            continue
        if s:
            lines.append(s)
    return lines, cwd


def read_command_txt(run_path: str) -> tuple[tuple[str, ...], str | None] | None:
    """Layout B's ``command.txt``: (argv, cwd from a ``cwd <dir>`` header) or None."""
    found = _command_txt(run_path)
    if not found or not found[0]:
        return None
    lines, cwd = found
    try:
        argv = tuple(shlex.split(" ".join(lines)))
    except ValueError:
        return None
    return (argv, cwd) if argv else None


def owner(path: str) -> int | None:
    """The uid owning ``path`` (symlinks followed), None when it cannot be told."""
    try:
        return os.stat(path).st_uid
    except OSError:
        return None


def log_refusal(path: str, run_path: str, writer: int | None = None) -> str | None:
    """Why the log file at ``path`` is not shown for the run at ``run_path``, or None when it may
    be: only a regular file belonging to the user running happo-top, to the run's owner (the
    owner of its real directory) or to ``writer`` (the process writing it) is shown. A file named
    by another user (a ``command.txt`` redirect to a root-only file) is never shown to us.
    (A log the launch registry recorded is ours: it is not checked here.)"""
    try:
        st = os.stat(path)
    except OSError as e:
        return f"{path}: {e.strerror or e}"
    if not stat.S_ISREG(st.st_mode):
        return f"{path}: not shown: not a regular file"
    me = os.geteuid()
    run_owner = owner(os.path.realpath(run_path))
    if st.st_uid in {me, run_owner, writer} - {None}:
        return None
    return (
        f"{path}: not shown: it belongs to uid {st.st_uid}, neither to you (uid {me}) nor to "
        f"the run's owner (uid {run_owner})"
    )


def command_txt_redirect(run_path: str) -> tuple[str | None, str | None]:
    """(the file ``command.txt``'s command sends its output to, None) when it may be shown;
    (that file, why it is not shown) when it may not; (None, None) when there is none.

    ``command.txt`` must belong to the user running happo-top or to the run's owner; a redirect
    written by the run's owner (not by us) is shown only when the file belongs to that owner:
    they can only have named their own files to us."""
    path = os.path.join(run_path, "command.txt")
    author = owner(path)
    if author is None:
        return None, None
    me = os.geteuid()
    run_owner = owner(os.path.realpath(run_path))
    found = _command_lines(run_path)
    target = _redirect(found, run_path) if found else None
    if target is None:
        return None, None
    if author not in (me, run_owner):
        return target, (
            f"{target}: not shown: named by {path}, which belongs to uid {author}, neither to "
            f"you (uid {me}) nor to the run's owner (uid {run_owner})"
        )
    why = log_refusal(target, run_path)
    if why is None and author != me and owner(target) != author:
        why = (
            f"{target}: not shown: named by {path} (uid {author}) but it belongs to uid "
            f"{owner(target)}"
        )
    return target, why


def command_txt_log(run_path: str) -> str | None:
    """The file ``command.txt``'s command sends its output to (``> f``, ``>> f``, ``| tee f``),
    when it exists; relative names are taken from the recorded cwd (else the run directory)."""
    found = _command_txt(run_path)
    if not found:
        return None
    target = _redirect(found, run_path)
    return target if target is not None and untrusted(target) is None else None


def _redirect(found: tuple[list[str], str | None], run_dir: str) -> str | None:
    """The first existing file a command line of ``command.txt`` sends its output to."""
    lines, cwd = found
    for s in lines:
        try:
            words = shlex.split(s)
        except ValueError:
            continue
        for i, w in enumerate(words[:-1]):
            if w in (">", ">>", "1>", "&>") or (w == "tee" or w.endswith("/tee")):
                name = words[i + 1]
                if name.startswith("-") and i + 2 < len(words):
                    name = words[i + 2]
                path = name if os.path.isabs(name) else os.path.join(cwd or run_dir, name)
                if os.path.isfile(path):
                    return path
    return None


_users: dict[int, str | None] = {}
