"""Training: normalised arrays per split, seeded mini-batch Adam, early stopping, best-validation weights."""

from __future__ import annotations

import copy
import logging
import math
import pickle
import random
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from emo.core.errors import EmoError
from emo.core.params import ParamsError, TrainSettings
from emo.data import split
from emo.learn import models

log = logging.getLogger(__name__)


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


@dataclass
class FitResult:
    """Best-validation weights of one seed's run, and what happened on the way."""

    seed: int
    state: dict
    best_epoch: int
    seconds: float
    history: list[dict] = field(default_factory=list)
    fold: int | None = None  # k-fold mode: which fold's actors were held out


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class DivergedError(EmoError):
    """Training reached a NaN or infinite loss; no model is saved."""


class CheckpointError(EmoError):
    """A model file that is missing, unreadable, or holds more than weights and plain values."""


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' and 'cuda:N' must name a device torch sees."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ParamsError(f"train.device: {name!r} but torch sees {torch.cuda.device_count()} CUDA device(s); "
                          "use 'auto' or 'cpu'")
    return device


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
    mean, std = ((saved[f"{prefix}post_speaker_mean"], saved[f"{prefix}post_speaker_std"]) if speaker_norm
                 else (saved[f"{prefix}mean"], saved[f"{prefix}std"]))
    arrays = {}
    for name in splits:
        index = np.sort(saved[f"{prefix}{name}_idx"])
        x = np.asarray(features[index], dtype=np.float32)
        if speaker_norm:
            x = split.speaker_normalize(x, saved["actors"][index], saved)
        arrays[name] = Arrays(x=((x - mean) / std).astype(np.float32), y=saved["labels"][index], index=index)
    return arrays


def mask_batch(x: torch.Tensor, generator: torch.Generator, max_fraction: float = 0.15) -> torch.Tensor:
    """SpecAugment-style: zero one random band of bins and one random span of frames in each clip."""
    batch, bins, frames = x.shape
    out = x.clone()
    for size, axis in ((bins, 1), (frames, 2)):
        width = (torch.rand(batch, generator=generator) * max_fraction * size).long()
        start = (torch.rand(batch, generator=generator) * (size - width)).long()
        positions = torch.arange(size).unsqueeze(0)
        band = (positions >= start.unsqueeze(1)) & (positions < (start + width).unsqueeze(1))
        out = out.masked_fill(band.unsqueeze(2) if axis == 1 else band.unsqueeze(1), 0.0)
    return out


def mix_batch(xs: list[torch.Tensor], alpha: float,
              generator: torch.Generator) -> tuple[list[torch.Tensor], torch.Tensor, float]:
    """mixup: blend each clip with a random partner from the batch by one Beta(alpha, alpha) weight (shared by
    the inputs of a fusion); returns the blended inputs, each clip's partner, and the clips' own weight."""
    # Both draws come from the run's generator, so a seed fixes the whole training.
    draw_seed = int(torch.randint(2**31 - 1, (1,), generator=generator))
    weight = float(np.random.default_rng(draw_seed).beta(alpha, alpha))
    partner = torch.randperm(len(xs[0]), generator=generator)
    return [weight * x + (1 - weight) * x[partner.to(x.device)] for x in xs], partner, weight


def _evaluate(model: nn.Module, xs: list[torch.Tensor], y: torch.Tensor, batch_size: int) -> tuple[float, float]:
    model.eval()
    loss, correct = 0.0, 0
    with torch.no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(*(x[start:start + batch_size] for x in xs))
            loss += nn.functional.cross_entropy(logits, y[start:start + batch_size], reduction="sum").item()
            correct += (logits.argmax(1) == y[start:start + batch_size]).sum().item()
    return loss / len(y), correct / len(y)


def _require_finite(loss: float, which: str, epoch: int, seed: int, desc: str, lr: float,
                    inputs: list[torch.Tensor]) -> None:
    """Stop at a NaN or infinite loss, which would otherwise train on and save a useless model."""
    if math.isfinite(loss):
        return
    cause = ("the inputs hold NaN or inf values: re-make the features (`dvc repro -f featurize`, or `embed` for "
             "video)" if not all(torch.isfinite(x).all() for x in inputs) else
             f"the learning rate {lr} is too high for this recipe: lower train.<preset>.lr")
    raise DivergedError(f"{desc} seed {seed}: {which} loss is {loss} at epoch {epoch}; {cause}. No model was saved")


