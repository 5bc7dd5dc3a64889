"""The incremental event reader against files written by the real writers (tensorboardX, as HARL
uses it, and tensorboard's own EventFileWriter), read while they grow, cut off, and corrupted."""

from __future__ import annotations

import os
import shutil
import struct
import time

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.compat.proto import event_pb2, summary_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter
from tensorboardX import SummaryWriter

from collectors.sources.runs.event_reader import Batch, EventFileReader, masked_crc32c, merge_batch
from collectors.sources.runs.series import ScalarSeries
from tests.builders import event_files


def read_all(path, verify_crc=False, reader=None):
    reader = reader or EventFileReader(str(path), verify_crc=verify_crc)
    series: dict[str, ScalarSeries] = {}
    batch = reader.poll()
    if batch is not None:
        merge_batch(series, batch)
    return reader, series


def accumulate(path):
    ea = EventAccumulator(str(path), size_guidance={"scalars": 0})
    ea.Reload()
    return {t: ea.Scalars(t) for t in ea.Tags()["scalars"]}


def assert_same_as_tensorboard(path, series):
    expected = accumulate(path)
    assert set(expected) == set(series)
    for tag, events in expected.items():
        v = series[tag].view()
        assert v.steps.tolist() == [e.step for e in events]
        np.testing.assert_array_equal(v.values, np.float32([e.value for e in events]))
        np.testing.assert_allclose(v.wall, [e.wall_time for e in events], atol=1e-3)


def write_tbx(logdir, n=300, start=1, tags=("agent0/dist_entropy",), histogram=False):
    w = SummaryWriter(str(logdir), flush_secs=3600)
    rng = np.random.default_rng(0)
    for i in range(start, start + n):
        for tag in tags:
            w.add_scalar(tag, float(rng.normal()), i * 500_000)
        if histogram:
            w.add_histogram("hist/actions", rng.normal(size=32), i * 500_000)
    w.close()
    return event_files(logdir)[0]


def records(path):
    """Byte offsets of each record of a well-formed file (for cutting and corrupting)."""
    data = path.read_bytes()
    offs, pos = [], 0
    while pos < len(data):
        offs.append(pos)
        (length,) = struct.unpack_from("<Q", data, pos)
        pos += 12 + length + 4
    assert pos == len(data)
    return data, offs


def test_tensorboardx_add_scalars_matches_event_accumulator(tmp_path):
    logs = tmp_path / "logs"
    w = SummaryWriter(str(logs))
    rng = np.random.default_rng(1)
    for i in range(1, 201):
        step = i * 500_000
        w.add_scalars("train_episode_rewards", {"aver_rewards": float(rng.normal(-15))}, step)
        for a in range(2):
            w.add_scalars(
                f"agent{a}/dist_entropy", {f"agent{a}/dist_entropy": float(rng.random())}, step
            )
        w.add_scalar("average_step_reward", float(rng.normal()), step)
        w.add_histogram("hist", rng.normal(size=16), step)
    w.add_scalar("at_step_zero", 3.25, 0)
    w.close()
    files = event_files(logs)
    assert len(files) == 4  # main file + one sub-writer per add_scalars key
    for f in files:
        _, series = read_all(f)
        assert series, f
        assert_same_as_tensorboard(f, series)
    _, main = read_all(files[0] if "agent" not in str(files[0]) else files[-1])
    # The in-file tag is the main tag, not the sub-writer directory.
    tags = set()
    for f in files:
        tags |= set(read_all(f)[1])
    assert {"train_episode_rewards", "agent0/dist_entropy", "agent1/dist_entropy"} <= tags
    assert "hist" not in tags


def test_plain_scalars_take_the_fast_path(tmp_path):
    src = write_tbx(tmp_path, n=500, tags=("agent0/dist_entropy", "x", "a" * 100))
    reader, series = read_all(src)
    assert len(series) == 3 and all(len(s) == 500 for s in series.values())
    assert reader.slow_records == 1  # only the file_version header record


