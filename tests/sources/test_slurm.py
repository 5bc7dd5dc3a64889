"""The Slurm source against a real single-node Slurm (tests/slurm.py): squeue's two formats,
scontrol once a job left squeue, and the parsing of Slurm's times and durations."""

from __future__ import annotations

import os
import time

import pytest

from collectors.sources.slurm import (
    Slurm,
    available,
    parse_duration,
    parse_scontrol,
    parse_time,
    slurm_conf,
)
from tests.slurm import slurm_cluster  # noqa: F401  (the session fixture)


def test_durations_and_times():
    assert parse_duration("0:58") == 58
    assert parse_duration("1:00:00") == 3600
    assert parse_duration("2-03:04:05") == 2 * 86400 + 3 * 3600 + 4 * 60 + 5
    assert parse_duration("30") == 1800  # bare minutes, as sbatch --time takes them
    assert parse_duration("UNLIMITED") is None and parse_duration("INVALID") is None
    assert parse_time("N/A") is None and parse_time("Unknown") is None
    t = parse_time("2026-12-01T23:16:54")
    assert t == time.mktime((2026, 12, 1, 23, 16, 54, 0, 0, -1))


def test_scontrol_line_with_spaces_in_paths():
    line = (
        "JobId=7 JobName=my job UserId=me(1000) GroupId=me(1000) JobState=CANCELLED "
        "Reason=None ExitCode=0:15 TimeLimit=00:10:00 SubmitTime=2026-12-01T10:00:00 "
        "StartTime=2026-12-01T10:00:01 EndTime=2026-12-01T10:05:00 Partition=gpu NodeList=n1 "
        "WorkDir=/home/me/my runs StdOut=/home/me/my runs/out.log"
    )
    (j,) = parse_scontrol(line, 0.0)
    assert (j.id, j.state, j.name, j.uid, j.user) == ("7", "CANCELLED", "my job", 1000, "me")
    assert j.workdir == "/home/me/my runs" and j.stdout == "/home/me/my runs/out.log"
    assert j.exit_code == -15 and j.time_limit == 600 and j.node == "n1"


def test_no_configuration_no_slurm(monkeypatch, tmp_path):
    monkeypatch.setenv("SLURM_CONF", str(tmp_path / "missing.conf"))
    assert slurm_conf() is None
    assert "configuration" in (available() or "")


def _submit(slurm, *args, script="sleep 30"):
    out = slurm.tool(
        "sbatch", "--parsable", f"--output={slurm.dir}/job-%j.log", *args, f"--wrap={script}"
    )
    return out.stdout.strip().split(";")[0]


@pytest.mark.parametrize("fmt", ["-O", "--json"])
def test_squeue_formats_against_real_slurm(slurm, monkeypatch, fmt):
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    assert available() is None
    held = _submit(slurm, "--hold", "--time=5")
    run = _submit(slurm, "--time=2:00", "-J", "runner x")
    slurm.wait_state(run, {"RUNNING"})
    s = Slurm()
    s.format = fmt
    jobs = {j.id: j for j in s.squeue(user=os.getuid())}
    h, r = jobs[held], jobs[run]
    assert h.state == "PENDING" and h.reason == "JobHeldUser" and h.started is None
    assert h.time_limit == 300 and h.time_left is None and h.submitted
    assert r.state == "RUNNING" and r.node == slurm.node and r.partition == "debug"
    assert r.started and abs(r.started - time.time()) < 60
    assert 60 < r.time_left <= 120 and r.time_limit == 120 and r.uid == os.getuid()
    assert r.name == "runner x" and r.workdir
    slurm.tool("scancel", held, run)
    slurm.wait_state(run, {"CANCELLED"})
    j = s.job(run)
    assert j is not None and j.state == "CANCELLED" and j.ended


