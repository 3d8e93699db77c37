"""What every corpus module provides: the utterance a file name describes, and the corpus's description."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from emo.core.errors import EmoError
from emo.core.ravdess import EMOTIONS, is_media_file

#: The shared emotion vocabulary: RAVDESS's eight names. A corpus label without a counterpart keeps its own name.
SHARED_EMOTIONS = EMOTIONS
#: Every corpus but RAVDESS (which also has song) is speech audio: RAVDESS's name for that part.
SPEECH = "audio_speech"
UNKNOWN_GENDER = "?"


class CorpusNameError(EmoError, ValueError):
    """A file name that does not follow its corpus's naming scheme."""


@dataclass(frozen=True, order=True)
class Utterance:
    """One clip as its file name describes it, in the inventory's terms."""

    corpus: str  # registry key: ravdess, emodb, tess, cremad, savee
    clip: str  # the clip's canonical name (file name without suffix), unique within the corpus
    speaker: str  # "<corpus>:<id>", unique across corpora
    gender: str  # male, female, or "?" where the corpus's file names do not tell
    emotion: str  # a SHARED_EMOTIONS name, or the corpus's own label where none fits (EmoDB's boredom)
    sentence: str  # the spoken text where the corpus documents it, else the corpus's sentence code
    intensity: str = ""  # the corpus's own grading, where it has one (RAVDESS, CREMA-D)
    take: str = ""  # repetition or version, where the corpus records several
    part: str = SPEECH  # RAVDESS's part names: audio_speech or audio_song
    path: str = ""  # where the file is; set by the inventory, empty from a bare name


@dataclass(frozen=True)
class Source:
    """Where a corpus officially comes from and how to get it."""

    page: str  # the corpus's home page or record
    download: str | None  # a URL that serves the corpus directly, None where access needs a person
    how: str  # one line for the README and for error messages


def no_genders(folder: Path) -> dict[str, str]:
    """The speaker genders a folder adds to the file names: none for corpora whose names tell."""
    return {}


@dataclass(frozen=True)
class Corpus:
    """One corpus: which files belong to it, how their names parse, and what a complete copy holds."""

    name: str  # registry key, also the prefix of its speaker ids
    title: str  # for people
    scheme: str  # the naming scheme with an example, for error messages
    parse: Callable[[Path], Utterance]  # raises CorpusNameError, naming the file
    labels: tuple[str, ...]  # the emotions its clips can have
    expected: Mapping[str, int] = field(hash=False)  # clips per part in the complete corpus
    source: Source = field(hash=False)
    suffixes: tuple[str, ...] = (".wav", ".flac")  # the original format, and a lossless mirror of it
    side_files: tuple[str, ...] = ()  # files beside the clips that the inventory reads (speaker tables)
    known_damaged: tuple[str, ...] = ()  # clips its distribution ships undecodable: kept, for featurize to skip
    genders: Callable[[Path], dict[str, str]] = no_genders  # speaker -> gender read from a folder

    @property
    def expected_count(self) -> int:
        """How many clips the complete corpus holds."""
        return sum(self.expected.values())

    def is_clip(self, path: str | Path) -> bool:
        """Whether a file belongs to this corpus's clips (by suffix; hidden and macOS resource files excluded)."""
        return is_media_file(path) and Path(path).suffix.lower() in self.suffixes


def name_error(path: Path, title: str, scheme: str, problem: str) -> CorpusNameError:
    """The error for a file name that does not parse: the file, what is wrong, and the scheme."""
    return CorpusNameError(f"{path}: {problem}; {title} names its files {scheme}")


def lookup(table: Mapping[str, str], code: str, what: str, problems: list[str]) -> str:
    """`table[code]`, or "" and a problem noted that names the code and the codes allowed."""
    if code in table:
        return table[code]
    problems.append(f"{what} {code!r} (expected {', '.join(table)})")
    return ""
