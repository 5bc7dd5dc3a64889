"""Hostile and damaged run files (issue 11): each case that once crashed or hung the monitor, as
a permanent test. Files are written by the real writers (tensorboardX ``add_scalar``,
tensorboard's ``EventFileWriter``) wherever a writer can make the case."""

from __future__ import annotations

import json
import os
import struct
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, tensor_pb2
from tensorboardX import SummaryWriter

from collectors import fmt
from collectors.model import Settings, json_safe
from collectors.model.run import is_internal_error
from collectors.monitor import Monitor
from collectors.sources.runs import RunsCollector, run_id
from collectors.sources.runs import event_reader as er
from collectors.sources.runs.config_file import MAX_CONFIG_BYTES, load_config
from collectors.sources.runs.event_reader import EventFileReader
from tests.builders import event_files, make_run_dir, write_harl_config
from tests.corpus.build import frame, scalar_event, tb_writer_events
from tests.sources.test_event_reader import assert_same_as_tensorboard, read_all


def _bounded(fn, seconds: float = 10.0):
    """``fn()`` in a thread: its result, or a failure when it blocks (a FIFO read hangs)."""
    out: dict = {}

    def target():
        try:
            out["value"] = fn()
        except BaseException as e:  # handed to the test
            out["error"] = e

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), f"blocked for more than {seconds} s"
    if "error" in out:
        raise out["error"]
    return out["value"]


def _one_file(logdir: Path) -> Path:
    (path,) = event_files(logdir)
    return path


# -- steps ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [1, 40], ids=["few-records", "bulk"])
@pytest.mark.parametrize("step", [-1, -(2**40), 2**63 - 1])
def test_extreme_steps_read_like_event_accumulator(tmp_path, step, n):
    with SummaryWriter(str(tmp_path), flush_secs=3600) as w:
        for i in range(n):
            w.add_scalar("x", float(i), step)
    path = _one_file(tmp_path)
    reader, series = read_all(path)
    assert reader.error is None
    assert_same_as_tensorboard(path, series)
    assert series["x"].last_step == step


def test_step_minus_one_and_max_in_a_run_do_not_break_the_snapshot(tmp_path):
    run = make_run_dir(tmp_path / "results")
    write_harl_config(run)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        w.add_scalar("train_episode_rewards", 1.0, -1)
        w.add_scalar("train_episode_rewards", 2.0, 2**63 - 1)
    snap = RunsCollector([str(tmp_path / "results")]).collect()
    (r,) = snap.runs
    assert r.step == 2**63 - 1 and r.errors == ()
    json.dumps(json_safe(snap.to_json()), allow_nan=False)


# -- wall times and values ------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [float("nan"), 1e300, float("inf"), -5.0])
def test_impossible_wall_time_is_skipped_counted_and_the_rest_kept(tmp_path, bad):
    with SummaryWriter(str(tmp_path), flush_secs=3600) as w:
        for i in range(1, 6):
            w.add_scalar("r", float(i), i, walltime=bad if i == 3 else 1.7e9 + i)
    reader, series = read_all(_one_file(tmp_path))
    v = series["r"].view()
    assert v.steps.tolist() == [1, 2, 4, 5]
    assert reader.bad_wall == 1 and "impossible wall time" in (reader.error or "")


def test_wall_time_1e300_does_not_reach_the_text_or_json(tmp_path):
    run = make_run_dir(tmp_path / "results")
    write_harl_config(run)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        w.add_scalar("train_episode_rewards", 1.0, 1000, walltime=1.7e9)
        w.add_scalar("train_episode_rewards", 2.0, 2000, walltime=1e300)
    (r,) = RunsCollector([str(tmp_path / "results")]).collect().runs
    assert r.last_data == pytest.approx(1.7e9, abs=1)
    assert any("impossible wall time" in e for e in r.errors)


def _tensor_file(tmp_path, tensors):
    evs = []
    for i, t in enumerate(tensors):
        ev = event_pb2.Event(wall_time=1.7e9 + i, step=i + 1)
        ev.summary.value.add(tag="t", tensor=t)
        evs.append(ev)
    tmp_path.joinpath("logs").mkdir(exist_ok=True)
    return tb_writer_events(tmp_path, evs)


def test_two_byte_tensor_content_is_skipped_not_a_crash(tmp_path):
    path = _tensor_file(
        tmp_path,
        [
            tensor_pb2.TensorProto(dtype=1, tensor_content=b"\x01\x02"),
            tensor_pb2.TensorProto(dtype=1, tensor_content=struct.pack("<f", 2.5)),
        ],
    )
    reader, series = read_all(path)
    assert series["t"].view().values.tolist() == [2.5]
    assert reader.bad_values == 1 and "undecodable tensor" in reader.error


