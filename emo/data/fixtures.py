"""A tiny RAVDESS-shaped dataset with a learnable emotion signal in the voice and in the face.

Audio: a harmonic tone whose pitch rises with the emotion index, louder for strong intensity, with
per-actor pitch offsets and noise. Video: a real face photo (`skimage.data.astronaut()`) that drifts
over a random backdrop, its brightness and a faint stripe texture set by the emotion, so that a Haar
cascade finds the face and a face embedder sees a class-dependent crop.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import soundfile

from emo.core.ravdess import Clip, expected_clips

DEFAULT_ACTORS = (1, 2, 21, 23)


@dataclass(frozen=True)
class FixtureSpec:
    """Shape of the generated dataset."""

    actors: tuple[int, ...] = DEFAULT_ACTORS
    parts: tuple[str, ...] = ("audio_speech", "video_speech")
    seconds: float = 3.6
    sample_rate: int = 16000
    audio_suffix: str = ".wav"
    frame_size: tuple[int, int] = (320, 180)  # width, height
    fps: float = 15.0
    seed: int = 0


def _rng(spec: FixtureSpec, clip: Clip) -> np.random.Generator:
    return np.random.default_rng([spec.seed, zlib.crc32(clip.stem.encode())])


def synth_audio(clip: Clip, spec: FixtureSpec) -> np.ndarray:
    """A mono float32 waveform whose pitch encodes the emotion."""
    rng = _rng(spec, clip)
    t = np.arange(int(spec.seconds * spec.sample_rate)) / spec.sample_rate
    actor_shift = 1.0 + 0.03 * ((clip.actor % 5) - 2)
    f0 = 120.0 * 2 ** (clip.label / 4) * actor_shift * (1 + 0.01 * rng.standard_normal())
    vibrato = 1 + 0.01 * np.sin(2 * np.pi * 5 * t)
    phase = 2 * np.pi * np.cumsum(f0 * vibrato) / spec.sample_rate
    tone = sum(np.sin(k * phase) / k for k in (1, 2, 3))
    onset = rng.uniform(0.3, 0.6)
    envelope = np.clip((t - onset) / 0.1, 0, 1) * np.clip((spec.seconds - 0.2 - t) / 0.1, 0, 1)
    loudness = 0.25 if clip.intensity == 1 else 0.45
    wave = loudness * envelope * tone / 1.8 + 0.01 * rng.standard_normal(t.size)
    return wave.astype(np.float32)


def face_photo() -> np.ndarray:
    """The astronaut's head and shoulders, grey-scale uint8 (a real photo that ships with scikit-image)."""
    from skimage import data  # test-time dependency; only the fixture generator needs it

    rgb = data.astronaut()
    return cv2.cvtColor(np.ascontiguousarray(rgb[10:300, 110:360]), cv2.COLOR_RGB2BGR)


def synth_frames(clip: Clip, spec: FixtureSpec, face: np.ndarray) -> np.ndarray:
    """BGR uint8 frames [n, h, w, 3]: the face on noise, brightness and texture set by the emotion."""
    rng = _rng(spec, clip)
    width, height = spec.frame_size
    scale = 0.85 * height / face.shape[0]
    head = cv2.resize(face, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA).astype(np.float32)
    gain = 0.55 + 0.09 * clip.label
    stripes = np.sin(np.arange(head.shape[0]) * (0.15 + 0.09 * clip.label))[:, None, None]
    head = np.clip(head * gain + 14 * stripes, 0, 255)
    n = int(round(spec.seconds * spec.fps))
    frames = np.empty((n, height, width, 3), np.uint8)
    x0 = (width - head.shape[1]) // 2 + rng.integers(-width // 10, width // 10)
    y0 = (height - head.shape[0]) // 2
    # A smooth random backdrop: noise would dominate the mp4's size and the time to encode it.
    backdrop = cv2.resize(rng.normal(90, 25, (height // 16 + 1, width // 16 + 1, 3)), (width, height))
    backdrop = np.clip(backdrop, 0, 255).astype(np.uint8)
    head = head.astype(np.uint8)
    for i in range(n):
        dx = int(6 * np.sin(2 * np.pi * i / n))
        x = int(np.clip(x0 + dx, 0, width - head.shape[1]))
        frames[i] = backdrop
        frames[i, y0:y0 + head.shape[0], x:x + head.shape[1]] = head
    return frames


def write_video(path: Path, frames: np.ndarray, fps: float) -> None:
    """Write BGR frames as an mp4 (MPEG-4 Part 2, which every OpenCV build can encode)."""
    height, width = frames.shape[1:3]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    if not writer.isOpened():
        raise RuntimeError(f"{path}: OpenCV cannot open an mp4 writer")
    for frame in frames:
        writer.write(frame)
    writer.release()


def make_fixture(out: Path, spec: FixtureSpec = FixtureSpec()) -> list[Path]:
    """Write the dataset as `<out>/<part>/Actor_NN/<RAVDESS name>`; return the files written."""
    face = face_photo() if any(p.startswith("video") for p in spec.parts) else None
    written = []
    for part in spec.parts:
        for clip in expected_clips(part, spec.actors):
            folder = out / part / f"Actor_{clip.actor:02d}"
            folder.mkdir(parents=True, exist_ok=True)
            if clip.modality == 3:
                path = folder / f"{clip.stem}{spec.audio_suffix}"
                soundfile.write(str(path), synth_audio(clip, spec), spec.sample_rate, subtype="PCM_16")
            else:
                path = folder / f"{clip.stem}.mp4"
                write_video(path, synth_frames(clip, spec, face), spec.fps)
            written.append(path)
    return written
