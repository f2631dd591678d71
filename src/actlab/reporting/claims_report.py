"""MLflow runs -> pandas -> claims, verdicts, figures -> results/REPORT.md (and to MLflow).

Which runs belong to a claim is computed, not tagged: the claim's experiment file is composed for
the chosen profile, its sweep is expanded exactly as Hydra's basic sweeper expands it, and each
job's config fingerprint is looked up among the runs. So a claim reads exactly its own grid, shared
runs (claims 5, 8 and 9 overlap) are reused, and missing or failed jobs are counted, not hidden.
The claims are whatever actlab.claims.registry finds in `experiments/` and the `--config-dir` folders.
"""

from __future__ import annotations

import contextlib
import functools
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from hydra import compose, initialize_config_dir
from hydra.core.override_parser.overrides_parser import OverridesParser
from omegaconf import OmegaConf

from actlab.claims import design
from actlab.claims.base import RESAMPLES, STABLE_SHARE, Claim, ClaimResult, Evidence, judge_all
from actlab.claims.registry import discover
from actlab.claims.tuning import Tune, describe, pick, picked_jobs, ties, widened
from actlab.pipeline import metric_keys
from actlab.pipeline.config import CONF_DIR, coerce_floats, column_name, fingerprint
from actlab.pipeline.sweep import expand
from actlab.pipeline.track import Store
from actlab.pipeline.version import describe as describe_versions
from actlab.pipeline.version import newer_versions, split_by_version
from actlab.reporting import detectability, literature
from actlab.reporting.markdown import VERDICT_MARK, machine, software_versions, stability_text, write_atomic
from actlab.stats import ALPHA


def _is_group_override(override: str, dirs: list[Path]) -> bool:
    """`activation=selu`, `+experiment/task=x`: change the defaults list, so need a full compose."""
    key = override.split("=", 1)[0]
    return key.startswith(("+", "~")) or any((Path(d) / key).is_dir() for d in dirs)


def _searchpath(dirs: list[Path]) -> list[str]:
    users = [str(d) for d in dirs if Path(d) != CONF_DIR]
    return [f"hydra.searchpath=[{','.join('file://' + d for d in users)}]"] if users else []


@contextlib.contextmanager
def _composer(composer: Callable[[list[str]], Any] | None):
    """`composer` (e.g. a running sweep's own config loader), or Hydra's compose API on conf/."""
    if composer is not None:
        yield composer
        return
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield lambda overrides: compose(config_name="config", overrides=overrides, return_hydra_config=True)


