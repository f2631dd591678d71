"""Stage 1: check a composed config before any work is done.

Everything here is plain Python on an OmegaConf tree: no TensorFlow, no MLflow, so a bad value is
refused in well under a second and before any tracking record exists.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from actlab.activations import ACTIVATIONS, INITIALIZERS, PRELU_SHARING
from actlab.data import DATASETS

CONF_DIR = Path(__file__).resolve().parents[2] / "conf"
OPTIMIZERS = ("adam", "sgd")
MODELS = ("mlp", "cnn")
# Keys that say where and how loudly a run is recorded, not what is trained: left out of the
# fingerprint so that the same experiment logged elsewhere is still recognised as the same.
NOT_FINGERPRINTED = ("tracking", "hydra", "study", "profile")
NOT_FINGERPRINTED_TRAINER = ("verbose", "threads")


def compose(overrides: list[str], return_hydra_config: bool = False) -> DictConfig:
    """The config `python -m run OVERRIDES` would get, composed without running anything."""
    from hydra import compose as hydra_compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=list(overrides), return_hydra_config=return_hydra_config)


class ConfigError(ValueError):
    """A config value that is not allowed; the message is one line for the user."""


def _fail(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def _number(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key)


def _check_int(cfg: DictConfig, key: str, minimum: int) -> None:
    value = _number(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, value, f"an integer >= {minimum}")


def _check_float(cfg: DictConfig, key: str, low: float, high: float, *, low_open: bool, high_open: bool) -> None:
    value = _number(cfg, key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        _fail(key, value, f"a number in {left}{low}, {high}{right}")


def _check_choice(cfg: DictConfig, key: str, choices: tuple[str, ...] | list[str]) -> None:
    value = _number(cfg, key)
    if value not in choices:
        _fail(key, value, "one of " + ", ".join(choices))


def _check_bool(cfg: DictConfig, key: str) -> None:
    value = _number(cfg, key)
    if not isinstance(value, bool):
        _fail(key, value, "true or false")


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first key whose value is not allowed."""
    _check_int(cfg, "seed", 0)

    # dataset
    _check_choice(cfg, "dataset.name", list(DATASETS))
    dataset = DATASETS[cfg.dataset.name]
    _check_float(cfg, "dataset.train_fraction", 0.0, 1.0, low_open=True, high_open=False)
    _check_float(cfg, "dataset.val_fraction", 0.0, 0.5, low_open=True, high_open=True)
    _check_float(cfg, "dataset.test_fraction", 0.0, 0.5, low_open=True, high_open=True)
    _check_int(cfg, "dataset.split_seed", 0)
    _check_bool(cfg, "dataset.standardize")
    for key in dataset.size_keys:
        _check_int(cfg, f"dataset.{key}", 2)
    if dataset.name == "synthetic":
        d = cfg.dataset
        if d.n_informative > d.n_features:
            _fail("dataset.n_informative", d.n_informative, f"at most dataset.n_features ({d.n_features})")
        if d.n_classes * 2 > 2**d.n_informative:
            _fail("dataset.n_classes", d.n_classes, f"at most 2**n_informative / 2 ({2 ** d.n_informative // 2})")

    # model
    _check_choice(cfg, "model.kind", MODELS)
    _check_int(cfg, "model.depth", 1 if cfg.model.kind == "mlp" else 0)
    _check_int(cfg, "model.width", 1)
    _check_float(cfg, "model.dropout", 0.0, 1.0, low_open=False, high_open=True)
    _check_bool(cfg, "model.batch_norm")
    if cfg.model.kind == "cnn":
        filters = OmegaConf.to_container(cfg.model.filters) if OmegaConf.is_list(cfg.model.filters) else cfg.model.filters
        if not isinstance(filters, list) or not filters or not all(isinstance(f, int) and f >= 1 for f in filters):
            _fail("model.filters", filters, "a non-empty list of positive integers, e.g. [32,64]")
        _check_int(cfg, "model.kernel_size", 1)
        if dataset.image_shape is None:
            images = ", ".join(name for name, spec in DATASETS.items() if spec.image_shape)
            _fail("dataset", cfg.dataset.name, f"model=cnn needs an image dataset: one of {images}")

    # activation and initializer
    _check_choice(cfg, "activation.name", list(ACTIVATIONS))
    spec = ACTIVATIONS[cfg.activation.name]
    for key in cfg.activation:
        if key != "name" and key not in spec.defaults:
            allowed = ", ".join(f"activation.{k}" for k in spec.defaults) or "none"
            _fail(f"activation.{key}", cfg.activation[key], f"{spec.name} takes no such parameter (it takes: {allowed})")
    if "negative_slope" in cfg.activation:
        _check_float(cfg, "activation.negative_slope", 0.0, 1.0, low_open=False, high_open=True)
    if "alpha" in cfg.activation:
        _check_float(cfg, "activation.alpha", 0.0, 100.0, low_open=True, high_open=False)
    if "alpha_init" in cfg.activation:
        _check_float(cfg, "activation.alpha_init", 0.0, 1.0, low_open=False, high_open=False)
    if "shared_axes" in cfg.activation:
        _check_choice(cfg, "activation.shared_axes", PRELU_SHARING)
    if "approximate" in cfg.activation:
        _check_bool(cfg, "activation.approximate")
    _check_choice(cfg, "initializer.name", INITIALIZERS)

    # optimizer
    _check_choice(cfg, "optimizer.name", OPTIMIZERS)
    _check_float(cfg, "optimizer.learning_rate", 0.0, math.inf, low_open=True, high_open=True)
    if cfg.optimizer.name == "sgd":
        _check_float(cfg, "optimizer.momentum", 0.0, 1.0, low_open=False, high_open=True)

    # trainer
    _check_int(cfg, "trainer.epochs", 1)
    _check_int(cfg, "trainer.batch_size", 1)
    _check_bool(cfg, "trainer.early_stopping")
    _check_int(cfg, "trainer.patience", 1)
    _check_float(cfg, "trainer.target_fraction", 0.0, 1.0, low_open=True, high_open=False)
    _check_int(cfg, "trainer.threads", 0)
    _check_int(cfg, "trainer.probe_batch", 1)
    _check_int(cfg, "trainer.steps_per_execution", 1)
    _check_int(cfg, "trainer.latency_repeats", 0)

    # tracking
    _check_bool(cfg, "tracking.enabled")
    experiment = _number(cfg, "tracking.experiment")
    if not isinstance(experiment, str) or not experiment.strip():
        _fail("tracking.experiment", experiment, "a non-empty experiment name")


def fingerprint_payload(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config that decides what is trained (what a finished run can stand in for)."""
    container = OmegaConf.to_container(cfg, resolve=True)
    payload = {k: v for k, v in container.items() if k not in NOT_FINGERPRINTED}
    payload["trainer"] = {k: v for k, v in payload["trainer"].items() if k not in NOT_FINGERPRINTED_TRAINER}
    return payload


def fingerprint(cfg: DictConfig) -> str:
    text = json.dumps(fingerprint_payload(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def flatten(cfg: DictConfig) -> dict[str, str]:
    """`{"model.depth": "20", ...}` for MLflow params (lists kept as their JSON text)."""
    out: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = json.dumps(node) if isinstance(node, list) else str(node)

    container = OmegaConf.to_container(cfg, resolve=True)
    walk({k: v for k, v in container.items() if k not in ("hydra", "study")}, "")
    return out
