"""`kapplan agenda`: a clinic's booked sessions by day, person or room, read from
a ledger file filled here directly (the booking itself is tested elsewhere)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import icalendar
import jsonschema
import pytest
import vobject
from typer.testing import CliRunner

from kapplan.api import schema
from kapplan.cli import app
from kapplan.ledger.store import Entry, Ledger, SeriesRecord
from kapplan.models.booking import Assignment, Booking

A = "7f0c3a52-2d0e-4b8e-9a51-0d2b1f6c9e11"
B = "0b7c0f4e-57a5-4a4c-9a7e-3a3b7a3c0a01"
C = "3c1d9a70-6a55-4b4e-8f0e-9b0a7c6d5e44"
KIM, LEE, ORTIZ = Assignment("therapist", "kim"), Assignment("therapist", "lee"), Assignment("nurse", "ortiz")


def utc(day: int, hour: int) -> datetime:
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def booking(series: str, client: str, key: str, day: int, hour: int, people: tuple[Assignment, ...],
            room: str | None, status: str = "planned", kind: str = "dosing") -> Booking:
    return Booking(series, client, key, kind, utc(day, hour), utc(day, hour + 2), people, room, status)


@pytest.fixture
def clinic_ledger(tmp_path: Path) -> Path:
    """Three series in a New York clinic; A's plan file matches, B's differs, C's is missing."""
    path = tmp_path / "clinic.ledger"
    plans = {A: tmp_path / "a.plan.json", B: tmp_path / "b.plan.json", C: tmp_path / "c.plan.json"}
    plans[A].write_bytes(b"plan a")
    plans[B].write_bytes(b"plan b, edited by hand")
    rows = {
        A: [Entry(booking(A, "C-1", "medicine-1", 7, 14, (KIM, ORTIZ), "room-a"), 1, 2),
            Entry(booking(A, "C-1", "medicine-2", 9, 14, (KIM, ORTIZ), "room-a", "missed"), 2, 2),
            Entry(booking(A, "C-1", "integration-1", 8, 15, (KIM,), None, kind="integration"), 1, 1)],
        B: [Entry(booking(B, "C-2", "medicine-1", 7, 16, (LEE, ORTIZ), "room-b"), 1, 1),
            Entry(booking(B, "C-2", "medicine-9", 20, 14, (LEE,), "room-b"), 1, 1)],
        C: [Entry(booking(C, "C-3", "screening-1", 10, 14, (KIM,), None, kind="screening"), 1, 1)],
    }
    with Ledger.open(path) as ledger, ledger.writing():
        ledger.set_meta("timezone", "America/New_York")
        ledger.set_meta("clinic", "northside")
        for series, entries in rows.items():
            sha = hashlib.sha256(b"plan a" if series == A else b"plan b").hexdigest()
            ledger.replace_series(SeriesRecord(series, entries[0].booking.client, str(plans[series]), sha,
                                               "2026-12-01T15:00:00Z"), entries)
    return path


