"""One code version for results: which runs may stand in for each other, and which the report reads.

The config fingerprint says *what* is trained; `RESULTS_VERSION` says *with which code's numbers*.
Every run records it (tag `results_version`, beside tag `git_commit`). Resume skips a config only
for a FINISHED run of the same fingerprint **and** this results version, and the report reads only
runs of this results version: runs of an older version (or untagged runs from before versions
existed, "legacy"), or of a newer one made by a later checkout, are counted and named, never mixed in.

Bump `RESULTS_VERSION` (by one) in the commit of any change that alters what a run computes or
logs: its numbers (data splits, seeding, initializers, training, the probe's statistics, a library
upgrade that changes them) or the names of what it logs (metric keys, layer_stats.csv columns, tags
the report reads). tests/test_golden_run.py fails on such a change until the version is bumped and
the golden run regenerated (`python tests/golden_run.py --write`). A change that only adds a new
option whose default leaves every existing config's numbers as they were needs no bump.

Plain Python and pandas on tables of runs: no TensorFlow, no MLflow.
"""

from __future__ import annotations

import functools
import sys

import pandas as pd

RESULTS_VERSION = 2  # 2: dead units by slope, weight moments ω/τ, timing runs, tuned rates
LEGACY = "legacy"  # runs without a `results_version` tag: from before this rule existed
TAG = "results_version"
COMMIT_TAG = "git_commit"


def run_versions(runs: pd.DataFrame) -> pd.Series:
    """Each run's results version as text (as MLflow keeps tags), "legacy" where it has none."""
    column = f"tags.{TAG}"
    if column not in runs:
        return pd.Series(LEGACY, index=runs.index, dtype=object)
    values = runs[column].astype(object).where(runs[column].notna(), None)
    return values.map(lambda v: LEGACY if v is None or not str(v).strip() else str(v).strip())


def split_by_version(runs: pd.DataFrame, current: int = RESULTS_VERSION) -> tuple[pd.DataFrame, dict[str, int]]:
    """(the runs of results version `current`, {other version: number of runs}).

    The one rule of which runs the report reads: exactly the current version. Older ones and
    legacy runs are from code whose numbers may differ; a newer one comes from a later checkout
    (its numbers are not this code's either). The count of each ignored version is for the
    report's header, which says plainly what it left out."""
    versions = run_versions(runs)
    keep = versions == str(current)
    ignored = versions[~keep].value_counts()
    order = sorted(ignored.index, key=_version_order)
    return runs[keep], {version: int(ignored[version]) for version in order}


def _version_order(version: str) -> tuple[int, int, str]:
    if version == LEGACY:
        return (0, 0, version)
    return (1, int(version), version) if version.isdigit() else (2, 0, version)


def newer_versions(ignored: dict[str, int], current: int = RESULTS_VERSION) -> dict[str, int]:
    """The ignored versions that are newer than this code's: the store was written by a later checkout."""
    return {v: n for v, n in ignored.items() if v.isdigit() and int(v) > current}


def run_commits(runs: pd.DataFrame) -> pd.Series:
    """Each run's git commit (tag, or the param every run logs), "unknown" where it has none."""
    commits = pd.Series(None, index=runs.index, dtype=object)
    for column in (f"tags.{COMMIT_TAG}", f"params.{COMMIT_TAG}"):
        if column in runs:
            commits = commits.where(commits.notna(), runs[column].astype(object).where(runs[column].notna(), None))
    return commits.map(lambda c: "unknown" if c is None or not str(c).strip() else str(c).strip())


def short_commit(commit: str, length: int = 12) -> str:
    """`1a2b3c4d5e6f-dirty` for a 40-digit hash with uncommitted changes: the `-dirty` stays visible."""
    dirty = commit.endswith("-dirty")
    base = commit[: -len("-dirty")] if dirty else commit
    return base[:length] + ("-dirty" if dirty else "")


def commit_counts(runs: pd.DataFrame) -> dict[str, int]:
    """{short commit: number of runs}, most runs first (ties by commit)."""
    counts = run_commits(runs).map(short_commit).value_counts()
    return dict(sorted(((c, int(n)) for c, n in counts.items()), key=lambda item: (-item[1], item[0])))


def describe(used: pd.DataFrame, ignored: dict[str, int], current: int = RESULTS_VERSION) -> str:
    """The report header's line: this results version, the commits of the runs used, what was left out."""
    commits = commit_counts(used)
    listed = ", ".join(f"`{c}`" + (f" ({n} run{'s' if n != 1 else ''})" if len(commits) > 1 else "") for c, n in commits.items()) or "none"
    text = f"results version {current} (this code's); the {len(used)} runs used come from git commit{'s' if len(commits) != 1 else ''} {listed}"
    if any(c.endswith("-dirty") for c in commits):
        text += " (`-dirty`: made with uncommitted changes)"
    total = sum(ignored.values())
    if total:
        parts = ", ".join(f"{n} of {'legacy runs without a version' if v == LEGACY else 'version ' + v}" for v, n in ignored.items())
        text += f". Ignored: {total} run{'s' if total != 1 else ''} of other results versions in the store ({parts})"
        newer = newer_versions(ignored, current)
        if newer:
            text += "; the newer ones were made by a later checkout of the code"
    else:
        text += ". No run of another results version in the store"
    return text + "."


# The libraries whose versions every run records (as params) and every report prints.
SOFTWARE = ("tensorflow", "keras", "hydra-core", "mlflow", "numpy", "pandas", "scikit-learn", "scipy")


@functools.lru_cache(maxsize=1)
def software() -> dict[str, str]:
    """{library: version} of SOFTWARE, and Python's."""
    from importlib.metadata import version

    return {name: version(name) for name in SOFTWARE} | {"python": sys.version.split()[0]}
