"""Sweeps: Hydra's launchers run the jobs; this module only ties them to one MLflow parent run.

- `SweepTracking` (a Hydra callback, in the launching process): before any job starts, it creates
  the database and the experiment once (parallel workers racing on a fresh SQLite file fail), marks
  runs left RUNNING by killed processes as KILLED, and opens the parent run. After the last job it
  prints the table of outcomes and ends the parent run.
- `job_context` / `record_outcome` (in each job's process): find the parent run and write the job's
  outcome to its output directory, so that the table is built from files, whatever the launcher.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from actlab import write_atomic
from actlab.pipeline import OUTCOME_FILE
from actlab.pipeline.runner import RunContext

PARENT_FILE = "mlflow_parent_run_id"


_JOB_START: list[float] = []


def job_context(cfg: DictConfig) -> RunContext:
    _JOB_START[:] = [time.monotonic()]
    hydra_cfg = HydraConfig.get()
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    launcher = hydra_cfg.launcher
    # Parallel jobs on this machine share its cores: joblib says how many workers there are.
    workers = launcher.get("n_jobs", 1) if "n_jobs" in launcher else 1
    if workers in (None, -1):
        workers = os.cpu_count() or 1
    threads = cfg.trainer.threads or launcher.get("cpus_per_task") or 0  # submitit: the job's CPUs
    parent = None
    if multirun:
        parent_file = Path(hydra_cfg.sweep.dir) / PARENT_FILE
        parent = parent_file.read_text().strip() if parent_file.exists() else None
    return RunContext(
        parent_run_id=parent,
        skip_finished=multirun and not cfg.tracking.rerun,
        in_sweep=multirun,
        overrides=tuple(hydra_cfg.overrides.task),
        workers=int(workers),
        threads=int(threads),
    )


def expand(overrides: list[str], dirs: list[Path] | None = None) -> list[list[str]]:
    """The jobs of a sweep in the order Hydra's basic sweeper runs them: the product of every
    override's values, a later override of a key replacing an earlier one; `glob(*)` over a config
    group takes the group's options from the config search path."""
    import itertools

    from hydra.core.override_parser.overrides_parser import OverridesParser

    axes: dict[str, list[str]] = {}
    for override in OverridesParser.create().parse_overrides(list(overrides)):
        key = override.get_key_element()
        axes[key] = [f"{key}={value}" for value in override_values(override, dirs)]
    return [list(job) for job in itertools.product(*axes.values())]


def override_values(override, dirs: list[Path] | None = None) -> list[str]:
    """The values one parsed override sweeps (one for a plain override); `glob(*)` over a config
    group takes the group's options from the config search path."""
    from hydra.core.override_parser.types import Glob

    from actlab.pipeline.config import options

    if not override.is_sweep_override():
        return [override.get_value_element_as_str()]
    if isinstance(override.value(), Glob):
        return override.value().filter(options(override.key_or_group, dirs))
    return list(override.sweep_string_iterator())


def outcome_recorder():
    """A function writing this job's outcome to its output directory, bound to the job now: it may
    be called later, from the run-end writer (actlab.pipeline.finish), when another job is current."""
    hydra_cfg = HydraConfig.get()
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return lambda outcome: None
    job = {"job": hydra_cfg.job.num, "overrides": " ".join(hydra_cfg.overrides.task)}
    path = Path(hydra_cfg.runtime.output_dir) / OUTCOME_FILE
    started = _JOB_START[0] if _JOB_START else None

    def record(outcome: dict[str, Any]) -> None:
        from actlab.pipeline import redact

        outcome = {**outcome, **job}
        if started is not None:
            outcome["elapsed_s"] = round(time.monotonic() - started, 1)
        write_atomic(path, json.dumps(redact.tree(outcome), default=str))

    return record


def record_outcome(outcome: dict[str, Any]) -> None:
    outcome_recorder()(outcome)


