"""The downloading datasets read from the files their publishers distribute, for machines without a
network: `cifar-10-python.tar.gz` (CIFAR-10's python pickle batches) and the four `.gz` idx files of
MNIST and of Fashion-MNIST, from one folder per dataset (`dataset.data_dir`).

Self-contained on purpose (numpy and the standard library only): `load(name, data_dir, verify)`
returns (x, y) numpy arrays, whatever calls it (data.py's loaders). Each file is checked: with
`verify` (the default) its size and MD5 must be the published file's, so a truncated or different
download is refused in one line; `verify=False` accepts any file in the right format (small test
archives, re-packed copies), and the format itself is always checked.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import pickle
import tarfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class ArchiveError(RuntimeError):
    """A dataset file that is missing, not the published one, or not in its format; one line."""


@dataclass(frozen=True)
class Published:
    name: str
    size: int
    md5: str


def _idx_files(sizes_md5: list[tuple[int, str]]) -> tuple[Published, ...]:
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]
    return tuple(Published(name, size, md5) for name, (size, md5) in zip(names, sizes_md5))


# The publishers' files (sizes and MD5s as the publishers and torchvision list them).
FILES: dict[str, tuple[Published, ...]] = {
    "mnist": _idx_files([(9912422, "f68b3c2dcbeaaa9fbdd348bbdeb94873"), (28881, "d53e105ee54ea40749a09fcbcd1e9432"),
                         (1648877, "9fb629c4189551a2d022fa330f9573f3"), (4542, "ec29112dd5afa0611ce80d1b7f02629c")]),
    "fashion_mnist": _idx_files([(26421880, "8d4fb7e6c68d591d4c3dfef9ec88bf0d"), (29515, "25c81989df183df01b3e8a0aad5dffbe"),
                                 (4422102, "bef4ecab320f06d8554ea6380940ec79"), (5148, "bb300cfdad3c16e7a12a480ee83cd310")]),
    "cifar10": (Published("cifar-10-python.tar.gz", 170498071, "c58f30108f718f92721af3b95e74349a"),),
}
# The folder under Keras's dataset cache used when dataset.data_dir is null: Keras's own for
# Fashion-MNIST (where keras.datasets.fashion_mnist keeps the same four files), the name otherwise.
DEFAULT_FOLDERS = {"mnist": "mnist", "fashion_mnist": "fashion-mnist", "cifar10": "cifar10"}
CIFAR_BATCHES = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]


def keras_datasets() -> Path:
    """Keras's dataset cache: $KERAS_HOME/datasets, else ~/.keras/datasets."""
    return Path(os.environ.get("KERAS_HOME", Path.home() / ".keras")) / "datasets"


def folder(name: str, data_dir: str | None) -> Path:
    """Where dataset `name`'s files are looked for: `data_dir`, or Keras's cache."""
    return Path(data_dir).expanduser() if data_dir else keras_datasets() / DEFAULT_FOLDERS[name]


def file_names(name: str) -> list[str]:
    return [published.name for published in FILES[name]]


def present(name: str, data_dir: str | None) -> bool:
    """Are any of the dataset's files there? (Then they are read, and must be whole.)"""
    where = folder(name, data_dir)
    return any((where / file).exists() for file in file_names(name))


def _check(path: Path, published: Published, verify: bool) -> None:
    if not path.is_file():
        raise ArchiveError(f"{path} is missing (dataset files: {', '.join(file_names_of(published))} in {path.parent}/)")
    if not verify:
        return
    size = path.stat().st_size
    if size != published.size:
        raise ArchiveError(f"{path} has {size:,} bytes, the published file {published.size:,}: a partial or other "
                           "download? (dataset.verify=false reads any file in the format)")
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != published.md5:
        raise ArchiveError(f"{path} has MD5 {digest.hexdigest()}, the published file {published.md5} "
                           "(dataset.verify=false reads any file in the format)")


def file_names_of(published: Published) -> list[str]:
    for files in FILES.values():
        if published in files:
            return [f.name for f in files]
    return [published.name]


def _read_idx(path: Path, dims: int) -> np.ndarray:
    """An idx file (gzip'd): magic 0x0000 08 <dims>, then <dims> big-endian uint32 sizes, then uint8s."""
    try:
        with gzip.open(path, "rb") as file:
            data = file.read()
    except (OSError, EOFError) as error:
        raise ArchiveError(f"{path} is not a gzip file ({error})") from None
    header = 4 + 4 * dims
    if len(data) < header or data[:3] != b"\x00\x00\x08" or data[3] != dims:
        raise ArchiveError(f"{path} is not an idx file of {dims} dimension(s) of unsigned bytes")
    shape = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims))
    if len(data) - header != int(np.prod(shape)):
        raise ArchiveError(f"{path}: the header says {shape}, the file holds {len(data) - header} values")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _load_idx(name: str, where: Path, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    for published in FILES[name]:
        _check(where / published.name, published, verify)
    parts = []
    for split in ("train", "t10k"):
        images = _read_idx(where / f"{split}-images-idx3-ubyte.gz", 3)
        labels = _read_idx(where / f"{split}-labels-idx1-ubyte.gz", 1)
        if len(images) != len(labels):
            raise ArchiveError(f"{where}: {split} has {len(images)} images but {len(labels)} labels")
        parts.append((images.reshape(len(images), -1), labels))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]).astype(np.int64)


def _load_cifar10(where: Path, verify: bool) -> tuple[np.ndarray, np.ndarray]:
    published = FILES["cifar10"][0]
    path = where / published.name
    _check(path, published, verify)
    xs, ys = [], []
    try:
        with tarfile.open(path, "r:gz") as archive:
            for batch in CIFAR_BATCHES:
                member = archive.extractfile(f"cifar-10-batches-py/{batch}")
                if member is None:
                    raise KeyError(batch)
                # The publisher's own format: a pickled dict of bytes keys (numpy arrays and
                # lists only; read from the file this check has just accepted).
                content = pickle.load(member, encoding="bytes")
                data = np.asarray(content[b"data"], dtype=np.uint8)
                labels = np.asarray(content[b"labels"], dtype=np.int64)
                if data.ndim != 2 or data.shape[1] != 3072 or len(data) != len(labels):
                    raise ValueError(f"{batch} holds data of shape {data.shape} and {len(labels)} labels")
                # Stored channel-first (3 x 32 x 32); the models take height x width x channels.
                xs.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).reshape(len(data), -1))
                ys.append(labels)
    except (tarfile.TarError, OSError, EOFError, KeyError, ValueError, pickle.UnpicklingError, TypeError) as error:
        raise ArchiveError(f"{path} is not CIFAR-10's python archive "
                           f"(cifar-10-batches-py/data_batch_1..5 and test_batch): {type(error).__name__} {error}") from None
    return np.concatenate(xs), np.concatenate(ys)


def load(name: str, data_dir: str | None = None, verify: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """All of dataset `name` (train and test together) as (x: uint8, one row per image, y: int64)."""
    where = folder(name, data_dir)
    if name == "cifar10":
        return _load_cifar10(where, verify)
    if name in ("mnist", "fashion_mnist"):
        return _load_idx(name, where, verify)
    raise ArchiveError(f"no publisher's files known for dataset {name}")


def where_to_put(name: str, data_dir: str | None) -> str:
    """For messages: "cifar-10-python.tar.gz in /root/.keras/datasets/cifar10/"."""
    return f"{', '.join(file_names(name))} in {folder(name, data_dir)}/"
