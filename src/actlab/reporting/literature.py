"""Published results beside this harness's closest offline measurement.

Each row belongs to the claim whose runs answer it: the claim's YAML lists its rows under
`claim.literature` (the published side, typed from the source it names, never from memory; where a
number could not be found in a source we could read, `number` is null and only the published
direction is stated), and names the function of the claim's module that computes the harness side
from the claim's result. Nothing here knows any claim.

Each row compares a *direction* ("A beats B"), because the settings differ by orders of magnitude
(ImageNet CNNs on GPUs vs 5,000 MNIST digits on a CPU): the magnitudes are not comparable, the sign is.
The harness p-values here are per row and uncorrected (the rows are a descriptive table, not a claim);
the claims' own sections give the Holm-corrected tests.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from actlab.claims.base import TASK, Claim, ClaimResult
from actlab.stats import Comparison, paired


@dataclass(frozen=True)
class Harness:
    """This harness's number for one row: a text, and the sign of its effect in the row's direction
    (+1 agrees with the published direction's order, −1 opposes it, 0 no difference), with whether
    the sign is significant (None: no test applies)."""

    text: str
    sign: int
    significant: bool | None


@dataclass(frozen=True)
class Published:
    """One row's published side, from a claim's YAML (`claim.literature`)."""

    paper: str
    source: str  # where in the source the number or statement is
    setting: str
    number: str | None  # as published; None: not found in a source we could read
    direction: str  # "A > B" in the quantity named by the setting
    harness_setting: str
    harness: str  # the function of the claim's module: ClaimResult -> Harness | None


def pair(selected: pd.DataFrame, a: str, b: str, metric: str = "test_accuracy", tasks=None) -> Comparison | None:
    """A − B on `metric`, paired by task and seed (uncorrected: one published comparison)."""
    part = selected if tasks is None else selected[selected[TASK].isin(tasks)]
    wide = part.pivot_table(index=[c for c in (TASK, "seed") if c in part], columns="activation", values=metric)
    if a not in wide or b not in wide:
        return None
    return paired(wide[a], wide[b])


def from_comparison(c: Comparison | None, label: str, scale: float = 100.0, unit: str = " pt") -> Harness | None:
    if c is None or c.n == 0:
        return None
    p = min(c.p_greater, c.p_less)
    sign = int(np.sign(c.difference.median))
    significant = bool(np.isfinite(p) and p < 0.05)
    text = (f"{label}: Δ {c.difference.median * scale:+.2f}{unit} [{c.difference.low * scale:+.2f}, {c.difference.high * scale:+.2f}], "
            f"one-sided p = {p:.3g}, r_rb = {c.effect:.2f}, n = {c.n}")
    return Harness(text, sign, significant)


def entries(claim: Claim) -> list[Published]:
    return [Published(**row) for row in claim.literature]


def agreement(h: Harness | None) -> str:
    if h is None:
        return "n/a (no runs)"
    if h.sign == 0:
        return "no difference"
    same = h.sign > 0
    if h.significant is None:
        return "yes" if same else "no"
    if h.significant:
        return "yes" if same else "no (opposite, significant)"
    return "same sign, not significant" if same else "opposite sign, not significant"


def rows(results: list[tuple[Claim, ClaimResult]]) -> list[dict]:
    """The table's rows, claim by claim: the published side from each claim's YAML, the harness side
    computed by the claim's own module from its result."""
    out = []
    for claim, result in results:
        for entry in entries(claim):
            try:
                h = getattr(claim.module, entry.harness)(result)
            except (KeyError, ValueError, TypeError, AttributeError):  # a result without the runs this row needs
                h = None
            out.append({"paper": entry.paper, "source": entry.source, "setting": entry.setting,
                        "published": entry.number if entry.number is not None else "number not found; direction from the source",
                        "direction": entry.direction, "harness_setting": entry.harness_setting,
                        "harness": h.text if h else "n/a (no runs)", "agrees": agreement(h)})
    return out


def render(results: list[tuple[Claim, ClaimResult]]) -> list[str]:
    """The table's section; nothing when none of the reported claims reads a published result."""
    table = rows(results)
    if not table:
        return []
    lines = [
        "## The literature side by side",
        "",
        "Published numbers are typed from the sources named (each in its claim's YAML, `claim.literature`); this harness's side is "
        "computed from the claims' runs. Settings differ by orders of magnitude, so only the direction is compared. "
        "Harness p-values in this table are per row and uncorrected; the claims above give the corrected tests.",
        "",
        "| Paper (source) | Published setting | Published result | Published direction "
        "| This harness: closest offline setting | This harness | Direction agrees? |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in table:
        lines.append(f"| {r['paper']} ({r['source']}) | {r['setting']} | {r['published']} | {r['direction']} | "
                     f"{r['harness_setting']} | {r['harness']} | {r['agrees']} |")
    return lines
