"""Claim 10's checks: the article's printed values, its Keras code and what its text says of the
functions, each computed from the registry's layers (or Keras itself); the verdict reads every one."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from actlab.claims.base import INCONCLUSIVE, MIXED, NOT_SUPPORTED, SUPPORTED, ChallengerView, ClaimResult, Evidence


@dataclass(frozen=True)
class Finding:
    """One statement of the article and what the harness computed of it."""

    kind: str  # "value", "code", "text" or "training"
    said: str  # what the article says (or prints)
    found: str  # what was computed
    holds: bool


# The article's Keras code samples, as printed (TensorFlow 2's `tensorflow.keras` is Keras 3's `keras`
# here), with the function each one is meant to give.
CODE_SAMPLES = (
    ("sigmoid", "Dense(10, activation='sigmoid')", lambda k: k.layers.Dense(10, activation="sigmoid")),
    ("tanh", "Dense(10, activation='tanh')", lambda k: k.layers.Dense(10, activation="tanh")),
    ("relu", "Dense(10, activation='relu')", lambda k: k.layers.Dense(10, activation="relu")),
    ("leaky_relu", "Dense(10, activation=LeakyReLU(alpha=0.01))", lambda k: k.layers.Dense(10, activation=k.layers.LeakyReLU(alpha=0.01))),
    ("prelu", "Dense(10, activation=PReLU())", lambda k: k.layers.Dense(10, activation=k.layers.PReLU())),
    ("elu", "Dense(10, activation='elu')", lambda k: k.layers.Dense(10, activation="elu")),
    ("selu", "Dense(10, activation='relu', kernel_initializer='lecun_normal')",
     lambda k: k.layers.Dense(10, activation="relu", kernel_initializer="lecun_normal")),
)


def _code_findings() -> list[Finding]:
    """Build each sample in Keras 3 and compare the function its layer computes with the one the article
    means (on a grid of inputs, so a layer object such as LeakyReLU is judged by what it computes)."""
    import keras

    from actlab.reporting.gallery import values_and_slopes

    x = np.linspace(-4, 4, 81, dtype=np.float32)
    reference = {"leaky_relu": np.where(x > 0, x, 0.01 * x), "prelu": np.maximum(x, 0)}  # the sample's own slope; PReLU starts at 0
    findings = []
    for name, code, build in CODE_SAMPLES:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                layer = build(keras)
            except Exception as error:
                findings.append(Finding("code", f"{name}: `{code}`", f"raises {type(error).__name__}: {error}", False))
                continue
        computed = np.asarray(layer.activation(x.reshape(-1, 1))).ravel()
        # The registry's layer of the function the sample is meant to give (its SELU is SELU): the yardstick.
        expected = reference[name] if name in reference else values_and_slopes(name, x)[0]
        same = bool(np.allclose(computed, expected, atol=1e-5))
        warned = f"; Keras warns: “{caught[0].message}”" if caught else ""
        actual = getattr(layer.activation, "__name__", type(layer.activation).__name__)
        findings.append(Finding("code", f"{name}: `{code}`",
                                (f"builds a layer computing {name}{warned}" if same else
                                 f"builds a layer computing {actual}, not {name}{warned}"), same))
    return findings


def _text_findings() -> list[Finding]:
    """What the article's text says of the functions' shapes, computed from the registry's layers."""
    from actlab.reporting.gallery import values_and_slopes

    x = np.linspace(-6, 6, 1201)
    h = 1e-2
    findings = []
    # "ReLU is continuous but not differentiable, since its derivative is 0 for any negative input."
    points = np.array([-3.0, -1.0, -0.5, 0.5, 1.0, 3.0, 0.0])
    f_plus, f_0, f_minus = (values_and_slopes("relu", points + d)[0] for d in (h, 0.0, -h))
    right, left = (f_plus - f_0) / h, (f_0 - f_minus) / h
    kinks = points[np.abs(right - left) > 1e-3]
    findings.append(Finding("text", "ReLU is not differentiable because its derivative is 0 for negative inputs",
                            f"one-sided slopes differ only at x = {', '.join(f'{k:g}' for k in kinks)}; for x < 0 the slope exists "
                            "and is 0 (the cause of dying units, not of non-differentiability)",
                            bool(len(kinks) and np.any(kinks < 0))))
    # "Unlike Leaky ReLU and PReLU, ELU uses a logarithmic curve for negative values."
    neg = x[x < -0.05]
    elu, elu_slope = values_and_slopes("elu", neg)
    exponential = bool(np.allclose(elu, np.expm1(neg), atol=1e-5))
    convex = bool(np.all(np.diff(elu_slope) > 0))  # slope rising: convex; an increasing logarithm is concave
    findings.append(Finding("text", "ELU uses a logarithmic curve for negative inputs",
                            f"ELU(x) = α(eˣ − 1) for x < 0 {'to 1e-5' if exponential else 'does not hold'}; its slope "
                            f"{'rises' if convex else 'does not rise'} with x (convex), while a rising logarithmic curve is concave",
                            not (exponential or convex)))
    # "The function is monotonic, but its derivative is not" (sigmoid, tanh).
    for name in ("sigmoid", "tanh"):
        _, slope = values_and_slopes(name, x)
        monotonic, slope_turns = bool(np.all(slope >= 0)), bool(np.any(np.diff(slope) > 0) and np.any(np.diff(slope) < 0))
        findings.append(Finding("text", f"{name} is monotonic, its derivative is not",
                                f"slope ≥ 0 everywhere: {monotonic}; the slope rises then falls: {slope_turns}", monotonic and slope_turns))
    # "You can use the default α Keras uses (e.g. 0.3 for leaky ReLU)."
    import keras

    default = float(keras.layers.LeakyReLU().negative_slope)
    findings.append(Finding("text", "Keras's default α for leaky ReLU is 0.3", f"keras.layers.LeakyReLU() has negative_slope {default:g}",
                            abs(default - 0.3) < 1e-9))
    return findings


