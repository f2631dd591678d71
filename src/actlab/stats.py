"""Small, explicit statistics for verdicts: medians with bootstrap intervals, paired and rank tests.

Everything is seeded, so a report computed twice from the same runs is identical.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

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
    """a minus b over paired units (seeds x tasks): the median difference, its interval, the
    one-sided p-values for "a > b" and for "a < b", and an effect size.

    Every claim is directional, so each direction is tested one-sided at ALPHA. With 5 pairs the
    smallest possible Wilcoxon p is 1/32: five agreeing seeds out of five are needed. A claim that
    makes several comparisons passes them through `holm`, which replaces p_greater and p_less by
    Holm-adjusted values (the raw ones are kept) so `direction` controls the claim's family-wise error.
    """

    difference: Estimate
    p_greater: float
    p_less: float
    n: int
    effect: float = np.nan  # matched-pairs rank-biserial correlation (Wilcoxon) or the median ratio (ratio_test)
    effect_name: str = "r_rb"
    raw_greater: float | None = None  # before the family-wise correction, when one was applied
    raw_less: float | None = None
    family: int = 1  # one-sided tests in the claim's family

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
        greater = self.p_greater <= self.p_less
        p = self.p_greater if greater else self.p_less
        raw = self.raw_greater if greater else self.raw_less
        side = ">" if greater else "<"
        holm = f"Holm p({side}0)={p:.3g} over {self.family} tests, raw {raw:.3g}" if raw is not None else f"one-sided p({side}0)={p:.3g}"
        what = "ratio" if "ratio" in self.effect_name else "Δ"
        return f"{what} {self.difference} ({holm}; {self.effect_name} = {self.effect:.2f}, n={self.n})"


def rank_biserial(d) -> float:
    """Matched-pairs rank-biserial correlation of differences d (Kerby 2014): (T+ − T−) / (T+ + T−),
    ranks of |d|, zero differences splitting their ranks evenly (as the zsplit Wilcoxon does).
    +1: every pair favours a; −1: every pair favours b."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) == 0:
        return np.nan
    ranks = scipy_stats.rankdata(np.abs(d))
    total = ranks.sum()
    plus, minus = ranks[d > 0].sum(), ranks[d < 0].sum()
    return float((plus - minus) / total) if total > 0 else 0.0


def paired(a, b) -> Comparison:
    """Compare paired samples a and b (one-sided Wilcoxon signed-rank tests); pairs with a NaN are dropped."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b)
    d = a[keep] - b[keep]
    p_greater = p_less = np.nan
    if len(d) >= 2 and np.any(d != 0):
        p_greater, p_less = signed_rank(d)
    elif len(d) >= 2:
        p_greater = p_less = 1.0
    return Comparison(median_ci(d), p_greater, p_less, int(len(d)), rank_biserial(d))


EXACT_PAIRS = 16  # up to 2**16 sign patterns: enumerated exactly, in milliseconds


@functools.lru_cache(maxsize=EXACT_PAIRS + 1)
def _sign_patterns(n: int) -> np.ndarray:
    """Every 0/1 pattern of n signs, one per row (2**n x n), as floats for a matrix product."""
    return ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1).astype(float)


def signed_rank(d) -> tuple[float, float]:
    """One-sided Wilcoxon signed-rank p-values (d > 0, d < 0), zero differences split (zsplit).

    Up to EXACT_PAIRS pairs the null distribution is enumerated exactly over every sign pattern of the
    non-zero differences, ties included (what scipy's permutation route computes, but ~100x faster:
    block resampling makes ties common and runs the test thousands of times); above, scipy's normal
    approximation with its tie correction."""
    d = np.asarray(d, dtype=float)
    nonzero = d != 0
    if nonzero.sum() > EXACT_PAIRS:
        return (float(scipy_stats.wilcoxon(d, zero_method="zsplit", alternative="greater", method="asymptotic").pvalue),
                float(scipy_stats.wilcoxon(d, zero_method="zsplit", alternative="less", method="asymptotic").pvalue))
    ranks = scipy_stats.rankdata(np.abs(d))
    fixed = ranks[~nonzero].sum() / 2  # zeros: half their rank to each side, whatever the signs
    free = ranks[nonzero]
    observed = fixed + free[d[nonzero] > 0].sum()
    null = fixed + _sign_patterns(len(free)) @ free
    eps = 1e-9 * max(1.0, ranks.sum())
    return float(np.mean(null >= observed - eps)), float(np.mean(null <= observed + eps))


def ratio_test(a, b) -> Comparison:
    """Paired ratio a / b of positive measurements (times): one-sided paired t-tests on log a − log b.

    Timing noise is multiplicative, so the log ratio is the natural scale, and unlike a rank test
    with 5 pairs (smallest p 1/32) a t-test can still pass a family-wise correction. The estimate
    is the median ratio with its interval; the effect is the geometric-mean ratio."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b) & (a > 0) & (b > 0)
    logs = np.log(a[keep]) - np.log(b[keep])
    p_greater = p_less = np.nan
    if len(logs) >= 2 and np.ptp(logs) > 1e-9:  # below that, float noise around one value
        p_greater = float(scipy_stats.ttest_1samp(logs, 0.0, alternative="greater").pvalue)
        p_less = float(scipy_stats.ttest_1samp(logs, 0.0, alternative="less").pvalue)
    elif len(logs) >= 2:  # identical log ratios: no noise at all
        p_greater, p_less = (0.0, 1.0) if logs[0] > 0 else (1.0, 0.0) if logs[0] < 0 else (1.0, 1.0)
    geo = float(np.exp(logs.mean())) if len(logs) else np.nan
    return Comparison(median_ci(np.exp(logs)), p_greater, p_less, int(len(logs)), geo, "geometric-mean ratio")


