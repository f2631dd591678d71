"""The article's claims, each with the rule that turns measurements into a verdict.

A claim reads `Evidence`: one row per job of its experiment's sweep (the sweep's own override
columns, e.g. `activation`, `seed`, `+experiment/task`), with the status and metrics of the MLflow
run that has the job's config fingerprint. Rules are plain code over medians, bootstrap intervals
and one-sided Wilcoxon tests (actlab.stats); nobody edits a verdict by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from actlab import figures
from actlab.stats import ALPHA, friedman, kendall_tau, median_ci, paired

SUPPORTED, NOT_SUPPORTED, MIXED, INCONCLUSIVE = "supported", "not supported", "mixed", "inconclusive"
TASK = "+experiment/task"


@dataclass
class Evidence:
    """The runs of one claim's sweep, plus lazy access to their per-layer tables and histories."""

    table: pd.DataFrame
    layers: Callable[[str], pd.DataFrame] = lambda run_id: pd.DataFrame()
    history: Callable[[str, str], list[float]] = lambda run_id, key: []

    def finished(self) -> pd.DataFrame:
        return self.table[self.table["status"] == "FINISHED"]


@dataclass
class ClaimResult:
    verdict: str
    measured: str
    numbers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    figure: Path | None = None


@dataclass(frozen=True)
class Claim:
    number: int
    slug: str
    experiment: str
    article: str
    analyze: Callable[[Evidence, Path], ClaimResult]
    # Sweep workers on a 2-core machine (experiments/run_claims.sh runs the sweep with as many).
    workers: int = 2

    @property
    def title(self) -> str:
        return self.slug.replace("_", " ")


def _col(df: pd.DataFrame, name: str) -> pd.Series:
    return pd.to_numeric(df[name], errors="coerce")


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


def _blocks(finished: pd.DataFrame) -> list[str]:
    """Columns that pair runs across treatments: the task (if swept) and the seed."""
    return [c for c in (TASK, "seed") if c in finished]


# --- claim 1 -----------------------------------------------------------------------------------
VANISH_RATIO = 0.1  # first-layer gradient below a tenth of the last layer's: "vanishing"


def vanishing_gradients(evidence: Evidence, out: Path) -> ClaimResult:
    if missing := _missing(evidence):
        return missing
    rows = []
    for _, run in evidence.finished().iterrows():
        layers = evidence.layers(run["run_id"])
        last_layer, last_step = layers["layer"].max(), layers["step"].max()
        for when, step in (("at init", 0), ("after training", last_step)):
            grads = layers[layers["step"] == step].set_index("layer")["grad_norm"]
            rows.append({"activation": run["activation"], "depth": int(run["model.depth"]), "when": when,
                         "ratio": grads[1] / grads[last_layer] if grads[last_layer] > 0 else np.nan})
    ratios = pd.DataFrame(rows)
    deepest = ratios["depth"].max()
    estimates = {
        (act, when): median_ci(group["ratio"])
        for (act, when), group in ratios[ratios["depth"] == deepest].groupby(["activation", "when"])
    }
    figures.ratio_by_depth(ratios, out, VANISH_RATIO)
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
    notes = [f"Rule: a function 'vanishes' when the median ratio at depth {deepest} at initialization is below {VANISH_RATIO}; "
             "supported when sigmoid and tanh vanish and no ReLU-family function does."]
    if "tanh" in vanishes and not vanishes["tanh"]:
        notes.append("With Glorot initialization tanh keeps its first-layer gradient at this depth: the "
                     "initializer, not the function alone, decides whether gradients vanish.")
    return ClaimResult(verdict, "gradient-norm ratio first/last hidden layer, median [95% CI] over seeds",
                       numbers, notes, out)


