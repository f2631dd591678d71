"""Claim 11's rule: ELU against SELU where SELU's self-normalization is broken, and where it holds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, TASK, Analysis, ClaimResult, Evidence, with_collapse
from actlab.stats import ALPHA, holm_family, median_ci, paired

# The task where SELU's conditions hold: a deep dense stack on standardized inputs. Every other task
# of the sweep breaks one condition (a CNN, skip connections, raw inputs).
INTACT = "mnist_deep_mlp"


def _table(evidence: Evidence) -> pd.DataFrame:
    return with_collapse(evidence.finished())


def rule(finished: pd.DataFrame) -> ClaimResult:
    wide = finished.pivot_table(index=[TASK, "seed"], columns="activation", values="test_accuracy")
    if "elu" not in wide or "selu" not in wide:
        return ClaimResult(INCONCLUSIVE, "ELU − SELU test accuracy", ["ELU or SELU has no finished runs."])
    tasks = wide.index.get_level_values(TASK)
    broken, intact = wide[tasks != INTACT], wide[tasks == INTACT]
    # The verdict's one deciding test (the YAML's claim.tests): ELU − SELU where self-normalization is
    # broken, both directions (its Holm family of two). Where it holds is descriptive, uncorrected.
    tests = holm_family({"broken": paired(broken["elu"], broken["selu"])})
    intact_test = paired(intact["elu"], intact["selu"])
    numbers = [f"where self-normalization is broken ({', '.join(sorted(set(broken.index.get_level_values(TASK))))}): "
               f"ELU − SELU test accuracy {tests['broken']}",
               f"where it holds ({INTACT}): ELU − SELU test accuracy (descriptive, uncorrected) {intact_test}"]
    for task, group in wide.groupby(level=TASK):
        numbers.append(f"{task}: ELU {median_ci(group['elu'])}, SELU {median_ci(group['selu'])}")
    direction = tests["broken"].direction
    verdict = {1: SUPPORTED, -1: NOT_SUPPORTED}.get(direction, INCONCLUSIVE) if len(broken) else INCONCLUSIVE
    notes = ["Rule: one deciding test, a one-sided Wilcoxon test of ELU − SELU test accuracy over the broken tasks' "
             "task × seed blocks, read in both directions (Holm over the two): ELU significantly ahead: supported; SELU "
             "significantly ahead: not supported; otherwise inconclusive. The same comparison where self-normalization "
             "holds is descriptive (uncorrected): it says whether ELU's advantage is specific to the broken conditions, "
             "and the verdict does not read it.",
             "'May perform better' is a weak claim: only a significant difference in either direction decides it."]
    if verdict == SUPPORTED and intact_test.p_greater < ALPHA:
        notes.append("ELU is also ahead where self-normalization holds (descriptive, uncorrected p < 0.05): its advantage "
                     "need not come from the broken conditions.")
    return ClaimResult(verdict, "ELU − SELU test accuracy where self-normalization is broken and where it holds", numbers, notes,
                       tests=tests)


def _draw(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    where = finished[TASK].map(lambda task: f"{task} (holds)" if task == INTACT else f"{task} (broken)")
    figures.points_by_task(finished.assign(**{TASK: where}), ["test_accuracy"], out, reference="selu",
                           title="Claim 11: ELU against SELU, by task (difference to SELU)")


analysis = Analysis(_table, rule, _draw)
