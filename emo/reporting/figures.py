"""The report's figures: confusion matrices and learning curves read from the `dvc plots` CSVs, drawn with
matplotlib into PNGs whose bytes depend only on their inputs."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np

from emo.core.ravdess import EMOTIONS


def read_confusion(path: Path) -> np.ndarray:
    """A row-normalised confusion matrix from a plots/confusion CSV of (actual, predicted) names."""
    index = {e: i for i, e in enumerate(EMOTIONS)}
    matrix = np.zeros((len(EMOTIONS), len(EMOTIONS)))
    with open(path, newline="") as handle:
        for record in csv.DictReader(handle):
            matrix[index[record["actual"]], index[record["predicted"]]] += 1
    return matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)



def read_history(path: Path) -> dict[str, np.ndarray]:
    """The columns of a plots/history CSV (epoch, train/val loss and accuracy) as arrays."""
    with open(path, newline="") as handle:
        records = list(csv.DictReader(handle))
    return {key: np.array([float(r[key]) for r in records]) for key in (records[0] if records else {})}



def pyplot():
    """matplotlib's pyplot on the Agg backend, so figures render without a display."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    return plt



def save(fig, path: Path) -> None:
    """Save a PNG without matplotlib's version stamp, so equal inputs give equal bytes on any install."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})
    pyplot().close(fig)



def plot_confusions(matrices: dict[str, np.ndarray], path: Path) -> None:
    """One PNG grid of normalised confusion matrices, one panel per model."""
    plt = pyplot()
    cols = min(4, max(len(matrices), 1))
    rows = max(math.ceil(len(matrices) / cols), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.5 * rows), dpi=100, squeeze=False)
    ticks = range(len(EMOTIONS))
    for ax, (name, matrix) in zip(axes.flat, matrices.items(), strict=False):
        ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
        ax.set_title(name, fontsize=9)
        ax.set_xticks(ticks, EMOTIONS, rotation=60, ha="right", fontsize=6)
        ax.set_yticks(ticks, EMOTIONS, fontsize=6)
        ax.set_xlabel("predicted", fontsize=7)
        ax.set_ylabel("actual", fontsize=7)
        for i in ticks:
            for j in ticks:
                if matrix[i, j] >= 0.005:  # blank zeros keep the few real confusions readable
                    ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=5,
                            color="white" if matrix[i, j] > 0.5 else "black")
    for ax in list(axes.flat)[len(matrices):]:
        ax.axis("off")
    fig.tight_layout()
    save(fig, path)



def plot_histories(histories: dict[str, dict[str, np.ndarray]], best: dict[str, int], path: Path) -> None:
    """Train/validation loss and accuracy per epoch, one row of two panels per model."""
    plt = pyplot()
    rows = max(len(histories), 1)
    fig, axes = plt.subplots(rows, 2, figsize=(9, 2.3 * rows), dpi=100, squeeze=False)
    for (loss_ax, acc_ax), (name, h) in zip(axes, histories.items(), strict=False):
        for ax, kind in ((loss_ax, "loss"), (acc_ax, "acc")):
            ax.plot(h["epoch"], h[f"train_{kind}"], label="train")
            ax.plot(h["epoch"], h[f"val_{kind}"], label="validation")
            if name in best:
                ax.axvline(best[name], color="grey", linestyle="--", linewidth=0.8, label="weights kept")
            ax.set_title(f"{name}: {'loss' if kind == 'loss' else 'accuracy'}", fontsize=9)
            ax.set_xlabel("epoch", fontsize=8)
            ax.tick_params(labelsize=7)
        loss_ax.legend(fontsize=7)
    for ax in list(axes.flat)[2 * len(histories):]:
        ax.axis("off")
    fig.tight_layout()
    save(fig, path)
