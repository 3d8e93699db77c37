"""Model files: what a checkpoint holds, written whole through a temporary file, read back weights-only."""

from __future__ import annotations

import pickle
import re
from pathlib import Path

import torch
from torch import nn

from emo.core.errors import EmoError
from emo.core.io import writing
from emo.core.params import TrainSettings
from emo.learn import models
from emo.learn.train import FitResult


class CheckpointError(EmoError):
    """A model file that is missing, unreadable, or holds more than weights and plain values."""



def checkpoint(results: list[FitResult], settings: TrainSettings, input_shapes: list[tuple[int, ...]],
               **info) -> dict:
    """Everything needed to rebuild and describe the trained models (weights on CPU)."""
    return {"settings": dict(vars(settings)), "input_shapes": [tuple(s) for s in input_shapes], **info,
            "runs": [{"seed": r.seed, "fold": r.fold, "state": r.state, "best_epoch": r.best_epoch,
                      "seconds": r.seconds, "history": r.history} for r in results]}



def rebuild(saved: dict, run: dict) -> nn.Module:
    """The network of one saved run, weights loaded."""
    settings = saved["settings"]
    model = models.build(settings["model"], saved["input_shapes"], dropout=settings["dropout"])
    model.load_state_dict(run["state"])
    return model



def save(obj: dict, path: Path) -> None:
    """torch.save through a temporary file."""
    with writing(path) as temporary:
        torch.save(obj, temporary)



def load_checkpoint(path: Path, fix: str) -> dict:
    """A checkpoint `save` wrote, read as tensors and plain values only, so that a crafted file cannot run code;
    `fix` says what makes a good one (e.g. which `dvc repro -f` re-trains it)."""
    if not path.is_file():
        raise CheckpointError(f"{path}: missing; {fix}")
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(err))
        if not found:  # a bad opcode: garbage
            raise CheckpointError(f"{path}: not a readable checkpoint (corrupt); {fix}") from None
        raise CheckpointError(f"{path}: refused: it holds pickled Python objects ({found[1]}) besides weights, and "
                              f"loading those could run code; {fix}") from None
    except Exception as err:  # a truncated or garbage file: torch raises RuntimeError, EOFError, KeyError, ...
        raise CheckpointError(f"{path}: not a readable checkpoint (truncated or corrupt: {type(err).__name__}); "
                              f"{fix}") from None
    runs = saved.get("runs") if isinstance(saved, dict) else None
    if not (isinstance(runs, list) and runs and all(isinstance(r, dict) and RUN_KEYS <= r.keys() for r in runs)
            and CHECKPOINT_KEYS <= saved.keys()):
        raise CheckpointError(f"{path}: not a checkpoint of this version of emo; {fix}")
    return saved



CHECKPOINT_KEYS = {"settings", "input_shapes", "preset", "runs"}  # what `checkpoint` writes and evaluation reads



RUN_KEYS = {"seed", "fold", "state", "best_epoch", "seconds", "history"}
