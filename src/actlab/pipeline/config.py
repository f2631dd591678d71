"""Stage 1: the config tree is the registry; check a composed config before any work is done.

Every component (dataset, model, activation, initializer, optimizer) is one YAML file of its
config group whose `_target_` says what it builds; a user's `--config-dir` adds files of their own.
A component's name is the option that chose it (`activation=serf` -> "serf"). Everything here is
plain Python on an OmegaConf tree: no TensorFlow, no MLflow, so a bad value is refused in well
under a second and before any tracking record exists.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import warnings
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf, open_dict

from actlab import PROJECT_ROOT, SHADOWED_CONFIG_WARNING

# Every config this module composes loads conf/hydra/sweeper/basic.yaml, which replaces Hydra's own.
warnings.filterwarnings("ignore", message=SHADOWED_CONFIG_WARNING)

CONF_DIR = PROJECT_ROOT / "conf"
COMPONENTS = ("dataset", "model", "activation", "initializer", "optimizer")
# Keys of an activation's YAML that describe it rather than being passed to its `_target_`.
ACTIVATION_KEYS = ("suggested_initializer", "in_article", "alpha_dropout", "formula", "stochastic")
# Keys of a model's YAML that are not passed to its builder: `images` asks for (h, w, c) inputs.
MODEL_KEYS = ("images",)
# Keys of a dataset's YAML that the data stage uses (splitting), not its loader.
SPLIT_KEYS = ("split_seed", "val_fraction", "test_fraction", "train_fraction", "standardize", "image_shape", "downloads")
# Keys that say where and how loudly a run is recorded, not what is trained: left out of the
# fingerprint so that the same experiment logged elsewhere is still recognised as the same.
NOT_FINGERPRINTED = ("tracking", "hydra", "study", "claim", "tune", "profile")
# Top-level nodes of a claim experiment that describe the study, not the run: never MLflow params.
NOT_RUN_SETTINGS = ("study", "claim", "tune")
NOT_FINGERPRINTED_TRAINER = ("verbose", "threads")


class ConfigError(ValueError):
    """A config value that is not allowed; the message is one line for the user."""


def compose(overrides: list[str], config_dirs: tuple[str, ...] = ()) -> DictConfig:
    """The config `python -m run [--config-dir D] OVERRIDES` would get (with its `hydra` node,
    which says which option chose each component), composed without running anything."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    searchpath = [f"hydra.searchpath=[{','.join('file://' + str(Path(d).resolve()) for d in config_dirs)}]"] if config_dirs else []
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return hydra_compose(config_name="config", overrides=[*searchpath, *overrides], return_hydra_config=True)


def _hydra_runtime(cfg: DictConfig) -> DictConfig:
    if "hydra" in cfg:
        return cfg.hydra.runtime
    from hydra.core.hydra_config import HydraConfig

    return HydraConfig.get().runtime


def config_dirs(cfg: DictConfig | None = None) -> list[Path]:
    """The folders of the config search path: conf/ and the user's (--config-dir, hydra.searchpath)."""
    if cfg is None:
        return [CONF_DIR]
    sources = _hydra_runtime(cfg).config_sources
    found = [Path(s.path) for s in sources if s.schema == "file" and s.path]
    return found if CONF_DIR in found else [CONF_DIR, *found]


def use_user_modules(dirs: list[Path]) -> None:
    """Put the user's config folders on the import path, so that `_target_: my_acts.serf` finds a
    module kept beside its YAML (the current folder and PYTHONPATH work as usual)."""
    for folder in dirs:
        if folder != CONF_DIR and str(folder) not in sys.path:
            sys.path.append(str(folder))


def options(group: str, dirs: list[Path] | None = None) -> list[str]:
    """Every option of a config group, from every folder of the search path: the registry."""
    names = {p.stem for d in (dirs or [CONF_DIR]) for p in (Path(d) / group).glob("*.yaml")}
    return sorted(names)


