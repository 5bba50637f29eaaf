"""Plans are records (SPEC §14): `plan -o` over an existing plan never loses a
mark or changes a calendar UID behind the user's back.

Every check goes through the command line on real files and reads the
calendars back with icalendar.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import icalendar
from typer.testing import CliRunner

from kapplan.cli import app
from kapplan.models.plan import Plan

runner = CliRunner()
PROTOCOL = "iv-ketamine-trd"
CLIENT = ["--id", "C-7", "--tz", "America/New_York", "--weight", "70 kg"]
BEFORE = "2026-11-30T10:00:00-05:00"


def kapplan(*args: object, now: str = BEFORE):
    """The CLI with the clock at ``now``."""
    stamp = str(int(datetime.fromisoformat(now).timestamp()))
    return runner.invoke(app, [str(a) for a in args], env={"SOURCE_DATE_EPOCH": stamp})


def plan_to(path: Path, *extra: object, start: str = "2026-12-07", now: str = BEFORE):
    return kapplan("plan", PROTOCOL, *CLIENT, "--start", start, "-o", path, *extra, now=now)


def read(path: Path) -> Plan:
    return Plan.model_validate_json(path.read_bytes())


def uids(path: Path) -> dict[str, tuple[str, int, str]]:
    """The calendar of a plan file, read back: UID -> (start, SEQUENCE, STATUS)."""
    result = kapplan("export", path)
    assert result.exit_code == 0, result.output
    calendar = icalendar.Calendar.from_ical(result.stdout_bytes)
    return {
        str(e["UID"]): (e.decoded("DTSTART").isoformat(), int(e["SEQUENCE"]), str(e["STATUS"]))
        for e in calendar.walk("VEVENT")
    }


def test_a_new_plan_file_has_no_backup(tmp_path):
    target = tmp_path / "plan.json"
    assert plan_to(target).exit_code == 0
    assert not (tmp_path / "plan.json.bak").exists()


def test_replan_keeps_the_series_bumps_changed_sessions_and_keeps_a_backup(tmp_path):
    target = tmp_path / "plan.json"
    assert plan_to(target).exit_code == 0
    first, first_bytes = read(target), target.read_bytes()
    calendar_before = uids(target)
    result = plan_to(target, start="2026-12-09")
    assert result.exit_code == 0, result.output
    assert "event UIDs kept" in result.stderr
    assert "plan.json.bak" in result.stderr
    assert (tmp_path / "plan.json.bak").read_bytes() == first_bytes
    second = read(target)
    assert second.series == first.series
    calendar_after = uids(target)
    assert set(calendar_after) == set(calendar_before)  # same events: every UID kept
    for uid, (start, sequence, _) in calendar_after.items():
        old_start, old_sequence, _ = calendar_before[uid]
        assert sequence == old_sequence + (start != old_start)


def test_replan_with_the_same_inputs_changes_no_sequence(tmp_path):
    target = tmp_path / "plan.json"
    assert plan_to(target).exit_code == 0
    before = uids(target)
    assert plan_to(target).exit_code == 0
    assert uids(target) == before


def test_sessions_that_vanish_are_kept_as_cancelled(tmp_path):
    target = tmp_path / "plan.json"
    assert kapplan("plan", "iv-ketamine-ptsd", *CLIENT, "--start", "2026-12-07", "-o", target).exit_code == 0
    longer = read(target)
    # The same protocol id with fewer sessions: a hand-shortened copy of the plan's own definition.
    shorter_protocol = tmp_path / "shorter.yaml"
    definition = dict(longer.protocol.definition)
    schedule = [dict(step) for step in definition["schedule"]]
    dosing = next(step for step in schedule if int(step.get("count", 1)) > 2)
    dosing["count"] = int(dosing["count"]) - 2
    definition["schedule"] = schedule
    shorter_protocol.write_text(json.dumps({"kind": "protocol", **definition}))
    result = kapplan("plan", shorter_protocol, *CLIENT, "--start", "2026-12-07", "-o", target)
    assert result.exit_code == 0, result.output
    assert "kept as cancelled" in result.stderr
    after = read(target)
    assert after.series == longer.series
    gone = {s.key for s in longer.sessions} - {s.key for s in after.sessions if s.status == "planned"}
    assert len(gone) == 2
    for key in gone:
        session, old = after.session(key), longer.session(key)
        assert session is not None
        assert old is not None
        assert (session.status, session.sequence, session.start) == ("cancelled", old.sequence + 1, old.start)
    statuses = {status for _, _, status in uids(target).values()}
    assert "CANCELLED" in statuses


def test_a_plan_with_history_is_refused_without_force(tmp_path):
    target = tmp_path / "plan.json"
    assert plan_to(target, start="2026-11-20", now="2026-11-18T10:00:00-05:00").exit_code == 0
    assert kapplan("mark", target, "screening-1", "done").exit_code == 0
    marked = target.read_bytes()
    (tmp_path / "plan.json.bak").unlink()
    refused = plan_to(target, start="2026-11-20")
    assert refused.exit_code == 1
    assert "holds history" in refused.stderr
    assert "--force" in refused.stderr
    assert target.read_bytes() == marked  # untouched
    assert not (tmp_path / "plan.json.bak").exists()

    forced = plan_to(target, "--force", start="2026-11-20")
    assert forced.exit_code == 0, forced.output
    assert (tmp_path / "plan.json.bak").read_bytes() == marked  # the marks survive in the backup
    assert read(target).series == Plan.model_validate_json(marked).series


def test_another_client_or_new_series_starts_a_new_series(tmp_path):
    target = tmp_path / "plan.json"
    assert plan_to(target).exit_code == 0
    first = read(target)
    # With SOURCE_DATE_EPOCH the series derives from client, protocol and time: move the clock.
    assert plan_to(target, "--new-series", now="2026-11-30T10:30:00-05:00").exit_code == 0
    renewed = read(target)
    assert renewed.series != first.series
    assert all(s.sequence == 0 for s in renewed.sessions)
    other = kapplan("plan", PROTOCOL, "--id", "C-8", "--tz", "America/New_York", "--weight", "70 kg",
                    "--start", "2026-12-07", "-o", target, now="2026-11-30T11:00:00-05:00")
    assert other.exit_code == 0, other.output
    assert "new calendar series" in other.stderr
    assert read(target).series not in (first.series, renewed.series)


def test_a_file_that_is_not_a_plan_is_kept_as_backup(tmp_path):
    target = tmp_path / "plan.json"
    target.write_text('{"notes": "mine"}')
    result = plan_to(target)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "plan.json.bak").read_text() == '{"notes": "mine"}'
    assert read(target).kind == "plan"
