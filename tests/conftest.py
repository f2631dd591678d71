"""Shared fixtures: configs composed the way `python -m run` composes them, shrunk to seconds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import pytest  # noqa: E402
from omegaconf import DictConfig  # noqa: E402

from actlab.config import compose  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"
# Every test run is tiny: 8x8 digits, one epoch, a narrow net, no progress bars.
TINY = ["dataset=digits", "trainer.epochs=1", "trainer.verbose=0", "model.width=16", "trainer.probe_batch=64"]


def compose_config(overrides: list[str], tmp_path: Path | None = None) -> DictConfig:
    extra = [f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"] if tmp_path else ["tracking.enabled=false"]
    return compose(TINY + extra + overrides)


@pytest.fixture
def tiny_cfg(tmp_path):
    """compose(overrides) -> a tiny config that tracks into this test's own SQLite store."""
    return lambda *overrides: compose_config(list(overrides), tmp_path)


def run_cli(*args: str, cwd: Path = ROOT, env: dict | None = None, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python -m run ARGS` as a user types it."""
    return subprocess.run(
        [sys.executable, "-m", "run", *args], cwd=cwd, capture_output=True, text=True,
        timeout=timeout, env={**os.environ, **(env or {})},
    )


def search_runs(db: Path, experiment: str = "activation-lab"):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{db}")
    return mlflow.search_runs(experiment_names=[experiment])
