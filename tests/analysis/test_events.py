"""collectors.analysis.events: what changed between two snapshots, as typed events."""

from __future__ import annotations

import dataclasses
import json

from collectors.analysis.events import detect
from collectors.model import events as E
from collectors.model.events import Event
from collectors.model.findings import BAD, OK, WARN, Finding
from collectors.model.run import (
    CRASHED,
    FINISHED,
    RUNNING,
    STALLED,
    STOPPED,
    ScalarLatest,
    Snapshot,
)
from tests.builders import run_snapshot

T0 = 1_763_567_400.0


def snap(*runs, t=T0):
    return Snapshot(host="h", time=t, runs=tuple(runs), roots=("/x",))


def run(rid="r1", **kw):
    base = dict(id=rid, path=f"/x/{rid}", name=rid, started=T0 - 3600, step=1000)
    base.update(kw)
    return run_snapshot(**base)


def kinds(events):
    return [(e.run_id, e.kind) for e in events]


def test_the_first_snapshot_is_the_baseline():
    first = snap(run("a", state=CRASHED), run("b", state=STALLED))
    assert detect(None, first) == ()
    # and an unchanged second one says nothing either
    assert detect(first, snap(*first.runs, t=T0 + 2)) == ()


def test_state_changes_are_events_with_their_severity():
    before = snap(run("a"), run("b"), run("c"), run("d"), run("e", state=STALLED))
    after = snap(
        run("a", state=CRASHED, step=1_200_000, total_steps=10_000_000),
        run("b", state=STALLED),
        run("c", state=FINISHED),
        run("d", state=STOPPED),
        run("e", state=RUNNING),
        t=T0 + 2,
    )
    events = detect(before, after)
    assert kinds(events) == [
        ("a", E.CRASHED),
        ("b", E.STALLED),
        ("c", E.FINISHED),
        ("d", E.STOPPED),
        ("e", E.RESUMED),
    ]
    crash = events[0]
    assert crash.severity == E.ERROR and crash.time == T0 + 2
    assert crash.message == "crashed at 1.2M of 10M"
    assert events[1].message == "stalled at 1k: no new data for 6m00s"
    assert crash.run_path == "/x/a" and crash.state == CRASHED and crash.step == 1_200_000
    assert events[1].severity == E.WARNING and events[2].severity == E.INFO


def test_a_new_nonfinite_tag_is_one_event_and_not_repeated():
    ok = run("a", scalars={"loss": ScalarLatest(10, 1.0, 5)})
    nan = run("a", scalars={"loss": ScalarLatest(20, float("nan"), 6, 1, 20)})
    nan_more = run("a", scalars={"loss": ScalarLatest(30, float("nan"), 7, 2, 20)})
    events = detect(snap(ok), snap(nan))
    assert kinds(events) == [("a", E.NONFINITE)]
    assert "loss" in events[0].message and events[0].severity == E.ERROR
    assert detect(snap(nan), snap(nan_more)) == ()


def finding(level, rule="entropy", metric="entropy", agent="agent0", current=True):
    return Finding(rule, level, f"{metric} {level}", metric=metric, agent=agent, current=current)


def test_a_finding_turning_bad_and_recovering():
    warn = run("a", health=(finding(WARN),))
    bad = run("a", health=(finding(BAD),))
    ok = run("a", health=(finding(OK),))
    events = detect(snap(warn), snap(bad))
    assert kinds(events) == [("a", E.HEALTH_BAD)]
    assert events[0].rule == "entropy" and events[0].message == "entropy bad"
    assert detect(snap(bad), snap(dataclasses.replace(bad, step=2000))) == ()  # still bad: quiet
    back = detect(snap(bad), snap(ok))
    assert kinds(back) == [("a", E.HEALTH_OK)]
    assert back[0].message == "entropy agent0: no longer bad"


def test_history_and_run_state_findings_are_not_health_events():
    quiet = run("a")
    past = run("a", health=(finding(BAD, current=False),))
    crashed_rule = run("a", health=(Finding("crashed", BAD, "process died"),))
    nan_rule = run("a", health=(Finding("nonfinite", BAD, "NaN"),))
    for r in (past, crashed_rule, nan_rule):
        assert detect(snap(quiet), snap(r)) == ()


def test_runs_that_appear_and_go():
    old = run("a")
    fresh = run("b", started=T0)  # started after the previous poll: news
    found_late = run("c", started=T0 - 86400)  # an old run found now (a root added): not news
    events = detect(snap(old), snap(fresh, found_late, t=T0 + 2))
    assert kinds(events) == [("b", E.APPEARED), ("a", E.GONE)]


def test_runs_of_two_hosts_with_one_path_are_told_apart():
    here = run("a")
    there = dataclasses.replace(run("a"), host="gpu01")
    events = detect(snap(here, there), snap(here, dataclasses.replace(there, state=CRASHED)))
    assert [(e.host, e.kind) for e in events] == [("gpu01", E.CRASHED)]


def test_events_round_trip_through_json():
    for e in detect(snap(run("a")), snap(run("a", state=CRASHED), run("b", started=T0 + 1))):
        doc = json.loads(json.dumps(e.to_json(), allow_nan=False))
        assert Event.from_json(doc) == e
    hook = Event(T0, E.HOOK_FAILED, E.WARNING, "on_event command x exited 3")
    assert Event.from_json(hook.to_json()) == hook
    env = hook.environment()
    assert env["HAPPO_TOP_EVENT"] == "hook-failed" and env["HAPPO_TOP_STEP"] == ""
