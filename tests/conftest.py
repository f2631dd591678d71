"""The suite's guard and fixtures: no test writes into the real home; tiny configs per test (helpers.py)."""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# No test writes into the real home: HOME and the caches point at a folder of this session, set
# here (before any test module imports Keras, which reads KERAS_HOME once, at import) and in
# os.environ, so subprocesses inherit it. `pytest_sessionfinish` fails the session if the real
# home's folders that this project writes to changed anyway.
REAL_HOME = Path.home()
_SESSION_HOME = Path(tempfile.mkdtemp(prefix="actlab-test-home-"))
# Removed at exit, also where a test's subprocess imports this module outside a pytest session.
atexit.register(shutil.rmtree, _SESSION_HOME, True)
for _var, _sub in {"HOME": "", "KERAS_HOME": ".keras", "XDG_CACHE_HOME": ".cache",
                   "XDG_CONFIG_HOME": ".config", "MPLCONFIGDIR": ".config/matplotlib"}.items():
    (_SESSION_HOME / _sub).mkdir(parents=True, exist_ok=True)
    os.environ[_var] = str(_SESSION_HOME / _sub)
os.environ["HYPOTHESIS_STORAGE_DIRECTORY"] = str(_SESSION_HOME / ".hypothesis")  # not ./.hypothesis

import pytest  # noqa: E402 - after HOME and the caches are redirected above

# Session fixtures for the slow team tests: services started by deploy/ (tests/team_services.py).
from team_services import slurm_cluster, team_server  # noqa: E402, F401

ROOT = Path(__file__).resolve().parents[1]
# What a test may never change: the real home's folders that Keras, MLflow, matplotlib and this
# project write to, and the project's own results/ (tests write to their tmp_path only).
WATCHED = [REAL_HOME / ".keras", REAL_HOME / ".cache" / "actlab", REAL_HOME / ".config" / "matplotlib",
           REAL_HOME / ".cache" / "matplotlib", REAL_HOME / "mlruns", ROOT / "results", ROOT / "mlruns",
           ROOT / "outputs", ROOT / "multirun", ROOT / ".hypothesis"]


def _listing() -> dict[str, float]:
    """Every file and folder under WATCHED, with its modification time."""
    found: dict[str, float] = {}
    for top in WATCHED:
        if top.exists():
            for path in [top, *top.rglob("*")]:
                if "__pycache__" not in path.parts:
                    found[str(path)] = path.lstat().st_mtime
    return found


_BEFORE = _listing()


def pytest_sessionfinish(session, exitstatus):
    changed = sorted(set(_listing().items()) ^ set(_BEFORE.items()))
    if changed:
        paths = sorted({path for path, _ in changed})
        print(f"\nerror: tests wrote outside their temporary folders: {', '.join(paths[:10])}", file=sys.stderr)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture
def tiny_cfg(tmp_path):
    """compose(overrides) -> a tiny config that tracks into this test's own SQLite store."""
    from helpers import compose_config

    return lambda *overrides: compose_config(list(overrides), tmp_path)
