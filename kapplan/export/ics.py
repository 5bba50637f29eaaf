"""Plan -> iCalendar (SPEC §8): privacy levels, stable UIDs, alarms, VTIMEZONE.

Calendars get synced to phones and cloud accounts, so what a file shows is
decided here, event by event, from two settings: the *privacy* level caps what
any audience sees, and the *audience* (the client, or the clinic) decides
which protocol texts are relevant. Below ``full`` nothing personal, no
protocol name and no medication or dose reaches the file.

Every text passes :func:`clean_text` before it reaches icalendar, which would
otherwise write control characters raw; icalendar then escapes and folds.

Status mapping (a calendar says whether an appointment takes place, not how
it went): ``planned`` and ``done`` are CONFIRMED — the series is the schedule
the care team gives the client; ``tentative`` (a session waiting for its gate,
SPEC §13) is TENTATIVE, its alarms prefixed "If confirmed: "; ``missed`` and
``cancelled`` are CANCELLED, since neither took place at that time (a
reschedule gives the session a new time under the same UID and a higher
SEQUENCE); a cancelled event carries no alarms. Tasks (questionnaires) are
VTODOs after the events (export/todos.py), and they too carry the ORGANIZER
whenever the events do. A calendar with tasks never says METHOD:PUBLISH: RFC
5546 wants DTSTART and PRIORITY on a published VTODO, SPEC §13 writes tasks
with DUE only, and libical rejects the mix; without METHOD the file is a plain
calendar object that every client imports.

The output is a pure function of the plan: DTSTAMP is the plan's latest
recorded change (``created`` or the newest history entry), so re-exporting the
same plan gives the same bytes.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event, vCalAddress, vText

from kapplan.export.numbers import session_numbers
from kapplan.export.todos import task_summary, task_todo
from kapplan.export.vtimezone import vtimezone_lines
from kapplan.models.errors import Diagnostic, InputError
from kapplan.models.plan import Plan, PlannedSession, Task
from kapplan.models.sensitive import mentions_medication_or_dose
from kapplan.wording import GENERIC_TITLES, duration_words, planned_amount

COMBINED_NAME = "Clinic sessions"
GENERIC_NAME = "Therapy sessions"
WITHHELD = "Details from your care team."
PRODID = "-//kapplan//kapplan//EN"
AUDIENCES = ("client", "clinic")
PRIVACY_LEVELS = ("minimal", "standard", "full")

_STATUS = {"planned": "CONFIRMED", "tentative": "TENTATIVE", "done": "CONFIRMED", "missed": "CANCELLED",
           "cancelled": "CANCELLED"}
IF_CONFIRMED = "If confirmed: "
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ud800-\udfff]")
_EMAIL = re.compile(r"^[^\s@<>\"(),;:\\\[\]]+@[^\s@<>\"(),;:\\\[\]]+\.[^\s@<>\"(),;:\\\[\]]+$")
_CRLF = b"\r\n"
_END_EVENT = b"END:VEVENT\r\n"


# --------------------------------------------------------------------------- text safety


def clean_text(value: object) -> str:
    """One line of plain text: control and invisible characters removed, spaces collapsed.

    CR and LF can never reach a value, so no text can start a property of its
    own; bidi overrides and zero-width characters cannot disguise a word.
    """
    text = _INVISIBLE.sub("", _CONTROL.sub(" ", str(value)))
    return " ".join(text.split())


def is_sensitive(text: str) -> bool:
    """A medication term or dose, also when written in compatibility forms (full-width...)."""
    return mentions_medication_or_dose(unicodedata.normalize("NFKC", text))


def protocol_text(value: object, privacy: str) -> str:
    """Protocol free text as this privacy level may show it."""
    return _protocol_text(str(value), privacy)


@lru_cache(maxsize=4096)
def _protocol_text(value: str, privacy: str) -> str:
    """A series repeats the same few texts in every occurrence (and a batch in
    every plan): each is cleaned and checked once."""
    text = clean_text(value)
    if privacy != "full" and is_sensitive(text):
        return WITHHELD
    return text


# --------------------------------------------------------------------------- calendar frame


def calendar_head(name: str, *, publish: bool = False) -> bytes:
    """``BEGIN:VCALENDAR`` and the calendar's own properties (RFC 5545 + RFC 7986 NAME).

    ``METHOD:PUBLISH`` only when ``publish``: RFC 5546 requires an ORGANIZER in
    every component under PUBLISH (libical rejects the file otherwise), so a
    calendar without one is a plain calendar object with no METHOD."""
    calendar = Calendar()
    calendar.add("version", "2.0")
    calendar.add("prodid", PRODID)
    calendar.add("calscale", "GREGORIAN")
    if publish:
        calendar.add("method", "PUBLISH")
    calendar.add("name", vText(clean_text(name)))
    calendar.add("x-wr-calname", vText(clean_text(name)))
    raw: bytes = calendar.to_ical()
    return raw[: -len(calendar_tail())]


def calendar_tail() -> bytes:
    return b"END:VCALENDAR" + _CRLF


def calendar_name(plan: Plan, audience: str, privacy: str = "standard") -> str:
    """Generic for the client, the client id for the clinic; at ``full`` the
    client's name too (SPEC §8), below it never a name or protocol."""
    who = client_id(plan) if audience == "clinic" else GENERIC_NAME
    name = client_name(plan) if privacy == "full" else ""
    if not name:
        return who
    return f"{name} ({who})" if audience == "clinic" else f"{GENERIC_NAME}: {name}"


