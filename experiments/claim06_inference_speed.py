"""Claim 6's rule: ELU's forward-pass time as a ratio to ReLU's."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, Analysis, ClaimResult, Evidence
from actlab.figures import plt
from actlab.stats import ALPHA, holm_family, median_ci, ratio_test

SLOWER = 1.05  # at least 5% slower, and significantly so


def _latency_table(evidence: Evidence) -> pd.DataFrame:
    return evidence.finished()


def inference_speed_rule(finished: pd.DataFrame, subject: str = "elu", label: str = "ELU") -> ClaimResult:
    """Is `subject` (ELU in the article; a challenger in its place) slower than ReLU at test time?"""
    wide = finished.pivot_table(index=["model", "seed"], columns="activation", values="inference_ms")
    if "relu" not in wide or subject not in wide:
        return ClaimResult(INCONCLUSIVE, "forward-pass time ratio to ReLU", [f"{label} or ReLU has no timings."])
    ratios = wide.div(wide["relu"], axis=0)
    tests = holm_family({model: ratio_test(group[subject], group["relu"]) for model, group in wide.groupby(level="model")})
    slower = {model: c.p_greater < ALPHA and c.difference.median >= SLOWER for model, c in tests.items()}
    numbers = [f"{model}: {label} / ReLU forward-pass time {c}" for model, c in tests.items()]
    for model, group in ratios.groupby(level="model"):
        numbers += [f"{model}: {act} / relu = {median_ci(group[act])}" for act in group.columns if act not in ("relu", subject)]
    if not slower:
        verdict = INCONCLUSIVE
    elif all(slower.values()):
        verdict = SUPPORTED
    elif any(slower.values()):
        verdict = MIXED
    else:
        verdict = NOT_SUPPORTED
    notes = [f"Rule: {label} counts as slower on a model when a one-sided paired t-test on log time ({label} vs ReLU, paired by "
             f"seed) is significant after Holm's correction over both models and directions, and its median time ratio "
             f"is ≥ {SLOWER}; supported if so on every model, mixed on some, not supported on none. A t-test on log times "
             "(timing noise is multiplicative) replaces the earlier interval rule so the correction applies; with 5 seeds "
             "a rank test's smallest p (1/32) could not pass it. The other functions' ratios are descriptive.",
             "The ELU paper (Clevert et al. 2016) measured slower *training*, never test time. On a CPU the activation is "
             "a small share of a dense network's time next to the matrix products.",
             "In plain words: " + (
                 f"{label}'s forward pass is not measurably slower than ReLU's on any network" if not any(slower.values())
                 else f"{label}'s forward pass is measurably slower than ReLU's on " + ", ".join(m for m, v in slower.items() if v)
                 + (" but not on " + ", ".join(m for m, v in slower.items() if not v) if not all(slower.values()) else ""))
             + "; each job ran alone on the machine, timing with one TensorFlow thread."]
    return ClaimResult(verdict, "median time of a compiled forward pass over 1,024 inputs, as a ratio to ReLU, paired by seed",
                       numbers, notes)


def _draw_latency(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    wide = finished.pivot_table(index=["model", "seed"], columns="activation", values="inference_ms")
    latency_ratios(wide.div(wide["relu"], axis=0), out)


analysis = Analysis(_latency_table, inference_speed_rule, _draw_latency, subject=("elu", "ELU"))


# --- the claim's figure -------------------------------------------------------------------------
def latency_ratios(ratios, path: Path) -> None:
    from actlab.stats import median_ci

    models = sorted(ratios.index.get_level_values("model").unique())
    acts = list(ratios.columns)
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(models)
    for m, model in enumerate(models):
        part = ratios.xs(model, level="model")
        estimates = [median_ci(part[a]) for a in acts]
        xs = [i + m * width for i in range(len(acts))]
        ax.bar(xs, [e.median for e in estimates], width, label=model, color=figures.style(model, models)["color"],
               hatch=["", "//", "..", "xx"][m % 4], edgecolor="black", linewidth=0.5,
               yerr=[[e.median - e.low for e in estimates], [e.high - e.median for e in estimates]], capsize=3)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(acts))], acts, rotation=30)
    ax.set_ylabel("forward-pass time / ReLU's")
    ax.legend(title="network")
    ax.grid(alpha=0.3, axis="y")
    figures.save(fig, path, "Claim 6: inference time relative to ReLU (1,024 inputs, median over seeds, 95% CI)")
