"""A sweep worker's run ends on a writer thread beside the next job (actlab.pipeline.finish): the
same records as an inline end, FINISHED only once everything arrived, a failed end never FINISHED."""

from __future__ import annotations

from pathlib import Path

import pytest
from mlflow import MlflowClient

from actlab.pipeline import finish
from actlab.pipeline.runner import RunContext, run
from helpers import search_runs
from hydra_plugins.actlab_joblib_launcher.joblib_launcher import schedule

ARTIFACTS = {"config.yaml", "overrides.yaml", "model_summary.txt", "layer_stats.csv", "learning_curve.png", "images"}


def _client(tmp_path: Path) -> MlflowClient:
    return MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_deferred_ends_record_everything_and_the_outcome_comes_after_finished(tiny_cfg, tmp_path):
    client = _client(tmp_path)
    seen: list[tuple[dict, str, set]] = []

    def record(outcome: dict) -> None:  # what a sweep's outcome file would get, checked as it comes
        run_id = outcome["run_id"]
        seen.append((outcome, client.get_run(run_id).info.status, {a.path for a in client.list_artifacts(run_id)}))

    with finish.deferred():
        for seed in (0, 1):
            pending = run(tiny_cfg(f"seed={seed}", "trainer.epochs=2"), RunContext(in_sweep=True))
            assert isinstance(pending, finish.Pending)
            pending.then(record)
    assert len(seen) == 2  # leaving the block drained the writer
    for outcome, status, artifacts in seen:
        assert outcome["status"] == "finished" and status == "FINISHED" and artifacts == ARTIFACTS
    runs = search_runs(tmp_path / "mlflow.db")
    assert sorted(runs["status"]) == ["FINISHED", "FINISHED"]


@pytest.mark.slow
def test_the_same_numbers_inline_and_deferred(tiny_cfg, tmp_path):
    inline = run(tiny_cfg("seed=3", "trainer.epochs=2"))
    outcomes: list[dict] = []
    with finish.deferred():
        run(tiny_cfg("seed=3", "trainer.epochs=2", "tracking.experiment=deferred"), RunContext(in_sweep=True)).then(outcomes.append)
    keys = ("test_accuracy", "test_loss", "best_val_accuracy", "best_epoch", "val_accuracy_auc")
    assert {k: inline[k] for k in keys} == {k: outcomes[0][k] for k in keys}


def test_a_deferred_end_that_fails_leaves_the_run_failed_and_says_why(tiny_cfg, tmp_path):
    client = _client(tmp_path)
    outcomes: list[dict] = []
    with finish.deferred():
        pending = run(tiny_cfg("trainer.epochs=1"), RunContext(in_sweep=True))
        # The run's artifact folder is taken by a file: its artifacts cannot arrive.
        (running,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
        artifacts = Path(running.info.artifact_uri.removeprefix("file://"))
        artifacts.parent.mkdir(parents=True, exist_ok=True)
        artifacts.write_text("in the way")
        pending.then(outcomes.append)
    assert outcomes[0]["status"] == "failed" and outcomes[0]["reason"]
    runs = search_runs(tmp_path / "mlflow.db")
    assert list(runs["status"]) == ["FAILED"]


def test_outside_a_sweep_chunk_a_run_ends_inline():
    assert not finish.is_deferred()
    assert finish.later(lambda: {"status": "finished"}, lambda error: {}) == {"status": "finished"}


def test_schedule_keeps_one_architecture_together_and_every_worker_busy():
    keys = ["relu", "tanh", "relu", "tanh", "relu", "tanh", "relu", "tanh"]
    assert schedule(keys, workers=2) == [[0, 2], [4, 6], [1, 3], [5, 7]]
    assert schedule(["a"] * 6, workers=2) == [[0, 1], [2, 3], [4, 5]]
    assert schedule(["a"] * 6, workers=2, size=6) == [[0, 1, 2, 3, 4, 5]]
    assert sorted(i for chunk in schedule([str(i % 5) for i in range(37)], workers=3) for i in chunk) == list(range(37))
