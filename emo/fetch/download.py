"""Bring RAVDESS into one canonical layout, `<out>/<part>/Actor_NN/<name>`, from Zenodo or a mirror."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import logging
import lzma
import shutil
import struct
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from tqdm.auto import tqdm

from emo.core.errors import EmoError
from emo.core.params import DataParams
from emo.core.ravdess import ACTORS_WITHOUT_SONG, Clip, expected_clips, is_media_file, parse_name
from emo.fetch import remote, zenodo

log = logging.getLogger(__name__)
CHUNK = 1 << 20
# RAVDESS's clips are 0.2-1 MB (wav) to a few MB (mp4), and its zips hold them at about 2.5:1 (audio) or 1:1
# (video). These bounds are far above that and stop a damaged or hostile archive (a zip bomb) from filling
# the disk: no clip may exceed MAX_CLIP_BYTES, no archive may expand to more than MAX_EXPANSION × its size.
MAX_CLIP_BYTES = 256 << 20
MAX_EXPANSION = 10
BOUNDS = f"{MAX_CLIP_BYTES >> 20} MiB per clip and {MAX_EXPANSION}x its size per archive"
# What zipfile raises on a damaged, truncated or unsupported archive (RuntimeError: an encrypted member).
ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, lzma.LZMAError, EOFError,
              NotImplementedError, RuntimeError, ValueError, struct.error, OSError)


class MissingClipsError(EmoError, RuntimeError):
    """Expected clips are absent from the source."""


class DuplicateClipError(EmoError, RuntimeError):
    """The source holds the same clip twice."""


@dataclass
class FetchReport:
    """What one fetch brought: clips per part and the archives it used."""

    clips: dict[str, int] = field(default_factory=dict)
    archives: list[str] = field(default_factory=list)
    verified: int = 0  # files checked against a checksum (archive md5 counts every member)


def archive_names(part: str, actors: Iterable[int]) -> list[str]:
    """The Zenodo archive(s) holding a part for the given actors."""
    if part == "audio_speech":
        return ["Audio_Speech_Actors_01-24.zip"]
    if part == "audio_song":
        return ["Audio_Song_Actors_01-24.zip"]
    kind = "Speech" if part == "video_speech" else "Song"
    return [f"Video_{kind}_Actor_{a:02d}.zip" for a in actors
            if not (kind == "Song" and a in ACTORS_WITHOUT_SONG)]


def canonical_path(out: Path, clip: Clip, suffix: str) -> Path:
    """Where a clip lives in the canonical layout."""
    return out / clip.part / f"Actor_{clip.actor:02d}" / f"{clip.stem}{suffix.lower()}"


def _wanted(params: DataParams) -> set[Clip]:
    actors = params.actor_list
    return {c for part in params.parts for c in expected_clips(part, actors, params.video_modalities)}


def _check_complete(found: dict[Clip, str], wanted: set[Clip], source: str) -> None:
    missing = sorted(wanted - set(found), key=lambda c: (c.part, c.actor, c.stem))
    if missing:
        shown = "\n  ".join(f"{c.part}/Actor_{c.actor:02d}/{c.stem}" for c in missing[:40])
        more = f"\n  ... and {len(missing) - 40} more" if len(missing) > 40 else ""
        raise MissingClipsError(
            f"{len(missing)} of {len(wanted)} expected clips are missing from {source}:\n  {shown}{more}\n"
            "Check data.source, or narrow data.parts / data.actors to what the source holds.")


def _note(found: dict[Clip, str], clip: Clip, origin: str) -> bool:
    """Record where a clip came from; refuse a second copy of the same clip."""
    if clip in found:
        raise DuplicateClipError(f"clip {clip.stem} appears twice in the source: {found[clip]} and {origin}; "
                                 "remove one of them")
    found[clip] = origin
    return True


def _too_large(where: str, limit: int, declared: int | None = None) -> EmoError:
    """The error for a file past the size bounds (`limit`: the bytes it had left; `declared`: its header's word)."""
    size = f"declares {declared} bytes" if declared is not None else f"more than {limit} bytes"
    return remote.DownloadError(f"{where}: {size}, over the size bound ({BOUNDS}, {limit} bytes left; RAVDESS "
                                "needs far less): a damaged or hostile file; check data.source")


def _copy_bounded(fin: IO[bytes], fout: IO[bytes], limit: int, where: str, hasher: Any = None) -> int:
    """Copy a stream and return its size, counting the bytes (never a header's word) against `limit`."""
    copied = 0
    while chunk := fin.read(CHUNK):
        copied += len(chunk)
        if copied > limit:
            raise _too_large(where, limit)
        if hasher is not None:
            hasher.update(chunk)
        fout.write(chunk)
    return copied


def copy_verified(src: Path, dest: Path, expected_sha256: str | None) -> None:
    """Copy a file through a temporary name, checking its sha256 when the mirror lists one."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    hasher = hashlib.sha256()
    tmp = dest.with_name(dest.name + ".tmp")
    try:
        with open(src, "rb") as fin, open(tmp, "wb") as fout:
            _copy_bounded(fin, fout, MAX_CLIP_BYTES, str(src), hasher)
    except OSError as err:
        raise EmoError(f"cannot copy {src} to {tmp}: {remote.one_line(err)}") from None
    if expected_sha256 and hasher.hexdigest() != expected_sha256:
        tmp.unlink()
        raise remote.DownloadError(f"{src}: sha256 {hasher.hexdigest()} does not match the mirror's "
                                   f"MANIFEST.tsv ({expected_sha256}); the mirror copy is damaged")
    tmp.replace(dest)


def read_manifest(folder: Path) -> dict[Path, str]:
    """sha256 per file from a mirror's MANIFEST.tsv (columns include path and sha256), if it has one."""
    manifest = folder / "MANIFEST.tsv"
    if not manifest.is_file():
        return {}
    try:
        with open(manifest, newline="", encoding="utf-8") as handle:
            rows = csv.DictReader(handle, delimiter="\t")
            if not rows.fieldnames or not {"path", "sha256"} <= set(rows.fieldnames):
                return {}
            return {(folder / row["path"]).resolve(): row["sha256"] for row in rows
                    if row["path"] and row["sha256"]}
    except (OSError, UnicodeDecodeError, csv.Error, ValueError) as err:
        raise EmoError(f"{manifest}: unreadable ({remote.one_line(err)}); fix or remove it") from None


def fetch_local(folder: Path, params: DataParams, out: Path, progress: bool = True) -> FetchReport:
    """Copy the wanted clips from a folder of RAVDESS-named files (any layout); never touch the folder."""
    if not folder.is_dir():
        raise EmoError(f"data.source {folder}: no such folder. Set data.source to 'zenodo', "
                       "a Zenodo-compatible record URL, or a folder holding RAVDESS files")
    wanted = _wanted(params)
    manifest = read_manifest(folder)
    found: dict[Clip, str] = {}
    jobs = []
    for path in sorted(folder.rglob("*")):
        if not is_media_file(path) or not path.is_file():
            continue
        clip = parse_name(path)
        if clip in wanted and _note(found, clip, str(path)):
            jobs.append((path, clip))
    _check_complete(found, wanted, str(folder))
    report = FetchReport()
    for path, clip in tqdm(jobs, desc=f"copying from {folder}", unit="clip", disable=not progress):
        expected = manifest.get(path.resolve())
        copy_verified(path, canonical_path(out, clip, path.suffix), expected)
        report.verified += expected is not None
        report.clips[clip.part] = report.clips.get(clip.part, 0) + 1
    return report


def _wanted_member(info: zipfile.ZipInfo, wanted: set[Clip], archive: Path) -> Clip | None:
    """The clip a zip member holds, if it is one of the wanted clips."""
    if info.is_dir() or not is_media_file(info.filename):
        return None
    try:
        clip = parse_name(info.filename)
    except ValueError as err:
        raise remote.DownloadError(f"{archive}: {err}") from None
    return clip if clip in wanted else None


def extract_member(bundle: zipfile.ZipFile, info: zipfile.ZipInfo, dest: Path, limit: int, where: str) -> int:
    """Copy one member to `dest` through a temporary name, at most `limit` bytes; returns its size."""
    if info.file_size > limit:  # refused before a byte is written; the copy counts anyway
        raise _too_large(where, limit, info.file_size)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".tmp")
    with bundle.open(info) as fin, open(tmp, "wb") as fout:
        size = _copy_bounded(fin, fout, limit, where)
    tmp.replace(dest)
    return size


