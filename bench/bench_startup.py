"""Start-up of the headless snapshot: ``happo-top --once --json`` as a user runs it.

    python bench/bench_startup.py            # 15 interleaved rounds
    python bench/bench_startup.py --rounds 5
    python bench/bench_startup.py --baseline main   # main's happo-top in the same rounds

Each round starts every command once, in turn (the machines are shared and noisy: interleaving
puts the anchors and the measured command under the same load). Wall time is measured around
the child, CPU time (user + system) with ``resource.getrusage(RUSAGE_CHILDREN)``: a process
that starts threads (OpenBLAS inside ``import numpy``) shows it in CPU, not wall. Medians.

Anchors: ``python -c pass`` (the interpreter's floor, site and the editable install included) and
``python -c 'import numpy'`` (the one library the engine cannot do without).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _installed import installed_env

ROOT = Path(__file__).resolve().parent.parent


def run_once(cmd: list[str], env: dict[str, str], cwd: str | None = None) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=env, cwd=cwd or ROOT)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--baseline", metavar="REF", help="also start the happo-top of this git ref")
    args = ap.parse_args()
    # compiled bytecode, as installed (the warm-up writes the baseline's): bench/_installed.py
    env = installed_env(PYTHONPATH=str(ROOT))
    for k in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env.pop(k, None)  # as a user's shell has them: unset
    with tempfile.TemporaryDirectory() as empty, tempfile.TemporaryDirectory() as home:
        env["HOME"] = home  # no config file, no registry: the empty case
        env.pop("XDG_CONFIG_HOME", None)
        env.pop("XDG_STATE_HOME", None)
        py = sys.executable
        cmds = {
            "python -c pass": [py, "-c", "pass"],
            "python -c 'import numpy'": [py, "-c", "import numpy"],
            "happo-top --once --json (empty root)": [
                py,
                "-m",
                "tui.cli",
                "--once",
                "--json",
                empty,
            ],
            "happo-top --help": [py, "-m", "tui.cli", "--help"],
        }
        envs = dict.fromkeys(cmds, env)
        cwds: dict[str, str | None] = dict.fromkeys(cmds)
        base = tempfile.TemporaryDirectory()
        if args.baseline:  # that ref's tree, run from there (python -m puts the cwd first)
            archive = subprocess.run(
                ["git", "archive", args.baseline, "collectors", "tui"],
                cwd=ROOT,
                capture_output=True,
                check=True,
            ).stdout
            subprocess.run(["tar", "-x", "-C", base.name], input=archive, check=True)
            key = f"{args.baseline}: --once --json (empty root)"
            cmds[key] = [py, "-m", "tui.cli", "--once", "--json", empty]
            envs[key] = dict(env, PYTHONPATH=base.name)
            cwds[key] = base.name
        res: dict[str, list[tuple[float, float]]] = {k: [] for k in cmds}
        for k, c in cmds.items():  # one warm-up each (page cache, .pyc)
            run_once(c, envs[k], cwds[k])
        for _ in range(args.rounds):
            for k, c in cmds.items():
                res[k].append(run_once(c, envs[k], cwds[k]))
        base.cleanup()
    print(
        f"\nhappo-top start-up ({args.rounds} interleaved rounds, medians; {os.cpu_count()} CPUs)"
    )
    width = max(map(len, res))
    for k, v in res.items():
        wall = statistics.median(x[0] for x in v) * 1e3
        cpu = statistics.median(x[1] for x in v) * 1e3
        print(f"  {k.ljust(width)}  wall {wall:6.1f} ms   CPU {cpu:6.1f} ms")
    print("  target: --once --json on an empty root under 80 ms wall and 80 ms CPU")


if __name__ == "__main__":
    main()
