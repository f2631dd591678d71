"""Speed benchmark: the harness against plain Keras, as ratios measured side by side in one run.

    python -m actlab.devtools.benchmark                  # ~15 minutes on 2 cores -> results/BENCHMARK.md
    python -m actlab.devtools.benchmark --repeats 9      # more repeats, tighter medians

The two sides are interleaved, taking turns to go first (A B, B A, …) so that drift of the machine and
place in the order hit both alike, and each ratio is the median of the per-repeat ratios A/B with a
95% bootstrap interval: on this machine run-to-run noise is a few percent, the size of the tightest
target. A target is met when the median meets it.
Absolute seconds (medians) are shown too, but the targets are ratios.
Not part of the test suite: timings are measured here, never asserted in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from actlab import PROJECT_ROOT
from actlab.stats import median_ci

PYTHON = sys.executable
QUIET = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def _timed(args: list[str], cwd: Path = PROJECT_ROOT) -> float:
    start = time.perf_counter()
    done = subprocess.run(args, cwd=cwd, env=QUIET, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return time.perf_counter() - start


def _in_turn(sides: list, repeat: int) -> list:
    """The sides of a comparison, interleaved and each repeat starting with the next one, so that
    neither drift of the machine nor a place in the order (after a run that left work behind, say)
    favours one side."""
    shift = repeat % len(sides)
    return sides[shift:] + sides[:shift]


def _ratio_row(figure: str, ours: list[float], baseline: list[float], target: str | None = None,
               met=None, faster: bool = False) -> dict:
    """A row comparing two interleaved series by the median of their paired ratios, with its 95%
    bootstrap interval; `faster` rows show baseline/ours (a speed-up)."""
    ratio = median_ci([b / a if faster else a / b for a, b in zip(ours, baseline)])
    return {"figure": figure, "ours": statistics.median(ours), "baseline": statistics.median(baseline),
            "ratio": ratio.median, "interval": (ratio.low, ratio.high), "target": target or "(context)",
            "ok": None if met is None else met(ratio.median)}


def whole_process(model: str, repeats: int, tmp: Path) -> list[dict]:
    ours = [PYTHON, "-m", "run", f"model={model}", "trainer.epochs=10", "trainer.verbose=0",
            f"tracking.uri=sqlite:///{tmp / 'bench.db'}", f"hydra.run.dir={tmp / 'hydra'}"]
    bare = [PYTHON, "-m", "actlab.devtools.bare_keras", model, "10"]
    same_io = [*bare, "--same-io"]
    _timed(ours)  # creates the database once, as a user's first run does; not counted
    times: dict[str, list[float]] = {"ours": [], "bare": [], "same_io": []}
    sides = [("ours", ours), ("bare", bare), ("same_io", same_io)]
    for repeat in range(repeats):
        for key, args in _in_turn(sides, repeat):
            times[key].append(_timed(args))
    return [
        _ratio_row(f"one run, whole process, `{model}` on mnist_5k, 10 epochs", times["ours"], times["bare"],
                   "≤ 1.15×", lambda r: r <= 1.15),
        _ratio_row("… the same against a bare script with the harness's data reading and exit (`--same-io`): "
                   "what Hydra, MLflow and the probe cost", times["ours"], times["same_io"]),
    ]


def _paired_fits(model: str, repeats: int, db: Path) -> tuple[list[float], list[float], dict[str, float]]:
    """In this process: our fit (probe + MLflow logging every epoch) and the same `model.fit`
    without them, interleaved; and the CPU time per fit of the probe's helper thread, the weight
    copies it works on and the MLflow writer thread (counted by the harness itself)."""
    import gc

    import keras

    from actlab.pipeline.config import compose
    from actlab.pipeline.runner import build, tracked_fit
    from actlab.pipeline.track import Store
    from actlab.pipeline.train import batches

    cfg = compose([f"model={model}", "trainer.epochs=10", "trainer.verbose=0", "activation=relu", "initializer=he_normal"])
    store = Store(f"sqlite:///{db}", "bench")
    cpu = {"probe": 0.0, "weight copies": 0.0, "MLflow writes": 0.0, "run's end (wall)": 0.0}

    def fresh():
        keras.backend.clear_session()  # each repeat starts from the same state (not timed)
        gc.collect()
        return build(cfg, seed=0)

    def ours() -> float:
        container, _, _, splits, net, optimizer = fresh()
        start = time.perf_counter()
        with store.start_run("bench", {}) as run:
            result = tracked_fit(run, net, splits, optimizer, container["trainer"], "bench")
        for key, seconds in result.probe_cpu_s.items():
            cpu[key] += seconds
        cpu["MLflow writes"] += run.writer_cpu_s
        cpu["run's end (wall)"] += result.summary_logging_s
        # Everything the run does but the test evaluation: the fit, then its summaries, depth
        # profiles, per-layer series and heatmaps, and the wait for the metric writer to finish.
        return time.perf_counter() - start - result.evaluate_s

    def bare() -> float:
        container, _, _, splits, net, optimizer = fresh()
        trainer = container["trainer"]
        net.compile(optimizer=optimizer, loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                    steps_per_execution=trainer["steps_per_execution"])
        start = time.perf_counter()
        net.fit(batches(splits.x_train, splits.y_train, trainer["batch_size"], shuffle_seed=0),  # the same input pipeline
                validation_data=batches(splits.x_val, splits.y_val, trainer["batch_size"]), epochs=10, verbose=0, shuffle=False)
        return time.perf_counter() - start

    ours(), bare()  # warm-up: tracing, first database connection
    cpu = dict.fromkeys(cpu, 0.0)
    a, b = [], []
    for repeat in range(repeats):
        for times, side in _in_turn([(a, ours), (b, bare)], repeat):
            times.append(side())
    return a, b, {key: seconds / repeats for key, seconds in cpu.items()}


def probe_and_logging(model: str, repeats: int, tmp: Path) -> list[dict]:
    """Our fit vs the same model.fit without probe and MLflow, in a process of its own."""
    done = subprocess.run([PYTHON, "-m", "actlab.devtools.benchmark", "--paired-fits", model, str(repeats), str(tmp / "probe.db")],
                          cwd=PROJECT_ROOT, env=QUIET, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(done.stderr[-3000:])
    ours, bare, cpu = json.loads(done.stdout.strip().splitlines()[-1])
    where = ", ".join(f"{key} {seconds * 1000:.0f} ms" for key, seconds in cpu.items())
    return [
        _ratio_row(f"probe + MLflow logging per epoch, `{model}` fit of 10 epochs", ours, bare, "≤ 1.05×", lambda r: r <= 1.05),
        {"figure": "… where it goes: CPU time per fit of the probe (its helper thread: one trace, then 11 calls), "
                   "the weight copies it works on, the MLflow writer thread, and the wall time of the run's end "
                   "(summaries, depth profiles, per-layer series and heatmaps queued and drawn)", "note": where,
         "ours": None, "baseline": None, "ratio": None, "target": "(context)", "ok": None},
    ]


def help_time(repeats: int) -> dict:
    times = [_timed([PYTHON, "-m", "run", "--help"]) for _ in range(repeats)]
    median = statistics.median(times)
    return {"figure": "`python -m run --help`", "ours": median, "baseline": None, "ratio": None,
            "target": "< 2 s", "ok": median < 2.0}


def _jobs_span(db: Path) -> float:
    """Seconds from the first job's MLflow start to the last job's end: the sweep without the
    process start-up (imports, store) and shut-down that both launchers pay once."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    runs = [r for r in client.search_runs([e.experiment_id for e in client.search_experiments()])
            if "mlflow.parentRunId" in r.data.tags]
    return (max(r.info.end_time for r in runs) - min(r.info.start_time for r in runs)) / 1000


