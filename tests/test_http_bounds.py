"""The HTTP helper's bounds in time and memory, and its error messages, against real local TCP
servers that misbehave the way networks do: trickling a reply a byte at a time, accepting and
never answering, sending a huge body, redirecting. Wall-clock bounds here are generous limits on
a hang (budget + 2 s), not speed checks."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from carbonsdk import http
from carbonsdk.http import MAX_BODY_BYTES, HttpError, request
from carbonsdk.intensity.choose import series_for_run
from carbonsdk.intensity.electricitymaps import ElectricityMapsProvider
from carbonsdk.model.region import Region

Handler = Callable[[socket.socket, threading.Event], None]
DE = Region(provider=None, code="DE", zone="DE", source="explicit", country="DE")
HANG_MARGIN_S = 2.0


class RawServer:
    """A TCP server on 127.0.0.1 whose every connection is served by ``handler(conn, stop)``
    in its own daemon thread; ``stop`` is set at teardown so handlers return."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.stop = threading.Event()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            threading.Thread(target=self._run, args=(conn,), daemon=True).start()

    def _run(self, conn: socket.socket) -> None:
        try:
            self.handler(conn, self.stop)
        except OSError:
            pass  # the client gave up: expected
        finally:
            conn.close()

    def close(self) -> None:
        self.stop.set()
        self._thread.join(timeout=2.0)
        self.sock.close()


@pytest.fixture
def serve() -> Iterator[Callable[[Handler], RawServer]]:
    servers: list[RawServer] = []

    def start(handler: Handler) -> RawServer:
        server = RawServer(handler)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def read_request(conn: socket.socket) -> bytes:
    """Read one request's head (until the blank line)."""
    conn.settimeout(5.0)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def trickle_body(conn: socket.socket, stop: threading.Event) -> None:
    """Headers at once, then the body one byte every 0.2 s: every read succeeds well inside the
    socket timeout, so only a wall-clock deadline ends it."""
    read_request(conn)
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    while not stop.wait(0.2):
        conn.sendall(b" ")


def trickle_headers(conn: socket.socket, stop: threading.Event) -> None:
    """The status line, then header bytes one every 0.2 s, never finishing the head."""
    read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not stop.wait(0.2):
        conn.sendall(b"a")


def silent(conn: socket.socket, stop: threading.Event) -> None:
    """Accepts, reads the request, never answers."""
    read_request(conn)
    stop.wait(30.0)


def big_body(size: int, *, declare_length: bool) -> Handler:
    def handler(conn: socket.socket, stop: threading.Event) -> None:
        read_request(conn)
        head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n"
        if declare_length:
            head += f"Content-Length: {size}\r\n"
        conn.sendall((head + "\r\n").encode())
        sent = 0
        block = b"[" + b"0," * 32767 + b"0"
        while sent < size and not stop.is_set():
            conn.sendall(block)
            sent += len(block)

    return handler


def reply(status: str, headers: dict[str, str], body: bytes = b"") -> Handler:
    def handler(conn: socket.socket, _stop: threading.Event) -> None:
        read_request(conn)
        lines = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        conn.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)

    return handler


@pytest.mark.parametrize("handler", [trickle_body, trickle_headers, silent])
def test_deadline_bounds_the_whole_call_whatever_the_server_does(
    serve: Callable[[Handler], RawServer], handler: Handler
) -> None:
    server = serve(handler)
    budget_s = 1.0
    started = time.monotonic()
    with pytest.raises(HttpError) as info:
        request(
            "GET",
            server.url + "/x",
            timeout_s=5.0,  # per socket read: never reached, the deadline is what ends it
            retries=3,
            deadline_s=started + budget_s,
        )
    assert time.monotonic() - started < budget_s + HANG_MARGIN_S
    assert info.value.timed_out


def test_without_a_deadline_each_attempt_is_bounded(
    serve: Callable[[Handler], RawServer],
) -> None:
    server = serve(trickle_body)
    started = time.monotonic()
    with pytest.raises(HttpError):
        request("GET", server.url, timeout_s=0.3, retries=1, sleep=lambda _s: None)
    # two attempts of at most 2 * timeout_s each
    assert time.monotonic() - started < 2 * (2 * 0.3) + HANG_MARGIN_S
    assert server.connections == 2


