"""Claim 8's rule: the article's ranking against mean test-accuracy ranks over task × seed blocks."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from actlab import figures
from actlab.claims.base import (
    INCONCLUSIVE,
    MIXED,
    NOT_SUPPORTED,
    SUPPORTED,
    TASK,
    Analysis,
    ChallengerView,
    ClaimResult,
    Evidence,
    collapsed_runs,
    judge,
    select_learning_rate,
    selected_table,
)
from actlab.figures import plt
from actlab.reporting.literature import Harness, from_comparison, pair
from actlab.stats import ALPHA, friedman, holm, kendall_tau, kendall_w, page, paired


@dataclass(frozen=True)
class Ranking:
    selected: pd.DataFrame  # each function's runs at its validation-selected learning rate per task
    mean_rank: pd.Series  # activation -> mean test-accuracy rank over task × seed blocks, best first
    tau: float | None = None  # Kendall's τ between the article's order and the measured one
    pairs: dict | None = None  # (a, b) adjacent in the article's order -> a − b comparison (descriptive, uncorrected)


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
        shown = [(a, f"{v:.3f}") for a, v in medians.items()]  # equal at the shown precision: "=", not ">"
        numbers.append(f"{task}: " + shown[0][0] + " " + shown[0][1] + "".join(
            f" {'=' if v == before else '>'} {a} {v}" for (a, v), (_, before) in zip(shown[1:], shown)))
    numbers += [f"collapsed at its selected rate (kept: ranked last where it collapses) — {line}"
                for line in collapsed_runs(selected, [TASK, "activation"])]
    if len(measured) < len(ARTICLE_RANKING):
        return ClaimResult(INCONCLUSIVE, "test accuracy ranks", numbers, ["Some of the article's six functions have no runs."],
                           details=Ranking(selected, mean_rank))
    tau = kendall_tau(ARTICLE_RANKING, measured)
    six = wide[ARTICLE_RANKING].to_numpy()
    w = kendall_w(six)
    # The deciding tests, one Holm family: Friedman (do the six differ?) and Page's L (are they in the
    # article's order? columns from its last to its first, so the predicted trend is increasing).
    # The adjacent pairs of the article's order are descriptive: shown uncorrected, not read.
    p_friedman, p_page = holm([friedman(six), page(six[:, ::-1])])
    pairs = {(a, b): paired(wide[a], wide[b]) for a, b in zip(ARTICLE_RANKING, ARTICLE_RANKING[1:])}
    blocks = len(wide[ARTICLE_RANKING].dropna())
    numbers.append(f"article order {' > '.join(ARTICLE_RANKING)}; measured {' > '.join(measured)}; Kendall τ = {tau:.2f}; "
                   + (f"Friedman p = {p_friedman:.3g} (Kendall's W = {w:.2f}), Page's L p = {p_page:.3g} for the article's order; "
                      f"Holm over both, {blocks} blocks" if math.isfinite(p_friedman) else "Friedman test needs ≥ 2 blocks"))
    numbers += [f"{a} − {b} (the article says >; descriptive, uncorrected): {c}" for (a, b), c in pairs.items()]
    if not math.isfinite(p_friedman) or p_friedman >= ALPHA:
        verdict = INCONCLUSIVE
    elif p_page < ALPHA and tau >= TAU_SUPPORTED:
        verdict = SUPPORTED
    elif tau <= TAU_NOT_SUPPORTED:
        verdict = NOT_SUPPORTED
    else:
        verdict = MIXED
    notes = [f"Rule: two deciding tests over task × seed blocks, Holm-adjusted together: Friedman's (do the six functions' "
             f"test accuracies differ?) and Page's L (are they in the article's order?). Functions that do not differ: "
             f"inconclusive. Supported when Page's test passes and Kendall's τ between the article's order and the measured "
             f"mean-rank order is ≥ {TAU_SUPPORTED}; not supported when τ ≤ {TAU_NOT_SUPPORTED}; otherwise mixed. The "
             "adjacent-pair tests are shown with their effect sizes (r_rb, the matched-pairs rank-biserial correlation); the "
             "verdict does not count them.",
             "The article's order is a textbook rule of thumb; its sources do not measure it."]
    if verdict != SUPPORTED:
        notes.append(f"In plain words: the measured order of the article's six is {' > '.join(measured)}, not "
                     f"{' > '.join(ARTICLE_RANKING)}; {mean_rank.index[0]} ranks best of all {len(mean_rank)}.")
    tests = {"friedman": f"Holm p = {p_friedman:.3g}, Kendall's W = {w:.2f}, n = {blocks} blocks",
             "page": f"Holm p = {p_page:.3g} for the article's order, Kendall's τ = {tau:.2f}, n = {blocks} blocks"}
    return ClaimResult(verdict, "test accuracy, each function at its validation-selected learning rate, ranked per task and seed",
                       numbers, notes, details=Ranking(selected, mean_rank, tau, pairs), tests=tests)


def _draw_ranking(evidence: Evidence, selected: pd.DataFrame, out: Path) -> None:
    wide = selected.pivot_table(index=[TASK, "seed"], columns="activation", values="test_accuracy")
    rank_heatmap(selected, wide.rank(axis=1, ascending=False).mean().sort_values(), out)


analysis = Analysis(selected_table, ranking_rule, _draw_ranking)




# --- the literature rows this claim answers (claim.literature in its YAML) -----------------------
def _tasks_by_depth(selected: pd.DataFrame) -> list[tuple[int, str]]:
    """Dense (MLP) tasks with their hidden-layer count, shallowest first (a CNN task, whose model
    takes images, is left out)."""
    if TASK not in selected or "model.depth" not in selected:
        return []
    dense = selected[selected.get("model.images", pd.Series("False", index=selected.index)).astype(str) != "True"]
    depths = dense.groupby(TASK)["model.depth"].agg(lambda d: int(pd.to_numeric(d, errors="coerce").median()))
    return sorted((int(d), t) for t, d in depths.items())


def klambauer(result: ClaimResult) -> Harness | None:
    """SELU − ReLU over every dense task's task × seed blocks (Klambauer et al. compare over many
    tasks, not per task; a per-task test on 3 seeds cannot reach significance), the tasks named."""
    selected = result.details.selected
    dense = [task for _, task in _tasks_by_depth(selected)]
    c = pair(selected, "selu", "relu", tasks=dense)
    if c is None or not c.n:
        return None
    pooled = from_comparison(c, f"SELU − ReLU test accuracy over {c.n} dense task × seed blocks ({', '.join(dense)})")
    return replace(pooled, text=pooled.text + " (no batch-norm runs in the claims' sweeps; `model.batch_norm=true` exists)")


# Mishkin et al.'s CaffeNet-128 ImageNet top-1 accuracies without batch norm (the benchmark's
# Activations.md); VLReLU is y = max(x, x/3), i.e. a leaky ReLU of slope 0.33, close to Keras's 0.3.
MISHKIN_TOP1 = {"elu": 0.488, "prelu": 0.485, "relu": 0.471, "selu": 0.470, "leaky_relu": 0.469, "tanh": 0.401}
# Kendall's τ below this in size is no agreement in order either way (this claim's own "not supported" line).
TAU_SAME_ORDER = 0.2


def mishkin(result: ClaimResult) -> Harness | None:
    common = [a for a in result.details.mean_rank.index if a in MISHKIN_TOP1]
    if len(common) < 3:
        return None
    tau = kendall_tau(sorted(common, key=lambda a: -MISHKIN_TOP1[a]), common)
    return Harness(f"mean-rank order of the shared functions: {' > '.join(common)}; Kendall τ with the published order = {tau:.2f}",
                   int(np.sign(tau)) if abs(tau) >= TAU_SAME_ORDER else 0, None)


def swish(result: ClaimResult) -> Harness | None:
    return from_comparison(pair(result.details.selected, "swish", "relu"), "swish − relu test accuracy")


# --- a new function in the field (its challenger report) ----------------------------------------
def rank_estimates(evidence: Evidence) -> pd.DataFrame:
    """Mean test-accuracy rank of every function over task × seed blocks (this claim's protocol:
    each function at its validation-selected learning rate), with a bootstrap interval over blocks."""
    selected = select_learning_rate(evidence.finished(), [TASK, "activation"])
    wide = selected.pivot_table(index=[TASK, "seed"], columns="activation", values="test_accuracy").dropna()
    ranks = wide.rank(axis=1, ascending=False)
    rng = np.random.default_rng(0)
    boots = np.array([ranks.iloc[rng.integers(0, len(ranks), len(ranks))].mean().to_numpy() for _ in range(2000)])
    table = pd.DataFrame({"mean_rank": ranks.mean(), "low": np.percentile(boots, 2.5, axis=0),
                          "high": np.percentile(boots, 97.5, axis=0)}, index=ranks.columns)
    return table.sort_values("mean_rank").assign(blocks=len(ranks))


def challenger(claim, name: str, evidence: Evidence, figures_dir: Path, dirs: list[Path]) -> ChallengerView:
    """The claim's rule with the new function among the others, and where it ranks."""
    result = judge(claim, evidence, figures_dir / f"{name}_{claim.name}_heatmap.png")
    ranks = rank_estimates(evidence)
    numbers = [n for n in result.numbers if name in n] or result.numbers
    if name in ranks.index:
        row = ranks.loc[name]
        numbers.insert(0, f"{name}: mean rank {row['mean_rank']:.2f} [{row['low']:.2f}, {row['high']:.2f}] of {len(ranks)} "
                          f"functions over {int(row['blocks'])} task × seed blocks: place {list(ranks.index).index(name) + 1}")
    figure = figures_dir / f"{name}_ranking.png"
    rank_intervals(ranks, name, figure)
    return ChallengerView(result.verdict, f"the claim's rule with {name} among the functions", numbers, figure, result.stability)


