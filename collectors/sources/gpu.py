"""NVIDIA GPUs through NVML (the ``pynvml`` module of nvidia-ml-py).

NVML is initialised once, lazily, on the first :meth:`GpuCollector.collect`. Without the library
or the driver the snapshot says ``no NVIDIA GPU (NVML: ...)`` and nothing is retried or logged on
every poll. An error on one device, or on one field of a device, costs only that device or that
field: ``NotSupported`` (power on many boards, temperature on some) is simply left out, other
errors are noted once in the device's ``error``. Nothing here ever raises.
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from collectors.model.gpu import GpuDevice, GpuProcess, GpuSnapshot

HISTORY = 120  # samples of utilisation kept per device (a sparkline's worth)


def _text(v: Any) -> str:
    return v.decode("utf-8", "replace") if isinstance(v, bytes) else str(v)


class GpuCollector:
    """Polls every NVIDIA device. ``nvml`` is the pynvml module (injectable for tests)."""

    def __init__(
        self,
        nvml: Any = None,
        history: int = HISTORY,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._nvml = nvml
        self.history = history
        self.clock = clock
        self._state = "new"  # new | ok | failed | closed
        self._message = ""
        self._driver: str | None = None
        self._static: dict[int, dict[str, Any]] = {}  # per index: name, uuid, total, limit
        self._hist: dict[int, deque[float]] = {}
        self._mem_hist: dict[int, deque[float]] = {}
        self._unsupported: dict[int, set[str]] = {}  # fields not to ask again

    # -- life cycle
    def _init(self) -> bool:
        if self._state == "ok":
            return True
        if self._state != "new":
            return False
        try:
            if self._nvml is None:
                missing = _nvml_missing()
                if missing is not None:
                    return self._fail(missing)
                # deferred: NVML is loaded only when a GPU is asked for (and may be missing)
                import pynvml

                self._nvml = pynvml
            self._nvml.nvmlInit()
        except ImportError as e:
            return self._fail(f"no NVIDIA GPU (nvidia-ml-py not installed: {e})")
        except Exception as e:  # NVMLError_LibraryNotFound, _DriverNotLoaded, OSError, ...
            return self._fail(f"no NVIDIA GPU (NVML: {_describe(e)})")
        self._state = "ok"
        try:
            self._driver = _text(self._nvml.nvmlSystemGetDriverVersion())
        except Exception:
            self._driver = None
        return True

    def _fail(self, message: str) -> bool:
        self._state = "failed"
        self._message = message
        return False

    def close(self) -> None:
        if self._state == "ok":
            with contextlib.suppress(Exception):
                self._nvml.nvmlShutdown()
        self._state = "closed"

    # -- polling
    def collect(self) -> GpuSnapshot:
        now = self.clock()
        if not self._init():
            return GpuSnapshot(False, self._message or "GPU collector closed", time=now)
        nv = self._nvml
        try:
            count = int(nv.nvmlDeviceGetCount())
        except Exception as e:
            return GpuSnapshot(
                False, f"no NVIDIA GPU (NVML: {_describe(e)})", driver=self._driver, time=now
            )
        if count == 0:
            return GpuSnapshot(
                False, "no NVIDIA GPU (NVML: no devices)", driver=self._driver, time=now
            )
        devices = tuple(self._device(i) for i in range(count))
        return GpuSnapshot(True, "", devices, self._driver, now)

    def _device(self, i: int) -> GpuDevice:
        nv = self._nvml
        try:
            h = nv.nvmlDeviceGetHandleByIndex(i)
        except Exception as e:
            self._static.pop(i, None)
            return GpuDevice(i, "?", error=f"NVML: {_describe(e)}")
        errors: list[str] = []
        skip = self._unsupported.setdefault(i, set())

        def ask(what: str, fn: Callable[[], Any]) -> Any:
            if what in skip:
                return None
            try:
                return fn()
            except Exception as e:
                if _not_supported(e):
                    skip.add(what)  # it will not start being supported: stop asking
                else:
                    errors.append(f"{what}: {_describe(e)}")
                return None

        static = self._static.get(i)
        if static is None:
            name = ask("name", lambda: _text(nv.nvmlDeviceGetName(h)))
            uuid = ask("uuid", lambda: _text(nv.nvmlDeviceGetUUID(h)))
            limit = ask("power limit", lambda: nv.nvmlDeviceGetEnforcedPowerLimit(h))
            static = {
                "name": name or f"GPU {i}",
                "uuid": uuid,
                "power_limit": None if limit is None else limit / 1000.0,
            }
            if name is not None:  # cache only what worked
                self._static[i] = static
        util = ask("utilization", lambda: nv.nvmlDeviceGetUtilizationRates(h))
        mem = ask("memory", lambda: nv.nvmlDeviceGetMemoryInfo(h))
        temp = ask("temperature", lambda: nv.nvmlDeviceGetTemperature(h, nv.NVML_TEMPERATURE_GPU))
        power = ask("power", lambda: nv.nvmlDeviceGetPowerUsage(h))
        procs: dict[int, GpuProcess] = {}
        for kind, fn_name in (
            ("graphics", "nvmlDeviceGetGraphicsRunningProcesses"),
            ("compute", "nvmlDeviceGetComputeRunningProcesses"),
        ):
            fn = getattr(nv, fn_name, None)
            if fn is None:
                continue
            listed = ask(f"{kind} processes", functools.partial(fn, h))
            for p in listed or ():
                pid = getattr(p, "pid", None)
                if pid is None:
                    continue
                used = getattr(p, "usedGpuMemory", None)
                used = int(used) if isinstance(used, int) and used >= 0 else None
                procs[int(pid)] = GpuProcess(int(pid), used, kind)  # compute wins
        u = None if util is None else int(util.gpu)
        mu = None if util is None else int(util.memory)
        used_b = None if mem is None else int(mem.used)
        total_b = None if mem is None else int(mem.total)
        hist = self._hist.setdefault(i, deque(maxlen=self.history))
        mhist = self._mem_hist.setdefault(i, deque(maxlen=self.history))
        if u is not None:
            hist.append(float(u))
        if used_b is not None and total_b:
            mhist.append(100.0 * used_b / total_b)
        return GpuDevice(
            index=i,
            name=static["name"],
            uuid=static["uuid"],
            utilization=u,
            memory_utilization=mu,
            memory_used=used_b,
            memory_total=total_b,
            temperature=None if temp is None else int(temp),
            power=None if power is None else power / 1000.0,
            power_limit=static["power_limit"],
            processes=tuple(sorted(procs.values(), key=lambda p: p.pid)),
            history=tuple(hist),
            memory_history=tuple(mhist),
            error="; ".join(errors) or None,
        )


# What pynvml loads on Linux (pynvml._LoadNvmlLibrary: CDLL of exactly this name), and its words
# when the loader cannot find it (NVMLError_LibraryNotFound).
NVML_LIBRARY = "libnvidia-ml.so.1"
LIBRARY_NOT_FOUND = "NVML Shared Library Not Found"


def _nvml_missing() -> str | None:
    """Why NVML cannot load, found without importing pynvml (8 ms, the largest part of a
    snapshot's start-up on a machine without a GPU): nvidia-ml-py is not installed, or the
    dynamic loader finds no ``libnvidia-ml.so.1``. The probe is the loader itself (``dlopen``
    with the name pynvml uses, so LD_LIBRARY_PATH and ld.so.cache count as they do for it), not
    a guess from paths; None: import pynvml and let it say. The handle stays open: pynvml opens
    the same library next."""
    import importlib.util  # deferred for start-up time: only when no NVML module was injected

    if importlib.util.find_spec("pynvml") is None:
        return "no NVIDIA GPU (nvidia-ml-py not installed: no module named 'pynvml')"
    if not sys.platform.startswith("linux"):
        return None
    try:
        import _ctypes  # deferred for start-up time: ctypes' loader only for this probe

        _ctypes.dlopen(NVML_LIBRARY, os.RTLD_NOW | os.RTLD_LOCAL)
    except ImportError:  # no ctypes in this Python: pynvml will say
        return None
    except OSError:
        return f"no NVIDIA GPU (NVML: {LIBRARY_NOT_FOUND})"
    return None


def _describe(e: BaseException) -> str:
    text = str(e).strip()
    return text or type(e).__name__


def _not_supported(e: BaseException) -> bool:
    try:
        # deferred: as in GpuCollector._init, the NVML module only once it is in use
        import pynvml
    except ImportError:
        return type(e).__name__ == "NVMLError_NotSupported"
    return isinstance(e, pynvml.NVMLError_NotSupported) or (
        type(e).__name__ == "NVMLError_NotSupported"
    )


def memory_by_pid(snapshot: GpuSnapshot | None) -> Mapping[int, int]:
    return {} if snapshot is None else snapshot.memory_by_pid()
