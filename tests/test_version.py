"""One code version: resume and the report use only runs of this code's results version.

The rule (`actlab.pipeline.version.split_by_version`) on hand-made tables of runs, shaped as
`mlflow.search_runs` returns them; then the same rule through the real store (resume's
`Store.find_finished`, the report's `ReportData`) and through the runner."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from actlab.pipeline import version
from actlab.pipeline.config import fingerprint
from actlab.pipeline.runner import RunContext, run
from actlab.pipeline.track import Store
from actlab.pipeline.version import LEGACY, RESULTS_VERSION, describe, split_by_version
from actlab.reporting.claims_report import ReportData, _evidence_table, used_runs

CURRENT = str(RESULTS_VERSION)
OLDER = str(RESULTS_VERSION - 1) if RESULTS_VERSION > 1 else "0"
NEWER = str(RESULTS_VERSION + 1)
COMMIT = "0123456789abcdef0123456789abcdef01234567"
OTHER_COMMIT = "fedcba9876543210fedcba9876543210fedcba98"


def _runs(rows: list[tuple[str, str, object, object, float]]) -> pd.DataFrame:
    """(run_id, fingerprint, results_version tag or None, git_commit tag or None, test_accuracy), FINISHED, newest first."""
    return pd.DataFrame({
        "run_id": [r[0] for r in rows],
        "status": "FINISHED",
        "tags.config_fingerprint": [r[1] for r in rows],
        "tags.results_version": [r[2] for r in rows],
        "tags.git_commit": [r[3] for r in rows],
        "metrics.best/test_accuracy": [r[4] for r in rows],  # read back as test_accuracy
    })


def test_only_the_current_version_is_kept_and_every_other_is_counted():
    runs = _runs([
        ("a", "f1", CURRENT, COMMIT, 0.9),
        ("b", "f1", None, None, 0.5),          # legacy: made before runs had a version
        ("c", "f2", OLDER, COMMIT, 0.6),
        ("d", "f2", NEWER, OTHER_COMMIT, 0.7),  # from a later checkout
        ("e", "f3", "", None, 0.4),            # an empty tag is no version either
        ("f", "f3", CURRENT, COMMIT + "-dirty", 0.8),
        ("g", "f4", np.nan, None, 0.3),
    ])
    kept, ignored = split_by_version(runs)
    assert list(kept["run_id"]) == ["a", "f"]
    assert ignored == {LEGACY: 3, OLDER: 1, NEWER: 1} and list(ignored)[0] == LEGACY  # legacy, then by number
    assert version.newer_versions(ignored) == {NEWER: 1}


def test_a_table_without_the_tag_is_all_legacy_and_an_empty_store_is_empty():
    legacy = pd.DataFrame({"run_id": ["a", "b"], "status": "FINISHED", "tags.config_fingerprint": ["f1", "f2"]})
    kept, ignored = split_by_version(legacy)
    assert kept.empty and ignored == {LEGACY: 2}
    kept, ignored = split_by_version(pd.DataFrame())  # what mlflow.search_runs returns for no runs
    assert kept.empty and ignored == {}


def test_an_older_checkout_reads_its_own_version_only():
    runs = _runs([("a", "f1", "1", COMMIT, 0.9), ("b", "f1", "2", COMMIT, 0.8)])
    kept, ignored = split_by_version(runs, current=1)
    assert list(kept["run_id"]) == ["a"] and version.newer_versions(ignored, current=1) == {"2": 1}


def test_the_report_never_falls_back_to_a_run_of_another_version():
    """A config whose only FINISHED run is legacy is missing; one whose current-version run
    FAILED is failed, not replaced by an older FINISHED run (the table keeps the newest first)."""
    runs = _runs([
        ("new-failed", "f1", CURRENT, COMMIT, np.nan),
        ("old-finished", "f1", OLDER, COMMIT, 0.9),
        ("legacy", "f2", None, None, 0.8),
        ("newer", "f3", NEWER, COMMIT, 0.7),
        ("current", "f4", CURRENT, COMMIT, 0.6),
    ])
    runs.loc[runs["run_id"] == "new-failed", "status"] = "FAILED"
    jobs = pd.DataFrame({"seed": ["0", "1", "2", "3"], "fingerprint": ["f1", "f2", "f3", "f4"]})
    kept, _ = split_by_version(runs)
    table = _evidence_table(jobs, kept).set_index("fingerprint")
    assert table.loc["f1", "status"] == "FAILED" and table.loc["f1", "run_id"] == "new-failed"
    assert table.loc["f2", "status"] == "missing" and table.loc["f3", "status"] == "missing"
    assert table.loc["f4", "status"] == "FINISHED" and table.loc["f4", "test_accuracy"] == 0.6


def test_the_header_names_the_version_the_commits_with_counts_and_what_was_ignored():
    runs = _runs([
        ("a", "f1", CURRENT, COMMIT, 0.9),
        ("b", "f2", CURRENT, COMMIT, 0.9),
        ("c", "f3", CURRENT, OTHER_COMMIT + "-dirty", 0.9),
        ("d", "f4", CURRENT, None, 0.9),
    ])
    runs["params.git_commit"] = [COMMIT, COMMIT, OTHER_COMMIT + "-dirty", "unknown"]  # the param every run logs
    runs.loc[runs["run_id"] == "a", "params.git_commit"] = "ignored: the tag comes first"
    text = describe(runs, {LEGACY: 1010, NEWER: 2})
    assert text.startswith(f"results version {RESULTS_VERSION} (this code's); the 4 runs used come from git commits ")
    assert f"`{COMMIT[:12]}` (2 runs), `{OTHER_COMMIT[:12]}-dirty` (1 run), `unknown` (1 run)" in text
    assert "uncommitted changes" in text
    assert f"Ignored: 1012 runs of other results versions in the store (1010 of legacy runs without a version, 2 of version {NEWER})" in text
    assert "later checkout" in text
    clean = describe(runs.iloc[:2], {})
    assert "No run of another results version in the store" in clean and "dirty" not in clean
    assert describe(runs.iloc[0:0], {LEGACY: 3}).startswith(
        f"results version {RESULTS_VERSION} (this code's); the 0 runs used come from git commits none")


def _hand_made(store: Store, fingerprint_: str, results_version: str | None, status: str = "FINISHED") -> str:
    tags = {"config_fingerprint": fingerprint_, "git_commit": COMMIT}
    if results_version is not None:
        tags["results_version"] = results_version
    with store.start_run("hand-made", tags) as tracked:
        tracked.log_metrics({"test_accuracy": 0.5}, step=1)
        tracked.status = status
    return tracked.run_id


def test_resume_skips_only_a_finished_run_of_the_current_version(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "e")
    _hand_made(store, "f1", None)
    _hand_made(store, "f1", OLDER)
    _hand_made(store, "f1", NEWER)
    _hand_made(store, "f1", CURRENT, status="FAILED")
    _hand_made(store, "f2", CURRENT)
    assert store.find_finished("f1", RESULTS_VERSION) is None
    current = _hand_made(store, "f1", CURRENT)
    assert store.find_finished("f1", RESULTS_VERSION) == current
    assert store.find_finished("f1", RESULTS_VERSION + 1) is not None  # the newer checkout finds its own


def test_report_data_reads_only_the_current_version_from_a_store(tmp_path):
    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "claims-quick")
    current = _hand_made(store, "f1", CURRENT)
    _hand_made(store, "f1", None)
    _hand_made(store, "f2", None)
    _hand_made(store, "f3", NEWER)
    with store.start_run("report · quick", {"report": "true"}):
        pass  # not a training run: neither read nor counted
    data = ReportData(store)
    assert list(data.runs["run_id"]) == [current]
    assert data.ignored == {LEGACY: 2, NEWER: 1}

    class Evidence:  # what used_runs reads of a claim's evidence
        table = pd.DataFrame({"run_id": [current, None]})

    assert list(used_runs(data, [Evidence()])["run_id"]) == [current]


def test_a_sweep_reruns_a_config_whose_only_finished_run_is_of_another_version(tiny_cfg, tmp_path):
    cfg = tiny_cfg("activation=relu", "model.depth=1")
    store = Store(cfg.tracking.uri, cfg.tracking.experiment)
    legacy = _hand_made(store, fingerprint(cfg), None)
    first = run(cfg, RunContext(skip_finished=True))
    assert first["status"] == "finished" and first["run_id"] != legacy
    tags = store.client.get_run(first["run_id"]).data.tags
    assert tags["results_version"] == CURRENT and tags["git_commit"]
    again = run(cfg, RunContext(skip_finished=True))
    assert again["status"] == "skipped" and again["run_id"] == first["run_id"]


@pytest.mark.parametrize("commit, short", [(COMMIT, COMMIT[:12]), (COMMIT + "-dirty", COMMIT[:12] + "-dirty"), ("unknown", "unknown")])
def test_short_commit_keeps_dirty_visible(commit, short):
    assert version.short_commit(commit) == short


def test_the_report_header_states_the_code_versions(tmp_path, capsys):
    """A whole report (one claim) on a store holding only runs of other versions: none is used,
    the header says so and counts them, and a newer version is warned about."""
    from actlab.reporting.claims_report import build_report, expected_jobs

    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "claims-quick")
    job = expected_jobs("claim02_tanh_vs_sigmoid", "quick").iloc[0]["fingerprint"]
    _hand_made(store, job, None)
    _hand_made(store, job, NEWER)
    path = build_report(store.uri, "quick", [2], tmp_path / "out", log_to_mlflow=False)
    header = path.read_text().split("## Summary")[0]
    assert (f"- **Code versions:** results version {RESULTS_VERSION} (this code's); the 0 runs used come from git commits none. "
            f"Ignored: 2 runs of other results versions in the store (1 of legacy runs without a version, 1 of version {NEWER})") in header
    assert "newer results version" in capsys.readouterr().err


def test_a_challenger_report_on_a_store_of_other_versions_only_says_so(tmp_path):
    from actlab.pipeline.config import CONF_DIR
    from actlab.reporting.challenger import NoRunsOfThisVersion, build_challenger_report

    store = Store(f"sqlite:///{tmp_path / 'mlflow.db'}", "claims-quick")
    _hand_made(store, "f1", None)
    _hand_made(store, "f2", OLDER)
    with pytest.raises(NoRunsOfThisVersion, match=f"no runs of results version {RESULTS_VERSION} .*: 1 legacy, 1 of version {OLDER}"):
        build_challenger_report(store.uri, "relu", "quick", [CONF_DIR], tmp_path / "out")
    assert not (tmp_path / "out").exists()
