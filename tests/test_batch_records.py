"""`batch` over an output folder that already holds plans (SPEC §14): every
record keeps its series (calendar UIDs) and history, is re-planned only when
its inputs changed, and is reported as new, kept or replanned.

Real files through the command line; calendars read back with icalendar.
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
HEADER = "id,protocol,start,timezone,weight,availability\n"
GOOD = {
    "C-1": "C-1,iv-ketamine-trd,2026-12-07,America/New_York,70 kg,Mon-Fri 09:00-17:00\n",
    "C-2": "C-2,iv-ketamine-trd,2026-12-07,Europe/London,80 kg,Mon-Fri 09:00-17:00\n",
}
BAD_ZONE = "C-3,iv-ketamine-trd,2026-12-07,America/NewYork,65 kg,Mon-Fri 09:00-17:00\n"
FIXED = BAD_ZONE.replace("America/NewYork", "America/New_York")


def kapplan(*args: object, now: str):
    stamp = str(int(datetime.fromisoformat(now).timestamp()))
    return runner.invoke(app, [str(a) for a in args], env={"SOURCE_DATE_EPOCH": stamp})


def batch(roster: Path, out: Path, rows: list[str], now: str):
    roster.write_text(HEADER + "".join(rows))
    return kapplan("batch", roster, "--out", out, "--report", "json", now=now)


def outcomes(result) -> dict[str, str | None]:
    return {r["id"]: r["outcome"] for r in json.loads(result.stdout)["records"]}


def calendar_uids(path: Path) -> dict[str, int]:
    calendar = icalendar.Calendar.from_ical(path.read_bytes())
    return {str(e["UID"]): int(e["SEQUENCE"]) for e in calendar.walk("VEVENT")}


def snapshot(out: Path, ident: str) -> tuple[bytes, bytes]:
    return (out / f"{ident}.plan.json").read_bytes(), (out / f"{ident}.ics").read_bytes()


def test_rerun_after_fixing_a_bad_row_keeps_every_good_record_byte_for_byte(tmp_path):
    roster, out = tmp_path / "roster.csv", tmp_path / "out"
    first = batch(roster, out, [GOOD["C-1"], BAD_ZONE, GOOD["C-2"]], now="2026-12-01T09:00:00-05:00")
    assert first.exit_code == 4
    assert outcomes(first) == {"C-1": "new", "C-3": None, "C-2": "new"}
    cancelled = kapplan("mark", out / "C-2.plan.json", "screening-1", "cancelled", now="2026-12-02T09:00:00-05:00")
    assert cancelled.exit_code == 0, cancelled.output
    before = {ident: snapshot(out, ident) for ident in GOOD}

    second = batch(roster, out, [GOOD["C-1"], FIXED, GOOD["C-2"]], now="2026-12-03T09:00:00-05:00")
    assert second.exit_code == 0, second.output
    assert outcomes(second) == {"C-1": "kept", "C-3": "new", "C-2": "kept"}
    assert json.loads(second.stdout)["totals"] == {
        "records": 3, "ok": 3, "failed": 0, "new": 1, "kept": 2, "replanned": 0, "with_safety_notes": 3}
    for ident in GOOD:
        plan_bytes, calendar = snapshot(out, ident)
        assert plan_bytes == before[ident][0]  # the plan, history included, byte for byte
        assert calendar_uids_of(calendar).keys() == calendar_uids_of(before[ident][1]).keys()
    assert snapshot(out, "C-1")[1] == before["C-1"][1]  # nothing happened to C-1: the same calendar bytes
    history = Plan.model_validate_json(before["C-2"][0]).history
    assert [h.command for h in history] == ["mark screening-1 cancelled"]
    # C-2's calendar now carries the cancellation the mark recorded (same UID, higher SEQUENCE)
    events = {str(e["UID"]): e for e in icalendar.Calendar.from_ical(snapshot(out, "C-2")[1]).walk("VEVENT")}
    assert sorted(str(e["STATUS"]) for e in events.values()).count("CANCELLED") == 1


def calendar_uids_of(data: bytes) -> dict[str, int]:
    return {str(e["UID"]): int(e["SEQUENCE"]) for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}


def test_changed_inputs_replan_in_the_same_series_with_a_backup(tmp_path):
    roster, out = tmp_path / "roster.csv", tmp_path / "out"
    assert batch(roster, out, [GOOD["C-1"]], now="2026-12-01T09:00:00-05:00").exit_code == 0
    plan_before, calendar_before = snapshot(out, "C-1")
    heavier = GOOD["C-1"].replace("70 kg", "90 kg")
    again = batch(roster, out, [heavier], now="2026-12-02T09:00:00-05:00")
    assert again.exit_code == 0, again.output
    assert outcomes(again) == {"C-1": "replanned"}
    assert (out / "C-1.plan.json.bak").read_bytes() == plan_before
    old, new = Plan.model_validate_json(plan_before), Plan.model_validate_json(snapshot(out, "C-1")[0])
    assert new.series == old.series
    assert new.client["weight_kg"] == 90
    uids_before, uids_after = calendar_uids_of(calendar_before), calendar_uids(out / "C-1.ics")
    assert set(uids_after) == set(uids_before)  # the same events, updated in place
    dosing = {s.key for s in new.sessions if s.dose is not None}
    for session in new.sessions:
        previous = old.session(session.key)
        assert previous is not None
        assert session.sequence == previous.sequence + (session.key in dosing)  # the dose changed, not the time
    third = batch(roster, out, [heavier], now="2026-12-03T09:00:00-05:00")
    assert outcomes(third) == {"C-1": "kept"}  # the re-planned record is now the record


def test_a_record_with_history_replans_only_what_remains_and_keeps_its_history(tmp_path):
    roster, out = tmp_path / "roster.csv", tmp_path / "out"
    assert batch(roster, out, [GOOD["C-1"]], now="2026-12-01T09:00:00-05:00").exit_code == 0
    plan_path = out / "C-1.plan.json"
    for key, status in (("screening-1", "done"), ("infusion-1", "missed")):
        assert kapplan("mark", plan_path, key, status, now="2026-12-08T18:00:00-05:00").exit_code == 0
    marked = Plan.model_validate_json(plan_path.read_bytes())
    later = GOOD["C-1"].replace("Mon-Fri 09:00-17:00", "Mon-Fri 13:00-17:00")
    result = batch(roster, out, [later], now="2026-12-08T18:00:00-05:00")
    assert result.exit_code == 0, result.output
    assert outcomes(result) == {"C-1": "replanned"}
    new = Plan.model_validate_json(plan_path.read_bytes())
    assert new.series == marked.series
    assert new.history[: len(marked.history)] == marked.history
    assert new.history[-1].command.startswith("batch:")
    done = new.session("screening-1")
    assert done is not None
    assert (done.status, done.start) == ("done", marked.session("screening-1").start)
    for session in new.sessions:
        if session.status == "planned":
            assert session.start.hour >= 13
    assert Plan.model_validate_json((out / "C-1.plan.json.bak").read_bytes()) == marked


def test_a_replan_that_cannot_be_made_leaves_the_record_untouched(tmp_path):
    roster, out = tmp_path / "roster.csv", tmp_path / "out"
    assert batch(roster, out, [GOOD["C-1"]], now="2026-12-01T09:00:00-05:00").exit_code == 0
    plan_path = out / "C-1.plan.json"
    assert kapplan("mark", plan_path, "screening-1", "done", now="2026-12-08T18:00:00-05:00").exit_code == 0
    before = snapshot(out, "C-1")
    changed = GOOD["C-1"].replace("70 kg", "75 kg")
    result = batch(roster, out, [changed], now="2026-12-08T18:00:00-05:00")  # infusion-1 started, not marked
    assert result.exit_code == 4
    (record,) = json.loads(result.stdout)["records"]
    assert record["status"] == "failed"
    assert "not marked" in record["error"]
    assert snapshot(out, "C-1") == before
