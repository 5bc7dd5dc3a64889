"""Config differences and sibling labels."""

from __future__ import annotations

import copy
import math
import pickle
import time

import numpy as np
import pytest

from collectors.analysis.config_diff import (
    MISSING,
    compact,
    compact_number,
    diff_configs,
    run_labels,
    same_value,
    short_keys,
)
from collectors.model.run_config import flatten
from collectors.simulator.trainer import write_instant_run
from collectors.sources.runs.tracker import RunsCollector
from tests.builders import HARL_CONFIG, run_snapshot


def independent_diff(configs):
    """Keys whose values differ, by plain dict comparison (numbers compared as numbers)."""
    keys = set().union(*configs)
    out = {}
    for k in keys:
        vals = [c.get(k, "<missing>") for c in configs]
        norm = [
            (type(v).__name__, v) if isinstance(v, bool) else v for v in vals
        ]  # True != 1 in a config
        if any(n != norm[0] for n in norm[1:]):
            out[k] = vals
    return out


def safe_config():
    cfg = copy.deepcopy(HARL_CONFIG)
    cfg["algo_args"]["model"]["lr"] = 0.0003
    cfg["algo_args"]["model"]["critic_lr"] = 0.0003
    cfg["algo_args"]["algo"]["max_grad_norm"] = 0.5
    cfg["algo_args"]["algo"]["use_adv_normalize"] = True  # a fork's key, missing in basic
    return cfg


def test_seed_configs_differ_in_the_seed_keys():
    a, b = flatten(HARL_CONFIG), flatten(safe_config())
    rows = diff_configs([a, b])
    expected = independent_diff([a, b])
    assert (
        {r.key for r in rows}
        == set(expected)
        == {
            "algo_args.model.lr",
            "algo_args.model.critic_lr",
            "algo_args.algo.max_grad_norm",
            "algo_args.algo.use_adv_normalize",
        }
    )
    assert [r.key for r in rows] == sorted(expected)
    adv = next(r for r in rows if r.short == "use_adv_normalize")
    assert adv.values == (MISSING, True) and adv.cells() == ("-", "true")
    grad = next(r for r in rows if r.short == "max_grad_norm")
    assert grad.cells() == ("10", "0.5")
    lr = next(r for r in rows if r.short == "lr")
    assert lr.cells() == ("5e-4", "3e-4")
    assert lr.to_json() == {
        "key": "algo_args.model.lr",
        "values": [0.0005, 0.0003],
        "present": [True, True],
    }
    assert adv.to_json()["present"] == [False, True]
    assert adv.key == "algo_args.algo.use_adv_normalize" and adv.values == (MISSING, True)


def test_identical_configs_and_value_equality():
    a = flatten(HARL_CONFIG)
    assert diff_configs([a, dict(a)]) == []
    b = dict(a, **{"algo_args.train.num_env_steps": 100000000})  # int vs the float in a
    assert diff_configs([a, b]) == []
    c = dict(a, **{"algo_args.algo.use_max_grad_norm": 1})  # 1 is not true
    assert [r.key for r in diff_configs([a, c])] == ["algo_args.algo.use_max_grad_norm"]
    assert same_value(float("nan"), float("nan"))
    assert same_value([256, 256], [256.0, 256])
    assert not same_value([256, 256], [256, 128])
    assert not same_value("1", 1)
    assert not same_value(None, MISSING) and same_value(MISSING, MISSING)


def test_three_runs_and_a_missing_config():
    a, b = flatten(HARL_CONFIG), flatten(safe_config())
    rows = diff_configs([a, b, {}])
    assert {r.key for r in rows} == set(independent_diff([a, b, {}])) == set(a) | set(b)
    assert all(r.values[2] is MISSING for r in rows)


def test_ignore_patterns():
    a = flatten(HARL_CONFIG)
    b = dict(a, **{"algo_args.logger.log_dir": "/other", "algo_args.model.lr": 1e-3})
    a = dict(a, **{"algo_args.logger.log_dir": "/one"})
    assert {r.key for r in diff_configs([a, b])} == {
        "algo_args.logger.log_dir",
        "algo_args.model.lr",
    }
    assert [r.key for r in diff_configs([a, b], ignore=["*.log_dir"])] == ["algo_args.model.lr"]


@pytest.mark.parametrize(
    "value, text",
    [
        (0.0003, "3e-4"),
        (0.0005, "5e-4"),
        (10.0, "10"),
        (0.5, "0.5"),
        (100000000.0, "1e8"),
        (100000000, "1e8"),
        (0.01, "0.01"),
        (1e-05, "1e-5"),
        (256, "256"),
        (0.95, "0.95"),
        (-0.0003, "-3e-4"),
        (True, "true"),
        (False, "false"),
        (None, "null"),
        ("relu", "relu"),
        ([256, 256], "[256,256]"),
        (MISSING, "-"),
    ],
)
def test_compact(value, text):
    assert compact(value) == text