def fit(train: Arrays, val: Arrays, settings: TrainSettings, seed: int, device: torch.device,
        progress: bool = True, desc: str = "train", n_classes: int = 8) -> FitResult:
    """Train one model; stop when validation loss has not improved for `patience` epochs; keep the best.
    `n_classes`: the model's outputs (RAVDESS's eight; more for a model of several corpora, emo.studies.multicorpus)."""
    seed_everything(seed)
    generator = torch.Generator().manual_seed(seed)
    model = models.build(settings.model, train.shapes, n_classes, dropout=settings.dropout).to(device)
    optimizer_class = torch.optim.AdamW if settings.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_class(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    steps_per_epoch = -(-len(train.y) // settings.batch_size)
    scheduler = (torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=settings.lr, pct_start=0.2,
                                                     total_steps=settings.max_epochs * steps_per_epoch)
                 if settings.schedule == "onecycle" else None)
    x_train, y_train = [torch.from_numpy(a) for a in train.inputs], torch.from_numpy(train.y)
    x_val, y_val = [torch.from_numpy(a).to(device) for a in val.inputs], torch.from_numpy(val.y).to(device)
    best_loss, best_epoch, best_state, history = float("inf"), 0, None, []
    start = time.perf_counter()
    bar = tqdm(range(1, settings.max_epochs + 1), desc=f"{desc} seed {seed}", unit="epoch", disable=not progress)
    for epoch in bar:
        model.train()
        order = torch.randperm(len(y_train), generator=generator)
        total, correct = 0.0, 0
        for batch in order.split(settings.batch_size):
            xb, yb = [x[batch] for x in x_train], y_train[batch]
            if settings.spec_augment:
                xb = [mask_batch(x, generator) for x in xb]
            xb, yb = [x.to(device) for x in xb], yb.to(device)
            if settings.mixup:
                xb, mixed_with, weight = mix_batch(xb, settings.mixup, generator)
                logits = model(*xb)
                loss = (weight * nn.functional.cross_entropy(logits, yb)
                        + (1 - weight) * nn.functional.cross_entropy(logits, yb[mixed_with.to(device)]))
            else:
                logits = model(*xb)
                loss = nn.functional.cross_entropy(logits, yb)
            _require_finite(loss.item(), "training", epoch, seed, desc, settings.lr, xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(batch)
            correct += (logits.argmax(1) == yb).sum().item()
        val_loss, val_acc = _evaluate(model, x_val, y_val, 256)
        _require_finite(val_loss, "validation", epoch, seed, desc, settings.lr, x_val)
        history.append({"epoch": epoch, "train_loss": total / len(y_train), "train_acc": correct / len(y_train),
                        "val_loss": val_loss, "val_acc": val_acc})
        bar.set_postfix(val_loss=f"{val_loss:.3f}", val_acc=f"{val_acc:.3f}")
        if settings.keep == "last":
            continue  # the whole schedule runs; the final weights are saved below
        if val_loss < best_loss:
            best_loss, best_epoch = val_loss, epoch
            best_state = copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()})
        elif epoch - best_epoch >= settings.patience:
            log.info("%s seed %d: early stop at epoch %d (best %d)", desc, seed, epoch, best_epoch)
            break
    if settings.keep == "last":
        best_epoch, best_state = len(history), {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
    return FitResult(seed=seed, state=best_state, best_epoch=best_epoch, seconds=time.perf_counter() - start,
                     history=history)


def predict_proba(model: nn.Module, x: np.ndarray | tuple[np.ndarray, ...], device: torch.device,
                  batch_size: int = 256) -> np.ndarray:
    """Class probabilities [clips, classes] for one input array, or a tuple of them for a fusion."""
    inputs = x if isinstance(x, tuple) else (x,)
    model.eval().to(device)
    out = []
    with torch.no_grad():
        for start in range(0, len(inputs[0]), batch_size):
            batch = [torch.from_numpy(np.ascontiguousarray(a[start:start + batch_size])).to(device) for a in inputs]
            out.append(torch.softmax(model(*batch), dim=1).cpu().numpy())
    return np.concatenate(out)


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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


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


def write_history(history: list[dict], path: Path) -> None:
    """Per-epoch losses and accuracies as CSV for `dvc plots`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["epoch", "train_loss", "val_loss", "train_acc", "val_acc"]
    lines = [",".join(columns)] + [",".join(f"{h[c]:.6g}" for c in columns) for h in history]
    path.write_text("\n".join(lines) + "\n")
