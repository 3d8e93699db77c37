"""A Zenodo-like HTTP server on 127.0.0.1 serving the generated fixture's archives, with scripted faults, and
the data parameters that point the download at it (imported by conftest and the download tests)."""

from __future__ import annotations

import hashlib
import json
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from emo.core.params import DataParams

FIXTURE_ACTORS = (1, 2, 21, 23)
AUDIO = "Audio_Speech_Actors_01-24.zip"
VIDEO_23 = "Video_Speech_Actor_23.zip"


def params(source: str, **overrides) -> DataParams:
    settings = dict(source=source, parts=("audio_speech", "video_speech"), actors=FIXTURE_ACTORS,
                    retries=3, backoff_seconds=0.01, timeout_seconds=10.0)
    settings.update(overrides)
    return DataParams(**settings)


@dataclass
class Faults:
    """What the fake Zenodo should do wrong, per file key."""

    cut_after: dict[str, int] = field(default_factory=dict)  # close the first response after N bytes
    fail_times: dict[str, int] = field(default_factory=dict)  # answer 500 this many times first
    corrupt_times: dict[str, int] = field(default_factory=dict)  # send flipped bytes this many times
    missing: set[str] = field(default_factory=set)  # listed in the record but 404 on download
    trickle: set[str] = field(default_factory=set)  # send a byte every trickle_seconds (RECORD: the record JSON)
    trickle_headers: bool = False  # trickle the status line and headers too, not only the body
    trickle_seconds: float = 0.05


RECORD = "record"  # the record JSON's name in Faults.trickle


class FakeZenodo:
    """A Zenodo-like server: `/api/records/<id>` JSON plus file downloads with HTTP Range support."""

    def __init__(self, folder: Path, record: int = 1188976, unlisted: tuple[str, ...] = ()):
        self.folder, self.record, self.unlisted = folder, record, set(unlisted)
        self.faults = Faults()
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.bytes_sent: dict[str, int] = defaultdict(int)
        self.stopped = threading.Event()  # ends a trickle when the tests are done with the server
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def api(self) -> str:
        """The records API, as $EMO_ZENODO_API takes it (emo.fetch.source)."""
        return f"{self.base}/api/records"

    @property
    def record_url(self) -> str:
        return f"{self.api}/{self.record}"

    def record_json(self) -> dict:
        files = []
        for path in sorted(self.folder.glob("*.zip")):
            if path.name in self.unlisted:
                continue
            files.append({
                "id": hashlib.sha1(path.name.encode()).hexdigest(), "key": path.name,
                "size": path.stat().st_size, "checksum": "md5:" + hashlib.md5(path.read_bytes()).hexdigest(),
                "links": {"self": f"{self.record_url}/files/{path.name}/content"},
            })
        return {"id": self.record, "metadata": {"title": "fake RAVDESS"}, "files": files}

    def file_requests(self, key: str) -> list[str | None]:
        return [rng for path, rng in self.requests if f"/files/{key}/" in path]

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def trickle(self, key: str, head: dict[str, str], body: bytes, status: str = "200 OK") -> None:
                """Answer a byte at a time, until all is sent, the client hangs up or the server stops."""
                lines = "".join(f"{k}: {v}\r\n" for k, v in head.items())
                start = f"HTTP/1.1 {status}\r\nConnection: close\r\n{lines}\r\n".encode("latin-1")
                if not fake.faults.trickle_headers:
                    self.wfile.write(start)
                    self.wfile.flush()
                    start = b""
                self.close_connection = True
                for index in range(len(start + body)):
                    if fake.stopped.wait(fake.faults.trickle_seconds):
                        return
                    try:
                        self.wfile.write((start + body)[index:index + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up: what the tests expect
                        return
                    fake.bytes_sent[key] += 1

            def do_GET(self):
                fake.requests.append((self.path, self.headers.get("Range")))
                if self.path == f"/api/records/{fake.record}":
                    body = json.dumps(fake.record_json()).encode()
                    if RECORD in fake.faults.trickle:
                        self.trickle(RECORD, {"Content-Type": "application/json", "Content-Length": str(len(body))},
                                     body)
                        return
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                parts = self.path.strip("/").split("/")
                key = parts[-2] if len(parts) >= 2 else ""
                path = fake.folder / key
                faults = fake.faults
                if key in faults.missing or not path.is_file() or parts[:4] != ["api", "records", str(fake.record),
                                                                                  "files"]:
                    self.send_error(404)
                    return
                if faults.fail_times.get(key, 0) > 0:
                    faults.fail_times[key] -= 1
                    self.send_error(500)
                    return
                data = path.read_bytes()
                if faults.corrupt_times.get(key, 0) > 0:
                    faults.corrupt_times[key] -= 1
                    data = data[:100] + bytes(b ^ 0xFF for b in data[100:200]) + data[200:]
                start = 0
                if key in faults.trickle:  # the whole file, a byte at a time (a Range is not honoured)
                    self.trickle(key, {"Content-Type": "application/zip", "Content-Length": str(len(data))}, data)
                    return
                if self.headers.get("Range"):
                    start = int(self.headers["Range"].split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                payload = data[start:]
                if key in faults.cut_after:
                    payload = payload[:faults.cut_after.pop(key)]
                    self.wfile.write(payload)
                    self.wfile.flush()
                    fake.bytes_sent[key] += len(payload)
                    self.close_connection = True
                    return
                self.wfile.write(payload)
                fake.bytes_sent[key] += len(payload)

        return Handler

    def __enter__(self) -> FakeZenodo:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self._server.shutdown()
        self._server.server_close()


def tree_snapshot(folder: Path) -> dict[str, tuple[int, float, str]]:
    """Size, mtime and sha256 of every file under a folder."""
    snapshot = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            snapshot[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime,
                                                       hashlib.sha256(path.read_bytes()).hexdigest())
    return snapshot
