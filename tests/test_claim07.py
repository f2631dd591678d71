"""Claim 7's rule on hand-made layer tables: the deciding tests over seeds, both training arms,
the reading of Klambauer et al.'s weight domain, and the Géron row from the SGD arm."""

from __future__ import annotations

import numpy as np
import pandas as pd

from actlab.claims.base import Evidence
from actlab.claims.registry import discover
from actlab.reporting import literature

CLAIM = discover()["claim07_selu_self_normalization"]
RULE = CLAIM.module
SEEDS = range(5)
JITTER = [0.02, -0.02, 0.04, -0.04, 0.0]  # per seed: runs differ, no direction built in
LAYERS = 6


def _layers(seed: int, init_std: float, trained_std: float, trained_omega: float = 0.0, drifted_layers=range(1, LAYERS + 1)):
    """Step 0 at `init_std`; step 3 at `trained_std` on `drifted_layers` (1.0 elsewhere), whose ω is
    `trained_omega` (0 elsewhere). Every layer's τ stays 1."""
    rows = []
    for step in (0, 3):
        for layer in range(1, LAYERS + 1):
            drifted = step == 3 and layer in drifted_layers
            std = (init_std if step == 0 else trained_std if drifted else 1.0) * (1 + JITTER[seed])
            rows.append({"step": step, "layer": layer, "act_mean": JITTER[seed], "act_std": std, "grad_norm": 1.0,
                         "dead_frac": 0.0, "saturated_frac": 0.0, "w_omega": trained_omega if drifted else 0.0, "w_tau": 1.0})
    return pd.DataFrame(rows)


def _evidence(adam_std: float, sgd_std: float, sgd_omega: float = 0.0, drifted_layers=range(1, LAYERS + 1),
              accuracy: dict | None = None) -> Evidence:
    trained = {"selu_lecun": adam_std, "selu_he_normal": 3.0, "sgd_selu_lecun": sgd_std, "sgd_relu_he_normal": 1.0}
    accuracy = accuracy or {"sgd_selu_lecun": 0.8, "sgd_relu_he_normal": 0.7}
    rows = [{RULE.CONDITION: c, "seed": s, "run_id": f"{c}/{s}", "best_val_accuracy": 0.9, "chance": 0.1}
            for c in trained for s in SEEDS]

    def layers(run_id: str) -> pd.DataFrame:
        condition, seed = run_id.split("/")
        init = 3.0 if condition == "selu_he_normal" else 1.0
        omega = sgd_omega if condition == "sgd_selu_lecun" else 0.0
        return _layers(int(seed), init, trained[condition], omega, drifted_layers)

    def history(run_id: str, key: str) -> list[float]:
        condition, seed = run_id.split("/")
        salt = 1 if "relu" in condition else 0  # the two arms' seeds differ by different amounts
        return [0.5, accuracy.get(condition, 0.5) + 0.5 * JITTER[(int(seed) + salt) % len(JITTER)]]

    table = pd.DataFrame(rows).assign(status="FINISHED", diverged=False)
    return Evidence(table, layers=layers, history=history)


def test_the_rule_returns_exactly_the_declared_deciding_tests(tmp_path):
    result = CLAIM.analyze(_evidence(1.0, 1.0), tmp_path / "f.png")
    assert set(result.tests) == {t.name for t in CLAIM.tests} == set(RULE.TESTS)
    assert all(c.family == 8 for c in result.tests.values())  # 4 tests × 2 directions, one Holm family
    assert all(t.test == "t" for t in CLAIM.tests)


def test_supported_when_both_arms_stay_within_and_the_control_breaks(tmp_path):
    result = CLAIM.analyze(_evidence(1.05, 1.05), tmp_path / "f.png")
    assert result.verdict == "supported"
    assert result.tests["sgd_trained"].direction == -1 and result.tests["control"].direction == 1
    assert (tmp_path / "f.png").stat().st_size > 10_000


def test_a_drift_in_either_arm_makes_it_mixed_and_names_the_arm(tmp_path):
    sgd = CLAIM.analyze(_evidence(1.05, 2.5), tmp_path / "f.png")
    assert sgd.verdict == "mixed" and sgd.tests["sgd_trained"].direction == 1 and sgd.tests["adam_trained"].direction == -1
    assert any("SGD arm (Géron's recipe)" in n and "Adam arm" not in n for n in sgd.notes if n.startswith("The data disagree"))
    assert CLAIM.analyze(_evidence(2.5, 1.05), tmp_path / "f.png").verdict == "mixed"


def test_not_supported_when_selu_fails_at_init():
    layers = RULE._layer_stats(_evidence(1.0, 1.0))
    layers.loc[(layers["condition"] == "selu_lecun") & (layers["when"] == "at init"), "act_std"] *= 3.0
    assert RULE.selu_rule(layers).verdict == "not supported"


