"""Where does a new activation stand? Its jobs through the claims' grids, and its report.

Each claim's YAML says how a new function enters it (`claim.challenger`): it `joins` an axis of the
claim's sweep (`activation`, or an override such as claim 7's condition), and the claim's rule is
asked either with it among the field, or `in_place_of` the function the claim is about (the claim's
analysis has a `subject`, and `Analysis.about` asks it of another); `skip` says why a
claim does not apply. A claim's module may define `challenger(...)` for a section of its own.
`challenger_jobs` expands the grids (hydra_plugins' challenger sweeper runs them) and
`build_challenger_report` writes results/challengers/NAME.md.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from actlab.claims.base import DOES_NOT_APPLY, RESAMPLES, STABLE_SHARE, ChallengerView, Claim, Evidence, judge
from actlab.claims.registry import discover
from actlab.reporting.markdown import VERDICT_MARK, machine, software_versions, stability_text, write_atomic


class NoRunsOfThisVersion(RuntimeError):
    """The store has no claims' runs this code may read (actlab.pipeline.version): nothing to stand beside."""


@dataclass(frozen=True)
class ChallengerJob:
    experiment: str
    overrides: list[str]
    fingerprint: str
    alone: bool  # timed: no other job may share the cores


def _extra(name: str, claim: Claim) -> list[str]:
    """The overrides that put the new function in the claim's grid."""
    joins = claim.challenge.joins
    return [f"activation={name}"] + ([] if joins in (None, "activation") else [joins])


def entered(dirs: list[Path] | None = None) -> list[Claim]:
    """The claims a new function's jobs join (their YAML's `claim.challenger.joins`)."""
    return [claim for claim in discover(dirs).values() if claim.challenge.joins and not claim.challenge.skip]


def challenger_jobs(name: str, profile: str, dirs: list[Path] | None = None, composer=None,
                    runs: pd.DataFrame | None = None) -> list[ChallengerJob]:
    """The new function's jobs in every claim's grid it joins, each config once (`composer`: a
    running sweep's own config loader, see claims_report.expected_jobs). Without `runs`: every
    claim's jobs, tuning stages included; with `runs` (the store's, after those ran): the test
    stages of the claims that tune, at the values picked from those runs."""
    from actlab.reporting.claims_report import expected_jobs, picked

    jobs, seen = [], set()
    for claim in entered(dirs):
        table = expected_jobs(claim.name, profile, dirs, _extra(name, claim), composer, stage="tune")
        if runs is not None:
            if table.attrs["tune"] is None:
                continue
            table = expected_jobs(claim.name, profile, dirs, _extra(name, claim), composer, stage="test",
                                  selected=picked(table, runs)[1])
        for overrides, fp in zip(table.attrs["overrides"], table["fingerprint"]):
            if fp in seen:
                continue
            seen.add(fp)
            jobs.append(ChallengerJob(claim.name, [f"experiment={claim.name}", f"profile={profile}", *overrides], fp, claim.workers == 1))
    return jobs


def _without(evidence: Evidence, column: str, subject: str) -> Evidence:
    """The claim's table without `subject`'s rows: the new function stands in its place."""
    table = evidence.table[evidence.table[column] != subject].reset_index(drop=True)
    return Evidence(table, evidence.layers, evidence.history, artifact=evidence.artifact)


def _numbers_about(numbers: list[str], name: str) -> list[str]:
    return [n for n in numbers if name in n] or numbers


def view(claim: Claim, name: str, evidence: Evidence, figures_dir: Path, dirs: list[Path], scratch: Path) -> ChallengerView:
    """One claim's verdict by its own rule, with the new function in it."""
    challenge = claim.challenge
    if challenge.skip:
        return ChallengerView(DOES_NOT_APPLY, f"the claim {challenge.skip}", [])
    if (hook := claim.hook("challenger")) is not None:
        return hook(claim, name, evidence, figures_dir, dirs)
    figure = figures_dir / f"{name}_{claim.name}.png"
    if challenge.in_place_of:
        drawn = claim.analyze(evidence, figure)  # the figure: the new function beside every other
        asked = claim.analyze.about(name, name)
        result = asked(_without(evidence, challenge.column, challenge.in_place_of), scratch / figure.name)
        from actlab.claims.base import stability

        result.stability = stability(asked, _without(evidence, challenge.column, challenge.in_place_of), seed=claim.seed)
        return ChallengerView(result.verdict, f"the claim's rule with {name} in {challenge.in_place_of}'s place",
                              result.numbers, drawn.figure, result.stability)
    result = judge(claim, evidence, figure)
    return ChallengerView(result.verdict, f"the claim's rule with {name} among the functions",
                          _numbers_about(result.numbers, name), result.figure, result.stability)


