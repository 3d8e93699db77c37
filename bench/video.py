"""Benchmark frames -> faces -> embeddings on generated 1280x720 30 fps clips of 3.5 s with a real face photo.

Ours: one sequential decode per clip (grab every frame, retrieve the 32 wanted), the Haar cascade loaded once
per process, detection on a 320-wide grey frame (searching near the clip's previous face first, and, for
comparison, without that tracking), 2 processes; then the face embedder on all crops.
Paper-style: one process, a seek per wanted frame, the cascade created for every frame, detection on the
full-resolution frame, then the same embedder. Both project the time for all 2452 video-only RAVDESS clips.

Codecs: the clips are written as MPEG-4 Part 2 (mp4v, what OpenCV's wheels encode) and, with PyAV's libx264,
as H.264 (RAVDESS's codec) twice: with x264's defaults (CRF 23; the generated frames are so smooth that this
gives 0.1 MB a clip) and at RAVDESS's bit rate, about 10 Mbit/s (its 4904 mp4 files hold some 5 MB each for
about 4 s), which takes camera-like noise in every frame to fill. Decoding CPU time is measured
per codec on the same clips, and ours end to end on each, so the projection is given for the real codec too.

Run: .venv/bin/python bench/video.py [--clips N] [--h264-clips N] [--paper-clips N]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from emo.core import pins

pins.apply()  # before numpy, torch or librosa load: the kernels the pipeline computes with (emo.core.pins)

import cv2
import numpy as np
import torch

from emo.core.params import VideoParams
from emo.core.ravdess import Clip
from emo.data.fixtures import FixtureSpec, face_photo, synth_frames, write_video
from emo.vision.embedders import load_embedder
from emo.vision.faces import FaceDetector, cascade_path, crop_clip, extract
from emo.vision.video import frame_indices, read_frames

RAVDESS_VIDEO_ONLY = 2452  # 1440 speech + 1012 song clips of modality 02
RAVDESS_MEAN_FRAMES = 110  # about 3.7 s at 29.97 fps
RAVDESS_BIT_RATE = 10_000_000  # bits/s: 24.4 of RAVDESS's 24.8 GB are 4904 mp4 files, 5 MB per clip of ~4 s
CAMERA_NOISE = 3  # grey levels (uniform, fresh in every frame) that make x264 spend RAVDESS's bit rate
SPEC = FixtureSpec(frame_size=(1280, 720), fps=30.0, seconds=3.5)
Writer = Callable[[Path, np.ndarray], None]


def h264_available() -> bool:
    """Whether PyAV is installed with an x264 encoder (its wheels ship one)."""
    try:
        import av
    except ImportError:
        return False
    return "libx264" in av.codecs_available


def write_h264(path: Path, frames: Iterable[np.ndarray], fps: float, bit_rate: int | None = None,
               preset: str = "medium") -> None:
    """Write BGR frames as an H.264 mp4 with PyAV's libx264: x264's defaults (CRF 23), or a mean bit rate."""
    import av

    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=round(fps))
        stream.width, stream.height = SPEC.frame_size
        stream.pix_fmt = "yuv420p"
        stream.options = {"preset": preset}
        if bit_rate:
            stream.bit_rate = bit_rate
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")))
        container.mux(stream.encode())  # flush the frames x264 still holds back (lookahead, B-frames)


def camera_noise(frames: np.ndarray, amplitude: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    """The frames with fresh uniform grey noise of +-amplitude in each, as a camera sensor adds."""
    for frame in frames:
        noise = rng.integers(-amplitude, amplitude + 1, (*frame.shape[:2], 1), dtype=np.int8)
        yield np.clip(frame.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def codecs() -> dict[str, Writer]:
    """How each codec variant writes a clip's frames; the H.264 ones only where PyAV can encode them."""
    writers: dict[str, Writer] = {"mp4v": lambda path, frames: write_video(path, frames, SPEC.fps)}
    if h264_available():
        writers["h264"] = lambda path, frames: write_h264(path, frames, SPEC.fps)
        # veryfast: x264's default preset takes twice as long to encode the noise, the bench's longest step
        writers["h264 10M"] = lambda path, frames: write_h264(
            path, camera_noise(frames, CAMERA_NOISE, np.random.default_rng(len(frames))), SPEC.fps,
            RAVDESS_BIT_RATE, "veryfast")
    return writers


