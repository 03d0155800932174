"""The public API of carbonsdk, as a sorted list of names with their kind.

``python tools/public_api.py`` prints it; ``--write`` updates ``tests/public_api.txt``, the
snapshot that ``tests/test_public_api.py`` compares against (so that a change of the public
surface is a reviewed change of that file). Modules covered: ``carbonsdk``, ``carbonsdk.intensity``,
``carbonsdk.schedule``, ``carbonsdk.testing``, ``carbonsdk.sinks`` and every
``carbonsdk.integrations`` module whose framework is importable (the rest are listed from
their ``__all__`` source without importing them).
"""

from __future__ import annotations

import argparse
import ast
import importlib
import inspect
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = ROOT / "tests" / "public_api.txt"
MODULES = (
    "carbonsdk",
    "carbonsdk.intensity",
    "carbonsdk.schedule",
    "carbonsdk.testing",
    "carbonsdk.sinks",
)


def _integration_modules() -> list[str]:
    pkg = ROOT / "carbonsdk" / "integrations"
    names = ["carbonsdk.integrations"]
    names += [
        f"carbonsdk.integrations.{p.stem}"
        for p in sorted(pkg.glob("*.py"))
        if not p.stem.startswith("_")
    ]
    return names


def _static_all(module: str) -> list[str]:
    """``__all__`` of a module read from its source (for modules whose framework is absent)."""
    path = ROOT / Path(*module.split(".")).with_suffix(".py")
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            return sorted(str(v) for v in value)
    return []


def _kind(obj: object) -> str:
    if inspect.isclass(obj):
        return "class"
    if inspect.ismodule(obj):
        return "module"
    if inspect.isroutine(obj) or (callable(obj) and hasattr(obj, "__wrapped__")):
        return "function"
    return "value"


def public_names(module_name: str) -> Iterator[tuple[str, str, object | None]]:
    """``(qualified name, kind, object or None)`` for each public name of ``module_name``."""
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        for name in _static_all(module_name):
            yield f"{module_name}.{name}", "unimported", None
        return
    names = getattr(module, "__all__", None)
    if names is None:
        names = [
            n
            for n in vars(module)
            if not n.startswith("_")
            and getattr(vars(module)[n], "__module__", module_name) == module_name
        ]
    for name in sorted(names):
        obj = getattr(module, name)
        yield f"{module_name}.{name}", _kind(obj), obj


def snapshot() -> list[str]:
    """The snapshot's lines: ``qualified.name kind``."""
    lines = []
    for module in (*MODULES, *_integration_modules()):
        for qualified, kind, _obj in public_names(module):
            # an integration's kind is known only where its framework imports: names only there,
            # so the snapshot is the same with or without the optional engines
            if module.startswith("carbonsdk.integrations."):
                lines.append(qualified)
            else:
                lines.append(f"{qualified} {kind}")
    return sorted(set(lines))


def main(argv: list[str] | None = None) -> int:
    """Print the public API, or write the snapshot with ``--write``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"update {SNAPSHOT.name}")
    args = parser.parse_args(argv)
    lines = snapshot()
    if args.write:
        SNAPSHOT.write_text("\n".join(lines) + "\n", encoding="utf-8")
        print(f"wrote {len(lines)} names to {SNAPSHOT.relative_to(ROOT)}")
    else:
        print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
