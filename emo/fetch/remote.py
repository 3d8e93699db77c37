"""Files over HTTP: download with resume, retries with backoff, a minimum pace (emo.fetch.pace), size bounds and
md5 (or, for a plain URL that publishes no checksum, within a size bound, for the caller to check the content)."""

from __future__ import annotations

import hashlib
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
from emo.fetch import pace

log = logging.getLogger(__name__)

CHUNK = 1 << 20
# RAVDESS's largest file is a video zip of about 1 GB: this bound leaves ample room and stops a hostile server
# from filling the disk.
MAX_FILE_BYTES = 8 << 30
MAX_WAIT_SECONDS = 3600.0
# Where a zip should come, these mean a web page or an API error (login wall, error page, landing page).
PAGE_TYPES = ("text/html", "application/xhtml", "application/json", "application/problem")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_DIGITS = re.compile(r"[0-9]+")

T = TypeVar("T")


class DownloadError(EmoError, RuntimeError):
    """A file could not be downloaded intact."""


class SourceUnreachable(DownloadError):
    """The record's server cannot be reached at all (no network, wrong host)."""


class Transient(Exception):
    """A failure worth retrying: 5xx, 429, a cut connection, a short or corrupt body, a server too slow; `fix`
    ends the message when the retries run out."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.fix = fix


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


def _wait(backoff: float, attempt: int) -> float:
    """Seconds before retry `attempt + 1`: backoff × 1, 2, 4, …, sane even for odd settings."""
    base = backoff if backoff > 0 else 0.0  # also maps NaN to no wait
    return min(base * 2.0 ** min(attempt, 60), MAX_WAIT_SECONDS)


def timeouts(timeout: float) -> tuple[float, float]:
    """(connect, read) timeouts for requests; refuses what requests itself would trip over."""
    if not 0 < timeout < math.inf:
        raise DownloadError(f"data.timeout_seconds must be a positive number of seconds, got {timeout!r}")
    return min(timeout, 15.0), timeout


def one_line(err: BaseException, limit: int = 200) -> str:
    """An exception as one short line: its type and its message, whitespace collapsed, cut at `limit`."""
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def with_retries(what: str, once: Callable[[], T], retries: int, backoff: float,
                  hint: Callable[[], str] = str) -> T:
    """Call `once` until it succeeds, retrying its Transient failures `retries` times with backoff."""
    attempts = max(retries, 0) + 1  # a negative count still means one try, never zero
    for attempt in range(attempts):
        try:
            return once()
        except Transient as err:
            problem, fix = str(err), f"; {err.fix}" if err.fix else ""
        if attempt + 1 < attempts:
            log.warning("%s: %s; retry %d/%d in %.1f s", what, problem, attempt + 1, attempts - 1,
                        _wait(backoff, attempt))
            time.sleep(_wait(backoff, attempt))
    raise DownloadError(f"{what}: {problem} after {attempts} attempt{'s' * (attempts > 1)}{hint()}{fix}")


def unreachable(err: requests.ConnectionError) -> bool:
    """Whether no connection was made at all (refused, unknown host, connect timeout, TLS failure)."""
    reason = getattr(err.args[0], "reason", None) if err.args else None
    return isinstance(err, requests.exceptions.SSLError) or isinstance(reason, (NewConnectionError,
                                                                                ConnectTimeoutError))


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip().lower()


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
        raise Transient("HTTP 416 (range not satisfiable), starting over")
    if status >= 500 or status == 429:
        raise Transient(f"HTTP {status}")
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
        raise Transient(f"the server answered another range ({response.headers.get('Content-Range')!r}) than "
                         f"bytes {have}-, starting over")
    return status == 206, remote.size if remote.size is not None else announced


def _framed(response: requests.Response) -> bool:
    """Whether the body's end is announced (Content-Length or chunked), so a short body is not a cut."""
    return (_header_int(response.headers.get("Content-Length", "")) is not None
            or "chunked" in response.headers.get("Transfer-Encoding", "").lower())


def _chunks(response: requests.Response, remote: RemoteFile, partial: Path, watch: pace.Watch) -> Iterator[bytes]:
    """The answer's body, as it arrives; a body the server could not have meant to send is refused."""
    try:
        yield from pace.body(response, watch)
    except requests.exceptions.ContentDecodingError as err:
        raise _refuse(remote, partial, f"the server's compressed answer does not decode ({one_line(err)})") from None


def _stream_into(session: requests.Session, remote: RemoteFile, partial: Path, timeout: float,
                 progress: bool, limit: int, watch: pace.Watch) -> str:
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
    with watch.follow(session.get(remote.url, headers=headers, stream=True, timeout=timeouts(timeout))) as response:
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
            for chunk in _chunks(response, remote, partial, watch):
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
            raise Transient(f"connection closed after {have} of {size} bytes")
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
    server announces, if any: the caller must then check its content (and delete it when that is wrong). Each
    attempt must keep emo.fetch.pace's minimum rate over every `timeout` seconds, or it is retried (resumed).
    """
    timeouts(timeout)
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
    session = session or pace.session()

    def once() -> Path:
        try:
            with pace.Watch(window=timeout, min_rate=pace.MIN_RATE,
                            error=lambda reason: Transient(reason, pace.SLOW_FILE)) as watch:
                digest = _stream_into(session, remote, partial, timeout, progress, max_bytes, watch)
        except requests.Timeout:
            raise Transient("timed out") from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as err:
            raise Transient(f"connection cut ({one_line(err)})") from None
        except requests.RequestException as err:  # redirects to other schemes, too many redirects, bad URLs
            raise _refuse(remote, partial, one_line(err)) from None
        except OSError as err:  # our side: disk full, no permission; the partial file stays for a resume
            raise DownloadError(f"{remote.key}: cannot write {partial} ({one_line(err)})") from None
        if remote.md5 is not None and digest != remote.md5:
            partial.unlink()
            raise Transient(f"md5 {digest} does not match the record's {remote.md5}")
        partial.replace(final)
        return final

    def kept() -> str:
        return (f"; the partial file {partial} is kept and the next run resumes it" if partial.exists() else "")

    return with_retries(f"{remote.key} from {remote.url}", once, retries, backoff, kept)
