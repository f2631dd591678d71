"""Published results beside this harness's closest offline measurement.

The published side is data, typed from the sources named in each entry (never from memory; where a
number could not be found in a source we could read, `number` is None and only the published
direction is stated, with its source). The harness side is computed from the claims' results (their
`values`: the tables and tests the rules already built), never typed.

Each row compares a *direction* ("A beats B"), because the settings differ by orders of magnitude
(ImageNet CNNs on GPUs vs 5,000 MNIST digits on a CPU): the magnitudes are not comparable, the sign is.
The harness p-values here are per row and uncorrected (the rows are a descriptive table, not a claim);
the claims' own sections give the Holm-corrected tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from actlab.stats import Comparison, kendall_tau, paired

TASK = "+experiment/task"


@dataclass(frozen=True)
class Harness:
    """This harness's number for one row: a text, and the sign of its effect in the row's direction
    (+1 agrees with the published direction's order, −1 opposes it, 0 no difference), with whether
    the sign is significant (None: no test applies)."""

    text: str
    sign: int
    significant: bool | None


@dataclass(frozen=True)
class Published:
    paper: str
    source: str  # where in the source the number or statement is
    setting: str
    number: str | None  # as published; None: not found in a source we could read
    direction: str  # "A > B" in the quantity named by the setting
    harness_setting: str
    harness: Callable[[dict], Harness | None]  # claim results by number -> this harness's side


def _pair(selected: pd.DataFrame, a: str, b: str, metric: str = "test_accuracy", tasks=None) -> Comparison | None:
    part = selected if tasks is None else selected[selected[TASK].isin(tasks)]
    wide = part.pivot_table(index=[c for c in (TASK, "seed") if c in part], columns="activation", values=metric)
    if a not in wide or b not in wide:
        return None
    return paired(wide[a], wide[b])


def _from_comparison(c: Comparison | None, label: str, scale: float = 100.0, unit: str = " pt") -> Harness | None:
    if c is None or c.n == 0:
        return None
    p = min(c.p_greater, c.p_less)
    sign = int(np.sign(c.difference.median))
    significant = bool(np.isfinite(p) and p < 0.05)
    text = (f"{label}: Δ {c.difference.median * scale:+.2f}{unit} [{c.difference.low * scale:+.2f}, {c.difference.high * scale:+.2f}], "
            f"one-sided p = {p:.3g}, r_rb = {c.effect:.2f}, n = {c.n}")
    return Harness(text, sign, significant)


def _selected(results: dict, number: int) -> pd.DataFrame | None:
    result = results.get(number)
    return None if result is None else result.values.get("selected")


def _tasks_by_depth(selected: pd.DataFrame) -> list[tuple[int, str]]:
    """Dense (MLP) tasks of claim 8 with their hidden-layer count, shallowest first (a CNN task,
    whose model takes images, is left out)."""
    if TASK not in selected or "model.depth" not in selected:
        return []
    dense = selected[selected.get("model.images", pd.Series("False", index=selected.index)).astype(str) != "True"]
    depths = dense.groupby(TASK)["model.depth"].agg(lambda d: int(pd.to_numeric(d, errors="coerce").median()))
    return sorted((int(d), t) for t, d in depths.items())


def _klambauer(results: dict) -> Harness | None:
    selected = _selected(results, 8)
    if selected is None:
        return None
    parts, deepest = [], None
    for depth, task in _tasks_by_depth(selected):
        c = _pair(selected, "selu", "relu", tasks=[task])
        if c is not None and c.n:
            parts.append((f"{task.split('/')[-1]} ({depth} layers)", c))
    if not parts:
        return None
    label, c = parts[-1]
    deepest = _from_comparison(c, label)
    text = "; ".join(_from_comparison(c, label).text for label, c in parts)
    return Harness(text + " (no batch-norm runs in the claims' sweeps; `model.batch_norm=true` exists)",
                   deepest.sign, deepest.significant)


def _geron(results: dict) -> Harness | None:
    result = results.get(7)
    runs = None if result is None else result.values.get("runs")
    if runs is None or not {"selu_lecun", "relu_he_normal"} <= set(runs["condition"]):
        return None
    wide = runs.pivot_table(index="seed", columns="condition", values="best_val_accuracy")
    c = paired(wide["selu_lecun"], wide["relu_he_normal"])
    medians = wide.median()
    h = _from_comparison(c, "SELU − ReLU best validation accuracy")
    return Harness(f"SELU {medians['selu_lecun']:.3f} vs ReLU {medians['relu_he_normal']:.3f} (medians); " + h.text, h.sign, h.significant)


def _clevert(results: dict) -> Harness | None:
    selected = _selected(results, 5)
    if selected is None:
        return None
    speed = _from_comparison(_pair(selected, "elu", "relu", "val_accuracy_auc"), "speed (mean val accuracy over epochs)")
    accuracy = _from_comparison(_pair(selected, "elu", "relu"), "test accuracy")
    if speed is None:
        return None
    return Harness(speed.text + "; " + (accuracy.text if accuracy else "test accuracy: n/a"), speed.sign, speed.significant)


# Mishkin et al.'s CaffeNet-128 ImageNet top-1 accuracies without batch norm (the benchmark's
# Activations.md); VLReLU is y = max(x, x/3), i.e. a leaky ReLU of slope 0.33, close to Keras's 0.3.
MISHKIN_TOP1 = {"elu": 0.488, "prelu": 0.485, "relu": 0.471, "selu": 0.470, "leaky_relu": 0.469, "tanh": 0.401}


def _mishkin(results: dict) -> Harness | None:
    result = results.get(8)
    mean_rank = None if result is None else result.values.get("mean_rank")
    if mean_rank is None:
        return None
    common = [a for a in mean_rank.index if a in MISHKIN_TOP1]
    if len(common) < 3:
        return None
    published = sorted(common, key=lambda a: -MISHKIN_TOP1[a])
    tau = kendall_tau(published, common)
    return Harness(f"mean-rank order of the shared functions: {' > '.join(common)}; Kendall τ with the published order = {tau:.2f}",
                   int(np.sign(tau)) if abs(tau) >= TAU_SAME_ORDER else 0, None)


# Kendall's τ below this in size is no agreement in order either way (claim 8's own "not supported" line).
TAU_SAME_ORDER = 0.2


def _swish(results: dict) -> Harness | None:
    selected = _selected(results, 8)
    return None if selected is None else _from_comparison(_pair(selected, "swish", "relu"), "swish − relu test accuracy")


def _prelu_test(results: dict, test: str, what: str, size: str) -> Harness | None:
    """One of claim 4's PReLU − ReLU comparisons, uncorrected (a single published comparison)."""
    result = results.get(4)
    tests = None if result is None else result.values.get("tests")
    if not tests:
        return None
    c = tests[test]
    raw = Comparison(c.difference, c.raw_greater if c.raw_greater is not None else c.p_greater,
                     c.raw_less if c.raw_less is not None else c.p_less, c.n, c.effect)
    return _from_comparison(raw, f"PReLU − ReLU {what}, {result.values[size]} {'MNIST-1D ' if size == 'n_large' else ''}examples")


def _he(results: dict) -> Harness | None:
    return _prelu_test(results, "acc_large", "test accuracy", "n_large")


def _xu(results: dict) -> Harness | None:
    return _prelu_test(results, "gap_small", "train − validation gap", "n_small")


LITERATURE: list[Published] = [
    Published("Klambauer et al. 2017, Self-Normalizing Neural Networks (NeurIPS)", "abstract; Sec. 4 (121 UCI tasks, Tox21)",
              "deep feed-forward nets on 121 UCI tasks: SELU (SNN) vs ReLU nets without normalization and with batch norm",
              None, "SELU > ReLU (with or without batch norm); winning SNNs are often very deep",
              "claim 8: SELU − ReLU test accuracy per dense task (tabular: breast cancer, wine, high-dimensional synthetic; "
              "MNIST-1D; MNIST shallow and deep), selected learning rate; the sign is the deepest task's", _klambauer),
    Published("Géron, Hands-On Machine Learning (2nd ed.), ch. 11 notebook",
              "ageron/handson-ml2 @262e54bd, 11_training_deep_neural_networks.ipynb, printed output of cells 30 and 34",
              "Fashion-MNIST, 100 dense layers, SGD 1e-3, 5 epochs: SELU + LeCun-normal vs ReLU + He-normal, one run each",
              "validation accuracy after 5 epochs: SELU 0.8218, ReLU 0.7380", "SELU > ReLU",
              "claim 7: 64-layer MLP on mnist_5k (full profile), selu_lecun vs relu_he_normal, best validation accuracy", _geron),
    Published("Clevert et al. 2016, ELUs (ICLR)", "Sec. 4.4, ImageNet learning curves (via a review of the paper)",
              "ImageNet, 15-layer CNN: iterations to reach 20% top-5 error",
              "ELU 160k iterations vs ReLU 200k", "ELU learns faster than ReLU",
              "claim 5: ELU − ReLU, mean validation accuracy over epochs (speed) and test accuracy", _clevert),
    Published("Mishkin et al. 2017, Systematic evaluation of CNN advances on the ImageNet (CVIU)",
              "benchmark repository ducha-aiki/caffenet-benchmark, Activations.md (no batch norm)",
              "ImageNet, CaffeNet at 128 px, top-1 accuracy",
              "ELU 0.488, PReLU 0.485, ReLU 0.471, SELU 0.470, VLReLU 0.469, tanh 0.401",
              "ELU > PReLU > ReLU > SELU > leaky (VLReLU) > tanh",
              "claim 8: mean-rank order over task × seed blocks of the shared functions", _mishkin),
    Published("Ramachandran et al. 2017, Searching for Activation Functions", "abstract; ImageNet results",
              "ImageNet top-1 accuracy, Swish replacing ReLU",
              "+0.9 pt (Mobile NASNet-A), +0.6 pt (Inception-ResNet-v2)", "Swish > ReLU",
              "claim 8: Swish − ReLU test accuracy, paired by task and seed", _swish),
    Published("He et al. 2015, Delving Deep into Rectifiers (ICCV)", "Table 2 (14-layer model, ImageNet)",
              "ImageNet top-1 error, same network with ReLU and PReLU",
              "PReLU 32.64% top-1 error, 1.2 points below ReLU", "PReLU > ReLU on a large dataset",
              "claim 4: PReLU − ReLU test accuracy on the largest MNIST-1D training set", _he),
    Published("Xu et al. 2015, Empirical Evaluation of Rectified Activations", "abstract (tables not found in a readable source)",
              "CIFAR-10/100, NDSB (small datasets): leaky and learned (PReLU) negative slopes",
              None, "PReLU overfits small data (larger train − test gap than ReLU)",
              "claim 4: PReLU − ReLU train − validation gap on the smallest training set", _xu),
]


def agreement(h: Harness | None) -> str:
    if h is None:
        return "n/a (no runs)"
    if h.sign == 0:
        return "no difference"
    same = h.sign > 0
    if h.significant is None:
        return "yes" if same else "no"
    if h.significant:
        return "yes" if same else "no (opposite, significant)"
    return "same sign, not significant" if same else "opposite sign, not significant"


def rows(results: dict) -> list[dict]:
    """The table's rows: the published side as typed above, the harness side computed from `results`
    (claim number -> ClaimResult)."""
    out = []
    for entry in LITERATURE:
        try:
            h = entry.harness(results)
        except (KeyError, ValueError, TypeError):  # a claim without the runs this row needs
            h = None
        out.append({"paper": entry.paper, "source": entry.source, "setting": entry.setting,
                    "published": entry.number if entry.number is not None else "number not found; direction from the source",
                    "direction": entry.direction, "harness_setting": entry.harness_setting,
                    "harness": h.text if h else "n/a (no runs)", "agrees": agreement(h)})
    return out


def render(results: dict) -> list[str]:
    lines = [
        "## The literature side by side",
        "",
        "Published numbers are typed from the sources named (see `src/actlab/literature.py`); this harness's side is "
        "computed from the claims' runs. Settings differ by orders of magnitude, so only the direction is compared. "
        "Harness p-values in this table are per row and uncorrected; the claims above give the corrected tests.",
        "",
        "| Paper (source) | Published setting | Published result | Published direction | This harness: closest offline setting | This harness | Direction agrees? |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows(results):
        lines.append(f"| {r['paper']} ({r['source']}) | {r['setting']} | {r['published']} | {r['direction']} | "
                     f"{r['harness_setting']} | {r['harness']} | {r['agrees']} |")
    return lines
