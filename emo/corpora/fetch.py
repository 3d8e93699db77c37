"""Bring a corpus into `<out>/<part>/<speaker>/<clip><suffix>` from a folder or a zip: verified, all or nothing."""

from __future__ import annotations

import contextlib
import logging
import shutil
import zipfile
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import soundfile
from tqdm.auto import tqdm

from emo.core.errors import EmoError
from emo.corpora.base import Corpus, Utterance
from emo.corpora.listing import check_count, inventory, parse_all
from emo.data.inventory import DamagedClipError
from emo.fetch import download, remote
from emo.fetch.download import MAX_CLIP_BYTES, MAX_EXPANSION, ZIP_ERRORS, FetchReport

log = logging.getLogger(__name__)
SHOWN = 10  # damaged files listed in full; the rest are counted
LFS_POINTER = b"version https://git-lfs"  # what a clone without Git LFS holds instead of each clip
#: A check of a complete staged copy (its clips' paths), raising an EmoError naming the first clip that fails it.
Verify = Callable[[list[Path]], None]


class LocalWriteError(EmoError):
    """Our side failed (disk full, no permission), not the archive: a retry may succeed with the same archive."""


def canonical_path(out: Path, utterance: Utterance, suffix: str) -> Path:
    """Where a clip lives in the canonical layout (its format kept: the suffix is only lower-cased)."""
    return out / utterance.part / utterance.speaker.partition(":")[2] / f"{utterance.clip}{suffix.lower()}"


@contextmanager
def staged(out: Path) -> Iterator[Path]:
    """A fresh folder beside `out` that replaces `out` only when the block completes; removed when it fails."""
    staging = out.with_name(f".{out.name}.partial")
    download.recover_swap(out)
    download.remove_tree(staging)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        with contextlib.suppress(OSError):  # the error to report is the one that stopped the fetch
            download.remove_tree(staging)
        raise
    download.swap_in(staging, out)


def decode_problem(path: Path) -> str | None:
    """Why an audio file does not decode whole, or None when every frame its header announces decodes."""
    with open(path, "rb") as handle:
        if handle.read(len(LFS_POINTER)) == LFS_POINTER:
            return "a Git LFS pointer, not the audio: run `git lfs pull` in the clone"
    try:
        with soundfile.SoundFile(str(path)) as sound:
            announced = sound.frames
            decoded = len(sound.read(dtype="int16"))
    except (RuntimeError, soundfile.LibsndfileError) as err:
        return f"does not decode ({remote.one_line(err)})"
    if announced <= 0:
        return "holds no audio frames"
    if decoded != announced:
        return f"decodes {decoded} of the {announced} frames its header announces"
    return None


def check_decodes(paths: list[Path], where: str, known_damaged: tuple[str, ...] = (),
                  names: list[str] | None = None) -> None:
    """Refuse a copy in which any clip does not decode, naming the first few by `names` (where the user finds
    them: the source file or the zip member; default the copies' paths); the corpus's known ones only warn."""
    bad = []
    for path, name in zip(paths, names or map(str, paths), strict=True):
        problem = decode_problem(path)
        problem = problem and problem.replace(f"'{path}'", "the file")  # the decoder's message names the copy
        if problem and path.stem in known_damaged:
            log.warning("%s: %s, as the corpus ships it; kept for featurize to skip", name, problem)
        elif problem:
            bad.append(f"{name}: {problem}")
    if bad:
        more = f"\n  ... and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        raise DamagedClipError(f"{len(bad)} of {len(paths)} clips from {where} are damaged:\n  "
                               + "\n  ".join(bad[:SHOWN]) + more + f"\n{where} is a damaged copy: fetch it again")


def _report(utterances: list[Utterance], verified: int, archives: list[str]) -> FetchReport:
    """What a fetch brought, in the RAVDESS download's terms."""
    return FetchReport(clips=dict(sorted(Counter(u.part for u in utterances).items())), archives=archives,
                       verified=verified)


