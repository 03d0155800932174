"""The ``carbonsdk`` command line. Each command is a module in this package exposing
``add_parser(subparsers)`` and ``run(args) -> int``; this module only dispatches."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: command name -> module (relative to this package)
COMMANDS: dict[str, str] = {
    "demo": "demo",
    "run": "run",
    "runs": "runs",
    "report": "report",
    "regions": "regions",
    "intensity": "intensity",
    "plan": "plan",
    "whatif": "whatif",
    "backtest": "backtest",
    "reprice": "reprice",
}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        """Bad usage: one line on stderr, exit code 2."""
        self.exit(2, f"carbonsdk: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every available command."""
    from carbonsdk import __version__

    parser = _Parser(prog="carbonsdk", description="Energy and location-aware CO2 of your code.")
    parser.add_argument("--version", action="version", version=f"carbonsdk {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for _name, module_name in COMMANDS.items():
        try:
            module = importlib.import_module(f"carbonsdk.cli.{module_name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"carbonsdk.cli.{module_name}":
                continue
            raise
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: parse ``argv`` and run the command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return 2
    from carbonsdk import CarbonSDKError

    try:
        code: int = args.func(args)
    except CarbonSDKError as exc:
        print(f"carbonsdk {args.command}: error: {exc}", file=sys.stderr)
        return 2 if isinstance(exc, ValueError) else 1
    except KeyboardInterrupt:
        print(f"carbonsdk {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # `carbonsdk runs | head`: the reader went away; exit quietly like other CLI tools
        import os

        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    return code


def entry() -> None:
    """Console-script entry point."""
    sys.exit(main())
