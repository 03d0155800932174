"""The examples run as users would run them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from carbonsdk import Ledger


def test_quickstart(repo_root: Path, subprocess_env: dict[str, str], tmp_path: Path) -> None:
    ledger = tmp_path / "l.jsonl"
    env = dict(subprocess_env, CARBONSDK_LEDGER=str(ledger))
    out = subprocess.run(
        [sys.executable, str(repo_root / "examples" / "quickstart.py"), "--region", "DE"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    assert "quickstart-block:" in out.stdout and "region DE" in out.stdout
    names = [r.name for r in Ledger(ledger).runs()]
    assert names == ["quickstart-block", "tracked-work", "quickstart-loop"]


def test_reproduce_dodge2022(repo_root: Path, subprocess_env: dict[str, str]) -> None:
    out = subprocess.run(
        [sys.executable, str(repo_root / "examples" / "reproduce_dodge2022.py")],
        env=subprocess_env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    assert "Table 4: N = 24 h" in out.stdout and "Table 5" in out.stdout
    assert "DenseNet 201" in out.stdout and "6B Transformer" in out.stdout
    assert "How our data differs" in out.stdout
    assert "Agreement with the paper over" in out.stdout
    assert "Causes of the differences" in out.stdout
