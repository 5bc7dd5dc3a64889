"""Data rules: what is wrong with the numbers themselves (NaN or inf in a series)."""

from __future__ import annotations

import numpy as np

from collectors import fmt
from collectors.analysis.health.registry import Context, Rule
from collectors.analysis.quarters import all_finite
from collectors.model.findings import BAD, Finding

FAMILY = "data"


def nonfinite(ctx: Context) -> list[Finding]:
    run = ctx.run
    out = []
    for tag, view in run.series.items():
        values = view.values
        if all_finite(values):
            seen = run.scalars.get(tag)
            if seen is not None and seen.nonfinite and seen.first_nonfinite_step is not None:
                # In a stretch the series has since thinned away: still reported.
                step = seen.first_nonfinite_step
                msg = f"NaN/inf in {tag} from {fmt.steps(step)} ({seen.nonfinite} pts)"
                out.append(Finding("nonfinite", BAD, msg, step, tag))
            continue
        bad = ~np.isfinite(values)
        i = int(np.argmax(bad))
        kinds = []
        if np.isnan(values[bad]).any():
            kinds.append("NaN")
        if np.isinf(values[bad]).any():
            kinds.append("inf")
        step = int(view.steps[i])
        count = int(np.count_nonzero(bad))
        msg = f"{'/'.join(kinds)} in {tag} from {fmt.steps(step)} ({count} pts)"
        out.append(Finding("nonfinite", BAD, msg, step, tag))
    return out


RULES = (
    Rule(
        "nonfinite",
        FAMILY,
        "bad: NaN or inf in any series (from its first such step, also when thinned away)",
        (),
        nonfinite,
    ),
)