def client_name(plan: Plan) -> str:
    """The client's name as a calendar may show it (``full`` only), or ''."""
    return clean_text(plan.client.get("name") or "")


def timezone_block(tzid: str, first: date, last: date) -> bytes:
    """One VTIMEZONE for ``tzid`` valid for events from ``first`` through ``last``.

    Zones with daylight-saving rules are written as yearly RRULEs (what Outlook
    reads), checked against the zone's real transitions; blocks are cached per
    zone and years, so a batch builds each one once.
    """
    load_zone(tzid)
    lines = vtimezone_lines(tzid, min(first, last).year, max(first, last).year)
    return (_CRLF.join(line.encode("utf-8") for line in lines)) + _CRLF


def load_zone(tzid: object) -> ZoneInfo:
    """The plan's zone; an unknown or malformed name is a plan error, not a crash."""
    from pydantic_core import PydanticCustomError

    from kapplan.models.values import parse_timezone

    try:
        return ZoneInfo(parse_timezone(tzid))
    except PydanticCustomError:
        raise _plan_error("KP126", "client.timezone is not a known IANA time zone") from None


def _plan_error(code: str, message: str) -> InputError:
    return InputError([Diagnostic("plan", 0, 0, "error", code, message)], f"invalid plan: {message}")


# --------------------------------------------------------------------------- plan facts


def client_id(plan: Plan) -> str:
    return clean_text(plan.client.get("id") or "client")


def plan_zone_name(plan: Plan) -> str:
    return str(plan.client.get("timezone") or "")


def plan_span(plan: Plan) -> tuple[date, date]:
    """Local dates of the first start and the last end: the range a VTIMEZONE must cover."""
    zone = load_zone(plan_zone_name(plan))
    if not plan.sessions:
        day = plan.created.astimezone(zone).date()
        return day, day
    first = min(s.start for s in plan.sessions).astimezone(zone).date()
    last = max(s.end for s in plan.sessions).astimezone(zone).date()
    return first, last


def event_uid(series: str, key: str) -> str:
    """uuid5 of the plan's random series and the session key: stable, unguessable."""
    try:
        namespace = uuid.UUID(series)
    except (ValueError, AttributeError, TypeError):
        raise _plan_error("KP124", "series is not a UUID") from None
    return str(uuid.uuid5(namespace, key))


def plan_stamp(plan: Plan) -> datetime:
    """The plan's latest recorded change, in UTC (DTSTAMP)."""
    moments = [plan.created, *(entry.at for entry in plan.history)]
    return max(m.astimezone(UTC) for m in moments)


# --------------------------------------------------------------------------- events


def plan_events(plan: Plan, *, audience: str, privacy: str, alarms: bool) -> bytes:
    """The VEVENTs of one plan, in plan order."""
    _check_choices(audience, privacy)
    view = _View(plan, audience, privacy, alarms)
    return b"".join(view.event(session) for session in plan.sessions)


def plan_to_ics(plan: Plan, *, audience: str = "client", privacy: str = "standard", alarms: bool = True) -> bytes:
    """A complete calendar of one plan."""
    _check_choices(audience, privacy)
    first, last = plan_span(plan)
    view = _View(plan, audience, privacy, alarms)
    return b"".join(
        (
            calendar_head(
                calendar_name(plan, audience, privacy), publish=view.organizer is not None and not plan.tasks
            ),
            timezone_block(plan_zone_name(plan), first, last),
            b"".join(view.event(session) for session in plan.sessions),
            b"".join(view.todo(task) for task in plan.tasks),
            calendar_tail(),
        )
    )


