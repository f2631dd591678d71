"""Published results beside this harness's matched (or, lacking one, closest offline) measurement.

Each row belongs to the claim whose runs answer it: the claim's YAML lists its rows under
`claim.literature` (the published side, typed from the source it names, never from memory; where a
number could not be found in a source we could read, `number` is null and only the published
direction is stated), and names the function of the claim's module that computes the harness side
from the claim's result. Where the claim runs the published recipe itself (a matched arm: claim 7's
SGD arm for Géron, claim 12's RReLU runs for Xu et al.), that function reads that arm. Nothing here
knows any claim.

Each row compares a *direction* ("A beats B"), because the settings differ by orders of magnitude
(ImageNet CNNs on GPUs vs 5,000 MNIST digits on a CPU): the magnitudes are not comparable, the sign is.
A row's function returns its test's raw two-sided p (`Harness.p`; None for a row without a test);
the table corrects them within itself, Holm over its tested rows, and reads each at 5% two-sided.
The claims' own sections give their own families' tests.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from actlab.claims.base import TASK, Claim, ClaimResult
from actlab.stats import ALPHA, Comparison, holm, paired


class RowContractError(TypeError):
    """A row function built its Harness the old way (a bool where the raw p now goes)."""


@dataclass(frozen=True)
class Harness:
    """This harness's number for one row: a text, the sign of its effect in the row's direction (+1
    agrees with the published direction's order, −1 opposes it, 0 no difference), and the raw
    two-sided p of the row's test (None: no test applies, e.g. a rank correlation shown as is;
    NaN: a test applies but could not be run, e.g. one pair).
    Add to a row's text with `dataclasses.replace(h, text=...)`."""

    text: str
    sign: int
    p: float | None = None

    def __post_init__(self):
        if isinstance(self.p, bool):
            raise RowContractError("Harness(text, sign, p): p is the row's raw two-sided p-value (or None), "
                                   f"not whether it is significant (got {self.p}); the table corrects and reads it")


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


def two_sided(c: Comparison) -> float:
    """The two-sided p of a paired comparison: twice the smaller one-sided p (capped at 1), from the
    raw one-sided p-values when a claim's family already Holm-adjusted them (the table corrects
    within itself). NaN when no test was possible."""
    greater = c.raw_greater if c.raw_greater is not None else c.p_greater
    less = c.raw_less if c.raw_less is not None else c.p_less
    smaller = np.nanmin([greater, less]) if np.isfinite([greater, less]).any() else math.nan
    return float(min(1.0, 2.0 * smaller)) if math.isfinite(smaller) else math.nan


def from_comparison(c: Comparison | None, label: str, scale: float = 100.0, unit: str = " pt") -> Harness | None:
    if c is None or c.n == 0:
        return None
    p = two_sided(c)
    sign = int(np.sign(c.difference.median))
    text = (f"{label}: Δ {c.difference.median * scale:+.2f}{unit} [{c.difference.low * scale:+.2f}, {c.difference.high * scale:+.2f}], "
            + (f"two-sided p = {p:.3g} (raw), " if math.isfinite(p) else "no test (too few pairs), ") + f"r_rb = {c.effect:.2f}, n = {c.n}")
    return Harness(text, sign, p)  # NaN: a test applies but had too few pairs


def entries(claim: Claim) -> list[Published]:
    return [Published(**row) for row in claim.literature]


def agreement(h: Harness | None, adjusted: float | None) -> str:
    """Whether the harness's sign agrees with the published direction; `adjusted` is the row's
    Holm-adjusted two-sided p (None: a row without a test)."""
    if h is None:
        return "n/a (no runs)"
    if h.sign == 0:
        return "no difference"
    same = h.sign > 0
    if h.p is not None and not math.isfinite(h.p):
        return ("same sign" if same else "opposite sign") + ", no test (too few pairs)"
    if adjusted is None:
        return "yes" if same else "no"
    if adjusted < ALPHA:
        return "yes" if same else "no (opposite, significant)"
    return "same sign, not significant" if same else "opposite sign, not significant"


def _harness(claim: Claim, entry: Published, result: ClaimResult) -> Harness | None:
    try:
        return getattr(claim.module, entry.harness)(result)
    except RowContractError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError):  # a result without the runs this row needs
        return None


def rows(results: list[tuple[Claim, ClaimResult]]) -> list[dict]:
    """The table's rows, claim by claim: the published side from each claim's YAML, the harness side
    computed by the claim's own module from its result; the rows' tests Holm-adjusted together
    (`p_holm`, two-sided; `family`: the table's tested rows)."""
    found = [(entry, _harness(claim, entry, result)) for claim, result in results for entry in entries(claim)]
    raw = [h.p if h is not None and h.p is not None else math.nan for _, h in found]
    adjusted = holm(raw)
    family = int(np.isfinite(raw).sum())
    out = []
    for (entry, h), p_raw, p_holm in zip(found, raw, adjusted):
        tested = math.isfinite(p_raw)
        out.append({"paper": entry.paper, "source": entry.source, "setting": entry.setting,
                    "published": entry.number if entry.number is not None else "number not found; direction from the source",
                    "direction": entry.direction, "harness_setting": entry.harness_setting,
                    "harness": h.text if h else "n/a (no runs)",
                    "p_raw": p_raw if tested else None, "p_holm": p_holm if tested else None, "family": family,
                    "agrees": agreement(h, p_holm if tested else None)})
    return out


def render(results: list[tuple[Claim, ClaimResult]]) -> list[str]:
    """The table's section; nothing when none of the reported claims reads a published result."""
    table = rows(results)
    if not table:
        return []
    family = table[0]["family"]
    lines = [
        "## The literature side by side",
        "",
        "Published numbers are typed from the sources named (each in its claim's YAML, `claim.literature`); this harness's side is "
        "computed from the claims' runs, from the arm that runs the published recipe where a claim has one, else from the "
        "closest offline setting. Settings differ by orders of magnitude, so only the direction is compared. "
        f"Each tested row's p is two-sided (twice the smaller one-sided Wilcoxon p), Holm-adjusted over this table's {family} "
        "tested rows and read at 5%; a row without a test (a rank correlation) states its sign only. The claims above give "
        "their own families' tests.",
        "",
        "| Paper (source) | Published setting | Published result | Published direction "
        "| This harness: matched arm or closest offline setting | This harness | Holm p (two-sided) | Direction agrees? |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in table:
        p = f"{r['p_holm']:.3g} (over {family})" if r["p_holm"] is not None else "no test"  # descriptive, or too few pairs
        lines.append(f"| {r['paper']} ({r['source']}) | {r['setting']} | {r['published']} | {r['direction']} | "
                     f"{r['harness_setting']} | {r['harness']} | {p} | {r['agrees']} |")
    return lines