def sweep_table(sweep_dir: Path) -> list[dict[str, Any]]:
    """One row per job that started: its outcome, or 'killed' if it never wrote one."""
    rows = []
    for job_dir in sorted((p for p in sweep_dir.iterdir() if p.is_dir() and p.name.isdigit()), key=lambda p: int(p.name)):
        outcome_file = job_dir / OUTCOME_FILE
        if outcome_file.exists():
            rows.append(json.loads(outcome_file.read_text()))
        else:
            rows.append({"job": int(job_dir.name), "status": "killed", "reason": "no outcome written (process ended)"})
    return rows


STATUSES = ("finished", "skipped", "diverged", "failed", "killed")


def format_table(rows: list[dict[str, Any]]) -> str:
    """The sweep's counts, then the jobs that did not finish, with why (each job had its line)."""
    counts = {status: sum(r["status"] == status for r in rows) for status in STATUSES}
    lines = ["sweep: " + (", ".join(f"{n} {status}" for status, n in counts.items() if n) or "no jobs ran")]
    # Show only the overrides that tell the jobs apart.
    split = [row.get("overrides", "").split() for row in rows]
    common = set.intersection(*map(set, split)) if len(split) > 1 else set()
    for row, overrides in zip(rows, split):
        if row["status"] in ("finished", "skipped"):
            continue
        varying = " ".join(o for o in overrides if o not in common)
        lines.append(f"  #{row['job']:<3} {row['status']:<9} {row.get('run_id') or '-':<32}  {varying}  {row.get('reason', '')}".rstrip())
    from actlab.pipeline import redact

    return redact.text("\n".join(lines))


def _import_run_stack() -> int:
    """What every job imports first (about 4 s, mostly TensorFlow), done once per worker."""
    from actlab.pipeline.runner import freeze_imported_objects, import_tensorflow

    import_tensorflow()
    import keras  # noqa: F401 - preloaded in the worker, before its first job
    import matplotlib  # noqa: F401 - preloaded in the worker, before its first job
    import mlflow  # noqa: F401 - preloaded in the worker, before its first job

    import actlab.figures
    import actlab.pipeline.track
    import actlab.pipeline.train  # noqa: F401 - preloaded in the worker, before its first job

    freeze_imported_objects()
    return os.getpid()


_WARM_UP: list = []  # the warm-up's result generator; kept out of the callback, which jobs unpickle
_PROGRESS: list = []  # the sweep's console (a thread): likewise


WORKERS_FILE = "joblib_workers.json"
SCHEDULE_FILE = "joblib_schedule.json"  # written by the joblib launcher: compositions and chunks


def joblib_arguments(settings: dict[str, Any]) -> dict[str, Any]:
    """`joblib.Parallel`'s arguments from the launcher's settings, as Hydra's joblib plugin makes
    them: the loky backend (its threading backend cannot run Hydra jobs) and numeric strings as
    integers. Both the launcher and the early workers (`_start_joblib_workers`) use them, so loky
    reuses one pool (tests/test_sweep.py checks that the jobs ran in the early workers)."""
    arguments = {k: v for k, v in settings.items() if k != "_target_"}
    arguments["backend"] = "loky"
    for key in ("pre_dispatch", "batch_size", "max_nbytes"):
        if arguments.get(key):
            try:
                arguments[key] = int(arguments[key])
            except ValueError:
                pass
    return arguments


def _start_joblib_workers(config: DictConfig) -> None:
    """With hydra/launcher=joblib, start the workers now, importing the run's libraries while this
    process opens the MLflow store and the parent run. The launcher then finds them ready: loky
    reuses a pool whose arguments are the same, and these are the launcher's own."""
    launcher = config.hydra.launcher
    if "joblib" not in str(launcher.get("_target_", "")):
        return
    from joblib import Parallel, delayed, effective_n_jobs

    arguments = joblib_arguments(OmegaConf.to_container(launcher, resolve=True))
    workers = effective_n_jobs(arguments["n_jobs"])
    _WARM_UP.append(Parallel(**arguments, return_as="generator_unordered")(delayed(_import_run_stack)() for _ in range(workers)))


