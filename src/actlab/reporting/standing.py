"""Where does a new function stand? The challenger report's bottom line and its verdicts about it.

Each answer reads one claim's runs (the same tables its rule reads, through the claim's own
`prepare`) and says one thing about the new function, beside the field:
- rank and pairwise tests: claim 8's protocol (test accuracy at each function's validation-picked
  learning rate), the new function against every other, paired by task × seed, one-sided Wilcoxon
  tests, Holm over all of them (both directions of each comparison);
- gradient across depth: claim 1's first/last gradient-norm ratio at the deepest plain stack;
- dying units: claim 3's dead share per learning rate, beside ReLU's, with the accuracies;
- self-normalization: claim 7's rule with the new function and its suggested initializer;
- inference cost: claim 6's forward-pass time as a ratio to ReLU's, paired by block;
- learning-rate sensitivity: the tuning runs of claims 5 and 8 (accuracy per rate), beside ReLU's
  and the best-ranked function's.
Accuracy differences are in percentage points, times are ratios, in the text and in the figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from actlab import figures
from actlab.claims.base import TASK, Claim, Evidence, finished_rows, numeric, select_learning_rate, with_collapse
from actlab.stats import ALPHA, Comparison, holm_family, median_ci, paired, smallest_p

VANISH, EXPLODE = 0.1, 10.0  # first/last gradient-norm ratio below: vanishing (claim 1's line); above: exploding
DEAD_NONE = 0.05  # claim 3's "no dead units" line


@dataclass
class Answer:
    """One question about the new function: a sentence for the bottom line, a short cell for the
    claims table, the design's reach (n, smallest p), and figures."""

    sentence: str
    cell: str = ""
    n: str = ""
    floor: float | None = None
    figures: list[Path] = field(default_factory=list)
    comparisons: dict[str, Comparison] = field(default_factory=dict)  # claim 8: name − rival, Holm-adjusted


def points(c: Comparison) -> str:
    """A paired accuracy difference in percentage points: `+0.73 pt [0.29, 2.68]`."""
    d = c.difference
    if d.n == 0:
        return "n/a"
    return f"{d.median * 100:+.2f} pt [{d.low * 100:+.2f}, {d.high * 100:+.2f}]"


def blocks_text(table: pd.DataFrame) -> str:
    """`3 tasks × 2 seeds = 6 blocks` from a table's task and seed columns."""
    parts = [c for c in (TASK, "seed") if c in table]
    if not parts or table.empty:
        return "no runs"
    counts = {c: table[c].nunique() for c in parts}
    n = len(table[parts].drop_duplicates())
    named = {TASK: "task", "seed": "seed"}
    return " × ".join(f"{k} {named[c]}{'s' if k != 1 else ''}" for c, k in counts.items()) + f" = {n} block{'s' if n != 1 else ''}"


# --- rank and pairwise tests (claim 8's protocol) -------------------------------------------------
def accuracy_table(claim: Claim, evidence: Evidence) -> pd.DataFrame:
    """Task × seed blocks by function: test accuracy at each function's validation-picked rate."""
    selected = claim.analyze.prepare(evidence) if hasattr(claim.analyze, "prepare") else select_learning_rate(
        with_collapse(evidence.finished()), [TASK, "activation"])
    index = [c for c in (TASK, "seed") if c in selected]
    return selected.pivot_table(index=index, columns="activation", values="test_accuracy")


