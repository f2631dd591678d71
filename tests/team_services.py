"""The team's services for the slow tests, started and stopped by the repo's own scripts in deploy/:
a PostgreSQL-backed MLflow server with logins (tracking_up.sh / tracking_down.sh) and a one-node
SLURM cluster (slurm_up.sh / slurm_down.sh). Each lives in a fresh folder under the system's temp
folder (the postgres and munge users must reach it, which pytest's own root-only tmp folders
forbid), on free loopback ports, and is stopped and removed when the session ends. A missing
system package or Python extra skips the test with a one-line reason."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _skip_unless_root(what: str) -> None:
    if os.geteuid() != 0:
        pytest.skip(f"{what} needs root (it starts system daemons); CI runs as root")


def _service_folder(prefix: str) -> Path:
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


@dataclass
class TeamServer:
    url: str
    folder: Path
    admin_password: str
    pg_port: int

    def admin(self) -> tuple[str, str]:
        return "admin", self.admin_password

    def create_user(self, username: str, password: str) -> None:
        """A login of the server's (MLflow's REST API, as its admin)."""
        done = requests.post(f"{self.url}/api/2.0/mlflow/users/create", auth=self.admin(), timeout=30,
                             json={"username": username, "password": password})
        assert done.status_code == 200 or "already exists" in done.text, done.text

    def grant(self, username: str, experiment_id: str, permission: str) -> None:
        done = requests.post(f"{self.url}/api/3.0/mlflow/users/permissions/grant", auth=self.admin(), timeout=30,
                             json={"username": username, "resource_type": "experiment", "resource_id": experiment_id,
                                   "permission": permission})
        assert done.status_code == 200, done.text

    def pg_ctl(self, action: str) -> None:
        """Stop or start the server's PostgreSQL (start: tracking_up.sh again, which leaves the rest alone)."""
        if action == "stop":
            pg_bin = sorted(Path("/usr/lib/postgresql").glob("*/bin"))[-1]
            subprocess.run(["runuser", "-u", "postgres", "--", str(pg_bin / "pg_ctl"), "-D", str(self.folder / "pg/data"),
                            "stop", "-m", "fast", "-w"], check=True, capture_output=True)
        else:
            _up(self.folder, self.pg_port, int(self.url.rsplit(":", 1)[1]))


def _up(folder: Path, pg_port: int, port: int) -> subprocess.CompletedProcess:
    env = {**os.environ, "ACTLAB_PG_PORT": str(pg_port), "ACTLAB_TRACKING_PORT": str(port), "ACTLAB_PYTHON": sys.executable}
    env.pop("MLFLOW_AUTH_ADMIN_PASSWORD", None)
    done = subprocess.run(["bash", str(DEPLOY / "tracking_up.sh"), str(folder)], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


@pytest.fixture(scope="session")
def team_server():
    """deploy/tracking_up.sh in a fresh folder: PostgreSQL + `mlflow server --app-name basic-auth`."""
    _skip_unless_root("the team tracking server")
    if not list(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl")):
        pytest.skip("PostgreSQL is not installed: apt-get install postgresql (.ci/run does)")
    try:
        import flask_wtf  # noqa: F401 - what mlflow[auth] adds
        import psycopg2  # noqa: F401
    except ImportError as missing:
        pytest.skip(f"{missing.name} is missing: pip install -e '.[team]'")
    folder = _service_folder("actlab-tracking-")
    pg_port, port = free_port(), free_port()
    try:
        done = _up(folder, pg_port, port)
        url = done.stdout.strip().splitlines()[-1]
        yield TeamServer(url, folder, (folder / "secrets/admin_password").read_text().strip(), pg_port)
    finally:
        subprocess.run(["bash", str(DEPLOY / "tracking_down.sh"), str(folder)], capture_output=True, timeout=120)
        shutil.rmtree(folder, ignore_errors=True)


@dataclass
class SlurmCluster:
    folder: Path
    env: dict[str, str]  # SLURM_CONF, for sbatch, squeue and scancel


@pytest.fixture(scope="session")
def slurm_cluster():
    """deploy/slurm_up.sh in a fresh folder: munged, slurmctld and slurmd on free ports."""
    _skip_unless_root("the SLURM cluster")
    missing = [c for c in ("slurmctld", "slurmd", "munged", "sbatch") if not shutil.which(c) and not Path(f"/usr/sbin/{c}").exists()]
    if missing:
        pytest.skip(f"SLURM is not installed ({', '.join(missing)} missing): apt-get install slurm-wlm munge (.ci/run does)")
    folder = _service_folder("actlab-slurm-")
    env = {**os.environ, "ACTLAB_SLURMCTLD_PORT": str(free_port()), "ACTLAB_SLURMD_PORT": str(free_port())}
    try:
        done = subprocess.run(["bash", str(DEPLOY / "slurm_up.sh"), str(folder)], env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        yield SlurmCluster(folder, {"SLURM_CONF": str(folder / "slurm.conf")})
    finally:
        subprocess.run(["bash", str(DEPLOY / "slurm_down.sh"), str(folder)], capture_output=True, timeout=180)
        shutil.rmtree(folder, ignore_errors=True)


SECRET_DATASET = """\
# A dataset behind a login (a stand-in: scikit-learn's digits, once the credentials are checked).
_target_: vault_data.load
loader: load_digits
api_key: null
password: null
token: null
client_secret: null
image_shape: [8, 8, 1]
split_seed: 0
val_fraction: 0.15
test_fraction: 0.15
train_fraction: 1.0
standardize: true
"""
SECRET_LOADER = """\
from actlab.pipeline.data import sklearn_dataset


def load(loader, api_key, password, token, client_secret):
    assert all(len(str(value)) > 8 for value in (api_key, password, token, client_secret)), "credentials missing"
    return sklearn_dataset(loader)
"""


def secret_dataset(folder: Path, secrets: dict[str, str]) -> list[str]:
    """A user's config folder with a dataset whose loader takes credentials (`api_key`, `password`,
    `token`, `client_secret`): the command-line arguments that choose it and set them."""
    (folder / "dataset").mkdir(parents=True, exist_ok=True)
    (folder / "dataset" / "vault.yaml").write_text(SECRET_DATASET)
    (folder / "vault_data.py").write_text(SECRET_LOADER)
    return ["--config-dir", str(folder), "dataset=vault", *(f"dataset.{key}={value}" for key, value in secrets.items())]
