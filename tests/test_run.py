"""A whole tracked run, read back the way a user reads it: `mlflow.search_runs` and the artifacts."""

from __future__ import annotations

import math
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import pytest
from mlflow import MlflowClient
from sklearn.datasets import load_digits

from actlab.pipeline import metric_keys
from actlab.pipeline.config import ConfigError, compose
from actlab.pipeline.probe import STATISTICS
from actlab.pipeline.runner import run
from actlab.pipeline.track import Store
from helpers import CONF, ROOT, TINY, compose_config, run_cli, search_runs


def test_tracked_run_records_everything(tiny_cfg, tmp_path):
    result = run(tiny_cfg("activation=selu", "model.depth=3", "trainer.epochs=2"))
    runs = search_runs(tmp_path / "mlflow.db")
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["status"] == "FINISHED" and row["run_id"] == result["run_id"]
    assert row["tags.mlflow.runName"] == "selu · mlp · lecun_normal · digits · seed 0"
    for tag, value in {"activation": "selu", "model": "mlp", "dataset": "digits", "initializer": "lecun_normal"}.items():
        assert row[f"tags.{tag}"] == value
    assert len(row["tags.config_fingerprint"]) == 16
    assert row["params.model.depth"] == "3" and row["params.activation.name"] == "selu"
    assert row["params.version.tensorflow"] and row["params.git_commit"]
    digits = np.bincount(load_digits().target)  # stratified splits: the validation split's majority share is the dataset's
    assert float(row["params.data.chance"]) == pytest.approx(digits.max() / digits.sum(), abs=0.01)
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    # Summaries once, at step 0 (bars in the chart view), rounded to 6 significant digits.
    for final in ("test_accuracy", "test_loss", "best_val_accuracy", "best_epoch", "train_time_s",
                  "epochs_to_target", "val_accuracy_auc"):
        history = client.get_metric_history(result["run_id"], metric_keys.SUMMARY[final])
        assert [m.step for m in history] == [0] and not math.isnan(history[0].value), final
        assert history[0].value == float(f"{result[final]:.6g}"), final
    for metric in ("loss", "accuracy", "val_loss", "val_accuracy", "epoch_time_s"):
        assert [m.step for m in client.get_metric_history(result["run_id"], f"curves/{metric}")] == [1, 2]
    for stat in STATISTICS:
        for layer in (1, 2, 3):
            steps = [m.step for m in client.get_metric_history(result["run_id"], f"layer_{stat}/{layer:02d}")]
            assert steps == [0, 1, 2], (stat, layer)
        for phase in ("init", "trained"):  # against depth: step = hidden layer
            profile = client.get_metric_history(result["run_id"], f"depth_{phase}/{stat}")
            assert sorted(m.step for m in profile) == [1, 2, 3], (stat, phase)
    artifacts = {a.path for a in client.list_artifacts(result["run_id"])}
    assert artifacts == {"config.yaml", "overrides.yaml", "model_summary.txt", "layer_stats.csv", "learning_curve.png", "images"}
    images = {a.path.split("+")[0] for a in client.list_artifacts(result["run_id"], "images")}  # MLflow's file names
    assert images == {f"images/heatmaps~{stat}" for stat in STATISTICS}, images
    # The fields the UI shows: description, source, commit, user, dataset.
    tags = client.get_run(result["run_id"]).data.tags
    assert tags["mlflow.note.content"].startswith("selu · mlp · lecun_normal · digits · seed 0: test accuracy ")
    assert tags["mlflow.source.name"] and len(tags["mlflow.source.git.commit"]) == 40 and tags["mlflow.user"]
    dataset = client.get_run(result["run_id"]).inputs.dataset_inputs[0].dataset
    assert dataset.name == "digits" and len(dataset.digest) == 8 and '"n_train"' in dataset.profile
    table = client.download_artifacts(result["run_id"], "layer_stats.csv", str(tmp_path))
    import pandas as pd

    layer_stats = pd.read_csv(table)
    assert list(layer_stats.columns) == ["step", "layer", *STATISTICS] and len(layer_stats) == 3 * 3


