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
"""

from __future__ import annotations

import csv
import math
from datetime import datetime
from pathlib import Path

import attrs

from carbonsdk.clock import to_datetime, to_epoch_s
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.intensity.series import BASES, SIGNALS, IntensitySeries, IntensitySource
from carbonsdk.region.base import Region

COLUMNS = ("timestamp", "g_per_kwh")


class CsvProvider:
    """Intensity from a user CSV file (see the module docstring for the format).

    ``signal`` (``"average"`` or ``"marginal"``) and ``basis`` (``"lifecycle"``,
    ``"direct"`` or ``"unknown"``) describe the user's data for the run's provenance. The file
    is read and validated once, here; :meth:`series` works offline.
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
        self._series = self._read()

    def __repr__(self) -> str:
        return f"CsvProvider({str(self.path)!r})"

    def _error(self, line: int | None, message: str) -> ConfigurationError:
        where = f"{self.path}" if line is None else f"{self.path}, line {line}"
        return ConfigurationError(f"intensity CSV {where}: {message}")

    def _read(self) -> IntensitySeries:
        try:
            with open(self.path, encoding="utf-8-sig", newline="") as fh:
                rows = [(i, row) for i, row in enumerate(csv.reader(fh), start=1)]
        except OSError as exc:
            raise ConfigurationError(
                f"intensity CSV {self.path} cannot be read ({exc.strerror or exc}): expected "
                "a file with columns timestamp,g_per_kwh"
            ) from None
        except (UnicodeDecodeError, csv.Error) as exc:
            raise self._error(None, f"not a UTF-8 CSV file ({exc})") from None
        rows = [
            (i, row)
            for i, row in rows
            if any(cell.strip() for cell in row) and not row[0].lstrip().startswith("#")
        ]
        if not rows:
            raise self._error(None, "the file is empty: expected a header timestamp,g_per_kwh")
        header_line, header = rows[0]
        names = [cell.strip().lower() for cell in header]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise self._error(
                header_line,
                f"header {','.join(header)!r} lacks {', '.join(missing)}: expected the columns "
                "timestamp,g_per_kwh",
            )
        t_col, v_col = names.index("timestamp"), names.index("g_per_kwh")
        times: list[float] = []
        values: list[float] = []
        for line, row in rows[1:]:
            if len(row) <= max(t_col, v_col):
                raise self._error(line, f"{len(row)} column(s): expected timestamp,g_per_kwh")
            t_text, v_text = row[t_col].strip(), row[v_col].strip()
            try:
                when = datetime.fromisoformat(t_text)
            except ValueError:
                raise self._error(
                    line,
                    f"timestamp {t_text!r} is not ISO 8601: expected e.g. 2024-03-01T12:00:00Z",
                ) from None
            if when.tzinfo is None or when.utcoffset() is None:
                raise self._error(
                    line,
                    f"timestamp {t_text!r} has no UTC offset: write it as {t_text}Z (UTC) or "
                    "with an offset such as +01:00",
                )
            try:
                value = float(v_text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value) or value < 0:
                raise self._error(
                    line, f"g_per_kwh {v_text!r} is invalid: expected a finite number >= 0"
                )
            epoch_s = to_epoch_s(when)
            if times and epoch_s <= times[-1]:
                raise self._error(
                    line,
                    f"timestamp {t_text!r} is not after the previous one "
                    f"({to_datetime(times[-1]).isoformat()}): timestamps must increase",
                )
            times.append(epoch_s)
            values.append(value)
        if not times:
            raise self._error(None, "no data rows after the header timestamp,g_per_kwh")
        source = IntensitySource(
            provider=self.name,
            signal=self.signal,
            basis=self.basis,
            zone=None,
            estimated=False,
            note="",
            dataset=f"user CSV file {self.path}",
        )
        return IntensitySeries.from_pairs(
            [(to_datetime(t), v) for t, v in zip(times, values, strict=True)], source
        )

    @property
    def start(self) -> datetime:
        """The file's first timestamp."""
        return self._series.start

    @property
    def end(self) -> datetime:
        """Where the file's last value stops holding (last timestamp + smallest step)."""
        return self._series.end

    def series(self, region: Region, start: datetime, end: datetime) -> IntensitySeries:
        """The file's steps clipped to ``[start, end)``; before the file's first timestamp the
        first value holds, after its end the last value, those steps flagged estimated. The
        region only labels the result (``source.zone``)."""
        start_s, end_s = to_epoch_s(start), to_epoch_s(end)
        if not end_s > start_s:
            raise ConfigurationError(
                f"empty time range: end {end.isoformat()} is not after start {start.isoformat()}"
            )
        base = self._series
        b, vals, flags = base.boundaries_s, base.values_g_per_kwh, base.estimated
        steps: list[tuple[float, float, float, bool]] = []
        if start_s < b[0]:
            steps.append((start_s, min(b[0], end_s), vals[0], True))
        for i, v in enumerate(vals):
            lo, hi = max(b[i], start_s), min(b[i + 1], end_s)
            if hi > lo:
                steps.append((lo, hi, v, flags[i]))
        if end_s > b[-1]:
            steps.append((max(b[-1], start_s), end_s, vals[-1], True))
        extended = start_s < b[0] or end_s > b[-1]
        note = (
            f"outside the file's range {base.start.isoformat()} to {base.end.isoformat()} the "
            "nearest value is held (flagged estimated)"
            if extended
            else ""
        )
        source = attrs.evolve(
            base.source,
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