@pytest.mark.parametrize("handler", [trickle_body, silent])
def test_provider_lookup_ends_within_its_budget(
    serve: Callable[[Handler], RawServer],
    handler: Handler,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The end of a run: ``series_for_run`` gives the provider a 1 s deadline that holds across
    every request and retry; the run falls back to the embedded data, flagged."""
    monkeypatch.delenv("CARBONSDK_OFFLINE", raising=False)
    server = serve(handler)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    provider = ElectricityMapsProvider(
        "key", base_url=server.url, cache=False, timeout_s=5.0, budget_s=30.0, retries=5
    )
    budget_s = 1.0
    start_s = (now - timedelta(hours=3)).timestamp()
    started = time.monotonic()
    outcome = series_for_run(provider, DE, start_s, start_s + 3600.0, budget_s=budget_s)
    assert time.monotonic() - started < budget_s + HANG_MARGIN_S
    assert "intensity-fallback" in outcome.flags
    assert outcome.series.source.fallback_from == "electricitymaps"


def test_body_over_the_declared_limit_fails_before_reading(
    serve: Callable[[Handler], RawServer],
) -> None:
    server = serve(big_body(200_000, declare_length=True))
    with pytest.raises(HttpError, match="200000 bytes is over the 65536-byte limit"):
        request("GET", server.url, max_bytes=65536, retries=0, deadline_s=time.monotonic() + 5)


def test_body_without_length_is_cut_at_the_limit(serve: Callable[[Handler], RawServer]) -> None:
    server = serve(big_body(2_000_000, declare_length=False))
    with pytest.raises(HttpError, match="over the 65536-byte limit") as info:
        request("GET", server.url, max_bytes=65536, retries=0, deadline_s=time.monotonic() + 5)
    assert info.value.status == 200 and not info.value.timed_out


def test_body_within_the_limit_is_returned(serve: Callable[[Handler], RawServer]) -> None:
    body = b'{"ok": true}'
    server = serve(reply("200 OK", {"Content-Type": "application/json"}, body))
    resp = request("GET", server.url, max_bytes=len(body), deadline_s=time.monotonic() + 5)
    assert resp.json() == {"ok": True}
    assert MAX_BODY_BYTES == 8 * 1024 * 1024  # the documented default cap


def test_redirect_names_its_location_without_the_query(
    serve: Callable[[Handler], RawServer],
) -> None:
    server = serve(reply("302 Found", {"Location": "https://elsewhere.example/v4/x?token=abc"}))
    with pytest.raises(HttpError) as info:
        request("GET", server.url + "/v3/x", deadline_s=time.monotonic() + 5)
    message = str(info.value)
    assert "HTTP 302 redirect to https://elsewhere.example/v4/x" in message
    assert "token=abc" not in message and "malformed JSON" not in message
    assert info.value.status == 302 and info.value.location == "https://elsewhere.example/v4/x"
    assert server.connections == 1  # not followed, not retried


def test_service_error_message_is_kept_and_credentials_redacted(
    serve: Callable[[Handler], RawServer],
) -> None:
    secret = "sk-live-SECRET-123456"
    body = b'{"error": "Forbidden", "message": "token sk-live-SECRET-123456 may not read zone XX"}'
    server = serve(reply("403 Forbidden", {"Content-Type": "application/json"}, body))
    with pytest.raises(HttpError) as info:
        request("GET", server.url, headers={"auth-token": secret}, deadline_s=time.monotonic() + 5)
    message = str(info.value)
    assert "HTTP 403 (Forbidden: token <redacted> may not read zone XX)" in message
    assert secret not in message and info.value.service_message is not None


@pytest.mark.parametrize(
    ("body", "content_type", "expected"),
    [
        (b'{"message": "Zone not available"}', "application/json", "Zone not available"),
        (b'{"error": {"message": "bad horizon"}}', "application/json", "bad horizon"),
        (b'{"detail": "x"}', "application/json", "x"),
        (b"\n  plain failure reason\nsecond line", "text/plain", "plain failure reason"),
        (b"<html><body>500</body></html>", "text/html", None),
        (b"", "text/plain", None),
    ],
)
def test_service_message_extraction(body: bytes, content_type: str, expected: str | None) -> None:
    assert http.service_message(body, content_type) == expected