def test_the_domain_reading_finds_the_drifted_layers_outside_it():
    # SGD arm: layers 4-6 drift and their ω (0.5) leaves [-0.1, 0.1]; layers 1-3 stay in, undrifted.
    layers = RULE._layer_stats(_evidence(1.0, 2.5, sgd_omega=0.5, drifted_layers=range(4, LAYERS + 1)))
    domain = RULE.domain_table(layers)
    trained = domain[(domain["condition"] == "sgd_selu_lecun") & (domain["when"] == "after training")]
    assert len(trained) == len(SEEDS)
    assert (trained["outside_share"] == 0.5).all() and (trained["drift_outside"] == 1.0).all() and (trained["drift_inside"] == 0.0).all()
    at_init = domain[(domain["condition"] == "sgd_selu_lecun") & (domain["when"] == "at init")]
    assert (at_init["outside_share"] == 0.0).all()
    result = RULE.selu_rule(layers)
    line = next(n for n in result.numbers if n.startswith("sgd_selu_lecun after training: 50% of layers outside"))
    assert "100% vs 0%" in line and "p(outside > inside) = 0.0312" in line
    assert any(n.startswith("SGD arm (sgd_selu_lecun)") and "the drifted layers are those outside the domain" in n for n in result.notes)
    # Adam arm: every layer drifted, none left the domain.
    adam = RULE.selu_rule(RULE._layer_stats(_evidence(2.5, 1.0)))
    assert any(n.startswith("Adam arm (selu_lecun)") and "does not come with leaving the domain" in n for n in adam.notes)
    assert RULE.outside_domain(pd.DataFrame({"w_omega": [0.0, 0.2, 0.0, 0.0], "w_tau": [1.0, 1.0, 0.7, 1.6]})).tolist() == [False, True, True, True]


def test_without_weight_moments_the_rule_still_decides():
    layers = RULE._layer_stats(_evidence(1.05, 1.05)).drop(columns=["w_omega", "w_tau"])
    result = RULE.selu_rule(layers)
    assert result.verdict == "supported" and RULE.domain_table(layers) is None


def test_the_geron_row_reads_the_sgd_arm_at_its_last_epoch(tmp_path):
    result = CLAIM.analyze(_evidence(1.0, 1.0, accuracy={"sgd_selu_lecun": 0.82, "sgd_relu_he_normal": 0.74}), None)
    row = RULE.geron(result)
    assert row.sign == 1 and row.p < 0.05 and "SELU 0.820 vs ReLU 0.740" in row.text and "two-sided" in row.text
    (published,) = [p for p in literature.entries(CLAIM) if p.harness == "geron"]
    assert "SGD 1e-3, batch 32, 100 dense layers of 100" in published.harness_setting
    opposite = RULE.geron(CLAIM.analyze(_evidence(1.0, 1.0, accuracy={"sgd_selu_lecun": 0.6, "sgd_relu_he_normal": 0.74}), None))
    assert opposite.sign == -1


def test_deviation_is_within_one_exactly_inside_the_bounds():
    frame = pd.DataFrame({"act_mean": [0.0, 0.25, 0.26, 0.0, 0.0, 0.0], "act_std": [1.0, 1.0, 1.0, 1.33, 0.75, 0.74]})
    inside = RULE.deviation(frame) <= 1 + 1e-9
    assert inside.tolist() == [True, True, False, True, True, False]
    assert inside.tolist() == [RULE._normalized(frame.iloc[[i]]) for i in range(len(frame))]
    assert np.isclose(RULE.deviation(frame).iloc[0], 0.0)


def test_the_sgd_arm_composes_with_gerons_recipe_and_his_steps():
    from actlab.pipeline import config as config_stage

    for condition, activation, initializer in (("sgd_selu_lecun", "selu", "LecunNormal"), ("sgd_relu_he_normal", "relu", "HeNormal")):
        cfg = config_stage.compose(["experiment=claim07_selu_self_normalization", "profile=full", f"+experiment/selu_condition={condition}"])
        config_stage.validate(cfg)
        assert (cfg.model.depth, cfg.model.width, cfg.trainer.batch_size) == (100, 100, 32)
        assert cfg.optimizer._target_ == "keras.optimizers.SGD" and cfg.optimizer.learning_rate == 1e-3 and cfg.optimizer.momentum == 0
        assert activation in cfg.activation._target_ and initializer in cfg.initializer._target_
        train = 5000 * (1 - cfg.dataset.val_fraction - cfg.dataset.test_fraction)  # mnist_5k's training digits
        assert cfg.dataset._target_.endswith("mnist_5k") and cfg.trainer.epochs * np.ceil(train / 32) >= 8600
        quick = config_stage.compose(["experiment=claim07_selu_self_normalization", "profile=quick", f"+experiment/selu_condition={condition}"])
        assert (quick.model.depth, quick.trainer.epochs) == (8, 2)
    full = config_stage.compose(["experiment=claim07_selu_self_normalization", "profile=full"])
    assert {"sgd_selu_lecun", "sgd_relu_he_normal"} <= set(full.hydra.sweeper.params["+experiment/selu_condition"].split(","))
