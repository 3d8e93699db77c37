"""Models, split statistics, training (determinism, early stopping) and scores."""

import dataclasses
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from torch import nn

from emo.core.errors import EmoError
from emo.core.params import PAPER, FusionParams, ParamsError, TrainSettings
from emo.core.ravdess import EMOTIONS
from emo.data import arrays, fusion, split
from emo.data.augment import PlannedClip
from emo.learn import checkpoints, evaluate, train
from emo.learn.models import EmoCNN, FusionCNN, PaperCNN, TemporalCNN, build
from project import REPO


def test_paper_cnn_is_exactly_the_spec():
    model = PaperCNN((128, 216))
    layers = list(model.features) + [model.classifier]
    assert [type(m) for m in layers] == [nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout, nn.Flatten, nn.Linear]
    conv = layers[0]
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == \
        (1, 16, (3, 3), (1, 1), (1, 1))
    assert layers[3].p == 0.5 and model.classifier.in_features == 16 * 64 * 108
    assert sum(p.numel() for p in model.parameters()) == 884904
    assert model(torch.zeros(2, 128, 216)).shape == (2, 8)


@pytest.mark.parametrize("shape", [(128, 216), (30, 216), (13, 79), (2, 3)])
def test_emocnn_takes_any_feature_shape(shape):
    assert EmoCNN(shape)(torch.zeros(3, *shape)).shape == (3, 8)
    with pytest.raises(ValueError, match="unknown model"):
        build("resnet", shape)


@pytest.mark.parametrize("shape", [(128, 216), (30, 216), (135, 32), (4, 5)])
def test_temporal_cnn_takes_any_feature_shape(shape):
    model = TemporalCNN(shape)
    assert model(torch.zeros(3, *shape)).shape == (3, 8)
    assert model.embed(torch.randn(3, *shape)).shape == (3, model.width)


def test_temporal_cnn_halves_long_inputs_in_time_only():
    assert isinstance(TemporalCNN((30, 216)).pool, nn.AvgPool1d)
    assert isinstance(TemporalCNN((135, 32)).pool, nn.Identity)  # 32 video frames are kept
    fusion = build("temporal", [(30, 216), (135, 32)])
    assert isinstance(fusion, FusionCNN) and fusion.classifier.in_features == 2 * 4 * 96
    assert fusion(torch.zeros(2, 30, 216), torch.zeros(2, 135, 32)).shape == (2, 8)


@pytest.mark.parametrize(("key", "value"), [("model", "resnet"), ("schedule", "cosine"), ("keep", "worst"),
                                            ("optimizer", "sgd"), ("mixup", -0.1), ("label_smoothing", 1.0),
                                            ("label_smoothing", -0.1), ("hybrid_svm_weight", 0.0),
                                            ("hybrid_svm_weight", -1.0)])
def test_train_settings_reject_unknown_choices(key, value):
    with pytest.raises(ParamsError, match=rf"train\.<preset>\.{key}: "):
        TrainSettings(**{key: value})


def planned(actor, label, split_name, op="original", balance=False, index=0):
    return PlannedClip(index=index, path=f"{actor}-{label}-{op}", video="", split=split_name, actor=actor,
                       label=label, performance="x", op=op, balance=balance, pitch=0.0, shift=0, noise_seed=0)


@pytest.fixture
def toy():
    """12 clips: actor 1 trains (with an augmented and a balancing copy), actor 2 validates, actor 3 tests."""
    specs = [(1, c % 4, "train") for c in range(6)] + [(1, 0, "train", "shift"), (1, 1, "train", "noise", True)]
    specs += [(2, c, "val") for c in range(2)] + [(3, c, "test") for c in range(2)]
    plan = [planned(*spec, index=i) for i, spec in enumerate(specs)]
    rng = np.random.default_rng(0)
    features = rng.normal(size=(len(plan), 4, 5)).astype(np.float32) + np.array([p.actor for p in plan])[:, None, None]
    return plan, features


