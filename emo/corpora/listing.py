"""A corpus read from a folder of any layout: every clip parsed, strangers and duplicates refused, counts checked."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path

from emo.core.errors import EmoError
from emo.corpora.base import UNKNOWN_GENDER, Corpus, CorpusNameError, Utterance
from emo.fetch.download import DuplicateClipError, MissingClipsError

log = logging.getLogger(__name__)
SHOWN = 10  # bad names listed in full; the rest are counted


class UnparsedClipsError(EmoError, ValueError):
    """Audio files whose names do not follow the corpus's naming scheme."""


def parse_all(paths: Iterable[Path], corpus: Corpus, where: str) -> list[Utterance]:
    """Parse every clip, sorted by clip; refuse all names that do not parse at once, then any clip seen twice."""
    utterances, bad = [], []
    for path in paths:
        try:
            utterances.append(replace(corpus.parse(path), path=path.as_posix()))
        except CorpusNameError as err:
            bad.append(str(err))
    if bad:
        more = f"\n  ... and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise UnparsedClipsError(
            f"{len(bad)} of {len(bad) + len(utterances)} audio files in {where} are not {corpus.title} clips:\n  "
            + "\n  ".join(bad[:SHOWN]) + more
            + f"\nRename or remove them, or check that {where} holds {corpus.title}.")
    seen: dict[str, str] = {}
    for utterance in utterances:
        if utterance.clip in seen:  # the same recording twice, e.g. as .wav and as .flac, or in two folders
            raise DuplicateClipError(f"{corpus.title} clip {utterance.clip} appears twice in {where}: "
                                     f"{seen[utterance.clip]} and {utterance.path}; remove one of them")
        seen[utterance.clip] = utterance.path
    return sorted(utterances)


def inventory(folder: Path, corpus: Corpus) -> list[Utterance]:
    """Every clip of `corpus` under `folder` (any layout), with its path and the genders the folder's tables add."""
    if not folder.is_dir():
        raise EmoError(f"{folder}: no such folder (expected a folder holding {corpus.title})")
    paths = sorted(p for p in folder.rglob("*") if corpus.is_clip(p) and p.is_file())
    if not paths:
        raise MissingClipsError(f"{folder} holds no {corpus.title} clips ({', '.join(corpus.suffixes)} files "
                                f"named {corpus.scheme})")
    utterances = parse_all(paths, corpus, str(folder))
    genders = corpus.genders(folder)
    utterances = [replace(u, gender=genders.get(u.speaker, u.gender)) for u in utterances]
    unknown = sorted({u.speaker for u in utterances if u.gender == UNKNOWN_GENDER})
    if unknown:
        log.warning("%s: gender unknown (%s) for %d %s speakers, e.g. %s: %s tells it; put it in the folder",
                    folder, UNKNOWN_GENDER, len(unknown), corpus.title, unknown[0],
                    " or ".join(corpus.side_files) or "nothing")
    return utterances


def check_count(utterances: list[Utterance], corpus: Corpus, where: str,
                parts: Iterable[str] | None = None) -> None:
    """Refuse a copy that holds more or fewer clips than the complete corpus (per part; `parts`: those wanted)."""
    counts = Counter(u.part for u in utterances)
    for part in corpus.expected if parts is None else parts:
        want, have = corpus.expected[part], counts[part]
        if have < want:
            raise MissingClipsError(f"{where} holds {have} of the {want} {corpus.title} {part} clips "
                                    f"({want - have} missing): the copy is incomplete")
        if have > want:
            raise EmoError(f"{where} holds {have} {corpus.title} {part} clips, but the corpus has {want}: "
                           "the copy holds clips that are not the corpus's")