SWEEP_ACTIVATIONS, SWEEP_SEEDS = ("relu", "tanh", "elu", "selu"), (0, 1)


def sweep_speedup(repeats: int, tmp: Path) -> list[dict]:
    """8 default runs (mlp, 10 epochs): joblib with 2 workers vs the basic launcher (one process,
    jobs one after another), and vs 8 separate commands."""
    grid = [f"activation={','.join(SWEEP_ACTIVATIONS)}", f"seed={','.join(map(str, SWEEP_SEEDS))}"]
    common = [PYTHON, "-m", "run", "-m", *grid, "trainer.verbose=0"]
    whole: dict[str, list[float]] = {"seq": [], "par": [], "paired": [], "separate": []}
    jobs: dict[str, list[float]] = {"seq": [], "par": [], "paired": []}
    joblib = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    launchers = [("seq", []), ("par", joblib), ("paired", [*joblib, f"hydra.launcher.batch_size={len(SWEEP_SEEDS)}"])]
    for repeat in range(repeats):
        for key, launcher in _in_turn(launchers, repeat):
            db = tmp / f"{key}{repeat}.db"
            whole[key].append(_timed([*common, *launcher, f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp / f'{key}{repeat}'}"]))
            jobs[key].append(_jobs_span(db))
        start = time.perf_counter()
        for activation in SWEEP_ACTIVATIONS:
            for seed in SWEEP_SEEDS:
                _timed([PYTHON, "-m", "run", f"activation={activation}", f"seed={seed}", "trainer.verbose=0",
                        f"tracking.uri=sqlite:///{tmp / f'separate{repeat}.db'}", f"hydra.run.dir={tmp / 'separate'}"])
        whole["separate"].append(time.perf_counter() - start)
    seq, seq_jobs = statistics.median(whole["seq"]), statistics.median(jobs["seq"])
    # Start-up and exit (imports, a new MLflow store, the sweep's parent run) are paid once by either
    # launcher, so even jobs that scaled perfectly on 2 workers would give at most this ratio.
    fixed = seq - seq_jobs
    best = (fixed + seq_jobs) / (fixed + seq_jobs / 2)
    return [
        _ratio_row("sweep of 8 default runs (mlp, 10 epochs; 4 activations × 2 seeds): joblib with 2 workers "
                   "vs the basic launcher (one process, one job after another), whole command",
                   whole["par"], whole["seq"], "≥ 1.6× faster", lambda r: r >= 1.6, faster=True),
        _ratio_row("… the same, first job's start to last job's end (without start-up and exit, paid once by either launcher)",
                   jobs["par"], jobs["seq"], faster=True),
        {"figure": f"… the most any 2-worker launcher could reach on this sweep: start-up and exit S = {fixed:.1f} s, "
                   f"jobs J = {seq_jobs:.1f} s one after another, (S + J) / (S + J/2)",
         "ours": None, "baseline": None, "ratio": best, "target": "(context)", "ok": None},
        _ratio_row(f"… joblib with `hydra.launcher.batch_size={len(SWEEP_SEEDS)}`: each worker gets an activation's seeds "
                   f"together and trains them on one compiled model (jobs {statistics.median(jobs['paired']):.1f} s)",
                   whole["paired"], whole["seq"], faster=True),
        _ratio_row("… the same 8 jobs as 8 separate `python -m run` commands one after another, each paying its start-up",
                   whole["par"], whole["separate"], faster=True),
    ]


def peak_memory(tmp: Path) -> dict:
    # Measured by a process whose only child is the run: this process's own RUSAGE_CHILDREN peak
    # is the largest of every child so far (the in-process fits above reach ~2 GB).
    run = [PYTHON, "-m", "run", "model=deep_mlp", "trainer.epochs=10", "trainer.verbose=0",
           f"tracking.uri=sqlite:///{tmp / 'mem.db'}", f"hydra.run.dir={tmp / 'hydra'}"]
    measure = ("import resource, subprocess, sys; subprocess.run(sys.argv[1:], check=True, capture_output=True); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
    done = subprocess.run([PYTHON, "-c", measure, *run], cwd=PROJECT_ROOT, env=QUIET, capture_output=True, text=True, check=True)
    peak_gb = int(done.stdout.split()[-1]) / 2**20
    return {"figure": "peak memory (max RSS) of one `deep_mlp` run", "ours": peak_gb, "baseline": None, "ratio": None,
            "target": "≤ 1.5 GB", "ok": peak_gb <= 1.5, "unit": "GB"}


def claims_time(profile: str) -> dict:
    report = PROJECT_ROOT / ("results/REPORT.md" if profile == "full" else "results/quick/REPORT.md")
    line = next((row for row in report.read_text().splitlines() if row.startswith("- **Wall time:**")), "") if report.exists() else ""
    limit_min = 30 if profile == "full" else 5
    note = line.replace("- **Wall time:**", "").strip()
    found = re.fullmatch(r"experiments ([\d.]+) min \+ report (\d+) s", note)
    total_min = float(found[1]) + int(found[2]) / 60 if found else None
    return {"figure": f"whole claims report, `{profile}` profile (from {report.relative_to(PROJECT_ROOT)})",
            "ours": None, "baseline": None, "ratio": None, "target": f"≤ {limit_min} min",
            "ok": None if total_min is None else total_min <= limit_min, "note": note or "not run yet"}


def _fmt(value, unit: str = "s") -> str:
    return "—" if value is None else f"{value:.2f} {unit}"


def write(rows: list[dict], path: Path, seconds: float) -> None:
    from importlib.metadata import version

    from actlab.reporting.claims_report import _machine

    lines = [
        "# Speed benchmark",
        "",
        f"Measured by `python -m actlab.devtools.benchmark` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, in {seconds / 60:.1f} min.",
        f"Machine: {_machine()}. Python {platform.python_version()}, tensorflow {version('tensorflow')}, "
        f"keras {version('keras')}, mlflow {version('mlflow')}.",
        "",
        "| figure | harness | baseline | ratio [95% interval] | target | met |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        unit = row.get("unit", "s")
        ratio = "—" if row["ratio"] is None else f"{row['ratio']:.2f}×"
        if row.get("interval"):
            ratio += " [{:.2f}, {:.2f}]".format(*row["interval"])
        ours = row.get("note") or _fmt(row["ours"], unit)
        met = {True: "yes", False: "**no**", None: "—" if row["target"] == "(context)" else "see note"}[row["ok"]]
        lines.append(f"| {row['figure']} | {ours} | {_fmt(row['baseline'])} | {ratio} | {row['target']} | {met} |")
    lines += ["", "Baselines: a bare Keras script (`python -m actlab.devtools.bare_keras`) with the same data, model, batch size "
              "and epochs, fed numpy arrays as a user would write it; for the per-epoch figure, the same `model.fit` "
              "(same input pipeline) in the same process without probe and MLflow callbacks; for the sweep, Hydra's basic launcher "
              "(jobs one after another in one process).",
              "", "Ratios are the median of the per-repeat ratios (the two sides run interleaved, taking turns to go first), with a 95% bootstrap "
              "interval; the harness and baseline columns are medians of seconds. A target is met when the median meets it."]
    path.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "results" / "BENCHMARK.md")
    parser.add_argument("--paired-fits", nargs=3, metavar=("MODEL", "REPEATS", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.paired_fits:  # the in-process part of probe_and_logging, in its own process
        model, repeats, db = args.paired_fits
        print(json.dumps(_paired_fits(model, int(repeats), Path(db))))
        return
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="actlab-bench-"))
    try:
        rows = []
        for step in (lambda: help_time(5), lambda: whole_process("mlp", args.repeats, tmp),
                     lambda: whole_process("deep_mlp", args.repeats, tmp),
                     # In-process fits are cheap to repeat, and the 5% target needs the tighter interval.
                     lambda: probe_and_logging("deep_mlp", 3 * args.repeats, tmp), lambda: probe_and_logging("mlp", 3 * args.repeats, tmp),
                     lambda: sweep_speedup(max(3, args.repeats // 3), tmp), lambda: peak_memory(tmp),
                     lambda: claims_time("quick"), lambda: claims_time("full")):
            result = step()
            for row in result if isinstance(result, list) else [result]:
                print(row, flush=True)
                rows.append(row)
        write(rows, args.out, time.perf_counter() - start)
        print(f"written: {args.out}")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