def test_a_few_new_records_are_decoded_without_protobuf(tmp_path):
    src = write_tbx(tmp_path, n=10, tags=("agent0/dist_entropy", "x"))
    data, offs = records(src)
    src.write_bytes(data[: offs[3]])  # header + 2 points, then a live writer adds one at a time
    reader, series = read_all(src)
    for k in range(3, len(offs)):
        end = offs[k + 1] if k + 1 < len(offs) else len(data)
        with open(src, "ab") as f:
            f.write(data[offs[k] : end])
        merge_batch(series, reader.poll())
    assert reader.slow_records == 1
    assert_same_as_tensorboard(src, series)


def test_tensorboard_own_writer_simple_and_tensor_scalars(tmp_path):
    w = EventFileWriter(str(tmp_path))
    for i in range(50):
        s = summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag="loss", simple_value=i / 7)])
        w.add_event(event_pb2.Event(wall_time=1000.0 + i, step=i * 10, summary=s))
        t = summary_pb2.Summary.Value(tag="tensor_scalar")
        t.tensor.dtype = 1
        t.tensor.float_val.append(i * 2.0)
        w.add_event(
            event_pb2.Event(
                wall_time=1000.5 + i, step=i * 10, summary=summary_pb2.Summary(value=[t])
            )
        )
    w.close()
    (f,) = event_files(tmp_path)
    reader, series = read_all(f)
    assert reader.error is None
    assert series["loss"].view().steps.tolist() == [i * 10 for i in range(50)]
    np.testing.assert_array_equal(
        series["loss"].view().values, np.float32([i / 7 for i in range(50)])
    )
    np.testing.assert_array_equal(
        series["tensor_scalar"].view().values, np.float32([i * 2.0 for i in range(50)])
    )


@pytest.mark.slow
def test_incremental_reads_only_what_was_appended(tmp_path):
    # tensorboardX writes from a background thread: data lands in bursts, records may be cut off.
    w = SummaryWriter(str(tmp_path), flush_secs=1)
    reader = None
    series: dict[str, ScalarSeries] = {}
    for burst in range(5):
        for i in range(100):
            step = (burst * 100 + i + 1) * 1000
            w.add_scalar("r", float(step), step)
        w.flush()
        deadline = time.time() + 10
        while time.time() < deadline:
            files = event_files(tmp_path)
            if files:
                reader = reader or EventFileReader(str(files[0]))
                before = reader.offset, len(series.get("r", ()))
                batch = reader.poll()
                if batch is not None:
                    merge_batch(series, batch)
                    # only what was appended: offset and count move on together
                    assert reader.offset > before[0]
                    assert len(series["r"]) == before[1] + batch.points
                    assert reader.error is None
                if len(series.get("r", ())) == (burst + 1) * 100:
                    break
            time.sleep(0.01)
        assert len(series["r"]) == (burst + 1) * 100
    w.close()
    merge_batch(series, reader.poll() or Batch())
    assert reader.poll() is None  # nothing new: one stat, no read
    v = series["r"].view()
    assert v.steps.tolist() == [(i + 1) * 1000 for i in range(500)]
    np.testing.assert_array_equal(v.values, v.steps.astype(np.float32))


def test_cut_off_at_every_byte_is_retried_not_corruption(tmp_path):
    src = write_tbx(tmp_path / "src", n=3, tags=("a", "bb"), histogram=True)
    data, offs = records(src)
    _, full = read_all(src)
    live = tmp_path / "live" / src.name
    live.parent.mkdir()
    # Every byte around each record boundary (headers, CRCs), and a stride through payloads.
    cuts = {c for o in [*offs, len(data)] for c in range(o - 20, o + 20)} | set(
        range(0, len(data), 61)
    )
    for cut in sorted(c for c in cuts if 0 <= c <= len(data)):
        live.write_bytes(data[:cut])
        reader, series = read_all(live)
        complete = max((o for o in [*offs, len(data)] if o <= cut), default=0)
        assert reader.offset == complete, cut
        assert reader.error is None, (cut, reader.error)
        # the writer finishes the record: the rest arrives on the next poll
        with open(live, "ab") as f:
            f.write(data[cut:])
        batch = reader.poll()
        if batch is not None:
            merge_batch(series, batch)
        assert reader.error is None
        assert reader.offset == len(data)
        for tag in full:
            assert series[tag].view().steps.tolist() == full[tag].view().steps.tolist(), (cut, tag)