def test_split_selects_by_actor_and_balance(toy):
    plan, _ = toy
    valid = np.ones(len(plan), bool)
    unbalanced, balanced = split.select(plan, valid, False), split.select(plan, valid, True)
    assert list(unbalanced["train"]) == list(range(7)) and list(balanced["train"]) == list(range(8))
    assert list(balanced["val"]) == [8, 9] and list(balanced["test"]) == [10, 11]
    valid[3] = False
    assert 3 not in split.select(plan, valid, True)["train"]


def test_statistics_come_from_training_rows_only(toy, tmp_path):
    plan, features = toy
    valid = np.ones(len(plan), bool)
    split.prepare(features, plan, valid, True, tmp_path / "a.npz")
    changed = features.copy()
    changed[8:] += 100  # val and test
    split.prepare(changed, plan, valid, True, tmp_path / "b.npz")
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert np.array_equal(a["mean"], b["mean"]) and np.array_equal(a["std"], b["std"])
    assert not np.array_equal(a["speaker_mean"][3], b["speaker_mean"][3])  # test actor's own statistics


def test_prepare_refuses_a_filtered_plan(toy, tmp_path):
    plan, features = toy
    with pytest.raises(ValueError, match="whole plan"):
        split.prepare(features, plan[2:], np.ones(len(plan), bool), True, tmp_path / "f.npz")


def test_speaker_normalisation_centres_each_actor(toy, tmp_path):
    plan, features = toy
    split.prepare(features, plan, np.ones(len(plan), bool), True, tmp_path / "s.npz")
    loaded = arrays.load_arrays(features, tmp_path / "s.npz", speaker_norm=True)
    saved = np.load(tmp_path / "s.npz")
    raw_test = split.standardise_speakers(features[10:12], np.array([3, 3]), split.actor_stats(saved))
    assert abs(raw_test.mean()) < 1e-5  # actor 3's originals centred on themselves
    assert loaded["test"].x.shape == (2, 4, 5) and list(loaded["test"].y) == [0, 1]


def test_fit_is_deterministic_and_keeps_the_best_epoch(fixture_arrays):
    settings = dataclasses.replace(TrainSettings(), max_epochs=4, patience=2, batch_size=16)
    first = train.fit(*fixture_arrays, settings, seed=0, device=torch.device("cpu"), progress=False)
    again = train.fit(*fixture_arrays, settings, seed=0, device=torch.device("cpu"), progress=False)
    other = train.fit(*fixture_arrays, settings, seed=1, device=torch.device("cpu"), progress=False)
    assert first.history == again.history
    assert all(torch.equal(first.state[k], again.state[k]) for k in first.state)
    assert first.history != other.history
    losses = [h["val_loss"] for h in first.history]
    assert first.best_epoch == 1 + int(np.argmin(losses))


def test_early_stopping_stops_after_patience(fixture_arrays):
    # lr must be > 0; this one moves no float32 weight, so the loss never improves
    settings = dataclasses.replace(PAPER, lr=1e-30, max_epochs=20, patience=3)
    result = train.fit(*fixture_arrays, settings, seed=0, device=torch.device("cpu"), progress=False)
    assert result.best_epoch == 1 and len(result.history) == 4


@pytest.fixture(scope="module")
def fixture_arrays():
    """A small learnable problem: 8 classes told apart by which bins are loud."""
    rng = np.random.default_rng(0)

    def make(n):
        y = rng.integers(0, 8, n)
        x = rng.normal(size=(n, 16, 20)).astype(np.float32)
        x[np.arange(n), y * 2] += 3
        return arrays.Arrays(x=x, y=y, index=np.arange(n))

    return make(128), make(64)


def test_a_split_without_validation_clips_trains_under_keep_last_only(fixture_arrays):
    """k-fold trains on every actor but the test fold's (EmoBox): no validation clips, so no curve half and no
    early stopping; the weights are those of a run that had validation clips (they choose nothing under last)."""
    training, validation = fixture_arrays
    none = arrays.Arrays(x=validation.x[:0], y=validation.y[:0], index=validation.index[:0])
    last = dataclasses.replace(TrainSettings(), keep="last", max_epochs=3, batch_size=16)
    blind = train.fit(training, none, last, seed=0, device=torch.device("cpu"), progress=False)
    seeing = train.fit(training, validation, last, seed=0, device=torch.device("cpu"), progress=False)
    assert len(blind.history) == 3 and all(np.isnan(h["val_loss"]) and np.isnan(h["val_acc"]) for h in blind.history)
    assert [h["train_loss"] for h in blind.history] == [h["train_loss"] for h in seeing.history]
    assert all(torch.equal(blind.state[k], seeing.state[k]) for k in blind.state)
    model = build(last.model, training.shapes, dropout=last.dropout)
    model.load_state_dict(blind.state)
    assert train.predict_proba(model, none.x, torch.device("cpu")).shape == (0, 8)
    with pytest.raises(ValueError, match="keep: last"):
        train.fit(training, none, dataclasses.replace(last, keep="best"), seed=0, device=torch.device("cpu"),
                  progress=False)


