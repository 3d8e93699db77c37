"""Test-set metrics over seeds with bootstrap intervals, per-clip predictions on the validation and test clips
(predictions/<model>.csv), confusion data for `dvc plots`, and a confusion-matrix PNG."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, balanced_accuracy_score, confusion_matrix, f1_score, recall_score

from emo.core import metrics_detail
from emo.core.params import FusionParams
from emo.core.ravdess import EMOTIONS
from emo.learn import predictions, uncertainty

LABELS = list(range(len(EMOTIONS)))
#: What metrics/<model>.json holds (`dvc metrics show` tabulates it): the scores over seeds with their 95 % intervals,
#: the seed ensemble's, the test clips' count. Spreads, per-seed, per-fold and per-class values, epochs, timings and
#: provenance go to metrics/<model>_detail.json (emo.core.metrics_detail).
HEADLINE = ("accuracy", "uar", "macro_f1", "*_ci95", "n_test", "ensemble.accuracy", "ensemble.uar", "ensemble.macro_f1")


def scores(y_true: np.ndarray, y_pred: np.ndarray) -> dict:
    """Accuracy, macro-F1, UAR (balanced accuracy) and recall per class."""
    recall = recall_score(y_true, y_pred, labels=LABELS, average=None, zero_division=0)
    return {"accuracy": float(accuracy_score(y_true, y_pred)),
            "macro_f1": float(f1_score(y_true, y_pred, labels=LABELS, average="macro", zero_division=0)),
            "uar": float(balanced_accuracy_score(y_true, y_pred)),
            "recall": {EMOTIONS[c]: float(r) for c, r in zip(LABELS, recall, strict=True)}}


def summarise(per_seed: list[dict]) -> dict:
    """Mean and standard deviation over seeds of each headline score."""
    out = {}
    for key in ("accuracy", "macro_f1", "uar"):
        values = np.array([s[key] for s in per_seed])
        out[key] = float(values.mean())
        out[f"{key}_std"] = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    out["recall"] = {e: float(np.mean([s["recall"][e] for s in per_seed])) for e in EMOTIONS}
    return out


def normalised_confusion(y_true: np.ndarray, y_pred: np.ndarray) -> np.ndarray:
    """Confusion matrix with each true-class row summing to 1."""
    matrix = confusion_matrix(y_true, y_pred, labels=LABELS).astype(float)
    return matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)


def write_confusion_csv(y_true: np.ndarray, y_pred: np.ndarray, path: Path) -> None:
    """One row per test clip (actual, predicted) for `dvc plots` with the `confusion` template."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["actual", "predicted"])
        writer.writerows((EMOTIONS[t], EMOTIONS[p]) for t, p in zip(y_true, y_pred, strict=True))


def plot_confusion(matrix: np.ndarray, title: str, path: Path, names: Sequence[str] = EMOTIONS) -> None:
    """Save a normalised confusion matrix (classes `names`, the eight emotions unless given) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    ticks = range(len(names))
    fig, ax = plt.subplots(figsize=(6, 5.2), dpi=110)
    image = ax.imshow(matrix, vmin=0, vmax=1, cmap="Blues")
    ax.set_xticks(ticks, names, rotation=45, ha="right")
    ax.set_yticks(ticks, names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title(title, fontsize=10)
    for i in ticks:
        for j in ticks:
            ax.text(j, i, f"{matrix[i, j]:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if matrix[i, j] > 0.5 else "black")
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def provenance(saved: dict) -> dict:
    """How a fusion model's inputs were paired, with a warning when labels built them (pairing: class)."""
    fusion = saved.get("fusion")
    if not fusion:
        return {}
    out = {"audio_feature": fusion["audio_feature"], "balance": fusion["balance"], "pairing": fusion["pairing"]}
    if fusion["pairing"] == "class":
        out["warning"] = ("pairing 'class' (the paper's): each audio clip, test clips included, is paired with a "
                          "random video of the SAME CLASS, so the label helps build the input; this is not a "
                          "recognition score")
    return out


