"""Stage 4: per-layer statistics of a network, on a fixed probe batch of validation inputs.

For each hidden layer i (see model.py), one compiled function computes at once:
- act_mean, act_std: mean and standard deviation of the activation's outputs over batch and units;
- dead_frac: share of units (channels for conv layers) whose output does not vary across the batch
  (std below DEAD_STD): dead ReLUs, fully saturated sigmoids;
- saturated_frac: share of outputs where the activation is flat, i.e. its slope f'(z) is below
  SATURATION_SLOPE times the function's largest slope (sigmoid |z| > ~3.6, tanh |z| > ~1.8, the
  negative side of ReLU, ELU and SELU below z ~ -2.3);
- grad_norm: L2 norm of the gradient of the loss on the probe batch w.r.t. the layer's kernel.
"""

from __future__ import annotations

import numpy as np
import keras
import tensorflow as tf

from actlab.model import hidden_layer_names

STATISTICS = ("act_mean", "act_std", "dead_frac", "saturated_frac", "grad_norm")
DEAD_STD = 1e-4
SATURATION_SLOPE = 0.1
# Pre-activation values on which each activation's largest slope is found (per unit, for PReLU).
_SLOPE_GRID = np.linspace(-8.0, 8.0, 321, dtype=np.float32)


def _slope_grid(z_shape) -> tf.Tensor:
    """_SLOPE_GRID laid out so that a layer accepting z accepts it (per unit / per channel)."""
    rank, channels = len(z_shape), z_shape[-1]
    column = tf.reshape(_SLOPE_GRID, (-1,) + (1,) * (rank - 1))
    return tf.broadcast_to(column, (len(_SLOPE_GRID),) + (1,) * (rank - 2) + (channels,))


def _max_slope(layer: keras.layers.Layer, z_shape) -> tf.Tensor:
    """The largest |f'(z)| of an activation layer on the grid, by autodiff through the layer."""
    grid = _slope_grid(z_shape)
    with tf.GradientTape() as tape:
        tape.watch(grid)
        total = tf.reduce_sum(layer(grid))
    return tf.reduce_max(tf.abs(tape.gradient(total, grid)))


def _fixed_max_slopes(activations: list[keras.layers.Layer], z_shapes: list) -> dict[int, float]:
    """Largest slopes of the layers without weights, computed once: they cannot change in training.
    Layers with the same class and config share one computation (a deep net has one distinct layer)."""
    by_config: dict[str, float] = {}
    fixed = {}
    for i, (layer, shape) in enumerate(zip(activations, z_shapes)):
        if layer.weights:
            continue  # PReLU: its slope on the negative side is trained, so it is computed each probe
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        key = f"{type(layer).__name__}{sorted(config.items())}{shape[-1]}"
        if key not in by_config:
            by_config[key] = float(_max_slope(layer, shape))
        fixed[i] = by_config[key]
    return fixed


def metric_name(statistic: str, layer: int) -> str:
    return f"{statistic}/layer_{layer:02d}"


class LayerProbe:
    """Computes `STATISTICS` for every hidden layer of `model` on one fixed batch."""

    def __init__(self, model: keras.Model, x_probe: np.ndarray, y_probe: np.ndarray):
        self.layers = hidden_layer_names(model)
        self._x = tf.constant(x_probe)
        self._y = tf.constant(y_probe)
        activations = [model.get_layer(act) for _, act in self.layers]
        self._kernels = [model.get_layer(kernel).kernel for kernel, _ in self.layers]
        outputs = [model.output]
        for layer in activations:
            outputs += [layer.input, layer.output]
        taps = keras.Model(model.inputs, outputs)
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        z_shapes = [(len(x_probe), *layer.input.shape[1:]) for layer in activations]
        fixed_max_slope = _fixed_max_slopes(activations, z_shapes)
        # Layers whose outputs have one shape are reduced together, as one stacked tensor: a
        # 20-layer MLP then traces a handful of ops instead of a dozen per layer (tracing, not
        # running, is what the probe costs a run).
        groups: dict[tuple, list[int]] = {}
        for i, shape in enumerate(z_shapes):
            groups.setdefault(tuple(shape), []).append(i)
        order = [i for members in groups.values() for i in members]
        restore = np.argsort(order)  # stacked-group order -> layer order

        # No data-dependent control flow: autograph would only add tracing time.
        @tf.function(autograph=False, reduce_retracing=True)
        def compute(x, y):
            with tf.GradientTape() as tape:
                taps_out = taps(x, training=False)
                loss = loss_fn(y, taps_out[0])
            kernel_grads = tape.gradient(loss, self._kernels)
            zs, outs = list(taps_out[1::2]), list(taps_out[2::2])
            # One tape for every layer's slopes: the layers are elementwise and independent
            # given z, so d(sum of all outputs)/dz_i = f_i'(z_i).
            with tf.GradientTape() as slope_tape:
                slope_tape.watch(zs)
                total = tf.add_n([tf.reduce_sum(layer(z)) for layer, z in zip(activations, zs)])
            slopes = slope_tape.gradient(total, zs)
            max_slopes = [fixed_max_slope[i] if i in fixed_max_slope else _max_slope(layer, z_shapes[i])
                          for i, layer in enumerate(activations)]
            columns = []
            for members in groups.values():
                channels = z_shapes[members[0]][-1]
                a = tf.reshape(tf.stack([outs[i] for i in members]), (len(members), -1, channels))
                s = tf.reshape(tf.stack([slopes[i] for i in members]), (len(members), -1))
                flat = SATURATION_SLOPE * tf.reshape(tf.stack([max_slopes[i] for i in members]), (-1, 1))
                columns.append(tf.stack([
                    tf.reduce_mean(a, axis=[1, 2]),
                    tf.math.reduce_std(a, axis=[1, 2]),
                    tf.reduce_mean(tf.cast(tf.math.reduce_std(a, axis=1) < DEAD_STD, tf.float32), axis=1),
                    tf.reduce_mean(tf.cast(tf.abs(s) < flat, tf.float32), axis=1),
                    tf.stack([tf.norm(kernel_grads[i]) for i in members]),
                ], axis=1))
            return tf.gather(tf.concat(columns, axis=0), restore)

        self._compute = compute

    def __call__(self) -> np.ndarray:
        """Array (layers, statistics) for the model's current weights."""
        return self._compute(self._x, self._y).numpy()

    def as_metrics(self, table: np.ndarray) -> dict[str, float]:
        return {
            metric_name(stat, layer): float(table[layer - 1, s])
            for layer in range(1, len(self.layers) + 1)
            for s, stat in enumerate(STATISTICS)
        }
