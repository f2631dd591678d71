"""One run, start to end: validate -> data -> model -> probe + train -> track.

`run(cfg)` is a plain function of a composed config (what `python -m run` calls through Hydra, and
what tests call with `hydra.compose`). TensorFlow and MLflow are imported only after the config has
been validated, so a bad value costs nothing and leaves no record.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import re
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from actlab.pipeline import config as config_stage
from actlab.pipeline import timing as timing_stage
from actlab.pipeline.config import ConfigError
from actlab.pipeline.version import COMMIT_TAG, RESULTS_VERSION, software
from actlab.pipeline.version import TAG as RESULTS_TAG


@dataclass
class RunContext:
    """What the launcher knows that the config does not."""

    parent_run_id: str | None = None
    skip_finished: bool = False  # a sweep skips configs that already have a FINISHED run
    in_sweep: bool = False  # one of a sweep's jobs: the sweep's console reports it (actlab.pipeline.console)
    overrides: tuple[str, ...] = ()
    workers: int = 1  # jobs sharing this machine's cores
    threads: int = 0  # TensorFlow threads for this job; 0 = cores / workers


def run_name(names: dict[str, str], seed: int) -> str:
    return f"{names['activation']} · {names['model']} · {names['initializer']} · {names['dataset']} · seed {seed}"


# Printed by TensorFlow's C++ libraries while `import tensorflow` runs, whatever TF_CPP_MIN_LOG_LEVEL
# says (absl logs them before any level is read): oneDNN is on, and on a CPU machine "Could not find
# cuda drivers", which reads like an error. Each twice, after absl's own warning.
_START_UP_NOTICES = re.compile(r"All log messages before absl::InitializeLog\(\) is called"
                               r"|oneDNN custom operations are on|cudart_stub\.cc:\d+\] Could not find cuda drivers")


@contextlib.contextmanager
def stderr_without(lines: re.Pattern):
    """What the block writes to stderr (file descriptor 2, so C++ libraries' output too) goes to a
    file, and is passed on at the block's end, all but the lines matching `lines`."""
    sys.stderr.flush()
    stderr = os.dup(2)
    with tempfile.TemporaryFile() as printed:
        os.dup2(printed.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(stderr, 2)
            os.close(stderr)
            printed.seek(0)
            for line in printed.read().decode(errors="replace").splitlines(keepends=True):
                if not lines.search(line):
                    sys.stderr.write(line)
            sys.stderr.flush()


def import_tensorflow():
    """`import tensorflow`, without its start-up notices."""
    if "tensorflow" not in sys.modules:
        with stderr_without(_START_UP_NOTICES):
            import tensorflow  # noqa: F401 - imported for its side effect: the libraries load here, once
    return sys.modules["tensorflow"]


def set_threads(threads: int, workers: int) -> int:
    """Give TensorFlow this job's share of the cores; must happen before its first op."""
    tf = import_tensorflow()
    n = threads or max(1, (os.cpu_count() or 1) // max(1, workers))
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(min(2, n))
    except RuntimeError:
        pass  # already initialized by an earlier job in this worker process: same share
    return tf.config.threading.get_intra_op_parallelism_threads() or n


@functools.lru_cache(maxsize=1)  # once per process: later calls would pin earlier jobs' garbage
def freeze_imported_objects() -> None:
    """Move the millions of objects TensorFlow, Keras and MLflow create at import time out of the
    garbage collector's sight. Every full collection walks them otherwise: the interpreter's
    automatic ones during training, and loky's after every sweep job (about 0.4 s each)."""
    import gc

    gc.freeze()


class _Terminated(KeyboardInterrupt):
    """SIGTERM (a kill, a cluster pre-emption) handled like Ctrl-C: the run ends KILLED."""


class _Interrupts:
    """Ctrl-C and SIGTERM raise in the main thread, and are remembered: an exception raised while
    a garbage-collection callback runs (SQLAlchemy registers many) is printed and dropped by
    Python, so training asks `raise_pending` after every batch and the interrupt is not lost."""

    def __init__(self):
        self.pending: KeyboardInterrupt | None = None

    def install(self) -> None:
        self.pending = None
        try:
            signal.signal(signal.SIGTERM, self._handle)
            # Ctrl-C must interrupt even where the parent shell started us with SIGINT ignored.
            signal.signal(signal.SIGINT, self._handle)
            if os.environ.get("SLURM_JOB_ID"):
                # A SLURM job gets SIGUSR2 `signal_delay_s` before its time limit (submitit asks for it):
                # the run ends KILLED now, rather than FAILED by submitit's own handler or SIGKILLed later.
                signal.signal(signal.SIGUSR2, self._handle)
        except ValueError:
            pass  # not the main thread (e.g. a threaded launcher): leave signals to it

    def _handle(self, signum, frame):
        if signum == signal.SIGUSR2:
            self.pending = _Terminated("SLURM's time limit (SIGUSR2: hydra.launcher.timeout_min is near)")
        else:
            self.pending = KeyboardInterrupt() if signum == signal.SIGINT else _Terminated(f"signal {signum}")
        raise self.pending

    def raise_pending(self) -> None:
        if self.pending is not None:
            raise self.pending


_INTERRUPTS = _Interrupts()
install_interrupts = _INTERRUPTS.install


def reuse_key(container: dict[str, Any], initializer: dict[str, Any]) -> str | None:
    """What a compiled model depends on (see train.py): jobs with equal keys may share one; the
    learning rate, seed, epochs and initializer may differ (a reused model gets the job's own
    initial weights copied in, so the initializer only ever decides their values). None with
    dropout or a stochastic activation (RReLU), whose random state is not in the weights."""
    if container["model"].get("dropout") or container["activation"].get("stochastic"):
        return None
    same = {
        "model": container["model"], "activation": container["activation"],
        "dataset": container["dataset"],
        # A number may differ (it is set on the reused optimizer); a schedule may not.
        "optimizer": {k: v for k, v in container["optimizer"].items() if k != "learning_rate" or not isinstance(v, (int, float))},
        "trainer": {k: container["trainer"][k] for k in ("steps_per_execution", "probe_batch", "dead_slope")},
    }
    return json.dumps(same, sort_keys=True, default=str)


@contextlib.contextmanager
def _component(cfg: DictConfig, group: str):
    """Errors raised while a component is imported or built are the user's YAML's: one line that
    names it, before any tracking record exists."""
    from actlab.pipeline.data import DatasetUnavailable

    try:
        yield
    except (ConfigError, DatasetUnavailable, KeyboardInterrupt):
        raise
    except Exception as error:
        message = " ".join(str(error).split())[:300]
        raise ConfigError(f"{config_stage.where(cfg, group)}: {type(error).__name__}: {message}") from None


def _offline_datasets(cfg: DictConfig) -> str:
    dirs = config_stage.config_dirs(cfg)
    return ", ".join(o for o in config_stage.options("dataset", dirs)
                     if not OmegaConf.load(config_stage.option_file("dataset", o, dirs)).get("downloads"))


def build(cfg: DictConfig, seed: int):
    """Data, model and optimizer from the config's components (TensorFlow is imported by now)."""
    from hydra.utils import instantiate

    from actlab.pipeline import model as model_stage
    from actlab.pipeline.activations import activation_layers
    from actlab.pipeline.data import DatasetUnavailable, load_splits

    config_stage.check_targets(cfg)
    container = config_stage.resolved(cfg)
    initializer_name, initializer = config_stage.initializer_config(cfg)
    with _component(cfg, "activation"):
        activation = activation_layers(container["activation"], config_stage.where(cfg, "activation"))
    with _component(cfg, "dataset"):
        try:
            splits = load_splits(container["dataset"], as_images=bool(container["model"].get("images")))
        except DatasetUnavailable as error:
            raise DatasetUnavailable(f"{error} or use an offline dataset: {_offline_datasets(cfg)}") from None
    with _component(cfg, "initializer"):
        parts = model_stage.parts(activation, initializer, bool(container["activation"].get("alpha_dropout")), seed)
    with _component(cfg, "model"):
        model = model_stage.build(container["model"], parts, splits.input_shape, splits.n_classes)
    with _component(cfg, "optimizer"):
        optimizer = instantiate(container["optimizer"], _convert_="all")
    return container, initializer_name, initializer, splits, model, optimizer


def _retry_s(cfg: DictConfig) -> float:
    from actlab.pipeline.track import DEFAULT_RETRY_S

    return float(OmegaConf.select(cfg, "tracking.retry_s", default=DEFAULT_RETRY_S))


def run(cfg: DictConfig, context: RunContext | None = None) -> dict[str, Any]:
    context = context or RunContext()
    config_stage.validate(cfg)
    config_stage.use_user_modules(config_stage.config_dirs(cfg))
    _INTERRUPTS.raise_pending()  # one that arrived since the job's own install (run.py) is not forgotten
    _INTERRUPTS.install()
    with contextlib.ExitStack() as claims:  # a sweep job's claim on its config, released at the end
        return _run(cfg, context, claims)


def _run(cfg: DictConfig, context: RunContext, claims: contextlib.ExitStack) -> dict[str, Any]:
    fingerprint = config_stage.fingerprint(cfg)
    store = None
    if cfg.tracking.enabled and context.skip_finished:
        # In a sweep the store was created before the jobs started: looking costs no new record.
        from actlab.pipeline.track import Store

        store = Store.shared(cfg.tracking.uri, cfg.tracking.experiment, _retry_s(cfg))
        # Another sweep into the same store may be training this config right now: wait for it.
        claims.enter_context(store.claim(fingerprint))
        done = store.find_finished(fingerprint, RESULTS_VERSION)
        if done:
            return {"status": "skipped", "run_id": done, "fingerprint": fingerprint,
                    "reason": f"already finished as run {done} (results version {RESULTS_VERSION})"}

    threads = set_threads(context.threads or cfg.trainer.threads, context.workers)
    import tensorflow as tf

    tf.get_logger().setLevel("ERROR")  # each run compiles its own probe: retracing notices are expected
    from actlab.pipeline.train import fit, seed_job

    freeze_imported_objects()
    seed_job(cfg.seed)
    if timing_stage.enabled(cfg):  # claim 6: every activation timed in rounds, nothing trained
        return _timing_run(cfg, context, store, fingerprint, threads)
    container, initializer_name, initializer, splits, model, optimizer = build(cfg, cfg.seed)
    names = config_stage.names(cfg) | {"initializer": initializer_name}
    trainer = dict(container["trainer"])
    reuse_key_ = reuse_key(container, initializer)
    if trainer["verbose"] == "auto":  # a sweep's jobs leave the console to the sweep's progress
        trainer["verbose"] = 0 if context.in_sweep else 1 if sys.stdout.isatty() else 2

    if not cfg.tracking.enabled:
        result = fit(model, splits, optimizer, trainer, on_epoch=lambda metrics, step: None,
                     check_interrupt=_INTERRUPTS.raise_pending, reuse_key=reuse_key_, seed=cfg.seed)
        summary = {"status": "diverged" if result.diverged_epoch else "finished", "run_id": None, **result.final}
        print(f"finished (tracking disabled) · test_accuracy {summary.get('test_accuracy', float('nan')):.4f}")
        return summary

    if store is None:  # data and model are ready: only now does the run leave a record
        from actlab.pipeline.track import Store

        store = Store.shared(cfg.tracking.uri, cfg.tracking.experiment, _retry_s(cfg))
    from actlab.pipeline.track import git_commit

    # The results version and commit: resume and the report use only runs of this code's version.
    tags = {**names, "config_fingerprint": fingerprint, "seed": str(cfg.seed),
            RESULTS_TAG: str(RESULTS_VERSION), COMMIT_TAG: git_commit()}
    tracked = store.start_run(run_name(names, cfg.seed), tags, context.parent_run_id)
    with contextlib.ExitStack() as failing:
        failing.push(tracked.__exit__)  # an error or Ctrl-C before the run's end: ended FAILED or KILLED
        params = config_stage.flatten(cfg)
        params |= {f"effective.initializer.{k}": v for k, v in initializer.items()} | {"effective.initializer": initializer_name}
        params |= {f"version.{name}": v for name, v in software().items()} | {"git_commit": git_commit(), "threads": threads}
        params |= {f"data.{k}": v for k, v in splits.sizes().items()} | {"data.chance": f"{splits.chance():.6g}"}
        params |= {"model.parameters": model.count_params()}
        # Written by a helper thread while the model trains; the run's end waits for them.
        tracked.aside(tracked.log_params, params)
        tracked.aside(tracked.log_dataset, names["dataset"], splits.digest, _dataset_profile(splits),
                      {"target": container["dataset"]["_target_"]})
        title = run_name(names, cfg.seed)
        result = tracked_fit(tracked, model, splits, optimizer, trainer, title, log_end=False,
                             check_interrupt=_INTERRUPTS.raise_pending, reuse_key=reuse_key_, seed=cfg.seed)
        # What the run's end writes that this thread must read now: the config under this job's
        # Hydra settings, the model's summary (the next job may reuse this compiled model).
        texts = _artifact_texts(cfg, context, model)
        held = claims.pop_all()  # the config's claim is released once the run has ended
        failing.pop_all()

    def end() -> dict[str, Any]:
        with held:
            return _end_run(store, tracked, result, names, cfg.seed, trainer, title, texts, fingerprint, context)

    def when_failed(error: BaseException) -> dict[str, Any]:  # as run.py reports a job's failure
        from actlab.pipeline.track import TrackingUnreachable

        reason = str(error) if isinstance(error, TrackingUnreachable) else f"{type(error).__name__}: {error}"[:500]
        print(f"error: {reason}" if isinstance(error, TrackingUnreachable) else f"error: job failed: {reason}", file=sys.stderr)
        return {"status": "failed", "reason": reason}

    from actlab.pipeline import finish

    return finish.later(end, when_failed)


def _timing_parts(cfg: DictConfig, names_: list[str]):
    """For a timing run: the validation inputs, and builders of each timed function's model and layer."""
    from actlab.pipeline import model as model_stage
    from actlab.pipeline.activations import activation_layers
    from actlab.pipeline.data import DatasetUnavailable, load_splits

    config_stage.check_targets(cfg)
    container = config_stage.resolved(cfg)
    dirs = config_stage.config_dirs(cfg)
    with _component(cfg, "dataset"):
        try:
            splits = load_splits(container["dataset"], as_images=bool(container["model"].get("images")))
        except DatasetUnavailable as error:
            raise DatasetUnavailable(f"{error} or use an offline dataset: {_offline_datasets(cfg)}") from None
    chosen_initializer = container["initializer"] if container["initializer"].get("_target_") else None
    layers: dict[str, tuple[dict[str, Any], Any]] = {}
    for name in names_:
        path = config_stage.option_file("activation", name, dirs)
        where = f"activation={name} ({path})"
        spec = OmegaConf.to_container(OmegaConf.load(path), resolve=True)
        try:
            config_stage.locate(spec.get("_target_"))
        except Exception as error:
            raise ConfigError(f"{where}: _target_ {spec.get('_target_')} cannot be imported: "
                              f"{config_stage._missing_target(str(spec.get('_target_')), error)}") from None
        layers[name] = (spec, activation_layers(spec, where))

    def initializer_of(spec: dict[str, Any]) -> dict[str, Any]:
        if chosen_initializer is not None:
            return chosen_initializer
        path = config_stage.option_file("initializer", spec.get("suggested_initializer", "glorot_uniform"), dirs)
        return OmegaConf.to_container(OmegaConf.load(path), resolve=True)

    def build_model(name: str):
        spec, make = layers[name]
        with _component(cfg, "model"):
            parts = model_stage.parts(make, initializer_of(spec), bool(spec.get("alpha_dropout")), cfg.seed)
            return model_stage.build(container["model"], parts, splits.input_shape, splits.n_classes)

    return splits, build_model, lambda name: layers[name][1]("act_alone")


def _timing_run(cfg: DictConfig, context: RunContext, store, fingerprint: str, threads: int) -> dict[str, Any]:
    """A run of actlab.pipeline.timing: every listed function's model and activation alone, timed in
    interleaved rounds in this one process; per-round times as an artifact, medians as metrics."""
    import gc

    import numpy as np
    import pandas as pd
    import tensorflow as tf

    spec = config_stage.resolved(cfg)["timing"]
    timed = timing_stage.functions(spec["functions"], config_stage.config_dirs(cfg))
    splits, build_model, make_activation = _timing_parts(cfg, timed)
    x = splits.x_val
    inputs = tf.constant(np.resize(x, (spec["batch"], *x.shape[1:])))
    tensor = tf.constant(np.random.default_rng(cfg.seed).standard_normal((spec["batch"], spec["width"])).astype("float32"))
    names_ = config_stage.names(cfg) | {"activation": "(timing)"}
    title = f"timing · {names_['model']} · {len(timed)} functions · {names_['dataset']} · seed {cfg.seed}"

    seconds = {}

    def measure() -> list[dict[str, Any]]:
        started = time.perf_counter()
        prepared = timing_stage.prepare(timed, build_model, make_activation, inputs, tensor, spec["warmup"])
        seconds["cost/timing_prepare_s"] = time.perf_counter() - started
        gc.collect()
        gc.disable()  # a collection inside a timed call would land on whichever function it hit
        started = time.perf_counter()
        try:
            return timing_stage.rounds(prepared, spec["rounds"], spec["calls"], cfg.seed, between=_INTERRUPTS.raise_pending)
        finally:
            gc.enable()
            seconds["cost/timing_rounds_s"] = time.perf_counter() - started

    if not cfg.tracking.enabled:
        rows = measure()
        medians = timing_stage.medians(rows)
        print(f"finished (tracking disabled) · {len(timed)} functions × {spec['rounds']} rounds")
        return {"status": "finished", "run_id": None, "rows": rows, **medians}

    if store is None:
        from actlab.pipeline.track import Store

        store = Store.shared(cfg.tracking.uri, cfg.tracking.experiment, _retry_s(cfg))
    from actlab.pipeline.track import git_commit

    tags = {**names_, "config_fingerprint": fingerprint, "seed": str(cfg.seed), "timing.functions": ", ".join(timed),
            RESULTS_TAG: str(RESULTS_VERSION), COMMIT_TAG: git_commit()}
    with store.start_run(title, tags, context.parent_run_id) as tracked:
        # The run's own activation is not what it timed (`timing.timed` is): its keys are left out.
        params = {k: v for k, v in config_stage.flatten(cfg).items() if not k.startswith("activation.")}
        params |= {"timing.timed": json.dumps(timed), "threads": threads, "git_commit": git_commit()}
        params |= {f"version.{name}": v for name, v in software().items()} | {f"data.{k}": v for k, v in splits.sizes().items()}
        tracked.log_params(params)  # written before the rounds: no helper thread runs while they are timed
        rows = measure()
        elapsed = sum(seconds.values())
        medians = timing_stage.medians(rows)
        tracked.log_steps([(key, value, 0) for key, value in (medians | seconds).items()])
        table = pd.DataFrame(rows)
        ratio = {level: medians.get(f"{prefix}elu", np.nan) / medians[f"{prefix}relu"] for level, prefix in timing_stage.METRIC_PREFIX.items()}
        tracked.set_tags({"mlflow.note.content": f"{title}: {spec['rounds']} interleaved rounds in {elapsed:.0f} s; median time "
                          f"ELU / ReLU {ratio['model']:.3g} (model), {ratio['alone']:.3g} (activation alone)"})
        with tempfile.TemporaryDirectory() as tmp:
            table.to_csv(Path(tmp) / timing_stage.ARTIFACT, index=False)
            from actlab.pipeline import redact

            (Path(tmp) / "config.yaml").write_text(OmegaConf.to_yaml(OmegaConf.create(redact.tree(config_stage.resolved(cfg)))))
            tracked.log_artifacts(Path(tmp))
    if not context.in_sweep:
        from actlab.pipeline.track import ui_command

        print(f"run {tracked.run_id} · {tracked.status.lower()} · {len(timed)} functions × {spec['rounds']} rounds · "
              f"{ui_command(store.uri)} · then open {store.ui_url()}")
    return {"status": "finished", "run_id": tracked.run_id, "fingerprint": fingerprint, "timing_s": elapsed}


def _end_run(store, tracked, result, names: dict[str, str], seed: int, trainer: dict[str, Any], title: str,
             texts: dict[str, str], fingerprint: str, context: RunContext) -> dict[str, Any]:
    """The run's end: summaries, heatmaps, tags, artifacts; then the run is ended, FINISHED only
    if all of it was written (inline, or on the run-end writer: actlab.pipeline.finish)."""
    with tracked:
        log_run_end(tracked, result, title)
        status = "finished"
        if result.diverged_epoch is not None:
            # Kept, as FAILED, with the epoch where the loss stopped being finite.
            tracked.status = "FAILED"
            tracked.set_tags({"diverged": "true", "diverged_epoch": result.diverged_epoch})
            status = "diverged"
        tracked.set_tags({"mlflow.note.content": result_line(names, seed, status, result, trainer["target_fraction"])})
        with tempfile.TemporaryDirectory() as tmp:
            _write_artifacts(Path(tmp), names, seed, texts, result)
            tracked.log_artifacts(Path(tmp))

    from actlab.pipeline.track import ui_command

    accuracy = result.final.get("test_accuracy", float("nan"))
    if not context.in_sweep:  # a sweep prints one progress line per job instead (actlab.pipeline.console)
        print(f"run {tracked.run_id} · {status} · test_accuracy {accuracy:.4f} · {ui_command(store.uri)} · then open {store.ui_url()}")
    summary = {"status": status, "run_id": tracked.run_id, "fingerprint": fingerprint, **result.final}
    if result.diverged_epoch is not None:
        summary["reason"] = f"diverged: the loss stopped being finite in epoch {result.diverged_epoch}"
    return summary


def tracked_fit(tracked, model, splits, optimizer, trainer: dict[str, Any], title: str, log_end: bool = True, **fit_options):
    """`train.fit` with every metric and image of the run sent to `tracked`. The run page lists
    metrics in the order they were first written: learning curves go out as each epoch ends; the
    summaries, depth profiles and per-layer series (held until then), and the heatmaps, at the end
    (`log_run_end`; here, unless `log_end` is False)."""
    from actlab.pipeline import metric_keys
    from actlab.pipeline.train import fit

    layer_rows: list[tuple[str, float, int]] = []

    def on_epoch(metrics: dict[str, float], step: int) -> None:
        curves, layers = metric_keys.split_epoch_metrics(metrics)
        if curves:
            tracked.log_metrics(curves, step)
        layer_rows.extend((key, value, step) for key, value in layers.items())

    result = fit(model, splits, optimizer, trainer, on_epoch=on_epoch, **fit_options)
    result.layer_series = layer_rows
    if log_end:
        log_run_end(tracked, result, title)
    return result


def log_run_end(tracked, result, title: str) -> None:
    """The summaries, depth profiles, per-layer series and heatmaps of a fitted run."""
    from actlab.pipeline import metric_keys

    start = time.perf_counter()
    # Summaries at step 0: the chart view draws a metric with one value at step 0 as bars.
    tracked.log_metrics(metric_keys.summary_metrics(result.final), step=0)
    tracked.log_steps(_depth_profiles(result.layer_table))
    tracked.log_steps(result.layer_series)
    _log_heatmaps(tracked, result.layer_table, title)
    result.summary_logging_s = time.perf_counter() - start  # for the benchmark


def result_line(names: dict[str, str], seed: int, status: str, result, target_fraction: float) -> str:
    """The run's result in one line: its MLflow description."""
    what = run_name(names, seed)
    final = result.final
    if status == "diverged":
        return f"{what}: diverged (the loss stopped being finite in epoch {result.diverged_epoch})"
    if "test_accuracy" not in final:
        return f"{what}: {status}, no validation accuracy to select an epoch"
    return (f"{what}: test accuracy {final['test_accuracy']:.4f} with the weights of epoch {final['best_epoch']} of "
            f"{len(result.history)} (best validation {final['best_val_accuracy']:.4f}); "
            f"{final['epochs_to_target']} epoch(s) to reach {target_fraction:.0%} of it")


def _dataset_profile(splits) -> dict[str, Any]:
    return {**splits.sizes(), "input_shape": list(splits.input_shape), "classes": splits.n_classes}


def _depth_profiles(layer_table: list[dict[str, Any]]) -> list[tuple[str, float, int]]:
    """Each statistic against depth (step = hidden layer) at initialization and after the last
    probed epoch: one chart in the UI shows every run's profile."""
    from actlab.pipeline import metric_keys
    from actlab.pipeline.probe import STATISTICS

    if not layer_table:
        return []
    last = max(row["step"] for row in layer_table)
    rows = []
    for phase, step in zip(metric_keys.DEPTH_PHASES, (0, last)):
        rows += [(metric_keys.depth_profile(stat, phase), row[stat], row["layer"])
                 for row in layer_table if row["step"] == step for stat in STATISTICS]
    return rows


def _log_heatmaps(tracked, layer_table: list[dict[str, Any]], title: str) -> None:
    from actlab.figures import layer_heatmaps
    from actlab.pipeline import metric_keys
    from actlab.pipeline.probe import STATISTICS

    if not layer_table:
        return
    last = max(row["step"] for row in layer_table)
    for stat, image in zip(STATISTICS, layer_heatmaps(layer_table, STATISTICS, title)):
        tracked.log_image(metric_keys.heatmap(stat), image, step=last)


def _artifact_texts(cfg: DictConfig, context: RunContext, model) -> dict[str, str]:
    """The run's text artifacts (secrets written as ***), read now: the next job changes Hydra's
    config and may reuse this compiled model."""
    from actlab.pipeline import redact

    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    return {"config.yaml": OmegaConf.to_yaml(OmegaConf.create(redact.tree(config_stage.resolved(cfg)))),
            "overrides.yaml": OmegaConf.to_yaml(OmegaConf.create(redact.overrides(context.overrides))),
            "model_summary.txt": "\n".join(lines) + "\n"}


def _write_artifacts(directory: Path, names: dict[str, str], seed: int, texts: dict[str, str], result) -> None:
    import pandas as pd

    from actlab.figures import learning_curve

    for name, text in texts.items():
        (directory / name).write_text(text)
    pd.DataFrame(result.layer_table).to_csv(directory / "layer_stats.csv", index=False)
    if result.history:
        learning_curve(result.history, run_name(names, seed),
                       directory / "learning_curve.png")
