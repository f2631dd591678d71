"""Stage 4: per-layer statistics of a network, on a fixed probe batch of validation inputs.

For each hidden layer i (see model.py), one compiled function computes at once:
- act_mean, act_std: mean and standard deviation of the activation's outputs over batch and units;
- dead_frac: share of units (channels for conv layers) whose slope |f'(z)| stays below a fraction
  (`dead_slope`, trainer.dead_slope, 1% by default) of that unit's largest |f'| on every probe
  example: one yardstick for every function (see `dead_units`);
- saturated_frac: share of outputs where the activation is flat, i.e. its slope f'(z) is below
  SATURATION_SLOPE times the function's largest slope (sigmoid |z| > ~3.6, tanh |z| > ~1.8, the
  negative side of ReLU, ELU and SELU below z ~ -2.3);
- grad_norm: L2 norm of the gradient of the loss on the probe batch w.r.t. the layer's kernel.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

from actlab.pipeline.metric_keys import layer_series
from actlab.pipeline.model import activation_layer_names

STATISTICS = ("act_mean", "act_std", "dead_frac", "saturated_frac", "grad_norm")
DEAD_SLOPE = 0.01  # trainer.dead_slope's default: a unit is dead below 1% of its function's largest slope
SATURATION_SLOPE = 0.1
# Pre-activation values on which each activation's largest slope is found (per unit, for PReLU):
# fine steps over [-8, 8], where the functions bend, and a log-spaced tail out to ±64.
_TAIL = np.geomspace(8.0, 64.0, 13)[1:]
_SLOPE_GRID = np.concatenate([-_TAIL[::-1], np.linspace(-8.0, 8.0, 321), _TAIL]).astype(np.float32)


def _slope_grid(z_shape) -> tf.Tensor:
    """_SLOPE_GRID laid out so that a layer accepting z accepts it (per unit / per channel)."""
    rank, channels = len(z_shape), z_shape[-1]
    column = tf.reshape(_SLOPE_GRID, (-1,) + (1,) * (rank - 1))
    return tf.broadcast_to(column, (len(_SLOPE_GRID),) + (1,) * (rank - 2) + (channels,))


def _max_slope(layer: keras.layers.Layer, z_shape) -> tf.Tensor:
    """The largest |f'(z)| of an activation layer on the grid, per unit (channel), shape (channels,),
    by autodiff through the layer: a PReLU unit's own slope, the same value for a fixed function."""
    grid = _slope_grid(z_shape)
    with tf.GradientTape() as tape:
        tape.watch(grid)
        total = tf.reduce_sum(layer.call(grid))
    slopes = tf.abs(tape.gradient(total, grid))
    return tf.reduce_max(tf.reshape(slopes, (-1, z_shape[-1])), axis=0)


def dead_units(slopes: tf.Tensor, unit_max: tf.Tensor, dead_slope: float) -> tf.Tensor:
    """Share of dead units per layer: a unit (a channel of a conv layer) is dead when its slope
    |f'(z)| is below `dead_slope` x its function's largest |f'| on every probe example (and every
    position). Slopes come by autodiff of the model's own activation, so the rule is the same for
    ReLU (z < 0 everywhere), a saturated ELU/SELU/sigmoid unit and Leaky ReLU (dead only when its
    negative slope is below the fraction, with z < 0 everywhere).

    slopes: (layers, examples, ..., channels); unit_max: (layers, channels)."""
    layers, channels = tf.shape(slopes)[0], tf.shape(slopes)[-1]
    s = tf.abs(tf.reshape(slopes, (layers, -1, channels)))
    flat = s < dead_slope * tf.expand_dims(unit_max, 1)
    return tf.reduce_mean(tf.cast(tf.reduce_all(flat, axis=1), tf.float32), axis=1)


