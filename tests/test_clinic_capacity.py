"""Clinic capacity (SPEC §11): people and rooms shared by every plan made with a clinic.

Literal expected assignments for a small clinic (two therapists, a nurse
watching two dosing chairs, a prescriber needed for the first 30 minutes, one
dosing room and one office), the conflict check a ledger runs before it
commits, and the plan's booking records.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from kapplan import api
from kapplan.cli import app
from kapplan.ledger.bookings import plan_bookings
from kapplan.ledger.conflicts import conflicts
from kapplan.models.booking import Assignment, Booking
from kapplan.models.client import Clinic
from kapplan.models.plan import Plan

DATA = Path(__file__).parent / "data"
PROTOCOL = DATA / "protocol_staffed_prep_three_doses.yaml"
CLINIC = DATA / "clinic_two_therapists_one_dosing_room.yaml"
NOW = datetime(2026, 11, 18, 11, 0, tzinfo=UTC)
NY = "America/New_York"


def client(number: int) -> object:
    changes = api.ClientChanges(id=f"C-{number}", start="2026-12-07", tz=NY, weight="72 kg")
    return api.client_from(changes=changes)


def plan_for(number: int, bookings: list[Booking] | None = None, clinic: Clinic | None = None) -> Plan:
    site = clinic or api.load_clinic(CLINIC)
    return api.make_plan(api.load_protocol(PROTOCOL), client(number), site, now=NOW,  # type: ignore[arg-type]
                         reproducible=True, bookings=bookings or [])


def rows(plan: Plan) -> list[tuple[str, str, list[tuple[str, str, str | None]], str | None]]:
    out = []
    for s in plan.sessions:
        people = [(a.role, a.id, a.end.strftime("%H:%M") if a.end else None) for a in s.assigned or []]
        out.append((s.key, s.start.strftime("%Y-%m-%d %H:%M"), people, s.room))
    return out


DOSE_KIM = [("therapist", "kim", None), ("nurse", "ana", None), ("prescriber", "pat", "09:30")]
DOSE_LEE = [("therapist", "lee", None), ("nurse", "ana", None), ("prescriber", "pat", "11:30")]


def test_first_client_takes_the_first_therapist_in_file_order() -> None:
    assert rows(plan_for(1)) == [
        ("preparation-1", "2026-12-07 09:00", [("therapist", "kim", None)], "office"),
        ("medicine-1", "2026-12-08 09:00", DOSE_KIM, "dosing-room"),
        ("medicine-1.integration", "2026-12-09 09:00", [("therapist", "kim", None)], None),  # telehealth: no room
        ("medicine-2", "2026-12-10 09:00", DOSE_KIM, "dosing-room"),
        ("medicine-2.integration", "2026-12-11 09:00", [("therapist", "kim", None)], None),
        ("medicine-3", "2026-12-14 09:00", DOSE_KIM, "dosing-room"),
        ("medicine-3.integration", "2026-12-15 09:00", [("therapist", "kim", None)], None),
    ]


def test_second_client_works_around_the_first_one_s_bookings() -> None:
    """The office and the one dosing room are taken at 09:00, so the second
    client comes later the same days; kim holds seven bookings, lee none, and
    lee gives the same dates, so lee is this client's therapist throughout."""
    first = plan_for(1)
    second = plan_for(2, plan_bookings(first))
    assert rows(second) == [
        ("preparation-1", "2026-12-07 10:00", [("therapist", "lee", None)], "office"),
        ("medicine-1", "2026-12-08 11:00", DOSE_LEE, "dosing-room"),
        ("medicine-1.integration", "2026-12-09 09:00", [("therapist", "lee", None)], None),
        ("medicine-2", "2026-12-10 11:00", DOSE_LEE, "dosing-room"),
        ("medicine-2.integration", "2026-12-11 09:00", [("therapist", "lee", None)], None),
        ("medicine-3", "2026-12-14 11:00", DOSE_LEE, "dosing-room"),
        ("medicine-3.integration", "2026-12-15 09:00", [("therapist", "lee", None)], None),
    ]
    assert conflicts(api.load_clinic(CLINIC), plan_bookings(first), plan_bookings(second)) == []


