"""Claim 6's rule: ELU's time as a ratio to ReLU's, from functions timed interleaved in one process.

Each job (a network × a seed: one session) timed every function in rounds (actlab.pipeline.timing);
its `timings.csv` has one row per round, function and level (`model`: the network's forward pass;
`alone`: the activation on a fixed tensor). A ratio is paired by round: the subject's time over
ReLU's in the same round, a second or less apart, so the machine's drift cancels; each session's
mean log ratio is one unit (its rounds share a process and are not independent). Per level the
estimate is the geometric mean over sessions with its 90% t interval, and the verdict rests on the
tests the YAML declares (`claim.tests`), one Holm family:
- `<level>_slower`: one-sided t-tests on the sessions' log ratios, in each direction;
- `<level>_within_margin`: TOST on the same log ratios with the YAML's margin (±5% time).
A level reads as "slower" when the slower test passes (the article's effect, whatever its size),
"faster" when the opposite one does, "no difference" when TOST passes, else as undecided.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator
from omegaconf import OmegaConf

from actlab import figures
from actlab.claims.base import INCONCLUSIVE, Analysis, ChallengerView, ClaimResult, Evidence, verdict_from_directions
from actlab.figures import plt
from actlab.stats import ALPHA, Comparison, Equivalence, Estimate, equivalence, holm_family, ratio_test

BASELINE = "relu"
ALONE = "alone"
ARTIFACT = "timings.csv"
LEVEL_COLUMNS = ["model", "seed", "round"]  # a pair: the same round of the same job
CI = 0.90  # the interval both one-sided tests at 5% and TOST read


def _declared() -> dict:
    """The YAML's `claim.tests`: the deciding tests' names, each with its test and (TOST) margin."""
    spec = OmegaConf.load(Path(__file__).with_suffix(".yaml")).claim.tests
    return OmegaConf.to_container(spec)


TESTS = _declared()
MARGIN = next(t["margin"] for t in TESTS.values() if t["test"] == "tost")


# --- the table: every job's rounds ---------------------------------------------------------------
def _timings(evidence: Evidence) -> pd.DataFrame:
    """One row per job, round, function and level: the timing jobs' `timings.csv`, with the job's
    network and seed (a seed is a session: its own process, weights and round orders)."""
    parts = []
    for row in evidence.finished().itertuples():
        rounds = evidence.artifact(row.run_id, ARTIFACT)
        if not rounds.empty:
            parts.append(rounds.assign(model=row.model, seed=row.seed))
    columns = [*LEVEL_COLUMNS, "position", "function", "level", "ms"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def levels(table: pd.DataFrame) -> list[str]:
    """The levels a verdict reads: the activation alone, then each network timed (in the YAML's order)."""
    if table.empty:
        return []
    declared = list(dict.fromkeys(name.removesuffix("_slower").removesuffix("_within_margin") for name in TESTS))
    models = sorted(table["model"].unique(), key=lambda m: (declared.index(m) if m in declared else len(declared), m))
    return [ALONE, *models]


def _part(table: pd.DataFrame, level: str) -> pd.DataFrame:
    """Per-round times of one level, one column per function (`alone` pools every job's rounds)."""
    rows = table[table["level"] == ALONE] if level == ALONE else table[(table["level"] == "model") & (table["model"] == level)]
    rows = rows.drop_duplicates([*LEVEL_COLUMNS, "function"])  # one time per round and function
    return rows.set_index([*LEVEL_COLUMNS, "function"])["ms"].unstack("function")


def wide_levels(table: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every level's per-round table (`_part`), made once per rule call."""
    return {level: _part(table, level) for level in levels(table)}


# --- the statistics: per session, t-tests and TOST on log ratios ----------------------------------
@dataclass(frozen=True)
class LogRatio:
    """One function's time over ReLU's at one level: each session's mean per-round log ratio is a unit
    (rounds within a session share its process and machine state, so they are not independent pairs)."""

    estimate: Estimate  # geometric mean over sessions, 90% t interval (unadjusted), n sessions
    slower: Comparison  # one-sided t-tests on the sessions' log ratios: p_greater "ratio > 1", p_less "ratio < 1"
    within: Equivalence  # TOST: the ratio within [1/(1 + m), 1 + m]


def session_log_ratios(subject: pd.Series, baseline: pd.Series) -> np.ndarray:
    """Each session's (job's) mean of log subject − log baseline over its rounds, paired by round."""
    d = np.log(subject.astype(float)) - np.log(baseline.astype(float))
    d = d[np.isfinite(d)]
    return d.groupby(level=["model", "seed"]).mean().to_numpy() if len(d) else np.array([])


def log_ratio(subject: pd.Series, baseline: pd.Series, margin: float = MARGIN) -> LogRatio:
    """Paired by round, averaged per session: t-tests and TOST (±log(1 + margin)) over the sessions."""
    ratio = np.exp(session_log_ratios(subject, baseline))
    one = np.ones_like(ratio)
    within = equivalence(ratio, one, margin, ratio=True)
    return LogRatio(Estimate(within.estimate, within.low, within.high, within.n), ratio_test(ratio, one), within)


def ratios(wides: dict[str, pd.DataFrame], subject: str) -> dict[str, LogRatio]:
    """`subject` vs ReLU at every level (unadjusted)."""
    empty = pd.Series(dtype=float, index=pd.MultiIndex.from_tuples([], names=LEVEL_COLUMNS))
    return {level: log_ratio(wide[subject], wide[BASELINE]) if subject in wide and BASELINE in wide else log_ratio(empty, empty)
            for level, wide in wides.items()}


def _reading(slower: Comparison, within: Equivalence) -> tuple[int, str]:
    """(+1 slower, −1 faster or no difference, 0 undecided) and the words for it. A slowdown shown by
    the one-sided test is the article's effect, whatever its size (the ratio says how large); its
    absence only by TOST: a test that finds nothing shows nothing."""
    if slower.p_greater < ALPHA:
        small = f", by less than {MARGIN:.0%} (its 90% interval lies below {1 + MARGIN:.2f})" if within.high < 1 + MARGIN else ""
        return 1, "slower" + small
    if slower.p_less < ALPHA:
        return -1, "faster"
    if within.equivalent:
        return -1, f"no difference: within ±{MARGIN:.0%} (TOST)"
    return 0, "undecided: neither a slowdown nor its absence is shown"


def _ratio_text(e: Estimate) -> str:
    return f"{e.median:.3g} [{e.low:.3g}, {e.high:.3g}]" if e.n >= 2 else "n/a"


def _level_label(level: str) -> str:
    return "activation alone" if level == ALONE else f"{level} forward pass"


# --- the rule --------------------------------------------------------------------------------------
def deciding_tests(found: dict[str, LogRatio]) -> dict:
    """The YAML's tests (`<level>_slower`: both one-sided t-tests; `<level>_within_margin`: TOST, one
    p) as one Holm family: 3 one-sided tests per level, as actlab.claims.design counts them."""
    family = {}
    for level, result in found.items():
        family[f"{level}_slower"], family[f"{level}_within_margin"] = result.slower, result.within
    order = [name for name in TESTS if name in family] + [name for name in family if name not in TESTS]
    return holm_family({name: family[name] for name in order})


def inference_speed_rule(table: pd.DataFrame, subject: str = "elu", label: str = "ELU") -> ClaimResult:
    """Is `subject` (ELU in the article; a challenger in its place) slower than ReLU at test time?"""
    measured = (f"time ratio to ReLU, paired by round of interleaved timing in one process per session: geometric mean over "
                f"sessions with its {CI:.0%} interval, for the activation alone and each network's forward pass (1,024 inputs)")
    if table.empty or subject not in set(table["function"]) or BASELINE not in set(table["function"]):
        return ClaimResult(INCONCLUSIVE, measured, [f"{label} or ReLU has no timings."])
    wides = wide_levels(table)
    found = ratios(wides, subject)
    adjusted = deciding_tests(found)
    directions, numbers, readings = [], [], {}
    for level, result in found.items():
        slower, within = adjusted[f"{level}_slower"], adjusted[f"{level}_within_margin"]
        direction, how = _reading(slower, within)
        directions.append(direction)
        readings[level] = how
        numbers.append(
            f"{_level_label(level)}: {label} / ReLU time {_ratio_text(result.estimate)} (geometric mean over {result.estimate.n} "
            f"sessions of their mean per-round ratio, {CI:.0%} interval); slower: Holm p={slower.p_greater:.3g} (raw {slower.raw_greater:.3g}); "
            f"faster: Holm p={slower.p_less:.3g} (raw {slower.raw_less:.3g}); TOST ±{MARGIN:.0%}: Holm p={within.p:.3g} "
            f"(raw {within.raw_p:.3g}) → {how}")
    numbers += _descriptive(wides, subject)
    verdict = verdict_from_directions(directions)
    notes = [
        f"Rule: per level ({', '.join(_level_label(lv) for lv in found)}), each session's (job's) mean log ratio of {label}'s "
        f"time to ReLU's over its rounds is one unit (rounds within a session are paired, but not independent of each other); "
        f"{label} reads as slower when a one-sided t-test over the sessions passes at {ALPHA} after Holm's correction over the "
        f"claim's {len(found) * 3} one-sided tests (both directions of each t-test and each TOST), whatever the slowdown's "
        f"size (the ratio says it); as faster when the opposite test passes; as no difference when TOST within "
        f"±{MARGIN:.0%} (the YAML's margin) passes; else as undecided. Supported if slower at every level, mixed if at some, "
        "not supported if at none and faster or no different at one or more, else inconclusive.",
        "How it is timed: every function of the config tree in one process per job (a network × a seed), in rounds that visit "
        "them all in a freshly shuffled order; each visit times the network's compiled forward pass over 1,024 inputs and the "
        "activation alone on a 1,024 × 256 tensor (median of 5 calls each), one TensorFlow thread. The networks are untrained "
        "(each function's suggested initializer): a forward pass costs the same whatever the weights. A network's level has "
        "one unit per seed; the activation alone one per network × seed. Stability resamples the sessions (seeds).",
        "The ELU paper (Clevert et al. 2016) measured slower *training*, never test time. On a CPU the activation is a small "
        "share of a dense network's time next to the matrix products.",
        "In plain words: " + "; ".join(f"{_level_label(lv)}: {readings[lv]}" for lv in found) + ".",
    ]
    return ClaimResult(verdict, measured, numbers, notes, tests=adjusted)


def _descriptive(wides: dict[str, pd.DataFrame], subject: str) -> list[str]:
    """Every other function's ratio to ReLU, per level: descriptive, uncorrected."""
    lines = []
    for level, wide in wides.items():
        shown = [f"{f} {_ratio_text(log_ratio(wide[f], wide[BASELINE]).estimate)}" for f in wide.columns if f not in (BASELINE, subject)]
        if shown:
            lines.append(f"{_level_label(level)}, time / ReLU's (descriptive, uncorrected): " + ", ".join(shown))
    return lines


# --- the figure -----------------------------------------------------------------------------------
def _draw(evidence: Evidence, table: pd.DataFrame, out: Path, highlight: str = "elu") -> None:
    latency_ratios(table, out, highlight)


def latency_ratios(table: pd.DataFrame, path: Path, highlight: str = "elu") -> None:
    """Each function's time / ReLU's with its 90% interval: the activation alone (left), each network's
    forward pass (right); the band is the ±5% margin; `highlight` is drawn in bold."""
    found = levels(table)
    models = [lv for lv in found if lv != ALONE]
    functions = sorted(f for f in table["function"].unique() if f != BASELINE) if not table.empty else []
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=False, gridspec_kw={"width_ratios": [1, 1.4]})
    for ax, shown in ((axes[0], [ALONE]), (axes[1], models)):
        width = 0.8 / max(1, len(shown))
        for m, level in enumerate(shown):
            wide = _part(table, level)
            estimates = [log_ratio(wide[f], wide[BASELINE]).estimate if f in wide else Estimate(np.nan, np.nan, np.nan, 0) for f in functions]
            xs = np.arange(len(functions)) + (m - (len(shown) - 1) / 2) * width
            style = figures.style(level, shown) if level != ALONE else {"color": "#555555", "marker": "o"}
            ax.errorbar(xs, [e.median for e in estimates], yerr=[[e.median - e.low for e in estimates], [e.high - e.median for e in estimates]],
                        fmt=style.get("marker", "o"), color=style["color"], capsize=3, linestyle="none",
                        label=_level_label(level) if level != ALONE else None)
        ax.axhline(1.0, color="black", linewidth=0.8)
        ax.axhspan(1 / (1 + MARGIN), 1 + MARGIN, color="grey", alpha=0.15, label=f"±{MARGIN:.0%} margin")
        ax.set_yscale("log")
        low, high = ax.get_ylim()  # a few plain ratios over the drawn range (log ticks would skip them)
        ax.yaxis.set_major_locator(FixedLocator(sorted({float(f"{v:.2g}") for v in np.geomspace(low, high, 7)} | {1.0})))
        ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        ax.yaxis.set_minor_locator(NullLocator())
        ax.set_ylim(low, high)
        ax.set_xticks(range(len(functions)), functions, rotation=40, ha="right")
        for i, tick in enumerate(ax.get_xticklabels()):
            if tick.get_text() == highlight:
                tick.set_fontweight("bold")
                # A challenger report's function in its own colour (figures.CHALLENGER_STYLE), else orange.
                mark = figures.CHALLENGER_STYLE["color"] if highlight == figures.challenger() else "#E69F00"
                tick.set_color(mark if mark != "#E69F00" else "black")
                ax.axvspan(i - 0.45, i + 0.45, color=mark, alpha=0.15, zorder=0, label=highlight if mark != "#E69F00" else None)
        ax.set_ylabel("time / ReLU's (log scale)")
        ax.set_title("activation alone (1,024 × 256 tensor)" if shown == [ALONE] else "network forward pass (1,024 inputs)", fontsize=10)
        ax.grid(alpha=0.3, axis="y")
        ax.legend(fontsize=8)
    figures.save(fig, path, f"Claim 6: time relative to ReLU, interleaved rounds ({CI:.0%} interval of the geometric mean)")


analysis = Analysis(_timings, inference_speed_rule, _draw, subject=("elu", "ELU"))


# --- a new function in ELU's place ------------------------------------------------------------------
def challenger(claim, name: str, evidence: Evidence, figures_dir: Path, dirs) -> ChallengerView:
    """The claim's rule with `name` in ELU's place, from timings made in the same sessions as ReLU's
    (a job times every function of its config tree: run claim 6's sweep with the new function's
    --config-dir, or list it in timing.functions)."""
    from actlab.claims.base import stability

    table = _timings(evidence)
    if table.empty or name not in set(table["function"]):
        return ChallengerView(INCONCLUSIVE, f"the claim's rule with {name} in ELU's place",
                              [f"no timing job timed {name} beside ReLU: run claim 6's sweep with its --config-dir"])
    asked = analysis.about(name, name)
    result = asked.rule(table)
    figure = figures_dir / f"{name}_{claim.name}.png"
    latency_ratios(table, figure, highlight=name)
    result.stability = stability(asked, evidence, seed=claim.seed)
    return ChallengerView(result.verdict, f"the claim's rule with {name} in ELU's place, timed in the same sessions as ReLU",
                          result.numbers, figure, result.stability)
