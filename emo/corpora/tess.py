"""TESS (Toronto Emotional Speech Set): its file names in the shared columns."""

from __future__ import annotations

import re
from pathlib import Path

from emo.corpora.base import SPEECH, Corpus, Source, Utterance, lookup, name_error

TITLE = "TESS"
SCHEME = "<speaker>_<word>_<emotion>.wav (speaker OAF or YAF), e.g. OAF_back_angry.wav or YAF_dog_ps.wav"
SPEAKERS = ("OAF", "YAF")  # the older (64) and the younger (26) actress: both female
# ps: pleasant surprise, the only surprise TESS has, so it is the shared vocabulary's surprised.
EMOTIONS = {"angry": "angry", "disgust": "disgust", "fear": "fearful", "happy": "happy", "neutral": "neutral",
            "ps": "surprised", "sad": "sad"}
WORDS = 200
_NAME = re.compile(r"^([A-Za-z]+)_([^_\s]+)_([A-Za-z]+)$")


def _speaker(prefix: str, path: Path) -> str:
    """The speaker a file-name prefix names; the enclosing folder (OAF_neutral) settles a cut one such as OA."""
    if prefix in SPEAKERS:
        return prefix
    # The distribution names one file OA_bite_neutral.wav (in OAF_neutral): trust the folder when it extends it.
    folder = path.parent.name.partition("_")[0].upper()
    return folder if folder in SPEAKERS and prefix and folder.startswith(prefix) else ""


def parse(path: Path) -> Utterance:
    """The utterance a TESS file name describes (any case: the distribution mixes them)."""
    match = _NAME.match(path.stem)
    if not match:
        raise name_error(path, TITLE, SCHEME, "not a TESS file name")
    prefix, word, label = match[1].upper(), match[2].lower(), match[3].lower()
    problems: list[str] = []
    speaker = _speaker(prefix, path)
    if not speaker:
        problems.append(f"speaker {match[1]!r} (expected {' or '.join(SPEAKERS)}, or a folder named after one)")
    emotion = lookup(EMOTIONS, label, "emotion", problems)
    if problems:
        raise name_error(path, TITLE, SCHEME, "invalid TESS name: " + "; ".join(problems))
    return Utterance(corpus="tess", clip=f"{speaker}_{word}_{label}", speaker=f"tess:{speaker}", gender="female",
                     emotion=emotion, sentence=f"Say the word {word}")


CORPUS = Corpus(
    name="tess", title=TITLE, scheme=SCHEME, parse=parse, labels=tuple(EMOTIONS.values()),
    expected={SPEECH: len(SPEAKERS) * len(EMOTIONS) * WORDS},
    source=Source(page="https://doi.org/10.5683/SP2/E8H2MF", download=None,
                  how="download the dataset from its University of Toronto Dataverse record (CC BY-NC-ND 4.0), "
                      "unpack it and point at the folder"),
)
