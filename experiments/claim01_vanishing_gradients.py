"""Claim 1's rule: the first/last hidden layer gradient-norm ratio at depth, at initialization, with
Glorot and with He weights: does it vanish (below the YAML's vanish_ratio), explode (above
explode_ratio), or stay between them?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from actlab import figures
from actlab.claims.base import INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, Analysis, ClaimResult, Evidence, with_collapse
from actlab.figures import plt
from actlab.stats import ALPHA, holm_family, median_ci, ratio_test

# The thresholds are stated in the claim's YAML (claim.rule), beside its deciding tests.
_RULE = OmegaConf.load(Path(__file__).with_suffix(".yaml")).claim.rule
VANISH_RATIO = float(_RULE.vanish_ratio)  # first-layer gradient below this share of the last layer's: "vanishing"
EXPLODE_RATIO = float(_RULE.explode_ratio)  # above this multiple: "exploding"
SATURATING = ("sigmoid", "tanh")  # the functions the article says suffer; every other one is of the ReLU family
UNDERFLOW_LOG10 = -20  # a ratio of exactly 0 (the first layer's gradient underflowed float32) enters tests and figure here


@dataclass(frozen=True)
class Gradients:
    estimates: dict  # (activation, initializer, "at init" | "after training") -> median [95% CI] of the ratio
    depth: int  # the plain stack's deepest depth, where the verdict is read
    status: dict  # (activation, initializer) -> "vanishes" | "explodes" | "between" | "undecided"


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
            rows.append({"activation": run["activation"], "initializer": run.get("initializer", "auto"),
                         "model": run.get("model.name", PLAIN_MLP), "depth": int(run["model.depth"]),
                         "when": when, "seed": run["seed"],
                         "collapsed": bool(run["collapsed"]),
                         "ratio": grads[1] / grads[last_layer] if grads[last_layer] > 0 else np.nan})
    return pd.DataFrame(rows)


def _usable_gradients(ratios: pd.DataFrame) -> pd.DataFrame:
    # At init no network has trained; after training a collapsed network's gradients describe the collapse.
    return ratios[(ratios["when"] == "at init") | ~ratios["collapsed"]]


def _residual_control(ratios: pd.DataFrame) -> list[str]:
    """The residual stack at its deepest depth, at init: does any function's gradient vanish or explode there?"""
    if "model" not in ratios or not (ratios["model"] == RESIDUAL_MLP).any():
        return []
    res = ratios[(ratios["model"] == RESIDUAL_MLP) & (ratios["when"] == "at init")]
    deepest = res["depth"].max()
    estimates = {key: median_ci(g["ratio"]) for key, g in res[res["depth"] == deepest].groupby(["activation", "initializer"])}
    off = [f"{a} ({i}) {'vanishes' if e.median < VANISH_RATIO else 'explodes'}" for (a, i), e in estimates.items()
           if not VANISH_RATIO <= e.median <= EXPLODE_RATIO]
    return [f"control, {RESIDUAL_MLP} ({deepest} residual blocks) at init: " + "; ".join(f"{a} ({i}) {e}" for (a, i), e in estimates.items())
            + (f" → {', '.join(off)}" if off else " → no function's gradient vanishes or explodes (the skips carry it)")]


def _floored(ratios: pd.Series) -> np.ndarray:
    """Ratios for a test on their logarithm: an underflowed 0 at the figure's floor (above its true value,
    so conservative for 'vanishes')."""
    return np.where(ratios.to_numpy(dtype=float) <= 0, 10.0 ** UNDERFLOW_LOG10, ratios.to_numpy(dtype=float))


def gradient_tests(at_init: pd.DataFrame) -> dict:
    """The deciding tests, one pair per (activation, initializer): a one-sample t-test of the log ratio
    against log vanish_ratio ("ACT/INIT/vanish") and against log explode_ratio ("ACT/INIT/explode"),
    seeds as blocks, both directions read: all in one Holm family."""
    comparisons = {}
    for (act, init), group in at_init.groupby(["activation", "initializer"], sort=True):
        ratios = _floored(group.sort_values("seed")["ratio"].dropna())
        for name, threshold in (("vanish", VANISH_RATIO), ("explode", EXPLODE_RATIO)):
            comparisons[f"{act}/{init}/{name}"] = ratio_test(ratios, np.full(len(ratios), threshold))
    return holm_family(comparisons)


