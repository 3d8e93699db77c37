"""Face-crop augmentations of the paper (SPEC section 4): Poisson noise, contrast stretch, gamma, flip.

Pure functions over uint8 crops [n, S, S] that return new uint8 crops of the same shape.
"""

from __future__ import annotations

import numpy as np

from emo.core.errors import EmoError
from emo.core.params import VideoParams

OPS = ("original", "contrast", "gamma", "poisson")


def _to_uint8(values: np.ndarray) -> np.ndarray:
    """Round and clip float pixel values to uint8."""
    return np.clip(np.rint(values), 0, 255).astype(np.uint8)


def poisson_noise(crops: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Shot noise: each pixel value drawn from a Poisson distribution with the pixel's value as its mean.

    A 256-level image's grey values act as photon counts, which is what skimage's `random_noise('poisson')`
    does for an 8-bit image; the noise grows with brightness (std = sqrt(value)).
    """
    return _to_uint8(rng.poisson(crops.astype(np.float64)))


def contrast_stretch(crops: np.ndarray, low_pct: float, high_pct: float) -> np.ndarray:
    """Each crop's [low_pct, high_pct] percentile range stretched to the full 0-255 range (values outside clip)."""
    flat = crops.reshape(len(crops), -1).astype(np.float64)
    low, high = np.percentile(flat, [low_pct, high_pct], axis=1)
    span = high - low
    # A flat crop (span 0) has no contrast to stretch: keep it as it is rather than divide by zero.
    scale = np.divide(255.0, span, out=np.ones_like(span), where=span > 0)
    offset = np.where(span > 0, low, 0.0)
    return _to_uint8((flat - offset[:, None]) * scale[:, None]).reshape(crops.shape)


def adjust_gamma(crops: np.ndarray, gamma: float, gain: float) -> np.ndarray:
    """Gamma correction on [0, 1]: gain * x ** gamma (gamma < 1 brightens the shadows), back to 0-255."""
    return _to_uint8(255.0 * gain * (crops.astype(np.float64) / 255.0) ** gamma)


def hflip(crops: np.ndarray) -> np.ndarray:
    """Mirror each crop left to right."""
    return np.ascontiguousarray(crops[:, :, ::-1])


def augment_crops(crops: np.ndarray, op: str, flip: bool, params: VideoParams,
                  rng: np.random.Generator) -> np.ndarray:
    """One planned augmentation of a clip's crops (`op` in OPS), then a horizontal flip if asked."""
    if op == "original":
        out = crops.copy()
    elif op == "contrast":
        out = contrast_stretch(crops, *params.contrast_percentiles)
    elif op == "gamma":
        out = adjust_gamma(crops, params.gamma, params.gain)
    elif op == "poisson":
        out = poisson_noise(crops, rng)
    else:
        raise EmoError(f"face augmentation {op!r}: expected one of {', '.join(OPS)}")
    return hflip(out) if flip else out
