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


def _slope_grid(z):
    """_SLOPE_GRID laid out so that a layer accepting z accepts it (per unit / per channel)."""
    rank, channels = len(z.shape), z.shape[-1]
    column = tf.reshape(_SLOPE_GRID, (-1,) + (1,) * (rank - 1))
    return tf.broadcast_to(column, (len(_SLOPE_GRID),) + (1,) * (rank - 2) + (channels,))


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

        @tf.function(reduce_retracing=True)
        def compute(x, y):
            with tf.GradientTape() as tape:
                taps_out = taps(x, training=False)
                loss = loss_fn(y, taps_out[0])
            kernel_grads = tape.gradient(loss, self._kernels)
            zs = [taps_out[1 + 2 * i] for i in range(len(activations))]
            grids = [_slope_grid(z) for z in zs]
            # One tape for every layer's slopes, on its inputs and on the grid: the layers are
            # elementwise and independent given z, so d(sum of all outputs)/dz_i = f_i'(z_i).
            # One gradient call traces in half the time of one per layer.
            with tf.GradientTape() as slope_tape:
                slope_tape.watch(zs)
                slope_tape.watch(grids)
                total = tf.add_n([tf.reduce_sum(layer(z)) + tf.reduce_sum(layer(grid))
                                  for layer, z, grid in zip(activations, zs, grids)])
            slopes = slope_tape.gradient(total, zs + grids)
            rows = []
            for i, z in enumerate(zs):
                a = taps_out[2 + 2 * i]
                channels = z.shape[-1]
                max_slope = tf.reduce_max(tf.abs(slopes[len(zs) + i]))
                unit_std = tf.math.reduce_std(tf.reshape(a, (-1, channels)), axis=0)
                rows.append(tf.stack([
                    tf.reduce_mean(a),
                    tf.math.reduce_std(a),
                    tf.reduce_mean(tf.cast(unit_std < DEAD_STD, tf.float32)),
                    tf.reduce_mean(tf.cast(tf.abs(slopes[i]) < SATURATION_SLOPE * max_slope, tf.float32)),
                    tf.norm(kernel_grads[i]),
                ]))
            return tf.stack(rows)

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
