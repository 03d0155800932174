"""``intensity="csv:PATH"``: the user's own carbon-intensity series from a CSV file.

Format (SPEC §4): a header row naming the columns ``timestamp`` and ``g_per_kwh`` (other
columns are ignored; blank lines and lines starting with ``#`` are skipped), then one row per
step: an ISO 8601 timestamp **with a UTC offset** (``2024-03-01T12:00:00Z`` or
``2024-03-01T13:00:00+01:00``) and the intensity in gCO2eq/kWh. Each value holds until the next
timestamp; the last one holds for the file's smallest step (one hour for a single row).

Decisions:

- a timestamp without an offset is rejected (it is ambiguous across time zones and DST);
- timestamps must be strictly increasing; values must be finite numbers >= 0;
- every problem raises :class:`ConfigurationError` naming the file, the line and the value,
  when the provider is created (so ``measure(intensity="csv:...")`` fails at call time);
- a requested range reaching outside the file holds the first value before the file's first
  timestamp and the last value after its end, and flags those steps estimated.

Cost: a file is parsed once per process (keyed on its resolved path, modification time and
size, so an edited file is read again), streamed row by row into two compact ``array('d')``
columns (16 bytes a row), and :meth:`CsvProvider.series` materialises only the steps that
overlap the requested range (found by bisection). A few recently used files stay parsed
(:data:`PARSED_FILES_KEPT`).
"""

from __future__ import annotations

import bisect
import csv
import math
import os
import re
import threading
from array import array
from collections import OrderedDict
from datetime import datetime
from pathlib import Path

import attrs

from carbonsdk.clock import to_datetime, to_epoch_s
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.intensity import BASES, SIGNALS, IntensitySeries, IntensitySource
from carbonsdk.model.region import Region

COLUMNS = ("timestamp", "g_per_kwh")
#: Parsed files kept in memory per process (least recently used dropped first).
PARSED_FILES_KEPT = 4


@attrs.frozen(eq=False)
class ParsedCsv:
    """One parsed intensity file: ``times_s`` (UTC epoch seconds, strictly increasing) and
    ``values_g_per_kwh``, compact arrays of equal length; the last value holds until
    ``end_s`` (last timestamp + the smallest step, one hour for a single row)."""

    times_s: array[float]
    values_g_per_kwh: array[float]
    end_s: float

    def __len__(self) -> int:
        return len(self.times_s)


#: The common forms ``2024-03-01T12:00[:00](Z|+01:00)``, converted without a datetime object;
#: anything else goes through :func:`datetime.fromisoformat`.
_FAST_TIME_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})[T ](\d{2}):(\d{2})(?::(\d{2}))?(?:Z|([+-])(\d{2}):(\d{2}))"
)

_parsed_lock = threading.Lock()
_parsed: OrderedDict[tuple[str, int, int], ParsedCsv] = OrderedDict()


def clear_parsed_cache() -> None:
    """Forget every parsed file, so the next :class:`CsvProvider` reads its file again."""
    with _parsed_lock:
        _parsed.clear()


def _fast_epoch_s(text: str, days: dict[str, float]) -> float | None:
    """UTC epoch seconds of ``text`` in one of the common forms (:data:`_FAST_TIME_RE`), or
    None to let :func:`datetime.fromisoformat` decide (and explain a bad value). ``days``
    caches the epoch of each date's UTC midnight."""
    m = _FAST_TIME_RE.fullmatch(text)
    if m is None:
        return None
    day, hh, mm, ss, sign, oh, om = m.groups()
    hour, minute, second = int(hh), int(mm), int(ss) if ss else 0
    if hour > 23 or minute > 59 or second > 59:
        return None
    midnight_s = days.get(day)
    if midnight_s is None:
        try:
            midnight_s = datetime.fromisoformat(f"{day}T00:00:00+00:00").timestamp()
        except ValueError:
            return None
        days[day] = midnight_s
    offset_s = 0
    if sign is not None:
        off_h, off_m = int(oh), int(om)
        if off_h > 23 or off_m > 59:
            return None
        offset_s = (off_h * 3600 + off_m * 60) * (1 if sign == "+" else -1)
    return midnight_s + hour * 3600 + minute * 60 + second - offset_s