def test_half_precision_tensor_scalars_are_read(tmp_path):
    halves = []
    for x in (1.5, -2.25, 65504.0):
        t = tensor_pb2.TensorProto(dtype=19)  # DT_HALF: half_val holds the 16 bits
        t.half_val.append(struct.unpack("<H", struct.pack("<e", x))[0])
        halves.append(t)
    halves.append(tensor_pb2.TensorProto(dtype=19, tensor_content=struct.pack("<e", 0.5)))
    reader, series = read_all(_tensor_file(tmp_path, halves))
    assert series["t"].view().values.tolist() == [1.5, -2.25, 65504.0, 0.5]
    assert reader.error is None


# -- files that are not files ---------------------------------------------------------------------


def test_fifo_named_like_an_event_file_is_reported_never_opened(tmp_path):
    fifo = tmp_path / "events.out.tfevents.1.fifo"
    os.mkfifo(fifo)
    with pytest.raises(OSError, match="not a regular file"):
        _bounded(EventFileReader(str(fifo)).poll)


def test_event_file_pointing_at_dev_zero_is_not_read(tmp_path):
    link = tmp_path / "events.out.tfevents.1.zero"
    os.symlink("/dev/zero", link)
    with pytest.raises(OSError, match="not a regular file"):
        _bounded(EventFileReader(str(link)).poll)


@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "directory"])
def test_config_json_that_is_not_a_file_never_blocks(tmp_path, kind):
    path = tmp_path / "config.json"
    {"fifo": os.mkfifo, "dev-zero": lambda p: os.symlink("/dev/zero", p), "directory": os.mkdir}[
        kind
    ](path)
    cfg = _bounded(lambda: load_config(str(path)))
    assert cfg.error and "not a regular file" in cfg.error and str(path) in cfg.error


def test_fifo_config_does_not_hang_the_collector_or_the_other_runs(tmp_path):
    root = tmp_path / "results"
    bad = make_run_dir(root, exp="bad")
    os.mkfifo(bad / "config.json")
    good = make_run_dir(root, exp="good")
    write_harl_config(good)
    snap = _bounded(lambda: RunsCollector([str(root)]).collect())
    runs = {r.path: r for r in snap.runs}
    assert any("config.json" in e and "not a regular file" in e for e in runs[str(bad)].errors)
    assert runs[str(good)].errors == ()


def test_huge_config_is_refused_by_its_size(tmp_path):
    path = tmp_path / "config.json"
    with open(path, "wb") as f:
        f.truncate(MAX_CONFIG_BYTES + 1)
    t0 = time.perf_counter()
    cfg = load_config(str(path))
    assert time.perf_counter() - t0 < 1.0
    assert cfg.error and "too large" in cfg.error


# -- sparse, zero-filled and bogus regions -------------------------------------------------------


def _good_records(tmp_path, n=5, name="src"):
    d = tmp_path / name
    with SummaryWriter(str(d), flush_secs=3600) as w:
        for i in range(1, n + 1):
            w.add_scalar("r", float(i), i * 10, walltime=1.7e9 + i)
    return _one_file(d).read_bytes()


def test_8_gib_sparse_hole_is_skipped_quickly_and_the_data_after_kept(tmp_path):
    data = _good_records(tmp_path)
    after = frame(scalar_event("r", 99.0, 999, 1.7e9 + 99))
    path = tmp_path / "events.out.tfevents.1.sparse"
    with open(path, "wb") as f:
        f.write(data)
        f.truncate(len(data) + (8 << 30))  # 8 GiB of hole, no blocks
        f.seek(0, 2)
        f.write(after)
    t0 = time.perf_counter()
    reader, series = read_all(path)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, elapsed
    assert series["r"].view().steps.tolist() == [10, 20, 30, 40, 50, 999]
    assert reader.corrupt_regions >= 1 and "sparse" in reader.error


def test_zero_filled_region_written_to_disk_is_skipped_in_one_pass(tmp_path):
    data = _good_records(tmp_path)
    after = frame(scalar_event("r", 99.0, 999, 1.7e9 + 99))
    path = tmp_path / "events.out.tfevents.1.zeros"
    path.write_bytes(data + bytes(64 << 20) + after)
    t0 = time.perf_counter()
    reader, series = read_all(path)
    assert time.perf_counter() - t0 < 3.0
    assert series["r"].view().steps.tolist()[-1] == 999 and reader.corrupt_regions >= 1


def test_bogus_length_with_a_valid_length_crc_does_not_hide_later_records(tmp_path):
    data = _good_records(tmp_path, n=3)
    path = tmp_path / "events.out.tfevents.1.bogus"
    later = b"".join(frame(scalar_event("r", float(i), i * 10, 1.7e9 + i)) for i in range(5, 40))
    path.write_bytes(data + frame(scalar_event("r", 4.0, 40, 1.7e9), length=60 << 20) + later)
    reader, series = read_all(path)
    steps = series["r"].view().steps.tolist()
    assert steps[:3] == [10, 20, 30] and steps[-1] == 390 and 40 not in steps
    assert reader.corrupt_regions == 1


