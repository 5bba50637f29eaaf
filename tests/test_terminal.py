"""The terminal: width from COLUMNS (or the terminal), readable at 80 columns,
empty columns left out, shell completion, examples in every command's help.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kapplan.cli import app
from kapplan.io.bundled import bundled_paths

runner = CliRunner()
CLIENT = str(Path(__file__).parent.parent / "docs" / "examples" / "client.yaml")
EPOCH = {"SOURCE_DATE_EPOCH": "1795000000"}


def run(*args: object, columns: int | None = None):
    env = {**EPOCH, "COLUMNS": None if columns is None else str(columns)}
    return runner.invoke(app, [str(a) for a in args], env=env)


def session_keys(plan_json: str) -> list[str]:
    import json

    return [s["key"] for s in json.loads(plan_json)["sessions"]]


@pytest.mark.parametrize("protocol", sorted(bundled_paths()))
def test_plan_and_status_fit_80_columns_with_every_key_whole(tmp_path, protocol):
    plan_file = tmp_path / "plan.json"
    assert run("plan", protocol, "--client", CLIENT, "-o", plan_file).exit_code == 0
    keys = session_keys(plan_file.read_text())
    for args in (("plan", protocol, "--client", CLIENT), ("status", plan_file)):
        result = run(*args, columns=80)
        assert result.exit_code == 0, result.output
        lines = result.stdout.splitlines()
        assert max(len(line) for line in lines) <= 80
        assert "…" not in result.stdout  # nothing cut: long texts wrap
        table = "\n".join(lines)
        for key in keys:
            assert f" {key} " in table, key  # every key whole on one line, as `mark` needs it


def test_columns_widens_the_table(tmp_path):
    narrow = run("plan", "iv-ketamine-trd", "--client", CLIENT, columns=80).stdout
    wide = run("plan", "iv-ketamine-trd", "--client", CLIENT, columns=160).stdout
    assert "Step" not in narrow
    assert "Step" in wide
    assert "Duration" in wide


def test_a_column_empty_for_the_whole_plan_is_left_out():
    in_person = run("plan", "iv-ketamine-trd", "--client", CLIENT, columns=160).stdout
    header = next(line for line in in_person.splitlines() if "Session" in line)
    assert "Notes" not in header  # every session in person, no deviation
    mixed = run("plan", "journey-sl-kap", "--client", CLIENT, columns=160).stdout
    header = next(line for line in mixed.splitlines() if "Session" in line)
    assert "Notes" in header  # telehealth sessions say so


def test_width_comes_from_columns_in_a_real_process(tmp_path):
    env = {**os.environ, **EPOCH, "COLUMNS": "80"}
    done = subprocess.run([sys.executable, "-m", "kapplan", "protocols"], capture_output=True, text=True, env=env,
                          check=True)
    assert max(len(line) for line in done.stdout.splitlines()) <= 80
