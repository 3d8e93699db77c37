"""The report's cross-corpus section: models x test corpora (accuracy, UAR, n) and per-model confusion matrices,
as markdown, from the `crosscorpus` stage's metrics."""

from __future__ import annotations

import json
from pathlib import Path

from emo.core import metrics_detail
from emo.corpora import CORPORA

METRICS = Path("metrics/crosscorpus.json")
DETAIL = metrics_detail.detail_path(METRICS)  # every score of each model on each corpus: what the section shows
#: The classical peer's scores (`dvc repro peer`, optional extra; committed), shown as a row beside our models.
PEER = Path("metrics/peer.json")
MULTI = Path("metrics/multicorpus.json")
INPUTS = (METRICS, DETAIL, MULTI, metrics_detail.detail_path(MULTI))  # what the sections read (the report's deps)


def pct(value: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{100 * value:.1f}"


def interval(entry: dict, key: str) -> str:
    """` [low, high]` (%): the 95 % bootstrap interval over the clips (`<key>_ci95`), empty where there is none."""
    bounds = entry.get(f"{key}_ci95")
    return f" [{pct(bounds[0])}, {pct(bounds[1])}]" if isinstance(bounds, list) and len(bounds) == 2 else ""


def score(entry: dict, key: str) -> str:
    """Mean ± std (%) over the runs, or the one run's value; then its 95 % interval where known."""
    value = f"{pct(entry[key])} ± {pct(entry[f'{key}_std'])}" if entry.get("runs", 1) > 1 else pct(entry[key])
    return value + interval(entry, key)


def title(name: str) -> str:
    """A corpus's name for people."""
    return CORPORA[name].title if name in CORPORA else name


def tested(detail: dict) -> list[str]:
    """The corpora the models were scored on, in the order of the metrics."""
    first = next(iter(detail.values()), {})
    return [k for k, v in first.items() if isinstance(v, dict) and "accuracy" in v]


def matrix(detail: dict, peer: dict | None = None) -> list[str]:
    """Models x corpora: accuracy, UAR over the shared classes and 8-way accuracy (%), one row per model; the
    classical peer's row last, where its metrics exist."""
    names = tested(detail)
    header = "| model | " + " | ".join(f"{title(n)}: accuracy (%) | UAR (%) | 8-way accuracy (%) | seed ensemble: "
                                       "accuracy / UAR (%)" for n in names) + " |"
    lines = [header, "|---|" + "---|---|---|---|" * len(names)]
    for model, entries in detail.items():
        lines.append(f"| {model} | " + " | ".join(
            f"{score(entries[n], 'accuracy')} | {score(entries[n], 'uar')} | {score(entries[n], 'accuracy_8way')} | "
            + (f"{pct(entries[n]['ensemble']['accuracy'])}{interval(entries[n]['ensemble'], 'accuracy')} / "
               f"{pct(entries[n]['ensemble']['uar'])}{interval(entries[n]['ensemble'], 'uar')}"
               if entries[n].get("ensemble") else "—") for n in names) + " |")
    for model, entries in (peer or {}).items():
        lines.append(f"| {model} (classical peer, `metrics/peer.json`) | " + " | ".join(
            f"{pct(entries[n]['accuracy'])} | {pct(entries[n]['uar'])} | — | —" if n in entries else "— | — | — | —"
            for n in names) + " |")
    return lines


def corpus_notes(detail: dict) -> list[str]:
    """Per corpus: n, the shared classes, what was left out, chance, and what ± means."""
    first = next(iter(detail.values()), {})
    notes = []
    for name in tested(detail):
        entry = first[name]
        left = ", ".join(f"{e} {n}" for e, n in entry["not_shared"].items()) or "none"
        damaged = f"; damaged clips left out: {len(entry['damaged'])}" if entry["damaged"] else ""
        notes.append(f"- {title(name)}: n = {entry['n']} clips of the {len(entry['classes'])} classes it shares with "
                     f"RAVDESS ({', '.join(entry['classes'])}) from {entry['speakers']} speakers; not scored (no "
                     f"RAVDESS class): {left}{damaged}. Chance: {pct(1 / len(entry['classes']))} % over the shared "
                     f"classes, 12.5 % over all eight.")
    runs = sorted({e["runs"] for entries in detail.values() for n, e in entries.items() if n in tested(detail)})
    notes.append(f"- Accuracy and UAR (recall averaged over classes): the model's most probable class among the "
                 f"shared ones; 8-way: among all eight RAVDESS classes. `a ± s`: mean and sample standard deviation "
                 f"over each model's {'/'.join(map(str, runs))} runs (one per seed, and per fold in k-fold); the seed "
                 "ensemble scores the runs' averaged probabilities, as `emo predict` answers. `[low, high]`: the "
                 "95 % bootstrap interval over the corpus's clips, each clip's runs kept together. A "
                 "speaker-normalised model sees each test speaker standardised by all of that speaker's own clips. "
                 "Confusion matrices pool the predictions of every run.")
    return notes


def confusions(detail: dict) -> list[str]:
    """Per model and corpus, the row-normalised confusion matrix (%) of every run's predictions pooled."""
    lines = []
    for model, entries in detail.items():
        for name in tested(detail):
            matrix_ = entries[name]["confusion"]
            labels = matrix_["labels"]
            lines += [f"**{model} on {title(name)}** (rows: actual, columns: predicted, % of the row)", "",
                      "| actual \\ predicted | " + " | ".join(labels) + " |", "|---|" + "---:|" * len(labels)]
            for label, row in zip(labels, matrix_["counts"], strict=True):
                total = max(sum(row), 1)
                lines.append(f"| {label} | " + " | ".join(f"{100 * c / total:.0f}" for c in row) + " |")
            lines.append("")
    return lines


def section(root: Path) -> list[str]:
    """The report's cross-corpus section as markdown lines."""
    path = root / DETAIL
    lines = ["## Cross-corpus: trained on RAVDESS, tested on other corpora", ""]
    detail = json.loads(path.read_text()) if path.is_file() else None
    if not detail or not tested(detail):
        return lines + ["Not run: no corpus in `corpora.test`, or the `crosscorpus` stage has not run.", ""]
    peer = json.loads((root / PEER).read_text()) if (root / PEER).is_file() else None
    return lines + [*matrix(detail, peer), "", *corpus_notes(detail), "", "### Cross-corpus confusion matrices", "",
                    *confusions(detail)]


def _cell(entry: dict) -> str:
    """Accuracy / UAR (%), with the std over folds where there are several."""
    spread = f" ± {pct(entry['accuracy_std'])}" if entry.get("accuracy_std") else ""
    return f"{pct(entry['accuracy'])}{spread} / {pct(entry['uar'])} (n {entry['n']}, {len(entry['classes'])} classes)"


def multicorpus_section(root: Path) -> list[str]:
    """The report's multi-corpus section: within each corpus, the union model, and leave-one-corpus-out."""
    path = root / MULTI
    lines = ["## Several corpora: within, together, and leave-one-corpus-out", ""]
    multi = metrics_detail.read(path)  # with the notes, spreads and folds of its detail file
    if multi is None:
        return lines + ["Not run: the `multicorpus` stage has not run.", ""]
    lines += [f"TemporalCNN on {multi['feature']}, {multi['clips']}; seeds {multi['seeds']} "
              f"({multi.get('seeds_note', '')}); validation: {multi['validation']}. Accuracy / UAR (%); ± is the "
              f"std over speaker folds.", "", "| trained on | tested on | accuracy / UAR |", "|---|---|---|"]
    for name, entry in multi["within"].items():
        lines.append(f"| {title(name)} alone ({entry.get('protocol', '')}) | {title(name)} | {_cell(entry)} |")
    union = multi["union"]
    for name, entry in union.items():
        if isinstance(entry, dict) and "accuracy" in entry:
            lines.append(f"| {' + '.join(title(n) for n in union['trained_on'])} | {title(name)} | {_cell(entry)} |")
    for name, entry in multi["leave_one_out"].items():
        lines.append(f"| {' + '.join(title(n) for n in entry['trained_on'])} | {title(name)} (shared classes) | "
                     f"{_cell(entry)} |")
    return lines + [""]
