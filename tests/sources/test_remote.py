"""Several hosts over the system's ssh, against a real sshd on 127.0.0.1 (tests/sshd.py)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from collectors.config import ConfigError, parse_settings
from collectors.model import Settings
from collectors.model.host import CONNECTING, INCOMPATIBLE, UNREACHABLE, UP
from collectors.monitor import Monitor
from collectors.simulator.process import spawn
from collectors.simulator.trainer import write_instant_run
from collectors.sources.remote import (
    RemoteHost,
    RemoteSpec,
    config_roots,
    host_roots,
    specs,
    split_root,
)
from tests.sshd import Sshd, sshd_server  # noqa: F401  (the fixture ``sshd``)
from tests.support import happo_top
from tests.tui.test_e2e import Tmux, happo_top_argv

# -- roots and specs (no network) ------------------------------------------------------------


def test_roots_name_hosts_the_way_scp_does(tmp_path, monkeypatch):
    assert split_root("gpu01:~/MAPush/results") == ("gpu01", "~/MAPush/results")
    assert split_root("me@gpu02:/data/runs") == ("me@gpu02", "/data/runs")
    assert split_root("gpu01:") == ("gpu01", "")
    assert split_root("./results") == (None, "./results")
    assert split_root("/data/a:b") == (None, "/data/a:b")  # a '/' before the colon: a path
    assert split_root("C:/runs") == (None, "C:/runs")
    odd = tmp_path / "odd:name"
    odd.mkdir()
    monkeypatch.chdir(tmp_path)
    assert split_root("odd:name") == (None, "odd:name")  # exists here: stays local
    assert host_roots(["a", "gpu01:/x", "gpu01:/y", "me@gpu02:/z"]) == (
        ["a"],
        {"gpu01": ["/x", "/y"], "me@gpu02": ["/z"]},
    )


def test_ssh_command_is_batch_mode_with_keepalives_and_the_roots_quoted():
    (spec,) = specs(
        ["gpu01:~/my runs"],
        {"gpu01": {"remote_command": "conda run -n tools happo-top", "ssh_args": ["-J", "hop"]}},
        ssh_args=["-F", "cfg"],
    )
    argv = spec.argv()
    assert argv[:2] == ["ssh", "-o"] and "BatchMode=yes" in argv
    assert any(a.startswith("ServerAliveInterval=") for a in argv)
    assert any(a.startswith("ConnectTimeout=") for a in argv)
    assert argv[-6:-2] == ["-F", "cfg", "-J", "hop"]  # the config's, then the host's
    assert argv[-2] == "gpu01"
    assert argv[-1].startswith("conda run -n tools happo-top serve --stream")
    assert argv[-1].endswith("-- '~/my runs'")


def test_config_hosts_become_roots():
    assert config_roots({"gpu01": {"roots": ["/a", "/b"]}, "gpu02": {}}) == [
        "gpu01:/a",
        "gpu01:/b",
        "gpu02:",
    ]


# -- against a real sshd -------------------------------------------------------------------------


def _spec(server: Sshd, host: str, *roots: Path | str) -> RemoteSpec:
    return RemoteSpec(
        host,
        tuple(str(r) for r in roots),
        remote_command=server.remote_command,
        ssh_args=tuple(server.ssh_args),
        refresh=0.3,
        connect_timeout=5,
    )


@pytest.mark.slow
def test_runs_from_two_hosts_merged_in_json_with_their_host_names(
    tmp_path, private_state, sshd: Sshd
):
    a = write_instant_run(tmp_path / "a", num_env_steps=2_000_000)
    b = write_instant_run(tmp_path / "b", num_env_steps=2_000_000, seed=2, finished=False)
    local = write_instant_run(tmp_path / "local", num_env_steps=2_000_000, seed=3)
    cfg = sshd.config_file(tmp_path / "config.yaml")
    out = happo_top(
        "--once",
        "--json",
        "--config",
        str(cfg),
        f"gpu01:{tmp_path / 'a'}",
        f"gpu02:{tmp_path / 'b'}",
        str(tmp_path / "local"),
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    by_host = {(r["host"], r["path"]) for r in doc["runs"]}
    assert by_host == {("gpu01", str(a)), ("gpu02", str(b)), (None, str(local))}
    assert len({r["id"] for r in doc["runs"]}) == 3
    assert [(h["name"], h["state"]) for h in doc["hosts"]] == [("gpu01", UP), ("gpu02", UP)]
    assert all(h["version"] and h["disks"] is not None for h in doc["hosts"])
    assert doc["errors"] == []
    assert next(r for r in doc["runs"] if r["host"] == "gpu01")["step"] > 0


@pytest.mark.slow
def test_unreachable_and_hung_hosts_are_reported_without_delaying_the_others(
    tmp_path, private_state, sshd: Sshd
):
    write_instant_run(tmp_path / "a", num_env_steps=2_000_000)
    settings = Settings(
        refresh=0.3, remote_command=sshd.remote_command, ssh_args=tuple(sshd.ssh_args)
    )
    roots = [f"gpu04:{tmp_path}", f"gpu03:{tmp_path}", f"gpu01:{tmp_path / 'a'}"]
    start = time.monotonic()
    monitor = Monitor(roots, settings, processes=False, gpu=False, disk=False)
    try:
        up = monitor.remotes[2].wait_for(lambda st, snap: snap is not None, timeout=30)
        took = time.monotonic() - start
        assert up and took < 8, took  # the hung host (ConnectTimeout 10) holds nobody up
        monitor.remotes[1].wait_for(lambda st, snap: st.state == UNREACHABLE, timeout=15)
        snap = monitor.collect()
        states = {h.name: h.state for h in snap.hosts}
        assert states == {"gpu04": CONNECTING, "gpu03": UNREACHABLE, "gpu01": UP}
        assert [r.host for r in snap.runs] == ["gpu01"]
        refused = next(e for e in snap.errors if e.startswith("gpu03:"))
        assert " unreachable since " in refused and refused.endswith("Connection refused")
        assert not any(e.startswith("gpu04:") for e in snap.errors)  # still within its timeout
    finally:
        monitor.close()


@pytest.mark.slow
def test_a_live_run_on_a_remote_host_grows(tmp_path, private_state, sshd: Sshd):
    sim = spawn(
        tmp_path / "live",
        num_env_steps=400_000,
        n_rollout_threads=10,
        episode_length=10,
        duration=60,
        flush_secs=0.2,
    )
    remote = RemoteHost(_spec(sshd, "gpu02", tmp_path / "live"))
    try:
        assert remote.wait_for(lambda st, s: s is not None and s.runs and s.runs[0].step > 0, 30)
        first = remote.latest()[1].runs[0].step  # type: ignore[union-attr]
        assert remote.wait_for(lambda st, s: s is not None and s.runs[0].step > first, 30)
        status, snap = remote.latest()
        assert snap is not None and snap.runs[0].host == "gpu02"
        assert snap.runs[0].state == "running" and snap.runs[0].process is not None
        assert status.state == UP and status.line() is None
    finally:
        remote.close()
        sim.kill()
        sim.wait()


@pytest.mark.slow
def test_the_stream_survives_a_killed_ssh_connection(tmp_path, private_state, sshd: Sshd):
    write_instant_run(tmp_path / "a", num_env_steps=2_000_000)
    remote = RemoteHost(_spec(sshd, "gpu01", tmp_path / "a"))
    try:
        assert remote.wait_for(lambda st, s: st.state == UP, 30)
        pid = remote.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # the ssh process this RemoteHost started
        assert remote.wait_for(lambda st, s: st.state == UNREACHABLE, 10)
        assert "connection lost" in remote.latest()[0].message
        assert remote.wait_for(lambda st, s: st.state == UP and st.connects == 2, 30)
        assert remote.pid not in (None, pid)
        before = remote.latest()[0].time
        assert remote.wait_for(lambda st, s: (st.time or 0) > (before or 0), 10)  # fresh data
    finally:
        remote.close()


def test_the_config_file_names_hosts(tmp_path):
    text = (
        "remote_command: ~/.local/bin/happo-top\n"
        "ssh_args: [-o, ControlMaster=auto]\n"
        "hosts:\n"
        "  gpu01: {roots: [~/MAPush/results], ssh_args: [-J, login]}\n"
        "  me@gpu02:\n"
        "    roots: [/data/runs]\n"
        "    remote_command: conda run -n tools happo-top\n"
    )
    s = parse_settings(text, "c.yaml")
    assert s.remote_command == "~/.local/bin/happo-top" and s.ssh_args == (
        "-o",
        "ControlMaster=auto",
    )
    assert config_roots(s.hosts) == ["gpu01:~/MAPush/results", "me@gpu02:/data/runs"]
    one, two = specs(
        config_roots(s.hosts), s.hosts, remote_command=s.remote_command, ssh_args=s.ssh_args
    )
    assert one.ssh_args == ("-o", "ControlMaster=auto", "-J", "login")
    assert one.remote_command == "~/.local/bin/happo-top"
    assert two.host == "me@gpu02" and two.remote_command == "conda run -n tools happo-top"
    with pytest.raises(ConfigError, match=r"c.yaml:1: key 'hosts' must be a mapping of ssh host"):
        parse_settings("hosts:\n  gpu01: {roots: /not/a/list}\n", "c.yaml")
    with pytest.raises(ConfigError, match=r"key 'hosts'"):
        parse_settings("hosts:\n  gpu01: {rots: [/a]}\n", "c.yaml")


@pytest.mark.slow
def test_a_host_without_happo_top_and_one_of_another_schema_are_named(
    tmp_path, private_state, sshd: Sshd
):
    missing = RemoteSpec("gpu01", ("/r",), "/nonexistent/happo-top", tuple(sshd.ssh_args), 0.3, 5)
    other = dict(stream="happo-top", schema=99, version="9.0.0", host="gpu02", roots=[])
    older = RemoteSpec(
        "gpu02",
        ("/r",),
        f"sh -c {shlex.quote('echo ' + shlex.quote(json.dumps(other)) + '; sleep 30')} x",
        tuple(sshd.ssh_args),
        0.3,
        5,
    )
    hosts = [RemoteHost(missing), RemoteHost(older)]
    try:
        assert hosts[0].wait_for(lambda st, s: st.state == UNREACHABLE, 20)
        assert (
            hosts[0].latest()[0].message.startswith("no happo-top there ('/nonexistent/happo-top'")
        )
        assert hosts[1].wait_for(lambda st, s: st.state == INCOMPATIBLE, 20)
        line = hosts[1].latest()[0].line()
        assert line is not None and line.startswith("gpu02: incompatible since ")
        assert "happo-top 9.0.0 there speaks schema 99; this happo-top" in line
        assert "speaks schema 1" in line
    finally:
        for h in hosts:
            h.close()


@pytest.mark.slow
def test_check_and_report_work_across_hosts(tmp_path, private_state, sshd: Sshd):
    write_instant_run(tmp_path / "a", num_env_steps=2_000_000)
    write_instant_run(tmp_path / "b", num_env_steps=2_000_000, seed=2, finished=False)
    cfg = sshd.config_file(
        tmp_path / "config.yaml",
        hosts=f"{{gpu01: {{roots: [{tmp_path / 'a'}]}}, gpu02: {{roots: [{tmp_path / 'b'}]}}}}",
    )
    out = happo_top("check", "--json", "--config", str(cfg), timeout=60)
    assert out.returncode in (0, 1), out.stderr
    doc = json.loads(out.stdout)
    assert len(doc["runs"]) == 2, doc
    assert {r["host"] for r in doc["runs"]} == {"gpu01", "gpu02"}
    assert [h["state"] for h in doc["hosts"]] == [UP, UP]
    # a host that cannot be checked is at least a warning (exit 1 with --strict)
    down = happo_top(
        "check", "--strict", "--json", "--config", str(cfg), f"gpu03:{tmp_path}", timeout=60
    )
    assert down.returncode == 1, down.stderr
    assert json.loads(down.stdout)["status"] == "warn"
    assert json.loads(down.stdout)["hosts"][0]["message"] == "Connection refused"
    js = json.loads(happo_top("--once", "--json", "--config", str(cfg), timeout=60).stdout)
    remote_id = next(r["id"] for r in js["runs"] if r["host"] == "gpu02")
    rep = happo_top("report", "--config", str(cfg), remote_id, timeout=60)
    assert rep.returncode == 0, rep.stderr
    assert str(tmp_path / "b") in rep.stdout


@pytest.mark.slow
def test_a_remote_run_is_stopped_by_the_happo_top_there(tmp_path, private_state, sshd: Sshd):
    sim = spawn(
        tmp_path / "live",
        num_env_steps=400_000,
        n_rollout_threads=10,
        episode_length=10,
        duration=120,
        flush_secs=0.2,
    )
    spec = _spec(sshd, "gpu02", tmp_path / "live")
    remote = RemoteHost(spec)
    try:
        assert remote.wait_for(lambda st, s: bool(s and s.runs and s.runs[0].process), 30)
        run = remote.latest()[1].runs[0]  # type: ignore[union-attr]
        assert run.process is not None and not run.process.positive  # never a target here
        out = subprocess.run(
            spec.command(["stop", run.path, "--grace", "10", "--json"]),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        assert sim.wait(timeout=30) is not None  # the trainer there ended
        assert remote.wait_for(lambda st, s: bool(s and s.runs[0].state == "stopped"), 30)
    finally:
        remote.close()
        if sim.poll() is None:
            sim.kill()
        sim.wait()


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_a_live_run_on_a_remote_host_grows_in_the_monitor(tmp_path, private_state, sshd: Sshd):
    sim = spawn(
        tmp_path / "live",
        exp_name="far",
        num_env_steps=10_000_000,
        duration=300.0,
        flush_secs=0.5,
        n_rollout_threads=100,
    )
    cfg = sshd.config_file(tmp_path / "config.yaml")
    term = Tmux(f"happo-remote-{os.getpid()}")
    env = {
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "HOME": str(tmp_path / "home"),
        "TERM": "xterm-256color",
    }
    try:
        term.start(
            [*happo_top_argv(), "--config", str(cfg), f"gpu02:{tmp_path / 'live'}"], 160, 45, env
        )
        done = re.compile(r"([\d.]+[kM]?) / 10M")
        first = term.wait_for(lambda s: "gpu02: far" in s and done.search(s), 60, "the remote run")
        step = done.search(first).group(1)  # type: ignore[union-attr]
        term.wait_for(
            lambda s: (m := done.search(s)) is not None and m.group(1) != step, 30, "it to grow"
        )
        if os.environ.get("SHOW_SCREEN"):
            print(term.screen())
    finally:
        term.kill()
        sim.kill()
        sim.wait()
