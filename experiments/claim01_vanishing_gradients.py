"""Claim 1's rule: the first/last hidden layer gradient-norm ratio at depth, at initialization."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from actlab import figures
from actlab.claims.base import INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, Analysis, ClaimResult, Evidence, with_collapse
from actlab.figures import plt
from actlab.stats import median_ci

VANISH_RATIO = 0.1  # first-layer gradient below a tenth of the last layer's: "vanishing"
@dataclass(frozen=True)
class Gradients:
    estimates: dict  # (activation, "at init" | "after training") -> median [95% CI] of the ratio
    depth: int  # the plain stack's deepest depth, where the verdict is read


# The verdict reads the plain stack; the residual one (skip connections) is the control, whose
# gradients should not vanish for any function.
PLAIN_MLP, RESIDUAL_MLP = "deep_mlp", "resmlp"


def _gradient_table(evidence: Evidence) -> pd.DataFrame:
    """One row per run and moment (at init, after training): the first/last gradient-norm ratio."""
    rows = []
    for _, run in with_collapse(evidence.finished()).iterrows():
        layers = evidence.layers(run["run_id"])
        last_layer, last_step = layers["layer"].max(), layers["step"].max()
        for when, step in (("at init", 0), ("after training", last_step)):
            grads = layers[layers["step"] == step].set_index("layer")["grad_norm"]
            rows.append({"activation": run["activation"], "model": run.get("model.name", PLAIN_MLP), "depth": int(run["model.depth"]),
                         "when": when, "seed": run["seed"],
                         "collapsed": bool(run["collapsed"]),
                         "ratio": grads[1] / grads[last_layer] if grads[last_layer] > 0 else np.nan})
    return pd.DataFrame(rows)


def _usable_gradients(ratios: pd.DataFrame) -> pd.DataFrame:
    # At init no network has trained; after training a collapsed network's gradients describe the collapse.
    return ratios[(ratios["when"] == "at init") | ~ratios["collapsed"]]


def _residual_control(ratios: pd.DataFrame) -> list[str]:
    """The residual stack at its deepest depth, at init: does any function's gradient vanish there?"""
    if "model" not in ratios or not (ratios["model"] == RESIDUAL_MLP).any():
        return []
    res = ratios[(ratios["model"] == RESIDUAL_MLP) & (ratios["when"] == "at init")]
    deepest = res["depth"].max()
    estimates = {act: median_ci(g["ratio"]) for act, g in res[res["depth"] == deepest].groupby("activation")}
    vanish = [act for act, est in estimates.items() if est.median < VANISH_RATIO]
    return [f"control, {RESIDUAL_MLP} ({deepest} residual blocks) at init: " + "; ".join(f"{a} {e}" for a, e in estimates.items())
            + (f" → vanishes for {', '.join(vanish)}" if vanish else " → no function's gradient vanishes (the skips carry it)")]


def vanishing_gradients_rule(ratios: pd.DataFrame) -> ClaimResult:
    control = _residual_control(ratios)
    if "model" in ratios:
        ratios = ratios[ratios["model"] != RESIDUAL_MLP]
    deepest = ratios["depth"].max()
    deep = ratios[ratios["depth"] == deepest]
    estimates = {(act, when): median_ci(group["ratio"])
                 for (act, when), group in _usable_gradients(deep).groupby(["activation", "when"])}
    vanishes = {act: est.median < VANISH_RATIO for (act, when), est in estimates.items() if when == "at init"}
    saturating = [a for a in ("sigmoid", "tanh") if a in vanishes]
    relu_family = [a for a in vanishes if a not in ("sigmoid", "tanh")]
    if not saturating or not relu_family:
        verdict = INCONCLUSIVE
    elif all(vanishes[a] for a in saturating) and not any(vanishes[a] for a in relu_family):
        verdict = SUPPORTED
    elif not any(vanishes[a] for a in saturating) or all(vanishes[a] for a in relu_family):
        verdict = NOT_SUPPORTED
    else:
        verdict = MIXED
    numbers = [f"{act} {when}, depth {deepest}: ‖∇W₁‖/‖∇W_L‖ = {est}" for (act, when), est in sorted(estimates.items())]
    gone = deep[(deep["when"] == "after training") & deep["collapsed"]].groupby("activation").size()
    numbers += [f"{act}, depth {deepest}: {n} collapsed run(s) left out of 'after training' (their gradients describe a "
                "network that learned nothing)" for act, n in gone.items()]
    numbers += control
    notes = [f"Rule: a function 'vanishes' when the median ratio at depth {deepest} at initialization is below {VANISH_RATIO}; "
             "supported when sigmoid and tanh vanish and no ReLU-family function does. The verdict reads initialization "
             f"only, where no network has trained yet, so collapsed runs cannot sway it, and the plain stack ({PLAIN_MLP}) only: "
             f"{RESIDUAL_MLP} (residual blocks, whose skips carry the gradient) is the control, shown, not judged."]
    if "tanh" in vanishes and not vanishes["tanh"]:
        notes.append("With Glorot initialization tanh keeps its first-layer gradient at this depth: the "
                     "initializer, not the function alone, decides whether gradients vanish.")
    return ClaimResult(verdict, "gradient-norm ratio first/last hidden layer, median [95% CI] over seeds",
                       numbers, notes, details=Gradients(estimates, deepest))


