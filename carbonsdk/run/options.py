"""The options of ``measure()`` / ``@tracked``: one checker per option, one frozen value.

Every checker takes the user's value and returns the parsed one, or raises
:class:`~carbonsdk.exceptions.ConfigurationError` naming the value and what is accepted.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from numbers import Real
from typing import TYPE_CHECKING, Any

import attrs

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.device import COMPONENTS
from carbonsdk.model.region import Region

if TYPE_CHECKING:
    from pathlib import Path

    from carbonsdk.intensity.base import IntensityProvider

#: options a nested run inherits from the run it is started in, unless given explicitly
INHERITED_OPTIONS = ("region", "intensity", "pue")
#: the accepted values of ``measure(attribution=...)``
ATTRIBUTIONS = (None, "process")
#: a run keeps at most this many marks; later ones are counted in a ``marks-dropped:N`` flag
MAX_MARKS = 10_000
#: upper bounds of numeric options: beyond them a value is a typo, not a configuration
MAX_INTERVAL_S = 3600.0
MAX_CHECKPOINT_S = 7 * 86_400.0
#: no data centre runs above this PUE (the worst reported are ~2.5-3)
MAX_PUE = 10.0
#: no grid exceeds this, g CO2eq/kWh (lignite is ~1,100-1,200 life-cycle)
MAX_CONSTANT_INTENSITY_G_PER_KWH = 5000.0


@attrs.frozen
class RunOptions:
    """Validated options of :func:`carbonsdk.measure` (see its docstring for units).
    ``explicit``: the options the caller gave (the others may be inherited from an enclosing
    run); ``report`` None means the default (a report for a top-level run only)."""

    name: str | None
    region: Region | None
    components: tuple[str, ...]
    gpus: tuple[int, ...] | None
    interval_s: float
    intensity: IntensityProvider | None
    intensity_option: str
    ledger: Path | None
    report: bool | None
    pue: float
    tags: Mapping[str, str]
    checkpoint_s: float
    live: bool
    per_rank: bool = False
    gather: bool = False
    attribution: str | None = None
    explicit: frozenset[str] = frozenset()


def _shown(value: Any) -> str:
    """``repr`` of an option's value, short even for a huge integer."""
    if isinstance(value, int) and value.bit_length() > 64:
        return f"<an integer of about 10**{int(value.bit_length() * 0.30103)}>"
    return repr(value)


