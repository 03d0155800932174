"""The public entry points: ``measure()`` (a context manager) and ``@tracked`` (a decorator)."""

from __future__ import annotations

import functools
import os
from collections.abc import Awaitable, Callable, Generator, Iterable, Mapping
from typing import Any, ParamSpec, TypeVar, overload

import attrs

from carbonsdk.exceptions import ConfigurationError
from carbonsdk.model.device import COMPONENTS
from carbonsdk.model.region import Region
from carbonsdk.run.options import RunOptions, validate_options
from carbonsdk.run.run import Run

P = ParamSpec("P")
R = TypeVar("R")


def measure(
    name: str | None = None,
    *,
    region: str | Region | None = None,
    components: Iterable[str] = COMPONENTS,
    gpus: Iterable[int] | None = None,
    interval_s: float = 1.0,
    intensity: Any = "auto",
    ledger: str | os.PathLike[str] | bool | None = None,
    report: bool | None = None,
    pue: float = 1.0,
    tags: Mapping[str, str] | None = None,
    checkpoint_s: float = 60.0,
    live: bool = False,
    per_rank: bool = False,
    gather: bool = False,
    attribution: str | None = None,
) -> Run:
    """Measure the energy (kWh) and emissions (g CO2eq) of a ``with`` block: returns a
    :class:`Run` to use as ``with`` (or ``async with``) context manager.

    ``interval_s``: sampling period in seconds (> 0); ``pue``: data-centre overhead factor
    (>= 1) applied to emissions; ``checkpoint_s``: seconds between crash-safe ledger checkpoints;
    ``intensity``: ``"auto"``, ``"embedded"``, ``"electricitymaps"``, ``"watttime"``,
    ``"ukgrid"``, ``"csv:PATH"``, a constant in g/kWh, or a provider object. See SPEC §1 for
    every option. Invalid options raise :class:`ConfigurationError` here, at the call.

    Beyond SPEC: ``live`` shows a live panel; under torchrun / SLURM / MPI, local rank 0 measures
    the whole host and the other ranks record nothing (``per_rank=True``: every rank measures its
    own GPU, local rank 0 also CPU and RAM); ``gather=True`` sends every rank's result to global
    rank 0 over ``torch.distributed`` at exit, which prints the job-level report and sets
    ``run.job_result``; ``attribution="process"`` also reports this process tree's share of the
    measured energy and emissions.

    Nested runs (a ``measure()`` or ``@tracked`` call inside an open run of the same thread or
    task) inherit ``region``, ``intensity`` and ``pue`` unless given, record the enclosing run's
    id as ``parent_run_id`` and print no report unless ``report=True`` (``report=None``, the
    default, means "a report for a top-level run only").
    """
    options = validate_options(
        name,
        region=region,
        components=components,
        gpus=gpus,
        interval_s=interval_s,
        intensity=intensity,
        ledger=ledger,
        report=report,
        pue=pue,
        tags=tags,
        checkpoint_s=checkpoint_s,
        live=live,
        per_rank=per_rank,
        gather=gather,
        attribution=attribution,
    )
    return Run(options)


@overload
def tracked(func: Callable[P, R], /) -> Callable[P, R]: ...


@overload
def tracked(
    name: str | None = None, /, **options: Any
) -> Callable[[Callable[P, R]], Callable[P, R]]: ...


def tracked(name_or_func: Any = None, /, **options: Any) -> Any:
    """Decorator measuring every call of a function, method or ``async def`` (a generator
    function is measured over its whole iteration; async generators are refused).

    ``@tracked``, ``@tracked()``, ``@tracked("name")`` or ``@tracked("name", **measure options)``;
    the default name is the function's qualified name. The function's return value and
    exceptions pass through unchanged; each call's result is on
    ``wrapper.last_result`` (a :class:`RunResult`).
    """
    if name_or_func is None and "name" in options:
        name_or_func = options.pop("name")
        if name_or_func is not None and not isinstance(name_or_func, str):
            raise ConfigurationError(
                f"name={name_or_func!r} is not valid: expected a string or None"
            )
    if callable(name_or_func) and not isinstance(name_or_func, str):
        return _decorate(
            name_or_func, None, validate_options(None, explicit=options.keys(), **options)
        )
    if name_or_func is not None and not isinstance(name_or_func, str):
        raise ConfigurationError(
            f"tracked({name_or_func!r}) is not valid: expected a function, a name string or nothing"
        )
    opts = validate_options(name_or_func, explicit=options.keys(), **options)

    def decorator(func: Callable[P, R]) -> Callable[P, R]:
        return _decorate(func, name_or_func, opts)

    return decorator


def _decorate(func: Callable[P, R], name: str | None, opts: RunOptions) -> Callable[P, R]:
    import inspect  # here, not at import: `import carbonsdk` stays cheap

    if not callable(func):
        raise ConfigurationError(f"tracked: {func!r} is not callable")
    run_name = name or getattr(func, "__qualname__", None) or repr(func)
    opts = attrs.evolve(opts, name=run_name)

    if inspect.isasyncgenfunction(func):
        raise ConfigurationError(
            f"tracked: {run_name} is an async generator function, which is not supported: "
            "use `async with carbonsdk.measure(...)` around the iteration instead"
        )

    if inspect.isgeneratorfunction(func):
        gen_func: Callable[P, Generator[Any, Any, Any]] = func

        @functools.wraps(func)
        def gen_wrapper(*args: P.args, **kwargs: P.kwargs) -> Generator[Any, Any, Any]:
            run = Run(opts)  # measures the whole iteration, not just the call
            try:
                with run:
                    return (yield from gen_func(*args, **kwargs))
            finally:
                gen_wrapper.last_result = run.result  # type: ignore[attr-defined]

        gen_wrapper.last_result = None  # type: ignore[attr-defined]
        return gen_wrapper  # type: ignore[return-value]

    if inspect.iscoroutinefunction(func):
        async_func: Callable[P, Awaitable[Any]] = func

        @functools.wraps(func)
        async def async_wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            run = Run(opts)
            try:
                with run:
                    return await async_func(*args, **kwargs)
            finally:
                async_wrapper.last_result = run.result  # type: ignore[attr-defined]

        async_wrapper.last_result = None  # type: ignore[attr-defined]
        return async_wrapper  # type: ignore[return-value]

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        run = Run(opts)
        try:
            with run:
                return func(*args, **kwargs)
        finally:
            wrapper.last_result = run.result  # type: ignore[attr-defined]

    wrapper.last_result = None  # type: ignore[attr-defined]
    return wrapper
