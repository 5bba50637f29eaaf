"""SPEC §13 after the plan is made: tasks in calendars and in `mark`/`status`,
tentative sessions behind a gate, and `kapplan decide`.

The gated series (tests/data/protocol_journey_gated_follow_up.yaml) for a
client in New York from Monday 2026-12-07, Mon-Fri 09:00-17:00:

    intake-1 Mon 12-07 09:00, preparation-1/2 Tue 12-08 / Wed 12-09,
    medicine-1 Thu 12-10 (+ integration Fri 12-11), medicine-2 Thu 12-24,
    follow-up-1 Wed 2027-01-06 09:00-09:30 (the gate), medicine-3 Wed 01-06 09:30 ...

The branching series (tests/data/protocol_response_review_branches.yaml) from
Monday 2026-10-19: induction 10-22, 10-26, 10-29, 11-02, review Wed 11-04.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
import vobject
from plan_checker import expected_keys, violations
from typer.testing import CliRunner

from kapplan import api
from kapplan.cli import app
from kapplan.engine import Placement
from kapplan.models.errors import InputError, UsageError
from kapplan.planning.build import build_request
from kapplan.planning.embedded import client_of, protocol_of

DATA = Path(__file__).parent / "data"
GATED = DATA / "protocol_journey_gated_follow_up.yaml"
BRANCHES = DATA / "protocol_response_review_branches.yaml"
NEW_YORK = ZoneInfo("America/New_York")
runner = CliRunner()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


def cli(*args: object, now: datetime) -> object:
    return runner.invoke(app, [str(a) for a in args], env={"SOURCE_DATE_EPOCH": epoch(now)})


def _client(start: str, unavailable: tuple[str, ...] = ()) -> api.Client:  # type: ignore[name-defined]
    return api.client_from(changes=api.ClientChanges(
        id="C-9", start=start, tz="America/New_York", weight="72 kg", available=["Mon-Fri 09:00-17:00"],
        unavailable=list(unavailable)))


def _local(plan: object, key: str) -> str:
    session = plan.session(key)  # type: ignore[attr-defined]
    assert session is not None, key
    return session.start.astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M")


@pytest.fixture
def gated(tmp_path: Path) -> Path:
    path = tmp_path / "gated.json"
    api.write_plan(api.make_plan(GATED, _client("2026-12-07"), now=at("2026-12-01 12:00")), path)
    return path


@pytest.fixture
def branching(tmp_path: Path) -> Path:
    path = tmp_path / "review.json"
    plan = api.make_plan(BRANCHES, _client("2026-10-19"), now=at("2026-10-01 12:00"))
    api.write_plan(plan, path)
    return path


def _mark_all_before(path: Path, moment: datetime) -> None:
    """Every session that starts before ``moment`` marked done as planned."""
    for session in api.read_plan(path).sessions:
        if session.start < moment and session.status in ("planned", "tentative"):
            api.mark_file(path, session.key, "done", now=moment)


def _checked(plan: object) -> list[str]:
    """Every rule of the plan's path, with the sessions that took place fixed."""
    protocol = protocol_of(plan)  # type: ignore[arg-type]
    fixed = {s.key: (s.start, s.end) for s in plan.sessions if s.status == "done"}  # type: ignore[attr-defined]
    request = build_request(protocol, client_of(plan), None, fixed=fixed)  # type: ignore[arg-type]
    order = {key: n for n, (key, *_) in enumerate(expected_keys(protocol))}
    live = [s for s in plan.sessions if s.status != "cancelled"]  # type: ignore[attr-defined]
    ordered = sorted(live, key=lambda s: order.get(s.key, len(order)))
    return violations(protocol, request, [Placement(s.key, s.step, s.session, s.index, s.count, s.follows,
                                                    s.start.astimezone(NEW_YORK), s.end.astimezone(NEW_YORK))
                                          for s in ordered])


# --------------------------------------------------------------------------- tasks in calendars