def option_file(group: str, option: str, dirs: list[Path] | None = None) -> Path | None:
    """The YAML file behind `group=option` (the user's folders first, as Hydra searches them)."""
    for folder in reversed(dirs or [CONF_DIR]):
        path = Path(folder) / group / f"{option}.yaml"
        if path.exists():
            return path
    return None


def names(cfg: DictConfig) -> dict[str, str]:
    """The option that chose each component: {"activation": "selu", ...}."""
    choices = _hydra_runtime(cfg).choices
    return {group: str(choices.get(group)) for group in COMPONENTS}


def where(cfg: DictConfig, group: str) -> str:
    """`activation=serf (~/my_conf/activation/serf.yaml)`: how errors name a component."""
    option = names(cfg)[group]
    path = option_file(group, option, config_dirs(cfg))
    return f"{group}={option}" + (f" ({path})" if path else "")


def locate(path: str) -> Any:
    """The object a `_target_` names (hydra.utils.get_object), without the error line Hydra logs:
    the caller reports a failure in one line of its own."""
    import logging

    from hydra.utils import get_object

    logger = logging.getLogger("hydra.utils")
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        return get_object(path)
    finally:
        logger.setLevel(level)


def check_targets(cfg: DictConfig) -> None:
    """Every component's `_target_` imports (run once the libraries may be imported)."""
    _, initializer = initializer_config(cfg)
    targets = {group: cfg[group].get("_target_") for group in COMPONENTS if group != "initializer"}
    targets["initializer"] = initializer.get("_target_")
    for group, path in targets.items():
        try:
            locate(path)
        except Exception as error:
            raise ConfigError(f"{where(cfg, group)}: _target_ {path} cannot be imported: {_missing_target(path, error)}") from None


def _missing_target(path: str, error: Exception) -> str:
    """Why `path` does not import, in words: a module that exists but lacks the name is said so
    (Hydra's own message for it is "ModuleNotFoundError ... 'module' is not a package")."""
    import importlib

    module, _, name = path.rpartition(".")
    if module:
        try:
            found = importlib.import_module(module)
        except Exception:  # the module itself does not import: Hydra's reason below says why
            found = None
        if found is not None and not hasattr(found, name):
            public = sorted(n for n in dir(found) if not n.startswith("_") and callable(getattr(found, n)))
            return f"module {module} ({getattr(found, '__file__', '?')}) has no '{name}' (it defines: {', '.join(public[:12]) or 'nothing callable'})"
    lines = [line.strip() for line in str(error).splitlines() if line.strip() and not line.startswith("Are you sure")]
    return " ".join(lines)[:300] or type(error).__name__


def _fail(key: str, value: Any, allowed: str) -> None:
    raise ConfigError(f"{key}={value!r} is not allowed: {allowed}")


def _value(cfg: DictConfig, key: str) -> Any:
    return OmegaConf.select(cfg, key)


def _present(cfg: DictConfig, key: str) -> bool:
    return OmegaConf.select(cfg, key, default="__missing__") != "__missing__"


