"""Stage 3: build the Keras model a config describes, from its components.

A model's YAML names a builder here (`_target_: actlab.pipeline.model.mlp`), called with the input shape,
the number of classes, `Parts` (activation layers, seeded initializers, seeded dropout) and the
YAML's parameters. Every hidden layer is `hidden_NN` (Dense or Conv2D, no activation) -> optional
normalization -> `act_NN` (its own activation layer) -> optional dropout: the probe reads each
activation layer's input and output by name, whatever the rest of the graph looks like.
"""

from __future__ import annotations

import inspect
import itertools
from dataclasses import dataclass
from typing import Any, Callable

import keras
from hydra.utils import instantiate

from actlab.pipeline.config import MODEL_KEYS, locate


@dataclass
class Parts:
    """What every builder takes from the other components."""

    activation: Callable[[str], keras.layers.Layer]  # a new activation layer with this name
    initializer: Callable[[], Any]  # a new initializer for the next kernel, with its own seed
    dropout: Callable[[float, str], keras.layers.Layer]  # a seeded dropout layer (AlphaDropout for SELU)
    next_seed: Callable[[], int]  # the next seed in build order


def parts(activation: Callable[[str], keras.layers.Layer], initializer_cfg: dict[str, Any], alpha_dropout: bool, seed: int) -> Parts:
    """Seeds drawn in build order from `seed`: the same seed builds the same network, without
    TensorFlow's global seed (whose setting empties TensorFlow's cache of compiled functions)."""
    counter = itertools.count(1)
    takes_seed = "seed" in inspect.signature(locate(initializer_cfg["_target_"])).parameters
    make_initializer = instantiate(initializer_cfg, _partial_=True)  # Hydra's work once, not per layer

    def next_seed() -> int:
        return seed * 1000 + next(counter)

    def initializer():
        return make_initializer(**({"seed": next_seed()} if takes_seed else {}))

    def dropout(rate: float, name: str):
        layer = keras.layers.AlphaDropout if alpha_dropout else keras.layers.Dropout
        return layer(rate, seed=next_seed(), name=name)

    def seeded_activation(name: str) -> keras.layers.Layer:
        layer = activation(name)
        if hasattr(layer, "set_seed"):  # an activation that draws random numbers (RReLU) gets its seed here
            layer.set_seed(next_seed())
        return layer

    return Parts(seeded_activation, initializer, dropout, next_seed)


def activation_layer_names(model: keras.Model) -> list[str]:
    """The model's activation layers (`act_NN`), in the order of their numbers."""
    return sorted((layer.name for layer in model.layers if layer.name.startswith("act_")), key=lambda n: int(n[4:]))


def build(model_cfg: dict[str, Any], parts: Parts, input_shape: tuple[int, ...], n_classes: int) -> keras.Model:
    params = {k: v for k, v in model_cfg.items() if k not in MODEL_KEYS and k != "_target_"}
    return locate(model_cfg["_target_"])(input_shape=tuple(input_shape), n_classes=n_classes, parts=parts, **params)


def _hidden(x, index: int, kernel_layer, parts: Parts, dropout: float, normalization: str | None):
    tag = f"{index:02d}"
    x = kernel_layer(x)
    if normalization == "batch":
        x = keras.layers.BatchNormalization(name=f"bn_{tag}")(x)
    elif normalization == "layer":
        x = keras.layers.LayerNormalization(name=f"ln_{tag}")(x)
    x = parts.activation(f"act_{tag}")(x)
    if dropout > 0:
        x = parts.dropout(dropout, f"dropout_{tag}")(x)
    return x


def _dense(width: int, parts: Parts, name: str) -> keras.layers.Dense:
    return keras.layers.Dense(width, kernel_initializer=parts.initializer(), name=name)


def _classifier(inputs, x, n_classes: int, parts: Parts, name: str) -> keras.Model:
    output = keras.layers.Dense(n_classes, activation="softmax", name="output",
                                kernel_initializer=keras.initializers.GlorotUniform(seed=parts.next_seed()))
    return keras.Model(inputs, output(x), name=name)


def _flat(inputs):
    return inputs if len(inputs.shape) == 2 else keras.layers.Flatten(name="flatten")(inputs)


def mlp(input_shape, n_classes: int, parts: Parts, depth: int, width: int, dropout: float = 0.0, batch_norm: bool = False) -> keras.Model:
    """`depth` dense layers of `width` units."""
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = _flat(inputs)
    for index in range(1, depth + 1):
        x = _hidden(x, index, _dense(width, parts, f"hidden_{index:02d}"), parts, dropout, "batch" if batch_norm else None)
    return _classifier(inputs, x, n_classes, parts, "mlp")


def cnn(input_shape, n_classes: int, parts: Parts, filters: list[int], kernel_size: int, depth: int, width: int,
        dropout: float = 0.0, batch_norm: bool = False) -> keras.Model:
    """One conv block (conv -> [batch norm] -> activation -> 2x2 max-pool while the map allows) per
    entry of `filters`, then `depth` dense layers of `width` units."""
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = inputs
    normalization = "batch" if batch_norm else None
    for index, n in enumerate(filters, start=1):
        conv = keras.layers.Conv2D(n, kernel_size, padding="same", kernel_initializer=parts.initializer(), name=f"hidden_{index:02d}")
        x = _hidden(x, index, conv, parts, dropout, normalization)
        if x.shape[1] >= 2 and x.shape[2] >= 2:
            x = keras.layers.MaxPooling2D(2, name=f"pool_{index:02d}")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    for index in range(len(filters) + 1, len(filters) + depth + 1):
        x = _hidden(x, index, _dense(width, parts, f"hidden_{index:02d}"), parts, dropout, normalization)
    return _classifier(inputs, x, n_classes, parts, "cnn")


def resmlp(input_shape, n_classes: int, parts: Parts, depth: int, width: int, normalization: str = "none",
           dropout: float = 0.0) -> keras.Model:
    """`depth` residual blocks x + W2·act(W1·norm(x)) on a stream of `width` units (after a linear
    stem), so that depth does not have to pass through every activation: the skip carries it. W1
    takes the run's initializer; W2 starts with 1/depth of LeCun's variance, so that the 50 blocks'
    additions leave the stream's variance bounded at init (about e times the stem's) instead of
    doubling it block after block (as in Fixup, Zhang et al. 2019)."""
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = _dense(width, parts, "stem")(_flat(inputs))
    for index in range(1, depth + 1):
        tag = f"{index:02d}"
        h = x
        if normalization == "batch":
            h = keras.layers.BatchNormalization(name=f"bn_{tag}")(h)
        elif normalization == "layer":
            h = keras.layers.LayerNormalization(name=f"ln_{tag}")(h)
        h = _hidden(h, index, _dense(width, parts, f"hidden_{tag}"), parts, dropout, None)
        project = keras.layers.Dense(width, name=f"project_{tag}", kernel_initializer=keras.initializers.VarianceScaling(
            1.0 / depth, "fan_in", "truncated_normal", seed=parts.next_seed()))
        x = keras.layers.Add(name=f"residual_{tag}")([x, project(h)])
    return _classifier(inputs, x, n_classes, parts, "resmlp")
