"""emo.learn.ensemble: the default two-feature model, fused run by run from its members' per-clip predictions."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from emo.core.errors import EmoError
from emo.core.ravdess import EMOTIONS
from emo.learn import ensemble, hybrid, predictions

CHOSEN = ensemble.default(0.5)
CLIPS = [f"03-01-0{1 + k % 8}-01-01-01-23" for k in range(8)]  # one clip of each emotion, in class order


def _table(rng: np.random.Generator, seeds=(0, 1), split="test", fold=None, clips=CLIPS) -> predictions.Table:
    blocks, runs = [], []
    for seed in seeds:
        proba = rng.dirichlet(np.ones(len(EMOTIONS)), size=len(clips))
        runs.append(proba)
        blocks.append(predictions.block(split=split, clips=clips, speakers=["23"] * len(clips), run=f"seed{seed}",
                                        labels=[EMOTIONS[k % 8] for k in range(len(clips))], proba=proba, fold=fold))
    blocks.append(predictions.block(split=split, clips=clips, speakers=["23"] * len(clips), run=predictions.ENSEMBLE,
                                    labels=[EMOTIONS[k % 8] for k in range(len(clips))], proba=np.mean(runs, 0),
                                    fold=fold))
    return predictions.concat(blocks)


def test_two_members_fuse_as_the_hybrid_does_and_the_weight_is_the_second_ones_exponent():
    rng = np.random.default_rng(0)
    a, b = rng.dirichlet(np.ones(8), size=5), rng.dirichlet(np.ones(8), size=5)
    assert np.array_equal(CHOSEN.fuse([a, b]), hybrid.fuse(a, b, 0.5))
    expected = a * np.sqrt(b)
    np.testing.assert_allclose(CHOSEN.fuse([a, b]), expected / expected.sum(1, keepdims=True))
    assert CHOSEN.models == ["audio_logmel_balanced", "audio_mfcc_balanced"]
    with pytest.raises(ValueError, match="fuses 2 models' probabilities, got 1"):
        CHOSEN.fuse([a])


def test_runs_fuse_row_by_row_and_the_ensemble_rows_are_the_mean_of_the_fused_runs():
    rng = np.random.default_rng(1)
    first, second = _table(rng), _table(rng)
    fused = CHOSEN.fuse_tables([first, second], ["a.csv", "b.csv"])
    runs = first.run != predictions.ENSEMBLE
    np.testing.assert_array_equal(fused.proba[runs], hybrid.fuse(first.proba[runs], second.proba[runs], 0.5))
    for clip in CLIPS:
        mine = fused.clip == clip
        np.testing.assert_allclose(fused.proba[mine & ~runs][0], fused.proba[mine & runs].mean(0))
    # not the product of the members' own ensembles, which would weigh a confident seed differently
    assert not np.allclose(fused.proba[~runs], hybrid.fuse(first.proba[~runs], second.proba[~runs], 0.5))
    assert list(fused.predicted) == list(np.array(EMOTIONS)[fused.proba.argmax(1)])


def test_predictions_are_restricted_to_the_classes_a_corpus_shares():
    rng = np.random.default_rng(2)
    fused = CHOSEN.fuse_tables([_table(rng), _table(rng)], ["a.csv", "b.csv"], classes=[0, 3])
    assert set(fused.predicted) <= {"neutral", "sad"}
    shared = fused.proba[:, [0, 3]]
    assert list(fused.predicted) == list(np.array(["neutral", "sad"])[shared.argmax(1)])


def test_members_of_other_clips_or_runs_are_refused_naming_both_files():
    rng = np.random.default_rng(3)
    with pytest.raises(EmoError, match=r"b\.csv and a\.csv do not hold the same clips and runs row by row \(run "):
        CHOSEN.fuse_tables([_table(rng), _table(rng, seeds=(0, 2))], ["a.csv", "b.csv"])
    with pytest.raises(EmoError, match=r"\(clip differs\)"):
        CHOSEN.fuse_tables([_table(rng), _table(rng, clips=CLIPS[:4] + ["03-01-05-01-01-02-24"] + CLIPS[5:])],
                           ["a.csv", "b.csv"])


def _member(root: Path, model: str, table: predictions.Table, seconds: float, seeds=(0, 1)) -> None:
    predictions.write(root / predictions.FOLDER / f"{model}.csv", table)
    (root / "metrics").mkdir(exist_ok=True)
    per_seed = [{"seed": s, "best_epoch": 20, "train_seconds": seconds} for s in seeds]
    (root / f"metrics/{model}.json").write_text(json.dumps({
        "model": model, "preset": "ours", "architecture": "temporal", "protocol": "holdout", "test_actors": [23],
        "per_seed": per_seed}))


def test_the_stage_scores_the_fused_runs_and_what_they_add_over_the_first_member(tmp_path):
    rng = np.random.default_rng(4)
    first, second = _table(rng), _table(rng)
    _member(tmp_path, "audio_logmel_balanced", first, 10.0)
    _member(tmp_path, "audio_mfcc_balanced", second, 5.0)
    metrics, actual, predicted, table = ensemble.evaluate_ensemble(CHOSEN, tmp_path, samples=200, seed=0)
    runs = table.run != predictions.ENSEMBLE
    right = (table.predicted == table.label)
    assert metrics["accuracy"] == pytest.approx(right[runs].mean())
    assert metrics["ensemble"]["accuracy"] == pytest.approx(right[~runs].mean())
    assert metrics["n_test"] == len(CLIPS) and metrics["seeds"] == [0, 1] and metrics["test_actors"] == [23]
    assert metrics["train_seconds"] == 30.0  # both members' runs: what the ensemble cost to train
    assert metrics["members"] == [{"model": "audio_logmel_balanced", "weight": 1.0},
                                  {"model": "audio_mfcc_balanced", "weight": 0.5}]
    alone = (first.predicted == first.label)[runs].mean()
    gain = metrics["gain_over_first_member"]
    assert gain["model"] == "audio_logmel_balanced"
    assert gain["accuracy"]["difference"] == pytest.approx(metrics["accuracy"] - alone)
    assert list(actual) == [EMOTIONS.index(e) for e in table.label[(table.run == "seed0")]]


def test_a_member_without_metrics_for_a_run_it_predicted_is_named(tmp_path):
    rng = np.random.default_rng(5)
    _member(tmp_path, "audio_logmel_balanced", _table(rng), 10.0)
    _member(tmp_path, "audio_mfcc_balanced", _table(rng), 5.0, seeds=(0,))
    with pytest.raises(EmoError, match="a member's metrics lack seed 1 that its predictions hold"):
        ensemble.evaluate_ensemble(CHOSEN, tmp_path, samples=200, seed=0)
    (tmp_path / "metrics/audio_mfcc_balanced.json").unlink()
    with pytest.raises(EmoError, match=r"metrics/audio_mfcc_balanced\.json: missing"):
        ensemble.evaluate_ensemble(CHOSEN, tmp_path, samples=200, seed=0)


def test_k_fold_members_give_per_fold_scores_and_a_seed_ensemble_per_fold(tmp_path):
    rng = np.random.default_rng(6)
    halves = (CLIPS[:4], CLIPS[4:])
    for model in ensemble.MEMBERS:
        table = predictions.concat([_table(rng, fold=fold, clips=clips) for fold, clips in enumerate(halves)])
        predictions.write(tmp_path / predictions.FOLDER / f"{model}.csv", table)
        (tmp_path / "metrics").mkdir(exist_ok=True)
        per_seed = [{"seed": s, "fold": f, "best_epoch": 20, "train_seconds": 1.0} for f in (0, 1) for s in (0, 1)]
        (tmp_path / f"metrics/{model}.json").write_text(json.dumps({
            "model": model, "preset": "ours", "architecture": "temporal", "protocol": "emobox",
            "fold_test_actors": [[23], [24]], "per_seed": per_seed}))
    metrics, _, _, table = ensemble.evaluate_ensemble(CHOSEN, tmp_path, samples=200, seed=0)
    assert metrics["folds"] == 2 and [f["n_test"] for f in metrics["per_fold"]] == [4, 4]
    assert [f["test_actors"] for f in metrics["per_fold"]] == [[23], [24]]
    runs = table.run != predictions.ENSEMBLE
    for fold in ("0", "1"):
        mine = table.fold == fold
        right = table.predicted[mine & ~runs] == table.label[mine & ~runs]
        assert len(right) == 4  # each fold's ensemble averages that fold's runs only
    right = table.predicted[~runs] == table.label[~runs]
    per_fold = [right[table.fold[~runs] == f].mean() for f in ("0", "1")]
    assert metrics["ensemble"]["accuracy"] == pytest.approx(np.mean(per_fold))
    assert metrics["train_seconds"] == 8.0 and metrics["architecture"] == CHOSEN.formula