def _check_int(cfg: DictConfig, key: str, minimum: int) -> None:
    value = _value(cfg, key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        _fail(key, value, f"an integer >= {minimum}")


def _check_float(cfg: DictConfig, key: str, low: float, high: float, *, low_open: bool, high_open: bool) -> None:
    value = _value(cfg, key)
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if ok:
        ok = (value > low if low_open else value >= low) and (value < high if high_open else value <= high)
    if not ok:
        left, right = "(" if low_open else "[", ")" if high_open else "]"
        _fail(key, value, f"a number in {left}{low}, {high}{right}")


def _check_bool(cfg: DictConfig, key: str) -> None:
    value = _value(cfg, key)
    if not isinstance(value, bool):
        _fail(key, value, "true or false")


# Ranges of the parameters the project's components use, checked wherever the key is present
# (a user's component with other parameters is checked by its own code, once imported).
_FLOAT_RANGES = {
    "dataset.train_fraction": (0.0, 1.0, True, False),
    "dataset.val_fraction": (0.0, 0.5, True, True),
    "dataset.test_fraction": (0.0, 0.5, True, True),
    "model.dropout": (0.0, 1.0, False, True),
    "activation.negative_slope": (0.0, 1.0, False, True),
    "activation.alpha": (0.0, 100.0, True, False),
    "activation.alpha_init": (0.0, 1.0, False, False),
    "optimizer.learning_rate": (0.0, math.inf, True, True),
    "optimizer.momentum": (0.0, 1.0, False, True),
    "trainer.target_fraction": (0.0, 1.0, True, False),
    "trainer.dead_slope": (0.0, 1.0, True, True),
}
_INT_MINIMA = {
    "seed": 0, "dataset.split_seed": 0, "dataset.n_samples": 2, "dataset.n_features": 2, "dataset.n_informative": 2,
    "dataset.n_classes": 2, "model.depth": 1, "model.width": 1, "model.kernel_size": 1,
    "trainer.epochs": 1, "trainer.batch_size": 1, "trainer.patience": 1, "trainer.threads": 0, "trainer.probe_batch": 1,
    "trainer.steps_per_execution": 1, "trainer.latency_repeats": 0,
}
_BOOLS = ("dataset.standardize", "model.batch_norm", "activation.approximate", "trainer.early_stopping", "tracking.enabled")


def coerce_floats(cfg: DictConfig) -> None:
    """`optimizer.learning_rate=1` means 1.0: an integer typed on the command line for a key whose
    default in its YAML file is a float becomes a float (Keras refuses an int learning rate)."""
    dirs = config_dirs(cfg)
    chosen = names(cfg)
    for group in (*COMPONENTS, "trainer"):
        option = chosen.get(group) or _hydra_runtime(cfg).choices.get(group)
        path = option_file(group, str(option), dirs)
        if path is None or group not in cfg:
            continue
        defaults = OmegaConf.load(path)
        with open_dict(cfg):
            for key, default in defaults.items():
                value = cfg[group].get(key) if isinstance(key, str) and key in cfg[group] else None
                if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                    cfg[group][key] = float(value)


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError naming the first key whose value is not allowed (no library is imported)."""
    coerce_floats(cfg)
    for key, minimum in _INT_MINIMA.items():
        if _present(cfg, key):
            _check_int(cfg, key, minimum)
    for key, (low, high, low_open, high_open) in _FLOAT_RANGES.items():
        if _present(cfg, key):
            _check_float(cfg, key, low, high, low_open=low_open, high_open=high_open)
    for key in _BOOLS:
        if _present(cfg, key):
            _check_bool(cfg, key)

    dirs = config_dirs(cfg)
    chosen = names(cfg)
    for group in COMPONENTS:
        if group != "initializer" and not cfg[group].get("_target_"):
            raise ConfigError(f"{where(cfg, group)} has no _target_: its YAML must say what it builds "
                              f"(e.g. _target_: keras.layers.ELU)")

    d = cfg.dataset
    if "n_informative" in d and "n_features" in d:
        if d.n_informative > d.n_features:
            _fail("dataset.n_informative", d.n_informative, f"at most dataset.n_features ({d.n_features})")
        if "n_classes" in d and d.n_classes * 2 > 2**d.n_informative:
            _fail("dataset.n_classes", d.n_classes, f"at most 2**n_informative / 2 ({2 ** d.n_informative // 2})")
    if _present(cfg, "model.filters"):
        filters = OmegaConf.to_container(cfg.model.filters) if OmegaConf.is_list(cfg.model.filters) else cfg.model.filters
        if not isinstance(filters, list) or not filters or not all(isinstance(f, int) and f >= 1 for f in filters):
            _fail("model.filters", filters, "a non-empty list of positive integers, e.g. [32,64]")
    if cfg.model.get("images") and not cfg.dataset.get("image_shape"):
        images = [o for o in options("dataset", dirs) if OmegaConf.load(option_file("dataset", o, dirs)).get("image_shape")]
        _fail("dataset", chosen["dataset"], f"model={chosen['model']} needs an image dataset: one of {', '.join(images)}")
    if _present(cfg, "activation.shared_axes"):
        if cfg.activation.shared_axes not in ("channel", "none"):
            _fail("activation.shared_axes", cfg.activation.shared_axes, "one of channel, none")

    initializers = [o for o in options("initializer", dirs) if o != "auto"]
    suggested = cfg.activation.get("suggested_initializer", "glorot_uniform")
    if suggested not in initializers:
        _fail(f"activation.suggested_initializer (in {where(cfg, 'activation')})", suggested, "one of " + ", ".join(initializers))

    if _present(cfg, "timing"):
        from actlab.pipeline import timing

        timing.check(cfg, dirs)

    experiment = _value(cfg, "tracking.experiment")
    if not isinstance(experiment, str) or not experiment.strip():
        _fail("tracking.experiment", experiment, "a non-empty experiment name")


def initializer_config(cfg: DictConfig) -> tuple[str, dict[str, Any]]:
    """(name, YAML) of the initializer to build: the chosen one, or with `initializer=auto` (a file
    without `_target_`) the one the activation's YAML suggests."""
    container = OmegaConf.to_container(cfg.initializer, resolve=True)
    if container.get("_target_"):
        return names(cfg)["initializer"], container
    name = cfg.activation.get("suggested_initializer", "glorot_uniform")
    path = option_file("initializer", name, config_dirs(cfg))
    return name, OmegaConf.to_container(OmegaConf.load(path), resolve=True)


def resolved(cfg: DictConfig) -> dict[str, Any]:
    """The config as plain Python, interpolations resolved, without Hydra's own node."""
    return {key: OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value
            for key, value in cfg.items() if key != "hydra"}


def fingerprint_payload(cfg: DictConfig) -> dict[str, Any]:
    """The resolved config that decides what is trained (what a finished run can stand in for)."""
    from actlab.pipeline import redact

    # Secrets blanked: a rotated token trains the same model (and no hash of one is kept).
    container = redact.tree(resolved(cfg))
    payload = {k: v for k, v in container.items() if k not in NOT_FINGERPRINTED}
    payload["trainer"] = {k: v for k, v in payload["trainer"].items() if k not in NOT_FINGERPRINTED_TRAINER}
    payload["names"] = names(cfg)
    if payload.get("timing") is not None:
        # A timing run (actlab.pipeline.timing) times the functions it lists, not the run's own
        # activation: that choice is left out, and `all` stands for the functions it means here.
        from actlab.pipeline.timing import fingerprint_part

        payload["timing"] = fingerprint_part(payload["timing"], config_dirs(cfg))
        payload.pop("activation", None)
        payload["names"].pop("activation", None)
    return payload


def fingerprint(cfg: DictConfig) -> str:
    text = json.dumps(fingerprint_payload(cfg), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def flatten(cfg: DictConfig) -> dict[str, str]:
    """`{"model.depth": "20", ...}` for MLflow params (lists kept as their JSON text), secrets
    blanked (actlab.pipeline.redact)."""
    from actlab.pipeline import redact

    out: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
        else:
            out[prefix[:-1]] = json.dumps(node) if isinstance(node, list) else str(node)

    walk(redact.tree({k: v for k, v in resolved(cfg).items() if k not in NOT_RUN_SETTINGS}), "")
    out |= {f"{group}.name": name for group, name in names(cfg).items()}
    return out


def column_name(override_key: str) -> str:
    """A sweep axis as a table column: `+experiment/task` -> `task`; `optimizer.learning_rate` and
    `activation` stay as they are (the runs' params use those names too)."""
    return override_key.lstrip("+~").split("/")[-1]
