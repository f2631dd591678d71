"""Where does a new function stand? `python -m challenge`, whatever the store holds, and its report:
one style for the new function in every figure, its pairwise tests, its refusals in one line."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib import colors
from matplotlib.figure import Figure

from actlab import figures
from actlab.claims.registry import discover
from actlab.reporting import standing
from helpers import ROOT

CLAIMS = {c.number: c for c in discover().values() if c.number is not None}
NAME = "mine"


@pytest.fixture
def drawn(monkeypatch):
    """The figures saved while the test runs, kept open for their artists to be read."""
    saved: list[Figure] = []
    original = Figure.savefig

    def keep(self, *args, **kwargs):
        saved.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", keep)
    return saved


def _blocks(rng, acts, tasks=("a", "b"), seeds=range(4), **columns) -> pd.DataFrame:
    rows = [{"task": t, "seed": s, "activation": a, "status": "FINISHED", **{k: f(rng, a) for k, f in columns.items()}}
            for t in tasks for s in seeds for a in acts]
    return pd.DataFrame(rows)


def _challenger_artists(fig: Figure) -> tuple[list, list]:
    """(artists labelled or coloured as the challenger, other series' colours) of a figure."""
    mine, others = [], []
    for ax in fig.axes:
        for line in ax.get_lines():
            colour = colors.to_hex(line.get_color())
            if line.get_label() == NAME or colour == figures.CHALLENGER_STYLE["color"].lower():
                mine.append(line)
            elif not line.get_label().startswith("_"):
                others.append(colour)
    return mine, others


def test_the_challenger_has_one_style_in_every_figure_that_draws_it(tmp_path, drawn, monkeypatch):
    """Each figure function of a challenger report, drawn from constructed tables with `mine` in
    them: `mine`'s series carry CHALLENGER_STYLE's colour and marker, drawn on top; no other
    series has that colour."""
    rng = np.random.default_rng(0)
    acts = ["relu", "elu", "tanh", NAME]
    accuracy = _blocks(rng, acts, test_accuracy=lambda r, a: 0.9 + 0.01 * r.standard_normal() + (0.02 if a == NAME else 0),
                       val_accuracy_auc=lambda r, a: 0.8 + 0.01 * r.standard_normal())
    lr_runs = pd.concat([_blocks(rng, acts, **{"optimizer.learning_rate": lambda r, a, v=v: v,
                                               "best_val_accuracy": lambda r, a: 0.9 + 0.01 * r.standard_normal()})
                         for v in (0.001, 0.01, 0.1)]).assign(fingerprint=lambda t: [f"f{i}" for i in range(len(t))])
    dead = _blocks(rng, acts, seeds=range(3), dead_share=lambda r, a: 0.3 if a == "relu" else 0.0, lr=lambda r, a: 0.1,
                   best_val_accuracy=lambda r, a: 0.9).assign(collapsed=False)
    ratios = pd.DataFrame([{"activation": a, "model": "deep_mlp", "depth": d, "when": w, "seed": s, "collapsed": False,
                            "ratio": float(rng.uniform(0.5, 2))} for a in acts for d in (5, 20) for w in ("at init", "after training")
                           for s in range(3)])
    with figures.challenging(NAME):
        figures.points_by_task(accuracy, ["test_accuracy"], tmp_path / "points.png", "claim 5", reference="relu")
        CLAIMS[1].module.ratio_by_depth(ratios, tmp_path / "ratios.png", 0.1)
        CLAIMS[3].module.dead_units(dead, dead, tmp_path / "dead.png")
        ranks, comparisons, _ = standing.rank_and_pairs(NAME, accuracy.pivot_table(index=["task", "seed"], columns="activation",
                                                                                    values="test_accuracy"))
        CLAIMS[8].module.rank_intervals(ranks, NAME, tmp_path / "ranks.png")
        standing.pairwise_figure(NAME, comparisons, tmp_path / "pairwise.png")
        from actlab.claims.base import Evidence

        standing.sensitivity(NAME, [Evidence(accuracy, tuning=lr_runs)], "elu", tmp_path)
    assert len(drawn) == 6
    for fig in drawn:
        mine, others = _challenger_artists(fig)
        title = fig.texts[0].get_text() if fig.texts else fig.get_suptitle()
        assert mine, f"{title}: {NAME} is not drawn in its style"
        for line in mine:
            if line.get_label() == NAME or line.get_marker() not in ("None", None, ""):
                assert colors.to_hex(line.get_color()) == figures.CHALLENGER_STYLE["color"].lower(), title
                assert line.get_marker() in (figures.CHALLENGER_STYLE["marker"], "|", "_", "None", None, ""), title  # caps: | and _
        assert figures.CHALLENGER_STYLE["color"].lower() not in others, f"{title}: another series has the challenger's colour"
    # Claim 6's figure puts functions on its x axis (colours are its levels): the challenger's column
    # is marked with a band in its colour, named in the legend, and its tick label in that colour.
    timings = pd.DataFrame([{"model": "mlp", "seed": 0, "round": r, "position": i, "function": f, "level": level,
                             "ms": float(rng.uniform(1, 2))}
                            for r in range(5) for i, f in enumerate(["relu", "elu", NAME]) for level in ("model", "alone")])
    drawn.clear()
    with figures.challenging(NAME):
        CLAIMS[6].module.latency_ratios(timings, tmp_path / "timing.png", highlight=NAME)
    bands = [patch for ax in drawn[0].axes for patch in ax.patches if patch.get_label() == NAME]
    assert bands and all(colors.to_hex(b.get_facecolor()) == figures.CHALLENGER_STYLE["color"].lower() for b in bands)
    ticks = [t for ax in drawn[0].axes for t in ax.get_xticklabels() if t.get_text() == NAME]
    assert ticks and all(colors.to_hex(t.get_color()) == figures.CHALLENGER_STYLE["color"].lower() for t in ticks)
    # Claim 10's panel of the function: f in its colour, and named as the user's, not "modern".
    drawn.clear()
    from actlab.reporting.gallery import gallery

    serf = [ROOT / "conf", ROOT / "examples" / "serf"]
    monkeypatch.syspath_prepend(str(ROOT / "examples" / "serf"))  # its my_acts.py, as --config-dir puts it on the path
    with figures.challenging("serf"):
        gallery(tmp_path / "gallery.png", serf, ["serf"])
    f = next(line for line in drawn[0].axes[0].get_lines() if line.get_label() == "f(x)")
    assert colors.to_hex(f.get_color()) == figures.CHALLENGER_STYLE["color"].lower()
    assert drawn[0].axes[0].get_title() == "serf · your own"
    # Outside a challenger report the same name has an ordinary style.
    assert figures.style(NAME)["color"] != figures.CHALLENGER_STYLE["color"]


def test_pairwise_tests_are_one_holm_family_over_every_rival_with_the_designs_floor():
    rng = np.random.default_rng(1)
    wide = pd.DataFrame({"relu": 0.9 + 0.001 * rng.standard_normal(10), "elu": 0.9 + 0.001 * rng.standard_normal(10)})
    wide[NAME] = wide["relu"] + 0.02  # ahead of relu in every block, level with nothing else
    wide["tanh"] = wide[NAME] + 0.03  # ahead of mine in every block
    ranks, comparisons, floor = standing.rank_and_pairs(NAME, wide)
    assert set(comparisons) == {"relu", "elu", "tanh"}
    assert all(c.family == 6 for c in comparisons.values())  # 3 rivals, both directions
    assert comparisons["relu"].direction == 1 and comparisons["tanh"].direction == -1
    assert floor == pytest.approx(6 / 2 ** 10)
    assert list(ranks.index[:2]) == ["tanh", NAME]
    assert standing.points(comparisons["relu"]).startswith("+2.00 pt")
    # Three blocks: no pairwise test can reach 0.05 after the correction, whatever the data.
    assert standing.rank_and_pairs(NAME, wide.iloc[:3])[2] >= 0.05


def test_the_progress_lines_name_what_tells_the_challengers_jobs_apart():
    from actlab.pipeline.console import job_label
    from actlab.pipeline.sweep import _PROGRESS, label_jobs

    class Progress:
        axes: list[str] = []

    jobs = [["experiment=claim01_vanishing_gradients", "profile=quick", "+experiment/deep_net=mlp_5", "seed=0", f"activation={NAME}"],
            ["experiment=claim01_vanishing_gradients", "profile=quick", "+experiment/deep_net=mlp_20", "seed=0", f"activation={NAME}"],
            ["experiment=claim03_dying_relu", "profile=quick", "optimizer.learning_rate=0.1", "seed=0", "activation=relu"]]
    _PROGRESS[:] = [Progress()]
    try:
        label_jobs(jobs)
        labels = [job_label(" ".join(job), _PROGRESS[0].axes) for job in jobs]
    finally:
        _PROGRESS.clear()
    assert len(set(labels)) == 3, labels
    assert labels[0] == f"claim01_vanishing_gradients · mlp_5 · {NAME}" and "lr=0.1" in labels[2]


def test_challenge_refuses_an_unknown_activation_in_one_line():
    done = subprocess.run([sys.executable, "-m", "challenge", "swishy"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert done.stderr.startswith("error: swishy is not an activation of the config tree (one of elu,")


@pytest.mark.slow
def test_a_challenger_report_without_the_claims_experiment_names_the_one_command(tmp_path):
    done = subprocess.run([sys.executable, "-m", "report", "--challenger", "relu", "--profile", "quick",
                           "--uri", f"sqlite:///{tmp_path / 'empty.db'}"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr  # (MLflow logs the new database's creation above it)
    assert f"`python -m challenge relu --uri sqlite:///{tmp_path / 'empty.db'}` trains what its report needs" in done.stderr.strip().splitlines()[-1]


def _challenge(name: str, user: Path, db: Path, cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "challenge", name, "--config-dir", str(user), "--uri", f"sqlite:///{db}",
                           "--out", str(cwd / "challengers"), *extra], cwd=cwd, capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
def test_a_fresh_store_through_the_one_command_to_a_report(tmp_path):
    """A store holding only some of Serf's runs: the report refuses in one line naming what is
    missing and the command; that command trains the rest (the field included) and writes the
    report; a second function then trains only its own jobs (the field is reused)."""
    user, second = tmp_path / "my_conf", tmp_path / "acon_c"
    shutil.copytree(ROOT / "examples" / "serf", user)
    shutil.copytree(ROOT / "examples" / "acon_c", second)
    db = tmp_path / "mlflow.db"
    # Only the challenger's own runs of one claim: no field at all.
    own = subprocess.run([sys.executable, "-m", "run", "-m", "--config-dir", str(user), "experiment=claim03_dying_relu",
                          "activation=serf", "profile=quick", f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path / 'own'}"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert own.returncode == 0, own.stderr[-3000:]
    refused = subprocess.run([sys.executable, "-m", "report", "--challenger", "serf", "--profile", "quick", "--config-dir", str(user),
                              "--uri", f"sqlite:///{db}", "--out", str(tmp_path / "challengers")],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr, refused.stderr[-3000:]
    last = refused.stderr.strip().splitlines()[-1]
    assert last.startswith("error: serf's report needs runs") and "of the field's jobs" in last
    assert f"python -m challenge serf --config-dir {user}" in last

    done = _challenge("serf", user, db, tmp_path)
    assert done.returncode == 0, (done.stdout[-3000:], done.stderr[-3000:])
    assert "Traceback" not in done.stderr and "failed" not in done.stdout
    assert done.stdout.strip().splitlines()[-2].startswith("challenger report written:")
    text = (tmp_path / "challengers" / "serf.md").read_text()
    assert "## Bottom line" in text and "ranks **" in text and "Holm over" in text
    assert "A preview (quick profile)" in text
    assert f"Generated by `python -m challenge serf --config-dir {user} --uri sqlite:///{db}`" in text  # the line that reproduces it
    for link in re.findall(r"\]\((figures/[^)\s]+)\)", text):  # every figure linked, several on a line too
        assert (tmp_path / "challengers" / link).exists(), link
    assert not [f for f in (tmp_path / "challengers" / "figures").glob("serf_*.png") if f"figures/{f.name}" not in text]

    second = _challenge("acon_c", second, db, tmp_path)
    assert second.returncode == 0, (second.stdout[-3000:], second.stderr[-3000:])
    plan = next(line for line in second.stdout.splitlines() if line.startswith("challenger: acon_c · "))
    own_jobs = int(plan.split("challenger: acon_c · ")[1].split()[0])
    assert f"· {own_jobs} to train" in plan  # only its own jobs: the field was in the store
    text = (tmp_path / "challengers" / "acon_c.md").read_text()
    assert "## Published results beside the harness's" in text and "ResNet-50" in text


def test_the_bottom_lines_answers_read_the_claims_own_tables():
    """Claim 1's gradient ratios and claim 3's dead shares, from constructed runs, as the answers say them."""
    from actlab.claims.base import Evidence
    from actlab.pipeline import metric_keys

    def layers(run_id):  # 20 layers; the first layer's gradient a hundredth of the last's for sigmoid
        first = 0.01 if run_id.startswith("sigmoid") else 1.0
        return pd.DataFrame([{"layer": layer, "step": step, "grad_norm": first if layer == 1 else 1.0}
                             for layer in range(1, 21) for step in (0, 2)])

    runs = pd.DataFrame([{"run_id": f"{a}-{i}-{s}", "activation": a, "initializer": i, "model.depth": 20, "seed": s,
                          "status": "FINISHED", "best_val_accuracy": 0.9, "chance": 0.1}
                         for a in ("sigmoid", "relu", NAME) for i in ("glorot_normal", "he_normal") for s in range(3)])
    answer = standing.gradients(NAME, CLAIMS[1], Evidence(runs, layers=layers))
    assert answer.sentence.startswith("Its gradient neither vanishes nor explodes") and "glorot_normal: 1" in answer.sentence
    assert standing.gradients("sigmoid", CLAIMS[1], Evidence(runs, layers=layers)).cell.startswith("gradient: glorot_normal: 0.01")

    dead = pd.DataFrame([{"activation": a, "optimizer.learning_rate": lr, "seed": s, "status": "FINISHED", "chance": 0.1,
                          "best_val_accuracy": 0.1 if (a == NAME and lr == 0.1) else 0.9,
                          "metrics.layer_0/dead_frac": 0.4 if (a == "relu" and lr == 0.01) else 0.0}
                         for a in ("relu", NAME) for lr in (0.001, 0.01, 0.1) for s in range(3)])
    dead = dead.rename(columns={"metrics.layer_0/dead_frac": metric_keys.layer_prefix("dead_frac") + "0"})
    answer = standing.dying(NAME, CLAIMS[3], Evidence(dead))
    assert "do not die at any learning rate where it learns" in answer.sentence
    assert "at learning rate 0.1 its networks do not learn at all" in answer.sentence
    assert "relu 40% dead" in answer.sentence


@pytest.mark.slow  # 14 s: composes every claim's grid; the default run stays within 5 minutes
def test_the_challengers_jobs_bring_the_fields_and_time_it_in_sessions_of_its_own(monkeypatch):
    """The quick plan for Serf: its own jobs in every claim it joins, each claim's own grid as the
    field (none for claims 6 and 10), each config once; claim 6 times relu, elu and serf only."""
    from actlab.reporting.challenger import challenger_jobs

    dirs = [ROOT / "conf", ROOT / "examples" / "serf"]
    monkeypatch.syspath_prepend(str(dirs[1]))  # its my_acts.py, as --config-dir puts it on the path
    jobs = challenger_jobs("serf", "quick", dirs, field=True)
    assert len({j.fingerprint for j in jobs}) == len(jobs)
    own = [j for j in jobs if j.own]
    assert own and all("activation=serf" in j.overrides for j in own)
    field = {j.experiment for j in jobs if not j.own}
    assert {"claim01_vanishing_gradients", "claim03_dying_relu", "claim08_ranking"} <= field
    assert not field & {"claim06_inference_speed", "claim10_formulas"}
    timed = [j for j in jobs if j.experiment == "claim06_inference_speed"]
    assert timed and all(j.alone and "timing.functions=[relu,elu,serf]" in j.overrides for j in timed)
    assert len(challenger_jobs("serf", "quick", dirs)) == len(own)  # without the field: its own jobs only


def test_a_papers_published_rows_stand_beside_the_harness_pairwise_differences():
    from actlab.stats import holm_family, paired

    rng = np.random.default_rng(2)
    relu = 0.9 + 0.001 * rng.standard_normal(10)
    comparisons = holm_family({"relu": paired(relu + 0.01, relu), "swish": paired(relu, relu + 0.001 * rng.standard_normal(10))})
    lines = standing.published("acon_c", [ROOT / "conf", ROOT / "examples" / "acon_c"], standing.Answer("", comparisons=comparisons))
    assert lines[0].startswith("| Paper |") and len(lines) == 2 + 3  # the three rows of examples/acon_c/literature/acon_c.yaml
    resnet_relu = next(line for line in lines if "ResNet-50" in line and "vs relu" in line)
    assert "+0.8 pt vs relu" in resnet_relu and "+1.00 pt" in resnet_relu and resnet_relu.endswith("| yes |")
    assert standing.published("serf", [ROOT / "conf", ROOT / "examples" / "serf"], None) == []  # no literature file: no table


def test_the_bottom_line_opens_with_the_answers_in_short_then_their_numbers():
    from actlab.reporting.challenger import _bottom_line

    answers = {"claim08_ranking": standing.Answer("It ranks 2 of 9.", "rank 2 of 9", figures=[Path("x/figures/mine_pairwise.png")]),
               "claim03_dying_relu": standing.Answer("Its units do not die.", "no dead units"),
               "claim05_elu": standing.Answer("In ELU's place: +1 pt.")}
    text = _bottom_line(NAME, {"_target_": "my.mine", "formula": "x·σ(x)"}, answers, [])
    assert text.startswith("**In short:** rank 2 of 9; no dead units. **mine**, f(x) = x·σ(x)")
    assert "It ranks 2 of 9. ([figure](figures/mine_pairwise.png)) Its units do not die. In ELU's place: +1 pt." in text
