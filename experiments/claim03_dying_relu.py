"""Claim 3's rule: the share of dead units after training, by one yardstick for every function (a unit
is dead when its slope stays below a small fraction of its function's largest on every probe example),
at each learning rate, beside the networks' accuracy."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

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
    numeric,
    with_collapse,
)
from actlab.figures import plt
from actlab.pipeline import metric_keys
from actlab.stats import ALPHA, holm_family, median_ci, paired

# The thresholds are stated in the claim's YAML (claim.rule), beside its deciding tests.
_YAML = OmegaConf.load(Path(__file__).with_suffix(".yaml"))
_RULE = _YAML.claim.rule
DEAD_SLOPE = float(_YAML.trainer.dead_slope)  # the probe's fraction for this claim's runs
DEAD_LARGE = float(_RULE.dead_large)  # a "large share" of dead units
DEAD_NONE = float(_RULE.dead_none)  # a function that "does not die" keeps all but this share
SUBJECT = "relu"


def _dead_table(evidence: Evidence) -> pd.DataFrame:
    """Every job (diverged ones are counted, not judged) with its dead share, learning rate, collapse."""
    table = with_collapse(evidence.table)
    dead_cols = [c for c in table if c.startswith(metric_keys.layer_prefix("dead_frac"))]
    table["dead_share"] = table[dead_cols].apply(pd.to_numeric, errors="coerce").mean(axis=1)
    table["lr"] = numeric(table, "optimizer.learning_rate")
    table["best_val_accuracy"] = numeric(table, "best_val_accuracy")
    if "chance" in table:
        table["chance"] = numeric(table, "chance")
    return table


def _by_seed(runs: pd.DataFrame, act: str, lr: float) -> pd.Series:
    part = runs[(runs["activation"] == act) & (runs["lr"] == lr)]
    return part.groupby("seed")["dead_share"].median()


def dead_tests(runs: pd.DataFrame) -> dict:
    """The deciding tests, at each learning rate above the smallest, seeds as blocks (one-sided Wilcoxon
    signed-rank tests, both directions read), in one Holm family:
    - relu/rate@LR: ReLU's dead share at LR minus its share at the smallest rate;
    - relu/many@LR: ReLU's dead share at LR minus dead_large;
    - F/vs_relu@LR: ReLU's dead share minus F's, at LR (positive: ReLU loses more);
    - F/none@LR: F's dead share at LR minus dead_none."""
    rates = sorted(runs["lr"].dropna().unique())
    lowest, others = rates[0] if rates else np.nan, sorted(set(runs["activation"]) - {SUBJECT})
    comparisons = {}
    for lr in rates[1:]:
        relu = _by_seed(runs, SUBJECT, lr)
        base = _by_seed(runs, SUBJECT, lowest).reindex(relu.index)
        comparisons[f"relu/rate@{lr:g}"] = paired(relu, base)
        comparisons[f"relu/many@{lr:g}"] = paired(relu, np.full(len(relu), DEAD_LARGE))
        for act in others:
            other = _by_seed(runs, act, lr)
            comparisons[f"{act}/vs_relu@{lr:g}"] = paired(relu.reindex(other.index), other)
            comparisons[f"{act}/none@{lr:g}"] = paired(other, np.full(len(other), DEAD_NONE))
    return holm_family(comparisons)


