"""Figures shared by a run's artifacts and the report: readable at a glance, one idea per figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402

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


def style(name: str, others=()) -> dict:
    """Colour, marker and dash pattern of one series. An activation of the registry keeps its own
    style in every figure; any other label (a model, a condition, a slope) is styled by its place
    among `others`, after the activations' styles so the two never share one."""
    from actlab.pipeline.config import options

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


# --- claim figures: each takes the claim's tidy table and writes one PNG ----------------------
def _median_band(ax, x, groups, label, **style):
    """Median line with a shaded 95% bootstrap interval, from {x: values}."""
    from actlab.stats import median_ci

    estimates = [median_ci(groups[v]) for v in x]
    ax.plot(x, [e.median for e in estimates], label=label, **style)
    ax.fill_between(x, [e.low for e in estimates], [e.high for e in estimates], alpha=0.15, color=style.get("color"),
                    linewidth=0)


def _save(fig, path: Path, title: str) -> None:
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


UNDERFLOW_LOG10 = -20  # where a ratio of exactly 0 is drawn: the first layer's gradient underflowed float32


def ratio_by_depth(ratios, path: Path, threshold: float, control: str = "resmlp") -> None:
    """Lines: the plain stack across depths, per activation. Open markers: the residual `control`
    (skip connections), drawn at its own depth(s) in the activation's colour. A ratio of 0 (log −∞)
    is drawn on a marked floor, so the function whose gradient vanished most stays in the figure."""
    import numpy as np

    from actlab.stats import median_ci

    ratios = ratios.assign(ratio=ratios["ratio"].where(~(ratios["ratio"] <= 0), 10.0 ** UNDERFLOW_LOG10))
    underflow = bool((ratios["ratio"] == 10.0 ** UNDERFLOW_LOG10).any())
    is_control = ratios["model"] == control if "model" in ratios else np.zeros(len(ratios), dtype=bool)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    for ax, when in zip(axes, ("at init", "after training")):
        plain, res = (ratios[mask & (ratios["when"] == when)] for mask in (~is_control, is_control))
        for act, group in plain.groupby("activation"):
            depths = sorted(group["depth"].unique())
            _median_band(ax, depths, {d: np.log10(group[group["depth"] == d]["ratio"]) for d in depths}, act, **style(act))
        for act, group in res.groupby("activation"):
            look = style(act)
            for depth, at in group.groupby("depth"):
                est = median_ci(np.log10(at["ratio"]))
                ax.errorbar(depth, est.median, yerr=[[est.median - est.low], [est.high - est.median]], fmt=look["marker"],
                            color=look["color"], markerfacecolor="white", markersize=8, capsize=3)
        if not res.empty:
            ax.plot([], [], "o", color="black", markerfacecolor="white", label=f"open markers: {control} (residual control)")
        ax.axhline(np.log10(threshold), color="black", linestyle=":", label=f"ratio {threshold} (vanishing)")
        if underflow:
            ax.axhline(UNDERFLOW_LOG10, color="grey", linestyle="--", linewidth=0.8,
                       label=f"ratio 0: the gradient underflowed float32 (drawn at 1e{UNDERFLOW_LOG10})")
        ax.set_xlabel("hidden layers (residual blocks for the control)" if not res.empty else "hidden layers")
        integer_ticks(ax)
        ax.set_title(when)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("log10 ‖∇W first‖ / ‖∇W last‖")
    # Beside the panels, not over them: at init every function has runs (collapsed ones drop out after training).
    axes[1].legend(*axes[0].get_legend_handles_labels(), fontsize=8, loc="center left", bbox_to_anchor=(1.02, 0.5))
    _save(fig, path, "Claim 1: gradient reaching the first layer, relative to the last (median, 95% CI)")


def curves_by_group(finished, curves, path: Path) -> None:
    import numpy as np

    optimizers = sorted(finished["optimizer"].unique())
    fig, axes = plt.subplots(1, len(optimizers), figsize=(5.5 * len(optimizers), 4), sharey=True, squeeze=False)
    for ax, optimizer in zip(axes[0], optimizers):
        for act in sorted(finished["activation"].unique()):
            runs = [c for (a, o), c in curves.items() if a == act and o == optimizer and c]
            if not runs:
                continue
            length = min(map(len, runs))
            stacked = np.array([r[:length] for r in runs])
            epochs = list(range(1, length + 1))
            _median_band(ax, epochs, dict(zip(epochs, stacked.T)), act, **style(act))
        ax.set_xlabel("epoch")
        integer_ticks(ax)
        ax.set_title(f"optimizer: {optimizer}")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("validation accuracy")
    _save(fig, path, "Claim 2: validation accuracy per epoch, tanh vs sigmoid (median over seeds, 95% CI)")