def test_same_cut_off_tail_is_not_reread(tmp_path):
    src = write_tbx(tmp_path, n=20)
    data, offs = records(src)
    src.write_bytes(data[: offs[-1] + 5])
    reader, _ = read_all(src)
    assert reader.offset == offs[-1]
    assert reader.poll() is None  # same size as last time: no read at all


@pytest.mark.parametrize(
    "damage",
    ["garbage", "zeros", "bad_length", "huge_length", "payload_bytes"],
)
def test_corrupt_region_is_skipped_reported_once_and_data_after_kept(tmp_path, damage):
    src = write_tbx(tmp_path, n=200)
    data, offs = records(src)
    _, clean = read_all(src)
    steps = clean["agent0/dist_entropy"].view().steps.tolist()
    buf = bytearray(data)
    victim = 100  # record 0 is the file header; record k holds point k-1
    at = offs[victim]
    if damage == "garbage":
        buf[at : at + 130] = os.urandom(130)
        lost = {
            s
            for i, s in enumerate(steps)
            if at <= offs[i + 1] < at + 130 or offs[i + 1] < at + 130 <= offs[i + 2]
        }
    elif damage == "zeros":
        buf[at : at + 200] = bytes(200)
        lost = None
    elif damage == "bad_length":
        buf[at : at + 8] = struct.pack("<Q", 33)
        lost = {steps[victim - 1]}
    elif damage == "huge_length":
        buf[at : at + 8] = struct.pack("<Q", 1 << 40)
        lost = {steps[victim - 1]}
    else:  # a payload byte that breaks the structure, the length intact
        buf[at + 12] = 0x55
        lost = {steps[victim - 1]}
    src.write_bytes(bytes(buf))
    reader, series = read_all(src)
    got = series["agent0/dist_entropy"].view().steps.tolist()
    assert reader.error is not None and "corrupt" in reader.error
    assert reader.corrupt_regions == 1
    # Everything before the damage and everything after it is kept.
    assert got[: victim - 1] == steps[: victim - 1]
    assert got[-50:] == steps[-50:]
    if lost is not None:
        assert set(steps) - set(got) == lost
    else:
        assert len(got) >= len(steps) - 5
    # Reported once: a later poll neither re-reads nor re-reports.
    message = reader.error
    assert reader.poll() is None
    assert reader.error == message and reader.corrupt_regions == 1


def test_corrupt_tail_waits_for_the_writer(tmp_path):
    """Garbage at the end is reported, and valid records written after it are still read."""
    src = write_tbx(tmp_path, n=10)
    data, offs = records(src)
    src.write_bytes(data + bytes(64))  # a crashed writer's zero-filled tail
    reader, series = read_all(src)
    assert len(series["agent0/dist_entropy"]) == 10
    assert reader.error is not None and "corrupt" in reader.error
    assert reader.poll() is None
    with open(src, "ab") as f:  # a new valid record after the garbage
        f.write(data[offs[-1] :])
    merge_batch(series, reader.poll())
    steps = series["agent0/dist_entropy"].view().steps
    assert len(steps) == 11  # the same step again is kept (TensorBoard purges only lower steps)
    assert steps[-1] == steps[-2] == 10 * 500_000
    assert reader.corrupt_regions == 1


def test_crc_verification_catches_a_flipped_value_bit(tmp_path):
    src = write_tbx(tmp_path, n=50)
    data, offs = records(src)
    buf = bytearray(data)
    rec = offs[20]
    length = struct.unpack_from("<Q", buf, rec)[0]
    buf[rec + 12 + length - 2] ^= 0x01  # inside the float value: structure still valid
    src.write_bytes(bytes(buf))
    _, unchecked = read_all(src)
    assert len(unchecked["agent0/dist_entropy"]) == 50  # the default trusts the structure
    reader, checked = read_all(src, verify_crc=True)
    assert len(checked["agent0/dist_entropy"]) == 49
    assert reader.error and "corrupt" in reader.error
    assert (
        masked_crc32c(data[rec + 12 : rec + 12 + length])
        == struct.unpack_from("<I", data, rec + 12 + length)[0]
    )


def test_zero_byte_main_file(tmp_path):
    f = tmp_path / "events.out.tfevents.1700000000.host"
    f.write_bytes(b"")
    reader, series = read_all(f)
    assert series == {} and reader.error is None and reader.offset == 0


