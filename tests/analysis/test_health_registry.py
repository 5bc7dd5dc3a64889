"""The health registry: thresholds declared once (defaults, validation, README table), findings
that carry the value and band they were judged on, and their JSON."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

import collectors.analysis.health as health
from collectors.analysis.health.registry import FACTOR, WHOLE, Order, Registry, Rule, Threshold
from collectors.config import ConfigError, parse_settings
from collectors.model import Finding as ModelFinding
from collectors.model.findings import BAD, OK, WARN, Band, Finding, find, rank, worst
from collectors.model.run import Finding as RunFinding
from tests.analysis.test_health import CLIP, STEPS, make_run, steady

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_table() -> str:
    text = README.read_text(encoding="utf-8")
    m = re.search(r"<!-- thresholds:[^\n]*-->\n(.*?)<!-- /thresholds -->", text, re.S)
    assert m, "README.md has lost its generated threshold table markers"
    return m.group(1)


def test_readme_threshold_table_is_the_registry():
    assert readme_table() == health.thresholds_markdown()


def test_markdown_table_has_every_threshold_once_with_its_default():
    rows = health.thresholds_markdown().splitlines()[2:]
    keys = [re.match(r"\| `(\w+)` \| ([^|]+) \|", r).groups() for r in rows]
    assert [k for k, _ in keys] == list(health.DEFAULT_THRESHOLDS)
    for k, default in keys:
        assert float(default) == health.DEFAULT_THRESHOLDS[k]
    assert all(r.count(" | ") == 2 for r in rows)  # no bare pipe splits a meaning


def test_defaults_and_validation_come_from_the_declarations():
    assert {k: th.default for k, th in health.THRESHOLDS.items()} == health.DEFAULT_THRESHOLDS
    assert health.DEFAULT_THRESHOLDS["entropy_low"] == 1.0
    assert health.DEFAULT_THRESHOLDS["window"] == 5
    kinds = {k: th.kind for k, th in health.THRESHOLDS.items()}
    assert kinds["window"] == kinds["min_quarter_points"] == WHOLE
    assert kinds["grad_spike_factor"] == FACTOR  # issue 9: replaces grad_norm_far_factor
    assert health.validate_thresholds({"grad_spike_factor": 0.9}) == [
        "threshold 'grad_spike_factor' must be >= 1, got 0.9"
    ]
    assert health.validate_thresholds({"window": 0}) == [
        "threshold 'window' must be a whole number >= 1, got 0"
    ]
    assert health.validate_thresholds({"window": -2}) == [
        "threshold 'window' must not be negative, got -2"
    ]
    assert health.validate_thresholds({"entropy_low": float("nan")})[0].endswith("got nan")
    # Orders are checked on the whole mapping: edges moved together are fine.
    assert health.validate_thresholds({"entropy_low": 2.5, "entropy_high": 2.8}) == []
    assert health.thresholds_with_defaults({"window": 7, "nope": 1})["window"] == 7.0


def test_every_rule_declares_its_thresholds_and_names_are_unique():
    names = [r.name for r in health.RULES]
    assert names == [
        "process",
        "stall",
        "crashed",
        "stopped",
        "job_time_limit",
        "job",
        "nonfinite",
        "reward",
        "entropy",
        "entropy_trend",
        "clipping",
        "grad_spike",
        "value_loss",
        "value_loss_trend",
    ]
    used = {k for r in health.RULES for k in r.thresholds}
    # Every threshold is read by a rule, except the report's success criterion.
    assert set(health.THRESHOLDS) - used == {"reward_noise_max"}
    assert {r.family for r in health.RULES} == {"run state", "data", "training"}
    assert all(r.checks for r in health.RULES)


def test_registry_refuses_inconsistent_declarations():
    th = Threshold("a", 1.0, "a")
    with pytest.raises(ValueError, match="declared twice"):
        Registry((), (th, th))
    with pytest.raises(ValueError, match="undeclared"):
        Registry((Rule("r", "f", "x", ("b",), lambda ctx: []),), (th,))
    with pytest.raises(ValueError, match="undeclared"):
        Registry((), (th,), (Order("a and b", ("a", "b")),))
    with pytest.raises(ValueError, match="unknown kind"):
        Registry((), (Threshold("k", 1, "k", "integer"),))


def test_config_file_thresholds_are_checked_by_the_registry_with_lines():
    ok = parse_settings("thresholds:\n  entropy_low: 2.5\n  entropy_high: 2.8\n", "c.yaml")
    assert ok.thresholds == {"entropy_low": 2.5, "entropy_high": 2.8}
    with pytest.raises(ConfigError) as e:
        parse_settings("refresh: 2\nthresholds:\n  window: 2\n  grad_spike_factor: 0.5\n", "c")
    assert str(e.value) == (
        "c:4: key 'thresholds': threshold 'grad_spike_factor' must be >= 1, got 0.5"
    )
    with pytest.raises(ConfigError) as e:
        parse_settings("thresholds:\n  window: 3\n  entropy_high: 0.7\n", "c")
    assert str(e.value).startswith(
        "c:3: key 'thresholds': entropy thresholds must satisfy entropy_min <= entropy_low"
    )


# -- findings -------------------------------------------------------------------------------------


def test_finding_lives_in_model_findings_and_is_re_exported():
    assert RunFinding is ModelFinding is Finding
    assert worst([]) == OK and health.worst is worst
    assert worst([Finding("a", WARN, ""), Finding("b", BAD, ""), Finding("c", OK, "")]) == BAD
    assert rank(None) < rank(OK) < rank(WARN) < rank(BAD)
    assert health.LEVELS == (OK, WARN, BAD)


def test_band_expresses_two_sided_and_one_sided_limits():
    entropy = Band(1.0, 2.0, 0.5, 3.0)
    clip = Band(high=0.5, bad_high=1.5)
    assert entropy.outside(1.5) < 0 and entropy.outside(0.8) == pytest.approx(0.2)
    assert entropy.outside(2.4) == pytest.approx(0.4)
    assert clip.outside(-5.0) < 0 and clip.outside(0.7) == pytest.approx(0.2)
    assert clip.to_json() == {"low": None, "high": 0.5, "bad_low": None, "bad_high": 1.5}


def test_finding_json_keeps_its_keys_and_adds_value_band_metric_agent():
    f = Finding(
        "entropy",
        WARN,
        "agent1 entropy 2.4 above 1.0-2.0 since 3M",
        3_000_000,
        "agent1/dist_entropy",
        value=math.inf,
        band=Band(1.0, math.nan, 0.5, 3.0),
        metric="entropy",
        agent="agent1",
    )
    doc = f.to_json()
    assert json.loads(json.dumps(doc, allow_nan=False)) == {
        "rule": "entropy",
        "level": "warn",
        "message": "agent1 entropy 2.4 above 1.0-2.0 since 3M",
        "step": 3_000_000,
        "tag": "agent1/dist_entropy",
        "value": None,
        "band": {"low": 1.0, "high": None, "bad_low": 0.5, "bad_high": 3.0},
        "metric": "entropy",
        "agent": "agent1",
        "verdict": None,
        "current": True,
    }
    plain = Finding("stall", WARN, "no new data").to_json()
    assert plain["value"] is None and plain["band"] is None and plain["agent"] is None


def test_findings_carry_the_value_and_band_they_were_judged_on():
    grad = steady(0.3)
    grad[5:9] = 0.7
    run = make_run(
        {
            "agent0/dist_entropy": steady(1.5),
            "agent1/dist_entropy": steady(2.4),
            "agent0/actor_grad_norm": grad,
            "critic/value_loss": np.linspace(0.5, 3.0, 200),
        },
        config=dict(CLIP),
    )
    fs = health.evaluate(run, {"entropy_high": 2.2})
    (e0,) = find(fs, ("entropy",), "agent0")
    (e1,) = find(fs, ("entropy",), "agent1")
    assert e0.level == OK and e1.level == WARN
    assert e1.metric == "entropy" and e1.tag == "agent1/dist_entropy"
    assert e1.band == Band(1.0, 2.2, 0.5, 3.0)
    assert e1.value == pytest.approx(2.4, abs=0.05) and f"{e1.value:.3g}" in e1.message
    (g,) = find(fs, ("clipping",))
    assert g.level == OK and g.agent == "agent0" and g.metric == "actor_grad_norm"
    assert g.band == Band(high=0.5) and g.value == pytest.approx(4 / 200)
    (v,) = find(fs, ("value_loss",))
    assert v.level == WARN and v.band == Band(high=1.0) and v.agent is None
    assert v.value == pytest.approx(3.0, abs=0.05)


def test_reward_and_trend_findings_carry_the_last_quarter_mean():
    n = len(STEPS)
    reward = np.concatenate([np.full(n // 2, -10.0), np.full(n - n // 2, -20.0)])
    rising = np.linspace(1.1, 1.9, n)
    run = make_run({"train_episode_rewards": reward, "agent0/dist_entropy": rising})
    fs = health.evaluate(run)
    (r,) = find(fs, ("reward",))
    assert r.level == BAD and r.metric == "reward" and r.value == pytest.approx(-20.0)
    (t,) = find(fs, ("entropy_trend",))
    assert t.agent == "agent0" and t.value is not None and t.value > 1.7
