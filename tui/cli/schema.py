"""``happo-top schema``: the JSON Schema (draft 2020-12) of the ``--once --json`` document.

The schema is written here by hand from the model's ``to_json`` methods; the test suite
validates real outputs (live simulated runs, finished and crashed runs, a bad config.json) against
it with ``jsonschema``, so a field added to the model without a word here fails a test.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from collectors.analysis.health import LEVELS
from collectors.model import HOST_STATES, JOB_METHODS, JOB_SOURCES, SCHEMA, STATES
from tui.cli import exit_codes

_NUM: dict[str, Any] = {"type": ["number", "null"]}  # NaN and infinity are written as null
_INT_OR_NULL: dict[str, Any] = {"type": ["integer", "null"]}
_STR_OR_NULL: dict[str, Any] = {"type": ["string", "null"]}
_STRINGS: dict[str, Any] = {"type": "array", "items": {"type": "string"}}


def _object(props: dict[str, Any], *, closed: bool = True) -> dict[str, Any]:
    """An object with exactly these properties, all present (as the model writes them)."""
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": not closed,
    }


BAND = _object({"low": _NUM, "high": _NUM, "bad_low": _NUM, "bad_high": _NUM})
FINDING = _object(
    {
        "rule": {"type": "string"},
        "level": {"enum": list(LEVELS)},
        "message": {"type": "string"},
        "step": _INT_OR_NULL,
        "tag": _STR_OR_NULL,
        "value": _NUM,
        "band": {"anyOf": [{"type": "null"}, BAND]},
        "metric": _STR_OR_NULL,
        "agent": _STR_OR_NULL,
        "verdict": _STR_OR_NULL,
        "current": {"type": "boolean"},
    }
)
PROCESS = _object(
    {
        "pid": {"type": "integer"},
        "title": _STR_OR_NULL,
        "cmdline": _STRINGS,
        "cmdline_source": _STR_OR_NULL,
        "cwd": _STR_OR_NULL,
        "started": _NUM,
        "user": _STR_OR_NULL,
        "uid": _INT_OR_NULL,
        "status": _STR_OR_NULL,
        "cpu_percent": _NUM,
        "rss": _INT_OR_NULL,
        "threads": _INT_OR_NULL,
        "children": {"type": "array", "items": {"type": "integer"}},
        "gpu_memory": _INT_OR_NULL,
        "how_found": {"type": "string"},
        "pgid": _INT_OR_NULL,
        "sid": _INT_OR_NULL,
        "launcher": {"type": ["integer", "string", "null"]},
        "launch_id": _STR_OR_NULL,
        "log": _STR_OR_NULL,
    }
)
CHECKPOINT = _object(
    {
        "step": {"type": "integer"},
        "time": _NUM,
        "time_from": {"enum": ["event", "file", "estimate"]},
        "bytes": _INT_OR_NULL,
        "complete": {"type": "boolean"},
        "path": {"type": "string"},
    }
)
# A Slurm job (collectors.model.job.JobInfo): times unix seconds, time_left/time_limit seconds
# (null: no limit); state as Slurm names it (PENDING, RUNNING, COMPLETED, CANCELLED, TIMEOUT,
# FAILED, ...); how_found: how it was tied to its run; source: what last reported it.
JOB = _object(
    {
        "id": {"type": "string"},
        "state": {"type": "string"},
        "reason": _STR_OR_NULL,
        "partition": _STR_OR_NULL,
        "node": _STR_OR_NULL,
        "time_left": _NUM,
        "submitted": _NUM,
        "started": _NUM,
        "expected_start": _NUM,
        "ended": _NUM,
        "time_limit": _NUM,
        "user": _STR_OR_NULL,
        "name": _STR_OR_NULL,
        "workdir": _STR_OR_NULL,
        "stdout": _STR_OR_NULL,
        "exit_code": _INT_OR_NULL,
        "how_found": {"enum": list(JOB_METHODS)},
        "source": {"enum": list(JOB_SOURCES)},
        "launch_id": _STR_OR_NULL,
    }
)
RUN = _object(
    {
        "id": {"type": "string", "pattern": "^[0-9a-f]{8}$"},
        "path": {"type": "string"},
        "name": {"type": "string"},
        "label": {"type": "string"},
        "layout": {"enum": ["A", "B", "U", "?"]},
        "algo": _STR_OR_NULL,
        "env": _STR_OR_NULL,
        "task": _STR_OR_NULL,
        "exp_name": _STR_OR_NULL,
        "seed": _INT_OR_NULL,
        "started": _NUM,
        "utc_offset": _INT_OR_NULL,
        "state": {"enum": list(STATES)},
        "step": _INT_OR_NULL,
        "total_steps": _INT_OR_NULL,
        "progress": _NUM,
        "steps_per_hour": _NUM,
        "eta": _NUM,
        "last_data": _NUM,
        "ended": _NUM,
        "reward": {
            "anyOf": [
                {"type": "null"},
                _object(
                    {
                        "tag": {"type": "string"},
                        "latest": _NUM,
                        "best": _NUM,
                        "best_step": _INT_OR_NULL,
                        "left_out": {"type": "integer"},
                    }
                ),
            ]
        },
        "checkpoints": {"type": "array", "items": CHECKPOINT},
        "scalars": {
            "type": "object",
            "additionalProperties": {
                **_object(
                    {"step": {"type": "integer"}, "value": _NUM, "count": {"type": "integer"}}
                ),
                # only when the series held NaN or infinity
                "properties": {
                    "step": {"type": "integer"},
                    "value": _NUM,
                    "count": {"type": "integer"},
                    "nonfinite": {"type": "integer"},
                    "first_nonfinite_step": _INT_OR_NULL,
                },
            },
        },
        "config": {"type": "object"},
        "health": {"type": "array", "items": FINDING},
        "process": {"anyOf": [{"type": "null"}, PROCESS]},
        "errors": _STRINGS,
        "resumed_from": {
            "anyOf": [
                {"type": "null"},
                _object(
                    {
                        "id": {"type": "string"},
                        "path": {"type": "string"},
                        "step": {"type": "integer"},
                    }
                ),
            ]
        },
        "continued_by": _STR_OR_NULL,
        "chain": _STRINGS,
        "host": _STR_OR_NULL,
        "stall_after": {"type": "number"},
        "job": {"anyOf": [{"type": "null"}, JOB]},
        "log": _STR_OR_NULL,
        "log_last": _STR_OR_NULL,
    }
)
# GPUs and disks: what the system strip shows; open objects (NVML fields vary by driver).
GPU_DEVICE = {
    "type": "object",
    "required": ["index", "name", "utilization", "memory_used", "memory_total", "processes"],
    "properties": {
        "index": {"type": "integer"},
        "name": {"type": "string"},
        "utilization": _NUM,
        "memory_used": _INT_OR_NULL,
        "memory_total": _INT_OR_NULL,
        "temperature": _NUM,
        "power": _NUM,
        "processes": {"type": "array", "items": {"type": "object"}},
    },
}
GPUS = {
    "anyOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["available", "message", "devices"],
            "properties": {
                "available": {"type": "boolean"},
                "message": {"type": "string"},
                "devices": {"type": "array", "items": GPU_DEVICE},
            },
        },
    ]
}
FILESYSTEM = {
    "type": "object",
    "required": ["mount", "total", "free", "roots"],
    "properties": {
        "mount": {"type": "string"},
        "total": {"type": "integer"},
        "free": {"type": "integer"},
        "roots": _STRINGS,
    },
}
DISKS = {
    "anyOf": [
        {"type": "null"},
        {
            "type": "object",
            "required": ["filesystems", "runs", "warnings", "errors"],
            "properties": {
                "filesystems": {"type": "array", "items": FILESYSTEM},
                "runs": {"type": "array", "items": {"type": "object"}},
                "warnings": _STRINGS,
                "errors": _STRINGS,
            },
        },
    ]
}
HOST = {
    "type": "object",
    "required": ["name", "state", "message"],
    "properties": {
        "name": {"type": "string"},
        "state": {"enum": list(HOST_STATES)},
        "since": _NUM,
        "message": _STR_OR_NULL,
        "version": _STR_OR_NULL,
        "schema": _INT_OR_NULL,
        "time": _NUM,
        "roots": _STRINGS,
        "gpus": GPUS,
        "disks": DISKS,
        "errors": _STRINGS,
        "connects": {"type": "integer"},
    },
}
SNAPSHOT: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"happo-top/snapshot/{SCHEMA}",
    "title": "happo-top --once --json",
    **_object(
        {
            "schema": {"const": SCHEMA},
            "host": {"type": "string"},
            "time": {"type": "number"},
            "roots": _STRINGS,
            "runs": {"type": "array", "items": RUN},
            "errors": _STRINGS,
            "gpus": GPUS,
            "disks": DISKS,
            "hosts": {"type": "array", "items": HOST},
            # Slurm jobs happo-top submitted that no run directory is tied to (yet)
            "jobs": {"type": "array", "items": JOB},
        }
    ),
}

# ``happo-top serve --stream``: a header line, then one line per poll: the snapshot document with
# unchanged runs as references and changed ones as patches (collectors.model.stream).
_SAME = _object({"same": {"const": True}})
_PATCH = {"type": "object", "required": ["~"], "properties": {"~": {"type": "object"}}}
STREAM_LINE: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": f"happo-top/stream/{SCHEMA}",
    "title": "happo-top serve --stream (one line)",
    "oneOf": [
        _object(
            {
                "stream": {"const": "happo-top"},
                "schema": {"type": "integer"},
                "version": {"type": "string"},
                "host": {"type": "string"},
                "roots": _STRINGS,
            }
        ),
        {
            **_object(
                {
                    **SNAPSHOT["properties"],
                    "runs": {
                        "type": "array",
                        "items": {
                            "anyOf": [
                                RUN,
                                _object({"id": {"type": "string"}, "same": {"const": True}}),
                                _object({"id": {"type": "string"}, "changed": {"type": "object"}}),
                            ]
                        },
                    },
                    "gpus": {"anyOf": [GPUS, _SAME, _PATCH]},
                    "disks": {"anyOf": [DISKS, _SAME, _PATCH]},
                }
            ),
        },
    ],
}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="happo-top schema",
        description="Print the JSON Schema (draft 2020-12) of the 'happo-top --once --json' "
        f"document (schema {SCHEMA}).",
    )
    p.add_argument(
        "--stream",
        action="store_true",
        help="the schema of one 'happo-top serve --stream' line instead (header or snapshot)",
    )
    args = p.parse_args(list(argv or []))
    json.dump(STREAM_LINE if args.stream else SNAPSHOT, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return exit_codes.OK


__all__ = ["SNAPSHOT", "main"]
