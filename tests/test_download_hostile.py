"""Hostile servers, records and archives: each gets one line naming the input, and nothing is half-written."""

from __future__ import annotations

import gzip
import io
import os
import random
import threading
import zipfile
from pathlib import Path

import pytest

from emo.fetch import download as emo_download
from emo.fetch import remote, zenodo
from emo.fetch.download import MissingClipsError, fetch
from emo.fetch.remote import DownloadError
from fake_zenodo import AUDIO, RECORD, params
from hostile import Answer, ScriptedServer, patch_zip, record_entry, zip_bytes

CLIP = "Actor_01/03-01-01-01-01-01-01.wav"  # a clip every test's params want
FILE_PATH = f"/files/{AUDIO}"


@pytest.fixture
def scripted():
    with ScriptedServer() as server:
        yield server


def serve(server: ScriptedServer, data: bytes, answer: Answer | list[Answer] | None = None, **entry) -> str:
    """Script a record listing AUDIO (md5 and size of `data`) and the file's answer; returns the record URL."""
    server.answers[FILE_PATH] = answer or Answer(body=data, headers={"Content-Type": "application/zip"})
    return server.record({"files": [record_entry(AUDIO, data, server.url(FILE_PATH), **entry)]})


@pytest.fixture(scope="module")
def actor_1_zip(zenodo_archives) -> bytes:
    """The audio zip cut down to actor 1's 60 clips: a whole, valid archive for the tests that must succeed."""
    with zipfile.ZipFile(zenodo_archives / AUDIO) as full:
        return zip_bytes({info.filename: full.read(info) for info in full.infolist()
                          if info.filename.startswith("Actor_01/")}, zipfile.ZIP_STORED)


def fetch_audio(url: str, tmp_path: Path, **overrides):
    return fetch(params(url, parts=("audio_speech",), **overrides), tmp_path / "raw", tmp_path / "a",
                 progress=False)


def refused(tmp_path: Path, url: str, *names: str, error=DownloadError) -> str:
    """Fetch, expect one error line naming `names`, and check that nothing was left half-written."""
    with pytest.raises(error) as caught:
        fetch_audio(url, tmp_path)
    message = str(caught.value)
    assert "\n" not in message and all(name in message for name in names), message
    assert not (tmp_path / "raw").exists() and not (tmp_path / ".raw.partial").exists()
    assert not list(tmp_path.rglob("*.part")) and not list(tmp_path.rglob("*.tmp"))
    return message


def test_zip_bomb_is_refused_naming_archive_and_member(scripted, tmp_path):
    bomb = zip_bytes({CLIP: bytes(8 << 20)})  # 8 MB of zeros deflate to about 8 kB
    assert len(bomb) < 20_000
    message = refused(tmp_path, serve(scripted, bomb), AUDIO, CLIP)
    assert "over the size bound" in message


def test_member_declaring_4_gib_is_refused_before_extracting(scripted, tmp_path):
    archive = zip_bytes({CLIP: b"RIFF" + bytes(1000)}, zipfile.ZIP_STORED)
    archive = patch_zip(patch_zip(archive, "size", 0xF000_0000), "compressed", 0xF000_0000)  # EOFError before
    assert zipfile.ZipFile(io.BytesIO(archive)).getinfo(CLIP).file_size == 0xF000_0000
    assert "declares 4026531840 bytes, over the size bound" in refused(tmp_path, serve(scripted, archive), AUDIO, CLIP)


def test_copy_counts_bytes_rather_than_trusting_a_header(tmp_path):
    with open(tmp_path / "out", "wb") as out, pytest.raises(DownloadError, match="member x: more than 1000 bytes"):
        emo_download._copy_bounded(io.BytesIO(bytes(5000)), out, 1000, "member x")
    assert (tmp_path / "out").stat().st_size <= 1000


