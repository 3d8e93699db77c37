"""Face detection with OpenCV's Haar cascade and cached grey face crops, one clip per job, in parallel.

A frame without a detected face takes the box of the nearest frame of the same clip that had one; a clip
without any face takes centre crops. Both fallbacks are counted, per clip and overall.
"""

from __future__ import annotations

import logging
import os
from contextlib import closing
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from emo.core import executor, io
from emo.core.errors import EmoError
from emo.core.params import VideoParams
from emo.fetch.refetch import advice
from emo.vision.video import DamagedVideoError, read_frames

log = logging.getLogger(__name__)

CASCADE = "haarcascade_frontalface_default.xml"
MIN_FACE_FRACTION = 0.15  # smallest face searched, as a fraction of the downscaled frame's shorter side
MIN_FACE_PIXELS = 24  # the cascade's own window: smaller faces cannot be detected anyway
# Tracking: the face moves little between sampled frames (~0.1 s apart), so search around the last face first.
TRACK_MARGIN = 0.5  # search region: the last box grown by this many face widths on each side
TRACK_BAND = 1.25  # face sizes searched: the last face's size divided / multiplied by this

Box = tuple[int, int, int, int]  # x, y, width, height in full-resolution pixels


class CascadeMissingError(EmoError):
    """OpenCV's packaged Haar cascade cannot be found or loaded."""


def cascade_path() -> str:
    """Where the installed OpenCV keeps `haarcascade_frontalface_default.xml`."""
    folder = getattr(getattr(cv2, "data", None), "haarcascades", None)
    if folder is None:
        raise CascadeMissingError(f"this OpenCV ({cv2.__version__}) ships no Haar cascades (cv2.data is missing); "
                                  "install opencv-python-headless>=4.8,<5 as requirements.txt pins it")
    return os.path.join(folder, CASCADE)


class FaceDetector:
    """The frontal-face Haar cascade, loaded once, run on a downscaled grey frame."""

    def __init__(self, params: VideoParams):
        path = cascade_path()
        if not os.path.isfile(path):
            raise CascadeMissingError(f"{path}: not found; OpenCV {cv2.__version__} ships no cascades "
                                      "(5.x does not) — install opencv-python-headless>=4.8,<5")
        self.cascade = cv2.CascadeClassifier(path)
        if self.cascade.empty():
            raise CascadeMissingError(f"{path}: OpenCV cannot load this cascade; reinstall opencv-python-headless")
        self.params = params

    def detect(self, gray: np.ndarray, near: Box | None = None) -> Box | None:
        """The largest face in a full-resolution grey frame, or None; `near`: a face box of a nearby frame.

        With `near`, the cascade first searches only around that box, at sizes close to it (about 8x less
        work); where it finds nothing there, it searches the whole frame, so a face is never missed for it.
        """
        height, width = gray.shape
        scale = min(1.0, self.params.detect_width / width)  # never upscale: it adds no detail, only time
        if scale < 1.0:
            size = (self.params.detect_width, max(1, round(height * scale)))
            small = cv2.resize(gray, size, interpolation=cv2.INTER_AREA)
        else:
            small = gray
        box = self._near(small, tuple(round(v * scale) for v in near)) if near is not None else None
        if box is None:
            side = max(MIN_FACE_PIXELS, round(MIN_FACE_FRACTION * min(small.shape)))
            box = _largest(self.cascade.detectMultiScale(small, self.params.scale_factor, self.params.min_neighbors,
                                                         minSize=(side, side)))
        if box is None:
            return None
        x, y, w, h = box
        return _clip_box((round(x / scale), round(y / scale), round(w / scale), round(h / scale)), width, height)

    def _near(self, small: np.ndarray, near: Box) -> Box | None:
        """The largest face within TRACK_MARGIN face widths of `near` and within TRACK_BAND of its size."""
        x, y, w, h = near
        margin = round(TRACK_MARGIN * w)
        x0, y0 = max(0, x - margin), max(0, y - margin)
        x1, y1 = min(small.shape[1], x + w + margin), min(small.shape[0], y + h + margin)
        low, high = max(MIN_FACE_PIXELS, int(w / TRACK_BAND)), int(w * TRACK_BAND) + 1
        if x1 - x0 < low or y1 - y0 < low:
            return None
        found = self.cascade.detectMultiScale(small[y0:y1, x0:x1], self.params.scale_factor,
                                              self.params.min_neighbors, minSize=(low, low), maxSize=(high, high))
        box = _largest(found)
        return None if box is None else (box[0] + x0, box[1] + y0, box[2], box[3])


