"""The augmentation plan: deterministic, training split only by default, balanced on demand."""

from collections import Counter

import pytest

from emo.core.params import AudioParams, AugmentParams, ParamsError
from emo.core.ravdess import ActorSplit
from emo.data import augment
from emo.data.inventory import build


@pytest.fixture(scope="module")
def rows(fixture_dataset):
    return build(fixture_dataset, ActorSplit())


def test_originals_of_every_split_and_copies_of_training_only(rows):
    plan = augment.plan(rows, AugmentParams(), AudioParams())
    originals = [p for p in plan if p.op == "original"]
    assert len(originals) == 240  # audio rows only; video rows are not planned here
    assert {p.split for p in plan if p.op != "original"} == {"train"}
    train = [p for p in plan if p.split == "train" and not p.balance]
    assert Counter(p.op for p in train) == {"original": 120, "pitch_up": 120, "shift": 120, "noise": 120}
    assert [p.index for p in plan] == list(range(len(plan)))


def test_balancing_fills_minority_classes_to_the_largest(rows):
    plan = augment.plan(rows, AugmentParams(), AudioParams())
    summary = augment.summary(plan)
    assert summary["train"]["unbalanced"][0] == 32 and summary["train"]["unbalanced"][1] == 64
    assert set(summary["train"]["balanced"].values()) == {64}
    extras = [p for p in plan if p.balance]
    # 8 neutral training clips need 32 extra copies: each clip once per balancing augmentation, cycling
    assert {p.label for p in extras} == {0}
    assert Counter(p.op for p in extras) == {"pitch_down": 16, "shift": 8, "noise": 8}
    assert summary["test"]["balanced"] == summary["test"]["unbalanced"]


def test_explicit_target_and_papers_augment_every_split(rows):
    plan = augment.plan(rows, AugmentParams(splits=("train", "val", "test"), balance_target=100), AudioParams())
    summary = augment.summary(plan)
    assert set(summary["train"]["balanced"].values()) == {100}
    assert set(summary["test"]["balanced"].values()) == {100}
    assert summary["test"]["unbalanced"][1] == 32  # actor 23's 8 calm clips, plus three copies of each


def test_plan_is_deterministic_and_seeded(rows, tmp_path):
    first = augment.plan(rows, AugmentParams(seed=3), AudioParams())
    assert augment.plan(rows, AugmentParams(seed=3), AudioParams()) == first
    assert augment.plan(rows, AugmentParams(seed=4), AudioParams()) != first
    augment.write(first, tmp_path / "plan.csv")
    assert augment.read(tmp_path / "plan.csv") == first


def test_unknown_augmentation_is_rejected():
    with pytest.raises(ParamsError, match="augment.copies: unknown augmentation"):
        AugmentParams(copies=("reverb",))
