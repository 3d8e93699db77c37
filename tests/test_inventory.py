"""The inventory: rows, durations, round trip, damaged clips."""

import csv
import logging
import math
import shutil

import pytest

from emo.core.ravdess import ActorSplit
from emo.data import inventory


@pytest.fixture(scope="module")
def rows(fixture_dataset):
    return inventory.build(fixture_dataset, ActorSplit())


def test_rows_cover_every_clip_with_labels_split_and_duration(rows):
    assert len(rows) == 480
    audio = next(r for r in rows if r.path.endswith("03-01-05-02-01-02-21.wav"))
    assert (audio.part, audio.emotion, audio.label, audio.intensity, audio.actor, audio.split) == \
        ("audio_speech", "angry", 4, 2, 21, "val")
    assert audio.duration == pytest.approx(3.6)
    video = next(r for r in rows if r.path.endswith("02-01-05-02-01-02-21.mp4"))
    assert video.performance == audio.performance and video.duration == pytest.approx(3.6)


def test_round_trip_and_summary(rows, tmp_path):
    inventory.write(rows, tmp_path / "inventory.csv")
    assert inventory.read(tmp_path / "inventory.csv") == rows
    summary = inventory.summary(rows)
    assert summary["per_emotion"]["neutral"] == 32 and summary["per_emotion"]["sad"] == 64
    assert summary["actors"] == 4


@pytest.mark.parametrize("name, damage", [
    ("03-01-02-01-01-01-01.wav", lambda b: b""),
    ("03-01-02-01-01-02-01.wav", lambda b: b[:20]),
    ("02-01-02-01-01-01-01.mp4", lambda b: b""),
    ("02-01-02-01-01-02-01.mp4", lambda b: b"\0" * 4096),
])
def test_unreadable_clip_is_listed_not_fatal(fixture_dataset, tmp_path, caplog, name, damage):
    """The inventory does not decide about a damaged clip: featurize / faces do, with their skip_damaged."""
    part = "audio_speech" if name.startswith("03") else "video_speech"
    folder = tmp_path / part / "Actor_01"
    shutil.copytree(fixture_dataset / part / "Actor_01", folder)
    (folder / name).write_bytes(damage((folder / name).read_bytes()))
    with caplog.at_level(logging.WARNING, logger="emo.data.inventory"):
        rows = inventory.build(tmp_path, ActorSplit())
    (bad,) = [r for r in rows if r.path.endswith(name)]
    assert len(rows) == 60 and math.isnan(bad.duration)
    assert name in caplog.text and "skip_damaged" in caplog.text
    inventory.write(rows, tmp_path / "inventory.csv")
    with open(tmp_path / "inventory.csv", newline="") as handle:
        assert next(r for r in csv.DictReader(handle) if r["path"] == bad.path)["duration"] == ""
    back = inventory.read(tmp_path / "inventory.csv")
    assert math.isnan(next(r for r in back if r.path == bad.path).duration)
    summary = inventory.summary(back)
    assert summary["unreadable_clips"] == 1 and summary["unreadable"] == [bad.path]
    assert summary["hours"] > 0
