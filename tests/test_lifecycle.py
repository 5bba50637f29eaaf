"""`kapplan mark`, `status` and `reschedule`: scripted scenarios on real plan files.

Every scenario starts from the same plan, made by `kapplan plan` from
tests/data/protocol_four_doses_weekly_integration.yaml for a client in New
York starting Monday 2026-12-07 (availability Mon-Fri 09:00-17:00):

    intake-1                Mon 2026-12-07 09:00
    preparation-1           Tue 2026-12-08 09:00
    medicine-1              Wed 2026-12-09 09:00   (+ .integration Thu 12-10 09:00)
    medicine-2              Mon 2026-12-14 09:00   (+ .integration Tue 12-15 09:00)
    medicine-3              Mon 2026-12-21 09:00   (+ .integration Tue 12-22 09:00)
    medicine-4              Mon 2026-12-28 09:00   (+ .integration Tue 12-29 09:00)

The clock is set with SOURCE_DATE_EPOCH. Each re-plan is checked against
every rule by the independent plan checker, and the calendar exported before
and after is compared event by event.
"""

from __future__ import annotations

import json
import stat
import uuid
from datetime import date, datetime, time
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from plan_checker import violations
from typer.testing import CliRunner

from kapplan.cli import app
from kapplan.engine import Placement
from kapplan.export.ics import plan_to_ics
from kapplan.io.plan_files import read_plan
from kapplan.lifecycle.times import local_midnight, parse_actual_start
from kapplan.models.errors import UsageError
from kapplan.models.plan import Deviation, Plan
from kapplan.planning.build import build_request
from kapplan.planning.embedded import client_of, clinic_of, protocol_of

DATA = Path(__file__).parent / "data"
PROTOCOL = DATA / "protocol_four_doses_weekly_integration.yaml"
NEW_YORK = ZoneInfo("America/New_York")
runner = CliRunner()

ORIGINAL = {
    "intake-1": "2026-12-07 09:00",
    "preparation-1": "2026-12-08 09:00",
    "medicine-1": "2026-12-09 09:00",
    "medicine-1.integration": "2026-12-10 09:00",
    "medicine-2": "2026-12-14 09:00",
    "medicine-2.integration": "2026-12-15 09:00",
    "medicine-3": "2026-12-21 09:00",
    "medicine-3.integration": "2026-12-22 09:00",
    "medicine-4": "2026-12-28 09:00",
    "medicine-4.integration": "2026-12-29 09:00",
}
THROUGH_MEDICINE_2 = list(ORIGINAL)[:6]


def epoch(moment: str) -> str:
    return str(int(datetime.fromisoformat(moment).timestamp()))


def kapplan(*args: str, now: str):
    """Run the CLI with the clock at ``now`` (ISO 8601 with offset)."""
    return runner.invoke(app, [str(a) for a in args], env={"SOURCE_DATE_EPOCH": epoch(now)})


