"""The report finds each claim's runs by config fingerprint: its job list must match Hydra's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actlab.claims.registry import discover
from actlab.pipeline.config import compose, fingerprint
from actlab.reporting.claims_report import expected_jobs
from helpers import ROOT

CLAIMS = discover()

SLOW_TO_COMPOSE = {"claim01_vanishing_gradients", "claim02_tanh_vs_sigmoid", "claim05_elu", "claim08_ranking"}  # 4-10 s each: many jobs composed


@pytest.mark.parametrize("experiment", [pytest.param(e, marks=pytest.mark.slow) if e in SLOW_TO_COMPOSE else e for e in sorted(CLAIMS)])
def test_expected_jobs_have_the_fingerprints_of_a_full_compose_of_each_job(experiment):
    jobs = expected_jobs(experiment, "quick")
    assert len(jobs) > 0 and jobs["fingerprint"].is_unique
    assert "fingerprint" in jobs and not any(c.startswith(("+", "~")) or "/" in c for c in jobs)  # plain column names
    base = [f"experiment={experiment}", "profile=quick"]
    for overrides, fp in zip(jobs.attrs["overrides"], jobs["fingerprint"]):
        assert fp == fingerprint(compose(base + overrides)), overrides


def test_report_lists_the_sweeps_that_run_claims_sh_runs():
    done = subprocess.run([sys.executable, "-m", "report", "--profile", "quick", "--commands"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    run = [c for c in CLAIMS.values() if c.within is None]  # claim 5's jobs are run by claim 8's sweep
    assert [line.split()[4] for line in lines] == [f"experiment={c.name}" for c in run]
    assert all(line.endswith(f"hydra.launcher.n_jobs={c.workers}") for line, c in zip(lines, run))
    assert CLAIMS["claim06_inference_speed"].workers == 1  # it times forward passes: no second job beside it
    assert '"$PYTHON" -m report --profile "$profile" --commands' in (ROOT / "experiments" / "run_claims.sh").read_text()


@pytest.mark.slow
def test_a_claim_run_within_another_sweep_is_a_subset_of_it_in_every_profile():
    """Claim 5's sweep is listed only with claim 8 absent: its experiment file is claim 8's with fewer
    activations (same base config, study, trainer and other sweep axes), so each of its jobs is one of claim 8's."""
    from omegaconf import OmegaConf

    from actlab.pipeline.config import options

    within = {c.name: c.within for c in CLAIMS.values() if c.within}
    assert within == {"claim05_elu": "claim08_ranking"}
    for inner, outer in within.items():
        small, large = (OmegaConf.to_container(OmegaConf.load(CLAIMS[n].path)) for n in (inner, outer))
        small.pop("claim"), large.pop("claim")  # what each claim says; the runs are the sweep's
        small_acts = small["hydra"]["sweeper"]["params"].pop("activation").split(",")
        large_acts = large["hydra"]["sweeper"]["params"].pop("activation")
        assert large_acts == "glob(*)" and set(small_acts) <= set(options("activation"))
        assert small == large
    alone = subprocess.run([sys.executable, "-m", "report", "--profile", "full", "--commands", "--claim", "5"], cwd=ROOT,
                           capture_output=True, text=True, timeout=120)
    assert alone.stdout.splitlines()[0].split()[4] == "experiment=claim05_elu"  # asked alone, it runs its own sweep
