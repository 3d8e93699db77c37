"""Reading video-only clips: a fixed number of evenly spaced frames, decoded in one sequential pass."""

from __future__ import annotations

import cv2
import numpy as np

from emo.core.errors import DamagedFileError


class DamagedVideoError(DamagedFileError):
    """A video file that cannot be opened, or holds no decodable frame."""


def _damaged(path: str, why: str) -> DamagedVideoError:
    """The error for an unreadable video, naming the file and the fix."""
    return DamagedVideoError(f"{path}: {why}; the file is damaged — fetch the data again, or set "
                             "video.skip_damaged: true to leave it out", why)


def frame_indices(count: int, n: int) -> np.ndarray:
    """`n` frame indices evenly spaced over frames 0..count-1, first and last included.

    `np.linspace(0, count - 1, n).round()`: the clip's ends are kept, so the sampled frames span the whole
    performance; with fewer than `n` frames, rounding repeats indices, so every clip still gives `n` frames.
    """
    return np.linspace(0, count - 1, n).round().astype(np.int64)


def _open(path: str, threads: int = 0) -> cv2.VideoCapture:
    """An opened capture for `path` (`threads` decoder threads, 0 = FFmpeg's choice), or DamagedVideoError."""
    # Pool workers ask for one decoder thread each: FFmpeg's default (one per core) oversubscribes the cores.
    # Decoded pixels do not depend on the thread count.
    settings = [cv2.CAP_PROP_N_THREADS, threads] if threads > 0 and hasattr(cv2, "CAP_PROP_N_THREADS") else []
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG, settings)
    if not capture.isOpened():
        capture.release()
        raise _damaged(path, "OpenCV cannot open it as a video")
    return capture


def _decode(capture: cv2.VideoCapture, wanted: np.ndarray) -> tuple[dict[int, np.ndarray], int]:
    """Frames at the `wanted` indices, decoded in order from the start, and how many frames decoded.

    Every frame is grabbed (cheap, no colour conversion) and only the wanted ones retrieved: one pass over
    the stream, never a seek, whose cost would be a decode from the previous keyframe for every frame.
    Decoding stops after the last wanted frame or at the first frame that fails to decode. Releases `capture`.
    """
    keep = set(wanted.tolist())
    last = int(wanted.max()) if len(wanted) else -1
    frames: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        while decoded <= last and capture.grab():
            if decoded in keep:
                ok, frame = capture.retrieve()
                if not ok or frame is None:
                    break
                frames[decoded] = frame
            decoded += 1
    finally:
        capture.release()
    return frames, decoded


def _count(path: str, threads: int = 0) -> int:
    """Frames decodable from the start of the file (for containers whose header gives no count)."""
    capture = _open(path, threads)
    count = 0
    try:
        while capture.grab():
            count += 1
    finally:
        capture.release()
    return count


def read_frames(path: str, n: int, threads: int = 0) -> tuple[np.ndarray, dict]:
    """`n` BGR uint8 frames [n, h, w, 3] evenly spaced over the clip, and what decoding found.

    Info: `frames_header` (the count the container promises), `frames_decoded`, `truncated` (fewer frames
    decode than promised: the frames are then spread over the decodable part) and the frame `indices` used.
    `threads`: FFmpeg decoder threads (0 = FFmpeg's default).
    """
    capture = _open(path, threads)
    header = count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    if header <= 0:  # no count in the container: count by decoding, then decode again from the start
        capture.release()
        count = _count(path, threads)
        if count == 0:
            raise _damaged(path, "no frame decodes")
        capture = _open(path, threads)
    indices = frame_indices(count, n)
    frames, decoded = _decode(capture, indices)
    truncated = decoded < count
    if truncated:
        # The stream ends early: spread the frames over what did decode (a second pass, buffering n frames).
        if decoded == 0:
            raise _damaged(path, f"no frame decodes (the header promises {header})")
        indices = frame_indices(decoded, n)
        frames, again = _decode(_open(path, threads), indices)
        if again < int(indices.max()) + 1:
            raise _damaged(path, f"decoding is not repeatable ({decoded} frames, then {again})")
    stack = np.stack([frames[i] for i in indices.tolist()])
    info = {"frames_header": header, "frames_decoded": decoded, "truncated": truncated,
            "indices": indices.tolist()}
    return stack, info