@pytest.fixture(scope="module")
def base_plan(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("base") / "plan.json"
    result = kapplan(
        "plan",
        PROTOCOL,
        "--id",
        "C-7",
        "--start",
        "2026-12-07",
        "--tz",
        "America/New_York",
        "--weight",
        "70 kg",
        "-o",
        path,
        now="2026-11-30T10:00:00-05:00",
    )
    assert result.exit_code == 0, result.output
    return path.read_bytes()


@pytest.fixture
def plan_file(tmp_path, base_plan) -> Path:
    path = tmp_path / "plan.json"
    path.write_bytes(base_plan)
    return path


def times(plan: Plan) -> dict[str, str]:
    return {s.key: s.start.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M") for s in plan.sessions}


def column(plan: Plan, name: str) -> dict[str, object]:
    return {s.key: getattr(s, name) for s in plan.sessions}


def mark_all(path: Path, keys: list[str], status: str, now: str) -> None:
    for key in keys:
        result = kapplan("mark", path, key, status, now=now)
        assert result.exit_code == 0, result.output


def events(plan: Plan) -> dict[str, tuple[str, int, str]]:
    """Session key -> (local DTSTART, SEQUENCE, STATUS) of the exported calendar."""
    by_uid = {str(uuid.uuid5(uuid.UUID(plan.series), s.key)): s.key for s in plan.sessions}
    calendar = icalendar.Calendar.from_ical(plan_to_ics(plan))
    out = {}
    for event in calendar.walk("VEVENT"):
        start = event.decoded("DTSTART").astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M")
        out[by_uid[str(event["UID"])]] = (start, int(event["SEQUENCE"]), str(event["STATUS"]))
    return out


def check_replan(before: Plan, after: Plan, now: str, first_day: date, *, relaxed: bool = False) -> list[str]:
    """Every rule of SPEC §2 for the re-planned sessions, relative to the done ones."""
    protocol = protocol_of(after)
    cutoff = datetime.combine(first_day, time(0), tzinfo=NEW_YORK)
    fixed = {
        s.key: (s.start, s.end)
        for s in before.sessions
        if s.status == "done" or (s.status == "planned" and s.start < cutoff)
    }
    request = build_request(
        protocol,
        client_of(after),
        clinic_of(after),
        fixed=fixed,
        not_before=max(cutoff, datetime.fromisoformat(now)),
        allow_deviations=relaxed,
        start_date=first_day,
    )
    placements = [
        Placement(
            s.key,
            s.step,
            s.session,
            s.index,
            s.count,
            s.follows,
            s.start.astimezone(NEW_YORK),
            s.end.astimezone(NEW_YORK),
        )
        for s in after.sessions
    ]
    return violations(protocol, request, placements)


# --------------------------------------------------------------------------- mark


def test_mark_done_at_a_local_time_moves_the_session_and_records_history(plan_file, base_plan):
    result = kapplan(
        "mark", plan_file, "medicine-1", "done", "--at", "2026-12-09 10:30", now="2026-12-09T15:00:00-05:00"
    )
    assert result.exit_code == 0, result.output
    assert "medicine-1: planned -> done, Wed 2026-12-09 09:00 -> Wed 2026-12-09 10:30" in result.stderr
    plan = read_plan(plan_file)
    session = plan.session("medicine-1")
    assert session is not None
    assert (session.status, session.sequence) == ("done", 1)  # the event moved: calendars must update it
    assert session.start.isoformat() == "2026-12-09T10:30:00-05:00"
    assert session.end.isoformat() == "2026-12-09T13:30:00-05:00"
    history = json.loads(plan_file.read_text())["history"]
    assert history == [
        {
            "at": "2026-12-09T20:00:00Z",
            "command": "mark medicine-1 done --at 2026-12-09T10:30:00-05:00",
            "changes": [
                {
                    "key": "medicine-1",
                    "from": {
                        "status": "planned",
                        "start": "2026-12-09T09:00:00-05:00",
                        "end": "2026-12-09T12:00:00-05:00",
                    },
                    "to": {"status": "done", "start": "2026-12-09T10:30:00-05:00", "end": "2026-12-09T13:30:00-05:00"},
                    "reason": None,
                }
            ],
        }
    ]
    backup = plan_file.with_name("plan.json.bak")
    assert backup.read_bytes() == base_plan
    assert stat.S_IMODE(plan_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600


def test_mark_done_at_an_offset_time_is_stored_in_the_client_zone(plan_file):
    result = kapplan("mark", plan_file, "intake-1", "done", "--at", "2026-12-07T15:15Z", now="2026-12-08T12:00:00Z")
    assert result.exit_code == 0, result.output
    intake = read_plan(plan_file).session("intake-1")
    assert intake is not None
    assert (intake.start.isoformat(), intake.end.isoformat()) == (
        "2026-12-07T10:15:00-05:00",
        "2026-12-07T11:15:00-05:00",
    )


def test_mark_missed_and_cancelled_keep_the_time(plan_file):
    mark_all(plan_file, ["medicine-1"], "missed", "2026-12-09T15:00:00-05:00")
    mark_all(plan_file, ["medicine-1.integration"], "cancelled", "2026-12-09T15:00:00-05:00")
    plan = read_plan(plan_file)
    assert times(plan) == ORIGINAL
    assert column(plan, "status")["medicine-1"] == "missed"
    assert column(plan, "status")["medicine-1.integration"] == "cancelled"
    assert [entry.command for entry in plan.history] == [
        "mark medicine-1 missed",
        "mark medicine-1.integration cancelled",
    ]


def test_marking_the_same_status_again_changes_nothing(plan_file):
    mark_all(plan_file, ["intake-1"], "done", "2026-12-08T12:00:00Z")
    written = plan_file.read_bytes()
    result = kapplan("mark", plan_file, "intake-1", "done", now="2026-12-08T12:00:00Z")
    assert result.exit_code == 0
    assert "already done" in result.stderr
    assert plan_file.read_bytes() == written


def test_unknown_key_exits_1_with_a_hint(plan_file, base_plan):
    result = kapplan("mark", plan_file, "medicine-03", "done", now="2026-12-30T12:00:00Z")
    assert result.exit_code == 1
    assert "no session 'medicine-03'" in result.stderr
    assert "did you mean 'medicine-3'?" in result.stderr
    assert plan_file.read_bytes() == base_plan


@pytest.mark.parametrize(
    ("at", "message"),
    [
        ("2027-03-14 02:30", "does not exist in America/New_York"),
        ("2026-11-01 01:30", "occurs twice in America/New_York"),
        ("2026-12-09", "expected the actual start"),
        ("2026-12-32 10:00", "no such date or time"),
        ("yesterday", "expected the actual start"),
    ],
)
def test_bad_actual_start_is_a_usage_error(plan_file, base_plan, at, message):
    result = kapplan("mark", plan_file, "medicine-1", "done", "--at", at, now="2027-06-01T12:00:00Z")
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert plan_file.read_bytes() == base_plan


def test_ambiguous_local_time_suggests_both_offsets():
    with pytest.raises(UsageError) as caught:
        parse_actual_start("2026-11-01 01:30", NEW_YORK)
    assert "2026-11-01T01:30-04:00 or 2026-11-01T01:30-05:00" in caught.value.message
    assert parse_actual_start("2026-11-01T01:30-05:00", NEW_YORK).isoformat() == "2026-11-01T01:30:00-05:00"
    assert parse_actual_start("2026-12-14T10:30", NEW_YORK).isoformat() == "2026-12-14T10:30:00-05:00"


@pytest.mark.parametrize(
    ("args", "now"),
    [
        (["medicine-4", "done"], "2026-12-20T12:00:00Z"),
        (["medicine-1", "done", "--at", "2026-12-21 09:00"], "2026-12-20T12:00:00Z"),
        (["medicine-1", "missed", "--at", "2026-12-09 09:00"], "2026-12-20T12:00:00Z"),
    ],
)
def test_done_in_the_future_or_at_on_a_miss_is_refused(plan_file, base_plan, args, now):
    result = kapplan("mark", plan_file, *args, now=now)
    assert result.exit_code == 2
    assert plan_file.read_bytes() == base_plan


@pytest.mark.parametrize("command", [["mark", "KEY", "done"], ["status"], ["reschedule"]])
def test_missing_plan_exits_2_and_bad_plan_exits_1(tmp_path, command):
    missing = kapplan(command[0], tmp_path / "none.json", *command[1:], now="2026-12-20T12:00:00Z")
    assert missing.exit_code == 2
    bad = tmp_path / "bad.json"
    bad.write_text('{"kind": "plan", "format": 1}')
    invalid = kapplan(command[0], bad, *command[1:], now="2026-12-20T12:00:00Z")
    assert invalid.exit_code == 1
    assert "Traceback" not in invalid.output
    assert not (tmp_path / "bad.json.bak").exists()


# --------------------------------------------------------------------------- status


def test_status_shows_statuses_next_unmarked_and_deviations(plan_file):
    now = "2026-12-18T12:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2[:4], "done", now)
    kapplan("mark", plan_file, "medicine-2", "done", "--at", "2026-12-11 09:00", now=now)
    result = kapplan("status", plan_file, now=now)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Sessions: 5 planned, 5 done, 0 missed, 0 cancelled" in " ".join(out.split())
    assert "Next: medicine-3 (Dosing session) on Mon 2026-12-21 09:00" in out
    assert "Not marked yet: medicine-2.integration" in out
    assert "medicine-2: gap 2d where the protocol allows 5d..14d (3d early)" in out


def test_status_without_deviations_says_none(plan_file):
    result = kapplan("status", plan_file, now="2026-12-01T12:00:00Z")
    assert result.exit_code == 0
    assert "Deviations so far: none" in result.stdout
    assert "Next: intake-1" in result.stdout


# --------------------------------------------------------------------------- reschedule


def test_missed_dose_mid_series_is_replanned_with_the_same_key(plan_file):
    now = "2026-12-21T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2, "done", now)
    mark_all(plan_file, ["medicine-3"], "missed", now)
    before = read_plan(plan_file)
    result = kapplan("reschedule", plan_file, now=now)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "medicine-3: Mon 2026-12-21 09:00 -> Tue 2026-12-22 09:00, missed -> planned "
        "(medicine-3 missed on 2026-12-21; re-planned, the protocol still counts it)",
        "medicine-3.integration: Tue 2026-12-22 09:00 -> Wed 2026-12-23 09:00 "
        "(medicine-3 missed on 2026-12-21; medicine-3.integration must fall 1d..3d after medicine-3)",
    ]
    after = read_plan(plan_file)
    assert times(after) == ORIGINAL | {
        "medicine-3": "2026-12-22 09:00",
        "medicine-3.integration": "2026-12-23 09:00",
    }
    assert column(after, "status") == dict.fromkeys(THROUGH_MEDICINE_2, "done") | dict.fromkeys(
        ORIGINAL.keys() - THROUGH_MEDICINE_2, "planned"
    )
    assert after.deviations == []
    assert check_replan(before, after, now, date(2026, 12, 21)) == []
    commands = [entry.command for entry in after.history]
    assert commands[-2:] == ["mark medicine-3 missed", "reschedule"]
    assert [(c.key, c.from_["status"], c.to["status"]) for c in after.history[-1].changes[:1]][0] == (
        "medicine-3",
        "missed",
        "planned",
    )

    old, new = events(before), events(after)
    assert old.keys() == new.keys() == ORIGINAL.keys()
    assert old["medicine-3"] == ("2026-12-21 09:00", 1, "CANCELLED")  # marking it missed cancels the event
    assert new["medicine-3"] == ("2026-12-22 09:00", 2, "CONFIRMED")
    assert new["medicine-3.integration"] == ("2026-12-23 09:00", 1, "CONFIRMED")
    unchanged = ORIGINAL.keys() - {"medicine-3", "medicine-3.integration"}
    assert {k: new[k] for k in unchanged} == {k: old[k] for k in unchanged}
    assert all(new[k][1] == 0 for k in unchanged)


def test_a_miss_past_the_gap_maximum_needs_allow_deviations(plan_file):
    now = "2027-01-05T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2, "done", now)
    mark_all(plan_file, list(ORIGINAL)[6:], "missed", now)
    marked = plan_file.read_bytes()
    strict = kapplan("reschedule", plan_file, now=now)
    assert strict.exit_code == 3
    assert "no feasible schedule without deviations" in strict.stderr
    assert "medicine-3: gap 23d where the protocol allows 5d..14d (9d late)" in strict.stderr
    assert "--allow-deviations" in strict.stderr
    assert plan_file.read_bytes() == marked

    before = read_plan(plan_file)
    relaxed = kapplan("reschedule", plan_file, "--allow-deviations", now=now)
    assert relaxed.exit_code == 0, relaxed.output
    assert "deviation: medicine-3: gap 23d where the protocol allows 5d..14d (9d late)" in relaxed.stderr
    after = read_plan(plan_file)
    assert after.deviations == [
        Deviation(key="medicine-3", rule="gap", allowed="5d..14d", actual="23d", lateness_min=12960)
    ]
    assert times(after) == ORIGINAL | {
        "medicine-3": "2027-01-06 09:00",
        "medicine-3.integration": "2027-01-07 09:00",
        "medicine-4": "2027-01-11 09:00",
        "medicine-4.integration": "2027-01-12 09:00",
    }
    assert check_replan(before, after, now, date(2027, 1, 5), relaxed=True) == []
    assert after.history[-1].command == "reschedule --allow-deviations"
    status = kapplan("status", plan_file, now=now)
    assert "Planned deviations:" in status.stdout
    assert "medicine-3: gap 23d" in status.stdout


def test_illness_week_blocked_with_unavailable(plan_file):
    now = "2026-12-16T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2, "done", now)
    before = read_plan(plan_file)
    result = kapplan("reschedule", plan_file, "--unavailable", "2026-12-21..2026-12-27", now=now)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "medicine-3: Mon 2026-12-21 09:00 -> Mon 2026-12-28 09:00 (client unavailable 2026-12-21..2026-12-27)"
    )
    assert result.stdout.splitlines()[2] == (
        "medicine-4: Mon 2026-12-28 09:00 -> Mon 2027-01-04 09:00 "
        "(client unavailable 2026-12-21..2026-12-27; medicine-4 must follow medicine-3 by 5d..14d)"
    )
    after = read_plan(plan_file)
    moved = {
        "medicine-3": "2026-12-28 09:00",
        "medicine-3.integration": "2026-12-29 09:00",
        "medicine-4": "2027-01-04 09:00",
        "medicine-4.integration": "2027-01-05 09:00",
    }
    assert times(after) == ORIGINAL | moved
    assert after.client["unavailable"] == ["2026-12-21..2026-12-27"]
    assert check_replan(before, after, now, date(2026, 12, 16)) == []
    old, new = events(before), events(after)
    assert {k for k in new if new[k][1] != old[k][1]} == moved.keys()
    assert {k: v[1] for k, v in new.items()} == {k: int(k in moved) for k in ORIGINAL}

    again = kapplan("reschedule", plan_file, "--unavailable", "2026-12-21..2026-12-27", now=now)
    assert again.exit_code == 0
    assert "no changes" in again.stderr
    assert read_plan(plan_file).sessions == after.sessions


def test_done_late_shifts_what_follows(plan_file):
    now = "2026-12-18T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2[:4], "done", now)
    kapplan("mark", plan_file, "medicine-2", "done", "--at", "2026-12-18 10:00", now=now)
    mark_all(plan_file, ["medicine-2.integration"], "cancelled", now)
    before = read_plan(plan_file)
    result = kapplan("reschedule", plan_file, "--from", "2026-12-19", now=now)
    assert result.exit_code == 0, result.output
    after = read_plan(plan_file)
    # medicine-3 keeps the time medicine-2 actually started (SPEC §12); the dates are the
    # earliest-times pass's, as before the time-of-day pass.
    assert times(after) == ORIGINAL | {
        "medicine-2": "2026-12-18 10:00",
        "medicine-2.integration": "2026-12-21 09:00",
        "medicine-3": "2026-12-23 10:00",
        "medicine-3.integration": "2026-12-24 09:00",
        "medicine-4": "2026-12-28 10:00",  # same date, the series' new time of day
    }
    assert (
        "medicine-3: Mon 2026-12-21 09:00 -> Wed 2026-12-23 10:00 "
        "(medicine-2 took place on 2026-12-18, not as planned; medicine-3 must follow medicine-2 by 5d..14d)"
    ) in result.stdout.splitlines()
    # medicine-2 moved when marked done late, its integration was cancelled (1) and re-planned (2)
    assert column(after, "sequence") == dict.fromkeys(ORIGINAL, 0) | {
        "medicine-2": 1,
        "medicine-2.integration": 2,
        "medicine-3": 1,
        "medicine-3.integration": 1,
        "medicine-4": 1,
    }
    assert check_replan(before, after, now, date(2026, 12, 19)) == []
    assert events(after)["medicine-2"] == ("2026-12-18 10:00", 1, "CONFIRMED")


def test_done_early_is_a_deviation_and_pulls_the_rest_forward(plan_file):
    now = "2026-12-11T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2[:4], "done", now)
    kapplan("mark", plan_file, "medicine-2", "done", "--at", "2026-12-11 09:00", now=now)
    before = read_plan(plan_file)
    result = kapplan("reschedule", plan_file, now=now)
    assert result.exit_code == 0, result.output
    after = read_plan(plan_file)
    assert times(after) == ORIGINAL | {
        "medicine-2": "2026-12-11 09:00",
        "medicine-2.integration": "2026-12-14 09:00",
        "medicine-3": "2026-12-16 09:00",
        "medicine-3.integration": "2026-12-17 09:00",
        "medicine-4": "2026-12-21 09:00",
        "medicine-4.integration": "2026-12-22 09:00",
    }
    assert after.deviations == [
        Deviation(key="medicine-2", rule="gap", allowed="5d..14d", actual="2d", lateness_min=-4320)
    ]
    assert "deviation: medicine-2: gap 2d where the protocol allows 5d..14d (3d early)" in result.stderr
    assert check_replan(before, after, now, date(2026, 12, 11)) == []


def test_from_date_keeps_the_planned_sessions_before_it(plan_file):
    now = "2026-12-16T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2, "done", now)
    before = read_plan(plan_file)
    result = kapplan("reschedule", plan_file, "--from", "2026-12-22", "--unavailable", "2026-12-28", now=now)
    assert result.exit_code == 0, result.output
    after = read_plan(plan_file)
    assert times(after) == ORIGINAL | {"medicine-4": "2026-12-29 09:00", "medicine-4.integration": "2026-12-30 09:00"}
    assert after.history[-1].command == "reschedule --from 2026-12-22 --unavailable 2026-12-28"
    assert check_replan(before, after, now, date(2026, 12, 22)) == []


def test_reschedule_after_the_last_session_has_nothing_to_do(plan_file):
    now = "2027-01-04T12:00:00-05:00"
    mark_all(plan_file, list(ORIGINAL), "done", now)
    marked = plan_file.read_bytes()
    plan_file.with_name("plan.json.bak").unlink()
    result = kapplan("reschedule", plan_file, now=now)
    assert result.exit_code == 0, result.output
    assert "nothing to re-plan: every session is done" in result.stderr
    assert result.stdout == ""
    assert plan_file.read_bytes() == marked
    assert not plan_file.with_name("plan.json.bak").exists()


def test_refuses_while_a_past_session_is_unmarked(plan_file, base_plan):
    now = "2026-12-15T15:00:00-05:00"
    mark_all(plan_file, ["intake-1", "preparation-1", "medicine-1", "medicine-1.integration"], "done", now)
    marked = plan_file.read_bytes()
    result = kapplan("reschedule", plan_file, "--from", "2026-12-20", now=now)
    assert result.exit_code == 1
    assert (
        "2 session(s) started before now but are not marked: medicine-2 (Mon 2026-12-14 09:00), "
        "medicine-2.integration (Tue 2026-12-15 09:00)"
    ) in " ".join(result.stderr.split())
    assert plan_file.read_bytes() == marked


def test_dry_run_shows_the_changes_and_writes_nothing(plan_file):
    now = "2026-12-21T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2, "done", now)
    mark_all(plan_file, ["medicine-3"], "missed", now)
    marked = plan_file.read_bytes()
    backup = plan_file.with_name("plan.json.bak").read_bytes()
    result = kapplan("reschedule", plan_file, "--dry-run", now=now)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("medicine-3: Mon 2026-12-21 09:00 -> Tue 2026-12-22 09:00")
    assert "dry run: the plan file was not changed" in result.stderr
    assert plan_file.read_bytes() == marked
    assert plan_file.with_name("plan.json.bak").read_bytes() == backup


def test_reschedule_keeps_a_backup_of_the_previous_plan(plan_file):
    now = "2026-12-21T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2, "done", now)
    mark_all(plan_file, ["medicine-3"], "missed", now)
    marked = plan_file.read_bytes()
    result = kapplan("reschedule", plan_file, now=now)
    assert result.exit_code == 0
    assert plan_file.with_name("plan.json.bak").read_bytes() == marked
    assert read_plan(plan_file).series == read_plan(plan_file.with_name("plan.json.bak")).series
    assert "previous plan is in plan.json.bak" in result.stderr


def test_a_new_weight_recomputes_future_doses_only(plan_file):
    now = "2026-12-16T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2, "done", now)
    before = read_plan(plan_file)
    result = kapplan("reschedule", plan_file, "--weight", "80 kg", now=now)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "medicine-3: Mon 2026-12-21 09:00 (time unchanged) (planned dose recomputed: 35 mg -> 40 mg)",
        "medicine-4: Mon 2026-12-28 09:00 (time unchanged) (planned dose recomputed: 35 mg -> 40 mg)",
    ]
    after = read_plan(plan_file)
    assert times(after) == ORIGINAL
    doses = {s.key: s.dose.amount_mg for s in after.sessions if s.dose is not None}
    assert doses == {"medicine-1": 35.0, "medicine-2": 35.0, "medicine-3": 40.0, "medicine-4": 40.0}
    assert column(after, "sequence") == dict.fromkeys(ORIGINAL, 0) | {"medicine-3": 1, "medicine-4": 1}
    assert after.client["weight_kg"] == 80.0
    assert after.history[-1].changes[0].from_ == {"planned_dose": "35 mg"}
    assert check_replan(before, after, now, date(2026, 12, 16)) == []


