"""Checks made before any work, in one place for the CLI, sweeps and tests: the config
(`config.validate`, plus the keys this module adds) and whether the tracking store can be written.

Every refusal is a `ConfigError`: one line for the user, exit status 2, raised before TensorFlow is
imported and before any MLflow record exists. Nothing here imports TensorFlow or MLflow, and
nothing here changes a file that exists (a store is only read, a test write goes to a new file).
"""

from __future__ import annotations

import math
import os
import shutil
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from actlab.pipeline.config import ConfigError, validate

SQLITE_PREFIX = "sqlite:///"
SQLITE_HEADER = b"SQLite format 3\x00"
# Below this much free space a run cannot be sure to write its metrics and artifacts.
MIN_FREE_MB = 20


class TrackingUnreachable(RuntimeError):
    """The tracking server did not answer for `tracking.retry_s` seconds (raised by track.py;
    defined here so that the CLI can catch it without importing MLflow)."""


class StoreUnusable(ConfigError):
    """The tracking store cannot be used as given; the message says why and what to do."""


def one_line(text: Any) -> str:
    """A multi-line message as one line: Hydra's "Available options in 'x':" list becomes
    comma-separated; its "Config search path:" block (Hydra's internals) is left out."""
    lines = [line.strip() for line in str(text).split("\nConfig search path:")[0].splitlines() if line.strip()]
    out = ""
    listing = False
    for line in lines:
        if not out:
            out = line
        elif listing:
            out += (" " if out.endswith(":") else ", ") + line
        else:
            out += (" " if out.endswith((":", ".")) else "; ") + line
        listing = listing or line.endswith(":")
    return out


def check(cfg: DictConfig, *, store: bool = True) -> None:
    """Raise ConfigError for the first thing that would make the run fail before it trains."""
    try:
        validate(cfg)
        check_unread_keys(cfg)
        _check_added_keys(cfg)
    except ConfigError:
        raise
    except (OmegaConfBaseException, AttributeError, KeyError, TypeError, ValueError) as error:
        # A tree `validate` does not expect: a group set to nothing (`model=`), a node replaced
        # by a value (`model=3` with `+`), a missing key.
        raise ConfigError(f"the composed config cannot be used: {one_line(error)}") from None
    if store and cfg.tracking.enabled:
        check_store(str(cfg.tracking.uri), str(cfg.tracking.experiment))


# Top-level settings something reads: the config groups, the run's seed, and a claim experiment's
# profile, study, claim and tune, and a timing run's `timing` (actlab.pipeline.timing). Any other
# top-level key came from a `+key=value` that nothing reads.
READ_TOP_LEVEL = ("dataset", "model", "activation", "initializer", "optimizer", "trainer", "tracking",
                  "seed", "profile", "study", "claim", "tune", "hydra", "timing")
# Groups whose keys are settings of this harness (not a component's parameters, which its
# `_target_` takes or refuses): their options' files say every key they may have.
SETTINGS_GROUPS = ("trainer", "tracking")


def check_unread_keys(cfg: DictConfig, dirs: list[Path] | None = None) -> None:
    """Refuse a key that nothing reads (`+activaton=selu`, `+trainer.epoch=3`), naming the closest
    one that is read: Hydra's hint for a typo suggests `+`, which would train a default run."""
    import difflib

    from actlab.pipeline.config import config_dirs, option_file, options

    def refuse(key: str, allowed: list[str]) -> None:
        close = difflib.get_close_matches(key.split(".")[-1], [a.split(".")[-1] for a in allowed], n=1)
        hint = f"did you mean {key.rsplit('.', 1)[0] + '.' if '.' in key else ''}{close[0]}? " if close else ""
        raise ConfigError(f"{key} is set but nothing reads it ({hint}allowed: {', '.join(allowed)})")

    for key in cfg:
        if key not in READ_TOP_LEVEL:
            refuse(str(key), [k for k in READ_TOP_LEVEL if k != "hydra"])
    if dirs is None:
        try:
            dirs = config_dirs(cfg)
        except ValueError:  # composed outside a Hydra app (a test, a library call): conf/ alone
            dirs = config_dirs()
    for group in SETTINGS_GROUPS:
        known = set()
        for option in options(group, dirs):
            known |= set(OmegaConf.load(option_file(group, option, dirs)).keys()) - {"defaults"}
        for key in cfg.get(group) or {}:
            if key not in known:
                refuse(f"{group}.{key}", [f"{group}.{k}" for k in sorted(known)])


