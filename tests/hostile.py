"""Hostile inputs for the download tests: a scripted HTTP server on 127.0.0.1 and hand-damaged zips."""

from __future__ import annotations

import hashlib
import io
import json
import struct
import threading
import zipfile
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    """One scripted HTTP answer. framing: 'length' (a true Content-Length unless headers set one),
    'chunked', or 'close' (no length: the body ends when the connection closes)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    framing: str = "length"


def chunked(body: bytes, size: int = 4096) -> bytes:
    """A body in HTTP/1.1 chunked transfer encoding, terminator included."""
    pieces = [body[i:i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


class ScriptedServer:
    """Answers each path with its scripted Answer (a list: one per request, the last one repeating)."""

    def __init__(self) -> None:
        self.answers: dict[str, Answer | list[Answer]] = {}
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def paths(self, path: str) -> list[str | None]:
        """The Range header of every request to `path`."""
        return [rng for p, rng in self.requests if p == path]

    def record(self, payload: object, path: str = "/api/records/1") -> str:
        """Serve `payload` as the record JSON (a value, or raw bytes as they are); returns its URL."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.answers[path] = Answer(body=body, headers={"Content-Type": "application/json"})
        return self.url(path)

    def _next(self, path: str) -> Answer:
        answer = self.answers.get(path, Answer(404, b"not found"))
        if isinstance(answer, list):
            return answer.pop(0) if len(answer) > 1 else answer[0]
        return answer

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep pytest output clean
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                answer = server._next(self.path)
                headers = dict(answer.headers)
                body = answer.body
                if answer.framing == "length":
                    headers.setdefault("Content-Length", str(len(body)))
                elif answer.framing == "chunked":
                    headers["Transfer-Encoding"] = "chunked"
                    body = chunked(body)
                head = f"HTTP/1.1 {answer.status} Scripted\r\nConnection: close\r\n"
                head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
                self.wfile.write(head.encode("latin-1") + body)
                self.wfile.flush()
                self.close_connection = True

        return Handler

    def __enter__(self) -> ScriptedServer:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()


def record_entry(key: str, data: bytes, url: str, **overrides) -> dict:
    """A Zenodo record entry for `data` served at `url`; overrides replace any field."""
    entry = {"key": key, "size": len(data), "checksum": "md5:" + hashlib.md5(data).hexdigest(),
             "links": {"self": url}}
    entry.update(overrides)
    return entry


def zip_bytes(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip holding `members` (name -> content)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as bundle:
        for name, content in members.items():
            bundle.writestr(name, content)
    return buffer.getvalue()


# Byte offsets of fields in a zip's central directory header (b"PK\1\2") and local file header (b"PK\3\4").
CENTRAL = {"flags": 8, "method": 10, "crc": 16, "compressed": 20, "size": 24}
LOCAL = {"flags": 6, "method": 8, "crc": 14, "compressed": 18, "size": 22}


def patch_zip(data: bytes, field_name: str, value: int, local: bool = False) -> bytes:
    """Overwrite one header field of the first member: what a damaged or hand-crafted zip looks like."""
    signature, offsets = (b"PK\x03\x04", LOCAL) if local else (b"PK\x01\x02", CENTRAL)
    start = data.index(signature) + offsets[field_name]
    width = 2 if field_name in ("flags", "method") else 4
    return data[:start] + struct.pack("<H" if width == 2 else "<I", value) + data[start + width:]
