"""What a long run shows while it runs: the live panel (elapsed time, power, energy and
emissions so far) and a progress bar for long CLI operations. Both draw on a terminal only
and are no-ops elsewhere; neither raises into the caller."""

from __future__ import annotations

import logging
import sys
from collections import deque
from collections.abc import Iterable, Iterator
from typing import IO, TYPE_CHECKING, TypeVar

from carbonsdk.report.format import (
    ascii_text,
    format_duration_s,
    format_emissions_g,
    format_energy_kwh,
    format_power_w,
)
from carbonsdk.report.profiles import sparkline
from carbonsdk.report.terminal import is_terminal, make_console

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions, RenderResult
    from rich.live import Live

logger = logging.getLogger("carbonsdk.report")

T = TypeVar("T")


class LivePanel:
    """A live panel for long runs: elapsed time, power, energy and emissions so far, with a
    short power sparkline. :meth:`update` only stores values (cheap, safe from the sampler
    thread); rich's own refresh thread redraws at ``refresh_per_second``. Shown on a terminal
    only; elsewhere every method is a no-op. Never raises into the caller."""

    def __init__(
        self,
        name: str | None = None,
        *,
        file: IO[str] | None = None,
        refresh_per_second: float = 2.0,
        history: int = 48,
    ) -> None:
        self.name = name
        self._file = file
        self._refresh_per_second = refresh_per_second
        self._state: tuple[float, float, float, float | None] = (0.0, 0.0, 0.0, None)
        self._history: deque[float] = deque(maxlen=history)
        self._live: Live | None = None

    @property
    def active(self) -> bool:
        """True while the panel is shown."""
        return self._live is not None

    def start(self) -> None:
        """Show the panel (on a terminal only)."""
        if self._live is not None:
            return
        try:
            out = self._file if self._file is not None else sys.stderr
            if out is None or not is_terminal(out):
                return
            from rich.live import Live

            live = Live(
                self,
                console=make_console(out),
                refresh_per_second=self._refresh_per_second,
                transient=True,
                redirect_stdout=False,
                redirect_stderr=False,
            )
            live.start()
            self._live = live
        except Exception:
            logger.debug("carbonsdk: live panel unavailable", exc_info=True)
            self._live = None

    def update(
        self, elapsed_s: float, power_w: float, energy_kwh: float, emissions_g: float | None
    ) -> None:
        """Record the latest values: elapsed seconds, power in W, energy in kWh, emissions in
        g CO2eq (None when not known yet). Stores only; never blocks."""
        self._state = (elapsed_s, power_w, energy_kwh, emissions_g)
        self._history.append(power_w)

    def stop(self) -> None:
        """Remove the panel."""
        live, self._live = self._live, None
        if live is None:
            return
        try:
            live.stop()
        except Exception:
            logger.debug("carbonsdk: live panel did not stop cleanly", exc_info=True)

    def render_line(self, *, ascii_only: bool = False) -> str:
        """The current state as one line of text."""
        elapsed_s, power_w, energy_kwh, emissions_g = self._state
        spark = sparkline(list(self._history), lo=0.0, ascii_only=ascii_only)
        emis = "…" if emissions_g is None else f"{format_emissions_g(emissions_g)} CO2eq"
        line = (
            f"{format_duration_s(elapsed_s)} · {format_power_w(power_w)} {spark} · "
            f"{format_energy_kwh(energy_kwh)} · {emis}"
        )
        return ascii_text(line) if ascii_only else line

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        from rich.text import Text

        label = f"carbonsdk · {self.name}  " if self.name else "carbonsdk  "
        text = Text(label, style="bold")
        text.append(self.render_line(ascii_only=options.ascii_only))
        text.truncate(options.max_width, overflow="ellipsis")
        yield text


def progress_iter(
    items: Iterable[T],
    *,
    description: str,
    total: int | None = None,
    file: IO[str] | None = None,
) -> Iterator[T]:
    """Iterate ``items`` with a rich progress bar on ``file`` (default stderr) when it is a
    terminal; a plain pass-through otherwise. For long CLI operations (sweeps, many runs)."""
    out = file if file is not None else sys.stderr
    if out is None or not is_terminal(out):
        yield from items
        return
    from rich.progress import Progress

    with Progress(console=make_console(out), transient=True) as progress:
        yield from progress.track(items, total=total, description=description)


__all__ = ["LivePanel", "progress_iter"]
