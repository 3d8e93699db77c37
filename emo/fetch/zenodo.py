"""Zenodo records over HTTP: read a record's file list, download files with resume, retries and md5 (or, for a
plain URL that publishes no checksum, within a size bound, for the caller to check the content)."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import requests
from tqdm.auto import tqdm
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from emo.core.errors import EmoError

log = logging.getLogger(__name__)

ZENODO_API = "https://zenodo.org/api/records/{record}"
CHUNK = 1 << 20
# RAVDESS's largest file is a video zip of about 1 GB and its record JSON is about 30 kB: these bounds leave
# ample room and stop a hostile record or server from filling the disk or the memory.
MAX_FILE_BYTES = 8 << 30
MAX_RECORD_BYTES = 16 << 20
MAX_WAIT_SECONDS = 3600.0
# Where a zip should come, these mean a web page or an API error (login wall, error page, landing page).
PAGE_TYPES = ("text/html", "application/xhtml", "application/json", "application/problem")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_MD5 = re.compile(r"[0-9a-fA-F]{32}")
_DIGITS = re.compile(r"[0-9]+")

T = TypeVar("T")


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
    size: int | None  # None: not published; the download is bounded by download's max_bytes instead
    md5: str | None  # None: not published; the caller must check what it got (EmoDB: every clip's samples)


def url_scheme(text: object) -> str | None:
    """The lower-cased scheme of a URL ('HTTP://x' -> 'http'), None for anything else (a path)."""
    match = _SCHEME.match(text) if isinstance(text, str) else None
    return match.group(1).lower() if match else None


def is_http_url(text: object) -> bool:
    """Whether `text` is an http(s) URL (scheme in any case) with no whitespace or control characters."""
    return url_scheme(text) in ("http", "https") and str(text).isprintable() and " " not in str(text)


def is_remote(source: str) -> bool:
    """Whether `data.source` names a record ('zenodo' or any URL) rather than a local folder."""
    return source == "zenodo" or url_scheme(source) is not None


def record_url(source: str, record: int) -> str:
    """The record JSON URL for `data.source` ('zenodo' or the http(s) URL of a Zenodo-compatible record)."""
    if source == "zenodo":
        return ZENODO_API.format(record=record)
    if not is_http_url(source):
        raise DownloadError(f"data.source {source!r}: only http(s) record URLs (without spaces) are supported; "
                            "use 'zenodo', an http(s)://…/api/records/<id> URL, or a local folder")
    return source


def _json_kind(value: object) -> str:
    """How JSON would name a Python value's type, for messages."""
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _plain_name(key: object) -> bool:
    """Whether a record's file key is a bare file name (nothing that could walk out of data/archives)."""
    return (isinstance(key, str) and key not in ("", ".", "..")
            and not any(c in key for c in "/\\\0") and not key.startswith("."))


def _remote_file(entry: object, where: str) -> RemoteFile:
    """One validated record entry; `where` names it in the messages."""
    if not isinstance(entry, dict):
        raise DownloadError(f"{where} is a JSON {_json_kind(entry)}, expected an object with key, size, "
                            "checksum and links: data.source does not serve a Zenodo record")
    key = entry.get("key") or entry.get("filename")
    if not _plain_name(key):
        raise DownloadError(f"{where}: file key {key!r} is not a plain file name")
    links = entry.get("links")
    links = links if isinstance(links, dict) else {}
    url = links.get("content") or links.get("download") or links.get("self")
    if not is_http_url(url):
        raise DownloadError(f"{where} ({key}): link {url!r} is not an http(s) URL; emo downloads only over http(s)")
    checksum = entry.get("checksum")
    algo, _, digest = checksum.rpartition(":") if isinstance(checksum, str) else ("?", "", "")
    if algo not in ("", "md5") or not _MD5.fullmatch(digest):
        raise DownloadError(f"{where} ({key}): checksum {checksum!r} is not 'md5:<32 hex digits>'")
    size = entry.get("size", entry.get("filesize"))
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise DownloadError(f"{where} ({key}): size {size!r} is not a byte count")
    return RemoteFile(key=key, url=url, size=size, md5=digest.lower())