def cell_status(tests: dict, act: str, init: str) -> str:
    """What the tests show for one function with one initializer."""
    vanish, explode = tests[f"{act}/{init}/vanish"], tests[f"{act}/{init}/explode"]
    if vanish.p_less < ALPHA:
        return "vanishes"
    if explode.p_greater < ALPHA:
        return "explodes"
    if vanish.p_greater < ALPHA and explode.p_less < ALPHA:
        return "between"
    return "undecided"


def function_reading(act: str, statuses: dict[str, str]) -> str:
    """The article's sentence for one function, over its initializers: 'holds', 'fails', 'depends on the
    initializer' or 'undecided'. Sigmoid and tanh hold when they vanish with every initializer; a
    ReLU-family function holds when its gradient stays between the thresholds with every one (an
    exploding gradient is no cure for a vanishing one)."""
    values = list(statuses.values())
    if "undecided" in values:
        return "undecided"
    good = "vanishes" if act in SATURATING else "between"
    if all(v == good for v in values):
        return "holds"
    return "depends on the initializer" if any(v == good for v in values) else "fails"


def vanishing_gradients_rule(ratios: pd.DataFrame) -> ClaimResult:
    control = _residual_control(ratios)
    if "model" in ratios:
        ratios = ratios[ratios["model"] != RESIDUAL_MLP]
    deepest = ratios["depth"].max()
    deep = ratios[ratios["depth"] == deepest]
    estimates = {key: median_ci(group["ratio"])
                 for key, group in _usable_gradients(deep).groupby(["activation", "initializer", "when"])}
    tests = gradient_tests(deep[deep["when"] == "at init"])
    cells = sorted({(a, i) for a, i, when in estimates if when == "at init"})
    status = {(a, i): cell_status(tests, a, i) for a, i in cells}
    readings = {act: function_reading(act, {i: s for (a, i), s in status.items() if a == act}) for act in sorted({a for a, _ in cells})}
    saturating = [a for a in SATURATING if a in readings]
    relu_family = [a for a in readings if a not in SATURATING]
    values = list(readings.values())
    if not saturating or not relu_family or (set(values) <= {"holds", "undecided"} and "undecided" in values):
        verdict = INCONCLUSIVE
    elif all(v == "holds" for v in values):
        verdict = SUPPORTED
    elif set(values) <= {"fails", "undecided"}:
        verdict = NOT_SUPPORTED
    else:
        verdict = MIXED
    numbers = []
    for (act, init, when), est in sorted(estimates.items()):
        line = f"{act}, {init}, {when}, depth {deepest}: ‖∇W₁‖/‖∇W_L‖ = {est}"
        if when == "at init":
            vanish, explode = tests[f"{act}/{init}/vanish"], tests[f"{act}/{init}/explode"]
            line += f" → {status[(act, init)]} " + (
                "(too few seeds for a test)" if vanish.n < 2 else
                f"(Holm p: < {VANISH_RATIO:g} {vanish.p_less:.3g}, > {VANISH_RATIO:g} {vanish.p_greater:.3g}, "
                f"> {EXPLODE_RATIO:g} {explode.p_greater:.3g}, < {EXPLODE_RATIO:g} {explode.p_less:.3g}; "
                f"t-tests on log ratios over {vanish.n} seeds, a family of {vanish.family})")
        numbers.append(line)
    numbers += [f"{act}: the article's sentence {reading} ({'; '.join(f'{i}: {s}' for (a, i), s in status.items() if a == act)})"
                for act, reading in readings.items()]
    gone = deep[(deep["when"] == "after training") & deep["collapsed"]].groupby(["activation", "initializer"]).size()
    numbers += [f"{act}, {init}, depth {deepest}: {n} collapsed run(s) left out of 'after training' (their gradients describe "
                "a network that learned nothing)" for (act, init), n in gone.items()]
    numbers += control
    notes = [f"Rule: at depth {deepest} at initialization, with each initializer, a function's gradient 'vanishes' when a one-sided "
             f"t-test on the log ratio shows it below {VANISH_RATIO:g}, 'explodes' when it shows it above {EXPLODE_RATIO:g}, and stays "
             f"'between' when both one-sided tests show it inside [{VANISH_RATIO:g}, {EXPLODE_RATIO:g}]; all tests in one Holm family, "
             f"read at {ALPHA}. Sigmoid and tanh bear out the article when they vanish with every initializer; a ReLU-family "
             "function when its gradient stays between the thresholds with every initializer (exploding is the other failure). "
             "Supported when every function bears it out; not supported when none does (an undecided one aside); mixed when some "
             "do and some do not; inconclusive when the rest are undecided. "
             f"The verdict reads initialization only and the plain stack ({PLAIN_MLP}) only: "
             f"{RESIDUAL_MLP} (residual blocks, whose skips carry the gradient) is the control, shown, not judged.",
             "Log ratios are tested with t-tests (not signed-rank tests): the log of a product of many per-layer factors is close "
             "to normal, and a rank test over few seeds could not pass Holm's correction over the family; a ratio that "
             f"underflowed to 0 in float32 enters at 1e{UNDERFLOW_LOG10}, above its true value."]
    mixed_functions = [a for a, r in readings.items() if r == "depends on the initializer"]
    if mixed_functions:
        notes.append(f"The initializer, not the function alone, decides for {', '.join(mixed_functions)}: "
                     + "; ".join(f"{a} " + ", ".join(f"{s} with {i}" for (b, i), s in status.items() if b == a) for a in mixed_functions) + ".")
    return ClaimResult(verdict, "gradient-norm ratio first/last hidden layer at initialization, per function and initializer, "
                       "median [95% CI] over seeds", numbers, notes, details=Gradients(estimates, deepest, status), tests=tests)