# --- what a design can reach: a test's smallest p, before any run -------------------------------
SIDES = {"signed_rank": 2, "sign_flip": 2, "t": 2, "friedman": 1, "page": 1, "tost": 1}  # one-sided tests each adds to a Holm family


def smallest_p(test: str, n: int, k: int = 2) -> float:
    """The smallest p `test` can give with `n` blocks (and `k` treatments, for Friedman): what the
    most extreme data would give. Rank and sign tests have a floor (1/2**n one-sided for n pairs);
    t-tests and TOST are continuous (0: no floor, their power comes from the spread)."""
    if test not in SIDES:
        raise ValueError(f"test '{test}' is not known (one of: {', '.join(SIDES)})")
    if n < 2:
        return 1.0
    if test in ("signed_rank", "sign_flip"):
        return float(signed_rank(np.arange(1.0, n + 1))[0]) if test == "signed_rank" else 0.5 ** n
    if test in ("friedman", "page"):
        ordered = np.tile(np.arange(k, dtype=float), (n, 1))
        return (friedman(ordered) if test == "friedman" else page(ordered)) if k >= 3 else 1.0
    return 0.0


@dataclass(frozen=True)
class Equivalence:
    """A paired equivalence test (TOST): is the difference (or ratio) within ±margin?

    `p` is the larger of the two one-sided p-values; `low`/`high` the 90% interval of the mean
    difference (of the geometric-mean ratio when `ratio`), which lies inside the margin exactly
    when p < ALPHA."""

    estimate: float
    low: float
    high: float
    p: float
    margin: float
    n: int
    ratio: bool = False
    raw_p: float | None = None  # before the family-wise correction, when one was applied
    family: int = 1

    @property
    def equivalent(self) -> bool:
        return bool(self.p < ALPHA)

    def __str__(self) -> str:
        if self.n < 2:
            return "too few pairs for an equivalence test"
        what, bound = ("ratio", f"[{1 / (1 + self.margin):.3g}, {1 + self.margin:.3g}]") if self.ratio else ("Δ", f"±{self.margin:.3g}")
        word = "equivalent" if self.equivalent else "not shown equivalent"
        p = f"Holm p={self.p:.3g} over {self.family} tests, raw {self.raw_p:.3g}" if self.raw_p is not None else f"p={self.p:.3g}"
        return (f"{what} {self.estimate:.3g}, 90% CI [{self.low:.3g}, {self.high:.3g}] (unadjusted), TOST {p} for {bound}: "
                f"{word} (n={self.n})")


