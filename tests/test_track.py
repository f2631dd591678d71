"""The tracking stage against a real SQLite MLflow store."""

from __future__ import annotations

import sqlite3

import pytest
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from actlab.pipeline.track import Store


def test_queued_metrics_are_all_written_in_order_by_the_time_the_run_ends(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "t")
    with store.start_run("r", {}) as run:
        for step in range(30):
            run.log_metrics({"loss": 1.0 / (step + 1), **{f"layer_act_mean/{i:02d}": step for i in range(1, 41)}}, step)
    history = store.client.get_metric_history(run.run_id, "loss")
    assert [m.step for m in sorted(history, key=lambda m: m.step)] == list(range(30))
    assert len(store.client.get_metric_history(run.run_id, "layer_act_mean/40")) == 30
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

    from actlab.pipeline import track

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


def _contents(db) -> dict:
    """Schema and rows of every table, without the columns that hold the time of creation. A
    table's definition is compared line by line, unordered: MLflow's own builds list a table's
    constraints in varying order."""
    with sqlite3.connect(db) as connection:
        tables = {name: sorted(line.strip().rstrip(",") for line in sql.splitlines())
                  for name, sql in connection.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table'")}
        rows = {}
        for table in tables:
            cursor = connection.execute(f'SELECT * FROM "{table}"')
            columns = [column[0] for column in cursor.description]
            keep = [i for i, column in enumerate(columns) if "time" not in column]
            # The deleted Default experiment keeps the folder it was made in (ours: the cache's).
            rows[table] = sorted(repr([None if columns[i] == "artifact_location" and "Default" in row else row[i] for i in keep])
                                 for row in cursor)
    return {"schema": tables, "rows": rows}


def test_a_new_store_started_from_the_cached_empty_one_equals_the_store_mlflow_builds(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for copy in ("first", "second"):  # the first makes the empty store, the second copies it
        # ... from another working directory, under which MLflow's Default experiment keeps its artifacts
        (tmp_path / copy).mkdir()
        monkeypatch.chdir(tmp_path / copy)
        ours = Store(f"sqlite:///{tmp_path / copy}.db", "t")
        built = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / copy}-built.db")
        built.delete_experiment(built.get_experiment_by_name("Default").experiment_id)  # as in the copies
        built.create_experiment("t", artifact_location=ours.client.get_experiment(ours.experiment_id).artifact_location)
        assert _contents(tmp_path / f"{copy}.db") == _contents(tmp_path / f"{copy}-built.db")
    assert (tmp_path / "cache" / "actlab").is_dir()


def test_a_store_that_exists_is_opened_as_it_is(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "t")
    with store.start_run("r", {}) as run:
        run.log_metrics({"loss": 1.0}, 1)
    again = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "t")
    assert again.experiment_id == store.experiment_id
    assert again.client.get_run(run.run_id).data.metrics == {"loss": 1.0}


def test_the_docs_list_every_metric_key_as_the_code_names_them():
    from actlab.pipeline import metric_keys
    from helpers import ROOT

    page = (ROOT / "docs" / "runs.md").read_text()
    assert metric_keys.docs_table() in page
    assert set(metric_keys.SUMMARY.values()) <= set(metric_keys.DESCRIPTIONS)


def test_values_are_logged_to_six_significant_digits():
    from actlab.pipeline.metric_keys import rounded

    assert rounded(0.8773333430290222) == 0.877333
    assert rounded(123456789.0) == 123457000.0 and rounded(1.23456789e-7) == 1.23457e-7
    assert rounded(0.0) == 0.0 and rounded(float("inf")) == float("inf")


def test_jobs_logging_the_same_new_dataset_at_once_all_link_it(tmp_path):
    """Parallel sweep jobs on a fresh store each log the same dataset input: MLflow's look-up-then-
    insert races on the datasets table's unique key; every run must still end up linked to it."""
    import threading

    from mlflow import MlflowClient

    from actlab.pipeline.track import Store

    for attempt in range(3):
        store = Store(f"sqlite:///{tmp_path / f'race{attempt}.db'}", "race")
        runs = [store.start_run(f"job {i}", {}) for i in range(6)]
        tracked = [run.__enter__() or run for run in runs]
        barrier, errors = threading.Barrier(len(tracked)), []

        def log(run, barrier=barrier, errors=errors):
            barrier.wait()
            try:
                run.log_dataset("digits", "0123abcd", {"n_train": 1}, {"loader": "digits"})
            except Exception as error:  # collected: a thread's exception would not fail the test
                errors.append(error)

        threads = [threading.Thread(target=log, args=(run,)) for run in tracked]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        for run in runs:
            run.__exit__(None, None, None)
        assert errors == []
        client = MlflowClient(store.uri)
        assert all(len(client.get_run(run.run_id).inputs.dataset_inputs) == 1 for run in tracked)


class _AnswerLostOnce(MlflowClient):
    """A real client whose first create_run is stored but whose answer never arrives, as when a
    tracking server is killed between its commit and its reply."""

    lost = False

    def create_run(self, *args, **kwargs):
        run = super().create_run(*args, **kwargs)
        if not self.lost:
            import requests
            self.lost = True
            raise requests.exceptions.ConnectionError("connection reset before the reply")
        return run


def test_a_create_run_whose_answer_was_lost_is_found_not_made_twice(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    store = Store(uri, "t")
    store.client._client = _AnswerLostOnce(tracking_uri=uri)
    with store.start_run("r", {"activation": "relu"}) as run:
        run.log_metrics({"loss": 1.0}, 1)
    runs = MlflowClient(uri).search_runs([store.experiment_id])
    assert [(r.info.run_id, r.info.status) for r in runs] == [(run.run_id, "FINISHED")]
