"""What tests share: the project's paths, a tiny config, and the commands as a user types them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from omegaconf import DictConfig

from actlab.pipeline.config import compose

ROOT = Path(__file__).resolve().parents[1]
CONF = ROOT / "conf"

# Every test run is tiny: 8x8 digits, one epoch, a narrow net, no progress bars.
TINY = ["dataset=digits", "trainer.epochs=1", "trainer.verbose=0", "model.width=16", "trainer.probe_batch=64"]


def compose_config(overrides: list[str], tmp_path: Path | None = None) -> DictConfig:
    extra = [f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"] if tmp_path else ["tracking.enabled=false"]
    return compose(TINY + extra + overrides)


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
