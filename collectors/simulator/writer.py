"""Event files written at once with simulated wall times, record for record as tensorboardX's
``SummaryWriter`` writes them (``add_scalars`` sub-writers, ``export_scalars_to_json``)."""

from __future__ import annotations

import json
import os
import socket
from typing import Any

import numpy as np


class InstantWriter:
    """The records tensorboardX's SummaryWriter writes, written synchronously.

    Instant mode only: same directories (one per add_scalars key), same file names, same
    TFRecord framing and Event protos (built with tensorboardX's own summary helpers and
    RecordWriter), but with simulated wall times everywhere (file name epoch and header too)
    and without the queue/thread per file, which is 5-8x faster for big benchmark runs.
    """

    def __init__(self, logdir: str, created: float) -> None:
        self.logdir = logdir
        self.scalar_dict: dict[str, list[list[float]]] = {}
        self.files: dict[str, Any] = {}
        self.main = self._open(logdir, created)
        self.default_bins = _tf_default_bins()

    def _open(self, directory: str, created: float) -> Any:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.proto import event_pb2
        from tensorboardX.record_writer import RecordWriter

        os.makedirs(directory, exist_ok=True)
        name = f"events.out.tfevents.{int(created)}.{socket.gethostname()}"
        rw = RecordWriter(os.path.join(directory, name))
        header = event_pb2.Event(wall_time=created, file_version="brain.Event:2")
        rw.write(header.SerializeToString())
        self.files[directory] = rw
        return rw

    @staticmethod
    def _write(rw: Any, summary: Any, step: int, walltime: float) -> None:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.proto import event_pb2

        event = event_pb2.Event(wall_time=walltime, step=int(step), summary=summary)
        rw.write(event.SerializeToString())

    def add_scalars(
        self, main_tag: str, values: dict[str, float], step: int, walltime: float
    ) -> None:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.summary import scalar

        for tag, value in values.items():
            key = os.path.join(self.logdir, main_tag, tag)
            rw = self.files.get(key) or self._open(key, walltime)
            self._write(rw, scalar(main_tag, value), step, walltime)
            self.scalar_dict.setdefault(key, []).append([walltime, step, float(value)])

    def add_scalar(self, tag: str, value: float, step: int, walltime: float) -> None:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.summary import scalar

        self._write(self.main, scalar(tag, value), step, walltime)

    def add_histogram(
        self,
        tag: str,
        values: np.ndarray,
        step: int,
        bins: Any = "tensorflow",
        walltime: float = 0.0,
    ) -> None:
        # deferred: tensorboardX (protobuf) takes ~0.1 s to import; only writing a run needs it
        from tensorboardX.summary import histogram

        if isinstance(bins, str) and bins == "tensorflow":
            bins = self.default_bins
        self._write(self.main, histogram(tag, values, bins), step, walltime)

    def export_scalars_to_json(self, path: str) -> None:
        with open(path, "w") as fh:
            json.dump(self.scalar_dict, fh)
        self.scalar_dict = {}

    def flush(self) -> None:
        for rw in self.files.values():
            rw.flush()

    def close(self) -> None:
        for rw in self.files.values():
            rw.flush()
            rw.close()
        self.files = {}


def _tf_default_bins() -> list[float]:
    """SummaryWriter.default_bins (TensorFlow's histogram buckets)."""
    v, pos = 1e-12, []
    while v < 1e20:
        pos.append(v)
        v *= 1.1
    return [-x for x in reversed(pos)] + [0.0] + pos


# --------------------------------------------------------------------------- the run
