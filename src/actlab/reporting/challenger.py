"""Where does a new activation stand? Its jobs through the claims' grids, and its report.

`experiment=challenger` (experiments/challenger.yaml) lists the claims a new function is measured
on and where it goes in each grid; `challenger_jobs` expands them (hydra_plugins' challenger
sweeper runs them) and `build_challenger_report` reads its runs beside every other function's and
writes results/challengers/NAME.md. Every verdict comes from the claim's own rule in claims.py:
either with the new function in the field (claims 1, 3, 8), or in the place of the function the
article makes the claim about (ELU in claims 5 and 6, SELU's own conditions in claim 7).
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import OmegaConf

from actlab.claims import base as claim_rules

from actlab import figures
from actlab.claims.base import CLAIMS, TASK, Claim, ClaimResult, Evidence, Stability, judge
from actlab.pipeline.config import CONF_DIR

EXPERIMENT_FILE = CONF_DIR / "experiment" / "challenger.yaml"
CONDITION = claim_rules.CONDITION
# The claims made about one function, which a new function is put in the place of.
IN_PLACE_OF = {5: ("activation", "elu"), 6: ("activation", "elu"), 7: (CONDITION, "selu_lecun")}
NOT_ABOUT_A_NEW_FUNCTION = {
    2: "compares tanh with sigmoid only",
    4: "is about PReLU's learned slope and data size",
    9: "is about Leaky ReLU's slope",
}


class NoRunsOfThisVersion(RuntimeError):
    """The store has no claims' runs this code may read (actlab.pipeline.version): nothing to stand beside."""


@dataclass(frozen=True)
class ChallengerJob:
    experiment: str
    overrides: list[str]
    fingerprint: str
    alone: bool  # timed: no other job may share the cores


def claim_places(dirs: list[Path] | None = None) -> dict[str, str]:
    """experiments/challenger.yaml's `hydra.sweeper.claims`: claim experiment -> the new function's place."""
    path = next((Path(d) / "experiment" / "challenger.yaml" for d in reversed(dirs or [CONF_DIR])
                 if (Path(d) / "experiment" / "challenger.yaml").exists()), EXPERIMENT_FILE)
    return dict(OmegaConf.to_container(OmegaConf.load(path).hydra.sweeper.claims))


def _extra(name: str, place: str) -> list[str]:
    return [f"activation={name}"] + ([] if place == "activation" else [place])


def challenger_jobs(name: str, profile: str, places: dict[str, str], dirs: list[Path] | None = None,
                    composer=None) -> list[ChallengerJob]:
    """The new function's jobs in every listed claim's grid, each config once (`composer`: a
    running sweep's own config loader, see report.expected_jobs)."""
    from actlab.reporting.claims_report import expected_jobs

    by_experiment = {claim.experiment: claim for claim in CLAIMS.values()}
    jobs, seen = [], set()
    for experiment, place in places.items():
        table = expected_jobs(experiment, profile, dirs, _extra(name, place), composer)
        for _, row in table.iterrows():
            if row["fingerprint"] in seen:
                continue
            seen.add(row["fingerprint"])
            overrides = [f"experiment={experiment}", f"profile={profile}",
                         *(f"{key}={value}" for key, value in row.items() if key != "fingerprint")]
            jobs.append(ChallengerJob(experiment, overrides, row["fingerprint"], by_experiment[experiment].workers == 1))
    return jobs


def _in_place_of(evidence: Evidence, column: str, subject: str, new: str) -> Evidence:
    """The claim's table with the new function's rows standing in for `subject`'s."""
    table = evidence.table
    table = table[table[column] != subject].copy()
    table.loc[table[column] == new, column] = subject
    return Evidence(table.reset_index(drop=True), evidence.layers, evidence.history)


