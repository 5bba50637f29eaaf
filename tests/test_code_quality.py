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


def test_a_script_using_the_api_is_type_checked_against_real_types(tmp_path: Path) -> None:
    """py.typed and the root exports give mypy real signatures, not Any."""
    script = tmp_path / "script.py"
    script.write_text(
        "from datetime import UTC, datetime\n"
        "from kapplan import Plan, load_client, make_plan\n"
        "from kapplan.api import calendar\n"
        "plan: Plan = make_plan('iv-ketamine-trd', load_client('client.yaml'), now=datetime.now(UTC))\n"
        "data: bytes = calendar(plan, privacy='standard')\n"
        "make_plan(1, plan)\n"
        "calendar(plan, privacy='secret')\n"
    )
    stdout, _, status = mypy_api.run(["--strict", "--cache-dir", str(tmp_path / "cache"), str(script)])
    assert status == 1, stdout
    errors = [line for line in stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["6", "6", "7"], stdout