def test_a_clinic_without_staff_or_rooms_plans_as_for_the_client_alone() -> None:
    plain = api.load_clinic(CLINIC).model_copy(update={"staff": [], "rooms": []})
    bare = Clinic.model_validate({"kind": "clinic", "id": "small", "timezone": NY, "hours": ["Mon-Fri 08:00-18:00"]})
    with_empty = plan_for(1, clinic=plain)
    without = plan_for(1, clinic=bare)
    assert [(s.key, s.start) for s in with_empty.sessions] == [(s.key, s.start) for s in without.sessions]
    assert all(s.assigned is None and s.room is None for s in without.sessions)
    assert "assigned" not in without.to_json()
    assert '"room"' not in without.to_json()
    assert "staff" not in json.loads(without.to_json())["clinic"]


def test_plan_bookings_hold_people_and_rooms_with_partial_ends() -> None:
    plan = plan_for(1)
    bookings = plan_bookings(plan)
    assert [b.key for b in bookings] == [s.key for s in plan.sessions]
    dose = bookings[1]
    assert dose.room == "dosing-room"
    assert dose.kind == "dosing"
    prescriber = dose.assigned[2]
    assert prescriber.person == "pat"
    assert dose.person_end(prescriber) == dose.start + timedelta(minutes=30)
    assert dose.person_end(dose.assigned[0]) == dose.end


# ---------------------------------------------------------------------------- the conflict check


def booking(series: str, key: str, start: str, minutes: int, people: list[tuple[str, str]], room: str | None = None,
            kind: str = "dosing", status: str = "planned") -> Booking:
    begin = datetime.fromisoformat(start)
    return Booking(series=series, client=series, key=key, kind=kind, start=begin,
                   end=begin + timedelta(minutes=minutes), assigned=tuple(Assignment(r, p) for r, p in people),
                   room=room, status=status)


T9 = "2026-12-08T09:00:00-05:00"
T10 = "2026-12-08T10:00:00-05:00"


def test_conflicts_name_a_person_booked_twice() -> None:
    clinic = api.load_clinic(CLINIC)
    old = [booking("a", "medicine-1", T9, 120, [("therapist", "kim")])]
    new = [booking("b", "medicine-1", T10, 120, [("therapist", "kim")])]
    found = conflicts(clinic, old, new)
    assert [(c.resource, c.id, c.at.isoformat(), c.bookings) for c in found] == [
        ("person", "kim", "2026-12-08T10:00:00-05:00", (("a", "medicine-1"), ("b", "medicine-1")))]


def test_conflicts_allow_concurrent_sessions_of_one_kind_up_to_the_limit() -> None:
    clinic = api.load_clinic(CLINIC)  # ana: concurrent {dosing: 2}
    two = [booking("a", "m", T9, 120, [("nurse", "ana")]), booking("b", "m", T9, 120, [("nurse", "ana")])]
    assert conflicts(clinic, two[:1], two[1:]) == []
    third = [booking("c", "m", T10, 60, [("nurse", "ana")])]
    assert [c.reason for c in conflicts(clinic, two, third)] == ["3 sessions at once, at most 2"]
    other_kind = [booking("d", "p", T10, 60, [("nurse", "ana")], kind="preparation")]
    assert [c.reason for c in conflicts(clinic, two[:1], other_kind)] == ["sessions of different kinds at once"]


def test_conflicts_count_rooms_daily_limits_and_ignore_freed_and_replaced_bookings() -> None:
    clinic = api.load_clinic(CLINIC).model_copy(update={"staff": [
        api.load_clinic(CLINIC).staff[0].model_copy(update={"max_per_day": 1})]})
    room = [booking("a", "m", T9, 120, [], room="dosing-room")]
    overlapping = [booking("b", "m", T10, 30, [], room="dosing-room")]
    assert [c.id for c in conflicts(clinic, room, overlapping)] == ["dosing-room"]
    assert conflicts(clinic, room, [booking("b", "m", "2026-12-08T11:00:00-05:00", 30, [], room="dosing-room")]) == []
    daily = [booking("a", "p", T9, 30, [("therapist", "kim")], kind="preparation")]
    later = [booking("b", "p", "2026-12-08T15:00:00-05:00", 30, [("therapist", "kim")], kind="preparation")]
    assert [c.reason for c in conflicts(clinic, daily, later)] == ["2 sessions on 2026-12-08, at most 1 a day"]
    missed = [booking("a", "p", T9, 30, [("therapist", "kim")], kind="preparation", status="missed")]
    assert conflicts(clinic, missed, later) == []
    same_series = [booking("b", "p", T9, 30, [("therapist", "kim")], kind="preparation")]
    assert conflicts(clinic, same_series, later) == []  # a re-plan replaces its own bookings