def _clip_zip(method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A one-clip zip compressing about 2:1, like RAVDESS's, so that only the damage trips the extraction."""
    rng = random.Random(0)
    return zip_bytes({CLIP: bytes(rng.choice(b"abcdefghijklmnop") for _ in range(20_000))}, method)


def _flip_data(archive: bytes) -> bytes:
    """Damage the first member's compressed bytes, its headers intact."""
    start = 30 + len(CLIP)  # after the local file header and the name
    return archive[:start + 10] + bytes(b ^ 0x5A for b in archive[start + 10:start + 60]) + archive[start + 60:]


DAMAGED = {  # what zipfile raised before, uncaught unless BadZipFile
    "member shorter than declared (EOFError)":
        lambda: patch_zip(patch_zip(_clip_zip(zipfile.ZIP_STORED), "size", 25_000), "compressed", 10**6),
    "corrupt deflate stream (zlib.error)": lambda: _flip_data(_clip_zip()),
    "corrupt lzma stream (LZMAError)": lambda: _flip_data(_clip_zip(zipfile.ZIP_LZMA)),
    "corrupt bzip2 stream (OSError)": lambda: _flip_data(_clip_zip(zipfile.ZIP_BZIP2)),
    "unsupported compression (NotImplementedError)": lambda: patch_zip(_clip_zip(), "method", 99),
    "encrypted member (RuntimeError)": lambda: patch_zip(_clip_zip(), "flags", 1),
    "wrong CRC (BadZipFile)": lambda: patch_zip(_clip_zip(zipfile.ZIP_STORED), "crc", 0x12345678),
    "size understated in the header (BadZipFile)": lambda: patch_zip(_clip_zip(), "size", 100),
    "archive cut short (BadZipFile)": lambda: _clip_zip()[:2000],
    "not a zip at all (BadZipFile)": lambda: b"<html><body>Log in to download</body></html>",
}


@pytest.mark.parametrize("case", DAMAGED)
def test_damaged_archive_is_one_line_naming_it(scripted, tmp_path, case):
    message = refused(tmp_path, serve(scripted, DAMAGED[case]()), AUDIO)
    assert "cannot extract" in message and "check data.source" in message
    if "(BadZipFile)" not in case or "CRC" in case or "understated" in case:
        assert CLIP in message


def test_record_declaring_a_1_tb_file_is_refused_before_downloading(scripted, tmp_path):
    url = serve(scripted, b"zip", size=1 << 40)
    refused(tmp_path, url, AUDIO, "the record says 1099511627776 bytes, above the 8 GiB bound")
    assert scripted.paths(FILE_PATH) == []


GOOD = record_entry(AUDIO, b"zip", "http://127.0.0.1:9/files/x")
BAD_RECORDS = {
    "a list": ([GOOD], "is a JSON array"),
    "files: null": ({"files": None}, "lists no files"),
    "no files key": ({"metadata": {}}, "lists no files"),
    "entries: null": ({"files": {"entries": None}}, "lists no files"),
    "an entry that is a string": ({"files": [AUDIO]}, "files[0] is a JSON string"),
    "a file:// link": ({"files": [dict(GOOD, links={"self": "file:///etc/passwd"})]},
                       "link 'file:///etc/passwd' is not an http(s) URL"),
    "a link with a line break": ({"files": [dict(GOOD, links={"self": "https://x/a\nb"})]}, r"'https://x/a\nb'"),
    "links that are a string": ({"files": [dict(GOOD, links="https://x")]}, "link None is not an http(s) URL"),
    "a size that is text": ({"files": [dict(GOOD, size="big")]}, "size 'big' is not a byte count"),
    "a negative size": ({"files": [dict(GOOD, size=-5)]}, "size -5 is not a byte count"),
    "a key that walks out": ({"files": [dict(GOOD, key="../../.bashrc")]}, "is not a plain file name"),
    "a malformed md5": ({"files": [dict(GOOD, checksum="md5:xyz")]}, "is not 'md5:<32 hex digits>'"),
    "a file listed twice": ({"files": [GOOD, GOOD]}, f"{AUDIO} is listed twice"),
    "deeply nested JSON": (b"[" * 100_000 + b"]" * 100_000, "did not return a Zenodo record JSON"),
    "a web page": (b"<!doctype html><title>Zenodo</title>", "did not return a Zenodo record JSON"),
    "binary garbage": (b"\xff\xfe\x00garbage", "did not return a Zenodo record JSON"),
}


@pytest.mark.parametrize("case", BAD_RECORDS)
def test_malformed_record_is_one_line_naming_the_record(scripted, tmp_path, case):
    payload, problem = BAD_RECORDS[case]
    url = scripted.record(payload)
    refused(tmp_path, url, url, problem)
    assert not [p for p, _ in scripted.requests if p != "/api/records/1"]  # nothing downloaded


def test_record_json_past_its_size_bound_is_refused(scripted, tmp_path, monkeypatch):
    monkeypatch.setattr(zenodo, "MAX_RECORD_BYTES", 1000)
    url = scripted.record({"files": [GOOD] * 20})
    refused(tmp_path, url, url, "sent more than 1000 bytes where a record JSON")


def test_source_url_scheme_is_case_insensitive(fake_zenodo, tmp_path):
    report = fetch_audio(fake_zenodo.record_url.replace("http://", "HTTP://"), tmp_path)
    assert report.clips == {"audio_speech": 240}


@pytest.mark.parametrize("source", ["ftp://127.0.0.1/api/records/1", "FILE:///etc/passwd",
                                    "http://127.0.0.1:1/api/records/1\nhttp://evil"])
def test_source_url_with_another_scheme_is_refused(tmp_path, source):
    refused(tmp_path, source, repr(source), "only http(s) record URLs (without spaces) are supported")


def test_zip_member_paths_cannot_leave_the_layout(scripted, tmp_path):
    archive = zip_bytes({f"../../../evil/{CLIP}": b"RIFF" + bytes(100)})
    with pytest.raises(MissingClipsError):  # every other clip is missing; the one clip landed in the layout
        fetch_audio(serve(scripted, archive), tmp_path)
    assert not (tmp_path.parent / "evil").exists() and not list(tmp_path.rglob("evil"))


@pytest.mark.parametrize(("location", "problem"), [("file:///etc/passwd", "InvalidSchema"),
                                                    (FILE_PATH, "TooManyRedirects")])
def test_file_redirected_to_another_scheme_or_in_a_loop_is_refused(scripted, tmp_path, location, problem):
    url = serve(scripted, b"zip", Answer(302, headers={"Location": location}))
    refused(tmp_path, url, AUDIO, problem)


def test_record_redirected_to_another_scheme_is_refused(scripted, tmp_path):
    scripted.answers["/api/records/1"] = Answer(301, headers={"Location": "file:///etc/passwd"})
    refused(tmp_path, scripted.url("/api/records/1"), "/api/records/1", "InvalidSchema")


@pytest.mark.parametrize("kind", ["text/html; charset=utf-8", "application/json"])
def test_web_page_instead_of_the_zip_is_named_and_not_kept(scripted, tmp_path, kind):
    page = b"<html><body>Please log in</body></html>"
    url = serve(scripted, os.urandom(100_000), Answer(body=page, headers={"Content-Type": kind}))
    message = refused(tmp_path, url, AUDIO, f"the server sent a web page (Content-Type {kind.split(';')[0]})")
    assert "resume" not in message
    assert len(scripted.paths(FILE_PATH)) == 1  # not retried: a page does not turn into the zip


@pytest.mark.parametrize("delta", [1000, -1000])
def test_record_size_off_by_1000_is_a_size_mismatch_not_a_cut(scripted, tmp_path, delta):
    data = os.urandom(200_000)
    url = serve(scripted, data, size=len(data) + delta)
    message = refused(tmp_path, url, AUDIO, f"announces {len(data)} bytes (Content-Length) but the record says "
                                            f"{len(data) + delta}")
    assert "connection" not in message and "resume" not in message


def test_chunked_answer_longer_than_the_record_is_stopped(scripted, tmp_path):
    data = os.urandom(200_000)
    url = serve(scripted, data, Answer(body=data + os.urandom(50_000), framing="chunked"))
    refused(tmp_path, url, AUDIO, f"the server sent more than the record's {len(data)} bytes")


def test_complete_chunked_answer_shorter_than_the_record_is_not_resumed(scripted, tmp_path):
    data = os.urandom(200_000)
    url = serve(scripted, data, Answer(body=data[:150_000], framing="chunked"))
    refused(tmp_path, url, AUDIO, f"complete answer ends after 150000 of the record's {len(data)} bytes")


def test_undecodable_content_encoding_is_refused(scripted, tmp_path):
    data = os.urandom(2000)
    url = serve(scripted, data, Answer(body=b"not gzip at all", headers={"Content-Encoding": "gzip"}))
    refused(tmp_path, url, AUDIO, "compressed answer does not decode")


def test_gzip_content_encoding_of_the_right_file_is_accepted(scripted, actor_1_zip, tmp_path):
    data = actor_1_zip  # 60 clips
    url = serve(scripted, data, Answer(body=gzip.compress(data, 1), headers={"Content-Encoding": "gzip"}))
    assert fetch_audio(url, tmp_path, actors=(1,)).clips == {"audio_speech": 60}


def test_body_cut_without_a_length_is_resumed(scripted, actor_1_zip, tmp_path):
    data = actor_1_zip  # 60 clips
    rest = {"Content-Range": f"bytes 5000-{len(data) - 1}/{len(data)}"}
    url = serve(scripted, data, [Answer(body=data[:5000], framing="close"), Answer(206, data[5000:], rest)])
    assert fetch_audio(url, tmp_path, actors=(1,)).clips == {"audio_speech": 60}
    assert scripted.paths(FILE_PATH) == [None, "bytes=5000-"]


def test_answer_with_another_range_starts_over(scripted, actor_1_zip, tmp_path):
    data = actor_1_zip  # 60 clips
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / f"{AUDIO}.part").write_bytes(data[:5000])
    other = {"Content-Range": f"bytes 100-{len(data) - 1}/{len(data)}"}
    url = serve(scripted, data, [Answer(206, data[100:], other), Answer(body=data)])
    assert fetch_audio(url, tmp_path, actors=(1,)).clips == {"audio_speech": 60}
    assert scripted.paths(FILE_PATH) == ["bytes=5000-", None]