def test_divergence_keeps_a_failed_run_and_returns(tiny_cfg, tmp_path):
    result = run(tiny_cfg("optimizer=sgd", "optimizer.learning_rate=1e6", "trainer.epochs=3"))
    assert result["status"] == "diverged"
    row = search_runs(tmp_path / "mlflow.db").iloc[0]
    assert row["status"] == "FAILED"
    assert row["tags.diverged"] == "true" and row["tags.diverged_epoch"] == "1"


def test_same_seed_same_metrics(tiny_cfg, tmp_path):
    first = run(tiny_cfg("trainer.epochs=2", "seed=3"))
    second = run(tiny_cfg("trainer.epochs=2", "seed=3"))
    other = run(tiny_cfg("trainer.epochs=2", "seed=4"))
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")

    def history(run_id):
        return [(m.step, m.value) for name in ("curves/loss", "curves/val_accuracy", "layer_act_std/02", "depth_trained/act_std")
                for m in client.get_metric_history(run_id, name)]

    assert history(first["run_id"]) == history(second["run_id"])
    assert history(first["run_id"]) != history(other["run_id"])


def test_an_exception_inside_a_run_ends_it_failed(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "activation-lab")
    with pytest.raises(RuntimeError):
        with store.start_run("boom", {}) as tracked:
            raise RuntimeError("mid-run failure")
    run_info = store.client.get_run(tracked.run_id)
    assert run_info.info.status == "FAILED" and "mid-run failure" in run_info.data.tags["error"]