# --- claim 2 -----------------------------------------------------------------------------------
def tanh_vs_sigmoid(evidence: Evidence, out: Path) -> ClaimResult:
    if missing := _missing(evidence):
        return missing
    finished = evidence.finished()
    wide = finished.pivot_table(index=["optimizer", "seed"], columns="activation", values="val_accuracy_auc")
    overall = paired(wide.get("tanh", []), wide.get("sigmoid", []))
    numbers = [f"all: tanh − sigmoid mean val accuracy over epochs {overall}"]
    per_optimizer = {}
    for optimizer, group in wide.groupby(level="optimizer"):
        per_optimizer[optimizer] = paired(group.get("tanh", []), group.get("sigmoid", []))
        numbers.append(f"{optimizer}: {per_optimizer[optimizer]}")
    steps = finished.pivot_table(index=["optimizer", "seed"], columns="activation", values="epochs_to_target")
    numbers.append(f"epochs to 95% of best: tanh − sigmoid {paired(steps.get('tanh', []), steps.get('sigmoid', []))}")
    curves = {(run["activation"], run["optimizer"]): evidence.history(run["run_id"], "val_accuracy")
              for _, run in finished.iterrows()}
    figures.curves_by_group(finished, curves, out)
    directions = [c.direction for c in per_optimizer.values()]
    if overall.direction == 1 and -1 not in directions:
        verdict = SUPPORTED
    elif 1 in directions and -1 in directions:
        verdict = MIXED
    elif overall.direction == -1:
        verdict = NOT_SUPPORTED
    else:
        verdict = INCONCLUSIVE
    return ClaimResult(verdict, "mean validation accuracy over epochs (higher = faster convergence), paired by optimizer and seed",
                       numbers, ["Rule: supported when tanh's is significantly higher overall and lower for no optimizer."], out)


# --- claim 3 -----------------------------------------------------------------------------------
DEAD_LARGE = 0.2  # a "large share" of dead units
DEAD_NONE = 0.05


def dying_relu(evidence: Evidence, out: Path) -> ClaimResult:
    if missing := _missing(evidence):
        return missing
    table = evidence.table.copy()
    dead_cols = [c for c in table if c.startswith("dead_frac/layer_")]
    table["dead_share"] = table[dead_cols].apply(pd.to_numeric, errors="coerce").mean(axis=1)
    table["lr"] = _col(table, "optimizer.learning_rate")
    finished = table[table["status"] == "FINISHED"]
    estimates = {(a, lr): median_ci(g["dead_share"]) for (a, lr), g in finished.groupby(["activation", "lr"])}
    diverged = table[table["diverged"]].groupby(["activation", "lr"]).size().to_dict()
    figures.metric_by_x(finished, "lr", "dead_share", out, xlabel="Adam learning rate", ylabel="share of dead units (mean over layers)",
                        title="Claim 3: dead units after training vs learning rate", log_x=True)
    lowest, highest = finished["lr"].min(), finished["lr"].max()
    relu_high = estimates.get(("relu", highest))
    relu_low = estimates.get(("relu", lowest))
    others = {a: est for (a, lr), est in estimates.items() if lr == highest and a != "relu"}
    numbers = [f"{a} at lr {lr:g}: dead share {est}" for (a, lr), est in sorted(estimates.items())]
    numbers += [f"{a} at lr {lr:g}: {n} run(s) diverged (loss NaN), not counted" for (a, lr), n in sorted(diverged.items())]
    if relu_high is None or relu_low is None or highest == lowest:
        verdict = INCONCLUSIVE
    elif relu_high.median >= DEAD_LARGE and relu_high.median > relu_low.median:
        verdict = SUPPORTED if all(e.median < DEAD_NONE for e in others.values()) else MIXED
    else:
        verdict = NOT_SUPPORTED
    notes = [f"Rule: supported when ReLU's median dead share at the largest rate is ≥ {DEAD_LARGE} and above its share at the "
             f"smallest rate, while every other function stays below {DEAD_NONE}."]
    dying_too = sorted(a for a, est in others.items() if est.median >= DEAD_NONE)
    if verdict == MIXED and dying_too:
        survivors = sorted(a for a in others if a not in dying_too)
        notes.append(f"The data disagree with the article in part: at learning rate {highest:g}, {', '.join(dying_too)} lose units "
                     "too (a unit whose output is the same for every input is dead whether it sits at 0 or at a negative "
                     f"saturation); {', '.join(survivors) or 'none'} keep{'s' if len(survivors) == 1 else ''} every unit.")
    return ClaimResult(verdict, "share of hidden units with constant output over the probe batch, after training", numbers, notes, out)


