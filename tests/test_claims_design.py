"""Power by design and tune-then-test: each claim's deciding tests can reach p ≤ 0.01 in the full
profile (counted from its jobs, before any run), and a tuning grid picks on its own seeds only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from actlab.claims import design
from actlab.claims.base import DecidingTest
from actlab.claims.registry import ClaimError, deciding_tests, discover
from actlab.claims.tuning import Tune, TuneError, beyond, describe, pick, picked_jobs, widened
from actlab.reporting.claims_report import expected_jobs
from actlab.stats import equivalence, smallest_p
from helpers import run_cli

CLAIMS = discover()


@pytest.mark.parametrize("name", list(CLAIMS))
def test_every_full_profile_deciding_test_can_reach_one_percent(name):
    claim = CLAIMS[name]
    raw = claim.path.read_text()
    assert "  tests:" in raw, f"{claim.path.name} declares no deciding tests (claim.tests; `tests: {{}}` for a claim without any)"
    jobs = expected_jobs(claim.name, "full", stage="plan")
    unknown = {c for t in claim.tests for c in t.blocks if c not in jobs}
    assert not unknown, f"{claim.label}'s tests pair by {unknown}, which its jobs do not have (a typo passes as 'no floor')"
    weak = [str(p) for p in design.power(claim.tests, jobs) if not p.reaches]
    assert not weak, f"{claim.label}'s design cannot decide at {design.POWER_LEVEL}: " + "; ".join(weak)


def test_smallest_p_is_what_the_most_extreme_data_give():
    assert smallest_p("signed_rank", 5) == pytest.approx(1 / 32)  # five agreeing seeds of five
    assert smallest_p("sign_flip", 10) == pytest.approx(1 / 1024)
    assert smallest_p("t", 3) == 0.0 and smallest_p("tost", 3) == 0.0  # continuous: no floor
    assert 0 < smallest_p("friedman", 5, 4) < 0.01 and 0 < smallest_p("page", 5, 4) < smallest_p("friedman", 5, 4)
    with pytest.raises(ValueError, match="one of"):
        smallest_p("anova", 5)


def test_holm_floor_is_family_times_raw_floor():
    tests = (DecidingTest("a", "signed_rank"), DecidingTest("b", "signed_rank"), DecidingTest("c", "signed_rank"))
    jobs = pd.DataFrame({"seed": list(range(5)) * 2, "activation": ["x"] * 5 + ["y"] * 5})
    powers = design.power(tests, jobs)
    assert [p.n for p in powers] == [5, 5, 5] and powers[0].family == 6
    assert powers[0].floor == pytest.approx(6 / 32) and not powers[0].reaches  # claim 4's old design: 0.1875
    assert design.power(tests, pd.concat([jobs.assign(seed=jobs.seed + 10 * k) for k in range(2)]))[0].floor == pytest.approx(6 / 1024)


def test_registry_refuses_an_unknown_test_or_a_friedman_without_treatments(tmp_path):
    with pytest.raises(ClaimError, match="one of signed_rank"):
        deciding_tests(tmp_path / "c.yaml", {"x": {"test": "anova"}})
    with pytest.raises(ClaimError, match="needs `over`"):
        deciding_tests(tmp_path / "c.yaml", {"x": {"test": "friedman"}})
    with pytest.raises(ClaimError, match="not allowed"):
        deciding_tests(tmp_path / "c.yaml", {"x": {"test": "t", "block": ["seed"]}})


def test_equivalence_needs_the_interval_inside_the_margin():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 0.01, 30)
    same = equivalence(a, a * rng.normal(1.0, 0.01, 30), margin=0.05, ratio=True)
    assert same.equivalent and 1 / 1.05 < same.low <= same.high < 1.05
    slower = equivalence(a * 1.2, a, margin=0.05, ratio=True)
    assert not slower.equivalent and slower.low > 1.05
    noisy = equivalence([0.90, 0.95, 0.85], [0.91, 0.88, 0.93], margin=0.005)  # 3 noisy pairs: not shown equivalent
    assert not noisy.equivalent and "not shown equivalent" in str(noisy)


TUNE = Tune("optimizer.learning_rate", ("0.0003", "0.001", "0.003", "0.01"), "100,101", ("task", "activation"))


def test_pick_reads_validation_only_and_flags_the_grids_edge():
    rows = [{"task": "t", "activation": a, "optimizer.learning_rate": lr, "seed": s, "status": "FINISHED",
             "best_val_accuracy": score, "test_accuracy": 1.0 - score}  # test accuracy would pick the opposite
            for a, best in (("relu", "0.001"), ("elu", "0.01")) for lr in TUNE.values for s in (100, 101)
            for score in [0.9 if lr == best else 0.5]]
    selected = pick(pd.DataFrame(rows), TUNE).set_index("activation")
    assert selected.loc["relu", "optimizer.learning_rate"] == "0.001" and not selected.loc["relu", "at_edge"]
    assert selected.loc["elu", "optimizer.learning_rate"] == "0.01" and selected.loc["elu", "at_edge"]
    jobs, missing = picked_jobs([["+experiment/task=t", "activation=relu", "seed=0"], ["+experiment/task=t", "activation=tanh", "seed=0"]],
                              selected.reset_index(), TUNE)
    assert jobs == [["+experiment/task=t", "activation=relu", "seed=0", "optimizer.learning_rate=0.001"]]
    assert missing == ["no finished tuning run for task t · activation tanh: its test jobs are not run"]


def test_an_edge_pick_widens_its_own_group_only_one_plain_value_at_a_time():
    tune = Tune("optimizer.learning_rate", ("0.0003", "0.001", "0.003", "0.01", "0.03"), "100", ("activation",), widen=2)
    jobs = [[f"activation={a}", "seed=100", f"optimizer.learning_rate={lr}"] for a in ("relu", "elu") for lr in tune.values]
    scores = {"relu": {"0.03": 0.9}, "elu": {"0.003": 0.9}}  # relu best at the top edge, elu inside

    def table(jobs):
        rows = [dict(o.split("=", 1) for o in job) for job in jobs]
        return pd.DataFrame([{**r, "status": "FINISHED", "best_val_accuracy": scores[r["activation"]].get(r["optimizer.learning_rate"], 0.5)}
                             for r in rows])

    selected = pick(table(jobs), tune).set_index("activation")
    assert selected.loc["relu", "at_edge"] and not selected.loc["elu", "at_edge"]
    more = widened(jobs, selected.reset_index(), tune)
    assert more == [["activation=relu", "seed=100", "optimizer.learning_rate=0.1"]]
    scores["relu"]["0.1"] = 0.95  # better again beyond the edge: one more step, then no further (widen=2)
    jobs += more
    more = widened(jobs, pick(table(jobs), tune), tune)
    assert more == [["activation=relu", "seed=100", "optimizer.learning_rate=0.3"]]
    scores["relu"]["0.3"] = 0.99
    jobs += more
    last = pick(table(jobs), tune).set_index("activation")
    assert last.loc["relu", "optimizer.learning_rate"] == "0.3" and last.loc["relu", "at_edge"]  # still flagged
    assert widened(jobs, last.reset_index(), tune) == []  # widened twice on that side: no more
    assert "beyond the tune's grid" in describe(last.reset_index(), tune)[1]
    assert [f"{beyond(v, tune.values, s):g}" for v, s in ((0.0003, -1), (0.0001, -1), (0.03, 1))] == ["0.0001", "3e-05", "0.1"]
    scores["elu"] = {}  # every rate at the same score (a net no rate trains): a tie, flagged, not widened
    tied = pick(table(jobs), tune).set_index("activation")
    assert tied.loc["elu", "optimizer.learning_rate"] == "0.0003" and tied.loc["elu", "tie"] and not tied.loc["relu", "tie"]
    assert widened(jobs, tied.reset_index(), tune) == []
    assert "a tie is not widened" in describe(tied.reset_index(), tune)[0]


def test_a_planned_value_without_a_run_leaves_the_pick_at_the_edge_and_nan_groups_are_picked():
    tune = Tune("optimizer.learning_rate", ("0.001", "0.01"), "100", ("task", "activation"), widen=1)
    rows = [{"task": "t", "activation": a, "optimizer.learning_rate": lr, "status": "FINISHED", "best_val_accuracy": score}
            for a in ("relu", None) for lr, score in (("0.001", 0.5), ("0.01", 0.9))]
    rows.append({"task": "t", "activation": "relu", "optimizer.learning_rate": "0.1", "status": "missing", "best_val_accuracy": None})
    selected = pick(pd.DataFrame(rows), tune)
    assert len(selected) == 2 and selected["at_edge"].all()  # 0.1 is planned, not run: 0.01 is still the edge
    assert selected["optimizer.learning_rate"].tolist() == ["0.01", "0.01"]


def test_a_test_that_leaves_rows_out_counts_only_the_blocks_it_reads():
    claim11 = next(c for c in CLAIMS.values() if c.number == 11)
    (broken,) = claim11.tests
    assert broken.without == (("task", (claim11.module.INTACT,)),)  # the YAML names the module's intact task
    plan = expected_jobs(claim11.name, "full", stage="plan")
    (reach,) = design.power(claim11.tests, plan)
    assert reach.n == plan.loc[plan["task"] != claim11.module.INTACT, ["task", "seed"]].drop_duplicates().shape[0] == 9


def test_tune_refuses_a_widen_that_is_not_a_count():
    node = {"param": "optimizer.learning_rate", "values": "0.001,0.01", "seeds": "100", "by": ["activation"]}
    assert Tune.from_config(node).widen == 0
    with pytest.raises(TuneError, match="tune.widen is -1"):
        Tune.from_config({**node, "widen": -1})


def test_tune_refuses_a_sweep_that_also_sweeps_its_parameter():
    with pytest.raises(TuneError, match="remove it from hydra.sweeper.params"):
        TUNE.tuning_params({"optimizer.learning_rate": "0.1,0.01", "seed": "0,1"})
    assert TUNE.tuning_params({"activation": "relu,elu", "seed": "0,1"})["seed"] == "100,101"


def test_a_command_line_seed_that_would_tune_and_be_compared_is_refused_before_any_record(tmp_path):
    # seed= on the command line replaces the tuning grid's seeds too: selection on the compared seed.
    done = run_cli("-m", "experiment=claim08_ranking", "profile=quick", "seed=5", f"hydra.sweep.dir={tmp_path / 'sweep'}",
                   f"tracking.uri=sqlite:///{tmp_path / 'mlflow.db'}", timeout=60)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert lines == ["error: seed 5 would both tune optimizer.learning_rate and be compared at the value it picked: the tuning "
                     "seeds (100) and the test seeds must differ (set the test seeds with \"study.quick.seeds='…'\", not seed=)"], \
        done.stderr[-2000:]
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "sweep").exists()


def test_tuned_claims_never_test_on_a_tuning_seed():
    for claim in CLAIMS.values():
        plan = expected_jobs(claim.name, "full", stage="plan")
        tune = plan.attrs["tune"]
        if tune is None:
            continue
        tuning = tune.tuning_params({"seed": "x"})["seed"].split(",")
        assert not set(tuning) & set(plan["seed"].astype(str)), f"{claim.label} tests on a seed it tunes on"
        assert len(tune.values) >= 4, f"{claim.label} tunes over fewer than 4 values"
        rates = sorted(float(v) for v in tune.values)
        assert all(b / a > 1.5 for a, b in zip(rates, rates[1:])), f"{claim.label}'s rates are not log-spaced"


def test_page_reads_the_order_friedman_only_a_difference():
    from actlab.stats import friedman, page

    rng = np.random.default_rng(0)
    ordered = np.arange(5.0) + rng.normal(0, 0.5, (12, 5))  # columns increase, with noise
    assert page(ordered) < 0.001 and page(ordered[:, ::-1]) > 0.5  # the reversed order is not the predicted one
    assert friedman(ordered) == pytest.approx(friedman(ordered[:, ::-1]))  # Friedman cannot tell the two apart
