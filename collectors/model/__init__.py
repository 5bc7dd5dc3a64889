"""The model: frozen values that the sources produce and every front end reads, and their JSON
form (which is also what ``--once --json`` prints). No I/O here.

The names are imported from their modules on first use (PEP 562): a root without runs never
defines the values it has no use for (each frozen dataclass costs ~0.5 ms to create)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from collectors.lazy import make_lazy

if TYPE_CHECKING:
    from collectors.model.disk import DiskSnapshot, Filesystem, RunDiskUsage
    from collectors.model.events import Event
    from collectors.model.gpu import GpuDevice, GpuProcess, GpuSnapshot
    from collectors.model.host import HOST_STATES, HostStats, HostStatus
    from collectors.model.job import (
        ACTIVE_STATES,
        FAILED_STATES,
        JOB_METHODS,
        JOB_SOURCES,
        JobInfo,
    )
    from collectors.model.process import (
        METHODS,
        OPEN_FILES,
        PARENT_CMDLINE,
        POSITIVE,
        REGISTRY,
        TITLE_CWD,
        TITLE_ONLY,
        LaunchRecordLike,
        ProcessInfo,
        RegistryLike,
    )
    from collectors.model.run import (
        CONTINUED,
        CRASHED,
        FINISHED,
        REWARD_TAGS,
        RUNNING,
        SCHEMA,
        STALLED,
        STARTING,
        STATE_SYMBOLS,
        STATES,
        STOPPED,
        Checkpoint,
        Finding,
        ResumedFrom,
        Reward,
        RunSnapshot,
        ScalarLatest,
        Snapshot,
        internal_error,
        is_internal_error,
        json_safe,
        pick_reward_tag,
        text_value,
    )
    from collectors.model.run_config import RunConfig
    from collectors.model.run_dir import RUN_DIR_RE, parse_run_dir_name
    from collectors.model.series import SeriesView
    from collectors.model.settings import DEFAULT_TABLE_COLUMNS, TABLE_COLUMNS, Settings
    from collectors.model.stream import StreamDecoder, StreamEncoder, StreamError

_MODULES: dict[str, tuple[str, ...]] = {
    "collectors.model.disk": (
        "DiskSnapshot",
        "Filesystem",
        "RunDiskUsage",
    ),
    "collectors.model.events": ("Event",),
    "collectors.model.gpu": (
        "GpuDevice",
        "GpuProcess",
        "GpuSnapshot",
    ),
    "collectors.model.host": (
        "HOST_STATES",
        "HostStats",
        "HostStatus",
    ),
    "collectors.model.job": (
        "ACTIVE_STATES",
        "FAILED_STATES",
        "JOB_METHODS",
        "JOB_SOURCES",
        "JobInfo",
    ),
    "collectors.model.process": (
        "METHODS",
        "OPEN_FILES",
        "PARENT_CMDLINE",
        "POSITIVE",
        "REGISTRY",
        "TITLE_CWD",
        "TITLE_ONLY",
        "LaunchRecordLike",
        "ProcessInfo",
        "RegistryLike",
    ),
    "collectors.model.run": (
        "CONTINUED",
        "CRASHED",
        "FINISHED",
        "REWARD_TAGS",
        "RUNNING",
        "SCHEMA",
        "STALLED",
        "STARTING",
        "STATE_SYMBOLS",
        "STATES",
        "STOPPED",
        "Checkpoint",
        "Finding",
        "ResumedFrom",
        "Reward",
        "RunSnapshot",
        "ScalarLatest",
        "Snapshot",
        "internal_error",
        "is_internal_error",
        "json_safe",
        "pick_reward_tag",
        "text_value",
    ),
    "collectors.model.run_config": ("RunConfig",),
    "collectors.model.run_dir": (
        "RUN_DIR_RE",
        "parse_run_dir_name",
    ),
    "collectors.model.series": ("SeriesView",),
    "collectors.model.settings": (
        "DEFAULT_TABLE_COLUMNS",
        "TABLE_COLUMNS",
        "Settings",
    ),
    "collectors.model.stream": (
        "StreamDecoder",
        "StreamEncoder",
        "StreamError",
    ),
}
make_lazy(__name__, _MODULES)


__all__ = [
    "ACTIVE_STATES",
    "FAILED_STATES",
    "JOB_METHODS",
    "JOB_SOURCES",
    "JobInfo",
    "Event",
    "HOST_STATES",
    "CONTINUED",
    "internal_error",
    "is_internal_error",
    "json_safe",
    "text_value",
    "CRASHED",
    "FINISHED",
    "METHODS",
    "OPEN_FILES",
    "PARENT_CMDLINE",
    "POSITIVE",
    "REGISTRY",
    "REWARD_TAGS",
    "RUNNING",
    "RUN_DIR_RE",
    "SCHEMA",
    "STALLED",
    "STARTING",
    "STATES",
    "STATE_SYMBOLS",
    "STOPPED",
    "TITLE_CWD",
    "TITLE_ONLY",
    "Checkpoint",
    "DiskSnapshot",
    "Filesystem",
    "Finding",
    "GpuDevice",
    "GpuProcess",
    "GpuSnapshot",
    "HostStats",
    "HostStatus",
    "LaunchRecordLike",
    "ProcessInfo",
    "RegistryLike",
    "ResumedFrom",
    "Reward",
    "RunConfig",
    "RunDiskUsage",
    "RunSnapshot",
    "ScalarLatest",
    "SeriesView",
    "Settings",
    "DEFAULT_TABLE_COLUMNS",
    "TABLE_COLUMNS",
    "Snapshot",
    "StreamDecoder",
    "StreamEncoder",
    "StreamError",
    "parse_run_dir_name",
    "pick_reward_tag",
]
