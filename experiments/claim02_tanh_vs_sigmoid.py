"""Claim 2's rule: is tanh faster than sigmoid, and is it centring (or the slope) that makes it so?

tanh(x) = 2σ(2x) − 1 differs from σ(x) in two ways: it is zero-centred, and its slope at 0 is 1,
not ¼. The sweep adds two controls, σ(x) − ½ (centred, slope ¼) and 2σ(2x) (slope 1, not centred),
so the four functions cross centring with slope, each at its own tuned learning rate per optimizer.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import (
    INCONCLUSIVE,
    MIXED,
    NOT_SUPPORTED,
    SUPPORTED,
    Analysis,
    ClaimResult,
    Evidence,
    collapsed_runs,
    finished_rows,
    with_collapse,
)
from actlab.claims.tuning import mark_edges
from actlab.figures import plt
from actlab.stats import holm_family, paired

SIGMOID, TANH = "sigmoid", "tanh"
CENTRED, STEEP = "controls/centred_sigmoid", "controls/steep_sigmoid"  # σ(x) − ½ and 2σ(2x)
LABELS = {SIGMOID: "σ(x)", TANH: "tanh(x)", CENTRED: "σ(x) − ½", STEEP: "2σ(2x)"}
SPEED, LR = "val_accuracy_auc", "optimizer.learning_rate"
BLOCKS = ["optimizer", "seed"]

# The deciding tests (the YAML's claim.tests): name -> (faster if the article's mechanism holds, slower, what it isolates).
COMPARISONS = {
    "tanh_vs_sigmoid": (TANH, SIGMOID, "the article's claim"),
    "centring_at_slope_1": (TANH, STEEP, "centring, at slope 1"),
    "centring_at_slope_quarter": (CENTRED, SIGMOID, "centring, at slope ¼"),
    "slope_centred": (TANH, CENTRED, "slope 1 against ¼, both centred"),
    "slope_not_centred": (STEEP, SIGMOID, "slope 1 against ¼, neither centred"),
}
CENTRING = ("centring_at_slope_1", "centring_at_slope_quarter")
SLOPE = ("slope_centred", "slope_not_centred")


def _finished_with_collapse(evidence: Evidence) -> pd.DataFrame:
    return mark_edges(with_collapse(evidence.finished()), evidence.selected, evidence.tune)


def _column(wide: pd.DataFrame, activation: str) -> pd.Series:
    """A function's column of a blocks × functions table; all NaN (no pairs) when it has no runs."""
    return wide[activation] if activation in wide else pd.Series(float("nan"), index=wide.index)


def factor_effect(directions: list[int]) -> str:
    """What one factor (centring, or slope) does to speed, from its two comparisons (+1: the factor's
    level with tanh's property is significantly faster): `helps` when at least one is and neither is
    significantly slower, `hurts` the reverse, `inconsistent` when both occur, else `not shown`."""
    faster, slower = 1 in directions, -1 in directions
    if faster and slower:
        return "inconsistent"
    return "helps" if faster else "hurts" if slower else "not shown"


def mechanism(tests: dict) -> tuple[str, str, str]:
    """(centring's effect, slope's effect, which makes the difference: centring, slope, both, neither shown)."""
    centring = factor_effect([tests[k].direction for k in CENTRING])
    slope = factor_effect([tests[k].direction for k in SLOPE])
    which = {(True, False): "centring", (False, True): "slope", (True, True): "both"}.get(
        (centring == "helps", slope == "helps"), "neither shown")
    return centring, slope, which