def number(
    option: str, value: Any, *, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A finite real ``value`` of ``option``: > 0, or >= ``minimum``; <= ``maximum``."""
    shown = _shown(value)
    if isinstance(value, bool) or not isinstance(value, Real):
        raise ConfigurationError(f"{option}={shown} is not valid: expected a number")
    try:
        v = float(value)
    except (OverflowError, ValueError):
        v = math.inf
    if not math.isfinite(v):
        raise ConfigurationError(
            f"{option}={shown} is not valid: expected a finite number"
            + (f" <= {maximum:g}" if maximum is not None else "")
        )
    if minimum is not None:
        if v < minimum:
            raise ConfigurationError(f"{option}={shown} is not valid: expected >= {minimum}")
    elif v <= 0:
        raise ConfigurationError(f"{option}={shown} is not valid: expected a number > 0")
    if maximum is not None and v > maximum:
        raise ConfigurationError(f"{option}={shown} is not valid: expected <= {maximum:g}")
    return v


def _flag(option: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigurationError(f"{option}={value!r} is not valid: expected True or False")
    return value


def _name(value: Any) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"name={value!r} is not valid: expected a string or None")
    return value


def _region(value: Any) -> Region | None:
    if value is None or isinstance(value, Region):
        return value
    if isinstance(value, str):
        from carbonsdk.region import parse_region

        return parse_region(value, source="explicit")
    raise ConfigurationError(
        f"region={value!r} is not valid: expected a string such as 'aws:us-east-1', "
        "'gcp:europe-west4', 'azure:westus2', a grid zone ('DE') or a country code ('FR')"
    )


def _components(value: Any) -> tuple[str, ...]:
    given = (value,) if isinstance(value, str) else value
    try:
        comps = tuple(given)
    except TypeError:
        raise ConfigurationError(
            f"components={value!r} is not valid: expected some of {COMPONENTS}"
        ) from None
    bad = [c for c in comps if c not in COMPONENTS]
    if bad or not comps or len(set(comps)) != len(comps):
        raise ConfigurationError(
            f"components={value!r} is not valid: expected a non-empty selection without "
            f"repeats from {COMPONENTS}" + (f"; unknown: {bad!r}" if bad else "")
        )
    return comps


def _gpus(value: Any) -> tuple[int, ...] | None:
    if value is None:
        return None
    message = f"gpus={value!r} is not valid: expected None or a list of GPU indices (ints >= 0)"
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigurationError(message)
    indices = tuple(value)
    if not all(isinstance(g, int) and not isinstance(g, bool) and g >= 0 for g in indices):
        raise ConfigurationError(message)
    return indices


def _intensity(value: Any) -> IntensityProvider | None:
    if isinstance(value, Real) and not isinstance(value, bool):
        number("intensity", value, minimum=0.0, maximum=MAX_CONSTANT_INTENSITY_G_PER_KWH)
    from carbonsdk.intensity.choose import make_provider

    return make_provider(value)


def _ledger(value: Any) -> Path | None:
    from pathlib import Path

    from carbonsdk import config

    if value is False:
        return None
    if value is None or value is True:
        return config.default_ledger_path()
    if not isinstance(value, (str, os.PathLike)):
        raise ConfigurationError(
            f"ledger={value!r} is not valid: expected None (default path), a path, or False"
        )
    if not str(value).strip():
        raise ConfigurationError("ledger='' is not valid: expected a file path, None or False")
    path = Path(value).expanduser()
    if path.is_dir():
        raise ConfigurationError(
            f"ledger={str(value)!r} is a directory: expected a file path such as "
            f"{str(path / 'ledger.jsonl')!r}, None or False"
        )
    return path


def _report(value: Any) -> bool | None:
    if value is not None and not isinstance(value, bool):
        raise ConfigurationError(
            f"report={value!r} is not valid: expected True, False or None (the default: a "
            "report for a top-level run, none for a run nested in another)"
        )
    return value


def _attribution(value: Any) -> str | None:
    if value not in ATTRIBUTIONS or isinstance(value, bool):
        raise ConfigurationError(
            f"attribution={value!r} is not valid: expected None (whole devices only) or "
            "'process' (also the share of this process tree)"
        )
    return value  # type: ignore[no-any-return]


def _tags(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, Mapping) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        return dict(value)
    raise ConfigurationError(f"tags={value!r} is not valid: expected a dict of str to str")


#: option -> checker, in the order errors are reported
_CHECKS: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "region": _region,
    "components": _components,
    "gpus": _gpus,
    "interval_s": lambda v: number("interval_s", v, maximum=MAX_INTERVAL_S),
    "intensity": _intensity,
    "ledger": _ledger,
    "report": _report,
    "live": lambda v: _flag("live", v),
    "per_rank": lambda v: _flag("per_rank", v),
    "gather": lambda v: _flag("gather", v),
    "attribution": _attribution,
    "pue": lambda v: number("pue", v, minimum=1.0, maximum=MAX_PUE),
    "tags": _tags,
    "checkpoint_s": lambda v: number("checkpoint_s", v, maximum=MAX_CHECKPOINT_S),
}


def _explicit_by_value(given: Mapping[str, Any]) -> frozenset[str]:
    """The inheritable options that differ from their defaults (what ``measure()`` was given)."""
    explicit = set()
    if given["region"] is not None:
        explicit.add("region")
    intensity = given["intensity"]
    if not (isinstance(intensity, str) and intensity == "auto"):
        explicit.add("intensity")
    pue = given["pue"]
    if not (isinstance(pue, (int, float)) and pue == 1.0):
        explicit.add("pue")
    return frozenset(explicit)


def validate_options(
    name: Any = None,
    *,
    region: Any = None,
    components: Any = COMPONENTS,
    gpus: Any = None,
    interval_s: Any = 1.0,
    intensity: Any = "auto",
    ledger: Any = None,
    report: Any = None,
    pue: Any = 1.0,
    tags: Any = None,
    checkpoint_s: Any = 60.0,
    live: Any = False,
    per_rank: Any = False,
    gather: Any = False,
    attribution: Any = None,
    explicit: Iterable[str] | None = None,
) -> RunOptions:
    """Check every option of :func:`carbonsdk.measure`; raises :class:`ConfigurationError`
    naming the bad value and what is accepted. ``explicit``: the names the caller passed (None:
    derived from which inheritable options differ from their defaults)."""
    given = {
        "name": name,
        "region": region,
        "components": components,
        "gpus": gpus,
        "interval_s": interval_s,
        "intensity": intensity,
        "ledger": ledger,
        "report": report,
        "live": live,
        "per_rank": per_rank,
        "gather": gather,
        "attribution": attribution,
        "pue": pue,
        "tags": tags,
        "checkpoint_s": checkpoint_s,
    }
    parsed = {option: check(given[option]) for option, check in _CHECKS.items()}
    shown_intensity = intensity if isinstance(intensity, str) else repr(intensity)
    return RunOptions(
        **parsed,
        intensity_option=shown_intensity,
        explicit=frozenset(explicit) if explicit is not None else _explicit_by_value(given),
    )


def validate_mark(label: Any, data: Mapping[str, Any]) -> None:
    """Check the arguments of ``run.mark(label, **data)``: a non-empty label and JSON scalars
    (str, int, float, bool, None; finite numbers) as data, else :class:`ConfigurationError`."""
    if not isinstance(label, str) or not label.strip():
        raise ConfigurationError(f"mark label {label!r} is not valid: expected a non-empty string")
    for key, value in data.items():
        if value is not None and not isinstance(value, (str, int, float, bool)):
            raise ConfigurationError(
                f"mark data {key}={value!r} is not valid: expected str, int, float, bool or None"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigurationError(
                f"mark data {key}={value!r} is not valid: expected a finite number"
            )
