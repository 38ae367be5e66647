"""HTTP POSTs that share one deadline and refuse oversized answers.

urllib's timeout bounds each socket operation, not a request: a server that sends a byte a
second never trips it. Here every socket opened under a Deadline is shut down when the
deadline passes, whatever it is waiting for (a proxy, TLS, the headers or the body), so a
set of requests run side by side ends by one wall-clock time.
"""
from __future__ import annotations

import http.client
import socket
import threading
import time
import urllib.error
import urllib.request
import weakref
from typing import Mapping

CHUNK = 64 * 1024  # bytes read at a time while counting toward the size bound


class TimeUp(Exception):
    """The deadline passed before the answer was complete."""


class TooLarge(Exception):
    """The answer is larger than the caller's bound; it was not read to the end."""

    def __init__(self, limit: int):
        super().__init__(f"more than {limit} bytes")
        self.limit = limit


class Deadline:
    """One time budget for many requests, in any threads; use it as a context manager."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self._end = time.monotonic() + seconds
        self._sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._expired = False

    @property
    def expired(self) -> bool:
        return self._expired or time.monotonic() >= self._end

    def remaining(self) -> float:
        return 0.0 if self._expired else max(0.0, self._end - time.monotonic())

    def left(self) -> float:
        """Seconds left; TimeUp when there are none."""
        left = self.remaining()
        if left <= 0:
            raise TimeUp()
        return left

    def guard(self, sock: socket.socket) -> socket.socket:
        """Shut `sock` down when the deadline passes (at once, if it has)."""
        with self._lock:
            if not self._expired:
                self._sockets.add(sock)
                if self._timer is None:
                    self._timer = threading.Timer(max(0.0, self._end - time.monotonic()), self.expire)
                    self._timer.daemon = True  # never keeps a finished command alive
                    self._timer.start()
                return sock
        _shut(sock)
        return sock

    def expire(self) -> None:
        """End every request now: the time is up, or one answer has already decided the outcome."""
        with self._lock:
            self._expired = True
            sockets = list(self._sockets)
            self._sockets.clear()
        for sock in sockets:
            _shut(sock)

    def close(self) -> None:
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()

    def __enter__(self) -> "Deadline":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _shut(sock: socket.socket) -> None:
    try:
        # The plain socket call, also for TLS sockets: it wakes a blocked read at once.
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass  # already closed


class _GuardedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, *args, deadline: Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = deadline
        self._create_connection = self._guarded_connection  # http.client's hook for the TCP connect

    def _guarded_connection(self, address, timeout=None, source_address=None) -> socket.socket:
        return self._deadline.guard(socket.create_connection(address, self._deadline.left(), source_address))


class _GuardedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, *args, deadline: Deadline, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = deadline
        self._create_connection = self._guarded_connection

    _guarded_connection = _GuardedHTTPConnection._guarded_connection

    def connect(self) -> None:
        # The handshake is bounded as a whole by the socket timeout (the time left); then the guard.
        super().connect()
        self._deadline.guard(self.sock)


class _HTTPHandler(urllib.request.HTTPHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self._deadline = deadline

    def http_open(self, req):
        return self.do_open(_GuardedHTTPConnection, req, deadline=self._deadline)


class _HTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, deadline: Deadline):
        super().__init__()
        self._deadline = deadline

    def https_open(self, req):
        return self.do_open(_GuardedHTTPSConnection, req, context=self._context, deadline=self._deadline)


def send(url: str, body: bytes | None, headers: Mapping[str, str], deadline: Deadline, limit: int) -> tuple[int, bytes]:
    """HTTP status and whole answer, error statuses included (proxies and redirects as urllib does).

    Raises TimeUp, TooLarge, OSError (cannot connect) or http.client.HTTPException (not HTTP).
    """
    opener = urllib.request.OpenerDirector()  # http and https only: a redirect to ftp:// or file:// is refused
    for handler in (urllib.request.ProxyHandler(), urllib.request.UnknownHandler(), _HTTPHandler(deadline),
                    _HTTPSHandler(deadline), urllib.request.HTTPDefaultErrorHandler(),
                    urllib.request.HTTPRedirectHandler(), urllib.request.HTTPErrorProcessor()):
        opener.add_handler(handler)
    request = urllib.request.Request(url, data=body, headers=dict(headers))
    try:
        try:
            with opener.open(request, timeout=deadline.left()) as response:
                status, payload = response.status, read_bounded(response, limit, deadline)
        except urllib.error.HTTPError as answer:
            with answer:
                status, payload = answer.code, read_bounded(answer, limit, deadline)
    except (OSError, http.client.HTTPException):
        if deadline.expired:
            raise TimeUp() from None  # the deadline shut the socket: that is the cause, not the symptom
        raise
    if deadline.expired:
        raise TimeUp()  # a body cut short by the deadline can look complete
    return status, payload


def read_bounded(response, limit: int, deadline: Deadline) -> bytes:
    """The body, refused once it is larger than `limit` bytes, never reading more than limit + 1."""
    announced = response.headers.get("Content-Length", "").strip()
    length = int(announced) if announced.isdigit() else None
    if length is not None and length > limit:
        raise TooLarge(limit)
    chunks, size = [], 0
    while True:
        deadline.left()
        chunk = response.read(min(CHUNK, limit + 1 - size))
        if not chunk:
            if length is not None and size < length:  # http.client's read(n) does not check this itself
                raise http.client.IncompleteRead(b"".join(chunks), length - size)
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
