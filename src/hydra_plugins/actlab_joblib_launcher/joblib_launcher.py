"""Hydra's joblib launcher, made to survive a worker killed mid-job (SIGKILL, the kernel's OOM
killer), to compose each job once, and to hand a worker jobs of one architecture in a row.

`conf/hydra/launcher/joblib.yaml` points `hydra/launcher=joblib` here, with the plugin's own
settings (Hydra takes launchers only from the `hydra_plugins` namespace, hence this package).

- Compose once: Hydra's sweeper composes every job in this process to check it
  (`Sweeper.validate_batch_is_legal`, through `hydra_context.config_loader`); `ComposeOnce` keeps
  those configs, and each job runs from its config through Hydra's public `run_job`, instead of
  composing again in the worker as Hydra's plugin does (tests/test_sweep.py counts compositions).
- Schedule: jobs whose compiled model can be shared (`actlab.pipeline.runner.reuse_key`: the same
  architecture, data and optimizer type) go to one worker in chunks, one chunk a joblib task, so
  a worker traces few models (what `hydra.launcher.batch_size` did by hand; an integer there still
  sets the chunk size). A chunk drains its process's run-end writer before it returns.
- A killed worker: loky stops every worker of the pool (SIGKILL: nothing can tell the killed job
  from the one running beside it), so each job that had started and written no outcome is
  recorded as killed (its MLflow run is ended KILLED by the sweep's end, `mark_stale_runs`), jobs
  with an outcome keep it, and the jobs not yet started run on a fresh pool. The next run of the
  sweep redoes the killed jobs: they have no FINISHED run.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Sequence

from hydra.core.config_loader import ConfigLoader
from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from omegaconf import DictConfig, OmegaConf, open_dict

# Hydra's warning that run.py silences in the launching process, silenced in joblib's workers, which
# import this module (to unpickle `run_chunk`) but not run.py.
from actlab import SHADOWED_CONFIG_WARNING
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher as HydraJoblibLauncher

warnings.filterwarnings("ignore", message=SHADOWED_CONFIG_WARNING)

OUTCOME_FILE = "outcome.json"  # actlab.pipeline.sweep's; not imported here: Hydra imports this module at every start


class ComposeOnce(ConfigLoader):
    """Hydra's config loader, keeping each sweep job's composed config in the launching process
    until the launcher takes it: the sweeper's check composes every job, the launcher reuses it."""

    def __init__(self, loader: ConfigLoader):
        self.loader = loader
        self.composed: dict[tuple, DictConfig] = {}
        self.compositions = 0  # sweep configs composed by this process (tests/test_sweep.py)
        self.reused = 0  # configs the launcher took from the sweeper's check, not composing again

    def __getstate__(self) -> dict[str, Any]:  # pickled into every task: without the kept configs
        return {"loader": self.loader, "composed": {}, "compositions": 0, "reused": 0}

    @staticmethod
    def _key(master_config: DictConfig, sweep_overrides: Sequence[str]) -> tuple:
        # What Hydra's load_sweep_config composes from: the master's Hydra overrides and config name
        # (the sweeper may hold a copy of the launcher's master, e.g. with its secrets blanked).
        hydra_overrides = tuple(str(o) for o in master_config.hydra.overrides.hydra)
        return hydra_overrides, str(master_config.hydra.job.config_name), tuple(sweep_overrides)

    def load_sweep_config(self, master_config: DictConfig, sweep_overrides: list[str]) -> DictConfig:
        key = self._key(master_config, sweep_overrides)
        if key not in self.composed:
            self.compositions += 1
            self.composed[key] = self.loader.load_sweep_config(master_config, list(sweep_overrides))
        return self.composed[key]

    def take(self, master_config: DictConfig, sweep_overrides: Sequence[str]) -> DictConfig:
        """The job's config, composed at most once, and forgotten here (the job owns it now). Its
        resolver cache (`${now:...}` and the like) is the launcher's master's, as Hydra's own
        load_sweep_config makes it (OmegaConf.copy_cache)."""
        key = self._key(master_config, sweep_overrides)
        self.reused += key in self.composed
        config = self.load_sweep_config(master_config, list(sweep_overrides))
        del self.composed[key]
        OmegaConf.copy_cache(from_config=master_config, to_config=config)
        return config

    # The rest of the interface as Hydra's own loader does it.
    def load_configuration(self, *args: Any, **kwargs: Any) -> DictConfig:
        return self.loader.load_configuration(*args, **kwargs)

    def get_search_path(self):
        return self.loader.get_search_path()

    def get_sources(self):
        return self.loader.get_sources()

    def list_groups(self, parent_name: str):
        return self.loader.list_groups(parent_name)

    def get_group_options(self, *args: Any, **kwargs: Any):
        return self.loader.get_group_options(*args, **kwargs)

    def compute_defaults_list(self, *args: Any, **kwargs: Any):
        return self.loader.compute_defaults_list(*args, **kwargs)


