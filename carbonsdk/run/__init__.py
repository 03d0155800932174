"""Measuring a block of code: :func:`measure`, :func:`tracked` and the :class:`Run` they make.

- :mod:`~carbonsdk.run.api`: ``measure`` and ``tracked``;
- :mod:`~carbonsdk.run.options`: the options and their validation;
- :mod:`~carbonsdk.run.run`: the ``Run`` coordinator (state, sampler subscription, timeline,
  marks, the extension loop);
- :mod:`~carbonsdk.run.devices`: which devices a run measures and what each measured;
- :mod:`~carbonsdk.run.resolve`: the region and the intensity, at the start, live and at the end;
- :mod:`~carbonsdk.run.nesting`: runs inside runs; :mod:`~carbonsdk.run.identity`: the run's
  name and its place in a distributed job;
- :mod:`~carbonsdk.run.extension` and :mod:`~carbonsdk.run.extensions`: everything else a run
  does (ledger, live panel, attribution, pausing, gather, sinks, report);
- :mod:`~carbonsdk.run.result_builder`: the pure construction of the result;
- :mod:`~carbonsdk.run.signals`: SIGTERM and exit statuses; :mod:`~carbonsdk.run._guard`: the
  one place SDK faults are caught.
"""

from carbonsdk.run.api import measure, tracked
from carbonsdk.run.options import MAX_MARKS, RunOptions, validate_options
from carbonsdk.run.run import Run
from carbonsdk.run.signals import Terminated

__all__ = ["MAX_MARKS", "Run", "RunOptions", "Terminated", "measure", "tracked", "validate_options"]