def test_conflicts_name_unknown_people_and_rooms() -> None:
    clinic = api.load_clinic(CLINIC)
    found = conflicts(clinic, [], [booking("a", "m", T9, 60, [("therapist", "nobody")], room="attic")])
    assert [(c.resource, c.id) for c in found] == [("person", "nobody"), ("room", "attic")]


# ---------------------------------------------------------------------------- the clinic file


def test_clinic_file_rejects_duplicate_ids_unknown_kinds_and_bad_pairs() -> None:
    base = {"kind": "clinic", "id": "x", "timezone": NY, "hours": ["Mon-Fri 08:00-18:00"]}
    bad = [
        {"staff": [{"id": "kim", "roles": ["therapist"]}, {"id": "KIM", "roles": ["nurse"]}]},
        {"staff": [{"id": "kim", "roles": ["therapist"], "concurrent": {"dosingg": 2}}]},
        {"staff": [{"id": "kim", "roles": []}]},
        {"rooms": [{"id": "a", "capacity": 0}]},
        {"combine": [["prescriber", "therapist", "nurse"]]},
    ]
    for extra in bad:
        with pytest.raises(ValidationError):
            Clinic.model_validate(base | extra)


def test_plan_cli_writes_assignments_and_rooms(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    result = CliRunner().invoke(app, ["plan", str(PROTOCOL), "--id", "C-1", "--start", "2026-12-07", "--tz", NY,
                                      "--weight", "72 kg", "--clinic", str(CLINIC), "-o", str(out)])
    assert result.exit_code == 0, result.output
    sessions = json.loads(out.read_text())["sessions"]
    assert sessions[1]["assigned"] == [
        {"role": "therapist", "id": "kim"}, {"role": "nurse", "id": "ana"},
        {"role": "prescriber", "id": "pat", "end": "2026-12-08T09:30:00-05:00"}]
    assert sessions[1]["room"] == "dosing-room"
    assert "room" not in sessions[2]


# ---------------------------------------------------------------------------- validate


def test_validate_locates_a_role_no_one_at_the_clinic_holds(tmp_path: Path) -> None:
    clinic = tmp_path / "clinic.yaml"
    clinic.write_text("kind: clinic\nid: tiny\ntimezone: America/New_York\nhours: [Mon-Fri 08:00-18:00]\n"
                      "staff:\n  - {id: kim, roles: [therapist]}\n  - {id: ana, roles: [nurses]}\n")
    result = CliRunner().invoke(app, ["validate", str(PROTOCOL), str(clinic), "--format", "json"])
    assert result.exit_code == 1
    found = [(d["file"], d["line"], d["column"], d["severity"], d["code"], d["message"], d["hint"])
             for d in json.loads(result.stdout)]
    assert found == [
        (str(PROTOCOL), 15, 24, "error", "KP240", f"no one at clinic 'tiny' ({clinic}) holds the role 'nurse'",
         "did you mean 'nurses'?"),
        (str(PROTOCOL), 15, 38, "error", "KP240", f"no one at clinic 'tiny' ({clinic}) holds the role 'prescriber'",
         None),
    ]
    alone = CliRunner().invoke(app, ["validate", str(clinic)])
    assert alone.exit_code == 0, alone.output  # the protocol is what asks for the roles


def test_validate_warns_of_staff_hours_outside_the_clinic_s(tmp_path: Path) -> None:
    clinic = tmp_path / "clinic.yaml"
    clinic.write_text("kind: clinic\nid: tiny\ntimezone: America/New_York\nhours: [Mon-Fri 08:00-18:00]\n"
                      "staff:\n"
                      "  - {id: kim, roles: [therapist], hours: [Mon-Fri 08:00-12:00]}\n"
                      "  - {id: lee, roles: [therapist], timezone: America/Los_Angeles, hours: [Mon 06:00-15:00]}\n"
                      "  - {id: ann, roles: [therapist], timezone: America/Los_Angeles, hours: [Sat 09:00-10:00]}\n")
    result = CliRunner().invoke(app, ["validate", str(clinic)])
    assert result.exit_code == 0
    lines = [line for line in result.stderr.splitlines() + result.stdout.splitlines() if "KP241" in line]
    assert [line.split(": warning")[0].rsplit(":", 2)[1:] for line in lines] == [["8", "74"]]
    assert "'ann' works outside the clinic's hours" in lines[0]
    strict = CliRunner().invoke(app, ["validate", "--strict", str(clinic)])
    assert strict.exit_code == 1


# ---------------------------------------------------------------------------- calendars


def test_full_privacy_organizer_is_the_clinic_s_continuity_therapist(tmp_path: Path) -> None:
    import icalendar
    import vobject

    clinic = tmp_path / "clinic.yaml"
    clinic.write_text(CLINIC.read_text().replace("{id: kim, roles: [therapist]",
                                                 "{id: kim, name: Dr. Kim, email: kim@clinic.example, "
                                                 "roles: [therapist]"))
    client_file = tmp_path / "client.yaml"
    client_file.write_text("kind: client\nid: C-1\ntimezone: America/New_York\nstart: 2026-12-07\nweight: 72 kg\n"
                           "therapist: {name: Own Therapist, email: own@example.org}\n")
    for privacy, expected in (("full", "mailto:kim@clinic.example"), ("standard", None)):
        out = tmp_path / f"{privacy}.ics"
        result = CliRunner().invoke(app, ["plan", str(PROTOCOL), "--client", str(client_file), "--clinic",
                                          str(clinic), "--format", "ics", "--privacy", privacy, "-o", str(out)])
        assert result.exit_code == 0, result.output
        parsed = icalendar.Calendar.from_ical(out.read_bytes())
        organizers = {str(e.get("organizer")) if e.get("organizer") else None for e in parsed.walk("VEVENT")}
        assert organizers == {expected}
        assert (parsed.get("method") == "PUBLISH") is (expected is not None)
        other = vobject.readOne(out.read_text())
        assert len(other.vevent_list) == 7
    # Without a clinic therapist's email, the client file's therapist organizes.
    result = CliRunner().invoke(app, ["plan", str(PROTOCOL), "--client", str(client_file), "--clinic", str(CLINIC),
                                      "--format", "ics", "--privacy", "full", "-o", str(tmp_path / "own.ics")])
    assert result.exit_code == 0, result.output
    parsed = icalendar.Calendar.from_ical((tmp_path / "own.ics").read_bytes())
    assert {str(e.get("organizer")) for e in parsed.walk("VEVENT")} == {"mailto:own@example.org"}


# ---------------------------------------------------------------------------- infeasibility


def test_infeasibility_names_the_person_and_the_room_in_the_way() -> None:
    from kapplan.models.errors import InfeasibleError

    hours = api.load_protocol(DATA / "protocol_two_therapist_hours.yaml")
    first = api.make_plan(hours, client(1), api.load_clinic(CLINIC), now=NOW)  # type: ignore[arg-type]
    assert [(s.start.strftime("%a %d %H:%M"), s.room) for s in first.sessions] == [
        ("Mon 07 09:00", "office"), ("Mon 14 09:00", "office")]
    mondays = api.client_from(changes=api.ClientChanges(
        id="C-2", start="2026-12-07", tz=NY, available=["Mon 09:00-10:00"], unavailable=["2026-12-15..2027-12-31"]))
    with pytest.raises(InfeasibleError) as caught:
        api.make_plan(hours, mondays, api.load_clinic(CLINIC), now=NOW, bookings=plan_bookings(first))
    assert caught.value.explanation.session in {"talk-1", "talk-2"}
    assert "office full at the times the client can come on Mon 2026-12-07 09:00, Mon 2026-12-14 09:00" in (
        caught.value.explanation.blockers)
    early = api.client_from(changes=api.ClientChanges(
        id="C-3", start="2026-12-07", tz=NY, available=["Mon-Fri 09:00-11:00"], unavailable=["2026-12-10..2027-12-31"]))
    with pytest.raises(InfeasibleError) as caught:
        api.make_plan(hours, early, api.load_clinic(DATA / "clinic_therapist_in_los_angeles.yaml"), now=NOW)
    assert ("no therapist (okafor) free at the times the client can come on Mon 2026-12-07 09:00-10:00, "
            "Tue 2026-12-08 09:00-10:00, Wed 2026-12-09 09:00-10:00") in caught.value.explanation.blockers


def test_equal_dates_go_to_the_therapist_whose_times_fall_in_the_preferred_windows(tmp_path: Path) -> None:
    """SPEC §11: among continuity candidates giving the same dates, the most sessions
    inside the client's preferred windows wins before bookings and file order. kim
    (first in the file) works only 08:00-10:00 and lee all day: both give 08:00 at
    first, but only lee can see the client at 10:00, inside its preferred 10:00-12:00."""
    clinic_file = tmp_path / "clinic.yaml"
    clinic_file.write_text(
        "kind: clinic\nid: prefs\ntimezone: America/New_York\nhours: [Mon-Fri 08:00-18:00]\n"
        "staff:\n"
        "  - {id: kim, roles: [therapist], hours: [Mon-Fri 08:00-10:00]}\n"
        "  - {id: lee, roles: [therapist]}\n")
    protocol_file = tmp_path / "protocol.yaml"
    protocol_file.write_text(
        "kind: protocol\nid: two-talks\nversion: 1.0.0\ntitle: Two preparation sessions\n"
        "sessions:\n  preparation: {kind: preparation, duration: 60min, staff: [therapist]}\n"
        "schedule:\n  - {session: preparation, count: 2, gap: 1d..7d}\n")
    changes = api.ClientChanges(id="C-1", start="2026-12-07", tz=NY, available=["Mon-Fri 08:00-18:00"],
                                prefer=["Mon-Fri 10:00-12:00"])
    plan = api.make_plan(api.load_protocol(protocol_file), api.client_from(changes=changes),  # type: ignore[arg-type]
                         api.load_clinic(clinic_file), now=NOW, reproducible=True)
    assert rows(plan) == [
        ("preparation-1", "2026-12-07 10:00", [("therapist", "lee", None)], None),
        ("preparation-2", "2026-12-08 10:00", [("therapist", "lee", None)], None),
    ]
    without = tmp_path / "no-prefer.yaml"
    without.write_text(clinic_file.read_text().replace("hours: [Mon-Fri 08:00-10:00]", "hours: [Mon-Fri 08:00-18:00]"))
    even = api.make_plan(api.load_protocol(protocol_file), api.client_from(changes=changes),  # type: ignore[arg-type]
                         api.load_clinic(without), now=NOW, reproducible=True)
    assert {a.id for s in even.sessions for a in s.assigned or []} == {"kim"}  # a true tie: file order


@pytest.mark.parametrize(("limit", "check"), [("", "2027-01-05T09:00:00-05:00"),
                                               (", max_per_day: 1", "2027-01-05T10:00:00-05:00")])
def test_max_per_day_counts_the_person_s_own_day_not_the_client_s(tmp_path: Path, limit: str, check: str) -> None:
    """Kim works from Tokyo, 14 hours ahead. The talk on Monday 16:00 in New York is
    Tuesday 06:00 for her, and so is Tuesday 09:00 in New York (23:00): with one session
    a day she takes the check-in at 10:00, which is Wednesday for her. Two sessions on
    different days of the client's are one day of hers."""
    clinic = tmp_path / "clinic.yaml"
    clinic.write_text("kind: clinic\nid: far\ntimezone: America/New_York\nhours: [Mon-Sun 00:00-24:00]\nstaff:\n"
                      "  - {id: kim, roles: [therapist], timezone: Asia/Tokyo, hours: [Mon-Sun 00:00-24:00]"
                      f"{limit}}}\n")
    protocol = tmp_path / "protocol.yaml"
    protocol.write_text("kind: protocol\nid: talk-then-check\nversion: 1.0.0\ntitle: A talk and a check-in\n"
                        "sessions:\n  talk: {kind: preparation, duration: 60min, staff: [therapist]}\n"
                        "  check: {kind: integration, duration: 60min, staff: [therapist]}\n"
                        "schedule:\n  - {session: talk}\n  - {session: check, after: 1d..3d}\n")
    who = api.client_from(changes=api.ClientChanges(start="2027-01-04", tz=NY, weight="70 kg",
                                                    available=["Mon 16:00-17:00", "Tue-Fri 09:00-17:00"]))
    plan = api.make_plan(api.load_protocol(protocol), who, api.load_clinic(clinic), now=NOW)  # type: ignore[arg-type]
    assert [s.start.isoformat() for s in plan.sessions] == ["2027-01-04T16:00:00-05:00", check]
    assert {a.id for s in plan.sessions for a in s.assigned or ()} == {"kim"}
