"""The tracking stage against a real SQLite MLflow store."""

from __future__ import annotations

import pytest
from mlflow.exceptions import MlflowException

from actlab.track import Store


def test_queued_metrics_are_all_written_in_order_by_the_time_the_run_ends(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "t")
    with store.start_run("r", {}) as run:
        for step in range(30):
            run.log_metrics({"loss": 1.0 / (step + 1), **{f"act_mean/layer_{i:02d}": step for i in range(1, 41)}}, step)
    history = store.client.get_metric_history(run.run_id, "loss")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(30))
    assert len(store.client.get_metric_history(run.run_id, "act_mean/layer_40")) == 30
    assert store.client.get_run(run.run_id).info.status == "FINISHED"


def test_a_write_that_fails_in_the_writer_thread_fails_the_run(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "t")
    with pytest.raises(MlflowException):
        with store.start_run("r", {}) as run:
            run.log_metrics({"loss": 1.0}, 1)
            run.log_metrics({"x" * 1000: 1.0}, 2)  # MLflow refuses keys over 250 characters
            run.log_metrics({"loss": 0.5}, 3)
    finished = store.client.get_run(run.run_id)
    assert finished.info.status == "FAILED"
    assert "exceeds the maximum length" in finished.data.tags["error"]  # the writer's error, kept on the run
    assert [m.step for m in store.client.get_metric_history(run.run_id, "loss")] == [1]


def test_a_running_runs_metrics_reach_the_store_within_the_write_interval(tmp_path, monkeypatch):
    import time

    from actlab import track

    monkeypatch.setattr(track, "WRITE_INTERVAL_S", 0.05)
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "t")
    with store.start_run("r", {}) as run:
        run.log_metrics({"loss": 1.0}, 1)
        deadline = time.monotonic() + 10
        while not store.client.get_metric_history(run.run_id, "loss") and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [m.step for m in store.client.get_metric_history(run.run_id, "loss")] == [1]  # before the run ends
        run.log_metrics({"loss": 0.5}, 2)
    assert len(store.client.get_metric_history(run.run_id, "loss")) == 2
