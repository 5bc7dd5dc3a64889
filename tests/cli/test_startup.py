"""What the headless snapshot pays for at start-up (issue 16): on an empty root nothing heavy (no
numpy, YAML, health rules, event reader, psutil, launch registry, Textual, TensorBoard); one BLAS
thread whenever numpy is imported; no launching or restarting code; the C JSON encoder. Each check runs a real
``python`` process, as a user's ``happo-top --once --json`` is one."""

from __future__ import annotations

import ctypes
import importlib
import json
import os
import subprocess
import sys

from collectors.simulator.trainer import write_instant_run
from tests.support import ROOT, happo_top

BLAS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# Runs happo-top's main in this process, then reports what it left behind.
PROBE = f"""
BLAS = {BLAS!r}
import contextlib, io, json, os, sys
from tui.cli.command import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    rc = main(sys.argv[1:])
doc = json.loads(out.getvalue())
print(json.dumps({{
    "rc": rc,
    "runs": len(doc["runs"]),
    "threads": len(os.listdir("/proc/self/task")),
    "env": {{k: os.environ.get(k) for k in BLAS}},
    "modules": sorted(sys.modules),
}}))
"""


def _probe(tmp_path, *args: str, env: dict | None = None) -> dict:
    e = {k: v for k, v in os.environ.items() if k not in BLAS}
    e.update(HOME=str(tmp_path / "home"), PYTHONPATH=str(ROOT))
    e.pop("XDG_CONFIG_HOME", None)
    e.update(env or {})
    r = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=e,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _a_run(tmp_path) -> str:
    """A root holding one finished run (real event files): reading it imports numpy."""
    root = tmp_path / "results"
    write_instant_run(root, exp_name="one", preset="basic", seed=1, finished=True)
    return str(root)


def test_numpy_gets_one_blas_thread_and_children_get_the_users_environment(tmp_path):
    got = _probe(tmp_path, "--once", "--json", _a_run(tmp_path))
    assert got["rc"] == 0
    assert got["runs"] == 1
    assert "numpy" in got["modules"]  # imported when the run was found, after main started
    # OpenBLAS would start one thread per core inside `import numpy`: none were started.
    assert got["threads"] == 1
    # ...and the variables that did it are gone again: a run launched from here gets the user's.
    assert got["env"] == dict.fromkeys(BLAS)


def test_a_blas_thread_count_the_user_set_is_kept(tmp_path):
    env = {"OPENBLAS_NUM_THREADS": "2"}
    got = _probe(tmp_path, "--once", "--json", _a_run(tmp_path), env=env)
    assert "numpy" in got["modules"]
    assert got["env"]["OPENBLAS_NUM_THREADS"] == "2"
    assert got["env"]["OMP_NUM_THREADS"] is None
    assert got["threads"] == 2  # the user's count, not ours: OpenBLAS started one more


# What an empty root's snapshot must not import: the numeric and plotting stack, the UI, YAML
# without a config file, the health rules, the event reader, the process table, run control.
HEAVY = {
    "numpy",
    "yaml",
    "textual",
    "rich",
    "plotext",
    "tensorboard",
    "tensorboardX",
    "google.protobuf",
    "psutil",
    "importlib.metadata",
    "collectors.analysis.health.registry",
    "collectors.analysis.health.training",
    "collectors.analysis.quarters",
    "collectors.sources.runs.event_reader",
    "collectors.sources.runs.series",
    "collectors.sources.processes",
    "collectors.control.registry",
    "collectors.control.launch",
    "collectors.control.restart",
    "collectors.control.tensorboard",
    "collectors.control.slurm",
}


def _nvml_loadable() -> bool:
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
    except OSError:
        return False
    return True


def test_an_empty_root_imports_nothing_heavy(tmp_path):
    got = _probe(tmp_path, "--once", "--json", str(tmp_path))
    assert got["rc"] == 0 and got["runs"] == 0
    mods = set(got["modules"])
    assert not mods & HEAVY
    assert "collectors.monitor" in mods  # the probe did run the snapshot
    # pynvml only where the library it loads is there (this machine: whatever it has)
    assert ("pynvml" in mods) == _nvml_loadable()
    assert got["threads"] == 1
    assert got["env"] == dict.fromkeys(BLAS)


def test_the_snapshot_of_a_run_imports_what_it_needs_but_no_launching_code(tmp_path):
    got = _probe(tmp_path, "--once", "--json", _a_run(tmp_path))
    mods = set(got["modules"])
    assert {"numpy", "collectors.sources.runs.event_reader", "psutil"} <= mods
    assert "collectors.control.registry" in mods  # the process collector reads it
    assert not mods & {
        "yaml",
        "textual",
        "importlib.metadata",
        "collectors.control.launch",
        "collectors.control.restart",
        "collectors.control.tensorboard",
        "collectors.control.slurm",
    }


def test_a_config_file_is_still_read_with_yaml(tmp_path):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("refresh: 7\n")
    got = _probe(tmp_path, "--once", "--json", "--config", str(cfg), str(tmp_path))
    assert "yaml" in got["modules"]
    r = happo_top("config", "--print", "--config", str(cfg), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "7" in r.stdout


def test_json_into_a_pipe_is_one_compact_line(tmp_path):
    r = happo_top("--once", "--json", str(tmp_path), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("\n") == 1  # json.dumps without indent: the C encoder
    assert json.loads(r.stdout)["runs"] == []


def test_the_control_package_exports_its_functions_whatever_was_imported_first():
    code = (
        "import collectors.control.restart, collectors.control.launch\n"
        "from collectors.control import launch, restart, Registry, stop\n"
        "import collectors.control as c\n"
        "assert callable(launch) and launch.__module__ == 'collectors.control.launch'\n"
        "assert restart.__module__ == 'collectors.control.restart'\n"
        "assert c.launch is launch and c.restart is restart\n"
        "try:\n    c.no_such_name\nexcept AttributeError:\n    print('ok')\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        check=False,
    )
    assert r.stdout.strip() == "ok", r.stderr


def test_every_name_the_control_package_exports_is_found_in_its_module():
    import collectors.control as c

    assert sorted(c.__all__) == sorted(c._WHERE)  # the literal list and the map agree
    for name in c.__all__:
        assert getattr(c, name) is getattr(importlib.import_module(c._WHERE[name]), name), name


def test_numpy_looked_for_before_it_is_imported_still_gets_one_thread(tmp_path):
    """A library that asks ``find_spec("numpy")`` first (to see whether it is there) does not
    use up the hook: the import that follows runs inside it, and leaves the environment as it
    was."""
    code = (
        "import importlib.util, json, os, sys\n"
        "from tui.cli.command import one_blas_thread\n"
        "one_blas_thread()\n"
        "assert importlib.util.find_spec('numpy') is not None\n"
        "import numpy\n"
        f"print(json.dumps([len(os.listdir('/proc/self/task')), [os.environ.get(k) for k in {BLAS!r}],"
        " type(numpy.__loader__).__name__]))\n"
    )
    e = {k: v for k, v in os.environ.items() if k not in BLAS}
    r = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(e, PYTHONPATH=str(ROOT)),
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    threads, env, loader = json.loads(r.stdout)
    assert threads == 1
    assert env == [None, None, None]
    assert loader == "SourceFileLoader"  # numpy's own loader again, no wrapper left behind
