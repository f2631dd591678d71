"""The probe's statistics on a network small enough to compute by hand."""

from __future__ import annotations

import numpy as np
import pytest

from actlab.model import build_model
from actlab.probe import STATISTICS, LayerProbe

X = np.array([[1, 2], [-1, -0.5], [2, -3], [3, 1]], dtype=np.float32)
Y = np.array([0, 1, 0, 1], dtype=np.int32)
W1 = np.array([[0, 1, 0], [0, 0, 1]], dtype=np.float32)  # unit 0 sees nothing...
B1 = np.array([-1, 0, 0], dtype=np.float32)  # ...and its bias keeps it below zero: a dead ReLU
W2 = np.array([[0.5, -0.5], [1, -1], [-1, 1]], dtype=np.float32)


def _model(activation: str):
    cfg = {"kind": "mlp", "depth": 1, "width": 3, "dropout": 0.0, "batch_norm": False}
    params = {"negative_slope": 0.3} if activation == "leaky_relu" else {}
    model = build_model(cfg, activation, params, "glorot_uniform", (2,), 2)
    model.get_layer("hidden_01").set_weights([W1, B1])
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
    assert stats["dead_frac"] == pytest.approx(1 / 3)  # unit 0 still outputs a constant (-0.3)
    assert stats["grad_norm"] == pytest.approx(_expected_grad_norm(a, np.where(z > 0, 1.0, 0.3)), rel=1e-4)


def test_sigmoid_saturation_counts_the_flat_tails():
    model = _model("sigmoid")
    model.get_layer("hidden_01").set_weights([W1 * 10, B1])  # scaled up: most inputs land in the tails
    z = X @ (W1 * 10) + B1
    sig = 1 / (1 + np.exp(-z))
    slope = sig * (1 - sig)
    table = LayerProbe(model, X, Y)()
    stats = dict(zip(STATISTICS, table[0]))
    assert stats["saturated_frac"] == pytest.approx(np.mean(slope < 0.1 * 0.25))