def test_negative_retries_still_try_once(scripted, fake_zenodo, tmp_path):
    scripted.answers["/api/records/1"] = Answer(500)
    with pytest.raises(DownloadError, match="HTTP 500 after 1 attempt$"):
        zenodo.fetch_record(scripted.url("/api/records/1"), retries=-1, backoff=-1.0)
    fake_zenodo.faults.fail_times[AUDIO] = 1
    audio_zip = zenodo.fetch_record(fake_zenodo.record_url)[AUDIO]
    with pytest.raises(DownloadError, match=rf"{AUDIO} from .*: HTTP 500 after 1 attempt$"):
        remote.download(audio_zip, tmp_path, retries=-1, progress=False)


@pytest.mark.parametrize("timeout", [0.0, -1.0, float("nan"), float("inf")])
def test_unusable_timeout_is_an_error_not_a_traceback(fake_zenodo, timeout):
    with pytest.raises(DownloadError, match="timeout_seconds must be a positive number"):
        zenodo.fetch_record(fake_zenodo.record_url, timeout=timeout)


def test_odd_backoff_waits_are_bounded():
    assert remote._wait(float("nan"), 3) == 0.0 and remote._wait(-2.0, 3) == 0.0
    assert remote._wait(2.0, 2) == 8.0 and remote._wait(float("inf"), 5000) == remote.MAX_WAIT_SECONDS




