"""Keeping secrets out of what the SDK records: a command line stored with a run
(``carbonsdk run``'s ``tags.command``) has the values of secret-looking arguments replaced,
including secret-named query parameters of URLs (``?api_key=...``, ``&securityToken=...``,
the way the EIA and ENTSO-E APIs take their keys)."""

from __future__ import annotations

import re
from collections.abc import Sequence

#: what replaces a secret value
REDACTED = "***"

#: option names whose value is a secret (``--token=...``, ``--api-key ...``, ``-p``-style not)
_SECRET_OPTION = re.compile(
    r"^--?([\w.-]*[-_.])?(token|secret|passw(or)?d|pwd|api[-_]?key|access[-_]?key|private[-_]?key|"
    r"auth|credential|key)s?$",
    re.IGNORECASE,
)
#: ``NAME=value`` arguments (env-style) whose name says secret: ``*_KEY``, ``*_TOKEN``, ...
_SECRET_ASSIGNMENT = re.compile(
    r"^((?:[A-Za-z0-9]+_)*(?:KEY|TOKEN|SECRET|PASSWORD|PASSWD|PWD|CREDENTIALS?|AUTH)"
    r"(?:_[A-Za-z0-9]+)*)=(.+)$",
    re.IGNORECASE,
)
#: ``scheme://user:password@host``
_URL_PASSWORD = re.compile(
    r"(?P<head>[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?P<pw>[^/\s@]+)@", re.IGNORECASE
)
#: one ``name=value`` parameter of a URL's query string
_QUERY_PARAM = re.compile(r"(?P<head>[?&;](?P<name>[^=&#;\s]+)=)(?P<value>[^&#;\s]+)")
#: a word of a query parameter name (split at ``-_.`` and camelCase) that makes it a secret
_SECRET_WORD = re.compile(
    r"tokens?|secret|passw(or)?d|pwd|auth|credentials?|(api|access|private)?key|signature|sig"
)


def _secret_param(name: str) -> bool:
    """True for a query parameter name such as ``api_key``, ``securityToken`` or
    ``X-Amz-Signature`` (not ``monkey``)."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    words = re.split(r"[\s._-]+", spaced.lower())
    return any(_SECRET_WORD.fullmatch(word) for word in words)


def _redact_url_parts(arg: str) -> str:
    arg = _URL_PASSWORD.sub(lambda m: f"{m.group('head')}{REDACTED}@", arg)
    if "://" not in arg:
        return arg
    return _QUERY_PARAM.sub(
        lambda m: f"{m.group('head')}{REDACTED}" if _secret_param(m.group("name")) else m[0], arg
    )


def redact_argv(argv: Sequence[str]) -> list[str]:
    """``argv`` with the values of secret-looking arguments replaced by ``***``: options named
    like a secret (``--token=X``, ``--api-key X``, ``--password X``), ``NAME_KEY=X`` style
    assignments, passwords in URLs (``https://user:X@host``) and the values of secret-named
    query parameters of URLs (``?api_key=X``, ``&securityToken=X``). Everything else is
    kept."""
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, sep, _value = arg.partition("=")
        if arg.startswith("-") and _SECRET_OPTION.match(name):
            if sep:
                out.append(f"{name}={REDACTED}")
            else:
                out.append(arg)
                hide_next = True
            continue
        match = _SECRET_ASSIGNMENT.match(arg)
        if match and not arg.startswith("-"):
            out.append(f"{match.group(1)}={REDACTED}")
            continue
        out.append(_redact_url_parts(arg))
    return out
