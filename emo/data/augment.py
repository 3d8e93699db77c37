"""The augmentation plan: which clip gets which augmented copy, and extra copies that balance classes."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from emo.core.io import write_csv
from emo.core.params import AudioParams, AugmentParams
from emo.data.inventory import Row


@dataclass(frozen=True)
class PlannedClip:
    """One row of features to compute: an original clip, or an augmented copy of one."""

    index: int
    path: str  # the audio-only (03) clip; '' when the performance has no audio
    video: str  # the video-only (02) clip of the same performance; '' when there is none
    split: str
    actor: int
    label: int
    performance: str
    op: str  # original | pitch_up | pitch_down | shift | noise | chain (a random recording chain, emo.audio.chain)
    balance: bool  # an extra copy made only to balance the classes
    pitch: float  # semitones
    shift: int  # samples
    noise_seed: int  # seeds the random draws of a noise or chain copy


@dataclass(frozen=True)
class Performance:
    """One performance: its audio-only and video-only files (either may be missing) and its labels."""

    audio: str
    video: str
    split: str
    actor: int
    label: int
    key: str


def performances(rows: list[Row]) -> list[Performance]:
    """Pair each performance's audio-only (03) and video-only (02) clips, ordered by audio path, then video."""
    by_key: dict[str, dict] = defaultdict(dict)
    for row in rows:
        if row.modality in (2, 3):
            by_key[row.performance][row.modality] = row
    out = []
    for key, clips in by_key.items():
        some = clips.get(3) or clips[2]
        out.append(Performance(audio=clips[3].path if 3 in clips else "", video=clips[2].path if 2 in clips else "",
                               split=some.split, actor=some.actor, label=some.label, key=key))
    # Audio-first order keeps an audio-only plan (and so its features) the same as before video joined.
    return sorted(out, key=lambda p: (p.audio == "", p.audio or p.video))


def _copy(source: Performance, op: str, balance: bool, rng: np.random.Generator, augment: AugmentParams,
          audio: AudioParams) -> dict:
    limit = int(augment.shift_max_seconds * audio.sample_rate)
    return dict(path=source.audio, video=source.video, split=source.split, actor=source.actor, label=source.label,
                performance=source.key, op=op, balance=balance,
                pitch={"pitch_up": augment.pitch_semitones, "pitch_down": -augment.pitch_semitones}.get(op, 0.0),
                shift=int(rng.integers(-limit, limit + 1)) if op == "shift" else 0,
                noise_seed=int(rng.integers(2**31)) if op in ("noise", "chain") else 0)


def plan(rows: list[Row], augment: AugmentParams, audio: AudioParams) -> list[PlannedClip]:
    """Originals of every performance, `augment.copies` of each in the augmented splits, then balancing copies.

    A row stands for a performance, so its audio and its video get the same augmentation slot (see
    `emo.vision.video_features` for how audio operations map to face-crop ones).

    Deterministic: the same rows and params give the same plan. Balancing adds copies to each class of an
    augmented split until it holds `balance_target` clips (default: as many as its largest class),
    cycling through the class's clips and through `augment.balance_copies`.
    """
    rng = np.random.default_rng(augment.seed)
    sources = performances(rows)
    planned = [dict(path=r.audio, video=r.video, split=r.split, actor=r.actor, label=r.label, performance=r.key,
                    op="original", balance=False, pitch=0.0, shift=0, noise_seed=0) for r in sources]
    for split in augment.splits:
        members = [r for r in sources if r.split == split]
        for source in members:
            planned += [_copy(source, op, False, rng, augment, audio) for op in augment.copies]
        per_class = Counter(p["label"] for p in planned if p["split"] == split)
        target = augment.balance_target or max(per_class.values(), default=0)
        by_class = defaultdict(list)
        for source in members:
            by_class[source.label].append(source)
        for label in sorted(by_class):
            for k in range(max(target - per_class[label], 0)):
                source = by_class[label][k % len(by_class[label])]
                op = augment.balance_copies[(k // len(by_class[label])) % len(augment.balance_copies)]
                planned.append(_copy(source, op, True, rng, augment, audio))
    return [PlannedClip(index=i, **p) for i, p in enumerate(planned)]


def write(plan_rows: list[PlannedClip], path: Path) -> None:
    """Write the plan as CSV through a temporary file."""
    write_csv(path, [f.name for f in fields(PlannedClip)], (asdict(p) for p in plan_rows))


def read(path: Path) -> list[PlannedClip]:
    """Read a plan CSV back."""
    types = {f.name: f.type for f in fields(PlannedClip)}
    convert = {"int": int, "float": float, "str": str, "bool": lambda v: v == "True"}
    with open(path, newline="") as handle:
        return [PlannedClip(**{k: convert[types[k]](v) for k, v in record.items()})
                for record in csv.DictReader(handle)]


def summary(plan_rows: list[PlannedClip]) -> dict:
    """Clips per split and class, with and without the balancing copies."""
    out = {}
    for split in ("train", "val", "test"):
        rows = [p for p in plan_rows if p.split == split]
        out[split] = {"unbalanced": dict(sorted(Counter(p.label for p in rows if not p.balance).items())),
                      "balanced": dict(sorted(Counter(p.label for p in rows).items()))}
    return out
