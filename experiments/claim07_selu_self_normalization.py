"""Claim 7's rule: every layer's mean and std under SELU's conditions and their negative controls, trained
in two arms (Adam; Géron's SGD recipe), beside each layer's weight moments ω and τ."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from actlab import figures
from actlab.claims.base import INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, Analysis, ClaimResult, Evidence, with_collapse
from actlab.figures import plt
from actlab.reporting.literature import Harness
from actlab.stats import Comparison, holm_family, median_ci, paired


@dataclass(frozen=True)
class Conditions:
    normalized: dict  # (condition, "at init" | "after training") -> every layer within the bounds
    runs: pd.DataFrame  # one row per run: condition, seed, collapsed, best_val_accuracy, final_val_accuracy
    domain: pd.DataFrame | None = None  # per SELU condition and phase: layers outside Klambauer's domain, drift by domain


MEAN_TOLERANCE = 0.25
STD_RANGE = (0.75, 1.33)
CONDITION = "selu_condition"  # the `+experiment/selu_condition=...` axis, as a column
# The two arms in which "during training" is read: the sweep's own (Adam, the profile's depth, its
# epochs) and Géron's recipe (SGD 1e-3, batch 32, 100 dense layers of 100, ≥ 8,600 steps).
ADAM_ARM, SGD_ARM = "selu_lecun", "sgd_selu_lecun"
SGD_REFERENCE = "sgd_relu_he_normal"
CONTROL = "selu_he_normal"  # the negative control read by the deciding tests (twice LeCun's variance)
# Klambauer et al.'s theorem domain for the weights (ω = Σ w_i, τ = Σ w_i², the average unit's).
OMEGA_DOMAIN = (-0.1, 0.1)
TAU_DOMAIN = (0.8, 1.5)
# The deciding tests: one Holm family (the YAML's claim.tests has these keys).
TESTS = ("init", "control", "adam_trained", "sgd_trained")
# A run's largest layer deviation counts as at least this (in units of the bounds): nearer (0, 1) says
# no more about being within them, and the log of a deviation near 0 would only add noise to the test.
DEVIATION_FLOOR = 0.1


def _normalized(layers: pd.DataFrame) -> bool:
    return bool((layers["act_mean"].abs() <= MEAN_TOLERANCE).all()
                and layers["act_std"].between(*STD_RANGE).all())


def deviation(layers: pd.DataFrame) -> pd.Series:
    """Each layer's distance from (0, 1) in units of the bounds: ≤ 1 exactly when the layer is within
    ±MEAN_TOLERANCE and STD_RANGE (whose ends are nearly symmetric in log std: −0.288, +0.285)."""
    log_std = np.log(layers["act_std"].clip(lower=1e-12))
    return np.maximum(layers["act_mean"].abs() / MEAN_TOLERANCE,
                      np.maximum(log_std / np.log(STD_RANGE[1]), log_std / np.log(STD_RANGE[0])))


def outside_domain(layers: pd.DataFrame) -> pd.Series:
    """True for layers whose weights (ω, τ) leave the domain of Klambauer et al.'s theorem."""
    return ~(layers["w_omega"].between(*OMEGA_DOMAIN) & layers["w_tau"].between(*TAU_DOMAIN))


def _layer_stats(evidence: Evidence) -> pd.DataFrame:
    frames = []
    for _, run in with_collapse(evidence.finished()).iterrows():
        layers = evidence.layers(run["run_id"])
        last = layers["step"].max()
        curve = evidence.history(run["run_id"], "val_accuracy")
        for when, step in (("at init", 0), ("after training", last)):
            frames.append(layers[layers["step"] == step].assign(
                condition=run[CONDITION], when=when, seed=run["seed"], collapsed=bool(run["collapsed"]),
                best_val_accuracy=pd.to_numeric(run.get("best_val_accuracy", np.nan), errors="coerce"),
                final_val_accuracy=float(curve[-1]) if curve else np.nan))
    return pd.concat(frames, ignore_index=True)