def rank_and_pairs(name: str, wide: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, Comparison], float]:
    """Mean ranks with 95% bootstrap intervals over blocks, the Holm-adjusted pairwise comparisons
    (name − rival), and the smallest Holm-adjusted p those comparisons can reach with these blocks."""
    complete = wide.dropna()
    ranks = complete.rank(axis=1, ascending=False)
    rng = np.random.default_rng(0)
    boots = np.array([ranks.iloc[rng.integers(0, len(ranks), len(ranks))].mean().to_numpy() for _ in range(2000)]) if len(ranks) else None
    table = pd.DataFrame({"mean_rank": ranks.mean(),
                          "low": np.percentile(boots, 2.5, axis=0) if boots is not None else np.nan,
                          "high": np.percentile(boots, 97.5, axis=0) if boots is not None else np.nan}, index=ranks.columns)
    rivals = [a for a in wide.columns if a != name]
    comparisons = holm_family({rival: paired(wide[name], wide[rival]) for rival in rivals}) if name in wide else {}
    n = int(wide[name].notna().sum()) if name in wide else 0
    floor = min(1.0, 2 * len(rivals) * smallest_p("signed_rank", n)) if rivals else 1.0
    return table.sort_values("mean_rank"), comparisons, floor


def ranking(name: str, claim: Claim, evidence: Evidence, figures_dir: Path) -> Answer | None:
    wide = accuracy_table(claim, evidence)
    if name not in wide or wide[name].notna().sum() == 0:
        return None
    ranks, comparisons, floor = rank_and_pairs(name, wide)
    place = list(ranks.index).index(name) + 1 if name in ranks.index else None
    row = ranks.loc[name] if name in ranks.index else None
    better = [(r, c) for r, c in comparisons.items() if c.direction == 1]
    worse = [(r, c) for r, c in comparisons.items() if c.direction == -1]
    level = [r for r, c in comparisons.items() if c.direction == 0]
    n = blocks_text(wide.reset_index())
    text = (f"On claim 8's protocol (test accuracy, each function at its validation-picked learning rate; {n}) it ranks "
            f"**{place} of {len(ranks)}**, mean rank {row['mean_rank']:.2f} [{row['low']:.2f}, {row['high']:.2f}]. "
            if row is not None else f"It has no complete block in claim 8's runs ({n}). ")
    family = 2 * len(comparisons)
    text += f"Paired against each of the {len(comparisons)} other functions (one-sided Wilcoxon by task × seed, Holm over {family} tests): "
    parts = []
    if better:
        parts.append("significantly **better** than " + ", ".join(f"{r} ({points(c)})" for r, c in better))
    if worse:
        parts.append("significantly **worse** than " + ", ".join(f"{r} ({points(c)})" for r, c in worse))
    if level:
        parts.append(("no significant difference from " if parts else "no significant difference from any: ") + ", ".join(level))
    text += "; ".join(parts) + "."
    if floor >= ALPHA:
        text += (f" With these blocks no pairwise test can reach p < {ALPHA} after the correction (its smallest p is {floor:.2g}): the design cannot "
                 "tell it from any function here, whatever the data (the full profile can).")
    figure = figures_dir / f"{name}_pairwise.png"
    pairwise_figure(name, comparisons, figure)
    def count(n: int) -> str:
        return str(n) if n else "none"

    against = (f"significantly better than {count(len(better))} and worse than {count(len(worse))} of the others"
               if better or worse else "not significantly better or worse than any other")
    cell = f"rank {place} of {len(ranks)}, {against} (Holm)" if place else "no runs in claim 8"
    return Answer(text, cell, n, floor, [figure], comparisons)