def _check_choices(audience: str, privacy: str) -> None:
    if audience not in AUDIENCES:
        raise ValueError(f"audience must be one of {', '.join(AUDIENCES)}")
    if privacy not in PRIVACY_LEVELS:
        raise ValueError(f"privacy must be one of {', '.join(PRIVACY_LEVELS)}")


class _View:
    """What one audience at one privacy level sees of one plan's sessions."""

    def __init__(self, plan: Plan, audience: str, privacy: str, alarms: bool) -> None:
        self.plan = plan
        self.audience = audience
        self.privacy = privacy
        self.alarms = alarms
        self.zone = load_zone(plan_zone_name(plan))
        self.stamp = plan_stamp(plan)
        self.numbers = session_numbers(plan)
        self.full = privacy == "full"
        self.clinic_extras = audience == "clinic" and privacy != "minimal"
        self.location = clean_text(_location(plan))
        self.organizer = (_organizer(_clinic_therapist(plan)) or _organizer(plan.client.get("therapist"))
                          if self.full else None)
        event_uid(plan.series, "")  # a malformed series fails before any event is built

    def event(self, session: PlannedSession) -> bytes:
        """One VEVENT; its VALARMs (the same few in every occurrence) come from a cache."""
        event = Event()
        event.add("uid", event_uid(self.plan.series, session.key))
        event.add("dtstamp", self.stamp)
        event.add("sequence", max(session.sequence, 0))
        event.add("dtstart", self._when(session.start))
        event.add("dtend", self._when(session.end))
        event.add("summary", self.summary(session))
        event.add("status", _STATUS.get(session.status, "CONFIRMED"))
        event.add("categories", [self.category(session)])
        event.add("class", "PRIVATE")
        if session.setting == "in-person" and self.location:
            event.add("location", self.location)
        description = "\n".join(self.description(session))
        if description:
            event.add("description", description)
        if self.organizer is not None:
            event.add("organizer", self.organizer)
        body: bytes = event.to_ical()
        if not self.alarms or _STATUS.get(session.status) == "CANCELLED":  # nothing to remind of
            return body
        alarms = b"".join(_alarm(before, text) for before, text in self.reminders(session))
        return body[: -len(_END_EVENT)] + alarms + _END_EVENT

    def todo(self, task: Task) -> bytes:
        """One VTODO: a questionnaire due on a date (SPEC §13)."""
        text = task_summary(task, self.privacy, clean_text(task.instrument))
        summary = f"{client_id(self.plan)}: {text}" if self.audience == "clinic" else text
        return task_todo(task, series=self.plan.series, stamp=self.stamp, summary=summary, privacy=self.privacy,
                         organizer=self.organizer)

    def _when(self, moment: datetime) -> datetime:
        """Wall-clock time in the client's zone; UTC for the rare instant whose local
        time is ambiguous (the repeated hour), which TZID form would misread."""
        local = moment.astimezone(self.zone)
        naive = local.replace(tzinfo=None, fold=0)
        if naive.replace(tzinfo=self.zone).astimezone(UTC) == moment.astimezone(UTC):
            return naive.replace(tzinfo=self.zone)
        return moment.astimezone(UTC)

    def summary(self, session: PlannedSession) -> str:
        if self.privacy == "minimal":
            text = "Appointment"
        else:
            title = clean_text(session.title) if self.full else GENERIC_TITLES.get(session.kind, "Session")
            n, total = self.numbers.get(session.key, (1, 1))
            text = f"{title} {n} of {total}" if total > 1 else title
        if self.audience != "clinic":
            return text
        name = client_name(self.plan) if self.full else ""
        who = f"{name} ({client_id(self.plan)})" if name else client_id(self.plan)
        return f"{who}: {text}"

    def category(self, session: PlannedSession) -> str:
        """The session kind; "appointment" at minimal, where the kind would say what it is.

        Below ``full`` only the six kinds of SPEC §2 are shown: a hand-edited plan's
        free-text kind is protocol text like any other."""
        if self.privacy == "minimal":
            return "appointment"
        if self.full or session.kind in GENERIC_TITLES:
            return clean_text(session.kind)
        return "session"

    def reminders(self, session: PlannedSession) -> list[tuple[timedelta, str]]:
        prefix = IF_CONFIRMED if session.status == "tentative" else ""
        return [
            (reminder_offset(reminder.before), prefix + (protocol_text(reminder.text, self.privacy) or "Reminder"))
            for reminder in session.reminders
        ]

    def description(self, session: PlannedSession) -> list[str]:
        lines: list[str] = []
        if self.full:
            lines += self._full_header(session)
        if session.instructions and self.privacy != "minimal":
            lines.append(f"Instructions: {protocol_text(session.instructions, self.privacy)}")
        for before, text in self.reminders(session):
            lines.append(f"Reminder {duration_words(before)} before: {text}")
        if self.clinic_extras:
            lines += self._clinic_lines(session)
        return lines

    def _full_header(self, session: PlannedSession) -> list[str]:
        protocol = self.plan.protocol
        lines = [f"Protocol: {clean_text(protocol.title)} ({clean_text(protocol.id)} {clean_text(protocol.version)})"]
        name = client_name(self.plan)
        if name:
            lines.append(f"Client: {name}")
        if session.dose is not None:
            lines.append(f"Planned dose: {_dose_text(session)}")
        if session.staff and self.audience == "client":
            lines.append(f"Staff: {self._items(session.staff)}")
        return lines

    def _clinic_lines(self, session: PlannedSession) -> list[str]:
        lines = []
        if session.notes:
            lines.append(f"Notes: {protocol_text(session.notes, self.privacy)}")
        for label, items in (
            ("Staff", session.staff),
            ("Monitoring", session.monitoring),
            ("Assessments", session.assessments),
        ):
            if items:
                lines.append(f"{label}: {self._items(items)}")
        if session.status != "planned":
            lines.append(f"Status: {clean_text(session.status)}")
        return lines

    def _items(self, items: Iterable[str]) -> str:
        return ", ".join(dict.fromkeys(protocol_text(item, self.privacy) for item in items))


