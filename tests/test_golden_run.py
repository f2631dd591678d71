"""The golden run guards RESULTS_VERSION: a change that alters a run's numbers must bump it.

tests/golden_run.py runs one tiny seeded run (digits, 2 epochs, one thread: about 15 s in its own
process, so the thread setting and seeds are those of a fresh run whatever ran before it in this
session) and tests/golden_run.json holds its numbers for this results version."""

from __future__ import annotations

import json
import subprocess
import sys

from actlab.pipeline.version import RESULTS_VERSION
from golden_run import COMMAND, GOLDEN, differences
from helpers import ROOT

WHY = ("Resume and the report use only runs of this code's RESULTS_VERSION (src/actlab/version.py); "
       "runs made by code whose numbers differ must not be mixed with these.")


def test_the_golden_is_of_this_results_version():
    golden = json.loads(GOLDEN.read_text())
    assert golden["results_version"] == RESULTS_VERSION, (
        f"RESULTS_VERSION is {RESULTS_VERSION} but tests/golden_run.json is of version {golden['results_version']}: "
        f"regenerate it with `{COMMAND}`")


def test_a_golden_run_gives_the_golden_numbers():
    golden = json.loads(GOLDEN.read_text())
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "golden_run.py")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    changed = differences(golden["numbers"], measured)
    assert not changed, (
        f"The golden run's numbers changed ({len(changed)} of {len(golden['numbers'])} differ):\n  "
        + "\n  ".join(changed[:12]) + ("\n  ..." if len(changed) > 12 else "")
        + f"\nIf the change is meant to alter what runs compute or log: bump RESULTS_VERSION in src/actlab/version.py "
        f"and regenerate the golden with `{COMMAND}`. {WHY} If it is not meant to: this is a regression."
        f"\n(The golden was made with {golden['made_with']}: on another CPU or library version the numbers may "
        "differ in their last digits.)")
