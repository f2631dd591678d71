"""Claim 7's rule: every layer's mean and std under SELU's conditions and their negative controls."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from actlab import figures
from actlab.claims.base import INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, Analysis, ClaimResult, Evidence, with_collapse
from actlab.figures import plt
from actlab.reporting.literature import Harness, from_comparison
from actlab.stats import paired


@dataclass(frozen=True)
class Conditions:
    normalized: dict  # (condition, "at init" | "after training") -> every layer within the bounds
    runs: pd.DataFrame  # one row per run: condition, seed, collapsed, best_val_accuracy


MEAN_TOLERANCE = 0.25
STD_RANGE = (0.75, 1.33)
CONDITION = "selu_condition"  # the `+experiment/selu_condition=...` axis, as a column


def _normalized(layers: pd.DataFrame) -> bool:
    return bool((layers["act_mean"].abs() <= MEAN_TOLERANCE).all()
                and layers["act_std"].between(*STD_RANGE).all())


def _layer_stats(evidence: Evidence) -> pd.DataFrame:
    frames = []
    for _, run in with_collapse(evidence.finished()).iterrows():
        layers = evidence.layers(run["run_id"])
        last = layers["step"].max()
        for when, step in (("at init", 0), ("after training", last)):
            frames.append(layers[layers["step"] == step].assign(
                condition=run[CONDITION], when=when, seed=run["seed"], collapsed=bool(run["collapsed"]),
                best_val_accuracy=pd.to_numeric(run.get("best_val_accuracy", np.nan), errors="coerce")))
    return pd.concat(frames, ignore_index=True)


def _selu_medians(layers: pd.DataFrame) -> pd.DataFrame:
    # After training, a collapsed network's activations describe the collapse, not self-normalization.
    usable = layers[(layers["when"] == "at init") | ~layers["collapsed"]]
    return usable.groupby(["condition", "when", "layer"])[["act_mean", "act_std"]].median().reset_index()


def selu_rule(layers: pd.DataFrame, subject: str = "selu_lecun", label: str = "SELU") -> ClaimResult:
    """Does `subject` (SELU's own condition; a challenger with its suggested initializer in its
    place) keep every layer normalized, where at least one negative control does not?"""
    medians = _selu_medians(layers)
    ok = {(c, w): _normalized(g) for (c, w), g in medians.groupby(["condition", "when"])}
    numbers = []
    for (condition, when), group in medians.groupby(["condition", "when"]):
        numbers.append(f"{condition} {when}: mean in [{group['act_mean'].min():.2f}, {group['act_mean'].max():.2f}], "
                       f"std in [{group['act_std'].min():.2f}, {group['act_std'].max():.2f}] over {group['layer'].max()} layers "
                       f"→ {'normalized' if ok[(condition, when)] else 'not normalized'}")
    runs = layers.drop_duplicates(["condition", "seed"])
    for condition, group in runs[runs["collapsed"]].groupby("condition"):
        numbers.append(f"{condition}: {len(group)} collapsed run(s) (seeds {', '.join(map(str, group['seed']))}) left out "
                       "of 'after training'")
    claim_init, claim_end = ok.get((subject, "at init")), ok.get((subject, "after training"))
    controls = [c for c in medians["condition"].unique() if c != subject]
    controls_fail = any(not ok.get((c, "at init"), True) or not ok.get((c, "after training"), True) for c in controls)
    if claim_init is None:
        verdict = INCONCLUSIVE
    elif not claim_init:
        verdict = NOT_SUPPORTED
    elif claim_end and controls_fail:
        verdict = SUPPORTED
    else:
        verdict = MIXED
    notes = [f"Rule: a condition is 'normalized' when every layer's median mean is within ±{MEAN_TOLERANCE} and std within "
             f"{STD_RANGE}; supported when SELU with LeCun-normal weights and standardized inputs is normalized at init and after "
             "training and at least one negative control is not; mixed when it holds at init only (or no run of it still "
             "learns after training), or no control breaks it. Collapsed runs are left out after training."]
    if claim_init and claim_end is False:
        notes.append("The data disagree with the article's 'during training': the fixed point holds at initialization, "
                     "but trained weights are no longer LeCun-normal and the statistics drift away from (0, 1).")
    if claim_init and claim_end is None:
        notes.append(f"Every {subject} run collapsed: 'during training' cannot be judged from these runs.")
    return ClaimResult(verdict, "per-layer mean and std of activations on the probe batch, median over seeds", numbers, notes,
                       details=Conditions(ok, runs))


def _draw_selu(evidence: Evidence, layers: pd.DataFrame, out: Path) -> None:
    selu_layers(_selu_medians(layers), out)


analysis = Analysis(_layer_stats, selu_rule, _draw_selu, subject=("selu_lecun", "SELU"))




# --- the literature rows this claim answers (claim.literature in its YAML) -----------------------
def geron(result: ClaimResult) -> Harness | None:
    runs = result.details.runs
    if not {"selu_lecun", "relu_he_normal"} <= set(runs["condition"]):
        return None
    wide = runs.pivot_table(index="seed", columns="condition", values="best_val_accuracy")
    h = from_comparison(paired(wide["selu_lecun"], wide["relu_he_normal"]), "SELU − ReLU best validation accuracy")
    medians = wide.median()
    return replace(h, text=f"SELU {medians['selu_lecun']:.3f} vs ReLU {medians['relu_he_normal']:.3f} (medians); " + h.text)


# --- the claim's figure -------------------------------------------------------------------------
def selu_layers(medians, path: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for col, when in enumerate(("at init", "after training")):
        for row, (stat, target) in enumerate((("act_mean", 0.0), ("act_std", 1.0))):
            ax = axes[row][col]
            conditions = sorted(medians["condition"].unique())
            for condition, group in medians[medians["when"] == when].groupby("condition"):
                ax.plot(group["layer"], group[stat], label=condition, markersize=4, **figures.style(condition, conditions))
            ax.axhline(target, color="black", linestyle=":")
            ax.set_title(f"{stat.replace('act_', '')} of each layer's output, {when}")
            ax.set_ylabel(stat.replace("act_", "activation "))
            if stat == "act_std":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("hidden layer")
        figures.integer_ticks(ax)
    axes[0][1].legend(fontsize=8)
    figures.save(fig, path, "Claim 7: does SELU keep mean 0 and std 1 layer after layer? (median over seeds)")
