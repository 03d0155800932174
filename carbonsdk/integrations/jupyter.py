"""Jupyter / IPython: the ``%%measure`` cell magic.

::

    %load_ext carbonsdk.integrations.jupyter

    %%measure finetune --region DE
    trainer.train()

runs the cell inside :func:`carbonsdk.measure` in the notebook's namespace (IPython syntax
allowed; the value of a last expression is the cell's output, as without the magic) and stores
the :class:`carbonsdk.RunResult` in the variable ``_carbon`` (or ``--result NAME``), also when
the cell raises (status ``"failed"``; the exception then propagates as usual, so "Run all"
stops).

Options: ``[NAME]`` (default ``In[<n>]``), ``--region R``, ``--intensity I`` (``embedded``,
``csv:PATH``, a number in g/kWh, ...), ``--interval-s S``, ``--pue X``, ``--components
gpu,cpu,ram``, ``--tag KEY=VALUE`` (repeatable), ``--ledger PATH`` / ``--no-ledger``,
``--no-report``, ``--result NAME``; ``%%measure --help`` prints them.
"""

from __future__ import annotations

import argparse
import ast
import shlex
from typing import Any, NoReturn

import carbonsdk
from carbonsdk.exceptions import ConfigurationError
from carbonsdk.integrations import framework_missing

try:
    from IPython.core.error import UsageError
except ImportError as _exc:
    raise framework_missing(
        "IPython", "pip install ipython", "carbonsdk.integrations.jupyter", _exc
    ) from _exc

#: the variable that receives the result when ``--result`` is not given
DEFAULT_RESULT_VAR = "_carbon"


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as IPython's :class:`UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"%%measure: {message}\n{self.format_usage()}")

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        raise UsageError(message or f"%%measure: stopped (exit status {status})")


def _parser() -> _Parser:
    p = _Parser(
        prog="%%measure",
        add_help=False,
        description="Run the cell inside carbonsdk.measure(); the RunResult goes to "
        f"{DEFAULT_RESULT_VAR} (or --result NAME).",
    )
    p.add_argument("name", nargs="?", default=None, help="run name (default: In[<n>])")
    p.add_argument("--region", default=None, help="'aws:us-east-1', 'DE', 'FR', ...")
    p.add_argument(
        "--intensity", default=None, help="'auto', 'embedded', 'csv:PATH', a number in g/kWh, ..."
    )
    p.add_argument("--interval-s", type=float, default=None, help="sampling period, seconds")
    p.add_argument("--pue", type=float, default=None, help="data-centre PUE (>= 1)")
    p.add_argument("--components", default=None, help="comma-separated: gpu,cpu,ram")
    p.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a tag stored with the run (repeatable)",
    )
    ledger = p.add_mutually_exclusive_group()
    ledger.add_argument("--ledger", default=None, help="ledger file (default: the usual one)")
    ledger.add_argument("--no-ledger", action="store_true", help="do not write the ledger")
    p.add_argument("--no-report", action="store_true", help="no end-of-run report")
    p.add_argument(
        "--result",
        default=DEFAULT_RESULT_VAR,
        metavar="NAME",
        help=f"variable receiving the RunResult (default {DEFAULT_RESULT_VAR})",
    )
    p.add_argument("-h", "--help", action="store_true", help="show this help")
    return p


def measure_options(line: str) -> tuple[str | None, str, dict[str, Any]]:
    """Parse the magic's line: ``(name, result variable, measure() options)``. Bad usage
    raises IPython's ``UsageError`` naming the problem."""
    parser = _parser()
    try:
        words = shlex.split(line)
    except ValueError as exc:
        raise UsageError(f"%%measure: cannot parse {line!r}: {exc}") from None
    ns = parser.parse_args(words)
    if ns.help:
        raise UsageError(parser.format_help())
    if not ns.result.isidentifier():
        raise UsageError(f"%%measure: --result {ns.result!r} is not a valid variable name")
    options: dict[str, Any] = {"report": not ns.no_report}
    if ns.region is not None:
        options["region"] = ns.region
    if ns.intensity is not None:
        try:
            options["intensity"] = float(ns.intensity)
        except ValueError:
            options["intensity"] = ns.intensity
    if ns.interval_s is not None:
        options["interval_s"] = ns.interval_s
    if ns.pue is not None:
        options["pue"] = ns.pue
    if ns.components is not None:
        options["components"] = [c.strip() for c in ns.components.split(",") if c.strip()]
    if ns.no_ledger:
        options["ledger"] = False
    elif ns.ledger is not None:
        options["ledger"] = ns.ledger
    if ns.tag:
        tags: dict[str, str] = {}
        for item in ns.tag:
            key, sep, value = item.partition("=")
            if not sep or not key:
                raise UsageError(f"%%measure: --tag {item!r} is not valid: expected KEY=VALUE")
            tags[key] = value
        options["tags"] = tags
    return ns.name, ns.result, options


def _compile_cell(shell: Any, cell: str) -> tuple[Any, Any]:
    """The cell as IPython would run it: ``(statements code, last expression code or None)``."""
    source = shell.transform_cell(cell)
    tree = shell.transform_ast(shell.compile.ast_parse(source))
    last = None
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = ast.Expression(tree.body.pop().value)
    body = shell.compile(ast.Module(tree.body, []), "<%%measure>", "exec")
    expr = None if last is None else shell.compile(last, "<%%measure>", "eval")
    return body, expr


def run_cell_measured(shell: Any, line: str, cell: str) -> Any:
    """The ``%%measure`` cell magic: run ``cell`` in ``shell``'s namespace inside
    :func:`carbonsdk.measure` and store the result (see the module docstring). Returns the
    value of the cell's last expression."""
    name, var, options = measure_options(line)
    if name is None:
        name = f"In[{getattr(shell, 'execution_count', '?')}]"
    try:
        run = carbonsdk.measure(name, **options)
    except ConfigurationError as exc:
        raise UsageError(f"%%measure: {exc}") from None
    body, expr = _compile_cell(shell, cell)
    namespace_g, namespace_l = shell.user_global_ns, shell.user_ns
    try:
        with run:
            exec(body, namespace_g, namespace_l)
            return None if expr is None else eval(expr, namespace_g, namespace_l)
    finally:
        shell.user_ns[var] = run.result


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext carbonsdk.integrations.jupyter``: register the ``%%measure`` cell magic."""

    def measure(line: str, cell: str) -> Any:
        return run_cell_measured(ipython, line, cell)

    measure.__doc__ = __doc__
    ipython.register_magic_function(measure, magic_kind="cell", magic_name="measure")


__all__ = ["DEFAULT_RESULT_VAR", "load_ipython_extension", "measure_options", "run_cell_measured"]
