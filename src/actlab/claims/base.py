"""The article's claims, each with the rule that turns measurements into a verdict.

A claim reads `Evidence`: one row per job of its experiment's sweep (the sweep's own override
columns, e.g. `activation`, `seed`, `+experiment/task`), with the status and metrics of the MLflow
run that has the job's config fingerprint. Rules are plain code over medians, bootstrap intervals
and one-sided tests (actlab.stats); nobody edits a verdict by hand.

Each claim is three small functions: `prepare` (evidence -> one tidy table, reading per-run layer
tables once), `rule` (table -> verdict, numbers, notes; pure, draws nothing) and `draw` (the figure).
`Analysis` chains them; `stability` re-runs only the rule on bootstrap resamples of the table's
blocks (task × seed), so the same rule code that gives a verdict also measures how firmly it holds.
Other reports (e.g. a challenger report) can call a claim's `.rule` on their own tables.

Three cautions apply to every rule:
- a run whose network collapsed (best validation accuracy near chance, `collapsed`) is named; it is
  kept where accuracy is the outcome, and left out where a statistic describes a trained network's
  insides (dead units, gradients or activation statistics after training);
- all one-sided tests of a claim form one family, corrected with Holm's method (`holm_family`);
- every verdict carries its stability under resampling of the claim's blocks.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from actlab import figures

from actlab.pipeline import metric_keys
from actlab.stats import ALPHA, friedman, holm, holm_family, kendall_tau, kendall_w, median_ci, paired, ratio_test

SUPPORTED, NOT_SUPPORTED, MIXED, INCONCLUSIVE = "supported", "not supported", "mixed", "inconclusive"
TASK = "+experiment/task"
FINISHED = "FINISHED"


@dataclass
class Evidence:
    """The runs of one claim's sweep, plus lazy access to their per-layer tables and histories."""

    table: pd.DataFrame
    layers: Callable[[str], pd.DataFrame] = lambda run_id: pd.DataFrame()
    history: Callable[[str, str], list[float]] = lambda run_id, key: []

    def finished(self) -> pd.DataFrame:
        return self.table[self.table["status"] == FINISHED]


@dataclass(frozen=True)
class Stability:
    """Share of bootstrap resamples of the claim's blocks whose verdict equals the observed one."""

    share: float
    resamples: int
    blocks: tuple[str, ...]
    seconds: float = field(default=0.0, compare=False)  # time spent resampling (the report's header)

    @property
    def unstable(self) -> bool:
        return self.share < STABLE_SHARE

    def __str__(self) -> str:
        return f"{self.share:.0%}" + (" ⚠ unstable" if self.unstable else "")


@dataclass
class ClaimResult:
    verdict: str
    measured: str
    numbers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figure: Path | None = None
    stability: Stability | None = None
    # Structured numbers other modules read (e.g. the literature table), keyed by a short name.
    values: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Claim:
    number: int
    slug: str
    experiment: str
    article: str
    analyze: Callable[[Evidence, Path | None], ClaimResult]
    # Sweep workers on a 2-core machine (experiments/run_claims.sh runs the sweep with as many).
    workers: int = 2
    # Every job of this claim's sweep is also a job of claim `within`'s: when both are run, only
    # that one is (its jobs would otherwise each be composed and looked up twice, to be skipped).
    within: int | None = None

    @property
    def title(self) -> str:
        return self.slug.replace("_", " ")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[name], errors="coerce")


def _finished(table: pd.DataFrame) -> pd.DataFrame:
    return table[table["status"] == FINISHED] if "status" in table else table


def _missing(evidence: Evidence) -> ClaimResult | None:
    if evidence.finished().empty:
        return ClaimResult(INCONCLUSIVE, "no finished runs of this claim's experiment were found")
    return None


def _verdict_from_directions(directions: list[int]) -> str:
    """+1 agrees with the article, -1 contradicts it, 0 no significant difference."""
    if directions and all(d == 1 for d in directions):
        return SUPPORTED
    if any(d == 1 for d in directions):
        return MIXED
    if any(d == -1 for d in directions):
        return NOT_SUPPORTED
    return INCONCLUSIVE


def select_learning_rate(finished: pd.DataFrame, by: list[str]) -> pd.DataFrame:
    """Rows at each group's best learning rate, chosen by median best_val_accuracy (never test)."""
    lr = "optimizer.learning_rate"
    if lr not in finished:
        return finished
    medians = finished.groupby([*by, lr])["best_val_accuracy"].median().reset_index()
    best = medians.loc[medians.groupby(by)["best_val_accuracy"].idxmax(), [*by, lr]]
    return finished.merge(best, on=[*by, lr])


def _blocks(table: pd.DataFrame) -> list[str]:
    """Columns that pair runs across treatments: the task (if swept) and the seed."""
    return [c for c in (TASK, "seed") if c in table]


# --- collapse: a network that does not learn is not evidence about its units --------------------
# A run has collapsed when its best validation accuracy closes less than COLLAPSE_MARGIN of the gap
# between chance and perfect accuracy: below 0.19 on a balanced 10-class task (chance 0.1). Chance
# is the majority class's share of the run's data (`chance`, filled in by the report from the
# dataset), else 1 / `data.n_classes` when a run logged it; with neither, no run is marked.
COLLAPSE_MARGIN = 0.1


def chance_level(table: pd.DataFrame) -> pd.Series:
    if "chance" in table:
        return _col(table, "chance")
    return 1.0 / _col(table, "data.n_classes")


def collapsed(table: pd.DataFrame) -> pd.Series:
    """True for each run whose best validation accuracy stays near chance (see COLLAPSE_MARGIN)."""
    chance = chance_level(table)
    best = _col(table, "best_val_accuracy")
    return (best < chance + COLLAPSE_MARGIN * (1.0 - chance)).fillna(False).astype(bool)


