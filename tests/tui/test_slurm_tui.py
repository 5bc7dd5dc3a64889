"""The monitor (Pilot, the real Monitor as its source) on a real Slurm job (tests/slurm.py): a
held job is on the header line as PENDING with its reason; released, its run's panel shows
the job RUNNING on this node with its time left; ``s`` (confirmed) stops it through scancel and
the panel shows the state Slurm reports."""

from __future__ import annotations

import dataclasses
import io
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from collectors.control import LaunchSpec, Registry, submit
from collectors.model.settings import Settings
from collectors.monitor import Monitor
from tests.slurm import slurm_cluster  # noqa: F401  (the session fixture)
from tests.tui.fakes import FakeHost, aio
from tui.app.app import make_app
from tui.app.sources import find_log
from tui.screens.detail import process_text
from tui.screens.modals import ConfirmModal
from tui.widgets.run_panel import RunPanel

pytestmark = pytest.mark.slow  # a real app, a real job


async def _until(pilot, cond, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await pilot.pause(0.1)


@aio
async def test_pending_then_running_job_in_the_monitor(tmp_path, slurm, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    monkeypatch.setattr("collectors.sources.slurm.INTERVAL", 0.5)
    root = tmp_path / "results"
    root.mkdir()
    registry = Registry(str(tmp_path / "state"))
    argv = (
        sys.executable,
        "-m",
        "collectors.simulator",
        "--root",
        "results",
        "--exp-name",
        "tuijob",
        "--num-env-steps",
        "200000",
        "--n-rollout-threads",
        "10",
        "--episode-length",
        "10",
        "--duration",
        "60",
        "--flush-secs",
        "1",
    )
    spec = LaunchSpec(
        argv=argv,
        cwd=str(tmp_path),
        backend="slurm",
        sbatch=("--hold", "--time=30:00"),
        name="tuijob",
    )
    job = submit(spec, registry).job_id
    assert job
    settings = Settings(refresh=0.3, stop_grace=20.0)
    monitor = Monitor([str(root)], settings, gpu=False, disk=False, registry=registry)
    app = make_app(monitor, settings, host=FakeHost())
    app.animation_level = "none"
    try:
        async with app.run_test(size=(160, 50)) as pilot:
            header = app.query_one("HeaderBar")
            await _until(pilot, lambda: f"job {job} PENDING (JobHeldUser)" in header.jobs)
            slurm.tool("scontrol", "release", job)

            def panel_text() -> str:
                panels = [p for p in app.main.query(RunPanel) if not p.removing]
                return "\n".join(p.render().plain for p in panels)

            await _until(pilot, lambda: f"job {job} RUNNING on {slurm.node}" in panel_text())
            assert "left" in panel_text()
            assert not header.jobs  # tied to its run now
            panel = next(p for p in app.main.query(RunPanel) if not p.removing)
            # the Log tab's file: the job's output (also from another node: no process here)
            path, why = find_log(dataclasses.replace(panel.run, process=None))
            assert why is None and path == panel.run.job.stdout
            assert "happo-top launch" in Path(path).read_text()
            # the detail's Process tab: the job first, then the process on this node
            console = Console(width=150, record=True, file=io.StringIO())
            console.print(process_text(panel.run, time.time()))
            tab = console.export_text()
            assert f"Slurm job {job} RUNNING on {slurm.node}" in tab
            assert "partition debug" in tab and "limit 30m" in tab and "pid" in tab
            panel.focus()
            await pilot.pause(0.1)
            assert app.check_action("stop", ()) is True
            await pilot.press("s")
            assert isinstance(app.screen, ConfirmModal)
            body = str(app.screen.query_one("#dialog-body").render())
            assert f"Slurm job {job}" in body and "scancel --signal=INT --full" in body
            await pilot.press("y")
            await _until(pilot, lambda: slurm.state(job) == "FAILED", timeout=40)
            await _until(pilot, lambda: f"job {job} FAILED" in panel_text())
            assert "(exit 130)" in panel_text() and "stopped" in panel_text()
    finally:
        slurm.tool("scancel", job, check=False)
        monitor.close()
