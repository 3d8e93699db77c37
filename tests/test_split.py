"""One normalisation (emo.data.split.standardise): training, evaluation, `emo predict`, cross-corpus and multi-corpus
scoring all standardise features through it, bit for bit as each of them did with its own copy before."""

from __future__ import annotations

import numpy as np
import pytest

from emo.data import split


# The copies each caller had before they shared split.standardise (commit 3657095), kept as the reference.
def old_speaker_normalize(x, actors, stats):  # split.speaker_normalize (train's load_arrays, split.prepare)
    return (x - stats["speaker_mean"][actors][:, :, None]) / stats["speaker_std"][actors][:, :, None]


def old_own_speaker_normalize(x, speakers):  # split.own_speaker_normalize (crosscorpus, multicorpus, bench)
    out = np.empty(x.shape, np.float32)
    for speaker in np.unique(speakers):
        rows = np.flatnonzero(speakers == speaker)
        mean, std = split.bin_stats(x[rows])
        out[rows] = (x[rows] - mean[None, :, None]) / std[None, :, None]
    return out


def old_training_standardised(x, stats, prefix, speaker_norm):  # crosscorpus.training_standardised
    mean, std = ((stats[f"{prefix}post_speaker_mean"], stats[f"{prefix}post_speaker_std"]) if speaker_norm
                 else (stats[f"{prefix}mean"], stats[f"{prefix}std"]))
    return ((x - mean) / std).astype(np.float32)


def old_predict_normalise(x, stats, prefix, speaker):  # predict._normalise
    if speaker is not None:
        x = (x - speaker[0][:, :, None]) / speaker[1][:, :, None]
        mean, std = stats[f"{prefix}post_speaker_mean"], stats[f"{prefix}post_speaker_std"]
    else:
        mean, std = stats[f"{prefix}mean"], stats[f"{prefix}std"]
    return ((x - mean) / std).astype(np.float32)


@pytest.fixture
def saved():
    """Features [clips, bins, frames] of 4 actors (float32, as featurize writes them) and a split file's statistics."""
    rng = np.random.default_rng(7)
    x = (rng.normal(size=(40, 6, 9)) * rng.uniform(1, 30, size=(40, 1, 1)) - 20).astype(np.float32)
    actors = np.repeat([1, 2, 3, 5], 10)
    stats = {"actors": actors, "train_idx": np.arange(30), "fold1_train_idx": np.arange(10, 40)}
    stats["speaker_mean"] = np.zeros((6, 6), np.float32)
    stats["speaker_std"] = np.ones((6, 6), np.float32)
    for actor in (1, 2, 3, 5):
        stats["speaker_mean"][actor], stats["speaker_std"][actor] = split.bin_stats(x[actors == actor])
    for prefix in ("", "fold1_"):
        stats.update({f"{prefix}{k}": v for k, v in split.global_stats(x[:30]).items()})
        after = split.global_stats(old_speaker_normalize(x[:30], actors[:30], stats))
        stats.update({f"{prefix}post_speaker_{k}": v for k, v in after.items()})
    return x, actors, stats


@pytest.mark.parametrize("speaker_norm", [True, False])
@pytest.mark.parametrize("prefix", ["", "fold1_"])
def test_training_and_crosscorpus_standardise_as_before(saved, speaker_norm, prefix):
    x, actors, stats = saved
    training = split.training_stats(stats, prefix, speaker_norm)
    # data.arrays.load_arrays: the split file's per-actor statistics, then the training ones
    before = old_speaker_normalize(x, actors, stats) if speaker_norm else x
    before = ((before - training[0]) / training[1]).astype(np.float32)
    now = split.standardise(x, training, actors if speaker_norm else None, split.actor_stats(stats))
    assert now.dtype == np.float32 and np.array_equal(now, before)
    # crosscorpus.score_corpus (and bench/robustness.py): each speaker by its own clips, then the training ones
    own = split.standardise_speakers(x, actors.astype(str)) if speaker_norm else x
    reference = old_own_speaker_normalize(x, actors.astype(str)) if speaker_norm else x
    assert np.array_equal(own, reference)
    assert np.array_equal(split.standardise(own, training), old_training_standardised(reference, stats, prefix,
                                                                                      speaker_norm))
    assert np.array_equal(split.standardise(x, training, actors.astype(str) if speaker_norm else None),
                          old_training_standardised(reference, stats, prefix, speaker_norm))


def test_split_statistics_after_speaker_normalisation_are_as_before(saved):
    x, actors, stats = saved
    assert np.array_equal(split.standardise_speakers(x, actors, split.actor_stats(stats)),
                          old_speaker_normalize(x, actors, stats))
    wide = x.astype(np.float64)  # any precision: the features' own
    assert np.array_equal(split.standardise_speakers(wide, actors, split.actor_stats(stats)),
                          old_speaker_normalize(wide, actors, stats))


def test_predict_standardises_as_before(saved):
    x, actors, stats = saved
    groups = np.array(["actor 01", "folder a", "actor 01", "folder b"] * 10)  # a speaker group per clip
    own = {g: tuple(s.astype(np.float32) for s in split.bin_stats(x[groups == g])) for g in ("actor 01", "folder a")}
    trained = np.unique(stats["actors"][stats["train_idx"]])
    fallback = stats["speaker_mean"][trained].mean(axis=0), stats["speaker_std"][trained].mean(axis=0)
    by_speaker = {**own, "folder b": fallback}  # too few clips of its own: the training actors' average
    rows = [by_speaker[g] for g in groups]
    before = old_predict_normalise(x, stats, "", (np.stack([r[0] for r in rows]), np.stack([r[1] for r in rows])))
    now = split.standardise(x, split.training_stats(stats, "", True), groups, by_speaker)
    assert np.array_equal(now, before)
    assert np.array_equal(split.standardise(x, split.training_stats(stats, "", False)),
                          old_predict_normalise(x, stats, "", None))


def test_multicorpus_standardises_as_before(saved):
    x, actors, _ = saved
    pool = old_own_speaker_normalize(x, actors)
    assert np.array_equal(split.standardise_speakers(x, actors), pool)
    stats = split.global_stats(pool[:25])
    before = ((pool[5:] - stats["mean"]) / stats["std"]).astype(np.float32)  # multicorpus.arrays
    assert np.array_equal(split.standardise(pool[5:], (stats["mean"], stats["std"])), before)