def expected_jobs(experiment: str, profile: str, dirs: list[Path] | None = None, extra: list[str] = (),
                  composer: Callable[[list[str]], Any] | None = None, stage: str = "tune",
                  selected: pd.DataFrame | None = None, listed: list[list[str]] | None = None) -> pd.DataFrame:
    """One row per job of the experiment's sweep: its override values (in plain column names:
    `+experiment/task` -> `task`) and its config fingerprint; `.attrs["overrides"]` keeps each
    job's overrides as Hydra takes them.

    `extra` overrides are added as on the command line (a value replaces the sweep's values for
    that key: `activation=serf` runs the claim's grid for serf alone). Composing ~1000 jobs through
    Hydra took a minute; jobs that differ only in plain values (seeds, learning rates) share one
    composition of their group choices, with the values then set as Hydra sets command-line
    values: after composition, parsed by its override grammar.

    A claim that tunes (`tune:`, actlab.claims.tuning) has stages: `stage="tune"` (the default:
    the jobs a sweep runs first, all of them for a claim that does not tune) gives its tuning grid;
    `stage="test"` its own grid with each group's value from `selected`; `stage="plan"` that grid
    before any pick, without fingerprints (what its deciding tests' blocks are counted on). `.attrs["tune"]` is the Tune.
    `listed`: these jobs instead of the sweep's (a widened tuning grid's, see `tuning_stage`)."""
    dirs = list(dirs or [CONF_DIR])
    base = [*(_searchpath(dirs) if composer is None else []), f"experiment={experiment}", f"profile={profile}"]
    parser = OverridesParser.create()
    with _composer(composer) as compose_job:
        composed = compose_job(base)
        params = OmegaConf.to_container(composed.hydra.sweeper.params, resolve=True)
        tune = Tune.from_config(composed.get("tune"))
        if tune is not None and stage == "tune":
            params = tune.tuning_params(params)
        jobs = listed if listed is not None else expand([*(f"{k}={v}" for k, v in params.items()), *extra], dirs)
        if tune is not None and stage == "test":  # ("plan": the sweep's own grid, before any pick)
            jobs, _ = picked_jobs(jobs, selected if selected is not None else pick(pd.DataFrame(), tune), tune)
        by_groups: dict[tuple[str, ...], Any] = {}
        rows = []
        for job in jobs:
            if stage == "plan":  # the grid's values only: no job is composed
                rows.append({column_name(k): v for k, v in (o.split("=", 1) for o in job)})
                continue
            groups = tuple(o for o in job if _is_group_override(o, dirs))
            if groups not in by_groups:
                by_groups[groups] = compose_job([*base, *groups])
            job_cfg = by_groups[groups].copy()
            for value_override in parser.parse_overrides([o for o in job if o not in groups]):
                OmegaConf.update(job_cfg, value_override.key_or_group, value_override.value(), merge=True)
            coerce_floats(job_cfg)
            rows.append({**{column_name(k): v for k, v in (o.split("=", 1) for o in job)}, "fingerprint": fingerprint(job_cfg)})
    table = pd.DataFrame(rows)
    table.attrs["overrides"] = [list(job) for job in jobs]
    table.attrs["tune"] = tune
    return table


def load_runs(store: Store) -> pd.DataFrame:
    """Every training run of the experiment (not sweep parents, not reports), newest first."""
    import mlflow

    mlflow.set_tracking_uri(store.uri)
    runs = mlflow.search_runs(
        experiment_ids=[store.experiment_id], filter_string="tags.config_fingerprint != ''",
        order_by=["attributes.start_time DESC"], max_results=50000,
    )
    return runs


def current_runs(store: Store) -> pd.DataFrame:
    """The runs of this code's results version: the only ones a pick, a skip or a report may read."""
    return split_by_version(load_runs(store))[0]