def run_probabilities(saved: dict, arrays: dict, device) -> list[np.ndarray]:
    """Each saved run's class probabilities on its fold's clips (`arrays`: fold or None -> Arrays), in run order:
    its CNN's, fused with its fold's SVM where the checkpoint holds one (emo.learn.hybrid)."""
    from emo.learn.checkpoints import rebuild
    from emo.learn.hybrid import with_svm
    from emo.learn.train import predict_proba

    memo: dict = {}  # each fold's SVM probabilities, shared by its seeds
    return [with_svm(saved, run, x, predict_proba(rebuild(saved, run), x, device), memo)
            for run in saved["runs"] for x in [arrays[run.get("fold")].x]]


def evaluate_runs(saved: dict, tests: dict, device, probabilities: list[np.ndarray] | None = None
                  ) -> tuple[dict, np.ndarray, np.ndarray]:
    """Test metrics of every saved run (seed, and fold in k-fold mode), their mean and std, the seed ensemble's,
    and the first seed's labels and predictions over all test sets (`tests`: fold or None -> Arrays); each run's
    test probabilities are computed here unless given (`run_probabilities`)."""
    per_run, actual, predicted, probabilities_of = [], [], [], {}
    first_seed = saved["runs"][0]["seed"]
    if probabilities is None:
        probabilities = run_probabilities(saved, tests, device)
    for run, proba in zip(saved["runs"], probabilities, strict=True):
        test = tests[run.get("fold")]
        probabilities_of.setdefault(run.get("fold"), []).append(proba)
        pred = proba.argmax(1)
        if run["seed"] == first_seed:
            actual.append(test.y)
            predicted.append(pred)
        where = {} if run.get("fold") is None else {"fold": run["fold"]}
        per_run.append({"seed": run["seed"], **where, "best_epoch": run["best_epoch"],
                        "train_seconds": round(run["seconds"], 2), **scores(test.y, pred)})
    actual, predicted = np.concatenate(actual), np.concatenate(predicted)
    folds = {} if None in tests else {"folds": len(tests)}
    metrics = {**summarise(per_run), "n_test": int(len(actual)), **folds,
               "seeds": sorted({s["seed"] for s in per_run}), "best_epoch": [s["best_epoch"] for s in per_run],
               "train_seconds": round(sum(s["train_seconds"] for s in per_run), 2), "per_seed": per_run}
    if len(metrics["seeds"]) > 1:
        metrics["ensemble"] = seed_ensemble({fold: tests[fold].y for fold in probabilities_of}, probabilities_of)
    return metrics, actual, predicted


def seed_ensemble(labels: dict, probabilities: dict) -> dict:
    """Scores of the seeds' mean class probabilities, per test set (fold), averaged over folds."""
    per_fold = [scores(labels[fold], np.mean(probabilities[fold], axis=0).argmax(1)) for fold in labels]
    return summarise(per_fold) if len(per_fold) > 1 else per_fold[0]


def _by_fold(saved: dict, probabilities: list[np.ndarray]) -> dict:
    """fold (None in hold-out mode) -> seed -> that run's probabilities, folds and seeds in run order."""
    grouped: dict = {}
    for run, proba in zip(saved["runs"], probabilities, strict=True):
        grouped.setdefault(run.get("fold"), {})[run["seed"]] = proba
    return grouped


def correct_runs(saved: dict, tests: dict, probabilities: list[np.ndarray]) -> tuple:
    """The test labels of every fold, which runs got each clip right [clips, seeds], and whether the seed
    ensemble did [clips] (None with one seed)."""
    grouped = _by_fold(saved, probabilities)
    labels = np.concatenate([tests[fold].y for fold in grouped])
    correct = np.concatenate([np.stack([p.argmax(1) == tests[fold].y for p in seeds.values()], axis=1)
                              for fold, seeds in grouped.items()])
    ensemble = (np.concatenate([np.mean(list(seeds.values()), axis=0).argmax(1) == tests[fold].y
                                for fold, seeds in grouped.items()]) if correct.shape[1] > 1 else None)
    return labels, correct, ensemble


