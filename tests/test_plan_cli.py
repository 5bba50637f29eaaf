"""`kapplan plan PROTOCOL`: client flags and files, outputs, exit codes (SPEC §6).

Schedules themselves are checked rule by rule in test_planning.py; here the
command line is exercised end to end through CliRunner, plus one real process.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kapplan.cli import app
from kapplan.models.plan import Plan
from kapplan.planning.build import SERIES_NAMESPACE

DATA = Path(__file__).parent / "data"
# The bundled protocols as they were when these engine and command-line tests were
# written: the tests are about planning, not about the current bundled content
# (that is pinned in test_planning.py and test_bundled_protocols.py).
V1 = DATA / "bundled_v1"
NEW_YORK = str(DATA / "client_new_york_72kg.yaml")
LONDON = str(DATA / "client_london_158lb_full_profile.yaml")
CLINIC = str(DATA / "clinic_chicago_10_to_16_closed_2026-12-21_to_23.yaml")
EPOCH = "1795000000"  # 2026-11-18T11:06:40Z
FLAGS = ["--id", "C-7", "--start", "2026-12-07", "--tz", "America/New_York", "--weight", "72 kg"]

runner = CliRunner()


def plan(*args: str, epoch: str | None = EPOCH, **env: str | None):
    return runner.invoke(app, ["plan", *args], env={"SOURCE_DATE_EPOCH": epoch, **env})


def written_plan(path: Path) -> Plan:
    return Plan.model_validate_json(path.read_bytes())


def schedule(p: Plan) -> list[str]:
    return [f"{s.start:%Y-%m-%d %H:%M}" for s in p.sessions]


def table_rows(text: str) -> list[list[str]]:
    """The cells of a Rich table, header first; wrapped lines joined to their row."""
    rows: list[list[str]] = []
    for line in text.splitlines():
        if line[:1] not in ("│", "┃"):
            continue
        cells = [c.strip() for c in line.strip().strip("│┃").split(line[0])]
        if rows and not cells[0]:
            rows[-1] = [f"{a} {b}".strip() for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return rows


# ---------------------------------------------------------------- JSON plans


def test_json_plan_is_written_privately_and_reads_back(tmp_path: Path) -> None:
    out = tmp_path / "C-0042.plan.json"
    result = plan(str(V1 / "iv-ketamine-trd.yaml"), "--client", NEW_YORK, "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["C-0042.plan.json"]  # no temporary file left
    raw = json.loads(out.read_bytes())
    assert raw["created"] == "2026-11-18T11:06:40Z"
    written = written_plan(out)
    assert schedule(written) == [
        "2026-12-07 09:00", "2026-12-08 09:00", "2026-12-11 09:00", "2026-12-14 09:00",
        "2026-12-16 09:00", "2026-12-18 09:00", "2026-12-21 09:00",
    ]
    assert written.client["id"] == "C-0042"
    assert written.client["weight_kg"] == 72.0
    assert written.protocol.id == "iv-ketamine-trd"
    infusion = written.sessions[1]
    assert infusion.dose is not None
    assert (infusion.dose.amount_mg, infusion.dose.basis) == (
        36.0, "0.5 mg/kg x 72 kg = 36 mg (planned, confirm before dosing)"
    )


def test_source_date_epoch_makes_reruns_byte_identical(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out in (first, second):
        assert plan("journey-sl-kap", *FLAGS, "-o", str(out)).exit_code == 0
    assert first.read_bytes() == second.read_bytes()
    series = written_plan(first).series
    assert series == str(uuid.uuid5(SERIES_NAMESPACE, "C-7|journey-sl-kap|2026-11-18T11:06:40+00:00"))


def test_without_source_date_epoch_each_plan_gets_a_new_series(tmp_path: Path) -> None:
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    for out in (first, second):
        assert plan("journey-sl-kap", *FLAGS, "-o", str(out), epoch=None).exit_code == 0
    a, b = written_plan(first), written_plan(second)
    assert a.series != b.series
    assert uuid.UUID(a.series).version == 4
    assert a.created.isoformat() != "2026-11-18T11:06:40+00:00"


@pytest.mark.parametrize(
    ("zone", "start", "before", "after"),
    [
        ("America/New_York", "2026-10-26", timedelta(hours=-4), timedelta(hours=-5)),  # ends 2026-11-01
        ("Europe/London", "2026-03-23", timedelta(0), timedelta(hours=1)),  # begins 2026-03-29
    ],
)
def test_dst_changes_offsets_never_local_times(tmp_path: Path, zone, start, before, after) -> None:
    out = tmp_path / "plan.json"
    args = ["--tz", zone, "--start", start, "--weight", "72 kg", "-o", str(out)]
    assert plan(str(V1 / "iv-ketamine-trd.yaml"), *args).exit_code == 0
    sessions = written_plan(out).sessions
    assert {f"{s.start:%H:%M}-{s.end:%H:%M}" for s in sessions[1:]} == {"09:00-11:00"}
    offsets = [s.start.utcoffset() for s in sessions]
    assert offsets == [before, before, before, after, after, after, after]
    assert [s.end - s.start for s in sessions[1:]] == [timedelta(hours=2)] * 6


# ---------------------------------------------------------------- no plan, deviations


def test_infeasible_plan_exits_3_with_the_report() -> None:
    result = plan(str(V1 / "iv-ketamine-trd.yaml"), "--client", NEW_YORK, "--unavailable", "2026-12-08..2027-11-30")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr == (
        "kapplan: no feasible schedule: infusion-4 cannot be placed\n"
        "  - infusion sessions must fall 2d..3d apart\n"
        "  - infusion takes exactly 3 per treatment week\n"
        "  - client unavailable Sat-Sun\n"
        "  - client unavailable 2026-12-08..2027-11-30\n"
        "  - the planning horizon ends 2027-12-07\n"
        "nearest later start date that works: 2026-12-15\n"
    )


def test_infeasible_report_names_the_follow_up_that_has_no_room() -> None:
    """Mon/Wed/Fri fit three infusions a week, but not the assessment 24 h after the first."""
    result = plan(str(V1 / "iv-ketamine-ptsd.yaml"), *FLAGS, "--available", "Mon,Wed,Fri 09:00-17:00")
    assert result.exit_code == 3
    assert "kapplan: no feasible schedule: infusion-1 cannot be placed\n" in result.stderr
    assert (
        "  - infusion-1.assessment-24h must follow infusion-1 by 24h, and finds no available time then\n"
        in result.stderr
    )


def test_infeasible_report_counts_holidays_over_a_long_stretch() -> None:
    """Mondays only cannot hold three infusions a week at any time of the year: the
    report says so, and does not list every Monday holiday of the year."""
    result = plan("iv-ketamine-trd", *FLAGS, "--available", "Mon 09:00-12:00", "--holidays", "US-NY")
    assert result.exit_code == 3
    assert result.stderr == (
        "kapplan: no feasible schedule: infusion-2 cannot be placed\n"
        "  - infusion sessions must fall 2d..3d apart\n"
        "  - infusion takes exactly 3 per treatment week\n"
        "  - client unavailable Tue-Sun\n"
        "  - 6 holiday(s) in that time\n"
        "  - the planning horizon ends 2027-12-07\n"
        "no later start date within the horizon works (none found)\n"
    )


def test_infeasible_plan_writes_no_file(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = plan("iv-ketamine-trd", "--client", NEW_YORK, "--available", "Mon 09:00-17:00", "-o", str(out))
    assert result.exit_code == 3
    assert "client unavailable Tue-Sun" in result.stderr
    assert result.stderr.endswith("no later start date within the horizon works (none found)\n")
    assert not out.exists()


def test_the_input_caps_in_one_slot_a_day_are_infeasible_and_the_scan_says_its_budget_ran_out(
        tmp_path: Path) -> None:
    """Five steps of 100 sessions cannot fit one 15-minute slot a day within a year from
    any start; the scan for a later start date stops at its node budget and says so,
    rather than claim that no date works (SPEC §2)."""
    out = tmp_path / "plan.json"
    protocol = str(DATA / "protocol_five_steps_of_100_sessions_15min.yaml")
    result = plan(protocol, *FLAGS, "--available", "Mon-Sun 09:00-09:15", "-o", str(out))
    assert result.exit_code == 3
    assert result.stderr == (
        "kapplan: no feasible schedule: d-67 cannot be placed\n"
        "  - d sessions must fall 1d..3d apart\n"
        "  - the planning horizon ends 2027-12-07\n"
        "nearest later start date that works: none found within the search budget\n"
    )
    assert not out.exists()


def test_plan_refuses_a_flood_of_unknown_keys_listing_the_first_50(tmp_path: Path) -> None:
    path = tmp_path / "flood.yaml"
    keys = "".join(f"k{i:04d}: 1\n" for i in range(1000))
    path.write_text((DATA / "protocol_one_30min_call.yaml").read_text() + keys)
    result = plan(str(path), *FLAGS, "-o", str(tmp_path / "plan.json"))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 52
    assert lines[0] == f"{path}:12:1: error KP110 unknown key 'k0000'"
    assert lines[50] == (f"{path}:62:1: error KP105 950 more problem(s) not listed, the first of them here "
                         "(a file lists its first 50)")
    assert lines[51] == f"kapplan: {path}: the protocol has 51 error(s)"
    assert not (tmp_path / "plan.json").exists()


def test_allow_deviations_plans_records_and_shows_them(tmp_path: Path) -> None:
    # Mondays and Tuesdays only: a Tuesday session's integration (1d..3d) cannot
    # fit, so the two sessions cannot share a treatment week.
    args = [str(DATA / "protocol_two_medicine_sessions_in_one_week.yaml"), *FLAGS, "--available", "Mon,Tue 09:00-17:00"]
    strict = plan(*args)
    assert strict.exit_code == 3
    assert strict.stderr == (
        "kapplan: no feasible schedule: medicine-1 cannot be placed\n"
        "  - medicine-1 must fall 1d.. after preparation-1\n"
        "  - medicine sessions must fall 2d..1w apart\n"
        "  - medicine takes exactly 2 per treatment week\n"
        "  - client unavailable Wed-Sun\n"
        "  - medicine-1.integration must follow medicine-1 by 1d..3d, and finds no available time then\n"
        "  - the planning horizon ends 2027-12-07\n"
        "no later start date within the horizon works (none found)\n"
    )
    table = plan(*args, "--allow-deviations")
    assert table.exit_code == 0, table.output
    assert table.stderr == "deviation: medicine-2: per_week 1 in week 1 where the protocol allows 2 per week\n"
    assert table_rows(table.stdout)[4] == [
        "Mon 2026-12-21", "09:00-11:00", "M medicine-2", "medicine 2/2", "2h", "50 mg IM",
        "deviation: per_week 1 in week 1 (allowed 2 per week)",
    ]
    out = tmp_path / "plan.json"
    assert plan(*args, "--allow-deviations", "-o", str(out)).exit_code == 0
    written = written_plan(out)
    assert schedule(written) == [
        "2026-12-07 09:00", "2026-12-14 09:00", "2026-12-15 09:00", "2026-12-21 09:00", "2026-12-22 09:00",
    ]
    assert [(d.key, d.rule, d.allowed, d.actual, d.lateness_min) for d in written.deviations] == [
        ("medicine-2", "per_week", "2 per week", "1 in week 1", 0),
    ]
    assert {s.key: s.deviations for s in written.sessions if s.deviations} == {"medicine-2": written.deviations}
    csv = plan(*args, "--allow-deviations", "--format", "csv").stdout.splitlines()
    assert csv[4].endswith(',planned,0,"per_week allowed 2 per week, actual 1 in week 1"')


# ---------------------------------------------------------------- client file, flags, defaults


def test_flags_override_the_client_file_and_unavailable_adds(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = plan(str(V1 / "iv-ketamine-trd.yaml"), "--client", LONDON, "--tz", "America/New_York",
                  "--unavailable", "2026-12-14", "-o", str(out))
    assert result.exit_code == 0, result.output
    written = written_plan(out)
    record = written.client
    assert record["timezone"] == "America/New_York"
    assert record["unavailable"] == ["2026-12-24..2027-01-01", "2026-12-10", "2026-12-14"]
    assert record["availability"] == ["Mon,Wed 09:00-13:00", "Fri 14:00-18:00"]
    assert (record["weight"], record["weight_kg"], record["dose_scale"]) == ("158 lb", 71.66759446, 0.8)
    assert (record["name"], record["holidays"]) == ("Alex Rivera", "NO")
    # Mon/Wed mornings and Friday afternoons; 12-14 and the winter break blocked.
    assert schedule(written) == [
        "2026-12-07 09:00", "2027-01-04 09:00", "2027-01-06 09:00", "2027-01-08 14:00",
        "2027-01-11 09:00", "2027-01-13 09:00", "2027-01-15 14:00",
    ]
    assert written.sessions[1].dose is not None
    assert written.sessions[1].dose.basis == (
        "0.5 mg/kg x 71.67 kg (158 lb) x 0.8 = 28.67 mg, rounded to 28.7 mg (planned, confirm before dosing)"
    )


def test_available_flags_replace_the_files_windows() -> None:
    result = plan("iv-ketamine-trd", "--client", LONDON, "--available", "Mon-Fri 08:00-10:00",
                  "--available", "Sat 10:00-12:00", "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = [line.split(",")[:5] for line in result.stdout.splitlines()[1:]]
    assert rows[:3] == [
        # the hour inside the default preference (Mon-Fri 09:00-17:00, SPEC §12); a 2 h
        # infusion fits only from 08:00
        ["screening-1", "2026-12-07", "09:00", "10:00", "Europe/London"],
        ["infusion-1", "2026-12-08", "08:00", "10:00", "Europe/London"],
        ["infusion-2", "2026-12-11", "08:00", "10:00", "Europe/London"],  # 12-10 stays blocked by the file
    ]


def test_defaults_system_zone_with_a_note_tomorrow_and_weekday_hours() -> None:
    result = plan(str(V1 / "iv-ketamine-trd.yaml"), "--weight", "72 kg", "--format", "csv", TZ="Europe/Berlin")
    assert result.exit_code == 0, result.output
    assert result.stderr == "note: no time zone given; using the system zone Europe/Berlin\n"
    rows = [line.split(",")[:5] for line in result.stdout.splitlines()[1:3]]
    # SOURCE_DATE_EPOCH is Wednesday 2026-11-18 in Berlin: the plan starts the next day.
    assert rows == [
        ["screening-1", "2026-11-19", "09:00", "10:00", "Europe/Berlin"],
        ["infusion-1", "2026-11-20", "09:00", "11:00", "Europe/Berlin"],
    ]


def test_an_unknown_system_zone_falls_back_to_utc() -> None:
    trd = str(V1 / "iv-ketamine-trd.yaml")
    result = plan(trd, "--weight", "72 kg", "--start", "2026-12-07", "--format", "csv", TZ="Foo/Bar")
    assert result.exit_code == 0, result.output
    assert result.stderr == "note: no time zone given; using the system zone UTC\n"
    assert result.stdout.splitlines()[1].startswith("screening-1,2026-12-07,09:00,10:00,UTC,")


def test_clinic_in_another_zone_binds_in_person_sessions() -> None:
    result = plan(str(V1 / "journey-sl-kap.yaml"), "--client", NEW_YORK, "--clinic", CLINIC, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = [line.split(",") for line in result.stdout.splitlines()[1:]]
    assert [(r[0], r[1], r[2], r[11]) for r in rows[:8]] == [
        ("intake-1", "2026-12-07", "09:00", "telehealth"),
        ("preparation-1", "2026-12-08", "11:00", "in-person"),  # 10:00 in Chicago
        ("preparation-2", "2026-12-09", "11:00", "in-person"),
        ("medicine-1", "2026-12-10", "11:00", "in-person"),
        ("medicine-1.integration", "2026-12-11", "11:00", "in-person"),
        ("medicine-2", "2026-12-24", "11:00", "in-person"),
        ("medicine-2.integration", "2026-12-28", "11:00", "in-person"),  # 12-25: the clinic's holiday
        ("follow-up-1", "2027-01-06", "09:00", "telehealth"),
    ]


# ---------------------------------------------------------------- output formats


def test_csv_output() -> None:
    result = plan(str(V1 / "iv-ketamine-ptsd.yaml"), "--client", NEW_YORK, "--format", "csv")
    assert result.exit_code == 0, result.output
    basis = '"0.5 mg/kg x 72 kg = 36 mg (planned, confirm before dosing)"'
    infusion = "America/New_York,infusion,dosing,infusion,{n},6,120,in-person,36," + basis + ",planned,0,"
    assert result.stdout.splitlines() == [
        "key,date,start,end,timezone,session,kind,step,index,count,duration_min,setting,planned_dose_mg,"
        "dose_basis,status,sequence,deviations",
        "baseline-1,2026-12-07,09:00,10:30,America/New_York,baseline,screening,baseline,1,1,90,in-person,,,planned,0,",
        "infusion-1,2026-12-08,09:00,11:00," + infusion.format(n=1),
        "infusion-1.assessment-24h,2026-12-09,09:00,10:00,America/New_York,assessment-24h,assessment,infusion,"
        "1,6,60,in-person,,,planned,0,",
        "infusion-2,2026-12-11,09:00,11:00," + infusion.format(n=2),
        "infusion-3,2026-12-14,09:00,11:00," + infusion.format(n=3),
        "infusion-4,2026-12-16,09:00,11:00," + infusion.format(n=4),
        "infusion-5,2026-12-18,09:00,11:00," + infusion.format(n=5),
        "infusion-6,2026-12-21,09:00,11:00," + infusion.format(n=6),
    ]


def test_calendar_output_marks_session_days_by_kind() -> None:
    result = plan(str(V1 / "iv-ketamine-ptsd.yaml"), "--client", NEW_YORK, "--format", "calendar")
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == "Plan for C-0042 (America/New_York) — IV ketamine for chronic PTSD, six infusions over two weeks"
    assert lines[1] == "December 2026"
    assert "┃     Mon ┃     Tue ┃     Wed ┃     Thu ┃     Fri ┃     Sat ┃     Sun ┃" in lines
    assert "│    S  7 │    M  8 │    A  9 │      10 │    M 11 │      12 │      13 │" in lines
    assert "│    M 14 │      15 │    M 16 │      17 │    M 18 │      19 │      20 │" in lines
    assert "│    M 21 │      22 │      23 │      24 │      25 │      26 │      27 │" in lines
    assert lines[-1] == "S screening  P preparation  M dosing  I integration  F follow-up  A assessment"
    assert "January" not in result.stdout


def test_calendar_spans_every_month_of_the_series() -> None:
    result = plan(str(V1 / "journey-sl-kap.yaml"), "--client", NEW_YORK, "--format", "calendar")
    titles = [line.strip() for line in result.stdout.splitlines() if line.strip().endswith(("2026", "2027"))]
    assert titles == ["December 2026", "January 2027", "February 2027"]
    assert "│       4 │       5 │    F  6 │    M  7 │    I  8 │       9 │      10 │" in result.stdout


def test_table_output_lists_sessions_with_planned_doses() -> None:
    result = plan(str(V1 / "iv-ketamine-ptsd.yaml"), "--client", NEW_YORK)
    assert result.exit_code == 0, result.output
    lines = [line.rstrip() for line in result.stdout.splitlines()]
    assert lines[0] == "Plan for C-0042 (America/New_York) — IV ketamine for chronic PTSD, six infusions over two weeks"
    cells = table_rows(result.stdout)
    assert cells[:4] == [  # no Notes column: every session is in person, without deviations
        ["Date", "Time", "Session", "Step", "Duration", "Planned dose"],
        ["Mon 2026-12-07", "09:00-10:30", "S baseline-1", "baseline 1/1", "1h30min", ""],
        ["Tue 2026-12-08", "09:00-11:00", "M infusion-1", "infusion 1/6", "2h", "36 mg IV"],
        ["Wed 2026-12-09", "09:00-10:00", "A infusion-1.assessment-24h", "infusion 1/6", "1h", ""],
    ]
    assert len(cells) == 9
    assert lines[-1] == "Planned doses are computed from the protocol's rule; a clinician confirms every dose."


def test_table_never_cuts_session_keys() -> None:
    result = plan(str(V1 / "mindbloom-home-kap.yaml"), "--client", NEW_YORK)
    assert result.exit_code == 0, result.output
    rows = table_rows(result.stdout)
    assert [row[2] for row in rows[4:7]] == [
        "I medicine-1.guide-integration", "F medicine-1.clinician-visit", "P medicine-1.guide-prep-next",
    ]
    assert rows[3][5] == "set by the prescriber"
    assert max(len(line) for line in result.stdout.splitlines()) <= 120


def test_protocol_text_is_never_read_as_markup() -> None:
    result = plan(str(DATA / "protocol_title_with_square_brackets.yaml"), *FLAGS)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].rstrip() == "Plan for C-7 (America/New_York) — Draft [/b] series [bold]v2"


@pytest.mark.parametrize(
    ("name", "extra", "starts_with"),
    [
        ("plan.csv", [], b"key,date,start,end,"),
        ("plan.json", [], b'{\n  "kind": "plan",'),
        ("plan.ics", [], b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\n"),
        ("plan.txt", [], b"Plan for C-7"),
        ("plan.out", ["--format", "json"], b'{\n  "kind": "plan",'),  # --format for a name without a known
        # extension; one that contradicts it (JSON into plan.csv) is refused: test_terminal.py
    ],
)
def test_output_format_follows_the_extension(tmp_path: Path, name, extra, starts_with) -> None:
    out = tmp_path / name
    result = plan("iv-ketamine-trd", *FLAGS, "-o", str(out), *extra)
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(starts_with)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert result.stdout == ""


def test_ics_output_takes_the_calendar_options() -> None:
    client_view = plan(str(V1 / "iv-ketamine-trd.yaml"), "--client", LONDON, "--format", "ics").stdout_bytes
    clinic_view = plan(str(V1 / "iv-ketamine-trd.yaml"), "--client", LONDON, "--format", "ics",
                       "--audience", "clinic", "--privacy", "full", "--no-alarms").stdout_bytes
    assert client_view.count(b"BEGIN:VEVENT") == clinic_view.count(b"BEGIN:VEVENT") == 7
    assert b"Alex Rivera" not in client_view
    assert b"BEGIN:VALARM" in client_view
    assert b"Alex Rivera" in clinic_view
    assert b"BEGIN:VALARM" not in clinic_view


def test_dash_is_stdout_and_json_to_stdout_parses() -> None:
    table = plan("iv-ketamine-trd", *FLAGS, "-o", "-")
    assert table.stdout.startswith("Plan for C-7 (America/New_York)")
    data = plan("iv-ketamine-trd", *FLAGS, "-o", "-", "--format", "json")
    assert Plan.model_validate_json(data.stdout_bytes).protocol.id == "iv-ketamine-trd"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("plan.xyz", "plan.xyz: cannot tell the format from the extension; add --format"),
        ("no-such-folder/plan.json", "folder"),
    ],
)
def test_unusable_output_path_is_a_usage_error(tmp_path: Path, target: str, message: str) -> None:
    result = plan("iv-ketamine-trd", *FLAGS, "-o", str(tmp_path / target))
    assert result.exit_code == 2
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- bad input


def test_protocol_with_lint_errors_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    broken = DATA / "protocol_with_unknown_session.yaml"
    result = plan(str(broken), *FLAGS, "-o", str(out))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{broken}:11:14: error KP201 unknown session 'medicine' (defined sessions: preparation)",
        f"kapplan: {broken}: the protocol has 1 error(s)",
    ]
    assert not out.exists()


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--weight", "72", "--weight: expected a mass with a unit, such as '72 kg' or '158 lb'"),
        ("--weight", "400 kg", "--weight: weight must lie within 20-350 kg"),
        ("--weight", "40 lb", "--weight: weight must lie within 20-350 kg"),
        ("--tz", "America/Nowhere", "--tz: unknown time zone"),
        ("--start", "2026-02-30", "--start: that day does not exist in the calendar"),
        ("--start", "07/12/2026", "--start:"),
        ("--holidays", "XX-YY", "--holidays: unknown holiday calendar"),
        ("--unavailable", "2026-12-31..2026-12-01", "--unavailable:"),
    ],
)
def test_bad_client_flag_is_one_clear_message(flag: str, value: str, message: str) -> None:
    result = plan("iv-ketamine-trd", "--client", NEW_YORK, flag, value)
    assert result.exit_code == 1
    first, last = result.stderr.splitlines()
    assert first.startswith(f"command line: error KP112 {message}")
    assert last == "kapplan: invalid client"
    assert result.stdout == ""


def test_bad_client_file_values_are_located_and_personal_data_is_not_echoed() -> None:
    bad = DATA / "client_invalid_values.yaml"
    result = plan("iv-ketamine-trd", "--client", str(bad))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{bad}:4:11: error KP126 'timezone': unknown time zone (expected an IANA name such as Europe/London; "
        "did you mean 'America/Nome'?)",
        f"{bad}:5:8: error KP122 'start': that day does not exist in the calendar (expected YYYY-MM-DD)",
        f"{bad}:6:9: error KP125 'weight': expected a mass with a unit, such as '72 kg' or '158 lb' "
        "(a bare number is never guessed)",
        f"{bad}:7:11: error KP127 'holidays': unknown holiday calendar (expected a country code such as US, "
        "or country-subdivision such as US-NY)",
        "kapplan: 4 error(s) in input",
    ]
    assert "Jordan" not in result.output


def test_per_kg_protocol_needs_a_weight() -> None:
    result = plan("iv-ketamine-trd", "--tz", "America/New_York", "--start", "2026-12-07")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "kapplan: client client: the protocol doses per kg; give a weight such as --weight '72 kg'"
    )


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-protocol.yaml", *FLAGS],
        ["iv-ketamine-trd", "--client", "no-such-client.yaml"],
        ["iv-ketamine-trd", *FLAGS, "--clinic", "no-such-clinic.yaml"],
    ],
)
def test_missing_file_is_a_usage_error(args: list[str]) -> None:
    result = plan(*args)
    assert result.exit_code == 2
    assert "no such file" in result.stderr
    assert "Traceback" not in result.output


def test_unknown_flag_is_a_usage_error() -> None:
    assert plan("iv-ketamine-trd", "--weigth", "72 kg").exit_code == 2


# ---------------------------------------------------------------- a real process


def test_python_dash_m_kapplan_plan_writes_the_plan(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    env = {**os.environ, "SOURCE_DATE_EPOCH": EPOCH, "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "kapplan", "plan", str(V1 / "spravato-trd.yaml"), "--client", NEW_YORK, "-o", str(out)],
        capture_output=True, env=env, timeout=60, check=False,
    )
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")
    written = written_plan(out)
    assert [s.key for s in written.sessions][:3] == ["enrollment-1", "induction-1", "induction-2"]
    assert {s.dose.amount_mg for s in written.sessions if s.dose} == {56.0}
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
