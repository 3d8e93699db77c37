"""The report: Table 1 beside the paper, confusion matrices, learning curves, data summary and provenance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from emo.core import git, layout, metrics_detail
from emo.core.errors import EmoError
from emo.core.ravdess import EMOTIONS
from emo.experiments import variants
from emo.reporting import calibration_section, crossreport
from emo.reporting.figures import plot_confusions, plot_histories, read_confusion, read_history
from emo.reporting.leaderboard import emobox_section, nested_section


@dataclass(frozen=True)
class Row:
    """One row of the paper's Table 1: its label, our model name and the paper's accuracy (%; None: not the
    paper's)."""

    label: str
    model: str
    paper: int | None
    video: bool  # needs video data, which audio-only machines lack
    trained: bool = True  # False: computed from other rows' predictions (emo.learn.ensemble), no learning curve


TABLE_ONE = (Row("MFCC, unbalanced", "audio_mfcc_unbalanced", 43, False),
             Row("MFCC, balanced", "audio_mfcc_balanced", 47, False),
             Row("log-mel, unbalanced", "audio_logmel_unbalanced", 45, False),
             Row("log-mel, balanced", "audio_logmel_balanced", 49, False),
             Row("both: log-mel x MFCC^0.5, balanced (default)", layout.ENSEMBLE_MODEL, None, False, trained=False),
             Row("video, unbalanced", "video_unbalanced", 51, True),
             Row("video, balanced", "video_balanced", 53, True),
             Row("fusion", "fusion", 67, True))
SCOPES = ("all", "audio")
DATA_METRICS = ("download", "data", "featurize")
VIDEO_METRICS = ("faces", "embed")
#: The augmentation plan's rows per split, balance and class: a plain output (no score to compare), read whole.
PLAN = Path("metrics/augment.json")
PARAM_SECTIONS = {"audio": ("data", "split", "augment", "audio", "train", "ensemble", "corpora"),
                  "all": ("data", "split", "augment", "audio", "video", "fusion", "train", "ensemble", "corpora")}
PAIRING_WARNING = ("pairing 'class' (the paper's): each audio clip, test clips included, is paired with a random video "
                   "of the same class, so the label helps build the input; this is not a recognition score")


def check_scope(scope: str) -> None:
    """Refuse a scope other than `all` or `audio`."""
    if scope not in SCOPES:
        raise EmoError(f"unknown report scope {scope!r}: use one of {', '.join(SCOPES)}")


def models(scope: str) -> list[str]:
    """The models a report of this scope reads: the audio rows, or every row of Table 1."""
    check_scope(scope)
    return [r.model for r in TABLE_ONE if scope == "all" or not r.video]


def inputs(scope: str) -> list[Path]:
    """Every file the report reads (its DVC deps besides code and params), relative to the project root."""
    names = models(scope)
    extra = DATA_METRICS + (VIDEO_METRICS if scope == "all" else ())
    metrics = [Path(f"metrics/{n}.json") for n in (*names, *extra)]
    return ([file for path in metrics for file in (path, metrics_detail.detail_path(path))] + [PLAN]
            + [Path(f"plots/history/{r.model}.csv") for r in TABLE_ONE if r.model in names and r.trained]
            + [Path(f"plots/confusion/{n}.csv") for n in names]
            + list(crossreport.INPUTS) + list(calibration_section.INPUTS))


def outputs(scope: str) -> list[Path]:
    """The markdown and its figures (DVC outs), relative to the project root."""
    check_scope(scope)
    folder = Path("reports") if scope == "all" else Path("reports/audio")
    return [folder / "report.md", folder / "figures/confusion.png", folder / "figures/learning_curves.png",
            folder / "figures" / calibration_section.FIGURE]


def load_json(path: Path) -> dict | None:
    """A metrics file's content merged with its detail file's (emo.core.metrics_detail), or None when absent."""
    return metrics_detail.read(path)


def pct(value: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{100 * value:.1f}"


def run_count(metrics: dict) -> int:
    """How many trained models (seeds x folds) a metrics file averages."""
    return len(metrics.get("per_seed") or []) or len(metrics.get("seeds") or [0]) * (metrics.get("folds") or 1)


def runs_note(metrics: dict) -> str:
    """Which seeds (and folds) a score comes from, e.g. `seed 0`, `3 seeds`, `5-fold, seed 0`."""
    seeds = metrics.get("seeds") or []
    seed_part = f"seed {seeds[0]}" if len(seeds) == 1 else f"{len(seeds)} seeds"
    return f"{metrics['folds']}-fold, {seed_part}" if metrics.get("folds") else seed_part


def score(metrics: dict, key: str, with_interval: bool = True) -> str:
    """Mean ± std (%) when several runs were averaged, else the single value; then its 95 % interval if known."""
    ci = crossreport.interval(metrics, key) if with_interval else ""
    if run_count(metrics) > 1:
        return f"{pct(metrics[key])} ± {pct(metrics.get(f'{key}_std', 0.0))}{ci}"
    return pct(metrics[key]) + ci


def ensemble_score(metrics: dict) -> str:
    """Accuracy (%) of the seeds' averaged probabilities, ± over folds in k-fold, and its 95 % interval; empty with
    one seed."""
    ensemble = metrics.get("ensemble")
    if not ensemble:
        return ""
    spread = f" ± {pct(ensemble['accuracy_std'])}" if "accuracy_std" in ensemble else ""
    return f"{pct(ensemble['accuracy'])}{spread}{crossreport.interval(ensemble, 'accuracy')}"


def row_label(row: Row, metrics: dict | None) -> str:
    """The Table 1 label, naming the fusion model's inputs and pairing when known."""
    if row.model != "fusion" or not metrics or "pairing" not in metrics:
        return row.label
    return f"fusion ({metrics['audio_feature']} + video, {metrics['balance']}, pairing: {metrics['pairing']})"


def table_one(found: dict[str, dict | None], paper_recipe: dict[str, dict] | None = None) -> list[str]:
    """Table 1 as markdown lines: the paper's accuracy, the paper's recipe as we ran it (the `paper` variant),
    and ours; absent models say why."""
    paper_recipe = paper_recipe or {}
    lines = ["| Table 1 row | paper (%) | paper recipe, our run: accuracy (%) | ours: accuracy (%) | ours − paper "
             "| UAR (%) | macro-F1 (%) | seed ensemble: accuracy (%) | n_test | preset |",
             "|---|---:|---|---|---:|---|---|---|---:|---|"]
    for row in TABLE_ONE:
        m, recipe = found.get(row.model), paper_recipe.get(row.model)
        ran = (f"{score(recipe, 'accuracy', with_interval=False)} ({runs_note(recipe)})" if recipe
               else "—" if row.paper is None else "not run")
        paper = "—" if row.paper is None else row.paper
        if m is None:
            why = "not run (no video data)" if row.video else "not run"
            lines.append(f"| {row.label} | {paper} | {ran} | {why} | | | | | | |")
            continue
        flag = " ⚠ see warning" if m.get("pairing") == "class" else ""
        gap = "" if row.paper is None else f"{100 * m['accuracy'] - row.paper:+.1f}"
        lines.append(f"| {row_label(row, m)} | {paper} | {ran} | {score(m, 'accuracy')} ({runs_note(m)}){flag} "
                     f"| {gap} | {score(m, 'uar')} | {score(m, 'macro_f1')} "
                     f"| {ensemble_score(m)} | {m.get('n_test', '')} "
                     f"| {m.get('preset', '')} ({m.get('architecture', '?')}{' + SVM' if 'svm_gain' in m else ''}) |")
    return lines


def table_notes(found: dict[str, dict | None]) -> list[str]:
    """Warnings and notes under Table 1: label-built fusion inputs, k-fold rows, what ± means."""
    present = [m for m in found.values() if m]
    notes = []
    for m in present:
        if m.get("pairing") == "class":
            notes += [f"> **Warning ({m['model']})**: {m.get('warning') or PAIRING_WARNING}.", ""]
    kfold = sorted(m["model"] for m in present if m.get("folds"))
    if kfold:
        notes.append(f"- k-fold: {', '.join(kfold)} ran an actor-grouped k-fold (each fold's actors tested once); "
                     "scores average the folds and `n_test` counts the test clips of every fold.")
    notes += ["- The paper's numbers are its reported test accuracies (SPEC §4). Its test set held augmented copies "
              "of test clips and its fusion paired random same-class clips; ours test original clips of held-out "
              "actors only (SPEC §5).",
              "- Paper recipe, our run: SPEC §4's recipe (`train.preset: paper`) on our split and data, run by "
              "`emo variant paper` (`metrics/paper/`); \"not run\" until it has been.",
              "- Ours: test accuracy, UAR (balanced accuracy) and macro-F1 in %; `a ± s` is the mean and sample "
              "standard deviation over the runs named in brackets, a single value is one run of the named seed. "
              "The seed ensemble averages the class probabilities of the seeds' models and scores that one "
              "prediction per clip (± over folds in k-fold). 8 classes: chance is 12.5 %."]
    if any("accuracy_ci95" in m for m in present):
        notes.append("- `[low, high]`: the 95 % bootstrap interval over the test clips (params.yaml `evaluate`): "
                     "the clips resampled with replacement, each clip's seeds kept together, so it is the test "
                     "set's sampling noise; ± is the spread between seeds. Two models' intervals overlapping does "
                     "not make them equal: `emo compare` pairs them clip by clip.")
    return notes


def recall_table(found: dict[str, dict | None]) -> list[str]:
    """Recall per class (%) of each available model, averaged over its runs."""
    lines = ["| model | " + " | ".join(EMOTIONS) + " |", "|---|" + "---:|" * len(EMOTIONS)]
    for name, m in found.items():
        if m and "recall" in m:
            lines.append(f"| {name} | " + " | ".join(f"{100 * m['recall'].get(e, 0.0):.0f}" for e in EMOTIONS) + " |")
    return lines


def data_summary(root: Path, scope: str) -> list[str]:
    """Clips per class and split, featurised rows and, with video, face detection and embeddings."""
    data, plan = load_json(root / "metrics/data.json"), load_json(root / PLAN)
    lines: list[str] = []
    if data:
        parts = ", ".join(f"{part} {n}" for part, n in data.get("per_part", {}).items())
        lines += [f"Inventory: {data['clips']} clips ({parts}) from {data.get('actors', '?')} actors, "
                  f"{data.get('hours', 0):.2f} hours; per split: "
                  + ", ".join(f"{s} {n}" for s, n in data.get("per_split", {}).items()) + ".", ""]
    if plan:
        # A split whose balancing added nothing gets one column instead of two equal ones.
        columns = []
        for split, counts in plan.items():
            same = counts["unbalanced"] == counts["balanced"]
            columns += [(split, counts["unbalanced"])] if same else [(f"{split} {b}", counts[b]) for b in counts]
        per_emotion = (data or {}).get("per_emotion", {})
        lines += ["| class | inventory clips | " + " | ".join(f"{c} rows" for c, _ in columns) + " |",
                  "|---|---:|" + "---:|" * len(columns)]
        for label, emotion in enumerate(EMOTIONS):
            cells = [str(counts.get(str(label), 0)) for _, counts in columns]
            lines.append(f"| {emotion} | {per_emotion.get(emotion, '')} | " + " | ".join(cells) + " |")
        totals = [str(sum(counts.values())) for _, counts in columns]
        lines += [f"| total | {sum(per_emotion.values()) if per_emotion else ''} | " + " | ".join(totals) + " |", "",
                  "Rows are the augmentation plan's (`metrics/augment.json`): originals plus augmented copies of the "
                  "augmented splits (`augment.splits`); `balanced` adds class-balancing copies.", ""]
    feat = load_json(root / "metrics/featurize.json")
    if feat:
        lines += [f"Audio features: {feat['rows']} rows from {feat['source_clips']} clips; damaged clips: "
                  f"{feat.get('damaged_clips', 0)}, rows left out: {feat.get('rows_left_out', 0)}.", ""]
    if scope == "all":
        lines += video_summary(load_json(root / "metrics/faces.json"), load_json(root / "metrics/embed.json"))
    return lines or ["No data metrics found.", ""]


def video_summary(faces: dict | None, embed: dict | None) -> list[str]:
    """Face detection rate, counted fallbacks and face embeddings, when the video stages ran."""
    if not faces:
        return ["Video: not run (no video data).", ""]
    fb = faces.get("fallbacks", {})
    lines = [f"Faces (`metrics/faces.json`): {faces['valid_clips']} of {faces['clips']} video-only clips read, "
             f"{faces['frames']} frames; Haar detection rate {pct(faces['detection_rate'])} %; fallbacks: "
             f"{fb.get('nearest', 0)} frames took the nearest detected box, {fb.get('centre', 0)} a centre crop; "
             f"clips without any face: {faces['no_face']['count']}, damaged: {faces['damaged']['count']}, "
             f"truncated: {faces['truncated']['count']}.", ""]
    if embed:
        lines += [f"Face embeddings (`metrics/embed.json`): {embed['embedder']}, {embed['dim']}-d x "
                  f"{embed['frames']} frames, {embed['rows_embedded']} of {embed['rows']} plan rows.", ""]
    return lines


def provenance(root: Path, scope: str) -> list[str]:
    """Git revision, data source and the parameter sections the results depend on."""
    params = yaml.safe_load((root / "params.yaml").read_text()) if (root / "params.yaml").is_file() else {}
    data = params.get("data", {})
    fetched = load_json(root / "metrics/download.json") or {}  # where `auto` found the data (stages/download.py)
    source = f"`{data.get('source')}`" + (f" ({fetched['route']}: `{fetched['source']}`)"
                                          if fetched.get("source") and fetched["source"] != data.get("source") else "")
    sections = {k: params[k] for k in PARAM_SECTIONS[scope] if k in params}
    # the report's own files are rewritten by this very run: they are not uncommitted changes
    return [f"- Git revision: {git.state(root, exclude='reports')}",
            f"- Data: RAVDESS (Zenodo record {data.get('record', 1188976)}, CC BY-NC-SA 4.0; Livingstone & Russo "
            f"2018), parts {', '.join(data.get('parts', []))}, actors {data.get('actors', '?')}, source {source}",
            f"- Built by `python stages/report.py {scope}` from: " + ", ".join(f"`{p}`" for p in inputs(scope)
                                                                              if (root / p).is_file()),
            "", "`params.yaml` sections the results depend on:", "", "```yaml",
            yaml.safe_dump(sections, sort_keys=False, default_flow_style=None).rstrip(), "```"]


def build_report(root: Path, scope: str = "all") -> Path:
    """Write the report of one scope (`all` or `audio`) and its figures under root; return the markdown path."""
    md_path, confusion_png, curves_png, reliability_png = (root / p for p in outputs(scope))
    found = {name: load_json(root / f"metrics/{name}.json") for name in models(scope)}
    paper_recipe, emobox = variants.load(root, "paper"), variants.load(root, "emobox")
    present = [name for name, m in found.items() if m]
    # A label-built fusion input is flagged in the figure too, where a reader may never see the table's warning.
    matrices = {n + (" (pairing: class!)" if found[n].get("pairing") == "class" else ""):
                read_confusion(root / f"plots/confusion/{n}.csv") for n in present
                if (root / f"plots/confusion/{n}.csv").is_file()}
    histories = {n: read_history(root / f"plots/history/{n}.csv") for n in present
                 if (root / f"plots/history/{n}.csv").is_file()}
    best = {n: found[n]["best_epoch"][0] for n in histories if found[n].get("best_epoch")}
    plot_confusions(matrices, confusion_png)
    plot_histories(histories, best, curves_png)
    missing = [r.model for r in TABLE_ONE if not found.get(r.model)]
    rel = {p: p.relative_to(md_path.parent).as_posix() for p in (confusion_png, curves_png, reliability_png)}
    title = "all models" if scope == "all" else "audio models"
    lines = [f"# emo report: emotion recognition on RAVDESS ({title})", "",
             "Generated by the DVC stage `report" + ("" if scope == "all" else "_audio") + "`; do not edit by hand.",
             "", "## Table 1: test accuracy, the paper beside ours", "", *table_one(found, paper_recipe), "",
             *table_notes(found), "",
             *(["## The EmoBox folds: ours beside published results", "", *emobox_section(emobox),
                *nested_section(load_json(root / "metrics/emobox/nested.json"))] if emobox else []),
             "## Recall per class (%)", "", *recall_table(found), "",
             "## Confusion matrices", "", f"![Normalised confusion matrices]({rel[confusion_png]})", "",
             "Each row (true class) sums to 1; the first seed's predictions on the test clips (of every fold in "
             "k-fold mode)." + (f" Not shown (not run): {', '.join(missing)}." if missing else ""), "",
             "## Learning curves", "", f"![Learning curves]({rel[curves_png]})", "",
             "Training and validation loss and accuracy per epoch of each model's first run (first seed, first "
             "fold); the dashed line marks the epoch whose weights are kept: the best validation epoch, or the last "
             "one for a recipe with `keep: last`.", "",
             *crossreport.section(root), *calibration_section.section(root, reliability_png, rel[reliability_png]),
             *crossreport.multicorpus_section(root),
             "## Data", "", *data_summary(root, scope), "## Provenance", "", *provenance(root, scope), ""]
    md_path.write_text("\n".join(lines))
    return md_path
