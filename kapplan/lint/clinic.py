"""Clinic files against themselves and against the protocols given with them (SPEC §11).

KP240: a role a protocol's session asks for that no one at the clinic holds
(an error, located at the protocol's ``staff`` entry, when ``validate`` is
given both files): every plan with that session would fail. KP241: a staff
member's hours that fall outside the clinic's hours (a warning: in-person
sessions need the clinic open, so those hours serve telehealth only).
"""

from __future__ import annotations

import difflib
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from kapplan.io.documents import Document
from kapplan.lint.registry import RULES, Rule
from kapplan.models.client import Clinic
from kapplan.models.errors import Diagnostic
from kapplan.models.protocol import Protocol
from kapplan.models.values import WeeklyWindow

RULES["KP240"] = Rule(
    "KP240", "error", "a session asks for a role no one at the clinic holds",
    "Checked when `validate` is given a protocol and a clinic file that lists staff. Each role a "
    "session type's `staff` asks for needs someone at the clinic who holds it; otherwise no plan made "
    "with that clinic can place the session. Usually a spelling difference (`therapists`, `Nurse`).")
RULES["KP241"] = Rule(
    "KP241", "warning", "a staff member's hours fall outside the clinic's hours",
    "A person's `hours` (read in their own zone) that lie outside the clinic's `hours` can serve "
    "telehealth and home sessions only: in-person sessions need the clinic open too. Often a zone "
    "left out (a remote therapist's hours read in the clinic's zone) or a typo in a time.")

REFERENCE_MONDAY = date(2026, 1, 5)
"""Hours are compared over one ordinary week (January: no DST change in any zone that week)."""


def clinic_diagnostics(doc: Document, clinic: Clinic) -> list[Diagnostic]:
    """KP241 for every staff window that the clinic's hours do not cover."""
    out = []
    clinic_zone = ZoneInfo(clinic.timezone)
    for i, member in enumerate(clinic.staff):
        zone = ZoneInfo(member.timezone or clinic.timezone)
        for j, window in enumerate(member.hours or ()):
            if not all(_covered(window, weekday, zone, clinic.hours, clinic_zone) for weekday in window.days):
                out.append(doc.diagnostic(("staff", i, "hours", j), "KP241",
                                          f"'{member.id}' works outside the clinic's hours ({window}); those hours "
                                          "serve telehealth and home sessions only", severity="warning"))
    return out


def _covered(window: WeeklyWindow, weekday: int, zone: ZoneInfo, hours: list[WeeklyWindow],
             clinic_zone: ZoneInfo) -> bool:
    day = REFERENCE_MONDAY + timedelta(days=weekday)
    start = datetime.combine(day, time(), tzinfo=zone) + timedelta(minutes=window.start_minute)
    end = datetime.combine(day, time(), tzinfo=zone) + timedelta(minutes=window.end_minute)
    local_start, local_end = start.astimezone(clinic_zone), end.astimezone(clinic_zone)
    if local_start.date() != local_end.date():
        return False
    minute = local_start.hour * 60 + local_start.minute
    last = minute + int((end - start).total_seconds() // 60)
    return any(local_start.weekday() in h.days and h.start_minute <= minute and last <= h.end_minute for h in hours)


def role_diagnostics(doc: Document, protocol: Protocol, clinic: Clinic, clinic_file: str) -> list[Diagnostic]:
    """KP240 at each ``staff`` entry of ``protocol`` whose role no one at ``clinic`` holds."""
    if not clinic.staff:
        return []
    held = sorted({role for member in clinic.staff for role in member.roles})
    out = []
    for name, session in protocol.sessions.items():
        for k, need in enumerate(session.staff):
            role = need if isinstance(need, str) else need.role
            if role in held:
                continue
            loc = ("sessions", name, "staff", k) if isinstance(need, str) else ("sessions", name, "staff", k, "role")
            match = difflib.get_close_matches(role, held, n=1, cutoff=0.6)
            out.append(doc.diagnostic(loc, "KP240", f"no one at clinic '{clinic.id}' ({clinic_file}) holds the "
                                                    f"role '{role}'",
                                      hint=f"did you mean '{match[0]}'?" if match else None))
    return out


__all__ = ["clinic_diagnostics", "role_diagnostics"]
