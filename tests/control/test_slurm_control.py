"""Runs as Slurm jobs, against a real single-node Slurm (tests/slurm.py): a preset submitted with
sbatch, PENDING (held) then RUNNING in ``--once --json``, stopped gracefully through scancel
(the simulator's SIGINT handler flushes its event files), the state Slurm reports, a resume as a
new job with the same sbatch options, and the time-limit warning. Real jobs, real trainers."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from pathlib import Path

import jsonschema
import pytest

from collectors.control import ActionError, check_job
from collectors.sources.runs.tracker import RunsCollector
from tests.slurm import slurm_cluster  # noqa: F401  (the session fixture)
from tests.support import happo_top
from tui.cli.schema import SNAPSHOT

SIM = [
    sys.executable,
    "-m",
    "collectors.simulator",
    "--root",
    "results",
    "--n-rollout-threads",
    "10",
    "--episode-length",
    "10",
    "--eval-interval",
    "20",
]


def _setup(tmp_path: Path, slurm, sbatch: list[str], *sim: str) -> tuple[Path, dict]:
    (tmp_path / "results").mkdir()
    argv = [*SIM, *sim]
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "presets:\n"
        "  sj:\n"
        f"    argv: {json.dumps(argv)}\n"
        f"    cwd: {tmp_path}\n"
        "    backend: slurm\n"
        f"    sbatch: {json.dumps(sbatch)}\n"
        f"roots: [{tmp_path / 'results'}]\n"
        "stop_grace: 20\n"
        "refresh: 0.5\n"
    )
    env = {
        **slurm.env,
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "XDG_CONFIG_HOME": str(tmp_path / "xdg"),
    }
    return cfg, env


_SCHEMA = jsonschema.Draft202012Validator(SNAPSHOT)


def _json(cfg: Path, env: dict) -> dict:
    out = happo_top("--once", "--json", "--config", str(cfg), env=env)
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    _SCHEMA.validate(doc)  # every document, with its jobs, as the schema says
    return doc


def _wait(what, timeout=40.0, every=0.3):
    deadline = time.monotonic() + timeout
    while True:
        got = what()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


@pytest.mark.slow
def test_slurm_launch_pending_running_stop_resume(tmp_path, slurm, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    cfg, env = _setup(
        tmp_path,
        slurm,
        ["--hold", "--time=10:00"],
        "--exp-name",
        "sj",
        "--num-env-steps",
        "400000",
        "--duration",
        "60",
        "--flush-secs",
        "60",
    )
    out = happo_top("launch", "sj", "--config", str(cfg), env=env)
    assert out.returncode == 0, out.stderr
    job = re.search(r"submitted Slurm job (\d+)", out.stdout).group(1)
    # held: PENDING with its reason, tied to no run yet
    doc = _json(cfg, env)
    (pending,) = [j for j in doc["jobs"] if j["id"] == job]
    assert pending["state"] == "PENDING" and pending["reason"] == "JobHeldUser"
    assert pending["how_found"] == "registry" and doc["runs"] == []
    slurm.tool("scontrol", "release", job)
    slurm.wait_state(job, {"RUNNING"})
    runs = tmp_path / "results"
    run_dir = _wait(lambda: next(runs.glob("mapush/*/happo/sj/seed-*"), None))
    # RUNNING on this node, with its time left, tied to its run
    seen: list = []

    def running():
        d = _json(cfg, env)
        r = next((r for r in d["runs"] if r["path"] == str(run_dir)), None)
        seen[:] = [d]
        return r if r and r["job"] and r["checkpoints"] else None

    try:
        run = _wait(running)
    except AssertionError:
        last = seen[0] if seen else {}
        shown = [{k: r.get(k) for k in ("process", "job", "errors")} for r in last.get("runs", [])]
        raise AssertionError(json.dumps([shown, last.get("errors"), last.get("jobs")])) from None
    j = run["job"]
    assert j["id"] == job and j["state"] == "RUNNING" and j["node"] == slurm.node
    assert 500 < j["time_left"] <= 600 and j["time_limit"] == 600 and j["started"]
    assert (
        j["how_found"] in ("registry", "workdir")
        and j["launch_id"]
        and run["state"] in ("running", "starting")
    )
    assert not [x for x in _json(cfg, env)["jobs"] if x["id"] == job]
    # another user's job is never acted on: ours passes the check
    assert check_job(job).uid == os.getuid()
    # stop: SIGINT through scancel; the simulator flushes what it logged
    out = happo_top("stop", run["id"], "--config", str(cfg), env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"stopping Slurm job {job}" in out.stdout and "ended by SIGINT" in out.stdout
    state = slurm.wait_state(job, {"FAILED", "COMPLETED", "CANCELLED"})
    assert state == "FAILED"  # the trainer's exit 130 after SIGINT, as Slurm says
    logs = list((tmp_path / "state" / "happo-top" / "logs").glob("*.log"))
    text = "\n".join(p.read_text() for p in logs)
    steps = [int(m) for m in re.findall(r"timesteps (\d+)/", text)]
    snap = RunsCollector([str(runs)]).collect()
    (r,) = [x for x in snap.runs if x.path == str(run_dir)]
    assert steps and r.step == steps[-1]  # the last step it printed is in the event files
    doc = _json(cfg, env)
    (after,) = [x for x in doc["runs"] if x["path"] == str(run_dir)]
    assert after["job"]["state"] == "FAILED" and after["job"]["exit_code"] == 130
    assert after["state"] == "stopped"
    # resume: a new job, the same preset's sbatch options (held again), the resume arguments
    out = happo_top(
        "restart", run["id"], "--resume", "--yes", "--config", str(cfg), env=env, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "sbatch --hold --time=10:00" in out.stdout
    new = re.search(r"submitted Slurm job (\d+)", out.stdout).group(1)
    assert new != job
    assert slurm.state(new) == "PENDING"
    slurm.tool("scontrol", "release", new)
    slurm.wait_state(new, {"RUNNING"})
    child = _wait(
        lambda: next(
            (
                p
                for p in runs.glob("mapush/*/happo/sj/seed-*")
                if p != run_dir and (p / "config.json").exists()
            ),
            None,
        )
    )
    cfgjson = json.loads((child / "config.json").read_text())
    assert str(run_dir) in json.dumps(cfgjson["algo_args"]["train"]["model_dir"])
    out = happo_top("kill", str(child), "--config", str(cfg), env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert slurm.wait_state(new, {"CANCELLED"}) == "CANCELLED"


def test_held_job_and_time_limit_warning(tmp_path, slurm, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    cfg, env = _setup(
        tmp_path,
        slurm,
        ["--time=1:00"],
        "--exp-name",
        "short",
        "--num-env-steps",
        "10000000",
        "--duration",
        "600",
        "--flush-secs",
        "1",
    )
    out = happo_top("launch", "sj", "--config", str(cfg), env=env)
    assert out.returncode == 0, out.stderr
    job = re.search(r"submitted Slurm job (\d+)", out.stdout).group(1)
    held = happo_top(
        "launch",
        "--slurm",
        "--sbatch=--begin=now+600",
        "--config",
        str(cfg),
        "--cwd",
        str(tmp_path),
        "--",
        "sleep",
        "30",
        env=env,
    )
    assert held.returncode == 0, held.stderr
    hid = re.search(r"submitted Slurm job (\d+)", held.stdout).group(1)
    slurm.tool("scontrol", "hold", hid)
    slurm.wait_state(job, {"RUNNING"})

    def warned():
        d = _json(cfg, env)
        r = next((r for r in d["runs"] if r["job"] and r["job"]["id"] == job), None)
        f = [f for f in (r or {}).get("health", ()) if f["rule"] == "job_time_limit"]
        return (d, r, f) if f and r["eta"] else None

    doc, run, (finding,) = _wait(warned)
    assert finding["level"] == "warn" and f"job {job}'s time limit" in finding["message"]
    (h,) = [j for j in doc["jobs"] if j["id"] == hid]
    # held by scontrol: JobHeldUser, or JobHeldAdmin when the holder is root
    assert h["state"] == "PENDING" and h["reason"] in ("JobHeldUser", "JobHeldAdmin")
    text = happo_top("--once", "--config", str(cfg), env=env, check=True).stdout
    assert f"job {job}'s time limit" in text  # the warning below the table
    (jobs,) = [line for line in text.splitlines() if line.startswith("JOBS ")]
    assert f": job {job} RUNNING on {slurm.node}" in jobs and f"job {hid} PENDING (JobHeld" in jobs
    # the held job has no run to name it by: --job; refused where it is not a job id
    bad = happo_top("stop", "--job", "x1", "--config", str(cfg), env=env)
    assert bad.returncode == 2 and "a Slurm job id is a number" in bad.stderr
    gone = happo_top("stop", "--job", hid, "--config", str(cfg), "--json", env=env)
    assert gone.returncode == 0, gone.stderr
    assert json.loads(gone.stdout)["state"] == "CANCELLED"  # pending: cancelled at once
    assert slurm.state(hid) == "CANCELLED"
    slurm.tool("scancel", job)
    slurm.wait_state(job, {"CANCELLED"})
    d = _json(cfg, env)
    (r,) = [r for r in d["runs"] if r["path"] == run["path"]]
    assert r["job"]["state"] == "CANCELLED" and r["state"] == "stopped"
    with pytest.raises(ActionError, match="already|not know"):
        from collectors.control import kill_job

        res = kill_job(job)
        if res.ended_by == "already ended":
            raise ActionError("already ended")


def test_another_users_job_is_refused(tmp_path, slurm, monkeypatch):
    """root submits a held job as nobody (sbatch --uid): stop, kill and the checks before any
    scancel refuse it, and this user's squeue does not list it."""
    from collectors.control import interrupt_job, kill_job, stop_job
    from collectors.sources.slurm import Slurm

    if os.geteuid() != 0:
        pytest.skip("only root can submit a job as another user")
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    out = slurm.tool(
        "sbatch", "--parsable", "--uid=65534", "--gid=65534", "--hold", "--chdir=/tmp",
        "--output=/dev/null", "--wrap=sleep 30",
    )  # fmt: skip
    job = out.stdout.strip()
    try:
        assert slurm.state(job) == "PENDING"
        for act in (
            lambda: check_job(job),
            lambda: stop_job(job, grace=1),
            lambda: interrupt_job(job, wait=1),
            lambda: kill_job(job),
        ):
            with pytest.raises(ActionError, match=f"job {job} belongs to nobody.*refusing"):
                act()
        for verb in ("stop", "kill"):  # the command line too, by job id
            env = {"SLURM_CONF": str(slurm.conf), "XDG_STATE_HOME": str(tmp_path)}
            cli = happo_top(verb, "--job", job, env=env)
            assert cli.returncode == 1 and "belongs to nobody" in cli.stderr, cli
        assert slurm.state(job) == "PENDING"  # nothing was sent
        assert job not in {j.id for j in Slurm().squeue(user=os.getuid())}
    finally:
        slurm.tool("scancel", job, check=False)


