"""The golden run: one tiny, seeded, single-threaded run whose numbers stand for this results version.

    PYTHONPATH=src python tests/golden_run.py            # print this code's numbers (JSON)
    PYTHONPATH=src python tests/golden_run.py --write    # regenerate tests/golden_run.json

tests/test_golden_run.py runs it and compares its numbers with tests/golden_run.json: a change that
alters them alters what every run computes, so it must bump `RESULTS_VERSION` (src/actlab/version.py)
and regenerate the golden. `--write` refuses to replace a golden of the same results version with
different numbers (bump first; `--force` if the difference is deliberate and not a new version,
e.g. the golden was made on another CPU).

The numbers are read from what the run hands back and writes, not from MLflow metric names: the
summary `run()` returns, each epoch's history (`fit`'s result), and the layer_stats.csv artifact.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "golden_run.json"
COMMAND = "PYTHONPATH=src python tests/golden_run.py --write"
# Seconds on digits; one thread, so the sums run in one order whatever the machine's core count.
OVERRIDES = ["dataset=digits", "model=mlp", "model.depth=3", "model.width=32", "activation=selu",
             "trainer.epochs=2", "trainer.verbose=0", "trainer.probe_batch=64", "trainer.threads=1", "seed=0"]
NOT_COMPARED = ("train_time_s", "epoch_time_s", "inference_ms")  # wall times: never the same twice


def measure() -> dict[str, float]:
    """The run's numbers, flat: `summary.test_accuracy`, `epoch2.val_loss`, `layers.step1.layer2.act_std`."""
    import pandas as pd
    from mlflow import MlflowClient

    from actlab.pipeline.config import compose
    from actlab.pipeline.runner import run, set_threads

    set_threads(1, 1)  # before TensorFlow's first op (importing actlab.pipeline.train builds Keras)
    import actlab.pipeline.train as train

    fits = []
    real_fit = train.fit

    def recording_fit(*args, **kwargs):
        result = real_fit(*args, **kwargs)
        fits.append(result)
        return result

    train.fit = recording_fit  # the runner imports `fit` from the module at call time
    with tempfile.TemporaryDirectory(prefix="actlab-golden-") as tmp:
        uri = f"sqlite:///{Path(tmp) / 'mlflow.db'}"
        summary = run(compose([*OVERRIDES, f"tracking.uri={uri}", "tracking.experiment=golden"]))
        if summary["status"] != "finished":
            raise SystemExit(f"error: the golden run did not finish: {summary}")
        path = MlflowClient(uri).download_artifacts(summary["run_id"], "layer_stats.csv", tmp)
        layers = pd.read_csv(path)
    numbers: dict[str, float] = {}
    for key, value in summary.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and key not in NOT_COMPARED:
            numbers[f"summary.{key}"] = float(value)
    (result,) = fits
    for epoch, metrics in enumerate(result.history, start=1):
        for key, value in metrics.items():
            if key not in NOT_COMPARED:
                numbers[f"epoch{epoch}.{key}"] = float(value)
    for _, row in layers.iterrows():
        for column in layers.columns:
            if column not in ("step", "layer"):
                numbers[f"layers.step{int(row['step'])}.layer{int(row['layer'])}.{column}"] = float(row[column])
    return numbers


def made_with() -> dict[str, str]:
    from importlib.metadata import version

    cpu = platform.processor() or platform.machine()
    try:
        cpu = next(line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                   if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    return {"python": platform.python_version(), "cpu": cpu,
            **{name: version(name) for name in ("tensorflow", "keras", "numpy", "scikit-learn")}}


def differences(golden: dict[str, float], measured: dict[str, float], rel: float = 1e-5, abs_: float = 1e-7) -> list[str]:
    """One line per number that is missing, new, or further from the golden than the tolerance
    (NaN equals NaN: e.g. a statistic undefined in both)."""
    lines = [f"{key}: in the golden, not produced any more" for key in golden if key not in measured]
    lines += [f"{key}: produced, not in the golden" for key in measured if key not in golden]
    for key in golden.keys() & measured.keys():
        a, b = golden[key], measured[key]
        if not ((math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=rel, abs_tol=abs_)):
            lines.append(f"{key}: golden {a!r}, now {b!r}")
    return sorted(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help=f"regenerate {GOLDEN.relative_to(ROOT)}")
    parser.add_argument("--force", action="store_true", help="with --write: replace a golden of the same results version")
    args = parser.parse_args(argv)
    from actlab.pipeline.version import RESULTS_VERSION

    numbers = measure()
    if not args.write:
        print(json.dumps(numbers, sort_keys=True))
        return 0
    if GOLDEN.exists() and not args.force:
        old = json.loads(GOLDEN.read_text())
        changed = differences(old["numbers"], numbers)
        if old["results_version"] == RESULTS_VERSION and changed:
            print(f"error: the numbers changed ({len(changed)} differ, e.g. {changed[0]}) but RESULTS_VERSION is still "
                  f"{RESULTS_VERSION}, the golden's: bump it in src/actlab/version.py first (or --force if this is "
                  "not a new version of the results, e.g. the golden was made on another CPU)", file=sys.stderr)
            return 1
    golden = {"results_version": RESULTS_VERSION, "regenerate": COMMAND, "overrides": OVERRIDES,
              "made_with": made_with(), "numbers": numbers}
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n")
    print(f"written: {GOLDEN} ({len(numbers)} numbers, results version {RESULTS_VERSION})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
