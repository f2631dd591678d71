"""The registry of activation functions: the one place that knows each activation's name, its Keras
layer, its parameters (with the defaults we chose and why) and the initializer it is meant for.

Models, the probe, the gallery figure, config validation and the tests all read this table. Keras is
imported only inside `make_layer`, so validating a config never pays for TensorFlow.

To add an activation: add one `ActivationSpec` below and a two-line `conf/activation/NAME.yaml`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class ActivationSpec:
    name: str
    # Initializer used by `initializer=auto`: the variance-preserving one derived for this function.
    suggested_initializer: str
    # Parameters a user may set (`activation.KEY=...`) and their defaults.
    defaults: dict[str, Any] = field(default_factory=dict)
    # Builds the Keras layer from the effective parameters (defaults updated by the config).
    build: Callable[[dict[str, Any], str], Any] = None  # type: ignore[assignment]
    # True where the article discusses the function (the other three are the modern comparison set).
    in_article: bool = True
    why: str = ""


def _function_layer(function_name: str) -> Callable[[dict[str, Any], str], Any]:
    def build(params: dict[str, Any], name: str):
        import keras

        return keras.layers.Activation(function_name, name=name)

    return build


def _leaky_relu(params: dict[str, Any], name: str):
    import keras

    return keras.layers.LeakyReLU(negative_slope=float(params["negative_slope"]), name=name)


def _prelu(params: dict[str, Any], name: str):
    import keras

    # `shared_axes` is filled in by the model builder: one alpha per channel for conv layers
    # (as He et al. 2015 did), one per unit for dense layers.
    return keras.layers.PReLU(
        alpha_initializer=keras.initializers.Constant(float(params["alpha_init"])),
        shared_axes=params.get("shared_axes"),
        name=name,
    )


def _elu(params: dict[str, Any], name: str):
    import keras

    return keras.layers.ELU(alpha=float(params["alpha"]), name=name)


def gelu_tanh(x):
    """GELU with the tanh approximation (Hendrycks & Gimpel 2016, eq. 3)."""
    import keras

    return keras.activations.gelu(x, approximate=True)


def _gelu(params: dict[str, Any], name: str):
    import keras

    # Named functions, not lambdas: Keras serializes them (model summary, configs) without warnings.
    function = gelu_tanh if params["approximate"] else keras.activations.gelu
    return keras.layers.Activation(function, name=name)


ACTIVATIONS: dict[str, ActivationSpec] = {
    spec.name: spec
    for spec in [
        ActivationSpec("sigmoid", "glorot_uniform", build=_function_layer("sigmoid")),
        ActivationSpec("tanh", "glorot_uniform", build=_function_layer("tanh")),
        ActivationSpec("relu", "he_normal", build=_function_layer("relu")),
        ActivationSpec(
            "leaky_relu",
            "he_normal",
            {"negative_slope": 0.3},
            _leaky_relu,
            why="0.3 is the default of Keras's LeakyReLU layer, the one the article uses "
            "(keras.activations.leaky_relu defaults to 0.2; Maas et al. 2013 used 0.01).",
        ),
        ActivationSpec(
            "prelu",
            "he_normal",
            {"alpha_init": 0.25, "shared_axes": "channel"},
            _prelu,
            why="alpha starts at 0.25 as in He et al. 2015 (Keras starts it at 0, i.e. as ReLU).",
        ),
        ActivationSpec("elu", "he_normal", {"alpha": 1.0}, _elu),
        ActivationSpec(
            "selu",
            "lecun_normal",
            build=_function_layer("selu"),
            why="alpha and scale are fixed by Klambauer et al. 2017; they are not parameters.",
        ),
        ActivationSpec("gelu", "he_normal", {"approximate": False}, _gelu, in_article=False),
        ActivationSpec("swish", "he_normal", build=_function_layer("silu"), in_article=False),
        ActivationSpec("mish", "he_normal", build=_function_layer("mish"), in_article=False),
    ]
}

INITIALIZERS = (
    "auto",
    "glorot_uniform",
    "glorot_normal",
    "he_normal",
    "he_uniform",
    "lecun_normal",
    "lecun_uniform",
    "random_normal",
)

# PReLU `shared_axes` choices: "channel" (one alpha per channel / unit) or "none" (one per element).
PRELU_SHARING = ("channel", "none")


def effective_params(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """Defaults of `name` updated with the config's values (the caller has validated the keys)."""
    return {**ACTIVATIONS[name].defaults, **overrides}


def resolve_initializer(initializer: str, activation: str) -> str:
    return ACTIVATIONS[activation].suggested_initializer if initializer == "auto" else initializer


def make_layer(name: str, params: dict[str, Any], layer_name: str, conv: bool = False):
    """A Keras layer computing activation `name`; `conv` tells PReLU which axes share an alpha."""
    params = dict(params)
    if name == "prelu":
        params["shared_axes"] = [1, 2] if conv and params["shared_axes"] == "channel" else None
    return ACTIVATIONS[name].build(params, layer_name)
