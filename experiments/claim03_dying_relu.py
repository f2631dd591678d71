"""Claim 3's rule: the share of dead units after training at large learning rates, where networks still learn."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import (
    COLLAPSE_MARGIN,
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
from actlab.stats import median_ci

DEAD_LARGE = 0.2  # a "large share" of dead units
DEAD_NONE = 0.05


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


def dead_share_verdict(table: pd.DataFrame) -> ClaimResult:
    """Claim 3's rule, judged only where networks still learn.

    A setting (activation, learning rate) is judged when most of its finished runs did not collapse;
    its dead share is the median over those runs. ReLU 'dies' at a rate above the smallest one where it
    still learns, with a median dead share ≥ DEAD_LARGE and above its share at the smallest rate. At
    each such rate, every other function that still learns there must stay below DEAD_NONE."""
    finished = finished_rows(table)
    learned = finished[~finished["collapsed"]]
    estimates, judged = {}, {}
    for (act, lr), group in finished.groupby(["activation", "lr"]):
        runs = learned[(learned["activation"] == act) & (learned["lr"] == lr)]
        estimates[(act, lr)] = median_ci(runs["dead_share"])
        judged[(act, lr)] = 2 * len(runs) > len(group)
    accuracy = finished.groupby(["activation", "lr"])["best_val_accuracy"].median()
    lowest = finished["lr"].min()
    relu_low = estimates.get(("relu", lowest)) if judged.get(("relu", lowest)) else None
    relu_rates = sorted(lr for (a, lr), ok in judged.items() if a == "relu" and ok and lr > lowest)
    dying_rates = [lr for lr in relu_rates
                   if relu_low is not None and estimates[("relu", lr)].median >= DEAD_LARGE
                   and estimates[("relu", lr)].median > relu_low.median]
    others = {(a, lr): estimates[(a, lr)] for (a, lr), ok in judged.items() if a != "relu" and ok and lr in dying_rates}
    if relu_low is None or not relu_rates:
        verdict = INCONCLUSIVE
    elif not dying_rates:
        verdict = NOT_SUPPORTED
    elif not others:
        verdict = INCONCLUSIVE
    elif all(e.median < DEAD_NONE for e in others.values()):
        verdict = SUPPORTED
    else:
        verdict = MIXED
    numbers = []
    for (act, lr), est in sorted(estimates.items()):
        n = int(((finished["activation"] == act) & (finished["lr"] == lr)).sum())
        k = int(((learned["activation"] == act) & (learned["lr"] == lr)).sum())
        status = "" if judged[(act, lr)] else " — not judged: most runs collapsed"
        numbers.append(f"{act} at lr {lr:g}: dead share {est} over {k} of {n} learning run(s); "
                       f"best val accuracy (median, all runs) {accuracy[(act, lr)]:.3f}{status}")
    numbers += [f"collapsed — {line}" for line in collapsed_runs(finished, ["activation", "lr"])]
    diverged = table[table["diverged"].astype(bool)].groupby(["activation", "lr"]).size().to_dict() if "diverged" in table else {}
    numbers += [f"{a} at lr {lr:g}: {n} run(s) diverged (loss NaN), not counted" for (a, lr), n in sorted(diverged.items())]
    notes = [f"Rule: a run has collapsed when its best validation accuracy stays below chance + {COLLAPSE_MARGIN:g} × "
             "(1 − chance), chance being the majority class's share; a collapsed network has constant units whatever "
             "its activation, so dying units are judged only where most runs of a setting still learn. Supported when, "
             f"at some learning rate above the smallest where ReLU still learns, ReLU's median dead share is ≥ {DEAD_LARGE} "
             f"and above its share at the smallest rate, while every other function that learns at that rate stays "
             f"below {DEAD_NONE}; mixed when some do not; not supported when ReLU's units do not die where it learns."]
    if dying_rates:
        notes.append(f"Judged at learning rate(s) {', '.join(f'{lr:g}' for lr in dying_rates)}: where ReLU still learns "
                     "and loses units.")
    unmatched = sorted((a, lr) for (a, lr), ok in judged.items()
                       if a != "relu" and ok and lr not in dying_rates and lr > lowest and not judged.get(("relu", lr), False)
                       and estimates[(a, lr)].median >= DEAD_NONE)
    if unmatched:
        notes.append("Not compared with ReLU, which collapsed there: " + "; ".join(
            f"{a} at lr {lr:g} still learns (best val accuracy {accuracy[(a, lr)]:.3f}) with a dead share of "
            f"{estimates[(a, lr)].median:.2f}" for a, lr in unmatched) + ".")
    dying_too = sorted({a for (a, lr), est in others.items() if est.median >= DEAD_NONE})
    if verdict == MIXED and dying_too:
        notes.append(f"The data disagree with the article in part: {', '.join(dying_too)} lose units too where they still "
                     "learn (a unit whose output is the same for every input is dead whether it sits at 0 or at a negative "
                     "saturation).")
    return ClaimResult(verdict, "share of hidden units with constant output over the probe batch after training, "
                       "in networks that still learn, beside their validation accuracy", numbers, notes)


def _draw_dead(evidence: Evidence, table: pd.DataFrame, out: Path) -> None:
    finished = finished_rows(table)
    dead_units(finished, finished[~finished["collapsed"]], out)


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
    ax_dead.set_title("networks that still learn (collapsed runs left out)", fontsize=9)
    ax_acc.set_title("every finished run", fontsize=9)
    if ax_acc.get_legend_handles_labels()[0]:
        ax_acc.legend(fontsize=8)
    figures.save(fig, path, "Claim 3: dead units and accuracy after training vs learning rate (median, 95% CI)")
