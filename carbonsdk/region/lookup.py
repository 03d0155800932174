"""Cloud-region detection in the background of a run, joined (with a budget) at its end."""

from __future__ import annotations

import logging
import threading

from carbonsdk.model.region import Region

log = logging.getLogger("carbonsdk")


class RegionLookup:
    """Runs :func:`carbonsdk.region.resolve_region` in a short-lived daemon thread; its
    :attr:`region` is unknown until detection finished."""

    def __init__(self) -> None:
        self.region = Region.unknown()
        self._done = threading.Event()
        threading.Thread(target=self._work, name="carbonsdk-region", daemon=True).start()

    def _work(self) -> None:
        try:
            from carbonsdk.region import resolve_region

            self.region = resolve_region(None)
        except Exception as exc:  # noqa: BLE001 - detection returns "nothing", never raises
            log.debug("carbonsdk: region detection failed: %s", exc)
        finally:
            self._done.set()

    def result(self, timeout_s: float) -> Region:
        """The detected region, waiting at most ``timeout_s`` seconds (unknown if not done)."""
        self._done.wait(timeout_s)
        return self.region
