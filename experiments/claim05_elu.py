"""Claim 5's rule: ELU against ReLU, Leaky ReLU and PReLU, each at its validation-selected rate per task."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import TASK, Analysis, ClaimResult, Evidence, collapsed_runs, selected_table, verdict_from_directions
from actlab.reporting.literature import Harness, from_comparison, pair
from actlab.stats import holm_family, paired


@dataclass(frozen=True)
class Selection:
    selected: pd.DataFrame  # each function's runs at its validation-selected learning rate per task


def elu_rule(selected: pd.DataFrame, subject: str, label: str) -> ClaimResult:
    """Is `subject` (ELU in the article) faster and more accurate than ReLU, Leaky ReLU and PReLU?"""
    tests, labels = {}, {}
    metrics = {"speed": ("val_accuracy_auc", "speed (mean val accuracy over epochs)"), "accuracy": ("test_accuracy", "test accuracy")}
    wides = {m: selected.pivot_table(index=[TASK, "seed"], columns="activation", values=column) for m, (column, _) in metrics.items()}
    for rival in ("relu", "leaky_relu", "prelu"):
        for metric, (_, what) in metrics.items():  # the YAML's deciding tests: relu_speed, relu_accuracy, ...
            wide = wides[metric]
            tests[f"{rival}_{metric}"] = paired(wide.get(subject, []), wide.get(rival, []))
            labels[f"{rival}_{metric}"] = (rival, metric, what)
    tests = holm_family(tests)
    numbers = [f"{label} − {labels[k][0]}, {labels[k][2]}: {c}" for k, c in tests.items()]
    numbers += [f"collapsed at its selected rate (kept: accuracy is the outcome) — {line}"
                for line in collapsed_runs(selected, [TASK, "activation"])]
    agrees = [(f"{'faster' if labels[k][1] == 'speed' else 'more accurate'} than {labels[k][0]}", c.direction)
              for k, c in tests.items()]
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
                       numbers, notes, details=Selection(selected), tests=tests)


def _draw_elu(evidence: Evidence, selected: pd.DataFrame, out: Path) -> None:
    figures.points_by_task(selected, ["val_accuracy_auc", "test_accuracy"], out, reference="relu",
                           title="Claim 5: ELU and the ReLU family against ReLU (each at its own best learning rate)")


analysis = Analysis(selected_table, elu_rule, _draw_elu, subject=("elu", "ELU"))


# --- the literature rows this claim answers (claim.literature in its YAML) -----------------------
def clevert(result: ClaimResult) -> Harness | None:
    selected = result.details.selected
    speed = from_comparison(pair(selected, "elu", "relu", "val_accuracy_auc"), "speed (mean val accuracy over epochs)")
    accuracy = from_comparison(pair(selected, "elu", "relu"), "test accuracy")
    if speed is None:
        return None
    return replace(speed, text=speed.text + "; " + (accuracy.text if accuracy else "test accuracy: n/a"))
