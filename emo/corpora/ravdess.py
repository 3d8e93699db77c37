"""RAVDESS in the corpus layer: emo.core.ravdess's names in the shared columns; its clips are the audio
(speech, song)."""

from __future__ import annotations

from pathlib import Path

from emo.core.ravdess import INTENSITIES, MEDIA_SUFFIXES, RavdessNameError, expected_clips, parse_name
from emo.corpora.base import SHARED_EMOTIONS, Corpus, CorpusNameError, Source, Utterance

STATEMENTS = {1: "Kids are talking by the door", 2: "Dogs are sitting by the door"}
PARTS = ("audio_speech", "audio_song")  # the corpus layer's clips: audio (suffixes .wav, .flac)


def parse(path: Path) -> Utterance:
    """The utterance a RAVDESS file name describes (odd actors are male, even female); video names parse too."""
    try:
        clip = parse_name(path)
    except RavdessNameError as err:
        raise CorpusNameError(str(err)) from None
    return Utterance(corpus="ravdess", clip=clip.stem, speaker=f"ravdess:{clip.actor:02d}",
                     gender="male" if clip.actor % 2 else "female", emotion=clip.emotion_name,
                     sentence=STATEMENTS[clip.statement], intensity=INTENSITIES[clip.intensity],
                     take=f"{clip.repetition:02d}", part=clip.part)


CORPUS = Corpus(
    name="ravdess", title="RAVDESS", scheme="MM-VV-EE-II-SS-RR-AA.wav, e.g. 03-01-05-02-01-01-12.wav",
    parse=parse, labels=SHARED_EMOTIONS, suffixes=MEDIA_SUFFIXES[3],
    expected={part: len(expected_clips(part)) for part in PARTS},
    source=Source(page="https://zenodo.org/records/1188976", download="https://zenodo.org/api/records/1188976",
                  how="data.source: zenodo downloads the record's zips and checks each against its md5"),
)
