"""The corpus layer: each corpus's file names turned into shared columns (corpus, speaker, gender, emotion,
sentence), one module per corpus, and the registry of them."""

from __future__ import annotations

from emo.core.errors import EmoError
from emo.corpora import cremad, emodb, ravdess, savee, tess
from emo.corpora.base import SHARED_EMOTIONS, Corpus, CorpusNameError, Source, Utterance
from emo.corpora.emodb import fetch_emodb
from emo.corpora.fetch import fetch_folder, fetch_zip
from emo.corpora.listing import UnparsedClipsError, check_count, inventory

CORPORA: dict[str, Corpus] = {c.name: c for c in (ravdess.CORPUS, emodb.CORPUS, tess.CORPUS, cremad.CORPUS,
                                                  savee.CORPUS)}


def corpus(name: str) -> Corpus:
    """The registered corpus of that name, or an error listing the names."""
    if name not in CORPORA:
        raise EmoError(f"unknown corpus {name!r}; expected one of {', '.join(CORPORA)}")
    return CORPORA[name]


__all__ = ["CORPORA", "SHARED_EMOTIONS", "Corpus", "CorpusNameError", "Source", "UnparsedClipsError", "Utterance",
           "check_count", "corpus", "fetch_emodb", "fetch_folder", "fetch_zip", "inventory"]