def make_clips(folder: Path, counts: dict[str, int]) -> dict[str, list[tuple[str, str]]]:
    """Write face clips (different emotions and actors, so faces sit in different places) in each codec.

    Clip i is the same frames in every codec; `counts` says how many clips each codec gets.
    """
    face = face_photo()
    writers = {codec: write for codec, write in codecs().items() if counts.get(codec, 0) > 0}
    clips: dict[str, list[tuple[str, str]]] = {codec: [] for codec in writers}
    for i in range(max(counts.values())):
        # Emotions 2-8: the fixture draws the neutral face so dark that the cascade misses it at 720p, and a
        # clip without a face costs a whole-frame search in every frame (timed on its own below).
        clip = Clip(2, 1, 2 + i % 7, 1, 1, 1, 1 + i % 24)
        frames = synth_frames(clip, SPEC, face)
        for codec, write in writers.items():
            if i < counts[codec]:
                path = folder / codec.replace(" ", "-") / f"{clip.stem}.mp4"
                path.parent.mkdir(exist_ok=True)
                write(path, frames)
                clips[codec].append((clip.stem, str(path)))
    return clips


def make_faceless(path: Path) -> tuple[str, str]:
    """A clip of the fixture's backdrop with no face in it."""
    width, height = SPEC.frame_size
    rng = np.random.default_rng(0)
    backdrop = cv2.resize(rng.normal(90, 25, (height // 16 + 1, width // 16 + 1, 3)), (width, height))
    frames = np.repeat(np.clip(backdrop, 0, 255).astype(np.uint8)[None], int(SPEC.seconds * SPEC.fps), axis=0)
    write_video(path, frames, SPEC.fps)
    return path.stem, str(path)


def paper_clip(path: str, n: int, embedder) -> np.ndarray:
    """The paper's loop for one clip: seek, read, new cascade, full-resolution detection, crop 48x48, embed."""
    capture = cv2.VideoCapture(path)
    crops = []
    for index in frame_indices(int(capture.get(cv2.CAP_PROP_FRAME_COUNT)), n):
        capture.set(cv2.CAP_PROP_POS_FRAMES, int(index))
        _, image = capture.read()
        cascade = cv2.CascadeClassifier(cascade_path())
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        face = gray
        for x, y, w, h in cascade.detectMultiScale(gray, 1.1, 5):  # the last face found wins, as in the paper
            face = gray[y:y + h, x:x + w]
        crops.append(cv2.resize(face, (48, 48)))
    capture.release()
    return embedder.embed(np.stack(crops))


def breakdown(clips: list[tuple[str, str]], params: VideoParams, embedder, track: bool) -> dict[str, float]:
    """Seconds per clip of each step of ours, in this process with one thread for OpenCV (as a worker has)."""
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    detector = FaceDetector(params)
    times = {"decode": 0.0, "detect + crop": 0.0, "embed": 0.0}
    for _, path in clips:
        start = time.perf_counter()
        frames, _ = read_frames(path, params.frames, threads=1)
        middle = time.perf_counter()
        crops, _ = crop_clip(frames, detector, params, track)
        end = time.perf_counter()
        embedder.embed(crops)
        times["decode"] += middle - start
        times["detect + crop"] += end - middle
        times["embed"] += time.perf_counter() - end
    cv2.setNumThreads(threads)
    return {step: seconds / len(clips) for step, seconds in times.items()}


def decode_ms_per_frame(clips: dict[str, list[tuple[str, str]]], frames: int, repeats: int = 2) -> dict[str, float]:
    """CPU milliseconds to decode one frame in each codec, as a worker decodes (one thread, every frame).

    CPU time rather than wall time, and each clip's best of `repeats` with the codecs taking turns: other load
    on the machine then barely moves the difference between codecs, which is what the projection needs.
    """
    threads = cv2.getNumThreads()
    cv2.setNumThreads(1)
    best = {codec: [np.inf] * len(paths) for codec, paths in clips.items()}
    for _ in range(repeats):
        for i in range(max(map(len, clips.values()))):
            for codec, paths in clips.items():
                if i < len(paths):
                    start = time.process_time()
                    read_frames(paths[i][1], frames, threads=1)
                    best[codec][i] = min(best[codec][i], time.process_time() - start)
    cv2.setNumThreads(threads)
    return {codec: 1000 * float(np.mean(seconds)) / int(round(SPEC.seconds * SPEC.fps))
            for codec, seconds in best.items()}


def ours(clips: list[tuple[str, str]], params: VideoParams, embedder, out: Path, track: bool) -> tuple[str, float]:
    """Ours end to end (faces in `params.workers` processes, then the embedder): a summary and seconds per clip."""
    start = time.perf_counter()
    report = extract(clips, params, out, progress=False, track=track)
    faces_s = time.perf_counter() - start
    crops = np.load(out / "crops.npy")
    start = time.perf_counter()
    embedder.embed(crops.reshape(-1, params.crop_size, params.crop_size))
    embed_s = time.perf_counter() - start
    per_clip = (faces_s + embed_s) / len(clips)
    summary = (f"faces {faces_s:.2f} s ({params.workers} processes) + embed {embed_s:.2f} s for {len(clips)} clips "
               f"= {params.frames / per_clip:.0f} frames/s, {per_clip * 1000:.0f} ms/clip; face found in "
               f"{report['detection_rate']:.0%} of frames")
    return summary, per_clip


def minutes(seconds_per_clip: float) -> str:
    return f"{seconds_per_clip * RAVDESS_VIDEO_ONLY / 60:.1f} min"


def megabytes(paths: list[tuple[str, str]]) -> float:
    """Mean file size in MB."""
    return float(np.mean([Path(path).stat().st_size for _, path in paths])) / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clips", type=int, default=8, help="clips timed for ours")
    parser.add_argument("--h264-clips", type=int, default=4, help="of those, clips also written and timed as H.264")
    parser.add_argument("--paper-clips", type=int, default=2, help="clips timed for the paper-style loop")
    args = parser.parse_args()
    params = VideoParams(workers=2)
    embedder = load_embedder(params.embedder, params.vgg19_weights)
    embedder.embed(np.zeros((params.frames, params.crop_size, params.crop_size), np.uint8))  # warm up torch
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        counts = {codec: min(args.h264_clips, args.clips) for codec in codecs()}
        counts["mp4v"] = max(args.clips, args.paper_clips)
        start = time.perf_counter()
        clips = make_clips(scratch, counts)
        frames = int(round(SPEC.seconds * SPEC.fps))
        print(f"{len(clips['mp4v'])} clips of {frames} frames, {SPEC.frame_size[0]}x{SPEC.frame_size[1]} at "
              f"{SPEC.fps:g} fps; {params.frames} frames per clip; embedder {params.embedder} ({embedder.dim}-d), "
              f"torch threads {torch.get_num_threads()}; written in {time.perf_counter() - start:.0f} s")
        if not h264_available():
            print("H.264 not measured: PyAV (av) with libx264 is not installed")
        print("codecs: " + ", ".join(f"{codec} {len(paths)} clips of {megabytes(paths):.2f} MB"
                                     for codec, paths in clips.items()))
        mp4v = clips["mp4v"][:args.clips]

        per_clip = {}
        for track in (True, False):
            name = "tracking" if track else "whole-frame search"
            steps = breakdown(mp4v, params, embedder, track)
            print(f"ours ({name}), one process, per clip: "
                  + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in steps.items()))
            summary, per_clip[track] = ours(mp4v, params, embedder, scratch / "faces", track)
            print(f"ours ({name}), mp4v: {summary}")

        decode = decode_ms_per_frame(clips, params.frames)
        print("decoding, one thread, CPU time per frame: " + ", ".join(
            f"{codec} {ms:.2f} ms" + (f" ({ms - decode['mp4v']:+.2f} ms)" if codec != "mp4v" else "")
            for codec, ms in decode.items()))
        per_codec = {"mp4v": per_clip[True]}
        for codec, paths in clips.items():
            if codec != "mp4v":
                summary, per_codec[codec] = ours(paths, params, embedder, scratch / f"faces-{codec}", True)
                print(f"ours (tracking), {codec}: {summary}")

        faceless = make_faceless(scratch / "faceless.mp4")
        faceless_s = breakdown([faceless], params, embedder, True)["detect + crop"]
        print(f"a clip without any face: detect + crop {faceless_s * 1000:.0f} ms (whole-frame search in every frame)")

        start = time.perf_counter()
        for _, path in clips["mp4v"][:args.paper_clips]:
            paper_clip(path, params.frames, embedder)
        paper_per_clip = (time.perf_counter() - start) / args.paper_clips
        print(f"paper-style: {params.frames / paper_per_clip:.1f} frames/s, {paper_per_clip * 1000:.0f} ms/clip "
              f"(on {args.paper_clips} clips); ours is {paper_per_clip / per_clip[True]:.0f}x faster "
              f"({paper_per_clip / per_clip[False]:.0f}x without tracking)")

        print(f"projection for all {RAVDESS_VIDEO_ONLY} video-only RAVDESS clips x {params.frames} frames: "
              f"ours {minutes(per_clip[True])} (whole-frame search {minutes(per_clip[False])}), "
              f"paper-style {minutes(paper_per_clip)}")
        extra = RAVDESS_MEAN_FRAMES * 1e-3 / params.workers  # every frame is decoded, split over the workers
        print(f"each extra ms of decoding per frame adds {minutes(extra)} to ours "
              f"(RAVDESS clips hold about {RAVDESS_MEAN_FRAMES} frames)")
        if len(per_codec) > 1:
            print("ours by codec, measured end to end: " + ", ".join(
                f"{codec} {minutes(seconds)}" for codec, seconds in per_codec.items())
                + "; mp4v's plus the difference in decoding CPU time: " + ", ".join(
                f"{codec} {minutes(per_clip[True] + extra * (decode[codec] - decode['mp4v']))}"
                for codec in per_codec if codec != "mp4v"))
    print(f"peak memory: this process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB, "
          f"largest worker {resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    sys.exit(main())
