"""`carbonsdk run` edge cases and `carbonsdk --version`, through real subprocesses."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import carbonsdk
from carbonsdk.cli.run import run_name
from carbonsdk.redaction import redact_argv


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "carbonsdk", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_version_comes_from_one_place(subprocess_env: dict[str, str]) -> None:
    from importlib.metadata import version

    out = cli(["--version"], subprocess_env)
    assert out.returncode == 0
    assert out.stdout.strip() == f"carbonsdk {carbonsdk.__version__}"
    assert version("carbonsdk") == carbonsdk.__version__  # the installed metadata agrees


def test_not_an_executable_is_one_line_error(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    text_file = tmp_path / "notes.txt"
    text_file.write_text("just text\n")
    text_file.chmod(0o755)  # executable bit, but no #! line and not a binary: ENOEXEC
    out = cli(["run", "--no-ledger", "--no-report", "--", str(text_file)], subprocess_env)
    assert out.returncode == 1
    assert "Traceback" not in out.stderr
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot execute" in lines[0] and "notes.txt" in lines[0]


def test_run_is_named_after_the_script_and_secrets_are_redacted(
    subprocess_env: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "train.py"
    script.write_text("import sys\n")
    ledger = tmp_path / "l.jsonl"
    out = cli(
        [
            "run",
            "--ledger",
            str(ledger),
            "--no-report",
            "--region",
            "DE",
            "--",
            sys.executable,
            "-u",
            str(script),
            "--epochs",
            "2",
            "--api-key",
            "sk-LIVE-123",
            "--token=abc.def",
            "HF_TOKEN=hf_secret",
            "https://bob:pw123@example.invalid/x",
        ],
        subprocess_env,
    )
    assert out.returncode == 0, out.stderr
    record = json.loads(ledger.read_text().splitlines()[-1])
    assert record["name"] == "train.py"
    command = record["tags"]["command"]
    for secret in ("sk-LIVE-123", "abc.def", "hf_secret", "pw123"):
        assert secret not in command
        assert secret not in ledger.read_text()
    assert "--epochs 2" in command and "--api-key ***" in command
    assert "--token=***" in command and "HF_TOKEN=***" in command


@pytest.mark.parametrize(
    ("cmd", "name"),
    [
        (["python", "train.py"], "train.py"),
        (["python3.11", "-u", "-X", "importtime", "dir/train.py", "--lr", "1"], "train.py"),
        (["/usr/bin/python3", "-m", "torch.distributed.run", "x.py"], "torch.distributed.run"),
        (["python", "-c", "print(1)"], "python"),
        (["torchrun", "train.py"], "torchrun"),
        (["./job.sh"], "job.sh"),
    ],
)
def test_run_name(cmd: list[str], name: str) -> None:
    assert run_name(cmd) == name


def test_redact_argv_keeps_ordinary_arguments() -> None:
    argv = [
        "train.py",
        "--lr",
        "0.1",
        "--keyframes",
        "3",
        "--password",
        "hunter2",
        "AWS_SECRET_ACCESS_KEY=abc",
        "--monkey",
        "banana",
        "-k",
        "v",
    ]
    out = redact_argv(argv)
    assert out == [
        "train.py",
        "--lr",
        "0.1",
        "--keyframes",
        "3",
        "--password",
        "***",
        "AWS_SECRET_ACCESS_KEY=***",
        "--monkey",
        "banana",
        "-k",
        "v",
    ]