def _stop_joblib_workers(sweep_dir: Path) -> None:
    """Stop the idle workers now: left to the interpreter's exit, loky waits ~2 s for each
    TensorFlow process to wind down. Every job has returned and flushed its run by now."""
    if not _WARM_UP:
        return
    pids = []
    try:
        for warm_up in _WARM_UP:
            pids += list(warm_up)  # long finished: the jobs ran after it in the same workers
    except Exception:
        pass
    _WARM_UP.clear()
    if sweep_dir.exists():
        write_atomic(sweep_dir / WORKERS_FILE, json.dumps(sorted(set(pids))))
    from joblib.externals.loky import get_reusable_executor

    # reuse=True: the pool that exists (the launcher's), whatever arguments it was made with.
    get_reusable_executor(reuse=True).shutdown(wait=False, kill_workers=True)


def _abandon_joblib_workers() -> None:
    """A sweep refused before its first job: the workers started early are stopped, unused."""
    if _WARM_UP:
        _WARM_UP.clear()
        from joblib.externals.loky import get_reusable_executor

        get_reusable_executor(reuse=True).shutdown(wait=False, kill_workers=True)


def check_sweep_composes(config: DictConfig, config_name: str | None) -> None:
    """Compose the sweep's jobs as Hydra's basic sweeper will, before the parent run exists: an
    unknown option, key or group (`activation=relu,swishy`) is refused with no record left behind.
    Hydra checks this too, but only after the multirun callbacks (and so the parent run) started.
    One composition with each override's first value, plus one for every further value of a
    top-level key (a group: its options may not exist); values of nested keys cannot fail to compose."""
    if "BasicSweeper" not in str(config.hydra.sweeper.get("_target_", "")):
        return
    from hydra import compose
    from hydra.core.override_parser.overrides_parser import OverridesParser

    params = config.hydra.sweeper.get("params") or {}
    texts = [f"{key}={value}" for key, value in params.items()] + list(config.hydra.overrides.task)
    from actlab.pipeline.config import config_dirs

    dirs = config_dirs(config)
    choices: list[list[str]] = []
    for override in OverridesParser.create().parse_overrides(texts):
        key = override.get_key_element()
        if override.is_sweep_override() and not override.is_discrete_sweep():
            return  # ranges and intervals: left to Hydra
        choices.append([f"{key}={value}" for value in override_values(override, dirs)])
    first = [values[0] for values in choices]
    from actlab.pipeline.preflight import check_unread_keys

    check_unread_keys(compose(config_name=config_name, overrides=first), dirs)  # a `+key` nothing reads: refused before any job
    for i, values in enumerate(choices):
        key = values[0].split("=", 1)[0].lstrip("+~")
        if "." not in key:
            for value in values[1:]:
                compose(config_name=config_name, overrides=first[:i] + [value] + first[i + 1:])


