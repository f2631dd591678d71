"""Verdict rules on small hand-made run tables: each rule says supported when the data agree with
the article, not supported when they contradict it, and something in between otherwise."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from actlab import claims
from actlab.claims import CLAIMS, TASK, Evidence, select_learning_rate
from actlab.stats import friedman, median_ci, paired
from conftest import ROOT

SEEDS = range(5)
# Ten seeds: the smallest one-sided Wilcoxon p is 1/1024, small enough to pass Holm's correction over a
# claim's several tests (with five seeds, 1/32 cannot).
SEEDS10 = range(10)
# Deterministic, symmetric per-seed jitter: runs differ, but no direction is built in.
JITTER = [0.001, -0.001, 0.002, -0.002, 0.0]


def _table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame([{"status": "FINISHED", "diverged": False, "run_id": f"r{i}", **r} for i, r in enumerate(rows)])


def _noise(seed: int, salt: int = 0) -> float:
    return JITTER[(seed + salt) % len(JITTER)]


def test_every_claim_has_its_experiment_file():
    assert sorted(CLAIMS) == list(range(1, 11))
    for claim in CLAIMS.values():
        assert (ROOT / "experiments" / f"{claim.experiment}.yaml").exists()


def test_statistics_helpers():
    estimate = median_ci([1, 2, 3, 4, 100])
    assert estimate.median == 3 and estimate.low <= 3 <= estimate.high and estimate.n == 5
    assert paired([2, 3, 4, 5, 6], [1, 1, 1, 1, 1]).direction == 1
    assert paired([1, 1, 1, 1, 1], [2, 3, 4, 5, 6]).direction == -1
    assert paired([1, 2, 1, 2, 1], [2, 1, 2, 1, 2]).direction == 0
    assert paired([1, 2, 3, 4], [0, 1, 2, 5]).direction == 0  # 3 of 4: not enough
    assert friedman(np.array([[1, 2, 3]] * 6)) < 0.05
    assert friedman(np.array([[1, 1, 1]] * 6)) == 1.0


def test_learning_rate_is_selected_on_validation_not_test():
    rows = [
        {"activation": "relu", TASK: "t", "seed": s, "optimizer.learning_rate": lr, "best_val_accuracy": val, "test_accuracy": test}
        for s in SEEDS
        for lr, val, test in (("0.001", 0.90, 0.99), ("0.01", 0.95, 0.50))
    ]
    selected = select_learning_rate(_table(rows), [TASK, "activation"])
    assert set(selected["optimizer.learning_rate"]) == {"0.01"}


def _tanh_sigmoid(tanh_auc: float) -> Evidence:
    rows = [{"activation": a, "optimizer": o, "seed": s, "val_accuracy_auc": (tanh_auc if a == "tanh" else 0.8) + _noise(s, a == "tanh"),
             "epochs_to_target": 3} for a in ("tanh", "sigmoid") for o in ("adam", "sgd") for s in SEEDS]
    return Evidence(_table(rows), history=lambda run_id, key: [0.5, 0.8, 0.9])


@pytest.mark.parametrize("tanh_auc,verdict", [(0.9, "supported"), (0.7, "not supported"), (0.8, "inconclusive")])
def test_claim2_rule(tanh_auc, verdict, tmp_path):
    assert claims.tanh_vs_sigmoid(_tanh_sigmoid(tanh_auc), tmp_path / "f.png").verdict == verdict


def _dying(relu_dead: float, elu_dead: float) -> Evidence:
    rows = []
    for a in ("relu", "leaky_relu", "elu"):
        for lr in ("0.001", "0.1"):
            for s in SEEDS:
                dead = {"relu": relu_dead, "elu": elu_dead}.get(a, 0.0) if lr == "0.1" else 0.0
                rows.append({"activation": a, "optimizer.learning_rate": lr, "seed": s,
                             "dead_frac/layer_01": dead, "dead_frac/layer_02": dead})
    return Evidence(_table(rows))


@pytest.mark.parametrize("relu_dead,elu_dead,verdict",
                         [(0.5, 0.0, "supported"), (0.5, 0.5, "mixed"), (0.01, 0.0, "not supported")])
def test_claim3_rule(relu_dead, elu_dead, verdict, tmp_path):
    assert claims.dying_relu(_dying(relu_dead, elu_dead), tmp_path / "f.png").verdict == verdict


def _prelu(gap_small: float, acc_large: float) -> Evidence:
    rows = []
    for a in ("relu", "prelu"):
        for fraction, n in (("0.05", 100), ("1.0", 2000)):
            for s in SEEDS10:
                prelu = a == "prelu"
                rows.append({"activation": a, "dataset.train_fraction": fraction, "seed": s, "data.n_train": n,
                             "generalization_gap": (gap_small if prelu and fraction == "0.05" else 0.1) + _noise(s, prelu),
                             "test_accuracy": (acc_large if prelu and fraction == "1.0" else 0.8) + _noise(s, prelu)})
    return Evidence(_table(rows))


@pytest.mark.parametrize("gap_small,acc_large,verdict",
                         [(0.2, 0.9, "supported"), (0.2, 0.8, "mixed"), (0.1, 0.8, "inconclusive"), (0.0, 0.7, "not supported")])
def test_claim4_rule(gap_small, acc_large, verdict, tmp_path):
    assert claims.prelu_overfitting(_prelu(gap_small, acc_large), tmp_path / "f.png").verdict == verdict


def _elu(elu_edge: float) -> Evidence:
    rows = [{"activation": a, TASK: t, "seed": s, "optimizer.learning_rate": "0.001", "best_val_accuracy": 0.9,
             "val_accuracy_auc": 0.85 + (elu_edge if a == "elu" else 0) + _noise(s, a == "elu"),
             "test_accuracy": 0.9 + (elu_edge if a == "elu" else 0) + _noise(s, a == "elu")}
            for a in ("relu", "leaky_relu", "prelu", "elu") for t in ("a", "b") for s in SEEDS]
    return Evidence(_table(rows))


@pytest.mark.parametrize("edge,verdict", [(0.02, "supported"), (-0.02, "not supported"), (0.0, "inconclusive")])
def test_claim5_rule(edge, verdict, tmp_path):
    assert claims.elu_converges_faster(_elu(edge), tmp_path / "f.png").verdict == verdict


@pytest.mark.parametrize("elu_ratio,verdict", [(1.3, "supported"), (1.0, "not supported")])
def test_claim6_rule(elu_ratio, verdict, tmp_path):
    rows = [{"activation": a, "model": m, "seed": s, "inference_ms": 10 * (elu_ratio if a == "elu" else 1) * (1 + abs(_noise(s)))}
            for a in ("relu", "elu") for m in ("mlp", "deep_mlp") for s in SEEDS]
    assert claims.inference_speed(Evidence(_table(rows)), tmp_path / "f.png").verdict == verdict


def _ranking(order: list[str]) -> Evidence:
    rows = [{"activation": a, TASK: t, "seed": s, "optimizer.learning_rate": "0.001", "best_val_accuracy": 0.9,
             "test_accuracy": 0.95 - 0.02 * order.index(a) + _noise(s, order.index(a))}
            for a in order for t in ("a", "b") for s in SEEDS]
    return Evidence(_table(rows))


def test_claim8_rule(tmp_path):
    article = claims.ARTICLE_RANKING
    assert claims.ranking(_ranking(article), tmp_path / "f.png").verdict == "supported"
    assert claims.ranking(_ranking(article[::-1]), tmp_path / "f.png").verdict == "not supported"
    assert claims.ranking(_ranking(["elu", "selu", "relu", "leaky_relu", "sigmoid", "tanh"]), tmp_path / "f.png").verdict == "mixed"


@pytest.mark.parametrize("default_penalty,verdict", [(0.0, "supported"), (0.05, "not supported")])
def test_claim9_rule(default_penalty, verdict, tmp_path):
    rows = [{"activation": "leaky_relu", "activation.negative_slope": slope, TASK: t, "seed": s,
             "test_accuracy": 0.9 - (default_penalty if slope == "0.3" else 0) + _noise(s, int(float(slope) * 10))}
            for slope in ("0.01", "0.2", "0.3") for t in ("a", "b") for s in SEEDS]
    assert claims.leaky_slope(Evidence(_table(rows)), tmp_path / "f.png").verdict == verdict


def _layers(grad_first: float, mean: float = 0.0, std: float = 1.0) -> pd.DataFrame:
    return pd.DataFrame([{"step": step, "layer": layer, "grad_norm": grad_first if layer == 1 else 1.0,
                          "act_mean": mean, "act_std": std, "dead_frac": 0, "saturated_frac": 0}
                         for step in (0, 3) for layer in (1, 2, 3)])


def test_claim1_rule(tmp_path):
    def evidence(tanh_grad: float) -> Evidence:
        grads = {"sigmoid": 0.001, "tanh": tanh_grad, "relu": 1.0}
        rows = [{"activation": a, "model.depth": "3", "seed": s, "run_id": a} for a in grads for s in SEEDS]
        return Evidence(pd.DataFrame(rows).assign(status="FINISHED", diverged=False), layers=lambda run_id: _layers(grads[run_id]))

    assert claims.vanishing_gradients(evidence(0.01), tmp_path / "f.png").verdict == "supported"
    assert claims.vanishing_gradients(evidence(1.0), tmp_path / "f.png").verdict == "mixed"


def test_claim7_rule(tmp_path):
    def evidence(trained_std: float) -> Evidence:
        def layers(run_id: str) -> pd.DataFrame:
            frame = _layers(1.0, std=1.0 if run_id == "selu_lecun" else 3.0)
            if run_id == "selu_lecun":
                frame.loc[frame["step"] == 3, "act_std"] = trained_std
            return frame

        rows = [{claims.CONDITION: c, "seed": s, "run_id": c} for c in ("selu_lecun", "selu_he_normal") for s in SEEDS]
        return Evidence(pd.DataFrame(rows).assign(status="FINISHED", diverged=False), layers=layers)

    assert claims.selu_self_normalization(evidence(1.05), tmp_path / "f.png").verdict == "supported"
    assert claims.selu_self_normalization(evidence(2.0), tmp_path / "f.png").verdict == "mixed"


def test_no_runs_is_inconclusive_not_an_error(tmp_path):
    empty = Evidence(pd.DataFrame({"status": ["missing"], "diverged": [False], "activation": ["relu"]}))
    for number in range(1, 10):
        assert CLAIMS[number].analyze(empty, tmp_path / "f.png").verdict == "inconclusive"
