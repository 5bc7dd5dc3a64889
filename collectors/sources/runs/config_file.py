"""A run's ``config.json`` as HARL writes it, and what follows from it.

HARL dumps the merged config with ``indent=4, sort_keys=True`` and a TAB after every colon, which
is still valid JSON. ``num_env_steps`` may be a float (``100000000.0``) when it came from the
command line. Missing keys are normal (forks differ); a missing or malformed file leaves the run
visible with an error that names the file.
"""

from __future__ import annotations

import json
import os

from collectors.model.run_config import RunConfig, flatten


def load_config(path: str, previous: RunConfig | None = None) -> RunConfig:
    """Parse ``config.json``; reuse ``previous`` when the file has not changed."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return RunConfig(error=f"{path}: missing (no config.json yet)")
    except OSError as e:
        return RunConfig(error=f"{path}: {e.strerror or e}")
    if previous is not None and previous.mtime == st.st_mtime:
        return previous
    try:
        with open(path, encoding="utf-8") as f:
            tree = json.load(f)
    except json.JSONDecodeError as e:
        return RunConfig(
            error=f"{path}: malformed JSON at line {e.lineno} column {e.colno}: {e.msg}",
            mtime=st.st_mtime,
        )
    except (OSError, UnicodeDecodeError) as e:
        return RunConfig(error=f"{path}: {getattr(e, 'strerror', None) or e}", mtime=st.st_mtime)
    if not isinstance(tree, dict):
        return RunConfig(error=f"{path}: expected a JSON object", mtime=st.st_mtime)
    return RunConfig(flat=flatten(tree), mtime=st.st_mtime)