def test_reading_is_bounded_per_poll_and_completes_over_polls(tmp_path, monkeypatch):
    d = tmp_path / "big"
    with SummaryWriter(str(d), flush_secs=3600) as w:
        for i in range(1, 20_001):
            w.add_scalar("r", float(i), i)
    path = _one_file(d)
    monkeypatch.setattr(er, "MAX_READ_PER_POLL", 100_000)
    monkeypatch.setattr(er, "CHUNK", 50_000)
    reader = EventFileReader(str(path))
    series: dict = {}
    polls = 0
    while True:
        batch = reader.poll()
        if batch is None:
            break
        er.merge_batch(series, batch)
        polls += 1
        if not reader.behind:
            break
    assert polls > 3 and reader.error is None
    assert_same_as_tensorboard(path, series)


# -- config.json ----------------------------------------------------------------------------------


def _config_run(root: Path, exp: str, text: str | None = None, **main) -> Path:
    run = make_run_dir(root, exp=exp)
    if text is not None:
        (run / "config.json").write_text(text)
    else:
        from tests.builders import HARL_CONFIG

        cfg = json.loads(json.dumps(HARL_CONFIG))
        cfg["main_args"].update(main)
        write_harl_config(run, cfg)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        w.add_scalar("train_episode_rewards", 1.0, 1000)
    return run


def test_nan_inside_a_config_list_is_null_in_the_json(tmp_path):
    root = tmp_path / "results"
    run = make_run_dir(root)
    (run / "config.json").write_text(
        '{"main_args": {"exp_name": "x"}, "a": [NaN, 1.0, Infinity, {"b": -Infinity}], "c": NaN}'
    )
    doc = json.loads(json.dumps(json_safe(RunsCollector([str(root)]).collect().to_json())))
    cfg = doc["runs"][0]["config"]
    assert cfg["a"] == [None, 1.0, None, {"b": None}] and cfg["c"] is None


@pytest.mark.parametrize(
    "text", ["[" * 100_000 + "]" * 100_000, '{"a":' * 100_000 + "1" + "}" * 100_000]
)
def test_config_nested_100k_deep_is_an_error_naming_the_file(tmp_path, text):
    path = tmp_path / "config.json"
    path.write_text(text)
    cfg = load_config(str(path))
    assert cfg.error == f"{path}: nested too deeply to read"


def test_config_with_a_5000_digit_integer_is_read(tmp_path):
    path = tmp_path / "config.json"
    path.write_text('{"algo_args": {"train": {"num_env_steps": 1' + "0" * 5000 + "}}}")
    cfg = load_config(str(path))
    assert cfg.error is None and cfg.num_env_steps is None  # not a usable step count
    json.dumps(json_safe(dict(cfg.flat)), allow_nan=False)


@pytest.mark.parametrize("exp_name", [7, ["a", {"b": None}], None, 1.5])
def test_exp_name_of_another_type_in_a_sibling_run_does_not_break_the_sort(tmp_path, exp_name):
    root = tmp_path / "results"
    _config_run(root, "one", exp_name="cuboid")
    _config_run(root, "two", exp_name=exp_name)
    snap = Monitor([str(root)], Settings(), processes=False, gpu=False, disk=False).collect()
    assert len(snap.runs) == 2 and all(isinstance(r.exp_name, str) for r in snap.runs)
    assert all(not is_internal_error(e) for r in snap.runs for e in r.errors)


# -- directories ----------------------------------------------------------------------------------


def test_directory_name_that_is_not_utf8(tmp_path):
    parent = os.path.join(os.fsencode(tmp_path), b"results", b"bad\xff\xfe")
    run_b = os.path.join(parent, b"seed-00001-2025-11-15-15-34-13")
    os.makedirs(os.path.join(run_b, b"logs"))
    run = Path(os.fsdecode(run_b))
    write_harl_config(run)
    snap = RunsCollector([str(tmp_path / "results")]).collect()
    (r,) = snap.runs
    assert r.id == run_id(str(run)) and r.errors == ()
    assert "\\xff\\xfe" in fmt.printable(r.path)
    json.dumps(json_safe(snap.to_json()))  # ASCII escapes: never an encoding error


def test_finished_run_whose_file_is_cut_mid_record_says_so(tmp_path):
    root = tmp_path / "results"
    run = _config_run(root, "cut", exp_name="cut")
    path = _one_file(run / "logs")
    path.write_bytes(path.read_bytes()[:-5])
    coll = RunsCollector([str(root)])
    (r,) = coll.collect().runs
    assert not any("ends inside a record" in e for e in r.errors)  # live: still being written
    (run / "logs" / "summary.json").write_text("{}")
    (r,) = coll.collect().runs
    assert any("ends inside a record" in e and path.name in e for e in r.errors)


