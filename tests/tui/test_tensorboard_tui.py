"""``b`` in the monitor: TensorBoard on the marked runs (or the selected one), through the app's
actions. The confirmation names the runs and the port, the plan confirmed is the one run, and the
notification gives the ``ssh -L`` line. The slow test starts a real TensorBoard on a free
loopback port from the pilot and asks it which runs it serves."""

from __future__ import annotations

import json
import os
import socket
import time

import psutil
import pytest

from collectors.control import LAUNCH_NAME, Registry, Target, stop
from collectors.model.settings import Settings
from collectors.simulator.trainer import write_instant_run
from collectors.sources.tensorboard import is_tensorboard
from tests.builders import run_snapshot
from tests.support import http_get
from tests.tui.fakes import FakeHost, FakeSources, aio, fixed_clock, snapshot
from tests.tui.test_pilot import build, focus_run, notes, started, until
from tui.app.actions import Actions
from tui.app.app import make_app
from tui.app.commands import ACTIONS
from tui.screens.modals import HELP, ConfirmModal


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _body(app) -> str:
    return str(app.screen.query_one("#dialog-body").render())


@aio
async def test_b_asks_with_the_runs_and_the_port_then_runs_that_plan():
    app, _, actions = build()
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "basic")
        await pilot.press("space")
        await focus_run(pilot, app, "safe")
        await pilot.press("space")
        await pilot.press("b")
        assert isinstance(app.screen, ConfirmModal)
        title = str(app.screen.query_one("#dialog-title").render())
        assert "TensorBoard on port" in title and "basic, safe" in title
        port = int(title.split("port ")[1].split()[0])
        body = _body(app)
        assert "--logdir_spec" in body and "/runs/basic" in body and "/runs/safe" in body
        assert f"--port {port}" in body and "--host localhost" in body
        await pilot.press("y")
        await until(pilot, lambda: actions.executed)
        plan, _ = actions.executed[0]
        assert plan.action == "tensorboard" and plan.spec.name == LAUNCH_NAME
        argv = plan.spec.argv
        assert argv[argv.index("--port") + 1] == str(port)
        names = [x.split(":")[0] for x in argv[argv.index("--logdir_spec") + 1].split(",")]
        assert len(names) == 2 and all(names)
        assert plan.detail.startswith(f"port {port} on localhost")


@aio
async def test_b_without_marks_serves_the_selected_run_and_no_answer_runs_nothing():
    app, _, actions = build()
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot, app)
        await focus_run(pilot, app, "crashy")
        await pilot.press("b")
        assert isinstance(app.screen, ConfirmModal) and "crashy" in _body(app)
        assert "/runs/safe" not in _body(app)
        await pilot.press("n")
        await pilot.pause(0.1)
        assert actions.executed == [] and notes(app, "tensorboard: cancelled")


@aio
async def test_b_is_refused_read_only_and_for_runs_on_another_host():
    app, _, _ = build(read_only=True)
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot, app)
        assert app.check_action("tensorboard", ()) is False  # not offered
        await pilot.press("b")
        assert not isinstance(app.screen, ConfirmModal)
        assert notes(app, "read-only mode")
    far = run_snapshot(id="ffff0001", path="/runs/far", name="far", host="gpu01")
    app, _, actions = build(FakeSources(snapshot((far,))))
    async with app.run_test(size=(140, 40)) as pilot:
        await started(pilot, app)
        await pilot.press("b")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, ConfirmModal) and actions.executed == []
        assert notes(app, "gpu01 runs are not here")


def test_b_is_in_the_help_and_the_palette():
    keys = [k for _, rows in HELP for k, _ in rows]
    assert "b" in keys
    assert any(a == "tensorboard" and "(b)" in h for a, _, h in ACTIONS)


@pytest.mark.slow
@aio
async def test_b_starts_a_real_tensorboard_and_gives_the_ssh_line(tmp_path, private_state):
    root = tmp_path / "results"
    now = time.time()
    a = write_instant_run(root, exp_name="cuboid", seed=1, start_time=now - 7200)
    b = write_instant_run(root, exp_name="cuboid", preset="safe", seed=1, start_time=now - 3600)
    runs = (
        run_snapshot(id="aaaa0001", path=str(a), name="unstable"),
        run_snapshot(id="bbbb0002", path=str(b), name="safe"),
    )
    settings = Settings(refresh=0.2, aliases={str(a): "old_happo_unstable"})
    reg = Registry()
    actions = Actions(settings, reg)
    port = _free_port()
    # a free loopback port rather than the first free one from 6006 (others may be testing)
    plan_tb = actions.plan_tensorboard
    actions.plan_tensorboard = lambda rs, port_=None: plan_tb(rs, port)  # type: ignore[method-assign]
    app = make_app(
        FakeSources(snapshot(runs)), settings, actions=actions, host=FakeHost(), clock=fixed_clock
    )
    app.animation_level = "none"
    pid = None
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await started(pilot, app)
            for name in ("unstable", "safe"):
                await focus_run(pilot, app, name)
                await pilot.press("space")
            await pilot.press("b")
            assert isinstance(app.screen, ConfirmModal)
            await pilot.press("y")
            await until(pilot, lambda: notes(app, "on your laptop"), timeout=90)
            assert notes(app, f"ssh -N -L {port}:localhost:{port} ")
            assert notes(app, f"http://localhost:{port}/")
            assert actions.launched
            pid = actions.launched[-1].pid
        served = json.loads(http_get(f"http://localhost:{port}/data/runs"))
        assert {n.split("/")[0] for n in served} == {"old_happo_unstable", "safe"}
        rec = reg.live(pid)
        assert rec is not None and rec.name == LAUNCH_NAME  # recorded like a launch
        assert os.getsid(pid) == pid  # detached, in its own session
        res = stop(Target.from_record(rec), int_grace=5.0, term_grace=5.0, registry=reg)
        assert not res.alive
        pid = None
    finally:
        if pid is not None:  # an assertion failed first: leave nothing behind
            try:
                p = psutil.Process(pid)
                if p.status() != psutil.STATUS_ZOMBIE and is_tensorboard(p.cmdline()):
                    p.kill()
            except psutil.Error:
                pass
