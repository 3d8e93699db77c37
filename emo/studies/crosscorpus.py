"""Cross-corpus evaluation: every trained audio model (trained on RAVDESS) scored on each corpus in `corpora.test`.

Features are the pipeline's own for an original clip, computed once per corpus by the crossfeatures stage
(emo.studies.crossfeatures: data/crossfeatures/<corpus>.npz). A model trained with `speaker_norm` sees each test
speaker standardised by that speaker's own clips (all of them: no labels are used), then by its training
statistics; one trained without it sees the training statistics only. Only clips of the emotions both corpora
have are scored: over those classes (the model's argmax restricted to them) and over all eight RAVDESS classes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emo.core import layout, metrics_detail
from emo.core.errors import EmoError
from emo.core.io import write_json
from emo.core.ravdess import EMOTIONS
from emo.corpora import corpus
from emo.data import split
from emo.learn import predictions, uncertainty
from emo.learn.ensemble import FeatureEnsemble
from emo.learn.predictions import restricted_argmax
from emo.studies.crossfeatures import FEATURES, features_file, load_features

METRICS = Path("metrics/crosscorpus.json")
DETAIL = metrics_detail.detail_path(METRICS)  # all about each model on each corpus (metrics/crosscorpus_detail.json)
PLOTS = Path("plots/crosscorpus")
TRAINED_ON = ["ravdess"]
#: The trained audio models every corpus is scored by: (feature, balance), named audio_<feature>_<balance>.
MODELS = tuple((feature, balance) for feature in layout.AUDIO_FEATURES for balance in layout.BALANCES)
SCORES = ("accuracy", "uar", "accuracy_8way")  # per run; their mean and std over runs in the detail
RETRAIN = "train the audio models first (`dvc repro crosscorpus`)"


def shared_classes(name: str) -> list[int]:
    """The model classes (RAVDESS indices, in order) of the emotions corpus `name` shares with RAVDESS."""
    labels = set(corpus(name).labels)
    return [i for i, emotion in enumerate(EMOTIONS) if emotion in labels]


def shared_scores(y: np.ndarray, pred: np.ndarray, classes: list[int]) -> dict[str, float]:
    """Accuracy, and UAR: recall averaged over those of `classes` that have clips."""
    recalls = [float(np.mean(pred[y == c] == c)) for c in classes if np.any(y == c)]
    return {"accuracy": float(np.mean(pred == y)), "uar": float(np.mean(recalls))}


def confusion(y: np.ndarray, pred: np.ndarray, classes: list[int]) -> np.ndarray:
    """Counts [actual, predicted] over `classes`, in their order."""
    where = {c: i for i, c in enumerate(classes)}
    counts = np.zeros((len(classes), len(classes)), np.int64)
    np.add.at(counts, ([where[c] for c in y], [where[c] for c in pred]), 1)
    return counts


def labels_of(emotions: np.ndarray) -> np.ndarray:
    """Model class indices of emotion names; -1 for an emotion RAVDESS lacks (EmoDB's boredom)."""
    return np.array([EMOTIONS.index(e) if e in EMOTIONS else -1 for e in emotions], np.int64)


def score_corpus(saved: dict, stats: dict[str, np.ndarray], arrays: dict[str, np.ndarray],
                 classes: list[int]) -> tuple[list[dict], np.ndarray, np.ndarray, dict[str, float]]:
    """Each run's scores (seed, fold) on the shared-class clips, every run's labels and restricted predictions
    pooled (each run scores the same clips), and the scores of the runs' averaged probabilities (the seed
    ensemble, which `emo predict` answers with)."""
    return score_runs(saved, stats, arrays, classes)[:4]


def score_runs(saved: dict, stats: dict[str, np.ndarray], arrays: dict[str, np.ndarray], classes: list[int]
               ) -> tuple[list[dict], np.ndarray, np.ndarray, dict[str, float], list[np.ndarray], np.ndarray]:
    """`score_corpus`'s four, then each run's probabilities over the eight RAVDESS classes on the scored clips,
    and which of the corpus's clips were scored (those of the shared classes)."""
    import torch

    from emo.learn.checkpoints import rebuild
    from emo.learn.hybrid import with_svm
    from emo.learn.train import predict_proba

    x = arrays[saved["model"]]
    shape = tuple(saved["input_shapes"][0])
    if tuple(x.shape[1:]) != shape:
        raise EmoError(f"the model takes {saved['model']} inputs of shape {shape}, but the corpus features have "
                       f"{tuple(x.shape[1:])}: params.yaml's audio section changed since training; {RETRAIN}")
    y = labels_of(arrays["emotion"])
    keep = np.isin(y, classes)
    if not keep.any():
        raise EmoError(f"no clip of the classes {[EMOTIONS[c] for c in classes]} to score")
    speaker_norm = bool(saved["settings"]["speaker_norm"])
    # Each speaker by all of its clips (labels unused), once: the same for every run.
    own = (split.standardise_speakers(x, arrays["speaker"]) if speaker_norm else x)[keep]
    per_run, actual, predicted, probabilities, memo = [], [], [], [], {}
    for run in saved["runs"]:
        prefix = "" if run.get("fold") is None else f"fold{run['fold']}_"
        inputs = split.standardise(own, split.training_stats(stats, prefix, speaker_norm))
        proba = with_svm(saved, run, inputs, predict_proba(rebuild(saved, run), inputs, torch.device("cpu")), memo)
        entry, pred = run_scores(run["seed"], run.get("fold"), y[keep], proba, classes)
        per_run.append(entry)
        actual.append(y[keep])
        predicted.append(pred)
        probabilities.append(proba)
    ensemble = shared_scores(y[keep], restricted_argmax(np.mean(probabilities, axis=0), classes), classes)
    return per_run, np.concatenate(actual), np.concatenate(predicted), ensemble, probabilities, keep


def run_scores(seed: int, fold: int | None, y: np.ndarray, proba: np.ndarray, classes: list[int]
               ) -> tuple[dict, np.ndarray]:
    """One run's entry of the detail (seed, fold in k-fold mode, the shared-class scores and the 8-way accuracy)
    and its predictions restricted to `classes`."""
    pred = restricted_argmax(proba, classes)
    where = {} if fold is None else {"fold": fold}
    return ({"seed": seed, **where, **shared_scores(y, pred, classes),
             "accuracy_8way": float(np.mean(proba.argmax(axis=1) == y))}, pred)


def svm_gain(saved: dict, stats: dict[str, np.ndarray], arrays: dict[str, np.ndarray], classes: list[int],
             probabilities: list[np.ndarray], *, samples: int, seed: int) -> dict:
    """The CNNs' own scores on the corpus's shared-class clips and the paired differences hybrid minus CNN alone
    (runs and seed ensemble; 95 % bootstrap intervals), `probabilities` being the hybrid's runs'."""
    per_run, _, _, ensemble, alone, keep = score_runs({**saved, "svms": []}, stats, arrays, classes)
    y = labels_of(arrays["emotion"])[keep]

    def right(runs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        return (np.stack([restricted_argmax(p, classes) == y for p in runs], axis=1),
                restricted_argmax(np.mean(runs, axis=0), classes) == y)

    (cnn, cnn_ensemble), (fused, fused_ensemble) = right(alone), right(probabilities)
    return {"cnn_alone": {**{k: v for k, v in summarise(per_run).items() if k in ("accuracy", "accuracy_std", "uar",
                                                                                    "uar_std")},
                          "ensemble": {k: ensemble[k] for k in ("accuracy", "uar")}},
            "hybrid_minus_cnn_alone": {**uncertainty.paired_scores(cnn, fused, y, samples=samples, seed=seed),
                                       "ensemble": uncertainty.paired_scores(cnn_ensemble, fused_ensemble, y,
                                                                             samples=samples, seed=seed)}}


def prediction_table(saved: dict, name: str, arrays: dict[str, np.ndarray], keep: np.ndarray,
                     probabilities: list[np.ndarray], classes: list[int]) -> predictions.Table:
    """predictions/crosscorpus/<model>_<corpus>.csv's rows: each run's (in k-fold mode, each fold's runs: every
    run scores the whole corpus) and the seed ensemble's (all runs) on the scored clips (split: the corpus; label:
    its emotion name; predicted: the restricted argmax the scores count)."""
    clips = {"split": name, "clips": arrays["clip"][keep], "speakers": arrays["speaker"][keep],
             "labels": arrays["emotion"][keep]}
    runs = [(predictions.run_name(run["seed"]), run.get("fold"), proba)
            for run, proba in zip(saved["runs"], probabilities, strict=True)]
    runs.append((predictions.ENSEMBLE, None, np.mean(probabilities, axis=0)))
    return predictions.concat([predictions.block(run=run, fold=fold, proba=proba, **clips,
                                                 predicted=np.array(EMOTIONS)[restricted_argmax(proba, classes)])
                               for run, fold, proba in runs])


def summarise(per_run: list[dict]) -> dict[str, float]:
    """Mean and sample standard deviation over runs of each score."""
    out = {}
    for key in SCORES:
        values = np.array([r[key] for r in per_run])
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return out


def corpus_detail(arrays: dict[str, np.ndarray], classes: list[int], per_run: list[dict], actual: np.ndarray,
                  predicted: np.ndarray, ensemble: dict[str, float] | None = None) -> dict:
    """Everything about one model on one corpus, for metrics/crosscorpus_detail.json."""
    y = labels_of(arrays["emotion"])
    left = arrays["emotion"][~np.isin(y, classes)]
    return {**summarise(per_run), "n": int(np.isin(y, classes).sum()), "classes": [EMOTIONS[c] for c in classes],
            "runs": len(per_run), "speakers": int(len(np.unique(arrays["speaker"]))),
            "clips": int(len(y)), "not_shared": {str(e): int(np.sum(left == e)) for e in sorted(set(left))},
            "damaged": [str(p) for p in arrays["damaged"]], "per_run": per_run, "ensemble": ensemble or {},
            "confusion": {"labels": [EMOTIONS[c] for c in classes],
                          "counts": confusion(actual, predicted, classes).tolist(),
                          "note": "predictions of every run pooled (rows: actual, columns: predicted)"}}


def headline(detail: dict) -> dict:
    """The four numbers of metrics/crosscorpus.json for one model on one corpus."""
    return {"accuracy": detail["accuracy"], "uar": detail["uar"], "n": detail["n"], "classes": detail["classes"]}


def load_model(feature: str, balance: str, root: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """A trained audio model's checkpoint and its split file's normalisation statistics."""
    from emo.learn.checkpoints import load_checkpoint

    saved = load_checkpoint(root / "models" / f"{layout.model_name(feature, balance)}.pt", RETRAIN)
    path = root / layout.split_file(feature, balance)
    if not path.is_file():
        raise EmoError(f"{path}: missing (it holds the model's normalisation statistics); {RETRAIN}")
    with np.load(path) as stored:
        return saved, dict(stored)


def evaluate(names: tuple[str, ...], root: Path = Path("."), features: Path = FEATURES,
             models: tuple[tuple[str, str], ...] = MODELS, *, samples: int = 2000, seed: int = 0,
             ensembles: tuple[FeatureEnsemble, ...] = ()) -> tuple[dict, dict, dict]:
    """Per model and corpus: the headline metrics, the detail (with 95 % bootstrap intervals: `samples`
    resamples drawn from `seed`), and the pooled (actual, predicted) labels with the per-clip predictions; then
    the same of each of `ensembles` (emo.learn.ensemble), from its members' per-clip predictions."""
    corpora = {name: load_features(features_file(name, root / features)) for name in names}
    metrics, detail, pooled = {}, {}, {}
    for feature, balance in models:
        model = layout.model_name(feature, balance)
        saved, stats = load_model(feature, balance, root)
        metrics[model] = {"trained_on": list(TRAINED_ON)}
        detail[model] = {"trained_on": list(TRAINED_ON), "preset": saved["preset"],
                         "architecture": saved["settings"]["model"],
                         "speaker_norm": bool(saved["settings"]["speaker_norm"])}
        for name, arrays in corpora.items():
            classes = shared_classes(name)
            try:
                per_run, actual, predicted, ensemble, probabilities, keep = score_runs(saved, stats, arrays, classes)
            except EmoError as err:
                raise EmoError(f"{model} on {name}: {err}") from None
            detail[model][name] = corpus_detail(arrays, classes, per_run, actual, predicted, ensemble)
            # 95 % bootstrap intervals over the scored clips, each clip's runs kept together (emo.learn.uncertainty)
            y = labels_of(arrays["emotion"])[keep]
            right = np.stack([restricted_argmax(p, classes) == y for p in probabilities], axis=1)
            detail[model][name].update(uncertainty.intervals(right, y, samples=samples, seed=seed))
            detail[model][name]["ensemble"].update(uncertainty.intervals(
                restricted_argmax(np.mean(probabilities, axis=0), classes) == y, y, samples=samples, seed=seed))
            if saved.get("svms"):  # what the hybrid's SVMs add on this corpus
                detail[model][name]["svm_gain"] = svm_gain(saved, stats, arrays, classes, probabilities,
                                                           samples=samples, seed=seed)
            metrics[model][name] = headline(detail[model][name])
            pooled[model, name] = (actual, predicted,
                                   prediction_table(saved, name, arrays, keep, probabilities, classes))
    for chosen in ensembles:
        first = detail[chosen.models[0]]
        metrics[chosen.name] = {"trained_on": list(TRAINED_ON)}
        detail[chosen.name] = {**{k: first[k] for k in ("trained_on", "preset", "speaker_norm")},
                               "architecture": chosen.formula,
                               "members": [{"model": m, "weight": w} for m, w in chosen.members]}
        for name, arrays in corpora.items():
            detail[chosen.name][name], pooled[chosen.name, name] = score_ensemble(
                chosen, name, arrays, [pooled[m, name][2] for m in chosen.models], samples=samples, seed=seed)
            metrics[chosen.name][name] = headline(detail[chosen.name][name])
    return metrics, detail, pooled


def score_ensemble(chosen: FeatureEnsemble, name: str, arrays: dict[str, np.ndarray],
                   tables: list[predictions.Table], *, samples: int, seed: int) -> tuple[dict, tuple]:
    """One ensemble on one corpus from its members' per-clip predictions there (`tables`): the detail entry, as
    for a trained model, with what it adds over its first member alone (paired, runs and seed ensemble), and its
    pooled (actual, predicted, per-clip predictions)."""
    classes = shared_classes(name)
    table = chosen.fuse_tables(tables, [f"{m} on {name}" for m in chosen.models], classes)
    per_run, actual, predicted, right, alone = [], [], [], [], []
    for fold, run in dict.fromkeys(zip(table.fold.tolist(), table.run.tolist(), strict=True)):
        rows = (table.fold == fold) & (table.run == run)
        y, pred = labels_of(table.label[rows]), labels_of(table.predicted[rows])
        if run == predictions.ENSEMBLE:
            ensemble, ensemble_right = shared_scores(y, pred, classes), pred == y
            ensemble_alone = labels_of(tables[0].predicted[rows]) == y
            continue
        entry, _ = run_scores(int(run[len("seed"):]), None if fold == "" else int(fold), y, table.proba[rows],
                              classes)
        per_run.append(entry)
        actual.append(y)
        predicted.append(pred)
        right.append(pred == y)
        alone.append(labels_of(tables[0].predicted[rows]) == y)
    actual, predicted = np.concatenate(actual), np.concatenate(predicted)
    entry = corpus_detail(arrays, classes, per_run, actual, predicted, ensemble)
    labels, right, alone = actual[:len(right[0])], np.stack(right, axis=1), np.stack(alone, axis=1)
    entry.update(uncertainty.intervals(right, labels, samples=samples, seed=seed))
    entry["ensemble"].update(uncertainty.intervals(ensemble_right, labels, samples=samples, seed=seed))
    entry["gain_over_first_member"] = {
        "model": chosen.models[0], **uncertainty.paired_scores(alone, right, labels, samples=samples, seed=seed),
        "ensemble": uncertainty.paired_scores(ensemble_alone, ensemble_right, labels, samples=samples, seed=seed)}
    return entry, (actual, predicted, table)


def write_outputs(metrics: dict, detail: dict, pooled: dict, root: Path = Path(".")) -> None:
    """The two metrics files, and per model and corpus the per-clip predictions
    (predictions/crosscorpus/<model>_<corpus>.csv) and the runs' pooled predictions as CSV and a confusion PNG."""
    from emo.learn.evaluate import plot_confusion, write_confusion_csv

    write_json(root / METRICS, metrics)
    write_json(root / DETAIL, detail)
    (root / PLOTS).mkdir(parents=True, exist_ok=True)  # the stage's outs, also with no corpus to test
    (root / predictions.CROSSCORPUS).mkdir(parents=True, exist_ok=True)
    for (model, name), (actual, predicted, *table) in pooled.items():
        if table:
            predictions.write(root / predictions.CROSSCORPUS / f"{model}_{name}.csv", table[0])
        entry = detail[model][name]
        write_confusion_csv(actual, predicted, root / PLOTS / f"{model}_{name}.csv")
        counts = np.array(entry["confusion"]["counts"], float)
        title = (f"{model} on {corpus(name).title}: accuracy {entry['accuracy']:.3f}, UAR {entry['uar']:.3f} "
                 f"(mean of {entry['runs']} runs)\nthe runs' predictions pooled, n {entry['n']}")
        plot_confusion(counts / np.maximum(counts.sum(axis=1, keepdims=True), 1), title,
                       root / PLOTS / f"{model}_{name}.png", names=entry["classes"])