def test_the_monitors_launch_dialog_submits_a_slurm_preset(tmp_path, slurm, monkeypatch):
    """``l`` with a 'backend: slurm' preset (the app's Actions, as the dialog calls them): the
    confirmation says it is submitted and with which options, the notification names the job;
    on another host the happo-top there is asked to submit it the same way."""
    from collectors.config import load_settings
    from collectors.control import Registry
    from tui.app.actions import Actions

    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    cfg, _ = _setup(tmp_path, slurm, ["--hold", "--time=5:00"], "--exp-name", "dlg")
    actions = Actions(load_settings(str(cfg)), Registry(str(tmp_path / "state")))
    plan = actions.plan_launch(preset="sj")
    assert "submitted to Slurm (sbatch --hold --time=5:00)" in plan.detail
    args = plan.remote_args()
    at = args.index("--")
    assert args[at - 3 : at] == ["--slurm", "--sbatch=--hold", "--sbatch=--time=5:00"]
    out = actions.execute(plan)
    assert out.ok, out.message
    job = re.search(r"submitted Slurm job (\d+)", out.message).group(1)
    try:
        assert slurm.state(job) == "PENDING"
    finally:
        slurm.tool("scancel", job, check=False)


def test_interrupt_job_is_one_scancel_signal_int_and_nothing_after(tmp_path, slurm, monkeypatch):
    """``I`` on a Slurm run: ``scancel --signal=INT --full`` once, no ``scancel`` after it. The
    job's shell records SIGINT and keeps running, so a later scancel would show as CANCELLED."""
    from collectors.control import interrupt_job

    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    mark = tmp_path / "got-int"
    script = f"trap 'echo INT >> {mark}' INT; for i in $(seq 600); do sleep 0.1; done"
    out = slurm.tool(
        "sbatch", "--parsable", f"--chdir={tmp_path}", "--output=/dev/null", f"--wrap={script}",
    )  # fmt: skip
    job = out.stdout.strip()
    try:
        assert slurm.wait_state(job, {"RUNNING"}) == "RUNNING"
        time.sleep(0.5)  # the shell has set its trap
        res = interrupt_job(job, wait=1.0)
        assert res.sent == ("scancel --signal=INT --full",) and res.alive
        assert res.ended_by is None
        assert _wait(lambda: mark.exists(), timeout=10)
        time.sleep(1.5)
        assert slurm.state(job) == "RUNNING"  # nothing cancelled it after the SIGINT
    finally:
        slurm.tool("scancel", job, check=False)
