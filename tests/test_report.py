"""The report finds each claim's runs by config fingerprint: its job list must match Hydra's."""

from __future__ import annotations

import pytest

from actlab.claims import CLAIMS
from actlab.config import compose, fingerprint
from actlab.report import expected_jobs


@pytest.mark.parametrize("experiment", sorted({claim.experiment for claim in CLAIMS.values()}))
def test_expected_jobs_have_the_fingerprints_of_a_full_compose_of_each_job(experiment):
    jobs = expected_jobs(experiment, "quick")
    assert len(jobs) > 0 and jobs["fingerprint"].is_unique
    base = [f"experiment={experiment}", "profile=quick"]
    for _, job in jobs.iterrows():
        overrides = [f"{key}={value}" for key, value in job.items() if key != "fingerprint"]
        assert job["fingerprint"] == fingerprint(compose(base + overrides)), overrides