def _fixed_functions(activations: list[keras.layers.Layer], z_shapes: list) -> dict[int, tuple[str, tf.Tensor]]:
    """For each layer without weights: which function it computes (class and config) and its
    largest slope, computed once since training cannot change it. Layers computing one function
    share the computation (a deep net has one distinct layer). PReLU, whose negative slope is
    trained, is left out: its slope is computed at each probe."""
    by_config: dict[str, tf.Tensor] = {}
    fixed = {}
    for i, (layer, shape) in enumerate(zip(activations, z_shapes)):
        if layer.weights:
            continue
        config = {k: v for k, v in layer.get_config().items() if k != "name"}
        key = f"{type(layer).__name__}{sorted(config.items())}{shape[-1]}"
        if key not in by_config:
            by_config[key] = tf.constant(_max_slope(layer, shape))
        fixed[i] = (key, by_config[key])
    return fixed


def _groups_by_shape(shapes: list) -> tuple[list[list[int]], np.ndarray]:
    """Indices grouped by equal shape, and the permutation from grouped order back to index order."""
    groups: dict[tuple, list[int]] = {}
    for i, shape in enumerate(shapes):
        groups.setdefault(tuple(shape), []).append(i)
    order = [i for members in groups.values() for i in members]
    return list(groups.values()), np.argsort(order)


class LayerProbe:
    """Computes `STATISTICS` for every hidden layer of `model` on one fixed batch.

    `snapshot()` reads the weights (about a millisecond: the training thread does it at each
    epoch's end) and `compute(snapshot)` measures them, in any thread: `train.py` computes on the
    read values in a helper thread while training goes on. That is exact because TensorFlow copies
    a variable's buffer before updating it in place while a read of it is alive.
    """

    def __init__(self, model: keras.Model, x_probe: np.ndarray, y_probe: np.ndarray, dead_slope: float = DEAD_SLOPE):
        names = activation_layer_names(model)
        self.layers = [(name.replace("act_", "hidden_"), name) for name in names]
        self._x = tf.constant(np.asarray(x_probe, dtype=keras.config.floatx()))
        self._y = tf.constant(y_probe)
        self._variables = list(model.variables)
        position = {id(v): i for i, v in enumerate(self._variables)}
        # The kernel whose gradient is measured: the layer `hidden_NN` feeding `act_NN`.
        kernel_at = [position[id(model.get_layer(kernel).kernel)] for kernel, _ in self.layers]
        activations = [model.get_layer(name) for name in names]
        # A functional "tap" of the model: its outputs are every activation layer's input and
        # output, and the prediction. Any graph whose activation layers are named works.
        tap = keras.Model(model.input, [[layer.input for layer in activations], [layer.output for layer in activations],
                                         model.outputs[0]])
        loss_fn = keras.losses.SparseCategoricalCrossentropy()
        z_shapes = [(len(x_probe), *layer.input.shape[1:]) for layer in activations]
        fixed = _fixed_functions(activations, z_shapes)
        # Layers whose outputs (or kernels) have one shape are reduced together, as one stacked
        # tensor: a 20-layer MLP then traces a handful of ops instead of a dozen per layer.
        z_groups, z_restore = _groups_by_shape(z_shapes)
        # A group whose layers all compute one weight-free function gets its slopes in one call.
        shared = [all(i in fixed for i in members) and len({fixed[i][0] for i in members}) == 1 for members in z_groups]
        kernel_groups, kernel_restore = _groups_by_shape([self._variables[i].shape for i in kernel_at])

        # No data-dependent control flow: autograph would only add tracing time.
        @tf.function(autograph=False, reduce_retracing=True)
        def compute(x, y, values):
            with keras.StatelessScope(state_mapping=list(zip(self._variables, values))):
                kernels = [values[i] for i in kernel_at]
                with tf.GradientTape() as tape:
                    tape.watch(kernels)
                    zs, outs, prediction = tap(x, training=False)
                    loss = loss_fn(y, prediction)
                kernel_grads = tape.gradient(loss, kernels)
                # One tape for every layer's slopes: the layers are elementwise and independent
                # given z, so d(sum of all outputs)/dz_i = f_i'(z_i).
                with tf.GradientTape() as slope_tape:
                    group_zs = [tf.stack([zs[i] for i in members]) for members in z_groups]
                    slope_tape.watch(group_zs)
                    total = tf.add_n([
                        tf.reduce_sum(activations[members[0]].call(z)) if one_function
                        else tf.add_n([tf.reduce_sum(activations[i].call(z[k])) for k, i in enumerate(members)])
                        for members, z, one_function in zip(z_groups, group_zs, shared)])
                group_slopes = slope_tape.gradient(total, group_zs)
                max_slopes = [fixed[i][1] if i in fixed else _max_slope(layer, z_shapes[i])
                              for i, layer in enumerate(activations)]
            grad_norms = tf.gather(tf.concat([
                tf.norm(tf.reshape(tf.stack([kernel_grads[i] for i in members]), (len(members), -1)), axis=1)
                for members in kernel_groups], axis=0), kernel_restore)
            columns = []
            for members, slopes in zip(z_groups, group_slopes):
                channels = z_shapes[members[0]][-1]
                a = tf.reshape(tf.stack([outs[i] for i in members]), (len(members), -1, channels))
                s = tf.reshape(slopes, (len(members), -1))
                unit_max = tf.stack([max_slopes[i] for i in members])
                flat = SATURATION_SLOPE * tf.reduce_max(unit_max, axis=1, keepdims=True)
                columns.append(tf.stack([
                    tf.reduce_mean(a, axis=[1, 2]),
                    tf.math.reduce_std(a, axis=[1, 2]),
                    dead_units(slopes, unit_max, dead_slope),
                    tf.reduce_mean(tf.cast(tf.abs(s) < flat, tf.float32), axis=1),
                    tf.gather(grad_norms, members),
                ], axis=1))
            return tf.gather(tf.concat(columns, axis=0), z_restore)

        self._compute = compute
        self._kernels = kernel_positions(model, self.layers, self._variables)  # for weight_moments (below)

    def snapshot(self) -> list[tf.Tensor]:
        """The model's current weights (and batch-norm statistics), as tensors training cannot change."""
        return [tf.convert_to_tensor(v.value) for v in self._variables]

    def compute(self, snapshot: list[tf.Tensor]) -> np.ndarray:
        """Array (layers, statistics) for the weights in `snapshot`."""
        table = self._compute(self._x, self._y, snapshot).numpy()
        return np.concatenate([table, weight_moments([snapshot[i] for i in self._kernels]).astype(table.dtype)], axis=1)

    def __call__(self) -> np.ndarray:
        """Array (layers, statistics) for the model's current weights."""
        return self.compute(self.snapshot())

    def as_metrics(self, table: np.ndarray) -> dict[str, float]:
        return {
            layer_series(stat, layer): float(table[layer - 1, s])
            for layer in range(1, len(self.layers) + 1)
            for s, stat in enumerate(STATISTICS)
        }


