"""Tune, then test: a value (the learning rate) is picked per group on tuning seeds, then the claim's
own seeds run at the picked value only, so no compared run took part in its own selection.

A claim experiment opts in with a top-level `tune:` node, and its sweep then has no axis for `param`:

    tune:
      param: optimizer.learning_rate
      values: "0.0003,0.001,0.003,0.01"   # at least 4, log-spaced
      seeds: "100,101"                    # never among the sweep's own seeds
      by: [task, activation]              # the rate is picked per task and function
      widen: 2                            # optional: steps added beyond an edge pick (default 0)

A group whose pick sits at its grid's edge gets the next value beyond that edge, on the same
tuning seeds, and is picked again, at most `widen` times per side (`widened`).

The sweeper (hydra_plugins.actlab_sweeper) runs the tuning grid, picks, then runs the test grid;
the report picks again from the same runs with the same `pick`, so both read one rule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from actlab.pipeline.config import ConfigError, column_name

SCORE = "best_val_accuracy"  # validation only: the test split never takes part in a selection


class TuneError(ConfigError):
    """A `tune:` node that cannot be run: the message is one line."""


@dataclass(frozen=True)
class Tune:
    param: str
    values: tuple[str, ...]
    seeds: str
    by: tuple[str, ...]
    widen: int = 0

    @classmethod
    def from_config(cls, node) -> Tune | None:
        if node is None:
            return None
        node = dict(node)
        unknown = set(node) - {"param", "values", "seeds", "by", "widen"}
        if unknown or not {"param", "values", "seeds", "by"} <= set(node):
            raise TuneError(f"tune: needs param, values, seeds and by, and may have widen (got {', '.join(sorted(node))})")
        values = tuple(v.strip() for v in str(node["values"]).split(","))
        if len(values) < 2:
            raise TuneError(f"tune.values has {len(values)} value: a tuning grid needs several")
        widen = node.get("widen", 0)
        if not isinstance(widen, int) or isinstance(widen, bool) or widen < 0:
            raise TuneError(f"tune.widen is {widen!r}: it must be a whole number of steps, 0 or more")
        return cls(str(node["param"]), values, str(node["seeds"]), tuple(node["by"]), widen)

    def check_apart(self, tuning_jobs: list[list[str]], test_jobs: list[list[str]], hint: str) -> None:
        """Refuse a sweep whose compared runs share a seed with the runs that picked their value
        (a command-line `seed=` replaces both grids' seeds); `hint` says how to set them apart."""
        def seeds(jobs: list[list[str]]) -> set[str]:
            values = {v for v in (_values(job).get("seed") for job in jobs) if v is not None}
            return {str(int(float(v))) if v.replace(".", "", 1).isdigit() else v for v in values}  # 100.0 is 100

        shared = sorted(seeds(tuning_jobs) & seeds(test_jobs), key=lambda v: (len(v), v))
        if shared:
            raise TuneError(f"seed {', '.join(shared)} would both tune {self.param} and be compared at the value it picked: "
                            f"the tuning seeds ({self.seeds}) and the test seeds must differ ({hint})")

    @property
    def column(self) -> str:
        return column_name(self.param)

    def tuning_params(self, params: dict[str, str]) -> dict[str, str]:
        """The tuning grid: the sweep's own axes, on the tuning seeds, with every value of `param`."""
        if self.param in params:
            raise TuneError(f"the sweep has an axis for {self.param}, which tune: picks (remove it from hydra.sweeper.params)")
        return {**params, "seed": self.seeds, self.param: ",".join(self.values)}


def pick(tuning: pd.DataFrame, tune: Tune) -> pd.DataFrame:
    """One row per `by` group: the value with the best median validation score over its finished
    tuning runs (ties: the smaller value), its score, whether it sits at the edge of the group's
    grid (the tune's values and any value the group was widened to that has a run: a planned one
    does not count until it ran), and whether every value scored the same (`tie`: no rate trains
    it, as a net at chance; not widened, by rule)."""
    columns = [*tune.by, tune.column, SCORE]
    if tuning.empty or not set(columns) <= set(tuning):
        return pd.DataFrame(columns=[*tune.by, tune.column, SCORE, "runs", "at_edge", "tie"])
    by = list(tune.by)
    values = pd.to_numeric(tuning[tune.column], errors="coerce")
    status = tuning["status"] if "status" in tuning else pd.Series("FINISHED", index=tuning.index)
    ran = tuning.loc[status != "missing", by].assign(_value=values[status != "missing"])
    span = ran.groupby(by, dropna=False)["_value"].agg(low="min", high="max").reset_index()
    finished = status == "FINISHED"
    rows = tuning.loc[finished, columns].assign(**{SCORE: pd.to_numeric(tuning.loc[finished, SCORE], errors="coerce"),
                                                   "_value": values[finished]})
    scores = rows.groupby([*by, "_value"], dropna=False)[SCORE].agg(["median", "size"]).reset_index()
    scores = scores[scores["median"].notna()]  # a value whose runs logged no score cannot be picked
    scores = scores.sort_values([*by, "median", "_value"], ascending=[*[True] * len(by), False, True], kind="stable")
    best = scores.drop_duplicates(by).reset_index(drop=True)
    spread = scores.groupby(by, dropna=False)["median"].agg(worst="min", values="size").reset_index()
    best = best.merge(spread, on=by, how="left").merge(span, on=by, how="left")
    grid = [float(v) for v in tune.values]
    low, high = np.fmin(best["low"], min(grid)), np.fmax(best["high"], max(grid))
    at_edge = _same(best["_value"], low) | _same(best["_value"], high)
    tie = _same(best["median"], best["worst"]) & (best["values"] > 1)
    as_text = {float(v): v for v in tune.values}
    return pd.DataFrame({**{c: best[c] for c in by}, tune.column: [as_text.get(v, f"{v:g}") for v in best["_value"]],
                         SCORE: best["median"], "runs": best["size"], "at_edge": np.asarray(at_edge, dtype=bool), "tie": np.asarray(tie, dtype=bool)})


def _same(a, b):
    """Equal up to float rounding, relatively: rates of 1e-7 and 2e-7 are not the same."""
    return np.isclose(a, b, rtol=1e-9, atol=0)


def ties(selected: pd.DataFrame) -> pd.Series:
    """Whether each pick is a tie (every value scored the same); False for tables made before ties."""
    return selected["tie"].astype(bool) if "tie" in selected else pd.Series(False, index=selected.index)


def beyond(value: float, grid: tuple[str, ...], side: int) -> float:
    """The next value past `value` on `side` (-1 below, +1 above), one step of the grid's mean
    log spacing, rounded to a plain number (1, 2, 3 or 5 times a power of ten) unless rounding
    would not move it past `value` (a grid finer than those numbers)."""
    numbers = sorted(float(v) for v in grid)
    step = (numbers[-1] / numbers[0]) ** (1 / (len(numbers) - 1))
    target = value * step ** side
    power = 10.0 ** np.floor(np.log10(target))
    plain = [m * power * scale for m in (1, 2, 3, 5) for scale in (0.1, 1, 10)]
    nearest = min(plain, key=lambda x: abs(np.log(x / target)))
    return nearest if (nearest - value) * side > 0 else target


def _values(job: list[str]) -> dict[str, str]:
    """A job's overrides by plain column name (`+experiment/task=x` -> {"task": "x"})."""
    return {column_name(o.split("=", 1)[0]): o.split("=", 1)[1] for o in job if "=" in o}  # `~key` deletes: no value


def widened(jobs: list[list[str]], selected: pd.DataFrame, tune: Tune) -> list[list[str]]:
    """The tuning jobs to add: for each group whose pick sits at its grid's edge, its jobs at that
    edge moved one value beyond it, unless the group was widened `tune.widen` times on that side."""
    if tune.widen == 0 or selected.empty:
        return []
    base = sorted(float(v) for v in tune.values)
    by_group: dict[tuple[str, ...], list[tuple[float, list[str]]]] = {}
    for job in jobs:
        values = _values(job)
        by_group.setdefault(tuple(str(values.get(c)) for c in tune.by), []).append((float(values[tune.column]), job))
    added = []
    for _, row in selected[selected["at_edge"].astype(bool) & ~ties(selected)].iterrows():
        group = by_group.get(tuple(str(row[c]) for c in tune.by), [])
        value = float(row[tune.column])
        grid = sorted({v for v, _ in group})
        if not grid:
            continue
        side = -1 if _same(value, grid[0]) else 1
        steps_taken = sum(v < base[0] and not _same(v, base[0]) for v in grid) if side < 0 else \
            sum(v > base[-1] and not _same(v, base[-1]) for v in grid)
        if steps_taken >= tune.widen:
            continue
        new = f"{beyond(value, tune.values, side):g}"
        for v, job in group:
            if _same(v, value):
                added.append([o if column_name(o.split("=", 1)[0]) != tune.column else f"{tune.param}={new}" for o in job])
    return added


def picked_jobs(jobs: list[list[str]], selected: pd.DataFrame, tune: Tune) -> tuple[list[list[str]], list[str]]:
    """The test grid's jobs, each with its group's picked value; and one line per group with no pick
    (its tuning runs all failed), whose jobs are left out."""
    picked = {tuple(str(row[c]) for c in tune.by): row[tune.column] for _, row in selected.iterrows()}
    out, missing = [], {}
    for job in jobs:
        values = _values(job)
        key = tuple(str(values.get(c)) for c in tune.by)
        if key in picked:
            out.append([*job, f"{tune.param}={picked[key]}"])
        else:
            missing[key] = " · ".join(f"{c} {v}" for c, v in zip(tune.by, key))
    return out, [f"no finished tuning run for {label}: its test jobs are not run" for label in missing.values()]


def describe(selected: pd.DataFrame, tune: Tune) -> list[str]:
    """The report's lines: each group's picked value, flagged when it sits at the grid's edge."""
    lines = []
    for _, row in selected.iterrows():
        group = " · ".join(str(row[c]) for c in tune.by)
        beyond_grid = "" if row[tune.column] in tune.values else " (beyond the tune's grid, which was widened)"
        edge = " ⚠ at the grid's edge" if row["at_edge"] else ""
        if row.get("tie", False):
            edge = " (every value scored the same: no rate trained it; a tie is not widened, by rule)"
        lines.append(f"{group}: {tune.column.split('.')[-1]} {row[tune.column]} (median validation accuracy {row[SCORE]:.3f}, "
                     f"{int(row['runs'])} tuning runs){beyond_grid}{edge}")
    return lines


def mark_edges(table: pd.DataFrame, selected: pd.DataFrame | None, tune: Tune | None) -> pd.DataFrame:
    """A claim's test-stage runs with `rate_at_edge`: whether their group's value was picked at the
    grid's edge (from `selected`; a tie is not), so a rule can say which of its comparisons read an
    edge pick. Unchanged for a claim that does not tune."""
    if tune is None or selected is None or selected.empty or not set(tune.by) <= set(table):
        return table
    by = list(tune.by)
    keys = {f"_{c}": table[c].astype(str) for c in by}
    edges = selected[by].astype(str).assign(at_edge=selected["at_edge"].astype(bool) & ~ties(selected))  # a tie is no edge pick
    edges = edges.rename(columns={**{c: f"_{c}" for c in by}, "at_edge": "rate_at_edge"})
    marked = table.assign(**keys).merge(edges, on=list(keys), how="left").drop(columns=list(keys))
    marked.index = table.index
    return marked