def _wait_for_running(db, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if db.exists():
            try:
                with sqlite3.connect(db) as conn:
                    if conn.execute("select count(*) from runs where status='RUNNING'").fetchone()[0]:
                        return True
            except sqlite3.OperationalError:
                pass
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("sig,status", [(signal.SIGINT, "KILLED"), pytest.param(signal.SIGTERM, "KILLED", marks=pytest.mark.slow)])
def test_interrupt_or_kill_mid_run_leaves_it_killed_not_running(tmp_path, sig, status):
    db = tmp_path / "mlflow.db"
    process = subprocess.Popen(
        [sys.executable, "-m", "run", *TINY, "trainer.epochs=5000", "trainer.early_stopping=false", f"tracking.uri=sqlite:///{db}",
         f"hydra.run.dir={tmp_path / 'out'}"],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    assert _wait_for_running(db), "the run never started"
    time.sleep(1.0)
    process.send_signal(sig)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert search_runs(db)["status"].tolist() == [status]
    # One line that says what stopped and what: the run by its name, never an empty "interrupted ()".
    cause = "Ctrl-C" if sig == signal.SIGINT else f"signal {int(sig)}"
    assert f"interrupted by {cause}: run 'relu · mlp · he_normal · digits · seed 0' was ended as KILLED" in stderr, stderr


@pytest.mark.slow
def test_cli_run_ends_with_the_one_line_summary(tmp_path):
    db = tmp_path / "mlflow.db"
    done = run_cli(*TINY, f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    run_id = search_runs(db).iloc[0]["run_id"]
    assert last.startswith(f"run {run_id} · finished · test_accuracy 0.")
    # The UI command, and the URL of the experiment's runs as charts in the model-training view.
    assert f"· mlflow ui --backend-store-uri sqlite:///{db} · then open http://127.0.0.1:5000/#/experiments/1/runs?" in last
    assert last.endswith("workflowType=machine_learning&compareRunsMode=CHART")
    # TensorFlow's start-up notices ("Could not find cuda drivers", ...) are not passed on.
    assert "cuda drivers" not in done.stderr and "absl::InitializeLog" not in done.stderr, done.stderr


def test_stderr_without_passes_on_all_but_the_matching_lines_from_python_and_from_cpp():
    # In a process of its own: pytest's capture replaces sys.stderr with a file of its own.
    code = """if True:
        import os, re, sys
        from actlab.pipeline.runner import stderr_without
        with stderr_without(re.compile("notice")):
            os.write(2, b"a notice from C++\\nkept from C++\\n")  # below Python, as TensorFlow's libraries write
            print("a notice from Python", file=sys.stderr)
            print("kept from Python", file=sys.stderr)
        print("after", file=sys.stderr)
    """
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stderr.splitlines() == ["kept from C++", "kept from Python", "after"]


def test_a_job_reusing_an_earlier_jobs_compiled_model_trains_exactly_as_a_fresh_model():
    """Sweep jobs of one architecture share a compiled model (no retracing): the second job must
    get its own initial weights and a fresh optimizer, i.e. the very numbers of a fresh model."""
    from actlab.pipeline import train

    def job(seed, learning_rate):
        return compose_config([f"seed={seed}", f"optimizer.learning_rate={learning_rate}", "trainer.epochs=2",
                               "trainer.early_stopping=false"])

    train._COMPILED.clear()
    run(job(0, 0.01))
    reused = run(job(1, 0.003))
    assert len(train._COMPILED) == 1  # the second job found the first one's model
    train._COMPILED.clear()
    fresh = run(job(1, 0.003))
    compared = [k for k in fresh if isinstance(fresh[k], float) and k != "train_time_s"]
    assert {"test_loss", "test_accuracy", "val_accuracy_auc"} <= set(compared)
    assert {k: reused[k] for k in compared} == pytest.approx({k: fresh[k] for k in compared}, rel=1e-6)


@pytest.mark.slow
def test_a_function_of_ones_own_runs_from_a_config_dir_outside_the_project(tmp_path):
    """examples/serf copied elsewhere: its YAML and module, used from another working folder."""
    import shutil

    user = tmp_path / "my_conf"
    shutil.copytree(ROOT / "examples" / "serf", user)
    db = tmp_path / "mlflow.db"
    done = subprocess.run([sys.executable, "-m", "run", "--config-dir", str(user), "activation=serf", *TINY,
                           f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'out'}"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    row = search_runs(db).iloc[0]
    assert row["status"] == "FINISHED" and row["tags.activation"] == "serf" and row["tags.initializer"] == "he_normal"
    assert row["params.activation._target_"] == "my_acts.serf"
    client = MlflowClient(f"sqlite:///{db}")
    assert [m.step for m in client.get_metric_history(row["run_id"], "layer_saturated_frac/01")] == [0, 1]

    # Its faults: one line naming the YAML file, exit status 2, no run.
    (user / "activation" / "broken.yaml").write_text("_target_: my_acts.not_there\n")
    failed = subprocess.run([sys.executable, "-m", "run", "--config-dir", str(user), "activation=broken", *TINY,
                             f"tracking.uri=sqlite:///{tmp_path / 'none.db'}", f"hydra.run.dir={tmp_path / 'out'}"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert failed.returncode == 2 and len(failed.stderr.strip().splitlines()) == 1, failed.stderr
    assert "_target_ my_acts.not_there cannot be imported" in failed.stderr and str(user / "activation" / "broken.yaml") in failed.stderr
    assert "module my_acts" in failed.stderr and "has no 'not_there' (it defines: serf)" in failed.stderr
    (user / "activation" / "reduces.yaml").write_text("_target_: keras.ops.sum\n")
    with pytest.raises(ConfigError, match="must map a tensor to one of the same shape"):
        run(compose(TINY + [f"tracking.uri=sqlite:///{tmp_path / 'none.db'}", "activation=reduces"], config_dirs=(str(user),)))
    assert not (tmp_path / "none.db").exists()


def test_a_keras_builtin_joins_the_comparison_with_one_yaml_file(tmp_path):
    """hard_silu has no file in conf/: one YAML in a config dir, and it trains, is probed and is drawn."""
    user = tmp_path / "conf"
    (user / "activation").mkdir(parents=True)
    (user / "activation" / "hard_silu.yaml").write_text("_target_: keras.activations.hard_silu\n")
    cfg = compose(TINY + ["tracking.enabled=false", "activation=hard_silu"], config_dirs=(str(user),))
    assert run(cfg)["status"] == "finished"
    from actlab.pipeline.config import options
    from actlab.reporting.gallery import gallery

    gallery(tmp_path / "gallery.png", [CONF, user])
    assert "hard_silu" in options("activation", [CONF, user]) and (tmp_path / "gallery.png").stat().st_size > 10_000
