"""Sweeps with Hydra's real launchers and real MLflow stores: parallel, killed and resumed, failing
jobs, a tracking server over HTTP, submitit."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pandas as pd
import pytest
from mlflow import MlflowClient

from actlab.pipeline.sweep import SCHEDULE_FILE, WORKERS_FILE
from helpers import ROOT, TINY, run_cli, search_runs


def _sweep(tmp_path, *args: str, db=None, env=None, name="sweep"):
    db = db or tmp_path / "mlflow.db"
    return run_cli("-m", *TINY, f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path / name}", *args, env=env)


def _children(runs):
    parents = runs[runs["tags.sweep"] == "true"] if "tags.sweep" in runs else runs.iloc[0:0]
    return parents, runs[runs["tags.sweep"] != "true"] if "tags.sweep" in runs else runs


@pytest.mark.slow
def test_joblib_two_workers_eight_jobs_one_store(tmp_path):
    done = _sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                  "activation=relu,tanh,elu,selu", "seed=0,1")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "database is locked" not in done.stdout + done.stderr
    # Hydra's schema-matching deprecation, filtered in run.py, reaches neither process's console.
    assert "validated against ConfigStore schema" not in done.stdout + done.stderr
    assert "sweep: 8 finished" in done.stdout
    parents, children = _children(search_runs(tmp_path / "mlflow.db"))
    assert len(parents) == 1 and len(children) == 8
    assert set(children["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}
    assert (children["status"] == "FINISHED").all()
    assert children["tags.config_fingerprint"].nunique() == 8  # every job present once
    assert set(children["params.threads"]) == {str(max(1, (os.cpu_count() or 1) // 2))}
    # The launcher ran its jobs in the workers the sweep started early (sweep._joblib_arguments
    # copies the launcher's arguments: if they drift apart, loky starts a second pool).
    workers = json.loads((tmp_path / "sweep" / WORKERS_FILE).read_text())
    assert len(workers) == 2 and set(children["tags.pid"].astype(int)) <= set(workers)
    # Each job composed once, by Hydra's sweeper checking it, and run from that config (the launcher
    # found all 8 kept: if Hydra composes elsewhere after an upgrade, "reused" drops); each worker
    # task trains one activation's seeds, so a worker meets few architectures.
    schedule = json.loads((tmp_path / "sweep" / SCHEDULE_FILE).read_text())
    assert schedule["jobs"] == schedule["compositions"] == schedule["reused"] == 8
    assert schedule["chunks"] == [[0, 1], [2, 3], [4, 5], [6, 7]]
    by_job = {int(r["tags.mlflow.runName"].split("seed ")[-1]) + 2 * ["relu", "tanh", "elu", "selu"].index(r["tags.activation"]): r
              for _, r in children.iterrows()}
    for first, second in schedule["chunks"]:
        assert by_job[first]["tags.pid"] == by_job[second]["tags.pid"]  # a chunk runs in one worker


def _finished_children(db):
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(db) as conn:
            return conn.execute(
                "select count(*) from runs r join tags t on r.run_uuid = t.run_uuid "
                "where r.status = 'FINISHED' and t.key = 'mlflow.parentRunId'"
            ).fetchone()[0]
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow  # 9-27 s: the default run stays within 5 minutes
def test_sigkilled_sweep_resumes_without_duplicates(tmp_path):
    db = tmp_path / "mlflow.db"
    args = [sys.executable, "-m", "run", "-m", *TINY, "trainer.epochs=3", f"tracking.uri=sqlite:///{db}",
            "activation=relu,tanh,elu", "seed=0,1"]
    process = subprocess.Popen([*args, f"hydra.sweep.dir={tmp_path / 'first'}"], cwd=ROOT,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    while _finished_children(db) < 2 and time.time() < deadline:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)  # no handler runs: runs stay RUNNING in the store
    process.wait()
    first = search_runs(db)
    assert 2 <= (first["status"] == "FINISHED").sum() and (first["status"] == "RUNNING").any()

    done = subprocess.run([*args, f"hydra.sweep.dir={tmp_path / 'second'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "as KILLED" in done.stdout and "skipped" in done.stdout
    runs = search_runs(db)
    assert not (runs["status"] == "RUNNING").any()
    finished = runs[(runs["status"] == "FINISHED") & (runs["tags.sweep"] != "true")]
    assert len(finished) == 6 and finished["tags.config_fingerprint"].nunique() == 6

    # A third time: nothing left to do, all skipped; with tracking.rerun=true everything runs again.
    again = subprocess.run([*args, f"hydra.sweep.dir={tmp_path / 'third'}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert "sweep: 6 skipped" in again.stdout

    # One parent for the sweep, however often it was run, resumed or rerun, and one line per job.
    runs = search_runs(db)
    parents = runs[runs["tags.sweep"] == "true"]
    assert len(parents) == 1 and parents.iloc[0]["tags.mlflow.runName"] == "sweep · activation × seed · 6 jobs"
    assert parents.iloc[0]["status"] == "FINISHED"
    children = runs[runs["tags.mlflow.parentRunId"] == parents.iloc[0]["run_id"]]
    assert len(children[children["status"] == "FINISHED"]) == 6
    client = MlflowClient(f"sqlite:///{db}")
    assert {a.path for a in client.list_artifacts(parents.iloc[0]["run_id"])} == {"sweep_summary.png", "sweep_jobs.csv"}
    lines = again.stdout.splitlines()
    assert sum(line.startswith("[") and "/6] " in line for line in lines) == 6
    assert any(line.startswith("[") and "elu · seed 1 · skipped · already finished as run " in line for line in lines)
    assert again.stdout.count("mlflow ui --backend-store-uri") == 1


@pytest.mark.slow  # ~15 s
def test_a_sweep_without_an_activation_axis_groups_its_figure_by_the_runs_activation(tmp_path):
    done = _sweep(tmp_path, "seed=0,1")  # the activation comes from the config, not from an override
    assert done.returncode == 0, done.stderr[-3000:]
    parents, children = _children(search_runs(tmp_path / "mlflow.db"))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    jobs = pd.read_csv(client.download_artifacts(parents.iloc[0]["run_id"], "sweep_jobs.csv", str(tmp_path)))
    assert sorted(jobs["group"]) == sorted(children["tags.activation"]) and jobs["group"].nunique() == 1


@pytest.mark.slow  # 9-27 s: the default run stays within 5 minutes
def test_one_diverging_job_does_not_stop_the_others(tmp_path):
    done = _sweep(tmp_path, "optimizer=sgd", "optimizer.learning_rate=0.01,1e6,0.02", "trainer.epochs=2")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sweep: 2 finished, 1 diverged" in done.stdout
    table = done.stdout[done.stdout.index("sweep: 2 finished"):]
    assert "optimizer.learning_rate=1000000.0  diverged: the loss stopped being finite in epoch 1" in table
    parents, children = _children(search_runs(tmp_path / "mlflow.db"))
    assert sorted(children["status"]) == ["FAILED", "FINISHED", "FINISHED"]
    assert parents.iloc[0]["status"] == "FAILED"


@pytest.mark.slow
def test_a_job_with_a_bad_value_fails_alone_and_is_named(tmp_path):
    done = _sweep(tmp_path, "model.depth=0,2")
    assert done.returncode == 0
    assert "sweep: 1 finished, 1 failed" in done.stdout
    assert "model.depth=0 is not allowed" in done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow  # ~30 s; tests/test_faults.py's fast server test runs by default
def test_sweep_logs_to_a_real_tracking_server(tmp_path):
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=1)
                break
            except OSError:
                time.sleep(0.5)
        done = run_cli("-m", *TINY, "tracking=server", f"tracking.uri={url}", "activation=relu,selu",
                       f"hydra.sweep.dir={tmp_path / 'sweep'}")
        assert done.returncode == 0, done.stderr[-3000:]
        client = MlflowClient(url)
        experiment = client.get_experiment_by_name("activation-lab")
        runs = client.search_runs([experiment.experiment_id])
        children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
        assert len(runs) == 3 and len(children) == 2
        assert all(r.info.status == "FINISHED" and "best/test_accuracy" in r.data.metrics for r in children)
        assert {a.path for a in client.list_artifacts(children[0].info.run_id)} >= {"layer_stats.csv", "config.yaml"}
        assert (tmp_path / "server.db").exists()  # the server's own store holds them
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)


@pytest.mark.slow  # 9-27 s: the default run stays within 5 minutes
def test_submitit_local_runs_a_two_job_sweep(tmp_path):
    done = _sweep(tmp_path, "hydra/launcher=submitit_local", "activation=relu,tanh")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sweep: 2 finished" in done.stdout
    parents, children = _children(search_runs(tmp_path / "mlflow.db"))
    assert len(children) == 2 and set(children["tags.mlflow.parentRunId"]) == {parents.iloc[0]["run_id"]}


TUNED = """# @package _global_
tune:
  param: optimizer.learning_rate
  values: "0.001,0.01"
  seeds: "100"
  by: [activation]
  widen: 1
