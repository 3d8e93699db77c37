"""Models, split statistics, training (determinism, early stopping) and scores."""

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from emo import evaluate, fusion, split, train
from emo.augment import PlannedClip
from emo.models import EmoCNN, FusionCNN, PaperCNN, TemporalCNN, build
from emo.params import PAPER, ParamsError, TrainSettings


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
                                            ("optimizer", "sgd"), ("mixup", -0.1)])
def test_train_settings_reject_unknown_choices(key, value):
    with pytest.raises(ParamsError, match=f"train {key}"):
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
    arrays = train.load_arrays(features, tmp_path / "s.npz", speaker_norm=True)
    saved = np.load(tmp_path / "s.npz")
    raw_test = split.speaker_normalize(features[10:12], np.array([3, 3]), saved)
    assert abs(raw_test.mean()) < 1e-5  # actor 3's originals centred on themselves
    assert arrays["test"].x.shape == (2, 4, 5) and list(arrays["test"].y) == [0, 1]


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
    settings = dataclasses.replace(PAPER, lr=0.0, max_epochs=20, patience=3)  # lr 0: loss never improves
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
        return train.Arrays(x=x, y=y, index=np.arange(n))

    return make(128), make(64)


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
    noise = [train.Arrays(x=(a.x, rng.normal(size=(len(a.y), 8, 6)).astype(np.float32)), y=a.y, index=a.index)
             for a in (train_set, val_set)]
    settings = dataclasses.replace(TrainSettings(), max_epochs=6, patience=6, batch_size=16)
    result = train.fit(*noise, settings, seed=0, device=torch.device("cpu"), progress=False)
    model = build("emocnn", noise[0].shapes, dropout=settings.dropout)
    model.load_state_dict(result.state)
    accuracy = (train.predict_proba(model, noise[1].x, torch.device("cpu")).argmax(1) == noise[1].y).mean()
    assert accuracy > 0.5  # the audio-like input carries the class; chance is 0.125


def _arrays(labels, index):
    labels = np.asarray(labels)
    return train.Arrays(x=np.asarray(index, np.float32)[:, None, None] * np.ones((1, 2, 3), np.float32), y=labels,
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
    assert split.fold_actors(folds, 2, {1, 2, 3}) == {"train": {2}, "val": {1}, "test": {3}}
    counts = split.prepare(features, plan, valid, True, tmp_path / "k.npz", folds)
    assert counts["fold0"] == {"train": 2, "val": 2, "test": 6}  # actor 1 tests on its 6 originals, no copies
    assert counts["fold2"] == {"train": 2, "val": 6, "test": 2}
    assert counts["train"] == 8  # the hold-out split is still there
    assert train.folds_in(tmp_path / "k.npz") == [0, 1, 2]
    fold0 = train.load_arrays(features, tmp_path / "k.npz", speaker_norm=False, fold=0)
    assert list(fold0["test"].index) == list(range(6)) and list(fold0["train"].index) == [10, 11]
    assert abs(fold0["train"].x.mean()) < 1e-3  # normalised with the fold's own training rows


def test_kfold_params_need_every_actor_augmented():
    from emo.params import Params, ParamsError, from_dict

    folds = [[1, 2], [3, 4], [5, 6]]
    with pytest.raises(ParamsError, match=r"augment.splits: \[train, val, test\]"):
        from_dict(Params, {"split": {"folds": folds}})
    ok = from_dict(Params, {"split": {"folds": folds}, "augment": {"splits": ["train", "val", "test"]}})
    assert ok.split.folds == ((1, 2), (3, 4), (5, 6))
    with pytest.raises(ParamsError, match="at most once"):
        from_dict(Params, {"split": {"folds": [[1], [1], [2]]}, "augment": {"splits": ["train", "val", "test"]}})
