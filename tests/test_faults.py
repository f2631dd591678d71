"""Faults a run or a sweep must survive, with real components: real SQLite stores, real mounts
(read-only, full), real concurrent sweeps, a real `mlflow server` killed and restarted."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request

import pytest
from mlflow import MlflowClient

from actlab.pipeline.config import compose
from actlab.pipeline.preflight import StoreUnusable, check
from helpers import ROOT, TINY, run_cli, search_runs


def _digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _one_error_line(done) -> str:
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    return lines[0]


def test_unknown_option_and_bad_value_share_exit_status_2(tmp_path):
    db = tmp_path / "mlflow.db"
    for override, says in [("activation=swishy", "Available options in 'activation': elu, gelu"),
                           ("model.depth=0", "model.depth=0 is not allowed")]:
        done = run_cli(*TINY, f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'out'}", override)
        assert done.returncode == 2
        assert says in _one_error_line(done)
    assert not db.exists()


def test_a_file_that_is_not_an_mlflow_store_is_refused_and_left_untouched(tmp_path):
    text = tmp_path / "notes.db"
    text.write_text("my notes, not a database\n")
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as db:
        db.execute("create table mine (x)")
    db.close()
    for path, says in [(text, "not an MLflow store (not an SQLite database)"),
                       (other, "an SQLite database but not an MLflow store")]:
        before, mtime = _digest(path), path.stat().st_mtime_ns
        done = run_cli(*TINY, f"tracking.uri=sqlite:///{path}", f"hydra.run.dir={tmp_path / 'out'}")
        assert done.returncode == 2 and says in _one_error_line(done)
        assert "Epoch" not in done.stdout  # refused before training
        assert _digest(path) == before and path.stat().st_mtime_ns == mtime


@pytest.fixture
def mount(tmp_path):
    """mount(options) -> a fresh tmpfs folder mounted with those options (root only); unmounted after."""
    mounted = []

    def make(options: str, name: str):
        folder = tmp_path / name
        folder.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip()})")
        mounted.append(folder)
        return folder

    yield make
    for folder in reversed(mounted):
        subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def _store_error(uri: str) -> str:
    with pytest.raises(StoreUnusable) as refused:
        check(compose(TINY + [f"tracking.uri={uri}"]))
    assert "\n" not in str(refused.value)
    return str(refused.value)


def test_a_store_that_cannot_be_written_is_refused_before_training(mount, tmp_path):
    # A read-only folder (a read-only mount: root ignores permission bits, not that).
    read_only = mount("ro,size=64m", "ro")
    assert "Read-only file system" in _store_error(f"sqlite:///{read_only / 'mlflow.db'}")
    # A store that exists, on a folder remounted read-only.
    store = mount("size=64m", "rw")
    MlflowClient(f"sqlite:///{tmp_path / 'built.db'}").search_experiments()  # MLflow builds a real store
    shutil.copyfile(tmp_path / "built.db", store / "mlflow.db")  # (copied: MLflow keeps its file open)
    before = _digest(store / "mlflow.db")
    subprocess.run(["mount", "-o", "remount,ro", str(store)], check=True)
    assert "cannot be written" in _store_error(f"sqlite:///{store / 'mlflow.db'}")
    # A full disk: a 4 MB filesystem (with 1 MB left, or 0, writes fail the same way).
    full = mount("size=4m", "full")
    assert "MB free" in _store_error(f"sqlite:///{full / 'mlflow.db'}")
    # The same through the CLI: exit 2, one line, nothing trained or written.
    done = run_cli(*TINY, f"tracking.uri=sqlite:///{store / 'mlflow.db'}", f"hydra.run.dir={tmp_path / 'out'}")
    assert done.returncode == 2 and "cannot be written" in _one_error_line(done) and "Epoch" not in done.stdout
    assert _digest(store / "mlflow.db") == before


def _sweep_process(tmp_path, db, name: str, activations: str, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "run", "-m", *TINY, f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path / name}",
         f"activation={activations}", "trainer.epochs=3", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


@pytest.mark.slow
def test_two_sweeps_at_once_into_one_sqlite_store(tmp_path):
    db = tmp_path / "mlflow.db"
    # Overlapping jobs, started together, in opposite orders, one sweep with two joblib workers.
    first = _sweep_process(tmp_path, db, "a", "relu,tanh,elu,selu", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    second = _sweep_process(tmp_path, db, "b", "selu,elu,tanh,sigmoid")
    outputs = [process.communicate(timeout=600) for process in (first, second)]
    for process, (out, err) in zip((first, second), outputs):
        assert process.returncode == 0, err[-3000:]
        assert "database is locked" not in out + err
    runs = search_runs(db)
    children = runs[runs["tags.sweep"] != "true"]
    assert not (runs["status"] == "RUNNING").any()
    finished = children[children["status"] == "FINISHED"]
    # Five configs, each trained to FINISHED exactly once; the other sweep skipped what it found done.
    assert sorted(finished["tags.activation"]) == ["elu", "relu", "selu", "sigmoid", "tanh"]
    assert len(children) == 5
    skipped = sum(out.count(" skipped ") for out, _ in outputs)
    assert skipped == 3, [out for out, _ in outputs]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(tmp_path, port: int) -> subprocess.Popen:
    """A real `mlflow server` on 127.0.0.1 with its own SQLite store, ready when this returns."""
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts"), "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
            return server
        except OSError:
            time.sleep(0.3)
    os.killpg(server.pid, signal.SIGKILL)
    raise RuntimeError("mlflow server did not start")


def _kill(server: subprocess.Popen) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGKILL)  # no goodbye: connections refused from now on
    server.wait(timeout=30)


def _server_runs(db) -> list[tuple[str, str, str | None]]:
    """(status, activation tag, parent run id) of every run, read from the server's own store."""
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "select r.status, a.value, p.value from runs r "
            "left join tags a on a.run_uuid = r.run_uuid and a.key = 'activation' "
            "left join tags p on p.run_uuid = r.run_uuid and p.key = 'mlflow.parentRunId'").fetchall()
    conn.close()
    return rows


