"""Claim 12's rule: RReLU's generalization gap and test accuracy on small data, against its rivals."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from actlab import figures
from actlab.claims.base import TASK, Analysis, ClaimResult, Evidence, numeric, verdict_from_directions, with_collapse
from actlab.reporting.literature import Harness, from_comparison
from actlab.stats import holm_family, paired

RIVALS = ("relu", "leaky_relu", "prelu")


@dataclass(frozen=True)
class SmallData:
    finished: pd.DataFrame  # the claim's finished runs, with `gap_if_learned` and `test_accuracy`


def _table(evidence: Evidence) -> pd.DataFrame:
    finished = with_collapse(evidence.finished())
    # A collapsed network's train − validation gap is ~0: it says nothing about overfitting.
    finished["gap_if_learned"] = numeric(finished, "generalization_gap").where(~finished["collapsed"])
    finished["test_accuracy"] = numeric(finished, "test_accuracy")
    return finished


def _column(wide: pd.DataFrame, activation: str) -> pd.Series:
    """A function's column of a blocks × functions table; all NaN (no pairs) when it has no runs."""
    return wide[activation] if activation in wide else pd.Series(float("nan"), index=wide.index)


def rule(finished: pd.DataFrame, subject: str = "rrelu", label: str = "RReLU") -> ClaimResult:
    gaps = finished.pivot_table(index=[TASK, "seed"], columns="activation", values="gap_if_learned")
    accuracy = finished.pivot_table(index=[TASK, "seed"], columns="activation", values="test_accuracy")
    tests = {}
    for rival in RIVALS:  # the YAML's deciding tests: relu_gap, relu_accuracy, leaky_relu_gap, ...
        # Smaller gap is better: the rival's gap minus the subject's, so +1 agrees with the claim.
        tests[f"{rival}_gap"] = paired(_column(gaps, rival), _column(gaps, subject))
        tests[f"{rival}_accuracy"] = paired(_column(accuracy, subject), _column(accuracy, rival))
    tests = holm_family(tests)
    numbers = [f"{rival} − {label} generalization gap (positive: {label} overfits less): {tests[f'{rival}_gap']}"
               for rival in RIVALS]
    numbers += [f"{label} − {rival} test accuracy: {tests[f'{rival}_accuracy']}" for rival in RIVALS]
    for task, group in finished.groupby(TASK):
        n_train = int(numeric(group, "data.n_train").median()) if "data.n_train" in group else None
        medians = group.groupby("activation")[["gap_if_learned", "test_accuracy"]].median()
        numbers.append(f"{task}{f' ({n_train} training examples)' if n_train else ''}: "
                       + "; ".join(f"{a} gap {r.gap_if_learned:.3f}, test {r.test_accuracy:.3f}" for a, r in medians.iterrows()))
    notes = [f"Rule: six comparisons ({label} against ReLU, Leaky ReLU and PReLU; generalization gap and test accuracy), "
             "one-sided Wilcoxon tests paired by task and seed, Holm-adjusted over all twelve one-sided tests: all in the "
             "claim's direction (smaller gap, higher accuracy): supported; some: mixed; none but some opposite: not "
             "supported. Collapsed runs are left out of the gaps and kept in test accuracy.",
             "RReLU draws each negative slope from U(1/8, 1/3) per element and step in training and uses the mean at test "
             "(actlab.pipeline.activations.RReLU; Xu et al. 2015)."]
    return ClaimResult(verdict_from_directions([c.direction for c in tests.values()]),
                       "generalization gap (train − validation accuracy at the selected epoch) and test accuracy on small data",
                       numbers, notes, details=SmallData(finished), tests=tests)


def _draw(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    figures.points_by_task(finished, ["gap_if_learned", "test_accuracy"], out, reference="relu",
                           title="Claim 12: RReLU and the ReLU family on small data (difference to ReLU)")


analysis = Analysis(_table, rule, _draw, subject=("rrelu", "RReLU"))


# --- the literature rows this claim answers (claim.literature in its YAML) -----------------------
# Xu et al. 2015 compare ReLU, Leaky ReLU, PReLU and RReLU on small datasets: this claim's sweep is
# that comparison (small training sets), so their rows read its runs, a function against the mean of
# the group the paper sets it against, paired by task and seed.
def _against_group(result: ClaimResult, ahead: list[str], behind: list[str], label: str) -> Harness | None:
    finished = result.details.finished
    accuracy = finished.pivot_table(index=[TASK, "seed"], columns="activation", values="test_accuracy")
    if not set(ahead + behind) <= set(accuracy.columns):
        return None
    h = from_comparison(paired(accuracy[ahead].mean(axis=1, skipna=False), accuracy[behind].mean(axis=1, skipna=False)),
                        f"{label} test accuracy")
    if h is None:
        return None
    gaps = finished.groupby("activation")["gap_if_learned"].median()
    shown = [a for a in ("relu", "leaky_relu", "prelu", "rrelu") if a in gaps]
    return replace(h, text=h.text + "; median train − validation gap " + ", ".join(f"{a} {gaps[a]:.3f}" for a in shown))


def xu_randomized(result: ClaimResult) -> Harness | None:
    """RReLU against the fixed (Leaky ReLU) and learned (PReLU) slopes on small data."""
    return _against_group(result, ["rrelu"], ["leaky_relu", "prelu"], "RReLU − mean(Leaky ReLU, PReLU)")


def xu_nonzero(result: ClaimResult) -> Harness | None:
    """Non-zero negative slopes (Leaky ReLU, PReLU, RReLU) against ReLU's zero slope."""
    return _against_group(result, ["leaky_relu", "prelu", "rrelu"], ["relu"], "mean(Leaky ReLU, PReLU, RReLU) − ReLU")
