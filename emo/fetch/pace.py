"""A pace for every HTTP request: requests' timeout bounds each socket read, so a server that trickles a byte a
second would hold a download forever. A watchdog thread follows each request and, when it falls behind, shuts
its socket down, which ends the blocked read at once; the request then fails as a Transient and is retried.

The pace, with T = data.timeout_seconds (60 s by default):
- the record JSON (about 30 kB) must arrive whole, headers and body, within RECORD_FACTOR × T (120 s);
- a file must bring at least MIN_RATE (1 KiB/s) on average over every window of T seconds, counted from the
  request, so slow headers count as no bytes: at least 60 KiB in any minute by default.
A working connection, however slow (a dial-up modem brings 5 KiB/s), never trips either.
"""

from __future__ import annotations

import collections
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError, SSLError
from urllib3.poolmanager import ProxyManager

MIN_RATE = 1024  # bytes a second, averaged over data.timeout_seconds
RECORD_FACTOR = 2  # the record JSON's deadline in data.timeout_seconds: one to answer, one for the body
CHUNK = 1 << 20  # the most one read returns; it returns what has arrived, so the pace is counted as it comes
FIX = "a stalled or hostile server: retry later, raise data.timeout_seconds for a link that stalls, or point " \
    "data.source at a mirror"
SLOW_FILE = f"a download must bring at least {MIN_RATE // 1024} KiB/s over every data.timeout_seconds; {FIX}"
SLOW_RECORD = f"the record JSON must arrive whole within {RECORD_FACTOR} × data.timeout_seconds; {FIX}"

_current = threading.local()  # the Watch of this thread's request, for the connections that serve it


class _Watched:
    """A connection that hands its socket to the thread's Watch before it waits for the answer's headers."""

    def getresponse(self) -> Any:
        watch = getattr(_current, "watch", None)
        if watch is not None and getattr(self, "sock", None) is not None:
            watch.sockets.append(self.sock)
        return super().getresponse()  # type: ignore[misc]


class _HTTPConnection(_Watched, HTTPConnection):
    pass


class _HTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class _Adapter(HTTPAdapter):
    """requests' adapter whose connections (direct or through an http(s) proxy) report to the thread's Watch."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = POOLS

    def proxy_manager_for(self, proxy: str, **kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **kwargs)
        if type(manager) is ProxyManager:  # a SOCKS manager has pools of its own; its answers are still shut down
            manager.pool_classes_by_scheme = POOLS
        return manager


def session() -> requests.Session:
    """A requests session whose requests a Watch can stop while they wait for headers, too."""
    made = requests.Session()
    for prefix in ("http://", "https://"):
        made.mount(prefix, _Adapter())
    return made


class Watch:
    """Holds the requests made inside `with` to a pace: at least `min_rate` bytes a second over every `window`
    seconds (count them with `count`), and/or the whole exchange within `within` seconds. When the pace is not
    kept, the sockets are shut down and leaving the block raises `error(reason)`, whatever else was raised."""

    def __init__(self, *, window: float, error: Callable[[str], Exception], min_rate: float = 0.0,
                 within: float | None = None) -> None:
        self.window, self.error, self.min_rate, self.within = window, error, min_rate, within
        self.received = 0
        self.reason: str | None = None
        self.sockets: list[socket.socket] = []
        self.responses: list[requests.Response] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="emo-pace", daemon=True)

    def __enter__(self) -> Watch:
        self.start = time.monotonic()
        _current.watch = self
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        _current.watch = None
        if self.reason is not None:
            raise self.error(self.reason) from None

    def count(self, size: int) -> None:
        """Note `size` more bytes of the body."""
        self.received += size

    def follow(self, response: requests.Response) -> requests.Response:
        """Watch an answer too: its socket may have left the connection (Connection: close, a proxy)."""
        self.responses.append(response)
        return response

    def _behind(self, now: float, samples: collections.deque[tuple[float, int]]) -> str | None:
        """Why the pace is not kept at `now`, or None; `samples`: (time, bytes) every step, the oldest needed."""
        if self.within is not None and now - self.start > self.within:
            return f"did not arrive whole within {self.within:g} s ({self.received} bytes of its body came)"
        if not self.min_rate:
            return None
        samples.append((now, self.received))
        while len(samples) > 1 and samples[1][0] <= now - self.window:
            samples.popleft()
        then, before = samples[0]
        if now - then >= self.window and self.received - before < self.min_rate * self.window:
            return (f"too slow: {self.received - before} bytes in the last {now - then:.1f} s, under "
                    f"{self.min_rate / 1024:g} KiB/s ({self.received} bytes in all)")
        return None

    def _run(self) -> None:
        samples = collections.deque([(self.start, 0)])
        step = min(1.0, self.window / 4, (self.within or self.window) / 4)
        while not self._stop.wait(step):
            if (reason := self._behind(time.monotonic(), samples)) is not None:
                self.reason = reason
                self._abort()
                return

    def _abort(self) -> None:
        """End whatever read the request is blocked in: its sockets get an end of file."""
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        for response in self.responses:
            with contextlib.suppress(OSError, ValueError, RuntimeError, AttributeError):
                response.raw.shutdown()


def body(response: requests.Response, watch: Watch) -> Iterator[bytes]:
    """The answer's body as it arrives, decoded, each piece counted for `watch`; urllib3's errors raised as
    requests' (as iter_content does), whose read would wait for a whole megabyte and so hide the pace."""
    try:
        while piece := response.raw.read1(CHUNK, decode_content=True):
            watch.count(len(piece))
            yield piece
    except ReadTimeoutError as err:
        raise requests.exceptions.ReadTimeout(err) from None
    except ProtocolError as err:
        raise requests.exceptions.ChunkedEncodingError(err) from None
    except DecodeError as err:
        raise requests.exceptions.ContentDecodingError(err) from None
    except SSLError as err:
        raise requests.exceptions.SSLError(err) from None