def sweep_plan(config: DictConfig) -> tuple[list[str], int | None]:
    """The sweep's axes (the keys it gives several values) and its number of jobs, as Hydra's
    basic sweeper will expand them; (the overridden keys, None) for other sweepers."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    from actlab.pipeline.config import column_name, config_dirs

    params = config.hydra.sweeper.get("params") or {}
    texts = [f"{key}={value}" for key, value in params.items()] + list(config.hydra.overrides.task)
    parsed = OverridesParser.create().parse_overrides(texts)
    if "BasicSweeper" not in str(config.hydra.sweeper.get("_target_", "")) or any(
            o.is_sweep_override() and not o.is_discrete_sweep() for o in parsed):
        return [o.get_key_element() for o in parsed], None
    jobs = expand(texts, config_dirs(config))
    if config.get("tune") is not None:  # tune, then test: the tuning grid runs first (actlab.claims.tuning)
        from actlab.claims.tuning import Tune

        tune = Tune.from_config(config.tune)
        tuning = tune.tuning_params({k: str(v) for k, v in params.items()})
        tuning_jobs = expand([f"{k}={v}" for k, v in tuning.items()] + list(config.hydra.overrides.task), config_dirs(config))
        on_command_line = "seed" in {column_name(o.split("=", 1)[0]) for o in config.hydra.overrides.task}
        tune.check_apart(tuning_jobs, jobs, f"set the test seeds with \"study.{config.profile}.seeds='…'\", not seed="
                         if on_command_line else f"see study.{config.profile}.seeds and tune_seeds")
        jobs = tuning_jobs + jobs
    axes = [key for key in dict.fromkeys(o.split("=", 1)[0] for job in jobs for o in job)
            if len({dict(x.split("=", 1) for x in job).get(key) for job in jobs}) > 1]
    return axes, len(jobs)


def sweep_key(config: DictConfig) -> str:
    """What makes two runs of a command the same sweep: its experiment's sweep and its overrides,
    not where it writes (tracking.*) or how it runs (hydra.*: launcher, workers, folders)."""
    import hashlib

    params = config.hydra.sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=True) if params else {}
    task = sorted(o for o in config.hydra.overrides.task if not o.lstrip("+~").startswith("tracking."))
    text = json.dumps({"sweeper": str(config.hydra.sweeper.get("_target_")), "params": params, "task": task,
                       "config_name": config.hydra.job.config_name}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def label_jobs(jobs: list[list[str]]) -> None:
    """A sweeper that expands its own jobs (the challenger's) names the keys that tell them apart,
    for the sweep's progress lines: every key whose value differs between two of its jobs."""
    values = [dict(o.split("=", 1) for o in job) for job in jobs]
    axes = [k for k in dict.fromkeys(k for v in values for k in v) if len({v.get(k) for v in values}) > 1]
    for progress in _PROGRESS:
        progress.axes = axes


def sweep_name(axes: list[str], total: int | None) -> str:
    """`sweep · activation × seed · 35 jobs`."""
    from actlab.pipeline.console import short_name

    names = [short_name(k) for k in axes]
    return " · ".join(["sweep", " × ".join(names) or "one job", *([f"{total} jobs"] if total else [])])


class SweepTracking(Callback):
    def __init__(self) -> None:
        self.store = None
        self.parent_id: str | None = None
        self.axes: list[str] = []

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        # Hydra turns a callback's exception into a warning and goes on: a refusal exits here.
        from hydra.errors import HydraException

        from actlab.pipeline import redact
        from actlab.pipeline.config import ConfigError
        from actlab.pipeline.preflight import TrackingUnreachable, check_store, one_line

        redact.remember_omegaconf(config)
        # First of all: the workers' imports (TensorFlow, MLflow: the sweep's longest wait before its
        # first job) overlap with this process's checks, store and parent run.
        _start_joblib_workers(config)
        try:
            check_sweep_composes(config, kwargs.get("config_name"))
            if config.tracking.enabled:
                # Once for all jobs, before any of them: the store, and a server's login and permissions.
                check_store(str(config.tracking.uri), str(config.tracking.experiment))
            self.axes, total = sweep_plan(config)
        except (HydraException, ConfigError) as error:
            _abandon_joblib_workers()
            print(f"error: {redact.text(one_line(error))}", file=sys.stderr)
            sys.exit(2)
        sweep_dir = Path(config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        if config.tracking.enabled:
            from actlab.pipeline.track import Store

            try:
                self.store = Store(config.tracking.uri, config.tracking.experiment,
                                   OmegaConf.select(config, "tracking.retry_s", default=60))
            except TrackingUnreachable as error:
                _abandon_joblib_workers()
                print(f"error: {error}", file=sys.stderr)
                sys.exit(1)
            stale = self.store.mark_stale_runs()
            if stale:
                print(f"sweep: marked {len(stale)} run(s) left RUNNING by a killed process as KILLED")
            self.parent_id = self._parent(config, sweep_dir, total)
            write_atomic(sweep_dir / PARENT_FILE, self.parent_id)
        from actlab.pipeline.console import SweepProgress

        _PROGRESS[:] = [SweepProgress(sweep_dir, total, self.axes, OUTCOME_FILE).start()]

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Hydra's record of the job (`.hydra/`: config.yaml, hydra.yaml, overrides.yaml), written
        here with its secrets blanked: conf/config.yaml sets hydra.output_subdir to null, so Hydra
        itself writes none (it would write them as given, before any callback could blank them)."""
        write_hydra_record(config)

    def _parent(self, config: DictConfig, sweep_dir: Path, total: int | None) -> str:
        """The sweep's parent run: the one an earlier run of the same sweep made (rerun, resumed),
        or a new one. A rerun's new jobs become its children; jobs it skips are linked from it."""
        import os

        from actlab.pipeline.track import HOST

        key = sweep_key(config)
        tags = {"sweep": "true", "sweep_key": key, "sweep_dir": str(sweep_dir.resolve()),
                "overrides": " ".join(config.hydra.overrides.task)[:5000], "host": HOST, "pid": str(os.getpid())}
        earlier = self.store.client.search_runs(
            [self.store.experiment_id], filter_string=f"tags.sweep_key = '{key}'",
            order_by=["attributes.start_time DESC"], max_results=1)
        if earlier:
            parent_id = earlier[0].info.run_id
            self.store.client.update_run(parent_id, status="RUNNING")
            from actlab.pipeline.track import TrackedRun

            TrackedRun(self.store, parent_id).set_tags(tags)
            return parent_id
        name = sweep_name(self.axes, total)
        return self.store.start_run(name, tags).run_id

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        for progress in _PROGRESS:
            progress.stop()
        _PROGRESS.clear()
        if self.store is not None:
            try:
                # Runs left RUNNING by a job whose worker was killed (SIGKILL) are ended KILLED now.
                self.store.mark_stale_runs()
            except Exception as error:
                from actlab.pipeline import redact

                print(redact.text(f"error: runs left RUNNING could not be marked KILLED: {error}")[:300])
        sweep_dir = Path(config.hydra.sweep.dir)
        _stop_joblib_workers(sweep_dir)
        rows = sweep_table(sweep_dir) if sweep_dir.exists() else []
        print(format_table(rows))
        if self.store is not None and self.parent_id is not None:
            ok = all(r["status"] in ("finished", "skipped") for r in rows)
            from actlab.pipeline.track import TrackingUnreachable

            try:
                summarize_sweep(self.store, self.parent_id, rows, self.axes)
                self.store.client.set_terminated(self.parent_id, "FINISHED" if ok else "FAILED")
            except TrackingUnreachable as error:
                # Left RUNNING: the next sweep on this host marks it KILLED (its process is gone).
                print(f"error: the sweep's parent run was not ended: {error}")
                return
            from actlab.pipeline.track import ui_command

            print(f"sweep parent run {self.parent_id} · compare the jobs: {ui_command(self.store.uri)} "
                  f"· then open {self.store.ui_url()}")


HYDRA_RECORD = ".hydra"


def write_hydra_record(config: DictConfig) -> None:
    """`.hydra/` in the job's output folder, as Hydra writes it, every secret blanked (redact)."""
    from actlab.pipeline import redact

    runtime = config.hydra.runtime
    if not runtime.get("output_dir"):
        return
    folder = Path(runtime.output_dir) / (config.hydra.get("output_subdir") or HYDRA_RECORD)
    folder.mkdir(parents=True, exist_ok=True)
    task = {k: v for k, v in OmegaConf.to_container(config, resolve=False).items() if k != "hydra"}
    hydra_node = {"hydra": OmegaConf.to_container(config.hydra, resolve=False)}
    overrides = OmegaConf.to_container(config.hydra.overrides.task, resolve=False)
    for name, node in (("config.yaml", redact.tree(task)), ("hydra.yaml", redact.tree(hydra_node)),
                       ("overrides.yaml", redact.overrides(overrides))):
        write_atomic(folder / name, OmegaConf.to_yaml(OmegaConf.create(node)))


def _group_axis(axes: list[str]) -> str:
    """What the sweep's figure compares: the activation if it is swept, else the first axis that
    is not the seed, else the activation."""
    for key in ("activation", *axes):
        if key in axes and key != "seed":
            return key
    return "activation"


def summarize_sweep(store, parent_id: str, rows: list[dict[str, Any]], axes: list[str]) -> None:
    """The parent run's description (counts, the best group, links to runs it reused) and figure
    (test accuracy per group, act_std against depth per group), from every job of this run of the
    sweep: its own children and the finished runs it skipped."""
    import tempfile

    import pandas as pd
    from mlflow.entities import RunTag

    from actlab.figures import sweep_summary
    from actlab.pipeline import metric_keys
    from actlab.pipeline.console import job_label
    from actlab.pipeline.track import children

    group = _group_axis(axes)
    run_ids = [r["run_id"] for r in rows if r.get("run_id")]
    kids = {run.info.run_id for run in children(store, parent_id)}
    table = []
    for row in rows:
        if not row.get("run_id"):
            continue
        values = dict(o.split("=", 1) for o in row.get("overrides", "").split() if "=" in o)
        label = values.get(group)
        if label is None and group == "activation":  # set by another group (a claim's condition): the run says which
            label = store.client.get_run(row["run_id"]).data.tags.get("activation")
        label = label or job_label(row.get("overrides", ""), [group])
        table.append({"run_id": row["run_id"], "group": label, "status": row["status"], "job": row["job"]})
    runs = pd.DataFrame(table, columns=["run_id", "group", "status", "job"])
    accuracy, profiles = {}, {}
    test_key, depth_key = metric_keys.SUMMARY["test_accuracy"], metric_keys.depth_profile("act_std", "trained")
    for run_id in run_ids:
        history = store.client.get_metric_history(run_id, test_key)
        accuracy[run_id] = history[-1].value if history else float("nan")
        profiles[run_id] = [m.value for m in sorted(store.client.get_metric_history(run_id, depth_key), key=lambda m: m.step)]
    runs["test_accuracy"] = runs["run_id"].map(accuracy)
    counts = {f"jobs_{s}": sum(r["status"] == s for r in rows) for s in STATUSES}
    medians = runs.dropna(subset=["test_accuracy"]).groupby("group")["test_accuracy"].median().sort_values(ascending=False)
    lines = [", ".join(f"{n} {k.removeprefix('jobs_')}" for k, n in counts.items() if n) + f" of {len(rows)} jobs."]
    if len(medians):
        lines.append("Median test accuracy by " + group.split(".")[-1] + ": " +
                     ", ".join(f"{name} {value:.4f}" for name, value in medians.items()) + ".")
    reused = [r for r in rows if r.get("run_id") and r["run_id"] not in kids]
    if reused:
        lines.append(f"\nRuns of other sweeps this one reused ({len(reused)}):")
        lines += [f"- [{job_label(r.get('overrides', ''), axes)}](#/experiments/{store.experiment_id}/runs/{r['run_id']})"
                  for r in reused[:200]]
    with tempfile.TemporaryDirectory() as tmp:
        if len(runs):
            title = f"{len(runs)} runs of the sweep, grouped by {group.split('.')[-1]}"
            sweep_summary(runs, "group", profiles, Path(tmp) / "sweep_summary.png", title)
        runs.to_csv(Path(tmp) / "sweep_jobs.csv", index=False)
        store.client.log_artifacts(parent_id, tmp)
    from actlab.pipeline import redact

    store.client.log_batch(parent_id, tags=[RunTag(k, str(v)) for k, v in counts.items()] +
                           [RunTag("mlflow.note.content", redact.text("\n".join(lines)))])