def _draw_gradients(evidence: Evidence, ratios: pd.DataFrame, out: Path) -> None:
    ratio_by_depth(_usable_gradients(ratios), out, VANISH_RATIO, RESIDUAL_MLP)


analysis = Analysis(_gradient_table, vanishing_gradients_rule, _draw_gradients)


# --- the claim's figure -------------------------------------------------------------------------
UNDERFLOW_LOG10 = -20  # where a ratio of exactly 0 is drawn: the first layer's gradient underflowed float32


def ratio_by_depth(ratios, path: Path, threshold: float, control: str = "resmlp") -> None:
    """Lines: the plain stack across depths, per activation. Open markers: the residual `control`
    (skip connections), drawn at its own depth(s) in the activation's colour. A ratio of 0 (log −∞)
    is drawn on a marked floor, so the function whose gradient vanished most stays in the figure."""
    import numpy as np

    from actlab.stats import median_ci

    ratios = ratios.assign(ratio=ratios["ratio"].where(~(ratios["ratio"] <= 0), 10.0 ** UNDERFLOW_LOG10))
    underflow = bool((ratios["ratio"] == 10.0 ** UNDERFLOW_LOG10).any())
    is_control = ratios["model"] == control if "model" in ratios else np.zeros(len(ratios), dtype=bool)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    for ax, when in zip(axes, ("at init", "after training")):
        plain, res = (ratios[mask & (ratios["when"] == when)] for mask in (~is_control, is_control))
        for act, group in plain.groupby("activation"):
            depths = sorted(group["depth"].unique())
            figures.median_band(ax, depths, {d: np.log10(group[group["depth"] == d]["ratio"]) for d in depths}, act, **figures.style(act))
        for act, group in res.groupby("activation"):
            look = figures.style(act)
            for depth, at in group.groupby("depth"):
                est = median_ci(np.log10(at["ratio"]))
                ax.errorbar(depth, est.median, yerr=[[est.median - est.low], [est.high - est.median]], fmt=look["marker"],
                            color=look["color"], markerfacecolor="white", markersize=8, capsize=3)
        if not res.empty:
            ax.plot([], [], "o", color="black", markerfacecolor="white", label=f"open markers: {control} (residual control)")
        ax.axhline(np.log10(threshold), color="black", linestyle=":", label=f"ratio {threshold} (vanishing)")
        if underflow:
            ax.axhline(UNDERFLOW_LOG10, color="grey", linestyle="--", linewidth=0.8,
                       label=f"ratio 0: the gradient underflowed float32 (drawn at 1e{UNDERFLOW_LOG10})")
        ax.set_xlabel("hidden layers (residual blocks for the control)" if not res.empty else "hidden layers")
        figures.integer_ticks(ax)
        ax.set_title(when)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("log10 ‖∇W first‖ / ‖∇W last‖")
    # Beside the panels, not over them: at init every function has runs (collapsed ones drop out after training).
    axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figures.save(fig, path, "Claim 1: gradient reaching the first layer, relative to the last (median, 95% CI)")