def test_vtodos_parse_in_icalendar_and_vobject_with_date_only_due_dates(branching: Path) -> None:
    plan = api.read_plan(branching)
    data = api.calendar(plan, privacy="standard")
    todos = icalendar.Calendar.from_ical(data).walk("VTODO")
    assert [(str(t["uid"]), t.decoded("due"), str(t["summary"])) for t in todos] == [
        (str(uuid.uuid5(uuid.UUID(plan.series), "task:phq9-1")), date(2026, 10, 22), "Questionnaire"),
        (str(uuid.uuid5(uuid.UUID(plan.series), "task:phq9-2")), date(2026, 10, 29), "Questionnaire"),
        (str(uuid.uuid5(uuid.UUID(plan.series), "task:madrs-1")), date(2026, 11, 4), "Questionnaire"),
    ]
    assert all("dtstart" not in t for t in todos)
    assert b"DUE;VALUE=DATE:20261022\r\n" in data
    parsed = vobject.readOne(data.decode("utf-8"))
    assert [(t.due.value, t.status.value) for t in parsed.vtodo_list] == [
        (date(2026, 10, 22), "NEEDS-ACTION"), (date(2026, 10, 29), "NEEDS-ACTION"), (date(2026, 11, 4), "NEEDS-ACTION")
    ]


@pytest.mark.parametrize(("privacy", "summary"), [("minimal", "Task"), ("standard", "Questionnaire"),
                                                   ("full", "PHQ-9")])
def test_task_summaries_follow_the_privacy_level(branching: Path, privacy: str, summary: str) -> None:
    data = api.calendar(api.read_plan(branching), privacy=privacy)  # type: ignore[arg-type]
    first = icalendar.Calendar.from_ical(data).walk("VTODO")[0]
    assert str(first["summary"]) == summary
    if privacy != "full":
        assert b"PHQ" not in data
        assert b"MADRS" not in data


def test_calendars_with_tasks_follow_the_method_rule(branching: Path) -> None:
    """METHOD:PUBLISH only when every component has an ORGANIZER, and never with
    tasks: RFC 5546 wants DTSTART on a published VTODO, which SPEC §13 leaves out."""
    plan = api.read_plan(branching)
    assert plan.tasks
    plain = icalendar.Calendar.from_ical(api.calendar(plan, privacy="full"))
    assert "method" not in plain
    with_organizer = plan.model_copy(update={"client": {**plan.client, "therapist": {
        "name": "Dr. Kim", "email": "kim@clinic.example"}}})
    calendar = icalendar.Calendar.from_ical(api.calendar(with_organizer, privacy="full"))
    assert "method" not in calendar
    components = calendar.walk("VEVENT") + calendar.walk("VTODO")
    assert calendar.walk("VTODO")
    assert all("organizer" in c for c in components)
    without_tasks = with_organizer.model_copy(update={"tasks": []})
    published = icalendar.Calendar.from_ical(api.calendar(without_tasks, privacy="full"))
    assert str(published["method"]) == "PUBLISH"


def test_tentative_sessions_export_as_tentative_with_conditional_alarms(gated: Path) -> None:
    data = api.calendar(api.read_plan(gated))
    events = {str(e["uid"]): e for e in icalendar.Calendar.from_ical(data).walk("VEVENT")}
    series = api.read_plan(gated).series
    medicine_3 = events[str(uuid.uuid5(uuid.UUID(series), "medicine-3"))]
    medicine_2 = events[str(uuid.uuid5(uuid.UUID(series), "medicine-2"))]
    assert str(medicine_3["status"]) == "TENTATIVE"
    assert str(medicine_2["status"]) == "CONFIRMED"
    assert [str(a["description"]).startswith("If confirmed: ") for a in medicine_3.walk("VALARM")] == [True]
    assert [str(a["description"]).startswith("If confirmed: ") for a in medicine_2.walk("VALARM")] == [False]
    vevents = vobject.readOne(data.decode("utf-8")).vevent_list
    assert sum(e.status.value == "TENTATIVE" for e in vevents) == 8


# --------------------------------------------------------------------------- mark and status on tasks


def test_tasks_are_marked_done_or_skipped_and_status_shows_due_and_overdue(branching: Path) -> None:
    now = at("2026-10-28 12:00")
    report = api.status(api.read_plan(branching), now=now)
    assert ([t.key for t in report.overdue], [t.key for t in report.due]) == (["phq9-1"], ["phq9-2"])
    outcome = api.mark_file(branching, "phq9-1", "done", now=now)
    assert outcome.message == "phq9-1: due -> done"
    api.mark_file(branching, "phq9-2", "skipped", now=now)
    plan = api.read_plan(branching)
    assert [(t.key, t.status, t.sequence) for t in plan.tasks][:2] == [("phq9-1", "done", 1), ("phq9-2", "skipped", 1)]
    assert plan.history[-1].command == "mark phq9-2 skipped"
    todos = icalendar.Calendar.from_ical(api.calendar(plan)).walk("VTODO")
    assert [str(t["status"]) for t in todos] == ["COMPLETED", "CANCELLED", "NEEDS-ACTION"]
    result = cli("status", branching, now=now)
    assert "Tasks due now" not in result.output  # type: ignore[attr-defined]
    assert "Open decision induction-review-1" in result.output  # type: ignore[attr-defined]


