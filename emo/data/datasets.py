"""The arrays each model trains and is tested on: one input (mfcc, logmel, video) or audio-video pairs; and the
files earlier stages wrote, read with one line naming the file and the stage to re-run when missing or damaged."""

from __future__ import annotations

import csv
import pickle
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from emo.core import layout
from emo.core.errors import EmoError
from emo.core.params import VIDEO_BRANCH, FusionParams
from emo.data.augment import PlannedClip
from emo.data.augment import read as read_plan_csv

if TYPE_CHECKING:
    from emo.data.arrays import Arrays
# emo.learn.train (torch) is imported where used: the featurize and faces stages read their inputs here too, and fork
# worker processes, which should not inherit torch.

FUSION = "fusion"
SPLITS = ("train", "val", "test")
T = TypeVar("T")
# What reading a truncated, garbled or stale file raises: from numpy, zipfile (.npz), csv and the plan's rows.
DAMAGED = (OSError, ValueError, EOFError, KeyError, IndexError, TypeError, zipfile.BadZipFile, csv.Error,
           pickle.UnpicklingError)


class MissingInputError(EmoError):
    """A model's input is missing or has no rows: e.g. video models on a dataset of audio only."""


class DamagedInputError(EmoError):
    """A file an earlier stage wrote cannot be read, or does not fit the other inputs."""


def read_input(path: Path, stage: str, read: Callable[[Path], T]) -> T:
    """`read(path)` of a file the DVC stage `stage` writes; a missing or damaged file says to re-run that stage."""
    try:
        return read(path)
    except FileNotFoundError:
        raise MissingInputError(f"{path} is missing: run `dvc repro {stage}`") from None
    except DAMAGED as err:
        raise DamagedInputError(f"{path} is unreadable or out of step with its inputs ({type(err).__name__}); "
                                f"re-make it with `dvc repro -f {stage}`") from None


def video_stage(stage: str, *items: str) -> str:
    """How DVC names a video stage of dvc.yaml: its matrix runs over video.run ([video]) first, e.g.
    video_split@video-balanced."""
    return f"{stage}@{'-'.join((VIDEO_BRANCH, *items))}"


def feature_stage(feature: str) -> str:
    """The DVC stage that writes a feature array: featurize (mfcc, logmel) or embed@video (video)."""
    return video_stage("embed") if feature == layout.VIDEO else "featurize"


def split_stage(feature: str, balance: str) -> str:
    """The DVC stage that writes a split file."""
    return video_stage("video_split", balance) if feature == layout.VIDEO else f"split@{feature}-{balance}"


def train_stage(model: str, balance: str) -> str:
    """The DVC stage that trains a model (an input's stage trains both its balances)."""
    return {FUSION: video_stage("fusion_train"), layout.VIDEO: video_stage("video_train")}.get(model, f"train@{model}")


def stage_models(target: str) -> list[tuple[str, str]]:
    """The (model, balance) pairs one training stage trains: both balances of an input, or the fusion."""
    if target == FUSION:
        return [(FUSION, "")]
    if target not in (*layout.AUDIO_FEATURES, layout.VIDEO):
        raise EmoError(f"unknown model {target!r}: expected one of {', '.join(layout.AUDIO_FEATURES)}, "
                       f"{layout.VIDEO}, {FUSION}")
    return [(target, balance) for balance in layout.BALANCES]


def _features(path: Path) -> np.ndarray:
    return np.load(path, mmap_mode="r")  # allow_pickle stays False: a crafted .npy cannot run code


def require_rows(rows: list[T], source: Path, stage: str) -> list[T]:
    """`rows` read from `source`, or an error when the stage that makes it left none (later stages would fail
    on zero clips with an obscure message)."""
    if not rows:
        raise MissingInputError(f"{source} holds no clips: check data.source, data.parts and data.actors, then "
                                f"run `dvc repro -f {stage}`")
    return rows


def read_rows(path: Path, stage: str, read: Callable[[Path], list[T]]) -> list[T]:
    """The rows of a CSV the DVC stage `stage` writes; missing, damaged or empty, it says to re-run that stage."""
    return require_rows(read_input(path, stage, read), path, stage)


def read_plan() -> list[PlannedClip]:
    """The augmentation plan (data/augment/plan.csv)."""
    return read_rows(layout.PLAN, "augment", read_plan_csv)