def with_collapse(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(collapsed=collapsed(table))


def collapsed_runs(table: pd.DataFrame, by: list[str]) -> list[str]:
    """One line per setting with collapsed finished runs: which seeds, their accuracy, chance."""
    if "collapsed" not in table:
        table = with_collapse(table)
    finished = _finished(table)
    lines = []
    for key, group in finished.groupby(by, sort=True):
        hit = group[group["collapsed"]]
        if hit.empty:
            continue
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{c.split('.')[-1].lstrip('+').split('/')[-1]} {v}" for c, v in zip(by, key))
        best = _col(hit, "best_val_accuracy")
        chance = chance_level(hit)
        lines.append(f"{label}: {len(hit)} of {len(group)} run(s) collapsed (seeds {', '.join(map(str, hit['seed']))}; "
                     f"best validation accuracy ≤ {best.max():.3f}, chance {chance.max():.3f})")
    return lines


# --- one claim = prepare, rule, draw; stability re-runs the rule on block resamples --------------
STABLE_SHARE = 0.8  # verdicts reproduced by fewer resamples than this are marked unstable
RESAMPLES = 200
MIN_BLOCKS = 3  # with fewer blocks (e.g. the quick profile's single seed) a resample is nearly the table itself


class Analysis:
    """A claim's analysis: `prepare` a tidy table once, apply the pure `rule`, then `draw`."""

    def __init__(self, prepare: Callable[[Evidence], pd.DataFrame], rule: Callable[[pd.DataFrame], ClaimResult],
                 draw: Callable[[Evidence, pd.DataFrame, Path], None] | None = None, resample: bool = True):
        self.prepare, self.rule, self.draw, self.resample = prepare, rule, draw, resample

    def __call__(self, evidence: Evidence, out: Path | None = None) -> ClaimResult:
        if missing := _missing(evidence):
            return missing
        table = self.prepare(evidence)
        result = self.rule(table)
        if out is not None and self.draw is not None:
            self.draw(evidence, table, out)
            result.figure = out
        return result


def resample_blocks(table: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """One bootstrap resample: whole blocks (task × seed) drawn with replacement, every row of a drawn
    block kept. Each draw gets its own seed label, so a block drawn twice counts as two pairs."""
    blocks = _blocks(table)
    groups = list(table.groupby(blocks, sort=True).indices.values())
    pick = rng.integers(len(groups), size=len(groups))
    rows = np.concatenate([groups[j] for j in pick])
    labels = np.concatenate([np.full(len(groups[j]), i) for i, j in enumerate(pick)])
    return table.iloc[rows].assign(seed=labels).reset_index(drop=True)


def stability_of_table(rule: Callable[[pd.DataFrame], ClaimResult], table: pd.DataFrame,
                       resamples: int = RESAMPLES, seed: int = 0) -> Stability | None:
    """Share of `resamples` block resamples of `table` for which `rule` gives the observed verdict."""
    blocks = _blocks(table)
    if not blocks or table.empty or table.groupby(blocks).ngroups < MIN_BLOCKS:
        return None
    started = time.perf_counter()
    observed = rule(table).verdict
    rng = np.random.default_rng(seed)
    same = sum(rule(resample_blocks(table, rng)).verdict == observed for _ in range(resamples))
    return Stability(same / resamples, resamples, tuple(blocks), time.perf_counter() - started)


def stability(analysis: Callable, evidence: Evidence, resamples: int = RESAMPLES, seed: int = 0) -> Stability | None:
    """Stability of a claim's verdict; None when it has no runs or no blocks to resample."""
    if not isinstance(analysis, Analysis) or not analysis.resample or _missing(evidence):
        return None
    return stability_of_table(analysis.rule, analysis.prepare(evidence), resamples, seed)


# --- claim 1 -----------------------------------------------------------------------------------
VANISH_RATIO = 0.1  # first-layer gradient below a tenth of the last layer's: "vanishing"
# The verdict reads the plain stack; the residual one (skip connections) is the control, whose
# gradients should not vanish for any function.
PLAIN_MLP, RESIDUAL_MLP = "deep_mlp", "resmlp"


def _gradient_table(evidence: Evidence) -> pd.DataFrame:
    """One row per run and moment (at init, after training): the first/last gradient-norm ratio."""
    rows = []
    for _, run in with_collapse(evidence.finished()).iterrows():
        layers = evidence.layers(run["run_id"])
        last_layer, last_step = layers["layer"].max(), layers["step"].max()
        for when, step in (("at init", 0), ("after training", last_step)):
            grads = layers[layers["step"] == step].set_index("layer")["grad_norm"]
            rows.append({"activation": run["activation"], "model": run.get("model.name", PLAIN_MLP), "depth": int(run["model.depth"]),
                         "when": when, "seed": run["seed"],
                         "collapsed": bool(run["collapsed"]),
                         "ratio": grads[1] / grads[last_layer] if grads[last_layer] > 0 else np.nan})
    return pd.DataFrame(rows)


def _usable_gradients(ratios: pd.DataFrame) -> pd.DataFrame:
    # At init no network has trained; after training a collapsed network's gradients describe the collapse.
    return ratios[(ratios["when"] == "at init") | ~ratios["collapsed"]]


def _residual_control(ratios: pd.DataFrame) -> list[str]:
    """The residual stack at its deepest depth, at init: does any function's gradient vanish there?"""
    if "model" not in ratios or not (ratios["model"] == RESIDUAL_MLP).any():
        return []
    res = ratios[(ratios["model"] == RESIDUAL_MLP) & (ratios["when"] == "at init")]
    deepest = res["depth"].max()
    estimates = {act: median_ci(g["ratio"]) for act, g in res[res["depth"] == deepest].groupby("activation")}
    vanish = [act for act, est in estimates.items() if est.median < VANISH_RATIO]
    return [f"control, {RESIDUAL_MLP} ({deepest} residual blocks) at init: " + "; ".join(f"{a} {e}" for a, e in estimates.items())
            + (f" → vanishes for {', '.join(vanish)}" if vanish else " → no function's gradient vanishes (the skips carry it)")]


def vanishing_gradients_rule(ratios: pd.DataFrame) -> ClaimResult:
    control = _residual_control(ratios)
    if "model" in ratios:
        ratios = ratios[ratios["model"] != RESIDUAL_MLP]
    deepest = ratios["depth"].max()
    deep = ratios[ratios["depth"] == deepest]
    estimates = {(act, when): median_ci(group["ratio"])
                 for (act, when), group in _usable_gradients(deep).groupby(["activation", "when"])}
    vanishes = {act: est.median < VANISH_RATIO for (act, when), est in estimates.items() if when == "at init"}
    saturating = [a for a in ("sigmoid", "tanh") if a in vanishes]
    relu_family = [a for a in vanishes if a not in ("sigmoid", "tanh")]
    if not saturating or not relu_family:
        verdict = INCONCLUSIVE
    elif all(vanishes[a] for a in saturating) and not any(vanishes[a] for a in relu_family):
        verdict = SUPPORTED
    elif not any(vanishes[a] for a in saturating) or all(vanishes[a] for a in relu_family):
        verdict = NOT_SUPPORTED
    else:
        verdict = MIXED
    numbers = [f"{act} {when}, depth {deepest}: ‖∇W₁‖/‖∇W_L‖ = {est}" for (act, when), est in sorted(estimates.items())]
    gone = deep[(deep["when"] == "after training") & deep["collapsed"]].groupby("activation").size()
    numbers += [f"{act}, depth {deepest}: {n} collapsed run(s) left out of 'after training' (their gradients describe a "
                "network that learned nothing)" for act, n in gone.items()]
    numbers += control
    notes = [f"Rule: a function 'vanishes' when the median ratio at depth {deepest} at initialization is below {VANISH_RATIO}; "
             "supported when sigmoid and tanh vanish and no ReLU-family function does. The verdict reads initialization "
             f"only, where no network has trained yet, so collapsed runs cannot sway it, and the plain stack ({PLAIN_MLP}) only: "
             f"{RESIDUAL_MLP} (residual blocks, whose skips carry the gradient) is the control, shown, not judged."]
    if "tanh" in vanishes and not vanishes["tanh"]:
        notes.append("With Glorot initialization tanh keeps its first-layer gradient at this depth: the "
                     "initializer, not the function alone, decides whether gradients vanish.")
    return ClaimResult(verdict, "gradient-norm ratio first/last hidden layer, median [95% CI] over seeds",
                       numbers, notes, values={"estimates": estimates, "depth": deepest})


def _draw_gradients(evidence: Evidence, ratios: pd.DataFrame, out: Path) -> None:
    figures.ratio_by_depth(_usable_gradients(ratios), out, VANISH_RATIO, RESIDUAL_MLP)


vanishing_gradients = Analysis(_gradient_table, vanishing_gradients_rule, _draw_gradients)


# --- claim 2 -----------------------------------------------------------------------------------
def _finished_with_collapse(evidence: Evidence) -> pd.DataFrame:
    return with_collapse(evidence.finished())


def tanh_vs_sigmoid_rule(finished: pd.DataFrame) -> ClaimResult:
    finished = _finished(finished)
    wide = finished.pivot_table(index=["optimizer", "seed"], columns="activation", values="val_accuracy_auc")
    steps = finished.pivot_table(index=["optimizer", "seed"], columns="activation", values="epochs_to_target")
    tests = {"all": paired(wide.get("tanh", []), wide.get("sigmoid", []))}
    for optimizer, group in wide.groupby(level="optimizer"):
        tests[optimizer] = paired(group.get("tanh", []), group.get("sigmoid", []))
    tests["epochs"] = paired(steps.get("tanh", []), steps.get("sigmoid", []))
    tests = holm_family(tests)
    overall = tests["all"]
    per_optimizer = {k: c for k, c in tests.items() if k not in ("all", "epochs")}
    numbers = [f"all: tanh − sigmoid mean val accuracy over epochs {overall}"]
    numbers += [f"{optimizer}: {c}" for optimizer, c in per_optimizer.items()]
    numbers.append(f"epochs to 95% of best: tanh − sigmoid {tests['epochs']}")
    numbers += [f"collapsed (kept: a network that never learns is the slowest to converge) — {line}"
                for line in collapsed_runs(finished, ["activation", "optimizer"])]
    directions = [c.direction for c in per_optimizer.values()]
    if overall.direction == 1 and -1 not in directions:
        verdict = SUPPORTED
    elif 1 in directions and -1 in directions:
        verdict = MIXED
    elif overall.direction == -1:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    notes = ["Rule: supported when tanh's is significantly higher overall and lower for no optimizer; all p-values are "
             "Holm-adjusted over the claim's one-sided tests (both directions of each comparison)."]
    return ClaimResult(verdict, "mean validation accuracy over epochs (higher = faster convergence), paired by optimizer and seed",
                       numbers, notes)


def _draw_curves(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    curves = {(run["activation"], run["optimizer"]): evidence.history(run["run_id"], "val_accuracy")
              for _, run in finished.iterrows()}
    figures.curves_by_group(finished, curves, out)


tanh_vs_sigmoid = Analysis(_finished_with_collapse, tanh_vs_sigmoid_rule, _draw_curves)


# --- claim 3 -----------------------------------------------------------------------------------
DEAD_LARGE = 0.2  # a "large share" of dead units
DEAD_NONE = 0.05


def _dead_table(evidence: Evidence) -> pd.DataFrame:
    """Every job (diverged ones are counted, not judged) with its dead share, learning rate, collapse."""
    table = with_collapse(evidence.table)
    dead_cols = [c for c in table if c.startswith(metric_keys.layer_prefix("dead_frac"))]
    table["dead_share"] = table[dead_cols].apply(pd.to_numeric, errors="coerce").mean(axis=1)
    table["lr"] = _col(table, "optimizer.learning_rate")
    table["best_val_accuracy"] = _col(table, "best_val_accuracy")
    if "chance" in table:
        table["chance"] = _col(table, "chance")
    return table


def dead_share_verdict(table: pd.DataFrame) -> ClaimResult:
    """Claim 3's rule, judged only where networks still learn.

    A setting (activation, learning rate) is judged when most of its finished runs did not collapse;
    its dead share is the median over those runs. ReLU 'dies' at a rate above the smallest one where it
    still learns, with a median dead share ≥ DEAD_LARGE and above its share at the smallest rate. At
    each such rate, every other function that still learns there must stay below DEAD_NONE."""
    finished = _finished(table)
    learned = finished[~finished["collapsed"]]
    estimates, judged = {}, {}
    for (act, lr), group in finished.groupby(["activation", "lr"]):
        runs = learned[(learned["activation"] == act) & (learned["lr"] == lr)]
        estimates[(act, lr)] = median_ci(runs["dead_share"])
        judged[(act, lr)] = 2 * len(runs) > len(group)
    accuracy = finished.groupby(["activation", "lr"])["best_val_accuracy"].median()
    lowest = finished["lr"].min()
    relu_low = estimates.get(("relu", lowest)) if judged.get(("relu", lowest)) else None
    relu_rates = sorted(lr for (a, lr), ok in judged.items() if a == "relu" and ok and lr > lowest)
    dying_rates = [lr for lr in relu_rates
                   if relu_low is not None and estimates[("relu", lr)].median >= DEAD_LARGE
                   and estimates[("relu", lr)].median > relu_low.median]
    others = {(a, lr): estimates[(a, lr)] for (a, lr), ok in judged.items() if a != "relu" and ok and lr in dying_rates}
    if relu_low is None or not relu_rates:
        verdict = INCONCLUSIVE
    elif not dying_rates:
        verdict = NOT_SUPPORTED
    elif not others:
        verdict = INCONCLUSIVE
    elif all(e.median < DEAD_NONE for e in others.values()):
        verdict = SUPPORTED
    else:
        verdict = MIXED
    numbers = []
    for (act, lr), est in sorted(estimates.items()):
        n = int(((finished["activation"] == act) & (finished["lr"] == lr)).sum())
        k = int(((learned["activation"] == act) & (learned["lr"] == lr)).sum())
        status = "" if judged[(act, lr)] else " — not judged: most runs collapsed"
        numbers.append(f"{act} at lr {lr:g}: dead share {est} over {k} of {n} learning run(s); "
                       f"best val accuracy (median, all runs) {accuracy[(act, lr)]:.3f}{status}")
    numbers += [f"collapsed — {line}" for line in collapsed_runs(finished, ["activation", "lr"])]
    diverged = table[table["diverged"].astype(bool)].groupby(["activation", "lr"]).size().to_dict() if "diverged" in table else {}
    numbers += [f"{a} at lr {lr:g}: {n} run(s) diverged (loss NaN), not counted" for (a, lr), n in sorted(diverged.items())]
    notes = [f"Rule: a run has collapsed when its best validation accuracy stays below chance + {COLLAPSE_MARGIN:g} × "
             "(1 − chance), chance being the majority class's share; a collapsed network has constant units whatever "
             "its activation, so dying units are judged only where most runs of a setting still learn. Supported when, "
             f"at some learning rate above the smallest where ReLU still learns, ReLU's median dead share is ≥ {DEAD_LARGE} "
             f"and above its share at the smallest rate, while every other function that learns at that rate stays "
             f"below {DEAD_NONE}; mixed when some do not; not supported when ReLU's units do not die where it learns."]
    if dying_rates:
        notes.append(f"Judged at learning rate(s) {', '.join(f'{lr:g}' for lr in dying_rates)}: where ReLU still learns "
                     "and loses units.")
    unmatched = sorted((a, lr) for (a, lr), ok in judged.items()
                       if a != "relu" and ok and lr not in dying_rates and lr > lowest and not judged.get(("relu", lr), False)
                       and estimates[(a, lr)].median >= DEAD_NONE)
    if unmatched:
        notes.append("Not compared with ReLU, which collapsed there: " + "; ".join(
            f"{a} at lr {lr:g} still learns (best val accuracy {accuracy[(a, lr)]:.3f}) with a dead share of "
            f"{estimates[(a, lr)].median:.2f}" for a, lr in unmatched) + ".")
    dying_too = sorted({a for (a, lr), est in others.items() if est.median >= DEAD_NONE})
    if verdict == MIXED and dying_too:
        notes.append(f"The data disagree with the article in part: {', '.join(dying_too)} lose units too where they still "
                     "learn (a unit whose output is the same for every input is dead whether it sits at 0 or at a negative "
                     "saturation).")
    return ClaimResult(verdict, "share of hidden units with constant output over the probe batch after training, "
                       "in networks that still learn, beside their validation accuracy", numbers, notes,
                       values={"estimates": estimates, "judged": judged, "accuracy": accuracy.to_dict()})


def _draw_dead(evidence: Evidence, table: pd.DataFrame, out: Path) -> None:
    finished = _finished(table)
    figures.dead_units(finished, finished[~finished["collapsed"]], out)


dying_relu = Analysis(_dead_table, dead_share_verdict, _draw_dead)


# --- claim 4 -----------------------------------------------------------------------------------
def _prelu_table(evidence: Evidence) -> pd.DataFrame:
    finished = with_collapse(evidence.finished())
    finished["fraction"] = _col(finished, "dataset.train_fraction")
    finished["n_train"] = _col(finished, "data.n_train")
    # A collapsed network's train − validation gap is ~0: it says nothing about overfitting.
    finished["gap_if_learned"] = _col(finished, "generalization_gap").where(~finished["collapsed"])
    return finished


def prelu_overfitting_rule(finished: pd.DataFrame) -> ClaimResult:
    smallest, largest = finished["fraction"].min(), finished["fraction"].max()

    def compare(fraction: float, metric: str):
        rows = finished[finished["fraction"] == fraction]
        wide = rows.pivot_table(index="seed", columns="activation", values=metric)
        return paired(wide.get("prelu", []), wide.get("relu", []))

    tests = holm_family({"gap_small": compare(smallest, "gap_if_learned"), "acc_small": compare(smallest, "test_accuracy"),
                         "acc_large": compare(largest, "test_accuracy")})
    gap_small, acc_large = tests["gap_small"], tests["acc_large"]
    n_small = int(finished[finished["fraction"] == smallest]["n_train"].median())
    n_large = int(finished[finished["fraction"] == largest]["n_train"].median())
    numbers = [
        f"{n_small} training examples: PReLU − ReLU generalization gap {gap_small}",
        f"{n_small} training examples: PReLU − ReLU test accuracy {tests['acc_small']}",
        f"{n_large} training examples: PReLU − ReLU test accuracy {acc_large}",
    ]
    for (act, fraction), group in finished.groupby(["activation", "fraction"]):
        numbers.append(f"{act}, {int(group['n_train'].median())} examples: gap {median_ci(group['gap_if_learned'])}, "
                       f"test accuracy {median_ci(group['test_accuracy'])}")
    numbers += [f"collapsed (left out of the gaps, kept in test accuracy) — {line}"
                for line in collapsed_runs(finished, ["activation", "n_train"])]
    verdict = _verdict_from_directions([gap_small.direction, acc_large.direction])
    plain = {1: "larger than", -1: "smaller than", 0: "not significantly different from"}
    better = {1: "higher than", -1: "lower than", 0: "not significantly different from"}
    disagreement = (f"In plain words: on {n_small} examples PReLU's generalization gap is {plain[gap_small.direction]} ReLU's, "
                    f"and on {n_large} examples its test accuracy is {better[acc_large.direction]} ReLU's.")
    notes = ["Rule: two parts, each a one-sided Wilcoxon test over seeds — PReLU's gap larger than ReLU's on the "
             "smallest training set, and PReLU's test accuracy higher on the largest; both: supported, one: mixed. "
             "p-values are Holm-adjusted over the claim's one-sided tests; with 5 seeds the smallest raw p is 1/32, "
             "which no correction over several tests lets through.",
             "Context: the overfitting evidence the article relies on (Xu et al. 2015) comes from small datasets "
             "(CIFAR, NDSB); He et al. 2015 report little overfitting on ImageNet.", disagreement]
    return ClaimResult(verdict, "generalization gap (train − validation accuracy at the selected epoch) and test accuracy vs training-set size",
                       numbers, notes, values={"tests": tests, "n_small": n_small, "n_large": n_large})


def _draw_prelu(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    figures.overfitting(finished, out)


prelu_overfitting = Analysis(_prelu_table, prelu_overfitting_rule, _draw_prelu)


# --- claims 5 and 8 share a protocol: per-task learning-rate selection on validation ------------
def _selected(evidence: Evidence) -> pd.DataFrame:
    return select_learning_rate(with_collapse(evidence.finished()), [TASK, "activation"])


def elu_rule(selected: pd.DataFrame) -> ClaimResult:
    tests, labels = {}, {}
    metrics = {"val_accuracy_auc": "speed (mean val accuracy over epochs)", "test_accuracy": "test accuracy"}
    wides = {m: selected.pivot_table(index=[TASK, "seed"], columns="activation", values=m) for m in metrics}
    for rival in ("relu", "leaky_relu", "prelu"):
        for metric, label in metrics.items():
            wide = wides[metric]
            tests[(rival, metric)] = paired(wide.get("elu", []), wide.get(rival, []))
            labels[(rival, metric)] = label
    tests = holm_family(tests)
    numbers = [f"ELU − {rival}, {labels[(rival, metric)]}: {c}" for (rival, metric), c in tests.items()]
    numbers += [f"collapsed at its selected rate (kept: accuracy is the outcome) — {line}"
                for line in collapsed_runs(selected, [TASK, "activation"])]
    agrees = [(f"{'faster' if metric == 'val_accuracy_auc' else 'more accurate'} than {rival}", c.direction)
              for (rival, metric), c in tests.items()]
    notes = ["Rule: six comparisons (ELU vs ReLU, Leaky ReLU, PReLU; speed and test accuracy), one-sided Wilcoxon tests "
             "paired by task and seed, Holm-adjusted over all twelve one-sided tests: all in the article's direction: "
             "supported; some: mixed; none but some opposite: not supported. r_rb is the matched-pairs rank-biserial "
             "correlation (+1: ELU ahead in every pair)."]
    shown = [what for what, d in agrees if d == 1]
    not_shown = [what for what, d in agrees if d != 1]
    if not_shown:
        notes.append("In plain words: the runs show ELU " + (", ".join(shown) if shown else "no better than any rival")
                     + "; they do not show it " + ", ".join(not_shown) + ".")
    return ClaimResult(_verdict_from_directions([c.direction for c in tests.values()]),
                       "mean validation accuracy over epochs and test accuracy, each function at its validation-selected learning rate",
                       numbers, notes, values={"tests": tests, "selected": selected})


def _draw_elu(evidence: Evidence, selected: pd.DataFrame, out: Path) -> None:
    figures.points_by_task(selected, ["val_accuracy_auc", "test_accuracy"], out, reference="relu",
                           title="Claim 5: ELU and the ReLU family against ReLU (each at its own best learning rate)")


elu_converges_faster = Analysis(_selected, elu_rule, _draw_elu)


ARTICLE_RANKING = ["selu", "elu", "leaky_relu", "relu", "tanh", "sigmoid"]
TAU_SUPPORTED, TAU_NOT_SUPPORTED = 0.8, 0.2


def ranking_rule(selected: pd.DataFrame) -> ClaimResult:
    wide = selected.pivot_table(index=[TASK, "seed"], columns="activation", values="test_accuracy")
    mean_rank = wide.rank(axis=1, ascending=False).mean().sort_values()
    measured = [a for a in mean_rank.index if a in ARTICLE_RANKING]
    numbers = [f"mean rank (1 = best, over {len(wide)} task × seed blocks): "
               + ", ".join(f"{a} {r:.2f}" for a, r in mean_rank.items())]
    for task, group in selected.groupby(TASK):
        medians = group.groupby("activation")["test_accuracy"].median().sort_values(ascending=False)
        numbers.append(f"{task}: " + " > ".join(f"{a} {v:.3f}" for a, v in medians.items()))
    numbers += [f"collapsed at its selected rate (kept: ranked last where it collapses) — {line}"
                for line in collapsed_runs(selected, [TASK, "activation"])]
    if len(measured) < len(ARTICLE_RANKING):
        return ClaimResult(INCONCLUSIVE, "test accuracy ranks", numbers, ["Some of the article's six functions have no runs."],
                           values={"mean_rank": mean_rank})
    tau = kendall_tau(ARTICLE_RANKING, measured)
    six = wide[ARTICLE_RANKING].to_numpy()
    p_raw, w = friedman(six), kendall_w(six)
    # The family: the Friedman test the verdict reads, and one-sided Wilcoxon tests of each adjacent
    # pair of the article's order (both directions), all Holm-adjusted together.
    pairs = {(a, b): paired(wide[a], wide[b]) for a, b in zip(ARTICLE_RANKING, ARTICLE_RANKING[1:])}
    raw = [p_raw] + [p for c in pairs.values() for p in (c.p_greater, c.p_less)]
    adjusted = holm(raw)
    family = int(np.isfinite(raw).sum())
    p = adjusted[0]
    pairs = {k: replace(c, p_greater=adjusted[1 + 2 * i], p_less=adjusted[2 + 2 * i], raw_greater=c.p_greater,
                        raw_less=c.p_less, family=family)
             for i, (k, c) in enumerate(pairs.items())}
    numbers.append(f"article order {' > '.join(ARTICLE_RANKING)}; measured {' > '.join(measured)}; Kendall τ = {tau:.2f}; "
                   + (f"Friedman p = {p:.3g} (Holm over {family} tests, raw {p_raw:.3g}; Kendall's W = {w:.2f})"
                      if math.isfinite(p) else "Friedman test needs ≥ 2 blocks"))
    numbers += [f"{a} − {b} (the article says >): {c}" for (a, b), c in pairs.items()]
    if not math.isfinite(p) or p >= ALPHA:
        verdict = INCONCLUSIVE
    elif tau >= TAU_SUPPORTED:
        verdict = SUPPORTED
    elif tau <= TAU_NOT_SUPPORTED:
        verdict = NOT_SUPPORTED
    else:
        verdict = MIXED
    notes = [f"Rule: if the Friedman test finds the six functions' test accuracies different (Holm-adjusted p < {ALPHA}), "
             f"Kendall's τ between the article's order and the measured mean-rank order decides: ≥ {TAU_SUPPORTED} supported, "
             f"≤ {TAU_NOT_SUPPORTED} not supported, between: mixed; otherwise inconclusive. The adjacent-pair tests are "
             "shown with their effect sizes (r_rb, the matched-pairs rank-biserial correlation); the verdict does not count them.",
             "The article's order is a textbook rule of thumb; its sources do not measure it."]
    if verdict != SUPPORTED:
        notes.append(f"In plain words: the measured order of the article's six is {' > '.join(measured)}, not "
                     f"{' > '.join(ARTICLE_RANKING)}; {mean_rank.index[0]} ranks best of all {len(mean_rank)}.")
    return ClaimResult(verdict, "test accuracy, each function at its validation-selected learning rate, ranked per task and seed",
                       numbers, notes, values={"mean_rank": mean_rank, "tau": tau, "pairs": pairs, "selected": selected})


def _draw_ranking(evidence: Evidence, selected: pd.DataFrame, out: Path) -> None:
    wide = selected.pivot_table(index=[TASK, "seed"], columns="activation", values="test_accuracy")
    figures.rank_heatmap(selected, wide.rank(axis=1, ascending=False).mean().sort_values(), out)


ranking = Analysis(_selected, ranking_rule, _draw_ranking)


# --- claim 6 -----------------------------------------------------------------------------------
SLOWER = 1.05  # at least 5% slower, and significantly so


def _latency_table(evidence: Evidence) -> pd.DataFrame:
    return evidence.finished()


def inference_speed_rule(finished: pd.DataFrame) -> ClaimResult:
    wide = finished.pivot_table(index=["model", "seed"], columns="activation", values="inference_ms")
    if "relu" not in wide or "elu" not in wide:
        return ClaimResult(INCONCLUSIVE, "forward-pass time ratio to ReLU", ["ELU or ReLU has no timings."])
    ratios = wide.div(wide["relu"], axis=0)
    tests = holm_family({model: ratio_test(group["elu"], group["relu"]) for model, group in wide.groupby(level="model")})
    slower = {model: c.p_greater < ALPHA and c.difference.median >= SLOWER for model, c in tests.items()}
    numbers = [f"{model}: ELU / ReLU forward-pass time {c}" for model, c in tests.items()]
    for model, group in ratios.groupby(level="model"):
        numbers += [f"{model}: {act} / relu = {median_ci(group[act])}" for act in group.columns if act not in ("relu", "elu")]
    if not slower:
        verdict = INCONCLUSIVE
    elif all(slower.values()):
        verdict = SUPPORTED
    elif any(slower.values()):
        verdict = MIXED
    else:
        verdict = NOT_SUPPORTED
    notes = [f"Rule: ELU counts as slower on a model when a one-sided paired t-test on log time (ELU vs ReLU, paired by "
             f"seed) is significant after Holm's correction over both models and directions, and its median time ratio "
             f"is ≥ {SLOWER}; supported if so on every model, mixed on some, not supported on none. A t-test on log times "
             "(timing noise is multiplicative) replaces the earlier interval rule so the correction applies; with 5 seeds "
             "a rank test's smallest p (1/32) could not pass it. The other functions' ratios are descriptive.",
             "The ELU paper (Clevert et al. 2016) measured slower *training*, never test time. On a CPU the activation is "
             "a small share of a dense network's time next to the matrix products.",
             "In plain words: " + (
                 "ELU's forward pass is not measurably slower than ReLU's on any network" if not any(slower.values())
                 else "ELU's forward pass is measurably slower than ReLU's on " + ", ".join(m for m, v in slower.items() if v)
                 + (" but not on " + ", ".join(m for m, v in slower.items() if not v) if not all(slower.values()) else ""))
             + "; each job ran alone on the machine, timing with one TensorFlow thread."]
    return ClaimResult(verdict, "median time of a compiled forward pass over 1,024 inputs, as a ratio to ReLU, paired by seed",
                       numbers, notes, values={"tests": tests})


def _draw_latency(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    wide = finished.pivot_table(index=["model", "seed"], columns="activation", values="inference_ms")
    figures.latency_ratios(wide.div(wide["relu"], axis=0), out)


inference_speed = Analysis(_latency_table, inference_speed_rule, _draw_latency)


# --- claim 7 -----------------------------------------------------------------------------------
MEAN_TOLERANCE = 0.25
STD_RANGE = (0.75, 1.33)
CONDITION = "+experiment/selu_condition"


def _normalized(layers: pd.DataFrame) -> bool:
    return bool((layers["act_mean"].abs() <= MEAN_TOLERANCE).all()
                and layers["act_std"].between(*STD_RANGE).all())


def _layer_stats(evidence: Evidence) -> pd.DataFrame:
    frames = []
    for _, run in with_collapse(evidence.finished()).iterrows():
        layers = evidence.layers(run["run_id"])
        last = layers["step"].max()
        for when, step in (("at init", 0), ("after training", last)):
            frames.append(layers[layers["step"] == step].assign(
                condition=run[CONDITION], when=when, seed=run["seed"], collapsed=bool(run["collapsed"]),
                best_val_accuracy=pd.to_numeric(run.get("best_val_accuracy", np.nan), errors="coerce")))
    return pd.concat(frames, ignore_index=True)


def _selu_medians(layers: pd.DataFrame) -> pd.DataFrame:
    # After training, a collapsed network's activations describe the collapse, not self-normalization.
    usable = layers[(layers["when"] == "at init") | ~layers["collapsed"]]
    return usable.groupby(["condition", "when", "layer"])[["act_mean", "act_std"]].median().reset_index()


def selu_rule(layers: pd.DataFrame) -> ClaimResult:
    medians = _selu_medians(layers)
    ok = {(c, w): _normalized(g) for (c, w), g in medians.groupby(["condition", "when"])}
    numbers = []
    for (condition, when), group in medians.groupby(["condition", "when"]):
        numbers.append(f"{condition} {when}: mean in [{group['act_mean'].min():.2f}, {group['act_mean'].max():.2f}], "
                       f"std in [{group['act_std'].min():.2f}, {group['act_std'].max():.2f}] over {group['layer'].max()} layers "
                       f"→ {'normalized' if ok[(condition, when)] else 'not normalized'}")
    runs = layers.drop_duplicates(["condition", "seed"])
    for condition, group in runs[runs["collapsed"]].groupby("condition"):
        numbers.append(f"{condition}: {len(group)} collapsed run(s) (seeds {', '.join(map(str, group['seed']))}) left out "
                       "of 'after training'")
    claim_init, claim_end = ok.get(("selu_lecun", "at init")), ok.get(("selu_lecun", "after training"))
    controls = [c for c in medians["condition"].unique() if c != "selu_lecun"]
    controls_fail = any(not ok.get((c, "at init"), True) or not ok.get((c, "after training"), True) for c in controls)
    if claim_init is None:
        verdict = INCONCLUSIVE
    elif not claim_init:
        verdict = NOT_SUPPORTED
    elif claim_end and controls_fail:
        verdict = SUPPORTED
    else:
        verdict = MIXED
    notes = [f"Rule: a condition is 'normalized' when every layer's median mean is within ±{MEAN_TOLERANCE} and std within "
             f"{STD_RANGE}; supported when SELU with LeCun-normal weights and standardized inputs is normalized at init and after "
             "training and at least one negative control is not; mixed when it holds at init only (or no run of it still "
             "learns after training), or no control breaks it. Collapsed runs are left out after training."]
    if claim_init and claim_end is False:
        notes.append("The data disagree with the article's 'during training': the fixed point holds at initialization, "
                     "but trained weights are no longer LeCun-normal and the statistics drift away from (0, 1).")
    if claim_init and claim_end is None:
        notes.append("Every selu_lecun run collapsed: 'during training' cannot be judged from these runs.")
    return ClaimResult(verdict, "per-layer mean and std of activations on the probe batch, median over seeds", numbers, notes,
                       values={"normalized": ok, "runs": runs})


def _draw_selu(evidence: Evidence, layers: pd.DataFrame, out: Path) -> None:
    figures.selu_layers(_selu_medians(layers), out)


selu_self_normalization = Analysis(_layer_stats, selu_rule, _draw_selu)


# --- claim 9 -----------------------------------------------------------------------------------
def _slopes(evidence: Evidence) -> pd.DataFrame:
    finished = with_collapse(evidence.finished())
    finished["slope"] = _col(finished, "activation.negative_slope")
    return finished


def leaky_slope_rule(finished: pd.DataFrame) -> ClaimResult:
    wide = finished.pivot_table(index=_blocks(finished), columns="slope", values="test_accuracy")
    p, w = friedman(wide.to_numpy()), kendall_w(wide.to_numpy())
    medians = {s: median_ci(wide[s]) for s in wide.columns}
    numbers = [f"slope {s:g}: test accuracy {est}" for s, est in medians.items()]
    numbers.append(f"Friedman test across slopes over {len(wide)} task × seed blocks: p = {p:.3g} (the claim's only test: "
                   f"no correction needed); Kendall's W = {w:.2f}" if math.isfinite(p) else "Friedman test: too few blocks")
    numbers += [f"collapsed (kept) — {line}" for line in collapsed_runs(finished, ["slope"])]
    default = 0.3
    best = max(medians, key=lambda s: medians[s].median)
    if not math.isfinite(p) or default not in medians:
        verdict = INCONCLUSIVE
    elif p >= ALPHA or medians[best].median - medians[default].median <= 0.005:
        verdict = SUPPORTED
    else:
        verdict = NOT_SUPPORTED
    notes = [f"Rule: supported when the slopes do not differ significantly (Friedman p ≥ {ALPHA}) or the default {default} is within "
             "0.5 percentage points of the best slope's median; otherwise not supported (tuning pays). Kendall's W is the "
             "Friedman test's effect size (0: blocks disagree on the slopes' order, 1: all agree).",
             "Keras 3 has two defaults: the LeakyReLU layer uses 0.3, keras.activations.leaky_relu uses 0.2."]
    return ClaimResult(verdict, "test accuracy by negative slope at Adam's default learning rate, blocks = task × seed", numbers, notes)


def _draw_slopes(evidence: Evidence, finished: pd.DataFrame, out: Path) -> None:
    figures.points_by_task(finished.assign(activation=finished["slope"].map(lambda s: f"slope {s:g}")),
                           ["test_accuracy"], out, title="Claim 9: Leaky ReLU's negative slope")


leaky_slope = Analysis(_slopes, leaky_slope_rule, _draw_slopes)


# --- claim 10 ----------------------------------------------------------------------------------
def formulas(evidence: Evidence, out: Path | None = None) -> ClaimResult:
    """Deterministic checks of the article's printed values and code: nothing to resample."""
    from actlab.reporting.gallery import check_article_values, gallery, keras3_leaky_alpha

    if out is not None:
        gallery(out)
    checks = check_article_values()
    numbers = [f"{name}: article {expected}, computed {computed:.4f} → {'✓' if ok else '✗'}" for name, expected, computed, ok in checks]
    trained = evidence.finished()["activation"].tolist() if not evidence.table.empty else []
    numbers.append(f"trained in Keras 3 from the registry: {len(trained)} of {len(evidence.table)} activations"
                   + (f" ({', '.join(sorted(trained))})" if trained else ""))
    notes = [
        "The article's SELU code sample passes activation='relu', so it never uses SELU (use activation='selu' with "
        "kernel_initializer='lecun_normal').",
        f"The article's LeakyReLU(alpha=0.3): in Keras 3, {keras3_leaky_alpha()}",
        "ReLU is non-differentiable only at 0; its zero slope for negative inputs causes dying units, not non-differentiability.",
        "ELU's negative side is exponential, α(eˣ − 1), not logarithmic.",
    ]
    all_ok = all(ok for *_, ok in checks)
    all_trained = len(evidence.table) > 0 and len(trained) == len(evidence.table)
    verdict = SUPPORTED if all_ok and all_trained else MIXED if all_ok or all_trained else NOT_SUPPORTED
    return ClaimResult(verdict, "values of each function from the registry layers; derivatives by automatic differentiation",
                       numbers, notes, out)


CLAIMS: dict[int, Claim] = {
    claim.number: claim
    for claim in [
        Claim(1, "vanishing_gradients", "claim01_vanishing_gradients",
              "Sigmoid and tanh suffer vanishing gradients in deep networks; the ReLU family does not.", vanishing_gradients),
        Claim(2, "tanh_converges_faster_than_sigmoid", "claim02_tanh_vs_sigmoid",
              "Tanh is zero-centred, so it converges faster than sigmoid.", tanh_vs_sigmoid),
        Claim(3, "dying_relu", "claim03_dying_relu",
              "With a large learning rate many ReLU units die; Leaky ReLU (and ELU, SELU) fix it.", dying_relu),
        Claim(4, "prelu_overfits_small_data", "claim04_prelu_overfitting",
              "PReLU beats ReLU on large datasets but overfits small ones.", prelu_overfitting),
        Claim(5, "elu_converges_faster", "claim05_elu",
              "ELU converges faster than ReLU and its variants and ends more accurate.", elu_converges_faster, within=8),
        # It times forward passes: its jobs run one at a time, so no second job shares the cores.
        Claim(6, "elu_slower_at_test_time", "claim06_inference_speed",
              "ELU (exponential) is slower to compute at test time than ReLU.", inference_speed, workers=1),
        Claim(7, "selu_self_normalizes", "claim07_selu_self_normalization",
              "SELU self-normalizes: each layer keeps mean 0 and std 1 (LeCun-normal weights, standardized inputs).",
              selu_self_normalization),
        Claim(8, "ranking", "claim08_ranking",
              "SELU > ELU > leaky ReLU > ReLU > tanh > logistic.", ranking),
        Claim(9, "leaky_relu_default_slope", "claim09_leaky_slope",
              "If you don't want to tune it, use Keras's default alpha for Leaky ReLU.", leaky_slope),
        Claim(10, "formulas_and_code", "claim10_formulas",
              "The article's formulas, printed values and Keras code.", formulas),
    ]
}


def judge(claim: Claim, evidence: Evidence, out: Path | None) -> ClaimResult:
    """A claim's verdict by its own rule (drawn to `out`) with that verdict's stability: REPORT.md's
    and a challenger's alike."""
    result = claim.analyze(evidence, out)
    result.stability = stability(claim.analyze, evidence, seed=claim.number)
    return result
