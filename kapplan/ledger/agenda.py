"""A clinic's booked sessions by day, person or room (SPEC §11 ``agenda``).

Read from the ledger alone (the plan files are not needed to print tomorrow's
agenda), with one exception: each series' plan file is looked at, and a
series whose file is missing or differs from what the ledger committed is
flagged, since its bookings may no longer be what the coordinator sees.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from kapplan.ledger.store import Entry, Ledger, SeriesRecord

PLAN_OK, PLAN_MISSING, PLAN_DIFFERS = "ok", "missing", "differs"


@dataclass(frozen=True)
class Agenda:
    """The bookings of ``days`` days from ``first`` (local dates in ``zone``), filtered."""

    ledger: Path
    clinic: str | None
    zone: ZoneInfo
    first: date
    days: int
    staff: str | None
    room: str | None
    entries: list[Entry]
    series: dict[str, SeriesRecord] = field(default_factory=dict)
    plan_states: dict[str, str] = field(default_factory=dict)

    @property
    def flagged(self) -> dict[str, str]:
        """Series whose plan file is missing or differs, by series id."""
        return {s: state for s, state in self.plan_states.items() if state != PLAN_OK}

    def local(self, moment: datetime) -> datetime:
        return moment.astimezone(self.zone)


def local_midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, datetime.min.time(), tzinfo=zone)


def read_agenda(ledger: Ledger, *, zone: ZoneInfo, first: date, days: int, staff: str | None = None,
                room: str | None = None) -> Agenda:
    """The active bookings overlapping those days, and the state of each series' plan file."""
    since = local_midnight(first, zone)
    until = local_midnight(first + timedelta(days=days), zone)
    with ledger.reading():
        entries = ledger.entries(since=since, until=until, person=staff, room=room)
        records = {r.series: r for r in ledger.all_series()} if entries else {}
    involved = {e.booking.series for e in entries}
    series = {s: records[s] for s in involved if s in records}
    states = {s: plan_file_state(record) for s, record in series.items()}
    return Agenda(ledger.path, ledger.meta("clinic"), zone, first, days, staff, room, entries, series, states)


def plan_file_state(record: SeriesRecord) -> str:
    """Is the series' plan file where the ledger saw it, with the bytes it committed?"""
    try:
        data = Path(record.plan_path).read_bytes()
    except OSError:
        return PLAN_MISSING
    return PLAN_OK if hashlib.sha256(data).hexdigest() == record.plan_sha256 else PLAN_DIFFERS


def assigned_json(entry: Entry) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for person in entry.booking.assigned:
        item: dict[str, Any] = {"role": person.role, "id": person.person}
        if person.end is not None:
            item["end"] = person.end.isoformat()
        out.append(item)
    return out


def agenda_rows(agenda: Agenda) -> list[dict[str, Any]]:
    """One object per booking (SPEC §11): times in the clinic's zone, with the plan file's state."""
    rows = []
    for entry in agenda.entries:
        booking = entry.booking
        rows.append({
            "series": booking.series,
            "client": booking.client,
            "key": booking.key,
            "kind": booking.kind,
            "start": agenda.local(booking.start).isoformat(),
            "end": agenda.local(booking.end).isoformat(),
            "assigned": assigned_json(entry),
            "room": booking.room,
            "status": booking.status,
            "plan_file": agenda.plan_states.get(booking.series, PLAN_MISSING),
        })
    return rows


CSV_COLUMNS = ("date", "start", "end", "client", "key", "kind", "staff", "room", "status", "series", "plan_file")


def agenda_csv(agenda: Agenda) -> str:
    """One row per booking, local dates and times (people as ``role:id``, separated by ``|``)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in agenda.entries:
        booking = entry.booking
        start, end = agenda.local(booking.start), agenda.local(booking.end)
        people = "|".join(f"{a.role}:{a.person}" for a in booking.assigned)
        writer.writerow((start.date().isoformat(), start.strftime("%H:%M"), end.strftime("%H:%M"), booking.client,
                         booking.key, booking.kind, people, booking.room or "", booking.status, booking.series,
                         agenda.plan_states.get(booking.series, PLAN_MISSING)))
    return out.getvalue()
