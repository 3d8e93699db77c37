"""Where the pipeline keeps each input's features and each model's files (shared by stages and `emo predict`)."""

from __future__ import annotations

from pathlib import Path

INVENTORY = Path("data/inventory.csv")
PLAN = Path("data/augment/plan.csv")
FACES = Path("data/faces")  # face crops per video-only clip
EMBEDDINGS = Path("data/video")  # face embeddings per plan row
AUDIO_FEATURES = ("mfcc", "logmel")
VIDEO = "video"
BALANCES = ("unbalanced", "balanced")
ENSEMBLE_MODEL = "audio_both_balanced"  # the default audio model: emo.learn.ensemble, from two trained models


def feature_file(feature: str) -> Path:
    """The feature array of one input: data/features/<mfcc|logmel>.npy or the face embeddings."""
    return EMBEDDINGS / "embeddings.npy" if feature == VIDEO else Path(f"data/features/{feature}.npy")


def valid_file(feature: str) -> Path:
    """Which plan rows of that feature array hold real data (bool per row)."""
    return EMBEDDINGS / "valid.npy" if feature == VIDEO else Path("data/features/valid.npy")


def split_file(feature: str, balance: str) -> Path:
    """Row indices and normalisation statistics of one input and balance."""
    return Path(f"data/split/{feature}_{balance}.npz")


def model_name(feature: str, balance: str) -> str:
    """audio_<feature>_<balance> or video_<balance>: names of models, metrics and plots."""
    return f"video_{balance}" if feature == VIDEO else f"audio_{feature}_{balance}"


def metrics_file(stage: str) -> Path:
    """metrics/<stage>.json."""
    return Path(f"metrics/{stage}.json")