def build_challenger_report(uri: str, name: str, profile: str, dirs: list[Path], out: Path) -> Path:
    """results/challengers/NAME.md and its figures, from the claims' runs and the new function's."""
    from actlab.pipeline.track import Store
    from actlab.pipeline.version import LEGACY, RESULTS_VERSION
    from actlab.pipeline.version import describe as describe_versions
    from actlab.reporting.claims_report import ReportData, used_runs, warn_newer
    from actlab.reporting.gallery import activation_config

    started = time.perf_counter()
    store = Store(uri, f"claims-{profile}")
    data = ReportData(store)
    warn_newer(data.ignored)
    if data.runs.empty:
        ignored = ", ".join(f"{n} {'legacy' if v == LEGACY else 'of version ' + v}" for v, n in data.ignored.items())
        raise NoRunsOfThisVersion(
            f"no runs of results version {RESULTS_VERSION} (this code's) in experiment claims-{profile}"
            + (f" (it holds runs of other versions only: {ignored})" if ignored else "")
            + f": run the claims' sweeps (bash experiments/run_claims.sh {profile}) and the challenger sweep with this code first")
    claims = discover(dirs)
    evidences, missing = {}, 0
    for claim in claims.values():
        if claim.challenge.skip or not claim.challenge.joins:
            continue
        others = data.evidence(claim, profile, dirs)
        new = data.evidence(claim, profile, dirs, _extra(name, claim))
        missing += int((new.table["status"] == "missing").sum())
        table = pd.concat([others.table, new.table.drop(columns=[c for c in new.table if c not in others.table])],
                          ignore_index=True).drop_duplicates("fingerprint")
        if claim.challenge.as_value:  # the new function's rows carry a placeholder value (claim 7's condition)
            table[claim.challenge.column] = table[claim.challenge.column].replace({claim.challenge.as_value: name})
        evidences[claim.name] = Evidence(table, data.layers, data.history, artifact=data.artifact)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="actlab-challenger-"))
    views = [(claim, view(claim, name, evidences.get(claim.name, Evidence(pd.DataFrame({"status": []}))), figures_dir, dirs, scratch))
             for claim in claims.values()]
    config = activation_config(name, dirs)
    shown = {k: v for k, v in config.items() if k not in ("_target_", "formula", "suggested_initializer", "in_article")}
    mark = {**VERDICT_MARK, DOES_NOT_APPLY: "— does not apply"}
    text = [
        f"# Challenger: {name}",
        "",
        f"Generated by `python -m report --challenger {name} --profile {profile}` from the MLflow runs of the claims' "
        f"experiment `claims-{profile}`: {name}'s own runs (from `python -m run -m experiment=challenger activation={name} "
        f"profile={profile}`) beside every other function's. Each verdict comes from the claim's own rule (the module beside "
        "its experiment YAML), the same code as REPORT.md's, and so does its stability: the share of "
        f"{RESAMPLES} bootstrap resamples of the claim's blocks (task × seed) for which that rule gives the same "
        f"verdict, marked unstable under {STABLE_SHARE:.0%}.",
        "",
        f"- **Function:** `{config['_target_']}`" + (f", {config['formula']}" if config.get("formula") else "")
        + (f"; parameters {', '.join(f'{k}={v}' for k, v in shown.items())}" if shown else ""),
        f"- **Suggested initializer:** {config.get('suggested_initializer', 'glorot_uniform')}",
        f"- **Machine:** {machine()}; {software_versions()}",
        f"- **Runs of {name} missing:** {missing}" + (" (run the challenger sweep first)" if missing else ""),
        f"- **Code versions:** {describe_versions(used_runs(data, list(evidences.values())), data.ignored)}",
        f"- **Report time:** {time.perf_counter() - started:.0f} s",
        "",
        "| # | The article says | How it is asked of " + name + " | Verdict | Stability |",
        "|---|---|---|---|---|",
    ]
    for claim, line in views:
        stable = "" if line.verdict == DOES_NOT_APPLY else stability_text(line.stability)
        text.append(f"| {claim.key} | {claim.article} | {line.how} | {mark.get(line.verdict, line.verdict)} | {stable} |")
    for claim, line in views:
        if line.verdict == DOES_NOT_APPLY:
            continue
        text += ["", f"## {claim.label}: {claim.title}", "", f"**Asked:** {line.how}  ",
                 f"**Verdict:** {mark.get(line.verdict, line.verdict)}  ", f"**Stability:** {stability_text(line.stability, long=True)}", "",
                 *[f"- {n}" for n in line.numbers]]
        if line.figure is not None and Path(line.figure).exists():
            text += ["", f"![{claim.label}]({Path(line.figure).relative_to(out).as_posix()})"]
    return write_atomic(out / f"{name}.md", "\n".join(text) + "\n")