def _rank_estimates(evidence: Evidence) -> pd.DataFrame:
    """Mean test-accuracy rank of every function over task × seed blocks (claim 8's protocol:
    each function at its validation-selected learning rate), with a bootstrap interval over blocks."""
    selected = claim_rules.select_learning_rate(evidence.finished(), [TASK, "activation"])
    wide = selected.pivot_table(index=[TASK, "seed"], columns="activation", values="test_accuracy").dropna()
    ranks = wide.rank(axis=1, ascending=False)
    rng = np.random.default_rng(0)
    boots = np.array([ranks.iloc[rng.integers(0, len(ranks), len(ranks))].mean().to_numpy() for _ in range(2000)])
    table = pd.DataFrame({"mean_rank": ranks.mean(), "low": np.percentile(boots, 2.5, axis=0),
                          "high": np.percentile(boots, 97.5, axis=0)}, index=ranks.columns)
    return table.sort_values("mean_rank").assign(blocks=len(ranks))


@dataclass
class Line:
    claim: Claim
    verdict: str
    how: str
    numbers: list[str]
    figure: Path | None = None
    stability: Stability | None = None


def _numbers_about(result: ClaimResult, *words: str) -> list[str]:
    return [n for n in result.numbers if any(w in n for w in words)]


def analyze(name: str, evidences: dict[int, Evidence], figures_dir: Path, dirs: list[Path]) -> list[Line]:
    """One line per claim: its verdict by the claim's own rule, with the new function in it."""
    lines = []
    scratch = Path(tempfile.mkdtemp(prefix="actlab-challenger-"))
    for number, claim in CLAIMS.items():
        if number in NOT_ABOUT_A_NEW_FUNCTION:
            lines.append(Line(claim, "does not apply", f"the claim {NOT_ABOUT_A_NEW_FUNCTION[number]}", []))
            continue
        evidence = evidences[number]
        figure = figures_dir / f"{name}_claim{number:02d}_{claim.slug}.png"
        if number in IN_PLACE_OF:
            column, subject = IN_PLACE_OF[number]
            new = "challenger" if column == CONDITION else name
            shown = evidence if column != CONDITION else Evidence(
                evidence.table.replace({CONDITION: {"challenger": f"{name} (suggested initializer)"}}), evidence.layers, evidence.history)
            drawn = claim.analyze(shown, figure)  # the figure: the new function beside every other
            result = judge(claim, _in_place_of(evidence, column, subject, new), scratch / figure.name)
            label = name if column != CONDITION else f"{name} (suggested initializer)"
            numbers = [re.sub(rf"\b{re.escape(subject)}\b", label, re.sub(r"\bELU\b", name, n)) for n in result.numbers]
            lines.append(Line(claim, result.verdict, f"the claim's rule with {name} in {subject}'s place", numbers, drawn.figure, result.stability))
        elif number == 10:
            from actlab.reporting.gallery import gallery

            gallery(figure, dirs, [name])
            finished = evidence.finished()
            trained = bool(len(finished)) and (finished["activation"] == name).any()
            lines.append(Line(claim, "supported" if trained else "not supported", "its formula and derivative by autodiff; it trains in Keras 3",
                              [f"{name} trained from its YAML on digits: {'yes' if trained else 'no'}"], figure))
        else:
            result = judge(claim, evidence, figure)
            numbers = _numbers_about(result, name) or result.numbers
            if number == 8:
                ranks = _rank_estimates(evidence)
                place = list(ranks.index).index(name) + 1 if name in ranks.index else None
                row = ranks.loc[name] if name in ranks.index else None
                numbers = ([f"{name}: mean rank {row['mean_rank']:.2f} [{row['low']:.2f}, {row['high']:.2f}] of {len(ranks)} functions "
                            f"over {int(row['blocks'])} task × seed blocks: place {place}"] if row is not None else []) + numbers
                figures.rank_intervals(ranks, name, figures_dir / f"{name}_ranking.png")
                figure = figures_dir / f"{name}_ranking.png"
            lines.append(Line(claim, result.verdict, f"the claim's rule with {name} among the functions", numbers,
                              result.figure if number != 8 else figure, result.stability))
    return lines


