"""Plan -> the client's guide (SPEC §12): what each visit is for, when, where,
how to get ready and whom to call, in plain words.

This module decides *what* the guide says at each privacy level; the
templates (``guide_render``) decide how it looks. The rules:

- Safety text is never dropped. Reminders, instructions and after-care are
  shown at every level; below ``full`` a medication is said as "your
  medicine" and a dose as "the planned amount" inside the sentence
  (``kapplan.models.sensitive.soften``), where a calendar would withhold the
  whole text.
- ``full``: protocol titles, the client's name, planned doses, staff names.
  ``standard``: generic titles by kind, staff by name (never an email).
  ``minimal``: no person named, no session kind; a visit is a "visit".
- The wording is trauma-informed: what will happen, who is with you, that
  you may ask questions, and that you may stop.

Sessions that will not take place (missed, cancelled) and those already done
are left out; a tentative session (SPEC §13) is marked as not confirmed.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from kapplan.export.ics import clean_text, is_sensitive, load_zone, plan_zone_name, reminder_offset
from kapplan.export.numbers import session_numbers
from kapplan.models.plan import Plan, PlannedSession
from kapplan.models.protocol import Protocol, SessionType
from kapplan.models.sensitive import soften
from kapplan.planning.embedded import readable_protocol
from kapplan.wording import GENERIC_TITLES, duration_words, planned_amount

LISTED_STATUSES = ("planned", "tentative")
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")

KIND_PURPOSE = {
    "screening": "A first meeting to check that this treatment is right for you. You talk about your health "
                 "and your mood, and you can ask anything.",
    "preparation": "A meeting to get ready. You talk about what will happen in your medicine sessions and "
                   "what helps you feel safe.",
    "dosing": "The session with your medicine. You rest in a calm place, and your care team watches over you "
              "the whole time.",
    "integration": "A meeting after a medicine session. You talk about what came up and what it means for you.",
    "follow-up": "A check-in on how the treatment is going and what comes next.",
    "assessment": "A check-in with questions about how you feel, so that you and your care team can see how "
                  "the treatment is going.",
}
MINIMAL_PURPOSE = "A visit with your care team. They will tell you what it is for, and you can ask them anything."

ROLE_WORDS = {
    "therapist": "your therapist",
    "co-therapist": "a second therapist",
    "prescriber": "your prescriber",
    "physician": "a doctor",
    "doctor": "a doctor",
    "psychiatrist": "a psychiatrist",
    "nurse": "a nurse",
    "counsellor": "a counsellor",
    "counselor": "a counselor",
    "guide": "your guide",
    "clinician": "your clinician",
    "monitoring-hcp": "a health worker who watches over you",
    "rater": "a member of your care team who asks the questions",
}
ANY_ROLE = "a member of your care team"

INTRO = (
    "This guide lists your visits. For each one it says when and where it is, what it is for, "
    "how to get ready and how to look after yourself afterwards.",
    "Your care team explains each step before it happens. Each visit below says who will be with you.",
    "You can ask questions at any time: before, during and after a visit. No question is too small.",
    "You can ask for a pause or a break, or ask to stop, at any time. You do not have to give a reason. "
    "Tell your care team, and they will help you.",
    "If a time does not suit you, or you feel unsure, contact your care team. Your plan can change.",
)
NO_URGENT_LINE = "If you are in danger or feel you cannot keep yourself safe, call your local emergency number now."
NO_CONTACT = "Ask your care team for a phone number you can call about your visits."
TENTATIVE_NOTE = "Not confirmed yet. This visit takes place only if your care team confirms it."
IF_CONFIRMED = "If confirmed: "


@dataclass(frozen=True)
class Reminder:
    when: str  # "Sunday 6 December, 9:00 am"
    lead: str  # "1 day before"
    text: str


@dataclass(frozen=True)
class GuideSession:
    key: str
    title: str
    start: datetime  # local, in the client's zone
    end: datetime
    date_text: str
    time_text: str
    length: str
    setting: str
    place: str
    link: str | None
    purpose: str
    with_you: str | None
    instructions: str | None
    reminders: list[Reminder]
    aftercare: str | None
    dose: str | None
    tentative: bool


@dataclass(frozen=True)
class Contact:
    urgent: str
    phone: str | None
    email: str | None


@dataclass(frozen=True)
class Guide:
    privacy: str
    title: str
    subtitle: str | None
    zone: str
    made: str
    intro: tuple[str, ...]
    contact: Contact
    sessions: list[GuideSession]
    left_out: int
    notes: list[str] = field(default_factory=list)


def build_guide(plan: Plan, privacy: str) -> Guide:
    """What the guide of ``plan`` says at ``privacy`` (pure: no clock, no files)."""
    if privacy not in ("minimal", "standard", "full"):
        raise ValueError("privacy must be one of minimal, standard, full")
    view = _GuideView(plan, privacy)
    listed = [s for s in plan.sessions if s.status in LISTED_STATUSES]
    made = plan.created.astimezone(view.zone)
    return Guide(
        privacy=privacy,
        title=view.title(),
        subtitle=clean_text(plan.protocol.title) if view.full else None,
        zone=view.zone_name,
        made=long_date(made),
        intro=INTRO,
        contact=view.contact(),
        sessions=[view.session(s, n) for n, s in enumerate(listed, start=1)],
        left_out=len(plan.sessions) - len(listed),
    )


class _GuideView:
    """What one privacy level shows of one plan."""

    def __init__(self, plan: Plan, privacy: str) -> None:
        self.plan = plan
        self.privacy = privacy
        self.full = privacy == "full"
        self.minimal = privacy == "minimal"
        self.zone_name = plan_zone_name(plan)
        self.zone: ZoneInfo = load_zone(self.zone_name)
        self.protocol: Protocol | None = readable_protocol(plan)
        self.numbers = session_numbers(plan)
        self.clinic: dict[str, Any] = plan.clinic or {}

    def text(self, value: object) -> str:
        """Protocol or file text as this level may show it: one clean line, softened below full."""
        line = clean_text(value)
        return line if self.full else soften(unicodedata.normalize("NFKC", line))

    def title(self) -> str:
        name = self.plan.client.get("name")
        if self.full and name and clean_text(name):
            return f"Your visits, {clean_text(name)}"
        return "Your visits"

    def contact(self) -> Contact:
        record = self.clinic.get("contact") or {}
        urgent = record.get("urgent")
        return Contact(
            urgent=self.text(urgent) if urgent and clean_text(urgent) else NO_URGENT_LINE,
            phone=self.text(record["phone"]) if record.get("phone") else None,
            email=self.address(record.get("email")),
        )

    def address(self, value: object) -> str | None:
        """An email address or web link, shown whole or not at all: below full, one
        that names a medication ("care@ketamine.example") cannot be softened
        without breaking it, so the guide says where to get it instead."""
        text = clean_text(value or "")
        if not text or (not self.full and is_sensitive(text)):
            return None
        return text

    def session(self, session: PlannedSession, visit: int) -> GuideSession:
        start, end = session.start.astimezone(self.zone), session.end.astimezone(self.zone)
        kind_type = self._type(session)
        tentative = session.status == "tentative"  # SPEC §13: a gated session not yet confirmed
        place, link = self._place(session)
        return GuideSession(
            key=session.key,
            title=self._session_title(session, visit),
            start=start,
            end=end,
            date_text=long_date(start),
            time_text=f"{clock(start)} to {clock(end)}",
            length=duration_words(session.end - session.start),
            setting=session.setting,
            place=place,
            link=link,
            purpose=self._purpose(session, kind_type),
            with_you=self._with_you(session),
            instructions=self.text(session.instructions) if session.instructions else None,
            reminders=self._reminders(session, start, tentative),
            aftercare=self.text(kind_type.aftercare) if kind_type and kind_type.aftercare else None,
            dose=self._dose(session),
            tentative=tentative,
        )

    def _type(self, session: PlannedSession) -> SessionType | None:
        return self.protocol.sessions.get(session.session) if self.protocol else None

    def _session_title(self, session: PlannedSession, visit: int) -> str:
        if self.minimal:
            return f"Visit {visit}"
        title = clean_text(session.title) if self.full else GENERIC_TITLES.get(session.kind, "Session")
        n, total = self.numbers.get(session.key, (1, 1))
        return f"{title} {n} of {total}" if total > 1 else title

    def _purpose(self, session: PlannedSession, kind_type: SessionType | None) -> str:
        if self.minimal:
            return MINIMAL_PURPOSE
        if kind_type is not None and kind_type.purpose and clean_text(kind_type.purpose):
            return self.text(kind_type.purpose)
        return KIND_PURPOSE.get(session.kind, MINIMAL_PURPOSE)

    def _place(self, session: PlannedSession) -> tuple[str, str | None]:
        if session.setting == "telehealth":
            link = self.address(_first_link(self.plan.client, self.clinic))
            return ("Video call. Use the link below." if link
                    else "Video call. Your care team will send you the link."), link
        if session.setting == "home":
            return "At home.", None
        location = next((self.text(r["location"]) for r in (self.plan.client, self.clinic)
                         if r.get("location") and clean_text(r["location"])), None)
        return (location or "At the clinic. Your care team will tell you the address."), None

    def _with_you(self, session: PlannedSession) -> str | None:
        if not session.staff:
            return None if session.setting == "home" else "Your care team."
        people = list(dict.fromkeys(self._person(role, session) for role in session.staff))
        text = _join(people)
        return text[0].upper() + text[1:] + "."

    def _person(self, role: str, session: PlannedSession) -> str:
        words = ROLE_WORDS.get(clean_text(role).lower(), ANY_ROLE)
        if self.minimal:
            return words
        name = _assigned_name(self.plan, session, role) or _client_named(self.plan.client, role)
        return f"{words} ({self.text(name)})" if name else words

    def _reminders(self, session: PlannedSession, start: datetime, tentative: bool) -> list[Reminder]:
        items = []
        for reminder in sorted(session.reminders, key=lambda r: -reminder_offset(r.before)):
            before = reminder_offset(reminder.before)
            moment = (session.start - before).astimezone(self.zone)
            text = self.text(reminder.text)
            items.append(Reminder(when=f"{short_date(moment)}, {clock(moment)}",
                                  lead=f"{duration_words(before)} before",
                                  text=(IF_CONFIRMED + text) if tentative else text))
        return items

    def _dose(self, session: PlannedSession) -> str | None:
        if not self.full or session.dose is None:
            return None
        dose = session.dose
        amount = planned_amount(dose)
        return (f"{clean_text(dose.medication)}, {clean_text(dose.route)}: {amount} "
                "(planned; your prescriber confirms it on the day)")


def _first_link(*records: dict[str, Any]) -> str | None:
    """The client's video-call link, else the clinic's; web addresses only (a
    hand-edited plan cannot smuggle a ``javascript:`` link into the guide)."""
    for record in records:
        link = clean_text(record.get("telehealth_link") or "")
        if re.fullmatch(r"https?://[^\s<>\"'`\\]{1,2000}", link):
            return link
    return None


def _assigned_name(plan: Plan, session: PlannedSession, role: str) -> str | None:
    """The name of the clinic person assigned to ``role`` (SPEC §11), when the plan records one."""
    assigned = getattr(session, "assigned", None) or []
    staff = {str(_get(p, "id")): _get(p, "name") for p in (plan.clinic or {}).get("staff") or []}
    for entry in assigned:
        if _get(entry, "role") == role:
            name = staff.get(str(_get(entry, "id")))
            return clean_text(name) if name and clean_text(name) else None
    return None


def _client_named(client: dict[str, Any], role: str) -> str | None:
    """The therapist or prescriber the client file names (by name, never the email)."""
    person = client.get(role) if role in ("therapist", "prescriber") else None
    name = person.get("name") if isinstance(person, dict) else None
    return clean_text(name) if name and clean_text(name) else None


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, dict) else getattr(item, key, None)


def _join(items: list[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def long_date(moment: datetime) -> str:
    """``Monday 7 December 2026``: the day spelled out, the same in every locale."""
    return f"{WEEKDAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]} {moment.year}"


def short_date(moment: datetime) -> str:
    """``Sunday 6 December``."""
    return f"{WEEKDAYS[moment.weekday()]} {moment.day} {MONTHS[moment.month - 1]}"


def clock(moment: datetime) -> str:
    """``9:00 am``, ``12:30 pm``: a local wall-clock time."""
    hour = moment.hour % 12 or 12
    return f"{hour}:{moment.minute:02d} {'am' if moment.hour < 12 else 'pm'}"


__all__ = ["Contact", "Guide", "GuideSession", "Reminder", "build_guide", "clock", "long_date"]