hydra:
  sweeper:
    params:
      activation: relu,tanh
      seed: 0,1
"""


@pytest.mark.slow  # ~50 s: 10 tiny jobs in three stages, then the same command again
def test_a_tune_node_runs_its_tuning_grid_widens_it_then_fresh_seeds_at_each_pick(tmp_path):
    (tmp_path / "dirs" / "experiment").mkdir(parents=True)
    (tmp_path / "dirs" / "experiment" / "tuned.yaml").write_text(TUNED)
    def tuned_sweep(name: str):  # --config-dir goes before the overrides
        return run_cli("-m", "--config-dir", str(tmp_path / "dirs"), *TINY, f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}",
                       f"hydra.sweep.dir={tmp_path / name}", "experiment=tuned", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")

    done = tuned_sweep("sweep")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "4 tuning jobs" in done.stdout and "picked on the tuning seeds" in done.stdout
    assert "widening the grid: " in done.stdout  # a 2-value grid: every pick sits at an edge (unless tied)
    _, children = _children(search_runs(tmp_path / "mlflow.db"))
    children = children.assign(lr=children["params.optimizer.learning_rate"].astype(float), seed=children["tags.seed"].astype(int),
                               val=children["metrics.best/val_accuracy"].astype(float))
    tuning, tested = children[children["seed"] == 100], children[children["seed"] != 100]
    assert len(tested) == 4 and sorted(tested["seed"]) == [0, 0, 1, 1]  # the sweep's own seeds, once each
    for activation, runs in tested.groupby("tags.activation"):
        candidates = tuning[tuning["tags.activation"] == activation]
        base = candidates[candidates["lr"].isin([0.001, 0.01])]
        edge = base.sort_values(["val", "lr"], ascending=[False, True]).iloc[0]["lr"]
        if base["val"].nunique() > 1:  # not a tie: one step beyond its edge
            assert set(candidates["lr"]) == {0.001, 0.01, edge / 10 if edge == 0.001 else edge * 10}
        best = candidates.sort_values(["val", "lr"], ascending=[False, True]).iloc[0]["lr"]
        assert set(runs["lr"]) == {best}, f"{activation} tested at {set(runs['lr'])}, its widened tuning picked {best}"
    again = tuned_sweep("again")  # the same command: every job is done, all stages skip
    widened = len(tuning) - 4
    assert again.returncode == 0 and f"sweep: {8 + widened} skipped" in again.stdout, again.stdout[-2000:]
    assert len(_children(search_runs(tmp_path / "mlflow.db"))[1]) == 8 + widened
