"""The probe's statistics on a network small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from actlab.pipeline import model as model_stage
from actlab.pipeline.activations import activation_layers
from actlab.pipeline.probe import STATISTICS, LayerProbe
from actlab.reporting.gallery import activation_config

X = np.array([[1, 2], [-1, -0.5], [2, -3], [3, 1]], dtype=np.float32)
Y = np.array([0, 1, 0, 1], dtype=np.int32)
W1 = np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float32)  # unit 0 sees nothing...
B1 = np.array([-1, 0, 0], dtype=np.float32)  # ...and its bias keeps it below zero: a dead ReLU
W2 = np.array([[0.5, -0.5], [1, -1], [-1, 1]], dtype=np.float32)


def _parts(activation: str, **params):
    layers = activation_layers({**activation_config(activation), **params}, activation)
    return model_stage.parts(layers, {"_target_": "keras.initializers.GlorotUniform"}, False, seed=0)


def _model(activation: str, bias: np.ndarray = B1, **params):
    model = model_stage.mlp((2,), 2, _parts(activation, **params), depth=1, width=3)
    model.get_layer("hidden_01").set_weights([W1, bias])
    model.get_layer("output").set_weights([W2, np.zeros(2, np.float32)])
    return model


def _expected_grad_norm(a: np.ndarray, slope: np.ndarray) -> float:
    logits = a @ W2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    d_logits = (p - np.eye(2)[Y]) / len(Y)  # mean cross-entropy
    d_z = (d_logits @ W2.T) * slope
    return float(np.linalg.norm(X.T @ d_z))


def test_relu_statistics_by_hand():
    z = X @ W1 + B1
    a = np.maximum(z, 0)  # unit 0: always 0 (dead); 7 of the 12 pre-activations are negative
    table = LayerProbe(_model("relu"), X, Y)()
    stats = dict(zip(STATISTICS, table[0]))
    assert table.shape == (1, len(STATISTICS))
    assert stats["act_mean"] == pytest.approx(9 / 12)
    assert stats["act_std"] == pytest.approx(a.std(), rel=1e-5)
    assert stats["dead_frac"] == pytest.approx(1 / 3)
    assert stats["saturated_frac"] == pytest.approx(7 / 12)
    assert stats["grad_norm"] == pytest.approx(_expected_grad_norm(a, (z > 0).astype(np.float32)), rel=1e-4)


def test_leaky_relu_is_never_flat_nor_dead_in_the_slope_sense():
    z = X @ W1 + B1
    a = np.where(z > 0, z, 0.3 * z)
    table = LayerProbe(_model("leaky_relu"), X, Y)()
    stats = dict(zip(STATISTICS, table[0]))
    assert stats["act_mean"] == pytest.approx(a.mean(), rel=1e-5)
    assert stats["saturated_frac"] == 0.0  # slope 0.3 > 0.1 x its largest slope (1)
    # Unit 0 outputs a constant (-0.3) but passes 30% of its gradient back: alive by the slope rule.
    assert stats["dead_frac"] == 0.0
    assert stats["grad_norm"] == pytest.approx(_expected_grad_norm(a, np.where(z > 0, 1.0, 0.3)), rel=1e-4)


def _dead(activation: str, bias: np.ndarray = B1, dead_slope: float = 0.01, **params) -> float:
    table = LayerProbe(_model(activation, bias, **params), X, Y, dead_slope=dead_slope)()
    return float(table[0, STATISTICS.index("dead_frac")])


def test_a_unit_is_dead_when_its_slope_stays_below_the_fraction_of_its_largest_on_every_example():
    """One yardstick for every function: unit 0's pre-activation is the bias alone, on every example."""
    assert _dead("relu") == pytest.approx(1 / 3)  # z = -1 everywhere: slope 0
    # Leaky ReLU of slope 0.01 has exactly 1% of its largest slope: "below 1%" is false, below 2% true.
    assert _dead("leaky_relu", negative_slope=0.01) == 0.0
    assert _dead("leaky_relu", negative_slope=0.01, dead_slope=0.02) == pytest.approx(1 / 3)
    assert _dead("leaky_relu", negative_slope=0.009) == pytest.approx(1 / 3)
    # ELU: slope e^z. At z = -1 it is 0.37 (alive); far on the saturated side, z = -10, 4.5e-5 (dead).
    assert _dead("elu") == 0.0
    assert _dead("elu", np.array([-10, 0, 0], np.float32)) == pytest.approx(1 / 3)
    # SELU's largest slope is scale·α ≈ 1.76 (just left of 0): e^z < 1% of it below z ≈ -4.6.
    assert _dead("selu", np.array([-4, 0, 0], np.float32)) == 0.0
    assert _dead("selu", np.array([-6, 0, 0], np.float32)) == pytest.approx(1 / 3)
    # Sigmoid: σ'(z) < 1% of σ'(0) = 0.25 for |z| > ~6.
    assert _dead("sigmoid", np.array([8, 0, 0], np.float32)) == pytest.approx(1 / 3)
    # A unit in tanh's linear range (z ∈ [-3, 3]) is alive, whatever its weights.
    assert _dead("tanh") == 0.0


