"""Every flag the SDK writes is in the one vocabulary (carbonsdk.model.flags)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from carbonsdk.model.flags import FLAGS, PARAMETRISED, describe, is_known

ROOT = Path(__file__).resolve().parents[1] / "carbonsdk"
#: names that look like flags but are other vocabularies (methods, sources, CSS, headers, ...)
_NOT_FLAGS = re.compile(
    r"^(nvml-|model-|intel-rapl|aws-|gcp-|azure-|carbonsdk-|chart-|content-|metadata-|retry-|"
    r"value-|type-|auth-|api-|day-ahead|seasonal-naive|in-use|cgroup-|per-task|per-step|"
    r"past-range|what-if|would-|(cpu|gpu|ram|mlflow|wandb|tensorboard):$)"
)


def _flag_like_literals() -> set[str]:
    found: set[str] = set()
    for path in ROOT.rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                value = node.value
                if re.fullmatch(r"[a-z]+(-[a-z]+)+", value):
                    found.add(value)
            elif isinstance(node, ast.JoinedStr) and node.values:
                head = node.values[0]
                if (
                    isinstance(head, ast.Constant)
                    and isinstance(head.value, str)
                    and re.fullmatch(r"[a-z]+(-[a-z]+)*:", head.value)
                ):
                    found.add(head.value)
    return found


def test_every_flag_literal_is_in_the_vocabulary() -> None:
    unknown = set()
    for literal in _flag_like_literals():
        if _NOT_FLAGS.match(literal):
            continue
        if literal.endswith(":"):
            if literal[:-1] not in PARAMETRISED and not _NOT_FLAGS.match(literal):
                unknown.add(literal)
        elif literal not in FLAGS and literal not in PARAMETRISED:
            unknown.add(literal)
    # a flag-like literal that is neither a flag nor another vocabulary: add it to model/flags.py
    assert not unknown, sorted(unknown)


def test_parametrised_flags_and_descriptions() -> None:
    assert is_known("device-degraded:gpu:0")
    assert is_known("signal:SIGTERM") and not is_known("signal:")
    assert not is_known("estimated-intensity")  # the old plan spelling is gone
    assert describe("device-glitch:gpu:1").endswith("(gpu:1)")
    assert describe("made-up") == "made-up"