def dead_share_verdict(table: pd.DataFrame) -> ClaimResult:
    """Claim 3's rule, read at every learning rate above the smallest.

    Every finished run's units are measured by the same yardstick (a collapsed network's dead units are
    dead too); runs whose loss went NaN are left out. ReLU 'dies' at a rate when its dead share there is
    shown above its share at the smallest rate and above dead_large. Another function 'keeps its units'
    at a rate when its share is shown below ReLU's and below dead_none, and most of its runs still learn
    there; it 'loses units' when its share is shown above dead_none. Supported when ReLU dies at some rate,
    every other function keeps its units wherever ReLU dies, and none loses units at any large rate; mixed
    when ReLU dies and some function loses units too (or more than ReLU); not supported when ReLU is shown
    to keep all but dead_large of its units at every large rate; inconclusive otherwise."""
    finished = finished_rows(table)
    diverged = finished["diverged"].astype(bool) if "diverged" in finished else pd.Series(False, index=finished.index)
    runs = finished[~diverged]
    tests = dead_tests(runs)
    rates = sorted(runs["lr"].dropna().unique())
    large = rates[1:]
    others = sorted(set(runs["activation"]) - {SUBJECT})
    learns = {(a, lr): 2 * int((~g["collapsed"]).sum()) > len(g) for (a, lr), g in runs.groupby(["activation", "lr"])}

    def shown(key: str, side: str) -> bool:
        return key in tests and getattr(tests[key], side) < ALPHA

    dying = [lr for lr in large if shown(f"relu/rate@{lr:g}", "p_greater") and shown(f"relu/many@{lr:g}", "p_greater")]
    spared = [lr for lr in large if shown(f"relu/many@{lr:g}", "p_less")]
    keeps = {(a, lr): shown(f"{a}/vs_relu@{lr:g}", "p_greater") and shown(f"{a}/none@{lr:g}", "p_less") and learns.get((a, lr), False)
             for a in others for lr in large}
    loses = sorted((a, lr) for a in others for lr in large if shown(f"{a}/none@{lr:g}", "p_greater"))
    worse = sorted((a, lr) for a in others for lr in large if shown(f"{a}/vs_relu@{lr:g}", "p_less"))
    if not large or not others:
        verdict = INCONCLUSIVE
    elif not dying:
        verdict = NOT_SUPPORTED if large and len(spared) == len(large) else INCONCLUSIVE
    elif loses or worse:
        verdict = MIXED
    elif all(keeps[(a, lr)] for a in others for lr in dying):
        verdict = SUPPORTED
    else:
        verdict = INCONCLUSIVE

    numbers = []
    for (act, lr), group in runs.groupby(["activation", "lr"]):
        n_collapsed = int(group["collapsed"].sum())
        status = f"; {n_collapsed} of {len(group)} run(s) collapsed" if n_collapsed else ""
        numbers.append(f"{act} at lr {lr:g}: dead share {median_ci(group['dead_share'])} over {len(group)} run(s); "
                       f"best val accuracy (median) {group['best_val_accuracy'].median():.3f}{status}")
    for key, comparison in tests.items():
        numbers.append(f"test {key}: {comparison}")
    numbers += [f"collapsed — {line}" for line in collapsed_runs(finished, ["activation", "lr"])]
    gone = finished[diverged].groupby(["activation", "lr"]).size().to_dict()
    numbers += [f"{a} at lr {lr:g}: {n} run(s) diverged (loss NaN), not counted" for (a, lr), n in sorted(gone.items())]
    fraction = numeric(table, "trainer.dead_slope").dropna().unique()
    fraction_text = ", ".join(f"{f:g}" for f in fraction) if len(fraction) else f"{DEAD_SLOPE:g}"
    notes = [f"Dead unit: its slope |f′(z)| (by autodiff of the model's own activation; a PReLU unit's learned slope) stays "
             f"below {fraction_text} × the largest |f′| of its function on every probe example. The same yardstick for "
             "every function: a ReLU unit with z < 0 everywhere, an ELU/SELU/sigmoid unit deep in saturation, a Leaky ReLU "
             "unit only if its negative slope is below the fraction.",
             "Rule: tests at each learning rate above the smallest, seeds as blocks, one-sided Wilcoxon signed-rank tests in "
             f"one Holm family read at {ALPHA}. ReLU dies at a rate when its dead share is shown above its share at the smallest "
             f"rate and above {DEAD_LARGE:g}; another function keeps its units there when its share is shown below ReLU's and "
             f"below {DEAD_NONE:g} and most of its runs still learn; it loses units when its share is shown above {DEAD_NONE:g}. "
             "Supported when ReLU dies at some rate, every other function keeps its units wherever ReLU dies and none loses "
             "units at any large rate; mixed when ReLU dies and another function loses units too; not supported when ReLU "
             "is shown to keep its units at every large rate. Collapsed networks are measured like any other (their dead "
             "units are dead) and named, with every setting's accuracy beside its dead share."]
    if dying:
        notes.append(f"ReLU dies at learning rate(s) {', '.join(f'{lr:g}' for lr in dying)}.")
    if loses:
        notes.append("The data disagree with the article in part: " + "; ".join(
            f"{a} loses units at lr {lr:g} (dead share {runs[(runs['activation'] == a) & (runs['lr'] == lr)]['dead_share'].median():.2f}, "
            f"best val accuracy {runs[(runs['activation'] == a) & (runs['lr'] == lr)]['best_val_accuracy'].median():.3f})"
            for a, lr in loses) + ".")
    not_learning = sorted((a, lr) for (a, lr), ok in keeps.items() if not ok and not learns.get((a, lr), False) and lr in dying)
    if not_learning:
        notes.append("Not counted as keeping their units, since most of their runs collapsed: "
                     + ", ".join(f"{a} at lr {lr:g}" for a, lr in not_learning) + ".")
    return ClaimResult(verdict, "share of hidden units whose slope stays below a fraction of their function's largest on every "
                       "probe example, after training, per function and learning rate, beside validation accuracy",
                       numbers, notes, tests=tests)


def _draw_dead(evidence: Evidence, table: pd.DataFrame, out: Path) -> None:
    finished = finished_rows(table)
    dead_units(finished, finished, out)


analysis = Analysis(_dead_table, dead_share_verdict, _draw_dead)


# --- the claim's figure -------------------------------------------------------------------------
def dead_units(finished, learned, path: Path) -> None:
    """Claim 3: dead share (networks that still learn) and best validation accuracy (every run)."""
    fig, (ax_dead, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, part, y, label in ((ax_dead, learned, "dead_share", "share of dead units (mean over layers)"),
                               (ax_acc, finished, "best_val_accuracy", "best validation accuracy")):
        part = part[part[y].notna()] if y in part else part.iloc[0:0]
        for act, group in part.groupby("activation"):
            xs = sorted(group["lr"].unique())
            figures.median_band(ax, xs, {v: group[group["lr"] == v][y] for v in xs}, act, **figures.style(act))
        if not part.empty:
            ax.set_xscale("log")
        ax.set_xlabel("Adam learning rate")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if "chance" in finished and finished["chance"].notna().any():
        ax_acc.axhline(float(finished["chance"].max()), color="black", linestyle=":", label="chance (majority class)")
    ax_dead.set_title("every finished run (the same slope yardstick for every function)", fontsize=9)
    ax_acc.set_title("every finished run", fontsize=9)
    if ax_acc.get_legend_handles_labels()[0]:
        ax_acc.legend(fontsize=8)
    figures.save(fig, path, "Claim 3: dead units and accuracy after training vs learning rate (median, 95% CI)")
