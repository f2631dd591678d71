"""The names of what a run logs to MLflow, in one place (docs/runs.md's table of keys is checked against it).

The MLflow UI groups charts into sections by the part of a key before its first `/`, sorted
alphabetically, so the prefixes put first what a user looks at first:

  best/          the validation-selected epoch: test accuracy, ...  (step 0: one bar per run)
  convergence/   how fast validation accuracy rose                     (step 0)
  cost/          training and inference time                           (step 0)
  curves/        learning curves, one point per epoch                  (step = epoch)
  depth_init/    each statistic against depth, at initialization       (step = hidden layer)
  depth_trained/ the same after the last epoch                         (step = hidden layer)
  heatmaps/      layer x epoch images, one per statistic               (images)
  layer_<stat>/  one statistic of one layer over the epochs            (step = epoch)

Inside the harness (FitResult.final, the report's tables, the claims) summaries keep their short
names (`test_accuracy`); they become MLflow keys here, on the way out, and back in the report.
"""

from __future__ import annotations

import math

# Short name -> MLflow key of every summary of a run (logged once, at step 0).
SUMMARY = {
    "test_accuracy": "best/test_accuracy",
    "best_val_accuracy": "best/val_accuracy",
    "test_loss": "best/test_loss",
    "train_accuracy": "best/train_accuracy",
    "generalization_gap": "best/generalization_gap",
    "best_epoch": "best/epoch",
    "epochs_to_target": "convergence/epochs_to_target",
    "val_accuracy_auc": "convergence/val_accuracy_auc",
    "train_time_s": "cost/train_time_s",
    "inference_ms": "cost/inference_ms",
}
SHORT = {key: short for short, key in SUMMARY.items()}
CURVE_PREFIX = "curves/"
DEPTH_PHASES = ("init", "trained")
SIGNIFICANT_DIGITS = 6

# What each key means, for docs/runs.md's table (key pattern -> meaning).
DESCRIPTIONS = {
    "best/test_accuracy": "test accuracy of the validation-selected weights (the test split is read once)",
    "best/val_accuracy": "best validation accuracy over the epochs (selects the weights tested)",
    "best/test_loss": "test loss of those weights",
    "best/train_accuracy": "training accuracy at the selected epoch",
    "best/generalization_gap": "training minus validation accuracy at the selected epoch",
    "best/epoch": "the selected epoch",
    "convergence/epochs_to_target": "epochs until validation accuracy first reached trainer.target_fraction of its best",
    "convergence/val_accuracy_auc": "mean validation accuracy over the epochs (higher = faster convergence)",
    "cost/train_time_s": "wall time of `fit`, seconds",
    "cost/inference_ms": "median time of one forward pass over 1,024 inputs (when trainer.latency_repeats > 0)",
    "cost/timing_prepare_s": "a timing run (claim 6): seconds to build, compile and warm up every function's model and layer",
    "cost/timing_rounds_s": "a timing run: seconds of its interleaved rounds",
    "timing_model_ms/<function>": "a timing run: the function's median time (ms) over the rounds, the network's forward pass over 1,024 inputs",
    "timing_alone_ms/<function>": "a timing run: the same for the activation alone on a fixed 1,024 x 256 tensor",
    "curves/{loss,accuracy,val_loss,val_accuracy,epoch_time_s}": "learning curves, step = epoch",
    "depth_init/<stat>": "a statistic against depth at initialization: step = hidden layer (1 = first)",
    "depth_trained/<stat>": "the same after the last epoch",
    "heatmaps/<stat>": "image: the statistic for every layer (rows) and epoch (columns, 0 = init)",
    "layer_<stat>/<NN>": "one layer's statistic over the epochs: step = epoch, 0 = init",
}


def curve(name: str) -> str:
    return CURVE_PREFIX + name


def layer_prefix(statistic: str) -> str:
    return f"layer_{statistic}/"


def layer_series(statistic: str, layer: int) -> str:
    return f"{layer_prefix(statistic)}{layer:02d}"


def depth_profile(statistic: str, phase: str) -> str:
    return f"depth_{phase}/{statistic}"


def heatmap(statistic: str) -> str:
    return f"heatmaps/{statistic}"


def split_epoch_metrics(metrics: dict[str, float]) -> tuple[dict[str, float], dict[str, float]]:
    """An epoch's metrics as logged: (Keras's loss, val_accuracy, ... under curves/, the probe's
    per-layer series, already named by `layer_series`)."""
    curves = {curve(key): value for key, value in metrics.items() if not key.startswith("layer_")}
    return curves, {key: value for key, value in metrics.items() if key.startswith("layer_")}


def summary_metrics(final: dict[str, float]) -> dict[str, float]:
    """The run's summaries under their keys, in SUMMARY's order (the run page keeps it)."""
    return {SUMMARY[name]: final[name] for name in SUMMARY if name in final} | {
        name: value for name, value in final.items() if name not in SUMMARY}


def rounded(value: float) -> float:
    """`value` to SIGNIFICANT_DIGITS significant digits (0.8773333430290222 -> 0.877333): what the
    UI shows and the report reads; finer digits are noise from float32 arithmetic."""
    value = float(value)
    if not math.isfinite(value) or value == 0.0:
        return value
    return float(f"{value:.{SIGNIFICANT_DIGITS}g}")


def docs_table() -> str:
    """The Markdown table of keys that docs/runs.md shows (tests/test_track.py checks it is there)."""
    lines = ["| Key | Meaning |", "|---|---|"]
    lines += [f"| `{key}` | {meaning} |" for key, meaning in DESCRIPTIONS.items()]
    return "\n".join(lines)