def equivalence(a, b, margin: float, ratio: bool = False) -> Equivalence:
    """Paired TOST of a − b within ±margin (two one-sided paired t-tests at ALPHA); with `ratio`,
    of log a − log b within ±log(1 + margin) (times: a ratio within [1/(1+m), 1+m])."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    keep = np.isfinite(a) & np.isfinite(b) & ((a > 0) & (b > 0) if ratio else True)
    d = np.log(a[keep]) - np.log(b[keep]) if ratio else a[keep] - b[keep]
    bound = np.log1p(margin) if ratio else margin
    n = int(len(d))
    if n < 2:
        return Equivalence(np.nan, np.nan, np.nan, 1.0, margin, n, ratio)
    mean, se = float(d.mean()), float(d.std(ddof=1) / np.sqrt(n))
    if se == 0:
        p = 0.0 if abs(mean) < bound else 1.0
        low = high = mean
    else:
        t_dist = scipy_stats.t(n - 1)
        p = float(max(t_dist.sf((mean + bound) / se), t_dist.cdf((mean - bound) / se)))
        half = float(t_dist.ppf(1 - ALPHA) * se)
        low, high = mean - half, mean + half
    back = np.exp if ratio else (lambda x: x)
    return Equivalence(float(back(mean)), float(back(low)), float(back(high)), p, margin, n, ratio)


def holm(pvalues) -> list[float]:
    """Holm's step-down adjustment: family-wise error ≤ ALPHA when each adjusted p is read at ALPHA.
    NaN p-values (no test possible) stay NaN and do not count towards the family."""
    p = np.asarray(pvalues, dtype=float)
    adjusted = np.full(len(p), np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    running = 0.0
    for rank, i in enumerate(finite[np.argsort(p[finite], kind="stable")]):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def holm_family(tests: dict) -> dict:
    """Holm over a claim's family: both one-sided tests of each Comparison (the rules read both
    directions) and the one p of each Equivalence (TOST). Returns the same keys with adjusted
    p-values; the raw ones are kept (`raw_greater`/`raw_less`, `raw_p`)."""
    keys = list(tests)
    raw = [p for k in keys for p in ((tests[k].p,) if isinstance(tests[k], Equivalence) else (tests[k].p_greater, tests[k].p_less))]
    adjusted = iter(holm(raw))
    family = int(np.isfinite(raw).sum())
    out = {}
    for k in keys:
        t = tests[k]
        if isinstance(t, Equivalence):
            p = next(adjusted)
            out[k] = replace(t, p=p if np.isfinite(p) else 1.0, raw_p=t.p, family=family)
        else:
            out[k] = replace(t, p_greater=next(adjusted), p_less=next(adjusted), raw_greater=t.p_greater, raw_less=t.p_less, family=family)
    return out


def friedman(table: np.ndarray) -> float:
    """Friedman test over blocks (rows) x treatments (columns); rows with a NaN are dropped."""
    table = np.asarray(table, dtype=float)
    table = table[np.all(np.isfinite(table), axis=1)]
    if table.shape[0] < 2 or table.shape[1] < 3:
        return np.nan
    if np.all(table == table[:, :1]):
        return 1.0
    return float(scipy_stats.friedmanchisquare(*table.T).pvalue)


def page(table: np.ndarray) -> float:
    """Page's L test over blocks (rows): are the treatments (columns) in increasing order, as
    predicted? (an ordered alternative, where Friedman's test asks only whether they differ);
    rows with a NaN are dropped. Asymptotic p: exact enumeration is too slow for resampling."""
    table = np.asarray(table, dtype=float)
    table = table[np.all(np.isfinite(table), axis=1)]
    if table.shape[0] < 2 or table.shape[1] < 3:
        return np.nan
    return float(scipy_stats.page_trend_test(table, method="asymptotic").pvalue)


def kendall_tau(order_a: list[str], order_b: list[str]) -> float:
    """Rank agreement of two orderings of the same items (1: identical, -1: reversed)."""
    ranks_b = {item: i for i, item in enumerate(order_b)}
    return float(scipy_stats.kendalltau(range(len(order_a)), [ranks_b[item] for item in order_a]).statistic)


def kendall_w(table: np.ndarray) -> float:
    """Kendall's coefficient of concordance W, the Friedman test's effect size (0: no agreement
    between blocks on the treatments' order, 1: every block ranks them the same)."""
    table = np.asarray(table, dtype=float)
    table = table[np.all(np.isfinite(table), axis=1)]
    n, k = table.shape if table.ndim == 2 else (0, 0)
    if n < 2 or k < 3 or np.all(table == table[:, :1]):
        return np.nan if n < 2 or k < 3 else 0.0
    chi2 = scipy_stats.friedmanchisquare(*table.T).statistic
    return float(chi2 / (n * (k - 1)))