def with_intervals(metrics: dict, saved: dict, tests: dict, probabilities: list[np.ndarray], *, samples: int,
                   seed: int) -> dict:
    """`accuracy_ci95` and `uar_ci95` of the runs, and of the seed ensemble when there is one: 95 % percentile
    bootstrap over the test clips (of every fold), each clip's runs kept together (emo.learn.uncertainty)."""
    labels, correct, ensemble = correct_runs(saved, tests, probabilities)
    metrics.update(uncertainty.intervals(correct, labels, samples=samples, seed=seed))
    if "ensemble" in metrics:
        metrics["ensemble"].update(uncertainty.intervals(ensemble, labels, samples=samples, seed=seed))
    return metrics


def svm_gain(saved: dict, tests: dict, device, probabilities: list[np.ndarray], *, samples: int, seed: int) -> dict:
    """What a hybrid checkpoint's SVMs add (emo.learn.hybrid), on the same test clips: the CNNs' own scores and
    the paired differences hybrid minus CNN alone, of the runs and of the seed ensemble, with 95 % bootstrap
    intervals and p-values (emo.learn.uncertainty). `probabilities`: the hybrid's, as `run_probabilities` gives."""
    alone_saved = {**saved, "svms": []}
    alone = run_probabilities(alone_saved, tests, device)
    scored, _, _ = evaluate_runs(alone_saved, tests, device, alone)
    labels, cnn, cnn_ensemble = correct_runs(saved, tests, alone)
    _, fused, fused_ensemble = correct_runs(saved, tests, probabilities)
    out = {"cnn_alone": {k: scored[k] for k in ("accuracy", "accuracy_std", "uar", "uar_std")},
           "hybrid_minus_cnn_alone": uncertainty.paired_scores(cnn, fused, labels, samples=samples, seed=seed)}
    if cnn_ensemble is not None:
        out["cnn_alone"]["ensemble"] = {k: scored["ensemble"][k] for k in ("accuracy", "uar")}
        out["hybrid_minus_cnn_alone"]["ensemble"] = uncertainty.paired_scores(cnn_ensemble, fused_ensemble, labels,
                                                                              samples=samples, seed=seed)
    return out


def prediction_blocks(saved: dict, split: str, arrays: dict, probabilities: list[np.ndarray], plan: dict
                      ) -> list[predictions.Table]:
    """Rows of predictions/<model>.csv for one split: each run's and the seed ensemble's (the mean of the runs'
    probabilities, as `seed_ensemble` and `emo predict` compute it) on the split's original clips, each named by
    its file's stem (the video-only clip's for a video model, else the audio's); `plan`: row index -> PlannedClip."""
    media = "video" if saved.get("model") == "video" else "path"
    blocks = []
    for fold, seeds in _by_fold(saved, probabilities).items():
        rows = [plan[int(i)] for i in arrays[fold].index]
        original = np.array([row.op == "original" for row in rows], bool)
        kept = [row for row, keep in zip(rows, original, strict=True) if keep]
        clips = {"clips": [Path(getattr(row, media) or row.path or row.video).stem for row in kept],
                 "speakers": [row.actor for row in kept],
                 "labels": np.array(EMOTIONS)[arrays[fold].y[original]], "split": split, "fold": fold}
        blocks += [predictions.block(run=predictions.run_name(s), proba=p[original], **clips) for s, p in seeds.items()]
        blocks.append(predictions.block(run=predictions.ENSEMBLE, proba=np.mean(list(seeds.values()), axis=0)[original],
                                        **clips))
    return blocks


