"""Zenodo records over HTTP: read a record's file list, download files with resume, retries and md5."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from tqdm.auto import tqdm

from emo.errors import EmoError

log = logging.getLogger(__name__)

ZENODO_API = "https://zenodo.org/api/records/{record}"
CHUNK = 1 << 20


class DownloadError(EmoError, RuntimeError):
    """A file could not be downloaded intact."""


class SourceUnreachable(DownloadError):
    """The record's server cannot be reached at all (no network, wrong host)."""


class _Transient(Exception):
    """A failure worth retrying: 5xx, 429, a cut connection, a short or corrupt body."""


@dataclass(frozen=True)
class RemoteFile:
    """One file of a record: where to get it and how to check it."""

    key: str
    url: str
    size: int
    md5: str


def record_url(source: str, record: int) -> str:
    """The record JSON URL for `data.source` ('zenodo' or a URL of a Zenodo-compatible record)."""
    return ZENODO_API.format(record=record) if source == "zenodo" else source


def parse_record(record: dict[str, Any]) -> dict[str, RemoteFile]:
    """File key -> RemoteFile from a Zenodo record JSON (legacy and InvenioRDM shapes)."""
    entries = record.get("files", [])
    if isinstance(entries, dict):
        entries = list(entries.get("entries", {}).values())
    files = {}
    for entry in entries:
        key = entry.get("key") or entry.get("filename")
        links = entry.get("links", {})
        url = links.get("content") or links.get("download") or links.get("self")
        checksum = entry.get("checksum", "")
        algo, _, digest = checksum.rpartition(":")
        if not key or not url or algo not in ("", "md5") or not digest:
            raise DownloadError(f"record entry {entry!r} lacks a key, a link or an md5 checksum")
        files[key] = RemoteFile(key=key, url=url, size=int(entry.get("size", entry.get("filesize", -1))),
                                md5=digest.lower())
    if not files:
        raise DownloadError("the record JSON lists no files")
    return files


def _backoff(base: float, attempt: int) -> float:
    return base * 2 ** attempt


def fetch_record(url: str, *, retries: int = 5, backoff: float = 2.0, timeout: float = 60.0,
                 session: requests.Session | None = None) -> dict[str, RemoteFile]:
    """Read the record JSON; fail fast with a hint about mirrors when the host is unreachable."""
    session = session or requests.Session()
    for attempt in range(retries + 1):
        try:
            response = session.get(url, timeout=(min(timeout, 15.0), timeout))
        except requests.ConnectionError as err:
            raise SourceUnreachable(
                f"cannot reach {url} ({type(err).__name__}). No network? Point data.source at a local "
                "RAVDESS folder or at the record URL of a Zenodo-compatible mirror, e.g. "
                "`dvc exp run -S data.source=../shared/ravdess`, or edit params.yaml.") from None
        except requests.Timeout:
            status = "timed out"
        else:
            if response.ok:
                try:
                    return parse_record(response.json())
                except ValueError as err:
                    raise DownloadError(f"{url} did not return a Zenodo record JSON: {err}") from None
            if response.status_code < 500 and response.status_code != 429:
                raise DownloadError(f"{url} answered HTTP {response.status_code}; is data.source "
                                    "a Zenodo record URL (…/api/records/<id>)?")
            status = f"HTTP {response.status_code}"
        if attempt < retries:
            log.warning("%s: %s; retrying in %.1f s", url, status, _backoff(backoff, attempt))
            time.sleep(_backoff(backoff, attempt))
    raise DownloadError(f"{url}: {status} after {retries + 1} attempts")


def file_md5(path: Path, hasher: Any = None) -> str:
    """md5 hex digest of a file, streamed."""
    hasher = hasher or hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _stream_into(session: requests.Session, remote: RemoteFile, partial: Path, timeout: float,
                 progress: bool) -> str:
    """Append the rest of `remote` to `partial` (HTTP Range) and return the md5 of the whole file."""
    have = partial.stat().st_size if partial.exists() else 0
    if remote.size >= 0 and have > remote.size:
        partial.unlink()
        have = 0
    hasher = hashlib.md5()
    if have:
        file_md5(partial, hasher)
    if have and have == remote.size:
        return hasher.hexdigest()
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(remote.url, headers=headers, stream=True, timeout=(min(timeout, 15.0), timeout)) as response:
        if response.status_code == 416 or response.status_code >= 500 or response.status_code == 429:
            if response.status_code == 416:
                partial.unlink(missing_ok=True)
            raise _Transient(f"HTTP {response.status_code}")
        if response.status_code not in (200, 206):
            raise DownloadError(f"{remote.url} answered HTTP {response.status_code} for {remote.key}")
        resumed = response.status_code == 206 and response.headers.get(
            "Content-Range", "").startswith(f"bytes {have}-")
        if not resumed:
            have, hasher = 0, hashlib.md5()
        with open(partial, "ab" if resumed else "wb") as out, tqdm(
                total=remote.size if remote.size >= 0 else None, initial=have, unit="B", unit_scale=True,
                unit_divisor=1024, desc=remote.key, disable=not progress, leave=False) as bar:
            for chunk in response.iter_content(CHUNK):
                out.write(chunk)
                hasher.update(chunk)
                bar.update(len(chunk))
    got = partial.stat().st_size
    if remote.size >= 0 and got != remote.size:
        raise _Transient(f"connection closed after {got} of {remote.size} bytes")
    return hasher.hexdigest()


def download(remote: RemoteFile, folder: Path, *, retries: int = 5, backoff: float = 2.0,
             timeout: float = 60.0, progress: bool = True,
             session: requests.Session | None = None) -> Path:
    """Download one file into `folder`, resuming a partial one; the result always matches its md5."""
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / remote.key
    if final.exists():
        if final.stat().st_size == remote.size and file_md5(final) == remote.md5:
            return final
        log.warning("%s: stored copy is corrupt (size or md5 differ); fetching it again", final)
        final.unlink()
    partial = final.with_name(final.name + ".part")
    session = session or requests.Session()
    problem = ""
    for attempt in range(retries + 1):
        if attempt:
            log.warning("%s: %s; retry %d/%d in %.1f s", remote.key, problem, attempt, retries,
                        _backoff(backoff, attempt - 1))
            time.sleep(_backoff(backoff, attempt - 1))
        try:
            digest = _stream_into(session, remote, partial, timeout, progress)
        except requests.Timeout:
            problem = "timed out"
            continue
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError):
            problem = "connection cut"
            continue
        except _Transient as err:
            problem = str(err)
            continue
        if digest != remote.md5:
            problem = f"md5 {digest} does not match the record's {remote.md5}"
            partial.unlink()
            continue
        partial.replace(final)
        return final
    raise DownloadError(f"{remote.key} from {remote.url}: {problem} after {retries + 1} attempts; "
                        f"a partial file is kept at {partial} and the next run resumes it"
                        if partial.exists() else
                        f"{remote.key} from {remote.url}: {problem} after {retries + 1} attempts")
