"""Claims 2, 4, 9, 11 and 12 by design: claim 2's two mechanism controls (their values, that they
train, that no glob(*) sweep takes them) and its centring-or-slope rule; claim 9's equivalence
rule; every one of these claims' rules returns exactly its YAML's deciding tests, in one Holm family
of the declared size, which the full profile's design lets reach p ≤ 0.01."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from actlab.claims import design
from actlab.claims.base import TASK, Evidence
from actlab.claims.registry import ClaimError, discover, load
from actlab.claims.tuning import Tune
from actlab.pipeline.config import options
from actlab.pipeline.runner import run
from actlab.pipeline.sweep import expand
from actlab.reporting.claims_report import expected_jobs
from actlab.reporting.gallery import values_and_slopes
from actlab.stats import SIDES

CLAIMS = {claim.number: claim for claim in discover().values()}
CONTROLS = ("controls/centred_sigmoid", "controls/steep_sigmoid")
JITTER = [0.001, -0.001, 0.002, -0.002, 0.0, 0.0015, -0.0015, 0.0005]  # symmetric: no direction built in


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"status": "FINISHED", "run_id": f"r{i}", **r} for i, r in enumerate(rows)])


# --- claim 2's controls ---------------------------------------------------------------------------
def test_the_controls_split_tanh_into_centring_and_slope():
    x = np.array([-3.0, -1.0, 0.0, 0.5, 2.0])
    sigmoid = 1 / (1 + np.exp(-x))
    centred, centred_slope = values_and_slopes("controls/centred_sigmoid", np.array([0.0]))
    steep, steep_slope = values_and_slopes("controls/steep_sigmoid", np.array([0.0]))
    assert centred[0] == pytest.approx(0.0, abs=1e-7) and centred_slope[0] == pytest.approx(0.25)  # centred, sigmoid's slope
    assert steep[0] == pytest.approx(1.0) and steep_slope[0] == pytest.approx(1.0)  # tanh's slope, not centred
    assert values_and_slopes("controls/centred_sigmoid", x)[0] == pytest.approx(sigmoid - 0.5, abs=1e-6)
    two_sigma_2x = values_and_slopes("controls/steep_sigmoid", x)[0]
    assert two_sigma_2x == pytest.approx(2 / (1 + np.exp(-2 * x)), abs=1e-6)
    assert two_sigma_2x - 1 == pytest.approx(np.tanh(x), abs=1e-6)  # tanh(x) = 2σ(2x) − 1


def test_the_controls_join_no_glob_sweep_but_claim_2s():
    assert not set(CONTROLS) & set(options("activation"))  # the registry: what claim 6 times as `functions: all`
    assert all(c not in job[0] for job in expand(["activation=glob(*)"]) for c in CONTROLS)
    for number in (8, 10):  # the claims that sweep every activation of the config tree with glob(*)
        jobs = expected_jobs(CLAIMS[number].name, "quick", stage="plan")
        assert "glob(*)" in CLAIMS[number].path.read_text() and not set(CONTROLS) & set(jobs["activation"]), number
    assert set(CONTROLS) <= set(expected_jobs(CLAIMS[2].name, "quick", stage="plan")["activation"])


@pytest.mark.parametrize("control", CONTROLS)
def test_each_control_trains(control, tiny_cfg):
    result = run(tiny_cfg(f"activation={control}", "trainer.epochs=2"))
    assert result["status"] == "finished" and result["test_accuracy"] > 0.2  # digits: chance is 0.1


# --- claim 2: which property makes tanh faster ---------------------------------------------------
# The four functions as a 2 × 2 design: (centred, slope 1).
FACTORS = {"sigmoid": (0, 0), "tanh": (1, 1), "controls/centred_sigmoid": (1, 0), "controls/steep_sigmoid": (0, 1)}


def _speeds(centring: float, slope: float, sgd_shift: float = 0.0) -> Evidence:
    """Speed = 0.8 + centring × centred + slope × (slope 1), per optimizer × seed block, 8 seeds;
    `sgd_shift` moves tanh's speed with SGD alone."""
    rows = [{"activation": a, "optimizer": o, "seed": s, "optimizer.learning_rate": "0.01", "epochs_to_target": 3,
             "val_accuracy_auc": 0.8 + centring * c + slope * k + JITTER[(s + c + 2 * k) % 8]
             + (sgd_shift if a == "tanh" and o == "sgd" else 0.0)}
            for a, (c, k) in FACTORS.items() for o in ("adam", "sgd") for s in range(8)]
    return Evidence(_table(rows))