def findings_verdict(findings: list[Finding]) -> str:
    """Supported when every finding holds; mixed when some do and some do not; not supported when
    fewer than half hold; inconclusive without findings."""
    if not findings:
        return INCONCLUSIVE
    held = sum(f.holds for f in findings)
    if held == len(findings):
        return SUPPORTED
    return NOT_SUPPORTED if 2 * held < len(findings) else MIXED


def _training_finding(evidence: Evidence) -> tuple[Finding, str]:
    """Do the article's seven functions train in Keras 3 as the registry configures them? (The sweep
    trains every registry entry; the others are listed, not judged.)"""
    from actlab.reporting.gallery import activation_config

    table = evidence.table
    names = sorted(table["activation"].unique()) if not table.empty else []
    trained = set(evidence.finished()["activation"]) if not table.empty else set()
    article = [n for n in names if activation_config(n).get("in_article")]
    ok = len(article) == 7 and all(n in trained for n in article)
    line = (f"trained in Keras 3 from the registry: {len(trained)} of {len(names)} activations"
            + (f" ({', '.join(sorted(trained))})" if trained else ""))
    return Finding("training", "the article's seven functions work in Keras",
                   f"{sum(n in trained for n in article)} of the article's 7 trained" + (f" (missing: {', '.join(sorted(set(article) - trained))})"
                                                                                           if set(article) - trained else ""), ok), line


def analysis(evidence: Evidence, out: Path | None = None) -> ClaimResult:
    """Deterministic checks of the article's printed values, code and text: nothing to resample."""
    from actlab.reporting.gallery import check_article_values, gallery, keras3_leaky_alpha

    if out is not None:
        gallery(out)
    findings = [Finding("value", name, f"{computed:.4f} (article {expected})", ok) for name, expected, computed, ok in check_article_values()]
    findings += _code_findings() + _text_findings()
    trained, trained_line = _training_finding(evidence)
    findings.append(trained)
    verdict = findings_verdict(findings)
    numbers = [f"{f.kind}: {f.said} → {f.found} {'✓' if f.holds else '✗'}" for f in findings] + [trained_line]
    failed = [f for f in findings if not f.holds]
    notes = [f"Rule: every finding counts, the article's printed values, its Keras code samples (built in Keras 3) and what its "
             f"text says of the functions' shapes: supported when all {len(findings)} hold, mixed when some fail, not supported "
             f"when fewer than half hold. {len(findings) - len(failed)} of {len(findings)} hold."]
    if failed:
        notes.append("The data disagree with the article on: " + "; ".join(f"{f.said} ({f.found})" for f in failed) + ".")
    notes += [
        "Fix for the SELU sample: activation='selu' with kernel_initializer='lecun_normal'.",
        f"The article's LeakyReLU(alpha=…): in Keras 3, {keras3_leaky_alpha()}",
    ]
    return ClaimResult(verdict, "the article's values, code samples and statements about the functions' shapes, each computed from "
                       "the registry's layers (derivatives by automatic differentiation) or built in Keras 3", numbers, notes, out,
                       details=findings, tests={})


def challenger(claim, name: str, evidence: Evidence, figures_dir: Path, dirs: list[Path]) -> ChallengerView:
    """A new function: its formula and derivative drawn from its own layer; does it train in Keras 3?"""
    from actlab.reporting.gallery import gallery

    figure = figures_dir / f"{name}_{claim.name}.png"
    gallery(figure, dirs, [name])
    finished = evidence.finished()
    trained = bool(len(finished)) and bool((finished["activation"] == name).any())
    return ChallengerView(SUPPORTED if trained else NOT_SUPPORTED, "its formula and derivative by autodiff; it trains in Keras 3",
                          [f"{name} trained from its YAML on digits: {'yes' if trained else 'no'}"], figure)