def split_inputs(feature: str) -> tuple[list[PlannedClip], np.ndarray, np.ndarray]:
    """The plan, one feature array and its valid-row flags, checked to describe the same rows."""
    plan = read_plan()
    features = read_input(layout.feature_file(feature), feature_stage(feature), _features)
    valid = read_input(layout.valid_file(feature), feature_stage(feature), np.load)
    if not len(plan) == len(features) == len(valid):
        raise DamagedInputError(f"{layout.feature_file(feature)} ({len(features)} rows), "
                                f"{layout.valid_file(feature)} ({len(valid)}) and {layout.PLAN} ({len(plan)}) "
                                f"are out of step: run `dvc repro {feature_stage(feature)}`")
    return plan, features, valid


def load_input(feature: str, balance: str, speaker_norm: bool, splits: tuple[str, ...] = SPLITS,
               fold: int | None = None) -> dict[str, Arrays]:
    """Normalised arrays per split of one input (mfcc, logmel or video) from the pipeline's files."""
    from emo.data.arrays import load_arrays

    features = read_input(layout.feature_file(feature), feature_stage(feature), _features)
    split_file = layout.split_file(feature, balance)
    arrays = read_input(split_file, split_stage(feature, balance),
                        lambda path: load_arrays(features, path, speaker_norm, splits, fold))
    # a k-fold split has no validation rows by design (every actor but the test fold's trains)
    empty = [name for name, a in arrays.items() if not len(a.y) and not (fold is not None and name == "val")]
    if empty:
        where = split_file if fold is None else f"{split_file} (fold {fold})"
        raise MissingInputError(f"{feature}: no {'/'.join(empty)} rows in {where}; does the data hold this "
                                "modality for the split's actors (data.parts, split)?")
    return arrays


def load_model_inputs(model: str, balance: str, speaker_norm: bool, fusion_params: FusionParams,
                      splits: tuple[str, ...] = SPLITS, fold: int | None = None) -> dict[str, Arrays]:
    """The inputs of a model by name: an input with a balance, or `fusion` (balance from `fusion_params`)."""
    from emo.data import fusion

    if model != FUSION:
        return load_input(model, balance, speaker_norm, splits, fold)
    audio = load_input(fusion_params.audio_feature, fusion_params.balance, speaker_norm, splits, fold)
    video = load_input(layout.VIDEO, fusion_params.balance, speaker_norm, splits, fold)
    try:
        return fusion.pair(audio, video, fusion_params.pairing, fusion_params.seed)
    except ValueError as err:  # pairing 'class': a class without any video clip
        raise MissingInputError(f"fusion: {err}") from None


def model_folds(model: str, balance: str, fusion_params: FusionParams) -> list[int | None]:
    """The folds a model trains on: [None] for the hold-out split, [0, 1, ...] in k-fold mode."""
    from emo.data.arrays import folds_in

    return read_input(*_split_of(model, balance, fusion_params), folds_in)


def model_protocol(model: str, balance: str, fusion_params: FusionParams) -> dict:
    """The protocol a model's split follows and its test actors (per fold in k-fold mode)."""
    from emo.data.split import protocol_of

    return read_input(*_split_of(model, balance, fusion_params), protocol_of)


def _split_of(model: str, balance: str, fusion_params: FusionParams) -> tuple[Path, str]:
    """A model's split file (a fusion's: that of its audio input) and the stage that writes it."""
    feature, balance = (fusion_params.audio_feature, fusion_params.balance) if model == FUSION else (model, balance)
    return layout.split_file(feature, balance), split_stage(feature, balance)


def model_name(model: str, balance: str) -> str:
    """Name of a model's checkpoint, metrics and plots."""
    return FUSION if model == FUSION else layout.model_name(model, balance)


@dataclass(frozen=True)
class ModelInputs:
    """A model's inputs as a function of the fold (None: the hold-out split), comparable by value so that a
    training worker loads each fold's arrays once (emo.learn.parallel)."""

    model: str
    balance: str
    speaker_norm: bool
    fusion: FusionParams

    def __call__(self, fold: int | None) -> dict[str, Arrays]:
        return load_model_inputs(self.model, self.balance, self.speaker_norm, self.fusion, fold=fold)