def pairwise_figure(name: str, comparisons: dict[str, Comparison], path: Path) -> None:
    """Each comparison name − rival in points (median, 95% CI), filled where Holm finds it significant."""
    plt = figures.plt
    rivals = sorted(comparisons, key=lambda r: -comparisons[r].difference.median if comparisons[r].difference.n else 0)
    fig, ax = plt.subplots(figsize=(7, 0.42 * len(rivals) + 1.6))
    look = figures.style(name)
    for y, rival in enumerate(rivals):
        d = comparisons[rival].difference
        if d.n == 0:
            continue
        significant = comparisons[rival].direction != 0
        ax.errorbar(d.median * 100, y, xerr=[[(d.median - d.low) * 100], [(d.high - d.median) * 100]], fmt=look["marker"],
                    color=look["color"], markerfacecolor=look["color"] if significant else "white", markersize=9, capsize=3,
                    zorder=look.get("zorder", 2))
    ax.errorbar([], [], fmt=look["marker"], color=look["color"], label=f"{name} − rival (filled: Holm-significant)")
    ax.axvline(0, color="black", linestyle=":")
    ax.set_yticks(range(len(rivals)), rivals)
    ax.invert_yaxis()
    ax.set_xlabel(f"test accuracy, {name} − rival (points; median, 95% CI over task × seed blocks)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    figures.save(fig, path, f"{name} against every function, paired (claim 8's protocol)")


# --- gradients across depth (claim 1) -------------------------------------------------------------
def gradients(name: str, claim: Claim, evidence: Evidence) -> Answer | None:
    """Its first/last gradient-norm ratio at the plain stack's deepest depth, per initializer,
    against the claim's own vanishing and exploding lines."""
    ratios = claim.analyze.prepare(evidence)
    if ratios.empty or "ratio" not in ratios:
        return None
    vanish = float(getattr(claim.module, "VANISH_RATIO", VANISH))
    explode = float(getattr(claim.module, "EXPLODE_RATIO", EXPLODE))
    plain = ratios[ratios["model"] != "resmlp"] if "model" in ratios else ratios
    mine = plain[plain["activation"] == name]
    if mine.empty:
        return None
    deepest = int(mine["depth"].max())
    at = mine[mine["depth"] == deepest]
    if "initializer" not in at:
        at = at.assign(initializer="its initializer")

    def word(e):
        return "n/a" if e.n == 0 else "vanishes" if e.median < vanish else "explodes" if e.median > explode else "is kept"

    parts, words = [], []
    for init, group in at.groupby("initializer"):
        start = median_ci(group[group["when"] == "at init"]["ratio"])
        after = median_ci(group[(group["when"] == "after training") & ~group["collapsed"].astype(bool)]["ratio"])
        relu = median_ci(plain[(plain["activation"] == "relu") & (plain["depth"] == deepest) & (plain["when"] == "at init")
                               & (plain.get("initializer", init) == init)]["ratio"])
        words.append(word(start))
        parts.append(f"{init}: {start} at init, {after} after training (ReLU's at init {relu}) → {word(start)}")
    kept = all(w == "is kept" for w in words)
    summary = "neither vanishes nor explodes" if kept else " / ".join(sorted(set(words))) + " with some initializer"
    text = (f"Its gradient {summary} with depth: the first/last gradient-norm ratio at {deepest} layers, "
            f"{'; '.join(parts)} (vanishing below {vanish:g}, exploding above {explode:g}).")
    cell = "gradient kept at depth with every initializer" if kept else "gradient: " + "; ".join(p.split(" (ReLU")[0] for p in parts)
    return Answer(text, cell, blocks_text(at.drop_duplicates("seed")))


# --- dying units at large learning rates (claim 3) -----------------------------------------------
def dying(name: str, claim: Claim, evidence: Evidence) -> Answer | None:
    table = claim.analyze.prepare(evidence)
    finished = finished_rows(table)
    if finished.empty or "dead_share" not in finished or not (finished["activation"] == name).any():
        return None
    parts, dies, collapses = [], [], []
    for lr in sorted(finished["lr"].dropna().unique()):
        at = finished[finished["lr"] == lr]
        cells = []
        for act in dict.fromkeys([name, "relu"]):
            runs = at[at["activation"] == act]
            if runs.empty:
                continue
            learned = runs[~runs["collapsed"].astype(bool)]
            dead = median_ci(learned["dead_share"])
            accuracy = numeric(runs, "best_val_accuracy").median()
            share = "n/a (collapsed)" if 2 * len(learned) <= len(runs) else f"{dead.median:.0%}"
            cells.append(f"{act} {share} dead, accuracy {accuracy:.3f}")
            if act == name and 2 * len(learned) > len(runs) and dead.median >= DEAD_NONE:
                dies.append(f"{lr:g}")
            if act == name and 2 * len(learned) <= len(runs):
                collapses.append(f"{lr:g}")
        parts.append(f"lr {lr:g}: " + ", ".join(cells))
    text = ("Its units " + (f"**die** at learning rate {', '.join(dies)}" if dies else "do not die at any learning rate where it learns")
            + (f"; at learning rate {', '.join(collapses)} its networks do not learn at all (collapsed: their dead units say nothing)"
               if collapses else "")
            + " (dead share: median over runs that learn; best validation accuracy: median over all) — " + "; ".join(parts) + ".")
    cell = (f"dead ≥ {DEAD_NONE:.0%} at lr {', '.join(dies)}" if dies else f"no dead units (< {DEAD_NONE:.0%}) where it learns") + (
        f", and its networks collapse at lr {', '.join(collapses)}" if collapses else "")
    return Answer(text, cell, blocks_text(finished[finished["activation"] == name].drop_duplicates("seed")))


# --- claim 5 in ELU's place: the paired differences in points -------------------------------------
def in_elus_place(name: str, claim: Claim, evidence: Evidence, result) -> Answer | None:
    """Claim 5's deciding comparisons (Holm-adjusted by its rule) with the new function in ELU's
    place, as accuracy differences in points."""
    tests = {k: c for k, c in (result.tests or {}).items() if isinstance(c, Comparison) and c.n}
    if not tests:
        return None
    parts = []
    for key, c in tests.items():
        rival, _, metric = key.rpartition("_")
        what = "speed (mean validation accuracy over epochs)" if metric == "speed" else "test accuracy"
        verdict = "ahead" if c.direction == 1 else "behind" if c.direction == -1 else "no significant difference"
        parts.append(f"vs {rival}, {what}: {points(c)} ({verdict}, Holm p(>0) = {c.p_greater:.2g})")
    return Answer("In ELU's place on claim 5 (each function at its picked learning rate, paired by task × seed): "
                  + "; ".join(parts) + ".", "", blocks_text(evidence.finished()))


# --- inference cost relative to ReLU (claim 6) ----------------------------------------------------
def inference(name: str, claim: Claim, evidence: Evidence) -> Answer | None:
    """Its time over ReLU's per level (the activation alone, each network), paired by round of the
    interleaved timing sessions in which ReLU, ELU and it were timed (claim 6's own estimate)."""
    module = claim.module
    if not hasattr(module, "_timings"):
        return None
    table = module._timings(evidence)
    if table.empty or name not in set(table["function"]):
        return None
    wides = module.wide_levels(table)
    mine, elu = module.ratios(wides, name), module.ratios(wides, "elu")
    parts = [f"{module._level_label(level)} {r.estimate.median:.2f}× [{r.estimate.low:.2f}, {r.estimate.high:.2f}]"
             + (f" (ELU {elu[level].estimate.median:.2f}×)" if level in elu and elu[level].estimate.n >= 2 else "")
             for level, r in mine.items() if r.estimate.n >= 2]
    if not parts:
        return None
    sessions = table[["model", "seed"]].drop_duplicates()
    text = (f"Its inference time relative to ReLU's, timed in the same sessions interleaved with ReLU and ELU "
            f"({len(sessions)} sessions, geometric mean of the sessions' per-round ratios, {module.CI:.0%} interval): " + "; ".join(parts) + ".")
    first = next(iter(r for r in mine.values() if r.estimate.n >= 2))
    rounds = int(table["round"].nunique())
    return Answer(text, f"{first.estimate.median:.2f}× ReLU's inference time (activation alone)", f"{len(sessions)} sessions × {rounds} rounds")


# --- learning-rate sensitivity (the tuning runs of claims 5 and 8) -------------------------------
def sensitivity(name: str, evidences: list[Evidence], best: str | None, figures_dir: Path) -> Answer | None:
    tunings = [e.tuning for e in evidences if e.tuning is not None and not e.tuning.empty]
    if not tunings:
        return None
    runs = finished_rows(pd.concat(tunings, ignore_index=True).drop_duplicates("fingerprint"))
    lr = "optimizer.learning_rate"
    if runs.empty or lr not in runs or not (runs["activation"] == name).any():
        return None
    runs = runs.assign(lr=numeric(runs, lr), accuracy=numeric(runs, "best_val_accuracy"))
    shown = list(dict.fromkeys([name, "relu", *([best] if best else [])]))
    curves = {act: runs[runs["activation"] == act].groupby("lr")["accuracy"].median() for act in shown if (runs["activation"] == act).any()}

    def spread(curve):
        return (curve.max() - curve.min()) * 100

    text = ("Learning-rate sensitivity (tuning runs of claims 5 and 8, median best validation accuracy per rate): "
            + "; ".join(f"{act} " + ", ".join(f"{r:g}: {v:.3f}" for r, v in curve.items()) + f" (range {spread(curve):.1f} pt)"
                        for act, curve in curves.items()) + ".")
    figure = figures_dir / f"{name}_learning_rate.png"
    plt = figures.plt
    fig, ax = plt.subplots(figsize=(7, 4))
    for act in curves:
        group = runs[runs["activation"] == act]
        xs = sorted(group["lr"].dropna().unique())
        figures.median_band(ax, xs, {v: group[group["lr"] == v]["accuracy"] for v in xs},
                            act + (" (best-ranked)" if act == best and act != name else ""), **figures.style(act))
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (tuning grid)")
    ax.set_ylabel("best validation accuracy (median, 95% CI)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    figures.save(fig, figure, f"{name}: accuracy against the learning rate, beside ReLU" + (f" and {best}" if best and best != name else ""))
    cell = f"accuracy range {spread(curves[name]):.1f} pt over the grid (ReLU {spread(curves['relu']):.1f} pt)" if "relu" in curves else ""
    return Answer(text, cell, blocks_text(runs[runs["activation"] == name]), None, [figure])


# --- a paper's published result beside the harness's (literature/NAME.yaml in a config folder) ----
PUBLISHED_KEYS = {"paper", "source", "setting", "number", "versus", "published_points"}


def published(name: str, dirs: list[Path], ranking_answer: Answer | None) -> list[str]:
    """A table: each published row (NAME − `versus`, in accuracy points) beside the harness's paired
    difference on claim 8's protocol, with its Holm-adjusted test; [] without a literature file."""
    from omegaconf import OmegaConf

    from actlab.pipeline.config import option_file

    path = option_file("literature", name, dirs)
    if path is None:
        return []
    rows = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
    if not isinstance(rows, list) or any(not isinstance(r, dict) or set(r) - PUBLISHED_KEYS for r in rows):
        raise ValueError(f"{path}: a list of rows with the keys {', '.join(sorted(PUBLISHED_KEYS))}")
    comparisons = ranking_answer.comparisons if ranking_answer is not None else {}
    lines = ["| Paper | Setting | Published | Published {0} − rival | Harness: {0} − rival (claim 8's protocol) | Same sign? |".format(name),
             "|---|---|---|---|---|---|"]
    for row in rows:
        c = comparisons.get(row["versus"])
        harness = f"{points(c)}, Holm p(>0) = {c.p_greater:.2g}, p(<0) = {c.p_less:.2g}" if c is not None and c.n else "no runs"
        same = "—" if c is None or not c.n else ("yes" if np.sign(c.difference.median) == np.sign(row["published_points"]) else "no") + (
            "" if c.direction else " (not significant here)")
        lines.append(f"| {row['paper']} ({row['source']}) | {row['setting']} | {row['number']} | "
                     f"{row['published_points']:+.1f} pt vs {row['versus']} | {harness} | {same} |")
    return lines


def finite(x) -> bool:
    return x is not None and isinstance(x, float) and math.isfinite(x)
