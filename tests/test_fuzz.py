"""Random command lines: each ends in success or a one-line error with exit status 2, never a
traceback, never a run left behind. In-process through the CLI's own path (compose, then
`actlab.pipeline.preflight.check`, what `python -m run` does before any work), plus real CLI invocations."""

from __future__ import annotations

import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from actlab.pipeline.config import ConfigError, compose
from actlab.pipeline.preflight import check, one_line
from helpers import CONF, TINY, run_cli, search_runs

GROUPS = sorted(p.name for p in CONF.iterdir() if p.is_dir())
OPTIONS = {group: sorted(f.stem for f in (CONF / group).glob("*.yaml")) for group in GROUPS}
KEYS = [
    "seed", "profile", "dataset.split_seed", "dataset.val_fraction", "dataset.test_fraction", "dataset.train_fraction",
    "dataset.standardize", "dataset.n_samples", "dataset.data_dir", "dataset.verify", "model.depth", "model.width",
    "model.dropout", "model.batch_norm", "model.filters", "model.kernel_size", "model.normalization", "activation._target_",
    "activation.negative_slope", "activation.alpha", "optimizer.learning_rate", "optimizer.momentum",
    "activation.alpha_init", "trainer.epochs", "trainer.batch_size", "trainer.patience", "trainer.target_fraction",
    "trainer.verbose", "trainer.threads", "trainer.early_stopping", "trainer.probe_batch", "trainer.dead_slope",
    "trainer.steps_per_execution", "trainer.latency_repeats", "tracking.enabled", "tracking.experiment",
    "tracking.rerun", "tracking.retry_s", "activation.shared_axes",
]
VALUES = st.one_of(
    st.integers(-10**12, 10**12).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "null", "true", "false", "[]", "[1,2]", "{}", "{a:1}", "nan", "-inf", "1e-3", ".5",
                     "'quoted'", "${seed}", "${nope}", "[", "]", "=", ",", "a,b", "é", "日本", "\u200b", "🙂"]),
    st.text(alphabet=string.printable + "éü日本🙂\u00a0", max_size=12),
)
NAMES = st.one_of(st.sampled_from(KEYS), st.text(alphabet=string.ascii_lowercase + "._/+~", min_size=1, max_size=12))
OVERRIDE = st.one_of(
    st.builds(lambda k, v: f"{k}={v}", NAMES, VALUES),
    st.builds(lambda g, o: f"{g}={o}", st.sampled_from(GROUPS),
              st.one_of(st.sampled_from(sorted({o for opts in OPTIONS.values() for o in opts})), VALUES)),
    st.builds(lambda k, v: f"+{k}={v}", NAMES, VALUES),
    st.text(max_size=15),
)


def outcome(overrides: list[str], tmp_path) -> str | None:
    """None if `python -m run OVERRIDES` would go on to train, else its one-line error.
    Whatever composing raises, `run.cli` reports in one line (status 2: no run has started); after
    composing, anything but ConfigError would be a traceback for the user: a bug."""
    try:
        cfg = compose(TINY + [f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}"] + overrides)
    except Exception as error:
        return one_line(error) or type(error).__name__
    try:
        check(cfg)
    except ConfigError as error:
        return one_line(error)
    return None


@pytest.mark.slow
@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(OVERRIDE, min_size=1, max_size=3))
def test_random_overrides_end_in_success_or_one_line(tmp_path, overrides):
    message = outcome(overrides, tmp_path)
    if message is not None:
        assert message and "\n" not in message and "Traceback" not in message
    assert not (tmp_path / "mlflow.db").exists()  # checking never creates the store


# A handful through the real CLI: the status, one line on stderr, no run in the store.
CLI_CASES = ["activation=swishy", "activation=0", "model.depth=-1", "trainer.verbose=loud", "optimizer.learning_rate=abc",
             "nosuchkey=1", "dataset=", "model.depth=[", "seed=日本", "tracking.retry_s=-5"]


@pytest.mark.parametrize("override", CLI_CASES)  # each refused in ~1 s: before TensorFlow is imported
def test_cli_refuses_in_one_line_with_status_2(override, tmp_path):
    db = tmp_path / "mlflow.db"
    done = run_cli(*TINY, f"tracking.uri=sqlite:///{db}", f"hydra.run.dir={tmp_path / 'out'}", override)
    assert done.returncode == 2, (override, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert not db.exists() or search_runs(db).empty


def test_cli_unknown_option_in_a_sweep_is_refused_before_the_parent_run(tmp_path):
    db = tmp_path / "mlflow.db"
    done = run_cli("-m", *TINY, f"tracking.uri=sqlite:///{db}", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                   "activation=relu,swishy")
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: In 'config': Could not find 'activation/swishy'")
    assert "selu" in done.stderr and "Traceback" not in done.stderr
    assert not db.exists()  # no parent run, no store
