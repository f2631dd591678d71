"""The report finds each claim's runs by config fingerprint: its job list must match Hydra's."""

from __future__ import annotations

import subprocess
import sys

import pytest

from actlab.claims import CLAIMS
from actlab.config import compose, fingerprint
from actlab.report import expected_jobs
from conftest import ROOT


@pytest.mark.parametrize("experiment", sorted({claim.experiment for claim in CLAIMS.values()}))
def test_expected_jobs_have_the_fingerprints_of_a_full_compose_of_each_job(experiment):
    jobs = expected_jobs(experiment, "quick")
    assert len(jobs) > 0 and jobs["fingerprint"].is_unique
    base = [f"experiment={experiment}", "profile=quick"]
    for _, job in jobs.iterrows():
        overrides = [f"{key}={value}" for key, value in job.items() if key != "fingerprint"]
        assert job["fingerprint"] == fingerprint(compose(base + overrides)), overrides


def test_report_lists_the_sweeps_that_run_claims_sh_runs():
    done = subprocess.run([sys.executable, "-m", "report", "--profile", "quick", "--commands"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[4] for line in lines] == [f"experiment={c.experiment}" for c in CLAIMS.values()]
    assert all(line.endswith(f"hydra.launcher.n_jobs={c.workers}") for line, c in zip(lines, CLAIMS.values()))
    assert CLAIMS[6].workers == 1  # it times forward passes: no second job beside it
    assert '"$PYTHON" -m report --profile "$profile" --commands' in (ROOT / "experiments" / "run_claims.sh").read_text()