def _check_added_keys(cfg: DictConfig) -> None:
    """The keys `config.validate` leaves unchecked: this module's own, and two older ones."""
    verbose = OmegaConf.select(cfg, "trainer.verbose", default="auto")
    if verbose not in ("auto", 0, 1, 2) or isinstance(verbose, bool):
        raise ConfigError(f"trainer.verbose={verbose!r} is not allowed: one of auto, 0, 1, 2")
    rerun = OmegaConf.select(cfg, "tracking.rerun", default=False)
    if not isinstance(rerun, bool):
        raise ConfigError(f"tracking.rerun={rerun!r} is not allowed: true or false")
    retry = OmegaConf.select(cfg, "tracking.retry_s", default=0)
    if isinstance(retry, bool) or not isinstance(retry, (int, float)) or not math.isfinite(retry) or retry < 0:
        raise ConfigError(f"tracking.retry_s={retry!r} is not allowed: a number of seconds >= 0")
    data_dir = OmegaConf.select(cfg, "dataset.data_dir", default=None)
    if data_dir is not None and (not isinstance(data_dir, str) or not data_dir.strip()):
        raise ConfigError(f"dataset.data_dir={data_dir!r} is not allowed: a folder, or null for the Keras cache")
    verify = OmegaConf.select(cfg, "dataset.verify", default=True)
    if not isinstance(verify, bool):
        raise ConfigError(f"dataset.verify={verify!r} is not allowed: true or false")


def sqlite_path(uri: str) -> Path | None:
    """The database file of a `sqlite:///` URI (relative to the working directory), else None."""
    if not uri.startswith(SQLITE_PREFIX):
        return None
    return Path(uri[len(SQLITE_PREFIX):]).expanduser().resolve()


def check_store(uri: str, experiment: str | None = None) -> None:
    """An SQLite store must be an MLflow store (or not exist yet) in a folder that takes writes; a
    tracking server with logins must accept the user's credentials and let them write `experiment`."""
    path = sqlite_path(uri)
    if path is None:
        if uri.startswith(("http://", "https://")):
            check_login(uri, experiment)
        return  # unreachable servers: see track.py
    where = f"tracking.uri={uri}"
    if path.is_dir():
        raise StoreUnusable(f"{where}: {path} is a folder; give the database file, e.g. {SQLITE_PREFIX}{path / 'mlflow.db'}")
    if path.exists():
        _check_is_mlflow_store(path, where)
        if not os.access(path, os.R_OK | os.W_OK):
            raise StoreUnusable(f"{where}: {path} cannot be written (a read-only file or file system); give tracking.uri a store you can write")
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    _check_folder_takes_writes(folder, where)


def _check_is_mlflow_store(path: Path, where: str) -> None:
    """Read only: the header, then the table names through a read-only connection."""
    with open(path, "rb") as file:
        header = file.read(len(SQLITE_HEADER))
    if not header:
        return  # an empty file: MLflow builds its store in it
    if header != SQLITE_HEADER:
        raise StoreUnusable(f"{where}: {path} is not an MLflow store (not an SQLite database); it was left untouched: "
                            "give tracking.uri a new file or an existing MLflow store")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in db.execute("select name from sqlite_master where type = 'table'")}
        finally:
            db.close()
    except sqlite3.Error as error:
        raise StoreUnusable(f"{where}: {path} cannot be read as an SQLite database ({error})") from None
    if tables and not {"alembic_version", "experiments", "runs"} <= tables:
        raise StoreUnusable(f"{where}: {path} is an SQLite database but not an MLflow store; it was left untouched: "
                            "give tracking.uri a new file or an existing MLflow store")


def _check_folder_takes_writes(folder: Path, where: str) -> None:
    """A real write (a new file, 64 KiB, synced, removed): permissions, a read-only mount and a
    full disk all show here, whoever runs (root ignores permission bits, not a read-only mount)."""
    free_mb = shutil.disk_usage(folder).free / 2**20
    if free_mb < MIN_FREE_MB:
        raise StoreUnusable(f"{where}: only {free_mb:.1f} MB free in {folder} (at least {MIN_FREE_MB} MB needed); "
                            "free some space or give tracking.uri another place")
    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".actlab-write-test-") as probe:
            probe.write(b"\0" * 65536)
            probe.flush()
            os.fsync(probe.fileno())
    except OSError as error:
        raise StoreUnusable(f"{where}: cannot write in {folder} ({error.strerror or error}); "
                            "give tracking.uri a writable place") from None


