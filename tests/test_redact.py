"""actlab.pipeline.redact, the one place secrets are blanked, and its writers that need no server:
Hydra's .hydra/ and multirun.yaml, the run's config.yaml / overrides.yaml artifacts, MLflow params
and tags, the outcome files and the console. (With a tracking server and its logins:
tests/test_team.py::test_a_planted_secret_appears_nowhere.)"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys

from actlab.pipeline import redact
from helpers import ROOT, TINY
from team_services import secret_dataset


def test_uri_passwords_secret_keys_and_env_values_are_blanked(monkeypatch):
    monkeypatch.setenv("SOME_SERVICE_API_KEY", "env-value-1234")
    text = ("http://alice:s3cret-pw@host:5000/x?token=tok123&x=1 +db.password=hunter22, api_key: zz99zz "
            "and env-value-1234 model.width=16 tokenizer=bert max_tokens=5")
    out = redact.text(text)
    for secret in ("s3cret-pw", "tok123", "hunter22", "zz99zz", "env-value-1234"):
        assert secret not in out
    # The user name stays (it says who wrote); keys that merely contain a word are no secret.
    assert "http://alice:***@host:5000" in out and "tokenizer=bert" in out and "max_tokens=5" in out
    assert redact.tree({"db": {"password": "pw-1234", "port": 5432}, "hf_token": None, "secrets": {"a": "b"}}) == \
        {"db": {"password": "***", "port": 5432}, "hf_token": None, "secrets": "***"}
    assert redact.overrides(["+service.token=abcd1234", "activation=relu"]) == ["+service.token=***", "activation=relu"]


def test_a_remembered_config_secret_is_blanked_in_any_message():
    redact.remember_config({"vault": {"client_secret": "remembered-999"}, "tracking": {"uri": "https://u:uri-pw-777@h"}})
    assert redact.text("error: login remembered-999 failed for uri-pw-777") == "error: login *** failed for ***"


def test_secrets_reach_no_file_record_or_line_of_a_sweep(tmp_path):
    """A sweep into SQLite with secrets planted in config values under secret-like keys and in an
    environment variable: none reaches the store (params, tags, descriptions, dataset inputs),
    the artifacts, Hydra's folders (.hydra/, multirun.yaml, outcome files) or the console."""
    secrets = {"password": "cfg-password-5150", "api_key": "cfg-api-key-8086", "token": "cfg-token-6502",
               "client_secret": "cfg-secret-6809"}
    env_secret = "env-token-68000"
    db = tmp_path / "mlflow.db"
    done = subprocess.run(
        [sys.executable, "-m", "run", "-m", *secret_dataset(tmp_path / "my_conf", secrets), *TINY[1:],
         f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path / 'sweep'}", "activation=relu,tanh"],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "ACTLAB_TEST_TOKEN": env_secret})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sweep: 2 finished" in done.stdout
    planted = [*secrets.values(), env_secret]
    places = {"console": done.stdout + done.stderr}
    for path in [*(tmp_path / "sweep").rglob("*"), *(tmp_path / "mlartifacts").rglob("*")]:  # artifacts: beside the db
        if path.is_file():
            places[str(path)] = path.read_bytes().decode(errors="replace")
    with sqlite3.connect(db) as conn:  # the whole store: params, tags, inputs, everything
        places["mlflow.db"] = "\n".join(str(row) for table in ("params", "tags", "experiment_tags", "runs", "datasets", "inputs")
                                        for row in conn.execute(f"select * from {table}"))
    conn.close()
    leaks = [(secret, place) for secret in planted for place, content in places.items() if secret in content]
    assert not leaks, leaks
    # The keys were recorded, blanked, not dropped; Hydra's record exists, written by our callback.
    assert "('dataset.password', '***'" in places["mlflow.db"]
    hydra_records = sorted(p.name for p in (tmp_path / "sweep").rglob(".hydra/*.yaml"))
    assert hydra_records == ["config.yaml", "config.yaml", "hydra.yaml", "hydra.yaml", "overrides.yaml", "overrides.yaml"]
    assert "password: '***'" in (tmp_path / "sweep" / "0" / ".hydra" / "config.yaml").read_text()
    assert (tmp_path / "sweep" / "multirun.yaml").exists()
