"""The code stays lint-clean (ruff) and the package type-checks (mypy strict),
with the settings in pyproject.toml: part of every test run, so CI holds both."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from mypy import api as mypy_api

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "kapplan", "tests", "bench"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_passes_on_the_package(tmp_path: Path) -> None:
    options = ["--config-file", str(ROOT / "pyproject.toml"), "--cache-dir", str(tmp_path)]
    stdout, stderr, status = mypy_api.run([*options, str(ROOT / "kapplan")])
    assert status == 0, stdout + stderr
