"""A small learnable training problem (8 classes told apart by which bins are loud), picklable for any worker
process or Dask worker, and a bit-for-bit comparison of trained runs: shared by the training and executor tests."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from emo.core.errors import EmoError
from emo.core.params import TrainSettings
from emo.data import arrays
from emo.learn import train

SETTINGS = dataclasses.replace(TrainSettings(), model="temporal", schedule="onecycle", keep="last", lr=3e-3,
                               max_epochs=3, batch_size=16, mixup=0.4, spec_augment=True)


@dataclasses.dataclass(frozen=True)
class ToyInputs:
    """Per fold, the problem's training and validation arrays; `broken_fold` fails as a fold without rows does."""

    broken_fold: int | None = -1

    def __call__(self, fold):
        if fold == self.broken_fold:
            raise EmoError(f"fold {fold}: no training rows")
        rng = np.random.default_rng(0 if fold is None else fold + 1)

        def make(n):
            y = rng.integers(0, 8, n)
            x = rng.normal(size=(n, 16, 20)).astype(np.float32)
            x[np.arange(n), y * 2] += 3
            return arrays.Arrays(x=x, y=y, index=np.arange(n))

        return {"train": make(96), "val": make(32)}


def same_models(a: list[train.FitResult], b: list[train.FitResult]) -> bool:
    """Whether two lists of runs are the same runs with bit-identical weights and histories."""
    return [(r.fold, r.seed, r.history) for r in a] == [(r.fold, r.seed, r.history) for r in b] and all(
        torch.equal(x.state[k], y.state[k]) for x, y in zip(a, b, strict=True) for k in x.state)