# --- claim 4 -----------------------------------------------------------------------------------
def prelu_overfitting(evidence: Evidence, out: Path) -> ClaimResult:
    if missing := _missing(evidence):
        return missing
    finished = evidence.finished().copy()
    finished["fraction"] = _col(finished, "dataset.train_fraction")
    finished["n_train"] = _col(finished, "data.n_train")
    figures.overfitting(finished, out)
    smallest, largest = finished["fraction"].min(), finished["fraction"].max()

    def compare(fraction: float, metric: str):
        rows = finished[finished["fraction"] == fraction]
        wide = rows.pivot_table(index="seed", columns="activation", values=metric)
        return paired(wide.get("prelu", []), wide.get("relu", []))

    gap_small = compare(smallest, "generalization_gap")
    acc_small = compare(smallest, "test_accuracy")
    acc_large = compare(largest, "test_accuracy")
    n_small = int(finished[finished["fraction"] == smallest]["n_train"].median())
    n_large = int(finished[finished["fraction"] == largest]["n_train"].median())
    numbers = [
        f"{n_small} training examples: PReLU − ReLU generalization gap {gap_small}",
        f"{n_small} training examples: PReLU − ReLU test accuracy {acc_small}",
        f"{n_large} training examples: PReLU − ReLU test accuracy {acc_large}",
    ]
    for (act, fraction), group in finished.groupby(["activation", "fraction"]):
        numbers.append(f"{act}, {int(group['n_train'].median())} examples: gap {median_ci(group['generalization_gap'])}, "
                       f"test accuracy {median_ci(group['test_accuracy'])}")
    verdict = _verdict_from_directions([gap_small.direction, acc_large.direction])
    plain = {1: "larger than", -1: "smaller than", 0: "not significantly different from"}
    better = {1: "higher than", -1: "lower than", 0: "not significantly different from"}
    disagreement = (f"In plain words: on {n_small} examples PReLU's generalization gap is {plain[gap_small.direction]} ReLU's, "
                    f"and on {n_large} examples its test accuracy is {better[acc_large.direction]} ReLU's.")
    notes = ["Rule: two parts, each a one-sided Wilcoxon test over seeds — PReLU's gap larger than ReLU's on the "
             "smallest training set, and PReLU's test accuracy higher on the largest; both: supported, one: mixed.",
             "Context: the overfitting evidence the article relies on (Xu et al. 2015) comes from small datasets "
             "(CIFAR, NDSB); He et al. 2015 report little overfitting on ImageNet.", disagreement]
    return ClaimResult(verdict, "generalization gap (train − validation accuracy at the selected epoch) and test accuracy vs training-set size",
                       numbers, notes, out)


# --- claims 5 and 8 share a protocol: per-task learning-rate selection on validation ------------
def elu_converges_faster(evidence: Evidence, out: Path) -> ClaimResult:
    if missing := _missing(evidence):
        return missing
    selected = select_learning_rate(evidence.finished(), [TASK, "activation"])
    figures.points_by_task(selected, ["val_accuracy_auc", "test_accuracy"], out,
                           title="Claim 5: ELU vs the ReLU family (each at its own best learning rate)")
    numbers, directions, agrees = [], [], []
    for rival in ("relu", "leaky_relu", "prelu"):
        for metric, label in (("val_accuracy_auc", "speed (mean val accuracy over epochs)"), ("test_accuracy", "test accuracy")):
            wide = selected.pivot_table(index=[TASK, "seed"], columns="activation", values=metric)
            comparison = paired(wide.get("elu", []), wide.get(rival, []))
            directions.append(comparison.direction)
            numbers.append(f"ELU − {rival}, {label}: {comparison}")
            agrees.append((f"{'faster' if metric == 'val_accuracy_auc' else 'more accurate'} than {rival}", comparison.direction))
    notes = ["Rule: six one-sided comparisons (ELU vs ReLU, Leaky ReLU, PReLU; speed and test accuracy), paired by task "
             "and seed: all in the article's direction: supported; some: mixed; none but some opposite: not supported."]
    shown = [what for what, d in agrees if d == 1]
    not_shown = [what for what, d in agrees if d != 1]
    if not_shown:
        notes.append("In plain words: the runs show ELU " + (", ".join(shown) if shown else "no better than any rival")
                     + "; they do not show it " + ", ".join(not_shown) + ".")
    return ClaimResult(_verdict_from_directions(directions),
                       "mean validation accuracy over epochs and test accuracy, each function at its validation-selected learning rate",
                       numbers, notes, out)


ARTICLE_RANKING = ["selu", "elu", "leaky_relu", "relu", "tanh", "sigmoid"]
TAU_SUPPORTED, TAU_NOT_SUPPORTED = 0.8, 0.2


