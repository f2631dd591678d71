"""The training stage on its own: the probe runs beside training, on copies of the weights."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from actlab.pipeline.probe import STATISTICS, LayerProbe
from actlab.pipeline.runner import build
from actlab.pipeline.train import batches, fit
from helpers import compose_config


def _setup(epochs: int):
    cfg = compose_config([f"trainer.epochs={epochs}", "trainer.early_stopping=false"])
    container, _, _, splits, model, optimizer = build(cfg, seed=0)
    return model, splits, container, optimizer


def test_each_steps_statistics_are_of_the_weights_at_that_step_though_computed_while_training_goes_on():
    model, splits, c, optimizer = _setup(epochs=3)
    n = c["trainer"]["probe_batch"]
    initialized = LayerProbe(model, splits.x_val[:n], splits.y_val[:n])()
    sent: list[tuple[int, dict]] = []

    result = fit(model, splits, optimizer, c["trainer"], on_epoch=lambda metrics, step: sent.append((step, metrics)))

    table = {step: np.array([[row[s] for s in STATISTICS] for row in result.layer_table if row["step"] == step], np.float32)
             for step in range(4)}
    # The helper thread starts after the first epoch: had it read the live weights, step 0 would
    # show trained ones.
    np.testing.assert_array_equal(table[0], initialized)
    assert not np.array_equal(table[1], table[0]) and not np.array_equal(table[3], table[1])
    assert [step for step, _ in sent] == [0, 1, 2, 3]  # delivered in order, every one
    assert all(metrics["layer_act_mean/01"] == table[step][0, 0] for step, metrics in sent)
    assert all("val_accuracy" in metrics for step, metrics in sent if step > 0)


def test_an_error_where_an_epochs_metrics_are_delivered_stops_the_fit_with_that_error():
    model, splits, c, optimizer = _setup(epochs=4)

    def sink(metrics, step):
        if step == 1:
            raise RuntimeError("the store refused epoch 1")

    with pytest.raises(RuntimeError, match="refused epoch 1"):
        fit(model, splits, optimizer, c["trainer"], on_epoch=sink)


def _epochs(pipeline, n: int) -> list[np.ndarray]:
    return [np.concatenate([y.numpy() for _, y in pipeline]) for _ in range(n)]


def test_training_batches_cover_every_example_once_per_epoch_in_a_seeded_new_order():
    x = np.arange(100, dtype=np.float32).reshape(50, 2)
    y = np.arange(50)
    first, second = _epochs(batches(x, y, 16, shuffle_seed=3), 2)
    assert sorted(first) == list(range(50)) and sorted(second) == list(range(50))
    assert not np.array_equal(first, second)  # reshuffled each epoch
    assert all(np.array_equal(a, b) for a, b in zip(_epochs(batches(x, y, 16, shuffle_seed=3), 2), [first, second]))
    assert not np.array_equal(_epochs(batches(x, y, 16, shuffle_seed=4), 1)[0], first)
    xb, yb = next(iter(batches(x, y, 16, shuffle_seed=3)))
    np.testing.assert_array_equal(xb.numpy(), x[yb.numpy()])  # inputs stay with their labels
    assert np.array_equal(_epochs(batches(x, y, 16), 1)[0], y)  # evaluation: in order


def test_the_same_seed_builds_the_same_network_without_tensorflows_global_seed():
    """Initializers and dropout are seeded where they are built: two builds with one seed are
    equal, another seed differs, and TensorFlow's global seed is never set (setting it empties
    TensorFlow's cache of compiled functions)."""
    import tensorflow as tf

    cfg = compose_config(["model.dropout=0.2"])
    first, second, other = (build(cfg, seed=s)[4] for s in (3, 3, 4))
    for a, b in zip(first.get_weights(), second.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first.get_weights()[0], other.get_weights()[0])
    assert [layer.seed for layer in first.layers if "dropout" in layer.name] == \
           [layer.seed for layer in second.layers if "dropout" in layer.name]
    assert tf.compat.v1.get_seed(None)[0] is None  # no global seed was set


def test_a_reused_optimizer_starts_from_a_new_optimizers_state_even_when_it_is_not_zero():
    """Reusing a compiled model copies a fresh optimizer's initial state (Adagrad's accumulators
    start at 0.1, not 0): the second job must equal one on a freshly compiled model."""
    from actlab.pipeline import train

    cfg = compose_config(["optimizer=sgd", "+optimizer.nesterov=true", "trainer.epochs=2"])
    train._COMPILED.clear()
    results = []
    for fresh_cache in (False, True):
        if fresh_cache:
            train._COMPILED.clear()
        container, _, _, splits, model, _ = build(cfg, seed=1)
        adagrad = keras.optimizers.Adagrad(learning_rate=0.05, initial_accumulator_value=0.1)
        if not fresh_cache:  # a first job leaves its compiled model and used optimizer behind
            first = build(cfg, seed=0)
            fit(first[4], splits, keras.optimizers.Adagrad(learning_rate=0.05, initial_accumulator_value=0.1),
                container["trainer"], on_epoch=lambda m, s: None, reuse_key="k")
        results.append(fit(model, splits, adagrad, container["trainer"], on_epoch=lambda m, s: None, reuse_key="k").final)
    train._COMPILED.clear()
    assert results[0]["test_loss"] == pytest.approx(results[1]["test_loss"], rel=1e-6)
