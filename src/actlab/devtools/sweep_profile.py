"""Where a sweep job's seconds go: py-spy's samples of every process of a sweep, by stage.

    py-spy record --subprocesses --idle --threads --format raw --rate 40 -o sweep.raw -- \\
        python -m run -m activation=relu,tanh,elu,selu seed=0,1,2,3 ... hydra/launcher=joblib
    python -m actlab.devtools.sweep_profile sweep.raw --rate 40 --jobs 16

Each sample of a main thread is put in the first stage whose frames it contains (most specific
first), so the stages add up to the thread's wall time; the run-end writer thread is counted
apart (its work runs beside the next job). Reads py-spy's raw (collapsed-stack) output only.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

# (stage, function names any of which puts a sample of a job's main thread in it), in order.
JOB_STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("worker start: imports (once per worker)", ("_import_run_stack",)),
    ("composing the job's config", ("load_sweep_config", "load_configuration")),
    ("waiting for the run-end writer", ("drain",)),
    ("test evaluation", ("inference_ms",)),
    ("fit: tracing train/validation steps", ("trace_function", "Function._initialize")),
    ("fit: training epochs (steps, validation, callbacks)", ("TensorFlowTrainer.fit",)),
    ("test evaluation", ("TensorFlowTrainer.evaluate",)),
    ("fit: input pipeline set-up", ("batches",)),
    ("fit: compile, probe set-up, weights in", ("_compiled",)),
    ("fit: last probe and metrics delivered", ("_EpochRecorder.finish",)),
    ("figures (learning curve, heatmaps)", ("learning_curve", "_log_heatmaps", "layer_heatmaps")),
    ("artifacts (files, upload)", ("_write_artifacts", "log_artifacts", "_artifact_texts")),
    ("MLflow writes (run, params, dataset, summaries, tags, end)",
     ("start_run", "log_params", "log_dataset", "set_tags", "log_run_end", "TrackedRun.__exit__", "_end_run",
      "set_terminated", "log_steps", "log_metrics")),
    ("MLflow store, claim, finished-run lookup", ("Store.shared", "Store.__init__", "claim", "find_finished")),
    ("data (splits)", ("load_splits",)),
    ("model build", ("build",)),
    ("imports inside a job", ("_find_and_load",)),
    ("run set-up (validate, seeds, threads, fingerprint, params)", ("=run",)),
    ("Hydra job set-up (run_job: folders, config files)", ("run_job", "run_chunk", "execute_job")),
]
LAUNCHER_STAGES: list[tuple[str, tuple[str, ...]]] = [
    ("waiting for the workers' jobs", ("Parallel._retrieve", "Parallel.__call__", "_get_outputs", "_retrieve")),
    ("composing: Hydra's check of every job", ("validate_batch_is_legal",)),
    ("composing: the sweep's own refusal check", ("check_sweep_composes",)),
    ("sweep summary (parent run's figure, description)", ("on_multirun_end",)),
    ("MLflow store and parent run", ("Store.__init__", "_parent", "mark_stale_runs", "check_store")),
    ("launcher: schedule, dispatch", ("launch",)),
    ("imports", ("_find_and_load",)),
]


def _stage(names: list[str], stages, fallback: str) -> str:
    # py-spy names methods Class.method: a name matches either way, but "=name" only exactly.
    exact = set(names)
    present = exact | {n.rsplit(".", 1)[-1] for n in names if "<" not in n}
    for stage, functions in stages:
        if any(f[1:] in exact if f.startswith("=") else f in present for f in functions):
            return stage
    return fallback


def attribute(raw: Path) -> dict[str, collections.Counter]:
    """Samples per (process kind, stage): 'launcher', 'workers' (main threads), 'run-end writer'."""
    out: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    lines = raw.read_text().splitlines()
    # Workers are the loky processes that ran a job (loky may start others that never get one).
    ran = {line.split(";thread ")[0] for line in lines if ";run_job (" in line}
    # The launcher is the process that runs Hydra's multirun (a forked helper shares its command line).
    launched = {line.split(";thread ")[0] for line in lines if ";Hydra.multirun (" in line}
    for line in lines:
        stack, _, count = line.rpartition(" ")
        parts = stack.split(";")
        processes = [p for p in parts if p.startswith("process ")]
        thread = next((p.split(": ", 1)[-1] for p in parts if p.startswith("thread ")), "?")
        names = [p.split(" (")[0] for p in parts if not p.startswith(("process ", "thread "))]
        if not processes:
            continue
        process = processes[-1]
        if "loky" in process and line.split(";thread ")[0] in ran:  # a joblib worker that ran jobs
            if thread.startswith("run-end"):
                out["run-end writer"][_stage(names, JOB_STAGES, "writer: idle")] += int(count)
            elif thread == "MainThread":
                busy = any(n in names for n in ("_CallItem.__call__",))
                out["workers"][_stage(names, JOB_STAGES, "other") if busy else "idle: no job"] += int(count)
        elif line.split(";thread ")[0] in launched and thread == "MainThread":
            out["launcher"][_stage(names, LAUNCHER_STAGES, "other (Hydra start, callbacks)")] += int(count)
    return out


def table(raw: Path, rate: float, jobs: int) -> str:
    counts = attribute(raw)
    lines = []
    for kind in ("launcher", "workers", "run-end writer"):
        if kind not in counts:
            continue
        total = sum(counts[kind].values()) / rate
        per = f", per job ({jobs})" if kind != "launcher" else ""
        lines += [f"{kind}: {total:.1f} s of main-thread time" if kind != "run-end writer" else f"{kind}: {total:.1f} s",
                  f"| stage | seconds{per} |", "|---|---|"]
        for stage, n in counts[kind].most_common():
            seconds = n / rate
            lines.append(f"| {stage} | {seconds:.2f}" + (f" ({seconds / jobs:.3f})" if kind != "launcher" else "") + " |")
        lines.append("")
    return "\n".join(lines)


def compare(before: Path, after: Path, rate: float, jobs: int) -> str:
    """One table of two profiles of the same sweep: seconds per job (workers, writer) or per sweep (launcher)."""
    counts = {"before": attribute(before), "after": attribute(after)}
    lines = ["| process | stage | before | after |", "|---|---|---|---|"]
    for kind, unit in (("launcher", "s per sweep"), ("workers", "s per job"), ("run-end writer", "s per job")):
        stages = counts["after"][kind] + counts["before"][kind]
        for stage, _ in stages.most_common():
            per = [counts[side][kind][stage] / rate / (1 if kind == "launcher" else jobs) for side in ("before", "after")]
            lines.append(f"| {kind} ({unit}) | {stage} | {per[0]:.2f} | {per[1]:.2f} |")
        totals = [sum(counts[side][kind].values()) / rate / (1 if kind == "launcher" else jobs) for side in ("before", "after")]
        lines.append(f"| {kind} ({unit}) | **all** | **{totals[0]:.2f}** | **{totals[1]:.2f}** |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("raw", type=Path)
    parser.add_argument("--before", type=Path, default=None, help="a profile of the same sweep by older code: one table of both")
    parser.add_argument("--rate", type=float, default=100.0, help="py-spy's --rate (samples per second)")
    parser.add_argument("--jobs", type=int, default=1, help="the sweep's number of jobs (for per-job seconds)")
    args = parser.parse_args()
    print(compare(args.before, args.raw, args.rate, args.jobs) if args.before else table(args.raw, args.rate, args.jobs))


if __name__ == "__main__":
    main()
