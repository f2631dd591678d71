"""Claim 5's rule: ELU against ReLU, Leaky ReLU and PReLU, each at its validation-selected rate per task."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import (
    TASK,
    Analysis,
    ClaimResult,
    Evidence,
    collapsed_runs,
    selected_table,
    verdict_from_directions,
)
from actlab.reporting.literature import Harness, from_comparison, pair
from actlab.stats import holm_family, paired


@dataclass(frozen=True)
class Selection:
    selected: pd.DataFrame  # each function's runs at its validation-selected learning rate per task


def rule_about(subject: str, label: str):
    """The claim's rule asked of `subject` (ELU in the article; a new function in a challenger's report)."""
    return lambda selected: elu_rule(selected, subject, label)


def elu_rule(selected: pd.DataFrame, subject: str = "elu", label: str = "ELU") -> ClaimResult:
    tests, labels = {}, {}
    metrics = {"val_accuracy_auc": "speed (mean val accuracy over epochs)", "test_accuracy": "test accuracy"}
    wides = {m: selected.pivot_table(index=[TASK, "seed"], columns="activation", values=m) for m in metrics}
    for rival in ("relu", "leaky_relu", "prelu"):
        for metric, what in metrics.items():
            wide = wides[metric]
            tests[(rival, metric)] = paired(wide.get(subject, []), wide.get(rival, []))
            labels[(rival, metric)] = what
    tests = holm_family(tests)
    numbers = [f"{label} − {rival}, {labels[(rival, metric)]}: {c}" for (rival, metric), c in tests.items()]
    numbers += [f"collapsed at its selected rate (kept: accuracy is the outcome) — {line}"
                for line in collapsed_runs(selected, [TASK, "activation"])]
    agrees = [(f"{'faster' if metric == 'val_accuracy_auc' else 'more accurate'} than {rival}", c.direction)
              for (rival, metric), c in tests.items()]
    notes = [f"Rule: six comparisons ({label} vs ReLU, Leaky ReLU, PReLU; speed and test accuracy), one-sided Wilcoxon tests "
             "paired by task and seed, Holm-adjusted over all twelve one-sided tests: all in the article's direction: "
             "supported; some: mixed; none but some opposite: not supported. r_rb is the matched-pairs rank-biserial "
             f"correlation (+1: {label} ahead in every pair)."]
    shown = [what for what, d in agrees if d == 1]
    not_shown = [what for what, d in agrees if d != 1]
    if not_shown:
        notes.append(f"In plain words: the runs show {label} " + (", ".join(shown) if shown else "no better than any rival")
                     + "; they do not show it " + ", ".join(not_shown) + ".")
    return ClaimResult(verdict_from_directions([c.direction for c in tests.values()]),
                       "mean validation accuracy over epochs and test accuracy, each function at its validation-selected learning rate",
                       numbers, notes, details=Selection(selected))


def _draw_elu(evidence: Evidence, selected: pd.DataFrame, out: Path) -> None:
    figures.points_by_task(selected, ["val_accuracy_auc", "test_accuracy"], out, reference="relu",
                           title="Claim 5: ELU and the ReLU family against ReLU (each at its own best learning rate)")


def about(subject: str, label: str) -> Analysis:
    """The claim asked of another function (a challenger in ELU's place); figure as the claim's own."""
    return Analysis(selected_table, rule_about(subject, label), _draw_elu)


analysis = about("elu", "ELU")


# --- the literature rows this claim answers (claim.literature in its YAML) -----------------------
def clevert(result: ClaimResult) -> Harness | None:
    selected = result.details.selected
    speed = from_comparison(pair(selected, "elu", "relu", "val_accuracy_auc"), "speed (mean val accuracy over epochs)")
    accuracy = from_comparison(pair(selected, "elu", "relu"), "test accuracy")
    if speed is None:
        return None
    return Harness(speed.text + "; " + (accuracy.text if accuracy else "test accuracy: n/a"), speed.sign, speed.significant)
