"""Claim 6: every activation timed in one process, in interleaved rounds (actlab.pipeline.timing),
and the rule that reads the rounds (ratios to ReLU paired by round, one-sided t-tests and TOST)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scipy_stats

from actlab.claims.base import Evidence
from actlab.claims.registry import discover
from actlab.pipeline.config import CONF_DIR, ConfigError, compose, fingerprint
from helpers import ROOT

CLAIM = discover()["claim06_inference_speed"]
RULE = CLAIM.module
# A job as small as a timing job gets: 8x8 digits, one hidden layer of 8, a batch of 32, 3 rounds.
TINY = ["profile=quick", "dataset=digits", "model=mlp", "model.depth=1", "model.width=8", "seed=0", "timing.rounds=3",
        "timing.calls=1", "timing.warmup=1", "timing.batch=32", "timing.width=8"]


def _compose(overrides: list[str], dirs: tuple[str, ...] = ()):
    return compose(["experiment=claim06_inference_speed", *overrides], dirs)


# --- the job ---------------------------------------------------------------------------------------
def test_a_timing_job_times_every_function_in_shuffled_rounds_with_a_users_own(tmp_path):
    """One real job with a --config-dir holding Serf: every function of the tree (Serf too) in every
    round, once per level; the rounds' orders differ; one FINISHED MLflow run that the report finds
    by its fingerprint, whose rounds the rule reads with Serf in ELU's place."""
    from actlab.pipeline.runner import run
    from actlab.pipeline.track import Store
    from actlab.pipeline.version import TAG
    from actlab.reporting.claims_report import ReportData
    from helpers import search_runs

    user = tmp_path / "mine"
    shutil.copytree(ROOT / "examples" / "serf", user)
    db = tmp_path / "mlflow.db"
    overrides = [*TINY, f"tracking.uri=sqlite:///{db}"]
    cfg = _compose(overrides, (str(user),))
    summary = run(cfg)
    assert summary["status"] == "finished"

    runs = search_runs(db, "claims-quick")
    assert len(runs) == 1
    row = runs.iloc[0]
    assert row["status"] == "FINISHED" and row["tags.config_fingerprint"] == fingerprint(cfg) and row[f"tags.{TAG}"]
    expected = sorted(p.stem for d in (CONF_DIR, user) for p in (d / "activation").glob("*.yaml"))
    assert "serf" in expected and sorted(json.loads(row["params.timing.timed"])) == expected
    assert row["metrics.timing_model_ms/serf"] > 0 and row["metrics.timing_alone_ms/relu"] > 0

    data = ReportData(Store(f"sqlite:///{db}", "claims-quick"))
    extra = [o for o in overrides if not o.startswith(("profile=", "tracking."))]
    evidence = data.evidence(CLAIM, "quick", [CONF_DIR, user], extra)
    assert list(evidence.table["status"]) == ["FINISHED"]  # found by fingerprint, as every claim's runs
    rounds = evidence.artifact(row["run_id"], RULE.ARTIFACT)
    assert set(rounds["round"]) == {0, 1, 2}
    for _, visit in rounds.groupby(["round", "level"]):
        assert sorted(visit["function"]) == expected  # every function once per round and level
        assert sorted(visit["position"]) == list(range(len(expected)))
    orders = [tuple(v.sort_values("position")["function"]) for _, v in rounds[rounds["level"] == "model"].groupby("round")]
    assert len(set(orders)) == len(orders)  # shuffled afresh each round
    assert (rounds["ms"] > 0).all()

    view = RULE.challenger(CLAIM, "serf", evidence, tmp_path, [CONF_DIR, user])
    assert any(n.startswith("activation alone: serf / ReLU time") for n in view.numbers)
    assert view.figure.stat().st_size > 10_000


def test_the_fingerprint_follows_the_functions_timed_not_the_runs_own_activation():
    """A run made before a user's function was added is not taken for one that timed it; the run's
    own `activation=` (a challenger's jobs set it) does not change what a timing job measures."""
    base = ["profile=quick", "model=mlp", "seed=0"]
    plain = fingerprint(_compose(base))
    assert fingerprint(_compose([*base, "activation=elu"])) == plain
    with_serf = fingerprint(_compose(base, (str(ROOT / "examples" / "serf"),)))
    assert with_serf != plain
    assert fingerprint(_compose([*base, "activation=serf"], (str(ROOT / "examples" / "serf"),))) == with_serf
    assert fingerprint(_compose([*base, "timing.functions=[relu,elu]"])) != plain


@pytest.mark.parametrize("override,message", [
    ("timing.functions=[elu,selu]", "it must include relu"),
    ("timing.functions=[relu,nope]", "names 'nope', which is not an activation"),
    ("timing.functions=relu", "all, or a list of activation names"),
    ("timing.rounds=1", "timing.rounds=1 is not allowed: an integer >= 2"),
    ("+timing.round=3", "timing.round is set but nothing reads it"),
])
def test_a_timing_node_that_cannot_run_is_refused_in_one_line(override, message):
    from actlab.pipeline.preflight import check

    with pytest.raises(ConfigError, match=message):
        check(_compose(["profile=quick", override]), store=False)


