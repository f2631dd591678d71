"""Claim 4's rule: PReLU's generalization gap on little data and its test accuracy on more."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import Analysis, ClaimResult, Evidence, collapsed_runs, numeric, verdict_from_directions, with_collapse
from actlab.figures import plt
from actlab.reporting.literature import Harness, from_comparison
from actlab.stats import holm_family, median_ci, paired


@dataclass(frozen=True)
class PReLUTests:
    tests: dict  # "gap_small", "acc_large" -> Holm-adjusted PReLU − ReLU comparison; "acc_small" -> uncorrected
    n_small: int  # training examples at the smallest fraction
    n_large: int


def _prelu_table(evidence: Evidence) -> pd.DataFrame:
    finished = with_collapse(evidence.finished())
    finished["fraction"] = numeric(finished, "dataset.train_fraction")
    finished["n_train"] = numeric(finished, "data.n_train")
    # A collapsed network's train − validation gap is ~0: it says nothing about overfitting.
    finished["gap_if_learned"] = numeric(finished, "generalization_gap").where(~finished["collapsed"])
    return finished


def prelu_overfitting_rule(finished: pd.DataFrame) -> ClaimResult:
    smallest, largest = finished["fraction"].min(), finished["fraction"].max()

    def compare(fraction: float, metric: str):
        rows = finished[finished["fraction"] == fraction]
        wide = rows.pivot_table(index="seed", columns="activation", values=metric)
        return paired(wide.get("prelu", []), wide.get("relu", []))

    # The verdict's two deciding tests (the YAML's claim.tests) are one Holm family; test accuracy on
    # the smallest set is descriptive: shown uncorrected, and the verdict does not read it.
    tests = holm_family({"gap_small": compare(smallest, "gap_if_learned"), "acc_large": compare(largest, "test_accuracy")})
    acc_small = compare(smallest, "test_accuracy")
    gap_small, acc_large = tests["gap_small"], tests["acc_large"]
    n_small = int(finished[finished["fraction"] == smallest]["n_train"].median())
    n_large = int(finished[finished["fraction"] == largest]["n_train"].median())
    numbers = [
        f"{n_small} training examples: PReLU − ReLU generalization gap {gap_small}",
        f"{n_large} training examples: PReLU − ReLU test accuracy {acc_large}",
        f"{n_small} training examples: PReLU − ReLU test accuracy (descriptive, uncorrected) {acc_small}",
    ]
    for (act, _), group in finished.groupby(["activation", "fraction"]):
        numbers.append(f"{act}, {int(group['n_train'].median())} examples: gap {median_ci(group['gap_if_learned'])}, "
                       f"test accuracy {median_ci(group['test_accuracy'])}")
    numbers += [f"collapsed (left out of the gaps, kept in test accuracy) — {line}"
                for line in collapsed_runs(finished, ["activation", "n_train"])]
    verdict = verdict_from_directions([gap_small.direction, acc_large.direction])
    plain = {1: "larger than", -1: "smaller than", 0: "not significantly different from"}
    better = {1: "higher than", -1: "lower than", 0: "not significantly different from"}
    disagreement = (f"In plain words: on {n_small} examples PReLU's generalization gap is {plain[gap_small.direction]} ReLU's, "
                    f"and on {n_large} examples its test accuracy is {better[acc_large.direction]} ReLU's.")
    notes = ["Rule: two parts, each a one-sided Wilcoxon test over seeds — PReLU's gap larger than ReLU's on the "
             "smallest training set, and PReLU's test accuracy higher on the largest; both: supported, one: mixed, "
             "neither but one opposite: not supported. The two are the claim's deciding tests, Holm-adjusted over their "
             "four one-sided tests (ten seeds: smallest adjusted p 4/1024); every other comparison is descriptive.",
             "Context: the overfitting evidence the article relies on (Xu et al. 2015) comes from small datasets "
             "(CIFAR, NDSB); He et al. 2015 report little overfitting on ImageNet.", disagreement]
    return ClaimResult(verdict, "generalization gap (train − validation accuracy at the selected epoch) and test accuracy vs training-set size",
                       numbers, notes, details=PReLUTests({**tests, "acc_small": acc_small}, n_small, n_large), tests=tests)


def _draw_prelu(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    overfitting(finished, out)


analysis = Analysis(_prelu_table, prelu_overfitting_rule, _draw_prelu)




# --- the literature rows this claim answers (claim.literature in its YAML) -----------------------
def he(result: ClaimResult) -> Harness | None:
    # from_comparison reads the raw p (the literature table corrects within itself).
    return from_comparison(result.details.tests["acc_large"], f"PReLU − ReLU test accuracy, {result.details.n_large} MNIST-1D examples")


# --- the claim's figure -------------------------------------------------------------------------
def overfitting(finished, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, label in ((axes[0], "generalization_gap", "train − validation accuracy"), (axes[1], "test_accuracy", "test accuracy")):
        for act, group in finished.groupby("activation"):
            sizes = sorted(group["n_train"].unique())
            figures.median_band(ax, sizes, {n: group[group["n_train"] == n][metric] for n in sizes}, act, **figures.style(act))
        ax.set_xscale("log")
        sizes = sorted(finished["n_train"].unique())
        ax.set_xticks(sizes, [f"{int(n):,}" for n in sizes])  # the sizes measured, not log-scale minor ticks
        ax.minorticks_off()
        ax.set_xlabel("training examples (MNIST-1D, log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    figures.save(fig, path, "Claim 4: ReLU, Leaky ReLU and PReLU against training-set size (median, 95% CI)")
