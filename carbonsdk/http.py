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
- **no late requests**: a worker sends nothing once its attempt's deadline has passed or its
  caller has given up. Each attempt's worker checks its :class:`_SendGate` before the DNS
  lookup, after the connection is made (a lookup or connect that hung, then finished) and
  before every ``send`` of request bytes; the caller closes the gate under the lock the worker
  holds while it checks and sends, so no send starts after the caller returned. Retries run
  in the caller, each in a fresh worker with a fresh gate, only while time is left.
- **memory**: a body over ``max_bytes`` (default :data:`MAX_BODY_BYTES`, 8 MiB; provider replies
  are a few hundred kB at most) is an :class:`HttpError` saying so, raised as soon as the
  ``Content-Length`` header or the bytes read exceed it, so at most ``max_bytes`` plus one chunk
  is ever held.

Redirects are not followed (a redirect would carry the credential headers to another URL): a
3xx reply is an :class:`HttpError` naming the ``Location``. An error reply's own message (the
``message``/``error``/``detail`` field of a JSON body, or the first line of a text body) is kept
in the error, with any credential that was sent redacted. urllib3's own log records (its
DEBUG lines name each request's URL, query string included, where some services take their
key) have the credentials of the request being made in their thread redacted too.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
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
#: urllib3's loggers that name a request's URL (with its query string) in their records.
_URLLIB3_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.response",
    "urllib3.util.retry",
)


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


def _as_sent(secrets: Iterable[str]) -> tuple[str, ...]:
    """``secrets`` and their URL-encoded forms (as a query string carries them), longest
    first."""
    from urllib.parse import quote, quote_plus

    forms = {form for s in secrets for form in (s, quote_plus(s), quote(s, safe=""))}
    return tuple(sorted(forms, key=len, reverse=True))


class _RedactingFilter(logging.Filter):
    """Redacts, in the records of the loggers it is attached to, the credentials of the
    request that the emitting thread is making (none: the record is left alone)."""

    def filter(self, record: logging.LogRecord) -> bool:
        secrets: tuple[str, ...] = getattr(_CURRENT, "secrets", ())
        if secrets:
            try:
                message = record.getMessage()
            except Exception:  # noqa: BLE001 - a malformed record is logging's to report
                return True
            clean = _redact(message, secrets)
            if clean != message:
                record.msg, record.args = clean, None
        return True


@functools.cache
def _redact_urllib3_logs() -> None:
    """Attach one :class:`_RedactingFilter` to each of :data:`_URLLIB3_LOGGERS` (once)."""
    redacting = _RedactingFilter()
    for name in _URLLIB3_LOGGERS:
        logging.getLogger(name).addFilter(redacting)


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


class _SendGate:
    """Whether one attempt's worker may still put bytes of its request on the wire: until the
    attempt's ``deadline_s`` (a :func:`time.monotonic` value), and never once the caller has
    given up (:meth:`close`). ``cancel`` is also what stops the worker's body reads."""

    def __init__(self, what: str, deadline_s: float) -> None:
        self.what = what
        self.deadline_s = deadline_s
        self.cancel = threading.Event()
        self._lock = threading.Lock()

    def close(self) -> None:
        """The caller gives up: no send starts after this returns. Waits at most
        :data:`_GRACE_S` seconds for a send already under way (bounded by its socket timeout)."""
        got = self._lock.acquire(timeout=_GRACE_S)
        try:
            self.cancel.set()
        finally:
            if got:
                self._lock.release()

    def check(self) -> None:
        """Raise a timed-out :class:`HttpError` when the worker may no longer send."""
        if self.cancel.is_set() or time.monotonic() >= self.deadline_s:
            raise HttpError(
                f"{self.what}: deadline passed before the request was sent", timed_out=True
            )

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        """Hold the gate open around one send (the caller's :meth:`close` waits for it)."""
        with self._lock:
            self.check()
            yield


#: The gate of the attempt running in this thread (each attempt has its own worker thread).
_CURRENT = threading.local()


def _current_gate() -> _SendGate | None:
    gate: _SendGate | None = getattr(_CURRENT, "gate", None)
    return gate


@functools.cache
def _gated_connection(base: type[Any]) -> type[Any]:
    """``base`` (a urllib3 connection class) checking the thread's :class:`_SendGate` before
    and after it opens its socket (DNS lookup and connect) and before every send."""

    def _new_conn(self: Any) -> Any:
        gate = _current_gate()
        if gate is not None:
            gate.check()
        sock = base._new_conn(self)
        if gate is not None:
            try:
                gate.check()
            except HttpError:
                with contextlib.suppress(OSError):
                    sock.close()
                raise
        return sock

    def send(self: Any, data: Any) -> None:
        gate = _current_gate()
        if gate is None:
            base.send(self, data)
            return
        if self.sock is None and getattr(self, "auto_open", False):
            self.connect()  # outside the lock: a lookup or connect may take a while
        with gate.sending():
            base.send(self, data)

    return type(base.__name__, (base,), {"_new_conn": _new_conn, "send": send, "_gated": True})


@functools.cache
def _gated_pool(base: type[Any]) -> type[Any]:
    """``base`` (a urllib3 connection pool class) making gated connections."""
    if getattr(base.ConnectionCls, "_gated", False):
        return base
    return type(base.__name__, (base,), {"ConnectionCls": _gated_connection(base.ConnectionCls)})


def _gate_manager(manager: Any) -> Any:
    """A urllib3 pool manager (direct, proxy or SOCKS) whose pools make gated connections."""
    classes = getattr(manager, "pool_classes_by_scheme", None)
    if isinstance(classes, dict):
        manager.pool_classes_by_scheme = {k: _gated_pool(v) for k, v in classes.items()}
    return manager


@functools.cache
def _gated_adapter() -> type[Any]:
    """A :class:`requests.adapters.HTTPAdapter` whose connections obey the thread's gate."""
    from requests.adapters import HTTPAdapter

    class GatedAdapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            _gate_manager(self.poolmanager)

        def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
            return _gate_manager(super().proxy_manager_for(proxy, **proxy_kwargs))

    return GatedAdapter


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
    gate: _SendGate,
    holder: dict[str, Any],
    secrets: tuple[str, ...],
) -> _Reply:
    import requests

    what = f"{method} {_safe_url(url)}"
    gate.check()  # the worker may start late: no DNS lookup once the caller gave up
    this_timeout = max(0.05, min(timeout_s, deadline_s - time.monotonic()))
    with requests.Session() as session:
        session.trust_env = trust_env
        adapter = _gated_adapter()()
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        _redact_urllib3_logs()
        _CURRENT.gate, _CURRENT.secrets = gate, secrets
        try:
            resp = session.request(
                method,
                url,
                timeout=(this_timeout, this_timeout),
                allow_redirects=False,
                stream=True,
                **send,
            )
        finally:
            _CURRENT.gate, _CURRENT.secrets = None, ()
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
                cancel=gate.cancel,
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
    secrets: tuple[str, ...] = (),
) -> _Reply:
    """One attempt, in a daemon worker thread that the caller waits for until ``deadline_s``
    (then abandons: the worker sends nothing more and stops at its next read); ``secrets``
    are redacted from urllib3's log records of the attempt."""
    gate = _SendGate(f"{method} {_safe_url(url)}", deadline_s)
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
                gate=gate,
                holder=holder,
                secrets=secrets,
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
        gate.close()
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
    sent_secrets = _as_sent(secrets)
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
                secrets=sent_secrets,
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
