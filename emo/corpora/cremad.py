"""CREMA-D (Crowd-sourced Emotional Multimodal Actors Dataset): its file names and its speaker table."""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

from emo.core.errors import EmoError
from emo.corpora.base import SPEECH, UNKNOWN_GENDER, Corpus, Source, Utterance, lookup, name_error
from emo.fetch.remote import one_line

log = logging.getLogger(__name__)
TITLE = "CREMA-D"
SCHEME = "<actor>_<sentence>_<emotion>_<level>.wav, e.g. 1001_DFA_ANG_XX.wav"
DEMOGRAPHICS = "VideoDemographics.csv"  # ActorID, Age, Sex, Race, Ethnicity: the only place gender is told
ACTORS = range(1001, 1092)
SENTENCES = {
    "IEO": "It's eleven o'clock", "TIE": "That is exactly what happened", "IOM": "I'm on my way to the meeting",
    "IWW": "I wonder what this is about", "TAI": "The airplane is almost full",
    "MTI": "Maybe tomorrow it will be cold", "IWL": "I would like a new alarm clock",
    "ITH": "I think I have a doctor's appointment", "DFA": "Don't forget a jacket",
    "ITS": "I think I've seen this before", "TSI": "The surface is slick", "WSI": "We'll stop in a couple of minutes",
}
EMOTIONS = {"ANG": "angry", "DIS": "disgust", "FEA": "fearful", "HAP": "happy", "NEU": "neutral", "SAD": "sad"}
# X: the distribution names one clip 1040_ITH_SAD_X.wav; it is the unspecified level of every other clip.
LEVELS = {"LO": "low", "MD": "medium", "HI": "high", "XX": "unspecified", "X": "unspecified"}
CLIPS = 7442
_NAME = re.compile(r"^(\d{4})_([A-Za-z]{3})_([A-Za-z]{3})_([A-Za-z]{1,2})$")


def parse(path: Path) -> Utterance:
    """The utterance a CREMA-D file name describes; its gender is "?" until the speaker table tells it."""
    match = _NAME.match(path.stem)
    if not match:
        raise name_error(path, TITLE, SCHEME, "not a CREMA-D file name")
    actor, sentence, label, level = match[1], match[2].upper(), match[3].upper(), match[4].upper()
    problems: list[str] = []
    if int(actor) not in ACTORS:
        problems.append(f"actor {actor} (expected {ACTORS[0]}-{ACTORS[-1]})")
    text = lookup(SENTENCES, sentence, "sentence", problems)
    emotion = lookup(EMOTIONS, label, "emotion", problems)
    intensity = lookup(LEVELS, level, "level", problems)
    if problems:
        raise name_error(path, TITLE, SCHEME, "invalid CREMA-D name: " + "; ".join(problems))
    return Utterance(corpus="cremad", clip=f"{actor}_{sentence}_{label}_{level.ljust(2, 'X')}",
                     speaker=f"cremad:{actor}", gender=UNKNOWN_GENDER, emotion=emotion, sentence=text,
                     intensity=intensity)


def genders(folder: Path) -> dict[str, str]:
    """Speaker -> gender from the VideoDemographics.csv under `folder` (the repository's root), if it has one."""
    tables = sorted(folder.rglob(DEMOGRAPHICS))
    if not tables:
        return {}
    try:
        with open(tables[0], newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise EmoError(f"{tables[0]}: unreadable ({one_line(err)}); fix or remove it") from None
    table = {}
    for row in rows:
        actor, sex = (row.get("ActorID") or "").strip(), (row.get("Sex") or "").strip().lower()
        if actor:
            table[f"cremad:{actor}"] = sex if sex in ("male", "female") else UNKNOWN_GENDER
    if not table:
        raise EmoError(f"{tables[0]}: no ActorID / Sex columns; expected CREMA-D's {DEMOGRAPHICS}")
    log.info("CREMA-D genders from %s (%d actors)", tables[0], len(table))
    return table


CORPUS = Corpus(
    name="cremad", title=TITLE, scheme=SCHEME, parse=parse, labels=tuple(EMOTIONS.values()),
    expected={SPEECH: CLIPS}, side_files=(DEMOGRAPHICS,), genders=genders,
    known_damaged=("1076_MTI_SAD_XX",),  # no audio in the distribution, a documented issue of the corpus
    source=Source(page="https://github.com/CheyneyComputerScience/CREMA-D", download=None,
                  how="clone the repository without its LFS files (GIT_LFS_SKIP_SMUDGE=1 git clone ...), fetch "
                      "the wav with `git lfs pull --include 'AudioWAV/*'` and point at the clone: AudioWAV/ holds "
                      "the 7442 wav, VideoDemographics.csv the genders"),
)
