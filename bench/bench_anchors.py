"""happo-top's whole-process snapshot against TensorBoard's readers, on the same event files.

    python bench/bench_anchors.py            # 5 interleaved rounds, the 960k-scalar set
    python bench/bench_anchors.py --quick    # 3 rounds

The set is bench_reader.py's cold set (8 runs x 12 tags x 10k points = 960,000 scalars),
generated once into bench/_data/. Each round runs, one after the other (shared machines: the
anchors see the same load):

* ``happo-top --once --json ROOT``: a fresh process that finds the runs, reads every scalar,
  judges health and writes the JSON document;
* TensorBoard's Rust data server (``tensorboard-data-server``, the reader ``tensorboard`` starts
  for ``--load_fast``), started as TensorBoard starts it (``--logdir --reload=once
  --samples-per-plugin=scalars=all --port=0 --port-file --die-after-stdin``, see
  tensorboard/data/server_ingester.py), until its load cycle finished and every scalar was read
  back over its gRPC API (``ReadScalars``, no downsampling): spawn to the last point;
* once, in this process: TensorBoard's Python ``EventAccumulator`` (``size_guidance`` 0: every
  point) over the same files.

Medians of wall time. Targets (issue 16): ours at least 3x faster than the data server and 100x
faster than EventAccumulator.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import tensorboard_data_server
from tensorboard.backend.event_processing.event_accumulator import SCALARS, EventAccumulator
from tensorboard.data.proto import data_provider_pb2 as pb
from tensorboard.data.proto import data_provider_pb2_grpc as pb_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _installed import installed_env  # noqa: E402
from bench_reader import DATA, TAGS, make_run  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
POINTS, RUNS = 10_000, 8


def cold_set() -> Path:
    root = DATA / f"cold-{POINTS}-{RUNS}"
    if not (root / "done").exists():
        print(f"generating {root} ...", flush=True)
        t0 = time.time() - 86400
        for i in range(RUNS):
            make_run(root, f"seed-{i + 1:05d}-2025-11-15-15-34-{i:02d}", POINTS, t0, TAGS[:12])
        (root / "done").write_text("ok")
    return root


def ours(root: Path, env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "tui.cli", "--once", "--json", str(root)],
        check=True,
        stdout=subprocess.DEVNULL,
        env=env,
        cwd=ROOT,
    )
    return time.perf_counter() - t


def data_server(root: Path, expect: int) -> float:
    binary = tensorboard_data_server.server_binary()
    with tempfile.TemporaryDirectory() as tmp:
        port_file = os.path.join(tmp, "port")
        t = time.perf_counter()
        proc = subprocess.Popen(
            [
                binary,
                f"--logdir={root}",
                "--reload=once",
                "--samples-per-plugin=scalars=all",
                "--port=0",
                f"--port-file={port_file}",
                f"--error-file={os.path.join(tmp, 'error')}",
                "--die-after-stdin",
                "--verbose",  # says when its load cycle has finished
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert proc.stderr is not None
            for line in proc.stderr:
                if "Finished load cycle" in line:
                    break
            else:
                raise RuntimeError(f"the data server exited ({proc.wait()}) before loading")
            port = int(Path(port_file).read_text())
            with grpc.insecure_channel(
                f"localhost:{port}", options=[("grpc.max_receive_message_length", 1 << 30)]
            ) as channel:
                stub = pb_grpc.TensorBoardDataProviderStub(channel)
                res = stub.ReadScalars(
                    pb.ReadScalarsRequest(
                        plugin_filter=pb.PluginFilter(plugin_name="scalars"),
                        downsample=pb.Downsample(num_points=1 << 30),
                    )
                )
                got = sum(len(tag.data.step) for run in res.runs for tag in run.tags)
            elapsed = time.perf_counter() - t
        finally:
            if proc.stdin is not None:
                proc.stdin.close()  # --die-after-stdin
            proc.wait(timeout=30)
    assert got == expect, (got, expect)
    return elapsed


def accumulator(root: Path) -> tuple[float, int]:
    files = sorted(str(p) for p in root.rglob("events.out.tfevents.*"))
    t = time.perf_counter()
    points = 0
    for f in files:
        ea = EventAccumulator(f, size_guidance={SCALARS: 0})
        ea.Reload()
        points += sum(len(ea.Scalars(tag)) for tag in ea.Tags()["scalars"])
    return time.perf_counter() - t, points


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="3 rounds instead of 5")
    args = ap.parse_args()
    rounds = 3 if args.quick else 5
    root = cold_set()
    expect = POINTS * RUNS * 12
    env = installed_env(PYTHONPATH=str(ROOT))
    ours(root, env), data_server(root, expect)  # warm the page cache
    res: dict[str, list[float]] = {"ours": [], "server": []}
    for _ in range(rounds):
        res["ours"].append(ours(root, env))
        res["server"].append(data_server(root, expect))
    t_ea, n_ea = accumulator(root)
    assert n_ea == expect, n_ea
    o, s = statistics.median(res["ours"]), statistics.median(res["server"])
    print(f"\nhappo-top against TensorBoard's readers, {expect:,} scalars in {RUNS * 12} files")
    print(f"({rounds} interleaved rounds, medians; {os.cpu_count()} CPUs)")
    print(f"  happo-top --once --json (whole process)       {o * 1e3:8.0f} ms")
    print(f"  data server: load + read all over gRPC        {s * 1e3:8.0f} ms   {s / o:5.1f}x ours")
    print(
        f"  EventAccumulator, in-process (once)           {t_ea * 1e3:8.0f} ms   {t_ea / o:5.0f}x ours"
    )
    print("  targets: data server >= 3x ours, EventAccumulator >= 100x ours")


if __name__ == "__main__":
    main()