def test_the_end_of_a_session_marked_across_a_dst_change_is_elapsed_time(plan_file):
    result = kapplan("mark", plan_file, "medicine-1", "done", "--at", "2026-11-01 00:30", now="2026-12-08T12:00:00Z")
    assert result.exit_code == 0, result.output
    medicine = read_plan(plan_file).session("medicine-1")
    assert medicine is not None
    assert (medicine.start.isoformat(), medicine.end.isoformat()) == (
        "2026-11-01T00:30:00-04:00",
        "2026-11-01T02:30:00-05:00",
    )


def test_a_session_the_protocol_no_longer_places_is_cancelled(plan_file):
    now = "2026-12-16T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2, "done", now)
    data = json.loads(plan_file.read_text())
    extra = dict(data["sessions"][-2], key="medicine-5", index=5)
    extra["start"], extra["end"] = "2027-01-04T09:00:00-05:00", "2027-01-04T12:00:00-05:00"
    data["sessions"].append(extra)
    plan_file.write_text(json.dumps(data))
    before = read_plan(plan_file)
    result = kapplan("reschedule", plan_file, now=now)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "medicine-5: Mon 2027-01-04 09:00 (time unchanged), planned -> cancelled "
        "(no longer part of the protocol's plan)"
    ]
    after = read_plan(plan_file)
    assert column(after, "status")["medicine-5"] == "cancelled"
    old, new = events(before), events(after)
    assert old["medicine-5"] == ("2027-01-04 09:00", 0, "CONFIRMED")
    assert new["medicine-5"] == ("2027-01-04 09:00", 1, "CANCELLED")
    assert {k: v for k, v in new.items() if k != "medicine-5"} == {k: v for k, v in old.items() if k != "medicine-5"}