def _largest(found) -> Box | None:
    """The largest of the cascade's boxes; ties go to the top-left one, so the cascade's order never matters."""
    if len(found) == 0:
        return None
    return min((tuple(int(v) for v in box) for box in found), key=lambda b: (-b[2] * b[3], b[1], b[0]))


def _clip_box(box: Box, width: int, height: int) -> Box:
    """The box limited to the frame (scaling back can overshoot the border by a pixel)."""
    x, y, w, h = box
    x, y = min(max(x, 0), width - 1), min(max(y, 0), height - 1)
    return x, y, max(1, min(w, width - x)), max(1, min(h, height - y))


def centre_box(width: int, height: int) -> Box:
    """The largest centred square of the frame."""
    side = min(width, height)
    return (width - side) // 2, (height - side) // 2, side, side


def fill_boxes(boxes: list[Box | None]) -> tuple[list[Box | None], list[str]]:
    """Each missing box replaced by the box of the nearest frame that has one, and how each box came about.

    Kinds: `detected`, `nearest` (ties between an earlier and a later frame go to the earlier one) or
    `none` when no frame of the clip has a box. Only boxes of this clip are used, never a stale one.
    """
    have = np.flatnonzero([b is not None for b in boxes])
    if len(have) == 0:
        return list(boxes), ["none"] * len(boxes)
    filled, kinds = [], []
    for i, box in enumerate(boxes):
        if box is not None:
            filled.append(box)
            kinds.append("detected")
        else:
            filled.append(boxes[int(have[np.argmin(np.abs(have - i))])])  # argmin takes the first (earlier) tie
            kinds.append("nearest")
    return filled, kinds


def crop(gray: np.ndarray, box: Box, size: int) -> np.ndarray:
    """The box cut out of a grey frame and resized to a size x size uint8 square."""
    x, y, w, h = box
    return cv2.resize(gray[y:y + h, x:x + w], (size, size), interpolation=cv2.INTER_AREA)


def detect_clip(grays: list[np.ndarray], detector: FaceDetector, track: bool = True) -> list[Box | None]:
    """The face box of each frame of one clip; `track`: search near the clip's previous face first."""
    boxes: list[Box | None] = []
    last = None  # only ever a box of this clip
    for gray in grays:
        box = detector.detect(gray, last if track else None)
        last = box or last
        boxes.append(box)
    return boxes


def crop_clip(frames: np.ndarray, detector: FaceDetector, params: VideoParams,
              track: bool = True) -> tuple[np.ndarray, dict]:
    """Face crops uint8 [n, S, S] of a clip's BGR frames, and counts of detected / nearest / centre boxes."""
    grays = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in frames]
    boxes, kinds = fill_boxes(detect_clip(grays, detector, track))
    out = np.empty((len(grays), params.crop_size, params.crop_size), np.uint8)
    for i, (gray, box) in enumerate(zip(grays, boxes, strict=True)):
        out[i] = crop(gray, box if box is not None else centre_box(gray.shape[1], gray.shape[0]), params.crop_size)
    stats = {"detected": kinds.count("detected"), "nearest": kinds.count("nearest"), "centre": kinds.count("none")}
    return out, stats


def clip_crops(job: tuple[int, str, VideoParams, bool]) -> tuple[int, np.ndarray | None, dict, str | None]:
    """Worker: read one clip's frames and crop its faces on one OpenCV thread (one BLAS thread: the executor's),
    with the process's cascade; a damaged file comes back as an error message."""
    index, path, params, track = job
    cv2_threads = cv2.getNumThreads()
    cv2.setNumThreads(1)  # 2 workers share 2 cores
    try:
        frames, info = read_frames(path, params.frames, threads=1)
        crops, stats = crop_clip(frames, executor.kept(params, lambda: FaceDetector(params)), params, track)
    except DamagedVideoError as err:
        return index, None, {}, err.problem
    finally:
        cv2.setNumThreads(cv2_threads)
    return index, crops, {**info, **stats}, None


FIELDS = ("performance", "path", "frames_decoded", "truncated", "detected", "nearest", "centre", "detection_rate",
          "status")