def _server_sweep(tmp_path, url: str, name: str, retry_s: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "run", "-m", *TINY, "tracking=server", f"tracking.uri={url}", f"tracking.retry_s={retry_s}",
         "activation=relu,tanh,elu", "trainer.epochs=40", f"hydra.sweep.dir={tmp_path / name}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )


def _wait_for_a_running_child(db, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if any(status == "RUNNING" and parent for status, _, parent in _server_runs(db)):
            return
        time.sleep(0.2)
    raise AssertionError("no job started")


@pytest.mark.slow
def test_tracking_server_back_within_retry_s_loses_nothing(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start_server(tmp_path, port)
    try:
        sweep = _server_sweep(tmp_path, url, "sweep", retry_s=120)
        _wait_for_a_running_child(tmp_path / "server.db")
        _kill(server)
        time.sleep(2)
        server = _start_server(tmp_path, port)  # writes made meanwhile were retried, not lost
        out, err = sweep.communicate(timeout=600)
        assert sweep.returncode == 0, err[-3000:]
        assert "sweep: 3 finished" in out, out + err
        runs = _server_runs(tmp_path / "server.db")
        assert sorted(status for status, _, parent in runs if parent) == ["FINISHED"] * 3
        client = MlflowClient(url)
        for run in client.search_runs([client.get_experiment_by_name("activation-lab").experiment_id]):
            if "mlflow.parentRunId" in run.data.tags:
                assert len(client.get_metric_history(run.info.run_id, "curves/val_accuracy")) == 40
    finally:
        _kill(server)


@pytest.mark.slow
def test_tracking_server_gone_mid_sweep_then_back(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    db = tmp_path / "server.db"
    server = _start_server(tmp_path, port)
    try:
        sweep = _server_sweep(tmp_path, url, "first", retry_s=3)
        _wait_for_a_running_child(db)
        _kill(server)
        out, err = sweep.communicate(timeout=600)
        # Each job fails in one line after tracking.retry_s; the sweep goes on to the end.
        assert sweep.returncode == 0, err[-3000:]
        assert "Traceback" not in out + err, err[-3000:]
        assert "sweep: 3 failed" in out, out + err
        assert f"tracking server unreachable at {url}" in out
        assert err.count(f"error: tracking server unreachable at {url}") >= 3, err
        # The job whose final writes never arrived is not FINISHED (left RUNNING; nobody could end it).
        first = _server_runs(db)
        assert not any(status == "FINISHED" for status, _, parent in first if parent)

        server = _start_server(tmp_path, port)
        again = _server_sweep(tmp_path, url, "second", retry_s=3)
        out, err = again.communicate(timeout=600)
        assert again.returncode == 0, err[-3000:]
        assert "sweep: 3 finished" in out and "as KILLED" in out, out
        runs = _server_runs(db)
        assert not any(status == "RUNNING" for status, _, _ in runs)  # the stale runs were ended KILLED
        finished = sorted(activation for status, activation, parent in runs if parent and status == "FINISHED")
        assert finished == ["elu", "relu", "tanh"]  # each once: no duplicate FINISHED runs
    finally:
        _kill(server)


def _running_job_pid(db) -> int | None:
    """The pid tag of a RUNNING sweep job's MLflow run: the joblib worker training it."""
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db) as conn:
            row = conn.execute(
                "select t.value from runs r join tags t on t.run_uuid = r.run_uuid and t.key = 'pid' "
                "join tags p on p.run_uuid = r.run_uuid and p.key = 'mlflow.parentRunId' "
                "where r.status = 'RUNNING' limit 1").fetchone()
        conn.close()
    except sqlite3.OperationalError:
        return None
    return int(row[0]) if row else None


@pytest.mark.slow
def test_sigkilled_joblib_worker_is_recorded_killed_and_redone_next_time(tmp_path):
    db = tmp_path / "mlflow.db"
    args = [sys.executable, "-m", "run", "-m", *TINY, "trainer.epochs=30", f"tracking.uri=sqlite:///{db}",
            "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "activation=relu,tanh,elu,selu,sigmoid"]
    sweep = subprocess.Popen([*args, f"hydra.sweep.dir={tmp_path / 'first'}"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while (pid := _running_job_pid(db)) is None and time.time() < deadline:
        time.sleep(0.2)
    assert pid is not None, "no job started"
    os.kill(pid, signal.SIGKILL)  # the worker dies mid-job: no handler runs
    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "TerminatedWorkerError" not in err, err[-3000:]
    table = out[out.index("sweep: "):]
    assert "killed" in table and "its joblib worker was killed" in table
    runs = search_runs(db)
    children = runs[runs["tags.sweep"] != "true"]
    finished = set(children[children["status"] == "FINISHED"]["tags.activation"])
    assert 3 <= len(finished) < 5  # the others finished (loky stops the killed worker's neighbour too)
    assert not (runs["status"] == "RUNNING").any()  # the killed job's run was ended KILLED

    again = subprocess.run([*args, f"hydra.sweep.dir={tmp_path / 'second'}"], cwd=ROOT,
                           capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert f"{len(finished)} skipped" in again.stdout
    runs = search_runs(db)
    children = runs[runs["tags.sweep"] != "true"]
    done = children[children["status"] == "FINISHED"]
    assert sorted(done["tags.activation"]) == ["elu", "relu", "selu", "sigmoid", "tanh"]  # redone, once each


@pytest.mark.slow
def test_an_unreachable_tracking_server_fails_in_one_line_after_retry_s(tmp_path, monkeypatch):
    # Also guards what track.py reads of MLflow's errors (their wording): fails loudly on an upgrade.
    from actlab.pipeline.track import Store, TrackingUnreachable

    for name in ("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "MLFLOW_HTTP_REQUEST_TIMEOUT"):
        monkeypatch.delenv(name, raising=False)  # restored after the test: Store sets them if unset
    url = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    start = time.monotonic()
    with pytest.raises(TrackingUnreachable, match=f"^tracking server unreachable at {url} "):
        Store(url, "activation-lab", retry_s=2)
    assert 2 <= time.monotonic() - start < 20
    done = run_cli(*TINY, "tracking=server", f"tracking.uri={url}", "tracking.retry_s=1", f"hydra.run.dir={tmp_path / 'out'}")
    assert done.returncode == 1
    assert _one_error_line(done).startswith(f"error: tracking server unreachable at {url}")


def _running_second_job_pid(db) -> int | None:
    """The worker's pid once a sweep job's run is RUNNING while an earlier job of its worker has a run."""
    if not db.exists():
        return None
    try:
        with sqlite3.connect(db) as conn:
            rows = conn.execute(
                "select r.status, t.value from runs r join tags t on t.run_uuid = r.run_uuid and t.key = 'pid' "
                "join tags p on p.run_uuid = r.run_uuid and p.key = 'mlflow.parentRunId' order by r.start_time").fetchall()
        conn.close()
    except sqlite3.OperationalError:
        return None
    for i, (status, pid) in enumerate(rows):
        if status == "RUNNING" and any(other == pid for _, other in rows[:i]):
            return int(pid)
    return None


@pytest.mark.slow
def test_a_worker_killed_beside_a_queued_run_end_leaves_nothing_wrongly_finished(tmp_path):
    """A worker's runs end on its writer thread beside the next job: killed then, every run the sweep
    table calls finished is FINISHED with all its artifacts, and every other run is not FINISHED."""
    db = tmp_path / "mlflow.db"
    args = [sys.executable, "-m", "run", "-m", *TINY, "trainer.epochs=20", f"tracking.uri=sqlite:///{db}",
            "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "activation=relu,tanh", "seed=0,1,2"]
    sweep = subprocess.Popen([*args, f"hydra.sweep.dir={tmp_path / 'first'}"], cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while (pid := _running_second_job_pid(db)) is None and time.time() < deadline:
        time.sleep(0.05)
    assert pid is not None, "no worker reached its second job"
    os.kill(pid, signal.SIGKILL)
    out, err = sweep.communicate(timeout=600)
    assert sweep.returncode == 0, err[-3000:]
    assert "killed" in out[out.index("sweep: "):]
    client = MlflowClient(f"sqlite:///{db}")
    runs = search_runs(db)
    children = runs[runs["tags.sweep"] != "true"]
    assert not (children["status"] == "RUNNING").any()  # ended KILLED at the sweep's end
    for _, run in children[children["status"] == "FINISHED"].iterrows():
        assert {a.path for a in client.list_artifacts(run["run_id"])} >= {"config.yaml", "layer_stats.csv", "learning_curve.png"}
    import json

    outcomes = [json.loads(p.read_text()) for p in (tmp_path / "first").glob("*/outcome.json")]
    finished = {o["run_id"] for o in outcomes if o["status"] == "finished"}
    assert finished == set(children[children["status"] == "FINISHED"]["run_id"])
    assert len(outcomes) == 6  # every job has a line: finished, or killed (redone next time)
