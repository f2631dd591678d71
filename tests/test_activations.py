"""The config tree is the registry: every activation YAML builds and trains, and its values match
the article's formulas (computed here from the same layers the models use)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mlflow import MlflowClient
from omegaconf import OmegaConf

from actlab.pipeline.config import options
from actlab.pipeline.runner import run
from actlab.reporting.gallery import activation_config, values_and_slopes
from helpers import CONF

ACTIVATIONS = options("activation")


def test_the_article_functions_are_marked_in_their_yaml():
    article = {"sigmoid", "tanh", "relu", "leaky_relu", "prelu", "elu", "selu"}
    assert {name for name in ACTIVATIONS if OmegaConf.load(CONF / "activation" / f"{name}.yaml").get("in_article")} == article


# Every activation in a dense net; in a CNN too where convolutions change something (PReLU's alpha
# per channel, SELU's AlphaDropout-free fixed point) and for one plain function.
CASES = [(a, "mlp") for a in ACTIVATIONS] + [(a, "cnn") for a in ("prelu", "selu", "relu") if a in ACTIVATIONS]


@pytest.mark.parametrize("activation,model", CASES, ids=[f"{m}-{a}" for a, m in CASES])
def test_each_activation_builds_and_trains(activation, model, tiny_cfg, tmp_path):
    result = run(tiny_cfg(f"activation={activation}", f"model={model}", "model.depth=2", "trainer.epochs=2"))
    assert result["status"] == "finished" and 0.0 <= result["test_accuracy"] <= 1.0
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    losses = [m.value for m in client.get_metric_history(result["run_id"], "curves/loss")]
    assert len(losses) == 2 and losses[1] < losses[0]  # it learns


def _values(name: str, x: list[float], **params) -> np.ndarray:
    if not params:
        return values_and_slopes(name, np.asarray(x))[0]
    from actlab.pipeline.activations import activation_layers

    layer = activation_layers({**activation_config(name), **params}, name)("act")
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
    assert _values("gelu", [1.0])[0] == pytest.approx(0.8413447, rel=1e-5)  # x·Φ(x)
    assert _values("gelu", [1.0], approximate=True)[0] == pytest.approx(0.8411920, rel=1e-5)


def test_prelu_shares_alpha_per_channel_in_conv_layers():
    import keras

    from actlab.pipeline.activations import ChannelPReLU

    layer = ChannelPReLU(0.25, "channel")
    layer.build((None, 8, 8, 5))
    assert tuple(layer.alpha.shape) == (1, 1, 5)
    dense = ChannelPReLU(0.25, "channel")
    dense.build((None, 7))
    assert tuple(dense.alpha.shape) == (7,)
    per_element = ChannelPReLU(0.25, "none")
    per_element.build((None, 8, 8, 5))
    assert tuple(per_element.alpha.shape) == (8, 8, 5)
    assert isinstance(layer, keras.layers.PReLU) and float(layer.alpha.numpy().ravel()[0]) == 0.25


def test_rrelu_draws_its_negative_slope_in_training_and_uses_the_mean_at_test():
    import keras
    import numpy as np

    from actlab.pipeline.activations import RReLU

    x = -np.ones((4, 1000), dtype="float32")
    layer = RReLU(lower=0.125, upper=1 / 3)
    layer.set_seed(7)
    trained = -np.asarray(layer(x, training=True))
    assert 0.125 <= trained.min() and trained.max() <= 1 / 3 and trained.std() > 0.03  # one slope per element
    assert np.allclose(-np.asarray(layer(x, training=False)), (0.125 + 1 / 3) / 2)
    assert np.array_equal(np.asarray(layer(-x, training=True)), -x)  # positive inputs pass unchanged
    again = RReLU(lower=0.125, upper=1 / 3)
    again.set_seed(7)
    assert np.array_equal(-np.asarray(again(x, training=True)), trained)  # seeded: the same draws
    assert keras.ops.shape(layer(x)) == (4, 1000)
