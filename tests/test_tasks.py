"""Tasks that can tell functions apart: small tables split anew per seed, and what each task detects."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from omegaconf import OmegaConf
from scipy import stats as scipy_stats

from actlab.claims.base import TASK
from actlab.pipeline.data import load_splits
from actlab.reporting import detectability


def _splits(task: str, seed: int):
    """The task as a claim's sweep composes it for one seed, validated, then split."""
    from actlab.pipeline import config as config_stage

    cfg = config_stage.compose([f"+experiment/task={task}", f"seed={seed}", "tracking.enabled=false"])
    config_stage.validate(cfg)
    return load_splits(OmegaConf.to_container(cfg.dataset, resolve=True), as_images=False)


# rows, then the sizes a 30% test share and the 15% validation share give (sklearn rounds the test part up)
@pytest.mark.parametrize("task,rows,n_train,n_val,n_test", [("wine_mlp", 178, 97, 27, 54), ("breast_cancer_mlp", 569, 312, 86, 171)])
def test_a_small_tables_split_changes_with_the_seed_stratified(task, rows, n_train, n_val, n_test):
    a, again, b = _splits(task, 0), _splits(task, 0), _splits(task, 1)
    assert a.sizes() == b.sizes() == {"n_train": n_train, "n_val": n_val, "n_test": n_test}
    assert sum(a.sizes().values()) == rows
    assert np.array_equal(a.x_test, again.x_test)  # the same seed, the same split
    assert not np.array_equal(a.x_test, b.x_test)  # another seed, another test set
    for split in (a, b):  # stratified: each class's share of the test set is the dataset's, to one example
        y = np.concatenate([split.y_train, split.y_val, split.y_test])
        expected = np.bincount(y) * n_test / len(y)
        assert np.all(np.abs(np.bincount(split.y_test) - expected) <= 1.0)


def test_a_large_tasks_split_stays_fixed():
    from actlab.pipeline import config as config_stage

    cfgs = [config_stage.compose(["+experiment/task=mnist_mlp", f"seed={s}", "tracking.enabled=false"]) for s in (0, 1)]
    assert {c.dataset.split_seed for c in cfgs} == {0}


def test_the_standardized_mde_is_the_paired_t_tests():
    # 10 pairs, 5% two-sided, 80% power: d = 0.996 (e.g. statsmodels' TTestPower, G*Power)
    assert detectability.standardized_mde(10) == pytest.approx(0.996, abs=5e-4)
    # many pairs: the normal approximation (z_0.975 + z_0.8) / √n
    z = scipy_stats.norm.ppf(0.975) + scipy_stats.norm.ppf(0.8)
    assert detectability.standardized_mde(2000) == pytest.approx(z / math.sqrt(2000), rel=2e-3)
    assert math.isnan(detectability.standardized_mde(1))
    # what the design gives: 3 seeds need 3.26 standard deviations, 5 need 1.68
    assert detectability.standardized_mde(3) == pytest.approx(3.264, abs=1e-3)


DELTA = [0.01, -0.01, 0.01, -0.01, 0.0]  # a per-seed wobble of ±1 point, mean 0


def _task_rows(task: str, shift: float, seeds=range(5), n_test: int = 200) -> list[dict]:
    """Three functions on one task: b = a + shift + a ±1-point wobble, c = a exactly."""
    rows = []
    for s in seeds:
        a = 0.90 + 0.003 * s
        for name, value in (("a", a), ("b", a + shift + DELTA[s]), ("c", a)):
            rows.append({"status": "FINISHED", TASK: task, "seed": s, "activation": name, "test_accuracy": value,
                         "data.n_test": str(n_test), "optimizer.learning_rate": "0.001", "best_val_accuracy": 0.9})
            # a second learning rate, worse on validation: the rule reads each function at its selected rate
            rows.append({"status": "FINISHED", TASK: task, "seed": s, "activation": name, "test_accuracy": 0.1,
                         "data.n_test": str(n_test), "optimizer.learning_rate": "0.1", "best_val_accuracy": 0.5})
    return rows


def test_detectability_numbers_on_a_constructed_table():
    table = pd.DataFrame(_task_rows("close", 0.01) + _task_rows("apart", 0.05) + _task_rows("one_seed", 0.05, seeds=[0]))
    found = {r.task: r for r in detectability.resolutions(table, [TASK, "activation", "optimizer.learning_rate", "seed"])}
    close, apart, single = found["close"], found["apart"], found["one_seed"]
    # Paired spreads (points): b − a and b − c wobble with SD 1, c − a not at all: pooled √((1 + 1 + 0) / 3).
    assert close.spread == pytest.approx(math.sqrt(2 / 3))
    assert close.mde == pytest.approx(detectability.standardized_mde(5) * math.sqrt(2 / 3))  # 1.37 points
    assert close.resolution == pytest.approx(0.5) and close.n_test == 200 and close.seeds == 5 and close.functions == 3
    assert close.largest == pytest.approx(1.0) and (close.best, close.worst) in {("b", "a"), ("b", "c")}
    assert close.goes is True  # 1 point < MDE 1.37: no two functions told apart
    assert apart.largest == pytest.approx(5.0) and apart.goes is False
    assert (apart.pairs_apart, apart.pairs) == (2, 3)  # b from a and from c; a and c are equal
    assert single.goes is None and "cannot say" in single.verdict()
    lines = "\n".join(detectability.render(list(found.values())))
    assert "| close | 200 | 0.50 pt | 5 | 3 | 0.82 pt | 1.37 pt | 1.00 pt | **goes**" in lines
    assert "| apart |" in lines and "tells apart 2 of 3 pairs" in lines


def test_one_test_example_is_the_floor():
    # No spread at all (every seed agrees) gives an MDE of 0: a difference under one test example still goes.
    rows = [{"status": "FINISHED", TASK: "ceiling", "seed": s, "activation": a, "test_accuracy": v, "data.n_test": "54"}
            for s in range(3) for a, v in (("a", 1.0), ("b", 1.0), ("c", 1.0 - 0.5 / 54))]
    (r,) = detectability.resolutions(pd.DataFrame(rows))
    assert r.mde == pytest.approx(0.0) and r.resolution == pytest.approx(100 / 54)
    assert r.goes is True
