"""Packaging: the wheel builds with no deprecation warning and says its licence the SPDX way,
the documented installs (uv tool, pipx) give a working ``happo-top``, and the pins the snapshot
tests need are the versions installed."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.support import ROOT


@pytest.mark.slow
def test_wheel_builds_without_deprecation_warnings(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-v", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    log = out.stdout + out.stderr
    assert "SetuptoolsDeprecationWarning" not in log
    assert "DeprecationWarning" not in log
    (wheel,) = tmp_path.glob("happo_top-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        meta = next(n for n in names if n.endswith(".dist-info/METADATA"))
        text = z.read(meta).decode()
    assert "License-Expression: MIT" in text
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    # runtime dependencies are ranges, plotext comes through textual-plotext only
    requires = [line for line in text.splitlines() if line.startswith("Requires-Dist:")]
    runtime = [r for r in requires if "extra ==" not in r]
    assert not [r for r in runtime if "==" in r]
    assert not [r for r in runtime if r.split()[1].startswith("plotext")]


@pytest.mark.slow
def test_uv_tool_install_gives_a_working_command() -> None:
    out = subprocess.run(
        ["bash", str(ROOT / ".ci" / "install-check"), "uv"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "happo-top " + importlib.metadata.version("happo-top") in out.stdout
    assert "uv install: ok" in out.stdout


def test_constraints_are_the_installed_versions() -> None:
    """CI installs with constraints.txt: a pin that drifted from what the snapshots were drawn
    with would fail here before it fails as a snapshot diff."""
    pins = [
        line.split("==")
        for line in (ROOT / "constraints.txt").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert pins
    for name, version in pins:
        assert importlib.metadata.version(name) == version, name
