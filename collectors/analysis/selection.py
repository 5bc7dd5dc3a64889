"""Which runs to show and under which name: the filter box's matching and the display labels.
Pure functions of model values."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from collectors.model.run import RunSnapshot


def display_labels(runs: Sequence[RunSnapshot], aliases: Mapping[str, str]) -> dict[str, str]:
    """Display names by run path: the sibling label (``lr=3e-4 max_grad_norm=0.5``) unless the
    user configured an alias for the run (``Settings.aliases``; the alias is already its
    ``name``)."""
    out: dict[str, str] = {}
    for r in runs:
        if r.label and r.path not in aliases and r.id not in aliases:
            out[r.path] = r.label
    return out


def filter_runs(
    runs: Iterable[RunSnapshot], text: str, labels: Mapping[str, str]
) -> list[RunSnapshot]:
    """Runs whose name, label, state, id or path contain every word of ``text``."""
    words = text.lower().split()
    if not words:
        return list(runs)
    out = []
    for r in runs:
        hay = " ".join(
            (r.name, labels.get(r.path, ""), r.state, r.id, r.path, r.exp_name, r.algo, r.env)
        ).lower()
        if all(w in hay for w in words):
            out.append(r)
    return out


def unique_names(runs: Sequence[RunSnapshot]) -> list[str]:
    """The runs' names, numbered (``basic #1``) where two are the same."""
    names = [r.name for r in runs]
    if len(set(names)) == len(names):
        return names
    return [f"{n} #{i + 1}" for i, n in enumerate(names)]