def extract(clips: list[tuple[str, str]], params: VideoParams, out: Path, progress: bool = True,
            track: bool = True, source: str | None = None, scheduler: str = executor.LOCAL) -> dict:
    """Write out/crops.npy [n_clips, frames, S, S] uint8, out/valid.npy [n_clips] and out/clips.csv; report.

    `clips` are (performance key, mp4 path) pairs; row i of every output is clip i. Each file is written
    under a temporary name and renamed, so a crash leaves no half-written output behind, and a stop removes the
    temporary; the crops' room on disk is reserved first (a full disk: a DiskFullError, not a SIGBUS). The crops
    do not depend on the number of workers, nor on running on the Dask cluster of `scheduler` (compute.scheduler).
    `track`: search each frame near the clip's previous face first (about 8x faster detection; boxes within a few
    pixels of a whole-frame search); False: whole-frame search everywhere.
    """
    n, size = len(clips), params.crop_size
    valid = np.zeros(n, bool)
    rows: list[dict] = [{}] * n
    jobs = [(i, path, params, track) for i, (_, path) in enumerate(clips)]
    workers = max(1, min(params.workers, os.cpu_count() or 1, n))
    with io.mapped(out / "crops.npy", dtype=np.uint8, shape=(n, params.frames, size, size)) as crops:
        with closing(executor.run_ordered(clip_crops, jobs, workers=workers, threads=1, scheduler=scheduler,
                                          name=lambda job: f"faces {job[1]}")) as results:
            for index, block, info, error in tqdm(results, total=n, unit="clip", desc="faces",
                                                  disable=not progress):
                rows[index] = _row(clips[index], info, error, params, source)
                if block is not None:
                    crops[index] = block
                    valid[index] = True
        with io.writing(out / "valid.npy") as temporary:
            np.save(temporary, valid)
    # a damaged clip's row has no counts: its cells stay empty
    io.write_csv(out / "clips.csv", FIELDS, ({field: row.get(field, "") for field in FIELDS} for row in rows))
    return report(rows, params)


def _row(clip: tuple[str, str], info: dict, error: str | None, params: VideoParams, source: str | None) -> dict:
    """One clips.csv row; a damaged video stops the run, with the fix for `source`, unless `skip_damaged`."""
    key, path = clip
    if error:
        if not params.skip_damaged:
            raise DamagedVideoError(f"{path}: {error}; {advice(path, source, 'video')}", error)
        log.warning("skipping damaged video: %s: %s", path, error)
        return {"performance": key, "path": path, "status": "damaged"}
    return {"performance": key, "path": path, "frames_decoded": info["frames_decoded"], "truncated": info["truncated"],
            "detected": info["detected"], "nearest": info["nearest"], "centre": info["centre"],
            "detection_rate": round(info["detected"] / params.frames, 4), "status": "ok"}


#: metrics/faces.json's numbers (`dvc metrics show`): clips, detection rate, clips without a face, damaged, truncated;
#: the fallbacks, the clips' names and each clip's detection rate go to metrics/faces_detail.json
#: (emo.core.metrics_detail).
HEADLINE = ("clips", "valid_clips", "detection_rate", "no_face.count", "damaged.count", "truncated.count")


def report(rows: list[dict], params: VideoParams) -> dict:
    """The summary for metrics/faces.json: detection rate, fallbacks, clips without a face, damaged, truncated."""
    ok = [r for r in rows if r["status"] == "ok"]
    damaged = [r["performance"] for r in rows if r["status"] == "damaged"]
    frames = len(ok) * params.frames
    counts = {kind: sum(r[kind] for r in ok) for kind in ("detected", "nearest", "centre")}
    no_face = [r["performance"] for r in ok if r["detected"] == 0]
    truncated = [r["performance"] for r in ok if r["truncated"]]
    return {
        "clips": len(rows), "valid_clips": len(ok), "frames_per_clip": params.frames, "frames": frames,
        "detection_rate": round(counts["detected"] / frames, 4) if frames else 0.0,
        "fallbacks": counts,
        "no_face": {"count": len(no_face), "clips": no_face},
        "damaged": {"count": len(damaged), "clips": damaged},
        "truncated": {"count": len(truncated), "clips": truncated},
        "per_clip_detection_rate": {r["performance"]: r["detection_rate"] for r in ok},
    }