def ranking(evidence: Evidence, out: Path) -> ClaimResult:
    if missing := _missing(evidence):
        return missing
    selected = select_learning_rate(evidence.finished(), [TASK, "activation"])
    wide = selected.pivot_table(index=[TASK, "seed"], columns="activation", values="test_accuracy")
    ranks = wide.rank(axis=1, ascending=False)
    mean_rank = ranks.mean().sort_values()
    figures.rank_heatmap(selected, mean_rank, out)
    measured = [a for a in mean_rank.index if a in ARTICLE_RANKING]
    numbers = [f"mean rank (1 = best, over {len(wide)} task × seed blocks): "
               + ", ".join(f"{a} {r:.2f}" for a, r in mean_rank.items())]
    for task, group in selected.groupby(TASK):
        medians = group.groupby("activation")["test_accuracy"].median().sort_values(ascending=False)
        numbers.append(f"{task}: " + " > ".join(f"{a} {v:.3f}" for a, v in medians.items()))
    if len(measured) < len(ARTICLE_RANKING):
        return ClaimResult(INCONCLUSIVE, "test accuracy ranks", numbers, ["Some of the article's six functions have no runs."], out)
    tau = kendall_tau(ARTICLE_RANKING, measured)
    p = friedman(wide[ARTICLE_RANKING].to_numpy())
    numbers.append(f"article order {' > '.join(ARTICLE_RANKING)}; measured {' > '.join(measured)}; Kendall τ = {tau:.2f}; "
                   f"Friedman p = {p:.3g}" if math.isfinite(p) else f"Kendall τ = {tau:.2f}; Friedman test needs ≥ 2 blocks")
    if not math.isfinite(p) or p >= ALPHA:
        verdict = INCONCLUSIVE
    elif tau >= TAU_SUPPORTED:
        verdict = SUPPORTED
    elif tau <= TAU_NOT_SUPPORTED:
        verdict = NOT_SUPPORTED
    else:
        verdict = MIXED
    notes = [f"Rule: if the Friedman test finds the six functions' test accuracies different (p < {ALPHA}), Kendall's τ between "
             f"the article's order and the measured mean-rank order decides: ≥ {TAU_SUPPORTED} supported, ≤ {TAU_NOT_SUPPORTED} "
             "not supported, between: mixed; otherwise inconclusive.",
             "The article's order is a textbook rule of thumb; its sources do not measure it."]
    if verdict != SUPPORTED:
        notes.append(f"In plain words: the measured order of the article's six is {' > '.join(measured)}, not "
                     f"{' > '.join(ARTICLE_RANKING)}; {mean_rank.index[0]} ranks best of all {len(mean_rank)}.")
    return ClaimResult(verdict, "test accuracy, each function at its validation-selected learning rate, ranked per task and seed",
                       numbers, notes, out)


# --- claim 6 -----------------------------------------------------------------------------------
SLOWER = 1.05  # at least 5% slower, with the interval above 1


def inference_speed(evidence: Evidence, out: Path) -> ClaimResult:
    if missing := _missing(evidence):
        return missing
    finished = evidence.finished()
    wide = finished.pivot_table(index=["model", "seed"], columns="activation", values="inference_ms")
    ratios = wide.div(wide["relu"], axis=0)
    figures.latency_ratios(ratios, out)
    numbers, slower = [], {}
    for model, group in ratios.groupby(level="model"):
        for act in group.columns:
            est = median_ci(group[act])
            numbers.append(f"{model}: {act} / relu forward-pass time = {est}")
            if act == "elu":
                slower[model] = est.median >= SLOWER and est.low > 1.0
    if not slower:
        verdict = INCONCLUSIVE
    elif all(slower.values()):
        verdict = SUPPORTED
    elif any(slower.values()):
        verdict = MIXED
    else:
        verdict = NOT_SUPPORTED
    notes = [f"Rule: ELU counts as slower on a model when its median time ratio to ReLU is ≥ {SLOWER} and the interval's "
             "lower end is above 1; supported if so on every model.",
             "The ELU paper (Clevert et al. 2016) measured slower *training*, never test time. On a CPU the activation is "
             "a small share of a dense network's time next to the matrix products.",
             "In plain words: ELU's forward pass is measurably slower than ReLU's on "
             + (", ".join(m for m, v in slower.items() if v) or "no network")
             + (" but not on " + ", ".join(m for m, v in slower.items() if not v) if not all(slower.values()) else "")
             + "; each job ran alone on the machine, timing with one TensorFlow thread."]
    return ClaimResult(verdict, "median time of a compiled forward pass over 1,024 inputs, as a ratio to ReLU, paired by seed",
                       numbers, notes, out)


