"""A team's tracking server, as deploy/tracking_up.sh starts it: PostgreSQL, `mlflow server
--app-name basic-auth` on 127.0.0.1. Logins refused before any work, a planted secret found
nowhere, two sweeps at once through a PostgreSQL restart. (Slow: the server takes ~15 s to start,
once per session; the SLURM path is tests/test_slurm.py.)"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from mlflow import MlflowClient

from helpers import ROOT, TINY
from team_services import free_port, secret_dataset

pytestmark = pytest.mark.slow

CREDENTIALS = ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN")


def _env(user: str | None = None, password: str | None = None, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    if user:
        env |= {"MLFLOW_TRACKING_USERNAME": user, "MLFLOW_TRACKING_PASSWORD": password}
    return env | extra


def _cli(args: list[str], env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "run", *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=timeout)


def _runs(server, experiment: str) -> list:
    """Every run of `experiment` (as the admin), deleted ones too."""
    client = MlflowClient(server.url)
    old = {k: os.environ.get(k) for k in CREDENTIALS}
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = server.admin()
    try:
        found = client.get_experiment_by_name(experiment)
        return [] if found is None else client.search_runs([found.experiment_id], run_view_type=3, max_results=10000)
    finally:
        for key, value in old.items():
            os.environ.pop(key, None) if value is None else os.environ.__setitem__(key, value)


def _create_experiment(server, name: str, user: str, password: str) -> str:
    done = requests.post(f"{server.url}/api/2.0/mlflow/experiments/create", auth=(user, password), json={"name": name}, timeout=30)
    assert done.status_code == 200, done.text
    return done.json()["experiment_id"]


def test_logins_are_checked_before_any_work(team_server, tmp_path):
    server = team_server
    server.create_user("alice", "alice-pw-4711")
    server.create_user("bob", "bob-password-0815")
    study = _create_experiment(server, "alice-study", "alice", "alice-pw-4711")  # alice manages it
    base = [*TINY, "tracking=server", f"tracking.uri={server.url}", "tracking.experiment=alice-study",
            f"hydra.run.dir={tmp_path / 'run'}", f"hydra.sweep.dir={tmp_path / 'sweep'}"]
    names = "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
    refusals = [
        (_env(), f"needs a login: set {names}"),
        (_env("alice", "not-her-password"), f"refused the login of user 'alice': check {names}"),
        (_env("bob", "bob-password-0815"), "user 'bob' has READ permission on experiment 'alice-study'"),
    ]
    for env, says in refusals:
        for sweep in ([], ["-m", "activation=relu,tanh"]):
            done = _cli([*sweep, *base], env)
            lines = done.stderr.strip().splitlines()
            assert done.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: ") and says in lines[0], done.stderr
            assert "Epoch" not in done.stdout and "sweep:" not in done.stdout  # refused before training
    assert _runs(server, "alice-study") == []  # and before any record
    # With a grant, bob writes; alice always could.
    server.grant("bob", study, "EDIT")
    for user, password in (("alice", "alice-pw-4711"), ("bob", "bob-password-0815")):
        done = _cli([*base, f"seed={len(user)}"], _env(user, password))
        assert done.returncode == 0, done.stderr[-3000:]
    runs = _runs(server, "alice-study")
    assert [r.info.status for r in runs] == ["FINISHED"] * 2


def test_a_planted_secret_appears_nowhere(team_server, tmp_path):
    """A password in the tracking URI, a password and a token in environment variables, and config
    values under `password`, `token`, `secret` and `api_key` keys: searched for in the MLflow
    database (a pg_dump: params, tags, descriptions, dataset inputs), the server's artifact store
    (config.yaml, overrides.yaml, ...), Hydra's run and sweep folders (.hydra/, multirun.yaml,
    outcome files), the console of a run, a sweep, a failing run and `python -m report`."""
    server = team_server
    uri_password, env_password, env_token = (f"{kind}-{secrets.token_hex(6)}" for kind in ("uripw", "envpw", "envtok"))
    server.create_user("carol", uri_password)
    server.create_user("dave", env_password)
    # A user's dataset whose loader takes four credentials (tests/team_services.py).
    config = {key: f"cfg-{key}-{secrets.token_hex(6)}" for key in ("password", "token", "client_secret", "api_key")}
    planted = [uri_password, env_password, env_token, *config.values()]
    host = server.url.removeprefix("http://")
    overrides = [*secret_dataset(tmp_path / "my_conf", config), *TINY[1:], "tracking=server"]
    console = []
    # A run with the password in the URI; a sweep with it in MLFLOW_TRACKING_PASSWORD (and a token beside it).
    done = _cli([*overrides, f"tracking.uri=http://carol:{uri_password}@{host}", "tracking.experiment=carol",
                 f"hydra.run.dir={tmp_path / 'run'}"], _env())
    console.append(done.stdout + done.stderr)
    assert done.returncode == 0, done.stderr[-3000:]
    done = _cli(["-m", *overrides, f"tracking.uri={server.url}", "tracking.experiment=dave", "activation=relu,tanh",
                 f"hydra.sweep.dir={tmp_path / 'sweep'}"], _env("dave", env_password, ACTLAB_SERVICE_TOKEN=env_token))
    console.append(done.stdout + done.stderr)
    assert done.returncode == 0 and "sweep: 2 finished" in done.stdout, done.stderr[-3000:]
    # Failing paths print URIs: a server that does not answer, and the report's "no experiment" line.
    done = _cli([*overrides, f"tracking.uri=http://carol:{uri_password}@127.0.0.1:{free_port()}", "tracking.retry_s=1",
                 f"hydra.run.dir={tmp_path / 'gone'}"], _env())
    console.append(done.stdout + done.stderr)
    assert done.returncode == 1 and "tracking server unreachable at http://carol:***@127.0.0.1:" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "report", "--uri", f"http://carol:{uri_password}@{host}", "--no-mlflow",
                           "--out", str(tmp_path / "report")], cwd=ROOT, capture_output=True, text=True, env=_env(), timeout=300)
    console.append(done.stdout + done.stderr)
    assert "http://carol:***@" in done.stderr, done.stderr

    places = {"console": "\n".join(console)}
    dump = subprocess.run(["runuser", "-u", "postgres", "--", "pg_dump", "-h", str(server.folder / "pg/run"), "-p",
                           str(server.pg_port), "mlflow"], capture_output=True, text=True, timeout=120, check=True)
    places["pg_dump mlflow"] = dump.stdout
    for top in (tmp_path, server.folder / "artifacts"):
        for path in top.rglob("*"):
            if path.is_file():
                places[str(path)] = path.read_bytes().decode(errors="replace")
    leaks = sorted({(secret, place, content[max(0, content.index(secret) - 80):content.index(secret) + 40])
                    for secret in planted for place, content in places.items() if secret in content})
    assert not leaks, leaks
    # What was searched holds the runs: their blanked params and the config artifacts.
    assert "dataset.password\t***" in dump.stdout
    assert sum(name.endswith("config.yaml") for name in places) >= 3 + 3  # 3 runs' artifacts + their .hydra records
    assert len([r for r in _runs(server, "dave") if r.info.status == "FINISHED"]) == 3  # 2 jobs + the sweep's parent


def _sweep(server, tmp_path: Path, name: str, activations: str, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "run", "-m", *TINY, "tracking=server", f"tracking.uri={server.url}", "tracking.experiment=shared",
         "tracking.retry_s=90", f"activation={activations}", "seed=0,1", "trainer.epochs=25", f"hydra.sweep.dir={tmp_path / name}"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_two_sweeps_at_once_through_a_postgres_restart_lose_nothing(team_server, tmp_path):
    server = team_server
    server.create_user("erin", "erin-pw-2718")
    server.create_user("frank", "frank-pw-3141")
    shared = _create_experiment(server, "shared", "erin", "erin-pw-2718")
    server.grant("frank", shared, "EDIT")
    first = _sweep(server, tmp_path, "erin", "relu,tanh", _env("erin", "erin-pw-2718"))
    second = _sweep(server, tmp_path, "frank", "elu,selu", _env("frank", "frank-pw-3141"))
    # PostgreSQL goes away while both sweeps are training, for 5 s, well within tracking.retry_s.
    deadline = time.time() + 300
    while not any(r.info.status == "RUNNING" and "mlflow.parentRunId" in r.data.tags for r in _runs(server, "shared")):
        assert time.time() < deadline, "no job started"
        time.sleep(0.5)
    server.pg_ctl("stop")
    time.sleep(5)
    server.pg_ctl("start")
    outputs = [process.communicate(timeout=900) for process in (first, second)]
    for process, (out, err) in zip((first, second), outputs):
        assert process.returncode == 0, err[-3000:]
        assert "sweep: 4 finished" in out, out + err
    runs = _runs(server, "shared")
    assert not [r for r in runs if r.info.status != "FINISHED"]  # nothing RUNNING, FAILED or KILLED
    parents = [r for r in runs if r.data.tags.get("sweep") == "true"]
    jobs = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    assert len(parents) == 2 and len(runs) == 2 + 8
    # Each of the 8 configs once (nothing duplicated), under its own sweep's parent, every epoch kept (nothing lost).
    assert len({(r.data.tags["activation"], r.data.tags["seed"]) for r in jobs}) == 8
    assert {r.data.tags["mlflow.parentRunId"] for r in jobs} == {p.info.run_id for p in parents}
    client = MlflowClient(server.url)
    os.environ["MLFLOW_TRACKING_USERNAME"], os.environ["MLFLOW_TRACKING_PASSWORD"] = server.admin()
    try:
        for run in jobs:
            assert len(client.get_metric_history(run.info.run_id, "curves/val_accuracy")) == 25
    finally:
        for key in CREDENTIALS:
            os.environ.pop(key, None)
