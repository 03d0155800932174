"""``carbonsdk run [--name N] -- CMD ARGS...``: measure a child command (no shell)."""

from __future__ import annotations

import argparse
import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import FrameType


class _ChildExit(SystemExit):
    """The child's exit status carried through ``measure()`` (non-zero -> run "failed")."""


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register the ``run`` command."""
    p = sub.add_parser(
        "run",
        help="measure a command: carbonsdk run -- python train.py",
        description="Run CMD (an argument list, no shell) while measuring, "
        "record the run, and exit with the command's exit code.",
    )
    p.add_argument("--name", default=None, help="run name (default: the command's name)")
    p.add_argument("--region", default=None, help="region, e.g. aws:us-east-1, DE")
    p.add_argument("--interval", type=float, default=1.0, help="sampling period, s")
    p.add_argument(
        "--intensity",
        default="auto",
        help="auto, embedded, electricitymaps, watttime, ukgrid, eia, entsoe, csv:PATH or g/kWh",
    )
    p.add_argument("--pue", type=float, default=1.0, help="data-centre PUE (>= 1)")
    p.add_argument("--ledger", default=None, help="ledger file")
    p.add_argument("--no-ledger", action="store_true", help="do not record the run")
    p.add_argument("--no-report", action="store_true", help="do not print the report")
    p.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="tag stored with the run (repeatable)",
    )
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- CMD ARGS...")
    p.set_defaults(func=run)


_PYTHON_NAME = re.compile(r"^(python|pypy)[0-9.]*(\.exe)?$")
#: interpreter options that take a value (``python -X importtime train.py``)
_PYTHON_VALUE_OPTIONS = ("-W", "-X", "-Q")


def run_name(cmd: Sequence[str]) -> str:
    """The default run name of a command: the script for ``python [opts] train.py`` (``train.py``),
    the module for ``python -m pkg.mod`` (``pkg.mod``), else the program's file name."""
    program = Path(cmd[0]).name
    if not _PYTHON_NAME.match(program):
        return program
    i = 1
    while i < len(cmd):
        arg = cmd[i]
        if arg == "-m" and i + 1 < len(cmd):
            return cmd[i + 1]
        if arg.startswith("-m") and len(arg) > 2:
            return arg[2:]
        if arg in ("-c", "-"):
            return program
        if arg in _PYTHON_VALUE_OPTIONS:
            i += 2
            continue
        if arg.startswith("-"):
            i += 1
            continue
        return Path(arg).name
    return program


def _intensity(text: str) -> object:
    try:
        return float(text)
    except ValueError:
        return text


def run(args: argparse.Namespace) -> int:
    """Run the child under ``measure()``; returns its exit code (128+N if killed by signal N)."""
    import carbonsdk
    from carbonsdk import ConfigurationError

    cmd = list(args.cmd)
    if cmd and cmd[0] == "--":
        cmd = cmd[1:]
    if not cmd:
        raise ConfigurationError("no command given: use carbonsdk run [--name N] -- CMD ARGS...")
    tags: dict[str, str] = {}
    for item in args.tag:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigurationError(f"--tag {item!r} is not valid: expected KEY=VALUE")
        tags[key] = value
    from carbonsdk.redaction import redact_argv

    tags.setdefault("command", " ".join(redact_argv(cmd))[:200])
    measured = carbonsdk.measure(
        args.name or run_name(cmd),
        region=args.region,
        interval_s=args.interval,
        intensity=_intensity(args.intensity),
        pue=args.pue,
        ledger=False if args.no_ledger else args.ledger,
        report=not args.no_report,
        tags=tags,
    )
    try:
        child = subprocess.Popen(cmd)
    except FileNotFoundError:
        print(f"carbonsdk run: error: command not found: {cmd[0]}", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"carbonsdk run: error: permission denied: {cmd[0]}", file=sys.stderr)
        return 1
    except OSError as exc:  # ENOEXEC (not a program), ENAMETOOLONG, E2BIG, ...
        reason = exc.strerror or str(exc)
        print(f"carbonsdk run: error: cannot execute {cmd[0]}: {reason}", file=sys.stderr)
        return 1
    forwarded: list[int] = []

    def forward(signum: int, frame: FrameType | None) -> None:
        forwarded.append(signum)
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    previous = {s: signal.signal(s, forward) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        with measured:
            rc = child.wait()
            code = 128 - rc if rc < 0 else rc
            if forwarded:
                raise KeyboardInterrupt  # recorded as "interrupted"
            if code != 0:
                raise _ChildExit(code)
    except KeyboardInterrupt:
        return code
    except _ChildExit as exc:
        return int(exc.code) if isinstance(exc.code, int) else 1
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if child.poll() is None:  # pragma: no cover - only if measure itself failed
            child.kill()
    return code
