"""`kapplan export PLAN.json`: files, stdout, options, and every bad input's exit code."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import icalendar
import pytest
from plan_factory import CLIENT_EMAIL, CLIENT_NAME, make_plan_obj
from typer.testing import CliRunner

from kapplan.cli import app
from kapplan.export.ics import plan_to_ics
from kapplan.io.plan_files import read_plan

runner = CliRunner()


@pytest.fixture
def plan_file(tmp_path: Path) -> Path:
    path = tmp_path / "C-0042.plan.json"
    path.write_text(make_plan_obj().to_json(), encoding="utf-8")
    return path


def export(*args: str):
    return runner.invoke(app, ["export", *args])


def test_writes_a_private_calendar_file(plan_file, tmp_path):
    out = tmp_path / "C-0042.ics"
    result = export(str(plan_file), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert out.read_bytes() == plan_to_ics(make_plan_obj())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert result.stdout == ""
    assert "8 session(s) exported" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C-0042.ics", "C-0042.plan.json"]


@pytest.mark.parametrize("stdout_args", [[], ["-o", "-"]])
def test_stdout_without_output_or_with_dash(plan_file, stdout_args):
    result = export(str(plan_file), *stdout_args)
    assert result.exit_code == 0
    assert result.stdout_bytes == plan_to_ics(make_plan_obj())


def test_audience_privacy_and_no_alarms_are_applied(plan_file):
    result = export(str(plan_file), "--audience", "clinic", "--privacy", "full", "--no-alarms")
    assert result.exit_code == 0
    expected = plan_to_ics(make_plan_obj(), audience="clinic", privacy="full", alarms=False)
    assert result.stdout_bytes == expected
    assert CLIENT_NAME.encode() in result.stdout_bytes
    assert b"VALARM" not in result.stdout_bytes


def test_minimal_privacy_from_the_command_line(plan_file):
    result = export(str(plan_file), "--privacy", "minimal")
    summaries = {str(e["SUMMARY"]) for e in icalendar.Calendar.from_ical(result.stdout_bytes).walk("VEVENT")}
    assert summaries == {"Appointment"}


def test_read_plan_round_trips_a_written_plan(plan_file):
    assert read_plan(plan_file) == make_plan_obj()


def test_overwrites_an_older_export_atomically(plan_file, tmp_path):
    out = tmp_path / "cal.ics"
    out.write_bytes(b"old")
    assert export(str(plan_file), "-o", str(out)).exit_code == 0
    assert out.read_bytes().startswith(b"BEGIN:VCALENDAR\r\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["C-0042.plan.json", "cal.ics"]


def test_real_process_writes_exact_bytes_to_stdout(plan_file):
    env = {**os.environ, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "kapplan", "export", str(plan_file)], capture_output=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == plan_to_ics(make_plan_obj())


# --------------------------------------------------------------------------- bad input


def test_missing_plan_file_is_exit_2(tmp_path):
    result = export(str(tmp_path / "nope.json"))
    assert result.exit_code == 2
    assert "nope.json: no such file" in result.stderr
    assert "Traceback" not in result.output


def test_folder_instead_of_plan_is_exit_2(tmp_path):
    result = export(str(tmp_path))
    assert result.exit_code == 2
    assert "is a folder" in result.stderr


def test_json_syntax_error_is_exit_1_with_position(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"kind": "plan",\n  "series": }\n', encoding="utf-8")
    result = export(str(path))
    assert result.exit_code == 1
    assert f"{path}:2:13: error KP101 not a plan: JSON syntax error: Expecting value" in result.stderr
    assert f"{path}: not a valid plan file" in result.stderr


def test_invalid_plan_field_is_exit_1_naming_file_line_and_field(tmp_path):
    data = json.loads(make_plan_obj().to_json())
    data["sessions"][2]["start"] = "next Tuesday " + CLIENT_NAME
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    result = export(str(path))
    assert result.exit_code == 1
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "next Tuesday" in text)
    assert f"{path}:{line}:" in result.stderr
    assert "'start'" in result.stderr
    assert CLIENT_NAME not in result.stderr  # never echo values: plans hold personal data
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"series": "C-0042"}, "error KP124 'series' must be a UUID"),
        ({"format": 9}, "error KP104 plan format 9 is not supported (this kapplan reads formats 1 and 2)"),
        ({"client": {"id": "C-0042", "timezone": "Mars/Olympus"}}, "error KP126 'timezone': unknown time zone"),
        ({"client": {"id": "../x", "timezone": "UTC"}}, "error KP124 'id'"),
    ],
)
def test_plan_values_the_schema_cannot_check_are_exit_1(tmp_path, change, message):
    data = {**json.loads(make_plan_obj().to_json()), **change}
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    result = export(str(path))
    assert result.exit_code == 1
    assert message in result.stderr
    assert str(path) in result.stderr


def test_session_ending_before_it_starts_is_exit_1(tmp_path):
    data = json.loads(make_plan_obj().to_json())
    data["sessions"][0]["end"] = data["sessions"][0]["start"]
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    result = export(str(path))
    assert result.exit_code == 1
    assert "'end' must be after 'start'" in result.stderr


def test_a_protocol_file_is_not_a_plan(tmp_path):
    path = tmp_path / "proto.json"
    path.write_text('{"kind": "protocol", "id": "x"}', encoding="utf-8")
    result = export(str(path))
    assert result.exit_code == 1
    assert f"{path}:1:10: error KP104 this is a protocol file, not a plan" in result.stderr


@pytest.mark.parametrize(("content", "code"), [(b"", "KP103"), (b"\xff\xfe{}", "KP102"), (b"[1, 2]", "KP104")])
def test_empty_binary_or_non_object_files_are_exit_1(tmp_path, content, code):
    path = tmp_path / "plan.json"
    path.write_bytes(content)
    result = export(str(path))
    assert result.exit_code == 1
    assert code in result.stderr


def test_output_must_be_an_ics_file(plan_file, tmp_path):
    result = export(str(plan_file), "-o", str(tmp_path / "out.json"))
    assert result.exit_code == 2
    assert "name the output FILE.ics" in result.stderr
    assert not (tmp_path / "out.json").exists()


def test_output_into_a_missing_folder_is_exit_2(plan_file, tmp_path):
    result = export(str(plan_file), "-o", str(tmp_path / "no" / "such" / "x.ics"))
    assert result.exit_code == 2
    assert "cannot be written" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_privacy_level_is_a_usage_error(plan_file):
    result = export(str(plan_file), "--privacy", "secret")
    assert result.exit_code == 2


def test_failed_export_leaves_no_file(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("{}", encoding="utf-8")
    out = tmp_path / "x.ics"
    assert export(str(path), "-o", str(out)).exit_code == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plan.json"]


def test_personal_data_of_the_plan_never_reaches_stderr(plan_file, tmp_path):
    result = export(str(plan_file), "-o", str(tmp_path / "x.ics"), "--privacy", "full")
    assert CLIENT_NAME not in result.stderr
    assert CLIENT_EMAIL not in result.stderr
