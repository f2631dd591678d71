"""Claim 9's rule: does Leaky ReLU's negative slope matter at Adam's default rate?"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Analysis,
    ClaimResult,
    Evidence,
    block_columns,
    collapsed_runs,
    numeric,
    with_collapse,
)
from actlab.stats import ALPHA, friedman, kendall_w, median_ci


def _slopes(evidence: Evidence) -> pd.DataFrame:
    finished = with_collapse(evidence.finished())
    finished["slope"] = numeric(finished, "activation.negative_slope")
    return finished


def leaky_slope_rule(finished: pd.DataFrame) -> ClaimResult:
    wide = finished.pivot_table(index=block_columns(finished), columns="slope", values="test_accuracy")
    p, w = friedman(wide.to_numpy()), kendall_w(wide.to_numpy())
    medians = {s: median_ci(wide[s]) for s in wide.columns}
    numbers = [f"slope {s:g}: test accuracy {est}" for s, est in medians.items()]
    numbers.append(f"Friedman test across slopes over {len(wide)} task × seed blocks: p = {p:.3g} (the claim's only test: "
                   f"no correction needed); Kendall's W = {w:.2f}" if math.isfinite(p) else "Friedman test: too few blocks")
    numbers += [f"collapsed (kept) — {line}" for line in collapsed_runs(finished, ["slope"])]
    default = 0.3
    best = max(medians, key=lambda s: medians[s].median)
    if not math.isfinite(p) or default not in medians:
        verdict = INCONCLUSIVE
    elif p >= ALPHA or medians[best].median - medians[default].median <= 0.005:
        verdict = SUPPORTED
    else:
        verdict = NOT_SUPPORTED
    notes = [f"Rule: supported when the slopes do not differ significantly (Friedman p ≥ {ALPHA}) or the default {default} is within "
             "0.5 percentage points of the best slope's median; otherwise not supported (tuning pays). Kendall's W is the "
             "Friedman test's effect size (0: blocks disagree on the slopes' order, 1: all agree).",
             "Keras 3 has two defaults: the LeakyReLU layer uses 0.3, keras.activations.leaky_relu uses 0.2."]
    return ClaimResult(verdict, "test accuracy by negative slope at Adam's default learning rate, blocks = task × seed", numbers, notes)


def _draw_slopes(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    figures.points_by_task(finished.assign(activation=finished["slope"].map(lambda s: f"slope {s:g}")),
                           ["test_accuracy"], out, title="Claim 9: Leaky ReLU's negative slope")


analysis = Analysis(_slopes, leaky_slope_rule, _draw_slopes)


