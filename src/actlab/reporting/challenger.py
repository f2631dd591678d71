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

import numpy as np
import pandas as pd

from actlab.claims.base import DOES_NOT_APPLY, RESAMPLES, STABLE_SHARE, ChallengerView, Claim, Evidence, judge
from actlab.claims.registry import discover
from actlab.reporting.markdown import VERDICT_MARK, machine, software_versions, stability_text, write_atomic
from actlab.stats import ALPHA


class NoRunsOfThisVersion(RuntimeError):
    """The store has no claims' runs this code may read (actlab.pipeline.version): nothing to stand beside."""


@dataclass(frozen=True)
class ChallengerJob:
    experiment: str
    overrides: list[str]
    fingerprint: str
    alone: bool  # timed: no other job may share the cores
    own: bool = True  # the new function's job (False: a job of the field it is compared with)


def _extra(name: str, claim: Claim) -> list[str]:
    """The overrides that put the new function in the claim's grid."""
    joins = claim.challenge.joins
    return [f"activation={name}"] + ([] if joins in (None, "activation") else [joins.replace("{name}", name)])


def entered(dirs: list[Path] | None = None) -> list[Claim]:
    """The claims a new function's jobs join (their YAML's `claim.challenger.joins`)."""
    return [claim for claim in discover(dirs).values() if claim.challenge.joins and not claim.challenge.skip]


def challenger_jobs(name: str, profile: str, dirs: list[Path] | None = None, composer=None,
                    runs: pd.DataFrame | None = None, field: bool = False) -> list[ChallengerJob]:
    """The new function's jobs in every claim's grid it joins, each config once (`composer`: a
    running sweep's own config loader, see claims_report.expected_jobs). Without `runs`: every
    claim's jobs, tuning stages included; with `runs` (the store's, after those ran): the test
    stages of the claims that tune, at the values picked from those runs, or first the jobs of a
    tuning grid widened where a pick sits at its edge (run this again once they ran). With `field`, also the
    jobs of the functions those claims compare it with (each claim's own grid, unless its YAML says
    `field: false`): a store without them gets them trained once, for every later challenger."""
    from actlab.reporting.claims_report import expected_jobs, tuning_stage

    jobs, seen = [], set()
    for claim in entered(dirs):
        extras = [_extra(name, claim)] + ([[]] if field and claim.challenge.field else [])
        for extra in extras:
            table = expected_jobs(claim.name, profile, dirs, extra, composer, stage="tune")
            if runs is not None:
                if table.attrs["tune"] is None:
                    continue
                base = len(table)
                table, tuning, selected = tuning_stage(claim.name, profile, dirs, extra, composer, runs, jobs=table)
                # The widened grid's jobs that have not run come first (tuning_stage appends them after the base grid's).
                widening = ((tuning["status"] == "missing") & (np.arange(len(tuning)) >= base)).to_numpy()
                if widening.any():
                    table.attrs["overrides"] = [o for o, w in zip(table.attrs["overrides"], widening) if w]
                    table = table[widening]
                else:
                    table = expected_jobs(claim.name, profile, dirs, extra, composer, stage="test", selected=selected)
            for overrides, fp in zip(table.attrs["overrides"], table["fingerprint"]):
                if fp in seen:
                    continue
                seen.add(fp)
                jobs.append(ChallengerJob(claim.name, [f"experiment={claim.name}", f"profile={profile}", *overrides], fp,
                                          claim.workers == 1, own=bool(extra)))
    return jobs


DEFAULT_URI = "sqlite:///results/mlflow.db"  # `python -m challenge`'s and `python -m report`'s default store


def command(name: str, profile: str, dirs: list[Path], uri: str | None = None) -> str:
    """The one command that trains what a challenger's report needs and writes the report (with
    `--uri` when the store is not the default one; a password in it blanked)."""
    from actlab.pipeline import redact
    from actlab.reporting.claims_report import _config_dir_args

    default = "sqlite:///" + str(Path(DEFAULT_URI.removeprefix("sqlite:///")).resolve())  # as resolve_uri makes it, without its mkdir
    store = "" if uri is None or uri in (DEFAULT_URI, default) else f" --uri {redact.uri(uri)}"
    return f"python -m challenge {name}{_config_dir_args(dirs)}" + ("" if profile == "quick" else f" --profile {profile}") + store


class MissingRuns(RuntimeError):
    """Jobs a challenger's report reads have no finished run of this results version: the message
    names them per claim and gives the command that trains them."""