# --- the rule ---------------------------------------------------------------------------------------
def _rounds(log_ratio: dict[str, float], noise: float = 0.01, rounds: int = 30, seeds: int = 3, drift: float = 0.0) -> pd.DataFrame:
    """Rounds of ReLU and ELU times per network and seed; ELU's log ratio to ReLU per level
    (`alone`, `mlp`, `deep_mlp`) plus seeded normal noise; `drift` slows the machine round after
    round for both functions alike (what pairing by round cancels)."""
    rng = np.random.default_rng(0)
    rows = []
    for model in ("mlp", "deep_mlp"):
        for seed in range(seeds):
            for r in range(rounds):
                machine = np.exp(drift * r)
                for level, key in (("model", model), ("alone", "alone")):
                    for position, function in enumerate(("relu", "elu")):
                        value = log_ratio[key] + noise * rng.standard_normal() if function == "elu" else 0.0
                        rows.append({"model": model, "seed": seed, "round": r, "position": position, "function": function,
                                     "level": level, "ms": 10.0 * machine * np.exp(value)})
    return pd.DataFrame(rows)


def test_slower_at_every_level_is_supported_even_on_a_drifting_machine():
    result = RULE.inference_speed_rule(_rounds({"alone": 0.5, "mlp": 0.15, "deep_mlp": 0.2}, drift=0.05))
    assert result.verdict == "supported"
    mlp = next(n for n in result.numbers if n.startswith("mlp forward pass"))
    assert "ELU / ReLU time 1.16" in mlp and "→ slower" in mlp and "Holm" in mlp


def test_no_difference_is_shown_by_tost_and_is_not_supported():
    result = RULE.inference_speed_rule(_rounds({"alone": 0.0, "mlp": 0.0, "deep_mlp": 0.0}))
    assert result.verdict == "not supported"
    assert all("within ±5% (TOST)" in n for n in result.numbers[:3])


def test_a_slowdown_below_the_margin_is_still_slower_and_said_to_be_small():
    """3% slower in every round: shown by the one-sided test, so slower; the text says it is under the margin."""
    result = RULE.inference_speed_rule(_rounds({"alone": 0.5, "mlp": np.log(1.03), "deep_mlp": np.log(1.03)}, noise=0.005))
    assert result.verdict == "supported"
    mlp = next(n for n in result.numbers if n.startswith("mlp forward pass"))
    assert "→ slower, by less than 5% (its 90% interval lies below 1.05)" in mlp


def test_faster_at_the_networks_is_not_supported_where_the_function_alone_is_slower_it_is_mixed():
    faster = RULE.inference_speed_rule(_rounds({"alone": -0.2, "mlp": -0.1, "deep_mlp": -0.1}))
    assert faster.verdict == "not supported" and all("→ faster" in n for n in faster.numbers[:3])
    mixed = RULE.inference_speed_rule(_rounds({"alone": 0.5, "mlp": 0.0, "deep_mlp": -0.1}))
    assert mixed.verdict == "mixed"


def test_noise_that_decides_nothing_is_inconclusive_with_its_interval():
    result = RULE.inference_speed_rule(_rounds({"alone": 0.03, "mlp": 0.03, "deep_mlp": 0.03}, noise=0.3, rounds=4, seeds=3))
    assert result.verdict == "inconclusive"
    assert all("undecided" in n and "[" in n for n in result.numbers[:3])


def test_the_rules_family_is_the_yamls_declared_tests():
    found = RULE.ratios(RULE.wide_levels(_rounds({"alone": 0.5, "mlp": 0.1, "deep_mlp": 0.1})), "elu")
    tests = RULE.deciding_tests(found)
    assert list(tests) == list(RULE.TESTS)
    assert all(t.family == 9 for t in tests.values())  # per level: both sides of the t-test, one TOST p (design.py counts 9)
    assert {spec["test"] for spec in RULE.TESTS.values()} == {"t", "tost"} and RULE.MARGIN == 0.05


def test_sessions_not_rounds_are_the_units_of_the_tests():
    """Each session's mean per-round log ratio is one unit: 3 sessions give n = 3, however many rounds."""
    rng = np.random.default_rng(1)
    index = pd.MultiIndex.from_product([["mlp"], range(3), range(40)], names=["model", "seed", "round"])
    relu = pd.Series(rng.uniform(5, 6, len(index)), index=index)
    elu = relu * np.exp(0.02 + 0.03 * rng.standard_normal(len(index)))
    got = RULE.log_ratio(elu, relu, margin=0.05)
    d = (np.log(elu) - np.log(relu)).groupby(level=["model", "seed"]).mean().to_numpy()
    assert got.estimate.n == 3 and got.estimate.median == pytest.approx(np.exp(d.mean()))
    assert got.slower.p_greater == pytest.approx(scipy_stats.ttest_1samp(d, 0, alternative="greater").pvalue)
    tost = max(scipy_stats.ttest_1samp(d, np.log(1.05), alternative="less").pvalue,
               scipy_stats.ttest_1samp(d, -np.log(1.05), alternative="greater").pvalue)
    assert got.within.p == pytest.approx(tost)
    ci = scipy_stats.ttest_1samp(d, 0).confidence_interval(0.90)
    assert (got.estimate.low, got.estimate.high) == pytest.approx((np.exp(ci.low), np.exp(ci.high)))


def test_the_figure_draws_ratios_at_both_levels(tmp_path):
    table = _rounds({"alone": 0.5, "mlp": 0.1, "deep_mlp": 0.1})
    RULE.analysis(Evidence(pd.DataFrame({"status": ["FINISHED"], "run_id": ["r"], "model": ["mlp"], "seed": [0]}),
                           artifact=lambda run_id, name: table[(table["model"] == "mlp") & (table["seed"] == 0)].drop(columns=["model", "seed"])),
                  tmp_path / "f.png")
    assert (tmp_path / "f.png").stat().st_size > 10_000