def test_a_task_takes_only_done_or_skipped_and_a_session_never_skipped(branching: Path) -> None:
    now = at("2026-10-30 12:00")
    with pytest.raises(UsageError, match="phq9-1 is a task"):
        api.mark_file(branching, "phq9-1", "missed", now=now)
    with pytest.raises(UsageError, match="'skipped' is for tasks"):
        api.mark_file(branching, "prep-1", "skipped", now=now)
    result = cli("mark", branching, "phq9-1", "missed", now=now)
    assert result.exit_code == 2  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- gates


def test_a_tentative_session_cannot_be_marked_done_before_its_gate(gated: Path) -> None:
    later = at("2027-01-20 12:00")
    result = cli("mark", gated, "medicine-3", "done", now=later)
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "medicine-3 is tentative: it waits for follow-up-1" in result.stderr  # type: ignore[attr-defined]
    assert api.read_plan(gated).session("medicine-3").status == "tentative"  # type: ignore[union-attr]


def test_marking_the_gate_done_confirms_the_sessions_after_it(gated: Path) -> None:
    gate_day = at("2027-01-06 12:00")
    _mark_all_before(gated, at("2027-01-06 09:00"))
    before = api.read_plan(gated)
    assert (_local(before, "follow-up-1"), _local(before, "medicine-3")) == ("2027-01-06 09:00", "2027-01-07 09:00")
    result = cli("mark", gated, "follow-up-1", "done", now=gate_day)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    assert "8 tentative session(s) confirmed now that follow-up-1 is done" in result.stderr  # type: ignore
    assert "export it again" in result.stderr  # type: ignore[attr-defined]
    plan = api.read_plan(gated)
    assert {s.status for s in plan.sessions} == {"done", "planned"}
    assert plan.session("medicine-3").sequence == 1  # type: ignore[union-attr]
    assert _local(plan, "medicine-3") == "2027-01-07 09:00"
    assert any(c.key == "medicine-3" and c.reason == "its gate is done" for c in plan.history[-1].changes)


def test_a_gate_done_later_than_planned_re_plans_what_would_come_before_it(tmp_path: Path) -> None:
    """The issue's repro client: follow-up-1 Thu 01-07 09:00-09:30, medicine-3 at 09:30. The
    follow-up actually starts at 09:15, so medicine-3 would start before it ends."""
    gated = tmp_path / "repro.json"
    client = _client("2026-12-07", unavailable=("2027-01-04..2027-01-06",))
    api.write_plan(api.make_plan(GATED, client, now=at("2026-12-01 12:00")), gated)
    assert _local(api.read_plan(gated), "medicine-3") == "2027-01-07 09:30"
    _mark_all_before(gated, at("2027-01-07 09:00"))
    outcome = api.mark_file(gated, "follow-up-1", "done", at="2027-01-07 09:15", now=at("2027-01-07 09:20"))
    assert "medicine-3 would now come before it" in outcome.message
    plan = api.read_plan(gated)
    gate, medicine_3 = plan.session("follow-up-1"), plan.session("medicine-3")
    assert gate is not None
    assert medicine_3 is not None
    assert medicine_3.start >= gate.end
    assert medicine_3.status == "planned"
    assert _checked(plan) == []


def test_a_gate_holds_under_reschedule_after_the_gate_session_is_missed(gated: Path) -> None:
    _mark_all_before(gated, at("2027-01-06 09:00"))
    now = at("2027-01-06 12:00")
    api.mark_file(gated, "follow-up-1", "missed", now=now)
    api.reschedule_file(gated, now=now)
    plan = api.read_plan(gated)
    gate = plan.session("follow-up-1")
    assert gate is not None
    assert gate.status == "planned"
    assert _local(plan, "follow-up-1") == "2027-01-06 12:00"
    for n in range(3, 7):
        session = plan.session(f"medicine-{n}")
        assert session is not None
        assert session.start >= gate.end
        assert session.status == "tentative"
    assert _checked(plan) == []


# --------------------------------------------------------------------------- decide


