"""The rule of examples/my_claim: each function's first/last hidden-layer gradient-norm ratio at
initialization, judged against a 10× band. Written as a user would, on actlab.claims.base alone."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from actlab.claims.base import MIXED, NOT_SUPPORTED, SUPPORTED, Analysis, ClaimResult, Evidence
from actlab.stats import median_ci

BAND = 10.0  # "within 10×": the ratio stays in [1/10, 10]


def ratios(evidence: Evidence) -> pd.DataFrame:
    """One row per finished run: its activation, seed and gradient-norm ratio at step 0."""
    rows = []
    for _, run in evidence.finished().iterrows():
        layers = evidence.layers(run["run_id"])
        grads = layers[layers["step"] == 0].set_index("layer")["grad_norm"]
        rows.append({"activation": run["activation"], "seed": run["seed"], "ratio": grads[1] / grads[grads.index.max()]})
    return pd.DataFrame(rows)


def rule(table: pd.DataFrame) -> ClaimResult:
    estimates = {act: median_ci(group["ratio"]) for act, group in table.groupby("activation")}
    inside = {act: 1 / BAND <= est.median <= BAND for act, est in estimates.items()}
    verdict = SUPPORTED if all(inside.values()) else NOT_SUPPORTED if not any(inside.values()) else MIXED
    numbers = [f"{act}: ‖∇W₁‖/‖∇W_L‖ at init = {est} → {'within' if inside[act] else 'outside'} {BAND:g}×"
               for act, est in estimates.items()]
    return ClaimResult(verdict, "first/last hidden-layer gradient-norm ratio at initialization, median over seeds", numbers,
                       [f"Rule: supported when every function's median ratio is within [1/{BAND:g}, {BAND:g}]; mixed when some are."])


def draw(evidence: Evidence, table: pd.DataFrame, out: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, (act, group) in enumerate(table.groupby("activation")):
        ax.scatter(np.full(len(group), i), np.log10(group["ratio"]), label=act)
    ax.axhspan(-np.log10(BAND), np.log10(BAND), alpha=0.1)
    ax.set_xticks(range(table["activation"].nunique()), sorted(table["activation"].unique()))
    ax.set_ylabel("log10 gradient-norm ratio at init")
    ax.set_title(f"First/last hidden-layer gradient-norm ratio at init (shaded: within {BAND:g}×)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


analysis = Analysis(ratios, rule, draw)