def parse_record(record: Any, url: str = "the record JSON") -> dict[str, RemoteFile]:
    """File key -> RemoteFile from a Zenodo record JSON (legacy and InvenioRDM shapes), validated."""
    if not isinstance(record, dict):
        raise DownloadError(f"{url} is a JSON {_json_kind(record)}, expected an object with a 'files' list: "
                            "data.source does not serve a Zenodo record")
    entries = record.get("files")
    if isinstance(entries, dict):  # InvenioRDM: {"entries": {key: entry, ...}}
        entries = entries.get("entries")
        entries = list(entries.values()) if isinstance(entries, dict) else entries
    if not isinstance(entries, list) or not entries:
        raise DownloadError(f"{url} lists no files ('files' is {_json_kind(entries)} {str(entries)[:40]}): "
                            "a restricted or metadata-only record, or not a Zenodo record")
    files: dict[str, RemoteFile] = {}
    for index, entry in enumerate(entries):
        remote = _remote_file(entry, f"{url}: files[{index}]")
        if remote.key in files:
            raise DownloadError(f"{url}: file {remote.key} is listed twice")
        files[remote.key] = remote
    return files


def _wait(backoff: float, attempt: int) -> float:
    """Seconds before retry `attempt + 1`: backoff × 1, 2, 4, …, sane even for odd settings."""
    base = backoff if backoff > 0 else 0.0  # also maps NaN to no wait
    return min(base * 2.0 ** min(attempt, 60), MAX_WAIT_SECONDS)


def _timeouts(timeout: float) -> tuple[float, float]:
    """(connect, read) timeouts for requests; refuses what requests itself would trip over."""
    if not 0 < timeout < math.inf:
        raise DownloadError(f"data.timeout_seconds must be a positive number of seconds, got {timeout!r}")
    return min(timeout, 15.0), timeout


def one_line(err: BaseException, limit: int = 200) -> str:
    """An exception as one short line: its type and its message, whitespace collapsed, cut at `limit`."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _with_retries(what: str, once: Callable[[], T], retries: int, backoff: float,
                  hint: Callable[[], str] = str) -> T:
    """Call `once` until it succeeds, retrying its _Transient failures `retries` times with backoff."""
    attempts = max(retries, 0) + 1  # a negative count still means one try, never zero
    for attempt in range(attempts):
        try:
            return once()
        except _Transient as err:
            problem = str(err)
        if attempt + 1 < attempts:
            log.warning("%s: %s; retry %d/%d in %.1f s", what, problem, attempt + 1, attempts - 1,
                        _wait(backoff, attempt))
            time.sleep(_wait(backoff, attempt))
    raise DownloadError(f"{what}: {problem} after {attempts} attempt{'s' * (attempts > 1)}{hint()}")


def _unreachable(err: requests.ConnectionError) -> bool:
    """Whether no connection was made at all (refused, unknown host, connect timeout, TLS failure)."""
    reason = getattr(err.args[0], "reason", None) if err.args else None
    return isinstance(err, requests.exceptions.SSLError) or isinstance(reason, (NewConnectionError,
                                                                                ConnectTimeoutError))


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


def _read_record(session: requests.Session, url: str, timeout: float) -> bytes:
    """One GET of the record JSON, bounded in size; transient failures raise _Transient."""
    try:
        with session.get(url, timeout=_timeouts(timeout), stream=True) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise _Transient(f"HTTP {response.status_code}")
            if not response.ok:
                raise DownloadError(f"{url} answered HTTP {response.status_code}; is data.source a Zenodo record "
                                    "URL (…/api/records/<id>)?")
            body = bytearray()
            for chunk in response.iter_content(CHUNK):
                body += chunk
                if len(body) > MAX_RECORD_BYTES:
                    raise DownloadError(f"{url} sent more than {MAX_RECORD_BYTES} bytes where a record JSON "
                                        "(about 30 kB for RAVDESS) was expected; is data.source a record URL?")
            return bytes(body)
    except requests.ConnectionError as err:
        if _unreachable(err):
            raise SourceUnreachable(
                f"cannot reach {url} ({type(err).__name__}). No network? Point data.source at a local "
                "RAVDESS folder or at the record URL of a Zenodo-compatible mirror, e.g. "
                "`dvc exp run -S data.source=../shared/ravdess`, or edit params.yaml.") from None
        raise _Transient(f"connection broken ({one_line(err)})") from None
    except requests.Timeout:
        raise _Transient("timed out") from None
    except requests.RequestException as err:  # redirects to other schemes, too many redirects, bad URLs
        raise DownloadError(f"{url}: {one_line(err)}; is data.source a Zenodo record URL?") from None


def fetch_record(url: str, *, retries: int = 5, backoff: float = 2.0, timeout: float = 60.0,
                 session: requests.Session | None = None) -> dict[str, RemoteFile]:
    """Read and validate the record JSON; fail fast with a hint about mirrors when the host is unreachable."""
    session = session or requests.Session()
    body = _with_retries(url, lambda: _read_record(session, url, timeout), retries, backoff)
    try:
        record = json.loads(body)
    except (ValueError, RecursionError) as err:  # RecursionError: absurdly nested JSON
        raise DownloadError(f"{url} did not return a Zenodo record JSON ({one_line(err)}); for Zenodo "
                            "the record URL is …/api/records/<id>, not the …/records/<id> web page") from None
    return parse_record(record, url)


def file_md5(path: Path, hasher: Any = None) -> str:
    """md5 hex digest of a file, streamed."""
    hasher = hasher or hashlib.md5()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            hasher.update(chunk)
    return hasher.hexdigest()


def _refuse(remote: RemoteFile, partial: Path, problem: str) -> DownloadError:
    """A failure that retrying or resuming cannot fix: drop the partial file, name the file and the cause."""
    partial.unlink(missing_ok=True)
    return DownloadError(f"{remote.key} from {remote.url}: {problem}")


def _header_int(value: str) -> int | None:
    """A header's byte count, None unless it is plain ASCII digits (as HTTP writes them)."""
    return int(value) if _DIGITS.fullmatch(value.strip()) else None


