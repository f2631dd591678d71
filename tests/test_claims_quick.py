"""The quick profile of every claim experiment, then `python -m report` on its runs: the whole
claims pipeline end to end, as `bash experiments/run_claims.sh quick` runs it (minutes)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from actlab.claims.registry import discover
from helpers import ROOT

CLAIMS = discover()

VERDICTS = ("✅ supported", "❌ not supported", "◐ mixed", "？ inconclusive")

# Sweeps in one Python process each (Hydra's basic launcher): TensorFlow is imported once per process.
SWEEPS = """
import sys
from hydra.core.global_hydra import GlobalHydra
import run
for experiment in sys.argv[2:]:
    sys.argv = ["run", "-m", f"experiment={experiment}", "profile=quick", "tracking.uri=sqlite:///" + DB,
                f"hydra.sweep.dir={OUT}/sweeps/{experiment}", "trainer.threads=1"]
    run.main()
    GlobalHydra.instance().clear()
"""
# Two such processes side by side, one per core, into one store (as two sweeps may be): the claims
# that share runs (5, 8, 9) in one of them, so neither waits on the other's claim of a config.
HALVES = (["claim01_vanishing_gradients", "claim05_elu", "claim08_ranking", "claim09_leaky_slope", "claim11_elu_where_selu_breaks"],
          ["claim02_tanh_vs_sigmoid", "claim03_dying_relu", "claim04_prelu_overfitting", "claim06_inference_speed",
           "claim07_selu_self_normalization", "claim10_formulas", "claim12_rrelu_when_overfitting"])


def _quick_claims(tmp_path):
    db = tmp_path / "mlflow.db"
    assert sorted(n for half in HALVES for n in half) == sorted(CLAIMS)
    code = f"DB = {str(db)!r}\nOUT = {str(tmp_path)!r}\n" + SWEEPS
    halves = [subprocess.Popen([sys.executable, "-c", code, "-", *half], cwd=ROOT,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for half in HALVES]
    for half in halves:
        stdout, stderr = half.communicate(timeout=900)
        assert half.returncode == 0, stderr[-3000:]
        assert "failed" not in stdout and "killed" not in stdout
        assert stdout.count("sweep: ") == len(HALVES[halves.index(half)])
    return db


@pytest.mark.slow
def test_every_claim_quick_then_the_report(tmp_path):
    db = _quick_claims(tmp_path)

    out = tmp_path / "report"
    report = subprocess.run([sys.executable, "-m", "report", "--profile", "quick", "--uri", f"sqlite:///{db}", "--out", str(out)],
                            cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert report.returncode == 0, report.stderr[-3000:]
    text = (out / "REPORT.md").read_text()
    for claim in CLAIMS.values():
        section = text.split(f"## {claim.label}: ")[1].split("\n## ")[0]
        assert any(f"**Verdict:** {v}" in section for v in VERDICTS), claim.name
        assert "missing" not in section.split("**Runs:**")[1].splitlines()[0], claim.name
        assert (out / "figures" / f"{claim.name}.png").stat().st_size > 10_000
    # The report is logged to MLflow too.
    from helpers import search_runs

    runs = search_runs(db, "claims-quick")
    assert (runs["tags.report"] == "true").sum() == 1



@pytest.mark.slow
def test_report_refuses_a_missing_experiment(tmp_path):
    done = subprocess.run([sys.executable, "-m", "report", "--uri", f"sqlite:///{tmp_path / 'empty.db'}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1].startswith("error: no MLflow experiment 'claims-full'")


def test_report_rejects_an_unknown_claim():
    done = subprocess.run([sys.executable, "-m", "report", "--claim", "99"], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.strip().startswith("error: --claim 99 is not a claim (one of: 1, 2,")


@pytest.mark.slow
def test_a_function_from_outside_the_project_gets_its_challenger_report(tmp_path):
    """The quick claims, then Serf (examples/serf, copied outside the project) through the claims'
    grids: its own runs only, the others' reused; then its report, each verdict by the claim's rule."""
    db = _quick_claims(tmp_path)
    user = tmp_path / "my_conf"
    shutil.copytree(ROOT / "examples" / "serf", user)
    challenger = subprocess.run([sys.executable, "-m", "run", "-m", "--config-dir", str(user), "experiment=challenger",
                                 "activation=serf", "profile=quick", f"tracking.uri=sqlite:///{db}",
                                 f"hydra.sweep.dir={tmp_path / 'challenger'}"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert challenger.returncode == 0, challenger.stderr[-3000:]
    plan = next(line for line in challenger.stdout.splitlines() if line.startswith("challenger: serf · "))
    jobs = int(plan.split("challenger: serf · ")[1].split()[0])
    assert f"· {jobs} to train" in plan  # the field's jobs are in the store: none of them runs again
    written = subprocess.run([sys.executable, "-m", "report", "--challenger", "serf", "--profile", "quick", "--config-dir", str(user),
                              "--uri", f"sqlite:///{db}", "--out", str(tmp_path / "challengers")],
                             cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert written.returncode == 0, written.stderr[-3000:]
    text = (tmp_path / "challengers" / "serf.md").read_text()
    assert "| The field's verdict |" in text and "**Stability:** n/a" in text  # the quick profile's one seed: nothing to resample
    summary = [line for line in text.splitlines() if line.startswith("| ") and line[2:4].strip().isdigit()]
    assert len(summary) == len(CLAIMS) and all(any(v in line for v in (*VERDICTS, "does not apply")) for line in summary)
    for figure in ("serf_ranking.png", "serf_claim07_selu_self_normalization.png", "serf_claim10_formulas.png"):
        assert (tmp_path / "challengers" / "figures" / figure).stat().st_size > 10_000


@pytest.mark.slow
def test_a_users_own_claim_runs_and_is_reported_without_touching_src(tmp_path):
    """examples/my_claim copied outside the project: its sweep, then its section in a report."""
    user = tmp_path / "my_conf"
    shutil.copytree(ROOT / "examples" / "my_claim", user)
    db = f"sqlite:///{tmp_path / 'mlflow.db'}"
    swept = subprocess.run([sys.executable, "-m", "run", "-m", "--config-dir", str(user), "experiment=smooth_gradients",
                            "profile=quick", f"tracking.uri={db}", f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert swept.returncode == 0 and "sweep: 4 finished" in swept.stdout, swept.stderr[-3000:]
    written = subprocess.run([sys.executable, "-m", "report", "--claim", "smooth_gradients", "--config-dir", str(user),
                              "--profile", "quick", "--uri", db, "--out", str(tmp_path / "out"), "--no-mlflow"],
                             cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert written.returncode == 0, written.stderr[-3000:]
    text = (tmp_path / "out" / "REPORT-smooth_gradients.md").read_text()
    assert "## Claim smooth_gradients: smooth functions keep gradients within 10x" in text
    assert any(f"**Verdict:** {v}" in text for v in VERDICTS) and "4 finished of 4" in text
    assert (tmp_path / "out" / "figures" / "smooth_gradients.png").stat().st_size > 10_000
