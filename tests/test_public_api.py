"""The public surface is a reviewed list (``tests/public_api.txt``, written by
``python tools/public_api.py --write``), and every public name documents itself."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import public_api  # noqa: E402


def test_public_api_matches_the_snapshot() -> None:
    expected = public_api.SNAPSHOT.read_text(encoding="utf-8").split("\n")
    actual = public_api.snapshot()
    missing = sorted(set(expected) - set(actual) - {""})
    added = sorted(set(actual) - set(expected))
    assert not missing and not added, (
        "the public API changed; if on purpose, run `python tools/public_api.py --write`\n"
        f"removed: {missing}\nadded: {added}"
    )


def _documented_objects() -> list[tuple[str, object]]:
    out = []
    for module in (*public_api.MODULES, *public_api._integration_modules()):
        if module != "carbonsdk" and importlib.util.find_spec(module.rsplit(".", 1)[0]) is None:
            continue
        for qualified, kind, obj in public_api.public_names(module):
            if kind in ("class", "function", "module") and obj is not None:
                out.append((qualified, obj))
    return out


@pytest.mark.parametrize(
    ("qualified", "obj"), _documented_objects(), ids=lambda v: str(v) if isinstance(v, str) else ""
)
def test_every_public_name_has_a_docstring(qualified: str, obj: object) -> None:
    doc = inspect.getdoc(obj)
    assert doc and doc.strip(), f"{qualified} has no docstring"
    if inspect.isclass(obj):
        for name, member in vars(obj).items():
            if name.startswith("_") or not (
                inspect.isfunction(member) or isinstance(member, property)
            ):
                continue
            assert inspect.getdoc(member), f"{qualified}.{name} has no docstring"
