"""The reader's fast path for runs of same-length records (issue 16): records are framed as runs
``(offset, length, count)`` and a run is checked against its first record only in the bytes that
must be equal, so these tests put what could slip through inside long runs: a corrupted record
in the middle, a record of another shape with the same length, a tail cut off mid-run, a file
read while it grows. Files come from the real writer (tensorboardX) or are framed here from the
protobuf classes; the expected points are EventAccumulator's."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2, summary_pb2

from collectors.sources.runs.event_reader import EventFileReader, masked_crc32c, merge_batch
from collectors.sources.runs.series import ScalarSeries
from tests.sources.test_event_reader import (
    assert_same_as_tensorboard,
    read_all,
    records,
    write_tbx,
)

TAG = "agent0/dist_entropy"


def frame(payload: bytes) -> bytes:
    head = struct.pack("<Q", len(payload))
    return (
        head
        + struct.pack("<I", masked_crc32c(head))
        + payload
        + struct.pack("<I", masked_crc32c(payload))
    )


def scalar(tag: str, step: int, value: float, wall: float) -> bytes:
    ev = event_pb2.Event(wall_time=wall, step=step)
    ev.summary.CopyFrom(
        summary_pb2.Summary(value=[summary_pb2.Summary.Value(tag=tag, simple_value=value)])
    )
    return frame(ev.SerializeToString())


def header(wall: float) -> bytes:
    return frame(event_pb2.Event(wall_time=wall, file_version="brain.Event:2").SerializeToString())


def test_a_record_corrupted_in_the_middle_of_a_run(tmp_path):
    src = write_tbx(tmp_path, n=400)
    data, offs = records(src)
    _, clean = read_all(src)
    steps = clean[TAG].view().steps.tolist()
    victim = 200  # point 199: deep inside one run of 4-byte steps
    at = offs[victim]
    length = struct.unpack_from("<Q", data, at)[0]
    tag_at = at + 12 + length - 4 - 1 - 3  # a byte of the tag: the record still parses
    buf = bytearray(data)
    buf[tag_at] ^= 0x01
    src.write_bytes(bytes(buf))
    # Checked: the record is corrupt, reported once, and every other point is kept in order.
    reader, series = read_all(src, verify_crc=True)
    got = series[TAG].view().steps.tolist()
    assert got == steps[: victim - 1] + steps[victim:]
    assert reader.corrupt_regions == 1 and "corrupt" in (reader.error or "")
    # Unchecked (the default, as before the fast path): the run around it still decodes point
    # for point; the damaged record is whatever its bytes say (a point of another tag).
    reader, series = read_all(src)
    assert series[TAG].view().steps.tolist() == steps[: victim - 1] + steps[victim:]
    assert sum(len(s) for s in series.values()) == len(steps)


def test_a_value_flipped_in_the_middle_of_a_run_is_caught_by_the_crc(tmp_path):
    src = write_tbx(tmp_path, n=400)
    data, offs = records(src)
    at = offs[300]
    length = struct.unpack_from("<Q", data, at)[0]
    buf = bytearray(data)
    buf[at + 12 + length - 2] ^= 0x40  # the float value: the structure is intact
    src.write_bytes(bytes(buf))
    _, unchecked = read_all(src)
    assert len(unchecked[TAG]) == 400
    reader, checked = read_all(src, verify_crc=True)
    assert len(checked[TAG]) == 399 and reader.corrupt_regions == 1


@pytest.mark.parametrize("odd", ["another tag", "a longer step, a shorter tag"])
def test_a_record_of_another_shape_with_the_same_length_inside_a_run(tmp_path, odd):
    """Same length, other bytes: another tag of the same length, or a step one varint byte
    longer with a tag one byte shorter. It must land in its own series, the run around it in
    its own, in order."""
    t0 = 1.7e9
    recs = [header(t0)]
    expected: dict[str, list[int]] = {}

    def add(tag: str, step: int) -> None:
        recs.append(scalar(tag, step, float(step % 7), t0 + step / 1e6))
        expected.setdefault(tag, []).append(step)

    for i in range(1, 101):
        add("agent0/ratio", 3_000_000 + i * 1000)  # 4-byte steps
    if odd == "another tag":
        add("agent1/ratio", 3_101_000)
    else:
        add("agent0/rati", 300_000_000)  # a 5-byte step and an 11-byte tag
    for i in range(102, 301):
        add("agent0/ratio", 3_000_000 + i * 1000)
    assert len({len(r) for r in recs[1:]}) == 1
    src = tmp_path / "events.out.tfevents.1700000000.host"
    src.write_bytes(b"".join(recs))
    reader, series = read_all(src)
    assert reader.error is None
    assert {t: s.view().steps.tolist() for t, s in series.items()} == expected
    assert_same_as_tensorboard(src, series)


def test_a_tail_cut_off_inside_a_run_is_read_when_it_is_complete(tmp_path):
    src = write_tbx(tmp_path, n=3000)
    data, offs = records(src)
    cut = offs[2000] + 30  # inside record 2000
    src.write_bytes(data[:cut])
    reader, series = read_all(src)
    assert len(series[TAG]) == 1999 and reader.error is None
    assert reader.tail_bytes == 30
    with open(src, "ab") as f:
        f.write(data[cut:])
    merge_batch(series, reader.poll())
    assert len(series[TAG]) == 3000 and reader.error is None and reader.tail_bytes == 0
    assert_same_as_tensorboard(src, series)


def test_a_file_read_while_it_grows_in_random_pieces(tmp_path):
    src = write_tbx(tmp_path / "w", n=5000, tags=(TAG, "critic/value_loss"))
    data = src.read_bytes()
    dst = tmp_path / src.name
    dst.write_bytes(b"")
    rng = random.Random(16)
    reader = EventFileReader(str(dst))
    series: dict[str, ScalarSeries] = {}
    pos = 0
    while pos < len(data):
        step = rng.choice((1, 7, 57, 500, 4096, 30_000))  # mid-record, whole runs, both
        with open(dst, "ab") as f:
            f.write(data[pos : pos + step])
        pos += step
        batch = reader.poll()
        if batch is not None:
            merge_batch(series, batch)
        assert reader.error is None
    assert reader.tail_bytes == 0 and reader.offset == len(data)
    for tag in (TAG, "critic/value_loss"):
        assert np.all(np.diff(series[tag].view().steps) > 0)
    assert_same_as_tensorboard(dst, series)


@pytest.mark.parametrize("n", [300, 5000], ids=["short run", "long run"])
@pytest.mark.parametrize("odd", ["another tag", "a longer step, a shorter tag", "a tag byte"])
def test_short_and_long_runs_are_checked_alike(tmp_path, n, odd):
    """A short run (a small file) is checked in one 2-D view of its constant words, a long one
    word by word: a record of another shape with the same length, or one with a damaged tag
    byte, is found by both, anywhere in the run."""
    t0 = 1.7e9
    for at in (1, n // 2, n - 1):  # the run's second record, its middle, its last
        recs = [header(t0)]
        expected: dict[str, list[int]] = {}
        for i in range(1, n + 1):
            tag, step = "agent0/ratio", 3_000_000 + i * 1000  # 4-byte steps
            if i == at + 1 and odd == "another tag":
                tag = "agent1/ratio"
            elif i == at + 1 and odd == "a longer step, a shorter tag":
                tag, step = "agent0/rati", 300_000_000  # a 5-byte step, an 11-byte tag
            elif i == at + 1:
                tag = "agent0/ratjo"  # the bytes of another tag, framed as a sound record
            recs.append(scalar(tag, step, float(step % 7), t0 + step / 1e6))
            expected.setdefault(tag, []).append(step)
        assert len({len(r) for r in recs[1:]}) == 1
        src = tmp_path / f"{at}" / "events.out.tfevents.1700000000.host"
        src.parent.mkdir()
        src.write_bytes(b"".join(recs))
        reader, series = read_all(src)
        assert reader.error is None
        assert {t: s.view().steps.tolist() for t, s in series.items()} == expected
        assert reader.slow_records == 1  # the header only: both paths stay vectorised


@pytest.mark.parametrize("n", [3, 300], ids=["a few records", "a run"])
def test_a_header_record_with_a_bad_crc_is_corruption(tmp_path, n):
    """The header record is skipped without protobuf only when its CRC is valid: a damaged one
    is reported as corruption, as any damaged record, and the points after it are kept."""
    src = write_tbx(tmp_path, n=n)
    _, clean = read_all(src)
    data, offs = records(src)
    buf = bytearray(data)
    buf[offs[0] + 12 + 3] ^= 0x01  # inside the header's wall time: it still parses
    src.write_bytes(bytes(buf))
    reader, series = read_all(src)
    assert series[TAG].view().steps.tolist() == clean[TAG].view().steps.tolist()
    assert reader.corrupt_regions == 1 and "corrupt" in (reader.error or "")