@pytest.mark.parametrize("centring,slope,verdict,which", [
    (0.05, 0.0, "supported", "centring"),
    (0.0, 0.05, "mixed", "slope"),  # tanh is faster, but because it is steeper
    (0.05, 0.05, "supported", "both"),
    (0.0, 0.0, "inconclusive", "neither shown"),
    (-0.05, 0.0, "not supported", "neither shown"),
])
def test_claim2_says_whether_centring_or_slope_makes_the_difference(centring, slope, verdict, which, tmp_path):
    module = CLAIMS[2].module
    result = module.analysis(_speeds(centring, slope), tmp_path / "f.png")
    assert result.verdict == verdict
    assert module.mechanism(result.tests)[2] == which
    assert any(n.startswith("speed read at the tuned rate, sgd:") for n in result.numbers)


def test_claim2_is_mixed_when_one_optimizer_goes_the_other_way(tmp_path):
    """Pooled over optimizer × seed, tanh is significantly faster (Adam's large differences carry
    it), but with SGD its median difference is below 0: not supported for every optimizer."""
    evidence = _speeds(0.05, 0.0)
    table = evidence.table
    sgd_differences = [-0.004, -0.003, -0.002, -0.001, 0.0005, 0.006, 0.007, 0.008]  # median < 0
    for s, d in enumerate(sgd_differences):
        sigmoid = table.query("activation == 'sigmoid' and optimizer == 'sgd' and seed == @s")["val_accuracy_auc"].item()
        table.loc[(table["activation"] == "tanh") & (table["optimizer"] == "sgd") & (table["seed"] == s), "val_accuracy_auc"] = sigmoid + d
    result = CLAIMS[2].module.analysis(evidence, tmp_path / "f.png")
    assert result.tests["tanh_vs_sigmoid"].direction == 1 and CLAIMS[2].module.mechanism(result.tests)[0] == "helps"
    assert result.verdict == "mixed" and any("With sgd, tanh's median speed is not above" in n for n in result.notes)


def test_claim2_says_where_speed_is_read_and_which_pick_sits_at_the_grids_edge(tmp_path):
    evidence = _speeds(0.05, 0.0)
    evidence.tune = Tune("optimizer.learning_rate", ("0.001", "0.01", "0.1", "1.0"), "100,101", ("activation", "optimizer"))
    evidence.selected = pd.DataFrame([{"activation": a, "optimizer": o, "optimizer.learning_rate": "0.01",
                                       "at_edge": a == "sigmoid" and o == "sgd"} for a in FACTORS for o in ("adam", "sgd")])
    numbers = CLAIMS[2].module.analysis(evidence, tmp_path / "f.png").numbers
    assert "speed read at the tuned rate, adam: σ(x) 0.01; tanh(x) 0.01; σ(x) − ½ 0.01; 2σ(2x) 0.01" in numbers
    assert any(n.startswith("⚠ picked at the tuning grid's edge") and n.endswith(": σ(x) with sgd") for n in numbers)


def test_a_factor_helps_only_without_a_contrary_comparison():
    effect = CLAIMS[2].module.factor_effect
    assert effect([1, 0]) == "helps" and effect([0, -1]) == "hurts" and effect([1, -1]) == "inconsistent" and effect([0, 0]) == "not shown"


# --- claim 9: "no difference" shown by TOST ------------------------------------------------------
def _slopes(default_minus_other: list[float]) -> Evidence:
    """Test accuracy per slope over 3 tasks × 4 seeds; the default (0.3) is offset by the given
    difference in each block, against both other slopes."""
    rows = []
    for t, task in enumerate(("a", "b", "c")):
        for s in range(4):
            base = 0.9 + JITTER[(s + t) % 8] * 0.1
            for slope in ("0.01", "0.2", "0.3"):
                shift = default_minus_other[(4 * t + s) % len(default_minus_other)] if slope == "0.3" else 0.0
                rows.append({"activation": "leaky_relu", "activation.negative_slope": slope, TASK: task, "seed": s,
                             "optimizer.learning_rate": "0.001", "test_accuracy": base + shift})
    return Evidence(_table(rows))


