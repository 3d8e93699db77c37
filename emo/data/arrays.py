"""The arrays a model reads: the selected rows of one split, normalised with training statistics only."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from emo.data import split


@dataclass
class Arrays:
    """Normalised features and labels of one split."""

    x: np.ndarray | tuple[np.ndarray, ...]  # float32 [clips, bins, frames]; one per input for a fusion
    y: np.ndarray  # int64 [clips]
    index: np.ndarray  # rows of the feature array

    @property
    def inputs(self) -> tuple[np.ndarray, ...]:
        """The model's inputs, a one-element tuple unless this is a fusion."""
        return self.x if isinstance(self.x, tuple) else (self.x,)

    @property
    def shapes(self) -> list[tuple[int, ...]]:
        """Per input, the shape of one clip."""
        return [tuple(a.shape[1:]) for a in self.inputs]



def folds_in(split_file: Path) -> list[int | None]:
    """The folds a split file holds: [0, 1, ...] in k-fold mode, else [None] (the one hold-out split)."""
    with np.load(split_file) as saved:
        count = int(saved["folds"]) if "folds" in saved else 0
    return list(range(count)) or [None]



def load_arrays(features: np.ndarray, split_file: Path, speaker_norm: bool,
                splits: tuple[str, ...] = ("train", "val", "test"), fold: int | None = None) -> dict[str, Arrays]:
    """Per split, the selected rows normalised with training statistics (after per-speaker ones if asked)."""
    saved = dict(np.load(split_file))
    prefix = "" if fold is None else f"fold{fold}_"
    if f"{prefix}mean" not in saved:
        return {name: Arrays(x=np.zeros((0, *features.shape[1:]), np.float32), y=np.zeros(0, np.int64),
                             index=np.zeros(0, np.int64)) for name in splits}  # no training rows at all
    training = split.training_stats(saved, prefix, speaker_norm)
    by_actor = split.actor_stats(saved) if speaker_norm else None
    arrays = {}
    for name in splits:
        index = np.sort(saved[f"{prefix}{name}_idx"])
        x = np.asarray(features[index], dtype=np.float32)
        x = split.standardise(x, training, saved["actors"][index] if speaker_norm else None, by_actor)
        arrays[name] = Arrays(x=x, y=saved["labels"][index], index=index)
    return arrays
