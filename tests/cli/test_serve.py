"""``happo-top serve --stream`` and the model read back from JSON (the wire of several hosts)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time

import jsonschema
import pytest

from collectors.control import ActionError, Target
from collectors.model import Snapshot
from collectors.model.findings import Band, Finding
from collectors.model.run import Checkpoint, Reward, RunSnapshot, ScalarLatest
from collectors.model.stream import (
    Header,
    StreamDecoder,
    StreamEncoder,
    StreamError,
    header,
    remote_run_id,
)
from collectors.monitor import Monitor
from collectors.simulator.trainer import write_instant_run
from tests.builders import gpu_snapshot, process_info, run_snapshot
from tests.support import ROOT, happo_top


def _full_run(**kw) -> RunSnapshot:
    return run_snapshot(
        reward=Reward("train_episode_rewards", 1.5, 2.0, 300),
        checkpoints=(Checkpoint(100, 1.7e9, 1234, True, "/x/models/100"),),
        scalars={"loss": ScalarLatest(10, 0.5, 3), "bad": ScalarLatest(20, float("nan"), 4, 2, 7)},
        config={"algo_args.model.lr": 0.0005, "main_args.algo": "happo"},
        health=(
            Finding("entropy", "warn", "low", 10, "policy_entropy", 0.2, Band(1.0, None, 0.5)),
        ),
        process=process_info(pid=4242, cpu_percent=93.0, gpu_memory=10, pgid=4242),
        errors=("one",),
        label="seed=1",
        host="gpu01",
        **kw,
    )


def test_run_snapshot_round_trips_through_json():
    run = _full_run()
    back = RunSnapshot.from_json(json.loads(json.dumps(run.to_json())))
    assert back.to_json() == run.to_json()
    assert back.host == "gpu01" and back.process is not None and back.process.pid == 4242
    assert back.health[0].band == Band(1.0, None, 0.5)
    assert back.scalars["bad"].nonfinite == 2 and back.checkpoints[0].path == "/x/models/100"
    assert back.series == {}  # series do not travel


def test_snapshot_round_trips_with_a_real_monitor(tmp_path, private_state):
    write_instant_run(tmp_path / "results", num_env_steps=2_000_000)
    write_instant_run(tmp_path / "results", num_env_steps=2_000_000, seed=2, finished=False)
    monitor = Monitor([str(tmp_path / "results")])
    try:
        snap = monitor.collect()
    finally:
        monitor.close()
    assert len(snap.runs) == 2 and all(r.step > 0 for r in snap.runs)
    doc = json.loads(json.dumps(snap.to_json()))
    back = Snapshot.from_json(doc)
    assert back.to_json() == doc
    assert {r.host for r in back.runs} == {None}
    tagged = Snapshot.from_json(doc, host="gpu02")
    assert {r.host for r in tagged.runs} == {"gpu02"}
    gpus = Snapshot.from_json(dict(doc, gpus=gpu_snapshot().to_json())).gpus
    assert gpus is not None and gpus.devices[0].name == "NVIDIA H200"


def test_snapshot_of_another_schema_is_refused_naming_both():
    with pytest.raises(ValueError, match="schema 99.*schema 1"):
        Snapshot.from_json({"schema": 99, "host": "h", "time": 0, "runs": [], "roots": []})


def _snap(*runs: RunSnapshot) -> Snapshot:
    return Snapshot("gpu01", time.time(), runs, ("/r",))


def test_encoder_sends_unchanged_runs_as_references_and_decoder_resolves_them():
    a, b = _full_run(id="aaaa"), run_snapshot(id="bbbb", path="/x/seed-00002-2025-11-15-15-34-13")
    enc, dec = StreamEncoder(), StreamDecoder("gpu01")
    assert isinstance(dec.feed(json.dumps(header("gpu01", ["/r"]))), Header)
    first = enc.encode(_snap(a, b))
    assert all("path" in r for r in first["runs"])
    s1 = dec.feed(json.dumps(first))
    assert isinstance(s1, Snapshot)
    b2 = run_snapshot(id="bbbb", path=b.path, step=500)
    second = enc.encode(_snap(a, b2))
    assert second["runs"][0] == {"id": "aaaa", "same": True}
    assert second["runs"][1] == {"id": "bbbb", "changed": {"step": 500}}  # only what changed
    assert len(json.dumps(second)) < len(json.dumps(first))
    s2 = dec.feed(json.dumps(second))
    assert isinstance(s2, Snapshot)
    assert s2.runs[0] is s1.runs[0]  # unchanged: the same object, a front end can skip it
    assert s2.runs[1].step == 500
    assert s2.runs[0].id == remote_run_id("gpu01", a.path) and s2.runs[0].host == "gpu01"
    # a mapping of which one key changed travels as a patch of that key
    assert a.process is not None
    a3 = dataclasses.replace(a, process=dataclasses.replace(a.process, cpu_percent=12.0))
    third = enc.encode(_snap(a3, b2))
    assert third["runs"][0] == {"id": "aaaa", "changed": {"process": {"~": {"cpu_percent": 12.0}}}}
    s3 = dec.feed(json.dumps(third))
    assert isinstance(s3, Snapshot)
    assert s3.runs[0].to_json() == dict(a3.to_json(), id=s3.runs[0].id)
    assert s3.runs[1] is s2.runs[1]


def test_gpus_and_disks_travel_as_patches_of_the_previous_line(tmp_path, private_state):
    write_instant_run(tmp_path / "results", num_env_steps=2_000_000)
    monitor = Monitor([str(tmp_path / "results")])
    try:
        snap = monitor.collect()
    finally:
        monitor.close()
    assert snap.disks is not None and snap.disks.filesystems
    gpus = gpu_snapshot()
    fs = snap.disks.filesystems[0]
    less = dataclasses.replace(snap.disks, filesystems=(dataclasses.replace(fs, free=fs.free - 1),))
    enc, dec = StreamEncoder(), StreamDecoder("gpu01")
    dec.feed(json.dumps(header("gpu01", [])))
    lines = [
        enc.encode(dataclasses.replace(snap, gpus=gpus)),
        enc.encode(dataclasses.replace(snap, gpus=gpus)),
        enc.encode(dataclasses.replace(snap, gpus=gpus, disks=less)),
    ]
    assert lines[1]["gpus"] == {"same": True} and lines[1]["disks"] == {"same": True}
    assert set(lines[2]["disks"]) == {"~"} and set(lines[2]["disks"]["~"]) == {"filesystems"}
    out = [dec.feed(json.dumps(x)) for x in lines]
    assert isinstance(out[2], Snapshot) and out[2].disks is not None and out[2].gpus is not None
    assert out[2].disks.to_json() == less.to_json()
    assert out[2].gpus.to_json() == gpus.to_json()


def test_decoder_names_what_is_wrong():
    dec = StreamDecoder("gpu01")
    with pytest.raises(StreamError, match="not a happo-top stream: 'bash: happo-top"):
        dec.feed("bash: happo-top: command not found\n")
    with pytest.raises(StreamError, match="before the stream's header"):
        dec.feed(json.dumps({"schema": 1, "runs": []}))
    old = dict(header("gpu01", []), schema=0, version="0.0.1")
    with pytest.raises(StreamError, match="happo-top 0.0.1 there speaks schema 0; this happo-top"):
        dec.feed(json.dumps(old))


def _serve(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve", "--stream", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        **kw,
    )


def test_serve_writes_a_header_then_one_snapshot_per_poll(tmp_path, private_state):
    run = write_instant_run(tmp_path / "results", num_env_steps=2_000_000)
    p = _serve("--count", "3", "--refresh", "0.2", str(tmp_path / "results"))
    out, err = p.communicate(timeout=60)
    assert p.returncode == 0, err
    lines = out.decode().splitlines()
    assert len(lines) == 4
    head = json.loads(lines[0])
    assert head["stream"] == "happo-top" and head["schema"] == 1 and head["version"]
    docs = [json.loads(x) for x in lines[1:]]
    assert docs[0]["runs"][0]["path"] == str(run)
    # every line, the header too, is valid against `happo-top schema --stream`
    schema = json.loads(happo_top("schema", "--stream", check=True).stdout)
    validator = jsonschema.Draft202012Validator(schema)
    for doc in (head, *docs):
        validator.validate(doc)
    assert not validator.is_valid({**docs[0], "runs": [{"id": "x", "same": False}]})
    assert docs[2]["runs"] == [{"id": docs[0]["runs"][0]["id"], "same": True}]


def test_serve_ends_cleanly_when_stdin_closes(tmp_path, private_state):
    write_instant_run(tmp_path / "results", num_env_steps=2_000_000)
    p = _serve("--refresh", "0.2", str(tmp_path / "results"), stdin=subprocess.PIPE)
    assert p.stdout is not None and p.stdin is not None
    p.stdout.readline()
    p.stdout.readline()
    p.stdin.close()
    assert p.wait(timeout=20) == 0
    assert b"Traceback" not in p.stderr.read()  # type: ignore[union-attr]


def test_serve_ends_cleanly_when_its_reader_goes_away(tmp_path, private_state):
    write_instant_run(tmp_path / "results", num_env_steps=2_000_000)
    p = _serve("--refresh", "0.1", str(tmp_path / "results"), stdin=subprocess.DEVNULL)
    assert p.stdout is not None
    p.stdout.readline()
    p.stdout.close()  # like `| head -1`
    assert p.wait(timeout=20) == 0
    assert b"Traceback" not in p.stderr.read()  # type: ignore[union-attr]


def test_serve_without_stream_is_a_usage_error():
    out = subprocess.run(
        [sys.executable, "-m", "tui.cli", "serve"], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 2 and "--stream" in out.stderr


def test_a_process_on_another_host_is_never_a_target_here():
    doc = _full_run().to_json()
    assert doc["process"]["how_found"] == "open-files"
    here = RunSnapshot.from_json(dict(doc, host=None))
    assert here.process is not None and here.process.positive
    there = RunSnapshot.from_json(doc, host="gpu01")
    assert there.process is not None and not there.process.positive
    with pytest.raises(ActionError, match="not positively identified"):
        Target.from_process(there.process, there)


def test_serve_watches_this_hosts_directories_only(tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "tui.cli", "serve", "--stream", "gpu09:/data"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2 and "not gpu09:/data: run it there" in out.stderr