# A user's credentials, as MLflow's own clients take them (mlflow.utils.credentials).
CREDENTIAL_VARIABLES = "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD"
LOGIN_TIMEOUT_S = 10


class LoginRefused(ConfigError):
    """The tracking server refused the user's login or a write to the experiment (exit status 2)."""


def _credentials(uri: str) -> tuple[str, dict[str, str], str | None]:
    """(the URI without its user part, the Authorization header, the user name) as MLflow's client
    sends them: MLFLOW_TRACKING_USERNAME/PASSWORD, else MLFLOW_TRACKING_TOKEN, else the URI's user part."""
    import base64
    from urllib.parse import unquote, urlsplit, urlunsplit

    parts = urlsplit(uri)
    bare = urlunsplit(parts._replace(netloc=parts.hostname + (f":{parts.port}" if parts.port else ""))) if parts.hostname else uri
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if not (user and password) and parts.username is not None:
        user, password = unquote(parts.username), unquote(parts.password or "")
    if user and password:
        token = base64.b64encode(f"{user}:{password}".encode()).decode()
        return bare.rstrip("/"), {"Authorization": f"Basic {token}"}, user
    if os.environ.get("MLFLOW_TRACKING_TOKEN"):
        return bare.rstrip("/"), {"Authorization": f"Bearer {os.environ['MLFLOW_TRACKING_TOKEN']}"}, None
    return bare.rstrip("/"), {}, None


def _get(url: str, headers: dict[str, str], params: dict[str, str]):
    """One GET of MLflow's REST API; None where the server cannot be reached (track.py retries that)."""
    import requests

    try:
        return requests.get(url, headers=headers, params=params, timeout=LOGIN_TIMEOUT_S)
    except requests.exceptions.RequestException:
        return None


def check_login(uri: str, experiment: str | None) -> None:
    """Before any work: a server with logins (MLflow's basic-auth app) must accept this user, and
    the user must be allowed to write runs into `experiment` if it exists (creating it needs no
    grant). One GET each of MLflow's public REST API; nothing is written. A server without logins,
    or one that does not answer, passes here (the run then retries it for tracking.retry_s)."""
    from actlab.pipeline import redact

    base, headers, user = _credentials(uri)
    shown = redact.uri(uri)
    found = _get(f"{base}/api/2.0/mlflow/experiments/get-by-name", headers, {"experiment_name": experiment or "Default"})
    if found is None:
        return
    if found.status_code == 401:
        if not headers:
            raise LoginRefused(f"the tracking server at {shown} needs a login: set {CREDENTIAL_VARIABLES} "
                               "(the user and password its admin created for you)")
        raise LoginRefused(f"the tracking server at {shown} refused the login of user '{user or '(token)'}': "
                           f"check {CREDENTIAL_VARIABLES}")
    if found.status_code == 403:
        raise LoginRefused(f"user '{user}' may not read experiment '{experiment}' at {shown}: ask its owner for "
                           "EDIT permission, or choose another tracking.experiment")
    if found.status_code != 200 or not user or not experiment:
        return  # no such experiment (the run creates it), or a server without logins
    experiment_id = found.json().get("experiment", {}).get("experiment_id")
    # The effective permission, resolved by the server as its own checks do (a user may ask about themselves).
    permission = _get(f"{base}/api/3.0/mlflow/users/permissions/get", headers,
                      {"username": user, "resource_type": "experiment", "resource_id": str(experiment_id)})
    if permission is None or permission.status_code != 200:
        return  # a server whose login app has no such route: its own 403 stops the run's first write
    level = permission.json().get("permission", "")
    if level not in ("EDIT", "MANAGE"):
        raise LoginRefused(f"user '{user}' has {level or 'no'} permission on experiment '{experiment}' at {shown}, "
                           "and a run needs EDIT or MANAGE: ask its owner to grant it, or choose another tracking.experiment")
