"""Numbers for people: the unit formatters every view shares (terminal, HTML, CLI tables).

Every formatter takes a value in the unit its name says and prints :data:`NOT_AVAILABLE`
(``"n/a"``) for a value that is not a finite number (NaN or infinite values read from a
ledger). :func:`ascii_text` is the fallback for streams that cannot encode Unicode.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

#: What a formatter prints for a value that is not a finite number (NaN or infinite).
NOT_AVAILABLE = "n/a"

#: Unicode the reports print, and what an ASCII-only stream gets instead.
ASCII_MAP = str.maketrans(
    {
        "→": "->",
        "×": "x",
        "≈": "~",
        "–": "-",
        "—": "-",
        "−": "-",
        "·": "|",
        "…": "...",
        "⚠": "!",
        "“": '"',
        "”": '"',
    }
)


def ascii_text(text: str) -> str:
    """``text`` with the reports' Unicode punctuation replaced by ASCII (:data:`ASCII_MAP`)."""
    return text.translate(ASCII_MAP)


def is_finite(value: object) -> bool:
    """True when ``value`` is a real, finite number (not None, NaN or infinite)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return math.isfinite(value)


#: from this magnitude on, numbers are shown in scientific notation (``1.00e+15``)
SCIENTIFIC_FROM = 1e12


def format_sig(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits, fixed-point, thousands separated;
    ``"n/a"`` when it is not a finite number."""
    if not is_finite(value):
        return NOT_AVAILABLE
    if value == 0:
        return "0"
    if abs(value) >= SCIENTIFIC_FROM:  # an absurd figure (a corrupt ledger) stays short
        return f"{value:.{max(0, digits - 1)}e}"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    rounded = round(value, decimals)
    if rounded != 0 and math.floor(math.log10(abs(rounded))) > magnitude:
        decimals = max(0, decimals - 1)
    return f"{value:,.{decimals}f}"


def format_energy_kwh(energy_kwh: float) -> str:
    """Energy for people: ``"1.23 kWh"``, ``"45.6 Wh"``, ``"2.35 MWh"`` (3 significant
    digits; input in kWh); ``"n/a"`` when not finite."""
    if not is_finite(energy_kwh):
        return NOT_AVAILABLE
    if energy_kwh >= 1000:
        return f"{format_sig(energy_kwh / 1000)} MWh"
    if energy_kwh >= 1 or energy_kwh == 0:
        return f"{format_sig(energy_kwh)} kWh"
    return f"{format_sig(energy_kwh * 1000)} Wh"


def format_emissions_g(emissions_g: float) -> str:
    """Emissions for people: ``"412 g"``, ``"1.23 kg"``, ``"4.56 t"`` (input in g CO2eq);
    ``"n/a"`` when not finite."""
    if not is_finite(emissions_g):
        return NOT_AVAILABLE
    if emissions_g >= 1e6:
        return f"{format_sig(emissions_g / 1e6)} t"
    if emissions_g >= 1000:
        return f"{format_sig(emissions_g / 1000)} kg"
    return f"{format_sig(emissions_g)} g"


def format_power_w(power_w: float) -> str:
    """Power for people: ``"412 W"``, ``"1.23 kW"`` (input in W); ``"n/a"`` when not
    finite."""
    if not is_finite(power_w):
        return NOT_AVAILABLE
    if power_w >= 1000:
        return f"{format_sig(power_w / 1000)} kW"
    return f"{format_sig(power_w)} W"


def format_duration_s(duration_s: float) -> str:
    """Duration for people: ``"45.2 s"``, ``"12m 05s"``, ``"3h 04m"``, ``"2d 03h"`` (input in
    seconds); ``"n/a"`` when not finite."""
    if not is_finite(duration_s):
        return NOT_AVAILABLE
    if duration_s < 60:
        return f"{duration_s:.1f} s"
    total = round(duration_s)
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    return f"{minutes}m {seconds:02d}s"


def format_percent(part: float, whole: float) -> str:
    """``part`` as a whole-number percentage of ``whole`` (``"87%"``); ``"–"`` when ``whole``
    is not positive, ``"n/a"`` when either is not finite."""
    if not (is_finite(part) and is_finite(whole)):
        return NOT_AVAILABLE
    if whole <= 0:
        return "–"
    return f"{part / whole * 100:.0f}%"


def format_time(when: datetime) -> str:
    """``"2024-03-05 14:00:00"`` in UTC (the caller adds "UTC")."""
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


__all__ = [
    "ASCII_MAP",
    "NOT_AVAILABLE",
    "ascii_text",
    "format_duration_s",
    "format_emissions_g",
    "format_energy_kwh",
    "format_percent",
    "format_power_w",
    "format_sig",
    "format_time",
    "is_finite",
]
