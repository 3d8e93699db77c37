"""Frames, faces and face-crop augmentations: sequential reads, detection, counted fallbacks, damaged files."""

from __future__ import annotations

import csv
import os
import struct
from pathlib import Path

import cv2
import numpy as np
import pytest

from emo.core.errors import EmoError
from emo.core.params import VideoParams
from emo.core.ravdess import Clip
from emo.data.fixtures import FixtureSpec, face_photo, synth_frames, write_video
from emo.vision import face_augment as fa
from emo.vision import faces
from emo.vision.faces import FaceDetector, crop, crop_clip, detect_clip, extract, fill_boxes
from emo.vision.video import DamagedVideoError, frame_indices, read_frames

SPEC = FixtureSpec()  # 320 x 180, 15 fps, 3.6 s = 54 frames
PARAMS = VideoParams(workers=1)


@pytest.fixture(scope="module")
def face_frames() -> np.ndarray:
    """BGR frames of the astronaut drifting over a backdrop (54 x 180 x 320 x 3)."""
    return synth_frames(Clip(2, 1, 5, 2, 1, 1, 1), SPEC, face_photo())


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(PARAMS)


@pytest.fixture(scope="module")
def videos(tmp_path_factory, face_frames) -> dict[str, Path]:
    """A face clip, a face-free clip, a truncated clip, a clip cut before its index and a zero-byte file."""
    folder = tmp_path_factory.mktemp("videos")
    paths = {name: folder / f"{name}.mp4" for name in ("face", "noface", "truncated", "headless", "empty")}
    write_video(paths["face"], face_frames, SPEC.fps)
    rng = np.random.default_rng(0)
    backdrop = cv2.resize(rng.normal(90, 40, (12, 21, 3)), (320, 180)).clip(0, 255).astype(np.uint8)
    noise = rng.integers(0, 30, (20, 180, 320, 3), dtype=np.uint8)
    write_video(paths["noface"], backdrop[None] + noise, SPEC.fps)
    whole = paths["face"].read_bytes()
    fast = faststart(whole)
    paths["truncated"].write_bytes(fast[:len(fast) // 2])  # index first: the header promises all 54 frames
    paths["headless"].write_bytes(whole[:len(whole) // 2])  # OpenCV's writer puts the index last: it is lost
    paths["empty"].write_bytes(b"")
    return paths


def _boxes(data: bytes, start: int, end: int):
    """(kind, offset, size, header size) of the MP4 boxes in data[start:end]."""
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack(">I4s", data[pos:pos + 8])
        header = 8
        if size == 1:
            size, header = struct.unpack(">Q", data[pos + 8:pos + 16])[0], 16
        elif size == 0:
            size = end - pos
        yield kind.decode("latin1"), pos, size, header
        pos += size


def faststart(data: bytes) -> bytes:
    """The mp4 with its index (`moov`) moved before the media data, chunk offsets shifted to match.

    As streaming encoders write it: cut such a file short and the index still promises every frame.
    """
    top = list(_boxes(data, 0, len(data)))
    (moov_at, moov_size), = [(pos, size) for kind, pos, size, _ in top if kind == "moov"]
    moov = bytearray(data[moov_at:moov_at + moov_size])

    def shift(start: int, end: int) -> None:
        for kind, pos, size, header in _boxes(moov, start, end):
            if kind in ("trak", "mdia", "minf", "stbl"):
                shift(pos + header, pos + size)
            elif kind == "stco":
                (count,) = struct.unpack(">I", moov[pos + 12:pos + 16])
                for at in range(pos + 16, pos + 16 + 4 * count, 4):
                    moov[at:at + 4] = struct.pack(">I", struct.unpack(">I", moov[at:at + 4])[0] + moov_size)
            assert kind != "co64", "64-bit chunk offsets are not needed for these small files"

    shift(8, moov_size)
    first = [data[pos:pos + size] for kind, pos, size, _ in top if kind == "ftyp"]
    rest = [data[pos:pos + size] for kind, pos, size, _ in top if kind not in ("ftyp", "moov")]
    return b"".join(first) + bytes(moov) + b"".join(rest)


# --- reading frames ------------------------------------------------------------------------------------------


def test_sequential_read_equals_seek_read(videos):
    frames, info = read_frames(str(videos["face"]), 9)
    capture = cv2.VideoCapture(str(videos["face"]))
    for frame, index in zip(frames, info["indices"], strict=True):
        capture.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, seeked = capture.read()
        assert ok and np.array_equal(frame, seeked), index
    capture.release()
    assert info["frames_header"] == info["frames_decoded"] == 54 and not info["truncated"]


@pytest.mark.parametrize("count", [1, 5, 31, 32, 33, 100])
def test_32_frames_from_a_clip_of_any_length(tmp_path, count):
    # Every frame a different flat grey, so a frame from the wrong index cannot pass for the right one.
    levels = 2 * np.arange(count) + 20
    path = tmp_path / "ramp.mp4"
    write_video(path, np.broadcast_to(levels[:, None, None, None], (count, 48, 64, 3)).astype(np.uint8), 30)
    frames, info = read_frames(str(path), 32)
    assert frames.shape == (32, 48, 64, 3) and frames.dtype == np.uint8
    assert info["frames_decoded"] == count and not info["truncated"]
    assert info["indices"] == frame_indices(count, 32).tolist()
    assert info["indices"][0] == 0 and info["indices"][-1] == count - 1
    capture = cv2.VideoCapture(str(path))
    every = [capture.read()[1] for _ in range(count)]
    capture.release()
    assert all(np.array_equal(frame, every[i]) for frame, i in zip(frames, info["indices"], strict=True))


def test_truncated_mp4_spreads_frames_over_what_decodes(videos):
    frames, info = read_frames(str(videos["truncated"]), 32)
    assert frames.shape == (32, 180, 320, 3)
    assert info["truncated"] and info["frames_header"] == 54
    assert 0 < info["frames_decoded"] < 54
    assert info["indices"] == frame_indices(info["frames_decoded"], 32).tolist()


@pytest.mark.parametrize("name", ["empty", "headless"])
def test_unreadable_file_names_itself_and_the_fix(videos, name):
    with pytest.raises(DamagedVideoError) as err:
        read_frames(str(videos[name]), 32)
    assert str(videos[name]) in str(err.value) and "skip_damaged" in str(err.value)


# --- faces ---------------------------------------------------------------------------------------------------


def test_astronaut_is_found_and_cropped(face_frames, detector):
    frames = face_frames[frame_indices(len(face_frames), 32)]
    crops, stats = crop_clip(frames, detector, PARAMS)
    assert crops.shape == (32, PARAMS.crop_size, PARAMS.crop_size) and crops.dtype == np.uint8
    assert stats["detected"] / 32 > 0.9
    assert stats["detected"] + stats["nearest"] == 32 and stats["centre"] == 0


def test_detection_on_a_large_frame_is_scaled_back(face_frames, detector):
    big = cv2.resize(face_frames[0], (1280, 720), interpolation=cv2.INTER_LINEAR)
    small_box = detector.detect(cv2.cvtColor(face_frames[0], cv2.COLOR_BGR2GRAY))
    big_box = detector.detect(cv2.cvtColor(big, cv2.COLOR_BGR2GRAY))
    assert small_box is not None and big_box is not None
    assert np.allclose(np.array(big_box) / 4, small_box, atol=3)  # 320 wide either way: the same detection


def test_clip_without_a_face_takes_centre_crops(detector):
    frames = np.random.default_rng(1).integers(0, 255, (6, 180, 320, 3), dtype=np.uint8)
    crops, stats = crop_clip(frames, detector, PARAMS)
    assert stats == {"detected": 0, "nearest": 0, "centre": 6}
    gray = cv2.cvtColor(frames[3], cv2.COLOR_BGR2GRAY)
    assert np.array_equal(crops[3], crop(gray, (70, 0, 180, 180), PARAMS.crop_size))


def test_fill_boxes_takes_the_nearest_frame_of_the_clip():
    a, b = (1, 1, 10, 10), (5, 5, 20, 20)
    filled, kinds = fill_boxes([None, a, None, None, b, None, None])
    assert filled == [a, a, a, b, b, b, b]
    assert kinds == ["nearest", "detected", "nearest", "nearest", "detected", "nearest", "nearest"]
    assert fill_boxes([a, None, b])[0] == [a, a, b]  # a tie goes to the earlier frame
    assert fill_boxes([None, None]) == ([None, None], ["none", "none"])


def test_frames_with_the_face_blacked_out_take_the_nearest_box(face_frames, detector):
    frames = face_frames[frame_indices(len(face_frames), 10)].copy()
    hidden = (0, 1, 6)
    for i in hidden:
        x, y, w, h = detector.detect(cv2.cvtColor(frames[i], cv2.COLOR_BGR2GRAY))
        frames[i, max(0, y - h // 2):y + 2 * h, max(0, x - w // 2):x + w + w // 2] = 0
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in frames]
    boxes = detect_clip(grays, detector)
    assert [i for i, box in enumerate(boxes) if box is None] == list(hidden)
    crops, stats = crop_clip(frames, detector, PARAMS)
    assert stats == {"detected": 7, "nearest": 3, "centre": 0}
    for i, nearest in ((0, 2), (1, 2), (6, 5)):  # frame 6: 5 and 7 are as near; the earlier one wins
        assert np.array_equal(crops[i], crop(grays[i], boxes[nearest], PARAMS.crop_size))


def test_tracking_finds_the_same_faces_as_a_whole_frame_search(face_frames, detector):
    grays = [cv2.cvtColor(f, cv2.COLOR_BGR2GRAY) for f in face_frames[frame_indices(len(face_frames), 32)]]
    tracked, searched = detect_clip(grays, detector, track=True), detect_clip(grays, detector, track=False)
    assert [b is None for b in tracked] == [b is None for b in searched]
    for a, b in zip(tracked, searched, strict=True):
        if a is not None:
            assert np.abs(np.subtract(a, b)).max() <= 0.1 * b[2], (a, b)  # within a tenth of the face's width


def test_a_wrong_hint_falls_back_to_a_whole_frame_search(face_frames, detector):
    gray = cv2.cvtColor(face_frames[0], cv2.COLOR_BGR2GRAY)
    assert detector.detect(gray, near=(0, 0, 30, 30)) == detector.detect(gray)


def test_missing_cascade_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(cv2.data, "haarcascades", str(tmp_path))
    with pytest.raises(faces.CascadeMissingError, match="<5"):
        FaceDetector(PARAMS)


# --- extract -------------------------------------------------------------------------------------------------


def _clips(videos: dict[str, Path], names: tuple[str, ...]) -> list[tuple[str, str]]:
    return [(f"perf-{name}", str(videos[name])) for name in names]


def _csv(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_extract_counts_every_outcome_and_workers_do_not_matter(videos, tmp_path):
    clips = _clips(videos, ("face", "noface", "truncated", "headless", "empty", "face"))
    runs = {}
    for workers in (1, 2):
        params = VideoParams(workers=workers, skip_damaged=True)
        runs[workers] = extract(clips, params, tmp_path / f"w{workers}", progress=False)
    report, out = runs[1], tmp_path / "w1"
    assert runs[2] == report
    crops = np.load(out / "crops.npy")
    assert np.array_equal(crops, np.load(tmp_path / "w2" / "crops.npy"))
    assert crops.shape == (6, 32, 64, 64) and crops.dtype == np.uint8
    assert np.load(out / "valid.npy").tolist() == [True, True, True, False, False, True]
    assert sorted(p.name for p in out.iterdir()) == ["clips.csv", "crops.npy", "valid.npy"]
    assert not crops[3:5].any()
    rows = _csv(out / "clips.csv")
    assert [r["status"] for r in rows] == ["ok", "ok", "ok", "damaged", "damaged", "ok"]
    assert rows[1]["centre"] == "32" and rows[2]["truncated"] == "True"
    assert report["clips"] == 6 and report["valid_clips"] == 4 and report["frames"] == 4 * 32
    assert report["damaged"] == {"count": 2, "clips": ["perf-headless", "perf-empty"]}
    assert report["truncated"] == {"count": 1, "clips": ["perf-truncated"]}
    assert report["no_face"] == {"count": 1, "clips": ["perf-noface"]}
    assert report["fallbacks"]["centre"] == 32
    assert sum(report["fallbacks"].values()) == report["frames"]
    assert report["per_clip_detection_rate"]["perf-face"] > 0.9
    assert report["per_clip_detection_rate"]["perf-noface"] == 0.0
    assert report["detection_rate"] == round(report["fallbacks"]["detected"] / report["frames"], 4)


def test_damaged_video_stops_extract_naming_the_file(videos, tmp_path):
    with pytest.raises(DamagedVideoError, match="empty.mp4.*skip_damaged"):
        extract(_clips(videos, ("face", "empty")), PARAMS, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # nothing half-written left behind


def test_a_full_disk_stops_extract_before_any_video_is_read(videos, tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", full, raising=False)
    monkeypatch.setattr(faces, "clip_crops", lambda job: pytest.fail("a video was read on a full disk"))
    crops = tmp_path / "crops.npy"
    with pytest.raises(EmoError, match=f"^disk full while writing {crops}: 0.3 MB needed, .* MB free; free some"):
        extract(_clips(videos, ("face", "face")), PARAMS, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []  # not even the empty (sparse) array


def test_ctrl_c_during_extract_leaves_no_temporary(videos, tmp_path, monkeypatch):
    def interrupted(results, **_):
        yield next(iter(results))
        raise KeyboardInterrupt

    monkeypatch.setattr(faces, "tqdm", interrupted)
    with pytest.raises(KeyboardInterrupt):
        extract(_clips(videos, ("face", "face")), PARAMS, tmp_path, progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("source", "fix"), [("/data/mirror", r"replace empty\.mp4 in the mirror /data/mirror"),
                                             ("zenodo", r"delete data/archives/.* and re-run")])
def test_damaged_video_gets_the_fix_that_fits_the_data_source(videos, tmp_path, source, fix):
    with pytest.raises(DamagedVideoError, match=f"empty\\.mp4: .*; {fix}.*video\\.skip_damaged"):
        extract(_clips(videos, ("face", "empty")), PARAMS, tmp_path, progress=False, source=source)


# --- augmentations -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def some_crops() -> np.ndarray:
    """Low-contrast random crops: values 60..180."""
    return np.random.default_rng(2).integers(60, 181, (4, 16, 16), dtype=np.uint8)


@pytest.mark.parametrize("op", fa.OPS)
@pytest.mark.parametrize("flip", [False, True])
def test_augment_keeps_dtype_and_shape(some_crops, op, flip):
    out = fa.augment_crops(some_crops, op, flip, PARAMS, np.random.default_rng(0))
    assert out.shape == some_crops.shape and out.dtype == np.uint8
    unflipped = fa.hflip(out) if flip else out
    assert np.array_equal(unflipped, some_crops) == (op == "original")


def test_flip_twice_is_identity(some_crops):
    assert np.array_equal(fa.hflip(fa.hflip(some_crops)), some_crops)
    assert np.array_equal(fa.hflip(some_crops)[:, :, 0], some_crops[:, :, -1])


def test_gamma_brightens_and_gain_scales():
    ramp = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    assert np.array_equal(fa.adjust_gamma(ramp, 1.0, 1.0), ramp)
    out = fa.adjust_gamma(ramp, 0.4, 0.9).astype(int)
    assert out[0, 0, 0] == 0 and out.max() == round(0.9 * 255)
    assert (np.diff(out.ravel()) >= 0).all()  # monotone
    assert out[0, 4, 0] == round(255 * 0.9 * (64 / 255) ** 0.4)  # dark values lifted: 64 -> 131


def test_contrast_stretch_fills_the_range_per_crop(some_crops):
    out = fa.contrast_stretch(some_crops, 0.2, 99.8)
    for before, after in zip(some_crops, out, strict=True):
        low, high = np.percentile(before, [0.2, 99.8])
        assert after.min() == 0 and after.max() == 255
        assert (after[before <= low] == 0).all() and (after[before >= high] == 255).all()
        assert np.corrcoef(before.ravel(), after.ravel())[0, 1] > 0.99
    flat = np.full((1, 8, 8), 77, np.uint8)
    assert np.array_equal(fa.contrast_stretch(flat, 0.2, 99.8), flat)


def test_poisson_noise_is_shot_noise(some_crops):
    a = fa.poisson_noise(some_crops, np.random.default_rng(3))
    assert np.array_equal(a, fa.poisson_noise(some_crops, np.random.default_rng(3)))
    assert abs(a.mean() - some_crops.mean()) < 1.0
    assert 5 < np.std(a.astype(float) - some_crops) < 15  # std = sqrt(value): about 11 for values near 120
    black = np.zeros((1, 8, 8), np.uint8)
    assert not fa.poisson_noise(black, np.random.default_rng(0)).any()


def test_unknown_augmentation_is_an_error(some_crops):
    with pytest.raises(fa.EmoError, match="expected one of"):
        fa.augment_crops(some_crops, "sharpen", False, PARAMS, np.random.default_rng(0))
