"""How `emo predict` groups files into speakers for per-speaker normalisation (`--speakers`), which statistics a
group uses (`--speaker-stats`, as `--speakers` leaves it), and the warning for a group whose files all name one
emotion: standardising such a group by its own statistics removes the very cue the models look for.

A folder named after an emotion (`Angry/`, `happy/`, `03_sad`) is never taken for a speaker by the default: a
corpus sorted into emotion folders, normalised one folder at a time, scored 27 % against 40 % with the same
files in one folder (issue 22).
"""

from __future__ import annotations

import re
from pathlib import Path

from emo.core.ravdess import EMOTIONS, RavdessNameError, parse_name
from emo.core.text import echo
from emo.predict.jobs import Job, PredictError

#: --speakers: auto = the RAVDESS actor where the name parses, else the folder (never one named after an
#: emotion); ravdess = the actor only (a file with another name fails); folder = each file's folder; one = all
#: the files given; none = no group, the training actors' statistics for every file.
MODES = ("auto", "ravdess", "folder", "one", "none")
#: --speaker-stats, within a group: auto = its own statistics from MIN_OWN_CLIPS clips up, else the training
#: actors' average; own; training.
STATS = ("auto", "own", "training")
ALL, NONE = "all files", "none"  # the speaker of every file under --speakers one, none
MERGED = " (emotion folders merged)"  # after a folder whose emotion folders' files joined it (auto)

#: Emotion words as corpora write them, each to the emotion it names: RAVDESS's, EmoDB's boredom, other
#: spellings, and the abbreviations of CREMA-D and IEMOCAP (`1001_DFA_ANG_XX`, `neu`).
WORDS = {**{e: e for e in EMOTIONS}, "happiness": "happy", "joy": "happy", "hap": "happy", "sadness": "sad",
         "anger": "angry", "ang": "angry", "fear": "fearful", "fea": "fearful", "disgusted": "disgust",
         "dis": "disgust", "surprise": "surprised", "sur": "surprised", "neu": "neutral", "boredom": "boredom",
         "bored": "boredom"}
_WORD = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+")  # words of a name: `OAF_back_angry`, `AngryMale`, `_ANG_`

RAVDESS_ONLY = ("not a RAVDESS name (MM-VV-EE-II-SS-RR-AA, e.g. 03-01-05-02-01-01-12.wav), so --speakers ravdess "
                "has no actor to group it by: rename it, or choose --speakers auto, folder, one or none")


def statistics(*, speakers: str, speaker_stats: str) -> str:
    """The statistics a speaker group uses (auto | own | training) for --speakers and --speaker-stats, checked:
    `none` groups nothing, so it means the training actors' average, and own statistics contradict it."""
    for option, value, choices in (("--speakers", speakers, MODES), ("--speaker-stats", speaker_stats, STATS)):
        if value not in choices:
            raise PredictError(f"{option} {echo(value)}: expected one of {', '.join(choices)}")
    if speakers != "none":
        return speaker_stats
    if speaker_stats == "own":
        raise PredictError("--speakers none normalises every file by the training actors' statistics, which "
                           "--speaker-stats own contradicts: drop --speaker-stats own, or group the files with "
                           "--speakers auto, ravdess, folder or one")
    return "training"


def assign(jobs: list[Job], *, speakers: str) -> None:
    """Each job's speaker group (`job.speaker`, what the output shows) under --speakers; a job that `ravdess`
    cannot place fails, unread."""
    ok = [job for job in jobs if not job.error]
    for job, name in zip(ok, names([job.audio or job.video for job in ok], speakers=speakers), strict=True):
        if name is None:
            job.fail(job.audio or job.video, RAVDESS_ONLY)
        else:
            job.speaker = name


def names(files: list[Path], *, speakers: str) -> list[str | None]:
    """The speaker group of each file under --speakers (see MODES): `actor NN`, `folder PATH`, `all files`,
    `none`; None for a file `ravdess` cannot place. Under auto, a file in folders named after an emotion counts
    with the nearest folder above them (`corpus/Angry/x.wav`: corpus; `alice/angry/x.wav`: alice), and that
    folder's name says so (MERGED)."""
    if speakers != "auto":
        each = {"ravdess": _actor, "folder": lambda f: f"folder {f.parent}", "one": lambda f: ALL,
                "none": lambda f: NONE}[speakers]
        return [each(f) for f in files]
    folders = [None if _actor(f) else _above_emotions(f.parent) for f in files]
    merged = {folder for f, folder in zip(files, folders, strict=True) if folder is not None and folder != f.parent}
    return [_actor(f) or f"folder {folder}" + MERGED * (folder in merged)
            for f, folder in zip(files, folders, strict=True)]


def groups(jobs: list[Job]) -> list[list[Job]]:
    """The jobs by speaker group, in the order of each group's first job (a job that failed already, or one with
    no group under --speakers none, is a group of its own): `emo predict` scores, prints and lets go of one group
    at a time."""
    by_speaker: dict[str, list[Job]] = {}
    out: list[list[Job]] = []
    for job in jobs:
        if job.error or job.speaker == NONE:
            out.append([job])
            continue
        if job.speaker not in by_speaker:
            out.append(by_speaker.setdefault(job.speaker, []))
        by_speaker[job.speaker].append(job)
    return out


def emotion_folder(name: str) -> bool:
    """Whether a folder's name is an emotion's, digits and separators aside (`Angry`, `03_sad`, `NEU`)."""
    words = [w.lower() for w in _WORD.findall(name)]
    return len(words) == 1 and words[0] in WORDS


def emotion_of(path: Path) -> str | None:
    """The one emotion a file's name carries: its RAVDESS emotion, else the emotion words of its name and of its
    folder's name (`OAF_angry/OAF_back_angry.wav`, `Angry/001.wav`, `1001_DFA_ANG_XX.wav`: angry); None for
    none, or for words of two emotions."""
    try:
        return parse_name(path).emotion_name
    except RavdessNameError:
        pass
    found = {WORDS[w] for w in map(str.lower, _WORD.findall(f"{path.stem} {path.parent.name}")) if w in WORDS}
    return found.pop() if len(found) == 1 else None


def erased(files: list[Path]) -> str | None:
    """The warning for each file of a speaker group normalised by its own statistics when every file's name
    carries one and the same emotion (`emotion_of`); None otherwise."""
    labels = {emotion_of(f) for f in files}
    if len(labels) != 1 or None in labels:
        return None
    return (f"its speaker group holds only {labels.pop()!r} files ({len(files)}, by their names): normalising by "
            "the group's own statistics erases the emotion cue; use --speaker-stats training or --speakers none, "
            "or group files of several emotions together")


def _actor(path: Path) -> str | None:
    try:
        return f"actor {parse_name(path).actor:02d}"
    except RavdessNameError:
        return None


def _above_emotions(folder: Path) -> Path:
    """The folder itself, or the nearest one above it not named after an emotion."""
    while emotion_folder(folder.name):
        folder = folder.parent
    return folder
