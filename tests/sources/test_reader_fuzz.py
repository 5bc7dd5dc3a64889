"""Fuzzing the event reader on mutated real event files (issue 11).

Real files from tensorboardX (scalars of several tags, a histogram, a restart) are mutated with
a fixed seed: bit flips, overwritten bytes, zeroed and garbage runs, inserted and deleted bytes,
overwritten length fields, truncation. For every mutant the reader must not raise, must finish
within a time bound, and with ``verify_crc`` the points of every record that ends before the
first mutated byte must be exactly EventAccumulator's for that untouched prefix (without CRC
checks a flipped step may legitimately purge points by TensorBoard's restart rule, so there only
"no exception, no hang" is asserted).

``HAPPO_FUZZ_EXAMPLES`` sets the number of mutants (default 300 in the suite, about 3 s); the
``slow`` test runs ``HAPPO_FUZZ_LONG`` (default 3000). hypothesis is not a dependency: the
mutations are drawn from :class:`random.Random` with a fixed seed, so a failure is reproducible
from the seed and the example number in its message.
"""

from __future__ import annotations

import os
import random
import struct
import time
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboardX import SummaryWriter

from collectors.sources.runs.event_reader import EventFileReader, merge_batch
from collectors.sources.runs.series import ScalarSeries

SEED = 20251115
PER_FILE_SECONDS = 2.0


def _sources(tmp: Path) -> list[bytes]:
    out = []
    rng = np.random.default_rng(1)
    for k, (n, tags, hist) in enumerate(
        [
            (60, ("train_episode_rewards",), False),
            (40, ("a/x", "b/y", "c"), True),
            (5, ("z",), False),
        ]
    ):
        d = tmp / f"src{k}"
        with SummaryWriter(str(d), flush_secs=3600) as w:
            for i in range(1, n + 1):
                for t in tags:
                    w.add_scalar(t, float(rng.normal()), i * 1000 * (k + 1))
                if hist and i % 7 == 0:
                    w.add_histogram("h", rng.normal(size=16), i)
        (f,) = [p for p in d.iterdir() if p.name.startswith("events.out.tfevents")]
        out.append(f.read_bytes())
    return out


def _boundaries(data: bytes) -> list[int]:
    ends, pos = [], 0
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from("<Q", data, pos)
        pos += 12 + length + 4
        ends.append(pos)
    return ends


def mutate(data: bytes, rnd: random.Random) -> tuple[bytes, int]:
    """A mutant of ``data`` and the offset of its first changed byte."""
    b = bytearray(data)
    n = len(b)
    kind = rnd.choice(
        ["flip", "byte", "zeros", "garbage", "insert", "delete", "length", "truncate", "many"]
    )
    at = rnd.randrange(n)
    if kind == "flip":
        b[at] ^= 1 << rnd.randrange(8)
    elif kind == "byte":
        b[at] = rnd.randrange(256)
    elif kind == "zeros":
        k = rnd.randrange(1, 600)
        b[at : at + k] = bytes(len(b[at : at + k]))
    elif kind == "garbage":
        k = rnd.randrange(1, 600)
        b[at : at + k] = rnd.randbytes(len(b[at : at + k]))
    elif kind == "insert":
        b[at:at] = rnd.randbytes(rnd.randrange(1, 64))
    elif kind == "delete":
        del b[at : at + rnd.randrange(1, 64)]
    elif kind == "length":  # a length field: a random value, or a huge plausible one
        ends = [0, *_boundaries(data)[:-1]]
        at = rnd.choice(ends)
        value = rnd.choice([rnd.randrange(1 << 64), rnd.randrange(1 << 26), 0])
        b[at : at + 8] = struct.pack("<Q", value)
    elif kind == "truncate":
        del b[at:]
    else:
        for _ in range(rnd.randrange(2, 20)):
            b[rnd.randrange(n)] = rnd.randrange(256)
    first = next((i for i in range(min(len(b), n)) if b[i] != data[i]), min(len(b), n))
    return bytes(b), first


def _read(path: Path, verify_crc: bool) -> dict[str, ScalarSeries]:
    reader = EventFileReader(str(path), verify_crc=verify_crc)
    series: dict[str, ScalarSeries] = {}
    for _ in range(3):  # a second poll of the same bytes must be harmless too
        batch = reader.poll()
        if batch is not None:
            merge_batch(series, batch)
    return series


def _accumulate(path: Path) -> dict[str, list]:
    ea = EventAccumulator(str(path), size_guidance={"scalars": 0})
    ea.Reload()
    return {t: ea.Scalars(t) for t in ea.Tags()["scalars"]}


def fuzz(tmp: Path, examples: int, seed: int = SEED) -> int:
    sources = _sources(tmp)
    rnd = random.Random(seed)
    checked = 0
    for i in range(examples):
        data = sources[i % len(sources)]
        mutant, first = mutate(data, rnd)
        path = tmp / f"events.out.tfevents.{i}.fuzz"
        path.write_bytes(mutant)
        for verify in (False, True):
            t0 = time.perf_counter()
            try:
                got = _read(path, verify)
            except Exception as e:  # pragma: no cover - the failure being looked for
                raise AssertionError(f"seed {seed} example {i} (verify_crc={verify}): {e!r}") from e
            took = time.perf_counter() - t0
            assert took < PER_FILE_SECONDS, f"seed {seed} example {i}: {took:.1f} s"
        # The untouched prefix: records that end before the first mutated byte.
        keep = max((e for e in _boundaries(data) if e <= first), default=0)
        prefix = tmp / f"events.out.tfevents.{i}.prefix"
        prefix.write_bytes(data[:keep])
        expected = _accumulate(prefix) if keep else {}
        for tag, events in expected.items():
            v = got[tag].view()
            assert v.steps[: len(events)].tolist() == [e.step for e in events], (seed, i, tag)
            np.testing.assert_array_equal(
                v.values[: len(events)], np.float32([e.value for e in events])
            )
        checked += bool(expected)
        path.unlink()
        prefix.unlink()
    return checked


def test_fuzz_mutated_event_files(tmp_path):
    examples = int(os.environ.get("HAPPO_FUZZ_EXAMPLES", "300"))
    checked = fuzz(tmp_path, examples)
    assert checked > examples // 4  # most mutants keep a prefix that was compared


@pytest.mark.slow
def test_fuzz_mutated_event_files_long(tmp_path):
    examples = int(os.environ.get("HAPPO_FUZZ_LONG", "3000"))
    fuzz(tmp_path, examples, seed=SEED + 1)