def test_scontrol_and_sacct_when_squeue_forgot(slurm, monkeypatch):
    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    job = _submit(slurm, script="exit 3")
    slurm.wait_state(job, {"FAILED"})
    s = Slurm()
    j = s.scontrol(job)
    assert j is not None and j.state == "FAILED" and j.exit_code == 3 and j.source == "scontrol"
    assert s.scontrol("999999") is None
    assert s.sacct([job]) == [] and "accounting" in (s.sacct_off or "").lower()


def test_preset_backend_and_sbatch_are_checked_with_their_line(tmp_path):
    from collectors.config import ConfigError, parse_settings

    good = "presets:\n  g:\n    argv: [x]\n    backend: slurm\n    sbatch: [--time=1:00]\n"
    assert parse_settings(good, "c.yaml").presets["g"]["sbatch"] == ["--time=1:00"]
    cases = {
        "presets:\n  g:\n    argv: [x]\n    backend: pbs\n": ("c.yaml:4", "backend"),
        "presets:\n  g:\n    argv: [x]\n    sbatch: [--x=1]\n": ("c.yaml:4", "backend: slurm"),
        "presets:\n  g:\n    argv: [x]\n    backend: slurm\n    sbatch: [gpu]\n": (
            "c.yaml:5",
            "sbatch options",
        ),
        "presets:\n  g:\n    argv: [x]\n    sbatchh: []\n": ("c.yaml:4", "unknown key 'sbatchh'"),
    }
    for text, (where, what) in cases.items():
        with pytest.raises(ConfigError) as e:
            parse_settings(text, "c.yaml")
        assert str(e.value).startswith(where) and what in str(e.value), str(e.value)


def test_job_json_round_trip_and_summary():
    from collectors.analysis.jobs import job_summary
    from collectors.model import JobInfo
    from collectors.model.run import CRASHED, RUNNING, STOPPED
    from collectors.sources.slurm import refine_by_job
    from tests.builders import run_snapshot

    j = JobInfo(id="12", state="PENDING", reason="Resources", expected_start=time.time() + 60)
    assert JobInfo.from_json(j.to_json()).to_json() == j.to_json()
    assert job_summary(j).startswith("job 12 PENDING (Resources), expected ")
    r = JobInfo(id="13", state="RUNNING", node="gpu07", time_left=3720.0)
    assert job_summary(r) == "job 13 RUNNING on gpu07, 1h02m left"
    run = run_snapshot(state=RUNNING, job=r)
    assert type(run).from_json(run.to_json()).job == JobInfo.from_json(r.to_json())
    assert refine_by_job(RUNNING, run, r, False) == RUNNING
    for state, want in (("TIMEOUT", CRASHED), ("FAILED", CRASHED), ("CANCELLED", STOPPED)):
        assert refine_by_job(RUNNING, run, JobInfo(id="13", state=state), False) == want
    assert refine_by_job(RUNNING, run, JobInfo(id="13", state="FAILED"), True) == STOPPED


