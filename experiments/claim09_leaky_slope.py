"""Claim 9's rule: is Keras's default negative slope (0.3) as good as the others, each at its tuned rate?

"If you don't want to tune it, use the default" is a claim of no (relevant) difference: it is shown
with equivalence tests (TOST) against a margin the claim's YAML states, never read from a
non-significant difference test. A slope significantly better than the default refutes it.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
from omegaconf import OmegaConf

from actlab import figures
from actlab.claims.base import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    Analysis,
    ClaimResult,
    Evidence,
    block_columns,
    collapsed_runs,
    numeric,
    with_collapse,
)
from actlab.claims.tuning import mark_edges
from actlab.stats import equivalence, friedman, holm_family, kendall_w, median_ci, paired

DEFAULT = 0.3  # the Keras LeakyReLU layer's default, the article's
OTHERS = (0.01, 0.2)  # Maas et al.'s slope; keras.activations.leaky_relu's default


def _slope_name(slope: float) -> str:
    return f"{slope:g}".replace(".", "_")


def equivalent_name(slope: float) -> str:
    return f"equivalent_to_{_slope_name(slope)}"


def differs_name(slope: float) -> str:
    return f"differs_from_{_slope_name(slope)}"


def _margin() -> float:
    """The equivalence margin the YAML's TOST tests state (test accuracy, as a fraction)."""
    tests = OmegaConf.to_container(OmegaConf.load(Path(__file__).with_suffix(".yaml")).claim.tests)
    margins = {float(t["margin"]) for t in tests.values() if t["test"] == "tost"}
    if len(margins) != 1:
        raise ValueError(f"{Path(__file__).with_suffix('.yaml').name}: claim.tests must state one TOST margin (found {sorted(margins)})")
    return margins.pop()


MARGIN = _margin()


def _slopes(evidence: Evidence) -> pd.DataFrame:
    finished = mark_edges(with_collapse(evidence.finished()), evidence.selected, evidence.tune)
    finished["slope"] = numeric(finished, "activation.negative_slope")
    return finished


def leaky_slope_rule(finished: pd.DataFrame) -> ClaimResult:
    wide = finished.pivot_table(index=block_columns(finished), columns="slope", values="test_accuracy")
    measured = "test accuracy by negative slope, each slope at its tuned learning rate, blocks = task × seed"
    if DEFAULT not in wide:
        return ClaimResult(INCONCLUSIVE, measured, [f"no finished runs with the default slope {DEFAULT}"])
    other = {s: wide[s] if s in wide else pd.Series(float("nan"), index=wide.index) for s in OTHERS}  # a slope with no runs: no pairs
    comparisons = {differs_name(s): paired(wide[DEFAULT], other[s]) for s in OTHERS}  # default − other
    equivalences = {equivalent_name(s): equivalence(wide[DEFAULT], other[s], MARGIN) for s in OTHERS}
    family = holm_family({**comparisons, **equivalences})
    tests = {name: family[name] for name in (*(equivalent_name(s) for s in OTHERS), *(differs_name(s) for s in OTHERS))}  # the YAML's order
    size = next(iter(tests.values())).family
    numbers = []
    for s in OTHERS:
        numbers.append(f"slope {DEFAULT:g} − slope {s:g}, test accuracy: {tests[differs_name(s)]}")
        numbers.append(f"slope {DEFAULT:g} − slope {s:g}, equivalence within ±{MARGIN * 100:g} points: {tests[equivalent_name(s)]}")
    medians = {s: median_ci(wide[s]) for s in wide.columns}
    numbers += [f"slope {s:g}: test accuracy {est}" for s, est in medians.items()]
    p, w = friedman(wide.to_numpy()), kendall_w(wide.to_numpy())
    if math.isfinite(p):
        numbers.append(f"Friedman test across slopes over {len(wide.dropna())} task × seed blocks (descriptive, uncorrected): "
                       f"p = {p:.3g}; Kendall's W = {w:.2f}")
    if "optimizer.learning_rate" in finished:
        rates = finished.groupby(["task", "slope"] if "task" in finished else ["slope"])["optimizer.learning_rate"].first()
        numbers.append("tuned learning rate (task, slope): " + "; ".join(
            f"{' '.join(map(str, k if isinstance(k, tuple) else (k,)))}: {v}" for k, v in rates.items()))
    if "rate_at_edge" in finished:
        edge = finished[finished["rate_at_edge"].fillna(False).astype(bool)][[c for c in ("task", "slope") if c in finished]]
        if len(edge):
            numbers.append("⚠ learning rate picked at the tuning grid's edge (a wider grid might pick another): "
                           + "; ".join(" slope ".join(map(str, row)) for row in edge.drop_duplicates().itertuples(index=False)))
    numbers += [f"collapsed (kept) — {line}" for line in collapsed_runs(finished, ["slope"])]

    better = [s for s in OTHERS if tests[differs_name(s)].direction == -1]
    settled = [s for s in OTHERS if tests[equivalent_name(s)].equivalent or tests[differs_name(s)].direction == 1]
    if better:
        verdict = NOT_SUPPORTED
    elif len(settled) == len(OTHERS):
        verdict = SUPPORTED
    else:
        verdict = INCONCLUSIVE
    notes = [f"Rule: for each other slope ({', '.join(f'{s:g}' for s in OTHERS)}), a paired equivalence test (TOST) of the default "
             f"{DEFAULT:g} against it within ±{MARGIN * 100:g} points of test accuracy (the YAML's margin), and one-sided Wilcoxon "
             f"tests in both directions, all over task × seed blocks and Holm-adjusted together ({size} one-sided tests). "
             "Supported when the default is shown equivalent to, or significantly better than, every other slope; not "
             "supported when another slope is significantly better (tuning the slope pays); otherwise inconclusive, with "
             "the intervals above. A non-significant difference is never read as no difference.",
             "Each slope runs at its own learning rate, picked per task on separate tuning seeds (validation accuracy), so a "
             "slope is not judged at a rate that suits another.",
             "Keras 3 has two defaults: the LeakyReLU layer uses 0.3, keras.activations.leaky_relu uses 0.2."]
    if verdict == INCONCLUSIVE:
        open_ = [s for s in OTHERS if s not in settled]
        notes.append("In plain words: the default is neither shown equivalent to nor shown worse than slope "
                     + ", ".join(f"{s:g} (90% CI of the difference [{tests[equivalent_name(s)].low * 100:.2g}, "
                                 f"{tests[equivalent_name(s)].high * 100:.2g}] points)" for s in open_) + ".")
    return ClaimResult(verdict, measured, numbers, notes, tests=tests)


def _draw_slopes(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    figures.points_by_task(finished.assign(activation=finished["slope"].map(lambda s: f"slope {s:g}")),
                           ["test_accuracy"], out, title="Claim 9: Leaky ReLU's negative slope, each at its tuned learning rate")


analysis = Analysis(_slopes, leaky_slope_rule, _draw_slopes)
