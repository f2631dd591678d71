"""What each task can tell apart: its test-set size, the difference one test example makes, and the
smallest difference between two functions its seeds can detect.

A task whose functions all land within that smallest difference of each other cannot tell any two
of them apart: it spends runs and decides nothing, so the report flags it (`TaskResolution.goes`)
for the design to drop.

How it is computed, per task, from the runs of one claim (each function at its selected learning
rate when the claim sweeps several):
- resolution: one test example, 100 / n_test points of accuracy;
- paired spread s: the standard deviation, over seeds, of the difference between two functions'
  test accuracies, pooled over every pair of functions (the mean of the pairs' variances; for a
  complete table this equals 2 × the function × seed interaction mean square);
- MDE: the mean paired difference a two-sided paired t-test at 5% over the task's n seeds detects
  with 80% power, d·s where d solves the noncentral-t power equation (df = n − 1, noncentrality
  d·√n). The claims' Wilcoxon tests have about 95% of the t-test's efficiency on normal data, so
  their MDE is slightly larger;
- the rule: the task tells functions apart when its largest difference between two functions'
  mean test accuracies (over the seeds both ran) reaches max(MDE, resolution); below, it goes.
  The report also counts the pairs of functions that reach it (one collapsed function alone can
  make a task "tell apart").
  With fewer than two seeds there is no spread and the rule cannot decide.
The largest of many pairwise differences is biased upwards, so the rule errs towards keeping a task.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from scipy import optimize
from scipy import stats as scipy_stats

from actlab.claims.base import TASK, finished_rows, numeric, select_learning_rate

POWER = 0.8
ALPHA = 0.05  # two-sided
LR = "optimizer.learning_rate"


@functools.lru_cache(maxsize=256)
def standardized_mde(n: int, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest mean/sd of paired differences a two-sided one-sample t-test on n pairs detects with
    `power` (noncentral t, exact); NaN below 2 pairs."""
    if n < 2:
        return math.nan
    df = n - 1
    critical = scipy_stats.t.ppf(1 - alpha / 2, df)

    def shortfall(d: float) -> float:
        noncentrality = d * math.sqrt(n)
        # P(T > c) + P(T < −c); the lower tail as P(T > c) under −noncentrality (scipy's cdf there can be NaN)
        reached = scipy_stats.nct.sf(critical, df, noncentrality) + scipy_stats.nct.sf(critical, df, -noncentrality)
        return reached - power

    high = 1.0
    while shortfall(high) < 0:  # power rises with d: widen until the bracket holds the root
        high *= 2.0
    return float(optimize.brentq(shortfall, 1e-9, high, xtol=1e-10))


def paired_spread(wide: pd.DataFrame) -> float:
    """Pooled standard deviation of paired differences between functions (columns) over seeds (rows):
    the root of the mean, over every pair of columns, of the variance of their difference on the seeds
    both have. NaN when no pair has two such seeds."""
    variances = []
    for a, b in itertools.combinations(wide.columns, 2):
        d = (wide[a] - wide[b]).dropna()
        if len(d) >= 2:
            variances.append(float(d.var(ddof=1)))
    return math.sqrt(float(np.mean(variances))) if variances else math.nan


@dataclass(frozen=True)
class TaskResolution:
    task: str
    n_test: int | None  # test examples per run (median over the task's runs)
    seeds: int  # seeds every compared function ran (the blocks of this task)
    functions: int
    resolution: float  # one test example, in points of accuracy
    spread: float  # pooled SD of paired differences, points
    mde: float  # minimal detectable difference at 80% power, points
    largest: float  # largest difference between two functions' mean test accuracies, points
    best: str = ""
    worst: str = ""
    pairs_apart: int = 0  # pairs of functions whose mean difference reaches max(MDE, resolution)
    pairs: int = 0

    @property
    def floor(self) -> float:
        """The smallest difference this task resolves: max(MDE, one test example)."""
        return max(self.mde, self.resolution) if math.isfinite(self.resolution) else self.mde

    @property
    def goes(self) -> bool | None:
        """True: cannot tell any two functions apart; None: too few seeds to say."""
        if not math.isfinite(self.mde) or not math.isfinite(self.largest):
            return None
        return bool(self.largest < self.floor)

    def verdict(self) -> str:
        if self.goes is None:
            return f"cannot say: {self.seeds} seed(s), a spread needs ≥ 2"
        if self.goes:
            return f"**goes**: its largest difference ({self.worst} to {self.best}) {self.largest:.2f} pt < {self.floor:.2f} pt"
        return (f"tells apart {self.pairs_apart} of {self.pairs} pairs (largest: {self.worst} to {self.best} "
                f"{self.largest:.2f} pt ≥ {self.floor:.2f} pt)")