@pytest.mark.parametrize("differences,verdict", [
    ([0.0005, -0.0005, 0.001, -0.001], "supported"),  # within ±0.5 points, tightly: equivalent
    ([-0.02, -0.025, -0.015, -0.02], "not supported"),  # another slope 2 points better in every block
    ([0.03, -0.03, 0.02, -0.02], "inconclusive"),  # no difference on average, but too noisy to show equivalence
    ([0.02, 0.025, 0.015, 0.02], "supported"),  # the default significantly better: nothing to tune for
])
def test_claim9_rests_no_difference_on_equivalence(differences, verdict, tmp_path):
    result = CLAIMS[9].module.analysis(_slopes(differences), tmp_path / "f.png")
    assert result.verdict == verdict
    assert CLAIMS[9].module.MARGIN == 0.005  # the margin the YAML states
    if verdict == "inconclusive":
        assert "90% CI of the difference" in result.notes[-1]


def test_claim9s_equivalence_is_holm_adjusted_with_its_difference_tests(tmp_path):
    result = CLAIMS[9].module.analysis(_slopes([0.0005, -0.0005, 0.001, -0.001]), tmp_path / "f.png")
    tost = result.tests["equivalent_to_0_2"]
    assert tost.equivalent and tost.margin == 0.005
    assert result.tests["differs_from_0_2"].family == 6
    assert tost.family == 6 and tost.raw_p is not None and tost.p >= tost.raw_p  # adjusted in the same family
    line = next(n for n in result.numbers if "equivalence within ±0.5 points" in n and "slope 0.2" in n)
    assert f"raw {tost.raw_p:.3g}" in line and "over 6 tests" in line


# --- every claim here: its rule returns exactly its declared tests, which the design lets pass -----
def _claim_tables() -> dict[int, Evidence]:
    seeds = range(10)
    prelu = [{"activation": a, "dataset.train_fraction": f, "seed": s, "data.n_train": n, "generalization_gap": 0.1 + JITTER[s % 8],
              "test_accuracy": 0.8 + JITTER[(s + 1) % 8]}
             for a in ("relu", "leaky_relu", "prelu") for f, n in (("0.05", 100), ("1.0", 2000)) for s in seeds]
    elu = [{"activation": a, TASK: task, "seed": s, "test_accuracy": 0.9 + JITTER[s % 8]}
           for task in ("digits_cnn", "mnist_resmlp", "mnist_deep_mlp") for a in ("elu", "selu") for s in seeds]
    small = [{"activation": a, TASK: task, "seed": s, "data.n_train": 300, "generalization_gap": 0.2 + JITTER[s % 8],
              "test_accuracy": 0.7 + JITTER[(s + 3) % 8]}
             for task in ("a", "b") for a in ("rrelu", "relu", "leaky_relu", "prelu") for s in seeds]
    return {2: _speeds(0.05, 0.0), 4: Evidence(_table(prelu)), 9: _slopes([0.001, -0.001]), 11: Evidence(_table(elu)),
            12: Evidence(_table(small))}


@pytest.mark.parametrize("number", [2, 4, 9, 11, 12])
def test_a_rule_returns_its_declared_tests_as_one_family_of_the_declared_size(number, tmp_path):
    claim = CLAIMS[number]
    result = claim.analyze(_claim_tables()[number], tmp_path / "f.png")
    declared = [t.name for t in claim.tests]
    assert declared and set(result.tests) == set(declared)
    family = sum(SIDES[t.test] for t in claim.tests)
    for name, test in result.tests.items():
        if hasattr(test, "family"):  # a difference test: Holm-adjusted over the whole family
            assert test.family == family, name


@pytest.mark.parametrize("number", [2, 4, 9, 11, 12])
def test_the_full_profile_lets_every_deciding_test_reach_001(number):
    claim = CLAIMS[number]
    powers = design.power(claim.tests, expected_jobs(claim.name, "full", stage="plan"))
    assert powers and all(p.reaches for p in powers), [str(p) for p in powers]


def test_a_tost_states_its_margin_and_only_a_tost_has_one(tmp_path):
    source = CLAIMS[9].path.read_text()
    for old, new, message in (("margin: 0.005}", "}", "needs its `margin`"), ("margin: 0.005}", "margin: -1}", "a positive number"),
                              ("blocks: [task, seed]}\n    differs_from_0_2", "blocks: [task, seed], margin: 0.01}\n    differs_from_0_2",
                               "only a TOST has one")):
        path = tmp_path / CLAIMS[9].path.name
        path.write_text(source.replace(old, new, 1))
        path.with_suffix(".py").write_text("analysis = print\n")  # the registry checks the YAML; any callable will do
        with pytest.raises(ClaimError, match=message):
            load(path)
