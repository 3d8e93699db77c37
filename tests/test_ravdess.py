"""RAVDESS names, labels, parts, splits and pairing."""

import pytest

from emo.core.ravdess import ActorSplit, Clip, RavdessNameError, expected_clips, parse_name


def test_parse_name_reads_every_field():
    clip = parse_name("data/Actor_12/03-01-05-02-01-02-12.wav")
    assert clip == Clip(modality=3, channel=1, emotion=5, intensity=2, statement=1, repetition=2, actor=12)
    assert (clip.emotion_name, clip.label, clip.part) == ("angry", 4, "audio_speech")
    assert clip.stem == "03-01-05-02-01-02-12"


@pytest.mark.parametrize("name, problem", [
    ("03-01-05-02-01-02.wav", "not a RAVDESS file name"),
    ("3-1-5-2-1-2-12.wav", "not a RAVDESS file name"),
    ("04-01-05-02-01-02-12.wav", "modality 04"),
    ("03-03-05-02-01-02-12.wav", "vocal channel 03"),
    ("03-01-09-02-01-02-12.wav", "emotion 09"),
    ("03-02-07-01-01-01-12.wav", "does not exist in song"),
    ("03-01-01-02-01-01-12.wav", "neutral has no strong"),
    ("03-01-05-03-01-02-12.wav", "intensity 03"),
    ("03-01-05-02-03-02-12.wav", "statement 03"),
    ("03-01-05-02-01-00-12.wav", "repetition 00"),
    ("03-01-05-02-01-02-25.wav", "actor 25"),
    ("02-01-05-02-01-02-12.wav", "suffix '.wav' does not fit modality 02"),
])
def test_malformed_name_is_a_clear_error_naming_the_file(name, problem):
    with pytest.raises(RavdessNameError, match=problem) as caught:
        parse_name(f"some/dir/{name}")
    assert f"some/dir/{name}" in str(caught.value)


def test_audio_and_video_of_one_performance_share_the_pairing_key():
    audio = parse_name("03-01-06-01-02-01-16.wav")
    video_only = parse_name("02-01-06-01-02-01-16.mp4")
    audio_video = parse_name("01-01-06-01-02-01-16.mp4")
    other = parse_name("02-01-06-01-02-02-16.mp4")
    assert audio.performance == video_only.performance == audio_video.performance == "01-06-01-02-01-16"
    assert other.performance != audio.performance
    assert (video_only.part, audio_video.part) == ("video_speech", "video_speech")


def test_expected_clip_counts_match_ravdess():
    assert len(expected_clips("audio_speech")) == 1440
    assert len(expected_clips("audio_song")) == 1012
    assert len(expected_clips("video_speech")) == 1440
    assert len(expected_clips("video_speech", video_modalities=(1, 2))) == 2880
    assert len(expected_clips("video_song")) == 1012
    assert len(expected_clips("video_speech")) + len(expected_clips("video_song")) == 2452
    assert not [c for c in expected_clips("audio_song") if c.actor == 18]
    per_emotion = [sum(c.emotion == e for c in expected_clips("audio_speech")) for e in range(1, 9)]
    assert per_emotion == [96] + [192] * 7


def test_actor_split_default_and_configurable():
    split = ActorSplit()
    assert [split.of(a) for a in (1, 20, 21, 22, 23, 24)] == ["train", "train", "val", "val", "test", "test"]
    custom = ActorSplit(val=(1,), test=(2, 3))
    assert (custom.of(1), custom.of(3), custom.of(24)) == ("val", "test", "train")
    with pytest.raises(ValueError, match="both"):
        ActorSplit(val=(5,), test=(5,))
    with pytest.raises(ValueError, match="unknown actors"):
        ActorSplit(test=(30,))
