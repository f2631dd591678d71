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

from actlab.config import compose
from actlab.preflight import StoreUnusable, check
from conftest import ROOT, TINY, run_cli, search_runs


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
