"""GPU values: the devices NVML reports, with their processes (filled by collectors.sources.gpu).
No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class GpuProcess:
    pid: int
    used_memory: int | None  # bytes; None when NVML cannot tell (e.g. some vGPU/WDDM setups)
    kind: str  # compute | graphics

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "used_memory": self.used_memory, "kind": self.kind}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> GpuProcess:
        return cls(doc["pid"], doc.get("used_memory"), doc.get("kind", "compute"))


@dataclass(frozen=True, slots=True)
class GpuDevice:
    index: int
    name: str
    uuid: str | None = None
    utilization: int | None = None  # percent of time a kernel ran
    memory_utilization: int | None = None  # percent of time memory was read or written
    memory_used: int | None = None  # bytes
    memory_total: int | None = None
    temperature: int | None = None  # degrees C
    power: float | None = None  # watts
    power_limit: float | None = None  # watts
    processes: tuple[GpuProcess, ...] = ()
    history: tuple[float, ...] = ()  # recent utilisation samples, oldest first
    memory_history: tuple[float, ...] = ()  # recent memory use, percent of total
    error: str | None = None  # what failed on this device (None: all fine)

    @property
    def memory_fraction(self) -> float | None:
        if self.memory_used is None or not self.memory_total:
            return None
        return self.memory_used / self.memory_total

    def to_json(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "name": self.name,
            "uuid": self.uuid,
            "utilization": self.utilization,
            "memory_utilization": self.memory_utilization,
            "memory_used": self.memory_used,
            "memory_total": self.memory_total,
            "temperature": self.temperature,
            "power": self.power,
            "power_limit": self.power_limit,
            "processes": [p.to_json() for p in self.processes],
            "history": list(self.history),
            "error": self.error,
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> GpuDevice:
        fields: dict[str, Any] = {k: doc.get(k) for k in _DEVICE_FIELDS}
        return cls(
            index=doc["index"],
            name=doc.get("name", "?"),
            processes=tuple(GpuProcess.from_json(p) for p in doc.get("processes") or ()),
            history=tuple(doc.get("history") or ()),
            **fields,
        )


_DEVICE_FIELDS = (
    "uuid",
    "utilization",
    "memory_utilization",
    "memory_used",
    "memory_total",
    "temperature",
    "power",
    "power_limit",
    "error",
)


@dataclass(frozen=True, slots=True)
class GpuSnapshot:
    available: bool
    message: str  # "" when available, else why not ("no NVIDIA GPU (NVML: ...)")
    devices: tuple[GpuDevice, ...] = ()
    driver: str | None = None
    time: float = 0.0

    def memory_by_pid(self) -> dict[int, int]:
        """GPU memory per pid over all devices (for ProcessCollector)."""
        out: dict[int, int] = {}
        for d in self.devices:
            for p in d.processes:
                if p.used_memory is not None:
                    out[p.pid] = out.get(p.pid, 0) + p.used_memory
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "message": self.message,
            "driver": self.driver,
            "devices": [d.to_json() for d in self.devices],
        }

    @classmethod
    def from_json(cls, doc: dict[str, Any], time: float = 0.0) -> GpuSnapshot:
        return cls(
            available=bool(doc.get("available")),
            message=doc.get("message") or "",
            devices=tuple(GpuDevice.from_json(d) for d in doc.get("devices") or ()),
            driver=doc.get("driver"),
            time=time,
        )
