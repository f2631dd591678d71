"""The probe's weight moments ω = n·mean(w) and τ = n·mean(w²) per hidden layer (Klambauer et al.'s
theorem is stated in them), on kernels whose values are known."""

from __future__ import annotations

import numpy as np
import pytest

from actlab.pipeline import model as model_stage
from actlab.pipeline.activations import activation_layers
from actlab.pipeline.probe import STATISTICS, WEIGHT_STATISTICS, LayerProbe, weight_moments
from actlab.reporting.gallery import activation_config

RNG = np.random.default_rng(0)


def _model(initializer: dict, inputs: int = 4, width: int = 3, depth: int = 2):
    layers = activation_layers(activation_config("selu"), "selu")
    parts = model_stage.parts(layers, initializer, False, seed=0)
    return model_stage.mlp((inputs,), 2, parts, depth=depth, width=width)


def _probe_table(model, inputs: int = 4) -> dict[str, np.ndarray]:
    x = RNG.normal(size=(8, inputs)).astype(np.float32)
    y = RNG.integers(0, 2, 8).astype(np.int32)
    table = LayerProbe(model, x, y)()
    assert table.shape[1] == len(STATISTICS) and set(WEIGHT_STATISTICS) <= set(STATISTICS)
    return {stat: table[:, i] for i, stat in enumerate(STATISTICS)}


def test_constant_kernels_give_n_times_the_value_and_its_square():
    table = _probe_table(_model({"_target_": "keras.initializers.Constant", "value": 0.02}))
    # Layer 1 has fan-in 4 (the inputs), layer 2 fan-in 3 (the width): ω = n·c, τ = n·c² (Var(w) = 0).
    assert table["w_omega"] == pytest.approx([4 * 0.02, 3 * 0.02], rel=1e-6)
    assert table["w_tau"] == pytest.approx([4 * 0.02 ** 2, 3 * 0.02 ** 2], rel=1e-5)


def test_moments_follow_the_kernel_after_it_changes_and_match_numpy():
    model = _model({"_target_": "keras.initializers.Constant", "value": 0.0})
    kernel = RNG.normal(0.01, 0.2, size=(3, 3)).astype(np.float32)
    model.get_layer("hidden_02").kernel.assign(kernel)
    table = _probe_table(model)
    assert table["w_omega"] == pytest.approx([0.0, 3 * kernel.mean()], abs=1e-6)
    assert table["w_tau"] == pytest.approx([0.0, 3 * np.mean(kernel.astype(np.float64) ** 2)], rel=1e-5)


def test_lecun_normal_starts_at_omega_0_tau_1_and_he_normal_at_tau_2():
    for name, tau in (("lecun_normal", 1.0), ("he_normal", 2.0)):
        model = _model({"_target_": f"keras.initializers.{''.join(p.title() for p in name.split('_'))}"}, inputs=400, width=400)
        table = _probe_table(model, inputs=400)
        # 400 units: ω's sampling std is 1/√400 = 0.05; τ's is about √(2/(n·units)) ≈ 0.004.
        assert np.abs(table["w_omega"]).max() < 0.25
        assert table["w_tau"] == pytest.approx([tau, tau], rel=0.03), name


def test_conv_kernels_use_their_fan_in():
    w = np.full((3, 3, 2, 5), 0.1)  # fan-in 3·3·2 = 18
    assert weight_moments([w]) == pytest.approx(np.array([[18 * 0.1, 18 * 0.01]]))
