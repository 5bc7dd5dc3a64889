"""Prometheus: the text format of real snapshots, read back with prometheus_client's own
parser, and the /metrics server on a free loopback port."""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from collectors.model import Snapshot
from collectors.simulator.trainer import write_instant_run
from tests.builders import gpu_snapshot, run_snapshot
from tests.support import ROOT, happo_top
from tui.cli import exit_codes, export


def _samples(text: str) -> dict[str, list]:
    out: dict[str, list] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out.setdefault(s.name, []).append(s)
    return out


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    now = time.time()
    done = write_instant_run(root, exp_name="cuboid", seed=1, start_time=now - 6 * 3600)
    live = write_instant_run(
        root,
        exp_name="cuboid",
        preset="safe",
        seed=2,
        start_time=now - 3600,
        finished=False,
        stop_at=0.3,
    )
    return root, done, live


def test_once_format_prometheus_parses_and_matches_the_json(results):
    root, done, live = results
    text = happo_top("--once", "--format", "prometheus", str(root), check=True).stdout
    samples = _samples(text)
    doc = json.loads(happo_top("--once", "--json", str(root), check=True).stdout)
    by_id = {r["id"]: r for r in doc["runs"]}
    progress = {s.labels["run"]: s.value for s in samples["happo_top_run_progress"]}
    assert progress == pytest.approx({i: r["progress"] for i, r in by_id.items()})
    for s in samples["happo_top_run_progress"]:
        assert set(s.labels) == {"host", "run", "name", "exp_name", "label"}
        assert s.labels["exp_name"] == "cuboid" and s.labels["host"] == doc["host"]
    states = [s for s in samples["happo_top_run_state"] if s.value == 1]
    assert {(s.labels["run"], s.labels["state"]) for s in states} == {
        (i, r["state"]) for i, r in by_id.items()
    }
    assert len(samples["happo_top_run_health"]) == 3 * len(by_id)
    reward = {s.labels["run"]: s.value for s in samples["happo_top_run_reward"]}
    assert reward == pytest.approx({i: r["reward"]["latest"] for i, r in by_id.items()})
    assert samples["happo_top_disk_free_bytes"][0].value > 0


def test_gpus_are_exported_as_the_strip_shows_them():
    snap = Snapshot(
        host="gpu01",
        time=1_763_567_400.0,
        runs=(run_snapshot(eta=1_763_567_500.0, progress=0.5),),
        roots=("/r",),
        gpus=gpu_snapshot(),
    )
    samples = _samples(export.text(snap))
    (util,) = samples["happo_top_gpu_utilization_percent"]
    assert util.value == 87 and util.labels == {"host": "gpu01", "gpu": "0", "name": "NVIDIA H200"}
    assert samples["happo_top_gpu_memory_used_bytes"][0].value == 45e9
    assert samples["happo_top_gpu_power_watts"][0].value == 310.0
    assert samples["happo_top_run_eta_seconds"][0].value == 100.0
    # a figure that is unknown is left out, never NaN
    no_eta = dataclasses.replace(snap, runs=(run_snapshot(eta=None),))
    assert "happo_top_run_eta_seconds" not in _samples(export.text(no_eta))


@pytest.mark.parametrize("listen", ["0.0.0.0:9105", "192.0.2.1:9105", "nonsense", "[::]:1"])
def test_listen_is_loopback_only(listen, tmp_path):
    r = happo_top("export", "--prometheus", "--listen", listen, str(tmp_path))
    assert r.returncode == exit_codes.USAGE and "--listen" in r.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_metrics_are_served_on_loopback(results):
    root, done, live = results
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "export",
            "--prometheus",
            "--listen",
            f"127.0.0.1:{port}",
            str(root),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert "serving http://127.0.0.1:" in proc.stdout.readline()
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read()
        samples = _samples(body.decode())
        assert len(samples["happo_top_run_progress"]) == 2
    finally:
        proc.terminate()
        assert proc.wait(10) == 0