def test_prelu_units_are_judged_by_their_own_learned_slope():
    """Each PReLU unit is its own function: unit 0 (z < 0 on every example) is dead when its learned
    alpha is below 1% of its own largest slope (1), not of the layer's steepest unit (alpha 3)."""
    def dead(alphas: list[float]) -> float:
        model = _model("prelu")
        model.get_layer("act_01").set_weights([np.array(alphas, np.float32).reshape(model.get_layer("act_01").weights[0].shape)])
        return float(LayerProbe(model, X, Y)()[0, STATISTICS.index("dead_frac")])

    assert dead([0.005, 3.0, 0.5]) == pytest.approx(1 / 3)
    assert dead([0.02, 3.0, 0.5]) == 0.0  # a layer-wide largest slope (3) would call it dead


def test_sigmoid_saturation_counts_the_flat_tails():
    model = _model("sigmoid")
    model.get_layer("hidden_01").set_weights([W1 * 10, B1])  # scaled up: most inputs land in the tails
    z = X @ (W1 * 10) + B1
    sig = 1 / (1 + np.exp(-z))
    slope = sig * (1 - sig)
    table = LayerProbe(model, X, Y)()
    stats = dict(zip(STATISTICS, table[0]))
    assert stats["saturated_frac"] == pytest.approx(np.mean(slope < 0.1 * 0.25))


def test_layers_of_different_shapes_come_back_in_layer_order():
    """A CNN with a dense head: the probe reduces same-shaped layers together, so check every layer
    of every shape against a direct per-layer computation (PReLU: slope 1 or its trained alpha)."""
    import keras
    import tensorflow as tf

    # On a 2x2 input the maps are 1x1 from layer 2 on, so shapes repeat out of order:
    # (2,2,4) (1,1,6) (1,1,4) (1,1,6), then two dense layers of 5 units.
    model = model_stage.cnn((2, 2, 1), 3, _parts("prelu"), filters=[4, 6, 4, 6], kernel_size=3, depth=2, width=5)
    layers = range(1, 7)
    rng = np.random.default_rng(0)
    for index in layers:  # alphas up to 2: on some layers the negative side is the steepest
        layer = model.get_layer(f"act_{index:02d}")
        layer.set_weights([rng.uniform(0, 2, layer.weights[0].shape).astype(np.float32)])
    x = rng.normal(size=(16, 2, 2, 1)).astype(np.float32)
    y = rng.integers(0, 3, 16).astype(np.int32)

    table = LayerProbe(model, x, y)()

    names = [f"{{}}_{index:02d}" for index in layers]
    taps = keras.Model(model.inputs, [model.get_layer(n.format("act")).input for n in names]
                       + [model.get_layer(n.format("act")).output for n in names])
    kernels = [model.get_layer(n.format("hidden")).kernel for n in names]
    with tf.GradientTape() as tape:
        loss = keras.losses.SparseCategoricalCrossentropy()(y, model(x))
    grads = tape.gradient(loss, kernels)
    outputs = [np.asarray(t) for t in taps([x])]
    for i, name in enumerate(names):
        z, a = outputs[i], outputs[len(names) + i]
        alpha = np.broadcast_to(model.get_layer(name.format("act")).weights[0].numpy(), z.shape[1:])
        slope = np.where(z > 0, 1.0, alpha)
        flat = np.abs(slope) < 0.1 * max(1.0, np.abs(alpha).max())
        unit_max = np.maximum(1.0, np.abs(alpha.reshape(-1, z.shape[-1])).max(axis=0))
        dead = np.all(np.abs(slope).reshape(-1, z.shape[-1]) < 0.01 * unit_max, axis=0)
        expected = [a.mean(), a.std(), dead.mean(), flat.mean(), np.linalg.norm(grads[i])]
        assert table[i, :len(expected)] == pytest.approx(expected, rel=1e-4, abs=1e-6), f"layer {i + 1}"


def test_the_probe_reads_a_residual_network_block_by_block():
    """resmlp is no chain of layers: the probe's tap model reads each block's activation by name,
    and its numbers equal a direct computation through a tap of the Keras model."""
    import keras

    model = model_stage.resmlp((6,), 3, _parts("selu"), depth=4, width=5, normalization="layer")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(32, 6)).astype(np.float32)
    y = rng.integers(0, 3, 32).astype(np.int32)
    table = LayerProbe(model, x, y)()
    assert table.shape == (4, len(STATISTICS))
    names = [f"act_{i:02d}" for i in range(1, 5)]
    outputs = keras.Model(model.input, [model.get_layer(n).output for n in names])(x)
    for i, a in enumerate(outputs):
        a = np.asarray(a)
        assert table[i, :2] == pytest.approx([a.mean(), a.std()], rel=1e-4, abs=1e-6), names[i]
    assert np.all(table[:, 4] > 0)  # every block's first kernel gets a gradient