def evaluate_model(model: str, balance: str, fusion_params: FusionParams, *, samples: int = 2000, seed: int = 0
                   ) -> tuple[dict, np.ndarray, np.ndarray, predictions.Table]:
    """Metrics of models/<name>.pt on its test clips (of every fold it holds), with the first seed's labels and
    predictions, and the per-clip predictions on the validation and test clips (predictions/<name>.csv);
    `samples` and `seed` draw the bootstrap intervals. The checkpoint is read as weights only; a fusion model pairs
    its inputs as it was trained."""
    import torch

    from emo.data import datasets
    from emo.learn import checkpoints

    name = datasets.model_name(model, balance)
    saved = checkpoints.load_checkpoint(Path(f"models/{name}.pt"),
                                        f"re-train it with `dvc repro -f {datasets.train_stage(model, balance)}`")
    fusion_params = FusionParams(**saved["fusion"]) if saved.get("fusion") else fusion_params
    folds = {run["fold"] for run in saved["runs"]}

    def load(split: str) -> dict:  # one split at a time: a fusion's pairing 'class' draws per split, test alone
        return {fold: datasets.load_model_inputs(model, balance, saved["settings"]["speaker_norm"], fusion_params,
                                                 (split,), fold)[split] for fold in folds}

    device = torch.device("cpu")
    tests = load("test")
    test_proba = run_probabilities(saved, tests, device)
    metrics, actual, predicted = evaluate_runs(saved, tests, device, test_proba)
    protocol = datasets.model_protocol(model, balance, fusion_params)
    if None not in tests:
        metrics["per_fold"] = per_fold(metrics["per_seed"], protocol["fold_test_actors"],
                                       {fold: len(test.y) for fold, test in tests.items()})
    with_intervals(metrics, saved, tests, test_proba, samples=samples, seed=seed)
    if saved.get("svms"):
        metrics["svm_gain"] = svm_gain(saved, tests, device, test_proba, samples=samples, seed=seed)
    vals = load("val")
    plan = {row.index: row for row in datasets.read_plan()}
    table = predictions.concat(prediction_blocks(saved, "val", vals, run_probabilities(saved, vals, device), plan)
                               + prediction_blocks(saved, "test", tests, test_proba, plan))
    # the device the models trained on (their weights, and so these numbers, depend on it; evaluation is on CPU)
    return ({"model": name, "device": saved.get("device", "cpu"), "preset": saved["preset"],
             "architecture": saved["settings"]["model"],
             **provenance(saved), **protocol, **metrics}, actual, predicted, table)


def per_fold(per_run: list[dict], test_actors: list[list[int]], n_test: dict) -> list[dict]:
    """Each fold's test actors, clip count and scores (mean and std over its seeds)."""
    return [{"fold": fold, "test_actors": test_actors[fold], "n_test": n_test[fold],
             **{k: v for k, v in summarise([r for r in per_run if r["fold"] == fold]).items() if k != "recall"}}
            for fold in sorted(n_test)]


def write_outputs(metrics: dict, actual: np.ndarray, predicted: np.ndarray,
                  table: predictions.Table | None = None) -> None:
    """metrics/<name>.json and its detail file, predictions/<name>.csv (when given), and the first seed's confusion
    as CSV (for `dvc plots`) and PNG."""
    name = metrics["model"]
    metrics_detail.write(Path(f"metrics/{name}.json"), metrics, HEADLINE)
    if table is not None:
        predictions.write(predictions.FOLDER / f"{name}.csv", table)
    write_confusion_csv(actual, predicted, Path(f"plots/confusion/{name}.csv"))
    first = metrics["per_seed"][0]
    title = f"{name} ({metrics['preset']}), seed {first['seed']}: accuracy {first['accuracy']:.3f}"
    plot_confusion(normalised_confusion(actual, predicted), title, Path(f"plots/confusion/{name}.png"))