def treatments(table: pd.DataFrame, axes: list[str] | None = None) -> list[str]:
    """The columns that name what a claim compares within a task × seed block: its sweep axes other
    than task, seed and learning rate (`axes`), else `activation`."""
    if axes:
        return [a for a in axes if a not in (TASK, "seed", LR) and a in table]
    return ["activation"] if "activation" in table else []


def resolutions(table: pd.DataFrame, axes: list[str] | None = None, metric: str = "test_accuracy") -> list[TaskResolution]:
    """One TaskResolution per task of a claim's runs (finished; at each function's validation-selected
    learning rate when several were swept). Empty when the claim has no task axis or nothing compared."""
    finished = finished_rows(table)
    compared = treatments(finished, axes)
    if TASK not in finished or "seed" not in finished or not compared or finished.empty:
        return []
    if LR in finished and finished[LR].nunique() > 1:
        finished = select_learning_rate(finished, [TASK, *compared])
    finished = finished.assign(_function=finished[compared].astype(str).agg(" ".join, axis=1),
                               _metric=numeric(finished, metric) * 100.0)
    out = []
    for task, group in finished.groupby(TASK, sort=True):
        wide = group.pivot_table(index="seed", columns="_function", values="_metric")
        if wide.shape[1] < 2:
            continue
        complete = wide.dropna()
        n_test = numeric(group, "data.n_test").median()
        n_test = int(n_test) if math.isfinite(n_test) else None
        means = complete.mean() if len(complete) else wide.mean()
        spread = paired_spread(wide)
        found = TaskResolution(
            task=str(task), n_test=n_test, seeds=len(complete), functions=wide.shape[1],
            resolution=100.0 / n_test if n_test else math.nan, spread=spread,
            mde=standardized_mde(len(complete)) * spread if len(complete) >= 2 else math.nan,
            largest=float(means.max() - means.min()), best=str(means.idxmax()), worst=str(means.idxmin()))
        gaps = [abs(means[a] - means[b]) for a, b in itertools.combinations(means.index, 2)]
        apart = sum(g >= found.floor for g in gaps) if math.isfinite(found.floor) else 0
        out.append(replace(found, pairs_apart=int(apart), pairs=len(gaps)))
    return out


def render(found: list[TaskResolution]) -> list[str]:
    """The per-task table of a claim's section (nothing when the claim has no tasks)."""
    if not found:
        return []
    lines = ["", "What each task can detect (test accuracy; resolution = one test example; MDE = the smallest mean paired "
             "difference between two functions a two-sided paired t-test at 5% detects with 80% power over the task's "
             "seeds, from their pooled paired spread; a task whose largest difference between two functions stays below "
             "max(MDE, resolution) cannot tell any two apart and goes — actlab.reporting.detectability):", "",
             "| Task | Test examples | Resolution | Seeds | Functions | Paired spread | MDE (80%) | Largest difference | Rule |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in found:
        lines.append(f"| {r.task} | {r.n_test if r.n_test else 'n/a'} | {r.resolution:.2f} pt | {r.seeds} | {r.functions} | "
                     f"{r.spread:.2f} pt | {r.mde:.2f} pt | {r.largest:.2f} pt | {r.verdict()} |".replace("nan pt", "n/a"))
    return lines
