"""SAVEE (Surrey Audio-Visual Expressed Emotion): its file names in the shared columns."""

from __future__ import annotations

import re
from pathlib import Path

from emo.corpora.base import SPEECH, Corpus, Source, Utterance, lookup, name_error

TITLE = "SAVEE"
SCHEME = ("<emotion code><sentence>.wav in a speaker folder (DC/a01.wav) or <speaker>_<emotion code><sentence>.wav "
          "(DC_a01.wav); speakers DC, JE, JK, KL; codes a, d, f, h, n, sa, su")
SPEAKERS = ("DC", "JE", "JK", "KL")  # four male speakers
EMOTIONS = {"a": "angry", "d": "disgust", "f": "fearful", "h": "happy", "n": "neutral", "sa": "sad",
            "su": "surprised"}
# 15 sentences per emotion; neutral also recorded the common and the emotion-specific ones: 30.
SENTENCES = {code: 30 if code == "n" else 15 for code in EMOTIONS}
_NAME = re.compile(r"^(?:([A-Za-z]{2})_)?([A-Za-z]{1,2})(\d\d)$")


def parse(path: Path) -> Utterance:
    """The utterance a SAVEE file name describes; a bare name (a01.wav) takes its speaker from its folder."""
    match = _NAME.match(path.stem)
    if not match:
        raise name_error(path, TITLE, SCHEME, "not a SAVEE file name")
    speaker = (match[1] or path.parent.name).upper()
    code, number = match[2].lower(), int(match[3])
    problems: list[str] = []
    if speaker not in SPEAKERS:
        where = "speaker" if match[1] else "speaker folder"
        problems.append(f"{where} {match[1] or path.parent.name!r} (expected {', '.join(SPEAKERS)})")
    emotion = lookup(EMOTIONS, code, "emotion code", problems)
    if emotion and not 1 <= number <= SENTENCES[code]:
        problems.append(f"sentence {number:02d} (emotion code {code!r} has 01-{SENTENCES[code]:02d})")
    if problems:
        raise name_error(path, TITLE, SCHEME, "invalid SAVEE name: " + "; ".join(problems))
    # SAVEE numbers its sentences per emotion and its file names do not tell which text was spoken.
    return Utterance(corpus="savee", clip=f"{speaker}_{code}{number:02d}", speaker=f"savee:{speaker}",
                     gender="male", emotion=emotion, sentence=f"{code}{number:02d}")


CORPUS = Corpus(
    name="savee", title=TITLE, scheme=SCHEME, parse=parse, labels=tuple(EMOTIONS.values()),
    expected={SPEECH: len(SPEAKERS) * sum(SENTENCES.values())},
    source=Source(page="http://kahlan.eps.surrey.ac.uk/savee/", download=None,
                  how="register on the SAVEE page for the AudioData download, unpack it and point at the folder"),
)