def _selu_medians(layers: pd.DataFrame) -> pd.DataFrame:
    # After training, a collapsed network's activations describe the collapse, not self-normalization.
    usable = layers[(layers["when"] == "at init") | ~layers["collapsed"]]
    columns = [c for c in ("act_mean", "act_std", "w_omega", "w_tau") if c in usable]
    return usable.groupby(["condition", "when", "layer"])[columns].median().reset_index()


def log_excess(layers: pd.DataFrame, condition: str, when: str) -> pd.Series:
    """Per seed: log of the largest layer deviation (< 0: every layer within the bounds; > 0: at least
    one layer outside, by that factor), floored at DEVIATION_FLOOR. Collapsed runs are left out after training."""
    part = layers[(layers["condition"] == condition) & (layers["when"] == when)]
    if when == "after training":
        part = part[~part["collapsed"]]
    if part.empty:
        return pd.Series(dtype=float)
    return np.log(part.assign(dev=deviation(part)).groupby("seed")["dev"].max().clip(lower=DEVIATION_FLOOR))


def one_sample_t(x: pd.Series) -> Comparison:
    """One-sided one-sample t-tests of mean log excess > 0 (outside the bounds) and < 0 (within), over
    seeds: a continuous test, so its p has no floor (4 seeds of a signed-rank test could not pass Holm
    over 8 tests). Seeds are independent networks; layers within a network are not (each layer's
    input is the previous layer's output), so layers are summarized per seed, never pooled."""
    x = np.asarray(x, dtype=float)
    x = x[np.isfinite(x)]
    p_greater = p_less = np.nan
    if len(x) >= 2 and np.ptp(x) > 1e-9:
        p_greater = float(scipy_stats.ttest_1samp(x, 0.0, alternative="greater").pvalue)
        p_less = float(scipy_stats.ttest_1samp(x, 0.0, alternative="less").pvalue)
    elif len(x) >= 2:  # identical values: no noise at all
        p_greater, p_less = (0.0, 1.0) if x[0] > 0 else (1.0, 0.0) if x[0] < 0 else (1.0, 1.0)
    return Comparison(median_ci(x), p_greater, p_less, int(len(x)), float(np.mean(x)) if len(x) else np.nan, "mean log excess")


def domain_table(layers: pd.DataFrame) -> pd.DataFrame | None:
    """Per SELU condition, phase and seed: the share of layers outside the theorem's domain, and the
    share of drifted layers (deviation > 1) among layers outside and inside it."""
    if not {"w_omega", "w_tau"} <= set(layers.columns):
        return None
    part = layers[layers["condition"].str.contains("selu") & ~((layers["when"] == "after training") & layers["collapsed"])]
    part = part.assign(outside=outside_domain(part), drifted=deviation(part) > 1)
    rows = []
    for (condition, when, seed), g in part.groupby(["condition", "when", "seed"]):
        out, inside = g[g["outside"]], g[~g["outside"]]
        rows.append({"condition": condition, "when": when, "seed": seed, "layers": len(g),
                     "outside_share": g["outside"].mean(), "drifted_share": g["drifted"].mean(),
                     "omega_outside": (~g["w_omega"].between(*OMEGA_DOMAIN)).mean(), "tau_outside": (~g["w_tau"].between(*TAU_DOMAIN)).mean(),
                     "drift_outside": out["drifted"].mean() if len(out) else np.nan,
                     "drift_inside": inside["drifted"].mean() if len(inside) else np.nan})
    return pd.DataFrame(rows)


def _domain_lines(domain: pd.DataFrame | None) -> list[str]:
    if domain is None or domain.empty:
        return []
    lines = []
    for (condition, when), g in domain.groupby(["condition", "when"], sort=True):
        text = (f"{condition} {when}: {g['outside_share'].median():.0%} of layers outside the theorem's domain "
                f"(ω outside {list(OMEGA_DOMAIN)}: {g['omega_outside'].median():.0%}, τ outside {list(TAU_DOMAIN)}: "
                f"{g['tau_outside'].median():.0%}; medians over {len(g)} seed(s)), "
                f"{g['drifted_share'].median():.0%} drifted from (0, 1)")
        contrast = (g["drift_outside"] - g["drift_inside"]).dropna()
        if when == "after training" and len(contrast):
            c = paired(g["drift_outside"], g["drift_inside"])
            text += (f"; drifted share among layers outside vs inside the domain: {g['drift_outside'].median():.0%} vs "
                     f"{g['drift_inside'].median():.0%} (seeds with both kinds: {c.n}; one-sided signed-rank p(outside > inside) = "
                     f"{c.p_greater:.3g}, descriptive, uncorrected)")
        lines.append(text)
    return lines


