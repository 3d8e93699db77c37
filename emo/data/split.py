"""Speaker-independent train/val/test row selection and normalisation statistics from training rows only."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from emo.core.io import writing
from emo.data.augment import PlannedClip


def fold_actors(folds: tuple[tuple[int, ...], ...], k: int, actors: set[int]) -> dict[str, set[int]]:
    """Fold k of an actor-grouped k-fold: its actors test and every other actor trains, as EmoBox's folds do (20
    training actors of RAVDESS's 24); no validation split, so k-fold needs `keep: last` (nothing early-stops)."""
    test = set(folds[k])
    return {"train": actors - test, "val": set(), "test": test}


def select_fold(plan_rows: list[PlannedClip], valid: np.ndarray, balanced: bool,
                members: dict[str, set[int]]) -> dict[str, np.ndarray]:
    """Row indices per split of one fold: training actors with their copies, others' original clips only."""
    chosen = {}
    for split, actors in members.items():
        chosen[split] = np.array([p.index for p in plan_rows if p.actor in actors and valid[p.index]
                                  and (p.op == "original" or (split == "train" and (balanced or not p.balance)))],
                                 dtype=np.int64)
    return chosen


def select(plan_rows: list[PlannedClip], valid: np.ndarray, balanced: bool) -> dict[str, np.ndarray]:
    """Row indices per split. Validation and test hold only original clips unless the plan augmented them."""
    chosen = {}
    for split in ("train", "val", "test"):
        chosen[split] = np.array([p.index for p in plan_rows if p.split == split and valid[p.index]
                                  and (balanced or not p.balance)], dtype=np.int64)
    return chosen


#: A bin's std is at least this share of the speaker's median bin std: on band-limited audio (a 8 kHz phone call
#: at 16 kHz) the empty bands hold the dB floor alone, and dividing their near-zero spread would blow them up.
STD_FLOOR = 0.1


