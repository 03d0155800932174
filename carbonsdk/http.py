"""The one HTTP helper (the only importer of :mod:`requests`), used by region detectors and
intensity providers: short timeouts, bounded retries with backoff on 429/5xx honouring
``Retry-After``, and error messages that never contain credentials."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from carbonsdk.exceptions import ProviderError


class HttpError(ProviderError):
    """A request failed: connection error, timeout, or an HTTP error status (``status`` is
    None for transport errors). The message names the URL without its query string."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


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
) -> HttpResponse:
    """One HTTP request with retries on connection errors, 429 and 5xx.

    ``timeout_s`` bounds each attempt (seconds); ``retries`` extra attempts wait
    ``backoff_s * 2**attempt`` seconds or the server's ``Retry-After``, each wait capped at
    ``max_wait_s``; ``deadline_s`` (a :func:`time.monotonic` value) bounds the whole call: no
    attempt or wait goes past it. A 4xx other than 429 fails at once. Raises
    :class:`HttpError` on failure; its message never includes headers, auth or the query.
    ``trust_env=False`` ignores proxy settings from the environment (instance metadata services
    must be reached directly, never through a proxy).
    """
    import requests

    attempt = 0
    while True:
        remaining = None if deadline_s is None else deadline_s - time.monotonic()
        if remaining is not None and remaining <= 0:
            raise HttpError(f"{method} {_safe_url(url)}: no time left for the request")
        this_timeout = timeout_s if remaining is None else max(0.05, min(timeout_s, remaining))
        wait: float | None
        try:
            with requests.Session() as session:
                session.trust_env = trust_env
                resp = session.request(
                    method,
                    url,
                    headers=dict(headers or {}),
                    params=params,
                    data=data,
                    json=json_body,
                    auth=auth,
                    timeout=this_timeout,
                    allow_redirects=False,
                )
        except requests.RequestException as exc:
            error = HttpError(f"{method} {_safe_url(url)}: {type(exc).__name__}")
            wait = backoff_s * (2**attempt)
        else:
            if resp.status_code < 400:
                return HttpResponse(
                    status=resp.status_code,
                    headers={k.lower(): v for k, v in resp.headers.items()},
                    text=resp.text,
                )
            error = HttpError(
                f"{method} {_safe_url(url)}: HTTP {resp.status_code}", resp.status_code
            )
            if resp.status_code != 429 and resp.status_code < 500:
                raise error
            wait = retry_after_s(resp.headers.get("Retry-After"))
            if wait is None:
                wait = backoff_s * (2**attempt)
        if attempt >= retries:
            raise error
        wait = min(wait, max_wait_s)
        if deadline_s is not None and time.monotonic() + wait >= deadline_s:
            raise error
        sleep(wait)
        attempt += 1
