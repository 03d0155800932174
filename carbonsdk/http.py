"""The one HTTP helper (the only importer of :mod:`requests`), used by region detectors and
intensity providers: short timeouts, bounded retries with backoff on 429/5xx honouring
``Retry-After``, and error messages that never contain credentials.

Bounds, whatever the network does:

- **time**: ``deadline_s`` (a :func:`time.monotonic` value) is a wall-clock deadline for the whole
  call, retries and waits included. Each attempt runs in a daemon worker thread and the caller
  waits for it at most until the deadline, so a server that accepts and never answers, trickles
  its headers or body one byte at a time, or a DNS lookup that hangs cannot hold the caller past
  it (the abandoned worker stops at its next read). The body is streamed and the deadline is
  checked between chunks; connect and read timeouts are ``min(timeout_s, time left)``. Without
  a ``deadline_s`` each attempt gets ``2 * timeout_s`` of wall time (its connect and its read).
- **memory**: a body over ``max_bytes`` (default :data:`MAX_BODY_BYTES`, 8 MiB; provider replies
  are a few hundred kB at most) is an :class:`HttpError` saying so, raised as soon as the
  ``Content-Length`` header or the bytes read exceed it, so at most ``max_bytes`` plus one chunk
  is ever held.

Redirects are not followed (a redirect would carry the credential headers to another URL): a
3xx reply is an :class:`HttpError` naming the ``Location``. An error reply's own message (the
``message``/``error``/``detail`` field of a JSON body, or the first line of a text body) is kept
in the error, with any credential that was sent redacted.
"""

from __future__ import annotations

import contextlib
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import attrs

from carbonsdk.exceptions import ProviderError

#: Largest response body :func:`request` accepts by default, bytes (8 MiB).
MAX_BODY_BYTES = 8 * 1024 * 1024
#: Bytes read per chunk while streaming a body.
CHUNK_BYTES = 64 * 1024
#: Bytes of an error reply read to find the service's message.
ERROR_BODY_BYTES = 16 * 1024
#: Longest service message kept in an error, characters.
SERVICE_MESSAGE_CHARS = 200
#: Extra wait (seconds) for a worker to report its own deadline error before it is abandoned.
_GRACE_S = 0.05
#: Header and parameter names whose values are credentials (redacted from messages).
_SECRET_NAME_RE = re.compile(r"auth|token|key|secret|password|signature", re.IGNORECASE)


class HttpError(ProviderError):
    """A request failed: connection error, timeout, or an HTTP error status (``status`` is
    None for transport errors). The message names the URL without its query string.

    ``timed_out`` is True for a connect/read timeout or a passed deadline; ``location`` is the
    ``Location`` of a redirect (query removed); ``service_message`` is the service's own
    explanation of an error reply (credentials redacted), or None.
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        timed_out: bool = False,
        location: str | None = None,
        service_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.timed_out = timed_out
        self.location = location
        self.service_message = service_message


@attrs.frozen
class HttpResponse:
    """``status`` code, response ``headers`` (lower-case keys) and body ``text``."""

    status: int
    headers: Mapping[str, str]
    text: str

    def json(self) -> Any:
        """The body parsed as JSON; raises :class:`HttpError` on malformed JSON."""
        import json

        try:
            return json.loads(self.text)
        except json.JSONDecodeError as exc:
            raise HttpError(f"malformed JSON in response ({exc.msg})", self.status) from None


def _safe_url(url: str) -> str:
    return url.split("?", 1)[0]


def retry_after_s(value: str | None, *, now_s: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now_s is None else now_s))


def _secrets(
    headers: Mapping[str, str] | None,
    params: Mapping[str, Any] | None,
    auth: tuple[str, str] | None,
) -> list[str]:
    found = [str(v) for v in (auth or ()) if v]
    for mapping in (headers or {}, params or {}):
        for name, value in mapping.items():
            if _SECRET_NAME_RE.search(str(name)) and value:
                text = str(value)
                found.append(text)
                if text.lower().startswith("bearer "):
                    found.append(text[7:])
    return sorted({s for s in found if len(s) >= 4}, key=len, reverse=True)


def _redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "<redacted>")
    return text


def service_message(body: bytes, content_type: str = "") -> str | None:
    """The service's own explanation in an error reply ``body``: the ``message``, ``error``,
    ``detail`` or ``title`` field of a JSON object (nested one level, as in
    ``{"error": {"message": ...}}``), else the first non-blank line of a text body; one line of
    at most :data:`SERVICE_MESSAGE_CHARS` characters, or None."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return None
    found: str | None = None
    if text[:1] in "{[":
        import json

        try:
            doc = json.loads(text)
        except ValueError:
            doc = None
        found = _message_field(doc)
    if found is None:
        if "html" in content_type.lower() or text.lstrip().startswith("<"):
            return None  # an HTML error page says nothing useful in one line
        found = next((line for line in text.splitlines() if line.strip()), None)
    if found is None:
        return None
    line = " ".join(found.split())
    if len(line) > SERVICE_MESSAGE_CHARS:
        line = line[: SERVICE_MESSAGE_CHARS - 3] + "..."
    return line or None


