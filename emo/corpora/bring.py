"""The DVC stage `corpora`: every corpus that `corpora.test` names brought into data/corpora/<name>, each all or
nothing (a verified copy of a folder, or its official download), and nothing else left there."""

from __future__ import annotations

from pathlib import Path

from emo.core.errors import EmoError
from emo.corpora.base import Corpus
from emo.corpora.emodb import fetch_emodb
from emo.corpora.fetch import fetch_folder
from emo.fetch import download, remote
from emo.fetch.download import FetchReport

OFFICIAL = "official"


def fetch_one(corpus: Corpus, source: str, out: Path, archive_dir: Path, progress: bool = True) -> FetchReport:
    """Fill `out` with one corpus from `source` (a folder, an http(s) zip for EmoDB, or 'official')."""
    if source == OFFICIAL:
        if corpus.source.download is None:
            raise EmoError(f"corpora.{corpus.name}: {OFFICIAL}: {corpus.title} has no download emo can make "
                           f"({corpus.source.how}; {corpus.source.page}); set corpora.{corpus.name} to a folder "
                           "holding it")
        source = corpus.source.download
    if corpus.name == "emodb":
        return fetch_emodb(source, out, archive_dir, progress=progress)
    if remote.url_scheme(source) is not None:
        raise EmoError(f"corpora.{corpus.name}: {source!r}: emo reads {corpus.title} from a folder only; set "
                       f"corpora.{corpus.name} to a folder holding it")
    return fetch_folder(Path(source).expanduser(), corpus, out, progress)


def bring(names: tuple[str, ...], sources: dict[str, str], out: Path, archive_dir: Path,
          progress: bool = True) -> dict[str, dict]:
    """Fetch each named corpus into out/<name>; remove whatever else out holds; per corpus its clip counts."""
    from emo.corpora import corpus

    out.mkdir(parents=True, exist_ok=True)
    report = {}
    for name in names:
        fetched = fetch_one(corpus(name), sources[name], out / name, archive_dir, progress)
        report[name] = {"clips": sum(fetched.clips.values()), "verified": fetched.verified}
    for stale in sorted(out.iterdir()):  # a corpus no longer tested, or what a killed run left behind
        if stale.name not in names:
            download.remove_tree(stale)
    return report
