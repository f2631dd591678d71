"""Claim 2's rule: tanh's and sigmoid's convergence speed, paired by optimizer and seed."""

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
from actlab.figures import plt
from actlab.stats import holm_family, paired


def _finished_with_collapse(evidence: Evidence) -> pd.DataFrame:
    return with_collapse(evidence.finished())


def tanh_vs_sigmoid_rule(finished: pd.DataFrame) -> ClaimResult:
    finished = finished_rows(finished)
    wide = finished.pivot_table(index=["optimizer", "seed"], columns="activation", values="val_accuracy_auc")
    steps = finished.pivot_table(index=["optimizer", "seed"], columns="activation", values="epochs_to_target")
    tests = {"all": paired(wide.get("tanh", []), wide.get("sigmoid", []))}
    for optimizer, group in wide.groupby(level="optimizer"):
        tests[optimizer] = paired(group.get("tanh", []), group.get("sigmoid", []))
    tests["epochs"] = paired(steps.get("tanh", []), steps.get("sigmoid", []))
    tests = holm_family(tests)
    overall = tests["all"]
    per_optimizer = {k: c for k, c in tests.items() if k not in ("all", "epochs")}
    numbers = [f"all: tanh − sigmoid mean val accuracy over epochs {overall}"]
    numbers += [f"{optimizer}: {c}" for optimizer, c in per_optimizer.items()]
    numbers.append(f"epochs to 95% of best: tanh − sigmoid {tests['epochs']}")
    numbers += [f"collapsed (kept: a network that never learns is the slowest to converge) — {line}"
                for line in collapsed_runs(finished, ["activation", "optimizer"])]
    directions = [c.direction for c in per_optimizer.values()]
    if overall.direction == 1 and -1 not in directions:
        verdict = SUPPORTED
    elif 1 in directions and -1 in directions:
        verdict = MIXED
    elif overall.direction == -1:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    notes = ["Rule: supported when tanh's is significantly higher overall and lower for no optimizer; all p-values are "
             "Holm-adjusted over the claim's one-sided tests (both directions of each comparison)."]
    return ClaimResult(verdict, "mean validation accuracy over epochs (higher = faster convergence), paired by optimizer and seed",
                       numbers, notes)


def _draw_curves(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    curves = {(run["activation"], run["optimizer"]): evidence.history(run["run_id"], "val_accuracy")
              for _, run in finished.iterrows()}
    curves_by_group(finished, curves, out)


analysis = Analysis(_finished_with_collapse, tanh_vs_sigmoid_rule, _draw_curves)


# --- the claim's figure -------------------------------------------------------------------------
def curves_by_group(finished, curves, path: Path) -> None:
    import numpy as np

    optimizers = sorted(finished["optimizer"].unique())
    fig, axes = plt.subplots(1, len(optimizers), figsize=(5.5 * len(optimizers), 4), sharey=True, squeeze=False)
    for ax, optimizer in zip(axes[0], optimizers):
        for act in sorted(finished["activation"].unique()):
            runs = [c for (a, o), c in curves.items() if a == act and o == optimizer and c]
            if not runs:
                continue
            length = min(map(len, runs))
            stacked = np.array([r[:length] for r in runs])
            epochs = list(range(1, length + 1))
            figures.median_band(ax, epochs, dict(zip(epochs, stacked.T)), act, **figures.style(act))
        ax.set_xlabel("epoch")
        figures.integer_ticks(ax)
        ax.set_title(f"optimizer: {optimizer}")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("validation accuracy")
    figures.save(fig, path, "Claim 2: validation accuracy per epoch, tanh vs sigmoid (median over seeds, 95% CI)")
