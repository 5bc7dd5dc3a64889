"""Text helpers shared by the text view, the report and the monitor."""

from __future__ import annotations

from collectors import fmt


def test_problem_first_puts_the_problem_before_the_path():
    run = "/data/runs/x/seed-00001-2025-11-15-15-34-13"
    err = f"{run}/logs/a/events.out.tfevents.1.host: 2 corrupt region(s) skipped"
    assert fmt.problem_first(err, run) == (
        "2 corrupt region(s) skipped (logs/a/events.out.tfevents.1.host)"
    )
    assert fmt.problem_first(f"{run}/config.json: malformed JSON at line 3", run) == (
        "malformed JSON at line 3 (config.json)"
    )
    # outside the run: the whole path; not a "path: problem" message: as it is
    assert fmt.problem_first("/elsewhere/f: bad", run) == "bad (/elsewhere/f)"
    assert fmt.problem_first("GPU collector failed: boom", run) == "GPU collector failed: boom"
    assert fmt.problem_first("/just/a/path", run) == "/just/a/path"


def test_short_keys():
    assert fmt.short_key("max_grad_norm=0.5") == "mgn=0.5"
    assert fmt.short_key("lr=3e-4") == "lr=3e-4" and fmt.short_key("seed") == "seed"
    assert fmt.fit("abcdef", 4) == "abc…" and fmt.fit("abc", 4) == "abc" and fmt.fit("x", 0) == ""
