"""What the headless snapshot pays for at start-up (issue 16): one BLAS thread, no YAML without a
config file, no launching or restarting code, the C JSON encoder. Each check runs a real
``python`` process, as a user's ``happo-top --once --json`` is one."""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys

from tests.support import ROOT, happo_top

BLAS = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")

# Runs happo-top's main in this process, then reports what it left behind.
PROBE = f"""
BLAS = {BLAS!r}
import contextlib, io, json, os, sys
from tui.cli.command import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    rc = main(sys.argv[1:])
json.loads(out.getvalue())
print(json.dumps({{
    "rc": rc,
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


def test_numpy_gets_one_blas_thread_and_children_get_the_users_environment(tmp_path):
    got = _probe(tmp_path, "--once", "--json", str(tmp_path))
    assert got["rc"] == 0
    assert "numpy" in got["modules"]
    # OpenBLAS would start one thread per core inside `import numpy`: none were started.
    assert got["threads"] == 1
    # ...and the variables that did it are gone again: a run launched from here gets the user's.
    assert got["env"] == dict.fromkeys(BLAS)


def test_a_blas_thread_count_the_user_set_is_kept(tmp_path):
    got = _probe(tmp_path, "--once", "--json", str(tmp_path), env={"OPENBLAS_NUM_THREADS": "2"})
    assert got["env"]["OPENBLAS_NUM_THREADS"] == "2"
    assert got["env"]["OMP_NUM_THREADS"] is None


def test_the_snapshot_imports_no_yaml_without_a_config_nor_launching_code(tmp_path):
    got = _probe(tmp_path, "--once", "--json", str(tmp_path))
    mods = set(got["modules"])
    assert "collectors.control.registry" in mods  # the process collector reads it
    assert not mods & {
        "yaml",
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
