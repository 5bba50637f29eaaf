"""A person's or a room's calendar from the ledger (SPEC §11 ``agenda --format ics``).

A therapist subscribes to their own sessions, a coordinator to a room's. The
calendar is the clinic audience's view: the client *id*, a generic title by
kind and number ("C-0042: Medicine session 3 of 6") at ``standard``, only
"Appointment" at ``minimal``; never a name, a protocol or a dose (the ledger
holds none). UIDs are uuid5 of the series and ``staff:<person>:<key>`` or
``room:<room>:<key>``, so they differ from the client's own calendar (the same
session in two calendars of one phone stays two events) and stay stable
across re-plans. No METHOD: the file has no ORGANIZER (RFC 5546 requires one
under PUBLISH). Written as a stream, one event at a time.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event, vText

from kapplan.export.ics import PRODID, calendar_tail, clean_text, timezone_block
from kapplan.models.booking import Booking
from kapplan.wording import GENERIC_TITLES

_STATUS = {"planned": "CONFIRMED", "done": "CONFIRMED", "tentative": "TENTATIVE"}


def resource_uid(series: str, resource: str, key: str) -> str:
    """uuid5(series, "staff:kim:medicine-3") / uuid5(series, "room:room-a:medicine-3")."""
    return str(uuid.uuid5(uuid.UUID(series), f"{resource}:{key}"))


def calendar_head(name: str) -> bytes:
    """``BEGIN:VCALENDAR`` and its properties, without METHOD."""
    calendar = Calendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", PRODID)
    calendar.add("calscale", "GREGORIAN")
    calendar.add("name", vText(clean_text(name)))
    calendar.add("x-wr-calname", vText(clean_text(name)))
    raw: bytes = calendar.to_ical()
    return raw[: -len(calendar_tail())]


def summary(booking: Booking, number: int | None, total: int | None, privacy: str) -> str:
    if privacy == "minimal":
        text = "Appointment"
    else:
        text = GENERIC_TITLES.get(booking.kind, "Session")
        if number is not None and total is not None and total > 1:
            text = f"{text} {number} of {total}"
    return f"{clean_text(booking.client)}: {text}"


def booking_event(booking: Booking, *, resource: str, zone: ZoneInfo, stamp: datetime, privacy: str,
                  number: int | None = None, total: int | None = None, sequence: int = 0) -> bytes:
    """One VEVENT: the session in the clinic's zone, with who and where at ``standard``."""
    event = Event()
    event.add("uid", resource_uid(booking.series, resource, booking.key))
    event.add("dtstamp", stamp.astimezone(UTC))
    event.add("sequence", max(sequence, 0))
    event.add("dtstart", _wall(booking.start, zone))
    event.add("dtend", _wall(booking.end, zone))
    event.add("summary", summary(booking, number, total, privacy))
    event.add("status", _STATUS.get(booking.status, "CONFIRMED"))
    event.add("categories", ["appointment" if privacy == "minimal" else
                             (booking.kind if booking.kind in GENERIC_TITLES else "session")])
    event.add("class", "PRIVATE")
    if privacy != "minimal":
        lines = [f"{clean_text(a.role)}: {clean_text(a.person)}" for a in booking.assigned]
        if booking.room:
            lines.append(f"Room: {clean_text(booking.room)}")
        if lines:
            event.add("description", "\n".join(lines))
    raw: bytes = event.to_ical()
    return raw


def _wall(moment: datetime, zone: ZoneInfo) -> datetime:
    """Wall-clock time in the zone; UTC for an instant in a repeated hour (TZID form would misread it)."""
    local = moment.astimezone(zone)
    naive = local.replace(tzinfo=None, fold=0)
    if naive.replace(tzinfo=zone).astimezone(UTC) == moment.astimezone(UTC):
        return naive.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def resource_calendar(
    events: Iterable[tuple[Booking, int | None, int | None, int, datetime]],
    *,
    name: str,
    resource: str,
    zone: ZoneInfo,
    first: date,
    last: date,
    privacy: str = "standard",
) -> Iterator[bytes]:
    """The calendar in pieces: head, VTIMEZONE, one event at a time, tail.

    ``events``: (booking, number, total, sequence, stamp) per session."""
    yield calendar_head(name)
    yield timezone_block(zone.key, first, last)
    for booking, number, total, sequence, stamp in events:
        yield booking_event(booking, resource=resource, zone=zone, stamp=stamp, privacy=privacy,
                            number=number, total=total, sequence=sequence)
    yield calendar_tail()