def metric_by_x(finished, x: str, y: str, path: Path, xlabel: str, ylabel: str, title: str, log_x: bool = False) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for act, group in finished.groupby("activation"):
        xs = sorted(group[x].unique())
        _median_band(ax, xs, {v: group[group[x] == v][y] for v in xs}, act, **style(act))
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend()
    _save(fig, path, title)


def overfitting(finished, path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, metric, label in ((axes[0], "generalization_gap", "train − validation accuracy"), (axes[1], "test_accuracy", "test accuracy")):
        for act, group in finished.groupby("activation"):
            sizes = sorted(group["n_train"].unique())
            _median_band(ax, sizes, {n: group[group["n_train"] == n][metric] for n in sizes}, act, **style(act))
        ax.set_xscale("log")
        sizes = sorted(finished["n_train"].unique())
        ax.set_xticks(sizes, [f"{int(n):,}" for n in sizes])  # the sizes measured, not log-scale minor ticks
        ax.minorticks_off()
        ax.set_xlabel("training examples (MNIST-1D, log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path, "Claim 4: ReLU, Leaky ReLU and PReLU against training-set size (median, 95% CI)")


def points_by_task(table, metrics: list[str], path: Path, title: str, reference: str | None = None) -> None:
    """Median and 95% CI per task and function. With a `reference` function, each point is instead the
    paired difference to it (same task and seed) in percentage points: what a claim comparing
    functions judges, readable within every task whatever that task's accuracy level."""
    from actlab.stats import median_ci

    tasks = sorted(table["+experiment/task"].unique()) if "+experiment/task" in table else ["all"]
    acts = [a for a in sorted(table["activation"].unique()) if a != reference]
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 0.45 * len(acts) * len(tasks) + 2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        labels, y = [], 0
        for t, task in enumerate(tasks):
            part = table if task == "all" else table[table["+experiment/task"] == task]
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
    _save(fig, path, title)


HEATMAP_FLOOR = -5.0  # percentage points below the task's best where the colour scale stops


def rank_heatmap(selected, mean_rank, path: Path) -> None:
    """Each cell: median test accuracy and its distance to the task's best function, coloured by that
    distance (clipped at HEATMAP_FLOOR points, so one collapsed function does not flatten the scale)."""
    import numpy as np

    table = selected.pivot_table(index="activation", columns="+experiment/task", values="test_accuracy", aggfunc="median")
    table = table.loc[mean_rank.index]
    behind = (table - table.max(axis=0)) * 100  # percentage points behind the task's best (0 = best)
    fig, ax = plt.subplots(figsize=(2.4 * table.shape[1] + 3.5, 0.55 * len(table) + 1.8))
    cmap = plt.get_cmap("cividis")  # perceptually uniform, colour-blind-safe, monotone in grey
    image = ax.imshow(behind.clip(lower=HEATMAP_FLOOR).to_numpy(), cmap=cmap, vmin=HEATMAP_FLOOR, vmax=0, aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns, rotation=20, ha="right")
    ax.set_yticks(range(len(table)), [f"{a} (mean rank {mean_rank[a]:.1f})" for a in table.index])
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            gap = behind.iat[i, j]
            shade = (max(gap, HEATMAP_FLOOR) - HEATMAP_FLOOR) / -HEATMAP_FLOOR  # 0 dark .. 1 light
            text = f"{table.iat[i, j]:.3f}\n" + ("best" if gap == 0 else f"{gap:+.1f} pt")
            ax.text(j, i, text, ha="center", va="center", fontsize=8, color="black" if shade > 0.5 else "white")
    bar = fig.colorbar(image, label=f"points behind the task's best (clipped at {HEATMAP_FLOOR:g})")
    bar.ax.tick_params(labelsize=8)
    _save(fig, path, "Claim 8: median test accuracy per task and distance to the task's best; functions by mean rank")


def latency_ratios(ratios, path: Path) -> None:
    from actlab.stats import median_ci

    models = sorted(ratios.index.get_level_values("model").unique())
    acts = list(ratios.columns)
    fig, ax = plt.subplots(figsize=(9, 4))
    width = 0.8 / len(models)
    for m, model in enumerate(models):
        part = ratios.xs(model, level="model")
        estimates = [median_ci(part[a]) for a in acts]
        xs = [i + m * width for i in range(len(acts))]
        ax.bar(xs, [e.median for e in estimates], width, label=model, color=style(model, models)["color"],
               hatch=["", "//", "..", "xx"][m % 4], edgecolor="black", linewidth=0.5,
               yerr=[[e.median - e.low for e in estimates], [e.high - e.median for e in estimates]], capsize=3)
    ax.axhline(1.0, color="black", linewidth=0.8)
    ax.set_xticks([i + width * (len(models) - 1) / 2 for i in range(len(acts))], acts, rotation=30)
    ax.set_ylabel("forward-pass time / ReLU's")
    ax.legend(title="network")
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path, "Claim 6: inference time relative to ReLU (1,024 inputs, median over seeds, 95% CI)")


def selu_layers(medians, path: Path) -> None:
    fig, axes = plt.subplots(2, 2, figsize=(11, 7), sharex=True)
    for col, when in enumerate(("at init", "after training")):
        for row, (stat, target) in enumerate((("act_mean", 0.0), ("act_std", 1.0))):
            ax = axes[row][col]
            conditions = sorted(medians["condition"].unique())
            for condition, group in medians[medians["when"] == when].groupby("condition"):
                ax.plot(group["layer"], group[stat], label=condition, markersize=4, **style(condition, conditions))
            ax.axhline(target, color="black", linestyle=":")
            ax.set_title(f"{stat.replace('act_', '')} of each layer's output, {when}")
            ax.set_ylabel(stat.replace("act_", "activation "))
            if stat == "act_std":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("hidden layer")
        integer_ticks(ax)
    axes[0][1].legend(fontsize=8)
    _save(fig, path, "Claim 7: does SELU keep mean 0 and std 1 layer after layer? (median over seeds)")


def dead_units(finished, learned, path: Path) -> None:
    """Claim 3: dead share (networks that still learn) and best validation accuracy (every run)."""
    fig, (ax_dead, ax_acc) = plt.subplots(1, 2, figsize=(11, 4))
    for ax, part, y, label in ((ax_dead, learned, "dead_share", "share of dead units (mean over layers)"),
                               (ax_acc, finished, "best_val_accuracy", "best validation accuracy")):
        part = part[part[y].notna()] if y in part else part.iloc[0:0]
        for act, group in part.groupby("activation"):
            xs = sorted(group["lr"].unique())
            _median_band(ax, xs, {v: group[group["lr"] == v][y] for v in xs}, act, **style(act))
        if not part.empty:
            ax.set_xscale("log")
        ax.set_xlabel("Adam learning rate")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    if "chance" in finished and finished["chance"].notna().any():
        ax_acc.axhline(float(finished["chance"].max()), color="black", linestyle=":", label="chance (majority class)")
    ax_dead.set_title("networks that still learn (collapsed runs left out)", fontsize=9)
    ax_acc.set_title("every finished run", fontsize=9)
    if ax_acc.get_legend_handles_labels()[0]:
        ax_acc.legend(fontsize=8)
    _save(fig, path, "Claim 3: dead units and accuracy after training vs learning rate (median, 95% CI)")


def rank_intervals(ranks, highlight: str, path: Path) -> None:
    """Mean rank of every function (1 = best) with its 95% interval, `highlight` in its own colour."""
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(ranks) + 1.5))
    for y, (name, row) in enumerate(ranks.iterrows()):
        colour, marker = (OKABE_ITO[4], "D") if name == highlight else (OKABE_ITO[3], "o")
        ax.errorbar(row["mean_rank"], y, xerr=[[row["mean_rank"] - row["low"]], [row["high"] - row["mean_rank"]]],
                    fmt=marker, color=colour, capsize=3)
    ax.set_yticks(range(len(ranks)), ranks.index)
    ax.invert_yaxis()
    ax.set_xlabel("mean rank of test accuracy (1 = best), 95% interval over task × seed blocks")
    ax.grid(alpha=0.3)
    _save(fig, path, f"Where {highlight} ranks (claim 8's protocol)")


# --- a run's and a sweep's figures in MLflow ---------------------------------------------------
def _rgb(fig):
    """The figure's pixels (height, width, 3), closed: what MLflow's log_image takes."""
    import numpy as np

    fig.canvas.draw()
    pixels = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return pixels


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
    if ax_std.lines:
        ax_std.legend(fontsize=8)
    _save(fig, path, title)