# --- the claim's figure -------------------------------------------------------------------------
HEATMAP_FLOOR = -5.0  # percentage points below the task's best where the colour scale stops


def rank_heatmap(selected, mean_rank, path: Path) -> None:
    """Each cell: median test accuracy and its distance to the task's best function, coloured by that
    distance (clipped at HEATMAP_FLOOR points, so one collapsed function does not flatten the scale)."""

    table = selected.pivot_table(index="activation", columns="task", values="test_accuracy", aggfunc="median")
    table = table.loc[mean_rank.index]
    behind = (table - table.max(axis=0)) * 100  # percentage points behind the task's best (0 = best)
    fig, ax = plt.subplots(figsize=(2.4 * table.shape[1] + 3.5, 0.55 * len(table) + 1.8))
    cmap = plt.get_cmap("cividis")  # perceptually uniform, colour-blind-safe, monotone in grey
    image = ax.imshow(behind.clip(lower=HEATMAP_FLOOR).to_numpy(), cmap=cmap, vmin=HEATMAP_FLOOR, vmax=0, aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=20, ha="right")
    ax.set_yticks(range(len(table)), [f"{a} (mean rank {mean_rank[a]:.1f})" for a in table.index])
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            gap = behind.iat[i, j]
            shade = (max(gap, HEATMAP_FLOOR) - HEATMAP_FLOOR) / -HEATMAP_FLOOR  # 0 dark .. 1 light
            text = f"{table.iat[i, j]:.3f}\n" + ("best" if gap == 0 else f"{gap:+.1f} pt")
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if shade > 0.5 else "white")
    bar = fig.colorbar(image, label=f"points behind the task's best (clipped at {HEATMAP_FLOOR:g})")
    bar.ax.tick_params(labelsize=8)
    figures.save(fig, path, "Claim 8: median test accuracy per task and distance to the task's best; functions by mean rank")


def rank_intervals(ranks, highlight: str, path: Path) -> None:
    """Mean rank of every function (1 = best) with its 95% interval, `highlight` in its own colour."""
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(ranks) + 1.5))
    for y, (name, row) in enumerate(ranks.iterrows()):
        look = figures.style(highlight) if name == highlight else {"color": "0.45", "marker": "o"}
        ax.errorbar(row["mean_rank"], y, xerr=[[row["mean_rank"] - row["low"]], [row["high"] - row["mean_rank"]]],
                    fmt=look["marker"], color=look["color"], capsize=3, markersize=10 if name == highlight else 6,
                    label=highlight if name == highlight else None)
    ax.set_yticks(range(len(ranks)), ranks.index)
    ax.invert_yaxis()
    ax.set_xlabel("mean rank of test accuracy (1 = best), 95% interval over task × seed blocks")
    ax.grid(alpha=0.3)
    figures.save(fig, path, f"Where {highlight} ranks (claim 8's protocol)")


# --- a run's and a sweep's figures in MLflow ---------------------------------------------------
