"""Zenodo records: the record JSON (legacy and InvenioRDM shapes) read, bounded and validated into the files to
download (emo.fetch.remote downloads them)."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from emo.fetch import pace
from emo.fetch.remote import (
    DownloadError,
    RemoteFile,
    SourceUnreachable,
    Transient,
    is_http_url,
    one_line,
    timeouts,
    unreachable,
    url_scheme,
    with_retries,
)
from emo.fetch.source import ZENODO_API as RECORDS_API

ZENODO_API = RECORDS_API + "/{record}"  # what 'zenodo' means to fetch() (the stage: emo.fetch.source)
# RAVDESS's record JSON is about 30 kB: this bound stops a hostile server from filling the memory.
MAX_RECORD_BYTES = 16 << 20
_MD5 = re.compile(r"[0-9a-fA-F]{32}")


def is_remote(source: str) -> bool:
    """Whether `data.source` names a record ('zenodo' or any URL) rather than a local folder ('auto' is neither:
    emo.fetch.source resolves it first)."""
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


def _late(reason: str) -> Transient:
    return Transient(f"the record JSON {reason}", pace.SLOW_RECORD)


def _read_record(session: requests.Session, url: str, timeout: float) -> bytes:
    """One GET of the record JSON, bounded in size and in time (emo.fetch.pace); transient failures raise
    Transient."""
    deadline = pace.RECORD_FACTOR * timeout
    try:
        with pace.Watch(window=timeout, within=deadline, error=_late) as watch, \
                watch.follow(session.get(url, timeout=timeouts(timeout), stream=True)) as response:
            if response.status_code >= 500 or response.status_code == 429:
                raise Transient(f"HTTP {response.status_code}")
            if not response.ok:
                raise DownloadError(f"{url} answered HTTP {response.status_code}; is data.source a Zenodo record "
                                    "URL (…/api/records/<id>)?")
            body = bytearray()
            for chunk in pace.body(response, watch):
                body += chunk
                if len(body) > MAX_RECORD_BYTES:
                    raise DownloadError(f"{url} sent more than {MAX_RECORD_BYTES} bytes where a record JSON "
                                        "(about 30 kB for RAVDESS) was expected; is data.source a record URL?")
            return bytes(body)
    except requests.ConnectionError as err:
        if unreachable(err):
            raise SourceUnreachable(
                f"cannot reach {url} ({type(err).__name__}). No network? Use a local RAVDESS folder: "
                "`export EMO_RAVDESS=/path` (data.source auto) or `make repro SOURCE=/path`; or point "
                "data.source at the record URL of a Zenodo-compatible mirror.") from None
        raise Transient(f"connection broken ({one_line(err)})") from None
    except requests.exceptions.ChunkedEncodingError as err:  # cut in the middle of the body
        raise Transient(f"connection broken ({one_line(err)})") from None
    except requests.Timeout:
        raise Transient("timed out") from None
    except requests.RequestException as err:  # redirects to other schemes, too many redirects, bad URLs
        raise DownloadError(f"{url}: {one_line(err)}; is data.source a Zenodo record URL?") from None


def fetch_record(url: str, *, retries: int = 5, backoff: float = 2.0, timeout: float = 60.0,
                 session: requests.Session | None = None) -> dict[str, RemoteFile]:
    """Read and validate the record JSON; fail fast with a hint about mirrors when the host is unreachable. The
    whole record must arrive within emo.fetch.pace.RECORD_FACTOR × `timeout` seconds, or it is retried."""
    timeouts(timeout)
    session = session or pace.session()
    body = with_retries(url, lambda: _read_record(session, url, timeout), retries, backoff)
    try:
        record = json.loads(body)
    except (ValueError, RecursionError) as err:  # RecursionError: absurdly nested JSON
        raise DownloadError(f"{url} did not return a Zenodo record JSON ({one_line(err)}); for Zenodo "
                            "the record URL is …/api/records/<id>, not the …/records/<id> web page") from None
    return parse_record(record, url)