def run_chunk(jobs: list[tuple[int, int, DictConfig]], hydra_context, task_function, singleton_state) -> list[tuple[int, JobReturn]]:
    """Jobs (position, number, composed config) one after another in a worker process, each as
    Hydra's plugin runs it (`run_job`); the run-end writer is drained before the chunk returns."""
    from actlab.pipeline import finish

    setup_globals()
    Singleton.set_state(singleton_state)
    returns = []
    with finish.deferred():  # every run this chunk started is ended (its outcome written) before it returns
        for position, idx, sweep_config in jobs:
            with open_dict(sweep_config):
                sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
                sweep_config.hydra.job.num = idx
            HydraConfig.instance().set_config(sweep_config)
            returns.append((position, run_job(hydra_context=hydra_context, config=sweep_config, task_function=task_function,
                                              job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")))
    return returns


def schedule(keys: Sequence[Any], workers: int, size: int | None = None) -> list[list[int]]:
    """Chunks of job positions: equal keys together (in the sweep's order), each chunk at most
    `size` jobs (default: a quarter of a worker's share, so the last chunks still balance)."""
    size = size or max(1, math.ceil(len(keys) / (2 * max(1, workers))))
    groups: OrderedDict[Any, list[int]] = OrderedDict()
    for position, key in enumerate(keys):
        groups.setdefault(key, []).append(position)
    return [members[start:start + size] for members in groups.values() for start in range(0, len(members), size)]


def _reuse_key(config: DictConfig, position: int) -> Any:
    """What a job's compiled model depends on; a config that does not resolve gets a key of its own."""
    try:
        from actlab.pipeline import config as config_stage
        from actlab.pipeline.runner import reuse_key

        return reuse_key(config_stage.resolved(config), config_stage.initializer_config(config)[1]) or ("own", position)
    except Exception:
        return ("own", position)


class JoblibLauncher(HydraJoblibLauncher):
    def setup(self, *, hydra_context, task_function, config) -> None:
        # The sweeper holds the same context: its check of every job now keeps the composed configs.
        if not isinstance(hydra_context.config_loader, ComposeOnce):
            hydra_context.config_loader = ComposeOnce(hydra_context.config_loader)
        super().setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from joblib import Parallel, delayed, effective_n_jobs
        from joblib.externals.loky.process_executor import TerminatedWorkerError

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        from actlab.pipeline.sweep import joblib_arguments

        joblib_cfg = joblib_arguments(dict(self.joblib))
        size = joblib_cfg.pop("batch_size", None)
        joblib_cfg["batch_size"] = 1  # one task is one chunk of jobs
        loader = self.hydra_context.config_loader
        configs = [loader.take(self.config, overrides) if isinstance(loader, ComposeOnce)
                   else loader.load_sweep_config(self.config, list(overrides)) for overrides in job_overrides]
        chunks = schedule([_reuse_key(c, i) for i, c in enumerate(configs)], effective_n_jobs(joblib_cfg["n_jobs"]),
                          size if isinstance(size, int) else None)
        if isinstance(loader, ComposeOnce):  # what the sweep composed and how it was dealt out
            from actlab import write_atomic
            from actlab.pipeline.sweep import SCHEDULE_FILE

            write_atomic(sweep_dir / SCHEDULE_FILE, json.dumps({
                "jobs": len(job_overrides), "compositions": loader.compositions, "reused": loader.reused,
                "chunks": [[initial_job_idx + i for i in chunk] for chunk in chunks]}))
        singleton_state = Singleton.get_state()
        returns: dict[int, JobReturn] = {}
        for _ in range(len(job_overrides) + 1):  # each round ends at least one job, or none is left
            chunks = [[i for i in chunk if i not in returns] for chunk in chunks]
            chunks = [chunk for chunk in chunks if chunk]
            if not chunks:
                break
            try:
                tasks = Parallel(**joblib_cfg, return_as="generator_unordered")(
                    delayed(run_chunk)([(i, initial_job_idx + i, configs[i]) for i in chunk], self.hydra_context,
                                       self.task_function, singleton_state)
                    for chunk in chunks
                )
                for done in tasks:
                    returns.update(done)
            except TerminatedWorkerError as error:
                exit_codes = str(error).split("exit codes of the workers are")[-1].split("\n")[0].strip() or "?"
                pending = [i for chunk in chunks for i in chunk if i not in returns]
                for i in pending:  # ended in a chunk that did not return: its outcome says how
                    outcome = self._outcome(sweep_dir, initial_job_idx + i)
                    if outcome is not None:
                        returns[i] = self._return(sweep_dir, initial_job_idx + i, job_overrides[i], outcome)
                killed = [i for i in pending if i not in returns and self._started(sweep_dir, initial_job_idx + i)]
                for i in killed:
                    returns[i] = self._killed(sweep_dir, initial_job_idx + i, job_overrides[i], exit_codes)
                left = [i for i in pending if i not in returns]
                print(f"sweep: a joblib worker was killed ({exit_codes}); job(s) {', '.join(f'#{initial_job_idx + i}' for i in killed) or 'none'} "
                      f"recorded as killed, {len(left)} not started yet go on", file=sys.stderr)
        for i in range(len(job_overrides)):  # workers died before these could start, round after round
            if i not in returns:
                returns[i] = self._killed(sweep_dir, initial_job_idx + i, job_overrides[i], "workers kept dying")
        return [returns[i] for i in range(len(job_overrides))]

    @staticmethod
    def _outcome(sweep_dir: Path, num: int) -> dict[str, Any] | None:
        outcome = sweep_dir / str(num) / OUTCOME_FILE  # hydra.sweep.subdir is ${hydra.job.num} (conf/config.yaml)
        return json.loads(outcome.read_text()) if outcome.exists() else None

    @staticmethod
    def _started(sweep_dir: Path, num: int) -> bool:
        job_dir = sweep_dir / str(num)
        return job_dir.exists() and not (job_dir / OUTCOME_FILE).exists()

    @staticmethod
    def _return(sweep_dir: Path, num: int, overrides: Sequence[str], outcome: dict[str, Any]) -> JobReturn:
        return JobReturn(overrides=list(overrides), working_dir=str(sweep_dir / str(num)), task_name="run",
                         status=JobStatus.COMPLETED, _return_value=outcome)

    @classmethod
    def _killed(cls, sweep_dir: Path, num: int, overrides: Sequence[str], why: str) -> JobReturn:
        job_dir = sweep_dir / str(num)
        job_dir.mkdir(parents=True, exist_ok=True)
        outcome = {"status": "killed", "job": num, "overrides": " ".join(overrides),
                   "reason": f"its joblib worker was killed ({why}); the next run of the sweep redoes it"}
        from actlab import write_atomic

        write_atomic(job_dir / OUTCOME_FILE, json.dumps(outcome))
        return cls._return(sweep_dir, num, overrides, None)
