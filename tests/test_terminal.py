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


COMMANDS = ["validate", "protocols", "show", "plan", "export", "handout", "batch", "mark", "status", "reschedule",
            "agenda", "schema", "rules", "ledger sync", "ledger release"]


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_has_examples_and_no_python_type_names(command):
    result = run(*command.split(), "--help", columns=100)
    assert result.exit_code == 0, result.output
    assert "Examples:\n  kapplan " in result.stdout.replace("\n    kapplan", "\n  kapplan")
    for python_name in ("<str>", "<path>", "<list[", "<int>", "{"):
        assert python_name not in result.stdout, python_name


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_scripts_are_generated(shell):
    env = {**os.environ, "_TYPER_COMPLETE_TEST_DISABLE_SHELL_DETECTION": "1"}
    done = subprocess.run([sys.executable, "-m", "kapplan", "--show-completion", shell], capture_output=True,
                          text=True, env=env, check=False)
    assert done.returncode == 0, done.stderr
    assert "_KAPPLAN_COMPLETE" in done.stdout


def complete(words: str, cword: int) -> list[str]:
    env = {**os.environ, "_KAPPLAN_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    done = subprocess.run([sys.executable, "-m", "kapplan"], capture_output=True, text=True, env=env, check=False)
    return done.stdout.split()


def test_completion_of_protocol_ids_zones_and_session_keys(tmp_path):
    assert complete("kapplan plan iv-ketamine-t", 2) == ["iv-ketamine-trd"]
    assert "America/New_York" in complete("kapplan plan x --tz America/New_", 4)
    plan_file = tmp_path / "plan.json"
    assert run("plan", "iv-ketamine-trd", "--client", CLIENT, "-o", plan_file).exit_code == 0
    assert complete(f"kapplan mark {plan_file} infusion-", 3) == [f"infusion-{n}" for n in range(1, 7)]


def test_zone_and_protocol_suggestions_in_plan_and_batch(tmp_path):
    zone = run("plan", "iv-ketamine-trd", "--tz", "America/NewYork", "--weight", "70 kg")
    assert zone.exit_code == 1
    assert "did you mean 'America/New_York'?" in zone.stderr
    protocol = run("plan", "iv-ketamine-tdr", "--tz", "America/New_York", "--weight", "70 kg")
    assert "did you mean 'iv-ketamine-trd'" in protocol.stderr
    roster = tmp_path / "roster.csv"
    roster.write_text("id,protocol,start,timezone,weight\n"
                      "C-1,iv-ketamine-tdr,2026-12-07,America/New_York,70 kg\n"
                      "C-2,iv-ketamine-trd,2026-12-07,america/new_york,70 kg\n")
    result = run("batch", roster, "--out", tmp_path / "out")
    assert result.exit_code == 4
    assert "did you mean 'iv-ketamine-trd'" in result.stderr
    assert "did you mean 'America/New_York'?" in result.stderr
    bad_default = run("batch", roster, "--out", tmp_path / "out", "--tz", "Europe/Londn")
    assert bad_default.exit_code == 2
    assert "did you mean 'Europe/London'?" in bad_default.stderr


def test_an_output_extension_that_contradicts_format_is_refused(tmp_path):
    target = tmp_path / "plan.ics"
    result = run("plan", "iv-ketamine-trd", "--client", CLIENT, "--format", "json", "-o", target)
    assert result.exit_code == 2
    assert "extension says ics" in result.stderr
    assert not target.exists()
    assert run("plan", "iv-ketamine-trd", "--client", CLIENT, "-o", target).exit_code == 0  # the extension decides
    assert target.read_bytes().startswith(b"BEGIN:VCALENDAR")


def test_batch_progress_on_a_pipe_and_quiet(tmp_path):
    roster = Path(__file__).parent / "data" / "roster_mixed.csv"
    env = {**os.environ, **EPOCH}
    env.pop("NO_COLOR", None)

    def batch(*flags: str) -> str:
        done = subprocess.run([sys.executable, "-m", "kapplan", "batch", str(roster), "--out", str(tmp_path / "o"),
                               *flags], capture_output=True, text=True, env=env, check=False)
        assert done.returncode == 4
        return done.stderr

    assert "batch: 11 record(s) done, 8 failed" in batch("--progress", "always")
    assert "record(s) done" not in batch("--progress", "never")
    quiet = batch("-q")
    assert "record(s) done" not in quiet
    assert "roster_mixed.csv:4:" in quiet  # failures are still reported