def test_deciding_before_the_decision_session_is_done_is_refused(branching: Path) -> None:
    result = cli("decide", branching, "induction-review-1", "weekly", now=at("2026-10-30 12:00"))
    assert result.exit_code == 1  # type: ignore[attr-defined]
    assert "induction-review-1 is planned: a decision is recorded after its session took place" in (
        result.stderr)  # type: ignore[attr-defined]
    with pytest.raises(InputError, match="'weekly-ish' is not an option"):
        api.decide_file(branching, "induction-review-1", "weekly-ish", now=at("2026-10-30 12:00"))
    with pytest.raises(InputError, match="no decision 'review-1'"):
        api.decide_file(branching, "review-1", "weekly", now=at("2026-10-30 12:00"))


def test_a_decision_keeps_every_uid_passes_the_checker_and_is_refused_twice(branching: Path) -> None:
    now = at("2026-11-04 13:00")
    _mark_all_before(branching, at("2026-11-04 12:00"))
    before = api.read_plan(branching)
    old_events = {str(e["uid"]) for e in icalendar.Calendar.from_ical(api.calendar(before)).walk("VEVENT")}
    result = cli("decide", branching, "induction-review-1", "every-2-weeks", now=now)
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    plan = api.read_plan(branching)
    assert Path(str(branching) + ".bak").read_bytes() != branching.read_bytes()
    assert plan.decisions[0].chosen == "every-2-weeks"
    assert plan.history[-1].command == "decide induction-review-1 every-2-weeks"
    new_events = {str(e["uid"]) for e in icalendar.Calendar.from_ical(api.calendar(plan)).walk("VEVENT")}
    assert old_events < new_events
    assert [(s.key, _local(plan, s.key)) for s in plan.sessions if s.status == "planned"] == [
        ("maintenance-biweekly-1", "2026-11-18 09:00"),
        ("maintenance-biweekly-1.integ", "2026-11-19 09:00"),
        ("maintenance-biweekly-2", "2026-12-02 09:00"),
        ("maintenance-biweekly-2.integ", "2026-12-03 09:00"),
        ("closing-1", "2026-12-10 09:00"),
    ]
    assert all(s.sequence == 0 for s in plan.sessions)
    assert _checked(plan) == []
    again = cli("decide", branching, "induction-review-1", "stop", now=now)
    assert again.exit_code == 1  # type: ignore[attr-defined]
    assert "already decided: 'every-2-weeks'" in again.stderr  # type: ignore[attr-defined]


def test_decide_dry_run_in_json_writes_nothing(branching: Path) -> None:
    _mark_all_before(branching, at("2026-11-04 12:00"))
    before = branching.read_bytes()
    result = cli("decide", branching, "induction-review-1", "stop", "--dry-run", "--format", "json",
                 now=at("2026-11-04 13:00"))
    assert result.exit_code == 0, result.output  # type: ignore[attr-defined]
    data = json.loads(result.stdout)  # type: ignore[attr-defined]
    assert (data["kind"], data["dry_run"], data["backup"]) == ("decide", True, None)
    assert data["decision"]["chosen"] == "stop"
    assert [(c["key"], c["before"], c["after"]["start"]) for c in data["changes"]] == [
        ("closing-1", None, "2026-11-11T09:00:00-05:00")]
    from jsonschema import validate

    validate(data, api.schema("decide"))
    assert branching.read_bytes() == before


def test_tasks_follow_the_decision(branching: Path) -> None:
    """Weekly PHQ-9 runs to the end of what is planned; after the choice, to the series end."""
    _mark_all_before(branching, at("2026-11-04 12:00"))
    api.mark_file(branching, "phq9-1", "done", now=at("2026-11-04 12:00"))
    api.decide_file(branching, "induction-review-1", "stop", now=at("2026-11-04 13:00"))
    plan = api.read_plan(branching)
    assert [(t.key, t.due, t.status) for t in plan.tasks] == [
        ("phq9-1", date(2026, 10, 22), "done"),
        ("phq9-2", date(2026, 10, 29), "due"),
        ("madrs-1", date(2026, 11, 4), "due"),
        ("phq9-3", date(2026, 11, 5), "due"),
    ]
    assert _local(plan, "closing-1") == "2026-11-11 09:00"


def test_the_api_decides_on_a_plan_in_memory(branching: Path) -> None:
    _mark_all_before(branching, at("2026-11-04 12:00"))
    plan = api.read_plan(branching)
    outcome = api.decide(plan, "induction-review-1", "weekly", now=datetime(2026, 11, 4, 18, tzinfo=UTC))
    assert outcome.decision.chosen == "weekly"
    assert outcome.plan.session("maintenance-weekly-3") is not None
    assert api.read_plan(branching).decisions[0].chosen is None  # nothing written