def _absent(evidence: Evidence) -> int:
    """Jobs of a claim's grid with no run in the store, the tuning stage's too; a
    tuning claim whose picks are missing has no test jobs yet, counted as its tuning grid's size."""
    count = int((evidence.table["status"] == "missing").sum()) if "status" in evidence.table else 0
    if evidence.tuning is not None:
        count += int((evidence.tuning["status"] == "missing").sum())
        if evidence.table.empty:
            count += max(1, len(evidence.tuning))
    return count


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
            + f": `{command(name, profile, dirs, uri)}` trains what its report needs and writes it")
    claims = discover(dirs)
    asked, missing, lacking = {}, 0, []
    for claim in claims.values():
        if claim.challenge.skip or not claim.challenge.joins:
            continue
        others = data.evidence(claim, profile, dirs)
        new = data.evidence(claim, profile, dirs, _extra(name, claim))
        missing += int((new.table["status"] == "missing").sum())
        gaps = [f"{_absent(new)} of {name}'s"] + ([f"{_absent(others)} of the field's"] if claim.challenge.field else [])
        if any(not g.startswith("0 ") for g in gaps):
            lacking.append(f"{claim.label.lower()}: {' and '.join(g for g in gaps if not g.startswith('0 '))} jobs")
        asked[claim.name] = (others, new)
    if lacking:
        raise MissingRuns(f"{name}'s report needs runs that experiment claims-{profile} does not have ({'; '.join(lacking)}): "
                          f"`{command(name, profile, dirs, uri)}` trains only those and writes the report")
    evidences = {}
    for claim_name, (others, new) in asked.items():
        claim = claims[claim_name]
        table = pd.concat([others.table, new.table.drop(columns=[c for c in new.table if c not in others.table])],
                          ignore_index=True).drop_duplicates("fingerprint")
        if claim.challenge.as_value:  # the new function's rows carry a placeholder value (claim 7's condition)
            table[claim.challenge.column] = table[claim.challenge.column].replace({claim.challenge.as_value: name})
        tuning, selected = ((pd.concat([others.tuning, new.tuning], ignore_index=True).drop_duplicates("fingerprint"),
                             pd.concat([others.selected, new.selected], ignore_index=True).drop_duplicates())
                            if others.tune is not None else (None, None))
        evidences[claim.name] = Evidence(table, data.layers, data.history, artifact=data.artifact, tuning=tuning, selected=selected,
                                         tune=others.tune)
    figures_dir = out / "figures"
    figures_dir.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="actlab-challenger-"))
    from actlab import figures

    drawn_since = time.time() - 1  # figures of this name older than this are an earlier report's: neither linked nor kept
    with figures.challenging(name):  # one colour and marker for the new function in every figure
        views = [(claim, view(claim, name, evidences.get(claim.name, Evidence(pd.DataFrame({"status": []}))), figures_dir, dirs, scratch))
                 for claim in claims.values()]
        answers = _answers(name, claims, evidences, figures_dir)
    # The field's verdict: the claim's rule on the field's runs; where the claim trains no field for a
    # new function but asks it in another's place, on its own jobs (claim 6's sessions time ReLU and ELU
    # beside it); none for a claim about the new function alone (claim 10).
    fields = {claim.name: claim.analyze(asked[claim.name][0 if claim.challenge.field else 1]).verdict
              for claim in claims.values() if claim.name in asked and (claim.challenge.field or claim.challenge.in_place_of)}
    config = activation_config(name, dirs)
    shown = {k: v for k, v in config.items() if k not in ("_target_", "formula", "suggested_initializer", "in_article")}
    mark = {**VERDICT_MARK, DOES_NOT_APPLY: "— does not apply"}
    preview = profile != "full"
    strongest = {claim.name: _floor(claim, evidences.get(claim.name), answers.get(claim.name), weakest=False) for claim, _ in views}
    unreachable = [claim.key for claim, line in views if line.verdict != DOES_NOT_APPLY
                   and strongest[claim.name] is not None and strongest[claim.name] >= ALPHA]
    text = [f"# Challenger: {name}", ""]
    if preview:
        text += [f"> **A preview ({profile} profile).** Few tasks and seeds: a stability of 100% over 3 blocks is no certainty, and "
                 + (f"the deciding tests of claim(s) {', '.join(unreachable)} cannot reach p < {ALPHA} with this design whatever the "
                    "data, so their verdicts can only be inconclusive. " if unreachable else "")
                 + f"The full design: `{command(name, 'full', dirs, uri)}`.", ""]
    text += ["## Bottom line", "", _bottom_line(name, config, answers, views), ""]
    text += [
        f"Generated by `{command(name, profile, dirs, uri)}` (it trains only what the store lacks, then writes this report) from the "
        f"MLflow runs of experiment `claims-{profile}`: {name}'s runs beside the field's. Each verdict comes from the claim's "
        "own rule (the module beside its experiment YAML), the same code as REPORT.md's, and so does its stability: the share "
        f"of {RESAMPLES} bootstrap resamples of the claim's blocks (task × seed) for which that rule gives the same verdict, "
        f"marked unstable under {STABLE_SHARE:.0%}. In the bottom line, the table and each “About” paragraph, accuracy "
        "differences are in percentage points (pt) and times are ratios to ReLU's; "
        f"the claim rules' own lines under them (the same as REPORT.md's) keep accuracies as fractions (Δ 0.01 = 1 pt).",
        "",
        f"- **Function:** `{config['_target_']}`" + (f", {config['formula']}" if config.get("formula") else "")
        + (f"; parameters {', '.join(f'{k}={v}' for k, v in shown.items())}" if shown else ""),
        f"- **Suggested initializer:** {config.get('suggested_initializer', 'glorot_uniform')}",
        f"- **Machine:** {machine()}; {software_versions()}",
        f"- **Code versions:** {describe_versions(used_runs(data, list(evidences.values())), data.ignored)}",
        f"- **Report time:** {time.perf_counter() - started:.0f} s",
        "",
        f"| # | The article says | About {name} | Verdict with {name} (how asked) | The field's verdict | n "
        "| Smallest p the design can reach | Stability |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for claim, line in views:
        if line.verdict == DOES_NOT_APPLY:
            text.append(f"| {claim.key} | {claim.article} | — | {mark[DOES_NOT_APPLY]} ({line.how}) | | | | |")
            continue
        answer = answers.get(claim.name)
        floor = _floor(claim, evidences.get(claim.name), answer)
        about = answer.cell if answer is not None and answer.cell else mark.get(line.verdict, line.verdict)
        n = answer.n if answer is not None and answer.n else _n(evidences.get(claim.name))
        text.append(f"| {claim.key} | {claim.article} | {about} | {mark.get(line.verdict, line.verdict)} ({line.how}) | "
                    f"{mark.get(fields[claim.name], fields[claim.name]) if claim.name in fields else '—'} | {n} | "
                    f"{'—' if floor is None else 'no floor' if floor == 0 else f'{floor:.2g}'} | {stability_text(line.stability)} |")
    from actlab.reporting.standing import published

    ranking = next((a for k, a in answers.items() if a.comparisons), None)
    literature = published(name, dirs, ranking)
    if literature:
        text += ["", "## Published results beside the harness's", "",
                 f"The paper's numbers (its setting, far larger than the harness's) beside {name}'s paired test-accuracy difference "
                 "on claim 8's tasks and seeds; the same sign says the direction holds here, not the size.", "", *literature]
    def fresh(pattern: str) -> list[Path]:
        return [f for f in sorted(figures_dir.glob(pattern)) if f.stat().st_mtime >= drawn_since]

    linked = set()
    for claim, line in views:
        if line.verdict == DOES_NOT_APPLY:
            continue
        answer = answers.get(claim.name)
        text += ["", f"## {claim.label}: {claim.title}", "", f"**Asked:** {line.how}  ",
                 f"**Verdict:** {mark.get(line.verdict, line.verdict)}  ", f"**Stability:** {stability_text(line.stability, long=True)}", ""]
        if answer is not None:
            text += [f"**About {name}:** {answer.sentence}", ""]
        text += [f"- {n}" for n in line.numbers]
        drawn = [line.figure, *(answer.figures if answer is not None else []), *fresh(f"{name}_{claim.name}*.png")]
        for figure in dict.fromkeys(Path(f).resolve() for f in drawn if f is not None):
            if figure not in linked and figure.exists() and figure.is_relative_to(out.resolve()):
                linked.add(figure)
                text += ["", f"![{claim.label}: {figure.stem}]({figure.relative_to(out.resolve()).as_posix()})"]
    extra = [f for f in fresh(f"{name}_*.png") if f.resolve() not in linked]
    for answer in answers.values():
        extra += [f for f in answer.figures if f.exists() and f.resolve() not in linked and f not in extra]
    if extra:
        text += ["", "## More figures", "", *[f"- [{f.stem}]({f.relative_to(out).as_posix()})" for f in extra]]
    written = write_atomic(out / f"{name}.md", "\n".join(text) + "\n")
    for stale in set(figures_dir.glob(f"{name}_*.png")) - set(fresh(f"{name}_*.png")):
        stale.unlink()  # an earlier report's figure (a claim renamed since): the report just written does not link it
    return written


def _answers(name: str, claims: dict[str, Claim], evidences: dict[str, Evidence], figures_dir: Path) -> dict:
    """The bottom line's answers, keyed by the claim each reads (see actlab.reporting.standing)."""
    from actlab.reporting import standing

    found = {}
    by_number = {c.number: c for c in claims.values() if c.number is not None and c.name in evidences}
    if 8 in by_number:
        found[by_number[8].name] = standing.ranking(name, by_number[8], evidences[by_number[8].name], figures_dir)
    if 1 in by_number:
        found[by_number[1].name] = standing.gradients(name, by_number[1], evidences[by_number[1].name])
    if 3 in by_number:
        found[by_number[3].name] = standing.dying(name, by_number[3], evidences[by_number[3].name])
    if 6 in by_number:
        found[by_number[6].name] = standing.inference(name, by_number[6], evidences[by_number[6].name])
    tuned = [evidences[c.name] for n, c in by_number.items() if n in (5, 8)]
    best = None
    if 8 in by_number:
        ranked = standing.accuracy_table(by_number[8], evidences[by_number[8].name]).dropna()
        best = ranked.rank(axis=1, ascending=False).mean().idxmin() if not ranked.empty else None
        if best == name:
            best = ranked.rank(axis=1, ascending=False).mean().drop(name).idxmin() if ranked.shape[1] > 1 else None
    sensitivity = standing.sensitivity(name, tuned, best, figures_dir)
    if 5 in by_number:
        claim5 = by_number[5]
        asked = claim5.analyze.about(name, name)
        five = standing.in_elus_place(name, claim5, evidences[claim5.name],
                                      asked(_without(evidences[claim5.name], claim5.challenge.column, claim5.challenge.in_place_of)))
        if five is not None or sensitivity is not None:
            found[claim5.name] = standing.Answer(
                " ".join(a.sentence for a in (five, sensitivity) if a is not None),
                "", five.n if five is not None else "",  # its column: the verdict in ELU's place
                None, sensitivity.figures if sensitivity is not None else [])
    return {k: v for k, v in found.items() if v is not None}


def _bottom_line(name: str, config: dict, answers: dict, views) -> str:
    """The first paragraph: the function, where it ranks, and one sentence per question."""
    formula = config.get("formula")
    first = f"**{name}**" + (f", f(x) = {formula}" if formula else f" (`{config['_target_']}`)") + \
        " (f and f′, by automatic differentiation, in claim 10's figure below)."
    sentences = [first]
    short = [answer.cell for key in ("claim08", "claim01", "claim03", "claim06")
             for claim_name, answer in answers.items() if claim_name.startswith(key) and answer.cell]
    if short:  # the answers' table cells, in one line, before the sentences that give their numbers
        sentences.insert(0, f"**In short:** {'; '.join(short)}.")
    order = ["claim08", "claim01", "claim03", "claim07", "claim06", "claim05"]
    for key in order:
        for claim_name, answer in answers.items():
            if claim_name.startswith(key):
                links = " ".join(f"([figure](figures/{f.name}))" for f in answer.figures)
                sentences.append(answer.sentence + (f" {links}" if links else ""))
        if key == "claim07":
            for claim, line in views:
                if claim.number == 7 and line.verdict != DOES_NOT_APPLY:
                    word = {"supported": "it **self-normalizes**", "not supported": "it does **not** self-normalize",
                            "mixed": "it self-normalizes in part"}.get(line.verdict, "its self-normalization is undecided")
                    detail = next((n for n in line.numbers if name in n or "challenger" in n), "")
                    sentences.append(f"With its suggested initializer ({config.get('suggested_initializer', 'glorot_uniform')}) "
                                     f"{word} (claim 7's rule in SELU's place{': ' + detail if detail else ''}).")
    return " ".join(sentences)


def _floor(claim: Claim, evidence: Evidence | None, answer, weakest: bool = True) -> float | None:
    """The smallest Holm-adjusted p the claim's deciding tests (or this function's own pairwise tests)
    can reach: of its weakest test (the summary column, as REPORT.md's), or of its strongest
    (`weakest=False`: whether any verdict but inconclusive is possible at all)."""
    from actlab.claims import design

    if answer is not None and answer.floor is not None:
        return answer.floor
    if not claim.tests or evidence is None:
        return None
    floors = [p.floor for p in design.power(claim.tests, evidence.table)]
    return (max(floors) if weakest else min(floors)) if floors else None


def _n(evidence: Evidence | None) -> str:
    from actlab.reporting.standing import blocks_text

    return blocks_text(evidence.finished()) if evidence is not None and "status" in evidence.table else ""
