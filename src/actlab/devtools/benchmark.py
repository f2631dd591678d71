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


def whole_process(model: str, repeats: int, tmp: Path, previous: Path | None = None) -> list[dict]:
    ours = [PYTHON, "-m", "run", f"model={model}", "trainer.epochs=10", "trainer.verbose=0",
            f"tracking.uri=sqlite:///{tmp / 'bench.db'}", f"hydra.run.dir={tmp / 'hydra'}"]
    bare = [PYTHON, "-m", "actlab.devtools.bare_keras", model, "10"]
    same_io = [*bare, "--same-io"]
    before = [_worktree_python(previous), *ours[1:-2], f"tracking.uri=sqlite:///{tmp / 'before.db'}",
              f"hydra.run.dir={tmp / 'hydra-before'}"] if previous else None
    _timed(ours)  # creates the database once, as a user's first run does; not counted
    if before:
        _timed(before, cwd=previous)
    times: dict[str, list[float]] = {"ours": [], "bare": [], "same_io": [], "previous": []}
    sides = [("ours", ours), ("bare", bare), ("same_io", same_io)] + ([("previous", before)] if before else [])
    for repeat in range(repeats):
        for key, args in _in_turn(sides, repeat):
            times[key].append(_timed(args, cwd=previous if key == "previous" else PROJECT_ROOT))
    rows = [
        _ratio_row(f"one run, whole process, `{model}` on mnist_5k, 10 epochs", times["ours"], times["bare"],
                   "≤ 0.9×", lambda r: r <= 0.9),
        _ratio_row("… the same against a bare script with the harness's data reading and exit (`--same-io`): "
                   "what Hydra, MLflow and the probe cost", times["ours"], times["same_io"]),
    ]
    if before:
        rows += [_ratio_row(f"… the previous code ({previous.name}) against the same bare script", times["previous"], times["bare"]),
                 _ratio_row("… this code against the previous code", times["ours"], times["previous"])]
    return rows


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


SIXTEEN_JOBS = ["activation=relu,tanh,elu,selu", "seed=0,1,2,3", "dataset=mnist_5k", "model=mlp", "trainer.epochs=5",
               "trainer.verbose=0", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]


def _worktree_python(worktree: Path) -> str:
    venv = worktree / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else PYTHON


def sweep_against_keras(repeats: int, tmp: Path, previous: Path | None = None) -> list[dict]:
    """A 16-job sweep of short jobs, the claims' kind (4 activations x 4 seeds, mlp, 5 epochs, joblib with 2 workers)
    against the loop a user would write in plain Keras (2 processes, each importing TensorFlow once
    and training its 8 jobs, a fresh model per job); with `previous` (a worktree of older code, with
    its own .venv), the same sweep by that code too, interleaved with the other two."""
    bare = [PYTHON, "-m", "actlab.devtools.bare_keras", "--sweep", "mlp", "5", "relu,tanh,elu,selu", "0,1,2,3", "2"]
    sides = [("ours", PROJECT_ROOT), ("bare", None)] + ([("previous", previous)] if previous else [])
    times: dict[str, list[float]] = {key: [] for key, _ in sides}
    for repeat in range(repeats):
        for key, tree in _in_turn(sides, repeat):
            if tree is None:
                times[key].append(_timed(bare))
                continue
            where = tmp / f"sweep-{key}-{repeat}"
            times[key].append(_timed([_worktree_python(tree), "-m", "run", "-m", *SIXTEEN_JOBS, f"tracking.uri=sqlite:///{where}.db",
                                      f"hydra.sweep.dir={where}"], cwd=tree))
    rows = [_ratio_row("16-job sweep (4 activations × 4 seeds, mlp, mnist_5k, 5 epochs, joblib with 2 workers), whole command, "
                       "against plain Keras (2 processes, each training its 8 jobs with a fresh model)",
                       times["ours"], times["bare"], "≤ 0.65×", lambda r: r <= 0.65)]
    if previous:
        rows += [_ratio_row(f"… the previous code ({previous.name}) against the same plain-Keras loop", times["previous"], times["bare"]),
                 _ratio_row("… this code against the previous code: speed-up", times["ours"], times["previous"], faster=True)]
    return rows


CLAIMS_SUBSET = ("claim03_dying_relu", "claim09_leaky_slope", "claim10_formulas")


