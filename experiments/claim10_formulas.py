"""Claim 10's checks: the article's printed values and code, against the registry's layers."""

from __future__ import annotations

from pathlib import Path

from actlab.claims.base import MIXED, NOT_SUPPORTED, SUPPORTED, ChallengerView, ClaimResult, Evidence


def analysis(evidence: Evidence, out: Path | None = None) -> ClaimResult:
    """Deterministic checks of the article's printed values and code: nothing to resample."""
    from actlab.reporting.gallery import check_article_values, gallery, keras3_leaky_alpha

    if out is not None:
        gallery(out)
    checks = check_article_values()
    numbers = [f"{name}: article {expected}, computed {computed:.4f} → {'✓' if ok else '✗'}" for name, expected, computed, ok in checks]
    trained = evidence.finished()["activation"].tolist() if not evidence.table.empty else []
    numbers.append(f"trained in Keras 3 from the registry: {len(trained)} of {len(evidence.table)} activations"
                   + (f" ({', '.join(sorted(trained))})" if trained else ""))
    notes = [
        "The article's SELU code sample passes activation='relu', so it never uses SELU (use activation='selu' with "
        "kernel_initializer='lecun_normal').",
        f"The article's LeakyReLU(alpha=0.3): in Keras 3, {keras3_leaky_alpha()}",
        "ReLU is non-differentiable only at 0; its zero slope for negative inputs causes dying units, not non-differentiability.",
        "ELU's negative side is exponential, α(eˣ − 1), not logarithmic.",
    ]
    all_ok = all(ok for *_, ok in checks)
    all_trained = len(evidence.table) > 0 and len(trained) == len(evidence.table)
    verdict = SUPPORTED if all_ok and all_trained else MIXED if all_ok or all_trained else NOT_SUPPORTED
    return ClaimResult(verdict, "values of each function from the registry layers; derivatives by automatic differentiation",
                       numbers, notes, out)


def challenger(claim, name: str, evidence: Evidence, figures_dir: Path, dirs: list[Path]) -> ChallengerView:
    """A new function: its formula and derivative drawn from its own layer; does it train in Keras 3?"""
    from actlab.reporting.gallery import gallery

    figure = figures_dir / f"{name}_{claim.name}.png"
    gallery(figure, dirs, [name])
    finished = evidence.finished()
    trained = bool(len(finished)) and bool((finished["activation"] == name).any())
    return ChallengerView(SUPPORTED if trained else NOT_SUPPORTED, "its formula and derivative by autodiff; it trains in Keras 3",
                          [f"{name} trained from its YAML on digits: {'yes' if trained else 'no'}"], figure)
