"""Activation components: what an activation's YAML `_target_` may name, turned into Keras layers.

A `_target_` is either a Keras layer class (`keras.layers.ELU`, a user's learnable layer), built
with the YAML's parameters, or an elementwise function of a tensor (`keras.activations.relu`, a
user's `my_acts.serf`), wrapped in `ElementwiseActivation` with its parameters. Either way each
hidden layer gets its own layer object named `act_NN`, which the probe reads by name.
"""

from __future__ import annotations

from typing import Any, Callable

import keras
from hydra.utils import instantiate

from actlab.pipeline.config import ACTIVATION_KEYS, ConfigError, locate


class ElementwiseActivation(keras.layers.Layer):
    """`function(x, **params)` as a layer; `function` is the import path of any elementwise
    function of a tensor (kept as a path, so the layer's config says what it computes)."""

    def __init__(self, function: str, params: dict[str, Any] | None = None, **kwargs):
        super().__init__(**kwargs)
        self.function_path = function
        self.params = dict(params or {})
        self.function = locate(function)

    def call(self, x):
        return self.function(x, **self.params)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "function": self.function_path, "params": self.params}


def scaled_sigmoid(x, scale: float = 1.0, steepness: float = 1.0, shift: float = 0.0):
    """scale·σ(steepness·x) − shift: the logistic family that holds claim 2's mechanism controls
    (tanh(x) = 2σ(2x) − 1 is scale 2, steepness 2, shift 1). Its slope at 0 is scale·steepness/4,
    its value at 0 scale/2 − shift."""
    return scale * keras.ops.sigmoid(steepness * x) - shift


class ChannelPReLU(keras.layers.PReLU):
    """PReLU as He et al. 2015 ran it: alpha starts at `alpha_init` (Keras starts it at 0, i.e. as
    ReLU), and `shared_axes="channel"` keeps one alpha per unit or conv channel ("none": one per
    element, Keras's default)."""

    def __init__(self, alpha_init: float = 0.25, shared_axes: str = "channel", **kwargs):
        super().__init__(alpha_initializer=keras.initializers.Constant(float(alpha_init)), **kwargs)
        self.alpha_init, self.sharing = float(alpha_init), shared_axes

    def build(self, input_shape):
        if self.sharing == "channel":
            self.shared_axes = list(range(1, len(input_shape) - 1)) or None
        super().build(input_shape)

    def get_config(self) -> dict[str, Any]:
        config = keras.layers.Layer.get_config(self)
        return {**config, "alpha_init": self.alpha_init, "shared_axes": self.sharing}


class RReLU(keras.layers.Layer):
    """Randomized leaky ReLU (Xu et al. 2015): in training each negative input is scaled by a slope
    drawn from U(lower, upper); at test time by the mean slope (lower + upper) / 2. The draws are
    seeded: `set_seed` is called in build order by actlab.pipeline.model.parts."""

    def __init__(self, lower: float = 1 / 8, upper: float = 1 / 3, **kwargs):
        super().__init__(**kwargs)
        self.lower, self.upper = float(lower), float(upper)
        self.seed = 0

    def set_seed(self, seed: int) -> None:
        self.seed = int(seed)

    def build(self, input_shape):
        self.seed_generator = keras.random.SeedGenerator(self.seed)
        super().build(input_shape)

    def call(self, x, training=None):
        if training:
            slope = keras.random.uniform(keras.ops.shape(x), self.lower, self.upper, dtype=x.dtype, seed=self.seed_generator)
        else:
            slope = (self.lower + self.upper) / 2
        return keras.ops.where(x >= 0, x, x * slope)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "lower": self.lower, "upper": self.upper}


def activation_layers(activation_cfg: dict[str, Any], where: str) -> Callable[[str], keras.layers.Layer]:
    """A factory `name -> new activation layer` for an activation's YAML, checked with one tiny
    call: its target imports, is callable, and maps a float tensor to one of the same shape."""
    params = {k: v for k, v in activation_cfg.items() if k not in ACTIVATION_KEYS and k != "_target_"}
    path = activation_cfg["_target_"]
    target = locate(path)  # config.check_targets has checked that it imports
    if isinstance(target, type) and issubclass(target, keras.layers.Layer):
        make_layer = instantiate({"_target_": path, **params}, _partial_=True, _convert_="all")  # once, not per layer

        def make(name: str) -> keras.layers.Layer:
            return make_layer(name=name)
    elif callable(target):
        def make(name: str) -> keras.layers.Layer:
            return ElementwiseActivation(path, params, name=name)
    else:
        raise ConfigError(f"{where}: _target_ {path} is a {type(target).__name__}, not a function or a Keras layer class")
    try:
        x = keras.ops.ones((2, 3))
        y = make("act_check")(x)
        shape = tuple(keras.ops.shape(y))
    except Exception as error:
        raise ConfigError(f"{where}: {path} fails on a float tensor of shape (2, 3): "
                          f"{type(error).__name__}: {' '.join(str(error).split())[:300]}") from None
    if shape != (2, 3):
        raise ConfigError(f"{where}: {path} must map a tensor to one of the same shape (elementwise): (2, 3) became {shape}")
    return make
