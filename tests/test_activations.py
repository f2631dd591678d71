"""The registry is the single source of truth: every activation builds and trains, and its values
match the article's formulas (computed here from the same layers the models use)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mlflow import MlflowClient

from actlab.activations import ACTIVATIONS, make_layer, effective_params
from actlab.runner import run
from conftest import CONF


def test_registry_and_config_files_agree():
    assert {p.stem for p in (CONF / "activation").glob("*.yaml")} == set(ACTIVATIONS)
    article = {"sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu"}
    assert {name for name, spec in ACTIVATIONS.items() if spec.in_article} == article


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_each_activation_builds_and_trains(activation, model, tiny_cfg, tmp_path):
    result = run(tiny_cfg(f"activation={activation}", f"model={model}", "model.depth=2", "trainer.epochs=2"))
    assert result["status"] == "finished" and 0.0 <= result["test_accuracy"] <= 1.0
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    losses = [m.value for m in client.get_metric_history(result["run_id"], "loss")]
    assert len(losses) == 2 and losses[1] < losses[0]  # it learns


def _values(name: str, x: list[float], **params) -> np.ndarray:
    layer = make_layer(name, effective_params(name, params), "act")
    return np.asarray(layer(np.asarray([x], dtype=np.float32)))[0]


def test_article_values():
    assert _values("sigmoid", [0.0])[0] == pytest.approx(0.5)
    assert _values("tanh", [0.0])[0] == pytest.approx(0.0)
    assert _values("elu", [-1.0])[0] == pytest.approx(math.exp(-1) - 1, abs=1e-6)  # -0.632
    assert _values("elu", [-1.0])[0] == pytest.approx(-0.632, abs=1e-3)
    scale, alpha = 1.05070098, 1.67326324  # Klambauer et al. 2017, as the article prints them
    assert _values("selu", [1.0])[0] == pytest.approx(scale, rel=1e-5)
    assert _values("selu", [-30.0])[0] == pytest.approx(-scale * alpha, rel=1e-5)
    assert _values("relu", [-2.0, 3.0]).tolist() == [0.0, 3.0]
    assert _values("leaky_relu", [-1.0])[0] == pytest.approx(-0.3)  # Keras 3 LeakyReLU layer default
    assert _values("leaky_relu", [-1.0], negative_slope=0.01)[0] == pytest.approx(-0.01)
    assert _values("prelu", [-1.0])[0] == pytest.approx(-0.25)  # He et al.'s initial alpha


def test_prelu_shares_alpha_per_channel_in_conv_layers():
    import keras

    layer = make_layer("prelu", effective_params("prelu", {}), "act", conv=True)
    layer.build((None, 8, 8, 5))
    assert tuple(layer.alpha.shape) == (1, 1, 5)
    per_element = make_layer("prelu", effective_params("prelu", {"shared_axes": "none"}), "act2", conv=True)
    per_element.build((None, 8, 8, 5))
    assert tuple(per_element.alpha.shape) == (8, 8, 5)
    assert isinstance(layer, keras.layers.PReLU)