def test_onecycle_keep_last_runs_every_epoch_and_is_deterministic(fixture_arrays):
    settings = dataclasses.replace(TrainSettings(), model="temporal", schedule="onecycle", keep="last", mixup=0.4,
                                   lr=3e-3, max_epochs=5, patience=1, batch_size=16)
    first = train.fit(*fixture_arrays, settings, seed=0, device=torch.device("cpu"), progress=False)
    again = train.fit(*fixture_arrays, settings, seed=0, device=torch.device("cpu"), progress=False)
    assert len(first.history) == 5 and first.best_epoch == 5  # patience does not apply: the schedule runs out
    assert first.history == again.history
    assert all(torch.equal(first.state[k], again.state[k]) for k in first.state)
    model = build("temporal", fixture_arrays[1].shapes, dropout=settings.dropout)
    model.load_state_dict(first.state)
    accuracy = (train.predict_proba(model, fixture_arrays[1].x, torch.device("cpu")).argmax(1)
                == fixture_arrays[1].y).mean()
    assert accuracy > 0.5  # chance is 0.125
    assert first.history[-1]["val_acc"] == pytest.approx(accuracy)  # the saved weights are the final ones


def test_label_smoothing_tempers_the_trained_models_confidence(fixture_arrays):
    settings = dataclasses.replace(TrainSettings(), model="temporal", schedule="onecycle", keep="last", lr=3e-3,
                                   max_epochs=5, batch_size=16)
    confidence = {}
    for smoothing in (0.0, 0.3):
        fitted = train.fit(*fixture_arrays, dataclasses.replace(settings, label_smoothing=smoothing), seed=0,
                           device=torch.device("cpu"), progress=False)
        model = build("temporal", fixture_arrays[0].shapes, dropout=settings.dropout)
        model.load_state_dict(fitted.state)
        confidence[smoothing] = train.predict_proba(model, fixture_arrays[0].x, torch.device("cpu")).max(1).mean()
        if smoothing:  # the loss against a smoothed target never reaches 0; the validation loss stays one-hot
            assert fitted.history[-1]["train_loss"] > 0.3
    assert confidence[0.3] < confidence[0.0] - 0.05


def test_mix_batch_blends_every_input_with_one_partner_and_weight():
    xs = [torch.arange(8.0).reshape(8, 1, 1), 10 * torch.arange(8.0).reshape(8, 1, 1)]
    mixed, partner, weight = train.mix_batch(xs, 0.4, torch.Generator().manual_seed(3))
    assert 0.0 <= weight <= 1.0 and sorted(partner.tolist()) == list(range(8))
    expected = weight * torch.arange(8.0) + (1 - weight) * partner.float()
    assert torch.allclose(mixed[0].flatten(), expected) and torch.allclose(mixed[1].flatten(), 10 * expected)
    again = train.mix_batch(xs, 0.4, torch.Generator().manual_seed(3))
    assert again[2] == weight and torch.equal(again[1], partner)


def test_mask_batch_zeroes_a_band_and_a_span():
    x = torch.ones(64, 40, 50)
    masked = train.mask_batch(x, torch.Generator().manual_seed(0), max_fraction=0.2)
    zero_rows = (masked == 0).all(dim=2).sum(dim=1)
    zero_cols = (masked == 0).all(dim=1).sum(dim=1)
    assert zero_rows.max() <= 8 and zero_cols.max() <= 10 and (masked == 0).any()
    assert torch.equal(x, torch.ones(64, 40, 50))  # the input is left alone


