"""Training: seeded mini-batch Adam, early stopping, best-validation weights, and class probabilities."""

from __future__ import annotations

import copy
import logging
import math
import random
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from emo.core.errors import EmoError
from emo.core.params import ParamsError, TrainSettings
from emo.data.arrays import Arrays
from emo.learn import models

log = logging.getLogger(__name__)


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


def resolve_device(name: str) -> torch.device:
    """'auto' picks CUDA when present; 'cuda' and 'cuda:N' must name a device torch sees."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise ParamsError(f"train.device: {name!r} but torch sees {torch.cuda.device_count()} CUDA device(s); "
                          "use 'auto' or 'cpu'")
    return device


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
    cause = ("the inputs hold NaN or inf values: re-make the features (`dvc repro -f featurize`, or `embed@video` "
             "for video)" if not all(torch.isfinite(x).all() for x in inputs) else
             f"the learning rate {lr} is too high for this recipe: lower train.<preset>.lr")
    raise DivergedError(f"{desc} seed {seed}: {which} loss is {loss} at epoch {epoch}; {cause}. No model was saved")


def fit(train: Arrays, val: Arrays, settings: TrainSettings, seed: int, device: torch.device,
        progress: bool = True, desc: str = "train", n_classes: int = 8) -> FitResult:
    """Train one model; stop when validation loss has not improved for `patience` epochs; keep the best.
    `n_classes`: the model's outputs (RAVDESS's eight; more for a model of several corpora, emo.studies.multicorpus).
    Without validation clips (k-fold: every actor but the test fold's trains) the learning curve has only its
    training half (val_loss and val_acc NaN), and only `keep: last` can say which weights to keep."""
    if not len(val.y) and settings.keep != "last":
        raise ValueError(f"{desc}: keep {settings.keep!r} early-stops on validation clips, and this split has none "
                         "(k-fold trains on every actor but the test fold's): use keep: last")
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
    smoothing = settings.label_smoothing  # the training loss only: validation scores the one-hot labels
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
                loss = (weight * nn.functional.cross_entropy(logits, yb, label_smoothing=smoothing)
                        + (1 - weight) * nn.functional.cross_entropy(logits, yb[mixed_with.to(device)],
                                                                    label_smoothing=smoothing))
            else:
                logits = model(*xb)
                loss = nn.functional.cross_entropy(logits, yb, label_smoothing=smoothing)
            _require_finite(loss.item(), "training", epoch, seed, desc, settings.lr, xb)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            total += loss.item() * len(batch)
            correct += (logits.argmax(1) == yb).sum().item()
        val_loss, val_acc = math.nan, math.nan  # no validation clips: the curve's training half only
        if len(y_val):
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
        if not len(inputs[0]):  # no clips (a k-fold split has no validation clips): no rows, of the model's width
            probe = [torch.zeros((1, *a.shape[1:]), device=device) for a in inputs]  # an empty batch warns in std()
            return np.zeros((0, model(*probe).shape[1]), np.float32)
        for start in range(0, len(inputs[0]), batch_size):
            batch = [torch.from_numpy(np.ascontiguousarray(a[start:start + batch_size])).to(device) for a in inputs]
            out.append(torch.softmax(model(*batch), dim=1).cpu().numpy())
    return np.concatenate(out)


def write_history(history: list[dict], path: Path) -> None:
    """Per-epoch losses and accuracies as CSV for `dvc plots`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = ["epoch", "train_loss", "val_loss", "train_acc", "val_acc"]
    lines = [",".join(columns)] + [",".join(f"{h[c]:.6g}" for c in columns) for h in history]
    path.write_text("\n".join(lines) + "\n")
