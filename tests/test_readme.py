"""Every ```python block of the README runs as written, offline, in a fresh interpreter.

A block may be preceded by an HTML comment that says how it runs:
``<!-- readme: torchrun -->`` runs it under ``torchrun --standalone --nproc-per-node 2`` (it needs
torch); ``<!-- readme: needs transformers -->`` (or any module) lets it fail only with the package's
own install hint when that module is missing. Blocks run in order and independently.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import attrs
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
_BLOCK = re.compile(
    r"(?:<!--\s*readme:\s*(?P<directive>[^>]*?)\s*-->\s*\n)?```python\n(?P<code>.*?)```", re.DOTALL
)


@attrs.frozen
class Block:
    line: int
    code: str
    directive: str


def _blocks() -> list[Block]:
    text = README.read_text(encoding="utf-8")
    return [
        Block(text.count("\n", 0, m.start("code")) + 1, m.group("code"), m.group("directive") or "")
        for m in _BLOCK.finditer(text)
    ]


def test_readme_has_python_blocks() -> None:
    assert len(_blocks()) >= 5


@pytest.mark.parametrize("block", _blocks(), ids=lambda b: f"line{b.line}")
def test_readme_block_runs(block: Block, tmp_path: Path, repo_root: Path) -> None:
    script = tmp_path / "readme_block.py"
    script.write_text(block.code, encoding="utf-8")
    env = {
        **os.environ,
        "PYTHONPATH": str(repo_root),
        "CARBONSDK_OFFLINE": "1",
        "NO_COLOR": "1",
        "CARBONSDK_LEDGER": str(tmp_path / "ledger.jsonl"),
        "CARBONSDK_CACHE_DIR": str(tmp_path / "cache"),
    }
    needs = (
        block.directive.removeprefix("needs").strip() if block.directive.startswith("needs") else ""
    )
    if block.directive == "torchrun":
        needs = "torch"
    missing = bool(needs) and importlib.util.find_spec(needs) is None
    if block.directive == "torchrun" and not missing:
        torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent)) or "torchrun"
        cmd = [torchrun, "--standalone", "--nproc-per-node", "2", str(script)]
    else:
        cmd = [sys.executable, str(script)]
    out = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"{needs} is required in CI for the README block at line {block.line}")
        # without the framework the block may fail only with the package's own hint
        assert out.returncode != 0
        assert "pip install" in out.stderr or f"No module named '{needs}'" in out.stderr, (
            out.stderr[-2000:]
        )
        return
    assert out.returncode == 0, f"README block at line {block.line}:\n{out.stderr[-4000:]}"
    assert "Traceback" not in out.stderr