def test_scores():
    y_true = np.array([0, 0, 1, 1, 2, 2, 2, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2, 0, 0])
    s = evaluate.scores(y_true, y_pred)
    assert s["accuracy"] == pytest.approx(5 / 8)
    assert s["uar"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert s["recall"]["neutral"] == 0.5 and s["recall"]["happy"] == 0.5
    summary = evaluate.summarise([s, {**s, "accuracy": 0.5}])
    assert summary["accuracy"] == pytest.approx(0.5625) and summary["accuracy_std"] > 0
    matrix = evaluate.normalised_confusion(y_true, y_pred)
    assert matrix.shape == (8, 8) and matrix[2, 0] == 0.5 and matrix[:3].sum(axis=1) == pytest.approx([1, 1, 1])


def test_seed_ensemble_scores_the_mean_probability_per_fold():
    # each seed alone gets one clip of two right; their mean probabilities get both
    first, second = np.array([[0.9, 0.1], [0.6, 0.4]]), np.array([[0.4, 0.6], [0.1, 0.9]])
    y = np.array([0, 1])
    assert evaluate.scores(y, first.argmax(1))["accuracy"] == evaluate.scores(y, second.argmax(1))["accuracy"] == 0.5
    assert evaluate.seed_ensemble({None: y}, {None: [first, second]})["accuracy"] == 1.0
    # k-fold: one score per fold, then mean and std over folds
    kfold = evaluate.seed_ensemble({0: y, 1: y}, {0: [first, second], 1: [first, first]})
    assert kfold["accuracy"] == pytest.approx(0.75) and kfold["accuracy_std"] > 0


def test_paper_fusion_is_both_conv_branches_flattened_and_one_linear():
    model = build("paper", [(30, 216), (128, 32)])
    assert isinstance(model, FusionCNN) and len(model.branches) == 2
    assert model.classifier.in_features == 16 * 15 * 108 + 16 * 64 * 16
    assert [type(m) for m in model.branches[0].features] == [nn.Conv2d, nn.ReLU, nn.MaxPool2d, nn.Dropout, nn.Flatten]
    assert model(torch.zeros(2, 30, 216), torch.zeros(2, 128, 32)).shape == (2, 8)
    ours = build("emocnn", [(30, 216), (128, 32)])
    assert ours.classifier.in_features == 2 * 160 * 2


def test_fit_trains_a_fusion_of_two_inputs(fixture_arrays):
    train_set, val_set = fixture_arrays
    rng = np.random.default_rng(1)
    noise = [arrays.Arrays(x=(a.x, rng.normal(size=(len(a.y), 8, 6)).astype(np.float32)), y=a.y, index=a.index)
             for a in (train_set, val_set)]
    settings = dataclasses.replace(TrainSettings(), max_epochs=6, patience=6, batch_size=16)
    result = train.fit(*noise, settings, seed=0, device=torch.device("cpu"), progress=False)
    model = build("emocnn", noise[0].shapes, dropout=settings.dropout)
    model.load_state_dict(result.state)
    accuracy = (train.predict_proba(model, noise[1].x, torch.device("cpu")).argmax(1) == noise[1].y).mean()
    assert accuracy > 0.5  # the audio-like input carries the class; chance is 0.125


def _arrays(labels, index):
    labels = np.asarray(labels)
    return arrays.Arrays(x=np.asarray(index, np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32), y=labels,
                        index=np.asarray(index))


def test_clip_pairing_joins_the_same_plan_rows():
    audio = _arrays([0, 1, 2, 3], [2, 4, 6, 8])
    video = _arrays([1, 2, 3, 4], [4, 6, 8, 10])  # row 2 has no video, row 10 no audio
    paired = fusion.pair_by_clip(audio, video)
    assert list(paired.index) == [4, 6, 8] and list(paired.y) == [1, 2, 3]
    assert np.array_equal(paired.x[0][:, 0, 0], paired.x[1][:, 0, 0])  # each value is its row number


def test_class_pairing_draws_a_video_of_the_same_class_and_is_seeded():
    audio = _arrays([0, 0, 1, 1, 1], [0, 1, 2, 3, 4])
    video = _arrays([1, 0, 1, 0], [10, 11, 12, 13])
    first = fusion.pair({"test": audio}, {"test": video}, "class", seed=0)["test"]
    again = fusion.pair({"test": audio}, {"test": video}, "class", seed=0)["test"]
    partner_rows = first.x[1][:, 0, 0].astype(int)
    assert [{10: 1, 11: 0, 12: 1, 13: 0}[r] for r in partner_rows] == [0, 0, 1, 1, 1]
    assert np.array_equal(first.x[1], again.x[1])


def test_kfold_rotates_actor_groups_and_tests_original_clips_only(toy, tmp_path):
    plan, features = toy
    valid = np.ones(len(plan), bool)
    folds = ((1,), (2,), (3,))
    # every actor but the fold's own trains (EmoBox's 20 of 24): no validation fold is held back
    assert split.fold_actors(folds, 2, {1, 2, 3}) == {"train": {1, 2}, "val": set(), "test": {3}}
    counts = split.prepare(features, plan, valid, True, tmp_path / "k.npz", folds)
    assert counts["fold0"] == {"train": 4, "val": 0, "test": 6}  # actor 1 tests on its 6 originals, no copies
    assert counts["fold2"] == {"train": 10, "val": 0, "test": 2}  # actor 1 with its copies, actor 2
    assert counts["train"] == 8  # the hold-out split is still there
    assert arrays.folds_in(tmp_path / "k.npz") == [0, 1, 2]
    fold0 = arrays.load_arrays(features, tmp_path / "k.npz", speaker_norm=False, fold=0)
    assert list(fold0["test"].index) == list(range(6)) and list(fold0["train"].index) == [8, 9, 10, 11]
    assert abs(fold0["train"].x.mean()) < 1e-3  # normalised with the fold's own training rows
    assert split.protocol_of(tmp_path / "k.npz") == {"protocol": "folds", "fold_test_actors": [[1], [2], [3]]}
    split.prepare(features, plan, valid, True, tmp_path / "e.npz", folds, "emobox")
    assert split.protocol_of(tmp_path / "e.npz")["protocol"] == "emobox"
    split.prepare(features, plan, valid, True, tmp_path / "h.npz")
    assert split.protocol_of(tmp_path / "h.npz") == {"protocol": "holdout", "test_actors": [3]}


def test_per_fold_scores_average_each_folds_seeds():
    runs = [{"fold": f, "seed": s, "accuracy": a, "uar": a, "macro_f1": a, "recall": {e: a for e in EMOTIONS}}
            for f, s, a in [(0, 0, 0.5), (0, 1, 0.7), (1, 0, 0.2), (1, 1, 0.2)]]
    folds = evaluate.per_fold(runs, [[1, 11], [4, 10]], {0: 40, 1: 30})
    assert [f["test_actors"] for f in folds] == [[1, 11], [4, 10]] and [f["n_test"] for f in folds] == [40, 30]
    assert folds[0]["accuracy"] == pytest.approx(0.6) and folds[0]["accuracy_std"] == pytest.approx(0.1414, abs=1e-4)
    assert folds[1]["accuracy"] == pytest.approx(0.2) and folds[1]["accuracy_std"] == 0.0


def test_kfold_params_need_every_actor_augmented():
    from emo.core.params import Params, ParamsError, from_dict

    folds = [[1, 2], [3, 4], [5, 6]]
    every = {"splits": ["train", "val", "test"]}
    with pytest.raises(ParamsError, match=r"augment.splits: \[train, val, test\]"):
        from_dict(Params, {"split": {"protocol": "folds", "folds": folds}})
    with pytest.raises(ParamsError, match=r"split.protocol emobox: .*augment.splits: \[train, val, test\]"):
        from_dict(Params, {"split": {"protocol": "emobox"}})
    # every actor but the test fold's trains: none is left to early-stop on
    with pytest.raises(ParamsError, match=r"k-fold .* train.paper.keep: best needs keep: last"):
        from_dict(Params, {"split": {"protocol": "emobox"}, "augment": every, "train": {"preset": "paper"}})
    ok = from_dict(Params, {"split": {"protocol": "folds", "folds": folds}, "augment": every})
    assert ok.split.folds == ok.split.kfold == ((1, 2), (3, 4), (5, 6))
    with pytest.raises(ParamsError, match="at most once"):
        from_dict(Params, {"split": {"protocol": "folds", "folds": [[1], [1], [2]]}, "augment": every})


def test_protocols_name_their_folds():
    from emo.core.params import EMOBOX_FOLDS, Params, ParamsError, from_dict

    assert from_dict(Params, {}).split.kfold == ()  # holdout: actors 21-22 validate, 23-24 test
    emobox = from_dict(Params, {"split": {"protocol": "emobox"}, "augment": {"splits": ["train", "val", "test"]}})
    assert emobox.split.kfold == EMOBOX_FOLDS
    assert sorted(a for fold in EMOBOX_FOLDS for a in fold) == list(range(1, 25))  # every actor tested once
    assert EMOBOX_FOLDS[0] == (1, 11, 20, 21) and EMOBOX_FOLDS[5] == (6, 13, 17, 22)
    with pytest.raises(ParamsError, match="split.folds is set but split.protocol is 'holdout'"):
        from_dict(Params, {"split": {"folds": [[1], [2], [3]]}})
    with pytest.raises(ParamsError, match="split.protocol is 'folds' but split.folds is empty"):
        from_dict(Params, {"split": {"protocol": "folds"}})
    with pytest.raises(ParamsError, match=r"split\.protocol: 'kfold'.*one of holdout, emobox, folds"):
        from_dict(Params, {"split": {"protocol": "kfold"}})


class Crafted:
    """A pickled object whose unpickling creates a file: what a hostile checkpoint could run instead."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (pathlib.Path.touch, (pathlib.Path(self.marker),))


def _saved_checkpoint(path, fold=None):
    """A checkpoint as the train stage writes it: one short run of a small model."""
    model = build("temporal", [(4, 5)])
    run = train.FitResult(seed=0, state={k: v.clone() for k, v in model.state_dict().items()}, best_epoch=1,
                          seconds=0.5, history=[{"epoch": 1, "train_loss": 2.0, "train_acc": 0.1, "val_loss": 2.1,
                                                 "val_acc": 0.2}], fold=fold)
    shapes = arrays.Arrays(x=np.zeros((2, 4, 5), np.float32), y=np.zeros(2, np.int64), index=np.arange(2)).shapes
    saved = checkpoints.checkpoint([run], dataclasses.replace(TrainSettings(), model="temporal"), shapes,
                                   preset="ours", model="mfcc", balance="balanced", fusion=vars(FusionParams()),
                                   device="cpu")
    checkpoints.save(saved, path)
    return path


def test_checkpoints_emo_saves_are_weights_and_plain_values(tmp_path):
    saved = checkpoints.load_checkpoint(_saved_checkpoint(tmp_path / "m.pt", fold=2), "fix")  # weights_only=True
    assert saved["input_shapes"] == [(4, 5)] and saved["fusion"]["pairing"] == "clip"
    assert saved["runs"][0]["fold"] == 2 and saved["runs"][0]["history"][0]["val_acc"] == 0.2
    assert isinstance(checkpoints.rebuild(saved, saved["runs"][0]), nn.Module)


def test_a_crafted_checkpoint_is_refused_and_runs_no_code(tmp_path, monkeypatch):
    marker = tmp_path / "code-ran"
    good = torch.load(_saved_checkpoint(tmp_path / "good.pt"), weights_only=True)
    (tmp_path / "models").mkdir()
    crafted = tmp_path / "models/audio_mfcc_balanced.pt"
    torch.save({**good, "runs": [{**good["runs"][0], "history": Crafted(marker)}]}, crafted)
    with pytest.raises(checkpoints.CheckpointError, match=rf"^{crafted}: refused: it holds pickled Python objects "
                                                    r"\(getattr\) besides weights.*re-train it with "
                                                    r"`dvc repro -f train@mfcc`$"):
        checkpoints.load_checkpoint(crafted, "re-train it with `dvc repro -f train@mfcc`")
    monkeypatch.chdir(tmp_path)  # the evaluate stage reads models/<name>.pt through the same loader
    with pytest.raises(checkpoints.CheckpointError, match="refused"):
        evaluate.evaluate_model("mfcc", "balanced", FusionParams())
    assert not marker.exists()
    torch.load(crafted, weights_only=False)  # what evaluate did before: the file really is hostile
    assert marker.exists()


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty", "a tensor", "no runs", "a run without state"])
def test_a_damaged_checkpoint_is_one_line_naming_the_file_and_the_fix(tmp_path, damage):
    path = _saved_checkpoint(tmp_path / "m.pt")
    good = torch.load(path, weights_only=True)
    if damage == "truncated":
        path.write_bytes(path.read_bytes()[:len(path.read_bytes()) // 2])
    elif damage in ("garbage", "empty"):
        path.write_bytes(b"not a checkpoint at all" if damage == "garbage" else b"")
    else:
        torch.save({"a tensor": torch.zeros(3), "no runs": {**good, "runs": []},
                    "a run without state": {**good, "runs": [{"seed": 0}]}}[damage], path)
    with pytest.raises(checkpoints.CheckpointError) as caught:
        checkpoints.load_checkpoint(path, "re-train it with `dvc repro -f train@mfcc`")
    message = str(caught.value)
    assert message.startswith(f"{path}: not a ") and message.endswith("`dvc repro -f train@mfcc`")
    assert "\n" not in message


TOO_HIGH = r"the learning rate 1000000000\.0 is too high for this recipe: lower train\.<preset>\.lr"


@pytest.mark.parametrize(("where", "cause"), [("lr", TOO_HIGH), ("train", "the inputs hold NaN or inf values"),
                                              ("val", "the inputs hold NaN or inf values")], ids=["lr", "train", "val"])
def test_a_non_finite_loss_stops_training_naming_epoch_seed_and_cause(fixture_arrays, where, cause):
    train_set, val_set = (dataclasses.replace(a, x=a.x.copy()) for a in fixture_arrays)
    settings = dataclasses.replace(TrainSettings(), model="temporal", max_epochs=3, batch_size=16,
                                   lr=1e9 if where == "lr" else 1e-3)
    if where != "lr":
        (train_set if where == "train" else val_set).x[5, 2, 3] = np.nan
    which = "validation" if where == "val" else "training"
    with pytest.raises(train.DivergedError, match=rf"^audio_mfcc_balanced fold 1 seed 7: {which} loss is nan at "
                                                  rf"epoch \d; {cause}"):
        train.fit(train_set, val_set, settings, seed=7, device=torch.device("cpu"), progress=False,
                  desc="audio_mfcc_balanced fold 1")


def test_the_train_stage_on_a_diverging_loss_exits_1_and_writes_no_model(toy, tmp_path):
    plan, features = toy
    (tmp_path / "data/features").mkdir(parents=True)
    np.save(tmp_path / "data/features/mfcc.npy", features)
    for balance in ("unbalanced", "balanced"):
        split.prepare(features, plan, np.ones(len(plan), bool), balance == "balanced",
                      tmp_path / f"data/split/mfcc_{balance}.npz")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw["train"].update(seeds=[0], ours={**raw["train"]["ours"], "lr": 1e9, "max_epochs": 3})
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    result = subprocess.run([sys.executable, str(REPO / "stages/train.py"), "mfcc"], cwd=tmp_path,
                            capture_output=True, text=True)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert re.fullmatch(r"error: audio_mfcc_(un)?balanced seed 0: (training|validation) loss is nan at epoch \d; the "
                        r"learning rate 1000000000\.0 is too high.*", result.stderr.splitlines()[-1])
    assert not (tmp_path / "models").exists() and not (tmp_path / "plots").exists()


@pytest.fixture
def workspace(toy, tmp_path, monkeypatch):
    """A project folder with the toy plan's features and split files, as the stages leave them."""
    from emo.core import layout
    from emo.data import augment

    plan, features = toy
    monkeypatch.chdir(tmp_path)
    layout.feature_file("mfcc").parent.mkdir(parents=True)
    np.save(layout.feature_file("mfcc"), features)
    np.save(layout.valid_file("mfcc"), np.ones(len(plan), bool))
    augment.write(plan, layout.PLAN)
    split.prepare(features, plan, np.ones(len(plan), bool), True, layout.split_file("mfcc", "balanced"))
    return tmp_path


@pytest.mark.parametrize(("damage", "message"), [
    ("plan.csv garbage", r"data/augment/plan\.csv is unreadable .*; re-make it with `dvc repro -f augment`"),
    ("plan.csv empty", r"data/augment/plan\.csv holds no clips: .* run `dvc repro -f augment`"),
    ("mfcc.npy truncated", r"data/features/mfcc\.npy is unreadable .*`dvc repro -f featurize`"),
    ("mfcc.npy pickled", r"data/features/mfcc\.npy is unreadable .*`dvc repro -f featurize`"),
    ("valid.npy missing", r"data/features/valid\.npy is missing: run `dvc repro featurize`"),
    ("valid.npy stale", r"data/features/mfcc\.npy \(12 rows\), data/features/valid\.npy \(5\) and "
                        r"data/augment/plan\.csv \(12\) are out of step: run `dvc repro featurize`"),
])
def test_a_damaged_split_input_names_the_file_and_the_stage_to_rerun(workspace, damage, message):
    from emo.data import datasets

    name, how = damage.split(" ")
    path = next(workspace.rglob(name))
    if how == "garbage":
        path.write_text("index,nonsense\n1,2\n")
    elif how == "empty":
        path.write_text(path.read_text().splitlines()[0] + "\n")
    elif how == "truncated":
        path.write_bytes(path.read_bytes()[:200])
    elif how == "pickled":
        np.save(path, np.array([Crafted(workspace / "code-ran")], dtype=object), allow_pickle=True)
    elif how == "missing":
        path.unlink()
    else:
        np.save(path, np.ones(5, bool))
    with pytest.raises(EmoError, match=f"^{message}$"):
        datasets.split_inputs("mfcc")
    assert not (workspace / "code-ran").exists()


@pytest.mark.parametrize("damage", ["missing", "garbage", "truncated", "stale"])
def test_a_damaged_split_file_names_the_split_stage_to_rerun(workspace, damage):
    from emo.core import layout
    from emo.data import datasets

    path = layout.split_file("mfcc", "balanced")
    if damage == "missing":
        path.unlink()
    elif damage == "stale":  # features re-made with fewer rows than the split file indexes
        np.save(layout.feature_file("mfcc"), np.zeros((3, 4, 5), np.float32))
    else:
        path.write_bytes(b"junk" if damage == "garbage" else path.read_bytes()[:300])
    fix = "run `dvc repro split@mfcc-balanced`" if damage == "missing" else "`dvc repro -f split@mfcc-balanced`"
    with pytest.raises(EmoError, match=f"^{path} .*{re.escape(fix)}$"):
        datasets.load_model_inputs("mfcc", "balanced", True, FusionParams())
    if damage != "stale":  # the train stage reads the folds first
        with pytest.raises(EmoError, match=f"^{path} .*{re.escape(fix)}$"):
            datasets.model_folds("mfcc", "balanced", FusionParams())


def test_a_kfold_fold_loads_without_validation_rows_and_a_holdout_split_needs_them(toy, tmp_path, monkeypatch):
    """The pipeline's loader: k-fold has no validation rows by design (EmoBox's 20 training actors); a hold-out
    split without them is a data problem, named."""
    from emo.core import layout
    from emo.data import datasets
    from emo.data.datasets import MissingInputError

    plan, features = toy
    monkeypatch.chdir(tmp_path)
    (tmp_path / layout.feature_file("logmel")).parent.mkdir(parents=True)
    np.save(tmp_path / layout.feature_file("logmel"), features)
    split_file = tmp_path / layout.split_file("logmel", "balanced")
    split_file.parent.mkdir(parents=True)
    split.prepare(features, plan, np.ones(len(plan), bool), True, split_file, ((1,), (2,), (3,)), "folds")
    fold = datasets.load_input("logmel", "balanced", False, fold=0)
    assert not len(fold["val"].y) and len(fold["train"].y) == 4 and len(fold["test"].y) == 6
    no_val = [dataclasses.replace(p, split="train") if p.split == "val" else p for p in plan]
    split.prepare(features, no_val, np.ones(len(plan), bool), True, split_file)
    with pytest.raises(MissingInputError, match="no val rows"):
        datasets.load_input("logmel", "balanced", False)