GUARD_SECONDS = 30  # far past the ~2 s these trickles take to be given up; only a download that never gives up hits it


def finishes(call):
    """What `call` returned or raised, run in a thread; a call still running after GUARD_SECONDS (a download that
    never gives up) fails the test instead of hanging the suite."""
    outcome: dict = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except Exception as err:  # handed to the test
            outcome["error"] = err

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(GUARD_SECONDS)
    assert not thread.is_alive(), f"still downloading from a trickling server after {GUARD_SECONDS} s"
    return outcome


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers and body"])
def test_a_trickled_record_json_is_given_up_after_its_deadline(fake_zenodo, tmp_path, headers):
    fake_zenodo.faults.trickle.add(RECORD)
    fake_zenodo.faults.trickle_headers = headers
    outcome = finishes(lambda: fetch_audio(fake_zenodo.record_url, tmp_path, timeout_seconds=0.5, retries=1))
    message = str(outcome.get("error"))
    assert isinstance(outcome.get("error"), DownloadError) and "\n" not in message, outcome
    assert message.startswith(f"{fake_zenodo.record_url}: the record JSON did not arrive whole within 1 s (")
    assert "bytes of its body came) after 2 attempts" in message
    assert "must arrive whole within 2 × data.timeout_seconds" in message and "point data.source at a mirror" in message
    assert fake_zenodo.file_requests(AUDIO) == [] and not (tmp_path / "raw").exists()


@pytest.mark.parametrize("headers", [False, True], ids=["body", "headers and body"])
def test_a_trickled_file_is_given_up_and_nothing_of_it_is_trusted(fake_zenodo, tmp_path, headers):
    fake_zenodo.faults.trickle.add(AUDIO)
    fake_zenodo.faults.trickle_headers = headers
    outcome = finishes(lambda: fetch_audio(fake_zenodo.record_url, tmp_path, timeout_seconds=0.5, retries=1))
    message = str(outcome.get("error"))
    assert isinstance(outcome.get("error"), DownloadError) and "\n" not in message, outcome
    assert message.startswith(f"{AUDIO} from {fake_zenodo.base}/api/records/")
    assert "too slow: " in message and " bytes in the last " in message and "under 1 KiB/s" in message
    assert "after 2 attempts" in message and "at least 1 KiB/s over every data.timeout_seconds" in message
    assert len(fake_zenodo.file_requests(AUDIO)) == 2
    assert not (tmp_path / "a" / AUDIO).exists()  # only a .part, which is resumed and checked, never trusted
    assert not (tmp_path / "raw").exists() and not (tmp_path / ".raw.partial").exists()
    fake_zenodo.faults.trickle.clear()
    report = fetch_audio(fake_zenodo.record_url, tmp_path, timeout_seconds=0.5, retries=1)
    assert report.clips == {"audio_speech": 240} and not list(tmp_path.rglob("*.part"))


def test_a_part_file_of_wrong_bytes_is_fetched_again_not_trusted(fake_zenodo, zenodo_archives, tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / f"{AUDIO}.part").write_bytes(os.urandom(5000))  # what a hostile trickle could have left
    report = fetch_audio(fake_zenodo.record_url, tmp_path)
    assert report.clips == {"audio_speech": 240}
    assert (tmp_path / "a" / AUDIO).read_bytes() == (zenodo_archives / AUDIO).read_bytes()
    assert fake_zenodo.file_requests(AUDIO) == ["bytes=5000-", None]  # resumed, md5 wrong, fetched whole