def test_doses_closer_than_the_minimum_interval_are_reported(plan_file):
    now = "2026-12-10T12:00:00-05:00"
    mark_all(plan_file, ["intake-1", "preparation-1", "medicine-1"], "done", now)
    marked = kapplan("mark", plan_file, "medicine-2", "done", "--at", "2026-12-10 08:00", now=now)
    assert marked.exit_code == 0
    breach = "medicine-1 and medicine-2 took place 23h apart; the protocol's minimum dosing interval is 48h"
    assert f"deviation: {breach}" in marked.stderr
    assert "deviation: medicine-2: gap 1d where the protocol allows 5d..14d (4d early)" in marked.stderr
    status = kapplan("status", plan_file, now=now)
    assert breach in " ".join(status.stdout.split())


def test_the_re_plan_day_starts_at_its_first_instant_even_when_midnight_is_skipped():
    santiago = ZoneInfo("America/Santiago")
    assert local_midnight(date(2024, 9, 8), santiago).isoformat() == "2024-09-08T01:00:00-03:00"
    assert local_midnight(date(2026, 12, 8), NEW_YORK).isoformat() == "2026-12-08T00:00:00-05:00"


def test_a_clinic_closure_moves_in_person_sessions_and_is_kept_in_the_plan(plan_file):
    now = "2026-12-16T15:00:00-05:00"
    mark_all(plan_file, THROUGH_MEDICINE_2, "done", now)
    before = read_plan(plan_file)
    result = kapplan("reschedule", plan_file, "--clinic", DATA / "clinic_closed_2026-12-21_to_23.yaml", now=now)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0] == (
        "medicine-3: Mon 2026-12-21 09:00 -> Thu 2026-12-24 09:00 (clinic closed 2026-12-21..2026-12-23)"
    )
    after = read_plan(plan_file)
    assert after.clinic is not None
    assert after.clinic["closed"] == ["2026-12-21..2026-12-23"]
    assert times(after) == ORIGINAL | {
        "medicine-3": "2026-12-24 09:00",
        "medicine-3.integration": "2026-12-25 09:00",
        "medicine-4": "2026-12-29 09:00",
        "medicine-4.integration": "2026-12-30 09:00",
    }
    assert check_replan(before, after, now, date(2026, 12, 16)) == []