def _announced_size(response: requests.Response) -> int | None:
    """The whole file's size as the answer's headers give it (Content-Range or Content-Length), if they do."""
    if response.status_code == 206:
        return _header_int(response.headers.get("Content-Range", "").rpartition("/")[2])
    # A compressed transfer's Content-Length counts the compressed bytes, not the file's.
    encoded = response.headers.get("Content-Encoding", "identity").strip().lower() not in ("", "identity")
    return None if encoded else _header_int(response.headers.get("Content-Length", ""))


def _size_text(count: int) -> str:
    """A byte bound for messages: '8 GiB', '200 MiB' or '1234 bytes'."""
    for shift, unit in ((30, "GiB"), (20, "MiB")):
        if count and count % (1 << shift) == 0:
            return f"{count >> shift} {unit}"
    return f"{count} bytes"


def _check_answer(response: requests.Response, remote: RemoteFile, partial: Path, have: int,
                  limit: int) -> tuple[bool, int | None]:
    """Vet the headers of a download answer: whether it continues `partial` from byte `have`, and the whole
    file's size as the record or, where the record gives none, as the answer announces it (None: unknown)."""
    status = response.status_code
    if status == 416:  # our partial file is no prefix of the server's file: start over
        partial.unlink(missing_ok=True)
        raise _Transient("HTTP 416 (range not satisfiable), starting over")
    if status >= 500 or status == 429:
        raise _Transient(f"HTTP {status}")
    if status not in (200, 206):
        raise DownloadError(f"{remote.url} answered HTTP {status} for {remote.key}")
    kind = _content_type(response)
    if kind.startswith(PAGE_TYPES):
        raise _refuse(remote, partial, f"the server sent a web page (Content-Type {kind}), not the file: a login "
                                       "wall, an error page or a wrong link; check data.source")
    announced = _announced_size(response)
    header = "Content-Range" if status == 206 else "Content-Length"
    if announced is not None and remote.size is not None and announced != remote.size:
        raise _refuse(remote, partial, f"the server announces {announced} bytes ({header}) but the record says "
                                       f"{remote.size}: the record or the link is wrong; check data.source")
    if announced is not None and announced > limit:
        raise _refuse(remote, partial, f"the server announces {announced} bytes ({header}), above the "
                                       f"{_size_text(limit)} bound for this file: a wrong link or a hostile server")
    if status == 206 and not response.headers.get("Content-Range", "").startswith(f"bytes {have}-"):
        partial.unlink(missing_ok=True)
        raise _Transient(f"the server answered another range ({response.headers.get('Content-Range')!r}) than "
                         f"bytes {have}-, starting over")
    return status == 206, remote.size if remote.size is not None else announced


def _framed(response: requests.Response) -> bool:
    """Whether the body's end is announced (Content-Length or chunked), so a short body is not a cut."""
    return (_header_int(response.headers.get("Content-Length", "")) is not None
            or "chunked" in response.headers.get("Transfer-Encoding", "").lower())


def _chunks(response: requests.Response, remote: RemoteFile, partial: Path) -> Iterator[bytes]:
    """The answer's body, as sent; a body the server could not have meant to send is refused."""
    try:
        yield from response.iter_content(CHUNK)
    except requests.exceptions.ContentDecodingError as err:
        raise _refuse(remote, partial, f"the server's compressed answer does not decode ({one_line(err)})") from None


