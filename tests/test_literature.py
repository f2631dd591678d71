"""The literature table: two-sided tests, Holm-corrected within the table; Xu et al.'s rows read claim 12's runs."""

from __future__ import annotations

import textwrap

import pandas as pd
import pytest

from actlab.claims.base import TASK, Evidence
from actlab.claims.registry import discover
from actlab.reporting import literature

# Each column: the paired differences of one row's comparison (a − b, per seed). With every sign alike
# the exact one-sided Wilcoxon p is 1/2**n: 10 pairs 1/1024, 6 pairs 1/64, 5 pairs 1/32.
DIFFERENCES = {
    "agrees": [0.01 * (i + 1) for i in range(10)],  # two-sided 2/1024
    "opposes": [-0.01 * (i + 1) for i in range(10)],  # two-sided 2/1024, the other way
    "six": [0.01 * (i + 1) for i in range(6)],  # two-sided 1/32: under 5% alone, not after Holm over the table
    "five": [0.01 * (i + 1) for i in range(5)],  # one-sided 1/32 (what the table used to call significant), two-sided 1/16
    "one": [0.01],  # one pair: a test applies but cannot be run
}

MODULE = '''
from actlab.claims.base import ClaimResult
from actlab.reporting.literature import Harness, from_comparison
from actlab.stats import paired


def analysis(evidence, out=None):
    return ClaimResult("supported", "constructed differences", details=evidence.table)


def _row(result, column):
    d = result.details[column].dropna()
    return from_comparison(paired(d, 0.0 * d), column)


def agrees(result):
    return _row(result, "agrees")


def opposes(result):
    return _row(result, "opposes")


def six(result):
    return _row(result, "six")


def five(result):
    return _row(result, "five")


def one(result):
    return _row(result, "one")


def ranks(result):
    return Harness("an order compared by Kendall's tau: no test", 1, None)


def old_style(result):
    return Harness("a row built the old way", 1, True)
'''


def _row_yaml(name: str) -> str:
    return (f"    - {{paper: P {name}, source: s, setting: t, number: null, direction: A > B, "
            f"harness_setting: h, harness: {name}}}\n")


def _claim(tmp_path, names):
    folder = tmp_path / "experiment"
    folder.mkdir(exist_ok=True)
    (folder / "constructed.yaml").write_text("claim:\n  title: constructed\n  article: a\n  literature:\n" + "".join(map(_row_yaml, names)))
    (folder / "constructed.py").write_text(textwrap.dedent(MODULE))
    claim = discover([tmp_path])["constructed"]
    table = pd.DataFrame({k: pd.Series(v) for k, v in DIFFERENCES.items()})
    return claim, claim.analyze(Evidence(table), None)


def test_the_tables_tests_are_two_sided_and_holm_corrected_over_its_rows(tmp_path):
    claim, result = _claim(tmp_path, ["agrees", "opposes", "six", "five", "ranks", "one"])
    table = {r["paper"]: r for r in literature.rows([(claim, result)])}
    assert {r["family"] for r in table.values()} == {4}  # the four tested rows; the rank row and the single pair have none
    assert table["P agrees"]["p_raw"] == pytest.approx(2 / 1024)
    assert table["P five"]["p_raw"] == pytest.approx(1 / 16)  # twice the one-sided 1/32
    # Holm over 4: 4 × 2/1024, then max(3 × 2/1024, that), then 2 × 1/32, then max(1/16, that)
    assert table["P agrees"]["p_holm"] == pytest.approx(8 / 1024) and table["P opposes"]["p_holm"] == pytest.approx(8 / 1024)
    assert table["P six"]["p_holm"] == pytest.approx(1 / 16) and table["P five"]["p_holm"] == pytest.approx(1 / 16)
    assert table["P agrees"]["agrees"] == "yes"
    assert table["P opposes"]["agrees"] == "no (opposite, significant)"
    assert table["P six"]["agrees"] == "same sign, not significant"  # raw two-sided 1/32 < 5%: Holm takes it away
    assert table["P five"]["agrees"] == "same sign, not significant"  # one-sided 1/32 < 5%: two-sided it is not
    assert table["P ranks"]["p_holm"] is None and table["P ranks"]["agrees"] == "yes"
    assert table["P one"]["p_holm"] is None and table["P one"]["agrees"] == "same sign, no test (too few pairs)"
    assert "two-sided p = 0.00195 (raw)" in table["P agrees"]["harness"]
    text = "\n".join(literature.render([(claim, result)]))
    assert "two-sided" in text and "Holm-adjusted over this table's 4 tested rows and read at 5%" in text
    assert "| 0.00781 (over 4) | yes |" in text and "| no test | yes |" in text


def test_a_row_that_passes_a_verdict_for_a_p_is_named(tmp_path):
    claim, result = _claim(tmp_path, ["agrees", "old_style"])
    with pytest.raises(literature.RowContractError, match="p is the row's raw two-sided p-value"):
        literature.rows([(claim, result)])


def test_xu_et_al_rows_read_claim_12s_runs():
    claims = discover()
    twelve, four = claims["claim12_rrelu_when_overfitting"], claims["claim04_prelu_overfitting"]
    assert [e.harness for e in literature.entries(twelve)] == ["xu_randomized", "xu_nonzero"]
    assert not any(e.paper.startswith("Xu") for e in literature.entries(four))  # no longer read from PReLU's gap
    # RReLU 2 points ahead of Leaky ReLU and PReLU, which are 1 point ahead of ReLU, on 2 tasks × 5 seeds
    accuracy = {"rrelu": 0.74, "leaky_relu": 0.72, "prelu": 0.72, "relu": 0.70}
    rows = [{"status": "FINISHED", "activation": a, TASK: task, "seed": s, "best_val_accuracy": 0.8, "data.n_train": 300,
             "generalization_gap": 0.2, "test_accuracy": acc + 0.001 * ((s + i) % 3)}
            for task in ("mnist_small_mlp", "mnist1d_small_mlp") for i, (a, acc) in enumerate(accuracy.items()) for s in range(5)]
    result = twelve.analyze(Evidence(pd.DataFrame(rows)), None)
    table = literature.rows([(twelve, result)])
    assert [r["agrees"] for r in table] == ["yes", "yes"]
    assert table[0]["harness"].startswith("RReLU − mean(Leaky ReLU, PReLU) test accuracy: Δ +2.")
    assert table[1]["harness"].startswith("mean(Leaky ReLU, PReLU, RReLU) − ReLU test accuracy: Δ +2.")
    assert table[0]["family"] == 2 and table[0]["p_raw"] == pytest.approx(2 / 1024)
