"""The HTTP helper's bounds in time and memory, and its error messages, against real local TCP
servers that misbehave the way networks do: trickling a reply a byte at a time, accepting and
never answering, sending a huge body, redirecting. Wall-clock bounds here are generous limits on
a hang (budget + 2 s), not speed checks."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pytest
from pytest_httpserver import HTTPServer

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


class StalledLookup:
    """``socket.getaddrinfo`` for the workers of :func:`request`: the first ``stall`` lookups
    of ``port`` wait until :meth:`release` (a DNS lookup that hangs, then answers late); the
    stalled worker threads are kept so that a test can wait for them to end."""

    def __init__(self, port: int, stall: int = 1) -> None:
        self.port = port
        self.stall = stall
        self.stalled: list[threading.Thread] = []
        self.answered = 0
        self._release = threading.Event()
        self._real = socket.getaddrinfo

    def __call__(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        worker = threading.current_thread()
        if worker.name == "carbonsdk-http" and port == self.port and self.stall > 0:
            self.stall -= 1
            self.stalled.append(worker)
            self._release.wait(30.0)
            self.answered += 1
        return self._real(host, port, *args, **kwargs)

    def release_and_wait(self) -> None:
        """Let the stalled lookups answer, and wait until their workers have ended."""
        self._release.set()
        for worker in self.stalled:
            worker.join(timeout=30.0)
            assert not worker.is_alive()


def test_an_abandoned_worker_sends_nothing_after_its_caller_gave_up(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caller gives up at its deadline while the worker is still resolving the host; when
    the lookup answers later, the worker connects but sends no request: the server never
    sees one (and sees the same request when nothing stalls)."""
    httpserver.expect_request("/late").respond_with_json({"ok": True})
    lookup = StalledLookup(httpserver.port)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    with pytest.raises(HttpError) as info:
        request(
            "GET",
            httpserver.url_for("/late"),
            headers={"auth-token": "sk-late-secret"},
            retries=3,
            deadline_s=time.monotonic() + 1.0,
            trust_env=False,
        )
    assert info.value.timed_out and "no complete reply before the deadline" in str(info.value)
    assert len(lookup.stalled) == 1  # the caller gave up while its worker was resolving
    lookup.release_and_wait()
    assert lookup.answered == 1  # the lookup did answer, late
    assert httpserver.log == []
    # control: the same request, not stalled, does reach this server
    resp = request(
        "GET", httpserver.url_for("/late"), deadline_s=time.monotonic() + 5.0, trust_env=False
    )
    assert resp.json() == {"ok": True} and len(httpserver.log) == 1


def test_an_attempt_abandoned_before_a_retry_never_sends_late(
    httpserver: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a deadline, an attempt stalled in its lookup is abandoned after its
    ``2 * timeout_s`` and the call retries; the retry's request is the only one that arrives,
    even after the first worker's lookup answers."""
    httpserver.expect_request("/retry").respond_with_json({"attempt": "second"})
    lookup = StalledLookup(httpserver.port)
    monkeypatch.setattr(socket, "getaddrinfo", lookup)
    waits: list[float] = []
    resp = request(
        "GET",
        httpserver.url_for("/retry"),
        timeout_s=1.0,  # each attempt is abandoned after 2 s
        retries=1,
        sleep=waits.append,
        trust_env=False,
    )
    assert resp.json() == {"attempt": "second"} and len(waits) == 1
    assert len(lookup.stalled) == 1
    lookup.release_and_wait()
    assert lookup.answered == 1
    assert len(httpserver.log) == 1


def test_query_string_credentials_stay_out_of_urllib3_debug_logs(
    httpserver: HTTPServer, caplog: pytest.LogCaptureFixture
) -> None:
    """urllib3 logs each request's URL at DEBUG, query string included: a key sent as a query
    parameter (EIA's ``api_key``, ENTSO-E's ``securityToken``) is redacted there, in the form
    the query carries it (URL-encoded) as well."""
    secret = "k+y/s3cret=1"  # URL-encodes to k%2By%2Fs3cret%3D1
    httpserver.expect_request("/q").respond_with_json({"ok": True})
    caplog.set_level(logging.DEBUG)
    resp = request(
        "GET",
        httpserver.url_for("/q"),
        params={"api_key": secret, "zone": "DE"},
        deadline_s=time.monotonic() + 5.0,
        trust_env=False,
    )
    assert resp.json() == {"ok": True}
    assert httpserver.log[0][0].args["api_key"] == secret  # the server did get the key
    lines = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("GET /q?api_key=<redacted>&zone=DE" in line for line in lines), lines
    for line in lines:
        assert secret not in line and quote_plus(secret) not in line
