"""The augmentation plan: which clip gets which augmented copy, and extra copies that balance classes."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from emo.inventory import Row
from emo.params import AudioParams, AugmentParams


@dataclass(frozen=True)
class PlannedClip:
    """One row of features to compute: an original clip, or an augmented copy of one."""

    index: int
    path: str
    split: str
    actor: int
    label: int
    performance: str
    op: str  # original | pitch_up | pitch_down | shift | noise
    balance: bool  # an extra copy made only to balance the classes
    pitch: float  # semitones
    shift: int  # samples
    noise_seed: int


def _copy(source: Row, op: str, balance: bool, rng: np.random.Generator, augment: AugmentParams,
          audio: AudioParams) -> dict:
    limit = int(augment.shift_max_seconds * audio.sample_rate)
    return dict(path=source.path, split=source.split, actor=source.actor, label=source.label,
                performance=source.performance, op=op, balance=balance,
                pitch={"pitch_up": augment.pitch_semitones, "pitch_down": -augment.pitch_semitones}.get(op, 0.0),
                shift=int(rng.integers(-limit, limit + 1)) if op == "shift" else 0,
                noise_seed=int(rng.integers(2**31)) if op == "noise" else 0)


def plan(rows: list[Row], augment: AugmentParams, audio: AudioParams) -> list[PlannedClip]:
    """Originals of every split, `augment.copies` of each clip in the augmented splits, then balancing copies.

    Deterministic: the same rows and params give the same plan. Balancing adds copies to each class of an
    augmented split until it holds `balance_target` clips (default: as many as its largest class),
    cycling through the class's clips and through `augment.balance_copies`.
    """
    rng = np.random.default_rng(augment.seed)
    audio_rows = sorted((r for r in rows if r.modality == 3), key=lambda r: r.path)
    planned = [dict(path=r.path, split=r.split, actor=r.actor, label=r.label, performance=r.performance,
                    op="original", balance=False, pitch=0.0, shift=0, noise_seed=0) for r in audio_rows]
    for split in augment.splits:
        members = [r for r in audio_rows if r.split == split]
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
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in fields(PlannedClip)])
        writer.writeheader()
        writer.writerows(asdict(p) for p in plan_rows)
    tmp.replace(path)


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