# --- claim 7 -----------------------------------------------------------------------------------
MEAN_TOLERANCE = 0.25
STD_RANGE = (0.75, 1.33)
CONDITION = "+experiment/selu_condition"


def _normalized(layers: pd.DataFrame) -> bool:
    return bool((layers["act_mean"].abs() <= MEAN_TOLERANCE).all()
                and layers["act_std"].between(*STD_RANGE).all())


def selu_self_normalization(evidence: Evidence, out: Path) -> ClaimResult:
    if missing := _missing(evidence):
        return missing
    frames = []
    for _, run in evidence.finished().iterrows():
        layers = evidence.layers(run["run_id"])
        last = layers["step"].max()
        for when, step in (("at init", 0), ("after training", last)):
            frame = layers[layers["step"] == step].assign(condition=run[CONDITION], when=when, seed=run["seed"])
            frames.append(frame)
    layers = pd.concat(frames)
    medians = layers.groupby(["condition", "when", "layer"])[["act_mean", "act_std"]].median().reset_index()
    figures.selu_layers(medians, out)
    ok = {(c, w): _normalized(g) for (c, w), g in medians.groupby(["condition", "when"])}
    numbers = []
    for (condition, when), group in medians.groupby(["condition", "when"]):
        numbers.append(f"{condition} {when}: mean in [{group['act_mean'].min():.2f}, {group['act_mean'].max():.2f}], "
                       f"std in [{group['act_std'].min():.2f}, {group['act_std'].max():.2f}] over {group['layer'].max()} layers "
                       f"→ {'normalized' if ok[(condition, when)] else 'not normalized'}")
    claim_init, claim_end = ok.get(("selu_lecun", "at init")), ok.get(("selu_lecun", "after training"))
    controls = [c for c in medians["condition"].unique() if c != "selu_lecun"]
    controls_fail = any(not ok[(c, "at init")] or not ok[(c, "after training")] for c in controls)
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
             "training and at least one negative control is not; mixed when it holds at init only, or no control breaks it."]
    if claim_init and not claim_end:
        notes.append("The data disagree with the article's 'during training': the fixed point holds at initialization, "
                     "but trained weights are no longer LeCun-normal and the statistics drift away from (0, 1).")
    return ClaimResult(verdict, "per-layer mean and std of activations on the probe batch, median over seeds", numbers, notes, out)


# --- claim 9 -----------------------------------------------------------------------------------
def leaky_slope(evidence: Evidence, out: Path) -> ClaimResult:
    if missing := _missing(evidence):
        return missing
    finished = evidence.finished().copy()
    finished["slope"] = _col(finished, "activation.negative_slope")
    blocks = _blocks(finished)
    wide = finished.pivot_table(index=blocks, columns="slope", values="test_accuracy")
    p = friedman(wide.to_numpy())
    figures.points_by_task(finished.assign(activation=finished["slope"].map(lambda s: f"slope {s:g}")),
                           ["test_accuracy"], out, title="Claim 9: Leaky ReLU's negative slope")
    medians = {s: median_ci(wide[s]) for s in wide.columns}
    numbers = [f"slope {s:g}: test accuracy {est}" for s, est in medians.items()]
    numbers.append(f"Friedman test across slopes over {len(wide)} task × seed blocks: p = {p:.3g}" if math.isfinite(p)
                   else "Friedman test: too few blocks")
    default = 0.3
    best = max(medians, key=lambda s: medians[s].median)
    if not math.isfinite(p):
        verdict = INCONCLUSIVE
    elif p >= ALPHA or medians[best].median - medians[default].median <= 0.005:
        verdict = SUPPORTED
    else:
        verdict = NOT_SUPPORTED
    notes = [f"Rule: supported when the slopes do not differ significantly (Friedman p ≥ {ALPHA}) or the default {default} is within "
             "0.5 percentage points of the best slope's median; otherwise not supported (tuning pays).",
             "Keras 3 has two defaults: the LeakyReLU layer uses 0.3, keras.activations.leaky_relu uses 0.2."]
    return ClaimResult(verdict, "test accuracy by negative slope at Adam's default learning rate, blocks = task × seed", numbers, notes, out)


# --- claim 10 ----------------------------------------------------------------------------------
def formulas(evidence: Evidence, out: Path) -> ClaimResult:
    from actlab.gallery import check_article_values, gallery, keras3_leaky_alpha

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
              "ELU converges faster than ReLU and its variants and ends more accurate.", elu_converges_faster),
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
