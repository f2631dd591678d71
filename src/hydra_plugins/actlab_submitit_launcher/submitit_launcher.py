"""Hydra's submitit SLURM launcher, made to survive a job that ends without a result: cancelled
(`scancel`), past `timeout_min`, pre-empted, out of memory, its node failed. Hydra's own waits on
every job's result in turn and ends the whole sweep with a traceback at the first such job; on a
cluster without accounting (no slurmdbd, so `sacct` has nothing) it waits for such a job forever.

`conf/hydra/launcher/submitit_slurm.yaml` points `hydra/launcher=submitit_slurm` here, with the
plugin's own settings. Jobs are submitted exactly as the plugin submits them (`submitit.AutoExecutor`,
`map_array` of the launcher itself, whose `__call__` is Hydra's `run_job`). Then, instead of
`job.results()` one after the other, the launcher follows every job through the result file
submitit writes and `squeue` (which shows a finished job, with its final state, for MinJobAge
seconds, 300 by default): a job that left the queue without a result is recorded in its outcome
file as killed (CANCELLED, TIMEOUT, PREEMPTED, NODE_FAIL, OUT_OF_MEMORY) or failed, with its SLURM
state, and the sweep goes on. Its MLflow run, if it had started one, was ended KILLED by the job's
own SIGTERM handler, or, if SLURM had to SIGKILL it, is marked KILLED at the sweep's end
(`Store.mark_stale_runs`, from the run's `slurm_job_id` tag). The next run of the sweep redoes it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import warnings
from pathlib import Path
from typing import Sequence

from hydra.core.utils import JobReturn, JobStatus

from actlab import SHADOWED_CONFIG_WARNING
from hydra_plugins.hydra_submitit_launcher.submitit_launcher import SlurmLauncher as HydraSlurmLauncher

warnings.filterwarnings("ignore", message=SHADOWED_CONFIG_WARNING)

OUTCOME_FILE = "outcome.json"  # actlab.pipeline.sweep's; not imported here: Hydra imports this module at every start
POLL_S = 2.0
# How long a job that SLURM says has ended may take to show its result file (a shared file system's lag).
RESULT_GRACE_S = 30.0
# WARNED: SLURM's SIGUSR2 before the time limit (sent up to a minute early) reached the job before
# its own handler was set, and ended it (srun's or submitit's line in the job's log says so).
KILLED_STATES = ("CANCELLED", "TIMEOUT", "PREEMPTED", "NODE_FAIL", "OUT_OF_MEMORY", "DEADLINE", "BOOT_FAIL", "WARNED")
WARNED_LINES = ("User defined signal 2", "Caught signal SIGUSR2")
ENDED_STATES = (*KILLED_STATES, "COMPLETED", "FAILED", "REVOKED", "SPECIAL_EXIT")


def queue_states(job_ids: Sequence[str]) -> dict[str, str] | None:
    """{job id: state} from `squeue` for these array tasks (finished ones too, while the controller
    keeps them); None when squeue could not be asked (the controller busy or restarting)."""
    done = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-o", "%i %T", "-j", ",".join(job_ids)],
                          capture_output=True, text=True, timeout=60)
    if done.returncode != 0 and "Invalid job id" not in done.stderr:
        return None
    return dict(line.split()[:2] for line in done.stdout.splitlines() if len(line.split()) >= 2)


def warned(job) -> bool:
    """Whether the job's logs show SLURM's SIGUSR2 reaching it (the last 64 kB of each are read;
    with `stderr_to_stdout` srun's and submitit's lines are in the .out file)."""
    for path in (job.paths.stderr, job.paths.stdout):
        try:
            with open(path, "rb") as log:
                log.seek(max(0, log.seek(0, 2) - 65536))
                tail = log.read().decode(errors="replace")
        except OSError:
            continue
        if any(line in tail for line in WARNED_LINES):
            return True
    return False


def _failure(result: JobReturn) -> BaseException:
    """The exception a failed JobReturn holds (Hydra raises it from `return_value`)."""
    try:
        _ = result.return_value  # raises the job's exception
    except BaseException as error:
        return error
    return RuntimeError("the job failed")


class SlurmLauncher(HydraSlurmLauncher):
    def launch(self, job_overrides: Sequence[Sequence[str]], initial_job_idx: int) -> Sequence[JobReturn]:
        import submitit
        from hydra.core.singleton import Singleton
        from hydra.core.utils import filter_overrides  # noqa: F401 - as the plugin imports it
        from omegaconf import OmegaConf

        from hydra_plugins.hydra_submitit_launcher.config import BaseQueueConf

        assert self.config is not None and len(job_overrides) > 0
        # The executor, as the plugin builds it (hydra_submitit_launcher 1.2.0, BaseSubmititLauncher.launch).
        init_keys = {"max_num_timeout", "submitit_folder"}
        executor = submitit.AutoExecutor(cluster=self._EXECUTOR, folder=self.params["submitit_folder"],
                                         **{f"{self._EXECUTOR}_max_num_timeout": self.params["max_num_timeout"]}
                                         if "max_num_timeout" in self.params else {})
        baseparams = set(OmegaConf.structured(BaseQueueConf).keys())
        executor.update_parameters(**{key if key in baseparams else f"{self._EXECUTOR}_{key}": value
                                      for key, value in self.params.items() if key not in init_keys})
        sweep_dir = Path(str(self.config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        job_params = [(list(overrides), "hydra.sweep.dir", initial_job_idx + i, f"job_id_for_{initial_job_idx + i}",
                       Singleton.get_state()) for i, overrides in enumerate(job_overrides)]
        jobs = executor.map_array(self, *zip(*job_params))
        return self._collect(jobs, job_overrides, initial_job_idx, sweep_dir)

    def _collect(self, jobs: list, job_overrides: Sequence[Sequence[str]], first: int, sweep_dir: Path) -> list[JobReturn]:
        returns: dict[int, JobReturn] = {}
        ended_at: dict[int, float] = {}
        pending = dict(enumerate(jobs))
        while pending:
            states = queue_states([job.job_id for job in pending.values()]) or {}
            for i, job in list(pending.items()):
                num = first + i
                if job.paths.result_pickle.exists():
                    try:
                        result, error = job.results()[0], None
                        if result.status == JobStatus.FAILED:  # raised in the job before its own handling
                            error = _failure(result)
                    except Exception as raised:  # submitit's (its SIGUSR2 handler's, too)
                        result, error = None, raised
                    if error is None:
                        returns[i] = result  # a job that ran to its end, whatever its log says
                    else:
                        state = "WARNED" if warned(job) else "FAILED"
                        message = "" if state == "WARNED" else " ".join(str(error).split())[:300]
                        returns[i] = self._ended(sweep_dir, num, job_overrides[i], job.job_id, state, message)
                    del pending[i]
                    continue
                state = states.get(job.job_id, "GONE" if states else "")
                if state in ("FAILED", "GONE") and warned(job):
                    state = "WARNED"
                if (state.split() or [""])[0] in ENDED_STATES or state == "GONE":
                    ended_at.setdefault(i, time.monotonic())
                    if time.monotonic() - ended_at[i] >= (0 if state in KILLED_STATES else RESULT_GRACE_S):
                        returns[i] = self._ended(sweep_dir, num, job_overrides[i], job.job_id, state, "")
                        del pending[i]
            if pending:
                time.sleep(POLL_S)
        return [returns[i] for i in range(len(jobs))]

    def _ended(self, sweep_dir: Path, num: int, overrides: Sequence[str], job_id: str, state: str, message: str) -> JobReturn:
        """Record a job that gave no result: its outcome file says killed or failed, and why."""
        from actlab import write_atomic
        from actlab.pipeline import redact

        job_dir = sweep_dir / str(num)  # hydra.sweep.subdir is ${hydra.job.num} (conf/config.yaml)
        job_dir.mkdir(parents=True, exist_ok=True)
        path = job_dir / OUTCOME_FILE
        outcome = json.loads(path.read_text()) if path.exists() else {}
        if outcome.get("status") not in ("finished", "skipped", "diverged"):
            why = {"TIMEOUT": f"past its time limit (hydra.launcher.timeout_min={self.params.get('timeout_min')})",
                   "CANCELLED": "cancelled (scancel)", "GONE": "gone from the queue without a result",
                   "WARNED": "was sent SIGUSR2, its time-limit warning, while still starting (SLURM may send it up to a "
                             f"minute early): raise hydra.launcher.timeout_min ({self.params.get('timeout_min')}) or lower "
                             f"hydra.launcher.signal_delay_s ({self.params.get('signal_delay_s')})"}.get(state, state)
            reason = f"SLURM job {job_id} {why}" + (f": {message}" if message else "") + \
                (f" ({outcome['reason']})" if outcome.get("reason") else "") + "; the next run of the sweep redoes it"
            status = "killed" if state in (*KILLED_STATES, "GONE") or outcome.get("status") == "killed" else "failed"
            outcome = {**outcome, "status": status, "job": num, "overrides": " ".join(overrides), "reason": reason}
            write_atomic(path, json.dumps(redact.tree(outcome)))
            print(redact.text(f"sweep: job #{num} {status}: {reason}"), file=sys.stderr)
        return JobReturn(overrides=list(overrides), working_dir=str(job_dir), task_name="run",
                         status=JobStatus.COMPLETED, _return_value=None)


