"""The figures' one look (palette, markers, a style per activation) and the figures more than one
stage draws: a run's learning curve and heatmaps, a sweep's summary, accuracy by task. A claim's own
figure is drawn by the claim's module."""

from __future__ import annotations

import contextlib
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt

# --- one look for every figure -------------------------------------------------------------------
# Okabe & Ito's colour-blind-safe palette (black moved last: it is kept for reference lines), with a
# marker and a dash pattern per series as well, so a figure still reads when printed in grey or seen
# without one of the colour channels. Each activation of the registry owns one style, in every figure.
OKABE_ITO = ["#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442", "#000000"]
MARKERS = ["o", "s", "^", "D", "v", "P", "X", "*", "<", ">", "h", "p"]
DASHES = ["-", "--", "-.", ":"]
plt.rcParams["axes.prop_cycle"] = matplotlib.cycler(color=OKABE_ITO)


def _style_at(i: int) -> dict:
    return {"color": OKABE_ITO[i % len(OKABE_ITO)], "marker": MARKERS[i % len(MARKERS)],
            "linestyle": DASHES[(i // len(OKABE_ITO)) % len(DASHES)]}


# A challenger report's new function: one colour and marker no other series has (not in the
# palette), drawn over the others, in every figure of its report (`challenging`).
CHALLENGER_STYLE = {"color": "#7B2CBF", "marker": "*", "linestyle": "-", "linewidth": 2.4, "zorder": 10}
_CHALLENGER: list[str] = []


@contextlib.contextmanager
def challenging(name: str):
    """Within this block, `style(name)` is the challenger's style in every figure."""
    _CHALLENGER.append(name)
    try:
        yield
    finally:
        _CHALLENGER.remove(name)


def challenger() -> str | None:
    """The function a challenger report is about (`challenging`), or None."""
    return _CHALLENGER[-1] if _CHALLENGER else None


def style(name: str, others=()) -> dict:
    """Colour, marker and dash pattern of one series. An activation of the registry keeps its own
    style in every figure; any other label (a model, a condition, a slope) is styled by its place
    among `others`, after the activations' styles so the two never share one. A challenger report's
    function (`challenging`) has CHALLENGER_STYLE, with a z-order that draws it on top."""
    from actlab.pipeline.config import options

    if name in _CHALLENGER:
        return dict(CHALLENGER_STYLE)
    names = options("activation")
    if name in names:
        return _style_at(names.index(name))
    labels = sorted(set(others) | {name}, key=str)
    return _style_at(len(names) + labels.index(name))


def integer_ticks(ax, axis: str = "x") -> None:
    """Whole-number ticks (epochs, layers): no 2.5th epoch."""
    from matplotlib.ticker import MaxNLocator

    getattr(ax, f"{axis}axis").set_major_locator(MaxNLocator(integer=True))


def learning_curve(history: list[dict[str, float]], title: str, path: Path) -> None:
    """Loss and accuracy per epoch, train and validation: one per run, so drawn with fixed margins
    (tight_layout would measure every text first, half of this figure's cost)."""
    epochs = range(1, len(history) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric, label in ((ax_loss, "loss", "cross-entropy loss"), (ax_acc, "accuracy", "accuracy")):
        ax.plot(epochs, [h.get(metric) for h in history], label="train", **_style_at(0))
        ax.plot(epochs, [h.get(f"val_{metric}") for h in history], label="validation", **_style_at(3))
        ax.set_xlabel("epoch")
        integer_ticks(ax)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.subplots_adjust(left=0.07, right=0.985, bottom=0.14, top=0.88, wspace=0.2)
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- shared pieces, and accuracy by task (claims 5, 9, 11, 12) --------------------------------
def median_band(ax, x, groups, label, **style):
    """Median line with a shaded 95% bootstrap interval, from {x: values}."""
    from actlab.stats import median_ci

    estimates = [median_ci(groups[v]) for v in x]
    ax.plot(x, [e.median for e in estimates], label=label, **style)
    ax.fill_between(x, [e.low for e in estimates], [e.high for e in estimates], alpha=0.15, color=style.get("color"),
                    linewidth=0)


def save(fig, path: Path, title: str) -> None:
    import warnings

    fig.suptitle(title)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        try:
            fig.tight_layout()
        except UserWarning:  # too many labels for tight_layout's margins (a large sweep's summary): the other engine
            fig.set_layout_engine("constrained")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def points_by_task(table, metrics: list[str], path: Path, title: str, reference: str | None = None) -> None:
    """Median and 95% CI per task and function. With a `reference` function, each point is instead the
    paired difference to it (same task and seed) in percentage points: what a claim comparing
    functions judges, readable within every task whatever that task's accuracy level."""
    from actlab.stats import median_ci

    tasks = sorted(table["task"].unique()) if "task" in table else ["all"]
    acts = [a for a in sorted(table["activation"].unique()) if a != reference]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 0.45 * len(acts) * len(tasks) + 2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        labels, y = [], 0
        for t, task in enumerate(tasks):
            part = table if task == "all" else table[table["task"] == task]
            if reference:
                wide = part.pivot_table(index="seed", columns="activation", values=metric)
            if t % 2:  # alternate grey bands tell the tasks apart without a colour
                ax.axhspan(y - 0.5, y + len(acts) - 0.5, color="0.92", zorder=0)
            for act in acts:
                if reference:
                    values = ((wide[act] - wide[reference]) * 100).dropna() if {act, reference} <= set(wide) else []
                else:
                    values = part[part["activation"] == act][metric]
                est = median_ci(values)
                look = style(act, acts)
                ax.errorbar(est.median, y, xerr=[[est.median - est.low], [est.high - est.median]], fmt=look["marker"],
                            color=look["color"], markeredgecolor="black", markeredgewidth=0.5)
                labels.append(f"{task} · {act}")
                y += 1
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        if reference:
            ax.axvline(0, color="black", linestyle=":")
            ax.set_xlabel(f"{metric.replace('_', ' ')} − {reference}'s (points; median, 95% CI)")
        else:
            ax.set_xlabel(metric.replace("_", " ") + " (median, 95% CI)")
        ax.grid(alpha=0.3)
    save(fig, path, title)


def layer_heatmaps(layer_table: list[dict], statistics, title: str) -> list:
    """One image per statistic: hidden layer (rows, first at the top) x epoch (columns, 0 = the
    initialized network), viridis-coloured, with its scale. Drawn with numpy and Pillow rather than
    matplotlib (about 0.1 s of CPU per figure): every run logs five, at the end of its training."""
    import numpy as np
    from PIL import Image, ImageDraw

    steps = sorted({row["step"] for row in layer_table})
    layers = sorted({row["layer"] for row in layer_table})
    # Small on purpose: MLflow encodes each image twice (PNG and WebP), the cost of a larger one.
    col, row_h = max(4, 180 // len(steps)), max(3, 120 // len(layers))
    left, top, right, bottom = 22, 30, 56, 16
    width, height = left + col * len(steps) + right, top + row_h * len(layers) + bottom
    lut = (_VIRIDIS * 255).astype(np.uint8)
    images = []
    for stat in statistics:
        grid = np.full((len(layers), len(steps)), np.nan)
        for row in layer_table:
            grid[layers.index(row["layer"]), steps.index(row["step"])] = row[stat]
        low, high = (float(np.nanmin(grid)), float(np.nanmax(grid))) if np.isfinite(grid).any() else (0.0, 1.0)
        scaled = np.nan_to_num((grid - low) / ((high - low) or 1.0), nan=-1.0)
        cells = np.where(scaled[..., None] < 0, 160, lut[np.clip((scaled * 255).astype(int), 0, 255)]).astype(np.uint8)
        canvas = np.full((height, width, 3), 255, dtype=np.uint8)
        canvas[top:top + row_h * len(layers), left:left + col * len(steps)] = cells.repeat(row_h, 0).repeat(col, 1)
        bar_x = width - right + 6
        bar = lut[np.linspace(255, 0, row_h * len(layers)).astype(int)]
        canvas[top:top + row_h * len(layers), bar_x:bar_x + 10] = bar[:, None, :]
        image = Image.fromarray(canvas)
        draw = ImageDraw.Draw(image)
        draw.text((4, 2), f"{stat}: hidden layer x epoch", fill=(0, 0, 0))
        draw.text((4, 15), title[:52], fill=(90, 90, 90))
        draw.text((4, top), f"{layers[0]}", fill=(0, 0, 0))
        draw.text((4, top + row_h * len(layers) - 11), f"{layers[-1]}", fill=(0, 0, 0))
        draw.text((left, height - 13), f"epoch {steps[0]}", fill=(0, 0, 0))
        draw.text((left + col * len(steps) - 12, height - 13), f"{steps[-1]}", fill=(0, 0, 0))
        draw.text((bar_x + 12, top - 2), f"{high:.3g}", fill=(0, 0, 0))
        draw.text((bar_x + 12, top + row_h * len(layers) - 10), f"{low:.3g}", fill=(0, 0, 0))
        images.append(np.asarray(image))
    return images


_VIRIDIS = matplotlib.colormaps["viridis"](__import__("numpy").linspace(0, 1, 256))[:, :3]


def sweep_summary(runs, group: str, depth_profiles: dict, path: Path, title: str) -> None:
    """The sweep's two questions at a glance: test accuracy per group (median, 95% CI, each run a
    dot) and each layer's activation std against depth per group (median over its runs)."""
    import numpy as np

    from actlab.stats import median_ci

    groups = sorted(runs[group].astype(str).unique())
    fig, (ax_acc, ax_std) = plt.subplots(1, 2, figsize=(11, 4.2))
    for i, name in enumerate(groups):
        part = runs[runs[group].astype(str) == name]
        values = part["test_accuracy"].dropna().to_numpy(dtype=float)
        look = style(name, groups)
        if len(values):
            ci = median_ci(values)
            ax_acc.errorbar([i], [ci.median], yerr=[[ci.median - ci.low], [ci.high - ci.median]], capsize=4,
                            color=look["color"], marker=look["marker"], markersize=7)
            ax_acc.scatter(np.full(len(values), i + 0.15), values, s=10, color=look["color"], alpha=0.6)
        profiles = [depth_profiles[r] for r in part["run_id"] if depth_profiles.get(r)]
        if profiles:
            depth = min(map(len, profiles))
            stacked = np.array([p[:depth] for p in profiles])
            ax_std.plot(range(1, depth + 1), np.median(stacked, axis=0), label=name, markersize=4, **look)
    ax_acc.set_xticks(range(len(groups)), groups, rotation=30, ha="right")
    ax_acc.set_ylabel("test accuracy")
    ax_acc.set_title("test accuracy per group (median, 95% CI; dots: runs)", fontsize=9)
    ax_acc.grid(alpha=0.3, axis="y")
    ax_std.axhline(1.0, color="black", linestyle=":")
    ax_std.set_yscale("log")
    ax_std.set_xlabel("hidden layer")
    integer_ticks(ax_std)
    ax_std.set_ylabel("activation std after training")
    ax_std.set_title("each layer's output std against depth (median over runs)", fontsize=9)
    ax_std.grid(alpha=0.3)
    if ax_std.get_legend_handles_labels()[0]:  # not the reference line alone (runs without depth profiles)
        ax_std.legend(fontsize=8)
    save(fig, path, title)
