"""collectors.sources.gpu against the real NVML, checked against ``nvidia-smi``.

Skipped unless NVML initialises (an NVIDIA driver and GPU are present). Run it on a GPU machine:
``pytest tests/sources/test_gpu_real.py -v``.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess

import pytest

from collectors.sources.gpu import GpuCollector

pynvml = pytest.importorskip("pynvml")

MiB = 1 << 20


def _nvml_ok() -> bool:
    try:
        pynvml.nvmlInit()
    except Exception:
        return False
    with contextlib.suppress(Exception):
        pynvml.nvmlShutdown()
    return True


pytestmark = pytest.mark.skipif(not _nvml_ok(), reason="NVML does not initialise (no NVIDIA GPU)")


def smi(query: str, what: str = "--query-gpu") -> list[list[str]]:
    if shutil.which("nvidia-smi") is None:
        pytest.skip("nvidia-smi not found")
    out = subprocess.run(
        ["nvidia-smi", f"{what}={query}", "--format=csv,noheader,nounits"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    return [[c.strip() for c in line.split(",")] for line in out.splitlines() if line.strip()]


def number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None  # [N/A], [Not Supported]


@pytest.fixture
def snap():
    g = GpuCollector()
    try:
        s = g.collect()
        s = g.collect()  # a second sample: the history has two points
        yield s
    finally:
        g.close()


def test_devices_match_nvidia_smi(snap):
    rows = smi(
        "index,name,uuid,memory.total,memory.used,utilization.gpu,temperature.gpu,"
        "power.draw,power.limit"
    )
    assert snap.available and snap.message == ""
    assert snap.driver
    assert len(snap.devices) == len(rows)
    for d, row in zip(snap.devices, rows, strict=True):
        index, name, uuid, total, used, util, temp, power, limit = row
        assert d.index == int(index)
        assert d.name == name
        assert d.uuid == uuid
        assert d.error is None, d.error
        assert d.memory_total is not None and abs(d.memory_total / MiB - float(total)) <= 1
        assert d.memory_used is not None and abs(d.memory_used / MiB - float(used)) <= max(
            512, 0.05 * float(total)
        )
        assert d.utilization is not None and 0 <= d.utilization <= 100
        assert number(util) is not None
        if number(temp) is not None:
            assert d.temperature is not None and abs(d.temperature - float(temp)) <= 5
        if number(power) is not None:
            assert d.power is not None and d.power > 0
            assert abs(d.power - float(power)) <= max(50.0, 0.5 * float(power))
        if number(limit) is not None:
            assert d.power_limit is not None and abs(d.power_limit - float(limit)) <= 1
        assert len(d.history) == 2


def test_processes_match_nvidia_smi(snap):
    rows = smi("pid,used_memory", "--query-compute-apps")
    smi_pids = {int(r[0]) for r in rows if r and r[0].isdigit()}
    ours = {p.pid for d in snap.devices for p in d.processes if p.kind == "compute"}
    # processes come and go between the two calls; most must agree
    assert len(smi_pids ^ ours) <= 1
    smi_mem: dict[int, float] = {}
    for r in rows:
        if r[0].isdigit() and number(r[1]) is not None:
            smi_mem[int(r[0])] = smi_mem.get(int(r[0]), 0.0) + float(r[1])
    compute: dict[int, int] = {}
    for d in snap.devices:
        for p in d.processes:
            if p.kind == "compute" and p.used_memory is not None:
                compute[p.pid] = compute.get(p.pid, 0) + p.used_memory
    for pid, mib in smi_mem.items():
        if pid in compute:
            assert abs(compute[pid] / MiB - mib) <= max(64, 0.1 * mib)
