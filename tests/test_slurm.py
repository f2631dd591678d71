"""The README's SLURM sweep, run for real: `hydra/launcher=submitit_slurm` on the one-node cluster of
deploy/slurm_up.sh, into the team's tracking server of deploy/tracking_up.sh (PostgreSQL, logins).
A job cancelled with scancel mid-sweep and a job past its time limit are recorded as not finished,
the sweeps go on, and their reruns complete them with no duplicate."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from mlflow import MlflowClient

from helpers import ROOT, TINY

pytestmark = pytest.mark.slow

CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def _readme_sweep(server, timeout_min: int) -> list[str]:
    """The README's command, sized for this 2-core node: one CPU per job, two jobs at a time."""
    return ["-m", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=cpu", "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=2", f"hydra.launcher.timeout_min={timeout_min}", "hydra.launcher.signal_delay_s=30",
            "hydra.launcher.array_parallelism=2", "tracking=server", f"tracking.uri={server.url}",
            "tracking.experiment=slurm", *TINY]


def _runs(server) -> list:
    client = MlflowClient(server.url)
    saved = {k: os.environ.pop(k, None) for k in CREDENTIALS}
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = server.admin()
    try:
        found = client.get_experiment_by_name("slurm")
        return [] if found is None else client.search_runs([found.experiment_id], max_results=1000)
    finally:
        for key, value in saved.items():
            os.environ.pop(key, None)
            if value is not None:
                os.environ[key] = value


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "run", *args], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=900)
    assert process.returncode == 0, (out + err)[-4000:]
    assert "Traceback" not in out + err, err[-4000:]
    return out + err


def test_a_slurm_sweep_with_a_cancelled_and_a_timed_out_job(slurm_cluster, team_server, tmp_path):
    server = team_server
    server.create_user("grace", "grace-pw-1906")
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS} | slurm_cluster.env | {
        "MLFLOW_TRACKING_USERNAME": "grace", "MLFLOW_TRACKING_PASSWORD": "grace-pw-1906"}
    three = [*_readme_sweep(server, 5), "activation=relu,tanh,elu", "seed=0", "trainer.epochs=60"]
    # One job (selu, 900 epochs: over a minute) with a time limit of 1 minute.
    late = [*_readme_sweep(server, 1), "activation=selu", "trainer.epochs=900"]
    start = time.monotonic()
    first = _start([*three, f"hydra.sweep.dir={tmp_path / 'three'}"], env)
    timed = _start([*late, f"hydra.sweep.dir={tmp_path / 'late'}"], env)
    # scancel the tanh job once it trains (its MLflow run exists and names its SLURM job).
    deadline = time.time() + 600
    while True:
        tanh = [r for r in _runs(server) if r.data.tags.get("activation") == "tanh" and r.info.status == "RUNNING"]
        if tanh and "slurm_job_id" in tanh[0].data.tags:
            break
        assert time.time() < deadline and first.poll() is None, "the tanh job never started"
        time.sleep(0.5)
    cancelled = tanh[0].data.tags["slurm_job_id"]
    subprocess.run(["scancel", cancelled], env=env, check=True)
    out_three, out_late = _finish(first), _finish(timed)
    first_pass_s = time.monotonic() - start
    # Recorded as not finished; each sweep went on to its end.
    assert "sweep: 2 finished, 1 killed" in out_three and f"SLURM job {cancelled} cancelled (scancel)" in out_three, out_three
    assert "sweep: 1 killed" in out_late and "time limit" in out_late, out_late
    runs = _runs(server)
    status = {r.data.tags.get("activation"): r.info.status for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert status["relu"] == status["elu"] == "FINISHED" and status["tanh"] == "KILLED", status
    assert status.get("selu", "none") != "FINISHED"
    assert not [r for r in runs if r.info.status == "RUNNING"]

    # The reruns (the late job with a longer limit) complete them, each config FINISHED once.
    start = time.monotonic()
    again = _start([*three, f"hydra.sweep.dir={tmp_path / 'three-again'}"], env)
    longer = [*late, "hydra.launcher.timeout_min=4"]
    later = _start([*longer, f"hydra.sweep.dir={tmp_path / 'late-again'}"], env)
    out_again, out_later = _finish(again), _finish(later)
    rerun_s = time.monotonic() - start
    assert "sweep: 1 finished, 2 skipped" in out_again and "sweep: 1 finished" in out_later, out_again + out_later
    runs = _runs(server)
    parents = {r.info.run_id: r for r in runs if r.data.tags.get("sweep") == "true"}
    jobs = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    finished = sorted(r.data.tags["activation"] for r in jobs if r.info.status == "FINISHED")
    assert finished == ["elu", "relu", "selu", "tanh"]  # no duplicate
    assert len(parents) == 2 and all(p.info.status == "FINISHED" for p in parents.values())  # one parent per sweep
    assert {r.data.tags["mlflow.parentRunId"] for r in jobs} == set(parents)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    print(f"\nSLURM: first pass {first_pass_s:.0f} s, reruns {rerun_s:.0f} s")


def test_a_job_warned_of_its_time_limit_before_any_handler_is_killed_not_failed(slurm_cluster, tmp_path):
    """SLURM sends SIGUSR2 up to a minute before `signal_delay_s`: on a busy node it can reach a job
    still starting, before submitit's handler or the run's, and end it. Such a job was reported
    'failed' (SLURM says FAILED); it is killed by its time limit, and the next sweep redoes it."""
    # A node this busy, made certain: the job's Python sleeps at start-up, past the signal.
    slow = tmp_path / "slow_start"
    slow.mkdir()
    (slow / "sitecustomize.py").write_text("import os, time\nif os.environ.get('SLURM_JOB_ID'):\n    time.sleep(50)\n")
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS} | slurm_cluster.env | {
        "PYTHONPATH": os.pathsep.join([str(slow), *filter(None, [os.environ.get("PYTHONPATH")])])}
    db = tmp_path / "mlflow.db"
    args = ["-m", "hydra/launcher=submitit_slurm", "hydra.launcher.partition=cpu", "hydra.launcher.cpus_per_task=1",
            "hydra.launcher.mem_gb=2", "hydra.launcher.timeout_min=1", "hydra.launcher.signal_delay_s=59",
            f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path / 'sweep'}", *TINY, "activation=relu"]
    out = _finish(_start(args, env))
    assert "sweep: 1 killed" in out and "was sent SIGUSR2, its time-limit warning, while still starting" in out, out
    runs = MlflowClient(f"sqlite:///{db}").search_runs(["1"]) if db.exists() else []
    assert not [r for r in runs if r.info.status in ("RUNNING", "FINISHED") and "mlflow.parentRunId" in r.data.tags]


