"""The model: frozen values that the sources produce and every front end reads, and their JSON
form (which is also what ``--once --json`` prints). No I/O here."""

from collectors.model.disk import DiskSnapshot, Filesystem, RunDiskUsage
from collectors.model.gpu import GpuDevice, GpuProcess, GpuSnapshot
from collectors.model.host import HostStats, HostStatus
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
    Reward,
    RunSnapshot,
    ScalarLatest,
    Snapshot,
    pick_reward_tag,
)
from collectors.model.run_config import RunConfig
from collectors.model.run_dir import RUN_DIR_RE, parse_run_dir_name
from collectors.model.series import SeriesView
from collectors.model.settings import Settings
from collectors.model.stream import StreamDecoder, StreamEncoder, StreamError

__all__ = [
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
    "Reward",
    "RunConfig",
    "RunDiskUsage",
    "RunSnapshot",
    "ScalarLatest",
    "SeriesView",
    "Settings",
    "Snapshot",
    "StreamDecoder",
    "StreamEncoder",
    "StreamError",
    "parse_run_dir_name",
    "pick_reward_tag",
]