def _wait(cond, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not (got := cond()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {cond}")
        time.sleep(0.2)
    return got


@pytest.mark.slow
def test_hand_started_jobs_are_found_by_environment_and_workdir(slurm, monkeypatch, tmp_path):
    """Jobs happo-top did not submit: the trainer's SLURM_JOB_ID on this node, else the job's
    working directory and start time; a process outside any job in the same directory is not
    taken for the job."""
    import subprocess
    import sys

    from collectors.model.settings import Settings
    from collectors.monitor import Monitor
    from tests.support import ROOT

    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    monkeypatch.setattr("collectors.sources.slurm.INTERVAL", 0.0)
    root = tmp_path / "results"
    root.mkdir()
    standin = ROOT / "tests" / "standin_train.py"
    py = sys.executable
    # 1. a job whose working directory is elsewhere: only its environment tells
    env_job = slurm.tool(
        "sbatch",
        "--parsable",
        "--chdir=/tmp",
        f"--output={tmp_path}/env.log",
        f"--wrap={py} {standin} --root {root} --exp_name byenv --hold",
    ).stdout.strip()
    # 2. a job in the run's tree whose trainer's environment cannot be read (setproctitle
    # writes over it): its working directory and start time tell
    wd_job = slurm.tool(
        "sbatch", "--parsable", f"--chdir={tmp_path}", f"--output={tmp_path}/wd.log",
        f"--wrap={py} {standin} --root results --exp_name bywd --seed 2 --hold "
        "--title happo-mapush-bywd",
    ).stdout.strip()  # fmt: skip
    for j in (env_job, wd_job):
        slurm.wait_state(j, {"RUNNING"})
    # 3. a trainer outside any job, in the same tree
    local = subprocess.Popen(
        [py, str(standin), "--root", "results", "--exp_name", "local", "--seed", "3", "--hold"],
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("SLURM_JOB")},
    )
    monitor = Monitor([str(root)], Settings(), gpu=False, disk=False)
    try:

        def three():
            snap = monitor.collect()
            runs = {r.exp_name: r for r in snap.runs}
            ok = len(runs) == 3 and all(r.process for r in runs.values())
            return runs if ok and runs["byenv"].job and runs["bywd"].job else None

        runs = _wait(three)
        assert runs["byenv"].job.id == env_job and runs["byenv"].job.how_found == "environ"
        assert runs["bywd"].job.id == wd_job and runs["bywd"].job.how_found == "workdir"
        assert runs["local"].job is None
        assert runs["byenv"].job.state == "RUNNING" and runs["byenv"].job.node == slurm.node
    finally:
        monitor.close()
        local.terminate()
        local.wait(10)
        slurm.tool("scancel", env_job, wd_job, check=False)


def test_a_job_slurm_forgot_reports_the_registry_record(slurm, monkeypatch, tmp_path):
    from collectors.control.registry import LaunchRecord, Registry
    from collectors.sources.slurm import SlurmCollector

    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    reg = Registry(str(tmp_path / "state"))
    last = {"id": "987654", "state": "TIMEOUT", "reason": "TimeLimit", "node": slurm.node}
    reg.add(
        LaunchRecord(
            id="r1", pid=0, create_time=None, argv=("x",), cwd=str(tmp_path), env={},
            env_unset=(), log=None, host=reg.host, launched_at=time.time(), backend="slurm",
            job_id="987654", job=last,
        )
    )  # fmt: skip
    # a job last seen running, which Slurm no longer lists: it ended, how is not known
    reg.add(
        LaunchRecord(
            id="r2", pid=0, create_time=None, argv=("x",), cwd=str(tmp_path), env={},
            env_unset=(), log=None, host=reg.host, launched_at=time.time() + 1,
            backend="slurm", job_id="987655", job={"id": "987655", "state": "RUNNING"},
        )
    )  # fmt: skip
    view = SlurmCollector(reg).collect([])
    j, k = view.unmatched
    assert (j.id, j.state, j.source, j.how_found) == ("987654", "TIMEOUT", "registry", "registry")
    assert (k.id, k.state, k.active) == ("987655", "UNKNOWN", False)
    assert "no longer knows" in (k.reason or "")
    assert view.error is None


def test_pending_on_resources_has_an_expected_start(slurm, monkeypatch):
    """The node is full (an exclusive job with a 2-minute limit): the next job is PENDING on
    Resources, and Slurm's backfill estimate of its start is its expected_start."""
    from collectors.analysis.jobs import job_summary

    monkeypatch.setenv("SLURM_CONF", str(slurm.conf))
    big = _submit(slurm, "--exclusive", "--time=2", script="sleep 100")
    slurm.wait_state(big, {"RUNNING"})
    small = _submit(slurm, "--time=1", script="true")
    s = Slurm()
    deadline = time.monotonic() + 20
    while True:
        j = next(j for j in s.squeue(user=os.getuid()) if j.id == small)
        if j.expected_start or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    slurm.tool("scancel", big, small)
    assert j.state == "PENDING" and j.reason in ("Resources", "Priority")
    assert j.expected_start and time.time() < j.expected_start <= time.time() + 130
    assert "expected " in job_summary(j)
