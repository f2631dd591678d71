"""The downloading datasets read offline from the publishers' files, written here in the real
formats (CIFAR-10's pickle batches in a tar.gz, gzip'd idx files), small."""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile

import numpy as np
import pytest

from actlab.pipeline import archives
from actlab.pipeline.config import compose
from actlab.pipeline.data import DatasetUnavailable, load_splits
from helpers import TINY, run_cli, search_runs

RNG = np.random.default_rng(0)


def write_cifar(folder, per_batch: int = 20):
    """cifar-10-python.tar.gz as the publisher packs it; returns the first batch's arrays."""
    folder.mkdir(parents=True, exist_ok=True)
    first = None
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as archive:
        for batch in archives.CIFAR_BATCHES:
            data = RNG.integers(0, 256, size=(per_batch, 3072), dtype=np.uint8)
            labels = [i % 10 for i in range(per_batch)]
            first = first or (data, labels)
            payload = pickle.dumps({b"batch_label": batch.encode(), b"labels": labels, b"data": data,
                                    b"filenames": [b"x.png"] * per_batch})
            info = tarfile.TarInfo(f"cifar-10-batches-py/{batch}")
            info.size = len(payload)
            archive.addfile(info, io.BytesIO(payload))
    return first


def write_idx(folder, train: int = 100, test: int = 50):
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", train), ("t10k", test)):
        images = RNG.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = np.arange(n, dtype=np.uint8) % 10
        with gzip.open(folder / f"{split}-images-idx3-ubyte.gz", "wb") as file:
            file.write(b"\x00\x00\x08\x03" + b"".join(d.to_bytes(4, "big") for d in images.shape) + images.tobytes())
        with gzip.open(folder / f"{split}-labels-idx1-ubyte.gz", "wb") as file:
            file.write(b"\x00\x00\x08\x01" + n.to_bytes(4, "big") + labels.tobytes())


def _dataset(name: str, *overrides: str) -> dict:
    from omegaconf import OmegaConf

    return OmegaConf.to_container(compose([f"dataset={name}", *overrides]).dataset, resolve=True)


def test_cifar10_archive_is_read_channels_last(tmp_path):
    data, labels = write_cifar(tmp_path)
    x, y = archives.load("cifar10", str(tmp_path), verify=False)
    assert x.shape == (120, 3072) and y.shape == (120,)
    # Pixel (row 0, col 1) of image 0: the publisher stores red, green, blue planes one after another.
    image = x[0].reshape(32, 32, 3)
    assert tuple(image[0, 1]) == (data[0, 1], data[0, 1024 + 1], data[0, 2048 + 1])
    assert list(y[:20]) == labels


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist", "cifar10"])
def test_publishers_files_in_data_dir_load_offline_as_splits(name, tmp_path):
    (write_cifar if name == "cifar10" else write_idx)(tmp_path / "files")
    cfg = _dataset(name, f"dataset.data_dir={tmp_path / 'files'}", "dataset.verify=false")
    splits = load_splits(cfg, as_images=True)
    assert sum(splits.sizes().values()) == (120 if name == "cifar10" else 150)
    assert splits.input_shape == ((32, 32, 3) if name == "cifar10" else (28, 28, 1))
    assert splits.n_classes == 10


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_a_file_that_is_not_the_published_one_is_refused_in_one_line_unless_verify_is_off(name, tmp_path):
    (write_cifar if name == "cifar10" else write_idx)(tmp_path)
    with pytest.raises(DatasetUnavailable) as refused:
        load_splits(_dataset(name, f"dataset.data_dir={tmp_path}"), as_images=False)
    message = str(refused.value)
    assert "the published file" in message and "dataset.verify=false" in message and "\n" not in message


def test_a_truncated_or_foreign_archive_is_refused_in_one_line(tmp_path):
    (tmp_path / "cifar-10-python.tar.gz").write_bytes(b"not a tar file")
    with pytest.raises(archives.ArchiveError, match="is not CIFAR-10's python archive"):
        archives.load("cifar10", str(tmp_path), verify=False)
    write_idx(tmp_path / "idx")
    (tmp_path / "idx" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(archives.ArchiveError, match="t10k-labels-idx1-ubyte.gz is missing"):
        archives.load("mnist", str(tmp_path / "idx"), verify=False)


def test_the_default_folder_is_keras_cache_per_dataset(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert archives.folder("fashion_mnist", None) == tmp_path / "datasets" / "fashion-mnist"
    assert archives.where_to_put("cifar10", None) == f"cifar-10-python.tar.gz in {tmp_path / 'datasets' / 'cifar10'}/"


@pytest.mark.slow
def test_cli_trains_a_cnn_on_a_cifar10_archive_offline(tmp_path):
    write_cifar(tmp_path / "files")
    db = tmp_path / "mlflow.db"
    done = run_cli(*TINY, "dataset=cifar10", f"dataset.data_dir={tmp_path / 'files'}", "dataset.verify=false",
                   "model=cnn", "model.filters=[4]", f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'out'}")
    assert done.returncode == 0, done.stderr[-3000:]
    runs = search_runs(db)
    assert runs.iloc[0]["status"] == "FINISHED" and runs.iloc[0]["params.data.n_train"] == "84"
