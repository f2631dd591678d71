"""What every claim shares: the runs table, the verdict vocabulary, collapse, stability.

A claim is two files in an experiments folder (`experiments/` or a `--config-dir`'s `experiment/`):
its experiment YAML, whose `claim:` node says what the article says and how the claim is run, and
a Python module of the same name beside it, whose `analysis` turns the runs into a verdict
(actlab.claims.registry finds both). A claim reads `Evidence`: one row per job of its sweep (plain
column names: `activation`, `seed`, `task`, ...), with the status and metrics of the MLflow run that
has the job's config fingerprint. Rules are plain code over medians, bootstrap intervals and
one-sided tests (actlab.stats); nobody edits a verdict by hand.

An `Analysis` is three small functions: `prepare` (evidence -> one tidy table, reading per-run
layer tables once), `rule` (table -> verdict, numbers, notes; pure, draws nothing) and `draw` (the
figure). `stability` re-runs only the rule on bootstrap resamples of the table's blocks (task ×
seed), so the same rule code that gives a verdict also measures how firmly it holds.

Three cautions apply to every rule:
- a run whose network collapsed (best validation accuracy near chance, `collapsed`) is named; it is
  kept where accuracy is the outcome, and left out where a statistic describes a trained network's
  insides (dead units, gradients or activation statistics after training);
- all one-sided tests of a claim form one family, corrected with Holm's method (`holm_family`);
- every verdict carries its stability under resampling of the claim's blocks.
"""

from __future__ import annotations

import functools
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, Callable, NamedTuple

import numpy as np
import pandas as pd

SUPPORTED, NOT_SUPPORTED, MIXED, INCONCLUSIVE = "supported", "not supported", "mixed", "inconclusive"
DOES_NOT_APPLY = "does not apply"
TASK = "task"  # the `+experiment/task=...` axis, as a column (actlab.pipeline.config.column_name)
FINISHED = "FINISHED"


@dataclass
class Evidence:
    """The runs of one claim's sweep, plus lazy access to their per-layer tables and histories."""

    table: pd.DataFrame
    layers: Callable[[str], pd.DataFrame] = lambda run_id: pd.DataFrame()
    history: Callable[[str, str], list[float]] = lambda run_id, key: []
    # Tune, then test (a claim with a `tune:` node): `table` holds only the test stage (fresh seeds at
    # the picked value); `tuning` the tuning runs; `selected` one row per group: the picked value.
    tuning: pd.DataFrame | None = None
    selected: pd.DataFrame | None = None
    tune: Any = None  # the claim's actlab.claims.tuning.Tune
    # A CSV artifact of a run as a table (`artifact(run_id, "timings.csv")`: claim 6's rounds).
    artifact: Callable[[str, str], pd.DataFrame] = lambda run_id, path: pd.DataFrame()

    def finished(self) -> pd.DataFrame:
        return finished_rows(self.table)


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
    # What the claim's own module hands its literature rows and challenger sections: a dataclass
    # of that module's, read only by that module (None for a claim with nothing to hand on).
    details: Any = None
    # The deciding tests as the rule computed them (the claim's `tests:`, Holm-adjusted): name -> a
    # stats.Comparison, stats.Equivalence or a p-value; the report prints each beside its design floor.
    tests: dict[str, Any] = field(default_factory=dict)


@dataclass
class ChallengerView:
    """What a challenger's report says on one claim: the verdict of the claim's rule with the new
    function in it, how it was asked, the numbers about that function, its figure."""

    verdict: str
    how: str
    numbers: list[str]
    figure: Path | None = None
    stability: Stability | None = None


@dataclass(frozen=True)
class Challenge:
    """How a new activation enters a claim (the YAML's `claim.challenger` node)."""

    joins: str | None = None  # an override the new function's jobs get: "activation", or "+experiment/selu_condition=challenger"
    in_place_of: str | None = None  # the function the claim is about, whose rows the new one's replace
    column: str = "activation"  # where `in_place_of` is named
    as_value: str | None = None  # the new function's value in `column` (default: its name)
    skip: str | None = None  # why the claim does not apply to a new function
    field: bool = True  # false: the verdict reads only the new function's runs (no field jobs are trained for it)


@dataclass(frozen=True)
class DecidingTest:
    """A test a claim's verdict rests on (the YAML's `claim.tests`): which test, over which blocks."""

    name: str
    test: str  # actlab.stats.SIDES: signed_rank, sign_flip, t, friedman, tost
    blocks: tuple[str, ...] = ("seed",)  # columns whose distinct value combinations are the test's pairs
    over: str | None = None  # Friedman, Page: the column whose values are the treatments
    treatments: int | None = None  # how many of its values the test compares, when not all (claim 8: the article's six)
    without: tuple[tuple[str, tuple[str, ...]], ...] = ()  # rows the test leaves out: (column, values) (claim 11: its intact task)