@lru_cache(maxsize=1024)
def _alarm(before: timedelta, text: str) -> bytes:
    """One VALARM, serialized once: a series repeats the same few reminders."""
    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -before)
    alarm.add("description", text)
    raw: bytes = alarm.to_ical()
    return raw


@lru_cache(maxsize=1024)
def reminder_offset(before: str) -> timedelta:
    from pydantic_core import PydanticCustomError

    from kapplan.models.values import parse_duration

    try:
        return parse_duration(before).timedelta
    except PydanticCustomError:
        raise _plan_error("KP120", "a reminder's 'before' is not a duration") from None


def _dose_text(session: PlannedSession) -> str:
    dose = session.dose
    assert dose is not None
    text = f"{clean_text(dose.medication)} {clean_text(dose.route)} {planned_amount(dose)}"
    basis = clean_text(dose.basis)
    return f"{text} ({basis})" if basis else text


def _location(plan: Plan) -> str:
    """Where in-person sessions happen: the client's location, else the clinic's."""
    for record in (plan.client, plan.clinic or {}):
        value = record.get("location")
        if value and clean_text(value):
            return str(value)
    return ""


def _clinic_therapist(plan: Plan) -> dict[str, Any] | None:
    """The clinic staff record of the client's continuity therapist (SPEC §11), when assigned."""
    clinic = plan.clinic or {}
    if "therapist" not in clinic.get("continuity", ["therapist"]):
        return None
    staff = {m.get("id"): m for m in clinic.get("staff", []) if isinstance(m, dict)}
    for session in plan.sessions:
        for person in session.assigned or ():
            if person.role == "therapist":
                return staff.get(person.id)
    return None


def _organizer(person: Any) -> vCalAddress | None:
    """ORGANIZER from the therapist's email (never an ATTENDEE: METHOD:PUBLISH)."""
    if not isinstance(person, dict):
        return None
    email = clean_text(person.get("email") or "")
    if not _EMAIL.match(email):
        return None
    address = vCalAddress(f"mailto:{email}")
    name = clean_text(person.get("name") or "").replace('"', "'")
    if name:
        address.params["cn"] = name
    return address


__all__ = [
    "COMBINED_NAME",
    "GENERIC_NAME",
    "WITHHELD",
    "calendar_head",
    "calendar_name",
    "calendar_tail",
    "clean_text",
    "event_uid",
    "reminder_offset",
    "plan_events",
    "plan_span",
    "plan_to_ics",
    "plan_zone_name",
    "timezone_block",
]
