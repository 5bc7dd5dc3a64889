"""``happo-top schema``: real ``--once --json`` documents validate against it, and a document
with a field the schema does not know (or a wrong type) does not."""

from __future__ import annotations

import copy
import json
import time

import jsonschema
import pytest

from collectors.simulator.trainer import spawn, write_instant_run
from tests.support import happo_top
from tui.cli.schema import SNAPSHOT


@pytest.fixture(scope="module")
def validator():
    r = happo_top("schema", check=True)
    schema = json.loads(r.stdout)
    assert schema == json.loads(json.dumps(SNAPSHOT))
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@pytest.fixture
def runs(tmp_path):
    root = tmp_path / "results"
    now = time.time()
    for layout, preset, finished in (
        ("A", "basic", True),
        ("B", "safe", False),
        ("U", "basic", False),
    ):
        write_instant_run(
            root,
            exp_name=f"e{layout}",
            layout=layout,
            preset=preset,
            seed=1,
            start_time=now - 6 * 3600,
            finished=finished,
            stop_at=0.4,
        )
    bad = root / "x" / "seed-00002-2025-11-15-15-34-13"
    (bad / "logs").mkdir(parents=True)
    (bad / "config.json").write_text("{not json")
    return root


def test_real_snapshots_validate(validator, runs):
    doc = json.loads(happo_top("--once", "--json", str(runs), check=True).stdout)
    assert len(doc["runs"]) == 4
    assert any(r["errors"] for r in doc["runs"]) and any(r["health"] for r in doc["runs"])
    validator.validate(doc)
    # the schema is strict enough to catch drift
    extra = copy.deepcopy(doc)
    extra["runs"][0]["new_field"] = 1
    assert not validator.is_valid(extra)
    wrong = copy.deepcopy(doc)
    wrong["runs"][0]["state"] = "sleeping"
    assert not validator.is_valid(wrong)
    missing = copy.deepcopy(doc)
    del missing["runs"][0]["progress"]
    assert not validator.is_valid(missing)


@pytest.mark.slow
def test_a_live_run_with_its_process_validates(validator, tmp_path):
    root = tmp_path / "results"
    proc = spawn(root, num_env_steps=20_000_000, duration=8, flush_secs=1, exp_name="live")
    try:
        deadline = time.time() + 30
        seen_process = False
        while time.time() < deadline and proc.poll() is None:
            doc = json.loads(happo_top("--once", "--json", str(root), check=True).stdout)
            validator.validate(doc)
            seen_process |= any(r["process"] for r in doc["runs"])
            if seen_process:
                break
            time.sleep(0.5)
        assert seen_process
    finally:
        proc.kill()
        proc.wait()