# --- weight moments of each hidden layer's kernel: Klambauer et al.'s ω and τ -------------------
# SELU's fixed point (0, 1) is proven for weights with ω = Σ_i w_i and τ = Σ_i w_i² (the sums over
# a unit's n = fan-in inputs) in a domain around (0, 1). Per layer the probe logs the average unit's:
# - w_omega: ω = n · mean(w) (LeCun-normal: 0, with a sampling std of 1/√units, 0.1 for 100 units);
# - w_tau: τ = n · mean(w²) = n · Var(w) + ω²/n (LeCun-normal: 1, He-normal: 2).
# Read from the kernels in numpy beside the compiled statistics above, so neither changes the other.
WEIGHT_STATISTICS = ("w_omega", "w_tau")
STATISTICS = (*STATISTICS, *WEIGHT_STATISTICS)  # what a probe's table holds, in its column order


def weight_moments(kernels) -> np.ndarray:
    """Array (layers, 2): ω and τ of each kernel (Dense (n, units) or Conv2D (h, w, channels, filters),
    fan-in n = the product of every axis but the last)."""
    rows = []
    for kernel in kernels:
        w = np.asarray(kernel, dtype=np.float64)
        n = int(np.prod(w.shape[:-1]))
        rows.append((n * w.mean(), n * np.mean(w * w)))
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(WEIGHT_STATISTICS))


def kernel_positions(model: keras.Model, layers: list[tuple[str, str]], variables: list) -> list[int]:
    """Where each probed layer's kernel (`hidden_NN`, feeding `act_NN`) sits in `variables`."""
    position = {id(v): i for i, v in enumerate(variables)}
    return [position[id(model.get_layer(kernel).kernel)] for kernel, _ in layers]