def build_challenger_report(uri: str, name: str, profile: str, dirs: list[Path], out: Path) -> Path:
    """results/challengers/NAME.md and its figures, from the claims' runs and the new function's."""
    import time

    from actlab.reporting.gallery import activation_config
    from actlab.reporting.claims_report import VERDICT_MARK, ReportData, _machine, _versions, stability_text, used_runs, warn_newer
    from actlab.pipeline.version import LEGACY, RESULTS_VERSION, describe as describe_versions
    from actlab.pipeline.track import Store

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
    places = claim_places(dirs)
    by_experiment = {claim.experiment: claim for claim in CLAIMS.values()}
    evidences, missing = {}, 0
    for experiment, place in places.items():
        claim = by_experiment[experiment]
        others = data.evidence(claim, profile, dirs)
        new = data.evidence(claim, profile, dirs, _extra(name, place))
        missing += int((new.table["status"] == "missing").sum())
        table = pd.concat([others.table, new.table.drop(columns=[c for c in new.table if c not in others.table and c != "activation"])],
                          ignore_index=True).drop_duplicates("fingerprint")
        if "activation" not in others.table and CONDITION in table:  # claim 7: the condition names the function
            table["activation"] = table[CONDITION]
        evidences[claim.number] = Evidence(table, data.layers, data.history)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    lines = analyze(name, evidences, figures_dir, dirs)
    config = activation_config(name, dirs)
    mark = {**VERDICT_MARK, "does not apply": "— does not apply"}
    text = [
        f"# Challenger: {name}",
        "",
        f"Generated by `python -m report --challenger {name} --profile {profile}` from the MLflow runs of the claims' "
        f"experiment `claims-{profile}`: {name}'s own runs (from `python -m run -m experiment=challenger activation={name} "
        f"profile={profile}`) beside every other function's. Each verdict comes from the claim's rule in "
        "`src/actlab/claims.py`, the same code as REPORT.md's, and so does its stability: the share of "
        f"{claim_rules.RESAMPLES} bootstrap resamples of the claim's blocks (task × seed) for which that rule gives the same "
        f"verdict, marked unstable under {claim_rules.STABLE_SHARE:.0%}.",
        "",
        f"- **Function:** `{config['_target_']}`" + (f", {config['formula']}" if config.get("formula") else "")
        + (f"; parameters {', '.join(f'{k}={v}' for k, v in config.items() if k not in ('_target_', 'formula', 'suggested_initializer', 'in_article'))}"
           if any(k not in ('_target_', 'formula', 'suggested_initializer', 'in_article') for k in config) else ""),
        f"- **Suggested initializer:** {config.get('suggested_initializer', 'glorot_uniform')}",
        f"- **Machine:** {_machine()}; {_versions()}",
        f"- **Runs of {name} missing:** {missing}" + (" (run the challenger sweep first)" if missing else ""),
        f"- **Code versions:** {describe_versions(used_runs(data, list(evidences.values())), data.ignored)}",
        f"- **Report time:** {time.perf_counter() - started:.0f} s",
        "",
        "| # | The article says | How it is asked of " + name + " | Verdict | Stability |",
        "|---|---|---|---|---|",
    ]
    for line in lines:
        stable = "" if line.verdict == "does not apply" else stability_text(line.stability)
        text.append(f"| {line.claim.number} | {line.claim.article} | {line.how} | {mark.get(line.verdict, line.verdict)} | {stable} |")
    for line in lines:
        if line.verdict == "does not apply":
            continue
        text += ["", f"## Claim {line.claim.number}: {line.claim.title}", "", f"**Asked:** {line.how}  ",
                 f"**Verdict:** {mark.get(line.verdict, line.verdict)}  ", f"**Stability:** {stability_text(line.stability, long=True)}", "",
                 *[f"- {n}" for n in line.numbers]]
        if line.figure is not None and Path(line.figure).exists():
            text += ["", f"![claim {line.claim.number}]({Path(line.figure).relative_to(out).as_posix()})"]
    path = out / f"{name}.md"
    tmp = path.with_suffix(".md.tmp")
    tmp.write_text("\n".join(text) + "\n")
    tmp.replace(path)
    return path