def test_replaced_file_is_read_again(tmp_path):
    src = write_tbx(tmp_path / "a", n=30)
    reader, series = read_all(src)
    assert len(series["agent0/dist_entropy"]) == 30
    other = write_tbx(tmp_path / "b", n=10, start=1)
    os.replace(other, src)  # new inode
    merge_batch(series, reader.poll())
    assert reader.restarts == 1
    # the replacement restarts at step 500k: newer data wins from there on
    assert len(series["agent0/dist_entropy"]) == 10


def test_restart_with_lower_step_newer_data_wins(tmp_path):
    first = write_tbx(tmp_path / "one", n=100)  # steps 0.5M .. 50M
    second = write_tbx(tmp_path / "two", n=40, start=61)  # resumed at 30.5M
    series: dict[str, ScalarSeries] = {}
    for f in (first, second):
        merge_batch(series, EventFileReader(str(f)).poll())
    steps = series["agent0/dist_entropy"].view().steps
    assert steps.tolist() == [i * 500_000 for i in range(1, 61)] + [
        i * 500_000 for i in range(61, 101)
    ]
    assert np.all(np.diff(steps) > 0)


def test_views_handed_out_do_not_change(tmp_path):
    s = ScalarSeries()
    s.extend(np.arange(1, 101, dtype=np.int64), np.ones(100, np.float32), np.arange(100.0) + 1e9)
    v = s.view()
    s.extend(np.arange(50, 60, dtype=np.int64), np.zeros(10, np.float32), np.arange(10.0) + 2e9)
    assert v.steps.tolist() == list(range(1, 101))
    assert not v.values.flags.writeable
    assert s.view().steps.tolist() == list(range(1, 50)) + list(range(50, 60))


def test_memory_is_bounded_per_point():
    s = ScalarSeries()
    for k in range(1000):
        n = 97
        base = k * n
        s.extend(
            np.arange(base, base + n, dtype=np.int64),
            np.ones(n, np.float32),
            np.full(n, 1e9 + base),
        )
        assert s.nbytes <= 24 * max(len(s), 64)
    s.compact()
    assert s.nbytes == 16 * len(s)


def test_large_record_bigger_than_a_read_chunk(tmp_path, monkeypatch):
    import collectors.sources.runs.event_reader as er

    monkeypatch.setattr(er, "CHUNK", 256)
    src = write_tbx(tmp_path, n=40, histogram=True)
    reader, series = read_all(src)
    assert reader.error is None
    assert_same_as_tensorboard(src, series)


def test_deleted_file_raises_for_the_caller(tmp_path):
    src = write_tbx(tmp_path, n=5)
    reader = EventFileReader(str(src))
    shutil.rmtree(tmp_path)
    with pytest.raises(FileNotFoundError):
        reader.poll()


def test_series_is_thinned_evenly_past_its_cap():
    s = ScalarSeries(max_points=1000)
    total = 0
    for _ in range(100):
        n = 97
        steps = np.arange(total, total + n, dtype=np.int64) + 1
        s.extend(steps, steps.astype(np.float32), 1e9 + steps.astype(np.float64))
        total += n
        assert len(s) <= 1000
        assert s.nbytes <= 24 * 1000 + 16 * 97
    v = s.view()
    assert s.offered == total and s.stride == 16
    assert s.last_step == total and s.last_value == total  # the newest point is exact
    gaps = np.diff(v.steps)
    assert gaps.min() >= 1 and np.median(gaps) == s.stride  # evenly sampled over the whole run
    assert v.steps[0] == 1 and total - v.steps[-1] < s.stride
    # thinning keeps the overall mean of a ramp
    assert abs(float(v.values.mean()) - (total + 1) / 2) < 0.02 * total


def test_nan_is_remembered_when_thinned_away():
    s = ScalarSeries(max_points=100)
    steps = np.arange(1, 1001, dtype=np.int64)
    values = np.ones(1000, np.float32)
    values[501] = np.nan  # an odd index: thinned away below
    s.extend(steps, values, 1e9 + steps.astype(np.float64))
    assert np.isfinite(s.view().values).all()
    assert s.nonfinite == 1 and s.first_nonfinite_step == 502
