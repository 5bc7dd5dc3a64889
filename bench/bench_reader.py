"""Benchmark of the data layer: cold loads, idle and busy polls, memory, health rules, start-up.

    python bench/bench_reader.py            # full run (~2-3 minutes on 2 cores)
    python bench/bench_reader.py --quick    # smaller data set, fewer repeats
    python bench/bench_reader.py --baseline main   # the cold load beside main's reader

Prints medians of several repetitions, side by side in one run (machines are shared and noisy).
The data set is generated once into bench/_data/ (git-ignored) and reused. Event records are
encoded here byte for byte as tensorboardX writes them (checked against the protobuf classes
below), which is ~20x faster than generating millions of points through the writer itself;
the reader's tests run against files written by the real writers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from _installed import installed_env

# HAPPO_SRC: another tree to measure (bench_polls.py --baseline runs its children so)
sys.path.insert(0, os.environ.get("HAPPO_SRC") or str(Path(__file__).resolve().parent.parent))

from collectors.analysis import health  # noqa: E402
from collectors.model import Settings  # noqa: E402
from collectors.sources.runs import RunsCollector  # noqa: E402
from collectors.sources.runs.event_reader import EventFileReader, masked_crc32c, merge_batch  # noqa: E402

DATA = Path(__file__).resolve().parent / "_data"
TAGS = [
    "train_episode_rewards",
    "agent0/policy_loss",
    "agent0/dist_entropy",
    "agent0/actor_grad_norm",
    "agent0/ratio",
    "agent1/policy_loss",
    "agent1/dist_entropy",
    "agent1/actor_grad_norm",
    "agent1/ratio",
    "critic/value_loss",
    "critic/critic_grad_norm",
    "critic/average_step_rewards",
    "success_rate",
]
CONFIG = (
    '{\n    "algo_args":\t{\n        "train":\t{\n            "episode_length":\t200,\n'
    '            "eval_interval":\t25,\n            "log_interval":\t5,\n'
    '            "n_rollout_threads":\t500,\n            "num_env_steps":\t{steps}.0\n'
    '        }\n    },\n    "env_args":\t{\n        "task":\t"go1push_mid"\n    },\n'
    '    "main_args":\t{\n        "algo":\t"happo",\n        "env":\t"mapush",\n'
    '        "exp_name":\t"bench"\n    }\n}'
)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def encode(tag: str, steps: np.ndarray, values: np.ndarray, wall: np.ndarray) -> bytes:
    """TFRecord-framed scalar events, as tensorboardX writes them."""
    t = tag.encode()
    tl = len(t)
    tail = b"\x2a" + bytes([tl + 9, 0x0A, tl + 7, 0x0A, tl]) + t + b"\x15"
    parts = []
    for s, v, w in zip(steps.tolist(), values.tolist(), wall.tolist(), strict=True):
        payload = (
            b"\x09" + struct.pack("<d", w) + b"\x10" + _varint(s) + tail + struct.pack("<f", v)
        )
        head = struct.pack("<Q", len(payload))
        parts.append(head + struct.pack("<I", masked_crc32c(head)) + payload)
        parts.append(struct.pack("<I", masked_crc32c(payload)))
    return b"".join(parts)


def file_header(wall: float) -> bytes:
    payload = b"\x09" + struct.pack("<d", wall) + b"\x1a\x0dbrain.Event:2"
    head = struct.pack("<Q", len(payload))
    return (
        head
        + struct.pack("<I", masked_crc32c(head))
        + payload
        + struct.pack("<I", masked_crc32c(payload))
    )


def check_encoding() -> None:
    from tensorboard.compat.proto import event_pb2, summary_pb2

    ev = event_pb2.Event(
        wall_time=1.7e9 + 0.25,
        step=123_500_000,
        summary=summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="agent0/ratio", simple_value=1.5)]
        ),
    )
    framed = encode(
        "agent0/ratio", np.array([123_500_000]), np.array([1.5]), np.array([1.7e9 + 0.25])
    )
    assert framed[12:-4] == ev.SerializeToString(), "bench encoder differs from protobuf"


def make_run(root: Path, name: str, points: int, t0: float, tags=TAGS) -> Path:
    run = root / "mapush" / "go1push_mid" / "happo" / "bench" / name
    logs = run / "logs"
    logs.mkdir(parents=True)
    (run / "models").mkdir()
    (run / "config.json").write_text(CONFIG.replace("{steps}", str(points * 2 * 500_000)))
    (logs / "events.out.tfevents.1700000000.bench").write_bytes(b"")  # the 0-byte main file
    rng = np.random.default_rng(len(name))
    steps = np.arange(1, points + 1, dtype=np.int64) * 500_000
    wall = t0 + np.arange(1, points + 1) * 90.0
    for tag in tags:
        sub = logs / tag / tag
        sub.mkdir(parents=True)
        values = rng.normal(size=points).astype(np.float32)
        data = file_header(t0) + encode(tag, steps, values, wall)
        (sub / "events.out.tfevents.1700000000.bench").write_bytes(data)
    return run


def generate(points: int, runs: int, big: int) -> dict[str, Path]:
    stamp = DATA / f"set-{points}-{runs}-{big}"
    if not (stamp / "done").exists():
        shutil.rmtree(stamp, ignore_errors=True)
        print(f"generating data set in {stamp} ...", flush=True)
        t0 = time.time() - 86400
        for i in range(runs):
            make_run(
                stamp / "cold", f"seed-{i + 1:05d}-2025-11-15-15-34-{i:02d}", points, t0, TAGS[:12]
            )
        for i in range(20):
            make_run(stamp / "poll", f"seed-{i + 1:05d}-2025-11-16-15-34-{i:02d}", 200, t0)
        big_dir = stamp / "big"
        big_dir.mkdir(parents=True)
        n = big
        chunk = 250_000
        with open(big_dir / "events.out.tfevents.1700000000.bench", "wb") as f:
            f.write(file_header(t0))
            for start in range(0, n, chunk):
                k = min(chunk, n - start)
                steps = np.arange(start + 1, start + k + 1, dtype=np.int64) * 100_000
                f.write(encode("agent0/dist_entropy", steps, np.ones(k), t0 + steps / 1e4))
        (stamp / "done").write_text("ok")
    return {"cold": stamp / "cold", "poll": stamp / "poll", "big": stamp / "big", "root": stamp}


def event_paths(root: Path) -> list[str]:
    return sorted(str(p) for p in root.rglob("events.out.tfevents.*"))


def baseline_reader(ref: str):
    """The event reader module as it is at git ``ref`` (``--baseline``), loaded beside ours."""
    import importlib.util
    import tempfile

    root = Path(__file__).resolve().parent.parent
    src = subprocess.run(
        ["git", "show", f"{ref}:collectors/sources/runs/event_reader.py"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "baseline_event_reader.py"
    path.write_text(src)
    spec = importlib.util.spec_from_file_location("baseline_event_reader", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["baseline_event_reader"] = mod
    spec.loader.exec_module(mod)
    return mod


def load_ours(
    files: list[str], verify_crc: bool = False, reader=EventFileReader
) -> tuple[int, int]:
    points = 0
    nbytes = 0
    for f in files:
        series: dict = {}
        batch = reader(f, verify_crc=verify_crc).poll()
        if batch is not None:
            merge_batch(series, batch)
        points += sum(s.offered for s in series.values())
        nbytes += sum(s.nbytes for s in series.values())
    return points, nbytes


def load_tensorboard(files: list[str]) -> int:
    from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator

    points = 0
    for f in files:
        ea = EventAccumulator(f, size_guidance={SCALARS: 0})
        ea.Reload()
        points += sum(len(ea.Scalars(t)) for t in ea.Tags()["scalars"])
    return points


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def append_points(files: list[str], k: int, start_step: int, wall: float) -> None:
    """Append k points to each per-tag file (logs/<tag>/<tag>/events...), as a trainer would."""
    steps = np.arange(start_step, start_step + k, dtype=np.int64) * 500_000
    for f in files:
        parts = Path(f).parent.parts
        logs = parts.index("logs")
        sub = parts[logs + 1 :]
        tag = "/".join(sub[: len(sub) // 2])
        with open(f, "ab") as fh:
            fh.write(encode(tag, steps, np.ones(k), np.full(k, wall)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    ap.add_argument("--baseline", metavar="REF", help="also time the reader of this git ref")
    args = ap.parse_args()
    points = 2_000 if args.quick else 10_000
    big = 500_000 if args.quick else 5_000_000
    repeat = 3 if args.quick else 5
    check_encoding()
    paths = generate(points, 8, big)
    rows: list[tuple[str, str, str]] = []

    # 1. Cold load of every scalar: ours vs TensorBoard's EventAccumulator on the same files.
    files = event_paths(paths["cold"])
    t_ours, (n_points, n_bytes) = timed(lambda: load_ours(files), repeat)
    t_crc, _ = timed(lambda: load_ours(files, verify_crc=True), repeat)
    one_run = [f for f in files if "seed-00001-" in f]
    t_ours_1, (n1, _) = timed(lambda: load_ours(one_run), repeat)
    t_tb_1, n_tb = timed(lambda: load_tensorboard(one_run), max(repeat - 2, 1))
    assert n_tb == n1, (n_tb, n1)
    rows.append(
        (
            "cold load, 8 runs x 12 tags",
            f"{n_points:,} points",
            f"{t_ours * 1e3:.0f} ms = {n_points / t_ours / 1e6:.2f} M points/s",
        )
    )
    if args.baseline:
        base = baseline_reader(args.baseline).EventFileReader
        ours_t, base_t = [], []
        for _ in range(repeat):  # interleaved: both under the same load
            t = time.perf_counter()
            load_ours(files)
            ours_t.append(time.perf_counter() - t)
            t = time.perf_counter()
            n_base, _ = load_ours(files, reader=base)
            base_t.append(time.perf_counter() - t)
        assert n_base == n_points, (n_base, n_points)
        t_o, t_b = statistics.median(ours_t), statistics.median(base_t)
        rows.append(
            (
                f"  beside {args.baseline}'s reader (interleaved)",
                "",
                f"{t_o * 1e3:.0f} ms = {n_points / t_o / 1e6:.2f} M/s vs "
                f"{t_b * 1e3:.0f} ms = {n_points / t_b / 1e6:.2f} M/s ({t_b / t_o:.1f}x)",
            )
        )
    rows.append(
        (
            "  same, verify_crc=True",
            "",
            f"{t_crc * 1e3:.0f} ms = {n_points / t_crc / 1e6:.2f} M points/s ({t_crc / t_ours:.1f}x)",
        )
    )
    rows.append(
        (
            "cold load, 1 run: ours",
            f"{n1:,} points",
            f"{t_ours_1 * 1e3:.1f} ms = {n1 / t_ours_1 / 1e6:.2f} M points/s",
        )
    )
    rows.append(
        (
            "cold load, 1 run: EventAccumulator",
            f"{n_tb:,} points",
            f"{t_tb_1 * 1e3:.0f} ms = {n_tb / t_tb_1 / 1e6:.3f} M points/s",
        )
    )
    rows.append(("  ours vs EventAccumulator", "", f"{t_tb_1 / t_ours_1:.0f}x faster"))

    big_files = event_paths(paths["big"])
    t_big, (n_big, big_bytes) = timed(lambda: load_ours(big_files), max(repeat - 2, 1))
    rows.append(
        (
            "cold load, one big file",
            f"{n_big:,} points",
            f"{t_big * 1e3:.0f} ms = {n_big / t_big / 1e6:.2f} M points/s",
        )
    )
    big_stored = n_big
    for f in big_files:
        series: dict = {}
        merge_batch(series, EventFileReader(f).poll())
        big_stored = sum(len(s) for s in series.values())
    rows.append(
        (
            "memory per stored point",
            "",
            f"{n_bytes / n_points:.1f} B (8 runs), {big_bytes / big_stored:.1f} B (big file, {big_stored:,} kept of {n_big:,})",
        )
    )

    # 2. Polls over 20 runs x 13 tags.
    work = paths["root"] / "poll-work"
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(paths["poll"], work)
    collector = RunsCollector([str(work)], Settings())
    snap = collector.collect()
    assert len(snap.runs) == 20, len(snap.runs)
    n_files = sum(len(t.readers) for t in collector.trackers.values())
    idle = []
    for _ in range(max(repeat * 4, 20)):
        t = time.perf_counter()
        collector.collect()
        idle.append(time.perf_counter() - t)
    rows.append(
        (
            "poll, nothing new",
            f"20 runs, {n_files} files",
            f"{statistics.median(idle) * 1e3:.2f} ms median",
        )
    )
    wfiles = [f for f in event_paths(work) if os.path.getsize(f) > 0]
    step = 201
    one = []
    for _ in range(repeat * 2):
        append_points(wfiles, 1, step, time.time())
        step += 1
        t = time.perf_counter()
        collector.collect()
        one.append(time.perf_counter() - t)
    rows.append(
        (
            "poll, 1 new point per file (a live run)",
            f"{len(wfiles)} points",
            f"{statistics.median(one) * 1e3:.1f} ms median",
        )
    )
    busy = []
    for _ in range(repeat):
        append_points(wfiles, 100, step, time.time())
        step += 100
        t = time.perf_counter()
        snap = collector.collect()
        busy.append(time.perf_counter() - t)
    assert all(r.step == (step - 1) * 500_000 for r in snap.runs)
    assert all(set(r.scalars) == set(TAGS) for r in snap.runs)
    rows.append(
        (
            "poll, 100 new points per file",
            f"{len(wfiles) * 100:,} points",
            f"{statistics.median(busy) * 1e3:.1f} ms median",
        )
    )
    shutil.rmtree(work, ignore_errors=True)

    # 3. Health rules (collectors.health.evaluate, run on every run at every poll).
    cold = RunsCollector([str(paths["cold"])], Settings()).collect()
    big_run = max(cold.runs, key=lambda r: sum(len(v) for v in r.series.values()))
    n_big_run = sum(len(v) for v in big_run.series.values())
    t_health, _ = timed(lambda: health.evaluate(big_run, now=cold.time), repeat * 10)
    rows.append(
        (
            "health rules, 1 large run",
            f"{len(big_run.series)} tags, {n_big_run:,} points",
            f"{t_health * 1e3:.2f} ms median",
        )
    )
    t_health_poll, _ = timed(
        lambda: [health.evaluate(r, now=snap.time) for r in snap.runs], repeat * 4
    )
    rows.append(
        (
            "health rules, every run of a poll",
            f"{len(snap.runs)} runs",
            f"{t_health_poll * 1e3:.2f} ms median",
        )
    )

    # 4. Start-up of the headless snapshot (a fresh process, as a user runs it).
    cli = [sys.executable, "-m", "tui.cli", "--once", "--json", str(paths["poll"])]
    env = installed_env(PYTHONPATH=str(Path(__file__).resolve().parent.parent))
    starts = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cli, check=True, stdout=subprocess.DEVNULL, env=env)
        starts.append(time.perf_counter() - t)
    rows.append(
        (
            "happo-top --once --json, 20 runs",
            "fresh process",
            f"{statistics.median(starts) * 1e3:.0f} ms median",
        )
    )
    imports = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tui.cli, collectors.sources.runs.tracker; print(int(any(m.split('.')[0] in ('textual', 'rich', 'plotext') for m in sys.modules)))",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout.strip()
    rows.append(
        ("  UI modules imported by headless path", "", "none" if imports == "0" else "SOME (bug)")
    )

    width = max(len(r[0]) for r in rows)
    mid = max(len(r[1]) for r in rows)
    print(
        f"\nhappo-top data-layer benchmark ({'quick' if args.quick else 'full'}; medians of {repeat})"
    )
    for a, b, c in rows:
        print(f"  {a.ljust(width)}  {b.ljust(mid)}  {c}")


if __name__ == "__main__":
    main()
