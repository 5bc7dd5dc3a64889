"""Packages whose names are imported from their submodules on first use (PEP 562, with a module
class): ``collectors.model`` and ``collectors.control`` export many names, and a command that
needs few of them (``--once`` on a root without runs) should not pay for defining the rest."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Mapping
from typing import Any


class LazyPackage(types.ModuleType):
    """A package module that finds an exported name in ``_WHERE`` (name -> submodule), imports
    that submodule on first use and keeps the value. A submodule loaded under a name the package
    exports (``launch``, ``restart``) leaves the exported value there, as an eager
    ``from ... import`` did."""

    def __getattr__(self, name: str) -> Any:
        module = self.__dict__.get("_WHERE", {}).get(name)
        if module is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        # Deferred for start-up time: a submodule only when one of its names is used.
        value = getattr(importlib.import_module(module), name)
        super().__setattr__(name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        if (
            isinstance(value, types.ModuleType)
            and self.__dict__.get("_WHERE", {}).get(name) == value.__name__
        ):
            value = getattr(value, name)
        super().__setattr__(name, value)


def make_lazy(package: str, modules: Mapping[str, tuple[str, ...]]) -> None:
    """Make ``package`` (being imported) a :class:`LazyPackage` exporting ``modules``' names
    (submodule -> its names). The package still lists them in a literal ``__all__`` and imports
    them under ``TYPE_CHECKING``, for the type checker and the linters."""
    where = {name: module for module, names in modules.items() for name in names}
    mod = sys.modules[package]
    mod.__dict__["_WHERE"] = where
    mod.__class__ = LazyPackage
