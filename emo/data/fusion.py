"""Audio-video pairs for the fusion model: by performance (ours) or by class at random (the paper's)."""

from __future__ import annotations

import numpy as np

from emo.data.arrays import Arrays


def pair_by_clip(audio: Arrays, video: Arrays) -> Arrays:
    """The audio and the video of the same plan row: the same performance with the same augmentation slot."""
    common, in_audio, in_video = np.intersect1d(audio.index, video.index, return_indices=True)
    return Arrays(x=(audio.x[in_audio], video.x[in_video]), y=audio.y[in_audio], index=common)


def pair_by_class(audio: Arrays, video: Arrays, rng: np.random.Generator) -> Arrays:
    """Each audio clip with a random video clip of the same class and split, as the paper did.

    This reads the label to build the input, also for test clips: a fusion score from it is not a
    recognition score. Kept to reproduce the paper; reports flag it.
    """
    partner = np.empty(len(audio.y), np.int64)
    for label in np.unique(audio.y):
        candidates = np.flatnonzero(video.y == label)
        targets = np.flatnonzero(audio.y == label)
        if not len(candidates):
            raise ValueError(f"pairing 'class': no video clip of class {label} to pair audio clips with")
        partner[targets] = rng.choice(candidates, size=len(targets))
    return Arrays(x=(audio.x, video.x[partner]), y=audio.y, index=audio.index)


def pair(audio: dict[str, Arrays], video: dict[str, Arrays], pairing: str, seed: int) -> dict[str, Arrays]:
    """Fusion inputs per split; `pairing` is 'clip' or 'class'."""
    if pairing == "clip":
        return {name: pair_by_clip(audio[name], video[name]) for name in audio}
    rng = np.random.default_rng(seed)
    return {name: pair_by_class(audio[name], video[name], rng) for name in audio}
