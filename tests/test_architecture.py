"""The shape of the code, checked: import contracts, no hidden imports, types on the engine.

The contracts live in pyproject.toml ([tool.importlinter]); README's "How the code is organised"
explains them. These tests run the real tools on the real tree, so a change that breaks a layer,
hides an import cycle inside a function or loses a type fails here with the tool's own report.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = None  # type: ignore[assignment]

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("collectors", "tui")
UI_MODULES = ("textual", "rich", "plotext", "textual_plotext")
# An import inside a function is allowed only when a comment on its line, or on the line above,
# says why it waits: start-up time of a headless command, or a library that may be missing.
DEFERRED_WORDS = ("deferred",)


def _tool(name: str) -> str:
    path = Path(sys.executable).with_name(name)
    if path.exists():
        return str(path)
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed beside {sys.executable} (pip install -e '.[test]')")
    return found


def test_import_contracts_hold():
    out = subprocess.run(
        [_tool("lint-imports"), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert "BROKEN" not in out.stdout and " KEPT" in out.stdout


def test_every_contract_names_modules_that_exist():
    """A contract about a module that was renamed away would pass vacuously."""
    if tomllib is None:
        pytest.skip("tomllib needs Python 3.11")
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts = doc["tool"]["importlinter"]["contracts"]
    assert len(contracts) >= 6
    for c in contracts:
        names = [
            *c.get("source_modules", []),
            *c.get("modules", []),
            *[m for layer in c.get("layers", []) for m in layer.split("|")],
        ]
        for name in (n.strip() for n in names):
            if name.split(".")[0] not in PACKAGES:
                continue
            base = ROOT / name.replace(".", "/")
            assert base.with_suffix(".py").exists() or (base / "__init__.py").exists(), (
                f"contract {c['name']!r} names {name}, which does not exist"
            )


def _says_deferred(lines: list[str], lineno: int) -> bool:
    """The import's own line, the imports right above it, or the comment above them says
    'deferred'."""
    i = lineno - 1
    while i >= 0:
        text = lines[i].strip()
        if any(w in text.lower() for w in DEFERRED_WORDS):
            return True
        if (
            i < lineno - 1
            and not text.startswith(("from ", "import ", ")", "#"))
            and "," not in text
        ):
            return False
        i -= 1
    return False


def _function_imports(path: Path) -> list[str]:
    source = path.read_text()
    lines = source.splitlines()
    tree = ast.parse(source, str(path))
    found: list[str] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            is_import = isinstance(child, (ast.Import, ast.ImportFrom))
            if in_function and is_import and not _says_deferred(lines, child.lineno):
                here = lines[child.lineno - 1].strip()
                found.append(f"{path.relative_to(ROOT)}:{child.lineno}: {here}")
            visit(child, inside)

    visit(tree, False)
    return found


def test_no_import_hides_inside_a_function():
    """A late import dodges a cycle the contracts would otherwise report; one deferred for
    start-up time (Textual, tensorboard's protobufs, pynvml) says so in a comment."""
    problems: list[str] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            problems += _function_imports(path)
    assert problems == [], "imports inside functions without a 'deferred' reason:\n" + "\n".join(
        problems
    )


def test_the_engine_never_imports_a_ui_package():
    """Every module of collectors/, imported in a fresh interpreter, leaves the UI packages out
    of sys.modules (what import-linter proves statically, checked at run time)."""
    code = (
        "import sys, collectors, pkgutil, importlib\n"
        "for m in pkgutil.walk_packages(collectors.__path__, 'collectors.'):\n"
        "    if not m.name.endswith('__main__'):\n"
        "        importlib.import_module(m.name)\n"
        f"bad = sorted(m for m in sys.modules if m.split('.')[0] in {UI_MODULES!r})\n"
        "print(len([m for m in sys.modules if m.startswith('collectors.')]), ','.join(bad))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
    )
    count, _, bad = out.stdout.strip().partition(" ")
    assert int(count) >= 30  # the walk really reached the subpackages
    assert bad == ""


@pytest.mark.slow
def test_the_engine_type_checks():
    out = subprocess.run(
        [_tool("mypy"), "--no-incremental", "--no-error-summary"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "MYPY_FORCE_COLOR": "0"},
    )
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
