"""Claim 10: every registry activation and its derivative, from the same layers the models use.

Derivatives come from automatic differentiation (tf.GradientTape), not from formulas typed twice.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np

from actlab.activations import ACTIVATIONS, effective_params, make_layer
from actlab.runner import import_tensorflow

SELU_SCALE, SELU_ALPHA = 1.0507, 1.6733  # as the article prints them (Klambauer et al. 2017)


def values_and_slopes(name: str, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    tf = import_tensorflow()

    layer = make_layer(name, effective_params(name, {}), f"gallery_{name}")
    z = tf.constant(x.reshape(-1, 1).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(z)
        y = layer(z)
    return np.asarray(y).ravel(), np.asarray(tape.gradient(y, z)).ravel()


def check_article_values() -> list[tuple[str, str, float, bool]]:
    """(what, the article's value, the registry's value, agree to the printed precision)."""

    def value(name: str, x: float) -> float:
        return float(values_and_slopes(name, np.array([x]))[0][0])

    def slope(name: str, x: float) -> float:
        return float(values_and_slopes(name, np.array([x]))[1][0])

    checks = [
        ("sigmoid(0)", "0.5", value("sigmoid", 0.0), 0.5, 1e-6),
        ("sigmoid'(0) (its largest slope)", "0.25", slope("sigmoid", 0.0), 0.25, 1e-6),
        ("tanh(0)", "0", value("tanh", 0.0), 0.0, 1e-6),
        ("tanh'(0)", "1", slope("tanh", 0.0), 1.0, 1e-6),
        ("relu(-1)", "0", value("relu", -1.0), 0.0, 1e-6),
        ("relu(2)", "2", value("relu", 2.0), 2.0, 1e-6),
        ("elu(-1) with α = 1", "-0.632", value("elu", -1.0), -0.632, 5e-4),
        ("selu(1) = scale", f"{SELU_SCALE}", value("selu", 1.0), SELU_SCALE, 5e-5),
        ("selu(-∞) = -scale·α", f"{-SELU_SCALE * SELU_ALPHA:.4f}", value("selu", -50.0), -SELU_SCALE * SELU_ALPHA, 5e-4),
        ("leaky_relu(-1), Keras layer default slope", "-0.3", value("leaky_relu", -1.0), -0.3, 1e-6),
        ("prelu(-1) at He et al.'s initial α", "-0.25", value("prelu", -1.0), -0.25, 1e-6),
    ]
    return [(what, printed, computed, math.isclose(computed, expected, abs_tol=tol))
            for what, printed, computed, expected, tol in checks]


def keras3_leaky_alpha() -> str:
    """What Keras 3 does with the article's `LeakyReLU(alpha=0.3)`, observed, not assumed."""
    import keras

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            layer = keras.layers.LeakyReLU(alpha=0.3)
        except Exception as error:  # noqa: BLE001 - the behaviour itself is what we report
            return f"it raises {type(error).__name__}: {error}"
    slope = float(np.asarray(layer(np.array([[-1.0]], dtype=np.float32)))[0, 0]) * -1
    said = f" and warns: “{caught[0].message}”" if caught else " without a warning"
    return f"it is accepted{said}; the slope used is {slope:g} (the keyword is now negative_slope)."


def gallery(path: Path) -> None:
    from actlab.figures import OKABE_ITO, plt

    x = np.linspace(-4, 4, 401)
    names = list(ACTIVATIONS)
    fig, axes = plt.subplots(2, 5, figsize=(16, 6.5), sharex=True)
    for ax, name in zip(axes.ravel(), names):
        y, dy = values_and_slopes(name, x)
        ax.plot(x, y, label="f(x)", color=OKABE_ITO[3])
        ax.plot(x, dy, label="f′(x) (autodiff)", color=OKABE_ITO[4], linestyle="--")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        params = ", ".join(f"{k}={v}" for k, v in effective_params(name, {}).items() if k != "shared_axes")
        ax.set_title(name + (f" ({params})" if params else "") + ("" if ACTIVATIONS[name].in_article else " · modern"), fontsize=10)
        ax.set_ylim(-2.2, 4.2)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("input x")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle("Claim 10: every activation in the registry and its derivative, from the layers the models use")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