def _domain_notes(domain: pd.DataFrame | None, arms: dict[str, str]) -> list[str]:
    """Per arm, in words: does the drift after training come with leaving the theorem's domain?"""
    notes = []
    if domain is None:
        return notes
    for arm, condition in arms.items():
        init = domain[(domain["condition"] == condition) & (domain["when"] == "at init")]
        after = domain[(domain["condition"] == condition) & (domain["when"] == "after training")]
        if after.empty or init.empty:
            continue
        drifted, out_after, out_init = after["drifted_share"].median(), after["outside_share"].median(), init["outside_share"].median()
        if drifted == 0:
            notes.append(f"{arm} ({condition}): no layer drifted from (0, 1) after training; {out_after:.0%} of layers are "
                         f"outside the theorem's domain (at init {out_init:.0%}).")
            continue
        d_out, d_in = after["drift_outside"].median(), after["drift_inside"].median()
        c = paired(after["drift_outside"], after["drift_inside"])
        if np.isfinite(d_out) and np.isfinite(d_in) and d_out > d_in and c.p_greater < 0.05:
            how = "the drifted layers are those outside the domain"
        elif np.isfinite(d_in) and (not np.isfinite(d_out) or d_in >= d_out):
            how = "the drift does not come with leaving the domain: layers inside it drifted as often"
        else:
            how = "layers outside the domain drifted more often, not significantly"
        notes.append(f"{arm} ({condition}): {drifted:.0%} of layers drifted from (0, 1) after training, while {out_after:.0%} "
                     f"are outside the theorem's domain (at init {out_init:.0%}); drifted among layers outside it {d_out:.0%}, "
                     f"inside it {d_in:.0%}: {how}.")
    return notes


def _bound(x: float) -> str:
    """A layer statistic for the text: two decimals, or three digits with an exponent when a net has exploded."""
    return f"{x:.2f}" if abs(x) < 1000 else f"{x:.3g}"