def bin_stats(block: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and floored std of each bin of one speaker's clips [clips, bins, frames] (see STD_FLOOR)."""
    block = np.asarray(block, dtype=np.float64)
    mean, std = block.mean(axis=(0, 2)), block.std(axis=(0, 2))
    return mean, np.maximum(std, STD_FLOOR * np.median(std)) + 1e-6


def speaker_stats(features: np.ndarray, plan_rows: list[PlannedClip], valid: np.ndarray) -> dict[str, np.ndarray]:
    """Per actor, the mean and std of each feature bin over that actor's original clips (no labels used)."""
    actors = sorted({p.actor for p in plan_rows})
    n_bins = features.shape[1]
    mean = np.zeros((max(actors) + 1, n_bins), np.float32)
    std = np.ones((max(actors) + 1, n_bins), np.float32)
    for actor in actors:
        rows = [p.index for p in plan_rows if p.actor == actor and p.op == "original" and valid[p.index]]
        if rows:
            mean[actor], std[actor] = bin_stats(features[np.sort(rows)])
    return {"speaker_mean": mean, "speaker_std": std}


def actor_stats(stats: dict[str, np.ndarray]) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Actor -> (per-bin mean, std) from a split file's `speaker_mean` and `speaker_std` (`speaker_stats`)."""
    return {actor: (stats["speaker_mean"][actor], stats["speaker_std"][actor])
            for actor in range(len(stats["speaker_mean"]))}


def standardise_speakers(x: np.ndarray, speakers, stats: dict | None = None) -> np.ndarray:
    """Clips [clips, bins, frames] each standardised by its speaker's per-bin statistics: `stats` maps a speaker
    to its (mean, std) [bins]; without it each speaker's own clips give them (`bin_stats`; no labels used).

    One speaker's clips at a time, (x - mean) / std, in the features' precision (float32 for float32 features).
    """
    speakers = np.asarray(speakers)
    out = np.empty(x.shape, np.result_type(x.dtype, np.float32))
    for speaker in np.unique(speakers):
        rows = np.flatnonzero(speakers == speaker)
        mean, std = bin_stats(x[rows]) if stats is None else stats[speaker]
        out[rows] = (x[rows] - mean[None, :, None]) / std[None, :, None]
    return out


def training_stats(stats: dict[str, np.ndarray], prefix: str, speaker_norm: bool) -> tuple[np.ndarray, np.ndarray]:
    """A split file's element-wise training statistics for a model: those after per-speaker standardisation
    (`speaker_norm`) or the plain ones; `prefix`: the fold's (`fold<k>_`) in k-fold mode, else ""."""
    if speaker_norm:
        return stats[f"{prefix}post_speaker_mean"], stats[f"{prefix}post_speaker_std"]
    return stats[f"{prefix}mean"], stats[f"{prefix}std"]


def standardise(x: np.ndarray, training: tuple[np.ndarray, np.ndarray], speakers=None,
                by_speaker: dict | None = None) -> np.ndarray:
    """Features [clips, bins, frames] as every model reads them, float32: with `speakers`, each clip first by its
    speaker's per-bin statistics (`standardise_speakers`: `by_speaker`, else the speakers' own clips), then
    element-wise by the training statistics `training` (mean, std). Training, evaluation, `emo predict` and the
    studies all standardise through this function (or its two steps, where one step's result is reused)."""
    if speakers is not None:
        x = standardise_speakers(x, speakers, by_speaker)
    mean, std = training
    return ((x - mean) / std).astype(np.float32)


def global_stats(x: np.ndarray) -> dict[str, np.ndarray]:
    """Element-wise mean and std over training clips (the paper's normalisation)."""
    x = np.asarray(x, dtype=np.float64)
    return {"mean": x.mean(axis=0).astype(np.float32), "std": (x.std(axis=0) + 1e-6).astype(np.float32)}


def _split_arrays(features: np.ndarray, chosen: dict[str, np.ndarray], actors: np.ndarray,
                  speakers: dict[str, np.ndarray], prefix: str) -> dict[str, np.ndarray]:
    train = np.sort(chosen["train"])
    if not len(train):
        return {f"{prefix}{k}_idx": v for k, v in chosen.items()}  # nothing to train on: datasets says so
    train_x = np.asarray(features[train])
    plain = global_stats(train_x)
    after_speaker = global_stats(standardise_speakers(train_x, actors[train], actor_stats(speakers)))
    return {**{f"{prefix}{k}_idx": v for k, v in chosen.items()}, **{f"{prefix}{k}": v for k, v in plain.items()},
            **{f"{prefix}post_speaker_{k}": v for k, v in after_speaker.items()}}


def prepare(features: np.ndarray, plan_rows: list[PlannedClip], valid: np.ndarray, balanced: bool,
            out: Path, folds: tuple[tuple[int, ...], ...] = (), protocol: str = "") -> dict:
    """Save indices, actors, labels and both normalisations' statistics for one feature and balance.

    With `folds`, also each fold's rows, statistics and test actors under the prefix `fold<k>_`. `protocol`
    names the split (split.protocol: holdout, emobox, folds) for the metrics.
    """
    if any(row.index != position for position, row in enumerate(plan_rows)):
        # actors and labels below are looked up by feature row, so a filtered plan would mislabel clips
        raise ValueError("split.prepare needs the whole plan (row i at position i); to leave clips out, mark "
                         "them invalid instead")
    actors = np.array([p.actor for p in plan_rows], np.int64)
    labels = np.array([p.label for p in plan_rows], np.int64)
    speakers = speaker_stats(features, plan_rows, valid)
    chosen = select(plan_rows, valid, balanced)
    arrays = _split_arrays(features, chosen, actors, speakers, "")
    counts = {k: int(len(v)) for k, v in chosen.items()}
    present = {p.actor for p in plan_rows}
    for k in range(len(folds)):
        fold = select_fold(plan_rows, valid, balanced, fold_actors(folds, k, present))
        arrays.update(_split_arrays(features, fold, actors, speakers, f"fold{k}_"))
        counts[f"fold{k}"] = {name: int(len(v)) for name, v in fold.items()}
        arrays[f"fold{k}_test_actors"] = np.array(sorted(folds[k]), np.int64)
    protocol = protocol or ("folds" if folds else "holdout")
    with writing(out) as temporary:
        np.savez(temporary, actors=actors, labels=labels, folds=np.array(len(folds)), protocol=np.array(protocol),
                 **speakers, **arrays)
    return counts


def protocol_of(split_file: Path) -> dict:
    """The split's protocol and the test actors of each fold (of the one hold-out split: `test_actors`)."""
    with np.load(split_file) as saved:
        count = int(saved["folds"]) if "folds" in saved else 0
        protocol = str(saved["protocol"]) if "protocol" in saved else ("folds" if count else "holdout")
        if not count:
            return {"protocol": protocol, "test_actors": sorted({int(a) for a in saved["actors"][saved["test_idx"]]})}
        return {"protocol": protocol, "fold_test_actors": [[int(a) for a in saved[f"fold{k}_test_actors"]]
                                                           for k in range(count)]}
