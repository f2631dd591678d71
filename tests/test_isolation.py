"""The session-wide guard in conftest.py: a test that writes into the real home fails the session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from helpers import ROOT


def test_a_session_whose_test_writes_into_the_real_home_fails(tmp_path):
    # A copy of this suite's conftest in a project of its own, run with HOME at a folder of ours:
    # that folder is the "real home" the guard watches.
    (tmp_path / "tests").mkdir()
    shutil.copy(ROOT / "tests" / "conftest.py", tmp_path / "tests")
    for module in ("helpers.py", "team_services.py"):  # what conftest imports
        shutil.copy(ROOT / "tests" / module, tmp_path / "tests")
    (tmp_path / "tests" / "test_writes_home.py").write_text(
        "from conftest import REAL_HOME\n\ndef test_writes():\n    (REAL_HOME / '.keras').mkdir()\n")
    (tmp_path / "home").mkdir()
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"], cwd=tmp_path,
                          env={**os.environ, "HOME": str(tmp_path / "home")}, capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"tests wrote outside their temporary folders: {tmp_path / 'home' / '.keras'}" in done.stderr
    assert "1 passed" in done.stdout  # the test itself passed: the guard failed the session


def test_home_and_caches_point_at_the_session_folder_for_subprocesses_too():
    from pathlib import Path

    from conftest import REAL_HOME

    code = "import os, pathlib; print(pathlib.Path.home()); print(os.environ['KERAS_HOME']); print(os.environ['XDG_CACHE_HOME'])"
    home, keras_home, cache = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                             check=True).stdout.split()
    assert Path(home) != REAL_HOME and Path(home).name.startswith("actlab-test-home-")
    assert keras_home.startswith(home) and cache.startswith(home)