def _stream_into(session: requests.Session, remote: RemoteFile, partial: Path, timeout: float,
                 progress: bool, limit: int) -> str:
    """Append the rest of `remote` to `partial` (HTTP Range) and return the md5 of the whole file; a file of
    unknown size is bounded by `limit` and, where the answer announces its size, checked against that."""
    have = partial.stat().st_size if partial.exists() else 0
    if have > (remote.size if remote.size is not None else limit):
        partial.unlink()
        have = 0
    hasher = hashlib.md5()
    if have:
        file_md5(partial, hasher)
    if have and have == remote.size:
        return hasher.hexdigest()
    headers = {"Range": f"bytes={have}-"} if have else {}
    with session.get(remote.url, headers=headers, stream=True, timeout=_timeouts(timeout)) as response:
        resumed, size = _check_answer(response, remote, partial, have, limit)
        if not resumed:
            have, hasher = 0, hashlib.md5()
        whose = "the record's" if remote.size is not None else "the announced"
        if size is None:
            too_much = f"the server sent more than the {_size_text(limit)} bound for this file: a wrong link"
        else:
            too_much = f"the server sent more than {whose} {size} bytes: the record or the link is wrong"
        with open(partial, "ab" if have else "wb") as out, tqdm(
                total=size, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
                desc=remote.key, disable=not progress, leave=False) as bar:
            for chunk in _chunks(response, remote, partial):
                have += len(chunk)
                if have > (limit if size is None else size):  # counted, never trusted: bounds the disk
                    out.close()
                    raise _refuse(remote, partial, f"{too_much}; check data.source")
                out.write(chunk)
                hasher.update(chunk)
                bar.update(len(chunk))
        if size is not None and have < size:
            if _framed(response):
                raise _refuse(remote, partial, f"the server's complete answer ends after {have} of {whose} "
                                               f"{size} bytes: the record or the link is wrong")
            raise _Transient(f"connection closed after {have} of {size} bytes")
    return hasher.hexdigest()


def _intact(path: Path, remote: RemoteFile, limit: int) -> bool:
    """Whether a stored download passes the checks the remote file allows: its size and md5 where known."""
    size = path.stat().st_size
    if (size > limit) if remote.size is None else (size != remote.size):
        return False
    return remote.md5 is None or file_md5(path) == remote.md5


def download(remote: RemoteFile, folder: Path, *, retries: int = 5, backoff: float = 2.0,
             timeout: float = 60.0, progress: bool = True,
             session: requests.Session | None = None, max_bytes: int = MAX_FILE_BYTES) -> Path:
    """Download one file into `folder`, resuming a partial one; the result always matches its size and md5.

    A file whose size or md5 is not published (None) is bounded by `max_bytes` and checked against the size the
    server announces, if any: the caller must then check its content (and delete it when that is wrong).
    """
    if remote.size is not None and remote.size > max_bytes:
        raise DownloadError(f"{remote.key} from {remote.url}: the record says {remote.size} bytes, above the "
                            f"{_size_text(max_bytes)} bound for one file (RAVDESS's largest is about 1 GB); "
                            "check data.source")
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / remote.key
    if final.is_file():
        if _intact(final, remote, max_bytes):
            return final
        log.warning("%s: stored copy is corrupt (size or md5 differ); fetching it again", final)
        final.unlink()
    partial = final.with_name(final.name + ".part")
    session = session or requests.Session()

    def once() -> Path:
        try:
            digest = _stream_into(session, remote, partial, timeout, progress, max_bytes)
        except requests.Timeout:
            raise _Transient("timed out") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as err:
            raise _Transient(f"connection cut ({one_line(err)})") from None
        except requests.RequestException as err:  # redirects to other schemes, too many redirects, bad URLs
            raise _refuse(remote, partial, one_line(err)) from None
        except OSError as err:  # our side: disk full, no permission; the partial file stays for a resume
            raise DownloadError(f"{remote.key}: cannot write {partial} ({one_line(err)})") from None
        if remote.md5 is not None and digest != remote.md5:
            partial.unlink()
            raise _Transient(f"md5 {digest} does not match the record's {remote.md5}")
        partial.replace(final)
        return final

    def kept() -> str:
        return (f"; the partial file {partial} is kept and the next run resumes it" if partial.exists() else "")

    return _with_retries(f"{remote.key} from {remote.url}", once, retries, backoff, kept)
