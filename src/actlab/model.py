"""Stage 3: build the Keras model a config describes.

Every hidden layer is a block `hidden_NN` (Dense or Conv2D, no activation) -> optional batch norm ->
`act_NN` (a separate activation layer from the registry) -> optional dropout. Keeping the activation
in its own layer lets the probe read both its input (pre-activation) and its output by name.
"""

from __future__ import annotations

from typing import Any

import keras

from actlab.activations import make_layer


def hidden_layer_names(model: keras.Model) -> list[tuple[str, str]]:
    """[(kernel layer, activation layer), ...] for hidden layers 1..L, in order."""
    names = sorted((layer.name for layer in model.layers if layer.name.startswith("act_")), key=lambda n: int(n[4:]))
    return [(name.replace("act_", "hidden_"), name) for name in names]


def _block(x, index: int, kernel_layer, model_cfg: dict[str, Any], activation: str, params: dict[str, Any], conv: bool):
    tag = f"{index:02d}"
    x = kernel_layer(x)
    if model_cfg["batch_norm"]:
        x = keras.layers.BatchNormalization(name=f"bn_{tag}")(x)
    x = make_layer(activation, params, f"act_{tag}", conv=conv)(x)
    if model_cfg["dropout"] > 0:
        # Plain dropout would undo SELU's fixed point; AlphaDropout keeps mean and variance.
        dropout = keras.layers.AlphaDropout if activation == "selu" else keras.layers.Dropout
        x = dropout(model_cfg["dropout"], name=f"dropout_{tag}")(x)
    return x


def build_model(
    model_cfg: dict[str, Any],
    activation: str,
    activation_params: dict[str, Any],
    initializer: str,
    input_shape: tuple[int, ...],
    n_classes: int,
) -> keras.Model:
    inputs = keras.Input(shape=input_shape, name="inputs")
    x = inputs
    index = 0
    if model_cfg["kind"] == "cnn":
        for filters in model_cfg["filters"]:
            index += 1
            conv = keras.layers.Conv2D(
                filters, model_cfg["kernel_size"], padding="same",
                kernel_initializer=initializer, name=f"hidden_{index:02d}",
            )
            x = _block(x, index, conv, model_cfg, activation, activation_params, conv=True)
            if x.shape[1] >= 2 and x.shape[2] >= 2:
                x = keras.layers.MaxPooling2D(2, name=f"pool_{index:02d}")(x)
        x = keras.layers.Flatten(name="flatten")(x)
    for _ in range(model_cfg["depth"]):
        index += 1
        dense = keras.layers.Dense(model_cfg["width"], kernel_initializer=initializer, name=f"hidden_{index:02d}")
        x = _block(x, index, dense, model_cfg, activation, activation_params, conv=False)
    outputs = keras.layers.Dense(n_classes, activation="softmax", name="output")(x)
    return keras.Model(inputs, outputs, name=f"{model_cfg['kind']}_{activation}")


def make_optimizer(optimizer_cfg: dict[str, Any]) -> keras.optimizers.Optimizer:
    if optimizer_cfg["name"] == "sgd":
        return keras.optimizers.SGD(learning_rate=optimizer_cfg["learning_rate"], momentum=optimizer_cfg["momentum"])
    return keras.optimizers.Adam(learning_rate=optimizer_cfg["learning_rate"])