def selu_rule(layers: pd.DataFrame, subject: str = ADAM_ARM, label: str = "SELU") -> ClaimResult:
    """Does `subject` (SELU's own condition; a challenger with its suggested initializer in its
    place) keep every layer within the bounds at init, where the negative control does not, and
    does it still after training, with Adam (the sweep's arm) and with Géron's SGD recipe?"""
    medians = _selu_medians(layers)
    ok = {(c, w): _normalized(g) for (c, w), g in medians.groupby(["condition", "when"])}
    numbers = []
    for (condition, when), group in medians.groupby(["condition", "when"]):
        mean, std = group["act_mean"], group["act_std"]
        numbers.append(f"{condition} {when}: mean in [{_bound(mean.min())}, {_bound(mean.max())}], "
                       f"std in [{_bound(std.min())}, {_bound(std.max())}] over {group['layer'].max()} layers "
                       f"→ {'normalized' if ok[(condition, when)] else 'not normalized'}")
    runs = layers.drop_duplicates(["condition", "seed"])
    for condition, group in runs[runs["collapsed"]].groupby("condition"):
        numbers.append(f"{condition}: {len(group)} collapsed run(s) (seeds {', '.join(map(str, group['seed']))}) left out "
                       "of 'after training'")
    raw = {"init": one_sample_t(log_excess(layers, subject, "at init")),
           "control": one_sample_t(log_excess(layers, CONTROL, "at init")),
           "adam_trained": one_sample_t(log_excess(layers, subject, "after training")),
           # The SGD arm is SELU's own (Géron's recipe): a challenger in the subject's place is not in it.
           "sgd_trained": one_sample_t(log_excess(layers, SGD_ARM, "after training") if subject == ADAM_ARM else [])}
    tests = holm_family(raw)
    what = {"init": f"{subject} at init", "control": f"{CONTROL} at init (negative control)",
            "adam_trained": f"{subject} after training (Adam arm)", "sgd_trained": f"{SGD_ARM} after training (SGD arm, Géron's recipe)"}
    for key, c in tests.items():
        if c.n:
            numbers.append(f"{what[key]}: log of the largest layer deviation (> 0: some layer outside the bounds) {c}")
    domain = domain_table(layers)
    numbers += _domain_lines(domain)
    init, control = tests["init"].direction, tests["control"].direction
    arms = {key: tests[key].direction for key in ("adam_trained", "sgd_trained") if tests[key].n >= 2}
    if init == 1:
        verdict = NOT_SUPPORTED
    elif init != -1 or control != 1:
        verdict = INCONCLUSIVE
    elif any(d == 1 for d in arms.values()):
        verdict = MIXED
    elif arms and all(d == -1 for d in arms.values()):
        verdict = SUPPORTED
    elif not arms:
        verdict = MIXED  # the fixed point holds at init; no run still learns to judge "during training"
    else:
        verdict = INCONCLUSIVE
    notes = [f"Rule: a layer is within the bounds when its mean is within ±{MEAN_TOLERANCE} and its std within {STD_RANGE}; "
             "per run, the log of its largest layer deviation (in units of the bounds) is < 0 exactly when every layer is. "
             f"Deciding tests (one Holm family over both directions of {len(TESTS)} one-sample t-tests over seeds): {subject} at init "
             f"within, {CONTROL} at init outside, and after training in each arm (Adam: the sweep's; SGD: Géron's recipe). "
             "Supported when the subject is within at init, the control is not, and every arm stays within after training; "
             "mixed when it holds at init but an arm leaves the bounds after training (or no run still learns); not supported "
             "when it fails at init; inconclusive otherwise. Collapsed runs are left out after training. The medians above "
             "are descriptive."]
    drifted = [key for key, d in arms.items() if d == 1]
    if init == -1 and drifted:
        notes.append("The data disagree with the article's 'during training' in the "
                     + " and ".join({"adam_trained": "Adam arm", "sgd_trained": "SGD arm (Géron's recipe)"}[k] for k in drifted)
                     + ": the fixed point holds at initialization, but the trained statistics leave (0, 1).")
    if init == -1 and not arms:
        notes.append(f"Every {subject} run collapsed: 'during training' cannot be judged from these runs.")
    for key, arm_name in (("adam_trained", "Adam arm"), ("sgd_trained", "SGD arm")):
        c = tests[key]
        if arms.get(key) == 0:
            condition = subject if key == "adam_trained" else SGD_ARM
            outside = int((log_excess(layers, condition, "after training") > 0).sum())
            notes.append(f"The {arm_name} after training is undecided: {outside} of {c.n} seeds have a layer outside the bounds, "
                         f"but the test is not significant (Holm p(>0) = {c.p_greater:.3g}, p(<0) = {c.p_less:.3g}).")
    notes += _domain_notes(domain, {"Adam arm": subject, "SGD arm": SGD_ARM})
    if domain is not None:
        notes.append("Mechanism (descriptive): Klambauer et al.'s fixed point is proven for weights with ω = Σ w_i in "
                     f"{list(OMEGA_DOMAIN)} and τ = Σ w_i² in {list(TAU_DOMAIN)}; each layer's ω and τ are its average unit's "
                     "(n × the mean of w and of w², n = fan-in). With 100 units a LeCun-normal layer's ω has a sampling std "
                     "of 0.1, so about a third of layers start outside the ω interval: read the share after training against "
                     "the share at init. Drifted and outside layers are compared within each seed (layers of one network feed "
                     "each other, so they are not independent observations) and the per-seed differences tested over seeds.")
    return ClaimResult(verdict, "per-layer mean and std of activations on the probe batch (largest deviation per run, "
                       "tested over seeds), beside each layer's weight moments ω and τ", numbers, notes,
                       details=Conditions(ok, runs, domain), tests=tests)


