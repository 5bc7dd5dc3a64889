"""Run chains end to end, on real processes: the simulator under ``happo-top launch``, stopped,
resumed twice through ``happo-top restart --resume`` (HARL's --load_config, --model_dir,
--num_env_steps), and shown as one chain by ``happo-top --once --json``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import sys
import time
from pathlib import Path

import pytest

from collectors.model.settings import Settings
from collectors.monitor import Monitor
from tests.support import happo_top
from tui.app.app import make_app
from tui.widgets.run_panel import RunPanel

pytestmark = [pytest.mark.usefixtures("private_state"), pytest.mark.slow]

TOTAL = 5_000_000


def _wait(cond, timeout=30.0):
    end = time.time() + timeout
    while time.time() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.1)
    return cond()


def _runs(root: Path) -> list[Path]:
    return sorted(root.glob("mapush/*/happo/chain/seed-*"))


def _complete_ckpts(run: Path) -> int:
    return len(list((run / "models").glob("rl_model_*_steps")))


def _snapshot(root: Path) -> dict[str, dict]:
    out = happo_top("--once", "--json", str(root))
    assert out.returncode == 0, out.stderr
    return {r["path"]: r for r in json.loads(out.stdout)["runs"]}


@pytest.fixture
def pids():
    started: list[int] = []
    yield started
    for pid in started:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)


def _launched_pid(text: str) -> int:
    m = re.search(r"launched pid (\d+)", text)
    assert m, text
    return int(m.group(1))


def test_simulator_launched_stopped_resumed_twice_is_one_chain(tmp_path, pids):
    root = tmp_path / "results"
    work = tmp_path / "work"
    work.mkdir()
    sim = [sys.executable, "-m", "collectors.simulator", "--root", str(root)]
    sim += ["--exp-name", "chain", "--num-env-steps", str(TOTAL), "--n-rollout-threads", "100"]
    sim += ["--episode-length", "100", "--eval-interval", "10", "--flush-secs", "0.3"]
    # the duration survives the restarts through the environment (they pass HARL's args only)
    out = happo_top("launch", "--cwd", str(work), "--env", "HAPPO_TOP_SIM_DURATION=25", "--", *sim)
    assert out.returncode == 0, out.stdout + out.stderr
    pids.append(_launched_pid(out.stdout))
    first = _wait(lambda: _runs(root))[0]
    assert _wait(lambda: _complete_ckpts(first) >= 4)
    out = happo_top("stop", str(first), "--root", str(root), "--grace", "5")
    assert out.returncode == 0 and "ended by SIGINT" in out.stdout, out.stdout + out.stderr

    segments = [first]
    for _ in range(2):
        parent = segments[-1]
        time.sleep(1.2)  # the last checkpoint counts as complete a moment after its files
        out = happo_top("restart", str(parent), "--resume", "--yes", "--root", str(root))
        assert out.returncode == 0, out.stdout + out.stderr
        text = out.stdout
        assert "--load_config" in text and "--model_dir" in text and "--num_env_steps" in text
        pids.append(_launched_pid(text))
        child = _wait(lambda p=set(segments): [r for r in _runs(root) if r not in p], 20)[0]
        segments.append(child)
        cfg = json.loads((child / "config.json").read_text())
        model_dir = cfg["algo_args"]["train"]["model_dir"]
        assert model_dir.startswith(str(parent) + os.sep)  # HARL records it in config.json
        assert _wait(lambda c=child: _complete_ckpts(c) >= 3)
        if len(segments) == 2:
            out = happo_top("stop", str(child), "--root", str(root), "--grace", "5")
            assert out.returncode == 0, out.stdout + out.stderr

    runs = _snapshot(root)
    p, c1, c2 = (runs[str(s)] for s in segments)
    assert p["state"] == "continued" and p["continued_by"] == c1["id"]
    assert c1["state"] == "continued" and c1["continued_by"] == c2["id"]
    assert c1["resumed_from"]["id"] == p["id"] and c2["resumed_from"]["id"] == c1["id"]
    r1, r2 = c1["resumed_from"]["step"], c2["resumed_from"]["step"]
    assert 0 < r1 < r2 < TOTAL
    assert r1 in {c["step"] for c in p["checkpoints"]}  # a checkpoint of the parent
    assert r2 in {c["step"] for c in c1["checkpoints"]}  # on the chain axis already
    # the chain's axis: the child's steps start at its checkpoint; its plan ends at TOTAL
    for c in (c1, c2):
        assert c["total_steps"] == TOTAL
        assert c["step"] >= c["resumed_from"]["step"]
        assert min(x["step"] for x in c["checkpoints"]) > c["resumed_from"]["step"]
        assert abs(c["progress"] - c["step"] / TOTAL) < 1e-9
    assert p["chain"] == c1["chain"] == c2["chain"] == [p["id"], c1["id"], c2["id"]]
    own = json.loads((segments[2] / "config.json").read_text())["algo_args"]["train"]
    assert int(own["num_env_steps"]) == TOTAL - r2  # HARL trains a full num_env_steps more
    assert c2["state"] in ("running", "starting", "finished")

    # and in the TUI, on the real monitor: the segments say what they continue
    asyncio.run(_tui_shows_chain(root, p, c1, c2))


async def _tui_shows_chain(root: Path, p: dict, c1: dict, c2: dict) -> None:
    settings = Settings(refresh=0.2)
    monitor = Monitor([str(root)], settings, gpu=False, disk=False)
    app = make_app(monitor, settings)
    app.animation_level = "none"
    async with app.run_test(size=(200, 50)) as pilot:
        end = time.monotonic() + 20
        while time.monotonic() < end:
            shown = {w.run.id: w.render().plain for w in app.main.query(RunPanel) if w.display}
            if "resumed @" in shown.get(c2["id"], "") and "3 segments" in shown[c2["id"]]:
                break
            await pilot.pause(0.1)
        # one panel for the chain (its latest segment), listing the three segments
        assert list(shown) == [c2["id"]], shown
        assert "3/3" in shown[c2["id"]], shown
        line = shown[c2["id"]].splitlines()[0]
        assert line.startswith(f"chain 3 segments: {p['id']} 0-"), line
        assert f", {c1['id']} " in line and f", {c2['id']} " in line, line
