"""The training process behind each run: the process table (``table``), what a command line says
(``commands``: training arguments, wrappers, ``command.txt``), the cached lookups about the
machine (``cache``: user names, the mount table), and the collector that ties processes to runs
and keeps the matches (``collector``)."""

from collectors.sources.processes.cache import SystemCache, lookup_user_name
from collectors.sources.processes.collector import ProcessCollector, ProcessInfo, refine_state
from collectors.sources.processes.commands import (
    command_like,
    command_txt_log,
    command_txt_redirect,
    is_wrapper,
    log_refusal,
    read_command_txt,
    training_args,
    untrusted,
)
from collectors.sources.processes.table import Backend, Proc, ProcFS, PsutilProcs, default_backend

__all__ = [
    "Backend",
    "Proc",
    "ProcFS",
    "ProcessCollector",
    "ProcessInfo",
    "PsutilProcs",
    "SystemCache",
    "command_like",
    "command_txt_log",
    "command_txt_redirect",
    "default_backend",
    "is_wrapper",
    "log_refusal",
    "lookup_user_name",
    "read_command_txt",
    "refine_state",
    "training_args",
    "untrusted",
]
