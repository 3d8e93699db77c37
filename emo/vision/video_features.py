"""Face embeddings for every plan row: the row's face crops, augmented as the plan says, through the embedder."""

from __future__ import annotations

import csv
import logging
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emo.core import io
from emo.core.errors import EmoError
from emo.core.params import VideoParams
from emo.data.augment import PlannedClip

log = logging.getLogger(__name__)

#: The face-crop augmentation standing in for each audio operation of the shared plan (SPEC section 4:
#: contrast stretch, gamma, Poisson noise); balancing copies are also flipped, as the paper flipped the
#: minority classes.
VIDEO_OPS = {"original": "original", "pitch_up": "contrast", "pitch_down": "contrast", "shift": "gamma",
             "noise": "poisson", "chain": "poisson"}


def crops_by_performance(faces: Path) -> dict[str, int]:
    """Row of data/faces/crops.npy for each performance whose video gave crops."""
    valid = np.load(faces / "valid.npy")
    with open(faces / "clips.csv", newline="") as handle:
        return {r["performance"]: i for i, r in enumerate(csv.DictReader(handle)) if valid[i]}


#: metrics/embed.json's numbers (`dvc metrics show`); the embedder's name goes to metrics/embed_detail.json
#: (emo.core.metrics_detail).
HEADLINE = ("rows", "rows_embedded", "rows_without_video", "rows_without_crops", "dim", "frames")


def embed_plan(plan_rows: list[PlannedClip], faces: Path, params: VideoParams, out: Path,
               progress: bool = True, rows_per_batch: int = 8) -> dict:
    """Write out/embeddings.npy [rows, D, frames] (float32) and out/valid.npy: one embedding per frame.

    Stored as [D, frames] like the audio features' [bins, frames], so every model and normalisation
    treats both the same way. The embeddings' room on disk is reserved first, and a stop leaves no temporary.
    """
    from emo.vision import face_augment
    from emo.vision.embedders import load_embedder

    crops = np.load(faces / "crops.npy", mmap_mode="r")
    frames = crops.shape[1]
    where = crops_by_performance(faces)
    wanted = [r for r in plan_rows if r.video and r.performance in where]
    if not wanted:
        raise EmoError(f"{faces}: no face crops for any plan row; the data holds no video-only clips "
                       "(add video_speech to data.parts), or every video was damaged")
    embedder = load_embedder(params.embedder, params.vgg19_weights)
    valid = np.zeros(len(plan_rows), bool)
    with io.mapped(out / "embeddings.npy", dtype=np.float32, shape=(len(plan_rows), embedder.dim, frames)) as array:
        bar = tqdm(total=len(wanted), unit="clip", desc=f"embed ({params.embedder})", disable=not progress)
        for start in range(0, len(wanted), rows_per_batch):
            batch = wanted[start:start + rows_per_batch]
            stacked = np.concatenate([
                face_augment.augment_crops(np.asarray(crops[where[r.performance]]), VIDEO_OPS[r.op], r.balance,
                                           params, np.random.default_rng(r.noise_seed)) for r in batch])
            vectors = embedder.embed(stacked).reshape(len(batch), frames, embedder.dim)
            for row, clip_vectors in zip(batch, vectors, strict=True):
                array[row.index] = clip_vectors.T
                valid[row.index] = True
            bar.update(len(batch))
        bar.close()
        with io.writing(out / "valid.npy") as temporary:
            np.save(temporary, valid)
    return {"rows": len(plan_rows), "rows_embedded": int(valid.sum()),
            "rows_without_video": sum(not r.video for r in plan_rows),
            "rows_without_crops": sum(bool(r.video) and r.performance not in where for r in plan_rows),
            "embedder": params.embedder, "dim": embedder.dim, "frames": frames}