def _extract(archive: Path, wanted: set[Clip], out: Path, found: dict[Clip, str]) -> int:
    """Extract the wanted RAVDESS members of one zip into the canonical layout, within the size bounds."""
    budget = MAX_EXPANSION * archive.stat().st_size
    count, where = 0, str(archive)
    try:
        with zipfile.ZipFile(archive) as bundle:
            for info in bundle.infolist():
                where = f"{archive}: member {info.filename}"
                clip = _wanted_member(info, wanted, archive)
                if clip is None:
                    continue
                _note(found, clip, f"{archive.name}:{info.filename}")
                dest = canonical_path(out, clip, Path(info.filename).suffix)
                budget -= extract_member(bundle, info, dest, min(MAX_CLIP_BYTES, budget), where)
                count += 1
    except EmoError:
        raise
    except ZIP_ERRORS as err:
        if isinstance(err, OSError) and err.errno is not None:  # our disk, not the archive
            raise EmoError(f"{where}: cannot extract ({remote.one_line(err)})") from None
        raise remote.DownloadError(
            f"{where}: cannot extract ({remote.one_line(err)}); the archive matches the record's md5, so the "
            "source serves a damaged or unsupported zip: check data.source") from None
    return count


def fetch_remote(params: DataParams, out: Path, archive_dir: Path, progress: bool = True) -> FetchReport:
    """Download the wanted archives of a Zenodo(-compatible) record, verify their md5, extract them."""
    url = zenodo.record_url(params.source, params.record)
    retry = dict(retries=params.retries, backoff=params.backoff_seconds, timeout=params.timeout_seconds)
    files = zenodo.fetch_record(url, **retry)
    names = [n for part in params.parts for n in archive_names(part, params.actor_list)]
    absent = [n for n in names if n not in files]
    if absent:
        raise MissingClipsError(f"the record at {url} has no file(s) {', '.join(absent)}")
    wanted = _wanted(params)
    found: dict[Clip, str] = {}
    report = FetchReport()
    for name in names:
        archive = remote.download(files[name], archive_dir, progress=progress, **retry)
        log.info("extracting %s", archive)
        _extract(archive, wanted, out, found)
        report.archives.append(name)
        if not params.keep_archives:
            archive.unlink()
    _check_complete(found, wanted, url)
    report.verified = len(found)
    for clip in found:
        report.clips[clip.part] = report.clips.get(clip.part, 0) + 1
    return report


