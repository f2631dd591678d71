"""Power by design: the smallest p each deciding test of a claim can reach, from its jobs alone.

A claim's YAML declares the tests its verdict rests on (`claim.tests`); they form one Holm family.
From the jobs of its sweep (before any run) the harness counts each test's blocks and gives the
smallest Holm-adjusted p the most extreme data could produce: `family × smallest raw p`. A verdict
whose deciding test cannot go below ALPHA was decided by its design, not by its runs; the full
profile is held to POWER_LEVEL (tests/test_claims_design.py).
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from actlab.claims.base import DecidingTest
from actlab.stats import SIDES, smallest_p

POWER_LEVEL = 0.01  # every full-profile deciding test must be able to reach this


@dataclass(frozen=True)
class Power:
    test: DecidingTest
    n: int | None  # blocks (pairs) the test has; None: its pairs are within each job (claim 6's rounds)
    k: int  # treatments (Friedman), else 2
    family: int  # one-sided tests in the claim's Holm family

    @property
    def floor(self) -> float:
        """The smallest Holm-adjusted p this test can give (0 for continuous tests)."""
        if self.n is None:  # pairs the jobs do not show: only a continuous test can say it has no floor
            return 0.0 if smallest_p(self.test.test, 2) == 0 else 1.0
        return min(1.0, self.family * smallest_p(self.test.test, self.n, self.k))

    @property
    def reaches(self) -> bool:
        return self.floor <= POWER_LEVEL

    def __str__(self) -> str:
        blocks = " × ".join(self.test.blocks)
        floor = "no floor (continuous)" if self.floor == 0 else f"{self.floor:.2g}"
        pairs = f"{self.n} blocks ({blocks})" if self.n is not None else f"the {blocks}s within each job"
        what = f"{self.test.test.replace('_', '-')} over {pairs}" + (f", {self.k} {self.test.over}s" if self.test.over else "")
        return f"{self.test.name}: {what}, Holm family of {self.family} → smallest p {floor}"


def power(tests: tuple[DecidingTest, ...], jobs: pd.DataFrame) -> list[Power]:
    """Each deciding test's reach, given the jobs (plain column names) its verdict reads."""
    family = sum(SIDES[t.test] for t in tests)
    found = []
    for test in tests:
        rows = jobs
        for column, values in test.without:
            if column in rows:
                rows = rows[~rows[column].astype(str).isin(values)]
        blocks = [c for c in test.blocks if c in rows]
        n = len(rows[blocks].drop_duplicates()) if blocks and not rows.empty else None if not blocks and len(rows) else 0
        k = test.treatments or (jobs[test.over].nunique() if test.over and test.over in jobs else 2)
        found.append(Power(test, n, k, family))
    return found


def summary(powers: list[Power]) -> str:
    """`0.0039` (the weakest deciding test's floor), `—` for a claim that declares none."""
    if not powers:
        return "—"
    worst = max(p.floor for p in powers)
    return "no floor" if worst == 0 else f"{worst:.2g}" + ("" if worst <= POWER_LEVEL else " ⚠")


def announce(label: str, powers: list[Power]) -> str:
    """What a claim's sweep prints before its first job: each deciding test's floor."""
    lines = [f"{label} · deciding tests (one Holm family):"]
    lines += [f"  {'✓' if p.reaches else '⚠'} {p}" for p in powers]
    if not all(p.reaches for p in powers):
        lines.append(f"  ⚠ a test above {POWER_LEVEL} cannot decide this profile's verdict at that level: more seeds or tasks would")
    return "\n".join(lines)
