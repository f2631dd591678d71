"""Stage 5: train one model, with the probe, a divergence guard and best-on-validation selection.

`fit` knows nothing of MLflow: it hands every epoch's metrics to an `on_epoch(metrics, step)`
callable, which the tracking stage supplies (or not, with tracking disabled).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable

import keras
import numpy as np

from actlab.pipeline.data import Splits
from actlab.pipeline.probe import STATISTICS, LayerProbe

EpochSink = Callable[[dict[str, float], int], None]  # (metrics, step), as MLflow's log_metrics


@dataclass
class FitResult:
    history: list[dict[str, float]]  # one dict per epoch: loss, accuracy, val_*, epoch_time_s
    layer_table: list[dict[str, Any]]  # long table rows: step, layer, one column per statistic
    final: dict[str, float] = field(default_factory=dict)
    diverged_epoch: int | None = None
    # CPU seconds spent on the probe (its helper thread) and on copying weights for it (training
    # thread): what the benchmark reports as the probe's cost.
    probe_cpu_s: dict[str, float] = field(default_factory=dict)
    evaluate_s: float = 0.0  # the test evaluation after training (and the latency measurement)
    summary_logging_s: float = 0.0  # queuing the summaries, depth profiles and heatmaps (runner.log_run_end)
    layer_series: list[tuple[str, float, int]] = field(default_factory=list)  # per-layer metric rows, held for the run's end


class _EpochRecorder(keras.callbacks.Callback):
    """Probes at step 0 and after each epoch, keeps the best weights on val_accuracy, stops on NaN.

    Each epoch's metrics go to `on_epoch` from one helper thread, in epoch order, once its probe
    is computed: the training thread only copies the weights (about a millisecond) and goes on, so
    the probe overlaps training instead of pausing it (it still shares the machine's cores).
    `finish` waits for every delivery.
    """

    def __init__(self, probe: LayerProbe | None, on_epoch: EpochSink, check_interrupt: Callable[[], None] = lambda: None):
        super().__init__()
        self.probe = probe
        self.on_epoch = on_epoch
        self.check_interrupt = check_interrupt
        self.history: list[dict[str, float]] = []
        self.layer_rows: list[dict[str, Any]] = []
        self.best_val = -math.inf
        self.best_weights: list[np.ndarray] | None = None
        self.diverged_epoch: int | None = None
        self.cpu_s = {"probe": 0.0, "weight copies": 0.0}
        self._epoch = 0
        self._epoch_start = 0.0
        self._helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="probe")
        self._pending: list[Future] = []
        # Set at the end of the first epoch: until then the training thread traces Keras's train
        # and test steps (Python, holding the interpreter lock), so the helper's tracing of the
        # probe would only delay it; from then on it mostly waits for TensorFlow, lock released.
        self._first_epoch_done = threading.Event()

    def _send(self, metrics: dict[str, float], step: int, probe: bool) -> None:
        for done in [task for task in self._pending if task.done()]:
            done.result()  # a failed probe or write fails the run now, not after the last epoch
            self._pending.remove(done)
        start = time.thread_time()
        snapshot = self.probe.snapshot() if probe and self.probe is not None else None
        self.cpu_s["weight copies"] += time.thread_time() - start
        self._pending.append(self._helper.submit(self._deliver, dict(metrics), step, snapshot))

    def _deliver(self, metrics: dict[str, float], step: int, snapshot) -> None:  # in the helper thread
        self._first_epoch_done.wait()
        if snapshot is not None:
            start = time.thread_time()
            table = self.probe.compute(snapshot)
            self.cpu_s["probe"] += time.thread_time() - start
            for layer, values in enumerate(table, start=1):
                self.layer_rows.append({"step": step, "layer": layer, **dict(zip(STATISTICS, map(float, values)))})
            metrics |= self.probe.as_metrics(table)
        self.on_epoch(metrics, step)

    def finish(self, cancel: bool = False) -> None:
        """Wait until every epoch's metrics are delivered (or, on `cancel`, only the one under way)."""
        self._first_epoch_done.set()
        self._helper.shutdown(wait=True, cancel_futures=cancel)
        pending, self._pending = self._pending, []
        if not cancel:
            for task in pending:
                task.result()

    def on_train_begin(self, logs=None):
        self._send({}, 0, probe=True)  # the initialized network, before any update

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch + 1
        self._epoch_start = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        self.check_interrupt()
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_epoch = self._epoch
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.check_interrupt()
        metrics = {key: float(value) for key, value in (logs or {}).items()}
        metrics["epoch_time_s"] = time.perf_counter() - self._epoch_start
        self.history.append(metrics)
        if self.diverged_epoch is None:
            val = metrics.get("val_accuracy", -math.inf)
            if val > self.best_val:
                self.best_val = val
                self.best_weights = self.model.get_weights()
        self._send(metrics, self._epoch, probe=self.diverged_epoch is None)
        self._first_epoch_done.set()


@dataclass
class _Compiled:
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    probe: LayerProbe | None
    # The optimizer's state right after it was built for the model, before any step: what every
    # new optimizer of this configuration starts from (step count, its own initial accumulators).
    initial_state: list[np.ndarray] = field(default_factory=list)


# Compiled models of earlier jobs in this process, by architecture (see `_compiled`).
_COMPILED: OrderedDict[str, _Compiled] = OrderedDict()
_KEEP_COMPILED = 2  # a sweep worker alternates between few architectures; bounded memory


def _compiled(model, optimizer, splits: Splits, trainer: dict[str, Any], probe_enabled: bool, reuse_key: str | None) -> _Compiled:
    """`model`, compiled, with its probe. Keras traces a model's train and test steps in its first
    fit: 2 of the 3 s a 20-layer MLP job takes. A job whose `reuse_key` (architecture, data,
    optimizer type; never dropout, whose random state lives outside the weights) matches an
    earlier job's in this process trains that job's compiled model instead, with this job's seeded
    initial weights copied in and a fresh optimizer state: the same computation, without tracing."""
    cached = _COMPILED.get(reuse_key) if reuse_key is not None else None
    if cached is not None:
        # Equal keys: the same optimizer configuration but for the learning rate, so the state it
        # was built with is exactly this job's optimizer's initial state.
        _COMPILED.move_to_end(reuse_key)
        cached.model.set_weights(model.get_weights())
        for variable, initial in zip(cached.optimizer.variables, cached.initial_state):
            variable.assign(initial)
        cached.optimizer.learning_rate = float(optimizer.learning_rate)
        return cached
    optimizer.build(model.trainable_variables)
    initial_state = [keras.ops.convert_to_numpy(v) for v in optimizer.variables] if reuse_key is not None else []
    model.compile(
        optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
        # Several batches per compiled call: same updates, less Python overhead per step.
        steps_per_execution=trainer["steps_per_execution"],
    )
    probe = None
    if probe_enabled:
        n = min(trainer["probe_batch"], len(splits.y_val))
        probe = LayerProbe(model, splits.x_val[:n], splits.y_val[:n], dead_slope=trainer["dead_slope"])
    compiled = _Compiled(model, optimizer, probe, initial_state)
    if reuse_key is not None:
        _COMPILED[reuse_key] = compiled
        while len(_COMPILED) > _KEEP_COMPILED:
            _COMPILED.popitem(last=False)
    return compiled


def seed_job(seed: int) -> None:
    """Seed Python's and NumPy's generators. What a run draws through Keras is seeded where it is
    built (each initializer and dropout layer, see model.parts; the batch order, see `batches`), not
    through TensorFlow's global seed, whose setting also empties TensorFlow's cache of compiled
    functions and would make every sweep job reusing a compiled model optimize its graphs again.
    Keras's initializers created without a seed draw theirs from Python's generator."""
    import random

    random.seed(seed)
    np.random.seed(seed)


# tf.data sources of arrays that later jobs of this process train on again (data.load_splits shares
# its arrays): the arrays themselves are held too, so that an id is never reused while cached.
_SOURCES: OrderedDict[tuple[int, int], tuple[np.ndarray, np.ndarray, Any]] = OrderedDict()


def _source(x: np.ndarray, y: np.ndarray):
    """(x, y) as one tf.data element, repeated: made once per pair of read-only arrays."""
    import tensorflow as tf

    key = (id(x), id(y))
    if key in _SOURCES:
        _SOURCES.move_to_end(key)
        return _SOURCES[key][2]
    data = tf.data.Dataset.from_tensors((x, y)).repeat()  # one copy of the arrays, not one per element
    if not (x.flags.writeable or y.flags.writeable):  # arrays that may change are not cached
        _SOURCES[key] = (x, y, data)
        while len(_SOURCES) > 6:
            _SOURCES.popitem(last=False)
    return data


def batches(x: np.ndarray, y: np.ndarray, batch_size: int, shuffle_seed: int | None = None):
    """The tf.data pipeline `fit` trains and evaluates on: (x, y) in batches, reshuffled each
    epoch when `shuffle_seed` is given (a fixed sequence of permutations per seed).

    What Keras builds from numpy arrays is the same up to the order of the permutations, but it
    runs tf.data's autotuner, whose background threads took cores from training: on 2 cores a
    10-epoch MLP fit ran ~25% slower, and two fits side by side (a 2-worker sweep) ~35% slower
    each. With autotuning off, the pipeline runs inline and two fits run as fast as one."""
    import tensorflow as tf

    data = _source(x, y)
    order = tf.data.Dataset.range(len(y))
    if shuffle_seed is not None:
        order = order.shuffle(len(y), seed=shuffle_seed, reshuffle_each_iteration=True)
    pipeline = tf.data.Dataset.zip(order.batch(batch_size), data).map(
        lambda index, xy: (tf.gather(xy[0], index), tf.gather(xy[1], index)))
    options = tf.data.Options()
    options.autotune.enabled = False
    return pipeline.with_options(options)


def convergence(val_accuracy: list[float], target_fraction: float) -> dict[str, float]:
    """Best epoch, epochs to reach `target_fraction` of the best, and the mean over epochs."""
    best = max(val_accuracy)
    best_epoch = val_accuracy.index(best) + 1
    target = target_fraction * best
    to_target = next(epoch for epoch, acc in enumerate(val_accuracy, start=1) if acc >= target)
    return {
        "best_val_accuracy": best,
        "best_epoch": best_epoch,
        "epochs_to_target": to_target,
        "val_accuracy_auc": float(np.mean(val_accuracy)),
    }


def fit(
    model: keras.Model,
    splits: Splits,
    optimizer: keras.optimizers.Optimizer,
    trainer: dict[str, Any],
    on_epoch: EpochSink,
    probe_enabled: bool = True,
    check_interrupt: Callable[[], None] = lambda: None,  # raises if the run was interrupted
    reuse_key: str | None = None,  # jobs with the same key may share one compiled model
    seed: int = 0,  # the order of the training batches
) -> FitResult:
    compiled = _compiled(model, optimizer, splits, trainer, probe_enabled, reuse_key)
    model = compiled.model
    recorder = _EpochRecorder(compiled.probe, on_epoch, check_interrupt)
    callbacks: list[keras.callbacks.Callback] = [recorder]
    if trainer["early_stopping"]:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=trainer["patience"]))

    start = time.perf_counter()
    try:
        model.fit(
            batches(splits.x_train, splits.y_train, trainer["batch_size"], shuffle_seed=seed),
            validation_data=batches(splits.x_val, splits.y_val, trainer["batch_size"]),
            epochs=trainer["epochs"], callbacks=callbacks, verbose=trainer["verbose"],
            shuffle=False,  # `batches` shuffles, seeded
        )
    except BaseException:
        _COMPILED.pop(reuse_key, None)  # left mid-fit: not a state to hand to the next job
        recorder.finish(cancel=True)
        raise
    recorder.finish()
    result = FitResult(recorder.history, recorder.layer_rows, diverged_epoch=recorder.diverged_epoch, probe_cpu_s=recorder.cpu_s)
    result.final["train_time_s"] = time.perf_counter() - start
    finite = [h["val_accuracy"] for h in recorder.history if math.isfinite(h.get("val_accuracy", math.nan))]
    if recorder.diverged_epoch is not None or not finite:
        return result

    result.final.update(convergence(finite, trainer["target_fraction"]))
    evaluation_start = time.perf_counter()
    # The test split is read once, with the weights of the best validation epoch.
    model.set_weights(recorder.best_weights)
    test_loss, test_accuracy = model.evaluate(batches(splits.x_test, splits.y_test, 1024), verbose=0)
    best = recorder.history[result.final["best_epoch"] - 1]
    result.final.update(
        test_loss=float(test_loss),
        test_accuracy=float(test_accuracy),
        # Generalization gap at the selected epoch: what claim 4 (PReLU overfits) measures.
        train_accuracy=best["accuracy"],
        generalization_gap=best["accuracy"] - best["val_accuracy"],
    )
    if trainer["latency_repeats"]:
        result.final["inference_ms"] = inference_ms(model, splits.x_val, trainer["latency_repeats"])
    result.evaluate_s = time.perf_counter() - evaluation_start
    return result


def inference_ms(model: keras.Model, x: np.ndarray, repeats: int, batch: int = 1024) -> float:
    """Median wall time (ms) of one compiled forward pass over `batch` inputs (claim 6)."""
    import tensorflow as tf

    inputs = tf.constant(np.resize(x, (batch, *x.shape[1:])))
    forward = tf.function(lambda t: model(t, training=False))
    for _ in range(3):  # trace and warm up
        forward(inputs).numpy()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(inputs).numpy()
        times.append(time.perf_counter() - start)
    return float(np.median(times) * 1000)