def _evidence_table(jobs: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    if "fingerprint" not in jobs:  # no jobs (a tuning claim before any pick): an empty table with the usual columns
        jobs = jobs.assign(fingerprint=pd.Series(dtype=object))
    if runs.empty or jobs.empty:
        table = jobs.assign(run_id=None, status="missing", diverged=False)
        return table
    # Prefer a FINISHED run of a fingerprint; among several, the newest (runs are newest first).
    runs = runs.assign(_rank=(runs["status"] != "FINISHED").astype(int)).sort_values("_rank", kind="stable")
    runs = runs.drop_duplicates("tags.config_fingerprint")
    renamed = {"tags.config_fingerprint": "fingerprint"}
    for column in runs.columns:
        for prefix in ("metrics.", "params."):
            name = column[len(prefix):]
            if prefix == "metrics.":
                name = metric_keys.SHORT.get(name, name)  # best/test_accuracy -> test_accuracy
            if column.startswith(prefix) and name not in jobs.columns and name not in renamed.values():
                renamed[column] = name
    runs = runs.rename(columns=renamed)
    if "tags.diverged" not in runs:
        runs["tags.diverged"] = None
    keep = ["fingerprint", "run_id", "status", "tags.diverged", *[v for v in renamed.values() if v != "fingerprint"]]
    table = jobs.merge(runs[keep], on="fingerprint", how="left")
    table["status"] = table["status"].fillna("missing")
    table["diverged"] = table["tags.diverged"].eq("true")
    return table.drop(columns=["tags.diverged"])


def picked(tuning_jobs: pd.DataFrame, runs: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A tuning stage's runs (jobs from `expected_jobs(stage="tune")`) and each group's pick."""
    tuning = _evidence_table(tuning_jobs, runs)
    return tuning, pick(tuning, tuning_jobs.attrs["tune"])


def tuning_stage(experiment: str, profile: str, dirs: list[Path] | None, extra: list[str], composer,
                 runs: pd.DataFrame | Callable[[], pd.DataFrame],
                 launch: Callable[[list[list[str]]], Any] | None = None,
                 jobs: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """A tuning claim's tuning jobs, widened where a group's pick sits at its grid's edge
    (actlab.claims.tuning.widened), their runs, and each group's pick. With `launch`, each widening's
    jobs are trained before picking again (the sweeper); without, the widening the runs already
    call for is planned (jobs with no run yet), so the report and the sweeper read one rule.
    `runs`: a table, or a function that reads the store anew; `jobs`: the unwidened tuning jobs, if
    already composed."""
    read = runs if callable(runs) else (lambda: runs)
    if jobs is None:
        jobs = expected_jobs(experiment, profile, dirs, extra, composer, stage="tune")
    tune = jobs.attrs["tune"]
    tuning, selected = picked(jobs, read())
    for _ in range(2 * tune.widen):  # one step per round, at most `widen` on each side
        more = [job for job in widened(jobs.attrs["overrides"], selected, tune) if job not in jobs.attrs["overrides"]]
        if not more:
            break
        if launch is not None:
            launch(more)
        added = expected_jobs(experiment, profile, dirs, extra, composer, stage="tune", listed=more)
        overrides = jobs.attrs["overrides"] + added.attrs["overrides"]
        jobs = pd.concat([jobs, added], ignore_index=True)
        jobs.attrs.update(overrides=overrides, tune=tune)
        tuning, selected = picked(jobs, read())
    return jobs, tuning, selected


def chance_column(table: pd.DataFrame) -> pd.Series:
    """Each run's chance level: the share of the validation split's most frequent class, which every
    run logs (`data.chance`); NaN for runs without it (no run is then marked collapsed)."""
    if "data.chance" not in table:
        return pd.Series(np.nan, index=table.index, dtype=float)
    return pd.to_numeric(table["data.chance"], errors="coerce")


def used_runs(data: "ReportData", evidences: list[Evidence]) -> pd.DataFrame:
    """The runs (of this results version) that the evidence tables matched to a job, once each."""
    ids = {run_id for evidence in evidences for run_id in evidence.table["run_id"].dropna()}
    return data.runs[data.runs["run_id"].isin(ids)] if "run_id" in data.runs else data.runs.iloc[0:0]


def warn_newer(ignored: dict[str, int]) -> None:
    """Runs of a newer results version than this code's: say so (the report cannot use them)."""
    import sys

    newer = newer_versions(ignored)
    if newer:
        listed = ", ".join(f"{n} of version {v}" for v, n in newer.items())
        print(f"warning: the store holds runs of a newer results version ({listed}) made by a later checkout; "
              "this code reads only its own version's runs: update the code to read them", file=sys.stderr)


class ReportData:
    """Runs of one store and lazy, cached per-run details (layer tables, metric histories)."""

    def __init__(self, store: Store):
        self.store = store
        # Only runs of this code's results version (actlab.pipeline.version); the others are counted.
        self.runs, self.ignored = split_by_version(load_runs(store))
        # Downloaded layer tables live only as long as this object (removed when it is collected).
        self._tmp_dir = tempfile.TemporaryDirectory(prefix="actlab-report-")
        self._tmp = Path(self._tmp_dir.name)

    @functools.lru_cache(maxsize=None)  # noqa: B019 - one ReportData per report: the cache lives as long as it should
    def layers(self, run_id: str) -> pd.DataFrame:
        path = self.store.client.download_artifacts(run_id, "layer_stats.csv", str(self._tmp / run_id))
        return pd.read_csv(path)

    @functools.lru_cache(maxsize=None)  # noqa: B019 - one ReportData per report: the cache lives as long as it should
    def artifact(self, run_id: str, name: str) -> pd.DataFrame:
        """A run's CSV artifact `name` as a table (claim 6's per-round timings)."""
        path = self.store.client.download_artifacts(run_id, name, str(self._tmp / run_id))
        return pd.read_csv(path)

    @functools.lru_cache(maxsize=None)  # noqa: B019 - one ReportData per report: the cache lives as long as it should
    def history(self, run_id: str, curve: str) -> list[float]:
        """A learning curve (`val_accuracy`, ...), epoch by epoch."""
        key = metric_keys.curve(curve)
        return [m.value for m in sorted(self.store.client.get_metric_history(run_id, key), key=lambda m: m.step)]

    def evidence(self, claim: Claim, profile: str, dirs: list[Path] | None = None, extra: list[str] = ()) -> Evidence:
        jobs = expected_jobs(claim.name, profile, dirs, extra, stage="tune")
        tune, tuning, selected = jobs.attrs["tune"], None, None
        if tune is not None:  # tune, then test: pick on the (widened) tuning runs, then read the test stage
            _, tuning, selected = tuning_stage(claim.name, profile, dirs, extra, None, self.runs, jobs=jobs)
            jobs = expected_jobs(claim.name, profile, dirs, extra, stage="test", selected=selected)
        table = _evidence_table(jobs, self.runs)
        table["chance"] = chance_column(table)
        # The sweep's axes (task, activation, seed, ...): what the per-task detectability compares.
        table.attrs["axes"] = [c for c in jobs.columns if c != "fingerprint"]
        return Evidence(table, self.layers, self.history, artifact=self.artifact, tuning=tuning, selected=selected, tune=tune)


def _config_dir_args(dirs: list[Path]) -> str:
    return "".join(f" --config-dir {_shown_path(d)}" for d in dirs if Path(d) != CONF_DIR)


def sweep_commands(profile: str, claims: list[Claim], dirs: list[Path] | None = None) -> list[str]:
    """The sweeps that make the claims' runs: what experiments/run_claims.sh runs. A claim whose
    jobs all belong to another listed claim's sweep (`Claim.within`) gets its runs from that one."""
    listed = {c.name for c in claims}
    return [f"python -m run -m{_config_dir_args(dirs or [])} experiment={c.name} profile={profile} hydra/launcher=joblib "
            f"hydra.launcher.n_jobs={c.workers}" for c in claims if c.within not in listed]


def _commands(profile: str, claims: list[Claim], all_claims: dict[str, Claim], dirs: list[Path]) -> list[str]:
    lines = sweep_commands(profile, claims, dirs)
    chosen = " ".join(f"--claim {c.key}" for c in claims) if len(claims) < len(all_claims) else ""
    return lines + [f"python -m report --profile {profile}{_config_dir_args(dirs)} {chosen}".rstrip()]


def _shown_path(path: Path) -> str:
    """A path as a reader of the report can use it: relative to the project when inside it."""
    from actlab import PROJECT_ROOT

    path = Path(path).resolve()
    experiments = (CONF_DIR / "experiment").resolve()
    if path.parent == experiments:
        return f"experiments/{path.name}"
    return str(path.relative_to(PROJECT_ROOT)) if path.is_relative_to(PROJECT_ROOT) else str(path)


def deciding_lines(claim: Claim, evidence: Evidence, result: ClaimResult) -> list[str]:
    """The tests the verdict rests on, each as the rule computed it beside the smallest p its design
    can reach; then, for a claim that tunes, each group's picked value."""
    lines = []
    if claim.tests:
        lines.append(f"**Deciding tests** (one Holm family; each beside the smallest p its n and family allow; "
                     f"a verdict needs p < {ALPHA}):")
        powers = design.power(claim.tests, evidence.table)
        for p in powers:
            found = result.tests.get(p.test.name)
            lines.append(f"- {p}" + (f" — measured: {found}" if found is not None else " — not computed (no runs)"))
        if all(p.floor >= ALPHA for p in powers):
            lines.append(f"- ⚠ no deciding test can reach p < {ALPHA} with these jobs: no verdict but inconclusive was possible "
                         "(a preview, whatever its stability)")
        lines.append("")
    tune = evidence.tune
    if tune is not None and evidence.selected is not None:
        tied = ties(evidence.selected)
        edges = int((evidence.selected["at_edge"].astype(bool) & ~tied).sum())
        unrun = int((evidence.tuning["status"] == "missing").sum()) if evidence.tuning is not None else 0
        widening = (f", widened by up to {tune.widen} value(s) beyond an edge where a group's pick sat there"
                    if tune.widen else ", not widened")
        lines.append(f"**Tune, then test:** {tune.column.split('.')[-1]} picked per {' × '.join(tune.by)} on tuning seeds {tune.seeds} "
                     f"from {{{', '.join(tune.values)}}}{widening}; the runs above are fresh seeds at the picked value"
                     + (f"; {edges} pick(s) still at the edge ⚠" if edges else "; no pick at the grid's edge")
                     + (f"; {int(tied.sum())} group(s) scored the same at every value (not trained by any: not widened)" if tied.any() else "")
                     + ".")
        if unrun:
            lines.append(f"⚠ {unrun} tuning job(s) have no run (a widened grid's, or failed ones): the picks are provisional "
                         "until the claim's sweep is run again.")
        lines += [f"<details><summary>{len(evidence.selected)} picks</summary>", "", *[f"- {x}" for x in describe(evidence.selected, tune)],
                  "", "</details>", ""]
    return lines


def render(profile: str, results: list[tuple[Claim, Evidence, ClaimResult]], out: Path, header: dict[str, str]) -> str:
    lines = [
        "# The activation lab: the article's claims, measured",
        "",
        "Generated by `python -m report` from the MLflow runs; every number and verdict below is computed "
        "(each claim's rule is the module beside its experiment YAML in `experiments/`), none is typed by hand.",
        "",
        f"- **Profile:** `{profile}`",
        f"- **Machine:** {header['machine']}",
        f"- **Software:** {header['versions']}",
        f"- **Wall time:** {header['wall_time']}",
        *([f"- **Stability resampling:** {header['resampling']}"] if header.get("resampling") else []),
        f"- **Runs:** {header['runs']}",
        f"- **Code versions:** {header['code']}",
        "",
        "Reproduce (the script `experiments/run_claims.sh " + profile + "` runs exactly these):",
        "",
        "```",
        *header["commands"],
        "```",
        "",
        "Protocol: seeds as listed per experiment; intervals are 95% percentile-bootstrap intervals of the median; "
        "comparisons are one-sided Wilcoxon signed-rank tests at 5% in the article's direction and in the opposite one, "
        "paired by task and seed; learning rates are chosen per activation and task on validation accuracy only; "
        "the test split is evaluated once per run, with the weights of the best validation epoch. Small tables (wine, breast "
        "cancer) are split anew for each seed (stratified, 30% test; their task YAMLs set `dataset.split_seed: ${seed}`), "
        "so a block is split × seed and the seeds' spread includes the split's; each claim with tasks lists what each task "
        "can detect.",
        "",
        "Three safeguards: all one-sided tests of a claim are one family, Holm-adjusted (the p-values shown "
        "are adjusted, with the raw ones beside them, and each comes with an effect size: r_rb, the matched-pairs "
        "rank-biserial correlation, or a ratio); a run whose network collapsed (best validation accuracy below chance "
        "+ 0.1 × (1 − chance), chance = the majority class's share) is named, and left out wherever a statistic "
        "describes a trained network's insides (dead units, gradients, activation statistics); and every verdict "
        f"has its stability: the share of {RESAMPLES} bootstrap resamples of the claim's blocks (task × seed, whole blocks "
        f"drawn with replacement) for which the same rule code gives the same verdict; under {STABLE_SHARE:.0%} it is "
        "marked unstable.",
        "",
        "## Summary",
        "",
        "| # | The article says | Measured | Verdict | Stability | Smallest p the design can reach |",
        "|---|---|---|---|---|---|",
    ]
    for claim, evidence, result in results:
        lines.append(f"| {claim.key} | {claim.article} | {result.measured} | {VERDICT_MARK[result.verdict]} | "
                     f"{stability_text(result.stability)} | {design.summary(design.power(claim.tests, evidence.table))} |")
    lines += ["", *literature.render([(claim, result) for claim, _, result in results])]
    for claim, evidence, result in results:
        table = evidence.table
        counts = table["status"].value_counts().to_dict()
        diverged = int(table["diverged"].sum()) if "diverged" in table else 0
        lines += [
            "",
            f"## {claim.label}: {claim.title}",
            "",
            f"**The article:** {claim.article}  ",
            f"**Measured:** {result.measured}  ",
            f"**Verdict:** {VERDICT_MARK[result.verdict]}  ",
            f"**Stability:** {stability_text(result.stability, long=True)}  ",
            f"**Runs:** {counts.get('FINISHED', 0)} finished of {len(table)} in the sweep `{_shown_path(claim.path)}`"
            + (f", {diverged} diverged" if diverged else "")
            + (f", {counts.get('missing', 0)} missing" if counts.get("missing") else "")
            + (f" (run_claims.sh trains them in {claim.within}'s sweep, which holds every one of its jobs)"
               if claim.within else ""),
            "",
            *deciding_lines(claim, evidence, result),
            *[f"- {n}" for n in result.numbers],
            *detectability.render(detectability.resolutions(table, table.attrs.get("axes"))),
        ]
        if result.notes:
            lines += ["", *[f"> {n}  " for n in result.notes]]
        if result.figure is not None and result.figure.exists():
            lines += ["", f"![{claim.label}]({result.figure.relative_to(out).as_posix()})"]
    return "\n".join(lines) + "\n"


def build_report(uri: str, profile: str, keys: list[str], out: Path, wall_time_s: float | None = None,
                 log_to_mlflow: bool = True, dirs: list[Path] | None = None) -> Path:
    """REPORT.md (every claim found) or REPORT-<claims>.md (those chosen by number or name)."""
    from actlab.claims.registry import find

    started = time.perf_counter()
    dirs = list(dirs or [CONF_DIR])
    all_claims = discover(dirs)
    claims = [find(k, all_claims) for k in keys] if keys else list(all_claims.values())
    store = Store(uri, f"claims-{profile}")
    data = ReportData(store)
    warn_newer(data.ignored)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    evidences = [data.evidence(claim, profile, dirs) for claim in claims]
    resampling_started = time.perf_counter()
    judged, workers = judge_all([(claim, evidence, figures_dir / f"{claim.name}.png") for claim, evidence in zip(claims, evidences)])
    results = list(zip(claims, evidences, judged))
    stability_s = sum(result.stability.seconds for result in judged if result.stability)
    resampling_s = time.perf_counter() - resampling_started
    finished = sum(int((e.table["status"] == "FINISHED").sum()) for _, e, _ in results)
    expected = sum(len(e.table) for _, e, _ in results)
    used = used_runs(data, [e for _, e, _ in results])
    report_s = time.perf_counter() - started
    # The benchmark parses this line ("experiments X min + report N s"): keep its shape.
    wall = f"experiments {wall_time_s / 60:.1f} min + report {report_s:.0f} s" if wall_time_s else f"report {report_s:.0f} s (experiments not timed)"
    header = {
        "machine": machine(), "versions": software_versions(), "wall_time": wall,
        "resampling": (f"{RESAMPLES} block resamples per claim, {stability_s:.0f} s of work on {workers} process(es); with the verdicts "
                       f"and figures, {resampling_s:.0f} s of the report's time"),
        "runs": f"{finished} finished of {expected} jobs across the claims' sweeps (shared runs counted once per claim)",
        "commands": _commands(profile, claims, all_claims, dirs),
        "code": describe_versions(used, data.ignored),
    }
    name = "REPORT.md" if len(claims) == len(all_claims) else "REPORT-" + "-".join(c.name for c in claims) + ".md"
    path = write_atomic(out / name, render(profile, results, out, header))  # never a half-written report
    if log_to_mlflow:
        with store.start_run(f"report · {profile}", {"report": "true"}) as run:
            run.client.log_artifact(run.run_id, str(path))
            for _, _, result in results:
                if result.figure is not None and result.figure.exists():
                    run.client.log_artifact(run.run_id, str(result.figure), "figures")
    return path
