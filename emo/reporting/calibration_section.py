"""The report's calibration section: each audio model's temperature and its expected calibration error before and
after scaling on the test actors and the other corpora (a table), and the reliability diagram (a PNG), from the
`calibrate` stage's outputs."""

from __future__ import annotations

import csv
from pathlib import Path

from emo.core import metrics_detail
from emo.corpora import CORPORA
from emo.reporting.figures import pyplot, save

METRICS = Path("metrics/calibration.json")
RELIABILITY = Path("plots/calibration.csv")
INPUTS = (METRICS, metrics_detail.detail_path(METRICS), RELIABILITY)  # what the section reads (the report's deps)
FIGURE = "reliability.png"  # beside the report's other figures
FIT = "val"


def title(split: str) -> str:
    """A split's name for people: the test actors, or a corpus's title."""
    return "test actors" if split == "test" else CORPORA[split].title if split in CORPORA else split


def judged(models: dict) -> list[str]:
    """The splits scored after the fit (test, then the corpora), in the order of the metrics."""
    first = next(iter(models.values()), {})
    return [k for k, v in first.items() if k != FIT and isinstance(v, dict) and "before" in v]


def read_bins(path: Path) -> dict[tuple[str, str, str], list[tuple[float, float, int]]]:
    """(model, split, before|after) -> the non-empty bins' (confidence, accuracy, count)."""
    bins: dict[tuple[str, str, str], list[tuple[float, float, int]]] = {}
    if path.is_file():
        with open(path, newline="") as handle:
            for r in csv.DictReader(handle):
                bins.setdefault((r["model"], r["split"], r["scaling"]), []).append(
                    (float(r["confidence"]), float(r["accuracy"]), int(r["count"])))
    return bins


def plot_reliability(bins: dict, models: list[str], splits: list[str], path: Path) -> None:
    """One panel per model: accuracy against mean confidence per bin, before (dashed) and after (solid) scaling,
    one colour per split, the diagonal where they would agree; an empty panel says the stage has not run."""
    plt = pyplot()
    cols = max(min(4, len(models)), 1)
    rows = max(-(-len(models) // cols), 1)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 3.4 * rows), dpi=100, squeeze=False)
    colours = dict(zip(splits, ("tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple"), strict=False))
    for ax, model in zip(axes.flat, models, strict=False):
        ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8)
        for split in splits:
            for scaling, style in (("before", "--"), ("after", "-")):
                points = bins.get((model, split, scaling), [])
                if points:
                    ax.plot([c for c, _, _ in points], [a for _, a, _ in points], style, marker="o", markersize=3,
                            color=colours.get(split, "black"), label=f"{title(split)}, {scaling}")
        ax.set(xlim=(0, 1), ylim=(0, 1))
        ax.set_title(model, fontsize=9)
        ax.set_xlabel("mean confidence", fontsize=7)
        ax.set_ylabel("accuracy", fontsize=7)
        ax.tick_params(labelsize=7)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=6, loc="upper left")
    for ax in list(axes.flat)[len(models):]:
        ax.axis("off")
    if not models:
        axes.flat[0].text(0.5, 0.5, "calibrate stage not run", ha="center", va="center")
    fig.tight_layout()
    save(fig, path)


def pct(value: float) -> str:
    return f"{100 * value:.1f}"


def table(models: dict) -> list[str]:
    """Model, T, and per judged split: ECE and mean confidence before → after, and accuracy (%)."""
    splits = judged(models)
    lines = ["| model | T | " + " | ".join(f"{title(s)}: ECE (%) before → after | {title(s)}: mean confidence (%) "
                                           f"before → after | {title(s)}: accuracy (%)" for s in splits) + " |",
             "|---|---:|" + "---|---|---:|" * len(splits)]
    for model, entry in models.items():
        cells = []
        for s in splits:
            before, after = entry[s]["before"], entry[s]["after"]
            cells += [f"{pct(before['ece'])} → {pct(after['ece'])}",
                      f"{pct(before['confidence'])} → {pct(after['confidence'])}", pct(before["accuracy"])]
        lines.append(f"| {model} | {entry['temperature']:.2f} | " + " | ".join(cells) + " |")
    return lines


def notes(metrics: dict) -> list[str]:
    """What T and ECE are, the rule that applies T, and what each split scores."""
    models = metrics["models"]
    first = next(iter(models.values()), {})
    fit = first.get("fitted_on", {})
    lines = [f"- T is fitted on the seed ensemble's probabilities of the validation actors' {fit.get('n', '?')} "
             "original clips (the lowest NLL of softmax(log p / T)); T > 1 means the model was overconfident. Rule, "
             f"fixed before the test numbers: {metrics['rule']}. Scaling never changes a prediction, only how sure "
             "it says it is.",
             f"- ECE: top-label expected calibration error over {metrics['bins']} equal-width confidence bins, the "
             "clip-weighted mean gap between mean confidence and accuracy (0 = the probabilities mean what they "
             "say); the seed ensemble, as `emo predict` answers."]
    for s in judged(models):
        entry = first[s]
        if s == "test":
            lines.append(f"- Test actors: n = {entry['before']['n']} original clips, all eight classes.")
        else:
            left = ", ".join(f"{e} {n}" for e, n in entry.get("not_scored", {}).items()) or "none"
            lines.append(f"- {title(s)}: n = {entry['before']['n']} clips of the {len(entry['classes'])} classes it "
                         f"shares with RAVDESS ({', '.join(entry['classes'])}), probabilities renormalised over them; "
                         f"not scored: {left}.")
    return lines


def section(root: Path, figure: Path, link: str) -> list[str]:
    """The calibration section as markdown lines; draws the reliability diagram into `figure` (always: a DVC
    out), linked (at `link`, relative to the report) only when the stage has run."""
    path = root / METRICS
    metrics = metrics_detail.read(path)  # with the validation actors and other corpora of its detail file
    models = (metrics or {}).get("models", {})
    plot_reliability(read_bins(root / RELIABILITY), list(models), judged(models), figure)
    lines = ["## Calibration: do the probabilities mean what they say?", ""]
    if not models:
        return lines + ["Not run: the `calibrate` stage has not run.", ""]
    return lines + [*table(models), "", *notes(metrics), "",
                    f"![Reliability diagrams]({link})",
                    "", "Accuracy against mean confidence per confidence bin (empty bins left out): dashed before "
                    "temperature scaling, solid after; on the grey diagonal a confidence of 0.8 is right 80 % of the "
                    "time.", ""]