def _draw_selu(evidence: Evidence, layers: pd.DataFrame, out: Path) -> None:
    selu_layers(_selu_medians(layers), out)


analysis = Analysis(_layer_stats, selu_rule, _draw_selu, subject=("selu_lecun", "SELU"))


# --- the literature rows this claim answers (claim.literature in its YAML) -----------------------
def geron(result: ClaimResult) -> Harness | None:
    """The matched arm: Géron's recipe (SGD 1e-3, batch 32, 100 × 100, SELU + LeCun vs ReLU + He),
    validation accuracy after the last epoch, as his notebook prints it. A paired t-test over seeds,
    two-sided at 5%: the SGD arm's few seeds (each ~90 s) leave a signed-rank test no p below 2/2**n."""
    runs = result.details.runs
    if not {SGD_ARM, SGD_REFERENCE} <= set(runs["condition"]):
        return None
    wide = runs.pivot_table(index="seed", columns="condition", values="final_val_accuracy")[[SGD_ARM, SGD_REFERENCE]].dropna()
    d = (wide[SGD_ARM] - wide[SGD_REFERENCE]).to_numpy()
    if len(d) == 0:
        return None
    medians = wide.median()
    text = (f"SELU {medians[SGD_ARM]:.3f} vs ReLU {medians[SGD_REFERENCE]:.3f} (medians); SELU − ReLU validation accuracy "
            f"after the last epoch: mean Δ {d.mean() * 100:+.2f} pt")
    if len(d) < 2 or np.ptp(d) == 0:
        return Harness(text + f" (n = {len(d)}, no test)", int(np.sign(d.mean())), float("nan"))
    p = float(scipy_stats.ttest_1samp(d, 0.0).pvalue)
    return Harness(text + f", paired t-test two-sided p = {p:.3g} (raw), n = {len(d)} seeds", int(np.sign(d.mean())), p)


# --- the claim's figure -------------------------------------------------------------------------
def selu_layers(medians, path: Path) -> None:
    weights = {"w_omega", "w_tau"} <= set(medians.columns)
    fig, axes = plt.subplots(3 if weights else 2, 2, figsize=(11, 10.5 if weights else 7), sharex=True)
    conditions = sorted(medians["condition"].unique())
    for col, when in enumerate(("at init", "after training")):
        for row, (stat, target) in enumerate((("act_mean", 0.0), ("act_std", 1.0))):
            ax = axes[row][col]
            for condition, group in medians[medians["when"] == when].groupby("condition"):
                ax.plot(group["layer"], group[stat], label=condition, markersize=4, **figures.style(condition, conditions))
            ax.axhline(target, color="black", linestyle=":")
            ax.set_title(f"{stat.replace('act_', '')} of each layer's output, {when}")
            ax.set_ylabel(stat.replace("act_", "activation "))
            if stat == "act_std":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
    if weights:
        # The weights after training against the domain of Klambauer et al.'s theorem (shaded).
        trained = medians[medians["when"] == "after training"]
        for ax, stat, domain, name in ((axes[2][0], "w_omega", OMEGA_DOMAIN, "ω = n · mean(w)"),
                                       (axes[2][1], "w_tau", TAU_DOMAIN, "τ = n · mean(w²)")):
            ax.axhspan(*domain, color="tab:green", alpha=0.15, label="theorem's domain")
            for condition, group in trained.groupby("condition"):
                ax.plot(group["layer"], group[stat], markersize=4, **figures.style(condition, conditions))
            ax.set_title(f"{name} of each layer's kernel, after training")
            ax.set_ylabel(name.split(" =")[0])
            ax.grid(alpha=0.3)
        axes[2][1].set_yscale("log")
        axes[2][0].legend(fontsize=8, loc="best")
    for ax in axes[-1]:
        ax.set_xlabel("hidden layer")
        figures.integer_ticks(ax)
    axes[0][1].legend(fontsize=8)
    figures.save(fig, path, "Claim 7: does SELU keep mean 0 and std 1 layer after layer? (median over seeds)")
