"""Durations and scheduling windows as users write them: ``timedelta``, ``"6h"``, ``"1h30m"``,
``"2d"``, and fractions of a job's duration (``0.5``, ``"50%"``).

Rules (the same in the Python API and the CLI):

- a *duration* (``duration=``) is a :class:`~datetime.timedelta`, a duration string, or a
  number of **seconds**;
- an *absolute window* (``max_delay=``) is a ``timedelta`` or a duration string; a bare number
  is refused because ``24`` could mean seconds or hours; ``"50%"`` means half the job's
  duration;
- an *extension* (``max_extension=``) is a ``timedelta``, a duration string, or a **fraction**
  of the job's duration (a number, ``1.0`` = up to twice as long, or ``"100%"``).
"""

from __future__ import annotations

import math
import re
from datetime import timedelta
from numbers import Real

from carbonsdk.exceptions import ConfigurationError

_UNITS_S = {"w": 604800.0, "d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*([wdhms])")
_ACCEPTED = 'a duration such as "90m", "6h", "1h30m", "2d", "45s" (or a timedelta)'


def _show(name: str, value: object) -> str:
    return f"{name} {value!r}" if name.startswith("-") else f"{name}={value!r}"


def parse_duration(text: str, *, name: str = "duration") -> timedelta:
    """``"6h"``, ``"90m"``, ``"1h30m"``, ``"2d"``, ``"1.5h"``, ``"45s"``, ``"1w"`` → timedelta.

    Units: w(eeks), d(ays), h(ours), m(inutes), s(econds); parts may be combined in any order
    but each unit at most once. Raises :class:`ConfigurationError` naming ``name`` and the text
    otherwise.
    """
    s = text.strip().lower().replace(" ", "")
    if not s:
        raise ConfigurationError(f"{_show(name, text)} is empty: expected {_ACCEPTED}")
    pos = 0
    seen: set[str] = set()
    total_s = 0.0
    for m in _PART.finditer(s):
        if m.start() != pos or m.group(2) in seen:
            break
        seen.add(m.group(2))
        total_s += float(m.group(1)) * _UNITS_S[m.group(2)]
        pos = m.end()
    if pos != len(s) or not seen:
        hint = f" (add a unit, e.g. '{s}h')" if _is_number(s) else ""
        raise ConfigurationError(f"{_show(name, text)} is not valid{hint}: expected {_ACCEPTED}")
    return timedelta(seconds=total_s)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def format_duration(seconds: float) -> str:
    """Compact human form of a duration in seconds: ``"1d 2h"``, ``"1h 30m"``, ``"18m"``,
    ``"45s"`` (rounded to the second)."""
    total = round(abs(seconds))
    d, rem = divmod(total, 86400)
    h, rem = divmod(rem, 3600)
    m, s = divmod(rem, 60)
    parts = [f"{v}{u}" for v, u in ((d, "d"), (h, "h"), (m, "m"), (s, "s")) if v]
    out = " ".join(parts[:2]) if parts else "0s"
    return f"-{out}" if seconds < 0 else out


def _check_s(name: str, value: object, seconds: float, *, positive: bool) -> float:
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        need = "> 0" if positive else ">= 0"
        raise ConfigurationError(f"{_show(name, value)} is not valid: expected a duration {need}")
    return seconds


def duration_s(value: object, *, name: str = "duration") -> float:
    """A job duration in seconds (> 0) from a timedelta, a duration string or a number of
    seconds. Raises :class:`ConfigurationError` naming ``name`` and the value."""
    if isinstance(value, timedelta):
        return _check_s(name, value, value.total_seconds(), positive=True)
    if isinstance(value, str):
        seconds = parse_duration(value, name=name).total_seconds()
        return _check_s(name, value, seconds, positive=True)
    if isinstance(value, Real) and not isinstance(value, bool):
        return _check_s(name, value, float(value), positive=True)
    raise ConfigurationError(
        f"{_show(name, value)} is not valid: expected {_ACCEPTED}, or a number of seconds"
    )


def _fraction(name: str, value: object, text: str) -> float:
    try:
        frac = float(text)
    except ValueError:
        raise ConfigurationError(
            f"{_show(name, value)} is not valid: expected a percentage such as '50%'"
        ) from None
    if not math.isfinite(frac) or frac < 0:
        raise ConfigurationError(f"{_show(name, value)} is not valid: a fraction must be >= 0")
    return frac


def window_s(value: object, job_duration_s: float, *, name: str = "max_delay") -> float:
    """An absolute window in seconds (>= 0): a timedelta, a duration string, or a percentage
    string of the job's duration (``"50%"``). Bare numbers are refused (ambiguous unit)."""
    if isinstance(value, timedelta):
        return _check_s(name, value, value.total_seconds(), positive=False)
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            return _fraction(name, value, text[:-1]) / 100.0 * job_duration_s
        if text in ("0", "0.0"):
            return 0.0
        seconds = parse_duration(text, name=name).total_seconds()
        return _check_s(name, value, seconds, positive=False)
    if isinstance(value, Real) and not isinstance(value, bool):
        raise ConfigurationError(
            f"{_show(name, value)} is ambiguous: pass a timedelta or a string such as '24h' "
            "(or '50%' for a fraction of the job's duration)"
        )
    raise ConfigurationError(
        f"{_show(name, value)} is not valid: expected {_ACCEPTED}, or a percentage such as '50%'"
    )


def extension_s(value: object, job_duration_s: float, *, name: str = "max_extension") -> float:
    """An extension in seconds (>= 0): a timedelta or duration string (absolute), or a
    fraction of the job's duration (a number: ``1.0`` = up to twice as long, or ``"100%"``)."""
    if isinstance(value, Real) and not isinstance(value, bool):
        frac = float(value)
        if not math.isfinite(frac) or frac < 0:
            raise ConfigurationError(
                f"{_show(name, value)} is not valid: a fraction of the duration must be a finite "
                "number >= 0 (1.0 = up to twice as long)"
            )
        return frac * job_duration_s
    if isinstance(value, str):
        text = value.strip()
        if not text.endswith("%") and _is_number(text):
            return _fraction(name, value, text) * job_duration_s
    return window_s(value, job_duration_s, name=name)


def window_label(value: object) -> str:
    """A short label for a window as the user gave it: ``"24h"``, ``"50%"``."""
    if isinstance(value, timedelta):
        return format_duration(value.total_seconds()).replace(" ", "")
    if isinstance(value, Real) and not isinstance(value, bool):
        return f"{float(value) * 100:g}%"
    return str(value).strip()
