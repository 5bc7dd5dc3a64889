"""collectors.sources.gpu against a fake NVML at the library boundary: the functions of the real
``pynvml`` module are replaced, so the collector's own calls, argument passing and exception
handling (the real NVMLError classes) are exercised, including every error path."""

from __future__ import annotations

import json
import sys
from types import SimpleNamespace

import pynvml
import pytest

from collectors.sources.gpu import GpuCollector, GpuSnapshot

GiB = 1 << 30


class FakeNvml:
    """Two devices: 0 healthy, 1 with quirks configurable per test."""

    def __init__(self, monkeypatch, n: int = 2) -> None:
        self.n = n
        self.calls: dict[str, int] = {}
        self.init_error: Exception | None = None
        self.count_error: Exception | None = None
        self.handle_errors: dict[int, Exception] = {}
        self.field_errors: dict[tuple[int, str], Exception] = {}
        self.util = {0: (87, 40), 1: (3, 1)}
        self.mem = {0: (70 * GiB, 141 * GiB), 1: (1 * GiB, 141 * GiB)}
        self.names: dict[int, object] = {0: "NVIDIA H200", 1: b"NVIDIA H200"}
        self.compute = {0: [(4242, 60 * GiB), (77, None)], 1: [(4242, 2 * GiB)]}
        self.graphics = {0: [(4242, 1), (99, 10 * 1 << 20)], 1: []}
        fns = {
            "nvmlInit": self.init,
            "nvmlShutdown": lambda: self.hit("shutdown"),
            "nvmlSystemGetDriverVersion": lambda: "550.54.15",
            "nvmlDeviceGetCount": self.count,
            "nvmlDeviceGetHandleByIndex": self.handle,
            "nvmlDeviceGetName": lambda h: self.field(h, "name", lambda: self.names[h.i]),
            "nvmlDeviceGetUUID": lambda h: self.field(h, "uuid", lambda: f"GPU-{h.i:04d}"),
            "nvmlDeviceGetUtilizationRates": lambda h: self.field(
                h, "util", lambda: SimpleNamespace(gpu=self.util[h.i][0], memory=self.util[h.i][1])
            ),
            "nvmlDeviceGetMemoryInfo": lambda h: self.field(
                h,
                "mem",
                lambda: SimpleNamespace(
                    used=self.mem[h.i][0],
                    total=self.mem[h.i][1],
                    free=self.mem[h.i][1] - self.mem[h.i][0],
                ),
            ),
            "nvmlDeviceGetTemperature": self.temperature,
            "nvmlDeviceGetPowerUsage": lambda h: self.field(h, "power", lambda: 312_456),
            "nvmlDeviceGetEnforcedPowerLimit": lambda h: self.field(h, "limit", lambda: 700_000),
            "nvmlDeviceGetComputeRunningProcesses": lambda h: self.field(
                h, "compute", lambda: [_proc(p, m) for p, m in self.compute[h.i]]
            ),
            "nvmlDeviceGetGraphicsRunningProcesses": lambda h: self.field(
                h, "graphics", lambda: [_proc(p, m) for p, m in self.graphics[h.i]]
            ),
        }
        for name, fn in fns.items():
            monkeypatch.setattr(pynvml, name, fn)

    def hit(self, what: str) -> None:
        self.calls[what] = self.calls.get(what, 0) + 1

    def init(self) -> None:
        self.hit("init")
        if self.init_error is not None:
            raise self.init_error

    def count(self) -> int:
        self.hit("count")
        if self.count_error is not None:
            raise self.count_error
        return self.n

    def handle(self, i: int):
        if i in self.handle_errors:
            raise self.handle_errors[i]
        return SimpleNamespace(i=i)

    def field(self, h, what: str, value):
        self.hit(f"{what}{h.i}")
        err = self.field_errors.get((h.i, what))
        if err is not None:
            raise err
        return value()

    def temperature(self, h, sensor):
        assert sensor == pynvml.NVML_TEMPERATURE_GPU
        return self.field(h, "temp", lambda: 55 + h.i)


def _proc(pid: int, used: int | None):
    return SimpleNamespace(pid=pid, usedGpuMemory=used, gpuInstanceId=0, computeInstanceId=0)


@pytest.fixture
def nv(monkeypatch):
    return FakeNvml(monkeypatch)


def test_two_devices(nv):
    g = GpuCollector(nvml=pynvml)
    s = g.collect()
    assert s.available and s.message == "" and s.driver == "550.54.15"
    d0, d1 = s.devices
    assert (d0.index, d0.name, d0.uuid) == (0, "NVIDIA H200", "GPU-0000")
    assert d1.name == "NVIDIA H200"  # bytes from older bindings are decoded
    assert (d0.utilization, d0.memory_utilization) == (87, 40)
    assert (d0.memory_used, d0.memory_total) == (70 * GiB, 141 * GiB)
    assert d0.memory_fraction == pytest.approx(70 / 141)
    assert d0.temperature == 55 and d1.temperature == 56
    assert d0.power == pytest.approx(312.456) and d0.power_limit == pytest.approx(700.0)
    assert d0.error is None and d1.error is None
    # processes with their memory; compute wins over graphics for the same pid
    assert [(p.pid, p.used_memory, p.kind) for p in d0.processes] == [
        (77, None, "compute"),
        (99, 10 << 20, "graphics"),
        (4242, 60 * GiB, "compute"),
    ]
    assert s.memory_by_pid() == {4242: 62 * GiB, 99: 10 << 20}
    doc = json.loads(json.dumps(s.to_json()))
    assert doc["available"] and doc["devices"][0]["processes"][2]["used_memory"] == 60 * GiB


