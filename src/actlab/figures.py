"""Figures shared by a run's artifacts and the report: readable at a glance, one idea per figure."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never a window
import matplotlib.pyplot as plt  # noqa: E402


def learning_curve(history: list[dict[str, float]], title: str, path: Path) -> None:
    epochs = range(1, len(history) + 1)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric, label in ((ax_loss, "loss", "cross-entropy loss"), (ax_acc, "accuracy", "accuracy")):
        ax.plot(epochs, [h.get(metric) for h in history], marker="o", label="train")
        ax.plot(epochs, [h.get(f"val_{metric}") for h in history], marker="o", label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- claim figures: each takes the claim's tidy table and writes one PNG ----------------------
def _median_band(ax, x, groups, label, **style):
    """Median line with a shaded 95% bootstrap interval, from {x: values}."""
    from actlab.stats import median_ci

    estimates = [median_ci(groups[v]) for v in x]
    ax.plot(x, [e.median for e in estimates], marker="o", label=label, **style)
    ax.fill_between(x, [e.low for e in estimates], [e.high for e in estimates], alpha=0.15, **style)


def _save(fig, path: Path, title: str) -> None:
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def ratio_by_depth(ratios, path: Path, threshold: float) -> None:
    import numpy as np

    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    for ax, when in zip(axes, ("at init", "after training")):
        part = ratios[ratios["when"] == when]
        for act, group in part.groupby("activation"):
            depths = sorted(group["depth"].unique())
            _median_band(ax, depths, {d: np.log10(group[group["depth"] == d]["ratio"]) for d in depths}, act)
        ax.axhline(np.log10(threshold), color="red", linestyle=":", label=f"ratio {threshold} (vanishing)")
        ax.set_xlabel("hidden layers")
        ax.set_title(when)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("log10 ‖∇W first‖ / ‖∇W last‖")
    axes[1].legend(fontsize=8)
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
            _median_band(ax, epochs, dict(zip(epochs, stacked.T)), act)
        ax.set_xlabel("epoch")
        ax.set_title(f"optimizer: {optimizer}")
        ax.grid(alpha=0.3)
        ax.legend()
    axes[0][0].set_ylabel("validation accuracy")
    _save(fig, path, "Claim 2: validation accuracy per epoch, tanh vs sigmoid (median over seeds, 95% CI)")


def metric_by_x(finished, x: str, y: str, path: Path, xlabel: str, ylabel: str, title: str, log_x: bool = False) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for act, group in finished.groupby("activation"):
        xs = sorted(group[x].unique())
        _median_band(ax, xs, {v: group[group[x] == v][y] for v in xs}, act)
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
            _median_band(ax, sizes, {n: group[group["n_train"] == n][metric] for n in sizes}, act)
        ax.set_xscale("log")
        sizes = sorted(finished["n_train"].unique())
        ax.set_xticks(sizes, [f"{int(n):,}" for n in sizes])  # the sizes measured, not log-scale minor ticks
        ax.minorticks_off()
        ax.set_xlabel("training examples (MNIST-1D, log scale)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend()
    _save(fig, path, "Claim 4: ReLU, Leaky ReLU and PReLU against training-set size (median, 95% CI)")


def points_by_task(table, metrics: list[str], path: Path, title: str) -> None:
    from actlab.stats import median_ci

    tasks = sorted(table["+experiment/task"].unique()) if "+experiment/task" in table else ["all"]
    acts = sorted(table["activation"].unique())
    fig, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 0.45 * len(acts) * len(tasks) + 2), squeeze=False)
    for ax, metric in zip(axes[0], metrics):
        labels, y = [], 0
        for t, task in enumerate(tasks):
            part = table if task == "all" else table[table["+experiment/task"] == task]
            for act in acts:
                est = median_ci(part[part["activation"] == act][metric])
                ax.errorbar(est.median, y, xerr=[[est.median - est.low], [est.high - est.median]], fmt="o", color=f"C{t}")
                labels.append(f"{task} · {act}")
                y += 1
        ax.set_yticks(range(len(labels)), labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(metric.replace("_", " ") + " (median, 95% CI)")
        ax.grid(alpha=0.3)
    _save(fig, path, title)


def rank_heatmap(selected, mean_rank, path: Path) -> None:
    table = selected.pivot_table(index="activation", columns="+experiment/task", values="test_accuracy", aggfunc="median")
    table = table.loc[mean_rank.index]
    fig, ax = plt.subplots(figsize=(2.2 * table.shape[1] + 3, 0.5 * len(table) + 1.5))
    image = ax.imshow(table.to_numpy(), cmap="viridis", aspect="auto")
    ax.set_xticks(range(table.shape[1]), table.columns)
    ax.set_yticks(range(len(table)), [f"{a} (mean rank {mean_rank[a]:.1f})" for a in table.index])
    for i in range(table.shape[0]):
        for j in range(table.shape[1]):
            ax.text(j, i, f"{table.iat[i, j]:.3f}", ha="center", va="center", color="white", fontsize=8)
    fig.colorbar(image, label="median test accuracy")
    _save(fig, path, "Claim 8: test accuracy per task, functions ordered by mean rank (best first)")


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
        ax.bar(xs, [e.median for e in estimates], width, label=model,
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
            for condition, group in medians[medians["when"] == when].groupby("condition"):
                ax.plot(group["layer"], group[stat], marker=".", label=condition)
            ax.axhline(target, color="black", linestyle=":")
            ax.set_title(f"{stat.replace('act_', '')} of each layer's output, {when}")
            ax.set_ylabel(stat.replace("act_", "activation "))
            if stat == "act_std":
                ax.set_yscale("log")
            ax.grid(alpha=0.3)
    for ax in axes[1]:
        ax.set_xlabel("hidden layer")
    axes[0][1].legend(fontsize=8)
    _save(fig, path, "Claim 7: does SELU keep mean 0 and std 1 layer after layer? (median over seeds)")


def rank_intervals(ranks, highlight: str, path: Path) -> None:
    """Mean rank of every function (1 = best) with its 95% interval, `highlight` in its own colour."""
    fig, ax = plt.subplots(figsize=(7, 0.4 * len(ranks) + 1.5))
    for y, (name, row) in enumerate(ranks.iterrows()):
        colour, marker = ("tab:red", "D") if name == highlight else ("tab:blue", "o")
        ax.errorbar(row["mean_rank"], y, xerr=[[row["mean_rank"] - row["low"]], [row["high"] - row["mean_rank"]]],
                    fmt=marker, color=colour, capsize=3)
    ax.set_yticks(range(len(ranks)), ranks.index)
    ax.invert_yaxis()
    ax.set_xlabel("mean rank of test accuracy (1 = best), 95% interval over task × seed blocks")
    ax.grid(alpha=0.3)
    _save(fig, path, f"Where {highlight} ranks (claim 8's protocol)")