def _no_offset_hint(text: str, when: datetime) -> str:
    """A form of ``text`` with a UTC offset that :func:`datetime.fromisoformat` accepts: the
    date-only ``2024-01-01`` becomes ``2024-01-01T00:00:00Z`` (``2024-01-01Z`` is not ISO 8601)."""
    return when.replace(tzinfo=None).isoformat() + "Z"


class CsvProvider:
    """Intensity from a user CSV file (see the module docstring for the format).

    ``signal`` (``"average"`` or ``"marginal"``) and ``basis`` (``"lifecycle"``,
    ``"direct"`` or ``"unknown"``) describe the user's data for the run's provenance. The file
    is read and validated here, once per process for the same unchanged file; :meth:`series`
    works offline and builds only the requested range.
    """

    name = "csv"
    #: a user's own series needs no grid zone
    accepts_unknown_region = True

    def __init__(
        self, path: str | Path, *, signal: str = "average", basis: str = "unknown"
    ) -> None:
        if signal not in SIGNALS:
            raise ConfigurationError(f"signal {signal!r} is invalid: expected one of {SIGNALS}")
        if basis not in (*BASES, "unknown"):
            raise ConfigurationError(
                f"basis {basis!r} is invalid: expected one of {(*BASES, 'unknown')}"
            )
        self.path = Path(path).expanduser()
        self.signal = signal
        self.basis = basis
        self._data = self._load()
        self._source = IntensitySource(
            provider=self.name,
            signal=self.signal,
            basis=self.basis,
            zone=None,
            estimated=False,
            note="",
            dataset=f"user CSV file {self.path}",
        )

    def __repr__(self) -> str:
        return f"CsvProvider({str(self.path)!r})"

    def _error(self, line: int | None, message: str) -> ConfigurationError:
        where = f"{self.path}" if line is None else f"{self.path}, line {line}"
        return ConfigurationError(f"intensity CSV {where}: {message}")

    def _unreadable(self, exc: OSError) -> ConfigurationError:
        return ConfigurationError(
            f"intensity CSV {self.path} cannot be read ({exc.strerror or exc}): expected "
            "a file with columns timestamp,g_per_kwh"
        )

    def _load(self) -> ParsedCsv:
        """The parsed file, from the per-process cache when the file is unchanged."""
        try:
            st = os.stat(self.path)
            key = (str(self.path.resolve()), st.st_mtime_ns, st.st_size)
        except OSError as exc:
            raise self._unreadable(exc) from None
        with _parsed_lock:
            found = _parsed.get(key)
            if found is not None:
                _parsed.move_to_end(key)
                return found
        parsed = self._read()
        with _parsed_lock:
            _parsed[key] = parsed
            _parsed.move_to_end(key)
            while len(_parsed) > PARSED_FILES_KEPT:
                _parsed.popitem(last=False)
        return parsed

    def _read(self) -> ParsedCsv:
        times = array("d")
        values = array("d")
        min_gap_s = math.inf
        days: dict[str, float] = {}  # UTC midnight epoch seconds of each date seen
        try:
            with open(self.path, encoding="utf-8-sig", newline="") as fh:
                reader = csv.reader(fh)
                header: list[str] | None = None
                header_line = 0
                t_col = v_col = 0
                for row in reader:
                    first = row[0].lstrip() if row else ""
                    if first.startswith("#") or (
                        not first and not any(cell.strip() for cell in row)
                    ):
                        continue
                    line = reader.line_num
                    if header is None:
                        header, header_line = row, line
                        names = [cell.strip().lower() for cell in header]
                        missing = [c for c in COLUMNS if c not in names]
                        if missing:
                            raise self._error(
                                header_line,
                                f"header {','.join(header)!r} lacks {', '.join(missing)}: "
                                "expected the columns timestamp,g_per_kwh",
                            )
                        t_col, v_col = names.index("timestamp"), names.index("g_per_kwh")
                        continue
                    if len(row) <= max(t_col, v_col):
                        raise self._error(
                            line, f"{len(row)} column(s): expected timestamp,g_per_kwh"
                        )
                    t_text = row[t_col].strip()
                    fast = _fast_epoch_s(t_text, days)
                    epoch_s = fast if fast is not None else self._timestamp(line, t_text)
                    value = self._value(line, row[v_col].strip())
                    if times:
                        gap_s = epoch_s - times[-1]
                        if gap_s <= 0:
                            raise self._error(
                                line,
                                f"timestamp {t_text!r} is not after the previous "
                                f"one ({to_datetime(times[-1]).isoformat()}): timestamps must "
                                "increase",
                            )
                        min_gap_s = min(min_gap_s, gap_s)
                    times.append(epoch_s)
                    values.append(value)
        except OSError as exc:
            raise self._unreadable(exc) from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self._error(None, f"not a UTF-8 CSV file ({exc})") from None
        if header is None:
            raise self._error(None, "the file is empty: expected a header timestamp,g_per_kwh")
        if not times:
            raise self._error(None, "no data rows after the header timestamp,g_per_kwh")
        step_s = min_gap_s if math.isfinite(min_gap_s) else 3600.0
        return ParsedCsv(times_s=times, values_g_per_kwh=values, end_s=times[-1] + step_s)

    def _timestamp(self, line: int, text: str) -> float:
        try:
            when = datetime.fromisoformat(text)
        except ValueError:
            raise self._error(
                line,
                f"timestamp {text!r} is not ISO 8601: expected e.g. 2024-03-01T12:00:00Z",
            ) from None
        if when.tzinfo is None or when.utcoffset() is None:
            raise self._error(
                line,
                f"timestamp {text!r} has no UTC offset: write it as "
                f"{_no_offset_hint(text, when)} (UTC) or with an offset such as +01:00",
            )
        return to_epoch_s(when)

    def _value(self, line: int, text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not math.isfinite(value) or value < 0:
            raise self._error(line, f"g_per_kwh {text!r} is invalid: expected a finite number >= 0")
        return value

    @property
    def start(self) -> datetime:
        """The file's first timestamp."""
        return to_datetime(self._data.times_s[0])

    @property
    def end(self) -> datetime:
        """Where the file's last value stops holding (last timestamp + smallest step)."""
        return to_datetime(self._data.end_s)

    def __len__(self) -> int:
        """Rows in the file."""
        return len(self._data)

    def series(self, region: Region, start: datetime, end: datetime) -> IntensitySeries:
        """The file's steps clipped to ``[start, end)``; before the file's first timestamp the
        first value holds, after its end the last value, those steps flagged estimated. The
        region only labels the result (``source.zone``). Only the overlapping steps are built."""
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        if not end_s > start_s:
            raise ConfigurationError(
                f"empty time range: end {end.isoformat()} is not after start {start.isoformat()}"
            )
        data = self._data
        times, vals = data.times_s, data.values_g_per_kwh
        first_s, last_end_s = times[0], data.end_s
        n = len(times)
        steps: list[tuple[float, float, float, bool]] = []
        if start_s < first_s:
            steps.append((start_s, min(first_s, end_s), vals[0], True))
        # rows lo..hi-1 overlap [start_s, end_s)
        lo = max(0, bisect.bisect_right(times, start_s) - 1)
        hi = bisect.bisect_left(times, end_s)
        for i in range(lo, hi):
            row_end_s = times[i + 1] if i + 1 < n else last_end_s
            a, b = max(times[i], start_s), min(row_end_s, end_s)
            if b > a:
                steps.append((a, b, vals[i], False))
        if end_s > last_end_s:
            steps.append((max(last_end_s, start_s), end_s, vals[-1], True))
        extended = start_s < first_s or end_s > last_end_s
        note = (
            f"outside the file's range {self.start.isoformat()} to {self.end.isoformat()} the "
            "nearest value is held (flagged estimated)"
            if extended
            else ""
        )
        source = attrs.evolve(
            self._source,
            zone=region.zone,
            estimated=any(s[3] for s in steps),
            note=note,
        )
        return IntensitySeries(
            boundaries_s=(*(s[0] for s in steps), steps[-1][1]),
            values_g_per_kwh=tuple(s[2] for s in steps),
            estimated=tuple(s[3] for s in steps),
            source=source,
        )
