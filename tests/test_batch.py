"""`kapplan batch` (SPEC §4, §6): rosters in every format, isolation of bad
records, exit codes, the summary, the combined calendar, and --jobs
determinism."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from icalendar import Calendar
from typer.testing import CliRunner

from kapplan import batch as batch_module
from kapplan.cli import app
from kapplan.io.roster import open_roster
from kapplan.models.errors import InputError
from kapplan.models.plan import Plan

DATA = Path(__file__).parent / "data"
runner = CliRunner()

# roster_mixed.csv: row -> the reason its record fails (a fragment of it)
MIXED_CSV_FAILURES = {
    4: "unknown protocol 'no-such-protocol'",
    5: "'weight': expected a mass with a unit",
    6: "duplicate id: the record on row 2 has the same id",
    7: "'id': expected an identifier",
    8: "'id': expected an identifier",
    9: "protocol 'roster_broken_protocol.yaml' has errors: line 7: KP209",
    10: "no start date: give the record a 'start' or pass --start",
    11: "no feasible schedule",
}


def run(*args: str | Path, input: str | bytes | None = None):  # noqa: A002 - CliRunner's name
    return runner.invoke(app, [str(a) for a in args], input=input)


def summary_of(out: Path) -> dict:
    return json.loads((out / "summary.json").read_text())


def by_row(summary: dict) -> dict[int, dict]:
    return {record["row"]: record for record in summary["records"]}


def events(path: Path) -> list:
    return Calendar.from_ical(path.read_bytes()).walk("VEVENT")


def written(out: Path) -> list[str]:
    return sorted(p.name for p in out.iterdir())


def check_plan_files(out: Path, ident: str, sessions: int) -> Plan:
    """Both files of a planned record are complete, parse, and agree."""
    plan = Plan.model_validate_json((out / f"{ident}.plan.json").read_text())
    assert plan.client["id"] == ident
    assert len(plan.sessions) == sessions
    assert len(events(out / f"{ident}.ics")) == sessions
    return plan


# ---------------------------------------------------------------------- formats


def test_csv_roster_writes_good_records_and_reports_bad_rows(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("batch", DATA / "roster_mixed.csv", "--out", out)
    assert result.exit_code == 4, result.output
    rows = by_row(summary_of(out))
    assert sorted(rows) == list(range(2, 13))
    assert [r for r in rows if rows[r]["status"] == "ok"] == [2, 3, 12]
    for row, reason in MIXED_CSV_FAILURES.items():
        assert rows[row]["status"] == "failed"
        assert reason in rows[row]["error"], (row, rows[row]["error"])
        assert f"roster_mixed.csv:{row}:" in result.stderr
    for row in (2, 3, 12):
        record = rows[row]
        assert record["files"] == [f"{record['id']}.ics", f"{record['id']}.plan.json"]
        check_plan_files(out, record["id"], record["sessions"])
    assert rows[3]["sessions"] == 2
    assert rows[3]["first"] == "2026-12-07"
    assert rows[3]["last"] == "2026-12-14"
    assert written(out) == sorted(
        ["summary.json", "C-0001.ics", "C-0001.plan.json", "C-0002.ics", "C-0002.plan.json"]
        + ["C-0008.ics", "C-0008.plan.json"]
    )
    assert summary_of(out)["totals"] == {"records": 11, "ok": 3, "failed": 8, "new": 3, "kept": 0, "replanned": 0,
                                          "with_safety_notes": 2}  # KP403: no birth dates
    assert "8 of 11 record(s) failed" in result.stderr


def test_reasons_never_show_personal_data_or_bad_ids(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("batch", DATA / "roster_mixed.csv", "--out", out)
    text = result.stderr + (out / "summary.json").read_text()
    assert "Alex Rivera" not in text
    assert "../x" not in text
    assert "a/b" not in text
    assert by_row(summary_of(out))[7]["id"] is None


def test_path_traversal_ids_write_nothing_outside_out(tmp_path: Path) -> None:
    out = tmp_path / "deep" / "out"
    run("batch", DATA / "roster_mixed.csv", "--out", out)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and p.parent != out) == []
    assert not (tmp_path / "deep" / "x.ics").exists()


def test_ids_differing_only_in_case_keep_the_first(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("batch", DATA / "roster_mixed.csv", "--out", out)
    plan = Plan.model_validate_json((out / "C-0001.plan.json").read_text())
    assert plan.protocol.id == "iv-ketamine-trd"  # not overwritten by row 6 (c-0001)
    assert not (out / "c-0001.ics").exists() or (out / "c-0001.ics").samefile(out / "C-0001.ics")


def test_semicolon_spreadsheet_export_with_bom(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("batch", DATA / "roster_excel_semicolon_bom.csv", "--out", out)
    assert result.exit_code == 0, result.output
    plan = check_plan_files(out, "S-1", by_row(summary_of(out))[2]["sessions"])
    assert plan.client["availability"] == ["Mon,Wed 09:00-13:00", "Fri 14:00-18:00"]
    assert plan.client["unavailable"] == ["2026-12-24..2027-01-01", "2026-12-10"]
    assert plan.client["timezone"] == "Europe/Paris"
    check_plan_files(out, "S-2", 2)
    assert "2 record(s) planned" in result.stderr


def test_json_lines_roster(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("batch", DATA / "roster_mixed.jsonl", "--out", out, "--format", "json")
    assert result.exit_code == 4, result.output
    rows = by_row(summary_of(out))
    assert {row: r["status"] for row, r in rows.items()} == {
        1: "ok",
        2: "failed",
        3: "failed",
        5: "ok",
        6: "failed",
    }
    assert rows[2]["error"].startswith("not valid JSON")
    assert rows[3]["error"] == "the record is not a mapping of fields to values"
    assert rows[6]["error"] == "unknown key 'shoe_size'"
    assert [r["record"] for r in rows.values()] == [1, 2, 3, 4, 5]
    assert written(out) == ["J-1.plan.json", "J-3.plan.json", "summary.json"]


def test_yaml_roster_uses_yaml_1_2_scalars_and_start_default(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("batch", DATA / "roster_mixed.yaml", "--out", out, "--start", "2026-12-14")
    assert result.exit_code == 4, result.output
    rows = by_row(summary_of(out))
    assert {row: r["status"] for row, r in rows.items()} == {2: "ok", 7: "failed", 11: "ok"}
    assert "'start'" in rows[7]["error"]
    y1 = check_plan_files(out, "Y-1", 2)
    assert y1.client["holidays"] == "NO"  # Norway, not the YAML 1.1 boolean false
    assert y1.client["start"] == "2026-12-07"  # the record's own start wins over --start
    assert check_plan_files(out, "Y-3", 2).client["start"] == "2026-12-14"


def test_json_array_roster(tmp_path: Path) -> None:
    roster = tmp_path / "clients.json"
    roster.write_text(
        '[\n  {"id": "A-1", "protocol": "iv-ketamine-trd", "start": "2026-12-07",\n'
        '   "timezone": "Europe/Rome", "weight": "60 kg"},\n  {"id": "A-2"}\n]\n'
    )
    out = tmp_path / "out"
    result = run("batch", roster, "--out", out, "--format", "ics")
    assert result.exit_code == 4
    rows = by_row(summary_of(out))
    assert rows[2]["status"] == "ok"
    assert rows[4]["error"] == "no protocol: give the record a 'protocol' or pass --protocol"
    assert written(out) == ["A-1.ics", "summary.json"]


@pytest.mark.parametrize(
    "text",
    [
        "id,protocol,weight\nIN-1,iv-ketamine-trd,70 kg\n",
        '{"id": "IN-1", "protocol": "iv-ketamine-trd", "weight": "70 kg"}\n',
        "- id: IN-1\n  protocol: iv-ketamine-trd\n  weight: 70 kg\n",
    ],
    ids=["csv", "jsonl", "yaml"],
)
def test_roster_from_standard_input(tmp_path: Path, text: str) -> None:
    out = tmp_path / "out"
    result = run("batch", "-", "--out", out, "--tz", "Asia/Kolkata", "--start", "2026-12-07", input=text)
    assert result.exit_code == 0, result.output
    plan = check_plan_files(out, "IN-1", summary_of(out)["records"][0]["sessions"])
    assert plan.client["timezone"] == "Asia/Kolkata"
    assert summary_of(out)["roster"] == "<stdin>"


def test_stdin_protocol_paths_are_relative_to_the_current_folder(tmp_path: Path, monkeypatch) -> None:
    shutil.copy(DATA / "roster_local_protocol.yaml", tmp_path / "local.yaml")
    monkeypatch.chdir(tmp_path)
    text = "id,protocol,start,timezone\nL-1,local.yaml,2026-12-07,Europe/Oslo\n"
    result = run("batch", "-", "--out", "out", input=text)
    assert result.exit_code == 0, result.output
    check_plan_files(tmp_path / "out", "L-1", 2)


def test_default_protocol_flag(tmp_path: Path) -> None:
    roster = tmp_path / "r.csv"
    roster.write_text("id,start,timezone\nD-1,2026-12-07,Europe/Oslo\n")
    out = tmp_path / "out"
    protocol = DATA / "roster_local_protocol.yaml"
    result = run("batch", roster, "--out", out, "--protocol", protocol, "--format", "json")
    assert result.exit_code == 0, result.output
    assert summary_of(out)["records"][0]["protocol"] == str(protocol.resolve())


def test_clinic_audience_and_privacy_flags_reach_every_record(tmp_path: Path) -> None:
    out = tmp_path / "out"
    roster = DATA / "roster_excel_semicolon_bom.csv"
    flags = ["--clinic", DATA / "roster_clinic.yaml", "--audience", "clinic", "--privacy", "minimal"]
    result = run("batch", roster, "--out", out, *flags)
    assert result.exit_code == 0, result.output
    plan = Plan.model_validate_json((out / "S-1.plan.json").read_text())
    assert plan.clinic is not None
    assert plan.clinic["id"] == "northside"
    assert {str(e["SUMMARY"]) for e in events(out / "S-1.ics")} == {"S-1: Appointment"}


# ---------------------------------------------------------------------- outputs


def test_report_json_prints_the_summary(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("batch", DATA / "roster_excel_semicolon_bom.csv", "--out", out, "--report", "json")
    assert result.exit_code == 0
    assert json.loads(result.stdout) == summary_of(out)
    assert result.stdout == (out / "summary.json").read_text()
    assert result.stderr == ""


def test_files_are_private(tmp_path: Path) -> None:
    out = tmp_path / "out"
    run("batch", DATA / "roster_excel_semicolon_bom.csv", "--out", out, "--combined", tmp_path / "all.ics")
    for path in [*out.iterdir(), tmp_path / "all.ics"]:
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_record_files_reach_the_disk_in_one_flush_before_the_summary(tmp_path: Path, monkeypatch) -> None:
    """No fsync per record file (thousands of them); one flush, then the summary."""
    from kapplan.io import files

    calls: list[str] = []
    real_fsync = os.fsync
    monkeypatch.setattr(files.os, "fsync", lambda fd: calls.append("fsync") or real_fsync(fd))
    monkeypatch.setattr(batch_module, "flush_to_disk", lambda: calls.append("flush"))
    out = tmp_path / "out"
    result = run("batch", DATA / "roster_excel_semicolon_bom.csv", "--out", out)
    assert result.exit_code == 0
    assert len(written(out)) > 3  # several records' files and the summary
    assert calls == ["flush", "fsync"]  # the summary alone is synced, after the flush


def test_combined_calendar_holds_every_event_once(tmp_path: Path) -> None:
    out = tmp_path / "out"
    combined = tmp_path / "all.ics"
    result = run("batch", DATA / "roster_mixed.csv", "--out", out, "--combined", combined)
    assert result.exit_code == 4
    calendar = Calendar.from_ical(combined.read_bytes())
    uids = [str(event["UID"]) for event in calendar.walk("VEVENT")]
    expected = [str(e["UID"]) for ident in ("C-0001", "C-0002", "C-0008") for e in events(out / f"{ident}.ics")]
    assert sorted(uids) == sorted(expected)
    assert len(set(uids)) == len(uids)
    assert str(calendar["NAME"]) == "Clinic sessions"
    zones = sorted(str(tz["TZID"]) for tz in calendar.walk("VTIMEZONE"))
    assert zones == ["America/Los_Angeles", "America/New_York", "Europe/Berlin"]
    summaries = {str(e["SUMMARY"]) for e in calendar.walk("VEVENT")}
    assert {s.partition(": ")[0] for s in summaries} == {"C-0001", "C-0002", "C-0008"}  # clinic audience
    assert "VALARM" not in combined.read_text()


def test_combined_file_name_cannot_be_taken_by_a_record(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run("batch", DATA / "roster_excel_semicolon_bom.csv", "--out", out, "--combined", out / "s-1.ics")
    assert result.exit_code == 4
    assert by_row(summary_of(out))[2]["error"] == "the record's file name is the one given to --combined"
    assert len(events(out / "s-1.ics")) == 2  # the combined calendar: S-2's two check-ins


def test_fail_fast_stops_after_the_first_failed_record(tmp_path: Path) -> None:
    out = tmp_path / "out"
    combined = tmp_path / "all.ics"
    result = run("batch", DATA / "roster_mixed.csv", "--out", out, "--fail-fast", "--combined", combined)
    assert result.exit_code == 4
    summary = summary_of(out)
    assert [(r["row"], r["status"]) for r in summary["records"]] == [(2, "ok"), (3, "ok"), (4, "failed")]
    assert summary["stopped"] is True
    assert written(out) == ["C-0001.ics", "C-0001.plan.json", "C-0002.ics", "C-0002.plan.json", "summary.json"]
    assert len(events(combined)) == summary["records"][0]["sessions"] + 2
    assert "stopped at the first (--fail-fast)" in result.stderr


def test_same_output_whatever_jobs_under_source_date_epoch(tmp_path: Path) -> None:
    roster = tmp_path / "roster.csv"
    protocols = ["iv-ketamine-trd", "journey-sl-kap", "iv-ketamine-ptsd"]
    lines = ["id,protocol,start,timezone,weight"]
    lines += [f"P-{n:02d},{protocols[n % 3]},2026-12-{1 + n:02d},Europe/Vienna,{60 + n} kg" for n in range(20)]
    lines.append("P-bad,no-such-protocol,2026-12-01,Europe/Vienna,70 kg")
    roster.write_text("\n".join(lines) + "\n")
    env = {**os.environ, "SOURCE_DATE_EPOCH": "1767225600"}
    env.pop("NO_COLOR", None)
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out-{jobs}"
        command = [sys.executable, "-m", "kapplan", "batch", str(roster), "--out", str(out), "--jobs", jobs]
        command += ["--combined", str(out / "all.ics")]
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
        assert done.returncode == 4, done.stderr
        outputs[jobs] = {p.name: p.read_bytes() for p in out.iterdir()}
    assert len(outputs["1"]) == 20 * 2 + 2
    assert outputs["1"] == outputs["2"]


# ---------------------------------------------------------------------- exit codes


def test_unreadable_roster_is_a_usage_error(tmp_path: Path) -> None:
    assert run("batch", tmp_path / "missing.csv", "--out", tmp_path / "out").exit_code == 2
    assert run("batch", tmp_path, "--out", tmp_path / "out").exit_code == 2
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("garbage.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "KP102"),
        ("empty.csv", b"", "the roster is empty"),
        ("no-id.csv", b"name,protocol\nAlex,iv-ketamine-trd\n", "the header has no 'id' column"),
        ("typo.csv", b"id,protocl\nA,iv-ketamine-trd\n", "did you mean 'protocol'?"),
        ("mapping.yaml", b"id: A\nprotocol: x\n", "a YAML roster must be a list of records"),
        ("bad.yaml", b"- id: A\n  protocol: [x\n", "YAML syntax error"),
        ("array.json", b'[{"id": "A"} {"id": "B"}]', "expected ',' or ']'"),
    ],
)
def test_roster_that_cannot_be_parsed_is_exit_1(tmp_path: Path, name: str, content: bytes, message: str) -> None:
    roster = tmp_path / name
    roster.write_bytes(content)
    result = run("batch", roster, "--out", tmp_path / "out")
    assert result.exit_code == 1, result.output
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_yaml_fault_midway_keeps_the_records_before_it(tmp_path: Path) -> None:
    roster = tmp_path / "r.yaml"
    good = "- {id: G-1, protocol: iv-ketamine-trd, start: 2026-12-07, timezone: UTC, weight: 70 kg}\n"
    roster.write_text(good + "- {id: G-2, protocol: [\n")
    out = tmp_path / "out"
    result = run("batch", roster, "--out", out)
    assert result.exit_code == 1
    summary = summary_of(out)
    assert [r["id"] for r in summary["records"]] == ["G-1"]
    assert summary["error"].startswith(f"{roster}: YAML syntax error")
    assert (out / "G-1.ics").exists()


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--tz", "Mars/Olympus"], "--tz: unknown time zone"),
        (["--start", "2026-02-30"], "--start:"),
        (["--format", "pdf"], "--format: expected ics, json or ics,json"),
        (["--protocol", "no-such-protocol"], "--protocol: unknown protocol"),
        (["--combined", "calendar.txt"], "name the calendar FILE.ics"),
        (["--combined", "missing/all.ics"], "does not exist"),
    ],
)
def test_bad_flags_are_usage_errors(tmp_path: Path, flags: list[str], message: str) -> None:
    result = run("batch", DATA / "roster_mixed.csv", "--out", tmp_path / "out", *flags)
    assert result.exit_code == 2, result.output
    assert message in result.stderr


# ---------------------------------------------------------------------- isolation


def test_an_internal_error_fails_only_its_record(tmp_path: Path, monkeypatch) -> None:
    import kapplan.planning.build

    real = kapplan.planning.build.make_plan

    def flaky(loaded, client, clinic, **kwargs):
        if client.id == "S-1":
            raise ZeroDivisionError
        return real(loaded, client, clinic, **kwargs)

    monkeypatch.setattr(kapplan.planning.build, "make_plan", flaky)
    out = tmp_path / "out"
    result = run("batch", DATA / "roster_excel_semicolon_bom.csv", "--out", out, "--jobs", "1")
    assert result.exit_code == 4
    rows = by_row(summary_of(out))
    assert rows[2]["error"].startswith("internal error (ZeroDivisionError)")
    assert rows[3]["status"] == "ok"


def test_interrupt_leaves_no_temporary_or_half_written_file(tmp_path: Path) -> None:
    out = tmp_path / "out"
    combined = tmp_path / "all.ics"
    settings = batch_module.BatchSettings(base=DATA, now=datetime(2026, 11, 26, tzinfo=UTC), combined=True)

    def interrupt(result) -> None:
        if result.number == 2:
            raise KeyboardInterrupt

    with open_roster(str(DATA / "roster_excel_semicolon_bom.csv")) as roster, pytest.raises(KeyboardInterrupt):
        batch_module.run_batch(roster, settings, out, combined=combined, report=interrupt)
    assert written(out) == ["S-1.ics", "S-1.plan.json", "S-2.ics", "S-2.plan.json", "summary.json"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    summary = summary_of(out)  # the run's own summary says what it wrote and that it was interrupted
    assert summary["state"] == "interrupted"
    assert [r["id"] for r in summary["records"]] == ["S-1", "S-2"]


# ---------------------------------------------------------------------- roster reading


def records(data: bytes, name: str = "-") -> list:
    with open_roster(name, io.BytesIO(data)) as roster:
        return list(roster)


def test_csv_rows_are_file_lines_even_with_multi_line_cells() -> None:
    data = b'id,location\n\nA,"12 Main St\nSuite 200"\nB,\n'
    found = records(data)
    assert [(r.row, r.data) for r in found] == [
        (3, {"id": "A", "location": "12 Main St\nSuite 200"}),
        (5, {"id": "B"}),
    ]


def test_csv_line_that_is_not_utf8_fails_only_its_record() -> None:
    found = records(b"id,name\nA,ok\nB,\xff\xfe\nC,ok\n")
    assert [(r.row, r.problem) for r in found] == [
        (2, None),
        (3, "the line is not valid UTF-8 text"),
        (4, None),
    ]


def test_csv_therapist_columns_and_extra_empty_cells() -> None:
    found = records(b"id,therapist.name,therapist.email\nA,Dr. Kim,kim@clinic.example,,\nB,x,y,z\n")
    assert found[0].data == {"id": "A", "therapist": {"name": "Dr. Kim", "email": "kim@clinic.example"}}
    assert found[1].problem == "the row has 4 cells but the header has 3 columns"


def test_csv_unnamed_columns_must_stay_empty() -> None:
    found = records(b"id,protocol,\nA,x,\nB,x,oops\n")
    assert [(r.row, r.data, r.problem) for r in found] == [
        (2, {"id": "A", "protocol": "x"}, None),
        (3, None, "the row has a value in a column without a name"),
    ]


def test_empty_json_lines_roster_is_not_a_roster(tmp_path: Path) -> None:
    roster = tmp_path / "r.jsonl"
    roster.write_text("\n\n")
    result = run("batch", roster, "--out", tmp_path / "out")
    assert result.exit_code == 1
    assert "the roster is empty" in result.stderr


def test_overlong_line_is_cut_off_not_read_whole() -> None:
    long_line = b'{"id": "A", "name": "' + b"x" * (2 * 1024 * 1024) + b'"}\n'
    found = records(long_line + b'{"id": "B"}\n')
    assert [(r.row, r.problem) for r in found] == [(1, "the line is longer than 1 MiB"), (2, None)]


def test_json_extension_holds_json_lines_too(tmp_path: Path) -> None:
    roster = tmp_path / "r.json"
    roster.write_text('{"id": "A"}\n{"id": "B"}\n')
    with open_roster(str(roster)) as opened:
        assert opened.format == "jsonl"
        assert [r.data for r in opened] == [{"id": "A"}, {"id": "B"}]


def test_yaml_alias_expansion_is_bounded() -> None:
    lines = ["- &a [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 7):
        lines.append(f"- &{'a' * (level + 1)} [{', '.join(['*' + 'a' * level] * 10)}]")
    with pytest.raises(InputError) as caught:
        records("\n".join(lines).encode())
    assert caught.value.diagnostics[0].code == "KP105"


def test_yaml_roster_is_streamed_not_loaded_whole() -> None:
    stream = io.BytesIO(b"- id: A\n- id: B\n- {id: C, protocol: [\n")
    with open_roster("-", stream) as roster:
        iterator = iter(roster)
        assert next(iterator).data == {"id": "A"}
        assert next(iterator).data == {"id": "B"}
        with pytest.raises(InputError):
            next(iterator)


def test_progress_reporter_prints_failed_records(capsys) -> None:
    from kapplan.render import batch_reporter

    failed = batch_module.RecordResult(3, 7, "C-9", False, None, 0, None, None, (), "no start date")
    ok = batch_module.RecordResult(1, 2, "C-1", True, "x", 2, None, None, ("C-1.ics",), None)
    for progress in (False, True):
        with batch_reporter("roster.csv", progress=progress) as report:
            report(ok)
            report(failed)
        assert "roster.csv:7: C-9: no start date" in capsys.readouterr().err