def _final_metrics(db: Path) -> dict[tuple[str, str], float]:
    """(config fingerprint, metric) -> last value, for every FINISHED job run in a store (timings left out)."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    found = {}
    for run in client.search_runs(experiments, "attributes.status = 'FINISHED'", max_results=50000):
        fingerprint = run.data.tags.get("config_fingerprint")
        if fingerprint and "mlflow.parentRunId" in run.data.tags:
            found |= {(fingerprint, key): value for key, value in run.data.metrics.items()
                      if "time" not in key and "inference" not in key}
    return found


def claims_against_previous(repeats: int, tmp: Path, previous: Path, claims: tuple[str, ...] = CLAIMS_SUBSET) -> list[dict]:
    """Claims' sweeps on their full profile (as run_claims.sh runs them), this code against the
    previous code, interleaved; and whether both gave the same numbers (every summary metric but
    timings, per config fingerprint)."""
    sides = [("ours", PROJECT_ROOT), ("previous", previous)]
    times: dict[str, list[float]] = {"ours": [], "previous": []}
    stores: dict[str, Path] = {}
    for repeat in range(repeats):
        for key, tree in _in_turn(sides, repeat):
            db = tmp / f"claims-{key}-{repeat}.db"
            stores.setdefault(key, db)
            start = time.perf_counter()
            for claim in claims:
                _timed([_worktree_python(tree), "-m", "run", "-m", f"experiment={claim}", "profile=full", "hydra/launcher=joblib",
                        "hydra.launcher.n_jobs=2", f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp / f'claims-{key}-{repeat}-{claim}'}"],
                       cwd=tree)
            times[key].append(time.perf_counter() - start)
    ours, before = _final_metrics(stores["ours"]), _final_metrics(stores["previous"])
    same = ours == before
    return [
        _ratio_row(f"claims {', '.join(c.split('_')[0] for c in claims)} on the full profile, one after another: this code "
                   f"against the previous code ({previous.name}): speed-up", times["ours"], times["previous"],
                   "≥ 1.43× (30% less time)", lambda r: r >= 1 / 0.7, faster=True),
        {"figure": f"… the same numbers: {len(ours)} metrics (last values) of {len({f for f, _ in ours})} runs, "
                   "compared per config fingerprint (timings left out)", "ours": None, "baseline": None, "ratio": None,
         "target": "identical", "ok": same and bool(ours),
         "note": "identical" if same else f"{len(set(ours.items()) ^ set(before.items()))} differ"},
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

    from actlab.reporting.markdown import machine

    lines = [
        "# Speed benchmark",
        "",
        f"Measured by `python -m actlab.devtools.benchmark` on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC, in {seconds / 60:.1f} min.",
        f"Machine: {machine()}. Python {platform.python_version()}, tensorflow {version('tensorflow')}, "
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
    parser.add_argument("--out", type=Path, default=None, help="default: results/BENCHMARK.md (with --only: print only)")
    parser.add_argument("--only", default="", help="comma-separated parts: " + ", ".join(PARTS))
    parser.add_argument("--previous", type=Path, default=None,
                        help="a worktree of older code (with its .venv): its sweep runs beside this code's")
    parser.add_argument("--paired-fits", nargs=3, metavar=("MODEL", "REPEATS", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.paired_fits:  # the in-process part of probe_and_logging, in its own process
        model, repeats, db = args.paired_fits
        print(json.dumps(_paired_fits(model, int(repeats), Path(db))))
        return
    parts = [p for p in args.only.split(",") if p] or list(PARTS)
    out = args.out or (None if args.only else PROJECT_ROOT / "results" / "BENCHMARK.md")
    start = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="actlab-bench-"))
    try:
        rows = []
        for part in parts:
            result = PARTS[part](args, tmp)
            for row in result if isinstance(result, list) else [result]:
                print(row, flush=True)
                rows.append(row)
        if out is not None:
            write(rows, out, time.perf_counter() - start)
            print(f"written: {out}")
        else:
            written = tmp / "table.md"
            write(rows, written, time.perf_counter() - start)
            print(written.read_text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


PARTS = {
    "help": lambda args, tmp: help_time(5),
    "single": lambda args, tmp: whole_process("mlp", args.repeats, tmp, args.previous)
    + whole_process("deep_mlp", args.repeats, tmp, args.previous),
    "single-mlp": lambda args, tmp: whole_process("mlp", args.repeats, tmp, args.previous),
    # In-process fits are cheap to repeat, and the 5% target needs the tighter interval.
    "probe": lambda args, tmp: probe_and_logging("deep_mlp", 3 * args.repeats, tmp) + probe_and_logging("mlp", 3 * args.repeats, tmp),
    "sweep": lambda args, tmp: sweep_speedup(max(3, args.repeats // 3), tmp),
    "sweep-keras": lambda args, tmp: sweep_against_keras(args.repeats, tmp, args.previous),
    "memory": lambda args, tmp: peak_memory(tmp),
    "claims": lambda args, tmp: [claims_time("quick"), claims_time("full")],
    "claims-previous": lambda args, tmp: claims_against_previous(args.repeats, tmp, args.previous),
}


if __name__ == "__main__":
    main()