class _Job:
    """Just what the launcher reads of a submitit job: its files, its id, its result."""

    def __init__(self, folder: Path, job_id: str, result=None, raises: BaseException | None = None, log: str = ""):
        folder.mkdir(parents=True, exist_ok=True)
        self.job_id, self._result, self._raises = job_id, result, raises
        self.paths = SimpleNamespace(result_pickle=folder / f"{job_id}_result.pkl", stderr=folder / f"{job_id}_log.err",
                                     stdout=folder / f"{job_id}_log.out")
        self.paths.result_pickle.write_bytes(b"")
        self.paths.stderr.write_text(log)

    def results(self):
        if self._raises is not None:
            raise self._raises
        return [self._result]


@pytest.mark.skipif(shutil.which("squeue") is None, reason="needs SLURM's squeue (apt-get install slurm-client)")
def test_the_launcher_tells_a_warned_job_from_a_failed_one_and_from_one_that_ran_to_its_end(tmp_path):
    from hydra.core.utils import JobReturn, JobStatus
    from submitit.core.utils import UncompletedJobError

    from hydra_plugins.actlab_submitit_launcher.submitit_launcher import SlurmLauncher

    logs = tmp_path / "submitit"
    done = JobReturn(overrides=["seed=2"], status=JobStatus.COMPLETED, _return_value=None)
    jobs = [_Job(logs, "7_0", raises=UncompletedJobError("Job not requeued because: timed-out and not checkpointable."),
                 log="submitit WARNING - Caught signal SIGUSR2 on vm: this job is timed-out.\n"),
            _Job(logs, "7_1", result=JobReturn(overrides=["seed=1"], status=JobStatus.FAILED, _return_value=ValueError("boom"))),
            _Job(logs, "7_2", result=done, log="an earlier attempt: srun: error: vm: task 0: User defined signal 2\n")]
    sweep = tmp_path / "sweep"
    returns = SlurmLauncher(timeout_min=1, signal_delay_s=59)._collect(jobs, [["seed=0"], ["seed=1"], ["seed=2"]], 0, sweep)
    outcomes = {num: json.loads((sweep / str(num) / "outcome.json").read_text()) for num in (0, 1)}
    assert outcomes[0]["status"] == "killed" and "its time-limit warning, while still starting" in outcomes[0]["reason"]
    assert outcomes[1]["status"] == "failed" and "boom" in outcomes[1]["reason"]
    assert returns[2] is done and not (sweep / "2").exists()  # ran to its end: left as it is
