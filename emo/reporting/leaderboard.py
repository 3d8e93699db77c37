"""Ours on the EmoBox benchmark's RAVDESS folds beside published results on the same folds (markdown)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Published:
    """A published RAVDESS result: accuracy and UAR (%), how it was trained and evaluated."""

    model: str
    accuracy: float | None
    uar: float
    note: str


# EmoBox (Ma et al., 2024), RAVDESS, its six speaker-independent folds; and the best from-scratch figure we know.
PUBLISHED = (Published("Whisper-large-v3 (frozen)", 75.87, 75.32, "EmoBox folds; pretrained on 5 M hours"),
             Published("WavLM-large", 72.22, 72.00, "EmoBox folds; pretrained on 94 k hours"),
             Published("HuBERT-large", 70.29, 70.00, "EmoBox folds; pretrained on 60 k hours"),
             Published("wav2vec2-base", 55.40, 54.33, "EmoBox folds; pretrained on 960 hours"),
             Published("ResLSTM-SA", None, 62.3, "from scratch; 5-fold by actor (not the same folds), ± 1.2"))


def _cell(metrics: dict, key: str) -> str:
    """Mean ± std (%) over folds and seeds."""
    return f"{100 * metrics[key]:.1f} ± {100 * metrics.get(f'{key}_std', 0.0):.1f}"


def emobox_section(found: dict[str, dict]) -> list[str]:
    """Markdown: each of our audio models on the EmoBox folds (mean ± std over folds and seeds, per fold, the seed
    ensemble), then the published results; empty when the emobox variant has not run."""
    if not found:
        return []
    lines = ["| model | accuracy (%) | UAR (%) | seed ensemble: accuracy / UAR (%) | accuracy per fold (%) | runs |",
             "|---|---|---|---|---|---|"]
    for name, m in found.items():
        folds = " / ".join(f"{100 * f['accuracy']:.1f}" for f in m.get("per_fold", []))
        ensemble = m.get("ensemble") or {}
        both = f"{100 * ensemble['accuracy']:.1f} / {100 * ensemble['uar']:.1f}" if ensemble else ""
        lines.append(f"| ours: {name} ({m.get('architecture', '?')}) | {_cell(m, 'accuracy')} | {_cell(m, 'uar')} "
                     f"| {both} | {folds} | {len(m.get('per_seed', []))} ({m.get('folds', '?')} folds × "
                     f"{len(m.get('seeds', []))} seeds), n_test {m.get('n_test', '')} |")
    for p in PUBLISHED:
        accuracy = "" if p.accuracy is None else f"{p.accuracy:.2f}"
        lines.append(f"| {p.model} | {accuracy} | {p.uar:.2f} | | | {p.note} |")
    first = next(iter(found.values()))
    tests = "; ".join(", ".join(map(str, actors)) for actors in first.get("fold_test_actors", []))
    return lines + ["", f"Test actors per fold: {tests}. Every clip is tested once; each fold's models train on the "
                    "other 20 actors, as EmoBox's do (no validation actors). Ours learn from RAVDESS alone, without "
                    "pretrained weights; the published rows come from their papers, not from our runs.", ""]


def nested_section(nested: dict | None) -> list[str]:
    """Markdown: the nested run (`emo nested`): each fold's inner scores and chosen recipe, then each model's test
    scores with the recipes its folds chose; empty when it has not run."""
    if not nested:
        return []
    selection = nested["selection"]
    names = [c["name"] for c in selection["candidates"]]
    lines = ["Each fold chose its recipe by cross-validation over its own 20 training actors (`emo nested`: the "
             f"{selection['by']} model, seed {selection['seed']}, inner accuracy %; each inner clip is scored by a "
             "model trained on the 16 actors outside its fold and the outer fold):", "",
             f"| fold | test actors | {' | '.join(names)} | chosen |", "|---|---|" + "---|" * len(names) + "---|"]
    for fold in selection["folds"]:
        cells = " | ".join(f"{100 * fold['scores'][n]['accuracy']:.1f}" for n in names)
        lines.append(f"| {fold['fold']} | {', '.join(map(str, fold['test_actors']))} | {cells} | {fold['chosen']} |")
    changes = "; ".join(f"{c['name']}: {', '.join(f'{k} {v}' for k, v in {**c['audio'], **c['train']}.items())}"
                        for c in selection["candidates"] if c["audio"] or c["train"])
    lines += ["", f"Candidates (changes to params.yaml): {changes}.", "",
              "| model, recipe chosen per fold | accuracy (%) | UAR (%) | seed ensemble: accuracy / UAR (%) "
              "| accuracy per fold (%) | runs |", "|---|---|---|---|---|---|"]
    for name, m in nested["models"].items():
        folds = " / ".join(f"{100 * f['accuracy']:.1f}" for f in m["per_fold"])
        ensemble = m.get("ensemble")
        both = f"{100 * ensemble['accuracy']:.1f} / {100 * ensemble['uar']:.1f}" if ensemble else ""
        lines.append(f"| {name} | {_cell(m, 'accuracy')} | {_cell(m, 'uar')} | {both} | {folds} | "
                     f"{len(m['per_seed'])} ({m['folds']} folds × {len(m['seeds'])} seeds), n_test {m['n_test']} |")
    return lines + ["", f"Code of `{nested.get('git_revision', '?')}`, {nested.get('seconds', 0) / 60:.0f} minutes "
                    "on our 2-core machine.", ""]
