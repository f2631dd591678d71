"""Hydra's joblib launcher, made to survive a worker killed mid-job (SIGKILL, the kernel's OOM
killer). Hydra's own ends the whole sweep with loky's TerminatedWorkerError and a traceback.

`conf/hydra/launcher/joblib.yaml` points `hydra/launcher=joblib` here, with the plugin's own
settings (Hydra takes launchers only from the `hydra_plugins` namespace, hence this package).
When a worker dies, loky stops every worker of the pool (SIGKILL: nothing can tell the
killed job from the one running beside it), so each job that had started and written no outcome is
recorded as killed (its MLflow run is ended KILLED by the sweep's end, `mark_stale_runs`), and the
jobs not yet started run on a fresh pool. The next run of the sweep redoes the killed jobs: they
have no FINISHED run. Each job runs as Hydra's plugin runs it (`execute_job`, from Hydra's public
`run_job`), and `joblib.Parallel` gets the plugin's own arguments (actlab.pipeline.sweep.joblib_arguments).
"""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any, Sequence

from hydra.core.hydra_config import HydraConfig
from hydra.core.singleton import Singleton
from hydra.core.utils import JobReturn, JobStatus, run_job, setup_globals
from omegaconf import open_dict

# Hydra's warning that run.py silences in the launching process, silenced in joblib's workers, which
# import this module (to unpickle `execute_job`) but not run.py.
from actlab import SHADOWED_CONFIG_WARNING
from hydra_plugins.hydra_joblib_launcher.joblib_launcher import JoblibLauncher as HydraJoblibLauncher

warnings.filterwarnings("ignore", message=SHADOWED_CONFIG_WARNING)

OUTCOME_FILE = "outcome.json"  # actlab.pipeline.sweep's; not imported here: Hydra imports this module at every start


def execute_job(idx: int, overrides: Sequence[str], hydra_context, config, task_function, singleton_state) -> JobReturn:
    """One job in a worker process, as Hydra's joblib plugin runs it."""
    setup_globals()
    Singleton.set_state(singleton_state)
    sweep_config = hydra_context.config_loader.load_sweep_config(config, list(overrides))
    with open_dict(sweep_config):
        sweep_config.hydra.job.id = f"{sweep_config.hydra.job.name}_{idx}"
        sweep_config.hydra.job.num = idx
    HydraConfig.instance().set_config(sweep_config)
    return run_job(hydra_context=hydra_context, config=sweep_config, task_function=task_function,
                   job_dir_key="hydra.sweep.dir", job_subdir_key="hydra.sweep.subdir")


def _numbered(position: int, *args: Any) -> tuple[int, JobReturn]:
    return position, execute_job(*args)


class JoblibLauncher(HydraJoblibLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        from joblib import Parallel, delayed
        from joblib.externals.loky.process_executor import TerminatedWorkerError

        setup_globals()
        assert self.config is not None and self.hydra_context is not None and self.task_function is not None
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        from actlab.pipeline.sweep import joblib_arguments

        joblib_cfg = joblib_arguments(dict(self.joblib))
        singleton_state = Singleton.get_state()
        returns: dict[int, JobReturn] = {}
        pending = list(range(len(job_overrides)))
        for _ in range(len(job_overrides) + 1):  # each round ends at least one job, or none is left
            if not pending:
                break
            try:
                jobs = Parallel(**joblib_cfg, return_as="generator_unordered")(
                    delayed(_numbered)(i, initial_job_idx + i, job_overrides[i], self.hydra_context, self.config,
                                       self.task_function, singleton_state)
                    for i in pending
                )
                for i, job_return in jobs:
                    returns[i] = job_return
            except TerminatedWorkerError as error:
                exit_codes = str(error).split("exit codes of the workers are")[-1].split("\n")[0].strip() or "?"
                killed = [i for i in pending if i not in returns and self._started(sweep_dir, initial_job_idx + i)]
                for i in killed:
                    returns[i] = self._killed(sweep_dir, initial_job_idx + i, job_overrides[i], exit_codes)
                left = [i for i in pending if i not in returns]
                print(f"sweep: a joblib worker was killed ({exit_codes}); job(s) {', '.join(f'#{initial_job_idx + i}' for i in killed) or 'none'} "
                      f"recorded as killed, {len(left)} not started yet go on", file=sys.stderr)
            pending = [i for i in pending if i not in returns]
        for i in pending:  # workers died before these could start, round after round
            returns[i] = self._killed(sweep_dir, initial_job_idx + i, job_overrides[i], "workers kept dying")
        return [returns[i] for i in range(len(job_overrides))]

    @staticmethod
    def _started(sweep_dir: Path, num: int) -> bool:
        job_dir = sweep_dir / str(num)  # hydra.sweep.subdir is ${hydra.job.num} (conf/config.yaml)
        return job_dir.exists() and not (job_dir / OUTCOME_FILE).exists()

    @staticmethod
    def _killed(sweep_dir: Path, num: int, overrides: Sequence[str], why: str) -> JobReturn:
        job_dir = sweep_dir / str(num)
        job_dir.mkdir(parents=True, exist_ok=True)
        outcome = {"status": "killed", "job": num, "overrides": " ".join(overrides),
                   "reason": f"its joblib worker was killed ({why}); the next run of the sweep redoes it"}
        from actlab import write_atomic

        write_atomic(job_dir / OUTCOME_FILE, json.dumps(outcome))
        return JobReturn(overrides=list(overrides), working_dir=str(job_dir), task_name="run",
                         status=JobStatus.COMPLETED, _return_value=None)