def tanh_vs_sigmoid_rule(finished: pd.DataFrame) -> ClaimResult:
    finished = finished_rows(finished)
    wide = finished.pivot_table(index=BLOCKS, columns="activation", values=SPEED)
    steps = finished.pivot_table(index=BLOCKS, columns="activation", values="epochs_to_target")
    tests = holm_family({name: paired(_column(wide, a), _column(wide, b)) for name, (a, b, _) in COMPARISONS.items()})
    numbers = [f"{_term(a)} − {_term(b)} ({what}), speed: {tests[name]}" for name, (a, b, what) in COMPARISONS.items()]
    # Descriptive, uncorrected: per optimizer, and epochs to 95% of the best.
    per_optimizer = {}
    for optimizer, group in wide.groupby(level="optimizer"):
        per_optimizer[optimizer] = paired(_column(group, TANH), _column(group, SIGMOID))
        numbers.append(f"{optimizer}: tanh − σ(x), speed (descriptive, uncorrected): {per_optimizer[optimizer]}")
    numbers.append(f"epochs to 95% of the best: tanh − σ(x) (descriptive, uncorrected) "
                   f"{paired(_column(steps, TANH), _column(steps, SIGMOID))}")
    numbers += _rates(finished)
    if "rate_at_edge" in finished:
        edge = finished[finished["rate_at_edge"].fillna(False).astype(bool)][["activation", "optimizer"]].drop_duplicates()
        if len(edge):
            numbers.append("⚠ picked at the tuning grid's edge (a wider grid might pick another rate): "
                           + "; ".join(f"{LABELS.get(a, a)} with {o}" for a, o in edge.itertuples(index=False)))
    numbers += [f"collapsed (kept: a network that never learns is the slowest to converge) — {line}"
                for line in collapsed_runs(finished, ["activation", "optimizer"])]

    centring, slope, which = mechanism(tests)
    direction = tests["tanh_vs_sigmoid"].direction
    against = [o for o, c in per_optimizer.items() if direction == 1 and c.n and c.difference.median <= 0]
    if direction == 1:
        verdict = SUPPORTED if centring == "helps" and not against else MIXED
    elif direction == -1:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    notes = [
        "Rule: five one-sided Wilcoxon tests of speed (mean validation accuracy over epochs, each function at its own rate "
        "tuned per optimizer on separate seeds), paired over optimizer × seed blocks, Holm-adjusted over their ten one-sided "
        "tests. tanh − σ(x) decides whether tanh is faster. Centring is judged by tanh − 2σ(2x) and (σ(x) − ½) − σ(x) "
        "(the same slope, centred or not), the slope by tanh − (σ(x) − ½) and 2σ(2x) − σ(x) (the same centring, slope 1 or "
        "¼): a factor helps when at least one of its two comparisons is significantly faster and neither significantly "
        "slower. Supported: tanh significantly faster and centring helps; mixed: tanh faster but centring not shown to help "
        "(or one optimizer's median difference goes the other way); not supported: tanh significantly slower; otherwise "
        "inconclusive.",
        f"Mechanism: centring {centring}, slope {slope}: " + {
            "centring": "centring makes the difference, not the slope.",
            "slope": "the slope at 0 makes the difference, not centring: tanh is faster because it is steeper.",
            "both": "both centring and the larger slope make a difference.",
            "neither shown": "neither factor alone shows a significant effect.",
        }[which],
    ]
    if against:
        notes.append(f"With {', '.join(against)}, tanh's median speed is not above sigmoid's (descriptive): the pooled test "
                     "does not hold for every optimizer.")
    return ClaimResult(verdict, "mean validation accuracy over epochs (higher = faster convergence), each function at its "
                       "tuned rate, paired by optimizer and seed; two controls split centring from slope",
                       numbers, notes, tests=tests)


def _order(activation: str) -> int:
    return list(LABELS).index(activation) if activation in LABELS else len(LABELS)


def _term(activation: str) -> str:
    """A function's label as a term of a difference: `(σ(x) − ½)`, `tanh(x)`."""
    label = LABELS.get(activation, activation)
    return f"({label})" if " " in label else label


def _rates(finished: pd.DataFrame) -> list[str]:
    """Where speed is read: each function's tuned learning rate per optimizer (the test runs' rate)."""
    if LR not in finished:
        return []
    rates = finished.groupby(["optimizer", "activation"])[LR].agg(lambda v: ", ".join(sorted(set(map(str, v)))))
    lines = []
    for optimizer in rates.index.get_level_values("optimizer").unique():
        picked = rates[optimizer]
        lines.append(f"speed read at the tuned rate, {optimizer}: "
                     + "; ".join(f"{LABELS.get(a, a)} {picked[a]}" for a in sorted(picked.index, key=_order)))
    return lines


def _draw_curves(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    curves = {(run["activation"], run["optimizer"]): evidence.history(run["run_id"], "val_accuracy")
              for _, run in finished.iterrows()}
    curves_by_group(finished, curves, out)


analysis = Analysis(_finished_with_collapse, tanh_vs_sigmoid_rule, _draw_curves)


# --- the claim's figure -------------------------------------------------------------------------
def curves_by_group(finished, curves, path: Path) -> None:
    import numpy as np

    optimizers = sorted(finished["optimizer"].unique())
    acts = [a for a in LABELS if a in set(finished["activation"])]
    fig, axes = plt.subplots(1, len(optimizers), figsize=(5.5 * len(optimizers), 4), sharey=True, squeeze=False)
    for ax, optimizer in zip(axes[0], optimizers):
        for act in acts:
            runs = [c for (a, o), c in curves.items() if a == act and o == optimizer and c]
            if not runs:
                continue
            length = min(map(len, runs))
            stacked = np.array([r[:length] for r in runs])
            epochs = list(range(1, length + 1))
            rate = finished[(finished["activation"] == act) & (finished["optimizer"] == optimizer)].get(LR)
            label = LABELS[act] + (f" (lr {rate.iloc[0]})" if rate is not None and len(rate) else "")
            figures.median_band(ax, epochs, dict(zip(epochs, stacked.T)), label, **figures.style(act, acts))
        ax.set_xlabel("epoch")
        figures.integer_ticks(ax)
        ax.set_title(f"optimizer: {optimizer}")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend()
    axes[0][0].set_ylabel("validation accuracy")
    figures.save(fig, path, "Claim 2: validation accuracy per epoch, tanh, sigmoid and the controls σ(x) − ½, 2σ(2x) "
                 "(median over seeds, 95% CI)")
