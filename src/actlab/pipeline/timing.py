"""A run that times instead of training (claim 6): every activation of the config tree in one process,
in interleaved rounds.

A config with a `timing:` node is such a run. It builds, for each function of `timing.functions`
(`all`: every option of the activation group, `conf/` and `--config-dir` folders alike), the run's
model with that function (untrained: its suggested initializer, seeded by the run's seed; a
forward pass costs the same whatever the weights' values) and that function alone as a layer.
Then, round after round, it visits every function in a freshly shuffled order (seeded) and times
(a) the compiled model's forward pass over a fixed batch of `batch` validation inputs and (b) the
compiled activation alone on a fixed standard-normal tensor of `batch` x `width`; each visit
records the median of `calls` consecutive calls. Interleaving puts every function's times of one
round within a second of each other, so the machine's drift (other jobs, frequency scaling) falls
on all of them alike, and ratios paired by round cancel it.

Nothing here imports TensorFlow at module level: `check` runs before any library is loaded.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

from actlab.pipeline.config import ConfigError, options

ALL = "all"
LEVELS = ("model", "alone")  # the network's forward pass; the activation alone
# Every key a `timing:` node may hold, and what each must be.
KEYS = {"functions": "all, or a list of activation names", "rounds": "an integer >= 2", "calls": "an integer >= 1",
        "warmup": "an integer >= 0", "batch": "an integer >= 1", "width": "an integer >= 1"}
_MINIMA = {"rounds": 2, "calls": 1, "warmup": 0, "batch": 1, "width": 1}
METRIC_PREFIX = {"model": "timing_model_ms/", "alone": "timing_alone_ms/"}
ARTIFACT = "timings.csv"


def enabled(cfg: DictConfig) -> bool:
    return OmegaConf.select(cfg, "timing", default=None) is not None


def functions(node: Any, dirs: list[Path]) -> list[str]:
    """The activations a timing run times, in the registry's order: `all` (every option of the
    activation group in the config search path) or the listed ones."""
    chosen = OmegaConf.to_container(node) if OmegaConf.is_config(node) else node
    known = options("activation", dirs)
    if chosen == ALL:
        return known
    if not isinstance(chosen, list) or not chosen or not all(isinstance(n, str) for n in chosen):
        raise ConfigError(f"timing.functions={chosen!r} is not allowed: all, or a list of activation names, e.g. [relu,elu]")
    unknown = [n for n in chosen if n not in known]
    if unknown:
        raise ConfigError(f"timing.functions names {unknown[0]!r}, which is not an activation (one of {', '.join(known)})")
    if "relu" not in chosen:
        raise ConfigError(f"timing.functions={chosen} is not allowed: it must include relu, the baseline every ratio is taken to")
    return sorted(set(chosen), key=chosen.index)


def check(cfg: DictConfig, dirs: list[Path]) -> None:
    """Refuse a `timing:` node that cannot be run, in one line naming the key."""
    node = cfg.timing
    if not OmegaConf.is_dict(node):
        raise ConfigError(f"timing={node!r} is not allowed: a node with {', '.join(KEYS)}")
    for key in node:
        if key not in KEYS:
            raise ConfigError(f"timing.{key} is set but nothing reads it (allowed: {', '.join('timing.' + k for k in KEYS)})")
    for key, minimum in _MINIMA.items():
        value = node.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(f"timing.{key}={value!r} is not allowed: {KEYS[key]}")
    functions(node.get("functions", ALL), dirs)


def fingerprint_part(cfg_timing: dict[str, Any], dirs: list[Path]) -> dict[str, Any]:
    """The timing node as the fingerprint sees it: `all` replaced by the functions it means here, so
    that a run made before a user's activation was added is not taken for one that timed it."""
    return {**cfg_timing, "functions": functions(cfg_timing.get("functions", ALL), dirs)}


@dataclass
class Timed:
    """One function, ready to be timed: its compiled forward passes."""

    name: str
    model: Callable[[], Any]
    alone: Callable[[], Any]


def _median_ms(call: Callable[[], Any], calls: int) -> float:
    import numpy as np

    times = []
    for _ in range(calls):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)


def prepare(names: list[str], build_model: Callable[[str], Any], make_activation: Callable[[str], Any],
            inputs, tensor, warmup: int) -> list[Timed]:
    """Each function's model and activation alone as compiled calls on the fixed inputs, traced and
    warmed up before any round is timed."""
    import tensorflow as tf

    prepared = []
    for name in names:
        model = build_model(name)
        layer = make_activation(name)
        forward = tf.function(lambda t, model=model: model(t, training=False), autograph=False)
        act = tf.function(lambda t, layer=layer: layer(t, training=False), autograph=False)
        timed = Timed(name, lambda forward=forward: forward(inputs).numpy(), lambda act=act: act(tensor).numpy())
        for _ in range(max(1, warmup)):  # the first call traces; later ones settle caches
            timed.model()
            timed.alone()
        prepared.append(timed)
    return prepared


def rounds(prepared: list[Timed], n_rounds: int, calls: int, seed: int,
           between: Callable[[], None] = lambda: None) -> list[dict[str, Any]]:
    """`n_rounds` rounds; each visits every function once, in an order shuffled afresh (seeded by
    `seed`), timing its model then its activation alone. One row per round, function and level."""
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = []
    for round_ in range(n_rounds):
        for position, index in enumerate(rng.permutation(len(prepared))):
            timed = prepared[index]
            for level, call in (("model", timed.model), ("alone", timed.alone)):
                rows.append({"round": round_, "position": position, "function": timed.name, "level": level,
                             "ms": _median_ms(call, calls)})
        between()
    return rows


def medians(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Each function's median time over the rounds, per level, as the run's metrics."""
    import pandas as pd

    table = pd.DataFrame(rows)
    return {METRIC_PREFIX[level] + function: float(ms)
            for (level, function), ms in table.groupby(["level", "function"])["ms"].median().items()}