def test_compact_numbers_read_back_exactly():
    rng = np.random.default_rng(0)
    xs = np.concatenate([10.0 ** rng.uniform(-9, 12, 300), -(10.0 ** rng.uniform(-9, 9, 100))])
    for x in [*xs.tolist(), 1e-300, 1e300, 123456789.0, 0.1 + 0.2]:
        s = compact_number(x)
        assert float(s) == x, (x, s)
        assert len(s) <= len(repr(x)) + 1
    assert math.isnan(float(compact_number(float("nan"))))


def test_short_keys_lengthen_on_clashes():
    keys = ["algo_args.model.lr", "algo_args.algo.max_grad_norm", "other.model.lr"]
    s = short_keys(keys)
    assert s["algo_args.algo.max_grad_norm"] == "max_grad_norm"
    assert (
        s["algo_args.model.lr"] == "algo_args.model.lr" and s["other.model.lr"] == "other.model.lr"
    )


def test_missing_sentinel_survives_pickling():
    assert pickle.loads(pickle.dumps(MISSING)) is MISSING
    assert not MISSING and str(MISSING) == "-"


# -- labels -------------------------------------------------------------------------------------


def snap(rid, config, exp="cuboid"):
    return run_snapshot(id=rid, path=f"/r/{rid}", name=rid, exp_name=exp, config=config)


def test_labels_of_the_seed_runs():
    basic, safe = flatten(HARL_CONFIG), flatten(safe_config())
    labels = run_labels([snap("b", basic), snap("s", safe)])
    # critic_lr moves with lr: left out; the order puts learning rate and clipping first.
    assert labels == {
        "b": "lr=5e-4 max_grad_norm=10 use_adv_normalize=-",
        "s": "lr=3e-4 max_grad_norm=0.5 use_adv_normalize=true",
    }
    assert run_labels([snap("b", basic), snap("s", safe)], max_keys=2) == {
        "b": "lr=5e-4 max_grad_norm=10 +1",
        "s": "lr=3e-4 max_grad_norm=0.5 +1",
    }


def test_runs_without_siblings_or_config_get_no_label():
    basic = flatten(HARL_CONFIG)
    other = dict(basic, **{"algo_args.model.lr": 1e-3})
    assert run_labels([snap("a", basic, "x"), snap("b", other, "y")]) == {}
    assert run_labels([snap("a", basic), snap("b", {})]) == {}
    assert run_labels([snap("a", basic), snap("b", dict(basic))]) == {}  # identical


def test_seeds_label_a_seed_sweep_and_come_last():
    a = flatten(HARL_CONFIG)
    b = dict(a, **{"algo_args.seed.seed": 2})
    assert run_labels([snap("a", a), snap("b", b)]) == {"a": "seed=1", "b": "seed=2"}
    c = dict(b, **{"algo_args.algo.entropy_coef": 0.02})
    assert run_labels([snap("a", a), snap("c", c)]) == {
        "a": "entropy_coef=0.01 seed=1",
        "c": "entropy_coef=0.02 seed=2",
    }


def test_paths_do_not_label_runs():
    a = dict(flatten(HARL_CONFIG), **{"algo_args.logger.log_dir": "/a"})
    b = dict(a, **{"algo_args.logger.log_dir": "/b", "algo_args.model.lr": 1e-3})
    labels = run_labels([snap("a", a), snap("b", b)])
    assert labels == {"a": "lr=5e-4", "b": "lr=1e-3"}


def test_labels_of_simulated_runs(tmp_path):
    root = tmp_path / "results"
    now = time.time()
    write_instant_run(root, preset="basic", start_time=now - 7200, num_env_steps=2_000_000)
    write_instant_run(root, preset="safe", start_time=now - 3600, num_env_steps=2_000_000)
    runs = RunsCollector([str(root)]).collect().runs
    labels = run_labels(runs)
    assert sorted(labels.values()) == [
        "lr=3e-4 max_grad_norm=0.5 use_adv_normalize=true",
        "lr=5e-4 max_grad_norm=10 use_adv_normalize=false",
    ]


def test_labels_are_unique_even_when_only_a_late_key_differs():
    from types import SimpleNamespace

    base = {
        "algo_args.model.lr": 5e-4,
        "algo_args.algo.max_grad_norm": 10.0,
        "algo_args.algo.use_adv_normalize": False,
        "algo_args.seed.seed": 1,
    }
    safe = {
        **base,
        "algo_args.model.lr": 3e-4,
        "algo_args.algo.max_grad_norm": 0.5,
        "algo_args.algo.use_adv_normalize": True,
    }
    runs = [
        SimpleNamespace(id=i, exp_name="cuboid", config=c)
        for i, c in (("a", base), ("b", {**base, "algo_args.seed.seed": 2}), ("s", safe))
    ]
    labels = run_labels(runs)
    assert len(set(labels.values())) == 3
    assert "seed=2" in labels["b"] and "seed=1" in labels["a"]