def test_history_ring_buffer(nv):
    g = GpuCollector(nvml=pynvml, history=3)
    for u in (10, 20, 30, 40):
        nv.util[0] = (u, 0)
        s = g.collect()
    assert s.devices[0].history == (20.0, 30.0, 40.0)
    assert s.devices[1].history == (3.0, 3.0, 3.0)
    assert len(s.devices[0].memory_history) == 3
    assert nv.calls["init"] == 1  # initialised once, lazily
    assert nv.calls.get("name0") == 1  # static fields cached


@pytest.mark.parametrize(
    "error, text",
    [
        (pynvml.NVMLError_LibraryNotFound(), "NVML Shared Library Not Found"),
        (pynvml.NVMLError_DriverNotLoaded(), "Driver Not Loaded"),
        (pynvml.NVMLError_NoPermission(), "Insufficient Permissions"),
        (pynvml.NVMLError_LibRmVersionMismatch(), "RM has detected an NVML/RM version mismatch"),
        (OSError("libnvidia-ml.so.1: cannot open shared object file"), "cannot open shared"),
    ],
)
def test_no_gpu_said_once(nv, error, text):
    nv.init_error = error
    g = GpuCollector(nvml=pynvml)
    snaps = [g.collect() for _ in range(5)]
    assert all(not s.available and s.devices == () for s in snaps)
    assert snaps[0].message.startswith("no NVIDIA GPU (NVML: ") and text in snaps[0].message
    assert nv.calls["init"] == 1  # not retried at every poll
    assert json.loads(json.dumps(snaps[0].to_json()))["message"] == snaps[0].message
    g.close()
    assert nv.calls.get("shutdown") is None


def test_real_pynvml_without_driver_or_library():
    """Whatever this machine has: never raises, and says why when there is no GPU."""
    g = GpuCollector()
    s = g.collect()
    assert isinstance(s, GpuSnapshot)
    assert s.available or s.message.startswith("no NVIDIA GPU")
    g.close()


def test_pynvml_not_installed(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # import pynvml -> ImportError
    s = GpuCollector().collect()
    assert not s.available and "nvidia-ml-py not installed" in s.message


def test_count_error(nv):
    nv.count_error = pynvml.NVMLError_Unknown()
    s = GpuCollector(nvml=pynvml).collect()
    assert not s.available and s.message == "no NVIDIA GPU (NVML: Unknown Error)"
    nv.count_error = None
    nv.n = 0
    s = GpuCollector(nvml=pynvml).collect()
    assert not s.available and "no devices" in s.message


def test_one_device_lost(nv):
    nv.handle_errors[1] = pynvml.NVMLError_GpuIsLost()
    s = GpuCollector(nvml=pynvml).collect()
    assert s.available
    assert s.devices[0].error is None and s.devices[0].utilization == 87
    assert s.devices[1].error == "NVML: GPU is lost" and s.devices[1].utilization is None
    assert s.memory_by_pid() == {4242: 60 * GiB, 99: 10 << 20}


def test_not_supported_fields_are_blank_and_not_asked_again(nv):
    for what in ("temp", "power", "limit", "graphics"):
        nv.field_errors[(1, what)] = pynvml.NVMLError_NotSupported()
    g = GpuCollector(nvml=pynvml)
    for _ in range(3):
        s = g.collect()
    d1 = s.devices[1]
    assert d1.temperature is None and d1.power is None and d1.power_limit is None
    assert d1.error is None  # not supported is not an error
    assert d1.memory_used == 1 * GiB and [p.pid for p in d1.processes] == [4242]
    assert nv.calls["temp1"] == 1 and nv.calls["power1"] == 1 and nv.calls["graphics1"] == 1
    assert s.devices[0].temperature == 55  # the other device is not affected


def test_field_errors_are_noted_per_device(nv):
    nv.field_errors[(1, "power")] = pynvml.NVMLError_Unknown()
    nv.field_errors[(1, "util")] = pynvml.NVMLError_Timeout()
    nv.field_errors[(0, "compute")] = RuntimeError("ctypes went wrong")
    g = GpuCollector(nvml=pynvml)
    s = g.collect()
    d0, d1 = s.devices
    assert d1.power is None and d1.utilization is None and d1.history == ()
    assert d1.error == "utilization: Timeout; power: Unknown Error"
    assert d1.temperature == 56 and d1.memory_total == 141 * GiB
    assert d0.error == "compute processes: ctypes went wrong"
    assert [p.pid for p in d0.processes] == [99, 4242] and d0.processes[1].kind == "graphics"
    nv.field_errors.clear()
    s = g.collect()  # transient errors are asked again and clear
    assert s.devices[1].error is None and s.devices[1].power == pytest.approx(312.456)


def test_name_failure_is_retried(nv):
    nv.field_errors[(0, "name")] = pynvml.NVMLError_Unknown()
    g = GpuCollector(nvml=pynvml)
    assert g.collect().devices[0].name == "GPU 0"
    nv.field_errors.clear()
    assert g.collect().devices[0].name == "NVIDIA H200"


def test_close(nv):
    g = GpuCollector(nvml=pynvml)
    assert g.collect().available
    g.close()
    g.close()
    assert nv.calls["shutdown"] == 1
    s = g.collect()
    assert not s.available and "closed" in s.message