@dataclass(frozen=True)
class Claim:
    """One claim: its experiment YAML's `claim:` node and the module beside it."""

    name: str  # the experiment's name: `experiment=NAME` runs its sweep
    title: str
    article: str  # what the article says, in one sentence
    module: ModuleType  # defines `analysis` (an Analysis, or evidence, out -> ClaimResult)
    path: Path  # the experiment YAML
    number: int | None = None  # the article's order; a user's claim may have none
    # Sweep workers on a 2-core machine (experiments/run_claims.sh runs the sweep with as many).
    workers: int = 2
    # Every job of this claim's sweep is also a job of claim `within`'s: when both are run, only
    # that one is (its jobs would otherwise each be composed and looked up twice, to be skipped).
    within: str | None = None
    challenge: Challenge = field(default_factory=Challenge)
    literature: dict[str, str] = field(default_factory=dict)  # literature row key -> function of the module
    tests: tuple[DecidingTest, ...] = ()  # what the verdict rests on: one Holm family

    @property
    def analyze(self) -> Callable[[Evidence, Path | None], ClaimResult]:
        return self.module.analysis

    @property
    def label(self) -> str:
        """`Claim 7` for the article's claims, the name for a user's own."""
        return f"Claim {self.number}" if self.number is not None else f"Claim {self.name}"

    @property
    def key(self) -> str:
        """The claim's short handle in tables and file names: its number, else its name."""
        return str(self.number) if self.number is not None else self.name

    @property
    def seed(self) -> int:
        """The stability resampling's seed: the claim's number, else a hash of its name."""
        return self.number if self.number is not None else zlib.crc32(self.name.encode()) % 10_000

    def hook(self, name: str) -> Callable | None:
        return getattr(self.module, name, None)


def numeric(df: pd.DataFrame, name: str) -> pd.Series:
    if name not in df:
        return pd.Series(np.nan, index=df.index, dtype=float)
    return pd.to_numeric(df[name], errors="coerce")


def finished_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The rows of runs that finished (a table without a status column is taken as all finished)."""
    return table[table["status"] == FINISHED] if "status" in table else table


def _missing(evidence: Evidence) -> ClaimResult | None:
    if evidence.finished().empty:
        return ClaimResult(INCONCLUSIVE, "no finished runs of this claim's experiment were found")
    return None


def verdict_from_directions(directions: list[int]) -> str:
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


def block_columns(table: pd.DataFrame) -> list[str]:
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
        return numeric(table, "chance")
    return 1.0 / numeric(table, "data.n_classes")


def collapsed(table: pd.DataFrame) -> pd.Series:
    """True for each run whose best validation accuracy stays near chance (see COLLAPSE_MARGIN)."""
    chance = chance_level(table)
    best = numeric(table, "best_val_accuracy")
    return (best < chance + COLLAPSE_MARGIN * (1.0 - chance)).fillna(False).astype(bool)


def with_collapse(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(collapsed=collapsed(table))


def collapsed_runs(table: pd.DataFrame, by: list[str]) -> list[str]:
    """One line per setting with collapsed finished runs: which seeds, their accuracy, chance."""
    if "collapsed" not in table:
        table = with_collapse(table)
    finished = finished_rows(table)
    lines = []
    for key, group in finished.groupby(by, sort=True):
        hit = group[group["collapsed"]]
        if hit.empty:
            continue
        key = key if isinstance(key, tuple) else (key,)
        label = ", ".join(f"{c.split('.')[-1].lstrip('+').split('/')[-1]} {v}" for c, v in zip(by, key))
        best = numeric(hit, "best_val_accuracy")
        chance = chance_level(hit)
        lines.append(f"{label}: {len(hit)} of {len(group)} run(s) collapsed (seeds {', '.join(map(str, hit['seed']))}; "
                     f"best validation accuracy ≤ {best.max():.3f}, chance {chance.max():.3f})")
    return lines


# --- one claim = prepare, rule, draw; stability re-runs the rule on block resamples --------------
STABLE_SHARE = 0.8  # verdicts reproduced by fewer resamples than this are marked unstable
RESAMPLES = 200
RESAMPLING_WORKERS = 2  # forked processes that resample a report's claims (judge_all)
MIN_BLOCKS = 3  # with fewer blocks (e.g. the quick profile's single seed) a resample is nearly the table itself


class Analysis:
    """A claim's analysis: `prepare` a tidy table once, apply the pure `rule`, then `draw`.

    A claim made about one function gives its `subject` (value, label), and its rule takes them
    as keywords (`rule(table, subject=..., label=...)`): `about` then asks the same claim of another
    function, as a challenger's report does with a new function in the subject's place."""

    def __init__(self, prepare: Callable[[Evidence], pd.DataFrame], rule: Callable[..., ClaimResult],
                 draw: Callable[[Evidence, pd.DataFrame, Path], None] | None = None, resample: bool = True,
                 subject: tuple[str, str] | None = None):
        self.prepare, self.draw, self.resample, self.subject = prepare, draw, resample, subject
        self._rule_of_subject = rule
        self.rule = functools.partial(rule, subject=subject[0], label=subject[1]) if subject else rule

    def about(self, subject: str, label: str) -> Analysis:
        """This analysis asked of `subject` (shown as `label`) instead of the claim's own."""
        if self.subject is None:
            raise TypeError("this claim is not about one function: it has no subject to replace")
        return Analysis(self.prepare, self._rule_of_subject, self.draw, self.resample, (subject, label))

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
    blocks = block_columns(table)
    groups = list(table.groupby(blocks, sort=True).indices.values())
    pick = rng.integers(len(groups), size=len(groups))
    rows = np.concatenate([groups[j] for j in pick])
    labels = np.concatenate([np.full(len(groups[j]), i) for i, j in enumerate(pick)])
    return table.iloc[rows].assign(seed=labels).reset_index(drop=True)