def _message_field(doc: Any, depth: int = 0) -> str | None:
    if isinstance(doc, list) and doc and depth < 2:
        return _message_field(doc[0], depth + 1)
    if not isinstance(doc, dict):
        return None
    parts: list[str] = []
    for field in ("error", "message", "detail", "title", "error_description"):
        value = doc.get(field)
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
        elif isinstance(value, (dict, list)) and depth < 2:
            nested = _message_field(value, depth + 1)
            if nested and nested not in parts:
                parts.append(nested)
    return ": ".join(parts) if parts else None


@attrs.frozen
class _Reply:
    status: int
    headers: Mapping[str, str]
    body: bytes
    encoding: str | None


def _set_read_timeout(resp: Any, seconds: float) -> None:
    """Shorten the socket timeout of a streaming response (best effort; urllib3 2.x)."""
    with contextlib.suppress(Exception):
        conn = resp.raw.connection
        if conn is not None and conn.sock is not None:
            conn.sock.settimeout(max(0.01, seconds))


def _shutdown(resp: Any) -> None:
    """Wake a worker blocked reading ``resp`` (best effort)."""
    import socket

    with contextlib.suppress(Exception):
        conn = resp.raw.connection
        if conn is not None and conn.sock is not None:
            conn.sock.shutdown(socket.SHUT_RDWR)


def _read_body(
    resp: Any,
    *,
    what: str,
    limit: int,
    fail_over_limit: bool,
    deadline_s: float,
    timeout_s: float,
    cancel: threading.Event,
) -> bytes:
    """The body of a streaming ``resp``, read in chunks until EOF, ``limit`` bytes (an
    :class:`HttpError` when ``fail_over_limit``, else the first ``limit`` bytes), the deadline
    or ``cancel``."""
    declared = resp.headers.get("Content-Length")
    if fail_over_limit and declared is not None:
        with contextlib.suppress(ValueError):
            if int(declared) > limit:
                raise HttpError(
                    f"{what}: response body of {int(declared)} bytes is over the "
                    f"{limit}-byte limit",
                    resp.status_code,
                )
    raw = resp.raw
    reader: Callable[[int], bytes]
    if hasattr(raw, "read1"):
        reader = lambda n: raw.read1(n, decode_content=True)  # noqa: E731
    else:  # urllib3 1.x: read() blocks for n bytes, so read small chunks
        reader = lambda n: raw.read(min(n, 1024), decode_content=True)  # noqa: E731
    body = bytearray()
    while True:
        remaining = deadline_s - time.monotonic()
        if remaining <= 0 or cancel.is_set():
            raise HttpError(
                f"{what}: deadline passed while reading the response body "
                f"({len(body)} bytes received)",
                resp.status_code,
                timed_out=True,
            )
        _set_read_timeout(resp, min(timeout_s, remaining))
        chunk = reader(CHUNK_BYTES)
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            if not fail_over_limit:
                return bytes(body[:limit])
            raise HttpError(
                f"{what}: response body is over the {limit}-byte limit (stopped reading)",
                resp.status_code,
            )


def _perform(
    method: str,
    url: str,
    send: Mapping[str, Any],
    *,
    timeout_s: float,
    deadline_s: float,
    max_bytes: int,
    trust_env: bool,
    cancel: threading.Event,
    holder: dict[str, Any],
) -> _Reply:
    import requests

    what = f"{method} {_safe_url(url)}"
    this_timeout = max(0.05, min(timeout_s, deadline_s - time.monotonic()))
    with requests.Session() as session:
        session.trust_env = trust_env
        resp = session.request(
            method,
            url,
            timeout=(this_timeout, this_timeout),
            allow_redirects=False,
            stream=True,
            **send,
        )
        holder["resp"] = resp
        try:
            ok = resp.status_code < 300
            body = _read_body(
                resp,
                what=what,
                limit=max_bytes if ok else ERROR_BODY_BYTES,
                fail_over_limit=ok,
                deadline_s=deadline_s,
                timeout_s=timeout_s,
                cancel=cancel,
            )
            return _Reply(
                status=resp.status_code,
                headers={k.lower(): v for k, v in resp.headers.items()},
                body=body,
                encoding=resp.encoding,
            )
        finally:
            resp.close()


