"""Claim 10: every activation in the config tree and its derivative, from the layers the models use.

Derivatives come from automatic differentiation (tf.GradientTape), not from formulas typed twice.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from actlab.pipeline.config import ACTIVATION_KEYS, CONF_DIR, option_file, options
from actlab.pipeline.runner import import_tensorflow

SELU_SCALE, SELU_ALPHA = 1.0507, 1.6733  # as the article prints them (Klambauer et al. 2017)


def activation_config(name: str, dirs: list[Path] | None = None) -> dict:
    """An activation's YAML, resolved, from the config search path."""
    return OmegaConf.to_container(OmegaConf.load(option_file("activation", name, dirs or [CONF_DIR])), resolve=True)


def values_and_slopes(name: str, x: np.ndarray, dirs: list[Path] | None = None) -> tuple[np.ndarray, np.ndarray]:
    tf = import_tensorflow()
    from actlab.pipeline.activations import activation_layers

    # A Keras layer name has no `/`, which an option in a subfolder has (activation=controls/...).
    layer = activation_layers(activation_config(name, dirs), f"activation={name}")(f"gallery_{name.replace('/', '_')}")
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
        except Exception as error:
            return f"it raises {type(error).__name__}: {error}"
    slope = float(np.asarray(layer(np.array([[-1.0]], dtype=np.float32)))[0, 0]) * -1
    said = f" and warns: “{caught[0].message}”" if caught else " without a warning"
    return f"it is accepted{said}; the slope used is {slope:g} (the keyword is now negative_slope)."


def parameters(config: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in config.items() if k not in (*ACTIVATION_KEYS, "_target_", "shared_axes"))


def gallery(path: Path, dirs: list[Path] | None = None, names: list[str] | None = None) -> None:
    """Every activation of the config tree (or `names`), five to a row, each with its derivative."""
    from actlab import figures
    from actlab.figures import OKABE_ITO, plt

    x = np.linspace(-4, 4, 401)
    names = names or options("activation", dirs)
    columns = min(5, len(names))  # one function (a challenger's) gets one panel, not a row of blanks
    rows = math.ceil(len(names) / columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns + 1.0, 3.25 * rows + 0.5), sharex=True, squeeze=False)
    for ax in axes.ravel()[len(names):]:
        ax.set_visible(False)
    for ax, name in zip(axes.ravel(), names):
        config = activation_config(name, dirs)
        y, dy = values_and_slopes(name, x, dirs)
        mine = name == figures.challenger()  # a challenger report's function: its colour in every figure
        ax.plot(x, y, label="f(x)", color=figures.CHALLENGER_STYLE["color"] if mine else OKABE_ITO[3], linewidth=2.4 if mine else 1.5)
        ax.plot(x, dy, label="f′(x) (autodiff)", color=OKABE_ITO[4], linestyle="--")
        ax.axhline(0, color="grey", linewidth=0.5)
        ax.axvline(0, color="grey", linewidth=0.5)
        params = parameters(config)
        origin = option_file("activation", name, dirs)
        ours = origin is not None and origin.resolve().is_relative_to(CONF_DIR.resolve())
        # "modern": the project's own functions beyond the article's; a user's is named as theirs.
        ax.set_title(name + (f" ({params})" if params else "") + ("" if config.get("in_article") else " · modern" if ours else " · your own"),
                     fontsize=10)
        ax.set_ylim(-2.2, 4.2)
        ax.grid(alpha=0.3)
    for index, ax in enumerate(axes.ravel()[:len(names)]):
        if index + columns >= len(names):  # the lowest panel of its column: it carries the x axis
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("input x")
    axes[0, 0].legend(loc="upper left", fontsize=8)
    fig.suptitle("Claim 10: every activation in the config tree and its derivative, from the layers the models use"
                 if len(names) > 1 else f"{names[0]} and its derivative (autodiff)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