def remove_tree(path: Path) -> None:
    """Delete a file, a link or a folder tree (read-only cache links too: only the links go, never the cache)."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.exists():
        shutil.rmtree(path)


def swap_in(staging: Path, out: Path) -> None:
    """Replace `out` by `staging` with renames only: a crash at any moment leaves whole data under some name."""
    old = out.with_name(f".{out.name}.old")
    remove_tree(old)
    if out.exists() or out.is_symlink():
        out.replace(old)
    staging.replace(out)
    remove_tree(old)


def recover_swap(out: Path) -> None:
    """Bring back the previous `out` if a run was killed between the two renames of swap_in."""
    old = out.with_name(f".{out.name}.old")
    if old.is_dir() and not (out.exists() or out.is_symlink()):
        old.replace(out)


def fetch(params: DataParams, out: Path, archive_dir: Path, progress: bool = True) -> FetchReport:
    """Fill `out` with the clips `params` ask for; all or nothing: `out` is replaced only when complete."""
    staging = out.with_name(f".{out.name}.partial")
    recover_swap(out)
    remove_tree(staging)
    staging.mkdir(parents=True)
    try:
        if zenodo.is_remote(params.source):
            report = fetch_remote(params, staging, archive_dir, progress)
        else:
            report = fetch_local(Path(params.source).expanduser(), params, staging, progress)
    except BaseException:
        with contextlib.suppress(OSError):  # the error to report is the one that stopped the fetch
            remove_tree(staging)
        raise
    swap_in(staging, out)
    return report