def _attempt(
    method: str,
    url: str,
    send: Mapping[str, Any],
    *,
    timeout_s: float,
    deadline_s: float,
    max_bytes: int,
    trust_env: bool,
) -> _Reply:
    """One attempt, in a daemon worker thread that the caller waits for until ``deadline_s``
    (then abandons: the worker stops at its next read)."""
    cancel = threading.Event()
    holder: dict[str, Any] = {}
    results: queue.SimpleQueue[tuple[bool, Any]] = queue.SimpleQueue()

    def work() -> None:
        try:
            reply = _perform(
                method,
                url,
                send,
                timeout_s=timeout_s,
                deadline_s=deadline_s,
                max_bytes=max_bytes,
                trust_env=trust_env,
                cancel=cancel,
                holder=holder,
            )
        except BaseException as exc:  # noqa: BLE001 - handed to the caller, never lost
            results.put((False, exc))
        else:
            results.put((True, reply))

    worker = threading.Thread(target=work, name="carbonsdk-http", daemon=True)
    try:
        worker.start()
    except RuntimeError:  # no new threads (interpreter shutting down): run inline
        work()
    try:
        ok, value = results.get(timeout=max(0.0, deadline_s - time.monotonic()) + _GRACE_S)
    except queue.Empty:
        cancel.set()
        resp = holder.get("resp")
        if resp is not None:
            _shutdown(resp)
        raise HttpError(
            f"{method} {_safe_url(url)}: no complete reply before the deadline",
            timed_out=True,
        ) from None
    if ok:
        reply: _Reply = value
        return reply
    raise value


def _transport_errors() -> tuple[type[BaseException], ...]:
    import http.client

    import requests
    import urllib3

    return (
        requests.RequestException,
        urllib3.exceptions.HTTPError,
        http.client.HTTPException,
        OSError,
    )


def _is_timeout(exc: BaseException) -> bool:
    import requests
    import urllib3

    return isinstance(exc, (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError))


def request(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    params: Mapping[str, Any] | None = None,
    data: Mapping[str, Any] | str | None = None,
    json_body: Any = None,
    auth: tuple[str, str] | None = None,
    timeout_s: float = 5.0,
    retries: int = 2,
    backoff_s: float = 0.5,
    max_wait_s: float = 10.0,
    deadline_s: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
    trust_env: bool = True,
    max_bytes: int = MAX_BODY_BYTES,
) -> HttpResponse:
    """One HTTP request with retries on connection errors, timeouts, 429 and 5xx.

    ``timeout_s`` bounds each connect and each socket read (seconds, never more than the time
    left); ``retries`` extra attempts wait ``backoff_s * 2**attempt`` seconds or the server's
    ``Retry-After``, each wait capped at ``max_wait_s``; ``deadline_s`` (a
    :func:`time.monotonic` value) is a wall-clock bound on the whole call: no attempt, read or
    wait goes past it, even against a server that trickles bytes or never answers (see the
    module docstring). Without it each attempt is bounded to ``2 * timeout_s``. A body over
    ``max_bytes`` bytes fails. A 3xx reply fails naming its ``Location``; a 4xx other than 429
    fails at once. Raises :class:`HttpError` on failure; its message never includes headers,
    auth or the query, and carries the service's own error message (credentials redacted).
    ``trust_env=False`` ignores proxy settings from the environment (instance metadata
    services must be reached directly, never through a proxy).
    """
    if max_bytes <= 0:
        raise ValueError(f"max_bytes={max_bytes!r} must be a positive number of bytes")
    transport_errors = _transport_errors()
    what = f"{method} {_safe_url(url)}"
    secrets = _secrets(headers, params, auth)
    send: dict[str, Any] = {
        "headers": dict(headers or {}),
        "params": params,
        "data": data,
        "json": json_body,
        "auth": auth,
    }
    attempt = 0
    while True:
        now = time.monotonic()
        if deadline_s is not None and deadline_s - now <= 0:
            raise HttpError(f"{what}: no time left for the request", timed_out=True)
        attempt_deadline = deadline_s if deadline_s is not None else now + 2.0 * timeout_s
        wait: float | None
        try:
            reply = _attempt(
                method,
                url,
                send,
                timeout_s=timeout_s,
                deadline_s=attempt_deadline,
                max_bytes=max_bytes,
                trust_env=trust_env,
            )
        except HttpError as exc:
            if deadline_s is not None or not exc.timed_out:
                raise  # the deadline passed, or the body is too large
            error = exc
            wait = backoff_s * (2**attempt)
        except transport_errors as exc:
            error = HttpError(f"{what}: {type(exc).__name__}", timed_out=_is_timeout(exc))
            wait = backoff_s * (2**attempt)
        else:
            status = reply.status
            if status < 300:
                return HttpResponse(
                    status=status,
                    headers=reply.headers,
                    text=reply.body.decode(reply.encoding or "utf-8", errors="replace"),
                )
            if status < 400:
                location = reply.headers.get("location")
                where = _redact(_safe_url(location), secrets) if location else None
                raise HttpError(
                    f"{what}: HTTP {status} redirect to {where or '(no Location header)'} "
                    "(redirects are not followed)",
                    status,
                    location=where,
                )
            said = service_message(reply.body, reply.headers.get("content-type", ""))
            said = _redact(said, secrets) if said else None
            error = HttpError(
                f"{what}: HTTP {status}" + (f" ({said})" if said else ""),
                status,
                service_message=said,
            )
            if status != 429 and status < 500:
                raise error
            wait = retry_after_s(reply.headers.get("retry-after"))
            if wait is None:
                wait = backoff_s * (2**attempt)
        if attempt >= retries:
            raise error
        wait = min(wait, max_wait_s)
        if deadline_s is not None and time.monotonic() + wait >= deadline_s:
            raise error
        sleep(wait)
        attempt += 1