def _draw_gradients(evidence: Evidence, ratios: pd.DataFrame, out: Path) -> None:
    ratio_by_depth(_usable_gradients(ratios), out, VANISH_RATIO, RESIDUAL_MLP, EXPLODE_RATIO)


analysis = Analysis(_gradient_table, vanishing_gradients_rule, _draw_gradients)


# --- the claim's figure -------------------------------------------------------------------------
def ratio_by_depth(ratios, path: Path, threshold: float, control: str = "resmlp", explode: float | None = None) -> None:
    """One row of panels per initializer (at init, after training). Lines: the plain stack across depths,
    per activation. Open markers: the residual `control` (skip connections), drawn at its own depth(s)
    in the activation's colour. A ratio of 0 (log −∞) is drawn on a marked floor, so the function whose
    gradient vanished most stays in the figure."""
    ratios = ratios.assign(ratio=ratios["ratio"].where(~(ratios["ratio"] <= 0), 10.0 ** UNDERFLOW_LOG10))
    if "initializer" not in ratios:
        ratios = ratios.assign(initializer="auto")
    underflow = bool((ratios["ratio"] == 10.0 ** UNDERFLOW_LOG10).any())
    inits = sorted(ratios["initializer"].dropna().unique()) or ["auto"]
    fig, grid = plt.subplots(len(inits), 2, figsize=(13, 3.6 * len(inits)), sharey=True, squeeze=False)
    for row, init in zip(grid, inits):
        part = ratios[ratios["initializer"] == init]
        is_control = part["model"] == control if "model" in part else np.zeros(len(part), dtype=bool)
        for ax, when in zip(row, ("at init", "after training")):
            plain, res = (part[mask & (part["when"] == when)] for mask in (~is_control, is_control))
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
            ax.axhline(np.log10(threshold), color="black", linestyle=":", label=f"ratio {threshold:g} (vanishing)")
            if explode is not None:
                ax.axhline(np.log10(explode), color="black", linestyle="-.", label=f"ratio {explode:g} (exploding)")
            if underflow:
                ax.axhline(UNDERFLOW_LOG10, color="grey", linestyle="--", linewidth=0.8,
                           label=f"ratio 0: the gradient underflowed float32 (drawn at 1e{UNDERFLOW_LOG10})")
            ax.set_xlabel("hidden layers (residual blocks for the control)" if not res.empty else "hidden layers")
            figures.integer_ticks(ax)
            ax.set_title(f"{init}, {when}", fontsize=10)
            ax.grid(alpha=0.3)
        row[0].set_ylabel("log10 ‖∇W first‖ / ‖∇W last‖")
    # Beside the panels, not over them: at init every function has runs (collapsed ones drop out after training).
    grid[0][1].legend(*grid[0][0].get_legend_handles_labels(), fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    figures.save(fig, path, "Claim 1: gradient reaching the first layer, relative to the last, per initializer (median, 95% CI)")