def test_event_file_deeper_than_the_walk_is_reported(tmp_path):
    root = tmp_path / "results"
    run = _config_run(root, "deep", exp_name="deep")
    deep = run / "logs" / "a" / "b" / "c" / "d" / "e" / "f" / "g"
    deep.mkdir(parents=True)
    (r,) = RunsCollector([str(root)]).collect().runs
    assert any("deeper than" in e and "logs" in e for e in r.errors)


def test_empty_checkpoint_named_with_forty_nines_is_not_a_checkpoint(tmp_path):
    root = tmp_path / "results"
    run = _config_run(root, "nines", exp_name="nines")
    (run / "models" / f"rl_model_{'9' * 40}_steps").mkdir()
    (run / "models" / "rl_model_1000_steps").mkdir()
    (r,) = RunsCollector([str(root)]).collect().runs
    assert [c.step for c in r.checkpoints] == [1000]
    assert not r.checkpoints[0].complete  # empty: never complete, never resumed from


# -- isolation ------------------------------------------------------------------------------------


def test_a_run_whose_reading_raises_is_shown_with_the_error_and_the_others_are_not(
    tmp_path, monkeypatch
):
    root = tmp_path / "results"
    bad = _config_run(root, "bad", exp_name="bad")
    good = _config_run(root, "good", exp_name="good")
    real = er._decode_records

    def buggy(buf, offs, lens, batch, reader):
        if "/bad/" in reader.path:
            raise ZeroDivisionError("a reader bug")
        return real(buf, offs, lens, batch, reader)

    monkeypatch.setattr(er, "_decode_records", buggy)
    snap = Monitor([str(root)], Settings(), processes=False, gpu=False, disk=False).collect()
    runs = {r.path: r for r in snap.runs}
    (err,) = [e for e in runs[str(bad)].errors if is_internal_error(e)]
    assert "ZeroDivisionError: a reader bug" in err and "events.out.tfevents" in err
    assert runs[str(good)].errors == () and runs[str(good)].step == 1000


def test_a_tracker_that_raises_costs_its_run_only(tmp_path, monkeypatch):
    root = tmp_path / "results"
    bad = _config_run(root, "bad", exp_name="bad")
    good = _config_run(root, "good", exp_name="good")
    from collectors.sources.runs import tracker as tr

    real = tr.RunTracker._build

    def buggy(self, now, cps):
        if "/bad/" in self.path:
            raise OverflowError("int too large")
        return real(self, now, cps)

    monkeypatch.setattr(tr.RunTracker, "_build", buggy)
    snap = RunsCollector([str(root)]).collect()
    runs = {r.path: r for r in snap.runs}
    assert any("OverflowError: int too large" in e for e in runs[str(bad)].errors)
    assert runs[str(good)].errors == () and runs[str(good)].step == 1000


def test_json_safe_bounds_depth_and_size_and_never_writes_nan():
    deep: list = []
    x = deep
    for _ in range(1000):
        x.append([])
        x = x[0]
    doc = {"deep": deep, "big": 10**5000, "nan": [np.float32("nan"), float("inf")], 3: (1, 2)}
    text = json.dumps(json_safe(doc), allow_nan=False)
    out = json.loads(text)
    assert out["nan"] == [None, None] and out["big"] is None and out["3"] == [1, 2]
    assert "nested too deeply" in text


def test_printable_escapes_terminal_control_and_markup_is_left_to_the_widgets():
    s = fmt.printable("\x1b[2J\x1b]0;title\x07[bold]x[/]\r\u202e\udcff")
    assert "\x1b" not in s and "\x07" not in s and "\r" not in s and "\u202e" not in s
    assert s.startswith("\\x1b[2J") and "[bold]x[/]" in s and s.endswith("\\xff")


def test_a_tag_in_two_directories_prefers_harls_sub_writer_and_reports_the_clash(tmp_path):
    root = tmp_path / "results"
    run = _config_run(root, "clash", exp_name="clash")
    tag = "agent0/dist_entropy"
    with SummaryWriter(str(run / "logs" / "aaa"), flush_secs=3600) as w:  # read first
        w.add_scalar(tag, 9.0, 1000)
    with SummaryWriter(str(run / "logs"), flush_secs=3600) as w:
        w.add_scalars(tag, {tag: 1.5}, 1000)  # HARL: logs/<tag>/<tag>/
    (r,) = RunsCollector([str(root)]).collect().runs
    assert r.scalars[tag].value == 1.5 and r.scalars[f"{tag}@aaa"].value == 9.0
    assert any("written by" in e and tag in e for e in r.errors)