def run(*args: str | Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result.exit_code, result.stdout, result.stderr


def test_agenda_json_lists_exactly_the_booked_sessions_of_the_week(clinic_ledger: Path) -> None:
    code, out, err = run("agenda", "--ledger", clinic_ledger, "--from", "2026-12-07", "--format", "json")
    assert code == 0, err
    rows = json.loads(out)
    assert [(r["client"], r["key"], r["start"], r["end"], r["status"]) for r in rows] == [
        ("C-1", "medicine-1", "2026-12-07T09:00:00-05:00", "2026-12-07T11:00:00-05:00", "planned"),
        ("C-2", "medicine-1", "2026-12-07T11:00:00-05:00", "2026-12-07T13:00:00-05:00", "planned"),
        ("C-1", "integration-1", "2026-12-08T10:00:00-05:00", "2026-12-08T12:00:00-05:00", "planned"),
        ("C-3", "screening-1", "2026-12-10T09:00:00-05:00", "2026-12-10T11:00:00-05:00", "planned"),
    ]  # the missed medicine-2 holds no one; B's medicine-9 is in the week after
    assert rows[0]["series"] == A
    assert rows[0]["assigned"] == [{"role": "therapist", "id": "kim"}, {"role": "nurse", "id": "ortiz"}]
    assert rows[0]["room"] == "room-a"
    assert [r["plan_file"] for r in rows] == ["ok", "differs", "ok", "missing"]
    assert f"series {B} (client C-2)" in err
    assert "differs" in err
    assert f"series {C} (client C-3)" in err
    assert "is missing" in err
    assert "kapplan ledger release" in err
    jsonschema.validate(rows, schema("agenda"))


def test_agenda_by_person_by_room_and_by_days(clinic_ledger: Path) -> None:
    def keys(*extra: str) -> list[tuple[str, str]]:
        code, out, err = run("agenda", "--ledger", clinic_ledger, "--from", "2026-12-07", "--format", "json", *extra)
        assert code == 0, err
        return [(r["client"], r["key"]) for r in json.loads(out)]

    assert keys("--staff", "kim") == [("C-1", "medicine-1"), ("C-1", "integration-1"), ("C-3", "screening-1")]
    assert keys("--staff", "ortiz") == [("C-1", "medicine-1"), ("C-2", "medicine-1")]
    assert keys("--room", "room-b", "--days", "30") == [("C-2", "medicine-1"), ("C-2", "medicine-9")]
    assert keys("--days", "1") == [("C-1", "medicine-1"), ("C-2", "medicine-1")]
    assert keys("--staff", "nobody") == []


def test_agenda_table_and_csv(clinic_ledger: Path) -> None:
    code, out, _ = run("agenda", "--ledger", clinic_ledger, "--from", "2026-12-07", "--days", "1")
    assert code == 0
    assert "Mon 2026-12-07" in out
    assert "09:00-11:00" in out
    assert "differs" in out
    code, out, _ = run("agenda", "--ledger", clinic_ledger, "--from", "2026-12-07", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert rows[0] == {"date": "2026-12-07", "start": "09:00", "end": "11:00", "client": "C-1", "key": "medicine-1",
                       "kind": "dosing", "staff": "therapist:kim|nurse:ortiz", "room": "room-a", "status": "planned",
                       "series": A, "plan_file": "ok"}
    assert len(rows) == 4


def test_a_therapists_calendar_parses_with_its_own_uids_and_no_method(clinic_ledger: Path, tmp_path: Path) -> None:
    target = tmp_path / "kim.ics"
    code, _, err = run("agenda", "--ledger", clinic_ledger, "--from", "2026-12-07", "--staff", "kim", "-o", target)
    assert code == 0, err
    data = target.read_bytes()
    calendar = icalendar.Calendar.from_ical(data)
    assert "METHOD" not in calendar
    events = list(calendar.walk("VEVENT"))
    assert [str(e["UID"]) for e in events] == [
        str(uuid.uuid5(uuid.UUID(A), "staff:kim:medicine-1")),
        str(uuid.uuid5(uuid.UUID(A), "staff:kim:integration-1")),
        str(uuid.uuid5(uuid.UUID(C), "staff:kim:screening-1")),
    ]
    assert [str(e["SUMMARY"]) for e in events] == [
        "C-1: Medicine session 1 of 2", "C-1: Integration session", "C-3: Screening session"]
    assert events[0].decoded("DTSTART") == utc(7, 14)
    assert events[0]["DTSTART"].params["TZID"] == "America/New_York"
    parsed = vobject.readOne(data.decode("utf-8"))
    assert [e.dtstart.value.astimezone(UTC) for e in parsed.vevent_list] == [utc(7, 14), utc(8, 15), utc(10, 14)]
    assert b"\r\n" in data
    assert b"METHOD" not in data


def test_a_rooms_calendar_and_minimal_privacy(clinic_ledger: Path) -> None:
    code, out, _ = run("agenda", "--ledger", clinic_ledger, "--from", "2026-12-07", "--room", "room-a",
                       "--format", "ics", "--privacy", "minimal")
    assert code == 0
    events = list(icalendar.Calendar.from_ical(out.encode()).walk("VEVENT"))
    assert [str(e["UID"]) for e in events] == [str(uuid.uuid5(uuid.UUID(A), "room:room-a:medicine-1"))]
    assert str(events[0]["SUMMARY"]) == "C-1: Appointment"
    assert "DESCRIPTION" not in events[0]


@pytest.mark.parametrize(("args", "words"), [
    (("--format", "ics"), "--staff ID or --room ID"),
    (("--format", "ics", "--staff", "kim", "--room", "room-a"), "--staff ID or --room ID"),
    (("--days", "0"), "--days"),
    (("--from", "2026-02-30"), "--from"),
])
def test_agenda_usage_errors(clinic_ledger: Path, args: tuple[str, ...], words: str) -> None:
    code, out, err = run("agenda", "--ledger", clinic_ledger, *args)
    assert code == 2
    assert words in err
    assert "Traceback" not in out + err


def test_agenda_of_a_missing_ledger_creates_nothing(tmp_path: Path) -> None:
    code, _, err = run("agenda", "--ledger", tmp_path / "none.ledger")
    assert code == 2
    assert "no such ledger file" in err
    assert not (tmp_path / "none.ledger").exists()
