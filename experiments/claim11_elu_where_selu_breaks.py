"""Claim 11's rule: ELU against SELU where SELU's self-normalization is broken, and where it holds."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, TASK, Analysis, ClaimResult, Evidence, with_collapse
from actlab.stats import holm_family, median_ci, paired

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
    tests = holm_family({"broken": paired(broken["elu"], broken["selu"]), "intact": paired(intact["elu"], intact["selu"])})
    numbers = [f"where self-normalization is broken ({', '.join(sorted(set(broken.index.get_level_values(TASK))))}): "
               f"ELU − SELU test accuracy {tests['broken']}",
               f"where it holds ({INTACT}): ELU − SELU test accuracy {tests['intact']}"]
    for task, group in wide.groupby(level=TASK):
        numbers.append(f"{task}: ELU {median_ci(group['elu'])}, SELU {median_ci(group['selu'])}")
    direction = tests["broken"].direction
    verdict = {1: SUPPORTED, -1: NOT_SUPPORTED}.get(direction, INCONCLUSIVE) if len(broken) else INCONCLUSIVE
    if verdict == SUPPORTED and tests["intact"].direction == 1:
        verdict = MIXED  # ELU ahead everywhere: the advantage has nothing to do with broken self-normalization
    notes = ["Rule: a one-sided Wilcoxon test of ELU − SELU test accuracy over the broken tasks' task × seed blocks, "
             "Holm-adjusted with the same test where self-normalization holds: ELU significantly ahead where it is broken "
             "(and not also where it holds): supported; ahead in both: mixed (the cause is not the broken fixed point); "
             "SELU significantly ahead where it is broken: not supported; otherwise inconclusive.",
             "'May perform better' is a weak claim: only a significant difference in either direction decides it."]
    return ClaimResult(verdict, "ELU − SELU test accuracy where self-normalization is broken and where it holds", numbers, notes)


def _draw(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    where = finished[TASK].map(lambda task: f"{task} (holds)" if task == INTACT else f"{task} (broken)")
    figures.points_by_task(finished.assign(**{TASK: where}), ["test_accuracy"], out, reference="selu",
                           title="Claim 11: ELU against SELU, by task (difference to SELU)")


analysis = Analysis(_table, rule, _draw)
