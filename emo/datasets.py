"""The arrays each model trains and is tested on: one input (mfcc, logmel, video) or audio-video pairs."""

from __future__ import annotations

import numpy as np

from emo import fusion, layout
from emo.errors import EmoError
from emo.params import FusionParams
from emo.train import Arrays, folds_in, load_arrays

FUSION = "fusion"
SPLITS = ("train", "val", "test")


class MissingInputError(EmoError):
    """A model's input has no rows: e.g. video models on a dataset of audio only."""


def load_input(feature: str, balance: str, speaker_norm: bool, splits: tuple[str, ...] = SPLITS,
               fold: int | None = None) -> dict[str, Arrays]:
    """Normalised arrays per split of one input (mfcc, logmel or video) from the pipeline's files."""
    path = layout.feature_file(feature)
    if not path.exists():
        raise MissingInputError(f"{path} is missing: run `dvc repro` for the stages that make it")
    split_file = layout.split_file(feature, balance)
    arrays = load_arrays(np.load(path, mmap_mode="r"), split_file, speaker_norm, splits, fold)
    empty = [name for name, a in arrays.items() if not len(a.y)]
    if empty:
        where = split_file if fold is None else f"{split_file} (fold {fold})"
        raise MissingInputError(f"{feature}: no {'/'.join(empty)} rows in {where}; does the data hold this "
                                "modality for the split's actors (data.parts, split)?")
    return arrays


def load_model_inputs(model: str, balance: str, speaker_norm: bool, fusion_params: FusionParams,
                      splits: tuple[str, ...] = SPLITS, fold: int | None = None) -> dict[str, Arrays]:
    """The inputs of a model by name: an input with a balance, or `fusion` (balance from `fusion_params`)."""
    if model != FUSION:
        return load_input(model, balance, speaker_norm, splits, fold)
    audio = load_input(fusion_params.audio_feature, fusion_params.balance, speaker_norm, splits, fold)
    video = load_input(layout.VIDEO, fusion_params.balance, speaker_norm, splits, fold)
    return fusion.pair(audio, video, fusion_params.pairing, fusion_params.seed)


def model_folds(model: str, balance: str, fusion_params: FusionParams) -> list[int | None]:
    """The folds a model trains on: [None] for the hold-out split, [0, 1, ...] in k-fold mode."""
    feature, balance = (fusion_params.audio_feature, fusion_params.balance) if model == FUSION else (model, balance)
    return folds_in(layout.split_file(feature, balance))


def model_name(model: str, balance: str) -> str:
    """Name of a model's checkpoint, metrics and plots."""
    return FUSION if model == FUSION else layout.model_name(model, balance)
