"""Small, explicit statistics for verdicts: medians with bootstrap intervals, paired and rank tests.

Everything is seeded, so a report computed twice from the same runs is identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as scipy_stats

ALPHA = 0.05  # significance level used by every verdict rule
N_BOOT = 2000


@dataclass(frozen=True)
class Estimate:
    median: float
    low: float
    high: float
    n: int

    def __str__(self) -> str:
        if self.n == 0:
            return "n/a"
        if self.n == 1:
            return f"{self.median:.3g} (n=1)"
        return f"{self.median:.3g} [{self.low:.3g}, {self.high:.3g}]"


def median_ci(values, level: float = 0.95, seed: int = 0) -> Estimate:
    """Median and a percentile-bootstrap interval of the median."""
    x = np.asarray([v for v in values if np.isfinite(v)], dtype=float)
    if len(x) == 0:
        return Estimate(np.nan, np.nan, np.nan, 0)
    if len(x) == 1:
        return Estimate(float(x[0]), float(x[0]), float(x[0]), 1)
    rng = np.random.default_rng(seed)
    boots = np.median(rng.choice(x, size=(N_BOOT, len(x)), replace=True), axis=1)
    tail = (1 - level) / 2 * 100
    return Estimate(float(np.median(x)), float(np.percentile(boots, tail)), float(np.percentile(boots, 100 - tail)), len(x))


@dataclass(frozen=True)
class Comparison:
    """a minus b over paired units (seeds x tasks): the median difference, its interval, and the
    one-sided Wilcoxon signed-rank p-values for "a > b" and for "a < b".

    Every claim is directional, so each direction is tested one-sided at ALPHA. With 5 pairs the
    smallest possible p is 1/32: five agreeing seeds out of five are needed.
    """

    difference: Estimate
    p_greater: float
    p_less: float
    n: int

    @property
    def direction(self) -> int:
        """+1: a significantly greater; -1: significantly smaller; 0: no significant difference."""
        if self.p_greater < ALPHA:
            return 1
        if self.p_less < ALPHA:
            return -1
        return 0

    def __str__(self) -> str:
        if self.n < 2:
            return f"Δ {self.difference} (too few pairs for a test)"
        p = min(self.p_greater, self.p_less)
        side = ">" if self.p_greater <= self.p_less else "<"
        return f"Δ {self.difference} (one-sided p({side}0)={p:.3g}, n={self.n})"


def paired(a, b) -> Comparison:
    """Compare paired samples a and b; pairs with a NaN are dropped."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    p_greater = p_less = np.nan
    if len(d) >= 2 and np.any(d != 0):
        p_greater = float(scipy_stats.wilcoxon(d, zero_method="zsplit", alternative="greater").pvalue)
        p_less = float(scipy_stats.wilcoxon(d, zero_method="zsplit", alternative="less").pvalue)
    elif len(d) >= 2:
        p_greater = p_less = 1.0
    return Comparison(median_ci(d), p_greater, p_less, int(len(d)))


def friedman(table: np.ndarray) -> float:
    """Friedman test over blocks (rows) x treatments (columns); rows with a NaN are dropped."""
    table = np.asarray(table, dtype=float)
    table = table[np.all(np.isfinite(table), axis=1)]
    if table.shape[0] < 2 or table.shape[1] < 3:
        return np.nan
    if np.all(table == table[:, :1]):
        return 1.0
    return float(scipy_stats.friedmanchisquare(*table.T).pvalue)


def kendall_tau(order_a: list[str], order_b: list[str]) -> float:
    """Rank agreement of two orderings of the same items (1: identical, -1: reversed)."""
    ranks_b = {item: i for i, item in enumerate(order_b)}
    return float(scipy_stats.kendalltau(range(len(order_a)), [ranks_b[item] for item in order_a]).statistic)