def fetch_folder(folder: Path, corpus: Corpus, out: Path, progress: bool = True,
                 verify: Verify | None = None) -> FetchReport:
    """Copy a complete corpus from a folder (any layout, never touched), checked against its MANIFEST.tsv if any,
    then every copy decoded and, with `verify`, the copy checked as a whole (then every clip counts as verified)."""
    utterances = inventory(folder, corpus)
    check_count(utterances, corpus, str(folder))
    manifest = download.read_manifest(folder)
    verified = 0
    with staged(out) as staging:
        copies = []
        for utterance in tqdm(utterances, desc=f"copying {corpus.title} from {folder}", unit="clip",
                              disable=not progress):
            source = Path(utterance.path)
            expected = manifest.get(source.resolve())
            copies.append(canonical_path(staging, utterance, source.suffix))
            download.copy_verified(source, copies[-1], expected)
            verified += expected is not None
        for name in corpus.side_files:  # the inventory of `out` needs them (CREMA-D's speaker table)
            for side in sorted(folder.rglob(name))[:1]:
                shutil.copyfile(side, staging / name)
        check_decodes(copies, str(folder), corpus.known_damaged, [u.path for u in utterances])
        if verify is not None:
            verify(copies)
            verified = len(copies)
    return _report(utterances, verified, [])


def extract(archive: Path, members: list[tuple[zipfile.ZipInfo, Path]]) -> None:
    """Extract zip members to their destinations within emo.fetch.download's size bounds; a damaged zip is refused."""
    budget = MAX_EXPANSION * archive.stat().st_size  # a zip bomb stops here, whatever the headers say
    where = str(archive)
    try:
        with zipfile.ZipFile(archive) as bundle:
            for info, dest in members:
                where = f"{archive}: member {info.filename}"
                budget -= download.extract_member(bundle, info, dest, min(MAX_CLIP_BYTES, budget), where)
    except EmoError:
        raise
    except ZIP_ERRORS as err:
        if isinstance(err, OSError) and err.errno is not None:  # our disk, not the archive
            raise LocalWriteError(f"{where}: cannot extract ({remote.one_line(err)})") from None
        raise remote.DownloadError(f"{where}: cannot extract ({remote.one_line(err)}): a damaged or unsupported "
                                   "zip; delete it and fetch it again") from None


def members(archive: Path, corpus: Corpus, keep: Callable[[str], bool]) -> list[zipfile.ZipInfo]:
    """The zip's members that are clips of `corpus` and that `keep` accepts (by their name in the zip)."""
    try:
        with zipfile.ZipFile(archive) as bundle:
            infos = bundle.infolist()
    except ZIP_ERRORS as err:
        raise remote.DownloadError(f"{archive}: not a readable zip ({remote.one_line(err)}); delete it and fetch "
                                   "it again") from None
    return [i for i in infos if not i.is_dir() and corpus.is_clip(i.filename) and keep(i.filename)]


def fetch_zip(archive: Path, corpus: Corpus, out: Path, keep: Callable[[str], bool] = lambda name: True,
              verify: Verify | None = None) -> FetchReport:
    """Extract a complete corpus from a zip: names and count checked first, every clip decoded after, then, with
    `verify`, the extracted copy checked as a whole (its clips then count as verified)."""
    infos = members(archive, corpus, keep)
    utterances = parse_all((Path(i.filename) for i in infos), corpus, str(archive))
    check_count(utterances, corpus, str(archive))
    by_name = {Path(i.filename).as_posix(): i for i in infos}
    with staged(out) as staging:
        jobs = [(by_name[u.path], canonical_path(staging, u, Path(u.path).suffix)) for u in utterances]
        extract(archive, jobs)
        check_decodes([dest for _, dest in jobs], str(archive), corpus.known_damaged,
                      [f"{archive}: member {info.filename}" for info, _ in jobs])
        if verify is not None:
            verify([dest for _, dest in jobs])
    return _report(utterances, len(utterances) if verify is not None else 0, [archive.name])