def stability_of_table(rule: Callable[[pd.DataFrame], ClaimResult], table: pd.DataFrame,
                       resamples: int = RESAMPLES, seed: int = 0) -> Stability | None:
    """Share of `resamples` block resamples of `table` for which `rule` gives the observed verdict."""
    blocks = block_columns(table)
    if not blocks or table.empty or table.groupby(blocks).ngroups < MIN_BLOCKS:
        return None
    started = time.perf_counter()
    observed = rule(table).verdict
    rng = np.random.default_rng(seed)
    same = sum(rule(resample_blocks(table, rng)).verdict == observed for _ in range(resamples))
    return Stability(same / resamples, resamples, tuple(blocks), time.perf_counter() - started)


def _resampled(analysis: Callable, evidence: Evidence) -> bool:
    """Whether a claim's verdict has a stability: a resampling analysis with runs to resample."""
    return isinstance(analysis, Analysis) and analysis.resample and not _missing(evidence)


def stability(analysis: Callable, evidence: Evidence, resamples: int = RESAMPLES, seed: int = 0) -> Stability | None:
    """Stability of a claim's verdict; None when it has no runs or no blocks to resample."""
    if not _resampled(analysis, evidence):
        return None
    return stability_of_table(analysis.rule, analysis.prepare(evidence), resamples, seed)


def judge(claim: Claim, evidence: Evidence, out: Path | None) -> ClaimResult:
    """A claim's verdict by its own rule (drawn to `out`) with that verdict's stability: REPORT.md's
    and a challenger's alike."""
    result = claim.analyze(evidence, out)
    result.stability = stability(claim.analyze, evidence, seed=claim.seed)
    return result


class _Resampling(NamedTuple):
    rule: Callable[[pd.DataFrame], ClaimResult]
    table: pd.DataFrame
    resamples: int
    seed: int


# What forked workers read: inherited, not pickled (the rules are partials and closures of modules
# loaded from experiment folders, which a spawned process could not import by name).
_RESAMPLING: list[_Resampling | None] = []


def _stability_of(index: int) -> Stability | None:
    task = _RESAMPLING[index]
    return None if task is None else stability_of_table(task.rule, task.table, task.resamples, task.seed)


def _one_blas_thread() -> None:
    """A forked worker's numpy on one thread: the workers share the machine's cores."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def judge_all(claims: list[tuple[Claim, Evidence, Path | None]], workers: int = RESAMPLING_WORKERS,
              resamples: int = RESAMPLES) -> tuple[list[ClaimResult], int]:
    """`judge` for several claims, the same numbers: verdicts and figures here, one claim after the
    other; the stabilities (most of a report's time) in `workers` forked processes, which send back
    only the Stability. Also returns how many processes resampled."""
    import multiprocessing

    global _RESAMPLING
    results = [claim.analyze(evidence, out) for claim, evidence, out in claims]
    _RESAMPLING = [_Resampling(claim.analyze.rule, claim.analyze.prepare(evidence), resamples, claim.seed)
                   if _resampled(claim.analyze, evidence) else None for claim, evidence, _ in claims]
    try:
        if workers < 2 or sum(t is not None for t in _RESAMPLING) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            workers, found = 1, [_stability_of(i) for i in range(len(_RESAMPLING))]
        else:
            with multiprocessing.get_context("fork").Pool(workers, initializer=_one_blas_thread) as pool:
                found = pool.map(_stability_of, range(len(_RESAMPLING)), chunksize=1)
    finally:
        _RESAMPLING = []
    for result, stable in zip(results, found):
        result.stability = stable
    return results, workers


def selected_table(evidence: Evidence) -> pd.DataFrame:
    """Each function at its validation-selected learning rate per task (the protocol of every claim
    that compares functions' accuracy across tasks)."""
    return select_learning_rate(with_collapse(evidence.finished()), [TASK, "activation"])
